//! The executions function: `/api/v1/executions` (start, list, follow,
//! cancel, retry) and the internal callback routes the executor reports to.
//!
//! Three Lambdas come from it: `executions` (the public routes), `hooks`
//! (workflows' webhooks) and `internal` (the callback routes), all on the run lifecycle with the AWS
//! adapters (`shared::runs::aws`). The local stack mounts the same routes on
//! the local adapters. Handlers are thin: the lifecycle is `shared::runs`.

mod api;
mod hooks;
mod internal;

use std::sync::Arc;

use axum::{
    extract::{DefaultBodyLimit, FromRef},
    routing::{get, post},
    Router,
};
use shared::{auth::TokenKeys, runs::Runs, AppState};
use utoipa_axum::{router::OpenApiRouter, routes};

pub use api::{ExecutionPage, ExecutionSummary, ExecutionView, LogPage, NodePage, NodeRun};
pub use hooks::HookAnswer;

/// The state of the execution routes: the app's, and the run lifecycle.
#[derive(Debug, Clone)]
pub struct RunsState {
    pub app: AppState,
    pub runs: Arc<Runs>,
}

impl FromRef<RunsState> for AppState {
    fn from_ref(s: &RunsState) -> Self {
        s.app.clone()
    }
}

impl FromRef<RunsState> for sqlx::PgPool {
    fn from_ref(s: &RunsState) -> Self {
        s.app.db.clone()
    }
}

impl FromRef<RunsState> for Arc<TokenKeys> {
    fn from_ref(s: &RunsState) -> Self {
        s.app.tokens.clone()
    }
}

/// The public routes with their OpenAPI description.
pub fn routes() -> OpenApiRouter<RunsState> {
    OpenApiRouter::new()
        .routes(routes!(api::create, api::list))
        .routes(routes!(api::execute_workflow))
        .routes(routes!(api::get))
        .routes(routes!(api::logs))
        .routes(routes!(api::nodes))
        .routes(routes!(api::artifacts))
        .routes(routes!(api::cancel))
        .routes(routes!(api::retry))
}

/// The webhook route (its own Lambda on AWS), with its body limit.
pub fn hook_routes() -> OpenApiRouter<RunsState> {
    OpenApiRouter::new()
        .routes(routes!(hooks::call))
        .layer(DefaultBodyLimit::max(hooks::MAX_BODY_BYTES))
}

/// The webhook route as a service, with the common layers.
pub fn hooks_app(state: RunsState) -> Router {
    let settings = state.app.settings.clone();
    let (router, _) = hook_routes().with_state(state).split_for_parts();
    shared::http::apply_layers(router, &settings.http)
}

/// The executor's callback routes (internal: not in the public API document),
/// with the protocol's own body limit: anything the executor sends within
/// the protocol's limits fits, and it stays within Lambda's request limit.
pub fn internal_routes() -> Router<RunsState> {
    Router::new()
        .route("/api/v1/internal/executions/{id}/spec", get(internal::spec))
        .route(
            "/api/v1/internal/executions/{id}/events",
            post(internal::events),
        )
        .route(
            "/api/v1/internal/executions/{id}/heartbeat",
            post(internal::heartbeat),
        )
        .route(
            "/api/v1/internal/executions/{id}/artifacts",
            post(internal::artifact),
        )
        .route(
            "/api/v1/internal/executions/{id}/result",
            post(internal::result),
        )
        .route(
            "/api/v1/internal/executions/{id}/files",
            get(internal::file),
        )
        .layer(DefaultBodyLimit::max(
            shared::protocol::limits::INTERNAL_BODY_LIMIT,
        ))
        .layer(axum::middleware::map_response(count_callback_errors))
}

/// The public routes as a service, with the common layers.
pub fn app(state: RunsState) -> Router {
    let settings = state.app.settings.clone();
    let (router, _) = routes().with_state(state).split_for_parts();
    shared::http::apply_layers(router, &settings.http)
}

/// The callback routes as a service, with the common layers.
pub fn internal_app(state: RunsState) -> Router {
    let settings = state.app.settings.clone();
    shared::http::apply_layers(internal_routes().with_state(state), &settings.http)
}

/// Executor callbacks the API failed (5xx: `Kind=server`, what the alarm
/// watches) or refused (4xx but a run that has ended: `Kind=client`).
async fn count_callback_errors(res: axum::response::Response) -> axum::response::Response {
    let status = res.status();
    if status.is_server_error() {
        shared::metrics::count(shared::metrics::CALLBACK_ERRORS, &["server"]);
    } else if status.is_client_error() && status != axum::http::StatusCode::CONFLICT {
        shared::metrics::count(shared::metrics::CALLBACK_ERRORS, &["client"]);
    }
    res
}
