//! The `agents` table: the built-in catalogue (`workspace_id IS NULL`) and
//! workspaces' own agents, private or public.
//!
//! Visibility: a workspace sees the built-in agents, its own, and other
//! workspaces' public ones. Only its workspace can change or delete an agent.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

#[derive(Debug, Clone, FromRow)]
pub struct Agent {
    pub id: Uuid,
    pub workspace_id: Option<Uuid>,
    /// Who made it (`None` for built-in agents, or once their account is gone).
    pub created_by: Option<Uuid>,
    pub name: String,
    pub display_name: String,
    pub category: String,
    pub description: String,
    pub avatar: String,
    pub skills: Vec<String>,
    pub tools: Vec<String>,
    pub system_prompt: String,
    pub model: Option<String>,
    pub is_public: bool,
    pub usage_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str =
    "id, workspace_id, created_by, name, display_name, category, description, avatar, skills, tools, \
                       system_prompt, model, is_public, usage_count, created_at, updated_at";

/// Which agents a workspace may see: built-in, its own, or public.
const VISIBLE: &str = "(workspace_id IS NULL OR workspace_id = $1 OR is_public)";

/// The fields of an agent a user defines.
#[derive(Debug, Clone)]
pub struct AgentFields {
    pub name: String,
    pub display_name: String,
    pub category: String,
    pub description: String,
    pub avatar: String,
    pub skills: Vec<String>,
    pub tools: Vec<String>,
    pub system_prompt: String,
    pub model: Option<String>,
    pub is_public: bool,
}

impl From<Agent> for AgentFields {
    fn from(a: Agent) -> Self {
        AgentFields {
            name: a.name,
            display_name: a.display_name,
            category: a.category,
            description: a.description,
            avatar: a.avatar,
            skills: a.skills,
            tools: a.tools,
            system_prompt: a.system_prompt,
            model: a.model,
            is_public: a.is_public,
        }
    }
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    id: Uuid,
    workspace_id: Uuid,
    by: Uuid,
    f: &AgentFields,
) -> Result<Agent, sqlx::Error> {
    sqlx::query_as::<_, Agent>(&format!(
        "INSERT INTO agents (id, workspace_id, name, display_name, category, description, avatar, skills, tools,
                             system_prompt, model, is_public, created_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(workspace_id)
    .bind(&f.name)
    .bind(&f.display_name)
    .bind(&f.category)
    .bind(&f.description)
    .bind(&f.avatar)
    .bind(&f.skills)
    .bind(&f.tools)
    .bind(&f.system_prompt)
    .bind(f.model.as_deref())
    .bind(f.is_public)
    .bind(by)
    .fetch_one(db)
    .await
}

/// An agent this workspace may see.
pub async fn find_visible(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Agent>, sqlx::Error> {
    sqlx::query_as::<_, Agent>(&format!(
        "SELECT {COLUMNS} FROM agents WHERE id = $2 AND {VISIBLE}"
    ))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The agents of `ids` this workspace may use, in one query.
pub async fn find_visible_many(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Agent>, sqlx::Error> {
    sqlx::query_as::<_, Agent>(&format!(
        "SELECT {COLUMNS} FROM agents WHERE id = ANY($2) AND {VISIBLE}"
    ))
    .bind(workspace_id)
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Which of `ids` this workspace may use in a workflow.
pub async fn visible_ids(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    ids: &[Uuid],
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(&format!(
        "SELECT id FROM agents WHERE id = ANY($2) AND {VISIBLE}"
    ))
    .bind(workspace_id)
    .bind(ids)
    .fetch_all(db)
    .await
}

/// Which agents to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Built-in, own and others' public agents.
    All,
    BuiltIn,
    Mine,
    /// Other workspaces' public agents.
    Community,
}

#[derive(Debug, Clone)]
pub struct ListQuery {
    pub scope: Scope,
    pub category: Option<String>,
    pub search: Option<String>,
    pub limit: i64,
    pub offset: i64,
}

/// Visible agents, built-in first, then by name; and the total.
pub async fn list(
    db: &sqlx::PgPool,
    workspace_id: Uuid,
    q: &ListQuery,
) -> Result<(Vec<Agent>, i64), sqlx::Error> {
    let scope = match q.scope {
        Scope::All => VISIBLE,
        Scope::BuiltIn => "workspace_id IS NULL",
        Scope::Mine => "workspace_id = $1",
        Scope::Community => "(is_public AND workspace_id IS NOT NULL AND workspace_id <> $1)",
    };
    let pattern = q.search.as_deref().map(super::contains_pattern);
    let filter = format!(
        "{scope} AND ($2::text IS NULL OR category = $2)
           AND ($3::text IS NULL OR display_name ILIKE $3 OR name ILIKE $3 OR description ILIKE $3
                OR EXISTS (SELECT 1 FROM unnest(skills) s WHERE s ILIKE $3))"
    );
    let rows = sqlx::query_as::<_, Agent>(&format!(
        "SELECT {COLUMNS} FROM agents WHERE {filter}
         ORDER BY workspace_id IS NOT NULL, display_name, id LIMIT $4 OFFSET $5"
    ))
    .bind(workspace_id)
    .bind(q.category.as_deref())
    .bind(pattern.as_deref())
    .bind(q.limit)
    .bind(q.offset)
    .fetch_all(db)
    .await?;
    let total = sqlx::query_scalar(&format!("SELECT count(*) FROM agents WHERE {filter}"))
        .bind(workspace_id)
        .bind(q.category.as_deref())
        .bind(pattern.as_deref())
        .fetch_one(db)
        .await?;
    Ok((rows, total))
}

/// Replaces an own agent's fields; `None` when it is not the workspace's.
pub async fn update(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
    f: &AgentFields,
) -> Result<Option<Agent>, sqlx::Error> {
    sqlx::query_as::<_, Agent>(&format!(
        "UPDATE agents SET name = $3, display_name = $4, category = $5, description = $6, avatar = $7,
                skills = $8, tools = $9, system_prompt = $10, model = $11, is_public = $12, updated_at = now()
          WHERE id = $1 AND workspace_id = $2
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(workspace_id)
    .bind(&f.name)
    .bind(&f.display_name)
    .bind(&f.category)
    .bind(&f.description)
    .bind(&f.avatar)
    .bind(&f.skills)
    .bind(&f.tools)
    .bind(&f.system_prompt)
    .bind(f.model.as_deref())
    .bind(f.is_public)
    .fetch_optional(db)
    .await
}

pub async fn delete(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("DELETE FROM agents WHERE id = $1 AND workspace_id = $2")
        .bind(id)
        .bind(workspace_id)
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Counts one more use of each agent (called when a workflow using them runs).
pub async fn count_usage(db: impl PgExecutor<'_>, ids: &[Uuid]) -> Result<(), sqlx::Error> {
    // Appended, not updated: the uses reach `usage_count` at the next fold.
    sqlx::query("INSERT INTO agent_uses (agent_id) SELECT unnest($1::uuid[])")
        .bind(ids)
        .execute(db)
        .await?;
    Ok(())
}

/// Folds up to `batch` recorded uses into the agents' `usage_count` (the
/// sweeper's, every minute on AWS); how many it folded.
pub async fn fold_usage(db: impl PgExecutor<'_>, batch: i64) -> Result<u64, sqlx::Error> {
    let folded: Option<i64> = sqlx::query_scalar(
        "WITH taken AS (
             DELETE FROM agent_uses WHERE ctid IN (SELECT ctid FROM agent_uses LIMIT $1)
             RETURNING agent_id),
         n AS (SELECT agent_id, count(*) AS c FROM taken GROUP BY agent_id),
         counted AS (
             UPDATE agents a SET usage_count = a.usage_count + n.c FROM n WHERE a.id = n.agent_id
             RETURNING 1)
         SELECT sum(c)::bigint FROM n",
    )
    .bind(batch)
    .fetch_one(db)
    .await?;
    Ok(folded.unwrap_or(0).max(0) as u64)
}
