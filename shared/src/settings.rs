//! Typed settings, read once from the environment by a binary and passed in.
//!
//! Every variable is documented in `.env.example` at the repository root.
//! Secrets are held in [`SecretString`], whose `Debug` prints `[REDACTED]`, so a
//! settings value can be logged without leaking them.

use std::{collections::HashMap, time::Duration};

use secrecy::{ExposeSecret, SecretString};

/// Why settings could not be built. Names the variable, never its value.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is required but not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

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
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    /// Origins allowed by CORS; empty means no cross-origin access.
    pub cors_allowed_origins: Vec<String>,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub http: HttpSettings,
    pub log_format: LogFormat,
    pub log_filter: String,
}

impl Settings {
    /// Reads the process environment. Call once, in `main`.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|name| std::env::var(name).ok())
    }

    /// Builds settings from an explicit map (tests, tools).
    pub fn from_map(map: &HashMap<String, String>) -> Result<Self, SettingsError> {
        Self::from_lookup(|name| map.get(name).cloned())
    }

    /// Builds settings from any lookup function: the one place variables are parsed.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let required = |name: &'static str| get(name).ok_or(SettingsError::Missing(name));

        let jwt_secret = required("JWT_SECRET")?;
        if jwt_secret.len() < 32 {
            return Err(SettingsError::Invalid {
                name: "JWT_SECRET",
                reason: "must be at least 32 bytes".into(),
            });
        }
        let log_format = match get("LOG_FORMAT").as_deref() {
            None | Some("json") => LogFormat::Json,
            Some("pretty") => LogFormat::Pretty,
            Some(other) => {
                return Err(SettingsError::Invalid {
                    name: "LOG_FORMAT",
                    reason: format!("expected json or pretty, got {other:?}"),
                })
            }
        };

        Ok(Self {
            database: DatabaseSettings {
                url: SecretString::from(required("DATABASE_URL")?),
                max_connections: parse(&get, "DB_MAX_CONNECTIONS", 5)?,
                acquire_timeout: Duration::from_millis(parse(&get, "DB_ACQUIRE_TIMEOUT_MS", 3000)?),
                migrate_on_start: parse(&get, "DB_MIGRATE_ON_START", true)?,
            },
            auth: AuthSettings {
                jwt_secret: SecretString::from(jwt_secret),
                jwt_issuer: get("JWT_ISSUER").unwrap_or_else(|| "saasit".into()),
                access_ttl: Duration::from_secs(parse(&get, "JWT_ACCESS_TTL_SECS", 15 * 60)?),
                refresh_ttl: Duration::from_secs(parse(
                    &get,
                    "JWT_REFRESH_TTL_SECS",
                    7 * 24 * 3600,
                )?),
                login_max_failures: parse(&get, "LOGIN_MAX_FAILURES", 5)?,
                login_window: Duration::from_secs(parse(&get, "LOGIN_WINDOW_SECS", 15 * 60)?),
            },
            http: HttpSettings {
                cors_allowed_origins: get("CORS_ALLOWED_ORIGINS")
                    .map(|v| {
                        v.split(',')
                            .map(|o| o.trim().to_owned())
                            .filter(|o| !o.is_empty())
                            .collect()
                    })
                    .unwrap_or_default(),
                max_body_bytes: parse(&get, "MAX_BODY_BYTES", 1024 * 1024)?,
            },
            log_format,
            log_filter: get("LOG_LEVEL").unwrap_or_else(|| "info".into()),
        })
    }

    /// The database URL, for the pool builder only.
    pub fn database_url(&self) -> &str {
        self.database.url.expose_secret()
    }
}

fn parse<T: std::str::FromStr>(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, SettingsError>
where
    T::Err: std::fmt::Display,
{
    match get(name) {
        None => Ok(default),
        Some(raw) => raw
            .trim()
            .parse()
            .map_err(|e: T::Err| SettingsError::Invalid {
                name,
                reason: e.to_string(),
            }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> HashMap<String, String> {
        HashMap::from([
            (
                "DATABASE_URL".into(),
                "postgres://u:hunter2@localhost/db".into(),
            ),
            ("JWT_SECRET".into(), "x".repeat(40)),
        ])
    }

    #[test]
    fn defaults_apply() {
        let s = Settings::from_map(&base()).expect("valid");
        assert_eq!(s.auth.access_ttl, Duration::from_secs(900));
        assert_eq!(s.auth.refresh_ttl, Duration::from_secs(604_800));
        assert_eq!(s.auth.login_max_failures, 5);
        assert_eq!(s.http.max_body_bytes, 1_048_576);
        assert!(s.http.cors_allowed_origins.is_empty());
        assert_eq!(s.log_format, LogFormat::Json);
    }

    #[test]
    fn secrets_never_print() {
        let s = Settings::from_map(&base()).expect("valid");
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains(&"x".repeat(40)), "{printed}");
    }

    #[test]
    fn missing_and_invalid_values_are_named() {
        let mut m = base();
        m.remove("DATABASE_URL");
        let e = Settings::from_map(&m).expect_err("missing");
        assert_eq!(e.to_string(), "DATABASE_URL is required but not set");

        let mut m = base();
        m.insert("JWT_SECRET".into(), "short".into());
        let e = Settings::from_map(&m).expect_err("short secret");
        assert!(e.to_string().starts_with("JWT_SECRET is invalid"), "{e}");
        assert!(
            !e.to_string().contains("short\""),
            "value must not be echoed"
        );

        let mut m = base();
        m.insert("DB_MAX_CONNECTIONS".into(), "many".into());
        let e = Settings::from_map(&m).expect_err("not a number");
        assert!(
            e.to_string().starts_with("DB_MAX_CONNECTIONS is invalid"),
            "{e}"
        );
    }

    #[test]
    fn cors_list_is_split_and_trimmed() {
        let mut m = base();
        m.insert(
            "CORS_ALLOWED_ORIGINS".into(),
            "https://app.example.com, http://localhost:5173,".into(),
        );
        let s = Settings::from_map(&m).expect("valid");
        assert_eq!(
            s.http.cors_allowed_origins,
            vec!["https://app.example.com", "http://localhost:5173"]
        );
    }
}
