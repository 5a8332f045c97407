//! A workflow's webhook and schedule triggers (rows kept in step with the
//! graph by the database's `sync_workflow_triggers`; see migration 0015).

use chrono::{DateTime, Utc};
use sqlx::{types::Json, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TriggerRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub workflow_id: Uuid,
    pub node_id: String,
    pub kind: String,
    pub config: Json<serde_json::Value>,
    pub hook_id: Option<String>,
    pub secret_sealed: Option<Vec<u8>>,
    pub secret_created_at: Option<DateTime<Utc>>,
    pub armed: bool,
    pub paused: bool,
    pub paused_reason: Option<String>,
    pub failures: i32,
    pub last_error: Option<String>,
    pub last_fired_at: Option<DateTime<Utc>>,
    pub last_execution_id: Option<Uuid>,
    pub version: i32,
    pub sync_state: String,
    pub synced_version: Option<i32>,
    pub sync_error: Option<String>,
    pub removed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, workspace_id, workflow_id, node_id, kind, config, hook_id, secret_sealed, \
    secret_created_at, armed, paused, paused_reason, failures, last_error, last_fired_at, \
    last_execution_id, version, sync_state, synced_version, sync_error, removed_at, created_at, updated_at";

pub async fn by_hook(db: impl PgExecutor<'_>, hook_id: &str) -> sqlx::Result<Option<TriggerRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workflow_triggers WHERE hook_id = $1 AND kind = 'webhook' AND removed_at IS NULL"
    ))
    .bind(hook_id)
    .fetch_optional(db)
    .await
}

pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<TriggerRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workflow_triggers WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A workflow's live triggers, by node id.
pub async fn of_workflow(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    workflow_id: Uuid,
) -> sqlx::Result<Vec<TriggerRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workflow_triggers
          WHERE workspace_id = $1 AND workflow_id = $2 AND removed_at IS NULL ORDER BY node_id"
    ))
    .bind(workspace_id)
    .bind(workflow_id)
    .fetch_all(db)
    .await
}

/// A workspace's live schedules (of workflows not deleted), oldest first.
pub async fn schedules(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
) -> sqlx::Result<Vec<TriggerRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workflow_triggers
          WHERE workspace_id = $1 AND kind = 'schedule' AND removed_at IS NULL
          ORDER BY created_at, id LIMIT 1000"
    ))
    .bind(workspace_id)
    .fetch_all(db)
    .await
}

/// Schedules whose remote copy is behind (and webhooks that were schedules
/// once): pending ones first, then failed ones, longest waiting first (a
/// failure goes to the back), so a few that keep failing hold up nothing.
pub async fn unsynced(db: impl PgExecutor<'_>, limit: i64) -> sqlx::Result<Vec<TriggerRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workflow_triggers
          WHERE sync_state <> 'synced' AND (kind = 'schedule' OR synced_version IS NOT NULL)
          ORDER BY sync_state = 'failed', updated_at LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Records that `version` was pushed; a removed row goes with its schedule.
/// Nothing when the row changed meanwhile (the next pass pushes the new version).
pub async fn mark_synced(
    db: impl PgExecutor<'_>,
    id: Uuid,
    version: i32,
    exists_remotely: bool,
) -> sqlx::Result<()> {
    sqlx::query(
        "WITH gone AS (
             DELETE FROM workflow_triggers WHERE id = $1 AND version = $2 AND removed_at IS NOT NULL RETURNING id)
         UPDATE workflow_triggers
            SET sync_state = 'synced', synced_version = CASE WHEN $3 THEN $2 END, sync_error = NULL
          WHERE id = $1 AND version = $2 AND id NOT IN (SELECT id FROM gone)",
    )
    .bind(id)
    .bind(version)
    .bind(exists_remotely)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn mark_sync_failed(
    db: impl PgExecutor<'_>,
    id: Uuid,
    version: i32,
    error: &str,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE workflow_triggers SET sync_state = 'failed', sync_error = left($3, 1000), updated_at = now()
          WHERE id = $1 AND version = $2",
    )
    .bind(id)
    .bind(version)
    .bind(error)
    .execute(db)
    .await?;
    Ok(())
}

