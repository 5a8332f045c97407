//! `POST /api/v1/billing/portal`: the Stripe Customer Portal, to change the
//! plan or the payment method, see invoices or cancel. Owners and admins.

use axum::extract::State;
use shared::{
    access::{can, Allowed, InWorkspace},
    error::ErrorEnvelope,
    extract::Json,
    ApiError, ApiResult, AppState,
};

use crate::{
    customer::customer,
    dto::{PortalRequest, PortalView},
    stripe_error::{answer, configured},
};

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
    let customer = customer(&state, &billing, member.workspace_id, member.user_id).await?;
    let session = billing
        .stripe
        .create_portal_session(&customer, &return_url)
        .await
        .map_err(answer)?;
    Ok(Json(PortalView { url: session.url }))
}
