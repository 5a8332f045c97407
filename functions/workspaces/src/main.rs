//! The workspaces Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on
//! `$PORT`): invitations go out through SES; workspace events reach
//! `workspace:{id}` subscribers when the WebSocket API is configured.

use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut state = shared::runtime::bootstrap("workspaces").await?;
    // An outbox (local) wins; else SES as EMAIL_FROM; with neither, no mail
    // goes out and invitations answer 503.
    if state.settings.email.outbox_dir.is_none() {
        if state.settings.email.from.is_empty() {
            tracing::warn!(
                "neither EMAIL_OUTBOX_DIR nor EMAIL_FROM is set: invitations cannot be sent"
            );
        } else {
            let ses = shared::email::ses::SesMailer::from_settings(&state.settings).await?;
            state = state.with_mailer(Arc::new(ses));
        }
    }
    if let Some(publisher) = shared::runs::aws::fanout_publisher(&state).await? {
        state = state.with_publisher(publisher);
    }
    shared::runtime::serve(workspaces::app(state)).await
}
