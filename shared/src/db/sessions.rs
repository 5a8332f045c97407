//! Refresh-token families: one per sign-in, rotated on every refresh.
//!
//! Rotation is a conditional UPDATE (`rotated_at IS NULL`), so two concurrent
//! refreshes with the same token cannot both succeed: the loser sees a rotated
//! token, which is exactly reuse, and the family is revoked.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

/// Why a family was revoked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RevokeReason {
    Logout,
    ReuseDetected,
    /// The password was reset or changed.
    PasswordChanged,
    /// The address was proven by someone else than whoever set the password
    /// of an unverified account (one-time code): that password is void.
    AccountSecured,
    /// The user asked for the account to be deleted.
    AccountDeleted,
}

impl RevokeReason {
    fn as_str(self) -> &'static str {
        match self {
            RevokeReason::Logout => "logout",
            RevokeReason::ReuseDetected => "reuse_detected",
            RevokeReason::PasswordChanged => "password_changed",
            RevokeReason::AccountSecured => "account_secured",
            RevokeReason::AccountDeleted => "account_deleted",
        }
    }
}

pub async fn create_family(
    db: impl PgExecutor<'_>,
    id: Uuid,
    user_id: Uuid,
) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT INTO refresh_token_families (id, user_id) VALUES ($1, $2)")
        .bind(id)
        .bind(user_id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn insert_token(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
    family_id: Uuid,
    expires_at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO refresh_tokens (token_hash, family_id, expires_at) VALUES ($1, $2, $3)
         ON CONFLICT (token_hash) DO NOTHING",
    )
    .bind(token_hash)
    .bind(family_id)
    .bind(expires_at)
    .execute(db)
    .await?;
    Ok(())
}

/// What presenting a refresh token found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rotation {
    /// The token was current; it is now rotated. The caller issues the next
    /// one, derived from the token and `rotated_at`.
    Rotated {
        family_id: Uuid,
        user_id: Uuid,
        rotated_at: DateTime<Utc>,
    },
    /// The token was rotated less than the grace window ago (two tabs, a
    /// retry after a lost response): the caller issues the same next pair.
    Replayed {
        family_id: Uuid,
        user_id: Uuid,
        rotated_at: DateTime<Utc>,
    },
    /// The token had already been rotated: reuse. The family is now revoked.
    Reused { family_id: Uuid },
    /// The family was signed out earlier.
    Revoked,
    /// Expired in the store.
    Expired,
    /// Not a token we issued (or its user is gone).
    Unknown,
}

/// Marks the token as rotated if it is current, inside `tx`; a token rotated
/// within `grace` is a replay; later, reuse, which revokes its family in the
/// same transaction.
pub async fn rotate(
    tx: &mut Transaction<'_, Postgres>,
    token_hash: &[u8],
    grace: std::time::Duration,
) -> Result<Rotation, sqlx::Error> {
    #[derive(FromRow)]
    struct Claimed {
        family_id: Uuid,
        user_id: Uuid,
        rotated_at: DateTime<Utc>,
    }
    let claimed = sqlx::query_as::<_, Claimed>(
        "UPDATE refresh_tokens t SET rotated_at = now()
           FROM refresh_token_families f
          WHERE t.token_hash = $1 AND t.rotated_at IS NULL AND t.expires_at > now()
            AND f.id = t.family_id AND f.revoked_at IS NULL
         RETURNING t.family_id, f.user_id, t.rotated_at",
    )
    .bind(token_hash)
    .fetch_optional(&mut **tx)
    .await?;
    if let Some(c) = claimed {
        return Ok(Rotation::Rotated {
            family_id: c.family_id,
            user_id: c.user_id,
            rotated_at: c.rotated_at,
        });
    }

    #[derive(FromRow)]
    struct State {
        family_id: Uuid,
        user_id: Uuid,
        rotated_at: Option<DateTime<Utc>>,
        in_grace: bool,
        expired: bool,
        revoked: bool,
    }
    let state = sqlx::query_as::<_, State>(
        "SELECT t.family_id, f.user_id, t.rotated_at,
                COALESCE(t.rotated_at > now() - make_interval(secs => $2), false) AS in_grace,
                t.expires_at <= now() AS expired, f.revoked_at IS NOT NULL AS revoked
           FROM refresh_tokens t JOIN refresh_token_families f ON f.id = t.family_id
          WHERE t.token_hash = $1",
    )
    .bind(token_hash)
    .bind(grace.as_secs_f64())
    .fetch_optional(&mut **tx)
    .await?;
    Ok(match state {
        None => Rotation::Unknown,
        Some(s) if s.revoked => Rotation::Revoked,
        Some(State {
            family_id,
            user_id,
            rotated_at: Some(rotated_at),
            in_grace: true,
            expired: false,
            ..
        }) => Rotation::Replayed {
            family_id,
            user_id,
            rotated_at,
        },
        Some(s) if s.rotated_at.is_some() => {
            revoke_family(&mut **tx, s.family_id, RevokeReason::ReuseDetected).await?;
            Rotation::Reused {
                family_id: s.family_id,
            }
        }
        Some(s) if s.expired => Rotation::Expired,
        Some(_) => Rotation::Unknown,
    })
}

