//! Rows that can never matter again, deleted by the sweeper in bounded batches.

use std::time::Duration;

use sqlx::PgExecutor;

/// Most rows one query deletes, so a sweep stays short however much piled up.
const BATCH: i64 = 5_000;

/// Drops failed logins older than the throttling window: they no longer count
/// against anyone, and subjects that never come back would otherwise keep them.
pub async fn prune_login_failures(
    db: impl PgExecutor<'_>,
    window: Duration,
) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM login_failures WHERE id IN (
             SELECT id FROM login_failures
              WHERE failed_at <= now() - make_interval(secs => $1)
              LIMIT $2)",
    )
    .bind(window.as_secs_f64())
    .bind(BATCH)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Drops sign-in families none of whose refresh tokens is still unexpired
/// (their tokens cascade): such a token is refused as expired before reuse
/// detection would look at it. Families younger than an hour are kept, so a
/// sign-in between creating its family and its first token is never touched.
pub async fn prune_sessions(db: impl PgExecutor<'_>) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM refresh_token_families WHERE id IN (
             SELECT f.id FROM refresh_token_families f
              WHERE f.created_at < now() - interval '1 hour'
                AND NOT EXISTS (SELECT 1 FROM refresh_tokens t
                                 WHERE t.family_id = f.id AND t.expires_at > now())
              LIMIT $1)",
    )
    .bind(BATCH)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// What one pass of [`prune`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    /// Failed logins older than the throttling window.
    pub login_failures: u64,
    /// Sign-in families whose refresh tokens had all expired.
    pub sessions: u64,
    /// Activity entries older than their workspace plan keeps them.
    pub activity: u64,
}

/// Prunes what can never matter again (the sweeper's housekeeping, every
/// minute on AWS and every sweep locally).
pub async fn prune(
    db: &sqlx::PgPool,
    login_window: std::time::Duration,
) -> Result<Pruned, sqlx::Error> {
    Ok(Pruned {
        login_failures: prune_login_failures(db, login_window).await?,
        sessions: prune_sessions(db).await?,
        activity: super::activity::prune(db, BATCH).await?,
    })
}
