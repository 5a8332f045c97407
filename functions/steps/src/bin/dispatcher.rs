//! The dispatcher Lambda: SQS batches from the three priority queues.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use shared::runs::aws::AwsRuns;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = shared::runtime::bootstrap("dispatcher").await?;
    // Every Job gets it: without it no executor could report back.
    let aws_settings = &state.settings.aws;
    aws_settings.require("CALLBACK_URL", &aws_settings.callback_url)?;
    let aws = AwsRuns::from_state(&state).await?;
    let aws = &aws;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(
            steps::dispatcher::handle(&aws.runs, &aws.queue, e.payload).await,
        )
    }))
    .await
}
