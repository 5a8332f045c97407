//! JSON Web Tokens: HS256 only (the algorithm is pinned, so `alg: none` and
//! algorithm-confusion tokens are rejected), an issuer check, and a `type`
//! claim so a refresh token can never be used as an access token.

use std::time::Duration;

use chrono::Utc;
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, EncodingKey, Header, Validation};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::settings::AuthSettings;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenKind {
    Access,
    Refresh,
    /// Opens the internal callback routes of one execution (`sub` is the
    /// execution id, `sid` its owner) and nothing else.
    Execution,
    /// Says a client signed in to the account `sub` before (`sid` names the
    /// device): its sign-in attempts are limited on their own, so failures
    /// elsewhere cannot lock it out. Opens nothing.
    Device,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// The user id.
    pub sub: Uuid,
    #[serde(rename = "type")]
    pub kind: TokenKind,
    /// Unique per token, so two tokens issued in the same second differ.
    pub jti: Uuid,
    pub iat: i64,
    pub exp: i64,
    pub iss: String,
    /// The sign-in session (refresh-token family) the token belongs to.
    pub sid: Uuid,
}

/// How long a device token says a client is known.
pub const DEVICE_TTL: Duration = Duration::from_secs(90 * 86_400);

/// Why a token was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is invalid")]
    Invalid,
    #[error("the token is of the wrong type")]
    WrongKind,
}

/// A signed token and what it says.
#[derive(Debug, Clone)]
pub struct Issued {
    pub token: String,
    pub claims: Claims,
}

/// Signing and verification keys, built once from settings.
pub struct TokenKeys {
    /// The key for [`TokenKeys::mac`] (derived from the JWT secret).
    mac_key: Vec<u8>,
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    issuer: String,
    access_ttl: Duration,
    refresh_ttl: Duration,
}

impl std::fmt::Debug for TokenKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TokenKeys")
            .field("issuer", &self.issuer)
            .field("keys", &"[REDACTED]")
            .finish()
    }
}

