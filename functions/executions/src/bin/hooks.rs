//! The hooks Lambda: `POST /api/v1/hooks/{hookId}`, workflows' webhooks.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::runtime::run_http("hooks", |app| async move {
        // Signing secrets are unsealed with KMS data keys (VAULT_KMS_KEY_ID).
        let app = shared::vault::kms::vault_for(app).await;
        // Verified requests wait on the intake queue (HOOK_INTAKE_QUEUE_URL).
        let aws = shared::runs::aws::AwsRuns::with_intake(&app).await?;
        let app = app.with_publisher(aws.runs.publisher.clone());
        Ok(executions::hooks_app(executions::RunsState {
            app,
            runs: aws.runs,
        }))
    })
    .await
}
