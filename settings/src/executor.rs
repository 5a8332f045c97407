//! The executor's settings: its LLM provider, what its `http` nodes may
//! reach, its concurrency and heartbeat, and in Job mode the run it serves.
//! Read by the `executor` binary alone (it links none of the web stack).

use std::time::Duration;

use run_protocol::env;
use secrecy::SecretString;

use crate::{
    lookup::{Lookup, SettingsError},
    runs::DEFAULT_HEARTBEAT_EVERY,
};

#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// `LLM_PROVIDER` (`anthropic`).
    pub provider: String,
    /// `LLM_API_KEY`, or the file named by `LLM_API_KEY_FILE`; without one
    /// agent nodes use the deterministic dev provider.
    pub api_key: Option<SecretString>,
    /// `LLM_BASE_URL`, `LLM_MODEL`: overrides of the provider's defaults.
    pub base_url: Option<String>,
    pub model: Option<String>,
}

#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    pub llm: LlmSettings,
    /// `EXECUTOR_HTTP_ALLOW`: hosts `http` nodes may reach on private addresses.
    pub http_allow: String,
    /// `EXECUTOR_MAX_CONCURRENCY` (8): nodes running at once (a spec may say less).
    pub max_concurrency: usize,
    /// `EXECUTOR_HEARTBEAT_SECONDS` (30, the dispatcher passes its own).
    pub heartbeat_every: Duration,
}

/// What a Job is for (Job mode only).
#[derive(Debug, Clone)]
pub struct JobSettings {
    /// `EXECUTION_ID`.
    pub execution_id: String,
    /// `CALLBACK_URL`.
    pub callback_url: String,
    /// From the file named by `CALLBACK_TOKEN_FILE` (what the dispatcher
    /// gives), or `CALLBACK_TOKEN` (hand-run Jobs, older dispatchers).
    pub callback_token: SecretString,
    /// `RUN_TIMEOUT_SECONDS`: the tier's runtime, when the spec does not say.
    pub run_timeout: Option<Duration>,
}

impl ExecutorSettings {
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(&Lookup::env())
    }

    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        let max_concurrency: usize = l.parse("EXECUTOR_MAX_CONCURRENCY", 8)?;
        if max_concurrency == 0 {
            return Err(SettingsError::Invalid {
                name: "EXECUTOR_MAX_CONCURRENCY",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            llm: LlmSettings {
                provider: l.or("LLM_PROVIDER", "anthropic"),
                api_key: l
                    .value_or_file("LLM_API_KEY", "LLM_API_KEY_FILE")?
                    .map(SecretString::from),
                base_url: l.get("LLM_BASE_URL"),
                model: l.get("LLM_MODEL"),
            },
            http_allow: l.get("EXECUTOR_HTTP_ALLOW").unwrap_or_default(),
            max_concurrency,
            heartbeat_every: l.seconds(env::HEARTBEAT_SECONDS, DEFAULT_HEARTBEAT_EVERY)?,
        })
    }
}

impl JobSettings {
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(&Lookup::env())
    }

    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        // The file first: it is what the dispatcher gives.
        let token = match l.get(env::CALLBACK_TOKEN_FILE) {
            Some(path) => std::fs::read_to_string(&path)
                .map(|s| s.trim().to_owned())
                .map_err(|e| SettingsError::Invalid {
                    name: env::CALLBACK_TOKEN_FILE,
                    reason: format!("cannot read {path}: {e}"),
                })?,
            None => l
                .get(env::CALLBACK_TOKEN)
                .ok_or(SettingsError::Missing(env::CALLBACK_TOKEN_FILE))?,
        };
        if token.is_empty() {
            return Err(SettingsError::Invalid {
                name: env::CALLBACK_TOKEN_FILE,
                reason: "the token file is empty".into(),
            });
        }
        Ok(Self {
            execution_id: l.required(env::EXECUTION_ID)?,
            callback_url: l.required(env::CALLBACK_URL)?,
            callback_token: SecretString::from(token),
            run_timeout: l
                .get(env::RUN_TIMEOUT_SECONDS)
                .map(|_| l.seconds(env::RUN_TIMEOUT_SECONDS, Duration::ZERO))
                .transpose()?,
        })
    }
}
