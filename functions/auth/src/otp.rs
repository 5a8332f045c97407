//! One-time codes: six digits by email, for signing in or up without a
//! password. A code is stored as an HMAC under a server key, works for five
//! minutes, once, and allows five attempts; each attempt is counted before
//! the code is compared. Asking for codes is limited per client address and
//! per email address; trying them, per client address.

use std::time::Duration;

use axum::extract::State;
use chrono::Utc;
use rand::Rng;
use serde_json::json;
use shared::{
    auth::{ClientIp, Email, TokenKeys},
    db::{
        self, otp,
        sessions::{self, RevokeReason},
        users::{self, NewUser, User},
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ratelimit::{self, Bucket},
    ApiError, ApiResult, AppState,
};

use crate::{
    account_dto::{OtpPurpose, OtpSent, RequestOtp, VerifyOtp},
    dto::AuthResponse,
    handlers::per_ip,
    mail::{self, Mail},
    sessions::{close, device_token, start},
};

/// How long a code works.
pub const CODE_LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Attempts one code allows.
pub const MAX_ATTEMPTS: i32 = 5;

fn code_hash(keys: &TokenKeys, id: uuid::Uuid, code: &str) -> Vec<u8> {
    keys.mac("otp code", format!("{id}:{code}").as_bytes())
        .to_vec()
}

fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Ask for a one-time sign-in code by email.
///
/// Answers the same whether or not an account has the address: the code
/// signs in, or makes the account. A new code retires the earlier ones.
#[utoipa::path(
    operation_id = "auth_request_otp",
    post, path = "/api/v1/auth/request-otp", tag = "auth",
    request_body = RequestOtp,
    responses(
        (status = 200, description = "If the address can receive it, a code is on its way", body = OtpSent),
        (status = 400, description = "Malformed email (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 429, description = "Too many codes asked for from this address (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database or email unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn request_otp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<RequestOtp>,
) -> ApiResult<Json<OtpSent>> {
    let email = Email::parse(&body.email).map_err(|m| ApiError::field("email", m))?;
    per_ip(
        &state,
        Bucket::OtpRequest,
        &ip,
        state.settings.auth.limits.otp_request,
    )
    .await?;
    let answer = Json(OtpSent {
        message: "If the address can receive it, a code is on its way.".into(),
        expires_in: CODE_LIFETIME.as_secs(),
    });
    let to = email.as_str();
    if !mail::may_send(&state, to).await? {
        // The code sent last still works.
        return Ok(answer);
    }
    let code = format!("{:06}", rand::rngs::OsRng.gen_range(0..1_000_000u32));
    let id = shared::ids::new_id();
    let expires_at =
        Utc::now() + chrono::Duration::from_std(CODE_LIFETIME).map_err(ApiError::internal)?;
    let mut conn = state.db.acquire().await?;
    otp::insert(
        &mut conn,
        id,
        to,
        &code_hash(&state.tokens, id, &code),
        expires_at,
    )
    .await?;
    drop(conn);
    mail::deliver(&state, to, &Mail::Code { code: &code }, expires_at).await?;
    // Sign-in and sign-up codes are the same; the purpose is for the logs.
    tracing::info!(purpose = ?body.purpose.unwrap_or(OtpPurpose::Login), "one-time code sent");
    Ok(answer)
}

/// Sign in (or up) with a one-time code.
///
/// Signs in the account with this address, or makes one (its name from the
/// address; no password). Either way the address counts as verified. An
/// unverified account whose address is proven this way loses the password
/// and sessions whoever made it had set (they never proved the address).
#[utoipa::path(
    operation_id = "auth_verify_otp",
    post, path = "/api/v1/auth/verify-otp", tag = "auth",
    request_body = VerifyOtp,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 400, description = "Malformed email or code (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "Wrong code (INVALID_CREDENTIALS, details.reason = wrong_code, details.attemptsLeft), or no live code: expired, used, out of attempts or never sent (INVALID_CREDENTIALS, details.reason = no_live_code)", body = ErrorEnvelope),
        (status = 403, description = "The account is being deleted (FORBIDDEN, details.reason = account_deleting)", body = ErrorEnvelope),
        (status = 429, description = "Too many attempts from this address, or too many wrong codes for this email today (RATE_LIMITED, details.scope = ip | email); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn verify_otp(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(body): Json<VerifyOtp>,
) -> ApiResult<Json<AuthResponse>> {
    let email = Email::parse(&body.email).map_err(|m| ApiError::field("email", m))?;
    if body.code.len() != 6 || !body.code.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::field(
            "code",
            "must be the six digits from the email",
        ));
    }
    per_ip(
        &state,
        Bucket::OtpVerify,
        &ip,
        state.settings.auth.limits.otp_verify,
    )
    .await?;
    // Across codes, an address takes a bounded number of tries a day: fresh
    // codes do not give a guesser fresh chances without end.
    let per_email = state.settings.auth.limits.otp_email;
    ratelimit::attempt(
        &state,
        Bucket::OtpEmail,
        email.as_str(),
        per_email,
        "email",
        "too many codes tried for this address today; sign in another way or try again later",
    )
    .await?;
    let Some(attempt) = otp::attempt(&state.db, email.as_str(), MAX_ATTEMPTS).await? else {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "there is no live code for this address; ask for a new one",
        )
        .with_details(json!({ "reason": "no_live_code" })));
    };
    let matches = same(
        &code_hash(&state.tokens, attempt.id, &body.code),
        &attempt.code_hash,
    );
    if !matches || !otp::consume(&state.db, attempt.id).await? {
        return Err(
            ApiError::new(ErrorCode::InvalidCredentials, "the code is wrong").with_details(json!({
                "reason": "wrong_code",
                "attemptsLeft": (MAX_ATTEMPTS - attempt.attempts).max(0),
            })),
        );
    }

    ratelimit::unhit(&state, Bucket::OtpEmail, email.as_str(), per_email).await?;
    let (user, secured) = sign_in_or_up(&state, &email).await?;
    let mut tx = state.db.begin().await?;
    let tokens = start(&mut tx, &state.tokens, user.id).await?;
    tx.commit().await?;
    close(&state, secured).await;
    // The address is proven: failed password sign-ins against it are forgotten.
    ratelimit::clear(&state, Bucket::LoginEmail, email.as_str()).await?;
    Ok(Json(AuthResponse {
        device_token: Some(device_token(&state.tokens, user.id)?),
        user: user.into(),
        tokens,
    }))
}

