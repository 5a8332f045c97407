//! The sweeper step (a scheduled Lambda on AWS, a periodic task locally):
//! no execution stays non-terminal forever, and nothing alive is killed. Runs
//! past their deadline, and silent runs whose job is gone ([`judge`]), end
//! `timed_out` (their job is deleted); runs stuck in `dispatching` go back to
//! the queue (releasing their slot) a few times, then fail; queued executions
//! whose message may be lost are sent again.
//! It also prunes what can never matter again: failed logins outside the
//! throttling window and sign-in families whose refresh tokens all expired.

use run_protocol::RunStatus;

use super::{
    tracker::{end, judge, time_out, EndedBy, Verdict},
    Pipeline,
};
use crate::{
    db::{
        executions::{self, StuckDispatch},
        housekeeping,
    },
    state::AppState,
};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub timed_out: usize,
    pub requeued: usize,
    /// Silent runs found alive (their job starting or running).
    pub alive: usize,
    /// Runs stuck in `dispatching`, re-queued or (after too many tries) failed.
    pub redispatched: usize,
    pub dispatch_failed: usize,
    /// Failed logins older than the throttling window.
    pub login_failures_pruned: u64,
    /// Sign-in families whose refresh tokens had all expired.
    pub sessions_pruned: u64,
}

pub async fn sweep(state: &AppState, pipeline: &Pipeline) -> anyhow::Result<Swept> {
    let mut swept = Swept::default();
    for e in executions::overdue(&state.db, pipeline.config.heartbeat_timeout).await? {
        let id = e.id;
        match judge(pipeline, &e).await {
            Ok(Verdict::Dead(error)) => {
                if time_out(state, pipeline, id, &error, EndedBy::Sweeper).await? {
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
        &state.db,
        pipeline.config.dispatch_deadline,
        pipeline.config.max_dispatch_attempts,
    )
    .await?
    {
        match stuck {
            StuckDispatch::Requeued(id, priority) => {
                pipeline
                    .queue
                    .send(id, priority, std::time::Duration::ZERO)
                    .await?;
                swept.redispatched += 1;
            }
            StuckDispatch::GiveUp(id) => {
                let error = format!(
                    "the run could not be dispatched ({} attempts of {} s each)",
                    pipeline.config.max_dispatch_attempts,
                    pipeline.config.dispatch_deadline.as_secs()
                );
                if end(
                    state,
                    pipeline,
                    id,
                    RunStatus::Failed,
                    &error,
                    EndedBy::Sweeper,
                )
                .await?
                {
                    swept.dispatch_failed += 1;
                }
            }
        }
    }
    for (id, priority) in executions::stale_queued(&state.db, pipeline.config.requeue_after).await?
    {
        pipeline
            .queue
            .send(id, priority, std::time::Duration::ZERO)
            .await?;
        swept.requeued += 1;
    }
    swept.login_failures_pruned =
        housekeeping::prune_login_failures(&state.db, state.settings.auth.login_window).await?;
    swept.sessions_pruned = housekeeping::prune_sessions(&state.db).await?;
    Ok(swept)
}
