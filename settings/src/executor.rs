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

/// Which LLM API agent nodes call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LlmProvider {
    /// The Anthropic Messages API.
    Anthropic,
    /// Any OpenAI-compatible chat-completions endpoint.
    OpenAi,
    /// A deterministic local stand-in that says so in its output: for local
    /// use only (the Job on EKS is never given it).
    Dev,
}

impl LlmProvider {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "anthropic" => Some(Self::Anthropic),
            "openai" => Some(Self::OpenAi),
            "dev" => Some(Self::Dev),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Anthropic => "anthropic",
            Self::OpenAi => "openai",
            Self::Dev => "dev",
        }
    }
}

#[derive(Debug, Clone)]
pub struct LlmSettings {
    /// `LLM_PROVIDER` (`anthropic`, `openai`, `dev`). Unset: anthropic with a
    /// key, the dev provider without one (running a graph locally).
    pub provider: Option<LlmProvider>,
    /// `LLM_API_KEY`, or the file named by `LLM_API_KEY_FILE` (on EKS, the
    /// platform's key mounted from a Kubernetes Secret).
    pub api_key: Option<SecretString>,
    /// Why there is no key although a key file was named (it is missing,
    /// unreadable or empty): agent nodes fail with this, nothing pretends.
    pub key_problem: Option<String>,
    /// `LLM_BASE_URL`, `LLM_MODEL`: overrides of the provider's defaults.
    pub base_url: Option<String>,
    pub model: Option<String>,
}

impl LlmSettings {
    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        let provider = match l.get("LLM_PROVIDER") {
            None => None,
            Some(v) => Some(
                LlmProvider::parse(&v).ok_or_else(|| SettingsError::Invalid {
                    name: "LLM_PROVIDER",
                    reason: format!("must be anthropic, openai or dev, not {v:?}"),
                })?,
            ),
        };
        // A key file that cannot be read is not a reason to refuse to start:
        // the run goes on and its agent nodes fail saying why.
        let (api_key, key_problem) = match l.value_or_file("LLM_API_KEY", "LLM_API_KEY_FILE") {
            Ok(Some(k)) if !k.is_empty() => (Some(SecretString::from(k)), None),
            Ok(Some(_)) => (None, Some("the LLM API key file is empty".to_owned())),
            Ok(None) => (None, None),
            Err(SettingsError::Invalid { reason, .. }) => (None, Some(reason)),
            Err(e) => return Err(e),
        };
        Ok(Self {
            provider,
            api_key,
            key_problem,
            base_url: l.get("LLM_BASE_URL"),
            model: l.get("LLM_MODEL"),
        })
    }
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
            llm: LlmSettings::from_lookup(l)?,
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
