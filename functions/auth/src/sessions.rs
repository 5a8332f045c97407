//! Issuing a token pair and recording its refresh token, inside the caller's
//! transaction; closing sessions that were revoked.

use chrono::{DateTime, Utc};
use shared::{
    auth::{jwt::fingerprint, TokenKeys, TokenKind},
    db::sessions,
    realtime::closing,
    ApiError, AppState,
};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::dto::TokenPair;

/// How long a sign-out waits to close the session's WebSocket connections
/// (the sweeper closes what it does not reach within a minute).
const PUBLISH_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

/// Where a pair's claims come from.
enum Claims<'a> {
    /// A new sign-in: fresh ids, now.
    Fresh,
    /// The successor of a refresh token rotated at a given time: the same
    /// every time it is derived, so a replay within the grace window gets it.
    After {
        previous: &'a [u8],
        rotated_at: DateTime<Utc>,
    },
}

fn derived_id(keys: &TokenKeys, kind: &str, previous: &[u8]) -> Uuid {
    let mac = keys.mac(kind, previous);
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&mac[..16]);
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

async fn pair(
    tx: &mut Transaction<'_, Postgres>,
    keys: &TokenKeys,
    user_id: Uuid,
    session_id: Uuid,
    from: Claims<'_>,
) -> Result<TokenPair, ApiError> {
    let (access, refresh) = match from {
        Claims::Fresh => (
            keys.issue(TokenKind::Access, user_id, session_id),
            keys.issue(TokenKind::Refresh, user_id, session_id),
        ),
        Claims::After {
            previous,
            rotated_at,
        } => {
            let iat = rotated_at.timestamp();
            (
                keys.issue_exactly(
                    TokenKind::Access,
                    user_id,
                    session_id,
                    iat,
                    derived_id(keys, "rotation access jti", previous),
                ),
                keys.issue_exactly(
                    TokenKind::Refresh,
                    user_id,
                    session_id,
                    iat,
                    derived_id(keys, "rotation refresh jti", previous),
                ),
            )
        }
    };
    let access = access.map_err(ApiError::internal)?;
    let refresh = refresh.map_err(ApiError::internal)?;
    let expires_at = DateTime::from_timestamp(refresh.claims.exp, 0).unwrap_or_else(Utc::now);
    // Stored once: a replay derives the same token and finds it there.
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

/// The pair that follows a refresh token rotated at `rotated_at`: the same
/// pair however many times it is asked for.
pub async fn successor(
    tx: &mut Transaction<'_, Postgres>,
    keys: &TokenKeys,
    user_id: Uuid,
    session_id: Uuid,
    previous: &[u8],
    rotated_at: DateTime<Utc>,
) -> Result<TokenPair, ApiError> {
    pair(
        tx,
        keys,
        user_id,
        session_id,
        Claims::After {
            previous,
            rotated_at,
        },
    )
    .await
}

/// Starts a new sign-in session (refresh-token family) and issues its first pair.
pub async fn start(
    tx: &mut Transaction<'_, Postgres>,
    keys: &TokenKeys,
    user_id: Uuid,
) -> Result<TokenPair, ApiError> {
    let session_id = shared::ids::new_id();
    sessions::create_family(&mut **tx, session_id, user_id).await?;
    pair(tx, keys, user_id, session_id, Claims::Fresh).await
}

/// A device token for a client that just signed in to `user_id`.
pub fn device_token(keys: &TokenKeys, user_id: Uuid) -> Result<String, ApiError> {
    keys.issue_device(user_id)
        .map(|t| t.token)
        .map_err(ApiError::internal)
}

/// Closes the WebSocket connections of revoked sessions (the sweeper closes
/// them again if this does not reach them).
pub async fn close(state: &AppState, families: impl IntoIterator<Item = Uuid>) {
    for family in families {
        state
            .publish_within(closing::revoked(family), PUBLISH_LIMIT)
            .await;
    }
}
