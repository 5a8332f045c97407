//! The Stripe API routes the double serves (form bodies in, JSON out, a
//! bearer secret key, idempotency keys honoured).

use std::collections::BTreeMap;

use axum::{
    body::Bytes,
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde_json::{json, Value};

use super::{objects, StripeDouble};

type Form = Vec<(String, String)>;

/// A refused create: status, Stripe error code, message.
type Refusal = (StatusCode, &'static str, &'static str);

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    let kind = if status.is_server_error() {
        "api_error"
    } else {
        "invalid_request_error"
    };
    (
        status,
        Json(json!({ "error": { "type": kind, "code": code, "message": message } })),
    )
        .into_response()
}

fn form(body: &[u8]) -> Form {
    url::form_urlencoded::parse(body).into_owned().collect()
}

fn one<'a>(f: &'a Form, key: &str) -> Option<&'a str> {
    f.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

/// `prefix[key]=value` entries as a map (`metadata[...]`).
fn map(f: &Form, prefix: &str) -> BTreeMap<String, String> {
    f.iter()
        .filter_map(|(k, v)| {
            k.strip_prefix(prefix)
                .and_then(|rest| rest.strip_prefix('['))
                .and_then(|rest| rest.strip_suffix(']'))
                .filter(|key| !key.contains('['))
                .map(|key| (key.to_owned(), v.clone()))
        })
        .collect()
}

impl StripeDouble {
    /// The refusal for a request without the key, or while Stripe is "down".
    fn gate(&self, headers: &HeaderMap) -> Option<Response> {
        if self.world().faults.unavailable {
            return Some(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "unavailable",
                "Stripe is unavailable (double fault)",
            ));
        }
        let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
        (auth != Some(&format!("Bearer {}", self.inner.key))).then(|| {
            error(
                StatusCode::UNAUTHORIZED,
                "api_key_invalid",
                "Invalid API Key provided",
            )
        })
    }

    /// Answers a create with `make`, or the answer given before for the same idempotency key.
    fn create(
        &self,
        headers: &HeaderMap,
        body: &[u8],
        make: impl FnOnce(&Self) -> Result<Value, Refusal>,
    ) -> Response {
        if let Some(refused) = self.gate(headers) {
            return refused;
        }
        let key = headers
            .get("idempotency-key")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        if let Some(k) = &key {
            if let Some((sent, v)) = self.world().idempotent.get(k) {
                // As Stripe: the same key with other parameters is an error.
                if sent.as_slice() != body {
                    return error(
                        StatusCode::BAD_REQUEST,
                        "idempotency_key_in_use",
                        "Keys for idempotent requests can only be used with the same parameters they were first used with",
                    );
                }
                return Json(v.clone()).into_response();
            }
        }
        match make(self) {
            Ok(v) => {
                if let Some(k) = key {
                    self.world()
                        .idempotent
                        .insert(k, (body.to_vec(), v.clone()));
                }
                Json(v).into_response()
            }
            Err((status, code, message)) => error(status, code, message),
        }
    }
}

async fn create_customer(
    State(d): State<StripeDouble>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form(&body);
    d.create(&headers, &body, |d| {
        let mut w = d.world();
        let c = objects::Customer {
            id: w.id("cus"),
            name: one(&f, "name").unwrap_or_default().to_owned(),
            email: one(&f, "email").unwrap_or_default().to_owned(),
            metadata: map(&f, "metadata"),
        };
        let v = objects::customer(&c);
        w.customers.insert(c.id.clone(), c);
        Ok(v)
    })
}

