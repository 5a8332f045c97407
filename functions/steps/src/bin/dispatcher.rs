//! The dispatcher Lambda: SQS batches from the three priority queues.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use shared::pipeline::aws::{AwsPipeline, AwsPipelineSettings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = shared::runtime::bootstrap("dispatcher").await?;
    let settings = AwsPipelineSettings::from_env()?;
    // Every Job gets it: without it no executor could report back.
    settings.require("CALLBACK_URL", &settings.callback_url)?;
    let aws = AwsPipeline::from_settings(&settings, state.db.clone()).await?;
    let state = state.with_pipeline(aws.pipeline.clone());
    let (state, aws) = (&state, &aws);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(
            steps::dispatcher::handle(state, &aws.pipeline, &aws.queue, e.payload).await,
        )
    }))
    .await
}
