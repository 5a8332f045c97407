//! `/api/v1/auth/oauth`: which providers are on, starting a sign-in, and
//! finishing it with the code the provider sent back.

use axum::extract::{Path, State};
use chrono::Utc;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::{
    auth::{jwt::fingerprint, ClientIp, Email},
    db::{
        self,
        oauth::{self, NewPending},
        users::{self, NewUser, User},
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ratelimit::Bucket,
    settings::{Provider, ProviderSettings},
    text::{self, TextRule},
    ApiError, ApiResult, AppState,
};
use utoipa::ToSchema;

use super::{client, Identity, OAuthError};
use crate::{
    dto::AuthResponse,
    handlers::{account_gone, per_ip},
    sessions::{close, device_token, start},
};

/// How long a started sign-in can be finished.
const PENDING_FOR: chrono::Duration = chrono::Duration::minutes(10);
const NAME: TextRule = text::line(100);

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ProviderList {
    /// The providers this deployment signs in with.
    #[schema(example = json!(["google", "github"]))]
    pub providers: Vec<String>,
}

/// The providers you can sign in with here.
#[utoipa::path(
    operation_id = "auth_oauth_providers",
    get, path = "/api/v1/auth/oauth/providers", tag = "auth",
    responses((status = 200, description = "Configured providers", body = ProviderList))
)]
pub async fn providers(State(state): State<AppState>) -> Json<ProviderList> {
    let providers = Provider::ALL
        .into_iter()
        .filter(|p| state.settings.oauth.provider(*p).is_some())
        .map(|p| p.as_str().to_owned())
        .collect();
    Json(ProviderList { providers })
}

/// Nothing to say: the provider sends the browser back to `{APP_URL}/auth/callback`.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({}))]
pub struct StartOAuth {}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OAuthStarted {
    /// Send the browser here.
    pub authorization_url: String,
    /// Comes back on the redirect; hand it to the callback route with the code.
    pub state: String,
    /// Keep it in this page's session storage and send it with the callback:
    /// the sign-in finishes only in the browser that started it.
    pub binding: String,
    /// Seconds left to finish the sign-in.
    pub expires_in: i64,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"code": "4/0AbC…", "state": "c2FtcGxlLXN0YXRl", "binding": "9b1f0c3e5a7d"}))]
pub struct FinishOAuth {
    /// The `code` the provider put on the redirect.
    #[schema(min_length = 1, max_length = 2048)]
    pub code: String,
    /// The `state` the provider put on the redirect.
    #[schema(min_length = 1, max_length = 512)]
    pub state: String,
    /// The `binding` the start route gave this browser.
    #[schema(min_length = 1, max_length = 512)]
    pub binding: String,
}

fn configured(state: &AppState, raw: &str) -> ApiResult<(Provider, ProviderSettings)> {
    let provider = Provider::parse(raw).ok_or_else(|| ApiError::not_found("sign-in provider"))?;
    let settings = state
        .settings
        .oauth
        .provider(provider)
        .cloned()
        .ok_or_else(|| {
            ApiError::not_found("sign-in provider")
                .with_details(json!({ "reason": "not_configured" }))
        })?;
    Ok((provider, settings))
}

/// The one page of the web app providers send the browser back to (what the
/// provider's client registers as its redirect URI).
fn redirect_uri(state: &AppState) -> String {
    format!("{}/auth/callback", state.settings.email.app_url)
}

