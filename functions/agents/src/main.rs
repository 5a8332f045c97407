//! The agents Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on `$PORT`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::runtime::run_http("agents", |mut state| async move {
        // Agent changes and design-chat answers reach WebSocket subscribers when the
        // WebSocket API is configured; its `chat` route invokes this function too.
        let sdk = shared::runs::aws::sdk_config(None).await;
        let realtime = shared::runs::aws::realtime(&state.settings.aws, &sdk)?;
        if let Some(rt) = &realtime {
            let db = state.db.clone();
            state = state.with_publisher(std::sync::Arc::new(
                shared::realtime::publish::FanoutPublisher {
                    realtime: rt.clone(),
                    db,
                },
            ));
        }
        // The tools routes, agent tests and the design chat read a workspace's own
        // provider key and MCP header secrets from its vault, whose data keys come from KMS.
        state = shared::vault::kms::vault_for(state).await;
        let app = agents::app(state.clone());
        Ok(match realtime {
            Some(rt) => agents::chat_ws::serve_socket_events(app, state, rt),
            None => app,
        })
    })
    .await
}
