//! Request counters for rate limits: one row per bucket, subject and fixed
//! window, incremented by one upsert (the row lock orders concurrent
//! requests, so each sees a distinct count), read with the previous window.

use std::time::Duration;

use sqlx::{FromRow, PgExecutor};

/// What one increment saw.
#[derive(Debug, Clone, Copy, PartialEq, FromRow)]
pub struct Counted {
    /// Hits in the current window, this one included.
    pub hits: i32,
    /// Hits in the previous window.
    pub previous: i32,
    /// Seconds since the current window began.
    pub elapsed: f64,
}

/// Counts one hit of `subject` in `bucket`.
pub async fn hit(
    db: impl PgExecutor<'_>,
    bucket: &str,
    subject: &str,
    window: Duration,
) -> Result<Counted, sqlx::Error> {
    sqlx::query_as::<_, Counted>(
        "WITH w AS (
             SELECT to_timestamp(floor(extract(epoch FROM now()) / $3) * $3) AS start
         ), cur AS (
             INSERT INTO rate_counters (bucket, subject, window_start, hits, expires_at)
             SELECT $1, $2, w.start, 1, w.start + make_interval(secs => 2 * $3) FROM w
             ON CONFLICT (bucket, subject, window_start)
             DO UPDATE SET hits = rate_counters.hits + 1
             RETURNING hits, window_start
         )
         SELECT cur.hits,
                COALESCE((SELECT p.hits FROM rate_counters p
                           WHERE p.bucket = $1 AND p.subject = $2
                             AND p.window_start = cur.window_start - make_interval(secs => $3)), 0) AS previous,
                extract(epoch FROM now() - cur.window_start)::float8 AS elapsed
           FROM cur",
    )
    .bind(bucket)
    .bind(subject)
    .bind(window.as_secs_f64())
    .fetch_one(db)
    .await
}

/// Takes back one hit of the current window (a sign-in that succeeded was
/// counted as a possible failure before the password was checked).
pub async fn unhit(
    db: impl PgExecutor<'_>,
    bucket: &str,
    subject: &str,
    window: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE rate_counters SET hits = greatest(hits - 1, 0)
          WHERE bucket = $1 AND subject = $2
            AND window_start = to_timestamp(floor(extract(epoch FROM now()) / $3) * $3)",
    )
    .bind(bucket)
    .bind(subject)
    .bind(window.as_secs_f64())
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets every count of a subject in a bucket.
pub async fn clear(
    db: impl PgExecutor<'_>,
    bucket: &str,
    subject: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM rate_counters WHERE bucket = $1 AND subject = $2")
        .bind(bucket)
        .bind(subject)
        .execute(db)
        .await?;
    Ok(())
}

/// Drops windows no limit reads any more (the window and the one after it
/// have ended), at most `batch` rows.
pub async fn prune(db: impl PgExecutor<'_>, batch: i64) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM rate_counters WHERE ctid IN (
             SELECT ctid FROM rate_counters
              WHERE expires_at < now()
              LIMIT $1)",
    )
    .bind(batch)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
