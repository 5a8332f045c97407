//! Where a request came from, for the activity log: the client address as
//! API Gateway (or the local socket) saw it, and the user agent, cut to 512
//! characters.

use axum::{extract::FromRequestParts, http::request::Parts};

use crate::auth::ClientIp;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Origin {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

impl Origin {
    /// No request: the system acting.
    pub fn system() -> Self {
        Self::default()
    }
}

const MAX_AGENT: usize = 512;

impl<S: Send + Sync> FromRequestParts<S> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let user_agent = parts
            .headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(MAX_AGENT).collect::<String>())
            .filter(|ua| !ua.is_empty());
        Ok(Self {
            ip: Some(ip)
                .filter(|ip| ip != "unknown")
                .map(|ip| ip.chars().take(64).collect()),
            user_agent,
        })
    }
}
