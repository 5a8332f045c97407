//! A workspace's Stripe customer: created the first time something needs
//! it and remembered. Created without holding the workspace row (Stripe is
//! slow), then stored only if the workspace still has none: two concurrent
//! callers keep the first one stored (the other, empty customer is left).

use shared::{
    billing::Billing,
    db::{billing as store, users},
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;

use crate::stripe_error::answer;

/// The workspace's Stripe customer id, created now if it has none.
pub async fn customer(
    state: &AppState,
    billing: &Billing,
    workspace_id: Uuid,
    user_id: Uuid,
) -> ApiResult<String> {
    let account = store::account(&state.db, workspace_id)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    if let Some(c) = account.stripe_customer_id {
        return Ok(c);
    }
    let email = users::find(&state.db, user_id)
        .await?
        .map(|u| u.email)
        .unwrap_or_default();
    let created = billing
        .stripe
        .create_customer(workspace_id, &account.name, &email)
        .await
        .map_err(answer)?;
    if store::set_customer(&state.db, workspace_id, &created.id).await? {
        return Ok(created.id);
    }
    store::account(&state.db, workspace_id)
        .await?
        .and_then(|a| a.stripe_customer_id)
        .ok_or_else(|| ApiError::not_found("workspace"))
}
