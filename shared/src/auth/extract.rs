//! Extractors: the authenticated user (from a bearer access token) and the
//! client's IP address (from API Gateway's request context, or the socket).

use std::{net::SocketAddr, sync::Arc};

use axum::{
    extract::{ConnectInfo, FromRef, FromRequestParts},
    http::{header, request::Parts},
};
use lambda_http::request::RequestContext;
use uuid::Uuid;

use super::jwt::{Claims, TokenError, TokenKeys, TokenKind};
use crate::error::{ApiError, ErrorCode};

/// The caller, proven by a valid access token. Stateless: no database read.
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

impl<S> FromRequestParts<S> for AuthUser
where
    S: Send + Sync,
    Arc<TokenKeys>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let keys = Arc::<TokenKeys>::from_ref(state);
        let claims = keys.verify(bearer_token(parts)?, TokenKind::Access)?;
        Ok(AuthUser {
            user_id: claims.sub,
            session_id: claims.sid,
            claims,
        })
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
