//! Issuing a token pair and recording its refresh token, inside the caller's transaction.

use chrono::Utc;
use shared::{
    auth::{jwt::fingerprint, TokenKeys, TokenKind},
    db::sessions,
    ApiError,
};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::dto::TokenPair;

/// Signs an access and a refresh token for `session_id` and stores the
/// refresh token's hash, so it can be rotated exactly once.
pub async fn issue_pair(
    tx: &mut Transaction<'_, Postgres>,
    keys: &TokenKeys,
    user_id: Uuid,
    session_id: Uuid,
) -> Result<TokenPair, ApiError> {
    let access = keys
        .issue(TokenKind::Access, user_id, session_id)
        .map_err(ApiError::internal)?;
    let refresh = keys
        .issue(TokenKind::Refresh, user_id, session_id)
        .map_err(ApiError::internal)?;
    let expires_at =
        chrono::DateTime::from_timestamp(refresh.claims.exp, 0).unwrap_or_else(Utc::now);
    sessions::insert_token(
        &mut **tx,
        &fingerprint(&refresh.token),
        session_id,
        expires_at,
    )
    .await?;
    Ok(TokenPair {
        access_token: access.token,
        refresh_token: refresh.token,
        token_type: "Bearer".into(),
        expires_in: keys.ttl(TokenKind::Access).as_secs(),
        refresh_expires_in: keys.ttl(TokenKind::Refresh).as_secs(),
    })
}

/// Starts a new sign-in session (refresh-token family) and issues its first pair.
pub async fn start(
    tx: &mut Transaction<'_, Postgres>,
    keys: &TokenKeys,
    user_id: Uuid,
) -> Result<TokenPair, ApiError> {
    let session_id = shared::ids::new_id();
    sessions::create_family(&mut **tx, session_id, user_id).await?;
    issue_pair(tx, keys, user_id, session_id).await
}
