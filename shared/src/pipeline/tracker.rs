//! The tracker steps, run by the tracker Lambda on AWS (the state machine
//! sends it `track`, `finalize` and `reap` messages) and by the local tracker's
//! timers: the same rules in both places.
//!
//! - `track`: the state machine waits on a task token; [`register`] stores it
//!   so heartbeats and the result can be reported against it.
//! - `finalize`: the run ended and told the tracker; [`finalize`] makes sure
//!   its log bundle is stored.
//! - `reap`: the run stopped beating or outlived its timeout; [`reap`] ends it
//!   `timed_out` and deletes its job.
//!
//! [`after_end`] is what follows a run's entering a terminal state, done once
//! by whichever step moved it there.

use std::time::Duration;

use serde_json::json;
use uuid::Uuid;

use super::Pipeline;
use crate::{
    db::executions::{self, Artifact, Ending},
    state::AppState,
};

/// Why the tracker gave up on a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    /// No heartbeat within the heartbeat window (`States.HeartbeatTimeout`).
    HeartbeatLost,
    /// The run outlived its timeout (`States.Timeout`).
    Timeout,
}

impl Expiry {
    /// From a Step Functions error name; anything else reaps as a timeout.
    pub fn from_error(name: &str) -> Self {
        if name == "States.HeartbeatTimeout" {
            Self::HeartbeatLost
        } else {
            Self::Timeout
        }
    }

    /// What the run's `error` says.
    pub fn message(self, heartbeat: Duration) -> String {
        match self {
            Self::HeartbeatLost => format!(
                "no heartbeat from the executor for {} s",
                heartbeat.as_secs()
            ),
            Self::Timeout => "the run did not finish within its tier's time limit".to_owned(),
        }
    }
}

/// Who ended a run, which decides what else must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The executor reported its result: the tracker is told it finished.
    Executor,
    /// The user cancelled: the job is deleted and the tracker stopped.
    User,
    /// The sweeper: the job is deleted and the tracker stopped.
    Sweeper,
    /// The tracker reaped it: the job is deleted (the tracker is ending by itself).
    Tracker,
}

/// The key of a run's log bundle in the blob store.
pub fn log_bundle_key(id: Uuid) -> String {
    format!("executions/{id}/execution-log.ndjson")
}

pub const LOG_BUNDLE_NAME: &str = "execution-log.ndjson";

/// Stores the tracker's task token. A run that already ended gets its
/// tracker released at once (the result came before the token).
pub async fn register(
    state: &AppState,
    pipeline: &Pipeline,
    id: Uuid,
    task_token: &str,
) -> anyhow::Result<()> {
    match executions::set_task_token(&state.db, id, task_token).await? {
        Some(status) if executions::ACTIVE.contains(&status.as_str()) => Ok(()),
        // Ended, or unknown: nothing to wait for.
        _ => {
            pipeline
                .tracker
                .finished(id, Some(task_token.to_owned()))
                .await
        }
    }
}

/// After the run ended normally: make sure its log bundle is stored (it
/// usually is already: `after_end` stores it). Idempotent.
pub async fn finalize(state: &AppState, pipeline: &Pipeline, id: Uuid) -> anyhow::Result<()> {
    match executions::get(&state.db, id).await? {
        Some(e) if executions::TERMINAL.contains(&e.status.as_str()) => {
            let key = log_bundle_key(id);
            let stored = executions::artifacts(&state.db, id)
                .await?
                .iter()
                .any(|a| a.blob_key == key);
            if stored {
                Ok(())
            } else {
                store_log_bundle(state, pipeline, id).await
            }
        }
        // Told it finished while the row says otherwise: the sweeper owns it from here.
        Some(e) => {
            tracing::warn!(execution_id = %id, status = %e.status, "finalize before the run ended");
            Ok(())
        }
        None => Ok(()),
    }
}

/// Ends a run the tracker gave up on as `timed_out`; returns whether it did.
pub async fn reap(
    state: &AppState,
    pipeline: &Pipeline,
    id: Uuid,
    why: Expiry,
) -> anyhow::Result<bool> {
    // The row knows best whether the executor went silent (some emulators
    // report every expiry as `States.Timeout`).
    let silent = executions::get(&state.db, id).await?.is_some_and(|e| {
        e.heartbeat_at.is_some_and(|beat| {
            chrono::Utc::now() - beat
                >= chrono::Duration::from_std(pipeline.config.heartbeat_timeout)
                    .unwrap_or_else(|_| chrono::Duration::seconds(90))
        })
    });
    let why = if silent { Expiry::HeartbeatLost } else { why };
    let error = why.message(pipeline.config.heartbeat_timeout);
    time_out(state, pipeline, id, &error, EndedBy::Tracker).await
}

