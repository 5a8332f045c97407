//! The tracker Lambda: the state machine's `track`, `finalize` and `reap` messages.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use shared::pipeline::aws::AwsPipeline;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = shared::runtime::bootstrap("tracker").await?;
    let aws = AwsPipeline::from_env(state.db.clone()).await?;
    let state = state.with_pipeline(aws.pipeline.clone());
    let (state, aws) = (&state, &aws);
    lambda_runtime::run(service_fn(move |e: LambdaEvent<SqsEvent>| async move {
        Ok::<_, lambda_runtime::Error>(
            steps::tracker::handle(state, &aws.pipeline, e.payload).await,
        )
    }))
    .await
}
