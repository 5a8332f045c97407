//! The auth Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on `$PORT`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::runtime::run_http("auth", |state| async move {
        // Verification links, reset links and sign-in codes: the outbox (local),
        // else SES as EMAIL_FROM; with neither, those routes answer 503.
        let mut state = shared::email::ses::mailer_for(state).await?;
        // Signing out closes the session's WebSocket connections when the
        // WebSocket API is configured.
        if let Some(publisher) = shared::runs::aws::fanout_publisher(&state).await? {
            state = state.with_publisher(publisher);
        }
        Ok(auth::app(state))
    })
    .await
}
