//! The workflows function: `/api/v1/workflows` — the design surface: create,
//! list, change (each change an immutable version, guarded by the base
//! version), versions and restore, duplicate, status, validation, soft delete;
//! and `/api/v1/templates`, the template catalogue.

mod dto;
mod handlers;
mod templates;

use axum::Router;
use shared::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use dto::{WorkflowPage, WorkflowStatus, WorkflowView};

/// The routes of this function with their OpenAPI description, state not yet applied.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::create, handlers::list))
        .routes(routes!(
            handlers::get,
            handlers::update,
            handlers::replace,
            handlers::delete
        ))
        .routes(routes!(handlers::restore))
        .routes(routes!(handlers::versions))
        .routes(routes!(handlers::version))
        .routes(routes!(handlers::restore_version))
        .routes(routes!(handlers::duplicate))
        .routes(routes!(handlers::set_status))
        .routes(routes!(handlers::validate))
        .routes(routes!(templates::list, templates::publish))
        .routes(routes!(templates::get, templates::delete))
        .routes(routes!(templates::instantiate))
}

/// The function as deployed on its own: routes, state and the common layers.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let (router, _) = routes().with_state(state).split_for_parts();
    shared::http::apply_layers(router, &settings.http)
}
