//! The one error type at the HTTP boundary.
//!
//! Every failure a client can see is an [`ApiError`] rendered as
//! `{"error":{"code","message","details"},"requestId"}`. The `code` is a stable,
//! machine-readable [`ErrorCode`]; its HTTP status comes from the table in
//! [`ErrorCode::status`]. Causes (database errors, bugs) are logged with the
//! request id and never sent.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use serde::Serialize;
use serde_json::Value;
use utoipa::ToSchema;

/// Stable public error codes. Renaming one is a breaking API change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    /// The request body, query or path is malformed or fails validation.
    ValidationError,
    /// A webhook's signature is missing, malformed, wrong or too old
    /// (`details.reason`); nothing was changed.
    InvalidSignature,
    /// No credentials, or credentials that cannot be used here.
    Unauthorized,
    /// Email and password do not match an account.
    InvalidCredentials,
    /// The token was valid but has expired: refresh it.
    TokenExpired,
    /// The token is forged, malformed, of the wrong type or unknown.
    TokenInvalid,
    /// The token's session was signed out or its reuse was detected.
    TokenRevoked,
    /// Authenticated, but not allowed to do this.
    Forbidden,
    /// The API key lacks the scope this route needs (`details.missingScope`).
    InsufficientScope,
    /// The account's email address is not verified yet, and this needs it
    /// (`details.action`); ask for a new link with `POST /api/v1/auth/verify-email/resend`.
    EmailNotVerified,
    /// The caller's tier does not allow this; `details` names the limit.
    TierLimit,
    /// The workspace's monthly budget is spent: no new run starts until the
    /// month ends or an owner or admin raises it (`details`: the budget, the
    /// spend, when the month resets).
    BudgetExceeded,
    NotFound,
    MethodNotAllowed,
    /// The request conflicts with the current state (e.g. the email is taken).
    Conflict,
    /// The run has ended: its callback token is dead and nothing more is accepted.
    RunEnded,
    /// The invitation's link is past its expiry: ask for it to be sent again.
    InvitationExpired,
    /// A verification or password-reset link past its expiry: ask for a new one.
    LinkExpired,
    /// A verification or password-reset link that was used already: each works once.
    LinkUsed,
    /// The password has the right length but is too weak (no letter, no
    /// digit or symbol, too repetitive, or contains the email address).
    WeakPassword,
    /// The change must say which version it is based on (`If-Match` or `baseVersion`).
    PreconditionRequired,
    PayloadTooLarge,
    UnsupportedMediaType,
    /// Too many attempts; `Retry-After` says when to try again.
    RateLimited,
    /// A dependency (the database) is unreachable; retry later.
    ServiceUnavailable,
    /// What the request reached on the caller's behalf (a web page, the web
    /// search or model provider, an MCP server) failed or could not be
    /// reached; the request itself was fine (`details.kind`, `details.retryable`).
    UpstreamError,
    InternalError,
}

