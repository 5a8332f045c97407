//! What Stripe does on its own (a payment taken at Checkout, a plan changed
//! or cancelled in the Portal, a period ending, a card declined), as methods
//! the pages, the tests and the `/_double/…` control routes call; and the
//! faults a test can inject.

use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{objects, StripeDouble, World};

/// Faults to inject.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Faults {
    /// Every API call answers 503.
    pub unavailable: bool,
    /// The next N meter events are recorded but answered 500 (a lost answer).
    pub meter_answers_lost: u32,
    /// Webhooks wait (in order) until this is turned off.
    pub hold_webhooks: bool,
}

type Done = Result<(), String>;

impl StripeDouble {
    fn subscription_json(&self, w: &World, id: &str) -> Value {
        objects::subscription(&w.subscriptions[id], &self.inner.prices)
    }

    fn invoice_for(&self, w: &mut World, sub: &str, paid: bool) -> Value {
        let s = w.subscriptions[sub].clone();
        let amount: i64 = s
            .prices
            .iter()
            .filter_map(|p| self.price(p))
            .map(|p| p.amount)
            .sum();
        let id = w.id("in");
        let number = format!("DBL-{:04}", w.invoices.len() + 1);
        let invoice = objects::Invoice {
            id,
            number,
            customer: s.customer.clone(),
            subscription: s.id.clone(),
            status: if paid { "paid" } else { "open" },
            amount_due: amount,
            amount_paid: if paid { amount } else { 0 },
            created: chrono::Utc::now().timestamp(),
            period_start: s.period_start,
            period_end: s.period_end,
        };
        let v = objects::invoice(&invoice, self.url(), &s.metadata);
        w.invoices.push(invoice);
        v
    }

    /// The buyer pays at Checkout: the subscription starts, its first
    /// invoice is paid, and Stripe's three webhooks go out. Returns where
    /// the buyer's browser goes next.
    pub fn complete_checkout(&self, session_id: &str) -> Result<String, String> {
        let mut w = self.world();
        let s = w
            .sessions
            .get(session_id)
            .cloned()
            .ok_or("no such checkout session")?;
        if s.subscription.is_some() {
            return Err("this checkout session is already complete".into());
        }
        if s.expires_at < chrono::Utc::now().timestamp() {
            return Err("this checkout session has expired".into());
        }
        let now = chrono::Utc::now().timestamp();
        let interval = s
            .prices
            .iter()
            .filter_map(|p| self.price(p))
            .find(|p| !p.metered)
            .map_or(objects::Interval::Month, |p| p.interval);
        let id = w.id("sub");
        w.subscriptions.insert(
            id.clone(),
            objects::Subscription {
                id: id.clone(),
                customer: s.customer.clone(),
                status: "active",
                created: now,
                prices: s.prices.clone(),
                period_start: now,
                period_end: now + interval.seconds(),
                cancel_at_period_end: false,
                metadata: s.subscription_metadata.clone(),
                scheduled_price: None,
            },
        );
        if let Some(session) = w.sessions.get_mut(session_id) {
            session.subscription = Some(id.clone());
        }
        let sub = self.subscription_json(&w, &id);
        self.emit(&mut w, "customer.subscription.created", sub);
        let invoice = self.invoice_for(&mut w, &id, true);
        self.emit(&mut w, "invoice.paid", invoice);
        let mut done = s.clone();
        done.subscription = Some(id);
        let session = objects::session(&done, self.url(), "complete");
        self.emit(&mut w, "checkout.session.completed", session);
        Ok(s.success_url.replace("{CHECKOUT_SESSION_ID}", session_id))
    }

    fn change(&self, id: &str, f: impl FnOnce(&mut objects::Subscription) -> Done) -> Done {
        let mut w = self.world();
        let s = w.subscriptions.get_mut(id).ok_or("no such subscription")?;
        f(s)?;
        let v = self.subscription_json(&w, id);
        self.emit(&mut w, "customer.subscription.updated", v);
        Ok(())
    }

