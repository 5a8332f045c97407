//! The local blob store: files under a directory, reached through URLs signed
//! with HMAC-SHA256 and an expiry (what S3 presigned URLs do on AWS). The
//! local stack serves them at `/local-blobs/{key}`.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::runs::{BlobStore, BoxFuture, BoxStream};

pub struct LocalBlobs {
    dir: PathBuf,
    base_url: String,
    key: Vec<u8>,
}

impl std::fmt::Debug for LocalBlobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalBlobs")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

pub const ROUTE: &str = "/local-blobs";

impl LocalBlobs {
    pub fn new(dir: PathBuf, base_url: &str, signing_key: &[u8]) -> Self {
        Self {
            dir,
            base_url: base_url.trim_end_matches('/').to_owned(),
            key: signing_key.to_vec(),
        }
    }

    fn signature(&self, method: &str, key: &str, expires: u64) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.key).unwrap_or_else(|_| unreachable_mac());
        mac.update(format!("{method}\n{key}\n{expires}").as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    fn url(&self, method: &str, key: &str, ttl: Duration) -> String {
        let expires = now() + ttl.as_secs();
        format!(
            "{}{ROUTE}/{key}?expires={expires}&sig={}",
            self.base_url,
            self.signature(method, key, expires)
        )
    }

    /// Checks a signed request; the file path when it is valid and unexpired.
    pub fn verify(&self, method: &str, key: &str, expires: u64, sig: &str) -> Option<PathBuf> {
        let safe = safe_key(key);
        let expected = self.signature(method, key, expires);
        // Constant-time comparison through the MAC itself.
        let ok = safe
            && expires >= now()
            && expected.len() == sig.len()
            && expected
                .bytes()
                .zip(sig.bytes())
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0;
        ok.then(|| self.dir.join(Path::new(key)))
    }
}

fn unreachable_mac() -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot happen.
    Hmac::<Sha256>::new_from_slice(b"k").unwrap_or_else(|_| panic!("HMAC rejected a key"))
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

impl BlobStore for LocalBlobs {
    fn upload_url<'a>(
        &'a self,
        key: &'a str,
        _content_type: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<String>> {
        let url = self.url("PUT", key, ttl);
        Box::pin(async move { Ok(url) })
    }

    fn download_url<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<String>> {
        let url = self.url("GET", key, ttl);
        Box::pin(async move { Ok(url) })
    }

    fn put_stream<'a>(
        &'a self,
        key: &'a str,
        _content_type: &'a str,
        mut chunks: BoxStream<'a, anyhow::Result<Vec<u8>>>,
    ) -> BoxFuture<'a, anyhow::Result<u64>> {
        use futures_util::StreamExt;
        use tokio::io::AsyncWriteExt;
        let path = safe_key(key).then(|| self.dir.join(Path::new(key)));
        Box::pin(async move {
            let path = path.ok_or_else(|| anyhow::anyhow!("not a plain blob key"))?;
            if let Some(parent) = path.parent() {
                tokio::fs::create_dir_all(parent).await?;
            }
            // Write then rename, so a reader never sees half a file.
            // A name of its own, so two writers of one key never share a temp file.
            let tmp = path.with_extension(format!("{}.part", uuid::Uuid::now_v7().simple()));
            let written = async {
                let mut file = tokio::fs::File::create(&tmp).await?;
                let mut size = 0u64;
                while let Some(chunk) = chunks.next().await {
                    let chunk = chunk?;
                    size += chunk.len() as u64;
                    file.write_all(&chunk).await?;
                }
                file.flush().await?;
                anyhow::Ok(size)
            }
            .await;
            match written {
                Ok(size) => {
                    tokio::fs::rename(&tmp, &path).await?;
                    Ok(size)
                }
                Err(e) => {
                    let _ = tokio::fs::remove_file(&tmp).await;
                    Err(e)
                }
            }
        })
    }

    fn size_of<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<Option<u64>>> {
        Box::pin(async move {
            match tokio::fs::metadata(self.path_of(key)?).await {
                Ok(m) if m.is_file() => Ok(Some(m.len())),
                Ok(_) => Ok(None),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.into()),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            match tokio::fs::remove_file(self.path_of(key)?).await {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
                _ => Ok(()),
            }
        })
    }
}

impl LocalBlobs {
    fn path_of(&self, key: &str) -> anyhow::Result<PathBuf> {
        safe_key(key)
            .then(|| self.dir.join(Path::new(key)))
            .ok_or_else(|| anyhow::anyhow!("not a plain blob key"))
    }
}

/// A relative key of plain segments (no `..`, no empty parts).
fn safe_key(key: &str) -> bool {
    !key.is_empty()
        && key
            .split('/')
            .all(|p| !p.is_empty() && p != "." && p != "..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signed_urls_verify_only_as_issued() {
        let b = LocalBlobs::new("/tmp/blobs".into(), "http://127.0.0.1:3000", b"secret-key");
        let url = b.url("PUT", "executions/1/a.txt", Duration::from_secs(60));
        let query = url.split_once('?').expect("query").1;
        let parts: std::collections::HashMap<&str, &str> =
            query.split('&').filter_map(|p| p.split_once('=')).collect();
        let expires: u64 = parts["expires"].parse().expect("expires");
        assert!(b
            .verify("PUT", "executions/1/a.txt", expires, parts["sig"])
            .is_some());
        assert!(
            b.verify("GET", "executions/1/a.txt", expires, parts["sig"])
                .is_none(),
            "method is signed"
        );
        assert!(
            b.verify("PUT", "executions/1/b.txt", expires, parts["sig"])
                .is_none(),
            "key is signed"
        );
        assert!(
            b.verify("PUT", "executions/1/a.txt", expires + 1, parts["sig"])
                .is_none(),
            "expiry is signed"
        );
        assert!(b
            .verify("PUT", "../etc/passwd", expires, parts["sig"])
            .is_none());
        let old = b.signature("PUT", "k", 1);
        assert!(b.verify("PUT", "k", 1, &old).is_none(), "expired");
    }
}
