//! Metered usage waiting to be reported to Stripe (`meter_reports`): rows are
//! written when a run ends (in `executions::finish`), leased a few at a time
//! by a reporter, and marked reported once Stripe has them.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use crate::billing::Metric;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DueReport {
    pub execution_id: Uuid,
    pub metric: Metric,
    pub stripe_customer_id: String,
    pub value: i64,
    pub occurred_at: DateTime<Utc>,
    pub attempts: i32,
    pub first_attempt_at: DateTime<Utc>,
}

impl DueReport {
    /// The identifier Stripe deduplicates on: the same for every attempt.
    pub fn identifier(&self) -> String {
        format!("saasit-{}-{}", self.execution_id, self.metric.as_str())
    }
}

/// Leases up to `limit` due reports for `lease` (another reporter skips
/// them meanwhile; if this one dies they come due again when it ends).
pub async fn lease(
    db: impl PgExecutor<'_>,
    limit: i64,
    lease: std::time::Duration,
) -> Result<Vec<DueReport>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE meter_reports m SET attempts = m.attempts + 1,
                first_attempt_at = coalesce(m.first_attempt_at, now()),
                next_attempt_at = now() + make_interval(secs => $2)
           FROM (SELECT execution_id, metric FROM meter_reports
                  WHERE reported_at IS NULL AND next_attempt_at <= now()
                  ORDER BY next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED) due
          WHERE m.execution_id = due.execution_id AND m.metric = due.metric
         RETURNING m.execution_id, m.metric, m.stripe_customer_id, m.value, m.occurred_at, m.attempts,
                   m.first_attempt_at",
    )
    .bind(limit)
    .bind(lease.as_secs_f64())
    .fetch_all(db)
    .await
}

pub async fn reported(
    db: impl PgExecutor<'_>,
    execution_id: Uuid,
    metric: Metric,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE meter_reports SET reported_at = now(), last_error = NULL
          WHERE execution_id = $1 AND metric = $2",
    )
    .bind(execution_id)
    .bind(metric)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a failed attempt; the report comes due again after `retry_in`
/// (`None`: never; Stripe would not take it).
pub async fn failed(
    db: impl PgExecutor<'_>,
    execution_id: Uuid,
    metric: Metric,
    error: &str,
    retry_in: Option<std::time::Duration>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE meter_reports SET last_error = left($3, 500),
                next_attempt_at = CASE WHEN $4::float8 IS NULL THEN 'infinity'::timestamptz
                                       ELSE now() + make_interval(secs => $4) END
          WHERE execution_id = $1 AND metric = $2 AND reported_at IS NULL",
    )
    .bind(execution_id)
    .bind(metric)
    .bind(error)
    .bind(retry_in.map(|d| d.as_secs_f64()))
    .execute(db)
    .await?;
    Ok(())
}

/// Forgets reports Stripe has had for more than `days` (at most 5,000 a call).
pub async fn prune_reported(db: impl PgExecutor<'_>, days: i32) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM meter_reports WHERE (execution_id, metric) IN (
             SELECT execution_id, metric FROM meter_reports
              WHERE reported_at < now() - make_interval(days => $1) LIMIT 5000)",
    )
    .bind(days)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
