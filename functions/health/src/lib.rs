//! The health function: `GET /health` (database check) and the API description
//! at `GET /api/v1/openapi.json`, assembled from every function's routes.

use std::time::Duration;

use axum::{extract::State, http::StatusCode, Json, Router};
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

/// This API's OpenAPI 3.1 document, generated from the code.
#[utoipa::path(
    operation_id = "health_openapi_json",
    get, path = "/api/v1/openapi.json", tag = "health",
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json"))
)]
pub async fn openapi_json() -> Json<OpenApiDoc> {
    Json(api_doc())
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "SaasIt API",
        description = "Backend of the SaasIt AI-agent workflow studio. Errors are always \
            `{\"error\":{\"code\",\"message\",\"details\"},\"requestId\"}` with a stable `code`.",
    ),
    modifiers(&BearerAuth),
    // Schemas only parameters name (utoipa collects those of bodies itself).
    components(schemas(
        shared::error::ErrorEnvelope,
        shared::error::ErrorCode,
        shared::catalog::Category,
        agents::AgentScope,
        workflows::WorkflowStatus,
    )),
    tags(
        (name = "auth", description = "Accounts, sign-in and sessions"),
        (name = "workflows", description = "Designing workflows: canvas, versions, status, validation"),
        (name = "templates", description = "Workflow templates: catalogue, publish, instantiate"),
        (name = "agents", description = "Agents: the built-in catalogue and your own"),
        (name = "executions", description = "Running workflows: start, follow, cancel, retry"),
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
        .merge(agents::routes());
    (app, executions::routes())
}

/// The whole API's document, from [`api_routes`], with the answers every
/// route gives by its shape declared (see `shared::openapi`).
pub fn api_doc() -> OpenApiDoc {
    let mut doc = ApiDoc::openapi();
    let (app, runs) = api_routes();
    doc.merge(app.into_openapi());
    doc.merge(runs.into_openapi());
    shared::openapi::declare_common_responses(&mut doc);
    doc
}

/// The function as deployed on its own.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let (router, _) = routes().with_state(state).split_for_parts();
    shared::http::apply_layers(router, &settings.http)
}
