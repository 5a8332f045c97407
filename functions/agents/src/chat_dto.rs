//! The design assistant's messages as stored in a workflow's chat history
//! and as the API shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::graph_change::Operation;
use crate::tool_dto::ChatRole;

/// What became of a proposed change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProposalStatus {
    /// Valid, waiting for a user to apply or reject it.
    Draft,
    /// Applied: `appliedVersion` is the version it made.
    Applied,
    /// A user rejected it; the workflow stayed as it was.
    Rejected,
    /// The validator refused it, also after the model's repair attempt
    /// (`issues` say why): it cannot be applied.
    Invalid,
    /// The workflow changed after it was proposed: ask again.
    Stale,
}

/// How an answer ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AnswerStatus {
    Complete,
    /// The model failed or took too long (`error` says which).
    Failed,
}

/// A change the assistant proposed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesignProposal {
    pub summary: String,
    pub operations: Vec<Operation>,
    pub status: ProposalStatus,
    /// The workflow version it was made against; applying needs the
    /// workflow still at this version.
    pub base_version: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_version: Option<i32>,
    /// The validator refused the first attempt and the model repaired it.
    #[serde(default)]
    pub repaired: bool,
    /// The validator's issues (why it is invalid, or warnings): `severity`,
    /// `code` (the validator's codes, or `INVALID_CHANGE` for an operation
    /// that cannot apply, `TIER_LIMIT` past the plan's agents per workflow),
    /// `message`, and where known `nodeIds` and `path`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    pub issues: Vec<Value>,
    /// Who applied or rejected it, and when.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<Uuid>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<DateTime<Utc>>,
}

/// The tokens an answer took (charged to the workspace like a run's).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesignUsage {
    pub provider: String,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// Why an answer failed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DesignError {
    /// A stable code (`UPSTREAM_ERROR`, `SERVICE_UNAVAILABLE`, …).
    pub code: String,
    pub message: String,
}

/// One message of a workflow's design chat.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesignMessage {
    pub id: Uuid,
    pub role: ChatRole,
    pub content: String,
    pub created_at: DateTime<Utc>,
    /// The user who wrote it (user messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_id: Option<Uuid>,
    /// The user message it answers (assistant messages).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to: Option<Uuid>,
    /// Assistant messages: how the answer ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<AnswerStatus>,
    /// A user message whose answer failed: it does not count toward the
    /// plan's messages per workflow.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proposal: Option<DesignProposal>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<DesignUsage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<DesignError>,
}

impl DesignMessage {
    /// A history entry as a message (`None`: not one of the chat's, e.g.
    /// an entry a client wrote itself).
    pub fn read(entry: &Value) -> Option<Self> {
        serde_json::from_value(entry.clone()).ok()
    }

    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or_default()
    }
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"message": "Research the topic, then write a summary, then review it"}))]
pub struct DesignChatRequest {
    #[schema(schema_with = message_schema)]
    pub message: String,
}

/// What a user may send the assistant: free text, not blank.
pub const MESSAGE: shared::text::TextRule = shared::text::required_text(10_000);

fn message_schema() -> utoipa::openapi::RefOr<utoipa::openapi::Schema> {
    MESSAGE.schema("What you ask the assistant (1–10,000 characters, not only blanks).")
}

/// A message and its answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesignExchange {
    pub message: DesignMessage,
    pub answer: DesignMessage,
}

/// A workflow's design chat, and the number of its stream's latest
/// message: subscribe to `chat:{workflowId}` with `after` = `lastSeq` to
/// miss nothing from here on.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DesignChat {
    pub items: Vec<DesignMessage>,
    pub last_seq: i64,
}

/// A proposal applied: the version it made, and the message as it is now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AppliedProposal {
    pub workflow_id: Uuid,
    pub version: i32,
    pub message: DesignMessage,
}
