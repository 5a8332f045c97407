//! The run's result, posted once at the end (`POST …/result`). It carries the
//! run's output (or a reference to it), never every node's output: those went
//! out as events already.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::status::{EndReason, RunStatus};

/// An output too large to travel inline, stored as an artifact of the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputRef {
    pub artifact_id: String,
    pub size: u64,
    pub content_type: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    pub status: RunStatus,
    #[serde(default)]
    pub output: Option<Value>,
    /// Set instead of `output` when the output was too large to send inline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_ref: Option<OutputRef>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub failed_node: Option<String>,
    #[serde(default)]
    pub duration_ms: Option<u64>,
    /// Why it ended, beyond its status (`budget_exceeded`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<EndReason>,
}
