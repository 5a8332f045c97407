//! Password reset (a single-use link, 30 minutes; the reset signs out every
//! session) and password change (needs the current password; signs out
//! every other session).

use axum::{extract::State, http::StatusCode};
use chrono::Utc;
use shared::{
    auth::{jwt::fingerprint, opaque, password, AuthUser, ClientIp, Email},
    db::{
        account_tokens::{self, Purpose, Redeemed},
        api_keys,
        sessions::{self, RevokeReason},
        users,
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ratelimit::{self, Bucket, Limit},
    ApiError, ApiResult, AppState,
};

use crate::{
    account_dto::{Accepted, ChangePassword, ForgotPassword, ResetPassword},
    dto::new_password,
    handlers::{account_gone, blocking, per_ip},
    mail::{self, Mail},
    sessions::close,
    verification::link_refused,
};

/// How long a reset link works.
pub const RESET_LIFETIME: chrono::Duration = chrono::Duration::minutes(30);

/// Ask for a password-reset link.
///
/// Answers the same whether or not an account has the address (an address
/// without one is told so by email, not here). A new link retires the earlier ones.
#[utoipa::path(
    operation_id = "auth_forgot_password",
    post, path = "/api/v1/auth/password/forgot", tag = "auth",
    request_body = ForgotPassword,
    responses(
        (status = 202, description = "If the address can receive it, an email is on its way", body = Accepted),
        (status = 400, description = "Malformed email (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 429, description = "Too many requests from this address (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database or email unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn forgot(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<ForgotPassword>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let email = Email::parse(&body.email).map_err(|m| ApiError::field("email", m))?;
    per_ip(
        &state,
        Bucket::Recovery,
        &ip,
        state.settings.auth.limits.recovery,
    )
    .await?;
    let to = email.as_str();
    let answer = Ok((StatusCode::ACCEPTED, Json(Accepted::email_on_its_way())));
    match users::by_email(&state.db, to).await? {
        Some(_) if !mail::may_send(&state, to).await? => return answer,
        None if !mail::may_send_notice(&state, to).await? => return answer,
        Some(user) => {
            let token = opaque::new_token();
            let expires_at = Utc::now() + RESET_LIFETIME;
            let mut tx = state.db.begin().await?;
            account_tokens::retire(&mut *tx, user.id, Purpose::ResetPassword).await?;
            account_tokens::insert(
                &mut *tx,
                &fingerprint(&token),
                user.id,
                Purpose::ResetPassword,
                to,
                expires_at,
            )
            .await?;
            tx.commit().await?;
            let mail = Mail::Reset {
                name: &user.name,
                token: &token,
            };
            mail::deliver(&state, to, &mail, expires_at).await?;
        }
        None => mail::deliver(&state, to, &Mail::NoAccount, Utc::now()).await?,
    }
    answer
}

/// Choose a new password with the token of a reset link.
///
/// The link works once. Every session of the account is signed out (their
/// WebSocket connections close) and its API keys are revoked, the address
/// counts as verified (the link reached it), and failed sign-ins counted
/// against it are forgotten.
#[utoipa::path(
    operation_id = "auth_reset_password",
    post, path = "/api/v1/auth/password/reset", tag = "auth",
    request_body = ResetPassword,
    responses(
        (status = 204, description = "The password is changed; sign in with it"),
        (status = 400, description = "Not a link token, or a password of the wrong length (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 404, description = "No such link (NOT_FOUND)", body = ErrorEnvelope),
        (status = 410, description = "The link expired (LINK_EXPIRED) or was used already (LINK_USED)", body = ErrorEnvelope),
        (status = 422, description = "The password is too weak (WEAK_PASSWORD)", body = ErrorEnvelope),
        (status = 429, description = "Too many requests from this address (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn reset(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<ResetPassword>,
) -> ApiResult<StatusCode> {
    if !opaque::is_token(&body.token) {
        return Err(ApiError::field(
            "token",
            "must be the 64-character token from the link",
        ));
    }
    per_ip(
        &state,
        Bucket::Recovery,
        &ip,
        state.settings.auth.limits.recovery,
    )
    .await?;
    let hash = fingerprint(&body.token);
    // The link is spent in this transaction; a password refused as weak
    // rolls that back, so the link still works for a better one.
    let mut tx = state.db.begin().await?;
    let used = match account_tokens::redeem(&mut tx, &hash, Purpose::ResetPassword).await? {
        Redeemed::Done(used) => used,
        other => return Err(link_refused(&other)),
    };
    let email = Email::parse(&used.email).map_err(|m| ApiError::internal(anyhow::anyhow!(m)))?;
    let password = new_password("password", &body.password, &email)?;
    let password_hash = blocking(move || password.hash())
        .await?
        .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing failed: {e}")))?;
    users::set_password(&mut *tx, used.user_id, Some(&password_hash)).await?;
    users::mark_verified(&mut *tx, used.user_id, &used.email).await?;
    account_tokens::retire(&mut *tx, used.user_id, Purpose::ResetPassword).await?;
    let revoked =
        sessions::revoke_all(&mut *tx, used.user_id, None, RevokeReason::PasswordChanged).await?;
    // A reset is how a taken-over account is recovered: keys made meanwhile stop too.
    api_keys::revoke_all_of(&mut *tx, used.user_id).await?;
    tx.commit().await?;
    ratelimit::clear(&state, Bucket::LoginEmail, &used.email).await?;
    close(&state, revoked).await;
    tracing::info!(user_id = %used.user_id, "password reset; every session signed out");
    Ok(StatusCode::NO_CONTENT)
}

/// Change the signed-in user's password.
///
/// Needs the current password (wrong answers count like failed sign-ins).
/// Every other session of the account is signed out; this one stays.
#[utoipa::path(
    operation_id = "auth_change_password",
    post, path = "/api/v1/auth/password/change", tag = "auth",
    security(("bearer" = [])),
    request_body = ChangePassword,
    responses(
        (status = 204, description = "Changed; other sessions are signed out"),
        (status = 400, description = "A password of the wrong length (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid access token, or the current password is wrong (INVALID_CREDENTIALS)", body = ErrorEnvelope),
        (status = 403, description = "An API key cannot do this (FORBIDDEN)", body = ErrorEnvelope),
        (status = 409, description = "The account has no password yet: set one with a reset link (CONFLICT)", body = ErrorEnvelope),
        (status = 422, description = "The new password is too weak (WEAK_PASSWORD)", body = ErrorEnvelope),
        (status = 429, description = "Too many wrong passwords or requests (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn change(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<ChangePassword>,
) -> ApiResult<StatusCode> {
    let user = users::find(&state.db, caller.user_id)
        .await?
        .ok_or_else(account_gone)?;
    let email = Email::parse(&user.email).map_err(|m| ApiError::internal(anyhow::anyhow!(m)))?;
    let password = new_password("newPassword", &body.new_password, &email)?;
    let Some(stored) = users::password_hash(&state.db, user.id).await? else {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this account has no password yet; set one with a password-reset link",
        )
        .with_details(serde_json::json!({ "reason": "no_password" })));
    };
    // Counted like a sign-in before the check: a stolen access token cannot
    // be used to guess the password faster than the sign-in form allows.
    let auth = &state.settings.auth;
    let limit = Limit {
        max: auth.login_max_failures,
        window: auth.login_window,
    };
    ratelimit::attempt(
        &state,
        Bucket::LoginEmail,
        email.as_str(),
        limit,
        "email",
        "too many wrong passwords; try again later",
    )
    .await?;
    let candidate = body.current_password;
    if !blocking(move || password::verify(&candidate, &stored)).await? {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "the current password is incorrect",
        ));
    }
    ratelimit::unhit(&state, Bucket::LoginEmail, email.as_str(), limit).await?;
    let password_hash = blocking(move || password.hash())
        .await?
        .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing failed: {e}")))?;
    let mut tx = state.db.begin().await?;
    users::set_password(&mut *tx, user.id, Some(&password_hash)).await?;
    account_tokens::retire(&mut *tx, user.id, Purpose::ResetPassword).await?;
    let revoked = sessions::revoke_all(
        &mut *tx,
        user.id,
        Some(caller.session_id),
        RevokeReason::PasswordChanged,
    )
    .await?;
    tx.commit().await?;
    close(&state, revoked).await;
    Ok(StatusCode::NO_CONTENT)
}
