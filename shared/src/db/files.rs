//! A workspace's files (migration 0020). Registering an upload checks the
//! workspace's quota with the workspace row locked, so two uploads at once
//! cannot both take the last of it.

use chrono::{DateTime, Utc};
use sqlx::{PgExecutor, PgPool};
use uuid::Uuid;

use crate::files::FileStatus;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct FileRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub blob_key: String,
    pub status: FileStatus,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub uploaded_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, workspace_id, name, content_type, size, blob_key, status, created_by, created_at, uploaded_at";

/// An upload to register.
pub struct NewFile<'a> {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: &'a str,
    pub content_type: &'a str,
    pub size: i64,
    pub blob_key: &'a str,
    pub created_by: Uuid,
}

/// Registers an upload if the workspace's files (pending ones included) and
/// it fit in `quota` bytes; else `Err` with what the files take now.
pub async fn register(
    db: &PgPool,
    f: &NewFile<'_>,
    quota: i64,
) -> sqlx::Result<Result<FileRow, i64>> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE")
        .bind(f.workspace_id)
        .execute(&mut *tx)
        .await?;
    let used = used_bytes(&mut *tx, f.workspace_id).await?;
    if used.saturating_add(f.size) > quota {
        return Ok(Err(used));
    }
    let row = sqlx::query_as(&format!(
        "INSERT INTO workspace_files (id, workspace_id, name, content_type, size, blob_key, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(f.id)
    .bind(f.workspace_id)
    .bind(f.name)
    .bind(f.content_type)
    .bind(f.size)
    .bind(f.blob_key)
    .bind(f.created_by)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(row))
}

/// What a workspace's files take, pending uploads included.
pub async fn used_bytes(db: impl PgExecutor<'_>, workspace_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar(
        "SELECT coalesce(sum(size), 0)::bigint FROM workspace_files WHERE workspace_id = $1",
    )
    .bind(workspace_id)
    .fetch_one(db)
    .await
}

/// A page of a workspace's files, the newest first, after the cursor `before` (an id).
pub async fn list(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<FileRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workspace_files
          WHERE workspace_id = $1 AND ($2::uuid IS NULL OR id < $2)
          ORDER BY id DESC LIMIT $3"
    ))
    .bind(workspace_id)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn find(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<FileRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workspace_files WHERE workspace_id = $1 AND id = $2"
    ))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A pending upload confirmed with its stored size, if the workspace's files
/// still fit in `quota` with it (under the workspace row's lock, as
/// [`register`]); `Ok(None)` when it was not pending (completed already, or
/// deleted), `Err` with what the others take when it does not fit.
pub async fn complete(
    db: &PgPool,
    workspace_id: Uuid,
    id: Uuid,
    size: i64,
    quota: i64,
) -> sqlx::Result<Result<Option<FileRow>, i64>> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE")
        .bind(workspace_id)
        .execute(&mut *tx)
        .await?;
    let others: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(size), 0)::bigint FROM workspace_files WHERE workspace_id = $1 AND id <> $2",
    )
    .bind(workspace_id)
    .bind(id)
    .fetch_one(&mut *tx)
    .await?;
    if others.saturating_add(size) > quota {
        return Ok(Err(others));
    }
    let row = sqlx::query_as(&format!(
        "UPDATE workspace_files SET status = 'ready', size = $3, uploaded_at = now()
          WHERE workspace_id = $1 AND id = $2 AND status = 'pending'
          RETURNING {COLUMNS}"
    ))
    .bind(workspace_id)
    .bind(id)
    .bind(size)
    .fetch_optional(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(Ok(row))
}

/// Forgets a file; its blob key, if it was there.
pub async fn delete(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar(
        "DELETE FROM workspace_files WHERE workspace_id = $1 AND id = $2 RETURNING blob_key",
    )
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Uploads registered more than a day ago and never completed (at most `limit`).
pub async fn abandoned(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> sqlx::Result<Vec<(Uuid, Uuid, String)>> {
    sqlx::query_as(
        "SELECT workspace_id, id, blob_key FROM workspace_files
          WHERE status = 'pending' AND created_at < now() - interval '1 day'
          ORDER BY created_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The newest ready file of a workspace with this name.
pub async fn find_ready_by_name(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    name: &str,
) -> sqlx::Result<Option<FileRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workspace_files
          WHERE workspace_id = $1 AND name = $2 AND status = 'ready'
          ORDER BY id DESC LIMIT 1"
    ))
    .bind(workspace_id)
    .bind(name)
    .fetch_optional(db)
    .await
}
