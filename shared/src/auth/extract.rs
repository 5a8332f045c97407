//! Extractors: the authenticated user (from a bearer access token) and the
//! client's IP address (from API Gateway's request context, or the socket).
//! Every authenticated request is counted against its caller's API rate
//! limit here ([`count_request`]), once per request.

use std::net::SocketAddr;

use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use lambda_http::request::RequestContext;
use uuid::Uuid;

use super::{
    api_key,
    jwt::{Claims, TokenError, TokenKind},
};
use crate::{
    error::{ApiError, ErrorCode},
    ratelimit::{self, Bucket, HeaderSlot},
    AppState,
};

/// The caller, proven by a valid access token of a live session (a person
/// signed in, not an API key): the token is verified, the request counted
/// against the caller's rate limit (one upsert) and the session read (one
/// primary-key lookup).
#[derive(Debug, Clone)]
pub struct AuthUser {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub claims: Claims,
}

impl From<TokenError> for ApiError {
    fn from(e: TokenError) -> Self {
        let code = match e {
            TokenError::Expired => ErrorCode::TokenExpired,
            TokenError::Invalid | TokenError::WrongKind => ErrorCode::TokenInvalid,
        };
        ApiError::new(code, e.to_string())
    }
}

/// The token of an `Authorization: Bearer …` header.
pub fn bearer_token(parts: &Parts) -> Result<&str, ApiError> {
    let value = parts
        .headers
        .get(header::AUTHORIZATION)
        .ok_or_else(|| ApiError::new(ErrorCode::Unauthorized, "missing Authorization header"))?;
    value
        .to_str()
        .ok()
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Unauthorized,
                "expected Authorization: Bearer <token>",
            )
        })
}

/// 403 for an API key on a route only a person signed in may use.
pub fn session_required() -> ApiError {
    ApiError::new(
        ErrorCode::Forbidden,
        "this needs a person signed in; API keys cannot be used here",
    )
    .with_details(serde_json::json!({ "credential": "apiKey", "requires": "session" }))
}

/// Marks a request already counted against an API limit.
#[derive(Debug, Clone, Copy)]
struct Counted;

/// Counts the request against `subject`'s API limit (once per request, however
/// many extractors run), leaves the figures for the `RateLimit-*` headers, and
/// refuses it with 429 past the limit.
pub async fn count_request(
    parts: &mut Parts,
    state: &AppState,
    bucket: Bucket,
    subject: &str,
) -> Result<(), ApiError> {
    if parts.extensions.get::<Counted>().is_some() {
        return Ok(());
    }
    parts.extensions.insert(Counted);
    let limit = state.settings.auth.limits.api;
    let decision = ratelimit::hit(state, bucket, subject, limit).await?;
    if let Some(slot) = parts.extensions.get::<HeaderSlot>() {
        slot.set(decision);
    }
    decision.check(
        if bucket == Bucket::ApiKey {
            "apiKey"
        } else {
            "user"
        },
        "too many requests; slow down and retry after the time in Retry-After",
    )?;
    Ok(())
}

impl AuthUser {
    /// The user of an access token whose session is still live (a sign-out,
    /// a password reset, a secured or deleted account ends it at once, not
    /// when the token expires), counted against the caller's API limit.
    pub async fn live(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let user = Self::verify(parts, state)?;
        count_request(parts, state, Bucket::ApiUser, &user.user_id.to_string()).await?;
        if crate::db::sessions::is_revoked(&state.db, user.session_id).await? {
            return Err(ApiError::new(
                ErrorCode::TokenRevoked,
                "the session has been signed out",
            ));
        }
        Ok(user)
    }

    /// The user of an access token, without counting the request or reading
    /// the session (for extractors that do both themselves).
    pub fn verify(parts: &Parts, state: &AppState) -> Result<Self, ApiError> {
        let bearer = bearer_token(parts)?;
        if api_key::looks_like_key(bearer) {
            return Err(session_required());
        }
        let claims = state.tokens.verify(bearer, TokenKind::Access)?;
        Ok(AuthUser {
            user_id: claims.sub,
            session_id: claims.sid,
            claims,
        })
    }
}

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    AppState: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let state = AppState::from_ref(state);
        Self::live(parts, &state).await
    }
}

/// The client's address as API Gateway saw it, or the peer of the local socket.
/// `X-Forwarded-For` is deliberately ignored: clients can set it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIp(pub String);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let from_gateway = parts
            .extensions
            .get::<RequestContext>()
            .and_then(|ctx| match ctx {
                RequestContext::ApiGatewayV1(c) => c.identity.source_ip.clone(),
                RequestContext::ApiGatewayV2(c) => c.http.source_ip.clone(),
                #[allow(unreachable_patterns)]
                _ => None,
            });
        let ip = from_gateway
            .or_else(|| {
                parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(addr)| addr.ip().to_string())
            })
            .unwrap_or_else(|| "unknown".to_owned());
        Ok(ClientIp(ip))
    }
}
