//! Rows that can never matter again, deleted by the sweeper in bounded batches.

use sqlx::PgExecutor;

/// Most rows one query deletes, so a sweep stays short however much piled up.
const BATCH: i64 = 5_000;

/// Drops single-use links, one-time codes and OAuth authorizations a day after they expired
/// (kept that long so a late click is told "expired", not "unknown").
pub async fn prune_account_tokens(db: impl PgExecutor<'_> + Copy) -> Result<u64, sqlx::Error> {
    let links = sqlx::query(
        "DELETE FROM account_tokens WHERE token_hash IN (
             SELECT token_hash FROM account_tokens WHERE expires_at < now() - interval '1 day' LIMIT $1)",
    )
    .bind(BATCH)
    .execute(db)
    .await?;
    let codes = sqlx::query(
        "DELETE FROM otp_codes WHERE id IN (
             SELECT id FROM otp_codes WHERE expires_at < now() - interval '1 day' LIMIT $1)",
    )
    .bind(BATCH)
    .execute(db)
    .await?;
    let oauth = super::oauth::prune(db, BATCH).await?;
    Ok(links.rows_affected() + codes.rows_affected() + oauth)
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
    /// Rate-limit windows no limit reads any more.
    pub rate_counters: u64,
    /// Expired verification and reset links, and one-time codes.
    pub account_tokens: u64,
    /// Sign-in families whose refresh tokens had all expired.
    pub sessions: u64,
    /// Activity entries older than their workspace plan keeps them.
    pub activity: u64,
    /// Events of runs that ended longer ago than their plan keeps them.
    pub run_events: u64,
    /// Design-assistant stream messages older than a day (the chat history keeps them).
    pub chat_events: u64,
    /// Agent uses folded into their agents' counts.
    pub agent_uses: u64,
}

/// Prunes what can never matter again (the sweeper's housekeeping, every
/// minute on AWS and every sweep locally).
pub async fn prune(db: &sqlx::PgPool) -> Result<Pruned, sqlx::Error> {
    // First, and as far as a sweep goes: uses come in with every run start.
    let agent_uses = fold_agent_uses(db).await?;
    Ok(Pruned {
        rate_counters: super::rate_counters::prune(db, BATCH).await?,
        account_tokens: prune_account_tokens(db).await?,
        sessions: prune_sessions(db).await?,
        activity: super::activity::prune(db, BATCH).await?,
        run_events: super::event_retention::prune(db, BATCH).await?,
        chat_events: super::chat::prune(db, BATCH).await?,
        agent_uses,
    })
}

/// Folds agent uses a batch at a time until a batch comes back short, at
/// most 40 batches (200,000 uses, over 3,000 run starts a second between
/// two sweeps a minute apart).
async fn fold_agent_uses(db: &sqlx::PgPool) -> Result<u64, sqlx::Error> {
    let mut folded = 0;
    for _ in 0..40 {
        let n = super::agents::fold_usage(db, BATCH).await?;
        folded += n;
        if n < BATCH as u64 {
            break;
        }
    }
    Ok(folded)
}
