//! The workspaces Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on
//! `$PORT`): invitations go out through SES; workspace events reach
//! `workspace:{id}` subscribers when the WebSocket API is configured.

use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut state = shared::runtime::bootstrap("workspaces").await?;
    if state.settings.email.outbox_dir.is_none() {
        let ses = shared::email::ses::SesMailer::from_settings(&state.settings).await?;
        state = state.with_mailer(Arc::new(ses));
    }
    if let Some(publisher) = shared::runs::aws::fanout_publisher(&state).await? {
        state = state.with_publisher(publisher);
    }
    shared::runtime::serve(workspaces::app(state)).await
}
