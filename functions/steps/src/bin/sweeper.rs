//! The sweeper Lambda, on an EventBridge schedule.

use lambda_runtime::{service_fn, LambdaEvent};
use shared::pipeline::aws::{realtime, sdk_config, AwsPipeline, AwsPipelineSettings};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let state = shared::runtime::bootstrap("sweeper").await?;
    let settings = AwsPipelineSettings::from_env()?;
    let aws = AwsPipeline::from_settings(&settings, state.db.clone()).await?;
    // Connections are closed only where the WebSocket API is configured.
    let rt = if settings.connections_table.is_empty() || settings.ws_management_endpoint.is_empty()
    {
        None
    } else {
        Some(realtime(&settings, &sdk_config(None).await)?)
    };
    let state = state.with_pipeline(aws.pipeline.clone());
    let (state, aws, rt) = (&state, &aws, rt.as_deref());
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            steps::sweeper::handle(state, &aws.pipeline, rt)
                .await
                .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
        },
    ))
    .await
}
