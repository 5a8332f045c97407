//! Webhook deliveries, taken by the dispatcher Lambda from the intake queue
//! (`HookIntakeQueue`): each starts its run ([`Runs::take_delivery`],
//! idempotent). One that cannot be started because a dependency is down is
//! reported as a batch item failure, so SQS delivers it again after the
//! visibility timeout and, after `maxReceiveCount` tries, keeps it in the
//! dead-letter queue for a redrive. A refusal (a plan limit, an invalid
//! graph) is recorded on the trigger, not retried. The dispatcher knows the
//! intake's messages by their queue (`HOOK_INTAKE_QUEUE_URL`), not their shape.

use shared::{
    runs::Runs,
    triggers::delivery::{HookDelivery, Taken},
};

/// Takes one delivery; its message id when it must come back. A body that
/// is not a delivery comes back too, so it ends in the dead-letter queue
/// (where an operator sees it) instead of being dropped.
pub async fn one(runs: &Runs, message_id: String, body: Option<&str>) -> Option<String> {
    let Some(delivery) = body.and_then(HookDelivery::from_message) else {
        tracing::error!(%message_id, "an intake message is not a webhook delivery; it goes to the dead-letter queue");
        return Some(message_id);
    };
    match runs.take_delivery(&delivery).await {
        Ok(Taken::Started(id, created)) => {
            tracing::info!(execution_id = %id, trigger_id = %delivery.trigger_id, created, "webhook run started");
            None
        }
        Ok(other) => {
            tracing::warn!(trigger_id = %delivery.trigger_id, outcome = ?other, "webhook delivery not started");
            None
        }
        Err(e) => {
            tracing::warn!(trigger_id = %delivery.trigger_id, %message_id, error = %format!("{e:#}"), "webhook delivery not taken; it will be retried");
            Some(message_id)
        }
    }
}
