//! The auth route handlers.

use axum::{extract::State, http::StatusCode};
use serde_json::json;
use shared::{
    auth::{jwt::fingerprint, password, AuthUser, ClientIp, TokenKind},
    db::{
        self,
        sessions::{self, RevokeReason, Rotation},
        throttle::{self, Scope},
        users::{self, NewUser},
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    realtime::closing,
    ApiError, ApiResult, AppState,
};

/// How long a sign-out waits to close the session's WebSocket connections
/// (the sweeper closes what it does not reach within a minute).
const PUBLISH_LIMIT: std::time::Duration = std::time::Duration::from_secs(2);

use crate::{
    dto::{
        AuthResponse, LoginRequest, RefreshRequest, RegisterRequest, TokenPair, UpdateMeRequest,
        UserView,
    },
    sessions::{issue_pair, start},
};

/// Runs CPU-heavy password work on the blocking pool.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// Create an account and sign in.
#[utoipa::path(
    operation_id = "auth_register",
    post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 201, description = "Account created and signed in", body = AuthResponse),
        (status = 400, description = "Invalid email, password length or name, or malformed body (VALIDATION_ERROR; details.fields)", body = ErrorEnvelope),
        (status = 409, description = "The email is already registered (CONFLICT)", body = ErrorEnvelope),
        (status = 422, description = "The password is too weak (WEAK_PASSWORD; details.fields)", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<AuthResponse>)> {
    let account = body.parse()?;
    let password = account.password.clone();
    let password_hash = blocking(move || password.hash())
        .await?
        .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing failed: {e}")))?;

    let mut tx = state.db.begin().await?;
    let user = users::insert(
        &mut *tx,
        NewUser {
            id: shared::ids::new_id(),
            email: account.email.as_str(),
            name: &account.name,
            password_hash: &password_hash,
        },
    )
    .await
    .map_err(|e| match db::constraint(&e) {
        Some("users_email_key") => ApiError::new(
            ErrorCode::Conflict,
            "an account with this email already exists",
        )
        .with_details(json!({ "field": "email" })),
        _ => e.into(),
    })?;
    let tokens = start(&mut tx, &state.tokens, user.id).await?;
    tx.commit().await?;
    tracing::info!(user_id = %user.id, "user registered");
    Ok((
        StatusCode::CREATED,
        Json(AuthResponse {
            user: user.into(),
            tokens,
        }),
    ))
}

/// Sign in with email and password.
///
/// After too many failures for one email or one client address within the
/// window, answers 429 with `Retry-After` without checking the password.
#[utoipa::path(
    operation_id = "auth_login",
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 400, description = "Malformed body or email (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "Wrong email or password (INVALID_CREDENTIALS)", body = ErrorEnvelope),
        (status = 429, description = "Too many failed attempts (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    let email = shared::auth::Email::parse(&body.email).map_err(|m| ApiError::field("email", m))?;
    let auth = &state.settings.auth;
    for (scope, subject) in [(Scope::Email, email.as_str()), (Scope::Ip, ip.as_str())] {
        let failures =
            throttle::recent_failures(&state.db, scope, subject, auth.login_window).await?;
        if failures.count >= i64::from(auth.login_max_failures) {
            let elapsed = failures
                .oldest
                .map(|t| (chrono::Utc::now() - t).num_seconds().max(0))
                .unwrap_or(0);
            let wait = u64::try_from(auth.login_window.as_secs() as i64 - elapsed).unwrap_or(1);
            return Err(ApiError::new(ErrorCode::RateLimited, "too many failed sign-in attempts; try again later")
                .with_details(json!({ "scope": if scope == Scope::Email { "email" } else { "ip" }, "retryAfterSeconds": wait.max(1) }))
                .retry_after(wait));
        }
    }

    let found = users::find_credentials(&state.db, email.as_str()).await?;
    let candidate = body.password;
    let verified = match found {
        Some((user, hash)) => {
            blocking(move || password::verify(&candidate, &hash).then_some(user)).await?
        }
        None => {
            blocking(move || password::verify_against_dummy(&candidate)).await?;
            None
        }
    };
    let Some(user) = verified else {
        throttle::record_failure(&state.db, Scope::Email, email.as_str(), auth.login_window)
            .await?;
        throttle::record_failure(&state.db, Scope::Ip, &ip, auth.login_window).await?;
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "email or password is incorrect",
        ));
    };

    let mut tx = state.db.begin().await?;
    throttle::clear(&mut *tx, Scope::Email, email.as_str()).await?;
    let tokens = start(&mut tx, &state.tokens, user.id).await?;
    tx.commit().await?;
    Ok(Json(AuthResponse {
        user: user.into(),
        tokens,
    }))
}

