//! The internal Lambda: the executor's callback routes (spec, events,
//! heartbeats, artifacts, result), opened only by execution-scoped tokens.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let app = shared::runtime::bootstrap("internal").await?;
    let aws = shared::runs::aws::AwsRuns::from_state(&app).await?;
    let app = app.with_publisher(aws.runs.publisher.clone());
    shared::runtime::serve(executions::internal_app(executions::RunsState {
        app,
        runs: aws.runs,
    }))
    .await
}
