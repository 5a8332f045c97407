//! The dispatcher: one SQS message, one execution ([`dispatch_one`]); from
//! the webhook intake queue, one delivery to start ([`crate::intake`]). An
//! over-limit run's message is hidden with an exponential back-off and
//! reported as a batch item failure, so it comes back later without
//! spinning; a failed dispatch comes back after the visibility timeout.
//! Unreadable messages are dropped (logged): retrying cannot fix them. A
//! batch's records are dispatched [`CONCURRENCY`] at a time.

use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent, SqsMessage};
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

/// Records handled at once: a batch of 10 takes about a quarter of the time,
/// within the function's `DB_MAX_CONNECTIONS` (4 in the template).
pub const CONCURRENCY: usize = 4;

pub async fn handle(runs: &Runs, queue: &SqsQueue, event: SqsEvent) -> SqsBatchResponse {
    use futures_util::StreamExt;
    let retry: Vec<String> = futures_util::stream::iter(event.records)
        .map(|record| one(runs, queue, record))
        .buffer_unordered(CONCURRENCY)
        .filter_map(|retry| async move { retry })
        .collect()
        .await;
    crate::failures(retry)
}

/// Dispatches one record; its message id when it must come back.
async fn one(runs: &Runs, queue: &SqsQueue, record: SqsMessage) -> Option<String> {
    let message_id = record.message_id.clone().unwrap_or_default();
    // The intake queue's messages are webhook deliveries, not executions.
    if record
        .event_source_arn
        .as_deref()
        .is_some_and(|arn| queue.is_intake(arn))
    {
        return crate::intake::one(runs, message_id, record.body.as_deref()).await;
    }
    let Some(id) = record.body.as_deref().and_then(execution_of) else {
        tracing::warn!(%message_id, "dropping a message that names no execution");
        return None;
    };
    match runs.dispatch_one(id).await {
        Ok(Outcome::Launched | Outcome::Done) => None,
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
            Some(message_id)
        }
        Err(e) => {
            tracing::warn!(execution_id = %id, error = %format!("{e:#}"), "dispatch failed; the message will be retried");
            Some(message_id)
        }
    }
}
