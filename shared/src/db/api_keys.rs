//! API keys. A key row references its member (workspace, user), so it is
//! deleted when the member leaves; finding a key reads the member's current
//! role and the workspace's plan in the same query.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::{access::Role, auth::api_key::Scope, tier::Tier};

/// A key as lists show it.
#[derive(Debug, Clone, FromRow)]
pub struct KeyRow {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub user_id: Uuid,
    pub name: String,
    pub public_id: String,
    pub scopes: Vec<String>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, workspace_id, user_id, name, public_id, scopes, expires_at, last_used_at, revoked_at, created_at";

pub struct NewKey<'a> {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub user_id: Uuid,
    pub name: &'a str,
    pub public_id: &'a str,
    pub secret_hash: &'a [u8],
    pub scopes: &'a [Scope],
    pub expires_at: Option<DateTime<Utc>>,
}

pub async fn insert(db: impl PgExecutor<'_>, k: NewKey<'_>) -> Result<KeyRow, sqlx::Error> {
    let scopes: Vec<&str> = k.scopes.iter().map(|s| s.as_str()).collect();
    sqlx::query_as::<_, KeyRow>(&format!(
        "INSERT INTO api_keys (id, workspace_id, user_id, name, public_id, secret_hash, scopes, expires_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    ))
    .bind(k.id)
    .bind(k.workspace_id)
    .bind(k.user_id)
    .bind(k.name)
    .bind(k.public_id)
    .bind(k.secret_hash)
    .bind(&scopes)
    .bind(k.expires_at)
    .fetch_one(db)
    .await
}

/// Keys in a workspace that are not revoked, newest first: every member's
/// when `of_user` is `None`, else one member's.
pub async fn list(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    of_user: Option<Uuid>,
) -> Result<Vec<KeyRow>, sqlx::Error> {
    sqlx::query_as::<_, KeyRow>(&format!(
        "SELECT {COLUMNS} FROM api_keys
          WHERE workspace_id = $1 AND ($2::uuid IS NULL OR user_id = $2) AND revoked_at IS NULL
          ORDER BY created_at DESC, id DESC LIMIT 500"
    ))
    .bind(workspace_id)
    .bind(of_user)
    .fetch_all(db)
    .await
}

/// Live keys one member holds in a workspace (the per-member cap).
pub async fn count_live(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    user_id: Uuid,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT count(*) FROM api_keys WHERE workspace_id = $1 AND user_id = $2
            AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())",
    )
    .bind(workspace_id)
    .bind(user_id)
    .fetch_one(db)
    .await
}

pub async fn find(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<KeyRow>, sqlx::Error> {
    sqlx::query_as::<_, KeyRow>(&format!(
        "SELECT {COLUMNS} FROM api_keys WHERE workspace_id = $1 AND id = $2"
    ))
    .bind(workspace_id)
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Revokes a key; idempotent. Returns whether this call revoked it.
pub async fn revoke(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    let done =
        sqlx::query("UPDATE api_keys SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL")
            .bind(id)
            .execute(db)
            .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every live key a user holds, in every workspace (a password reset,
/// a secured or deleted account: keys made by whoever had access stop too).
pub async fn revoke_all_of(db: impl PgExecutor<'_>, user_id: Uuid) -> Result<u64, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE api_keys SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL",
    )
    .bind(user_id)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// A key found by its public id, with its member's role and the plan.
#[derive(Debug, Clone, FromRow)]
pub struct Holder {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub user_id: Uuid,
    pub secret_hash: Vec<u8>,
    pub scopes: Vec<String>,
    pub expired: bool,
    pub revoked: bool,
    pub role: Role,
    pub tier: Tier,
}

pub async fn holder(
    db: impl PgExecutor<'_>,
    public_id: &str,
) -> Result<Option<Holder>, sqlx::Error> {
    sqlx::query_as::<_, Holder>(
        "SELECT k.id, k.workspace_id, k.user_id, k.secret_hash, k.scopes,
                COALESCE(k.expires_at <= now(), false) AS expired, k.revoked_at IS NOT NULL AS revoked,
                m.role, w.tier
           FROM api_keys k
           JOIN workspace_members m ON m.workspace_id = k.workspace_id AND m.user_id = k.user_id
           JOIN workspaces w ON w.id = k.workspace_id
          WHERE k.public_id = $1",
    )
    .bind(public_id)
    .fetch_optional(db)
    .await
}

/// Records a use, at most once a minute per key (a write per request would
/// make every call a hot row update).
pub async fn touch(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE api_keys SET last_used_at = now()
          WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - interval '1 minute')",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(())
}