    /// Cancel at the period's end (or take that back), as in the Portal.
    pub fn cancel_at_period_end(&self, id: &str, cancel: bool) -> Done {
        self.change(id, |s| {
            if s.status == "canceled" {
                return Err("the subscription has ended".into());
            }
            s.cancel_at_period_end = cancel;
            Ok(())
        })
    }

    /// The subscription's prices with its flat price replaced by `price`
    /// (usage-based prices stay).
    fn with_flat(&self, prices: Vec<String>, price: &str) -> Vec<String> {
        std::iter::once(price.to_owned())
            .chain(
                prices
                    .into_iter()
                    .filter(|p| self.price(p).is_some_and(|p| p.metered)),
            )
            .collect()
    }

    fn flat_price(&self, price: &str) -> Result<String, String> {
        self.price(price)
            .filter(|p| !p.metered)
            .map(|p| p.id.clone())
            .ok_or_else(|| "no such price".into())
    }

    /// Move to another flat price at once, as in the Portal.
    pub fn switch_price(&self, id: &str, price: &str) -> Done {
        let price = self.flat_price(price)?;
        self.change(id, |s| {
            if s.status == "canceled" {
                return Err("the subscription has ended".into());
            }
            s.prices = self.with_flat(std::mem::take(&mut s.prices), &price);
            s.scheduled_price = None;
            Ok(())
        })
    }

    /// Move to another flat price when the period ends (a downgrade as the
    /// Portal schedules it): nothing changes until then.
    pub fn schedule_price(&self, id: &str, price: &str) -> Done {
        let price = self.flat_price(price)?;
        self.change(id, |s| {
            if s.status == "canceled" {
                return Err("the subscription has ended".into());
            }
            s.scheduled_price = Some(price);
            Ok(())
        })
    }

    /// Deletes a customer, as Stripe does: its live subscriptions are
    /// cancelled at once (each announced), and the customer is gone.
    pub fn delete_customer(&self, id: &str) -> Done {
        let mut w = self.world();
        if w.customers.remove(id).is_none() {
            return Err("no such customer".into());
        }
        let live: Vec<String> = w
            .subscriptions
            .values()
            .filter(|s| s.customer == id && s.status != "canceled")
            .map(|s| s.id.clone())
            .collect();
        for sub in live {
            if let Some(s) = w.subscriptions.get_mut(&sub) {
                s.status = "canceled";
            }
            let v = self.subscription_json(&w, &sub);
            self.emit(&mut w, "customer.subscription.deleted", v);
        }
        Ok(())
    }

    /// The period ends: a subscription cancelled at period end is deleted;
    /// else a new period starts with a paid invoice.
    pub fn end_period(&self, id: &str) -> Done {
        let mut w = self.world();
        let s = w.subscriptions.get_mut(id).ok_or("no such subscription")?;
        if s.status == "canceled" {
            return Err("the subscription has ended".into());
        }
        if s.cancel_at_period_end {
            s.status = "canceled";
            let v = self.subscription_json(&w, id);
            self.emit(&mut w, "customer.subscription.deleted", v);
            return Ok(());
        }
        let length = s.period_end - s.period_start;
        s.period_start = s.period_end;
        s.period_end += length;
        if let Some(next) = s.scheduled_price.take() {
            s.prices = self.with_flat(std::mem::take(&mut s.prices), &next);
        }
        let invoice = self.invoice_for(&mut w, id, true);
        self.emit(&mut w, "invoice.paid", invoice);
        let v = self.subscription_json(&w, id);
        self.emit(&mut w, "customer.subscription.updated", v);
        Ok(())
    }

    /// A renewal payment is declined: the subscription is past due.
    pub fn fail_payment(&self, id: &str) -> Done {
        let mut w = self.world();
        let s = w.subscriptions.get_mut(id).ok_or("no such subscription")?;
        if s.status == "canceled" {
            return Err("the subscription has ended".into());
        }
        s.status = "past_due";
        let invoice = self.invoice_for(&mut w, id, false);
        self.emit(&mut w, "invoice.payment_failed", invoice);
        let v = self.subscription_json(&w, id);
        self.emit(&mut w, "customer.subscription.updated", v);
        Ok(())
    }

