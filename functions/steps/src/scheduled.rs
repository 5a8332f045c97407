//! A schedule trigger's tick: EventBridge Scheduler invokes this with
//! `{"triggerId", "scheduledTime"}` (its `<aws.scheduler.scheduled-time>`).
//! A tick delivered twice starts one run (the scheduled time is the run's
//! idempotency key). An error (a dependency down) makes Scheduler retry the
//! tick; one that still fails goes to the schedules' dead-letter queue.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use shared::{runs::Runs, triggers::fire::Fired};
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tick {
    pub trigger_id: Uuid,
    pub scheduled_time: DateTime<Utc>,
}

pub async fn handle(runs: &Runs, event: serde_json::Value) -> anyhow::Result<serde_json::Value> {
    let tick: Tick = match serde_json::from_value(event) {
        Ok(t) => t,
        // Not ours to retry: a malformed tick would fail the same way again.
        Err(e) => {
            tracing::error!(error = %e, "a schedule tick that is not {{triggerId, scheduledTime}}: dropped");
            return Ok(serde_json::json!({ "fired": "malformed" }));
        }
    };
    let fired = runs
        .fire_schedule(tick.trigger_id, tick.scheduled_time)
        .await?;
    tracing::info!(trigger_id = %tick.trigger_id, scheduled = %tick.scheduled_time, %fired, "schedule tick");
    Ok(match fired {
        Fired::Started(id) => serde_json::json!({ "fired": "started", "executionId": id }),
        Fired::Skipped(why) => serde_json::json!({ "fired": "skipped", "reason": why }),
        Fired::Gone => serde_json::json!({ "fired": "gone" }),
        Fired::Refused(why) => serde_json::json!({ "fired": "refused", "error": why }),
    })
}
