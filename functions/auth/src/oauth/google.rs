//! Google's identity: the ID token from the token endpoint, verified with
//! Google's published keys (fetched, cached for an hour, fetched again for
//! a key id not seen yet): signature, issuer, audience (our client id),
//! expiry, and the `nonce` this authorization was started with.

use std::{
    collections::HashMap,
    sync::{Mutex, OnceLock},
    time::{Duration, Instant},
};

use jsonwebtoken::{jwk::JwkSet, Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use shared::settings::ProviderSettings;

use super::{client::Exchanged, Identity, OAuthError};

/// How long fetched keys are trusted before they are fetched again.
const KEYS_FOR: Duration = Duration::from_secs(3600);

/// Keys by JWKS URL, with when they were fetched.
fn cache() -> &'static Mutex<HashMap<String, (Instant, JwkSet)>> {
    static CACHE: OnceLock<Mutex<HashMap<String, (Instant, JwkSet)>>> = OnceLock::new();
    CACHE.get_or_init(Default::default)
}

async fn fetch_keys(url: &str) -> Result<JwkSet, OAuthError> {
    let set: JwkSet = super::client::http()?
        .get(url)
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| OAuthError::Unavailable(format!("the provider's keys: {}", e.without_url())))?
        .json()
        .await
        .map_err(|e| {
            OAuthError::Unavailable(format!("the provider's keys: {}", e.without_url()))
        })?;
    if let Ok(mut c) = cache().lock() {
        c.insert(url.to_owned(), (Instant::now(), set.clone()));
    }
    Ok(set)
}

/// The key with id `kid`, from the cache or fetched.
async fn key(url: &str, kid: &str) -> Result<DecodingKey, OAuthError> {
    let cached = cache()
        .lock()
        .ok()
        .and_then(|c| c.get(url).cloned())
        .filter(|(at, set)| at.elapsed() < KEYS_FOR && set.find(kid).is_some());
    let set = match cached {
        Some((_, set)) => set,
        None => fetch_keys(url).await?,
    };
    let jwk = set.find(kid).ok_or_else(|| {
        OAuthError::Refused(format!("the ID token's key {kid:?} is not published"))
    })?;
    DecodingKey::from_jwk(jwk).map_err(|e| OAuthError::Refused(format!("the provider's key: {e}")))
}

/// `email_verified` as a boolean or as the string Google once sent.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Flag {
    Bool(bool),
    Text(String),
}

#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    email: Option<String>,
    email_verified: Option<Flag>,
    nonce: Option<String>,
    name: Option<String>,
}

pub async fn identity(
    p: &ProviderSettings,
    tokens: &Exchanged,
    nonce: &str,
) -> Result<Identity, OAuthError> {
    let token = tokens
        .id_token
        .as_deref()
        .ok_or_else(|| OAuthError::Refused("no ID token in the token response".into()))?;
    let header = jsonwebtoken::decode_header(token)
        .map_err(|e| OAuthError::Refused(format!("the ID token: {e}")))?;
    // Only asymmetric algorithms: a shared-secret token could be made by anyone
    // holding our client secret's twin.
    if !matches!(
        header.alg,
        Algorithm::RS256
            | Algorithm::RS384
            | Algorithm::RS512
            | Algorithm::ES256
            | Algorithm::EdDSA
    ) {
        return Err(OAuthError::Refused(format!(
            "the ID token's algorithm {:?} is not accepted",
            header.alg
        )));
    }
    let kid = header
        .kid
        .ok_or_else(|| OAuthError::Refused("the ID token names no key".into()))?;
    let key = key(&p.keys_or_api_url, &kid).await?;
    let mut validation = Validation::new(header.alg);
    validation.set_audience(&[&p.client_id]);
    let bare = p.issuer.trim_start_matches("https://");
    validation.set_issuer(&[p.issuer.as_str(), bare]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = 60;
    let claims = jsonwebtoken::decode::<Claims>(token, &key, &validation)
        .map_err(|e| OAuthError::Refused(format!("the ID token: {e}")))?
        .claims;
    if claims.nonce.as_deref() != Some(nonce) {
        return Err(OAuthError::Refused(
            "the ID token's nonce is not this sign-in's".into(),
        ));
    }
    let email_verified = match claims.email_verified {
        Some(Flag::Bool(b)) => b,
        Some(Flag::Text(t)) => t == "true",
        None => false,
    };
    Ok(Identity {
        subject: claims.sub,
        email: claims.email.map(|e| e.trim().to_lowercase()),
        email_verified,
        name: claims.name,
    })
}
