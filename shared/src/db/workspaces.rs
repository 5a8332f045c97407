//! The `workspaces` and `workspace_members` tables. A user's personal
//! workspace has the user's id; team workspaces are made by users. Every
//! change of membership is a conditional statement, and a workspace keeps
//! exactly one owner (a unique index allows at most one; ownership moves in
//! one transaction).

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::{access::Role, tier::Tier};

/// A workspace as stored, with the caller's role in it.
#[derive(Debug, Clone, FromRow)]
pub struct Workspace {
    pub id: Uuid,
    pub name: String,
    pub personal: bool,
    pub tier: Tier,
    pub role: Role,
    pub members: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "w.id, w.name, w.personal_of IS NOT NULL AS personal, w.tier, m.role, \
    (SELECT count(*) FROM workspace_members c WHERE c.workspace_id = w.id) AS members, \
    w.created_at, w.updated_at";

/// One member of a workspace.
#[derive(Debug, Clone, FromRow)]
pub struct MemberRow {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub invited_by: Option<Uuid>,
    pub joined_at: DateTime<Utc>,
}

/// A member row with the user's email and name.
const MEMBER: &str = "m.user_id, u.email, u.name, m.role, m.invited_by, m.joined_at
    FROM workspace_members m JOIN users u ON u.id = m.user_id";

/// The caller's role in a workspace and the workspace's plan, if a member.
pub async fn membership(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<Option<(Role, Tier)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT m.role, w.tier FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id
          WHERE m.workspace_id = $1 AND m.user_id = $2",
    )
    .bind(workspace_id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Makes a user's personal workspace (same id), with them as its owner.
pub async fn create_personal(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO workspaces (id, name, personal_of) VALUES ($1, 'Personal', $1)")
        .bind(user_id)
        .execute(&mut **tx)
        .await?;
    add_member(&mut **tx, user_id, user_id, Role::Owner, None).await?;
    Ok(())
}

/// Makes a team workspace owned by `owner`.
pub async fn create_team(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    name: &str,
    owner: Uuid,
) -> Result<Workspace, sqlx::Error> {
    sqlx::query("INSERT INTO workspaces (id, name) VALUES ($1, $2)")
        .bind(id)
        .bind(name)
        .execute(&mut **tx)
        .await?;
    add_member(&mut **tx, id, owner, Role::Owner, None).await?;
    Ok(find(&mut **tx, id, owner).await?.expect("just created"))
}

/// Adds a member; `false` when they already are one.
pub async fn add_member(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    user_id: Uuid,
    role: Role,
    invited_by: Option<Uuid>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO workspace_members (workspace_id, user_id, role, invited_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id, user_id) DO NOTHING",
    )
    .bind(workspace_id)
    .bind(user_id)
    .bind(role)
    .bind(invited_by)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A workspace the user is a member of.
pub async fn find(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
) -> Result<Option<Workspace>, sqlx::Error> {
    sqlx::query_as::<_, Workspace>(&format!(
        "SELECT {COLUMNS} FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
          WHERE w.id = $1 AND m.user_id = $2"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Every workspace the user is a member of: the personal one first, then by name.
pub async fn list_for(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Vec<Workspace>, sqlx::Error> {
    sqlx::query_as::<_, Workspace>(&format!(
        "SELECT {COLUMNS} FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
          WHERE m.user_id = $1
          ORDER BY w.personal_of IS NULL, w.name, w.id"
    ))
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Renames a workspace; its name before (`None`: no such workspace).
pub async fn rename(
    db: impl PgExecutor<'_>,
    id: Uuid,
    name: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE workspaces w SET name = $2, updated_at = now()
           FROM (SELECT id, name FROM workspaces WHERE id = $1 FOR NO KEY UPDATE) old
          WHERE w.id = old.id
          RETURNING old.name",
    )
    .bind(id)
    .bind(name)
    .fetch_optional(db)
    .await
}

/// Why a team workspace was or was not deleted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deletion {
    Deleted,
    /// Personal workspaces stay as long as their user.
    Personal,
    /// Runs are queued or running in it: nothing alive is cut off.
    ActiveRuns,
    /// It pays for a subscription that has not ended: cancel it first.
    Subscribed,
    /// A Checkout for it can still be paid (for up to an hour).
    CheckoutOpen,
}

/// Deletes a team workspace and everything it owns, in one statement, unless
/// it is personal, has runs that have not ended, or pays for a subscription
/// that has not ended or has a Checkout that can still be paid (deleting it
/// would leave Stripe billing nobody's plan).
pub async fn delete_team(db: impl PgExecutor<'_>, id: Uuid) -> Result<Deletion, sqlx::Error> {
    let (deleted, personal, subscribed, checkout): (bool, bool, bool, bool) = sqlx::query_as(
        "WITH d AS (
             DELETE FROM workspaces w
              WHERE w.id = $1 AND w.personal_of IS NULL
                AND NOT EXISTS (SELECT 1 FROM executions e
                                 WHERE e.workspace_id = w.id
                                   AND e.status IN ('queued', 'dispatching', 'running'))
                AND NOT EXISTS (SELECT 1 FROM subscriptions s
                                 WHERE s.workspace_id = w.id
                                   AND s.status NOT IN ('canceled', 'incomplete_expired'))
                AND (w.checkout_expires_at IS NULL OR w.checkout_expires_at < now())
             RETURNING w.id
         )
         SELECT EXISTS (SELECT 1 FROM d),
                EXISTS (SELECT 1 FROM workspaces WHERE id = $1 AND personal_of IS NOT NULL),
                EXISTS (SELECT 1 FROM subscriptions WHERE workspace_id = $1
                                   AND status NOT IN ('canceled', 'incomplete_expired')),
                EXISTS (SELECT 1 FROM workspaces WHERE id = $1 AND checkout_expires_at >= now())",
    )
    .bind(id)
    .fetch_one(db)
    .await?;
    Ok(match (deleted, personal, subscribed, checkout) {
        (true, ..) => Deletion::Deleted,
        (false, true, ..) => Deletion::Personal,
        (false, false, true, _) => Deletion::Subscribed,
        (false, false, false, true) => Deletion::CheckoutOpen,
        (false, false, false, false) => Deletion::ActiveRuns,
    })
}

/// The members, owner first, then by role and name.
pub async fn members(db: impl PgExecutor<'_>, id: Uuid) -> Result<Vec<MemberRow>, sqlx::Error> {
    sqlx::query_as::<_, MemberRow>(&format!(
        "SELECT {MEMBER} WHERE m.workspace_id = $1
          ORDER BY array_position(ARRAY['owner','admin','editor','viewer'], m.role), u.name, u.id"
    ))
    .bind(id)
    .fetch_all(db)
    .await
}

/// One member.
pub async fn member(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
) -> Result<Option<MemberRow>, sqlx::Error> {
    sqlx::query_as::<_, MemberRow>(&format!(
        "SELECT {MEMBER} WHERE m.workspace_id = $1 AND m.user_id = $2"
    ))
    .bind(id)
    .bind(user_id)
    .fetch_optional(db)
    .await
}

/// Changes a member's role from `from` to `to` (neither `owner`):
/// `false` when their role is no longer `from` (a concurrent change).
pub async fn change_role(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
    from: Role,
    to: Role,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE workspace_members SET role = $4
          WHERE workspace_id = $1 AND user_id = $2 AND role = $3 AND role <> 'owner'",
    )
    .bind(id)
    .bind(user_id)
    .bind(from)
    .bind(to)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Removes a member who is not the owner; `false` when there was none.
pub async fn remove(db: impl PgExecutor<'_>, id: Uuid, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2 AND role <> 'owner'",
    )
    .bind(id)
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Hands ownership from `owner` to the member `to` (who becomes owner; the
/// old owner becomes an admin), in one transaction: `false` when `owner` is
/// no longer the owner or `to` is not a member.
pub async fn transfer(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    owner: Uuid,
    to: Uuid,
) -> Result<bool, sqlx::Error> {
    let demoted = sqlx::query(
        "UPDATE workspace_members SET role = 'admin'
          WHERE workspace_id = $1 AND user_id = $2 AND role = 'owner'
            AND EXISTS (SELECT 1 FROM workspace_members WHERE workspace_id = $1 AND user_id = $3)",
    )
    .bind(id)
    .bind(owner)
    .bind(to)
    .execute(&mut **tx)
    .await?;
    if demoted.rows_affected() != 1 {
        return Ok(false);
    }
    let promoted = sqlx::query(
        "UPDATE workspace_members SET role = 'owner' WHERE workspace_id = $1 AND user_id = $2",
    )
    .bind(id)
    .bind(to)
    .execute(&mut **tx)
    .await?;
    Ok(promoted.rows_affected() == 1)
}

/// Sets a workspace's plan by hand (`local set-tier`), recorded in
/// `tier_changes` with the cause `admin`. With billing on, Stripe's next
/// word about the workspace's subscription decides again.
pub async fn set_tier(db: impl PgExecutor<'_>, id: Uuid, tier: Tier) -> Result<bool, sqlx::Error> {
    let done: i64 = sqlx::query_scalar(
        "WITH old AS (SELECT tier FROM workspaces WHERE id = $1 FOR NO KEY UPDATE),
              changed AS (UPDATE workspaces SET tier = $2, updated_at = now() WHERE id = $1 RETURNING id),
              recorded AS (INSERT INTO tier_changes (id, workspace_id, from_tier, to_tier, cause)
                           SELECT $3, $1, old.tier, $2, 'admin' FROM old WHERE old.tier <> $2 RETURNING 1)
         SELECT count(*) FROM changed",
    )
    .bind(id)
    .bind(tier)
    .bind(crate::ids::new_id())
    .fetch_one(db)
    .await?;
    Ok(done == 1)
}

/// A workspace's plan (`None`: no such workspace).
pub async fn tier(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Tier>, sqlx::Error> {
    sqlx::query_scalar("SELECT tier FROM workspaces WHERE id = $1")
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Whether a live workflow is in a workspace this user is a member of.
pub async fn can_see_workflow(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    workflow_id: Uuid,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM workflows w
                          JOIN workspace_members m ON m.workspace_id = w.workspace_id AND m.user_id = $1
                         WHERE w.id = $2 AND w.deleted_at IS NULL)",
    )
    .bind(user_id)
    .bind(workflow_id)
    .fetch_one(db)
    .await
}
