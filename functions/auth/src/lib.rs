//! The auth function: `/api/v1/auth` (sign-up, sign-in with a password or a
//! one-time code, refresh with rotation and reuse detection, sign-out, email
//! verification, password reset and change, the caller's profile, data
//! export and account deletion) and
//! `/api/v1/api-keys` (a member's keys for scripts).

mod account;
mod account_dto;
mod dto;
mod handlers;
mod keys;
mod mail;
mod oauth;
mod otp;
mod recovery;
mod sessions;
mod verification;

use axum::Router;
use shared::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use account_dto::{Accepted, OtpSent};
pub use dto::{
    AuthResponse, LoginRequest, RefreshRequest, RegisterRequest, TokenPair, UpdateMeRequest,
    UserView,
};
pub use keys::{ApiKeyView, CreatedApiKey};

/// The routes of this function with their OpenAPI description, state not yet applied.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(handlers::register))
        .routes(routes!(handlers::login))
        .routes(routes!(handlers::refresh))
        .routes(routes!(handlers::logout))
        .routes(routes!(handlers::me, handlers::update_me, account::delete))
        .routes(routes!(account::export))
        .routes(routes!(verification::verify_email))
        .routes(routes!(verification::resend))
        .routes(routes!(recovery::forgot))
        .routes(routes!(recovery::reset))
        .routes(routes!(recovery::change))
        .routes(routes!(otp::request_otp))
        .routes(routes!(otp::verify_otp))
        .routes(routes!(oauth::routes::providers))
        .routes(routes!(oauth::routes::start_oauth))
        .routes(routes!(oauth::routes::callback))
        .routes(routes!(keys::create, keys::list))
        .routes(routes!(keys::revoke))
}

/// The function as deployed on its own: routes, state and the common layers.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let (router, _) = routes().with_state(state).split_for_parts();
    shared::http::apply_layers(router, &settings.http)
}
