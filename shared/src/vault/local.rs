//! The local key service: a 256-bit master key in a file (`scripts/run`
//! makes `.local/vault-master-key`, mode 0600) wraps each workspace's data
//! key with AES-256-GCM, bound to the workspace. What KMS does on AWS,
//! without the hardware: whoever reads the file can read the vault.

use std::path::Path;

use secrecy::{ExposeSecret, SecretSlice};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use super::{
    keys::{DataKeys, NewDataKey, WrappedKey},
    seal::{open, random_key, seal, KEY_LEN},
};
use crate::future::BoxFuture;

pub struct LocalKeys {
    master: SecretSlice<u8>,
    /// `local:` and the first 16 hex digits of the key's SHA-256.
    id: String,
}

impl std::fmt::Debug for LocalKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalKeys")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

fn aad(workspace_id: Uuid) -> Vec<u8> {
    format!("saasit-vault-data-key:{workspace_id}").into_bytes()
}

impl LocalKeys {
    /// The master key: 64 hex digits (surrounding whitespace ignored).
    pub fn from_hex(hex: &str) -> anyhow::Result<Self> {
        let hex = hex.trim();
        anyhow::ensure!(
            hex.len() == KEY_LEN * 2 && hex.bytes().all(|b| b.is_ascii_hexdigit()),
            "the vault master key must be {} hex digits",
            KEY_LEN * 2
        );
        let bytes = crate::signing::unhex(hex)
            .ok_or_else(|| anyhow::anyhow!("the vault master key is not hex"))?;
        let id = format!(
            "local:{}",
            crate::signing::hex(&Sha256::digest(&bytes)[..8])
        );
        Ok(Self {
            master: SecretSlice::from(bytes),
            id,
        })
    }

    /// Reads the master key file.
    pub fn from_file(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            anyhow::anyhow!("cannot read the vault master key {}: {e}", path.display())
        })?;
        Self::from_hex(&text)
            .map_err(|e| anyhow::anyhow!("{} is not a vault master key: {e}", path.display()))
    }

    /// A new random master key as hex (256 bits).
    pub fn generate_hex() -> String {
        crate::auth::opaque::new_token()
    }
}

impl DataKeys for LocalKeys {
    fn generate(&self, workspace_id: Uuid) -> BoxFuture<'_, anyhow::Result<NewDataKey>> {
        Box::pin(async move {
            let plaintext = random_key()?;
            let bytes = seal(&self.master, &aad(workspace_id), plaintext.expose_secret())?;
            Ok(NewDataKey {
                plaintext,
                wrapped: WrappedKey {
                    wrapped_by: self.id.clone(),
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
            anyhow::ensure!(
                wrapped.wrapped_by == self.id,
                "the workspace's data key was wrapped by {}, but the configured master key is {}",
                wrapped.wrapped_by,
                self.id
            );
            let plain = open(&self.master, &aad(workspace_id), &wrapped.bytes)?;
            Ok(SecretSlice::from(plain))
        })
    }
}
