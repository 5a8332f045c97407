//! The Stripe objects the double keeps, and their JSON as Stripe shapes it
//! (API version 2025-03-31 and later: periods on subscription items, an
//! invoice's subscription under `parent`). Only what billing reads, plus
//! the `object` and `livemode` every Stripe object has.

use std::collections::BTreeMap;

use serde_json::{json, Value};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Interval {
    Month,
    Year,
}

impl Interval {
    pub fn seconds(self) -> i64 {
        match self {
            Self::Month => 30 * 86_400,
            Self::Year => 365 * 86_400,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Year => "year",
        }
    }
}

/// A price the double sells: its id, how often it is paid, and how much
/// (cents; 0 for a usage-based price).
#[derive(Debug, Clone)]
pub struct Price {
    pub id: String,
    pub interval: Interval,
    pub amount: i64,
    /// A usage-based price: billed by meter events, not a flat amount.
    pub metered: bool,
}

#[derive(Debug, Clone)]
pub struct Customer {
    pub id: String,
    pub name: String,
    pub email: String,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub customer: String,
    pub prices: Vec<String>,
    pub success_url: String,
    pub cancel_url: String,
    pub client_reference_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub subscription_metadata: BTreeMap<String, String>,
    pub subscription: Option<String>,
    pub expires_at: i64,
}

#[derive(Debug, Clone)]
pub struct Subscription {
    pub id: String,
    pub customer: String,
    pub status: &'static str,
    pub created: i64,
    pub prices: Vec<String>,
    pub period_start: i64,
    pub period_end: i64,
    pub cancel_at_period_end: bool,
    pub metadata: BTreeMap<String, String>,
    /// A flat price that takes over when the period ends (a downgrade
    /// scheduled in the Portal, as a subscription schedule does).
    pub scheduled_price: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Invoice {
    pub id: String,
    pub number: String,
    pub customer: String,
    pub subscription: String,
    pub status: &'static str,
    pub amount_due: i64,
    pub amount_paid: i64,
    pub created: i64,
    pub period_start: i64,
    pub period_end: i64,
}

pub fn customer(c: &Customer) -> Value {
    json!({
        "id": c.id, "object": "customer", "livemode": false,
        "name": c.name, "email": c.email, "metadata": c.metadata,
    })
}

pub fn session(s: &Session, base: &str, status: &str) -> Value {
    json!({
        "id": s.id, "object": "checkout.session", "livemode": false, "mode": "subscription",
        "status": status, "customer": s.customer, "subscription": s.subscription,
        "client_reference_id": s.client_reference_id, "metadata": s.metadata,
        "success_url": s.success_url, "cancel_url": s.cancel_url,
        "url": (status == "open").then(|| format!("{base}/checkout/{}", s.id)),
        "expires_at": s.expires_at,
    })
}

pub fn subscription(s: &Subscription, prices: &[Price]) -> Value {
    let items: Vec<Value> = s
        .prices
        .iter()
        .enumerate()
        .map(|(i, p)| {
            let interval = prices
                .iter()
                .find(|x| &x.id == p)
                .map_or("month", |x| x.interval.as_str());
            json!({
                "id": format!("si_{}_{i}", &s.id[4..]), "object": "subscription_item",
                "price": { "id": p, "object": "price", "recurring": { "interval": interval } },
                "current_period_start": s.period_start, "current_period_end": s.period_end,
            })
        })
        .collect();
    json!({
        "id": s.id, "object": "subscription", "livemode": false, "customer": s.customer,
        "status": s.status, "created": s.created, "cancel_at_period_end": s.cancel_at_period_end,
        "items": { "object": "list", "data": items, "has_more": false },
        "metadata": s.metadata,
        "schedule": s.scheduled_price.as_ref().map(|_| format!("sub_sched_{}", &s.id[4..])),
    })
}

pub fn invoice(i: &Invoice, base: &str, metadata: &BTreeMap<String, String>) -> Value {
    json!({
        "id": i.id, "object": "invoice", "livemode": false, "number": i.number,
        "customer": i.customer, "status": i.status, "currency": "usd",
        "amount_due": i.amount_due, "amount_paid": i.amount_paid, "created": i.created,
        "period_start": i.period_start, "period_end": i.period_end,
        "hosted_invoice_url": format!("{base}/invoices/{}", i.id), "invoice_pdf": null,
        "parent": { "type": "subscription_details",
                    "subscription_details": { "subscription": i.subscription, "metadata": metadata } },
    })
}

pub fn event(id: &str, kind: &str, created: i64, object: Value) -> Value {
    json!({
        "id": id, "object": "event", "api_version": "2025-03-31.basil", "created": created,
        "livemode": false, "pending_webhooks": 1, "type": kind, "data": { "object": object },
    })
}
