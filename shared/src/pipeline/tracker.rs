//! The tracker steps, run by the tracker Lambda on AWS (the state machine
//! sends it `track`, `finalize` and `reap` messages) and by the local tracker's
//! timers: the same rules in both places.
//!
//! - `track`: the state machine waits on a task token; [`register`] stores it
//!   so heartbeats and the result can be reported against it.
//! - `finalize`: the run ended and told the tracker; [`finalize`] makes sure
//!   its log bundle is stored.
//! - `reap`: the run stopped beating or outlived its timeout; [`reap`] asks
//!   [`judge`] whether it is really gone (its deadline passed, or its job is
//!   gone) and then ends it `timed_out` and deletes its job; a run found alive
//!   is tracked on (`resume`), so an outage longer than the heartbeat window
//!   kills nothing that still runs.
//!
//! [`after_end`] is what follows a run's entering a terminal state, done once
//! by whichever step moved it there.

use std::time::Duration;

use run_protocol::RunStatus;
use uuid::Uuid;

use super::{JobState, Pipeline, TrackedRun};
use crate::{
    db::{
        execution_reads,
        executions::{self, Artifact, Ending, Liveness},
    },
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
        Some(status) if status.is_active() => Ok(()),
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
        Some(e) if e.status.is_terminal() => {
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

/// What to do with a run the tracker or the sweeper found silent or overdue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// It has ended already: nothing to do.
    Ended,
    /// It is alive: go on tracking it, for at most this long.
    Alive(Duration),
    /// It is gone: end it `timed_out` with this reason.
    Dead(String),
}

/// Judges a run by what can be known of it: its deadline, its last heartbeat,
/// and, when it is silent, its job. A silent run whose job still runs is alive
/// (an outage between it and us is not its death); a job still starting is
/// given the start window; only a run past its deadline, or whose job is gone,
/// is dead.
pub async fn judge(pipeline: &Pipeline, e: &Liveness) -> anyhow::Result<Verdict> {
    if e.status.is_terminal() {
        return Ok(Verdict::Ended);
    }
    let now = chrono::Utc::now();
    let left = (e.deadline_at - now).to_std().unwrap_or_default();
    if left.is_zero() {
        return Ok(Verdict::Dead(
            Expiry::Timeout.message(pipeline.config.heartbeat_timeout),
        ));
    }
    let window = chrono::Duration::from_std(pipeline.config.heartbeat_timeout)
        .unwrap_or_else(|_| chrono::Duration::seconds(90));
    if e.heartbeat_at.is_some_and(|beat| now - beat < window) {
        return Ok(Verdict::Alive(left));
    }
    let job = e
        .job_name
        .clone()
        .unwrap_or_else(|| super::dispatcher::job_name(e.id));
    Ok(match pipeline.launcher.state(&job).await? {
        JobState::Running => {
            tracing::warn!(execution_id = %e.id, "silent, but its job runs: tracking on");
            Verdict::Alive(left)
        }
        JobState::Starting => {
            let since = e
                .dispatched_at
                .map_or(chrono::Duration::zero(), |d| now - d);
            if since.to_std().unwrap_or_default() < pipeline.config.start_window {
                Verdict::Alive(left)
            } else {
                Verdict::Dead(format!(
                    "the executor did not start within {} s (no node could take it, or its image could not be pulled)",
                    pipeline.config.start_window.as_secs()
                ))
            }
        }
        JobState::Ended | JobState::Missing => Verdict::Dead(format!(
            "{}, and its job is gone",
            Expiry::HeartbeatLost.message(pipeline.config.heartbeat_timeout)
        )),
    })
}

/// What a reap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// The run was alive: track it again with these windows.
    Alive(TrackedRun),
    /// The run ended (by this call or before it).
    Over,
}

