//! The sweeper step (a scheduled Lambda on AWS, a periodic task locally):
//! no execution stays non-terminal forever. Runs past their deadline and
//! running executions whose heartbeat stopped end `timed_out` (their job is
//! deleted); queued executions whose message may be lost are sent again.

use super::{
    tracker::{time_out, EndedBy, Expiry},
    Pipeline,
};
use crate::{db::executions, state::AppState, tier::Priority};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    pub timed_out: usize,
    pub requeued: usize,
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
    Ok(swept)
}
