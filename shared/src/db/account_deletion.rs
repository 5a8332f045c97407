//! Deleting an account: asked for by the user, finished by the sweeper once
//! the runs of the workspaces that go with it have ended and Stripe has
//! forgotten their customers. What goes: the personal workspace and every
//! team workspace the user owns alone; a team that gained members since the
//! request is handed to its most senior member instead.

use sqlx::{FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

/// Marks the account for deletion; false when it already was.
pub async fn request(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET deletion_requested_at = now(), updated_at = now()
          WHERE id = $1 AND deletion_requested_at IS NULL",
    )
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// A team workspace the user owns that others belong to.
#[derive(Debug, Clone, FromRow)]
pub struct SharedTeam {
    pub id: Uuid,
    pub name: String,
    pub members: i64,
}

/// Team workspaces the user owns with other members in them: the user must
/// hand them on or empty them before asking for deletion.
pub async fn shared_teams(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
) -> Result<Vec<SharedTeam>, sqlx::Error> {
    sqlx::query_as::<_, SharedTeam>(
        "SELECT w.id, w.name, (SELECT count(*) FROM workspace_members o WHERE o.workspace_id = w.id) AS members
           FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
          WHERE m.user_id = $1 AND m.role = 'owner' AND w.personal_of IS NULL
            AND EXISTS (SELECT 1 FROM workspace_members o WHERE o.workspace_id = w.id AND o.user_id <> $1)
          ORDER BY w.name",
    )
    .bind(user_id)
    .fetch_all(db)
    .await
}

/// Accounts waiting to be deleted, oldest request first.
pub async fn pending(db: impl PgExecutor<'_>, limit: i64) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM users WHERE deletion_requested_at IS NOT NULL
          ORDER BY deletion_requested_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// A workspace that goes with the account.
#[derive(Debug, Clone, FromRow)]
pub struct Going {
    pub id: Uuid,
    pub personal: bool,
    pub stripe_customer_id: Option<String>,
}

/// Hands every team the user owns that has other members to the most senior
/// of them (admins first, then editors, then by when they joined), under the
/// workspace's lock; then the workspaces that go with the account.
pub async fn settle(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
) -> Result<Vec<Going>, sqlx::Error> {
    let heirs: Vec<(Uuid, Uuid)> = sqlx::query_as(
        "SELECT DISTINCT ON (o.workspace_id) o.workspace_id, o.user_id
           FROM workspaces w
           JOIN workspace_members m ON m.workspace_id = w.id AND m.user_id = $1 AND m.role = 'owner'
           JOIN workspace_members o ON o.workspace_id = w.id AND o.user_id <> $1
          WHERE w.personal_of IS NULL
          ORDER BY o.workspace_id, (o.role = 'admin') DESC, (o.role = 'editor') DESC, o.joined_at, o.user_id",
    )
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await?;
    for (workspace, heir) in heirs {
        sqlx::query("SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE")
            .bind(workspace)
            .execute(&mut **tx)
            .await?;
        // The heir left meanwhile: the next sweep picks another.
        if !super::workspaces::transfer(tx, workspace, user_id, heir).await? {
            return Err(sqlx::Error::RowNotFound);
        }
    }
    sqlx::query_as::<_, Going>(
        "SELECT w.id, w.personal_of IS NOT NULL AS personal, w.stripe_customer_id
           FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id
          WHERE m.user_id = $1 AND m.role = 'owner'
          ORDER BY w.personal_of IS NOT NULL, w.id",
    )
    .bind(user_id)
    .fetch_all(&mut **tx)
    .await
}

/// Runs not ended in these workspaces.
pub async fn active_runs(
    db: impl PgExecutor<'_>,
    workspaces: &[Uuid],
) -> Result<Vec<(Uuid, Uuid)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT workspace_id, id FROM executions
          WHERE workspace_id = ANY($1) AND status IN ('queued', 'dispatching', 'running')",
    )
    .bind(workspaces)
    .fetch_all(db)
    .await
}

/// Deletes the workspaces and the account, unless a run in them has not
/// ended or someone joined one since [`settle`] (then nothing is deleted and
/// the sweeper tries again, handing that one on first). The
/// workspaces are locked first, in id order, as billing and runs lock them,
/// so the cascade does not deadlock with a webhook or a run ending.
pub async fn finish(
    tx: &mut Transaction<'_, Postgres>,
    user_id: Uuid,
    workspaces: &[Uuid],
) -> Result<bool, sqlx::Error> {
    sqlx::query("SELECT id FROM workspaces WHERE id = ANY($1) ORDER BY id FOR UPDATE")
        .bind(workspaces)
        .execute(&mut **tx)
        .await?;
    let deleted: bool = sqlx::query_scalar(
        "WITH ok AS (
             SELECT NOT EXISTS (SELECT 1 FROM executions
                                 WHERE workspace_id = ANY($2)
                                   AND status IN ('queued', 'dispatching', 'running'))
                AND NOT EXISTS (SELECT 1 FROM workspace_members
                                 WHERE workspace_id = ANY($2) AND user_id <> $1) AS ok
         ), w AS (
             DELETE FROM workspaces WHERE id = ANY($2) AND personal_of IS NULL AND (SELECT ok FROM ok)
         ), u AS (
             DELETE FROM users WHERE id = $1 AND deletion_requested_at IS NOT NULL AND (SELECT ok FROM ok)
             RETURNING id
         )
         SELECT EXISTS (SELECT 1 FROM u)",
    )
    .bind(user_id)
    .bind(workspaces)
    .fetch_one(&mut **tx)
    .await?;
    Ok(deleted)
}
