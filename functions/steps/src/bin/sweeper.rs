//! The sweeper Lambda, on an EventBridge schedule.

use lambda_runtime::{service_fn, LambdaEvent};
use shared::pipeline::aws::AwsPipeline;

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = shared::runtime::bootstrap("sweeper").await?;
    let aws = AwsPipeline::from_env(state.db.clone()).await?;
    let state = state.with_pipeline(aws.pipeline.clone());
    let (state, aws) = (&state, &aws);
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            steps::sweeper::handle(state, &aws.pipeline)
                .await
                .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
        },
    ))
    .await
}
