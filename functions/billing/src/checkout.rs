//! `POST /api/v1/billing/checkout` (buy a plan through Stripe Checkout; a
//! new Checkout expires the workspace's previous one, so only one can be
//! paid) and
//! `POST /api/v1/billing/portal` (change plan, payment method or cancel in
//! the Customer Portal). Owners and admins only. A workspace gets one Stripe
//! customer, created the first time and remembered; it is created with the
//! workspace row locked, so two checkouts at once never make two.

use axum::{extract::State, http::StatusCode};
use serde_json::json;
use shared::{
    access::{can, Allowed, InWorkspace},
    billing::{stripe::CheckoutRequest as Session, Billing, Interval},
    db::{billing as store, users},
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ApiError, ApiResult, AppState,
};
use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    dto::{CheckoutRequest, CheckoutView, PortalRequest, PortalView},
    stripe_error::{answer, configured},
};

fn conflict(reason: &str, message: &str) -> ApiError {
    ApiError::new(ErrorCode::Conflict, message).with_details(json!({ "reason": reason }))
}

/// The workspace's Stripe customer, created now if it has none (the row is
/// locked by the caller).
async fn customer(
    tx: &mut PgConnection,
    billing: &Billing,
    workspace_id: Uuid,
    existing: Option<String>,
    name: &str,
    user_id: Uuid,
) -> ApiResult<String> {
    if let Some(c) = existing {
        return Ok(c);
    }
    let email = users::find(&mut *tx, user_id)
        .await?
        .map(|u| u.email)
        .unwrap_or_default();
    let created = billing
        .stripe
        .create_customer(workspace_id, name, &email)
        .await
        .map_err(answer)?;
    store::set_customer(&mut *tx, workspace_id, &created.id).await?;
    Ok(created.id)
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
        (status = 403, description = "Only owners and admins buy plans (FORBIDDEN)", body = ErrorEnvelope),
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
    let mut tx = state.db.begin().await?;
    let account = store::lock(&mut *tx, ws)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    if let Some(sub) = store::subscription(&mut *tx, ws).await? {
        if !sub.status.is_over() {
            return Err(conflict(
                "subscribed",
                "this workspace already has a subscription: change or cancel it in the billing portal",
            ));
        }
    }
    let customer = customer(
        &mut tx,
        &billing,
        ws,
        account.stripe_customer_id,
        &account.name,
        member.user_id,
    )
    .await?;
    // Only the newest Checkout can be paid: two tabs never make two subscriptions.
    if let Some(previous) = &account.checkout_session_id {
        billing
            .stripe
            .expire_checkout_session(previous)
            .await
            .map_err(answer)?;
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
    store::set_checkout_session(&mut *tx, ws, &session.id).await?;
    tx.commit().await?;
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
            expires_at: session.expires_at.and_then(shared::billing::stripe::at),
        }),
    ))
}

/// Open the Stripe Customer Portal for the workspace: change the plan, the
/// payment method, see invoices or cancel (at the period's end). The
/// workspace's Stripe customer is created first if it has none.
#[utoipa::path(
    post, path = "/api/v1/billing/portal", operation_id = "billing_portal", tag = "billing", security(("bearer" = [])),
    params(InWorkspace),
    request_body = PortalRequest,
    responses(
        (status = 200, description = "Open `url` to manage the subscription", body = PortalView),
        (status = 400, description = "`returnUrl` is not a page of the app (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Only owners and admins manage the plan (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 503, description = "Payments are not configured, or Stripe is unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn portal(
    State(state): State<AppState>,
    member: Allowed<can::ManageBilling>,
    Json(body): Json<PortalRequest>,
) -> ApiResult<Json<PortalView>> {
    let billing = configured(&state)?;
    let app = &state.settings.email.app_url;
    let return_url = match body.return_url {
        None => format!("{app}/billing?workspace={}", member.workspace_id),
        // Only back into the app: never an open redirect.
        Some(u) if u == *app || u.starts_with(&format!("{app}/")) => u,
        Some(_) => {
            return Err(ApiError::field(
                "returnUrl",
                format!("must be a page of the app ({app}/…)"),
            ))
        }
    };
    // The portal needs a customer: created now if nothing was bought yet
    // (payment methods can be added before buying).
    let mut tx = state.db.begin().await?;
    let account = store::lock(&mut *tx, member.workspace_id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let customer = customer(
        &mut tx,
        &billing,
        member.workspace_id,
        account.stripe_customer_id,
        &account.name,
        member.user_id,
    )
    .await?;
    tx.commit().await?;
    let session = billing
        .stripe
        .create_portal_session(&customer, &return_url)
        .await
        .map_err(answer)?;
    Ok(Json(PortalView { url: session.url }))
}
