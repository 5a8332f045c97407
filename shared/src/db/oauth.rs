//! Identities at OAuth providers and authorizations in flight.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// An authorization in flight.
#[derive(Debug, Clone, FromRow)]
pub struct Pending {
    pub provider: String,
    pub pkce_verifier: String,
    pub nonce: String,
    pub redirect_uri: String,
}

pub struct NewPending<'a> {
    pub state_hash: &'a [u8],
    pub binding_hash: &'a [u8],
    pub provider: &'a str,
    pub pkce_verifier: &'a str,
    pub nonce: &'a str,
    pub redirect_uri: &'a str,
    pub expires_at: DateTime<Utc>,
}

pub async fn insert_pending(db: impl PgExecutor<'_>, p: NewPending<'_>) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_states (state_hash, binding_hash, provider, pkce_verifier, nonce, redirect_uri, expires_at)
         VALUES ($1, $7, $2, $3, $4, $5, $6)",
    )
    .bind(p.state_hash)
    .bind(p.provider)
    .bind(p.pkce_verifier)
    .bind(p.nonce)
    .bind(p.redirect_uri)
    .bind(p.expires_at)
    .bind(p.binding_hash)
    .execute(db)
    .await?;
    Ok(())
}

/// Takes an authorization in flight: once, before it expires, for `provider`,
/// from the browser that started it (its binding); another binding leaves it
/// to its own browser.
pub async fn take_pending(
    db: impl PgExecutor<'_>,
    state_hash: &[u8],
    binding_hash: &[u8],
    provider: &str,
) -> Result<Option<Pending>, sqlx::Error> {
    sqlx::query_as::<_, Pending>(
        "UPDATE oauth_states SET used_at = now()
          WHERE state_hash = $1 AND provider = $2 AND binding_hash = $3
            AND used_at IS NULL AND expires_at > now()
         RETURNING provider, pkce_verifier, nonce, redirect_uri",
    )
    .bind(state_hash)
    .bind(provider)
    .bind(binding_hash)
    .fetch_optional(db)
    .await
}

/// The account an identity signs in to.
pub async fn user_of(
    db: impl PgExecutor<'_>,
    provider: &str,
    subject: &str,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT user_id FROM oauth_identities WHERE provider = $1 AND subject = $2")
        .bind(provider)
        .bind(subject)
        .fetch_optional(db)
        .await
}

/// Links an identity to an account (an identity already linked stays as it is).
pub async fn link(
    db: impl PgExecutor<'_>,
    provider: &str,
    subject: &str,
    user_id: Uuid,
    email: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO oauth_identities (provider, subject, user_id, email) VALUES ($1, $2, $3, $4)
         ON CONFLICT (provider, subject) DO NOTHING",
    )
    .bind(provider)
    .bind(subject)
    .bind(user_id)
    .bind(email)
    .execute(db)
    .await?;
    Ok(())
}

/// Drops authorizations that expired a day ago or more.
pub async fn prune(db: impl PgExecutor<'_>, batch: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM oauth_states WHERE state_hash IN (
             SELECT state_hash FROM oauth_states WHERE expires_at < now() - interval '1 day' LIMIT $1)",
    )
    .bind(batch)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
