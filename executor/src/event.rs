//! What the executor reports: one [`Event`] per thing that happened, each with
//! a sequence number that is monotonic within the run, so a receiver can apply
//! a retried batch once and a client can resume "after N".

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// How a run ended. Also the process exit code (see [`RunStatus::exit_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Completed,
    Failed,
    Cancelled,
    TimedOut,
}

impl RunStatus {
    /// 0 completed, 1 failed, 3 cancelled, 4 timed out (2 is a usage or spec error).
    pub fn exit_code(self) -> i32 {
        match self {
            RunStatus::Completed => 0,
            RunStatus::Failed => 1,
            RunStatus::Cancelled => 3,
            RunStatus::TimedOut => 4,
        }
    }
}

/// Why a node attempt failed, as reported.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorView {
    pub kind: String,
    pub message: String,
    pub retryable: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "snake_case",
    rename_all_fields = "camelCase"
)]
pub enum EventKind {
    RunStarted {
        execution_id: Option<String>,
        nodes: usize,
        /// Nodes whose earlier outputs are reused (resume).
        reused: Vec<String>,
    },
    NodeStarted {
        node: String,
        attempt: u32,
    },
    NodeSucceeded {
        node: String,
        attempt: u32,
        output: Value,
        duration_ms: u64,
        /// True when the output came from an earlier run (resume) and the node did not run.
        reused: bool,
    },
    NodeFailed {
        node: String,
        attempt: u32,
        error: ErrorView,
        will_retry: bool,
        retry_in_ms: Option<u64>,
    },
    NodeSkipped {
        node: String,
        reason: String,
    },
    NodeCancelled {
        node: String,
    },
    Log {
        level: String,
        message: String,
        node: Option<String>,
    },
    Usage {
        node: String,
        provider: String,
        model: String,
        input_tokens: u64,
        output_tokens: u64,
    },
    Artifact {
        node: String,
        name: String,
        content_type: String,
        size: u64,
        /// Where it was stored: a file path, or the artifact id from the API.
        location: String,
    },
    Heartbeat {},
    RunFinished {
        status: RunStatus,
        output: Option<Value>,
        error: Option<String>,
        failed_node: Option<String>,
        duration_ms: u64,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// RFC 3339 with milliseconds, UTC.
    pub ts: String,
    #[serde(flatten)]
    pub kind: EventKind,
}
