//! The `users` table. A user's tier is their personal workspace's plan
//! (the workspace with the user's id), read with the user.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::tier::Tier;

/// A user as stored, without the password hash.
#[derive(Debug, Clone, FromRow)]
pub struct User {
    pub id: Uuid,
    pub email: String,
    pub name: String,
    pub avatar_url: Option<String>,
    pub tier: Tier,
    /// When the address was proven; `None`: not yet.
    pub email_verified_at: Option<DateTime<Utc>>,
    /// Whether the account can sign in with a password (accounts made with a
    /// one-time code have none until they reset one).
    pub has_password: bool,
    /// The user asked for the account to be deleted; it is on its way out.
    pub deleting: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "u.id, u.email, u.name, u.avatar_url, w.tier, u.email_verified_at, \
     u.password_hash IS NOT NULL AS has_password, u.deletion_requested_at IS NOT NULL AS deleting, \
     u.created_at, u.updated_at";
/// A user joined with their personal workspace.
const FROM: &str = "users u JOIN workspaces w ON w.id = u.id";

pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub name: &'a str,
    /// `None`: a passwordless account (made with a one-time code).
    pub password_hash: Option<&'a str>,
    /// Whether the address is already proven (a one-time code).
    pub verified: bool,
}

/// Inserts a user with their personal workspace (same id; they own it), in
/// one statement. A taken email fails with the `users_email_key` unique violation.
pub async fn insert(db: impl PgExecutor<'_>, new: NewUser<'_>) -> Result<User, sqlx::Error> {
    sqlx::query_as::<_, User>(&format!(
        "WITH u AS (
             INSERT INTO users (id, email, name, password_hash, email_verified_at)
             VALUES ($1, $2, $3, $4, CASE WHEN $5 THEN now() END) RETURNING *
         ), w AS (
             INSERT INTO workspaces (id, name, personal_of) SELECT id, 'Personal', id FROM u RETURNING *
         ), m AS (
             INSERT INTO workspace_members (workspace_id, user_id, role) SELECT id, id, 'owner' FROM u
         )
         SELECT {COLUMNS} FROM u JOIN w ON w.id = u.id"
    ))
    .bind(new.id)
    .bind(new.email)
    .bind(new.name)
    .bind(new.password_hash)
    .bind(new.verified)
    .fetch_one(db)
    .await
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(&format!("SELECT {COLUMNS} FROM {FROM} WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The user with this (normalised) email.
pub async fn by_email(db: impl PgExecutor<'_>, email: &str) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(&format!("SELECT {COLUMNS} FROM {FROM} WHERE u.email = $1"))
        .bind(email)
        .fetch_optional(db)
        .await
}

/// The user with this (normalised) email and their password hash, if they
/// have one; an account being deleted is not found.
pub async fn find_credentials(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<(User, Option<String>)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        password_hash: Option<String>,
    }
    let row = sqlx::query_as::<_, Row>(&format!(
        "SELECT {COLUMNS}, u.password_hash FROM {FROM} WHERE u.email = $1 AND u.deletion_requested_at IS NULL"
    ))
    .bind(email)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.user, r.password_hash)))
}

/// The password hash of a user, if they have one.
pub async fn password_hash(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<String>, sqlx::Error> {
    let hash: Option<Option<String>> =
        sqlx::query_scalar("SELECT password_hash FROM users WHERE id = $1")
            .bind(id)
            .fetch_optional(db)
            .await?;
    Ok(hash.flatten())
}

/// Marks the address proven, if the account still has it. Returns whether
/// the account is verified now.
pub async fn mark_verified(
    db: impl PgExecutor<'_>,
    id: Uuid,
    email: &str,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE users SET email_verified_at = COALESCE(email_verified_at, now()), updated_at = now()
          WHERE id = $1 AND email = $2",
    )
    .bind(id)
    .bind(email)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Sets (or, with `None`, removes) the password.
pub async fn set_password(
    db: impl PgExecutor<'_>,
    id: Uuid,
    hash: Option<&str>,
) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE users SET password_hash = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(hash)
        .execute(db)
        .await?;
    Ok(())
}

/// A change to a user's profile; `None` leaves a field as it is,
/// `avatar_url: Some(None)` clears the avatar.
#[derive(Debug, Default)]
pub struct ProfileUpdate {
    pub name: Option<String>,
    pub avatar_url: Option<Option<String>>,
}

pub async fn update_profile(
    db: impl PgExecutor<'_>,
    id: Uuid,
    change: &ProfileUpdate,
) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(&format!(
        "WITH u AS (
             UPDATE users SET
                 name = COALESCE($2, name),
                 avatar_url = CASE WHEN $3 THEN $4 ELSE avatar_url END,
                 updated_at = now()
             WHERE id = $1
             RETURNING *
         )
         SELECT {COLUMNS} FROM u JOIN workspaces w ON w.id = u.id"
    ))
    .bind(id)
    .bind(change.name.as_deref())
    .bind(change.avatar_url.is_some())
    .bind(change.avatar_url.clone().flatten())
    .fetch_optional(db)
    .await
}

/// Sets the plan of a user's personal workspace by hand, by email (`local
/// set-tier`; see [`super::workspaces::set_tier`]).
pub async fn set_tier(db: &sqlx::PgPool, email: &str, tier: Tier) -> Result<bool, sqlx::Error> {
    let id: Option<Uuid> = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email.trim().to_lowercase())
        .fetch_optional(db)
        .await?;
    match id {
        Some(id) => super::workspaces::set_tier(db, id, tier).await,
        None => Ok(false),
    }
}
