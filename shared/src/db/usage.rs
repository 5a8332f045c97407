//! Usage counters per workspace, metric and calendar month.

use sqlx::PgExecutor;
use uuid::Uuid;

pub const WORKFLOWS_CREATED: &str = "workflows_created";

/// Adds one to this month's counter unless it has reached `limit` (`None`:
/// no limit). Atomic: two concurrent calls can never both take the last unit.
/// Returns whether the unit was taken. Run it in the transaction of the thing
/// it counts, so a rollback gives the unit back.
pub async fn take_monthly(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    metric: &str,
    limit: Option<u32>,
) -> Result<bool, sqlx::Error> {
    let limit = limit.map_or(i32::MAX, |l| i32::try_from(l).unwrap_or(i32::MAX));
    let taken: Option<i64> = sqlx::query_scalar(
        "INSERT INTO usage_metrics (workspace_id, metric, period, count)
         SELECT $1, $2, date_trunc('month', now())::date, 1 WHERE $3 > 0
         ON CONFLICT (workspace_id, metric, period)
         DO UPDATE SET count = usage_metrics.count + 1 WHERE usage_metrics.count < $3
         RETURNING count",
    )
    .bind(workspace_id)
    .bind(metric)
    .bind(limit)
    .fetch_optional(db)
    .await?;
    Ok(taken.is_some())
}