/// Revokes a family; idempotent (an already revoked family keeps its first reason).
/// Returns whether this call revoked it.
pub async fn revoke_family(
    db: impl PgExecutor<'_>,
    family_id: Uuid,
    reason: RevokeReason,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE refresh_token_families SET revoked_at = now(), revoked_reason = $2
          WHERE id = $1 AND revoked_at IS NULL",
    )
    .bind(family_id)
    .bind(reason.as_str())
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Revokes every live sign-in of a user but `except` (the caller's own, on a
/// password change); returns the revoked families, whose connections close.
pub async fn revoke_all(
    db: impl PgExecutor<'_>,
    user_id: Uuid,
    except: Option<Uuid>,
    reason: RevokeReason,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "UPDATE refresh_token_families SET revoked_at = now(), revoked_reason = $3
          WHERE user_id = $1 AND revoked_at IS NULL AND ($2::uuid IS NULL OR id <> $2)
         RETURNING id",
    )
    .bind(user_id)
    .bind(except)
    .bind(reason.as_str())
    .fetch_all(db)
    .await
}

/// When a sign-in session began.
pub async fn started_at(
    db: impl PgExecutor<'_>,
    family_id: Uuid,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    sqlx::query_scalar("SELECT created_at FROM refresh_token_families WHERE id = $1")
        .bind(family_id)
        .fetch_optional(db)
        .await
}

/// The family a token belongs to, if we issued it.
pub async fn family_of(
    db: impl PgExecutor<'_>,
    token_hash: &[u8],
) -> Result<Option<Uuid>, sqlx::Error> {
    sqlx::query_scalar("SELECT family_id FROM refresh_tokens WHERE token_hash = $1")
        .bind(token_hash)
        .fetch_optional(db)
        .await
}

/// Whether a sign-in session has been revoked (a session we never stored
/// is not: its tokens were signed by us all the same).
pub async fn is_revoked(db: impl PgExecutor<'_>, family_id: Uuid) -> Result<bool, sqlx::Error> {
    let revoked: Option<bool> = sqlx::query_scalar(
        "SELECT revoked_at IS NOT NULL FROM refresh_token_families WHERE id = $1",
    )
    .bind(family_id)
    .fetch_optional(db)
    .await?;
    Ok(revoked.unwrap_or(false))
}

/// Sessions revoked since `since` (the sweeper closes their connections
/// again, in case the close at revocation did not reach them).
pub async fn revoked_since(
    db: impl PgExecutor<'_>,
    since: DateTime<Utc>,
) -> Result<Vec<Uuid>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT id FROM refresh_token_families WHERE revoked_at >= $1 ORDER BY revoked_at LIMIT 1000",
    )
    .bind(since)
    .fetch_all(db)
    .await
}
