//! Why a node attempt failed, classified so the engine knows whether to retry.

use std::time::Duration;

use run_protocol::ErrorView;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// A template could not be rendered (undefined value, bad syntax). Deterministic.
    Template,
    /// The node's configuration cannot work (e.g. an agent missing from the spec). Deterministic.
    Config,
    /// The request was refused before it was sent (a private address). Deterministic.
    Blocked,
    /// The attempt ran out of time.
    Timeout,
    /// The provider or endpoint asked us to slow down (429).
    RateLimited,
    /// The provider is overloaded (529, 503).
    Overloaded,
    /// The other side failed (5xx).
    Upstream,
    /// The connection failed.
    Network,
    /// The other side refused the request as invalid (4xx), or the answer was unusable.
    Invalid,
    /// The node's output (or a rendered template) breaks the protocol's limits
    /// (`run_protocol::limits`): too deep, too large, or too much work. Deterministic.
    Limit,
    /// The run's token budget is used up (or the workspace's monthly budget
    /// spent): the run ends. Deterministic.
    Budget,
}

impl ErrorKind {
    /// Transient failures worth retrying under any policy.
    pub fn transient(self) -> bool {
        matches!(
            self,
            Self::Timeout | Self::RateLimited | Self::Overloaded | Self::Upstream | Self::Network
        )
    }

    /// Failures that would happen again on every attempt: never retried.
    pub fn deterministic(self) -> bool {
        matches!(
            self,
            Self::Template | Self::Config | Self::Blocked | Self::Limit | Self::Budget
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Template => "template",
            Self::Config => "config",
            Self::Blocked => "blocked",
            Self::Timeout => "timeout",
            Self::RateLimited => "rate_limited",
            Self::Overloaded => "overloaded",
            Self::Upstream => "upstream",
            Self::Network => "network",
            Self::Invalid => "invalid",
            Self::Limit => "limit",
            Self::Budget => "budget_exceeded",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {message}", kind.as_str())]
pub struct NodeError {
    pub kind: ErrorKind,
    pub message: String,
    /// What the other side asked us to wait (Retry-After).
    pub retry_after: Option<Duration>,
}

impl NodeError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
            retry_after: None,
        }
    }

    pub fn with_retry_after(mut self, after: Option<Duration>) -> Self {
        self.retry_after = after;
        self
    }

    pub fn view(&self) -> ErrorView {
        ErrorView {
            kind: self.kind.as_str().to_owned(),
            message: self.message.clone(),
            retryable: self.kind.transient(),
        }
    }

    /// Classifies an HTTP error status (and its Retry-After) the same way for
    /// LLM providers and `http` nodes.
    pub fn from_status(status: u16, retry_after: Option<Duration>, what: &str, body: &str) -> Self {
        let kind = match status {
            429 => ErrorKind::RateLimited,
            503 | 529 => ErrorKind::Overloaded,
            500..=599 => ErrorKind::Upstream,
            _ => ErrorKind::Invalid,
        };
        let excerpt: String = body.chars().take(300).collect();
        Self::new(kind, format!("{what} answered HTTP {status}: {excerpt}"))
            .with_retry_after(retry_after)
    }
}

/// Parses a `Retry-After` header given in seconds (the HTTP-date form is ignored).
pub fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(|s| Duration::from_secs_f64(s.min(3600.0)))
}

/// Classifies a transport error from reqwest.
pub fn from_transport(e: reqwest::Error, what: &str) -> NodeError {
    let kind = if e.is_timeout() {
        ErrorKind::Timeout
    } else {
        ErrorKind::Network
    };
    // reqwest's message can contain the URL; secrets never go in URLs we build.
    NodeError::new(kind, format!("{what}: {}", e.without_url()))
}
