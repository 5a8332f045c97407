//! The health function: `GET /health` (database check), the API description
//! at `GET /api/v1/openapi.json`, assembled from every function's routes, and
//! the interactive reference for people at `GET /api/docs`.
//!
//! The document is a value the router is given ([`ApiDocument`]): the local
//! stack and the tests generate it from the code ([`api_doc`]); the Lambda
//! serves the copy committed next to this crate (`openapi.json`), so it does
//! not link every function's handlers to describe them. A test keeps the copy
//! equal to the code's document (`tests/tests/openapi.rs`); regenerate it with
//! `cargo run -q -p local -- openapi > functions/health/openapi.json`.

use std::time::Duration;

use axum::{
    body::Bytes,
    extract::{Extension, State},
    http::{header, StatusCode},
    response::{IntoResponse, Response},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use shared::AppState;
use sqlx::PgPool;
use utoipa::{
    openapi::{
        security::{HttpAuthScheme, HttpBuilder, SecurityScheme},
        OpenApi as OpenApiDoc,
    },
    Modify, OpenApi, ToSchema,
};
use utoipa_axum::{router::OpenApiRouter, routes};

/// How long the database check may take before the service is reported down.
const DB_CHECK_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Unavailable,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DependencyCheck {
    /// `up` or `down`.
    pub status: String,
    pub latency_ms: Option<f64>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HealthReport {
    pub status: Status,
    pub version: String,
    pub checks: Checks,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Checks {
    pub database: DependencyCheck,
}

/// Service health: 200 when the database answers, 503 when it does not.
#[utoipa::path(
    operation_id = "health_health",
    get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "Healthy", body = HealthReport),
        (status = 503, description = "A dependency is down", body = HealthReport),
    )
)]
pub async fn health(State(db): State<PgPool>) -> (StatusCode, Json<HealthReport>) {
    report(&db).await
}

/// The same report under the API prefix.
#[utoipa::path(
    operation_id = "health_api_health",
    get, path = "/api/v1/health", tag = "health",
    responses(
        (status = 200, description = "Healthy", body = HealthReport),
        (status = 503, description = "A dependency is down", body = HealthReport),
    )
)]
pub async fn api_health(State(db): State<PgPool>) -> (StatusCode, Json<HealthReport>) {
    report(&db).await
}

async fn report(db: &PgPool) -> (StatusCode, Json<HealthReport>) {
    let (status, database) = match shared::db::ping(db, DB_CHECK_TIMEOUT).await {
        Ok(latency) => (
            Status::Ok,
            DependencyCheck {
                status: "up".into(),
                latency_ms: Some((latency.as_secs_f64() * 1000.0 * 100.0).round() / 100.0),
                error: None,
            },
        ),
        Err(error) => (
            Status::Unavailable,
            DependencyCheck {
                status: "down".into(),
                latency_ms: None,
                error: Some(error),
            },
        ),
    };
    let code = match status {
        Status::Ok => StatusCode::OK,
        Status::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
    };
    (
        code,
        Json(HealthReport {
            status,
            version: env!("CARGO_PKG_VERSION").into(),
            checks: Checks { database },
        }),
    )
}

/// The API's document as served: JSON, and the reference page made from it.
#[derive(Debug, Clone)]
pub struct ApiDocument {
    /// Shared bytes: each answer is a reference, not a copy of 370 KB.
    json: Bytes,
    html: Bytes,
}

impl ApiDocument {
    pub fn from_json(json: &str) -> Self {
        // Inside a <script> element: no "</" may close it early.
        let html = DOCS_HTML.replace("$spec", &json.replace("</", "<\\/"));
        Self {
            json: Bytes::copy_from_slice(json.as_bytes()),
            html: Bytes::from(html),
        }
    }

    /// Generated from the code (the local stack, tests).
    pub fn generated() -> Self {
        Self::from_json(&serde_json::to_string(&api_doc()).unwrap_or_default())
    }

    /// The copy committed with this crate (the Lambda).
    pub fn committed() -> Self {
        Self::from_json(COMMITTED)
    }
}

