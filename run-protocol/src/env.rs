//! The Job environment contract: what the dispatcher gives an executor and
//! the executor reads. Secrets never travel as environment values: the
//! callback token is a file (a per-Job Kubernetes Secret mounted read-only on
//! EKS, a private file locally) named by [`CALLBACK_TOKEN_FILE`].

/// The execution this Job runs.
pub const EXECUTION_ID: &str = "EXECUTION_ID";
/// Where the callback API is (`{CALLBACK_URL}/api/v1/internal/executions/{id}/…`).
pub const CALLBACK_URL: &str = "CALLBACK_URL";
/// The path of the file holding the execution-scoped callback token.
pub const CALLBACK_TOKEN_FILE: &str = "CALLBACK_TOKEN_FILE";
/// The token itself; accepted from older dispatchers and for hand-run Jobs, never set by ours.
pub const CALLBACK_TOKEN: &str = "CALLBACK_TOKEN";
/// How often the executor beats, in seconds.
pub const HEARTBEAT_SECONDS: &str = "EXECUTOR_HEARTBEAT_SECONDS";
/// The run's time limit in seconds (the tier's runtime), when the spec does not say.
pub const RUN_TIMEOUT_SECONDS: &str = "RUN_TIMEOUT_SECONDS";

/// Where the per-Job Secret is mounted on EKS, and the key of the token in it.
pub const TOKEN_MOUNT_DIR: &str = "/var/run/saasit";
pub const TOKEN_SECRET_KEY: &str = "callback-token";

/// Where the platform's LLM key is mounted on EKS (from the Kubernetes Secret
/// the dispatcher names, fed from Secrets Manager), and the key's name in it.
/// The executor reads it through `LLM_API_KEY_FILE`.
pub const LLM_KEY_MOUNT_DIR: &str = "/var/run/saasit-llm";
pub const LLM_KEY_SECRET_KEY: &str = "api-key";
/// The web search provider's key (Brave), in the same Secret and mount; the
/// executor reads it through `WEB_SEARCH_API_KEY_FILE`.
pub const WEB_SEARCH_KEY_SECRET_KEY: &str = "web-search-api-key";
