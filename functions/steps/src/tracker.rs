//! The tracker: messages the state machine (`infra/statemachine/execution.asl.json`)
//! sends to the tracker queue, each with the task token its state waits on.
//!
//! - `track`: store the token ([`register`]); the state then waits for the
//!   run's heartbeats and its end, reported by the callback routes.
//! - `finalize`: the run ended; make sure its log bundle is stored, then
//!   release the state.
//! - `reap`: heartbeats stopped or time ran out (`error` is the Step Functions
//!   error); a run found alive (fresh heartbeat, job starting or running) is
//!   tracked on (the state machine loops back to `Track`); a dead one ends
//!   `timed_out` and its Job is deleted; then the state is released.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use serde::Deserialize;
use shared::runs::{
    track::{Expiry, Reaped},
    Runs,
};
use uuid::Uuid;

#[derive(Debug, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    Track,
    Finalize,
    Reap,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrackerMessage {
    pub action: Action,
    pub execution_id: Uuid,
    pub task_token: String,
    /// For `reap`: the caught error (`{"Error": "States.HeartbeatTimeout", "Cause": …}`).
    #[serde(default)]
    pub error: Option<serde_json::Value>,
}

/// Applies one message. Every action is idempotent, so a redelivery is harmless.
pub async fn apply(runs: &Runs, m: TrackerMessage) -> anyhow::Result<()> {
    let id = m.execution_id;
    match m.action {
        Action::Track => runs.register(id, &m.task_token).await,
        Action::Finalize => {
            runs.finalize(id).await?;
            runs.tracker.finished(id, Some(m.task_token)).await
        }
        Action::Reap => {
            let why = Expiry::from_error(
                m.error
                    .as_ref()
                    .and_then(|e| e.get("Error"))
                    .and_then(|e| e.as_str())
                    .unwrap_or("States.Timeout"),
            );
            match runs.reap(id).await? {
                Reaped::Alive(run) => {
                    tracing::warn!(execution_id = %id, ?why, "the tracker's wait expired on a live run: tracking on");
                    runs.tracker.resume(run, Some(m.task_token)).await
                }
                Reaped::Over => runs.tracker.finished(id, Some(m.task_token)).await,
            }
        }
    }
}

/// Records handled at once, within the function's `DB_MAX_CONNECTIONS` (4 in
/// the template). A run's messages never share a batch out of order: its
/// Finalize is sent only once its Track task was answered, after the Track
/// message was handled.
pub const CONCURRENCY: usize = 4;

pub async fn handle(runs: &Runs, event: SqsEvent) -> SqsBatchResponse {
    use futures_util::StreamExt;
    let retry: Vec<String> = futures_util::stream::iter(event.records)
        .map(|record| one(runs, record))
        .buffer_unordered(CONCURRENCY)
        .filter_map(|retry| async move { retry })
        .collect()
        .await;
    crate::failures(retry)
}

/// Applies one record; its message id when it must come back.
async fn one(runs: &Runs, record: aws_lambda_events::sqs::SqsMessage) -> Option<String> {
    let message_id = record.message_id.clone().unwrap_or_default();
    let parsed = record
        .body
        .as_deref()
        .map(serde_json::from_str::<TrackerMessage>);
    let Some(Ok(message)) = parsed else {
        tracing::warn!(%message_id, "dropping an unreadable tracker message");
        return None;
    };
    let id = message.execution_id;
    match apply(runs, message).await {
        Ok(()) => None,
        Err(e) => {
            tracing::warn!(execution_id = %id, error = %format!("{e:#}"), "tracker step failed; retrying");
            Some(message_id)
        }
    }
}
