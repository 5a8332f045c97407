//! The workspace vault's rows: one wrapped data key per workspace, and the
//! sealed secrets. Values are only ever read here sealed.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

/// A secret without its value.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SecretMeta {
    pub name: String,
    pub description: String,
    pub created_by: Option<Uuid>,
    pub updated_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

const META: &str =
    "name, description, created_by, updated_by, created_at, updated_at, last_used_at";

pub async fn data_key(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
) -> sqlx::Result<Option<(String, Vec<u8>)>> {
    sqlx::query_as("SELECT wrapped_by, wrapped_key FROM workspace_keys WHERE workspace_id = $1")
        .bind(workspace_id)
        .fetch_optional(db)
        .await
}

/// Stores a workspace's data key unless it has one (two first secrets at
/// once: the first key stays, the other caller reads it back).
pub async fn insert_data_key(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    wrapped_by: &str,
    wrapped_key: &[u8],
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO workspace_keys (workspace_id, wrapped_by, wrapped_key) VALUES ($1, $2, $3)
         ON CONFLICT (workspace_id) DO NOTHING",
    )
    .bind(workspace_id)
    .bind(wrapped_by)
    .bind(wrapped_key)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn list(db: impl PgExecutor<'_>, workspace_id: Uuid) -> sqlx::Result<Vec<SecretMeta>> {
    sqlx::query_as(&format!(
        "SELECT {META} FROM workspace_secrets WHERE workspace_id = $1 ORDER BY name"
    ))
    .bind(workspace_id)
    .fetch_all(db)
    .await
}

pub async fn get(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    name: &str,
) -> sqlx::Result<Option<SecretMeta>> {
    sqlx::query_as(&format!(
        "SELECT {META} FROM workspace_secrets WHERE workspace_id = $1 AND name = $2"
    ))
    .bind(workspace_id)
    .bind(name)
    .fetch_optional(db)
    .await
}

/// A new secret; `None` when the name is taken.
pub async fn insert(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    name: &str,
    sealed: &[u8],
    description: &str,
    actor: Uuid,
) -> sqlx::Result<Option<SecretMeta>> {
    sqlx::query_as(&format!(
        "INSERT INTO workspace_secrets (workspace_id, name, sealed, description, created_by, updated_by)
         VALUES ($1, $2, $3, $4, $5, $5)
         ON CONFLICT (workspace_id, name) DO NOTHING
         RETURNING {META}"
    ))
    .bind(workspace_id)
    .bind(name)
    .bind(sealed)
    .bind(description)
    .bind(actor)
    .fetch_optional(db)
    .await
}

/// Replaces a secret's value (and its description when given); `None` when there is none.
pub async fn replace(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    name: &str,
    sealed: &[u8],
    description: Option<&str>,
    actor: Uuid,
) -> sqlx::Result<Option<SecretMeta>> {
    sqlx::query_as(&format!(
        "UPDATE workspace_secrets
            SET sealed = $3, description = coalesce($4, description), updated_by = $5, updated_at = now()
          WHERE workspace_id = $1 AND name = $2
         RETURNING {META}"
    ))
    .bind(workspace_id)
    .bind(name)
    .bind(sealed)
    .bind(description)
    .bind(actor)
    .fetch_optional(db)
    .await
}

pub async fn delete(db: impl PgExecutor<'_>, workspace_id: Uuid, name: &str) -> sqlx::Result<bool> {
    let r = sqlx::query("DELETE FROM workspace_secrets WHERE workspace_id = $1 AND name = $2")
        .bind(workspace_id)
        .bind(name)
        .execute(db)
        .await?;
    Ok(r.rows_affected() == 1)
}

/// The sealed values of the named secrets that exist.
pub async fn sealed(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    names: &[String],
) -> sqlx::Result<Vec<(String, Vec<u8>)>> {
    sqlx::query_as(
        "SELECT name, sealed FROM workspace_secrets WHERE workspace_id = $1 AND name = ANY($2)",
    )
    .bind(workspace_id)
    .bind(names)
    .fetch_all(db)
    .await
}

/// Which of `names` the workspace has.
pub async fn existing(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    names: &[String],
) -> sqlx::Result<Vec<String>> {
    sqlx::query_scalar(
        "SELECT name FROM workspace_secrets WHERE workspace_id = $1 AND name = ANY($2)",
    )
    .bind(workspace_id)
    .bind(names)
    .fetch_all(db)
    .await
}

pub async fn mark_used(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    names: &[String],
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE workspace_secrets SET last_used_at = now() WHERE workspace_id = $1 AND name = ANY($2)",
    )
    .bind(workspace_id)
    .bind(names)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn count(db: impl PgExecutor<'_>, workspace_id: Uuid) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT count(*) FROM workspace_secrets WHERE workspace_id = $1")
        .bind(workspace_id)
        .fetch_one(db)
        .await
}
