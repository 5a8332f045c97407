//! A workspace's MCP servers (migration 0021).

use chrono::{DateTime, Utc};
use run_protocol::mcp::HeaderTemplate;
use serde_json::Value;
use sqlx::{types::Json, PgPool};
use uuid::Uuid;

use crate::mcp::{McpStatus, MAX_SERVERS};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct McpServerRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub name: String,
    pub description: String,
    pub url: String,
    pub headers: Json<Vec<HeaderTemplate>>,
    pub status: McpStatus,
    pub last_error: Option<String>,
    pub server_info: Option<Value>,
    pub tools: Value,
    pub checked_at: Option<DateTime<Utc>>,
    pub connected_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, workspace_id, name, description, url, headers, status, last_error, \
                       server_info, tools, checked_at, connected_at, created_by, created_at, updated_at";

/// What a server is registered with (or changed to).
pub struct ServerFields<'a> {
    pub name: &'a str,
    pub description: &'a str,
    pub url: &'a str,
    pub headers: &'a [HeaderTemplate],
}

/// Why a server could not be stored.
#[derive(Debug)]
pub enum Refused {
    /// Another server of the workspace has the name.
    NameTaken,
    /// The workspace has [`MAX_SERVERS`] already.
    TooMany,
}

/// A unique violation is the name taken; anything else is the database's failure.
fn refused<T>(r: sqlx::Result<T>) -> sqlx::Result<Result<T, Refused>> {
    match r {
        Ok(v) => Ok(Ok(v)),
        Err(sqlx::Error::Database(d)) if d.is_unique_violation() => Ok(Err(Refused::NameTaken)),
        Err(e) => Err(e),
    }
}

/// Registers a server (the workspace row locked while counting).
pub async fn create(
    db: &PgPool,
    workspace_id: Uuid,
    f: &ServerFields<'_>,
    created_by: Uuid,
) -> sqlx::Result<Result<McpServerRow, Refused>> {
    let mut tx = db.begin().await?;
    sqlx::query("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE")
        .bind(workspace_id)
        .execute(&mut *tx)
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM mcp_servers WHERE workspace_id = $1")
        .bind(workspace_id)
        .fetch_one(&mut *tx)
        .await?;
    if count >= MAX_SERVERS {
        return Ok(Err(Refused::TooMany));
    }
    let row = sqlx::query_as(&format!(
        "INSERT INTO mcp_servers (id, workspace_id, name, description, url, headers, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {COLUMNS}"
    ))
    .bind(crate::ids::new_id())
    .bind(workspace_id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.url)
    .bind(Json(f.headers))
    .bind(created_by)
    .fetch_one(&mut *tx)
    .await;
    let row = match refused(row)? {
        Ok(r) => r,
        Err(why) => return Ok(Err(why)),
    };
    tx.commit().await?;
    Ok(Ok(row))
}

pub async fn list(db: &PgPool, workspace_id: Uuid) -> sqlx::Result<Vec<McpServerRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mcp_servers WHERE workspace_id = $1 ORDER BY name"
    ))
    .bind(workspace_id)
    .fetch_all(db)
    .await
}

pub async fn get(db: &PgPool, workspace_id: Uuid, id: Uuid) -> sqlx::Result<Option<McpServerRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mcp_servers WHERE workspace_id = $1 AND id = $2"
    ))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The servers of a workspace with these names (a run's agents name them).
pub async fn by_names(
    db: &PgPool,
    workspace_id: Uuid,
    names: &[String],
) -> sqlx::Result<Vec<McpServerRow>> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM mcp_servers WHERE workspace_id = $1 AND name = ANY($2)"
    ))
    .bind(workspace_id)
    .bind(names)
    .fetch_all(db)
    .await
}

/// Which of `names` the workspace has registered and not disconnected.
pub async fn usable_names(
    db: impl sqlx::PgExecutor<'_>,
    workspace_id: Uuid,
    names: &[String],
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT name FROM mcp_servers
          WHERE workspace_id = $1 AND name = ANY($2) AND status <> 'disabled'",
    )
    .bind(workspace_id)
    .bind(names)
    .fetch_all(db)
    .await
}

/// Changes a server; a changed URL or headers make it `pending` again (its
/// tools are kept until the next connect says otherwise). A disconnected
/// server stays disconnected until it connects.
pub async fn update(
    db: &PgPool,
    workspace_id: Uuid,
    id: Uuid,
    f: &ServerFields<'_>,
) -> sqlx::Result<Result<Option<McpServerRow>, Refused>> {
    let row = sqlx::query_as(&format!(
        "UPDATE mcp_servers
            SET status = CASE WHEN status = 'disabled' THEN 'disabled'
                              WHEN url <> $5 OR headers <> $6 THEN 'pending' ELSE status END,
                name = $3, description = $4, url = $5, headers = $6, updated_at = now()
          WHERE workspace_id = $1 AND id = $2
      RETURNING {COLUMNS}"
    ))
    .bind(workspace_id)
    .bind(id)
    .bind(f.name)
    .bind(f.description)
    .bind(f.url)
    .bind(Json(f.headers))
    .fetch_optional(db)
    .await;
    refused(row)
}

pub async fn delete(db: &PgPool, workspace_id: Uuid, id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("DELETE FROM mcp_servers WHERE workspace_id = $1 AND id = $2 RETURNING name")
        .bind(workspace_id)
        .bind(id)
        .fetch_optional(db)
        .await
}

/// What a connect found.
pub enum Checked<'a> {
    Connected { server_info: Value, tools: Value },
    Failed { error: &'a str },
}

/// Records a connect's outcome, unless the server was changed or deleted
/// meanwhile (`updated_at` is what the connect read).
pub async fn record_check(
    db: &PgPool,
    id: Uuid,
    read_at: DateTime<Utc>,
    outcome: Checked<'_>,
) -> sqlx::Result<Option<McpServerRow>> {
    let (status, error, info, tools) = match outcome {
        Checked::Connected { server_info, tools } => {
            (McpStatus::Connected, None, Some(server_info), Some(tools))
        }
        Checked::Failed { error } => (McpStatus::Failed, Some(error), None, None),
    };
    sqlx::query_as(&format!(
        "UPDATE mcp_servers
            SET status = $3, last_error = $4, server_info = coalesce($5, server_info),
                tools = coalesce($6, tools), checked_at = now(),
                connected_at = CASE WHEN $3 = 'connected' THEN now() ELSE connected_at END
          WHERE id = $1 AND updated_at = $2
      RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(read_at)
    .bind(status)
    .bind(error)
    .bind(info)
    .bind(tools)
    .fetch_optional(db)
    .await
}

/// Disconnects a server: agents may not use it until it connects again.
pub async fn disable(
    db: &PgPool,
    workspace_id: Uuid,
    id: Uuid,
) -> sqlx::Result<Option<McpServerRow>> {
    sqlx::query_as(&format!(
        "UPDATE mcp_servers SET status = 'disabled', updated_at = now()
          WHERE workspace_id = $1 AND id = $2
      RETURNING {COLUMNS}"
    ))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(db)
    .await
}
