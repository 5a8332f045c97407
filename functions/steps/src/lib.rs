//! The pipeline's event handlers, one Lambda each. They run the same steps
//! as the local stack (`shared::runs`): only the event shapes are AWS's.
//!
//! Every handler is idempotent and answers SQS with `batchItemFailures`, so
//! one bad message never makes the whole batch run again.

pub mod dispatcher;
pub mod intake;
pub mod scheduled;
pub mod sweeper;
pub mod tracker;

use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse};

/// A batch response naming the messages to receive again.
pub fn failures(ids: Vec<String>) -> SqsBatchResponse {
    let mut r = SqsBatchResponse::default();
    r.batch_item_failures = ids
        .into_iter()
        .map(|id| {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            f
        })
        .collect();
    r
}
