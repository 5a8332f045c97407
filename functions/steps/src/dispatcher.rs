//! The dispatcher: one SQS message, one execution ([`dispatch_one`]). An
//! over-limit run's message is hidden with an exponential back-off and
//! reported as a batch item failure, so it comes back later without
//! spinning; a failed dispatch comes back after the visibility timeout.
//! Unreadable messages are dropped (logged): retrying cannot fix them.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use shared::{
    runs::{
        aws::{
            deferral,
            sqs::{execution_of, SqsQueue},
        },
        dispatch::Outcome,
        Runs,
    },
    tier::Priority,
};

pub async fn handle(runs: &Runs, queue: &SqsQueue, event: SqsEvent) -> SqsBatchResponse {
    let mut retry = Vec::new();
    for record in event.records {
        let message_id = record.message_id.clone().unwrap_or_default();
        let Some(id) = record.body.as_deref().and_then(execution_of) else {
            tracing::warn!(%message_id, "dropping a message that names no execution");
            continue;
        };
        match runs.dispatch_one(id).await {
            Ok(Outcome::Launched | Outcome::Done) => {}
            Ok(Outcome::Deferred(base)) => {
                let receives = record
                    .attributes
                    .get("ApproximateReceiveCount")
                    .and_then(|n| n.parse().ok())
                    .unwrap_or(1);
                let delay = deferral(base, receives);
                let priority = record
                    .event_source_arn
                    .as_deref()
                    .and_then(|arn| queue.priority_of(arn))
                    .unwrap_or(Priority::Low);
                if let Some(receipt) = record.receipt_handle.as_deref() {
                    if let Err(e) = queue.defer(priority, receipt, delay).await {
                        tracing::warn!(execution_id = %id, error = %format!("{e:#}"), "could not defer; the message returns after its visibility timeout");
                    }
                }
                tracing::info!(execution_id = %id, delay_s = delay.as_secs(), "no free slot; deferred");
                retry.push(message_id);
            }
            Err(e) => {
                tracing::warn!(execution_id = %id, error = %format!("{e:#}"), "dispatch failed; the message will be retried");
                retry.push(message_id);
            }
        }
    }
    crate::failures(retry)
}
