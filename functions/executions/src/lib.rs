//! The executions function: `/api/v1/executions` (start, list, follow,
//! cancel, retry) and the internal callback routes the executor reports to.
//!
//! The local stack mounts it with the local pipeline adapters. On AWS it
//! needs the SQS / EKS / S3 adapters, which come with the rest of the
//! pipeline issue; until then it is a library only.

mod api;
mod internal;

use axum::{
    routing::{get, post},
    Router,
};
use shared::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use api::{ExecutionPage, ExecutionView, LogPage, NodeRun};

/// The public routes with their OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
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

/// The executor's callback routes (internal: not in the public API document).
pub fn internal_routes() -> Router<AppState> {
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
}