/// The document as committed (`openapi.json`), kept equal to the code's by a test.
pub const COMMITTED: &str = include_str!("../openapi.json");

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(
    operation_id = "health_openapi_json",
    get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_json(Extension(doc): Extension<ApiDocument>) -> Response {
    ([(header::CONTENT_TYPE, "application/json")], doc.json).into_response()
}

/// The reference page: Scalar, its script from jsDelivr (pinned to major
/// version 1), the document embedded so the page needs no second request.
const DOCS_HTML: &str = r#"<!doctype html>
<html lang="en">
<head>
<title>SaasIt API reference</title>
<meta charset="utf-8"/>
<meta name="viewport" content="width=device-width, initial-scale=1"/>
</head>
<body>
<script id="api-reference" type="application/json">
$spec
</script>
<script src="https://cdn.jsdelivr.net/npm/@scalar/api-reference@1"></script>
</body>
</html>
"#;

/// What the page may load: Scalar's script and styles from jsDelivr, its
/// fonts, and requests to this API ("try it").
const DOCS_CSP: &str = "default-src 'none'; script-src https://cdn.jsdelivr.net; \
    style-src 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.scalar.com; \
    font-src data: https://cdn.jsdelivr.net https://fonts.scalar.com; img-src 'self' data: https:; \
    connect-src 'self'; frame-ancestors 'none'";

/// The interactive API reference, for people (Scalar).
#[utoipa::path(
    operation_id = "health_api_docs",
    get, path = "/api/docs", tag = "health",
    responses((status = 200, description = "The interactive reference (HTML; its script loads from cdn.jsdelivr.net)", content_type = "text/html"))
)]
pub async fn api_docs(Extension(doc): Extension<ApiDocument>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, DOCS_CSP),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        doc.html,
    )
        .into_response()
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SaasIt API",
        description = "Backend of the SaasIt AI-agent workflow studio. Errors are always \
            `{\"error\":{\"code\",\"message\",\"details\"},\"requestId\"}` with a stable `code`. \
            Every constraint the server checks is in the schemas, except rules no schema can state, \
            which have their own status: a too weak password (422 WEAK_PASSWORD) and a change \
            that names its base version nowhere (428 PRECONDITION_REQUIRED). Text anywhere in a \
            request, including inside free-form JSON, may not contain U+0000 (400 VALIDATION_ERROR).",
    ),
    modifiers(&BearerAuth),
    // Schemas only parameters name (utoipa collects those of bodies itself).
    components(schemas(
        shared::error::ErrorEnvelope,
        shared::error::ErrorCode,
        shared::catalog::Category,
        agents::AgentScope,
        workflows::WorkflowStatus,
        shared::analytics::period::Bucket,
    )),
    tags(
        (name = "auth", description = "Accounts, sign-in and sessions"),
        (name = "workflows", description = "Designing workflows: canvas, versions, status, validation"),
        (name = "templates", description = "Workflow templates: catalogue, publish, instantiate"),
        (name = "agents", description = "Agents: the built-in catalogue and your own"),
        (name = "mcp", description = "A workspace's MCP servers: register, connect, list their tools"),
        (name = "tools", description = "Tools outside workflows: a chat with the workspace's model, web search, web read (100 calls an hour per user)"),
        (name = "executions", description = "Running workflows: start, follow, cancel, retry"),
        (name = "hooks", description = "Workflows' webhooks: signed requests that start runs"),
        (name = "workspaces", description = "Workspaces: teams, members, roles and ownership"),
        (name = "analytics", description = "A workspace's runs over a period: counts, success rate, percentiles, tokens, series, busiest workflows"),
        (name = "billing", description = "Plans through Stripe: checkout, portal, usage and limits, invoices, and Stripe's webhook"),
        (name = "health", description = "Health and API description"),
    )
)]
struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, doc: &mut OpenApiDoc) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
    }
}

/// The routes of this function with their OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health))
        .routes(routes!(api_health))
        .routes(routes!(openapi_json))
        .routes(routes!(api_docs))
}

/// Every public route of the API, in the one list both the local stack's
/// router and the document are built from: a route is mounted through here
/// with its `#[utoipa::path]`, so it cannot exist undocumented. The execution
/// routes run on the run lifecycle's state, the others on the app state.
pub fn api_routes() -> (
    OpenApiRouter<AppState>,
    OpenApiRouter<executions::RunsState>,
) {
    let app = OpenApiRouter::new()
        .merge(routes())
        .merge(auth::routes())
        .merge(workflows::routes())
        .merge(agents::routes())
        .merge(workspaces::routes())
        .merge(billing::routes())
        .merge(billing::webhook_routes());
    (app, executions::routes().merge(executions::hook_routes()))
}

/// The whole API's document, from [`api_routes`], with the answers every
/// route gives by its shape declared (see `shared::openapi`).
pub fn api_doc() -> OpenApiDoc {
    let mut doc = ApiDoc::openapi();
    let (app, runs) = api_routes();
    doc.merge(app.into_openapi());
    doc.merge(runs.into_openapi());
    shared::openapi::declare_common_responses(&mut doc);
    shared::openapi::open_free_form_objects(&mut doc);
    doc
}

/// The function as deployed on its own.
/// The function as deployed on its own, serving the committed document.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let (router, _) = routes().with_state(state).split_for_parts();
    shared::http::apply_layers(
        router.layer(Extension(ApiDocument::committed())),
        &settings.http,
    )
}
