//! The AWS key service: one KMS key (the template's `VaultKey`) makes a data
//! key per workspace (`GenerateDataKey`, AES-256) and unwraps it (`Decrypt`),
//! both with the encryption context `{"workspace": "<id>"}`, which the key
//! policy and CloudTrail see; KMS's own key never leaves it.

use aws_config::SdkConfig;
use aws_sdk_kms::{primitives::Blob, types::DataKeySpec, Client};
use secrecy::SecretSlice;
use uuid::Uuid;

use super::keys::{DataKeys, NewDataKey, WrappedKey};
use crate::future::BoxFuture;

const CONTEXT_KEY: &str = "workspace";

#[derive(Debug, Clone)]
pub struct KmsKeys {
    client: Client,
    key_id: String,
}

impl KmsKeys {
    /// `key_id` is the key's ARN (or id, or `alias/…`).
    pub fn from_config(sdk: &SdkConfig, key_id: &str) -> Self {
        Self {
            client: Client::new(sdk),
            key_id: key_id.to_owned(),
        }
    }
}

impl DataKeys for KmsKeys {
    fn generate(&self, workspace_id: Uuid) -> BoxFuture<'_, anyhow::Result<NewDataKey>> {
        Box::pin(async move {
            let out = self
                .client
                .generate_data_key()
                .key_id(&self.key_id)
                .key_spec(DataKeySpec::Aes256)
                .encryption_context(CONTEXT_KEY, workspace_id.to_string())
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "KMS GenerateDataKey failed: {}",
                        aws_sdk_kms::error::DisplayErrorContext(&e)
                    )
                })?;
            let plaintext = out
                .plaintext
                .ok_or_else(|| anyhow::anyhow!("KMS returned no plaintext data key"))?
                .into_inner();
            let bytes = out
                .ciphertext_blob
                .ok_or_else(|| anyhow::anyhow!("KMS returned no wrapped data key"))?
                .into_inner();
            Ok(NewDataKey {
                plaintext: SecretSlice::from(plaintext),
                wrapped: WrappedKey {
                    wrapped_by: format!(
                        "kms:{}",
                        out.key_id.unwrap_or_else(|| self.key_id.clone())
                    ),
                    bytes,
                },
            })
        })
    }

    fn unwrap<'a>(
        &'a self,
        workspace_id: Uuid,
        wrapped: &'a WrappedKey,
    ) -> BoxFuture<'a, anyhow::Result<SecretSlice<u8>>> {
        Box::pin(async move {
            // The key that wrapped it (KMS also reads it from the blob; naming
            // it refuses a blob of any other key).
            let key_id = wrapped.wrapped_by.strip_prefix("kms:").ok_or_else(|| {
                anyhow::anyhow!(
                    "the workspace's data key was wrapped by {}, not by KMS",
                    wrapped.wrapped_by
                )
            })?;
            let out = self
                .client
                .decrypt()
                .key_id(key_id)
                .ciphertext_blob(Blob::new(wrapped.bytes.clone()))
                .encryption_context(CONTEXT_KEY, workspace_id.to_string())
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "KMS Decrypt failed: {}",
                        aws_sdk_kms::error::DisplayErrorContext(&e)
                    )
                })?;
            let plaintext = out
                .plaintext
                .ok_or_else(|| anyhow::anyhow!("KMS returned no plaintext"))?
                .into_inner();
            Ok(SecretSlice::from(plaintext))
        })
    }
}

/// The state with KMS data keys when `VAULT_KMS_KEY_ID` is set (on AWS);
/// else as it is (the local master key file, or no vault).
pub async fn vault_for(state: crate::AppState) -> crate::AppState {
    let Some(key_id) = state.settings.vault.kms_key_id.clone() else {
        return state;
    };
    let sdk = crate::runs::aws::sdk_config(None).await;
    state.with_vault_keys(std::sync::Arc::new(KmsKeys::from_config(&sdk, &key_id)))
}
