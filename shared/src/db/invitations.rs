//! The `workspace_invitations` table. A token's SHA-256 is stored, never the
//! token. Every answer to an invitation is a conditional update from
//! `pending`, so an invitation is used at most once; seats are counted with
//! the workspace row locked, so two invitations cannot take the last seat.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::{access::Role, tier::Tier};

/// How long an invitation stays valid (sending it again restarts the clock).
pub const VALID_FOR: chrono::Duration = chrono::Duration::days(7);

/// An invitation's stored state; a `Pending` one past its expiry is expired.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum Stored {
    Pending,
    Accepted,
    Declined,
    Revoked,
}

#[derive(Debug, Clone, FromRow)]
pub struct Invitation {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub email: String,
    pub role: Role,
    pub status: Stored,
    pub invited_by: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    pub sent_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub responded_at: Option<DateTime<Utc>>,
}

impl Invitation {
    pub fn expired(&self, now: DateTime<Utc>) -> bool {
        self.status == Stored::Pending && self.expires_at <= now
    }
}

const COLUMNS: &str = "id, workspace_id, email, role, status, invited_by, expires_at, sent_count, \
    created_at, updated_at, responded_at";

/// An invitation as its addressee sees it: where to and from whom.
#[derive(Debug, Clone, FromRow)]
pub struct Inbox {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub workspace_name: String,
    pub role: Role,
    pub invited_by_name: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

/// The workspace being invited into, locked for the rest of the transaction.
#[derive(Debug, Clone, FromRow)]
pub struct Target {
    pub name: String,
    pub personal: bool,
    pub tier: Tier,
    /// Members plus pending invitations that have not expired.
    pub seats_used: i64,
}

/// Locks the workspace row (serialising seat counts, and numbering activity)
/// without blocking inserts that reference it (`FOR NO KEY UPDATE`), then
/// reads it. Two
/// statements: a statement that waited for the lock still sees its own
/// start-time snapshot in subqueries, so counting in the locking statement
/// would miss what the transaction it waited for committed.
pub async fn lock_target(
    tx: &mut Transaction<'_, Postgres>,
    workspace_id: Uuid,
) -> Result<Option<Target>, sqlx::Error> {
    let locked: Option<Uuid> =
        sqlx::query_scalar("SELECT id FROM workspaces WHERE id = $1 FOR NO KEY UPDATE")
            .bind(workspace_id)
            .fetch_optional(&mut **tx)
            .await?;
    if locked.is_none() {
        return Ok(None);
    }
    sqlx::query_as(
        "SELECT w.name, w.personal_of IS NOT NULL AS personal, w.tier,
                (SELECT count(*) FROM workspace_members m WHERE m.workspace_id = w.id)
              + (SELECT count(*) FROM workspace_invitations i
                  WHERE i.workspace_id = w.id AND i.status = 'pending' AND i.expires_at > now())
                AS seats_used
           FROM workspaces w WHERE w.id = $1",
    )
    .bind(workspace_id)
    .fetch_optional(&mut **tx)
    .await
}

/// Whether the user with this email is a member of the workspace.
pub async fn is_member(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    email: &str,
) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM workspace_members m JOIN users u ON u.id = m.user_id
                         WHERE m.workspace_id = $1 AND u.email = $2)",
    )
    .bind(workspace_id)
    .bind(email)
    .fetch_one(db)
    .await
}

/// The pending invitation (expired or not) for this address.
pub async fn pending_for(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    email: &str,
) -> Result<Option<Invitation>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workspace_invitations
          WHERE workspace_id = $1 AND email = $2 AND status = 'pending'"
    ))
    .bind(workspace_id)
    .bind(email)
    .fetch_optional(db)
    .await
}

/// What a new invitation holds.
#[derive(Debug, Clone)]
pub struct NewInvitation<'a> {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub email: &'a str,
    pub role: Role,
    pub token_hash: &'a [u8],
    pub invited_by: Uuid,
}

