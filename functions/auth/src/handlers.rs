//! Signing up, in and out, refreshing, and the caller's profile.

use axum::{extract::State, http::StatusCode};
use serde_json::json;
use shared::{
    auth::{jwt::fingerprint, password, AuthUser, ClientIp, Email, TokenKind},
    db::{
        self,
        sessions::{self, RevokeReason, Rotation},
        users::{self, NewUser},
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ratelimit::{self, Bucket, Limit},
    ApiError, ApiResult, AppState,
};

use crate::{
    account_dto::Accepted,
    dto::{
        AuthResponse, LoginRequest, RefreshRequest, RegisterRequest, TokenPair, UpdateMeRequest,
        UserView,
    },
    mail::{self, Mail},
    sessions::{close, device_token, start, successor},
    verification,
};

/// Runs CPU-heavy password work on the blocking pool.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> ApiResult<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(ApiError::internal)
}

/// Counts a request from `ip` against a per-address limit: 429 past it.
pub async fn per_ip(state: &AppState, bucket: Bucket, ip: &str, limit: Limit) -> ApiResult<()> {
    ratelimit::hit(state, bucket, ip, limit)
        .await?
        .check("ip", "too many requests from this address; try again later")?;
    Ok(())
}

/// Create an account.
///
/// Answers 202 the same whether or not the address already has an account,
/// so sign-up does not tell who has one: a new account gets a verification
/// link, an existing one a note that someone tried. Then sign in with
/// `/api/v1/auth/login`.
#[utoipa::path(
    operation_id = "auth_register",
    post, path = "/api/v1/auth/register", tag = "auth",
    request_body = RegisterRequest,
    responses(
        (status = 202, description = "Accepted: sign in next; a verification email is on its way", body = Accepted),
        (status = 400, description = "Invalid email, password length or name, or malformed body (VALIDATION_ERROR; details.fields)", body = ErrorEnvelope),
        (status = 422, description = "The password is too weak (WEAK_PASSWORD; details.fields)", body = ErrorEnvelope),
        (status = 429, description = "Too many sign-ups from this address (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn register(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<RegisterRequest>,
) -> ApiResult<(StatusCode, Json<Accepted>)> {
    let account = body.parse()?;
    per_ip(
        &state,
        Bucket::Signup,
        &ip,
        state.settings.auth.limits.signup,
    )
    .await?;
    // Hashed either way, so both answers take as long.
    let password = account.password.clone();
    let password_hash = blocking(move || password.hash())
        .await?
        .map_err(|e| ApiError::internal(anyhow::anyhow!("hashing failed: {e}")))?;

    let mut tx = state.db.begin().await?;
    let inserted = users::insert(
        &mut *tx,
        NewUser {
            id: shared::ids::new_id(),
            email: account.email.as_str(),
            name: &account.name,
            password_hash: Some(&password_hash),
            verified: false,
        },
    )
    .await;
    let to = account.email.as_str();
    let sent = match inserted {
        Ok(user) => {
            let link = if mail::may_send(&state, to).await? {
                Some(verification::new_link(&mut tx, &state, user.id, &account.email).await?)
            } else {
                None
            };
            tx.commit().await?;
            tracing::info!(user_id = %user.id, "user registered");
            match link {
                Some(link) => verification::send(&state, &user.name, &account.email, &link).await,
                None => Ok(()),
            }
        }
        Err(e) if db::constraint(&e) == Some("users_email_key") => {
            drop(tx);
            if mail::may_send_notice(&state, to).await? {
                let existing = users::by_email(&state.db, to).await?;
                let name = existing.map_or_else(|| account.name.clone(), |u| u.name);
                let note = Mail::AlreadyRegistered { name: &name };
                mail::deliver(&state, to, &note, chrono::Utc::now()).await
            } else {
                Ok(())
            }
        }
        Err(e) => return Err(e.into()),
    };
    // The account exists either way; a verification email that could not go
    // out now can be asked for again after signing in.
    if let Err(e) = sent {
        tracing::warn!(error = %e, "sign-up email not sent");
    }
    Ok((StatusCode::ACCEPTED, Json(Accepted::email_on_its_way())))
}

/// Sign in with email and password.
///
/// Every attempt is counted before the password is checked (per client
/// address, and per account: per device for a client that sends the
/// `deviceToken` an earlier sign-in gave it, else per email), so parallel
/// guesses cannot pass the limit; past it, 429 with `Retry-After` and the
/// password is not checked. A client whose device token is valid is never
/// locked out by failures elsewhere, and a one-time code or a password reset
/// always works.
#[utoipa::path(
    operation_id = "auth_login",
    post, path = "/api/v1/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 400, description = "Malformed body or email (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "Wrong email or password (INVALID_CREDENTIALS)", body = ErrorEnvelope),
        (status = 429, description = "Too many attempts (RATE_LIMITED; details.scope = ip | email | device); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<LoginRequest>,
) -> ApiResult<Json<AuthResponse>> {
    let email = Email::parse(&body.email).map_err(|m| ApiError::field("email", m))?;
    let auth = &state.settings.auth;
    let limit = Limit {
        max: auth.login_max_failures,
        window: auth.login_window,
    };
    let found = users::find_credentials(&state.db, email.as_str()).await?;
    // A device token counts only for the account it was given for.
    let device = body
        .device_token
        .as_deref()
        .and_then(|t| state.tokens.verify(t, TokenKind::Device).ok())
        .filter(|c| found.as_ref().is_some_and(|(u, _)| u.id == c.sub))
        .map(|c| c.sid.to_string());
    let (account_bucket, account_subject, scope) = match &device {
        Some(sid) => (Bucket::LoginDevice, sid.clone(), "device"),
        None => (Bucket::LoginEmail, email.as_str().to_owned(), "email"),
    };
    let by_ip = ratelimit::hit(&state, Bucket::LoginIp, &ip, limit).await?;
    let by_account = ratelimit::hit(&state, account_bucket, &account_subject, limit).await?;
    for (decision, scope) in [(by_ip, "ip"), (by_account, scope)] {
        if !decision.allowed {
            // A refused attempt checks nothing, so it is taken back: the
            // limit closes for the rest of its window, not for as long as
            // someone keeps knocking.
            ratelimit::unhit(&state, Bucket::LoginIp, &ip, limit).await?;
            ratelimit::unhit(&state, account_bucket, &account_subject, limit).await?;
            return Err(decision
                .taken_back()
                .refusal(scope, "too many sign-in attempts; try again later"));
        }
    }

    let candidate = body.password;
    let verified = match found {
        Some((user, Some(hash))) => {
            blocking(move || password::verify(&candidate, &hash).then_some(user)).await?
        }
        // No account, or one without a password: the same work, the same answer.
        _ => {
            blocking(move || password::verify_against_dummy(&candidate)).await?;
            None
        }
    };
    let Some(user) = verified else {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "email or password is incorrect",
        ));
    };
    // A success is not a failure: take its counts back.
    ratelimit::unhit(&state, Bucket::LoginIp, &ip, limit).await?;
    ratelimit::unhit(&state, account_bucket, &account_subject, limit).await?;

    let mut tx = state.db.begin().await?;
    let tokens = start(&mut tx, &state.tokens, user.id).await?;
    tx.commit().await?;
    Ok(Json(AuthResponse {
        device_token: Some(device_token(&state.tokens, user.id)?),
        user: user.into(),
        tokens,
    }))
}

