//! The `activity_log` table: one row per change, written in the change's
//! transaction, read newest first, deleted after the workspace plan's
//! retention.

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::{FromRow, PgExecutor, QueryBuilder};
use uuid::Uuid;

use crate::{
    activity::{Action, Resource},
    tier::Tier,
};

#[derive(Debug, Clone, FromRow)]
pub struct Entry {
    pub id: Uuid,
    pub workspace_id: Uuid,
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

pub async fn insert(db: impl PgExecutor<'_>, e: &Entry) -> Result<Entry, sqlx::Error> {
    sqlx::query_as(
        "INSERT INTO activity_log
             (id, workspace_id, actor_id, action, resource_type, resource_id, details, ip, user_agent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
         RETURNING id, workspace_id, actor_id, action, resource_type, resource_id, details, ip,
                   user_agent, created_at",
    )
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
    /// Entries older than this one (the previous page's last id).
    pub before: Option<Uuid>,
    /// Entries newer than this one, oldest first (catching up after a reconnect).
    pub after: Option<Uuid>,
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
        "SELECT a.id, a.workspace_id, a.actor_id, a.action, a.resource_type, a.resource_id,
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
        q.push(" AND a.id < ").push_bind(b);
    }
    if let Some(b) = f.after {
        q.push(" AND a.id > ").push_bind(b);
        q.push(" ORDER BY a.id ASC LIMIT ");
    } else {
        q.push(" ORDER BY a.id DESC LIMIT ");
    }
    q.push_bind(limit);
    q.build_query_as().fetch_all(db).await
}

/// Deletes entries older than their workspace plan's retention, in a bounded
/// batch (the sweeper's housekeeping).
pub async fn prune(db: impl PgExecutor<'_>, batch: i64) -> Result<u64, sqlx::Error> {
    let tiers: Vec<&str> = Tier::ALL.iter().map(|t| t.as_str()).collect();
    let days: Vec<i32> = Tier::ALL
        .iter()
        .map(|t| i32::try_from(t.limits().activity_retention_days).unwrap_or(i32::MAX))
        .collect();
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
