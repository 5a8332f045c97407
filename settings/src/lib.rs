//! One settings tree for every SaasIt binary, typed and read once at start-up
//! from the environment (`.env.example` documents every variable), with one
//! set of defaults:
//!
//! - [`Settings`]: what the API functions, the pipeline steps and the local
//!   stack read: [`DatabaseSettings`], [`AuthSettings`], [`HttpSettings`],
//!   logs, the run lifecycle ([`RunSettings`]), where the AWS resources are
//!   ([`AwsSettings`]) and the local stack's own ([`LocalSettings`]).
//! - [`ExecutorSettings`] and, in Job mode, [`JobSettings`]: what the
//!   executor reads (it has no database or JWT secret, so it reads its own
//!   branch of the tree, with the same parser and the same defaults, e.g.
//!   [`runs::DEFAULT_HEARTBEAT_EVERY`]).
//!
//! Secrets are held in [`secrecy::SecretString`], whose `Debug` prints
//! `[REDACTED]`, so settings can be logged without leaking them; errors name
//! the variable, never its value.

pub mod aws;
pub mod billing;
pub mod email;
pub mod executor;
pub mod limits;
pub mod local;
pub mod lookup;
pub mod oauth;
pub mod prices;
pub mod runs;
pub mod server;
pub mod tools;
pub mod vault;

use std::collections::HashMap;

pub use aws::AwsSettings;
pub use billing::{BillingSettings, PriceSetting};
pub use email::EmailSettings;
pub use executor::{ExecutorSettings, JobSettings, LlmProvider, LlmSettings};
pub use limits::{Limit, LimitSettings};
pub use local::LocalSettings;
pub use lookup::{Lookup, SettingsError};
pub use oauth::{OAuthSettings, Provider, ProviderSettings};
pub use prices::{ModelPrice, PriceTable};
pub use runs::RunSettings;
pub use server::{AuthSettings, DatabaseSettings, HttpSettings, LogFormat};
pub use vault::VaultSettings;

#[derive(Debug, Clone)]
pub struct Settings {
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub http: HttpSettings,
    pub log_format: LogFormat,
    /// `LOG_LEVEL` (`info`): a tracing filter.
    pub log_filter: String,
    pub runs: RunSettings,
    pub aws: AwsSettings,
    pub email: EmailSettings,
    pub billing: BillingSettings,
    pub oauth: OAuthSettings,
    pub local: LocalSettings,
    pub vault: VaultSettings,
    /// The tools routes' LLM and web search providers.
    pub tools: tools::ToolsSettings,
}