/// The tracker gave up waiting on a run: end it `timed_out` only if
/// [`judge`] finds it dead; a live one is tracked on.
pub async fn reap(state: &AppState, pipeline: &Pipeline, id: Uuid) -> anyhow::Result<Reaped> {
    let Some(e) = executions::liveness(&state.db, id).await? else {
        return Ok(Reaped::Over);
    };
    match judge(pipeline, &e).await? {
        Verdict::Ended => Ok(Reaped::Over),
        Verdict::Alive(left) => Ok(Reaped::Alive(TrackedRun {
            execution_id: id,
            heartbeat: pipeline.config.heartbeat_timeout,
            timeout: left + super::dispatcher::TRACKER_GRACE,
        })),
        Verdict::Dead(error) => {
            time_out(state, pipeline, id, &error, EndedBy::Tracker).await?;
            Ok(Reaped::Over)
        }
    }
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
    end(state, pipeline, id, RunStatus::TimedOut, error, by).await
}

/// Ends a run that has no result from its executor (timed out, cancelled,
/// never dispatched) with `error`; returns whether this call ended it.
pub async fn end(
    state: &AppState,
    pipeline: &Pipeline,
    id: Uuid,
    status: RunStatus,
    error: &str,
    by: EndedBy,
) -> anyhow::Result<bool> {
    let ended = executions::finish(
        &state.db,
        id,
        Ending {
            status,
            output: None,
            output_ref: None,
            error: Some(error),
            failed_node: None,
        },
    )
    .await?;
    if ended.is_some() {
        tracing::warn!(execution_id = %id, %error, ?status, ended_by = ?by, "execution ended without a result");
        after_end(state, pipeline, id, by).await?;
    }
    Ok(ended.is_some())
}

/// What follows a run's entering a terminal state, done once by the step that
/// moved it there: publish the end (the run's last sequenced message, after
/// every event), stop what still runs for it, store its log bundle. Failures
/// to reach the job or tracker are logged, not returned: the run has ended,
/// the job's own deadline and the tracker's timeout stop them anyway.
pub async fn after_end(
    state: &AppState,
    pipeline: &Pipeline,
    id: Uuid,
    by: EndedBy,
) -> anyhow::Result<()> {
    let Some(e) = executions::get(&state.db, id).await? else {
        return Ok(());
    };
    if let Some(last) = executions::last_event(&state.db, id).await? {
        pipeline
            .publish(
                id,
                e.owner_id,
                crate::realtime::deliver::event_message(id, last.seq, &last.kind, &last.payload.0),
            )
            .await;
    }
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

/// Events read per page while the log bundle is written.
const BUNDLE_PAGE: i64 = 64;

/// Writes every event of the run as NDJSON to the blob store and lists it
/// among the run's artifacts. The events are read a page at a time and
/// streamed out as stored, so a run of any length takes bounded memory.
/// Writing it twice is harmless.
pub async fn store_log_bundle(
    state: &AppState,
    pipeline: &Pipeline,
    id: Uuid,
) -> anyhow::Result<()> {
    let db = state.db.clone();
    let pages = futures_util::stream::try_unfold(0_i64, move |after| {
        let db = db.clone();
        async move {
            let rows = execution_reads::event_texts_after(&db, id, after, BUNDLE_PAGE).await?;
            let Some(last) = rows.last().map(|r| r.seq) else {
                return anyhow::Ok(None);
            };
            let mut chunk = Vec::with_capacity(rows.iter().map(|r| r.json.len() + 1).sum());
            for r in &rows {
                chunk.extend_from_slice(r.json.as_bytes());
                chunk.push(b'\n');
            }
            Ok(Some((chunk, last)))
        }
    });
    let key = log_bundle_key(id);
    let size = pipeline
        .blobs
        .put_stream(&key, "application/x-ndjson", Box::pin(pages))
        .await?;
    executions::insert_artifact(
        &state.db,
        id,
        &Artifact {
            id: crate::ids::new_id(),
            name: LOG_BUNDLE_NAME.into(),
            content_type: "application/x-ndjson".into(),
            size: i64::try_from(size).unwrap_or(i64::MAX),
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
