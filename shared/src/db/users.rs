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
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "u.id, u.email, u.name, u.avatar_url, w.tier, u.created_at, u.updated_at";
/// A user joined with their personal workspace.
const FROM: &str = "users u JOIN workspaces w ON w.id = u.id";

pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
}

/// Inserts a user with their personal workspace (same id; they own it), in
/// one statement. A taken email fails with the `users_email_key` unique violation.
pub async fn insert(db: impl PgExecutor<'_>, new: NewUser<'_>) -> Result<User, sqlx::Error> {
    sqlx::query_as::<_, User>(&format!(
        "WITH u AS (
             INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) RETURNING *
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
    .fetch_one(db)
    .await
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(&format!("SELECT {COLUMNS} FROM {FROM} WHERE u.id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// The user with this (normalised) email and their password hash.
pub async fn find_credentials(
    db: impl PgExecutor<'_>,
    email: &str,
) -> Result<Option<(User, String)>, sqlx::Error> {
    #[derive(FromRow)]
    struct Row {
        #[sqlx(flatten)]
        user: User,
        password_hash: String,
    }
    let row = sqlx::query_as::<_, Row>(&format!(
        "SELECT {COLUMNS}, u.password_hash FROM {FROM} WHERE u.email = $1"
    ))
    .bind(email)
    .fetch_optional(db)
    .await?;
    Ok(row.map(|r| (r.user, r.password_hash)))
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
