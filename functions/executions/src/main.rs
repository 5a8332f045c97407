//! The executions Lambda: the run API on the AWS adapters (SQS, EKS, Step Functions, S3).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::runtime::run_http("executions", |app| async move {
        let aws = shared::runs::aws::AwsRuns::from_state(&app).await?;
        let app = app.with_publisher(aws.runs.publisher.clone());
        Ok(executions::app(executions::RunsState {
            app,
            runs: aws.runs,
        }))
    })
    .await
}