async fn create_session(
    State(d): State<StripeDouble>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let f = form(&body);
    d.create(&headers, &body, |d| {
        let customer = one(&f, "customer").unwrap_or_default().to_owned();
        if !d.world().customers.contains_key(&customer) {
            return Err((
                StatusCode::BAD_REQUEST,
                "resource_missing",
                "No such customer",
            ));
        }
        if one(&f, "mode") != Some("subscription") {
            return Err((
                StatusCode::BAD_REQUEST,
                "parameter_invalid",
                "mode must be subscription",
            ));
        }
        let prices: Vec<String> = (0..10)
            .map_while(|i| one(&f, &format!("line_items[{i}][price]")).map(str::to_owned))
            .collect();
        if prices.is_empty() || prices.iter().any(|p| d.price(p).is_none()) {
            return Err((StatusCode::BAD_REQUEST, "resource_missing", "No such price"));
        }
        let (Some(success_url), Some(cancel_url)) = (one(&f, "success_url"), one(&f, "cancel_url"))
        else {
            return Err((
                StatusCode::BAD_REQUEST,
                "parameter_missing",
                "success_url and cancel_url are required",
            ));
        };
        let mut w = d.world();
        let s = objects::Session {
            id: w.id("cs_test"),
            customer,
            prices,
            success_url: success_url.to_owned(),
            cancel_url: cancel_url.to_owned(),
            client_reference_id: one(&f, "client_reference_id").map(str::to_owned),
            metadata: map(&f, "metadata"),
            subscription_metadata: map(&f, "subscription_data[metadata]"),
            subscription: None,
            expires_at: one(&f, "expires_at")
                .and_then(|e| e.parse().ok())
                .unwrap_or_else(|| chrono::Utc::now().timestamp() + 86_400),
        };
        let v = objects::session(&s, d.url(), "open");
        w.sessions.insert(s.id.clone(), s);
        Ok(v)
    })
}

async fn expire_session(
    State(d): State<StripeDouble>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = d.gate(&headers) {
        return refused;
    }
    let mut w = d.world();
    let Some(s) = w.sessions.get_mut(&id) else {
        return error(
            StatusCode::NOT_FOUND,
            "resource_missing",
            "No such checkout.session",
        );
    };
    let now = chrono::Utc::now().timestamp();
    if s.subscription.is_some() || s.expires_at <= now {
        return error(
            StatusCode::BAD_REQUEST,
            "checkout_session_not_open",
            "Only Checkout Sessions with a status of open can be expired",
        );
    }
    s.expires_at = now - 1;
    Json(objects::session(s, d.url(), "expired")).into_response()
}

async fn create_portal(State(d): State<StripeDouble>, headers: HeaderMap, body: Bytes) -> Response {
    let f = form(&body);
    d.create(&headers, &body, |d| {
        let customer = one(&f, "customer").unwrap_or_default().to_owned();
        if !d.world().customers.contains_key(&customer) {
            return Err((StatusCode::BAD_REQUEST, "resource_missing", "No such customer"));
        }
        let mut w = d.world();
        let id = w.id("bps");
        let url = format!("{}/portal/{id}", d.url());
        w.portals.insert(id.clone(), (customer.clone(), one(&f, "return_url").unwrap_or_default().to_owned()));
        Ok(json!({ "id": id, "object": "billing_portal.session", "customer": customer, "url": url }))
    })
}

async fn get_subscription(
    State(d): State<StripeDouble>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = d.gate(&headers) {
        return refused;
    }
    match d.world().subscriptions.get(&id) {
        Some(s) => Json(objects::subscription(s, &d.inner.prices)).into_response(),
        None => error(
            StatusCode::NOT_FOUND,
            "resource_missing",
            "No such subscription",
        ),
    }
}

async fn list_subscriptions(
    State(d): State<StripeDouble>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(refused) = d.gate(&headers) {
        return refused;
    }
    let Some(customer) = q.get("customer") else {
        return error(
            StatusCode::BAD_REQUEST,
            "parameter_missing",
            "customer is required",
        );
    };
    // Newest first; without `status=all`, ended ones are left out (as Stripe).
    let all = q.get("status").is_some_and(|s| s == "all");
    let mut ids = d.subscriptions_of(customer);
    ids.reverse();
    let w = d.world();
    let data: Vec<Value> = ids
        .iter()
        .filter_map(|id| w.subscriptions.get(id))
        .filter(|s| all || s.status != "canceled")
        .map(|s| objects::subscription(s, &d.inner.prices))
        .collect();
    Json(json!({ "object": "list", "data": data, "has_more": false })).into_response()
}

