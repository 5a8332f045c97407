//! The workflows function: `/api/v1/workflows` — the design surface: create,
//! list, change (each change an immutable version, guarded by the base
//! version), versions and restore, duplicate, status, validation, soft delete;
//! `/api/v1/templates`, the template catalogue; and a workflow's webhook and
//! schedule triggers (`/api/v1/workflows/{id}/triggers`, `/api/v1/schedules`).

mod dto;
mod handlers;
mod templates;
mod trigger_dto;
mod triggers;

use axum::Router;
use shared::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use dto::{WorkflowPage, WorkflowStatus, WorkflowView};
pub use trigger_dto::{TriggerList, TriggerView};

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
        .routes(routes!(triggers::list))
        .routes(routes!(triggers::schedules))
        .routes(routes!(triggers::pause))
        .routes(routes!(triggers::resume))
        .routes(routes!(triggers::new_secret))
}

/// The function as deployed on its own: routes, state and the common layers.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let (router, _) = routes().with_state(state).split_for_parts();
    shared::http::apply_layers(router, &settings.http)
}
