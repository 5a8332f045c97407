//! The `users` table.

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

const COLUMNS: &str = "id, email, name, avatar_url, tier, created_at, updated_at";

pub struct NewUser<'a> {
    pub id: Uuid,
    pub email: &'a str,
    pub name: &'a str,
    pub password_hash: &'a str,
}

/// Inserts a user. A taken email fails with the `users_email_key` unique violation.
pub async fn insert(db: impl PgExecutor<'_>, new: NewUser<'_>) -> Result<User, sqlx::Error> {
    sqlx::query_as::<_, User>(&format!(
        "INSERT INTO users (id, email, name, password_hash) VALUES ($1, $2, $3, $4) RETURNING {COLUMNS}"
    ))
    .bind(new.id)
    .bind(new.email)
    .bind(new.name)
    .bind(new.password_hash)
    .fetch_one(db)
    .await
}

pub async fn find(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<User>, sqlx::Error> {
    sqlx::query_as::<_, User>(&format!("SELECT {COLUMNS} FROM users WHERE id = $1"))
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
        "SELECT {COLUMNS}, password_hash FROM users WHERE email = $1"
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
        "UPDATE users SET
             name = COALESCE($2, name),
             avatar_url = CASE WHEN $3 THEN $4 ELSE avatar_url END,
             updated_at = now()
         WHERE id = $1
         RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(change.name.as_deref())
    .bind(change.avatar_url.is_some())
    .bind(change.avatar_url.clone().flatten())
    .fetch_optional(db)
    .await
}

/// Sets a user's tier by email (Stripe webhooks later; the local admin command now).
pub async fn set_tier(
    db: impl PgExecutor<'_>,
    email: &str,
    tier: Tier,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query("UPDATE users SET tier = $1, updated_at = now() WHERE email = $2")
        .bind(tier)
        .bind(email.trim().to_lowercase())
        .execute(db)
        .await?;
    Ok(done.rows_affected() == 1)
}
