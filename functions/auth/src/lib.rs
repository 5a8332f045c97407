//! The auth function: `/api/v1/auth` — register, log in, refresh (with
//! rotation and reuse detection), log out, and the caller's profile.

mod dto;
mod handlers;
mod sessions;

use axum::Router;
use shared::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use dto::{
    AuthResponse, LoginRequest, RefreshRequest, RegisterRequest, TokenPair, UpdateMeRequest,
    UserView,
};

/// The routes of this function with their OpenAPI description, state not yet applied.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::register))
        .routes(routes!(handlers::login))
        .routes(routes!(handlers::refresh))
        .routes(routes!(handlers::logout))
        .routes(routes!(handlers::me, handlers::update_me))
}

/// The function as deployed on its own: routes, state and the common layers.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let (router, _) = routes().with_state(state).split_for_parts();
    shared::http::apply_layers(router, &settings.http)
}
