//! The internal Lambda: the executor's callback routes (spec, events,
//! heartbeats, artifacts, result), opened only by execution-scoped tokens.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::runtime::run_http("internal", |app| async move {
        // A run's secrets are unsealed with KMS data keys (VAULT_KMS_KEY_ID).
        let app = shared::vault::kms::vault_for(app).await;
        let aws = shared::runs::aws::AwsRuns::from_state(&app).await?;
        let app = app.with_publisher(aws.runs.publisher.clone());
        Ok(executions::internal_app(executions::RunsState {
            app,
            runs: aws.runs,
        }))
    })
    .await
}
