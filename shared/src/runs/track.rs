//! The tracker's steps, run by the tracker Lambda on AWS (the state machine
//! sends it `track`, `finalize` and `reap` messages) and by the local
//! tracker's timers: the same rules in both places.
//!
//! - `track`: the state machine waits on a task token; [`Runs::register`]
//!   stores it so heartbeats and the result can be reported against it.
//! - `finalize`: the run ended and told the tracker; [`Runs::finalize`]
//!   makes sure its log bundle is stored.
//! - `reap`: the run stopped beating or outlived its timeout; [`Runs::reap`]
//!   asks [`Runs::judge`] whether it is really gone (its deadline passed, or
//!   its job is gone) and then ends it `timed_out` and deletes its job; a run
//!   found alive is tracked on (`resume`), so an outage longer than the
//!   heartbeat window kills nothing that still runs.

use std::time::Duration;

use uuid::Uuid;

use super::{
    end::{log_bundle_key, EndedBy},
    job_name, JobState, Runs, TrackedRun, TRACKER_GRACE,
};
use crate::db::executions::{self, Liveness};

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

/// Stores the tracker's task token. A run that already ended gets its
/// tracker released at once (the result came before the token).
impl Runs {
    pub async fn register(&self, id: Uuid, task_token: &str) -> anyhow::Result<()> {
        match executions::set_task_token(&self.db, id, task_token).await? {
            Some(status) if status.is_active() => Ok(()),
            // Ended, or unknown: nothing to wait for.
            _ => self.tracker.finished(id, Some(task_token.to_owned())).await,
        }
    }

    /// After the run ended normally: make sure its log bundle is stored (it
    /// usually is already: `after_end` stores it). Idempotent.
    pub async fn finalize(&self, id: Uuid) -> anyhow::Result<()> {
        match executions::get(&self.db, id).await? {
            Some(e) if e.status.is_terminal() => {
                let key = log_bundle_key(id);
                let stored = executions::artifacts(&self.db, id)
                    .await?
                    .iter()
                    .any(|a| a.blob_key == key);
                if stored {
                    Ok(())
                } else {
                    self.store_log_bundle(id).await
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

impl Runs {
    /// Judges a run by what can be known of it: its deadline, its last heartbeat,
    /// and, when it is silent, its job. A silent run whose job still runs is alive
    /// (an outage between it and us is not its death); a job still starting is
    /// given the start window; only a run past its deadline, or whose job is gone,
    /// is dead.
    pub async fn judge(&self, e: &Liveness) -> anyhow::Result<Verdict> {
        if e.status.is_terminal() {
            return Ok(Verdict::Ended);
        }
        let now = chrono::Utc::now();
        let left = (e.deadline_at - now).to_std().unwrap_or_default();
        if left.is_zero() {
            return Ok(Verdict::Dead(
                Expiry::Timeout.message(self.settings.heartbeat_timeout),
            ));
        }
        let window = chrono::Duration::from_std(self.settings.heartbeat_timeout)
            .unwrap_or_else(|_| chrono::Duration::seconds(90));
        if e.heartbeat_at.is_some_and(|beat| now - beat < window) {
            return Ok(Verdict::Alive(left));
        }
        let job = e.job_name.clone().unwrap_or_else(|| job_name(e.id));
        Ok(match self.launcher.state(&job).await? {
            JobState::Running => {
                tracing::warn!(execution_id = %e.id, "silent, but its job runs: tracking on");
                Verdict::Alive(left)
            }
            JobState::Starting => {
                let since = e
                    .dispatched_at
                    .map_or(chrono::Duration::zero(), |d| now - d);
                if since.to_std().unwrap_or_default() < self.settings.start_window {
                    Verdict::Alive(left)
                } else {
                    Verdict::Dead(format!(
                    "the executor did not start within {} s (no node could take it, or its image could not be pulled)",
                    self.settings.start_window.as_secs()
                ))
                }
            }
            JobState::Ended | JobState::Missing => Verdict::Dead(format!(
                "{}, and its job is gone",
                Expiry::HeartbeatLost.message(self.settings.heartbeat_timeout)
            )),
        })
    }
}

/// What a reap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reaped {
    /// The run was alive: track it again with these windows.
    Alive(TrackedRun),
    /// The run ended (by this call or before it).
    Over,
}

impl Runs {
    /// The tracker gave up waiting on a run: end it `timed_out` only if
    /// [`judge`] finds it dead; a live one is tracked on.
    pub async fn reap(&self, id: Uuid) -> anyhow::Result<Reaped> {
        let Some(e) = executions::liveness(&self.db, id).await? else {
            return Ok(Reaped::Over);
        };
        match self.judge(&e).await? {
            Verdict::Ended => Ok(Reaped::Over),
            Verdict::Alive(left) => Ok(Reaped::Alive(TrackedRun {
                execution_id: id,
                heartbeat: self.settings.tracker_heartbeat,
                timeout: left + TRACKER_GRACE,
            })),
            Verdict::Dead(error) => {
                self.time_out(id, &error, EndedBy::Tracker).await?;
                Ok(Reaped::Over)
            }
        }
    }
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
