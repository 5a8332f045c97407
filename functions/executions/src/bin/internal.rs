//! The internal Lambda: the executor's callback routes (spec, events,
//! heartbeats, artifacts, result), opened only by execution-scoped tokens.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = shared::runtime::bootstrap("internal").await?;
    let aws = shared::pipeline::aws::AwsPipeline::from_env(state.db.clone()).await?;
    shared::runtime::serve(executions::internal_app(state.with_pipeline(aws.pipeline))).await
}
