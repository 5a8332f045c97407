//! The tracker Lambda: the state machine's `track`, `finalize` and `reap` messages.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use shared::runs::aws::AwsRuns;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = shared::runtime::bootstrap("tracker").await?;
    let aws = AwsRuns::from_state(&state).await?;
    let aws = &aws;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(steps::tracker::handle(&aws.runs, e.payload).await)
    }))
    .await
}