/// Secures an unverified account whose address someone just proved: whoever
/// made it never did, so its password, sessions and API keys are void.
/// Returns the revoked sessions (their connections close).
pub async fn secure(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    user_id: uuid::Uuid,
) -> ApiResult<Vec<uuid::Uuid>> {
    users::set_password(&mut **tx, user_id, None).await?;
    shared::db::api_keys::revoke_all_of(&mut **tx, user_id).await?;
    Ok(sessions::revoke_all(&mut **tx, user_id, None, RevokeReason::AccountSecured).await?)
}

/// The account with a just-proven address, made if there is none; and the
/// sessions revoked to secure an unverified one.
async fn sign_in_or_up(state: &AppState, email: &Email) -> ApiResult<(User, Vec<uuid::Uuid>)> {
    let mut tx = state.db.begin().await?;
    if let Some(user) = users::by_email(&mut *tx, email.as_str()).await? {
        let mut revoked = Vec::new();
        if user.deleting {
            return Err(
                ApiError::new(ErrorCode::Forbidden, "this account is being deleted")
                    .with_details(json!({ "reason": "account_deleting" })),
            );
        }
        if user.email_verified_at.is_none() {
            revoked = secure(&mut tx, user.id).await?;
        }
        users::mark_verified(&mut *tx, user.id, email.as_str()).await?;
        tx.commit().await?;
        let user = users::find(&state.db, user.id)
            .await?
            .ok_or_else(crate::handlers::account_gone)?;
        return Ok((user, revoked));
    }
    let made = users::insert(
        &mut *tx,
        NewUser {
            id: shared::ids::new_id(),
            email: email.as_str(),
            name: email.local_part(),
            password_hash: None,
            verified: true,
        },
    )
    .await;
    match made {
        Ok(user) => {
            tx.commit().await?;
            tracing::info!(user_id = %user.id, "user registered with a one-time code");
            Ok((user, Vec::new()))
        }
        // Made at the same moment by another request: sign that one in.
        Err(e) if db::constraint(&e) == Some("users_email_key") => {
            drop(tx);
            let user = users::by_email(&state.db, email.as_str())
                .await?
                .ok_or_else(crate::handlers::account_gone)?;
            Ok((user, Vec::new()))
        }
        Err(e) => Err(e.into()),
    }
}
