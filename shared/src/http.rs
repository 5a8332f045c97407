//! The layers every router gets, on Lambda, locally and in tests:
//! a request id (on the response and on every log line), a log line per
//! failed or slow request (every request at `debug`), security headers, CORS from an allow-list, a body-size limit,
//! and the guarantee that every error response has the JSON error shape.

use std::{
    convert::Infallible,
    future::Future,
    pin::Pin,
    task::{Context, Poll},
    time::Instant,
};

use axum::{
    body::Body,
    extract::{DefaultBodyLimit, Request},
    http::{header, HeaderName, HeaderValue, Method, Uri},
    response::{IntoResponse, Response},
    Router,
};
use tower::{Layer, Service};
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::{
    error::{ApiError, ErrorCode, RenderedError},
    settings::HttpSettings,
};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

pub use crate::request_id::current_request_id;
use crate::request_id::CURRENT_REQUEST_ID;

/// Wraps a function's router with the common layers. Call once per router
/// that is served on its own (a Lambda), or once on the merged local router.
pub fn apply_layers(router: Router, settings: &HttpSettings) -> Router {
    let router = router
        .fallback(route_not_found)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes));
    let router = match cors(settings) {
        Some(cors) => router.layer(cors),
        None => router,
    };
    router.layer(RequestContextLayer)
}

fn cors(settings: &HttpSettings) -> Option<CorsLayer> {
    let origins: Vec<HeaderValue> = settings
        .cors_allowed_origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    if origins.is_empty() {
        return None;
    }
    Some(
        CorsLayer::new()
            .allow_origin(AllowOrigin::list(origins))
            .allow_methods([
                Method::GET,
                Method::POST,
                Method::PUT,
                Method::PATCH,
                Method::DELETE,
            ])
            .allow_headers([
                header::AUTHORIZATION,
                header::CONTENT_TYPE,
                header::IF_MATCH,
                HeaderName::from_static("idempotency-key"),
                crate::access::WORKSPACE_HEADER,
                REQUEST_ID,
            ])
            .expose_headers([
                REQUEST_ID,
                header::RETRY_AFTER,
                header::ETAG,
                HeaderName::from_static("ratelimit-limit"),
                HeaderName::from_static("ratelimit-remaining"),
                HeaderName::from_static("ratelimit-reset"),
                HeaderName::from_static("ratelimit-policy"),
            ])
            .max_age(std::time::Duration::from_secs(600)),
    )
}

async fn route_not_found() -> ApiError {
    ApiError::new(ErrorCode::NotFound, "no such route")
}

/// Accepts a caller's request id only when it is a short token, so it cannot
/// inject anything into logs; otherwise makes a UUIDv7.
fn request_id_of(req: &Request) -> String {
    req.headers()
        .get(&REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
        .map(str::to_owned)
        .unwrap_or_else(|| crate::ids::new_id().to_string())
}

/// A request this slow gets its log line at `info` whatever its status.
const SLOW_REQUEST: std::time::Duration = std::time::Duration::from_secs(1);

const SECURITY_HEADERS: [(HeaderName, &str); 6] = [
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::REFERRER_POLICY, "no-referrer"),
    (
        header::STRICT_TRANSPORT_SECURITY,
        "max-age=63072000; includeSubDomains",
    ),
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; frame-ancestors 'none'",
    ),
    (header::CACHE_CONTROL, "no-store"),
];

/// The layer that gives each request its id, security headers, error
/// shape and log line. A plain tower layer: no
/// boxed clone of the inner service per request, as `middleware::from_fn` makes.
#[derive(Debug, Clone, Copy)]
struct RequestContextLayer;

impl<S> Layer<S> for RequestContextLayer {
    type Service = RequestContext<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestContext { inner }
    }
}

#[derive(Debug, Clone)]
struct RequestContext<S> {
    inner: S,
}

impl<S> Service<Request> for RequestContext<S>
where
    S: Service<Request, Response = Response, Error = Infallible> + Send + 'static,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> Self::Future {
        let id = request_id_of(&req);
        let limits = crate::ratelimit::HeaderSlot::default();
        req.extensions_mut().insert(limits.clone());
        let method = req.method().clone();
        let uri = req.uri().clone();
        let started = Instant::now();
        let handled = self.inner.call(req);
        Box::pin(async move {
            let res = CURRENT_REQUEST_ID
                .scope(id.clone(), async move {
                    let Ok(res) = handled.await;
                    ensure_error_shape(res).await
                })
                .await;
            let mut res = res;
            limits.write(res.headers_mut());
            Ok(finish(res, &id, &method, &uri, started.elapsed()))
        })
    }
}

/// Adds the request id and security headers to a response, and writes the
/// request's log line. API Gateway's access log already records every
/// request; ours adds the request id and latency where they are worth a
/// line: errors and slow requests at `info`, the rest at `debug` (not
/// formatted nor written at the default level, which keeps a request cheap).
fn finish(
    mut res: Response,
    id: &str,
    method: &Method,
    uri: &Uri,
    elapsed: std::time::Duration,
) -> Response {
    let headers = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(id) {
        headers.insert(REQUEST_ID, v);
    }
    for (name, value) in SECURITY_HEADERS {
        if !headers.contains_key(&name) {
            headers.insert(name, HeaderValue::from_static(value));
        }
    }
    let status = res.status();
    if status.is_client_error() || status.is_server_error() || elapsed >= SLOW_REQUEST {
        tracing::info!(
            request_id = id,
            %method,
            path = uri.path(),
            status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    } else {
        tracing::debug!(
            request_id = id,
            %method,
            path = uri.path(),
            status = status.as_u16(),
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            "request finished"
        );
    }
    res
}

/// Gives framework-made error responses (unknown method, extractor rejections
/// we do not wrap) the same JSON shape as ours. Runs inside the request-id scope.
async fn ensure_error_shape(res: Response) -> Response {
    let status = res.status();
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    // Our own errors, and JSON a handler chose on purpose (the health report), stay as they are.
    if !(status.is_client_error() || status.is_server_error())
        || is_json
        || res.extensions().get::<RenderedError>().is_some()
    {
        return res;
    }
    let code = ErrorCode::for_status(status);
    let (parts, body) = res.into_parts();
    // Framework rejections carry a short plain-text reason that is safe to show;
    // a server error's body is never passed on.
    let text = if status.is_client_error() {
        collect_small(body).await.unwrap_or_default()
    } else {
        String::new()
    };
    let message = match text.trim() {
        "" => status.canonical_reason().unwrap_or("error").to_lowercase(),
        t => t.to_owned(),
    };
    let mut out = ApiError::new(code, message).into_response();
    *out.status_mut() = status;
    for (name, value) in parts.headers.iter() {
        if name == header::ALLOW || name == header::RETRY_AFTER {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

/// Reads at most a few KiB of a body as text.
async fn collect_small(body: Body) -> Option<String> {
    let bytes = axum::body::to_bytes(body, 4096).await.ok()?;
    String::from_utf8(bytes.to_vec()).ok()
}
