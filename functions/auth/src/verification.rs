//! Email verification: a single-use link (256 random bits, stored as its
//! SHA-256) sent at sign-up and on request; following it proves the address.

use axum::{extract::State, http::StatusCode};
use chrono::Utc;
use shared::{
    auth::{jwt::fingerprint, opaque, AuthUser, Email},
    db::{
        account_tokens::{self, Purpose, Redeemed},
        users,
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ApiError, ApiResult, AppState,
};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::{
    account_dto::{Accepted, LinkToken},
    dto::UserView,
    handlers::account_gone,
    mail::{self, Mail},
};

/// A verification link's token, stored for `user_id` (earlier links retired).
pub struct Link {
    pub token: String,
    pub expires_at: chrono::DateTime<Utc>,
}

pub async fn new_link(
    tx: &mut Transaction<'_, Postgres>,
    state: &AppState,
    user_id: Uuid,
    email: &Email,
) -> ApiResult<Link> {
    let token = opaque::new_token();
    let ttl =
        chrono::Duration::from_std(state.settings.auth.verify_ttl).map_err(ApiError::internal)?;
    let expires_at = Utc::now() + ttl;
    account_tokens::retire(&mut **tx, user_id, Purpose::VerifyEmail).await?;
    account_tokens::insert(
        &mut **tx,
        &fingerprint(&token),
        user_id,
        Purpose::VerifyEmail,
        email.as_str(),
        expires_at,
    )
    .await?;
    Ok(Link { token, expires_at })
}

pub async fn send(state: &AppState, name: &str, email: &Email, link: &Link) -> ApiResult<()> {
    mail::deliver(
        state,
        email.as_str(),
        &Mail::Verify {
            name,
            token: &link.token,
        },
        link.expires_at,
    )
    .await
}

/// Prove your email address with the token of the link we sent.
///
/// Signed in to the account the link was sent for (the web app sends its
/// access token): a link followed by someone else verifies nothing, so an
/// account someone made with your address stays unverified until you take it
/// over with a one-time code, a password reset or a provider sign-in.
#[utoipa::path(
    operation_id = "auth_verify_email",
    post, path = "/api/v1/auth/verify-email", tag = "auth",
    security(("bearer" = [])),
    request_body = LinkToken,
    responses(
        (status = 200, description = "Verified (also when it already was)", body = UserView),
        (status = 400, description = "Not a link token (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "Missing, expired or invalid access token", body = ErrorEnvelope),
        (status = 403, description = "An API key cannot do this (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No such link for the signed-in account (NOT_FOUND)", body = ErrorEnvelope),
        (status = 410, description = "The link expired (LINK_EXPIRED) or was used already (LINK_USED)", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn verify_email(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<LinkToken>,
) -> ApiResult<Json<UserView>> {
    let token = body.parse()?;
    let mut tx = state.db.begin().await?;
    let used =
        match account_tokens::redeem(&mut tx, &fingerprint(token), Purpose::VerifyEmail).await? {
            // Another account's link: not spent (the transaction rolls back).
            Redeemed::Done(used) if used.user_id != caller.user_id => {
                return Err(ApiError::not_found("link"))
            }
            Redeemed::Done(used) => used,
            other => return Err(link_refused(&other)),
        };
    // The link proves the address it was sent to; an account that changed
    // address since is not verified by it.
    if !users::mark_verified(&mut *tx, used.user_id, &used.email).await? {
        return Err(ApiError::not_found("link"));
    }
    tx.commit().await?;
    let user = users::find(&state.db, used.user_id)
        .await?
        .ok_or_else(account_gone)?;
    tracing::info!(user_id = %user.id, "email verified");
    Ok(Json(user.into()))
}

/// Why a link was refused.
pub fn link_refused(r: &Redeemed) -> ApiError {
    match r {
        Redeemed::AlreadyUsed => ApiError::new(
            ErrorCode::LinkUsed,
            "this link was used already; each works once",
        ),
        Redeemed::Expired => ApiError::new(
            ErrorCode::LinkExpired,
            "this link has expired; ask for a new one",
        ),
        Redeemed::Unknown | Redeemed::Done(_) => ApiError::not_found("link"),
    }
}

/// Send a new verification link to the signed-in user's address (the
/// earlier ones stop working).
#[utoipa::path(
    operation_id = "auth_resend_verification",
    post, path = "/api/v1/auth/verify-email/resend", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 202, description = "A new link is on its way (none past the address's mail limit)", body = Accepted),
        (status = 401, description = "Missing, expired or invalid access token", body = ErrorEnvelope),
        (status = 403, description = "An API key cannot do this (FORBIDDEN)", body = ErrorEnvelope),
        (status = 409, description = "The address is verified already (CONFLICT)", body = ErrorEnvelope),
        (status = 429, description = "Too many requests (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database or email unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn resend(
    State(state): State<AppState>,
    caller: AuthUser,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let user = users::find(&state.db, caller.user_id)
        .await?
        .ok_or_else(account_gone)?;
    if user.email_verified_at.is_some() {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "your email address is verified already",
        ));
    }
    let email = Email::parse(&user.email).map_err(|m| ApiError::internal(anyhow::anyhow!(m)))?;
    if !mail::may_send(&state, email.as_str()).await? {
        // The earlier link still works.
        return Ok((StatusCode::ACCEPTED, Json(Accepted::email_on_its_way())));
    }
    let mut tx = state.db.begin().await?;
    let link = new_link(&mut tx, &state, user.id, &email).await?;
    tx.commit().await?;
    send(&state, &user.name, &email, &link).await?;
    Ok((StatusCode::ACCEPTED, Json(Accepted::email_on_its_way())))
}
