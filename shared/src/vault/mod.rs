//! The workspace vault: secrets a workspace's workflows use as
//! `{{secrets.NAME}}`. Values are write-only through the API and sealed at
//! rest with envelope encryption: each workspace has one data key, stored
//! wrapped by the key service ([`DataKeys`]: KMS on AWS, [`local::LocalKeys`]
//! locally); each value is sealed with AES-256-GCM under it, bound to its
//! workspace and name ([`seal`]). A run receives, over the callback channel,
//! only the secrets its graph names ([`Vault::resolve`]).

pub mod cache;
pub mod keys;
#[cfg(feature = "kms")]
pub mod kms;
pub mod local;
pub mod seal;

use std::{collections::BTreeMap, sync::Arc};

use secrecy::{ExposeSecret, SecretSlice, SecretString};
use sqlx::PgPool;
use uuid::Uuid;

pub use keys::{DataKeys, NewDataKey, NoKeys, WrappedKey};

use crate::{db::secrets as store, error::ApiError, ApiResult};
use cache::KeyCache;

/// The longest secret value (bytes): a PEM private key fits.
pub const MAX_VALUE_BYTES: usize = 32 * 1024;
/// The most secrets a workspace may keep.
pub const MAX_SECRETS: usize = 500;

/// A secret's name: what `{{secrets.NAME}}` says. 1–64 letters, digits or
/// `_`, not starting with a digit.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretName(String);

impl SecretName {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut chars = raw.chars();
        let ok = matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
            && raw.len() <= 64;
        if ok {
            Ok(Self(raw.to_owned()))
        } else {
            Err(ApiError::field(
                "name",
                "must be 1–64 letters, digits or _, not starting with a digit (it is used as {{secrets.NAME}})",
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A secret value as received: not empty, at most [`MAX_VALUE_BYTES`].
pub fn check_value(value: &SecretString) -> Result<(), ApiError> {
    let v = value.expose_secret();
    if v.is_empty() || v.len() > MAX_VALUE_BYTES {
        return Err(ApiError::field(
            "value",
            format!("must be 1–{MAX_VALUE_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn aad(workspace_id: Uuid, name: &str) -> Vec<u8> {
    format!("saasit-vault-secret:{workspace_id}:{name}").into_bytes()
}

fn purpose_aad(workspace_id: Uuid, purpose: &str) -> Vec<u8> {
    format!("saasit-vault-{purpose}:{workspace_id}").into_bytes()
}

/// The vault of every workspace: the database and the key service.
#[derive(Debug, Clone)]
pub struct Vault {
    db: PgPool,
    keys: Arc<dyn DataKeys>,
    /// Unwrapped keys, for a few minutes ([`cache`]).
    cache: Arc<KeyCache>,
}

impl Vault {
    pub fn new(db: PgPool, keys: Arc<dyn DataKeys>) -> Self {
        Self {
            db,
            keys,
            cache: Arc::new(KeyCache::default()),
        }
    }

    /// The workspace's data key, made on first use; an unwrapped key is
    /// kept a few minutes. The key service being down (or not configured)
    /// is a 503.
    async fn data_key(&self, workspace_id: Uuid) -> ApiResult<Arc<SecretSlice<u8>>> {
        if let Some(key) = self.cache.get(workspace_id) {
            return Ok(key);
        }
        let key = Arc::new(self.fetch_key(workspace_id).await?);
        self.cache.put(workspace_id, key.clone());
        Ok(key)
    }

    async fn fetch_key(&self, workspace_id: Uuid) -> ApiResult<SecretSlice<u8>> {
        if let Some((wrapped_by, bytes)) = store::data_key(&self.db, workspace_id).await? {
            return self
                .keys
                .unwrap(workspace_id, &WrappedKey { wrapped_by, bytes })
                .await
                .map_err(ApiError::unavailable);
        }
        let fresh = self
            .keys
            .generate(workspace_id)
            .await
            .map_err(ApiError::unavailable)?;
        store::insert_data_key(
            &self.db,
            workspace_id,
            &fresh.wrapped.wrapped_by,
            &fresh.wrapped.bytes,
        )
        .await?;
        // Whichever key was stored first is the workspace's.
        match store::data_key(&self.db, workspace_id).await? {
            Some((by, bytes)) if by == fresh.wrapped.wrapped_by && bytes == fresh.wrapped.bytes => {
                Ok(fresh.plaintext)
            }
            Some((wrapped_by, bytes)) => self
                .keys
                .unwrap(workspace_id, &WrappedKey { wrapped_by, bytes })
                .await
                .map_err(ApiError::unavailable),
            None => Err(ApiError::not_found("workspace")),
        }
    }

    /// `value` sealed for the workspace's secret `name`, to store (in the
    /// caller's transaction, with its activity entry).
    pub async fn seal(
        &self,
        workspace_id: Uuid,
        name: &SecretName,
        value: &SecretString,
    ) -> ApiResult<Vec<u8>> {
        check_value(value)?;
        let key = self.data_key(workspace_id).await?;
        seal::seal(
            &key,
            &aad(workspace_id, name.as_str()),
            value.expose_secret().as_bytes(),
        )
        .map_err(ApiError::internal)
    }

    /// Bytes sealed under the workspace's key for `purpose` (`trigger:<id>`:
    /// a webhook's signing secret), which opens only for the same purpose.
    pub async fn seal_bytes(
        &self,
        workspace_id: Uuid,
        purpose: &str,
        plain: &[u8],
    ) -> ApiResult<Vec<u8>> {
        let key = self.data_key(workspace_id).await?;
        seal::seal(&key, &purpose_aad(workspace_id, purpose), plain).map_err(ApiError::internal)
    }

    pub async fn open_bytes(
        &self,
        workspace_id: Uuid,
        purpose: &str,
        sealed: &[u8],
    ) -> ApiResult<Vec<u8>> {
        let key = self.data_key(workspace_id).await?;
        seal::open(&key, &purpose_aad(workspace_id, purpose), sealed).map_err(ApiError::internal)
    }

    /// Which of `names` the workspace lacks, sorted.
    pub async fn missing(&self, workspace_id: Uuid, names: &[String]) -> ApiResult<Vec<String>> {
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let have = store::existing(&self.db, workspace_id, names).await?;
        let mut missing: Vec<String> = names
            .iter()
            .filter(|n| !have.contains(n))
            .cloned()
            .collect();
        missing.sort();
        Ok(missing)
    }

    /// The values of the named secrets the workspace has (a name it lacks is
    /// left out: the run's template then fails naming it), and marks them used.
    pub async fn resolve(
        &self,
        workspace_id: Uuid,
        names: &[String],
    ) -> ApiResult<BTreeMap<String, String>> {
        let mut out = BTreeMap::new();
        if names.is_empty() {
            return Ok(out);
        }
        let rows = store::sealed(&self.db, workspace_id, names).await?;
        if rows.is_empty() {
            return Ok(out);
        }
        let key = self.data_key(workspace_id).await?;
        for (name, sealed) in rows {
            let plain = seal::open(&key, &aad(workspace_id, &name), &sealed).map_err(|e| {
                ApiError::internal(e.context(format!("secret {name} does not open")))
            })?;
            let value = String::from_utf8(plain)
                .map_err(|_| ApiError::internal(anyhow::anyhow!("secret {name} is not UTF-8")))?;
            out.insert(name, value);
        }
        let used: Vec<String> = out.keys().cloned().collect();
        store::mark_used(&self.db, workspace_id, &used).await?;
        Ok(out)
    }
}
