//! Reads of the performance rollups (migration 0018): queue wait and
//! dispatch latency per tier and hour, node run time per node type and day.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use super::analytics::bucket_of;
use crate::analytics::period::Period;

/// The runs of one tier that started, in one bucket.
#[derive(Debug, Clone, FromRow)]
pub struct TierRow {
    pub start: DateTime<Utc>,
    /// As stored (a `shared::tier::Tier` name); parsed by the caller.
    pub tier: String,
    pub started: i64,
    pub queue_ms: i64,
    pub queue_hist: Vec<i64>,
    pub dispatch_ms: i64,
    pub dispatch_hist: Vec<i64>,
}

/// The period's tier rows, each with its bucket, as stored: the caller adds them up.
pub async fn tiers(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    p: &Period,
) -> Result<Vec<TierRow>, sqlx::Error> {
    if p.from >= p.to {
        return Ok(Vec::new());
    }
    sqlx::query_as(&format!(
        "SELECT {}, tier, started, queue_ms, queue_hist, dispatch_ms, dispatch_hist
           FROM workspace_tier_hours
          WHERE workspace_id = $1 AND hour >= $2 AND hour < $3",
        bucket_of("$4", "$5")
    ))
    .bind(workspace_id)
    .bind(p.from)
    .bind(p.to)
    .bind(p.bucket.as_str())
    .bind(&p.timezone)
    .fetch_all(db)
    .await
}

/// One node type's attempts on one UTC day.
#[derive(Debug, Clone, FromRow)]
pub struct NodeTypeRow {
    pub node_type: String,
    pub succeeded: i64,
    pub failed: i64,
    pub duration_ms: i64,
    pub duration_hist: Vec<i64>,
}

/// The node-type rows of the UTC days `first..=last`.
pub async fn node_types(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    first: NaiveDate,
    last: NaiveDate,
) -> Result<Vec<NodeTypeRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT node_type, succeeded, failed, duration_ms, duration_hist FROM workspace_node_type_days
          WHERE workspace_id = $1 AND day >= $2 AND day <= $3",
    )
    .bind(workspace_id)
    .bind(first)
    .bind(last)
    .fetch_all(db)
    .await
}
