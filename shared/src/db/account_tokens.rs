//! Single-use links sent by email: email verification and password reset.
//! Only a token's SHA-256 is stored; using one is a conditional update, so a
//! link works once however many times it is clicked at the same moment.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// What a link is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum Purpose {
    VerifyEmail,
    ResetPassword,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    user_id: Uuid,
    purpose: Purpose,
    email: &str,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO account_tokens (token_hash, user_id, purpose, email, expires_at)
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(token_hash)
    .bind(user_id)
    .bind(purpose)
    .bind(email)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// A link that was just used.
#[derive(Debug, Clone, FromRow)]
pub struct Used {
    pub user_id: Uuid,
    pub email: String,
}

/// What presenting a link found.
#[derive(Debug, Clone)]
pub enum Redeemed {
    Done(Used),
    /// Used before (a replay, or a second click).
    AlreadyUsed,
    Expired,
    Unknown,
}

/// Marks the link used if it is live, for `purpose`.
pub async fn redeem(
    db: &mut sqlx::PgConnection,
    token_hash: &[u8],
    purpose: Purpose,
) -> Result<Redeemed, sqlx::Error> {
    let used = sqlx::query_as::<_, Used>(
        "UPDATE account_tokens SET used_at = now()
          WHERE token_hash = $1 AND purpose = $2 AND used_at IS NULL AND expires_at > now()
         RETURNING user_id, email",
    )
    .bind(token_hash)
    .bind(purpose)
    .fetch_optional(&mut *db)
    .await?;
    if let Some(u) = used {
        return Ok(Redeemed::Done(u));
    }
    let state: Option<(bool, bool)> = sqlx::query_as(
        "SELECT used_at IS NOT NULL, expires_at <= now() FROM account_tokens
          WHERE token_hash = $1 AND purpose = $2",
    )
    .bind(token_hash)
    .bind(purpose)
    .fetch_optional(db)
    .await?;
    Ok(match state {
        Some((true, _)) => Redeemed::AlreadyUsed,
        Some((false, true)) => Redeemed::Expired,
        _ => Redeemed::Unknown,
    })
}

/// Retires a user's live links of one purpose (a newer one was sent, or the
/// password changed), so only the latest works.
pub async fn retire(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    purpose: Purpose,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE account_tokens SET used_at = now()
          WHERE user_id = $1 AND purpose = $2 AND used_at IS NULL",
    )
    .bind(user_id)
    .bind(purpose)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