impl Settings {
    /// Reads the process environment. Call once, in `main`.
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(&Lookup::env())
    }

    /// Builds settings from an explicit map (tests, tools).
    pub fn from_map(map: &HashMap<String, String>) -> Result<Self, SettingsError> {
        Self::from_lookup(&Lookup::map(map))
    }

    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            auth: AuthSettings::from_lookup(l)?,
            database: DatabaseSettings::from_lookup(l)?,
            http: HttpSettings::from_lookup(l)?,
            log_format: server::log_format(l)?,
            log_filter: l.or("LOG_LEVEL", "info"),
            runs: RunSettings::from_lookup(l)?,
            aws: AwsSettings::from_lookup(l),
            email: EmailSettings::from_lookup(l)?,
            billing: BillingSettings::from_lookup(l)?,
            oauth: OAuthSettings::from_lookup(l)?,
            local: LocalSettings::from_lookup(l)?,
            vault: VaultSettings::from_lookup(l),
            tools: tools::ToolsSettings::from_lookup(l)?,
        })
    }

    /// The database URL, for the pool builder only.
    pub fn database_url(&self) -> &str {
        self.database.url()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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
        assert_eq!(s.runs, RunSettings::default());
        assert_eq!(s.runs.heartbeat_every, Duration::from_secs(30));
        assert_eq!(s.runs.start_window, Duration::from_secs(900));
        assert_eq!(s.aws.namespace, "saasit-executions");
        assert_eq!(s.local.sweep_every, Duration::from_secs(5));
    }

    #[test]
    fn the_executor_and_the_dispatcher_share_the_heartbeat_default() {
        let e = ExecutorSettings::from_lookup(&Lookup::map(&HashMap::new())).expect("valid");
        assert_eq!(e.heartbeat_every, RunSettings::default().heartbeat_every);
        assert_eq!(e.max_concurrency, 8);
        assert_eq!(
            e.llm.provider, None,
            "unset: decided by whether there is a key"
        );
        assert!(e.llm.api_key.is_none());
    }

    #[test]
    fn llm_providers_parse_and_an_unreadable_key_file_is_a_reason_not_a_crash() {
        let m = HashMap::from([
            ("LLM_PROVIDER".to_owned(), "openai".to_owned()),
            (
                "LLM_API_KEY_FILE".to_owned(),
                "/nonexistent/api-key".to_owned(),
            ),
        ]);
        let e = ExecutorSettings::from_lookup(&Lookup::map(&m)).expect("starts");
        assert_eq!(e.llm.provider, Some(LlmProvider::OpenAi));
        assert!(e.llm.api_key.is_none());
        assert!(
            e.llm
                .key_problem
                .as_deref()
                .is_some_and(|p| p.contains("/nonexistent/api-key")),
            "{:?}",
            e.llm.key_problem
        );
        let m = HashMap::from([("LLM_PROVIDER".to_owned(), "gemini".to_owned())]);
        let err = ExecutorSettings::from_lookup(&Lookup::map(&m)).expect_err("unknown provider");
        assert!(
            err.to_string().contains("anthropic, openai or dev"),
            "{err}"
        );
    }

    #[test]
    fn secrets_never_print() {
        let mut m = base();
        m.insert("LLM_API_KEY".into(), "sk-very-secret".into());
        let s = Settings::from_map(&m).expect("valid");
        let printed = format!("{s:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains(&"x".repeat(40)), "{printed}");
        let e = ExecutorSettings::from_lookup(&Lookup::map(&m)).expect("valid");
        assert!(!format!("{e:?}").contains("sk-very-secret"));
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

        for (name, value) in [
            ("DB_MAX_CONNECTIONS", "many"),
            ("START_WINDOW_SECONDS", "0"),
            ("DISPATCH_DEADLINE_SECONDS", "-3"),
            ("MAX_DISPATCH_ATTEMPTS", "0"),
            ("HEARTBEAT_TIMEOUT_SECONDS", "10"),
        ] {
            let mut m = base();
            m.insert(name.into(), value.into());
            if name == "HEARTBEAT_TIMEOUT_SECONDS" {
                // Shorter than the beat: every run would look silent.
                m.insert("EXECUTOR_HEARTBEAT_SECONDS".into(), "30".into());
            }
            let e = Settings::from_map(&m).expect_err(name);
            assert!(
                e.to_string().starts_with(&format!("{name} is invalid")),
                "{e}"
            );
        }
    }

    #[test]
    fn run_windows_are_read() {
        let mut m = base();
        for (k, v) in [
            ("START_WINDOW_SECONDS", "600"),
            ("DISPATCH_DEADLINE_SECONDS", "60"),
            ("MAX_DISPATCH_ATTEMPTS", "5"),
            ("REQUEUE_AFTER_SECONDS", "900"),
        ] {
            m.insert(k.into(), v.into());
        }
        let s = Settings::from_map(&m).expect("valid");
        assert_eq!(s.runs.start_window, Duration::from_secs(600));
        assert_eq!(s.runs.dispatch_deadline, Duration::from_secs(60));
        assert_eq!(s.runs.max_dispatch_attempts, 5);
        assert_eq!(s.runs.requeue_after, Duration::from_secs(900));
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

    #[test]
    fn a_job_reads_its_token_from_the_file() {
        let dir = std::env::temp_dir().join(format!("saasit-settings-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let file = dir.join("token");
        std::fs::write(&file, "tok-123\n").expect("write");
        let m = HashMap::from([
            ("EXECUTION_ID".to_owned(), "e1".to_owned()),
            ("CALLBACK_URL".to_owned(), "http://api".to_owned()),
            ("CALLBACK_TOKEN_FILE".to_owned(), file.display().to_string()),
            ("RUN_TIMEOUT_SECONDS".to_owned(), "3600".to_owned()),
        ]);
        let j = JobSettings::from_lookup(&Lookup::map(&m)).expect("job");
        assert_eq!(
            secrecy::ExposeSecret::expose_secret(&j.callback_token),
            "tok-123"
        );
        assert_eq!(j.run_timeout, Some(Duration::from_secs(3600)));
        let mut m = m;
        m.remove("CALLBACK_TOKEN_FILE");
        let e = JobSettings::from_lookup(&Lookup::map(&m)).expect_err("no token");
        assert_eq!(e.to_string(), "CALLBACK_TOKEN_FILE is required but not set");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
