//! The workspace vault's key service.

use std::path::PathBuf;

use crate::lookup::Lookup;

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VaultSettings {
    /// `VAULT_KMS_KEY_ID`: the KMS key that wraps workspace data keys (AWS;
    /// the template's `VaultKey`). Takes precedence over a master key file.
    pub kms_key_id: Option<String>,
    /// `VAULT_MASTER_KEY_FILE`: a file holding a 256-bit master key as 64
    /// hex digits (local mode; `scripts/run` makes `.local/vault-master-key`).
    /// Neither set: secrets cannot be stored or read (503).
    pub master_key_file: Option<PathBuf>,
}

impl VaultSettings {
    pub fn from_lookup(l: &Lookup<'_>) -> Self {
        Self {
            kms_key_id: l.get("VAULT_KMS_KEY_ID"),
            master_key_file: l.get("VAULT_MASTER_KEY_FILE").map(PathBuf::from),
        }
    }
}
