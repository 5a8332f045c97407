//! What the executor reports: one [`Event`] per thing that happened, each with
//! a sequence number that is monotonic within the run, so a receiver can apply
//! a retried batch once and a client can resume "after N". Events travel in
//! batches (`POST …/events`, [`EventBatch`]) of at most
//! [`MAX_BATCH_BYTES`](crate::limits::MAX_BATCH_BYTES).

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::{
    result::OutputRef,
    status::{EndReason, ExecutionStatus, RunStatus},
};

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
        /// `null` when the output was too large to send inline: see `output_ref`.
        output: Value,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output_ref: Option<OutputRef>,
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
    /// A piece of an agent node's answer as the model writes it (`turn`
    /// counts its model turns from 1), so a user watches it arrive; the
    /// node's output still carries the whole text.
    AgentDelta {
        node: String,
        turn: u32,
        text: String,
    },
    /// An agent node's model asked for a tool (`iteration` counts its turns from 1).
    ToolCalled {
        node: String,
        call_id: String,
        tool: String,
        input: Value,
        iteration: u32,
    },
    /// What the tool answered, as the model was given it (capped; the whole
    /// of a larger answer is an artifact named in `artifact`).
    ToolResult {
        node: String,
        call_id: String,
        tool: String,
        /// The answer, or why the tool failed (`error` is then true).
        output: Value,
        error: bool,
        duration_ms: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        artifact: Option<String>,
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
        /// `null` when the output was too large to send inline: see `output_ref`.
        output: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output_ref: Option<OutputRef>,
        error: Option<String>,
        failed_node: Option<String>,
        duration_ms: u64,
        /// Why it ended, beyond its status (`budget_exceeded`).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<EndReason>,
    },
    /// Written by the API, never by the executor: the run entered its terminal
    /// state. Always the run's last event.
    ExecutionEnded {
        status: ExecutionStatus,
        #[serde(default)]
        output: Option<Value>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        output_ref: Option<OutputRef>,
        #[serde(default)]
        error: Option<String>,
        #[serde(default)]
        failed_node: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        reason: Option<EndReason>,
    },
    /// A type this version does not know (sent by a newer executor): the API
    /// stores it as sent.
    #[serde(other)]
    Unknown,
}

impl EventKind {
    /// The LLM tokens (input and output) a `usage` event reports, saturating
    /// at `i64::MAX`; 0 for every other event.
    pub fn tokens(&self) -> i64 {
        match self {
            Self::Usage {
                input_tokens,
                output_tokens,
                ..
            } => i64::try_from(input_tokens.saturating_add(*output_tokens)).unwrap_or(i64::MAX),
            _ => 0,
        }
    }

    /// The node an event is about, if any.
    pub fn node(&self) -> Option<&str> {
        match self {
            Self::NodeStarted { node, .. }
            | Self::NodeSucceeded { node, .. }
            | Self::NodeFailed { node, .. }
            | Self::NodeSkipped { node, .. }
            | Self::NodeCancelled { node }
            | Self::Usage { node, .. }
            | Self::AgentDelta { node, .. }
            | Self::ToolCalled { node, .. }
            | Self::ToolResult { node, .. }
            | Self::Artifact { node, .. } => Some(node),
            Self::Log { node, .. } => node.as_deref(),
            _ => None,
        }
    }
}

/// One event. Unknown fields are ignored, so a newer sender stays readable.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    /// RFC 3339 with milliseconds, UTC.
    pub ts: String,
    #[serde(flatten)]
    pub kind: EventKind,
}

impl Event {
    /// The `type` word of a stored event (its JSON tag).
    pub fn type_of(payload: &Value) -> &str {
        payload["type"].as_str().unwrap_or_default()
    }
}

/// The body of `POST …/events`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct EventBatch<E = Event> {
    pub events: Vec<E>,
}

#[cfg(test)]
mod tests {
    use super::EventKind;

    #[test]
    fn usage_tokens_saturate_and_other_events_have_none() {
        let usage = |input_tokens, output_tokens| EventKind::Usage {
            node: "a".into(),
            provider: "dev".into(),
            model: "m".into(),
            input_tokens,
            output_tokens,
        };
        assert_eq!(usage(3, 4).tokens(), 7);
        assert_eq!(usage(u64::MAX, 1).tokens(), i64::MAX);
        assert_eq!(usage(u64::MAX / 2 + 1, 0).tokens(), i64::MAX);
        assert_eq!(EventKind::NodeCancelled { node: "a".into() }.tokens(), 0);
    }
}
