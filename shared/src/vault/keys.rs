//! The vault's one port: data keys, made and unwrapped by a key service
//! that never hands out its own key (KMS on AWS, a master key file locally).

use std::fmt::Debug;

use secrecy::SecretSlice;
use uuid::Uuid;

use crate::future::BoxFuture;

/// A data key as stored: wrapped, with what wrapped it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WrappedKey {
    /// `kms:<key id>` or `local:<fingerprint>`.
    pub wrapped_by: String,
    pub bytes: Vec<u8>,
}

/// A fresh data key: the plaintext to use now and the wrapped form to store.
pub struct NewDataKey {
    pub plaintext: SecretSlice<u8>,
    pub wrapped: WrappedKey,
}

/// Makes and unwraps workspace data keys. Both calls bind the key to its
/// workspace (KMS encryption context; the local key's associated data), so
/// a wrapped key copied to another workspace does not unwrap.
pub trait DataKeys: Send + Sync + Debug {
    fn generate(&self, workspace_id: Uuid) -> BoxFuture<'_, anyhow::Result<NewDataKey>>;
    fn unwrap<'a>(
        &'a self,
        workspace_id: Uuid,
        wrapped: &'a WrappedKey,
    ) -> BoxFuture<'a, anyhow::Result<SecretSlice<u8>>>;
}

/// No key service configured: every use fails (answered 503, saying so).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoKeys;

const NO_KEYS: &str =
    "the vault has no key: set VAULT_KMS_KEY_ID (AWS) or VAULT_MASTER_KEY_FILE (local)";

impl DataKeys for NoKeys {
    fn generate(&self, _: Uuid) -> BoxFuture<'_, anyhow::Result<NewDataKey>> {
        Box::pin(async { Err(anyhow::anyhow!(NO_KEYS)) })
    }
    fn unwrap<'a>(
        &'a self,
        _: Uuid,
        _: &'a WrappedKey,
    ) -> BoxFuture<'a, anyhow::Result<SecretSlice<u8>>> {
        Box::pin(async { Err(anyhow::anyhow!(NO_KEYS)) })
    }
}