impl TokenKeys {
    pub fn new(settings: &AuthSettings) -> Self {
        let secret = settings.jwt_secret.expose_secret().as_bytes();
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[&settings.jwt_issuer]);
        validation.set_required_spec_claims(&["exp", "sub", "iss"]);
        validation.leeway = 5;
        Self {
            mac_key: Sha256::new()
                .chain_update(b"saasit mac key\0")
                .chain_update(secret)
                .finalize()
                .to_vec(),
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            issuer: settings.jwt_issuer.clone(),
            access_ttl: settings.access_ttl,
            refresh_ttl: settings.refresh_ttl,
        }
    }

    pub fn ttl(&self, kind: TokenKind) -> Duration {
        match kind {
            TokenKind::Access => self.access_ttl,
            TokenKind::Refresh => self.refresh_ttl,
            // Execution tokens are issued with an explicit lifetime (the run's deadline).
            TokenKind::Execution => self.access_ttl,
            TokenKind::Device => DEVICE_TTL,
        }
    }

    pub fn issue(
        &self,
        kind: TokenKind,
        user_id: Uuid,
        session_id: Uuid,
    ) -> Result<Issued, jsonwebtoken::errors::Error> {
        self.sign(kind, user_id, session_id, self.ttl(kind))
    }

    /// The token a client keeps to say it signed in to `user_id` before.
    pub fn issue_device(&self, user_id: Uuid) -> Result<Issued, jsonwebtoken::errors::Error> {
        self.sign(TokenKind::Device, user_id, crate::ids::new_id(), DEVICE_TTL)
    }

    /// A token whose every claim is given, so signing it again gives the same
    /// token (HS256 is deterministic): how a refresh presented twice within
    /// the grace window gets the pair the first presentation got.
    pub fn issue_exactly(
        &self,
        kind: TokenKind,
        user_id: Uuid,
        session_id: Uuid,
        iat: i64,
        jti: Uuid,
    ) -> Result<Issued, jsonwebtoken::errors::Error> {
        let ttl = i64::try_from(self.ttl(kind).as_secs()).unwrap_or(i64::MAX / 2);
        let claims = Claims {
            sub: user_id,
            kind,
            jti,
            iat,
            exp: iat.saturating_add(ttl),
            iss: self.issuer.clone(),
            sid: session_id,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(Issued { token, claims })
    }

    /// An HMAC-SHA256 of `data` under a key derived from the JWT secret,
    /// separated by `purpose` (one-time codes, derived token ids).
    pub fn mac(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        use hmac::{Mac, SimpleHmac};
        let mut m = <SimpleHmac<Sha256> as Mac>::new_from_slice(&self.mac_key)
            .expect("HMAC takes any key length");
        m.update(purpose.as_bytes());
        m.update(&[0]);
        m.update(data);
        m.finalize().into_bytes().into()
    }

    /// The execution-scoped token an executor presents to the callback routes.
    pub fn issue_for_execution(
        &self,
        execution_id: Uuid,
        workspace_id: Uuid,
        valid_for: Duration,
    ) -> Result<Issued, jsonwebtoken::errors::Error> {
        self.sign(TokenKind::Execution, execution_id, workspace_id, valid_for)
    }

    fn sign(
        &self,
        kind: TokenKind,
        sub: Uuid,
        sid: Uuid,
        ttl: Duration,
    ) -> Result<Issued, jsonwebtoken::errors::Error> {
        let user_id = sub;
        let session_id = sid;
        let iat = Utc::now().timestamp();
        let claims = Claims {
            sub: user_id,
            kind,
            jti: crate::ids::new_id(),
            iat,
            exp: iat + i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX / 2),
            iss: self.issuer.clone(),
            sid: session_id,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?;
        Ok(Issued { token, claims })
    }

    /// Verifies signature, algorithm, issuer and expiry, then the token type.
    pub fn verify(&self, token: &str, expected: TokenKind) -> Result<Claims, TokenError> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => TokenError::Expired,
                _ => TokenError::Invalid,
            })?;
        if data.claims.kind != expected {
            return Err(TokenError::WrongKind);
        }
        Ok(data.claims)
    }
}

/// The SHA-256 of a token: what the database stores instead of the token.
pub fn fingerprint(token: &str) -> Vec<u8> {
    Sha256::digest(token.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::SecretString;

    fn keys(secret: &str) -> TokenKeys {
        TokenKeys::new(&AuthSettings {
            jwt_secret: SecretString::from(secret.to_owned()),
            jwt_issuer: "saasit".into(),
            access_ttl: Duration::from_secs(900),
            refresh_ttl: Duration::from_secs(3600),
            login_max_failures: 5,
            login_window: Duration::from_secs(900),
            refresh_grace: Duration::from_secs(10),
            verify_ttl: Duration::from_secs(86_400),
            limits: Default::default(),
        })
    }

    #[test]
    fn round_trip_and_type_check() {
        let k = keys(&"k".repeat(32));
        let (user, sid) = (Uuid::now_v7(), Uuid::now_v7());
        let access = k.issue(TokenKind::Access, user, sid).expect("signs");
        let claims = k.verify(&access.token, TokenKind::Access).expect("valid");
        assert_eq!((claims.sub, claims.sid), (user, sid));
        assert_eq!(claims.exp - claims.iat, 900);
        assert_eq!(
            k.verify(&access.token, TokenKind::Refresh),
            Err(TokenError::WrongKind)
        );
    }

    #[test]
    fn other_keys_and_garbage_are_invalid() {
        let a = keys(&"a".repeat(32));
        let b = keys(&"b".repeat(32));
        let t = a
            .issue(TokenKind::Access, Uuid::now_v7(), Uuid::now_v7())
            .expect("signs");
        assert_eq!(
            b.verify(&t.token, TokenKind::Access),
            Err(TokenError::Invalid)
        );
        assert_eq!(
            a.verify("not.a.jwt", TokenKind::Access),
            Err(TokenError::Invalid)
        );
        assert_eq!(fingerprint("x").len(), 32);
    }
}
