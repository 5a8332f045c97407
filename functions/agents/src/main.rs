//! The agents Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on `$PORT`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::runtime::run_http("agents", |mut state| async move {
        // Agent changes reach `workspace:{id}` subscribers when the WebSocket API is configured.
        if let Some(publisher) = shared::runs::aws::fanout_publisher(&state).await? {
            state = state.with_publisher(publisher);
        }
        // The tools routes and agent tests read a workspace's own provider key and
        // MCP header secrets from its vault, whose data keys come from KMS.
        state = shared::vault::kms::vault_for(state).await;
        Ok(agents::app(state))
    })
    .await
}
