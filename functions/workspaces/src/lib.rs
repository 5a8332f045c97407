//! The workspaces function: `/api/v1/workspaces` — team workspaces, their
//! members and roles, handing ownership on, the workspace's vault of
//! secrets, its files, its analytics and its spend caps. Who may do what is decided
//! by `shared::access`; every handler asks it.

mod activity;
mod analytics;
mod budget;
mod dto;
mod file_dto;
mod files;
mod handlers;
mod inbox;
mod invitations;
mod invite_dto;
mod invite_email;
mod members;
mod secret_dto;
mod secrets;

use axum::Router;
use shared::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use activity::ActivityPage;
pub use dto::{AssignableRole, MemberView, WorkspaceView};
pub use file_dto::{FileList, FileView, Upload};
pub use invite_dto::{InboxList, InvitationStatus, InvitationView};
pub use secret_dto::{SecretList, SecretView};

/// The routes of this function with their OpenAPI description, state not yet applied.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::list, handlers::create))
        .routes(routes!(handlers::get, handlers::rename, handlers::delete))
        .routes(routes!(handlers::transfer))
        .routes(routes!(members::list))
        .routes(routes!(members::change_role, members::remove))
        .routes(routes!(invitations::create, invitations::list))
        .routes(routes!(invitations::revoke))
        .routes(routes!(invitations::resend))
        .routes(routes!(inbox::mine))
        .routes(routes!(inbox::accept))
        .routes(routes!(inbox::decline))
        .routes(routes!(activity::list))
        .routes(routes!(analytics::overview))
        .routes(routes!(analytics::workflow))
        .routes(routes!(analytics::performance))
        .routes(routes!(analytics::costs))
        .routes(routes!(analytics::usage))
        .routes(routes!(budget::get, budget::set))
        .routes(routes!(secrets::list, secrets::create))
        .routes(routes!(secrets::replace, secrets::delete))
        .routes(routes!(files::list, files::create))
        .routes(routes!(files::get, files::delete))
        .routes(routes!(files::complete))
}

/// The function as deployed on its own: routes, state and the common layers.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let (router, _) = routes().with_state(state).split_for_parts();
    shared::http::apply_layers(router, &settings.http)
}
