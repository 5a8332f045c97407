//! What the executions API reads, each query selecting only what it returns:
//! a run's graph and prior outputs (megabytes for a large workflow) are never
//! read to show a list or a status, and events are read as stored text, not
//! parsed and printed again.

use chrono::{DateTime, Utc};
use run_protocol::{EndReason, ExecutionStatus, OutputRef};
use serde_json::Value;
use sqlx::{types::Json, FromRow, PgExecutor};
use uuid::Uuid;

use crate::{
    runs::trigger::TriggerType,
    tier::{Priority, Tier},
};

/// A run as listed: its state and timings, not its inputs, output or graph.
#[derive(Debug, Clone, FromRow)]
pub struct Summary {
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub workflow_version: i32,
    pub status: ExecutionStatus,
    pub tier: Tier,
    pub priority: Priority,
    pub retry_of: Option<Uuid>,
    pub started_by: Option<Uuid>,
    pub trigger_type: TriggerType,
    pub last_seq: i64,
    pub error: Option<String>,
    pub failed_node: Option<String>,
    pub end_reason: Option<EndReason>,
    pub llm_tokens: i64,
    pub cost_micros: i64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

const SUMMARY_COLUMNS: &str =
    "id, workflow_id, workflow_version, status, tier, priority, retry_of, started_by, trigger_type, \
    last_seq, error, failed_node, end_reason, llm_tokens, cost_micros, created_at, started_at, finished_at";

/// One run as shown on its own: the summary, its inputs and its output.
#[derive(Debug, Clone, FromRow)]
pub struct Detail {
    #[sqlx(flatten)]
    pub summary: Summary,
    pub inputs: Json<Value>,
    pub trigger_data: Json<Value>,
    pub output: Option<Json<Value>>,
    pub output_ref: Option<Json<OutputRef>>,
}

impl From<super::executions::Execution> for Detail {
    /// The view of a row already read whole (a run just stored).
    fn from(e: super::executions::Execution) -> Self {
        Self {
            summary: Summary {
                id: e.id,
                workflow_id: e.workflow_id,
                workflow_version: e.workflow_version,
                status: e.status,
                tier: e.tier,
                priority: e.priority,
                retry_of: e.retry_of,
                started_by: e.started_by,
                trigger_type: e.trigger_type,
                last_seq: e.last_seq,
                error: e.error,
                failed_node: e.failed_node,
                end_reason: e.end_reason,
                llm_tokens: e.llm_tokens,
                cost_micros: e.cost_micros,
                created_at: e.created_at,
                started_at: e.started_at,
                finished_at: e.finished_at,
            },
            inputs: e.inputs,
            trigger_data: e.trigger_data,
            output: e.output,
            output_ref: e.output_ref,
        }
    }
}

pub struct ListQuery {
    pub status: Option<ExecutionStatus>,
    pub workflow_id: Option<Uuid>,
    pub limit: i64,
    pub offset: i64,
}

/// One page of the workspace's runs, newest first, and the total.
pub async fn list(
    db: &sqlx::PgPool,
    workspace_id: Uuid,
    q: &ListQuery,
) -> Result<(Vec<Summary>, i64), sqlx::Error> {
    const FILTER: &str = "workspace_id = $1 AND ($2::text IS NULL OR status = $2) AND ($3::uuid IS NULL OR workflow_id = $3)";
    let rows = sqlx::query_as::<_, Summary>(&format!(
        "SELECT {SUMMARY_COLUMNS} FROM executions WHERE {FILTER}
          ORDER BY created_at DESC, id DESC LIMIT $4 OFFSET $5"
    ))
    .bind(workspace_id)
    .bind(q.status)
    .bind(q.workflow_id)
    .bind(q.limit)
    .bind(q.offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(&format!("SELECT count(*) FROM executions WHERE {FILTER}"))
        .bind(workspace_id)
        .bind(q.status)
        .bind(q.workflow_id)
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// One run of this workspace, as shown on its own.
pub async fn detail(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Detail>, sqlx::Error> {
    sqlx::query_as::<_, Detail>(&format!(
        "SELECT {SUMMARY_COLUMNS}, inputs, trigger_data, output, output_ref
           FROM executions WHERE id = $1 AND workspace_id = $2"
    ))
    .bind(id)
    .bind(workspace_id)
    .fetch_optional(db)
    .await
}

/// The status of a run of this workspace (`None`: not theirs, or no such run).
pub async fn status_of(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<ExecutionStatus>, sqlx::Error> {
    sqlx::query_scalar("SELECT status FROM executions WHERE id = $1 AND workspace_id = $2")
        .bind(id)
        .bind(workspace_id)
        .fetch_optional(db)
        .await
}

/// The status and last sequence number of a run in a workspace this user
/// is a member of (any role may watch).
pub async fn progress(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    id: Uuid,
) -> Result<Option<(ExecutionStatus, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT e.status, e.last_seq FROM executions e
           JOIN workspace_members m ON m.workspace_id = e.workspace_id AND m.user_id = $2
          WHERE e.id = $1",
    )
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// How many runs of the same priority class are queued ahead of this one.
pub async fn queue_position(db: impl PgExecutor<'_>, s: &Summary) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM executions WHERE status = 'queued' AND priority = $1 AND (created_at, id) < ($2, $3)",
    )
    .bind(s.priority)
    .bind(s.created_at)
    .bind(s.id)
    .fetch_one(db)
    .await
}

/// A stored event as its JSON text.
#[derive(Debug, Clone, FromRow)]
pub struct EventText {
    pub seq: i64,
    pub json: String,
}

/// Events after `after`, in order, as stored JSON text.
pub async fn event_texts_after(
    db: impl PgExecutor<'_>,
    id: Uuid,
    after: i64,
    limit: i64,
) -> Result<Vec<EventText>, sqlx::Error> {
    sqlx::query_as::<_, EventText>(
        "SELECT seq, payload::text AS json FROM execution_events
          WHERE execution_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The node events of the `limit` nodes that first reported after sequence
/// number `after`, in order; each row carries the first sequence number of
/// its node (the page's cursor).
#[derive(Debug, Clone, FromRow)]
pub struct NodeEvent {
    pub first_seq: i64,
    #[sqlx(flatten)]
    pub event: super::executions::StoredEvent,
}

pub async fn node_events_page(
    db: impl PgExecutor<'_>,
    id: Uuid,
    after: i64,
    limit: i64,
) -> Result<Vec<NodeEvent>, sqlx::Error> {
    sqlx::query_as::<_, NodeEvent>(
        "WITH firsts AS (
             SELECT node, min(seq) AS first_seq FROM execution_events
              WHERE execution_id = $1 AND node IS NOT NULL AND type LIKE 'node\\_%'
              GROUP BY node HAVING min(seq) > $2
              ORDER BY first_seq LIMIT $3)
         SELECT f.first_seq, e.seq, e.type, e.node, e.payload, e.ts
           FROM execution_events e JOIN firsts f ON f.node = e.node
          WHERE e.execution_id = $1 AND e.type LIKE 'node\\_%'
          ORDER BY e.seq",
    )
    .bind(id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}
