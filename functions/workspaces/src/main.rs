//! The workspaces Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on
//! `$PORT`): invitations go out through SES; workspace events reach
//! `workspace:{id}` subscribers when the WebSocket API is configured; the
//! vault's data keys come from KMS; files are kept in the S3 bucket `BLOB_BUCKET`.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::runtime::run_http("workspaces", |state| async move {
        // An outbox (local) wins; else SES as EMAIL_FROM; with neither, no mail
        // goes out and invitations answer 503.
        let mut state = shared::email::ses::mailer_for(state).await?;
        // Secrets are sealed under KMS data keys (VAULT_KMS_KEY_ID).
        state = shared::vault::kms::vault_for(state).await;
        if let Some(blobs) = shared::runs::aws::file_store(&state).await {
            state = state.with_blobs(blobs);
        }
        if let Some(publisher) = shared::runs::aws::fanout_publisher(&state).await? {
            state = state.with_publisher(publisher);
        }
        Ok(workspaces::app(state))
    })
    .await
}
