//! `POST /api/v1/billing/checkout`: buy a plan through Stripe Checkout.
//! Owners and admins only. No lock is held while Stripe is called:
//!
//! - a workspace with a live subscription is told to use the portal (409),
//!   whether we know of it already or Stripe has it and its webhook has not
//!   arrived yet (then it is applied now);
//! - the new session becomes the workspace's one open Checkout, and the one
//!   it replaces is expired, so two tabs can never both be paid. Should the
//!   replaced one have been paid meanwhile, the new one is expired instead.

use axum::{extract::State, http::StatusCode};
use chrono::Utc;
use serde_json::json;
use shared::{
    access::{can, require_verified, Allowed, InWorkspace, NeedsVerified},
    billing::{
        stripe::{CheckoutRequest as Session, Expired, Subscription},
        sync, Billing, Interval,
    },
    db::billing as store,
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;

use crate::{
    customer::customer,
    dto::{CheckoutRequest, CheckoutView},
    stripe_error::{answer, configured},
};

fn subscribed() -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        "this workspace already has a subscription: change or cancel it in the billing portal",
    )
    .with_details(json!({ "reason": "subscribed" }))
}

/// The customer's newest subscription that has not ended, at Stripe.
async fn live_at_stripe(billing: &Billing, customer: &str) -> ApiResult<Option<Subscription>> {
    let subs = billing
        .stripe
        .subscriptions_of(customer)
        .await
        .map_err(answer)?;
    Ok(subs
        .data
        .into_iter()
        .filter(|s| s.status().is_some_and(|st| !st.is_over()))
        .max_by_key(|s| s.created))
}

/// Applies a subscription Stripe has (its webhook may still be on its way).
async fn apply_now(
    state: &AppState,
    billing: &Billing,
    ws: Uuid,
    sub: &Subscription,
) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    let now = Utc::now();
    let applied = sync::apply(&mut tx, billing, ws, sub, None, now, now).await?;
    tx.commit().await?;
    if let (Some(change), Some(entry)) = (applied.change, applied.entry) {
        sync::announce(state, ws, change, entry).await;
    }
    Ok(())
}

/// Start buying a plan: a Stripe Checkout Session for a tier on sale. The
/// plan changes when Stripe confirms the payment (its webhook), not here.
#[utoipa::path(
    post, path = "/api/v1/billing/checkout", operation_id = "billing_checkout", tag = "billing", security(("bearer" = [])),
    params(InWorkspace),
    request_body = CheckoutRequest,
    responses(
        (status = 201, description = "Open `url` to pay", body = CheckoutView),
        (status = 400, description = "The tier is not on sale for that interval (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Only owners and admins buy plans (FORBIDDEN), with a verified email address (EMAIL_NOT_VERIFIED)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "The workspace already has a subscription: change it in the portal (CONFLICT, details.reason = subscribed)", body = ErrorEnvelope),
        (status = 503, description = "Payments are not configured, or Stripe is unavailable (SERVICE_UNAVAILABLE, details.reason = billing_not_configured | stripe)", body = ErrorEnvelope),
    )
)]
pub async fn checkout(
    State(state): State<AppState>,
    member: Allowed<can::ManageBilling>,
    Json(body): Json<CheckoutRequest>,
) -> ApiResult<(StatusCode, Json<CheckoutView>)> {
    require_verified(&state.db, member.user_id, NeedsVerified::BuyPlan).await?;
    let billing = configured(&state)?;
    let interval = body.interval.unwrap_or(Interval::Month);
    let price = billing.catalog.price(body.tier, interval).ok_or_else(|| {
        ApiError::field(
            "tier",
            format!(
                "{} is not on sale paid every {}",
                body.tier,
                interval.as_str()
            ),
        )
    })?;
    let ws = member.workspace_id;
    if store::subscription(&state.db, ws)
        .await?
        .is_some_and(|s| !s.status.is_over())
    {
        return Err(subscribed());
    }
    let customer = customer(&state, &billing, ws, member.user_id).await?;
    if let Some(sub) = live_at_stripe(&billing, &customer).await? {
        apply_now(&state, &billing, ws, &sub).await?;
        return Err(subscribed());
    }
    let app = &state.settings.email.app_url;
    let success =
        format!("{app}/billing?workspace={ws}&checkout=success&session_id={{CHECKOUT_SESSION_ID}}");
    let cancel = format!("{app}/billing?workspace={ws}&checkout=cancelled");
    let key = format!("saasit-checkout-{}", shared::ids::new_id());
    let session = billing
        .stripe
        .create_checkout_session(&Session {
            customer: &customer,
            price,
            metered_price: billing.catalog.metered_price(body.tier),
            workspace_id: ws,
            success_url: &success,
            cancel_url: &cancel,
            idempotency_key: &key,
        })
        .await
        .map_err(answer)?;
    // Only the newest Checkout can be paid.
    let expires_at = session.expires_at.and_then(shared::billing::stripe::at);
    let replaced = store::swap_checkout_session(&state.db, ws, &session.id, expires_at).await?;
    if let Some(previous) = replaced.filter(|p| *p != session.id) {
        let expired = billing
            .stripe
            .expire_checkout_session(&previous)
            .await
            .map_err(answer)?;
        if expired == Expired::NotOpen {
            // Paid (or lapsed) meanwhile: if it was paid, this one must not be.
            if let Some(sub) = live_at_stripe(&billing, &customer).await? {
                billing
                    .stripe
                    .expire_checkout_session(&session.id)
                    .await
                    .map_err(answer)?;
                apply_now(&state, &billing, ws, &sub).await?;
                return Err(subscribed());
            }
        }
    }
    let url = session.url.ok_or_else(|| {
        ApiError::internal(anyhow::anyhow!(
            "Stripe returned a Checkout Session without a URL"
        ))
    })?;
    Ok((
        StatusCode::CREATED,
        Json(CheckoutView {
            url,
            session_id: session.id,
            expires_at,
        }),
    ))
}