/// Exchange a refresh token for a new pair (rotation).
///
/// Each refresh token works once. Presenting one that was already exchanged
/// is treated as theft: the whole session is revoked and every token of it
/// stops working.
#[utoipa::path(
    operation_id = "auth_refresh",
    post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair", body = TokenPair),
        (status = 400, description = "Malformed body (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "Expired (TOKEN_EXPIRED), invalid or wrong type (TOKEN_INVALID), or revoked / reused (TOKEN_REVOKED)", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn refresh(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<Json<TokenPair>> {
    state
        .tokens
        .verify(&body.refresh_token, TokenKind::Refresh)?;
    let mut tx = state.db.begin().await?;
    let outcome = sessions::rotate(&mut tx, &fingerprint(&body.refresh_token)).await?;
    let mut revoked = None;
    let result = match outcome {
        Rotation::Rotated { family_id, user_id } => {
            Ok(issue_pair(&mut tx, &state.tokens, user_id, family_id).await?)
        }
        Rotation::Reused { family_id } => {
            tracing::warn!("refresh token reuse detected; session revoked");
            revoked = Some(family_id);
            Err(ApiError::new(
                ErrorCode::TokenRevoked,
                "refresh token reuse detected; the session has been signed out",
            )
            .with_details(json!({ "reason": "reuse_detected" })))
        }
        Rotation::Revoked => Err(ApiError::new(
            ErrorCode::TokenRevoked,
            "the session has been signed out",
        )),
        Rotation::Expired => Err(ApiError::new(
            ErrorCode::TokenExpired,
            "the token has expired",
        )),
        Rotation::Unknown => Err(ApiError::new(
            ErrorCode::TokenInvalid,
            "the token is invalid",
        )),
    };
    // Commit in every case: a detected reuse must stay revoked.
    tx.commit().await?;
    if let Some(family) = revoked {
        state
            .publish_within(closing::revoked(family), PUBLISH_LIMIT)
            .await;
    }
    result.map(Json)
}

/// Sign out: revoke the session of this refresh token. Idempotent.
#[utoipa::path(
    operation_id = "auth_logout",
    post, path = "/api/v1/auth/logout", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 204, description = "Signed out (also when already signed out)"),
        (status = 400, description = "Malformed body (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "Not a refresh token we issued (TOKEN_INVALID, TOKEN_EXPIRED)", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn logout(
    State(state): State<AppState>,
    Json(body): Json<RefreshRequest>,
) -> ApiResult<StatusCode> {
    state
        .tokens
        .verify(&body.refresh_token, TokenKind::Refresh)?;
    let family = sessions::family_of(&state.db, &fingerprint(&body.refresh_token))
        .await?
        .ok_or_else(|| ApiError::new(ErrorCode::TokenInvalid, "the token is invalid"))?;
    sessions::revoke_family(&state.db, family, RevokeReason::Logout).await?;
    // The session's WebSocket connections close (the sweeper closes them
    // again if this does not reach them).
    state
        .publish_within(closing::revoked(family), PUBLISH_LIMIT)
        .await;
    Ok(StatusCode::NO_CONTENT)
}

/// The signed-in user.
#[utoipa::path(
    operation_id = "auth_me",
    get, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's profile", body = UserView),
        (status = 401, description = "Missing, expired or invalid access token", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn me(State(state): State<AppState>, caller: AuthUser) -> ApiResult<Json<UserView>> {
    let user = users::find(&state.db, caller.user_id)
        .await?
        .ok_or_else(account_gone)?;
    Ok(Json(user.into()))
}

/// Change the signed-in user's name or avatar.
#[utoipa::path(
    operation_id = "auth_update_me",
    patch, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = [])),
    request_body = UpdateMeRequest,
    responses(
        (status = 200, description = "The updated profile", body = UserView),
        (status = 400, description = "Invalid name or avatar URL (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "Missing, expired or invalid access token", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn update_me(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<UpdateMeRequest>,
) -> ApiResult<Json<UserView>> {
    let change = body.parse()?;
    let user = users::update_profile(&state.db, caller.user_id, &change)
        .await?
        .ok_or_else(account_gone)?;
    Ok(Json(user.into()))
}

fn account_gone() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "the account no longer exists")
}
