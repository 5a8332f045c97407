//! A local OAuth double playing Google (OpenID Connect: an ID token signed
//! with an Ed25519 key it publishes as a JWKS) and GitHub (OAuth 2.0 and its
//! `/user` and `/user/emails` API) on loopback, with their shapes: an
//! authorization page (a form asking which address signs in, or straight
//! through with `login_hint`), the token endpoint (client secret, single-use
//! codes bound to their redirect URI, PKCE S256 checked), and controls under
//! `/_double/…` (the people it knows, faults to inject). The local stack
//! starts it when no provider is configured; the tests start their own.

mod endpoints;
mod pages;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, MutexGuard},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use ring::signature::{Ed25519KeyPair, KeyPair};

/// Someone who can sign in at the double.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Person {
    pub subject: String,
    pub email: String,
    pub verified: bool,
    pub name: String,
}

/// Faults the next requests meet.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// ID tokens carry another nonce than the one asked for.
    pub wrong_nonce: bool,
    /// The token endpoint answers 503.
    pub token_down: bool,
}

/// A code handed out on a redirect.
#[derive(Debug, Clone)]
struct Grant {
    provider: &'static str,
    person: Person,
    redirect_uri: String,
    challenge: String,
    nonce: String,
    used: bool,
}

#[derive(Debug, Default)]
struct World {
    people: HashMap<String, Person>,
    codes: HashMap<String, Grant>,
    /// Access tokens (GitHub's API reads them).
    tokens: HashMap<String, Person>,
    faults: Faults,
}

struct Inner {
    base: String,
    client_id: String,
    client_secret: String,
    key: Vec<u8>,
    public: Vec<u8>,
    world: Mutex<World>,
}

/// A running OAuth double.
#[derive(Clone)]
pub struct OAuthDouble {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for OAuthDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OAuthDouble")
            .field("url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

/// The key id the double signs with.
const KID: &str = "double-ed25519";

impl OAuthDouble {
    /// Starts the double on `port` (0: a free one) on loopback.
    pub async fn start_on(port: u16) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&rng)
            .map_err(|_| std::io::Error::other("cannot make a signing key"))?;
        let pair = Ed25519KeyPair::from_pkcs8(pkcs8.as_ref())
            .map_err(|_| std::io::Error::other("cannot read the signing key"))?;
        let double = Self {
            inner: Arc::new(Inner {
                base: format!("http://{}", listener.local_addr()?),
                client_id: "saasit-local".into(),
                client_secret: format!("double-secret-{}", uuid::Uuid::now_v7().simple()),
                key: pkcs8.as_ref().to_vec(),
                public: pair.public_key().as_ref().to_vec(),
                world: Mutex::new(World::default()),
            }),
        };
        let app = endpoints::router(double.clone()).merge(pages::router(double.clone()));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "the OAuth double stopped");
            }
        });
        Ok(double)
    }

    pub async fn start() -> std::io::Result<Self> {
        Self::start_on(0).await
    }

    pub fn url(&self) -> &str {
        &self.inner.base
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.inner.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Makes `person` known (an address signing in gets them).
    pub fn add_person(&self, person: Person) {
        self.world().people.insert(person.email.clone(), person);
    }

    pub fn set_faults(&self, faults: Faults) {
        self.world().faults = faults;
    }

    /// The person an address signs in as: known, or a verified newcomer.
    fn person(&self, email: &str, verified: Option<bool>) -> Person {
        let email = email.trim().to_lowercase();
        let mut w = self.world();
        w.people
            .entry(email.clone())
            .or_insert_with(|| Person {
                subject: format!("{}", 100_000 + w_len(&email)),
                name: email.split('@').next().unwrap_or("someone").to_owned(),
                verified: verified.unwrap_or(true),
                email,
            })
            .clone()
    }

    /// The public key as a JWKS.
    fn jwks(&self) -> serde_json::Value {
        serde_json::json!({ "keys": [{
            "kty": "OKP", "crv": "Ed25519", "alg": "EdDSA", "use": "sig", "kid": KID,
            "x": URL_SAFE_NO_PAD.encode(&self.inner.public),
        }]})
    }

    /// The environment that points the API at this double for both providers.
    pub fn env(&self) -> Vec<(String, String)> {
        let b = &self.inner.base;
        let (id, secret) = (&self.inner.client_id, &self.inner.client_secret);
        [
            ("OAUTH_GOOGLE_CLIENT_ID", id.clone()),
            ("OAUTH_GOOGLE_CLIENT_SECRET", secret.clone()),
            ("OAUTH_GOOGLE_AUTH_URL", format!("{b}/google/authorize")),
            ("OAUTH_GOOGLE_TOKEN_URL", format!("{b}/google/token")),
            ("OAUTH_GOOGLE_JWKS_URL", format!("{b}/google/jwks")),
            ("OAUTH_GOOGLE_ISSUER", format!("{b}/google")),
            ("OAUTH_GITHUB_CLIENT_ID", id.clone()),
            ("OAUTH_GITHUB_CLIENT_SECRET", secret.clone()),
            ("OAUTH_GITHUB_AUTH_URL", format!("{b}/github/authorize")),
            ("OAUTH_GITHUB_TOKEN_URL", format!("{b}/github/token")),
            ("OAUTH_GITHUB_API_URL", format!("{b}/github/api")),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect()
    }

    /// The same, as settings (the local stack).
    pub fn settings(&self) -> shared::settings::OAuthSettings {
        let env: HashMap<String, String> = self.env().into_iter().collect();
        let settings =
            shared::settings::OAuthSettings::from_lookup(&shared::settings::Lookup::map(&env))
                .expect("the double's own settings are valid");
        settings
    }
}

/// A stable number per address, for subjects.
fn w_len(email: &str) -> u64 {
    email
        .bytes()
        .fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b)))
        % 900_000
}