fn random_text() -> String {
    let mut bytes = [0u8; 24];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Start signing in with a provider: where to send the browser.
#[utoipa::path(
    operation_id = "auth_oauth_start",
    post, path = "/api/v1/auth/oauth/{provider}/start", tag = "auth",
    params(("provider" = String, Path, description = "`google` or `github`")),
    request_body = StartOAuth,
    responses(
        (status = 200, description = "Send the browser to `authorizationUrl`", body = OAuthStarted),
        (status = 400, description = "Malformed body (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 404, description = "No such provider, or not configured here (NOT_FOUND)", body = ErrorEnvelope),
        (status = 429, description = "Too many sign-ins from this address (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn start_oauth(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(provider): Path<String>,
    Json(body): Json<StartOAuth>,
) -> ApiResult<Json<OAuthStarted>> {
    let (provider, settings) = configured(&state, &provider)?;
    let StartOAuth {} = body;
    let redirect = redirect_uri(&state);
    per_ip(&state, Bucket::OAuth, &ip, state.settings.auth.limits.oauth).await?;
    let nonce = random_text();
    let binding = random_text();
    let auth = client::authorize(&settings, &redirect, &nonce).map_err(ApiError::internal)?;
    oauth::insert_pending(
        &state.db,
        NewPending {
            state_hash: &fingerprint(&auth.state),
            binding_hash: &fingerprint(&binding),
            provider: provider.as_str(),
            pkce_verifier: &auth.verifier,
            nonce: &nonce,
            redirect_uri: &redirect,
            expires_at: Utc::now() + PENDING_FOR,
        },
    )
    .await?;
    Ok(Json(OAuthStarted {
        authorization_url: auth.url,
        state: auth.state,
        binding,
        expires_in: PENDING_FOR.num_seconds(),
    }))
}

/// Finish signing in with a provider: the code and state from its redirect.
///
/// Signs in the account linked to this identity; else links it to the
/// account with the same address, if the provider verified that address
/// (an unverified account there loses the password and sessions whoever made
/// it had set); else makes an account. A provider that verified no address
/// cannot make or link an account.
#[utoipa::path(
    operation_id = "auth_oauth_callback",
    post, path = "/api/v1/auth/oauth/{provider}/callback", tag = "auth",
    params(("provider" = String, Path, description = "`google` or `github`")),
    request_body = FinishOAuth,
    responses(
        (status = 200, description = "Signed in", body = AuthResponse),
        (status = 400, description = "Malformed body (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "The state is unknown, used or expired or not this browser's binding (INVALID_CREDENTIALS, details.reason = unknown_state), or the provider refused the code or its token does not verify (INVALID_CREDENTIALS, details.reason = provider_refused)", body = ErrorEnvelope),
        (status = 403, description = "The provider verified no email address (FORBIDDEN, details.reason = email_not_verified), or the account is being deleted (FORBIDDEN, details.reason = account_deleting)", body = ErrorEnvelope),
        (status = 404, description = "No such provider, or not configured here (NOT_FOUND)", body = ErrorEnvelope),
        (status = 429, description = "Too many sign-ins from this address (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "The database or the provider is unavailable (SERVICE_UNAVAILABLE, details.reason = oauth_provider for the latter)", body = ErrorEnvelope),
    )
)]
pub async fn callback(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    Path(provider): Path<String>,
    Json(body): Json<FinishOAuth>,
) -> ApiResult<Json<AuthResponse>> {
    let (provider, settings) = configured(&state, &provider)?;
    per_ip(&state, Bucket::OAuth, &ip, state.settings.auth.limits.oauth).await?;
    let pending = oauth::take_pending(
        &state.db,
        &fingerprint(&body.state),
        &fingerprint(&body.binding),
        provider.as_str(),
    )
    .await?
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::InvalidCredentials,
            "this sign-in is unknown, was finished already, or took too long; start again",
        )
        .with_details(json!({ "reason": "unknown_state" }))
    })?;
    let who = super::identity(
        &settings,
        &pending.redirect_uri,
        &body.code,
        &pending.pkce_verifier,
        &pending.nonce,
    )
    .await
    .map_err(|e| match e {
        OAuthError::Refused(m) => {
            tracing::info!(provider = provider.as_str(), reason = %m, "OAuth sign-in refused");
            ApiError::new(
                ErrorCode::InvalidCredentials,
                "the provider did not confirm this sign-in; start again",
            )
            .with_details(json!({ "reason": "provider_refused" }))
        }
        OAuthError::Unavailable(m) => ApiError::unavailable(anyhow::anyhow!(m))
            .with_details(json!({ "reason": "oauth_provider" })),
    })?;
    let (user, secured) = account_for(&state, provider, &who).await?;
    let mut tx = state.db.begin().await?;
    let tokens = start(&mut tx, &state.tokens, user.id).await?;
    tx.commit().await?;
    close(&state, secured).await;
    Ok(Json(AuthResponse {
        device_token: Some(device_token(&state.tokens, user.id)?),
        user: user.into(),
        tokens,
    }))
}

fn deleting() -> ApiError {
    ApiError::new(ErrorCode::Forbidden, "this account is being deleted")
        .with_details(json!({ "reason": "account_deleting" }))
}

/// The account an identity signs in to, linked or made; and the sessions
/// revoked to secure an unverified account that had the address.
async fn account_for(
    state: &AppState,
    provider: Provider,
    who: &Identity,
) -> ApiResult<(User, Vec<uuid::Uuid>)> {
    let p = provider.as_str();
    if let Some(id) = oauth::user_of(&state.db, p, &who.subject).await? {
        let user = users::find(&state.db, id).await?.ok_or_else(account_gone)?;
        if user.deleting {
            return Err(deleting());
        }
        return Ok((user, Vec::new()));
    }
    let email = who
        .email
        .as_deref()
        .filter(|_| who.email_verified)
        .and_then(|e| Email::parse(e).ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Forbidden,
                "the provider has not verified an email address for you; verify one there, or sign up with email",
            )
            .with_details(json!({ "reason": "email_not_verified" }))
        })?;
    let mut tx = state.db.begin().await?;
    let mut revoked = Vec::new();
    let user_id = match users::by_email(&mut *tx, email.as_str()).await? {
        Some(user) if user.deleting => return Err(deleting()),
        Some(user) => {
            if user.email_verified_at.is_none() {
                revoked = crate::otp::secure(&mut tx, user.id).await?;
            }
            users::mark_verified(&mut *tx, user.id, email.as_str()).await?;
            user.id
        }
        None => {
            let name = who
                .name
                .as_deref()
                .and_then(|n| NAME.parse(n).ok())
                .unwrap_or_else(|| email.local_part().to_owned());
            let made = users::insert(
                &mut *tx,
                NewUser {
                    id: shared::ids::new_id(),
                    email: email.as_str(),
                    name: &name,
                    password_hash: None,
                    verified: true,
                },
            )
            .await;
            match made {
                Ok(user) => {
                    tracing::info!(user_id = %user.id, provider = p, "user registered with OAuth");
                    user.id
                }
                Err(e) if db::constraint(&e) == Some("users_email_key") => {
                    return Err(ApiError::new(
                        ErrorCode::Conflict,
                        "another sign-in made this account at the same moment; try again",
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        }
    };
    oauth::link(&mut *tx, p, &who.subject, user_id, Some(email.as_str())).await?;
    tx.commit().await?;
    let user = users::find(&state.db, user_id)
        .await?
        .ok_or_else(account_gone)?;
    Ok((user, revoked))
}
