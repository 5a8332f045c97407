//! The local mailer: each email is a JSON file in a directory (written to a
//! temporary name, then renamed, so a reader never sees half a message).
//! Names start with the time sent, so they sort oldest first. `local outbox`
//! prints them; tests read them with [`Outbox::read`].

use std::{
    path::{Path, PathBuf},
    time::{SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};

use super::{MailError, Mailer, OutgoingEmail};
use crate::future::BoxFuture;

/// A directory of sent emails.
#[derive(Debug, Clone)]
pub struct Outbox {
    dir: PathBuf,
}

/// An email as the outbox keeps it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SentEmail {
    pub sent_at: chrono::DateTime<chrono::Utc>,
    #[serde(flatten)]
    pub email: OutgoingEmail,
}

impl Outbox {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self { dir: dir.into() }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Every email in the outbox, oldest first (files that are not emails
    /// are skipped).
    pub async fn read(&self) -> std::io::Result<Vec<SentEmail>> {
        let mut entries = match tokio::fs::read_dir(&self.dir).await {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(e),
        };
        let mut names = Vec::new();
        while let Some(entry) = entries.next_entry().await? {
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".json") && !name.starts_with('.') {
                names.push(name);
            }
        }
        names.sort();
        let mut out = Vec::with_capacity(names.len());
        for name in names {
            let bytes = tokio::fs::read(self.dir.join(&name)).await?;
            if let Ok(sent) = serde_json::from_slice::<SentEmail>(&bytes) {
                out.push(sent);
            }
        }
        Ok(out)
    }

    /// The emails sent to `to`, oldest first.
    pub async fn to(&self, to: &str) -> std::io::Result<Vec<SentEmail>> {
        let mut all = self.read().await?;
        all.retain(|s| s.email.to.eq_ignore_ascii_case(to));
        Ok(all)
    }

    async fn write(&self, email: &OutgoingEmail) -> std::io::Result<()> {
        tokio::fs::create_dir_all(&self.dir).await?;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros();
        let id = uuid::Uuid::now_v7().simple();
        let name = format!("{now:020}-{id}.json");
        let sent = SentEmail {
            sent_at: chrono::Utc::now(),
            email: email.clone(),
        };
        let body = serde_json::to_vec_pretty(&sent).map_err(std::io::Error::other)?;
        let tmp = self.dir.join(format!(".{name}.tmp"));
        tokio::fs::write(&tmp, body).await?;
        tokio::fs::rename(&tmp, self.dir.join(name)).await
    }
}

impl Mailer for Outbox {
    fn send<'a>(&'a self, email: &'a OutgoingEmail) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            self.write(email)
                .await
                .map_err(|e| MailError::Unavailable(format!("outbox {}: {e}", self.dir.display())))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn email(to: &str, subject: &str) -> OutgoingEmail {
        OutgoingEmail {
            to: to.into(),
            subject: subject.into(),
            text: "a link: https://example.com/x".into(),
            html: None,
        }
    }

    #[tokio::test]
    async fn emails_are_read_back_in_the_order_sent() {
        let dir = std::env::temp_dir().join(format!("outbox-{}", uuid::Uuid::now_v7().simple()));
        let outbox = Outbox::new(&dir);
        assert!(
            outbox.read().await.expect("works").is_empty(),
            "no directory yet: empty"
        );
        for i in 0..5 {
            outbox
                .send(&email("a@example.com", &format!("n{i}")))
                .await
                .expect("works");
        }
        outbox
            .send(&email("B@example.com", "other"))
            .await
            .expect("works");
        tokio::fs::write(dir.join("notes.txt"), "not an email")
            .await
            .expect("works");
        let all = outbox.read().await.expect("works");
        let subjects: Vec<_> = all.iter().map(|s| s.email.subject.as_str()).collect();
        assert_eq!(subjects, ["n0", "n1", "n2", "n3", "n4", "other"]);
        assert_eq!(outbox.to("b@example.com").await.expect("works").len(), 1);
        tokio::fs::remove_dir_all(&dir).await.expect("works");
    }

    #[tokio::test]
    async fn an_unwritable_outbox_is_unavailable() {
        let file =
            std::env::temp_dir().join(format!("outbox-file-{}", uuid::Uuid::now_v7().simple()));
        tokio::fs::write(&file, "a file, not a directory")
            .await
            .expect("works");
        let err = Outbox::new(&file)
            .send(&email("a@example.com", "x"))
            .await
            .expect_err("fails");
        assert!(matches!(err, MailError::Unavailable(_)), "{err:?}");
        tokio::fs::remove_file(&file).await.expect("works");
    }

    #[test]
    fn bodies_do_not_print() {
        let mut e = email("a@example.com", "s");
        e.text = "secret-token-123".into();
        assert!(!format!("{e:?}").contains("secret-token-123"));
    }
}
