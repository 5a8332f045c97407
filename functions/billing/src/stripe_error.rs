//! How a failure to reach or use Stripe is answered.

use std::sync::Arc;

use serde_json::json;
use shared::{
    billing::{Billing, StripeError},
    ApiError, AppState,
};

/// Billing as configured here, or 503 (`details.reason` = `billing_not_configured`).
pub fn configured(state: &AppState) -> Result<Arc<Billing>, ApiError> {
    state.billing.clone().ok_or_else(|| {
        ApiError::unavailable(anyhow::anyhow!("STRIPE_SECRET_KEY is not set"))
            .with_details(json!({ "reason": "billing_not_configured" }))
    })
}

/// Stripe down or slow: 503 (`details.reason` = `stripe`), retry later.
/// Stripe refusing what we sent is our fault (a price that does not
/// exist, a wrong key): logged, 500.
pub fn answer(e: StripeError) -> ApiError {
    match e {
        StripeError::Unreachable(_) | StripeError::Unavailable(_) => {
            ApiError::unavailable(anyhow::Error::new(e)).with_details(json!({ "reason": "stripe" }))
        }
        StripeError::Rejected { .. } => ApiError::internal(anyhow::Error::new(e)),
    }
}
