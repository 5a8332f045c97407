//! What an account whose email address is not verified yet may not do: the
//! one place that decides it. Such an account can sign in, design and run
//! workflows in its own workspace, but nothing that reaches other people,
//! money or machines: buying a plan, inviting people, joining a workspace by
//! invitation, and making API keys.

use serde::Serialize;
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::error::{ApiError, ErrorCode};

/// An action that needs a verified address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum NeedsVerified {
    BuyPlan,
    InviteMembers,
    AcceptInvitation,
    CreateApiKey,
}

/// 403 `EMAIL_NOT_VERIFIED` unless `user_id`'s address is verified.
pub async fn require_verified(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    action: NeedsVerified,
) -> Result<(), ApiError> {
    let verified: Option<bool> =
        sqlx::query_scalar("SELECT email_verified_at IS NOT NULL FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(db)
            .await?;
    if verified == Some(true) {
        return Ok(());
    }
    Err(ApiError::new(
        ErrorCode::EmailNotVerified,
        "verify your email address first: follow the link we sent, or ask for a new one",
    )
    .with_details(serde_json::json!({ "action": action })))
}