/// Exchange a refresh token for a new pair (rotation).
///
/// Each refresh token works once. Presented again within a few seconds
/// (`REFRESH_REUSE_GRACE_SECS`: two tabs, a retry after a lost response), it
/// gets the same new pair again. Presented later, it is treated as theft: the
/// whole session is revoked and every token of it stops working.
#[utoipa::path(
    operation_id = "auth_refresh",
    post, path = "/api/v1/auth/refresh", tag = "auth",
    request_body = RefreshRequest,
    responses(
        (status = 200, description = "A new token pair (the same one again for a repeat within the grace window)", body = TokenPair),
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
    let previous = fingerprint(&body.refresh_token);
    let grace = state.settings.auth.refresh_grace;
    let outcome = sessions::rotate(&mut tx, &previous, grace).await?;
    let mut revoked = None;
    let result = match outcome {
        Rotation::Rotated {
            family_id,
            user_id,
            rotated_at,
        }
        | Rotation::Replayed {
            family_id,
            user_id,
            rotated_at,
        } => Ok(successor(
            &mut tx,
            &state.tokens,
            user_id,
            family_id,
            &previous,
            rotated_at,
        )
        .await?),
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
    close(&state, revoked).await;
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
    // The session's WebSocket connections close.
    close(&state, [family]).await;
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

pub fn account_gone() -> ApiError {
    ApiError::new(ErrorCode::Unauthorized, "the account no longer exists")
}