impl ErrorCode {
    /// The single table of code → HTTP status.
    pub fn status(self) -> StatusCode {
        use ErrorCode::*;
        match self {
            ValidationError | InvalidSignature => StatusCode::BAD_REQUEST,
            Unauthorized | InvalidCredentials | TokenExpired | TokenInvalid | TokenRevoked => {
                StatusCode::UNAUTHORIZED
            }
            Forbidden | InsufficientScope | EmailNotVerified | TierLimit | BudgetExceeded => {
                StatusCode::FORBIDDEN
            }
            NotFound => StatusCode::NOT_FOUND,
            MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Conflict | RunEnded => StatusCode::CONFLICT,
            InvitationExpired | LinkExpired | LinkUsed => StatusCode::GONE,
            WeakPassword => StatusCode::UNPROCESSABLE_ENTITY,
            PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
            PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            RateLimited => StatusCode::TOO_MANY_REQUESTS,
            ServiceUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            UpstreamError => StatusCode::BAD_GATEWAY,
            InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The code a response with this status gets when no handler chose one
    /// (framework rejections, unknown routes).
    pub fn for_status(status: StatusCode) -> Self {
        match status.as_u16() {
            401 => Self::Unauthorized,
            403 => Self::Forbidden,
            404 => Self::NotFound,
            405 => Self::MethodNotAllowed,
            409 => Self::Conflict,
            413 => Self::PayloadTooLarge,
            428 => Self::PreconditionRequired,
            415 => Self::UnsupportedMediaType,
            429 => Self::RateLimited,
            503 => Self::ServiceUnavailable,
            400..=499 => Self::ValidationError,
            _ => Self::InternalError,
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorEnvelope {
    pub error: ErrorBody,
    /// The id of the request, also sent as `x-request-id`; quote it when reporting a problem.
    pub request_id: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub code: ErrorCode,
    pub message: String,
    #[schema(value_type = Option<Object>)]
    pub details: Option<Value>,
}

/// Marks a response whose body is already an [`ErrorEnvelope`], so the
/// request middleware does not wrap it again.
#[derive(Debug, Clone, Copy)]
pub struct RenderedError;

pub type ApiResult<T> = Result<T, ApiError>;

#[derive(Debug)]
pub struct ApiError {
    code: ErrorCode,
    message: String,
    details: Option<Value>,
    retry_after_secs: Option<u64>,
    /// More headers for the response (the `RateLimit-*` fields of a 429).
    headers: Vec<(axum::http::HeaderName, HeaderValue)>,
    source: Option<anyhow::Error>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            details: None,
            retry_after_secs: None,
            headers: Vec::new(),
            source: None,
        }
    }

    /// Adds a header to the response.
    pub fn with_header(mut self, name: axum::http::HeaderName, value: HeaderValue) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// Adds a `Retry-After` header (429 and 503).
    pub fn retry_after(mut self, secs: u64) -> Self {
        self.retry_after_secs = Some(secs.max(1));
        self
    }

    pub fn code(&self) -> ErrorCode {
        self.code
    }

    pub fn details(&self) -> Option<&Value> {
        self.details.as_ref()
    }

    /// 400 with one entry per invalid field.
    pub fn validation(errors: FieldErrors) -> Self {
        Self::new(ErrorCode::ValidationError, "the request is invalid")
            .with_details(serde_json::json!({ "fields": errors.0 }))
    }

    /// 403 TIER_LIMIT naming the limit, its maximum and the caller's tier.
    pub fn tier_limit(tier: crate::tier::Tier, limit: &str, max: u32) -> Self {
        Self::new(
            ErrorCode::TierLimit,
            format!("the {tier} tier allows at most {max} {limit}; upgrade to go further"),
        )
        .with_details(serde_json::json!({ "tier": tier, "limit": limit, "max": max }))
    }

    /// 400 for one invalid field.
    pub fn field(field: &str, message: impl Into<String>) -> Self {
        let mut errors = FieldErrors::new();
        errors.add(field, message);
        Self::validation(errors)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// A bug or an unexpected failure: logged in full, sent as a generic 500.
    pub fn internal(source: impl Into<anyhow::Error>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(ErrorCode::InternalError, "an internal error occurred")
        }
    }

    /// The same error with its message rewritten (e.g. values hidden).
    pub fn map_message(mut self, f: impl FnOnce(&str) -> String) -> Self {
        self.message = f(&self.message);
        self
    }

    /// A 503 that says what is missing (a provider this platform does not
    /// configure): logged as a warning, like a dependency that is down.
    pub fn not_configured(message: impl Into<String>) -> Self {
        let message = message.into();
        Self {
            source: Some(anyhow::anyhow!(message.clone())),
            ..Self::new(ErrorCode::ServiceUnavailable, message)
        }
    }

    /// A dependency is down: logged, sent as 503 with `Retry-After`.
    pub fn unavailable(source: impl Into<anyhow::Error>) -> Self {
        Self {
            source: Some(source.into()),
            ..Self::new(
                ErrorCode::ServiceUnavailable,
                "the service is temporarily unavailable; retry shortly",
            )
            .retry_after(5)
        }
    }

    /// The JSON envelope for this error, with the current request id.
    pub fn envelope(&self) -> ErrorEnvelope {
        ErrorEnvelope {
            error: ErrorBody {
                code: self.code,
                message: self.message.clone(),
                details: self.details.clone(),
            },
            request_id: crate::request_id::current_request_id(),
        }
    }
}

impl ApiError {
    /// As an `anyhow` error for logs and retries: its message, with the
    /// cause it carries (a 5xx's source) kept.
    pub fn into_anyhow(self) -> anyhow::Error {
        let message = self.to_string();
        match self.source {
            Some(src) => src.context(message),
            None => anyhow::anyhow!(message),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.code, self.message)
    }
}

/// Postgres refuses text it cannot store: U+0000 in a `text` value
/// (`character_not_in_repertoire`) or in a `jsonb` string (`untranslatable_character`).
/// Only a client's input carries such text, so it is the client's error.
fn is_unstorable_text(e: &sqlx::Error) -> bool {
    e.as_database_error()
        .and_then(|d| d.code())
        .is_some_and(|c| c == "22021" || c == "22P05")
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        if crate::db::is_unavailable(&e) {
            Self::unavailable(e)
        } else if is_unstorable_text(&e) {
            Self::new(
                ErrorCode::ValidationError,
                "text must not contain the NUL character (U+0000)",
            )
        } else {
            Self::internal(e)
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.code.status();
        // The request span (see `crate::http`'s request context) carries the request id.
        match (&self.source, status.is_server_error()) {
            (Some(src), true) if self.code == ErrorCode::ServiceUnavailable => {
                tracing::warn!(code = ?self.code, error = format!("{src:#}"), "dependency unavailable")
            }
            // Another party's failure (a page, a provider), not ours: worth a look, not an alarm.
            (_, true) if self.code == ErrorCode::UpstreamError => {
                tracing::warn!(code = ?self.code, message = %self.message, "upstream failed")
            }
            (Some(src), _) => {
                tracing::error!(code = ?self.code, error = format!("{src:#}"), "request failed")
            }
            (None, true) => {
                tracing::error!(code = ?self.code, message = %self.message, "request failed")
            }
            (None, false) => {
                tracing::debug!(code = ?self.code, message = %self.message, "request rejected")
            }
        }
        let mut res = (status, axum::Json(self.envelope())).into_response();
        for (name, value) in self.headers {
            res.headers_mut().insert(name, value);
        }
        if let Some(secs) = self.retry_after_secs {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        res.extensions_mut().insert(RenderedError);
        res
    }
}

/// One invalid field: its JSON name and what is wrong with it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Collects every field error of a request so the client sees them all at once.
#[derive(Debug, Default)]
pub struct FieldErrors(Vec<FieldError>);

impl FieldErrors {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.to_owned(),
            message: message.into(),
        });
    }

    /// Records the error of `result` under `field` and returns its value, if any.
    pub fn check<T>(&mut self, field: &str, result: Result<T, String>) -> Option<T> {
        result.map_err(|m| self.add(field, m)).ok()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `Ok(())` when nothing was recorded, else the 400 listing every field.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn every_code_has_a_stable_name_and_status() {
        let name = |c: ErrorCode| serde_json::to_value(c).expect("serialises");
        assert_eq!(name(ErrorCode::ValidationError), "VALIDATION_ERROR");
        assert_eq!(name(ErrorCode::ServiceUnavailable), "SERVICE_UNAVAILABLE");
        assert_eq!(name(ErrorCode::TierLimit), "TIER_LIMIT");
        assert_eq!(name(ErrorCode::UpstreamError), "UPSTREAM_ERROR");
        assert_eq!(ErrorCode::UpstreamError.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            ErrorCode::RateLimited.status(),
            StatusCode::TOO_MANY_REQUESTS
        );
        assert_eq!(ErrorCode::TokenRevoked.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(name(ErrorCode::InvitationExpired), "INVITATION_EXPIRED");
        assert_eq!(ErrorCode::InvitationExpired.status(), StatusCode::GONE);
        assert_eq!(
            ErrorCode::for_status(StatusCode::NOT_FOUND),
            ErrorCode::NotFound
        );
        assert_eq!(
            ErrorCode::for_status(StatusCode::UNPROCESSABLE_ENTITY),
            ErrorCode::ValidationError
        );
        assert_eq!(
            ErrorCode::for_status(StatusCode::BAD_GATEWAY),
            ErrorCode::InternalError
        );
    }

    #[tokio::test]
    async fn internal_errors_hide_their_cause() {
        let res = ApiError::internal(anyhow::anyhow!("password=hunter2 leaked")).into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = res.into_body().collect().await.expect("body").to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains("hunter2"), "{text}");
        let v: Value = serde_json::from_slice(&body).expect("json");
        assert_eq!(v["error"]["code"], "INTERNAL_ERROR");
        assert!(v.get("requestId").is_some());
    }

    #[tokio::test]
    async fn unavailable_sets_retry_after() {
        let res = ApiError::unavailable(anyhow::anyhow!("connection refused")).into_response();
        assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(res.headers()[header::RETRY_AFTER], "5");
    }
}
