//! The sweeper step (a scheduled Lambda on AWS, a periodic task locally):
//! no execution stays non-terminal forever. Runs past their deadline and
//! running executions whose heartbeat stopped end `timed_out` (their job is
//! deleted); queued executions whose message may be lost are sent again.
//! It also prunes what can never matter again: failed logins outside the
//! throttling window and sign-in families whose refresh tokens all expired.

use super::{
    tracker::{time_out, EndedBy, Expiry},
    Pipeline,
};
use crate::{
    db::{executions, housekeeping},
    state::AppState,
    tier::Priority,
};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub timed_out: usize,
    pub requeued: usize,
    /// Failed logins older than the throttling window.
    pub login_failures_pruned: u64,
    /// Sign-in families whose refresh tokens had all expired.
    pub sessions_pruned: u64,
}

pub async fn sweep(state: &AppState, pipeline: &Pipeline) -> anyhow::Result<Swept> {
    let mut swept = Swept::default();
    for (id, _status, _job, past_deadline) in
        executions::overdue(&state.db, pipeline.config.heartbeat_timeout).await?
    {
        let error = if past_deadline {
            "the run did not finish before its deadline".to_owned()
        } else {
            Expiry::HeartbeatLost.message(pipeline.config.heartbeat_timeout)
        };
        if time_out(state, pipeline, id, &error, EndedBy::Sweeper).await? {
            swept.timed_out += 1;
        }
    }
    for (id, priority) in executions::stale_queued(&state.db, pipeline.config.requeue_after).await?
    {
        let p = match priority.as_str() {
            "high" => Priority::High,
            "standard" => Priority::Standard,
            _ => Priority::Low,
        };
        pipeline
            .queue
            .send(id, p, std::time::Duration::ZERO)
            .await?;
        swept.requeued += 1;
    }
    swept.login_failures_pruned =
        housekeeping::prune_login_failures(&state.db, state.settings.auth.login_window).await?;
    swept.sessions_pruned = housekeeping::prune_sessions(&state.db).await?;
    Ok(swept)
}
