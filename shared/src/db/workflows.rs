//! The `workflows` and `workflow_versions` tables.
//!
//! Every content change is a conditional UPDATE on the version the caller saw
//! (`version = $base`), followed by a snapshot row in `workflow_versions`, in
//! one transaction: two editors can never overwrite each other silently.
//! Every query is scoped to a workspace; another workspace's workflow is "not found".

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{types::Json, FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct Workflow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// Who made it (`None` once their account is gone).
    pub created_by: Option<Uuid>,
    pub name: String,
    pub description: String,
    pub status: String,
    pub tags: Vec<String>,
    pub canvas: Json<Value>,
    pub chat_history: Json<Value>,
    pub settings: Json<Value>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

const COLUMNS: &str =
    "id, workspace_id, created_by, name, description, status, tags, canvas, chat_history, settings, \
                       version, created_at, updated_at, deleted_at";

/// The content of a workflow (what a version holds).
#[derive(Debug, Clone)]
pub struct Content {
    pub name: String,
    pub description: String,
    pub status: String,
    pub tags: Vec<String>,
    pub canvas: Value,
    pub chat_history: Value,
    pub settings: Value,
}

/// A change: `None` leaves a field as it is.
#[derive(Debug, Clone, Default)]
pub struct Change {
    pub name: Option<String>,
    pub description: Option<String>,
    pub status: Option<String>,
    pub tags: Option<Vec<String>>,
    pub canvas: Option<Value>,
    pub chat_history: Option<Value>,
    pub settings: Option<Value>,
}

impl Change {
    /// The fields this change sets (for the activity log).
    pub fn fields(&self) -> Vec<&'static str> {
        [
            ("name", self.name.is_some()),
            ("description", self.description.is_some()),
            ("status", self.status.is_some()),
            ("tags", self.tags.is_some()),
            ("canvas", self.canvas.is_some()),
            ("chatHistory", self.chat_history.is_some()),
            ("settings", self.settings.is_some()),
        ]
        .into_iter()
        .filter_map(|(f, set)| set.then_some(f))
        .collect()
    }
}

impl From<Content> for Change {
    fn from(c: Content) -> Self {
        Change {
            name: Some(c.name),
            description: Some(c.description),
            status: Some(c.status),
            tags: Some(c.tags),
            canvas: Some(c.canvas),
            chat_history: Some(c.chat_history),
            settings: Some(c.settings),
        }
    }
}

