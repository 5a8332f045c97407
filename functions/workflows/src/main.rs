//! The workflows Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on `$PORT`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::runtime::run_http("workflows", |state| async move {
        // Webhooks' signing secrets are sealed with KMS data keys (VAULT_KMS_KEY_ID).
        let mut state = shared::vault::kms::vault_for(state).await;
        // Workflow changes reach `workflow:{id}` subscribers when the WebSocket API is configured.
        if let Some(publisher) = shared::runs::aws::fanout_publisher(&state).await? {
            state = state.with_publisher(publisher);
        }
        Ok(workflows::app(state))
    })
    .await
}