/// Ends a run `timed_out` with `error` if it has not ended yet (then does
/// what follows an end); returns whether this call ended it. The tracker's
/// reap and the sweeper both end runs this way.
pub async fn time_out(
    state: &AppState,
    pipeline: &Pipeline,
    id: Uuid,
    error: &str,
    by: EndedBy,
) -> anyhow::Result<bool> {
    let ended = executions::finish(
        &state.db,
        id,
        Ending {
            status: "timed_out",
            output: None,
            error: Some(error),
            failed_node: None,
        },
    )
    .await?;
    if ended {
        tracing::warn!(execution_id = %id, %error, ended_by = ?by, "execution timed out");
        after_end(state, pipeline, id, by).await?;
    }
    Ok(ended)
}

/// What follows a run's entering a terminal state, done once by the step that
/// moved it there: publish the end, stop what still runs for it, store its
/// log bundle. Failures to reach the job or tracker are logged, not returned:
/// the run has ended, the job's own deadline and the tracker's timeout stop
/// them anyway.
pub async fn after_end(
    state: &AppState,
    pipeline: &Pipeline,
    id: Uuid,
    by: EndedBy,
) -> anyhow::Result<()> {
    let Some(e) = executions::get(&state.db, id).await? else {
        return Ok(());
    };
    pipeline
        .publish(
            id,
            e.owner_id,
            json!({
                "type": "execution:completed", "executionId": id, "status": e.status,
                "output": e.output.as_ref().map(|o| &o.0), "error": e.error,
            }),
        )
        .await;
    // A run never dispatched has no job.
    if by != EndedBy::Executor && e.dispatched_at.is_some() {
        let job = e
            .job_name
            .clone()
            .unwrap_or_else(|| super::dispatcher::job_name(id));
        if let Err(err) = pipeline.launcher.delete(&job).await {
            tracing::warn!(execution_id = %id, error = %err, "could not delete the job of an ended run");
        }
    }
    let told = match by {
        EndedBy::Executor => pipeline.tracker.finished(id, e.task_token.clone()).await,
        EndedBy::User | EndedBy::Sweeper => pipeline.tracker.stop(id).await,
        EndedBy::Tracker => Ok(()),
    };
    if let Err(err) = told {
        tracing::warn!(execution_id = %id, error = %err, "could not update the run tracker");
    }
    if let Err(err) = store_log_bundle(state, pipeline, id).await {
        // `finalize` (and the next reader) can store it again later.
        tracing::warn!(execution_id = %id, error = %err, "could not store the log bundle");
    }
    Ok(())
}

/// Writes every event of the run as NDJSON to the blob store and lists it
/// among the run's artifacts. Writing it twice is harmless.
pub async fn store_log_bundle(
    state: &AppState,
    pipeline: &Pipeline,
    id: Uuid,
) -> anyhow::Result<()> {
    let events = executions::all_events(&state.db, id).await?;
    let mut body = Vec::with_capacity(events.len() * 128);
    for e in &events {
        serde_json::to_writer(&mut body, &e.payload.0)?;
        body.push(b'\n');
    }
    let key = log_bundle_key(id);
    let size = i64::try_from(body.len()).unwrap_or(i64::MAX);
    pipeline
        .blobs
        .put(&key, "application/x-ndjson", body)
        .await?;
    executions::insert_artifact(
        &state.db,
        id,
        &Artifact {
            id: crate::ids::new_id(),
            name: LOG_BUNDLE_NAME.into(),
            content_type: "application/x-ndjson".into(),
            size,
            blob_key: key,
            created_at: chrono::Utc::now(),
        },
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn step_functions_errors_map_to_expiries() {
        assert_eq!(
            Expiry::from_error("States.HeartbeatTimeout"),
            Expiry::HeartbeatLost
        );
        assert_eq!(Expiry::from_error("States.Timeout"), Expiry::Timeout);
        assert!(Expiry::HeartbeatLost
            .message(Duration::from_secs(45))
            .contains("heartbeat"));
    }
}