async fn list_invoices(
    State(d): State<StripeDouble>,
    headers: HeaderMap,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Some(refused) = d.gate(&headers) {
        return refused;
    }
    let limit: usize = q
        .get("limit")
        .and_then(|l| l.parse().ok())
        .unwrap_or(10)
        .clamp(1, 100);
    let w = d.world();
    let mut mine: Vec<&objects::Invoice> = w
        .invoices
        .iter()
        .filter(|i| q.get("customer").is_none_or(|c| &i.customer == c))
        .collect();
    mine.reverse(); // newest first
    let start = match q.get("starting_after") {
        None => 0,
        Some(after) => match mine.iter().position(|i| &i.id == after) {
            Some(p) => p + 1,
            None => {
                return error(
                    StatusCode::BAD_REQUEST,
                    "resource_missing",
                    "No such invoice",
                )
            }
        },
    };
    let page: Vec<Value> = mine
        .iter()
        .skip(start)
        .take(limit)
        .map(|i| {
            let meta = w
                .subscriptions
                .get(&i.subscription)
                .map(|s| s.metadata.clone())
                .unwrap_or_default();
            objects::invoice(i, d.url(), &meta)
        })
        .collect();
    Json(json!({ "object": "list", "data": page, "has_more": start + limit < mine.len() }))
        .into_response()
}

async fn meter_event(State(d): State<StripeDouble>, headers: HeaderMap, body: Bytes) -> Response {
    if let Some(refused) = d.gate(&headers) {
        return refused;
    }
    let f = form(&body);
    let (Some(name), Some(identifier), Some(customer), Some(value)) = (
        one(&f, "event_name"),
        one(&f, "identifier"),
        one(&f, "payload[stripe_customer_id]"),
        one(&f, "payload[value]").and_then(|v| v.parse::<i64>().ok()),
    ) else {
        return error(
            StatusCode::BAD_REQUEST,
            "parameter_missing",
            "event_name, identifier and payload are required",
        );
    };
    let mut w = d.world();
    if w.meter_events.contains_key(identifier) {
        return error(
            StatusCode::BAD_REQUEST,
            "duplicate_meter_event",
            "An event with this identifier was already processed",
        );
    }
    w.meter_events.insert(
        identifier.to_owned(),
        (name.to_owned(), customer.to_owned(), value),
    );
    if w.faults.meter_answers_lost > 0 {
        // Recorded, but the answer is "lost": the caller must retry safely.
        w.faults.meter_answers_lost -= 1;
        return error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "api_error",
            "the answer was lost (double fault)",
        );
    }
    Json(json!({ "object": "billing.meter_event", "event_name": name, "identifier": identifier }))
        .into_response()
}

async fn delete_customer(
    State(d): State<StripeDouble>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    if let Some(refused) = d.gate(&headers) {
        return refused;
    }
    match d.delete_customer(&id) {
        Ok(()) => Json(json!({ "id": id, "object": "customer", "deleted": true })).into_response(),
        Err(_) => error(
            StatusCode::NOT_FOUND,
            "resource_missing",
            "No such customer",
        ),
    }
}

pub fn router(d: StripeDouble) -> Router {
    Router::new()
        .route("/v1/customers", post(create_customer))
        .route("/v1/customers/{id}", axum::routing::delete(delete_customer))
        .route("/v1/checkout/sessions", post(create_session))
        .route("/v1/checkout/sessions/{id}/expire", post(expire_session))
        .route("/v1/billing_portal/sessions", post(create_portal))
        .route("/v1/subscriptions", get(list_subscriptions))
        .route("/v1/subscriptions/{id}", get(get_subscription))
        .route("/v1/invoices", get(list_invoices))
        .route("/v1/billing/meter_events", post(meter_event))
        .with_state(d)
}
