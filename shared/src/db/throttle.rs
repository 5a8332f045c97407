//! Failed-login counters in Postgres, so throttling holds across Lambda instances.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};

/// What a counter is keyed by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    Email,
    Ip,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Scope::Email => "email",
            Scope::Ip => "ip",
        }
    }
}

/// Failures of one subject inside the window.
#[derive(Debug, Clone, Copy)]
pub struct Failures {
    pub count: i64,
    pub oldest: Option<DateTime<Utc>>,
}

pub async fn recent_failures(
    db: impl PgExecutor<'_>,
    scope: Scope,
    subject: &str,
    window: Duration,
) -> Result<Failures, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        count: i64,
        oldest: Option<DateTime<Utc>>,
    }
    let row = sqlx::query_as::<_, Row>(
        "SELECT count(*) AS count, min(failed_at) AS oldest FROM login_failures
          WHERE scope = $1 AND subject = $2 AND failed_at > now() - make_interval(secs => $3)",
    )
    .bind(scope.as_str())
    .bind(subject)
    .bind(window.as_secs_f64())
    .fetch_one(db)
    .await?;
    Ok(Failures {
        count: row.count,
        oldest: row.oldest,
    })
}

/// Records a failure and drops this subject's rows that fell out of the window,
/// so the table stays bounded per subject.
pub async fn record_failure(
    db: impl PgExecutor<'_>,
    scope: Scope,
    subject: &str,
    window: Duration,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH pruned AS (
             DELETE FROM login_failures
              WHERE scope = $1 AND subject = $2 AND failed_at <= now() - make_interval(secs => $3)
         )
         INSERT INTO login_failures (scope, subject) VALUES ($1, $2)",
    )
    .bind(scope.as_str())
    .bind(subject)
    .bind(window.as_secs_f64())
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets a subject's failures (after a successful login for that email).
pub async fn clear(
    db: impl PgExecutor<'_>,
    scope: Scope,
    subject: &str,
) -> Result<(), sqlx::Error> {
    sqlx::query("DELETE FROM login_failures WHERE scope = $1 AND subject = $2")
        .bind(scope.as_str())
        .bind(subject)
        .execute(db)
        .await?;
    Ok(())
}