pub async fn insert(
    db: impl PgExecutor<'_>,
    new: &NewInvitation<'_>,
) -> Result<Invitation, sqlx::Error> {
    sqlx::query_as(&format!(
        "INSERT INTO workspace_invitations (id, workspace_id, email, role, token_hash, invited_by, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, now() + $7)
         RETURNING {COLUMNS}"
    ))
    .bind(new.id)
    .bind(new.workspace_id)
    .bind(new.email)
    .bind(new.role)
    .bind(new.token_hash)
    .bind(new.invited_by)
    .bind(VALID_FOR)
    .fetch_one(db)
    .await
}

/// Sends a pending invitation again: a new token (the old link stops
/// working), a new expiry, and — when given — a new role and inviter.
pub async fn renew(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
    token_hash: &[u8],
    role: Option<Role>,
    invited_by: Uuid,
) -> Result<Option<Invitation>, sqlx::Error> {
    sqlx::query_as(&format!(
        "UPDATE workspace_invitations
            SET token_hash = $3, role = coalesce($4, role), invited_by = $5,
                expires_at = now() + $6, sent_count = sent_count + 1, updated_at = now()
          WHERE workspace_id = $1 AND id = $2 AND status = 'pending'
          RETURNING {COLUMNS}"
    ))
    .bind(workspace_id)
    .bind(id)
    .bind(token_hash)
    .bind(role)
    .bind(invited_by)
    .bind(VALID_FOR)
    .fetch_optional(db)
    .await
}

/// A workspace's pending invitations (expired ones too), newest first.
pub async fn pending(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
) -> Result<Vec<Invitation>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workspace_invitations
          WHERE workspace_id = $1 AND status = 'pending'
          ORDER BY created_at DESC, id DESC"
    ))
    .bind(workspace_id)
    .fetch_all(db)
    .await
}

pub async fn find(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Invitation>, sqlx::Error> {
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workspace_invitations WHERE workspace_id = $1 AND id = $2"
    ))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// The invitation a token opens. Every change of an invitation locks its
/// workspace first ([`lock_target`]), then the invitation: one lock order,
/// so answering, resending and revoking never deadlock.
pub async fn by_token(
    tx: &mut Transaction<'_, Postgres>,
    token_hash: &[u8],
) -> Result<Option<Invitation>, sqlx::Error> {
    let Some(workspace_id) = sqlx::query_scalar::<_, Uuid>(
        "SELECT workspace_id FROM workspace_invitations WHERE token_hash = $1",
    )
    .bind(token_hash)
    .fetch_optional(&mut **tx)
    .await?
    else {
        return Ok(None);
    };
    sqlx::query("SELECT 1 FROM workspaces WHERE id = $1 FOR NO KEY UPDATE")
        .bind(workspace_id)
        .execute(&mut **tx)
        .await?;
    sqlx::query_as(&format!(
        "SELECT {COLUMNS} FROM workspace_invitations WHERE token_hash = $1 FOR UPDATE"
    ))
    .bind(token_hash)
    .fetch_optional(&mut **tx)
    .await
}

/// Answers a pending invitation (`accepted`, `declined` or `revoked`):
/// `false` when it was no longer pending.
pub async fn close(
    db: impl PgExecutor<'_>,
    id: Uuid,
    to: Stored,
    by: Uuid,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE workspace_invitations
            SET status = $2, responded_at = now(), responded_by = $3, updated_at = now()
          WHERE id = $1 AND status = 'pending'",
    )
    .bind(id)
    .bind(to)
    .bind(by)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// The pending, unexpired invitations addressed to `email`, newest first.
pub async fn inbox(db: impl PgExecutor<'_>, email: &str) -> Result<Vec<Inbox>, sqlx::Error> {
    sqlx::query_as(
        "SELECT i.id, i.workspace_id, w.name AS workspace_name, i.role,
                u.name AS invited_by_name, i.expires_at, i.created_at
           FROM workspace_invitations i
           JOIN workspaces w ON w.id = i.workspace_id
           LEFT JOIN users u ON u.id = i.invited_by
          WHERE i.email = $1 AND i.status = 'pending' AND i.expires_at > now()
          ORDER BY i.created_at DESC, i.id DESC",
    )
    .bind(email)
    .fetch_all(db)
    .await
}