    /// The customer pays what is due: the subscription is active again.
    pub fn pay(&self, id: &str) -> Done {
        let mut w = self.world();
        let s = w.subscriptions.get_mut(id).ok_or("no such subscription")?;
        if !matches!(s.status, "past_due" | "unpaid") {
            return Err("nothing is due".into());
        }
        s.status = "active";
        let open = w
            .invoices
            .iter_mut()
            .rev()
            .find(|i| i.subscription == id && i.status == "open");
        let paid = open.map(|i| {
            i.status = "paid";
            i.amount_paid = i.amount_due;
            i.clone()
        });
        if let Some(i) = paid {
            let meta = w.subscriptions[id].metadata.clone();
            let v = objects::invoice(&i, self.url(), &meta);
            self.emit(&mut w, "invoice.paid", v);
        }
        let v = self.subscription_json(&w, id);
        self.emit(&mut w, "customer.subscription.updated", v);
        Ok(())
    }

    /// The customer's subscriptions (ids), oldest first.
    pub fn subscriptions_of(&self, customer: &str) -> Vec<String> {
        let w = self.world();
        let mut subs: Vec<&objects::Subscription> = w
            .subscriptions
            .values()
            .filter(|s| s.customer == customer)
            .collect();
        subs.sort_by_key(|s| s.created);
        subs.into_iter().map(|s| s.id.clone()).collect()
    }

    /// Every event sent so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        self.world().events.clone()
    }

    /// The meter events received: (identifier, event name, customer, value).
    pub fn meter_events(&self) -> Vec<(String, String, String, i64)> {
        self.world()
            .meter_events
            .iter()
            .map(|(id, (n, c, v))| (id.clone(), n.clone(), c.clone(), *v))
            .collect()
    }

    pub fn set_faults(&self, faults: Faults) {
        self.world().faults = faults;
    }

    pub(super) fn holding(&self) -> bool {
        self.world().faults.hold_webhooks
    }
}

fn answer(done: Done) -> Response {
    match done {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => (StatusCode::CONFLICT, Json(json!({ "error": e }))).into_response(),
    }
}

async fn act(
    State(d): State<StripeDouble>,
    Path((id, action)): Path<(String, String)>,
) -> Response {
    answer(match action.as_str() {
        "end_period" => d.end_period(&id),
        "fail_payment" => d.fail_payment(&id),
        "pay" => d.pay(&id),
        "cancel" => d.cancel_at_period_end(&id, true),
        "resume" => d.cancel_at_period_end(&id, false),
        _ => {
            return (
                StatusCode::NOT_FOUND,
                Json(json!({ "error": "unknown action" })),
            )
                .into_response()
        }
    })
}

async fn subscriptions(State(d): State<StripeDouble>) -> Json<Value> {
    let w = d.world();
    let subs: Vec<Value> = w
        .subscriptions
        .keys()
        .map(|id| d.subscription_json(&w, id))
        .collect();
    Json(json!({ "data": subs }))
}

async fn events(State(d): State<StripeDouble>) -> Json<Value> {
    Json(json!({ "data": d.events() }))
}

async fn meter_events(State(d): State<StripeDouble>) -> Json<Value> {
    let data: Vec<Value> = d
        .meter_events()
        .into_iter()
        .map(|(id, name, customer, value)| json!({ "identifier": id, "eventName": name, "customer": customer, "value": value }))
        .collect();
    Json(json!({ "data": data }))
}

async fn faults(State(d): State<StripeDouble>, Json(f): Json<Faults>) -> StatusCode {
    d.set_faults(f);
    StatusCode::NO_CONTENT
}

pub fn router(d: StripeDouble) -> Router {
    Router::new()
        .route("/_double/subscriptions", get(subscriptions))
        .route("/_double/subscriptions/{id}/{action}", post(act))
        .route("/_double/events", get(events))
        .route("/_double/meter_events", get(meter_events))
        .route("/_double/faults", post(faults))
        .with_state(d)
}