/// Inserts a workflow at version 1 and its first snapshot.
pub async fn insert(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    workspace_id: Uuid,
    by: Uuid,
    c: &Content,
) -> Result<Workflow, sqlx::Error> {
    let wf = sqlx::query_as::<_, Workflow>(&format!(
        "INSERT INTO workflows (id, workspace_id, created_by, name, description, status, tags, canvas, chat_history, settings)
         VALUES ($1, $2, $10, $3, $4, $5, $6, $7, $8, $9) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(workspace_id)
    .bind(&c.name)
    .bind(&c.description)
    .bind(&c.status)
    .bind(&c.tags)
    .bind(Json(&c.canvas))
    .bind(Json(&c.chat_history))
    .bind(Json(&c.settings))
    .bind(by)
    .fetch_one(&mut **tx)
    .await?;
    snapshot(&mut **tx, id, by).await?;
    Ok(wf)
}

/// Records the workflow's current state as its current version.
async fn snapshot(db: impl PgExecutor<'_>, id: Uuid, by: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO workflow_versions
             (workflow_id, version, name, description, status, tags, canvas, chat_history, settings, created_by)
         SELECT id, version, name, description, status, tags, canvas, chat_history, settings, $2
           FROM workflows WHERE id = $1",
    )
    .bind(id)
    .bind(by)
    .execute(db)
    .await?;
    Ok(())
}

/// A live (not deleted) workflow of this workspace.
pub async fn find(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Workflow>, sqlx::Error> {
    sqlx::query_as::<_, Workflow>(&format!(
        "SELECT {COLUMNS} FROM workflows WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL"
    ))
    .bind(id)
    .bind(workspace_id)
    .fetch_optional(db)
    .await
}

/// Why a conditional update did not happen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateError {
    NotFound,
    /// The caller's base version is stale; this is the current one.
    Stale {
        current: i32,
    },
}

/// Applies `change` if the workflow is still at `base` (any version when
/// `None`), bumps the version and snapshots it.
pub async fn update(
    tx: &mut Transaction<'_, Postgres>,
    workspace_id: Uuid,
    by: Uuid,
    id: Uuid,
    base: Option<i32>,
    change: &Change,
) -> Result<Result<Workflow, UpdateError>, sqlx::Error> {
    let updated = sqlx::query_as::<_, Workflow>(&format!(
        "UPDATE workflows SET
             name = COALESCE($4, name),
             description = COALESCE($5, description),
             status = COALESCE($6, status),
             tags = COALESCE($7, tags),
             canvas = COALESCE($8, canvas),
             chat_history = COALESCE($9, chat_history),
             settings = COALESCE($10, settings),
             version = version + 1,
             updated_at = now()
         WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL AND ($3::int IS NULL OR version = $3)
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(workspace_id)
    .bind(base)
    .bind(change.name.as_deref())
    .bind(change.description.as_deref())
    .bind(change.status.as_deref())
    .bind(change.tags.as_deref())
    .bind(change.canvas.as_ref().map(Json))
    .bind(change.chat_history.as_ref().map(Json))
    .bind(change.settings.as_ref().map(Json))
    .fetch_optional(&mut **tx)
    .await?;
    match updated {
        Some(wf) => {
            snapshot(&mut **tx, id, by).await?;
            Ok(Ok(wf))
        }
        None => Ok(Err(match find(&mut **tx, workspace_id, id).await? {
            Some(current) => UpdateError::Stale {
                current: current.version,
            },
            None => UpdateError::NotFound,
        })),
    }
}

/// Soft-deletes; returns whether a live workflow was deleted.
pub async fn soft_delete(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE workflows SET deleted_at = now() WHERE id = $1 AND workspace_id = $2 AND deleted_at IS NULL",
    )
    .bind(id)
    .bind(workspace_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Undoes a delete made less than `RESTORE_DAYS` days ago.
pub async fn undelete(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Workflow>, sqlx::Error> {
    sqlx::query_as::<_, Workflow>(&format!(
        "UPDATE workflows SET deleted_at = NULL, updated_at = now()
          WHERE id = $1 AND workspace_id = $2 AND deleted_at > now() - make_interval(days => {RESTORE_DAYS})
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(workspace_id)
    .fetch_optional(db)
    .await
}

/// How long a deleted workflow can be restored.
pub const RESTORE_DAYS: i32 = 30;

/// Filters and page of a listing.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub status: Option<String>,
    /// All of these tags.
    pub tags: Vec<String>,
    /// Case-insensitive substring of the name.
    pub search: Option<String>,
    /// Continue after this (updated_at, id).
    pub after: Option<(DateTime<Utc>, Uuid)>,
    pub limit: i64,
}

/// A workflow as listed: what a listing shows, never its canvas, chat or
/// settings (a page of 1,000-node canvases is megabytes to read and drop).
#[derive(Debug, Clone, FromRow)]
pub struct Listed {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub status: String,
    pub tags: Vec<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const LISTED_COLUMNS: &str = "id, name, description, status, tags, version, created_at, updated_at";

/// One page, newest first, and the total matching the filters.
pub async fn list(
    db: &sqlx::PgPool,
    workspace_id: Uuid,
    q: &ListQuery,
) -> Result<(Vec<Listed>, i64), sqlx::Error> {
    let pattern = q.search.as_deref().map(super::contains_pattern);
    const FILTER: &str = "workspace_id = $1 AND deleted_at IS NULL
         AND ($2::text IS NULL OR status = $2)
         AND (cardinality($3::text[]) = 0 OR tags @> $3)
         AND ($4::text IS NULL OR name ILIKE $4)";
    let (after_ts, after_id) = q.after.map_or((None, None), |(t, i)| (Some(t), Some(i)));
    let rows = sqlx::query_as::<_, Listed>(&format!(
        "SELECT {LISTED_COLUMNS} FROM workflows WHERE {FILTER}
           AND ($5::timestamptz IS NULL OR (updated_at, id) < ($5, $6))
         ORDER BY updated_at DESC, id DESC LIMIT $7"
    ))
    .bind(workspace_id)
    .bind(q.status.as_deref())
    .bind(&q.tags)
    .bind(pattern.as_deref())
    .bind(after_ts)
    .bind(after_id)
    .bind(q.limit)
    .fetch_all(db)
    .await?;
    let total: i64 = sqlx::query_scalar(&format!("SELECT count(*) FROM workflows WHERE {FILTER}"))
        .bind(workspace_id)
        .bind(q.status.as_deref())
        .bind(&q.tags)
        .bind(pattern.as_deref())
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

#[derive(Debug, Clone, FromRow)]
pub struct Version {
    pub version: i32,
    pub name: String,
    pub description: String,
    pub status: String,
    pub tags: Vec<String>,
    pub canvas: Json<Value>,
    pub chat_history: Json<Value>,
    pub settings: Json<Value>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<Version> for Content {
    fn from(v: Version) -> Self {
        Content {
            name: v.name,
            description: v.description,
            status: v.status,
            tags: v.tags,
            canvas: v.canvas.0,
            chat_history: v.chat_history.0,
            settings: v.settings.0,
        }
    }
}

const VERSION_COLUMNS: &str =
    "v.version, v.name, v.description, v.status, v.tags, v.canvas, v.chat_history, \
                               v.settings, v.created_by, v.created_at";

/// A version as listed: no snapshot content.
#[derive(Debug, Clone, FromRow)]
pub struct VersionListed {
    pub version: i32,
    pub name: String,
    pub status: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Versions of a live workflow of this workspace, newest first (without their
/// content; [`version`] reads one whole).
pub async fn versions(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
    limit: i64,
) -> Result<Vec<VersionListed>, sqlx::Error> {
    sqlx::query_as::<_, VersionListed>(
        "SELECT v.version, v.name, v.status, v.created_by, v.created_at
           FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id
          WHERE v.workflow_id = $1 AND w.workspace_id = $2 AND w.deleted_at IS NULL
          ORDER BY v.version DESC LIMIT $3",
    )
    .bind(id)
    .bind(workspace_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

pub async fn version(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
    n: i32,
) -> Result<Option<Version>, sqlx::Error> {
    sqlx::query_as::<_, Version>(&format!(
        "SELECT {VERSION_COLUMNS}
           FROM workflow_versions v JOIN workflows w ON w.id = v.workflow_id
          WHERE v.workflow_id = $1 AND w.workspace_id = $2 AND w.deleted_at IS NULL AND v.version = $3"
    ))
    .bind(id)
    .bind(workspace_id)
    .bind(n)
    .fetch_optional(db)
    .await
}

/// The workspace of a live workflow (`None`: no such workflow).
pub async fn workspace_of(
    db: impl PgExecutor<'_>,
    workflow_id: Uuid,
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT workspace_id FROM workflows WHERE id = $1 AND deleted_at IS NULL")
        .bind(workflow_id)
        .fetch_optional(db)
        .await
}
