//! The state every handler can reach. Built once per process (per Lambda cold
//! start) and cloned per request: all fields are cheap handles.

use std::sync::Arc;

use axum::extract::FromRef;
use sqlx::PgPool;

use crate::{
    auth::TokenKeys,
    billing::Billing,
    email::{outbox::Outbox, Mailer, NoMailer},
    realtime::publish::{Published, Publisher},
    settings::Settings,
    vault::{local::LocalKeys, DataKeys, NoKeys, Vault},
};

#[derive(Debug, Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub db: PgPool,
    pub tokens: Arc<TokenKeys>,
    /// Where real-time messages go (`None`: nobody listens here).
    pub publisher: Option<Arc<dyn Publisher>>,
    /// Where email goes: the outbox directory when `EMAIL_OUTBOX_DIR` is
    /// set, SES when a Lambda sets it ([`AppState::with_mailer`]), else nowhere
    /// (sending fails as unavailable).
    pub mailer: Arc<dyn Mailer>,
    /// Stripe and the prices (`None` without `STRIPE_SECRET_KEY`: billing
    /// routes answer 503 and plans change only by `local set-tier`).
    pub billing: Option<Arc<Billing>>,
    /// The workspace vault: KMS on AWS ([`AppState::with_vault_keys`]), the
    /// master key file when `VAULT_MASTER_KEY_FILE` is set, else no key
    /// (secret routes answer 503).
    pub vault: Vault,
    /// Where workspace files are kept: S3 on AWS, the local blob store
    /// locally ([`AppState::with_blobs`]); `None`: the file routes answer 503.
    pub blobs: Option<Arc<dyn crate::runs::BlobStore>>,
}

/// The key service the settings name without AWS: the local master key
/// file, or none. An unreadable file is said once and every use fails with why.
fn local_keys(settings: &Settings) -> Arc<dyn DataKeys> {
    match &settings.vault.master_key_file {
        None => Arc::new(NoKeys),
        Some(path) => match LocalKeys::from_file(path) {
            Ok(k) => Arc::new(k),
            Err(e) => {
                tracing::error!(error = %e, "the vault's master key cannot be used");
                Arc::new(NoKeys)
            }
        },
    }
}

impl AppState {
    pub fn new(settings: Settings, db: PgPool) -> Self {
        let tokens = Arc::new(TokenKeys::new(&settings.auth));
        let mailer: Arc<dyn Mailer> = match &settings.email.outbox_dir {
            Some(dir) => Arc::new(Outbox::new(dir)),
            None => Arc::new(NoMailer),
        };
        let vault = Vault::new(db.clone(), local_keys(&settings));
        Self {
            settings: Arc::new(settings),
            db,
            tokens,
            publisher: None,
            mailer,
            billing: None,
            vault,
            blobs: None,
        }
    }

    /// The same state with the vault's data keys from `keys` (KMS on AWS).
    pub fn with_vault_keys(mut self, keys: Arc<dyn DataKeys>) -> Self {
        self.vault = Vault::new(self.db.clone(), keys);
        self
    }

    /// The same state billing through `billing`.
    pub fn with_billing(mut self, billing: Option<Arc<Billing>>) -> Self {
        self.billing = billing;
        self
    }

    /// The same state sending email through `mailer`.
    pub fn with_mailer(mut self, mailer: Arc<dyn Mailer>) -> Self {
        self.mailer = mailer;
        self
    }

    /// The same state publishing real-time messages to `publisher`.
    pub fn with_publisher(mut self, publisher: Arc<dyn Publisher>) -> Self {
        self.publisher = Some(publisher);
        self
    }

    /// The same state keeping workspace files in `blobs`.
    pub fn with_blobs(mut self, blobs: Arc<dyn crate::runs::BlobStore>) -> Self {
        self.blobs = Some(blobs);
        self
    }

    /// Publishes a real-time message to `topic`, if anyone can listen here.
    pub async fn publish(&self, topic: String, message: serde_json::Value) {
        self.publish_message(Published { topic, message }).await;
    }

    /// Publishes a real-time message, if anyone can listen here.
    pub async fn publish_message(&self, message: Published) {
        if let Some(p) = &self.publisher {
            p.publish(message).await;
        }
    }

    /// Publishes, giving up after `limit` (logged): for a request whose
    /// answer must not wait on the WebSocket API (a sign-out; the sweeper
    /// closes what this does not reach).
    pub async fn publish_within(&self, message: Published, limit: std::time::Duration) {
        let topic = message.topic.clone();
        if tokio::time::timeout(limit, self.publish_message(message))
            .await
            .is_err()
        {
            tracing::warn!(%topic, "publishing took too long; left to the sweeper");
        }
    }
}

impl From<&AppState> for crate::realtime::handlers::Deps {
    fn from(s: &AppState) -> Self {
        Self {
            db: s.db.clone(),
            tokens: s.tokens.clone(),
        }
    }
}

impl FromRef<AppState> for PgPool {
    fn from_ref(s: &AppState) -> Self {
        s.db.clone()
    }
}

impl FromRef<AppState> for Arc<TokenKeys> {
    fn from_ref(s: &AppState) -> Self {
        s.tokens.clone()
    }
}

impl FromRef<AppState> for Arc<Settings> {
    fn from_ref(s: &AppState) -> Self {
        s.settings.clone()
    }
}