/// Pauses or resumes (by a person); `None` when there is no such live trigger.
pub async fn set_paused(
    db: impl PgExecutor<'_>,
    workflow_id: Uuid,
    id: Uuid,
    paused: bool,
) -> sqlx::Result<Option<TriggerRow>> {
    sqlx::query_as(&format!(
        "UPDATE workflow_triggers
            SET paused = $3, paused_reason = CASE WHEN $3 THEN 'user' END,
                failures = CASE WHEN $3 THEN failures ELSE 0 END, last_error = CASE WHEN $3 THEN last_error END,
                version = version + 1, sync_state = 'pending', updated_at = now()
          WHERE id = $2 AND workflow_id = $1 AND removed_at IS NULL
         RETURNING {COLUMNS}"
    ))
    .bind(workflow_id)
    .bind(id)
    .bind(paused)
    .fetch_optional(db)
    .await
}

/// Stores a new sealed signing secret.
pub async fn set_secret(
    db: impl PgExecutor<'_>,
    workflow_id: Uuid,
    id: Uuid,
    sealed: &[u8],
) -> sqlx::Result<Option<TriggerRow>> {
    sqlx::query_as(&format!(
        "UPDATE workflow_triggers SET secret_sealed = $3, secret_created_at = now(), updated_at = now()
          WHERE id = $2 AND workflow_id = $1 AND removed_at IS NULL AND kind = 'webhook'
         RETURNING {COLUMNS}"
    ))
    .bind(workflow_id)
    .bind(id)
    .bind(sealed)
    .fetch_optional(db)
    .await
}

/// A fire that started `execution_id`: the failure count starts over.
pub async fn fired(db: impl PgExecutor<'_>, id: Uuid, execution_id: Uuid) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE workflow_triggers
            SET failures = 0, last_error = NULL, last_fired_at = now(), last_execution_id = $2
          WHERE id = $1",
    )
    .bind(id)
    .bind(execution_id)
    .execute(db)
    .await?;
    Ok(())
}

/// A fire that could not start a run; pauses the trigger (`failing`) at
/// `pause_at` consecutive failures. Whether this call paused it.
pub async fn failed(
    db: impl PgExecutor<'_>,
    id: Uuid,
    error: &str,
    pause_at: i32,
) -> sqlx::Result<bool> {
    let paused: Option<bool> = sqlx::query_scalar(
        "UPDATE workflow_triggers
            SET failures = failures + 1, last_error = left($2, 1000), last_fired_at = now(),
                paused = paused OR failures + 1 >= $3,
                paused_reason = CASE WHEN paused THEN paused_reason WHEN failures + 1 >= $3 THEN 'failing' END,
                version = CASE WHEN NOT paused AND failures + 1 >= $3 THEN version + 1 ELSE version END,
                sync_state = CASE WHEN NOT paused AND failures + 1 >= $3 THEN 'pending' ELSE sync_state END,
                updated_at = now()
          WHERE id = $1
         RETURNING (paused_reason = 'failing' AND failures = $3)",
    )
    .bind(id)
    .bind(error)
    .bind(pause_at)
    .fetch_optional(db)
    .await?;
    Ok(paused.unwrap_or(false))
}

/// Whether a run a schedule started for this workflow has not ended.
pub async fn schedule_run_active(db: impl PgExecutor<'_>, workflow_id: Uuid) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM executions
                         WHERE workflow_id = $1 AND trigger_type = 'schedule'
                           AND status IN ('queued', 'dispatching', 'running'))",
    )
    .bind(workflow_id)
    .fetch_one(db)
    .await
}

/// Every schedule to be pushed again: for a schedules port that forgets
/// (the local stack's in-process one, at each start).
pub async fn unsync_schedules(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let r = sqlx::query(
        "UPDATE workflow_triggers SET sync_state = 'pending' WHERE kind = 'schedule' AND removed_at IS NULL",
    )
    .execute(db)
    .await?;
    Ok(r.rows_affected())
}
