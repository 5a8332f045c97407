//! What the billing routes read and answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    billing::{Interval, Offer, SubscriptionStatus},
    db::billing::TierChange,
    tier::Tier,
};
use utoipa::ToSchema;
use uuid::Uuid;

/// The plan to buy.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"tier": "STARTER", "interval": "month"}))]
pub struct CheckoutRequest {
    /// A tier on sale (`offers` in `GET /api/v1/billing`).
    pub tier: Tier,
    /// Monthly (default) or yearly.
    #[serde(default)]
    pub interval: Option<Interval>,
}

/// Where to send the buyer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutView {
    /// Stripe Checkout: open it in the browser.
    pub url: String,
    pub session_id: String,
    pub expires_at: Option<DateTime<Utc>>,
}

/// Where the Customer Portal returns to.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({}))]
pub struct PortalRequest {
    /// A page of the web app (`APP_URL`); its billing page when omitted.
    #[schema(max_length = 2048)]
    pub return_url: Option<String>,
}

/// The Customer Portal: change plan, payment method or cancel.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortalView {
    pub url: String,
}

/// The subscription behind a paid plan.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SubscriptionView {
    /// The tier it buys (the plan is FREE while it is not paid).
    pub tier: Tier,
    pub status: SubscriptionStatus,
    pub interval: Interval,
    pub current_period_start: Option<DateTime<Utc>>,
    pub current_period_end: Option<DateTime<Utc>>,
    /// Cancelled: the plan ends at `currentPeriodEnd`.
    pub cancel_at_period_end: bool,
    /// A payment failed: the plan is kept until then.
    pub grace_until: Option<DateTime<Utc>>,
    /// Usage is billed on top.
    pub metered: bool,
}

/// What the plan allows (`null`: no limit).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsView {
    pub concurrent_runs: u32,
    pub max_runtime_seconds: Option<u64>,
    pub workflows_per_month: Option<u32>,
    pub agents_per_workflow: Option<u32>,
    pub messages_per_workflow: Option<u32>,
    pub seats: u32,
    pub activity_retention_days: u32,
}

/// This calendar month's usage (the period limits count in) and what the
/// workspace holds now.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageView {
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    pub workflows_created: i64,
    pub runs: i64,
    pub run_seconds: i64,
    /// Each run's minutes rounded up, summed (as metered usage is billed).
    pub run_minutes: i64,
    pub llm_tokens: i64,
    pub seats_used: i64,
    pub runs_in_flight: i64,
}

/// What is left of the limits (`null`: no limit).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RemainingView {
    pub workflows_this_month: Option<i64>,
    pub seats: i64,
    pub concurrent_runs: i64,
}

/// A workspace's plan, its limits, its usage and what is left.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BillingView {
    pub workspace_id: Uuid,
    pub tier: Tier,
    pub subscription: Option<SubscriptionView>,
    pub limits: LimitsView,
    pub usage: UsageView,
    pub remaining: RemainingView,
    /// Whether you may buy or change the plan (owners and admins).
    pub can_manage: bool,
    /// Whether payments are configured here (`false`: plans are set by an operator).
    pub billing_enabled: bool,
    /// The tiers on sale.
    pub offers: Vec<Offer>,
    /// The latest changes of plan, newest first.
    pub history: Vec<TierChange>,
}

/// Paging through invoices.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct InvoiceQuery {
    /// 1 to 100 (default 20).
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<u32>,
    /// The `nextCursor` of the previous page.
    #[param(max_length = 255, pattern = "^in_[A-Za-z0-9_]+$")]
    pub cursor: Option<String>,
}

/// One invoice, from Stripe.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceView {
    pub id: String,
    pub number: Option<String>,
    /// `draft`, `open`, `paid`, `uncollectible` or `void`.
    pub status: Option<String>,
    /// ISO currency code, lower case.
    pub currency: String,
    /// In the currency's smallest unit.
    pub amount_due: i64,
    pub amount_paid: i64,
    pub created: Option<DateTime<Utc>>,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub hosted_invoice_url: Option<String>,
    pub invoice_pdf: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvoicePage {
    pub items: Vec<InvoiceView>,
    /// Pass as `cursor` for the next page; `null` on the last.
    pub next_cursor: Option<String>,
}

/// A Stripe event, as Stripe sends it (only these fields are read; the
/// rest of Stripe's envelope is accepted and ignored).
#[derive(Debug, Deserialize, ToSchema)]
#[schema(example = json!({
    "id": "evt_1Q2w3E4r5T6y", "object": "event", "type": "customer.subscription.updated",
    "created": 1767225600, "data": {"object": {"id": "sub_1Q2w3E", "customer": "cus_Q2w3E4"}}
}))]
pub struct StripeEvent {
    pub id: String,
    /// `checkout.session.completed`, `customer.subscription.updated`, `invoice.paid`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// Unix seconds.
    pub created: i64,
    pub data: StripeEventData,
}

#[derive(Debug, Deserialize, ToSchema)]
pub struct StripeEventData {
    /// The Stripe object the event is about.
    #[schema(value_type = Object)]
    pub object: serde_json::Value,
}

/// The webhook's answer.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebhookAck {
    pub received: bool,
    /// This event id was processed before: nothing was done again.
    pub duplicate: bool,
}
