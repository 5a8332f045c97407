//! What every API function and step reads: the database, tokens, HTTP and logs.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};

use crate::lookup::{Lookup, SettingsError};

/// The shape of the structured logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line (Lambda, CloudWatch, CI).
    Json,
    /// Human-readable lines for a terminal.
    Pretty,
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub url: SecretString,
    /// Lambdas keep 1–2 connections; the local stack a few more.
    pub max_connections: u32,
    /// How long a request waits for a connection before answering 503.
    pub acquire_timeout: Duration,
    /// Apply the embedded migrations when the binary starts.
    pub migrate_on_start: bool,
}

impl DatabaseSettings {
    /// The database URL, for the pool builder only.
    pub fn url(&self) -> &str {
        self.url.expose_secret()
    }

    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            url: SecretString::from(l.required("DATABASE_URL")?),
            max_connections: l.parse("DB_MAX_CONNECTIONS", 5)?,
            acquire_timeout: Duration::from_millis(l.parse("DB_ACQUIRE_TIMEOUT_MS", 3000)?),
            migrate_on_start: l.parse("DB_MIGRATE_ON_START", true)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    /// HMAC key for HS256 tokens; at least 32 bytes.
    pub jwt_secret: SecretString,
    pub jwt_issuer: String,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    /// Failed logins allowed per email and per client IP within `login_window`.
    pub login_max_failures: u32,
    pub login_window: Duration,
    /// `REFRESH_REUSE_GRACE_SECS` (10): a refresh token presented again this
    /// soon after it was exchanged gets the same new pair (two tabs, a retry
    /// after a lost response) instead of being treated as theft. 0 turns it off.
    pub refresh_grace: Duration,
    /// `EMAIL_VERIFY_TTL_SECS` (86400): how long a verification link works.
    pub verify_ttl: Duration,
    pub limits: crate::limits::LimitSettings,
}

impl AuthSettings {
    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        let jwt_secret = l.required("JWT_SECRET")?;
        if jwt_secret.len() < 32 {
            return Err(SettingsError::Invalid {
                name: "JWT_SECRET",
                reason: "must be at least 32 bytes".into(),
            });
        }
        Ok(Self {
            jwt_secret: SecretString::from(jwt_secret),
            jwt_issuer: l.or("JWT_ISSUER", "saasit"),
            access_ttl: Duration::from_secs(l.parse("JWT_ACCESS_TTL_SECS", 15 * 60)?),
            refresh_ttl: Duration::from_secs(l.parse("JWT_REFRESH_TTL_SECS", 7 * 24 * 3600)?),
            login_max_failures: l.parse("LOGIN_MAX_FAILURES", 5)?,
            login_window: Duration::from_secs(l.parse("LOGIN_WINDOW_SECS", 15 * 60)?),
            refresh_grace: Duration::from_secs(
                l.parse::<u64>("REFRESH_REUSE_GRACE_SECS", 10)?.min(60),
            ),
            verify_ttl: l.seconds("EMAIL_VERIFY_TTL_SECS", Duration::from_secs(86_400))?,
            limits: crate::limits::LimitSettings::from_lookup(l)?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Origins allowed by CORS; empty means no cross-origin access.
    pub cors_allowed_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// `OUTBOUND_HTTP_ALLOW`: hosts (`name` or `name:port`, comma-separated)
    /// the API may reach for a workspace (its MCP servers) even on loopback
    /// or private addresses; empty on AWS, the local doubles' hosts locally.
    pub outbound_allow: String,
}

impl HttpSettings {
    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            cors_allowed_origins: l
                .get("CORS_ALLOWED_ORIGINS")
                .map(|v| {
                    v.split(',')
                        .map(|o| o.trim().to_owned())
                        .filter(|o| !o.is_empty())
                        .collect()
                })
                .unwrap_or_default(),
            max_body_bytes: l.parse("MAX_BODY_BYTES", 1024 * 1024)?,
            outbound_allow: l.get("OUTBOUND_HTTP_ALLOW").unwrap_or_default(),
        })
    }
}

pub fn log_format(l: &Lookup<'_>) -> Result<LogFormat, SettingsError> {
    match l.get("LOG_FORMAT").as_deref() {
        None | Some("json") => Ok(LogFormat::Json),
        Some("pretty") => Ok(LogFormat::Pretty),
        Some(other) => Err(SettingsError::Invalid {
            name: "LOG_FORMAT",
            reason: format!("expected json or pretty, got {other:?}"),
        }),
    }
}
