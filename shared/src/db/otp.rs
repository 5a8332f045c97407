//! One-time sign-in codes. A new code for an address supersedes the older
//! ones; an attempt is counted before the code is compared, so parallel
//! guesses cannot get past the attempt limit.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgConnection, PgExecutor};
use uuid::Uuid;

/// Stores a code for `email`, retiring the address's earlier codes.
pub async fn insert(
    db: &mut PgConnection,
    id: Uuid,
    email: &str,
    code_hash: &[u8],
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE otp_codes SET used_at = now() WHERE email = $1 AND used_at IS NULL")
        .bind(email)
        .execute(&mut *db)
        .await?;
    sqlx::query("INSERT INTO otp_codes (id, email, code_hash, expires_at) VALUES ($1, $2, $3, $4)")
        .bind(id)
        .bind(email)
        .bind(code_hash)
        .bind(expires_at)
        .execute(&mut *db)
        .await?;
    Ok(())
}

/// The live code an attempt was counted against.
#[derive(Debug, Clone, FromRow)]
pub struct Attempt {
    pub id: Uuid,
    pub code_hash: Vec<u8>,
    /// Attempts so far, this one included.
    pub attempts: i32,
}

/// Counts an attempt against the address's live code (unused, unexpired,
/// fewer than `max_attempts` tries): `None` when there is none.
pub async fn attempt(
    db: impl PgExecutor<'_>,
    email: &str,
    max_attempts: i32,
) -> Result<Option<Attempt>, sqlx::Error> {
    sqlx::query_as::<_, Attempt>(
        "UPDATE otp_codes SET attempts = attempts + 1
          WHERE id = (SELECT id FROM otp_codes
                       WHERE email = $1 AND used_at IS NULL AND expires_at > now()
                       ORDER BY created_at DESC LIMIT 1)
            AND attempts < $2 AND used_at IS NULL
         RETURNING id, code_hash, attempts",
    )
    .bind(email)
    .bind(max_attempts)
    .fetch_optional(db)
    .await
}

/// Marks a code used; false when another request used it first.
pub async fn consume(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE otp_codes SET used_at = now() WHERE id = $1 AND used_at IS NULL")
            .bind(id)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}
