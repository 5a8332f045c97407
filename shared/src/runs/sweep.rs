//! The sweeper step (a scheduled Lambda on AWS, a periodic task locally):
//! no execution stays non-terminal forever, and nothing alive is killed. Runs
//! past their deadline, and silent runs whose job is gone ([`judge`]), end
//! `timed_out` (their job is deleted); runs stuck in `dispatching` go back to
//! the queue (releasing their slot) a few times, then fail; queued executions
//! whose message may be lost are sent again; file uploads never completed
//! are forgotten after a day.
//! (What else the sweeper Lambda does, closing WebSocket connections and
//! pruning sign-ins, lives with real-time and auth.)

use run_protocol::RunStatus;

use super::{end::EndedBy, track::Verdict, Runs};
use crate::db::executions::{self, StuckDispatch};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub timed_out: usize,
    pub requeued: usize,
    /// Silent runs found alive (their job starting or running).
    pub alive: usize,
    /// Runs stuck in `dispatching`, re-queued or (after too many tries) failed.
    pub redispatched: usize,
    pub dispatch_failed: usize,
    /// File uploads registered a day ago and never completed, forgotten
    /// with whatever bytes reached the blob store.
    pub abandoned_uploads: usize,
}

impl Runs {
    /// One sweep of the runs: see the module's documentation.
    pub async fn sweep(&self) -> anyhow::Result<Swept> {
        let mut swept = Swept::default();
        for e in executions::overdue(&self.db, self.settings.heartbeat_timeout).await? {
            let id = e.id;
            match self.judge(&e).await {
                Ok(Verdict::Dead(error)) => {
                    if self.time_out(id, &error, EndedBy::Sweeper).await? {
                        swept.timed_out += 1;
                    }
                }
                Ok(Verdict::Alive(_)) => swept.alive += 1,
                Ok(Verdict::Ended) => {}
                // The launcher cannot be asked now: judge again next time.
                Err(err) => {
                    tracing::warn!(execution_id = %id, error = %err, "cannot judge a silent run")
                }
            }
        }
        for stuck in executions::stuck_dispatching(
            &self.db,
            self.settings.dispatch_deadline,
            self.settings.max_dispatch_attempts,
        )
        .await?
        {
            match stuck {
                StuckDispatch::Requeued(id, priority) => {
                    self.queue
                        .send(id, priority, std::time::Duration::ZERO)
                        .await?;
                    swept.redispatched += 1;
                }
                StuckDispatch::GiveUp(id) => {
                    let error = format!(
                        "the run could not be dispatched ({} attempts of {} s each)",
                        self.settings.max_dispatch_attempts,
                        self.settings.dispatch_deadline.as_secs()
                    );
                    if self
                        .end(id, RunStatus::Failed, &error, EndedBy::Sweeper)
                        .await?
                    {
                        swept.dispatch_failed += 1;
                    }
                }
            }
        }
        for (id, priority) in
            executions::stale_queued(&self.db, self.settings.requeue_after).await?
        {
            self.queue
                .send(id, priority, std::time::Duration::ZERO)
                .await?;
            swept.requeued += 1;
        }
        for (workspace_id, file_id, key) in crate::db::files::abandoned(&self.db, 100).await? {
            // The bytes first: a store that is down leaves the row for next time.
            if let Err(e) = self.blobs.delete(&key).await {
                tracing::warn!(error = %e, "cannot delete an abandoned upload's bytes");
                break;
            }
            crate::db::files::delete(&self.db, workspace_id, file_id).await?;
            swept.abandoned_uploads += 1;
        }
        Ok(swept)
    }
}
