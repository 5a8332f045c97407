//! The executions Lambda: the run API on the AWS pipeline (SQS, EKS, Step Functions, S3).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = shared::runtime::bootstrap("executions").await?;
    let aws = shared::pipeline::aws::AwsPipeline::from_env(state.db.clone()).await?;
    shared::runtime::serve(executions::app(state.with_pipeline(aws.pipeline))).await
}
