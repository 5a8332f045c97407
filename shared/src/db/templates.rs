//! The `workflow_templates` table: the built-in catalogue (`workspace_id IS NULL`)
//! and templates workspaces published from their workflows. All are public.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{types::Json, FromRow, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct Template {
    pub id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub source_workflow_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub category: String,
    pub tags: Vec<String>,
    pub canvas: Json<Value>,
    pub usage_count: i64,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, workspace_id, source_workflow_id, name, description, category, tags, canvas, usage_count, created_at";

pub struct NewTemplate<'a> {
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// Who published it.
    pub created_by: Uuid,
    pub source_workflow_id: Uuid,
    pub name: &'a str,
    pub description: &'a str,
    pub category: &'a str,
    pub tags: &'a [String],
    pub canvas: &'a Value,
}

pub async fn insert(db: impl PgExecutor<'_>, t: NewTemplate<'_>) -> Result<Template, sqlx::Error> {
    sqlx::query_as::<_, Template>(&format!(
        "INSERT INTO workflow_templates (id, workspace_id, source_workflow_id, name, description, category, tags, canvas, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    ))
    .bind(t.id)
    .bind(t.workspace_id)
    .bind(t.source_workflow_id)
    .bind(t.name)
    .bind(t.description)
    .bind(t.category)
    .bind(t.tags)
    .bind(Json(t.canvas))
    .bind(t.created_by)
    .fetch_one(db)
    .await
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Template>, sqlx::Error> {
    sqlx::query_as::<_, Template>(&format!(
        "SELECT {COLUMNS} FROM workflow_templates WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A template as listed: its node count, not its canvas.
#[derive(Debug, Clone, FromRow)]
pub struct Listed {
    pub id: Uuid,
    pub workspace_id: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub category: String,
    pub tags: Vec<String>,
    pub node_count: i32,
    pub usage_count: i64,
    pub created_at: DateTime<Utc>,
}

/// The catalogue, most used first; and the total.
pub async fn list(
    db: &sqlx::PgPool,
    category: Option<&str>,
    search: Option<&str>,
    limit: i64,
    offset: i64,
) -> Result<(Vec<Listed>, i64), sqlx::Error> {
    let pattern = search.map(super::contains_pattern);
    const FILTER: &str = "($1::text IS NULL OR category = $1) AND ($2::text IS NULL OR name ILIKE $2 OR description ILIKE $2)";
    let rows = sqlx::query_as::<_, Listed>(&format!(
        "SELECT id, workspace_id, name, description, category, tags, usage_count, created_at,
                CASE jsonb_typeof(canvas -> 'nodes')
                     WHEN 'array' THEN jsonb_array_length(canvas -> 'nodes') ELSE 0 END AS node_count
           FROM workflow_templates WHERE {FILTER}
         ORDER BY workspace_id IS NOT NULL, usage_count DESC, name, id LIMIT $3 OFFSET $4"
    ))
    .bind(category)
    .bind(pattern.as_deref())
    .bind(limit)
    .bind(offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(&format!(
        "SELECT count(*) FROM workflow_templates WHERE {FILTER}"
    ))
    .bind(category)
    .bind(pattern.as_deref())
    .fetch_one(db)
    .await?;
    Ok((rows, total))
}

pub async fn count_use(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE workflow_templates SET usage_count = usage_count + 1 WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

/// Deletes a template the workspace published; built-in ones have no owner and never match.
pub async fn delete(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM workflow_templates WHERE id = $1 AND workspace_id = $2")
        .bind(id)
        .bind(workspace_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
