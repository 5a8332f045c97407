//! The `activity_log` table: one row per change, written in the change's
//! transaction, read newest first, deleted after the workspace plan's
//! retention.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgExecutor, QueryBuilder};
use uuid::Uuid;

use crate::activity::{Action, Resource};

#[derive(Debug, Clone, FromRow)]
pub struct Entry {
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// The workspace's running number of this entry (1, 2, 3, …).
    pub seq: i64,
    pub actor_id: Option<Uuid>,
    pub action: Action,
    pub resource_type: Resource,
    pub resource_id: Option<Uuid>,
    pub details: Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An entry with its actor's name and email (when the actor still exists).
#[derive(Debug, Clone, FromRow)]
pub struct Listed {
    #[sqlx(flatten)]
    pub entry: Entry,
    pub actor_name: Option<String>,
    pub actor_email: Option<String>,
}

const ENTRY: &str =
    "id, workspace_id, seq, actor_id, action, resource_type, resource_id, details, ip, \
    user_agent, created_at";

/// Records an entry under the workspace's next number (`e.seq` is ignored).
/// The workspace row stays locked until the transaction ends, so numbers
/// commit in order.
pub async fn insert(db: impl PgExecutor<'_>, e: &Entry) -> Result<Entry, sqlx::Error> {
    sqlx::query_as(&format!(
        "WITH n AS (UPDATE workspaces SET activity_seq = activity_seq + 1 WHERE id = $2
                    RETURNING activity_seq)
         INSERT INTO activity_log
             (id, workspace_id, seq, actor_id, action, resource_type, resource_id, details, ip, user_agent)
         SELECT $1, $2, n.activity_seq, $3, $4, $5, $6, $7, $8, $9 FROM n
         RETURNING {ENTRY}"
    ))
    .bind(e.id)
    .bind(e.workspace_id)
    .bind(e.actor_id)
    .bind(e.action)
    .bind(e.resource_type)
    .bind(e.resource_id)
    .bind(&e.details)
    .bind(&e.ip)
    .bind(&e.user_agent)
    .fetch_one(db)
    .await
}

/// What a page of the log is narrowed to.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub actor: Option<Uuid>,
    pub resource_type: Option<Resource>,
    pub resource_id: Option<Uuid>,
    pub action: Option<Action>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    /// Entries numbered below this (the previous page's last `seq`).
    pub before: Option<i64>,
    /// Entries numbered above this, oldest first (catching up).
    pub after: Option<i64>,
}

/// A page of a workspace's log, newest first (oldest first with `after`),
/// within the plan's retention.
pub async fn page(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    retention_days: u32,
    f: &Filter,
    limit: i64,
) -> Result<Vec<Listed>, sqlx::Error> {
    let mut q = QueryBuilder::new(
        "SELECT a.id, a.workspace_id, a.seq, a.actor_id, a.action, a.resource_type, a.resource_id,
                a.details, a.ip, a.user_agent, a.created_at, u.name AS actor_name, u.email AS actor_email
           FROM activity_log a LEFT JOIN users u ON u.id = a.actor_id
          WHERE a.workspace_id = ",
    );
    q.push_bind(workspace_id);
    q.push(" AND a.created_at >= now() - make_interval(days => ")
        .push_bind(i32::try_from(retention_days).unwrap_or(i32::MAX))
        .push(")");
    if let Some(a) = f.actor {
        q.push(" AND a.actor_id = ").push_bind(a);
    }
    if let Some(r) = f.resource_type {
        q.push(" AND a.resource_type = ").push_bind(r);
    }
    if let Some(r) = f.resource_id {
        q.push(" AND a.resource_id = ").push_bind(r);
    }
    if let Some(a) = f.action {
        q.push(" AND a.action = ").push_bind(a);
    }
    if let Some(t) = f.since {
        q.push(" AND a.created_at >= ").push_bind(t);
    }
    if let Some(t) = f.until {
        q.push(" AND a.created_at < ").push_bind(t);
    }
    if let Some(b) = f.before {
        q.push(" AND a.seq < ").push_bind(b);
    }
    if let Some(b) = f.after {
        q.push(" AND a.seq > ").push_bind(b);
        q.push(" ORDER BY a.seq ASC LIMIT ");
    } else {
        q.push(" ORDER BY a.seq DESC LIMIT ");
    }
    q.push_bind(limit);
    q.build_query_as().fetch_all(db).await
}

/// The workspace's entries numbered after `after`, in order (catching a
/// `workspace:` subscriber up).
pub async fn after_seq(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    after: i64,
    limit: i64,
) -> Result<Vec<Entry>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {ENTRY} FROM activity_log WHERE workspace_id = $1 AND seq > $2 ORDER BY seq LIMIT $3"
    ))
    .bind(workspace_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The number of the workspace's latest entry (`None`: no such workspace).
pub async fn last_seq(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
) -> Result<Option<i64>, sqlx::Error> {
    sqlx::query_scalar("SELECT activity_seq FROM workspaces WHERE id = $1")
        .bind(workspace_id)
        .fetch_optional(db)
        .await
}

/// Deletes entries older than their workspace plan's retention, in a bounded
/// batch (the sweeper's housekeeping).
pub async fn prune(db: impl PgExecutor<'_>, batch: i64) -> Result<u64, sqlx::Error> {
    let (tiers, days) = crate::tier::retention_days();
    let done = sqlx::query(
        "WITH retention AS (SELECT * FROM unnest($1::text[], $2::int[]) AS r(tier, days))
         DELETE FROM activity_log WHERE id IN (
             SELECT a.id FROM activity_log a
               JOIN workspaces w ON w.id = a.workspace_id
               JOIN retention r ON r.tier = w.tier
              WHERE a.created_at < now() - make_interval(days => r.days)
              LIMIT $3)",
    )
    .bind(&tiers)
    .bind(&days)
    .bind(batch)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
