//! The billing functions. Stripe is the source of truth for plans:
//!
//! - the billing API (`/api/v1/billing`, one Lambda): the plan, its limits,
//!   usage and what is left; Checkout to buy a plan; the Customer Portal to
//!   change or cancel it; invoices;
//! - the Stripe webhook (`POST /api/v1/billing/webhook`, its own Lambda, no
//!   JWT, raw body): verified, recorded once per event id, and applied by
//!   re-reading the subscription from Stripe (`shared::billing::sync`).

mod account;
mod checkout;
mod customer;
mod dto;
mod invoices;
mod portal;
mod stripe_error;
mod webhook;

use axum::Router;
use shared::AppState;
use utoipa_axum::{router::OpenApiRouter, routes};

pub use dto::{BillingView, CheckoutView, InvoicePage, PortalView, WebhookAck};

/// The billing API's routes with their OpenAPI description.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(account::get))
        .routes(routes!(checkout::checkout))
        .routes(routes!(portal::portal))
        .routes(routes!(invoices::list))
}

/// The webhook's route (its own Lambda).
pub fn webhook_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(webhook::receive))
}

/// The billing API as deployed on its own.
pub fn app(state: AppState) -> Router {
    deployed(routes(), state)
}

/// The webhook as deployed on its own.
pub fn webhook_app(state: AppState) -> Router {
    deployed(webhook_routes(), state)
}

fn deployed(routes: OpenApiRouter<AppState>, state: AppState) -> Router {
    let settings = state.settings.clone();
    let (router, _) = routes.with_state(state).split_for_parts();
    shared::http::apply_layers(router, &settings.http)
}
