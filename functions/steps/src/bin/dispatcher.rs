//! The dispatcher Lambda: SQS batches from the three priority queues.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use shared::runs::aws::AwsRuns;
use shared::runtime::{bootstrap_from, Live};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let live = Live::start("dispatcher", |env| {
        Box::pin(async move {
            let state = bootstrap_from("dispatcher", &env).await?;
            // Every Job gets it: without it no executor could report back.
            let aws_settings = &state.settings.aws;
            aws_settings.require("CALLBACK_URL", &aws_settings.callback_url)?;
            AwsRuns::from_state(&state).await
        })
    })
    .await?;
    let live = &live;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<SqsEvent>| async move {
        let aws = live.get().await;
        Ok::<_, lambda_runtime::Error>(
            steps::dispatcher::handle(&aws.runs, &aws.queue, e.payload).await,
        )
    }))
    .await
}
