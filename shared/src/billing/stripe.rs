//! The Stripe API client: the few calls billing makes, form-encoded as
//! Stripe wants, with idempotency keys on every create, a timeout on every
//! call and typed answers holding only the fields we read (so new fields and
//! API versions do not break us). The base URL is configurable: the local
//! Stripe double serves the same shapes.

use std::{collections::HashMap, time::Duration};

use chrono::{DateTime, Utc};
use secrecy::{ExposeSecret, SecretString};
use serde::{de::DeserializeOwned, Deserialize};

/// The API version every request is made with: the shapes this client
/// reads (periods on subscription items, an invoice's subscription under
/// `parent`; the older shapes are read too).
pub const API_VERSION: &str = "2025-03-31.basil";

/// Why a call to Stripe failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StripeError {
    /// Stripe could not be reached: the request was never sent. Retry later.
    #[error("Stripe is unreachable: {0}")]
    Unreachable(String),
    /// Stripe timed out or answered 429 / 5xx: retry later. The request may
    /// have been carried out.
    #[error("Stripe is unavailable: {0}")]
    Unavailable(String),
    /// Stripe refused the request; retrying it will not help.
    #[error("Stripe refused the request ({status}{}): {message}", code.as_deref().map(|c| format!(", {c}")).unwrap_or_default())]
    Rejected {
        status: u16,
        code: Option<String>,
        message: String,
    },
}

#[derive(Debug, Clone, Deserialize)]
pub struct List<T> {
    pub data: Vec<T>,
    #[serde(default)]
    pub has_more: bool,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Customer {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct CheckoutSession {
    pub id: String,
    pub url: Option<String>,
    #[serde(default)]
    pub expires_at: Option<i64>,
}

#[derive(Debug, Clone, Deserialize)]
pub struct PortalSession {
    pub url: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct Price {
    pub id: String,
}

#[derive(Debug, Clone, Deserialize)]
pub struct SubscriptionItem {
    pub price: Price,
    #[serde(default)]
    pub current_period_start: Option<i64>,
    #[serde(default)]
    pub current_period_end: Option<i64>,
}

/// A subscription as Stripe returns it (`customer` not expanded).
#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub customer: String,
    pub status: String,
    pub created: i64,
    #[serde(default)]
    pub cancel_at_period_end: bool,
    /// Before API version 2025-03-31 the period is on the subscription;
    /// since, on each item.
    #[serde(default)]
    pub current_period_start: Option<i64>,
    #[serde(default)]
    pub current_period_end: Option<i64>,
    pub items: List<SubscriptionItem>,
    #[serde(default)]
    pub metadata: HashMap<String, String>,
}

impl Subscription {
    /// Its status, if it is one we know.
    pub fn status(&self) -> Option<super::SubscriptionStatus> {
        serde_json::from_value(serde_json::Value::String(self.status.clone())).ok()
    }

    pub fn period(&self) -> (Option<DateTime<Utc>>, Option<DateTime<Utc>>) {
        let item = self.items.data.first();
        let start = self
            .current_period_start
            .or_else(|| item.and_then(|i| i.current_period_start));
        let end = self
            .current_period_end
            .or_else(|| item.and_then(|i| i.current_period_end));
        (start.and_then(at), end.and_then(at))
    }
}

#[derive(Debug, Clone, Deserialize)]
pub struct Invoice {
    pub id: String,
    #[serde(default)]
    pub number: Option<String>,
    #[serde(default)]
    pub status: Option<String>,
    pub currency: String,
    #[serde(default)]
    pub amount_due: i64,
    #[serde(default)]
    pub amount_paid: i64,
    pub created: i64,
    #[serde(default)]
    pub period_start: Option<i64>,
    #[serde(default)]
    pub period_end: Option<i64>,
    #[serde(default)]
    pub hosted_invoice_url: Option<String>,
    #[serde(default)]
    pub invoice_pdf: Option<String>,
}

/// Unix seconds as a time (`None` when out of range).
pub fn at(secs: i64) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(secs, 0)
}

/// What expiring a Checkout Session did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expired {
    /// It was open and can no longer be paid.
    Now,
    /// It was not open: paid already, or lapsed.
    NotOpen,
}

/// How long a Checkout Session can be paid (Stripe allows 30 minutes to 24
/// hours): a team workspace with an open one is not deleted meanwhile.
pub const CHECKOUT_LIFETIME_SECS: i64 = 3600;

/// What a Checkout Session for a subscription needs.
#[derive(Debug, Clone)]
pub struct CheckoutRequest<'a> {
    pub customer: &'a str,
    pub price: &'a str,
    /// A usage-based price added to the subscription, if the tier has one.
    pub metered_price: Option<&'a str>,
    pub workspace_id: uuid::Uuid,
    pub success_url: &'a str,
    pub cancel_url: &'a str,
    /// Makes a retried request return the same session.
    pub idempotency_key: &'a str,
}

#[derive(Debug, Clone)]
pub struct StripeClient {
    http: reqwest::Client,
    base: String,
    key: SecretString,
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    message: Option<String>,
}

type Form = Vec<(String, String)>;

fn field(form: &mut Form, key: &str, value: impl Into<String>) {
    form.push((key.to_owned(), value.into()));
}

impl StripeClient {
    pub fn new(base: &str, key: SecretString, timeout: Duration) -> Result<Self, StripeError> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(5)))
            .user_agent("saasit-billing")
            .build()
            .map_err(|e| StripeError::Unavailable(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base: base.trim_end_matches('/').to_owned(),
            key,
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        req: reqwest::RequestBuilder,
    ) -> Result<T, StripeError> {
        let resp = req
            .bearer_auth(self.key.expose_secret())
            .header("Stripe-Version", API_VERSION)
            .send()
            .await
            .map_err(|e| {
                if e.is_connect() {
                    StripeError::Unreachable(without_url(&e))
                } else {
                    StripeError::Unavailable(without_url(&e))
                }
            })?;
        let status = resp.status();
        let body = resp
            .bytes()
            .await
            .map_err(|e| StripeError::Unavailable(without_url(&e)))?;
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                StripeError::Unavailable(format!("an answer from Stripe could not be read: {e}"))
            });
        }
        let detail = serde_json::from_slice::<ErrorBody>(&body)
            .ok()
            .map(|b| b.error);
        let message = detail
            .as_ref()
            .and_then(|d| d.message.clone())
            .unwrap_or_else(|| format!("HTTP {status}"));
        if status.as_u16() == 429 || status.is_server_error() {
            return Err(StripeError::Unavailable(message));
        }
        Err(StripeError::Rejected {
            status: status.as_u16(),
            code: detail.and_then(|d| d.code),
            message,
        })
    }

    async fn post<T: DeserializeOwned>(
        &self,
        path: &str,
        form: &Form,
        idempotency_key: Option<&str>,
    ) -> Result<T, StripeError> {
        let mut req = self.http.post(format!("{}{path}", self.base)).form(form);
        if let Some(k) = idempotency_key {
            req = req.header("Idempotency-Key", k);
        }
        self.call(req).await
    }

    /// A customer for a workspace. The idempotency key names the workspace
    /// and the parameters, so a retry returns the same customer and another
    /// caller's different parameters are not refused as a key reuse.
    pub async fn create_customer(
        &self,
        workspace_id: uuid::Uuid,
        name: &str,
        email: &str,
    ) -> Result<Customer, StripeError> {
        use sha2::Digest;
        let mut form = Form::new();
        field(&mut form, "name", name);
        field(&mut form, "email", email);
        field(
            &mut form,
            "metadata[workspace_id]",
            workspace_id.to_string(),
        );
        let digest = sha2::Sha256::digest(format!("{name}\n{email}"));
        let key = format!(
            "saasit-customer-{workspace_id}-{}",
            digest[..8]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect::<String>()
        );
        self.post("/v1/customers", &form, Some(&key)).await
    }

    /// Deletes a customer: Stripe cancels its subscriptions at once and
    /// charges it no more. A customer already gone counts as deleted.
    pub async fn delete_customer(&self, id: &str) -> Result<(), StripeError> {
        let url = format!("{}/v1/customers/{}", self.base, path_part(id)?);
        match self.call::<serde_json::Value>(self.http.delete(url)).await {
            Ok(_) | Err(StripeError::Rejected { status: 404, .. }) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// A customer's subscriptions, whatever their status (newest first).
    pub async fn subscriptions_of(
        &self,
        customer: &str,
    ) -> Result<List<Subscription>, StripeError> {
        let req = self
            .http
            .get(format!("{}/v1/subscriptions", self.base))
            .query(&[("customer", customer), ("status", "all"), ("limit", "20")]);
        self.call(req).await
    }

    pub async fn create_checkout_session(
        &self,
        r: &CheckoutRequest<'_>,
    ) -> Result<CheckoutSession, StripeError> {
        let ws = r.workspace_id.to_string();
        let mut form = Form::new();
        field(&mut form, "mode", "subscription");
        field(
            &mut form,
            "expires_at",
            (chrono::Utc::now().timestamp() + CHECKOUT_LIFETIME_SECS).to_string(),
        );
        field(&mut form, "customer", r.customer);
        field(&mut form, "client_reference_id", ws.clone());
        field(&mut form, "success_url", r.success_url);
        field(&mut form, "cancel_url", r.cancel_url);
        field(&mut form, "line_items[0][price]", r.price);
        field(&mut form, "line_items[0][quantity]", "1");
        if let Some(m) = r.metered_price {
            field(&mut form, "line_items[1][price]", m);
        }
        field(&mut form, "metadata[workspace_id]", ws.clone());
        field(&mut form, "subscription_data[metadata][workspace_id]", ws);
        self.post("/v1/checkout/sessions", &form, Some(r.idempotency_key))
            .await
    }

    /// Expires a Checkout Session so it can no longer be paid; one already
    /// complete or expired is [`Expired::NotOpen`].
    pub async fn expire_checkout_session(&self, id: &str) -> Result<Expired, StripeError> {
        let path = format!("/v1/checkout/sessions/{}/expire", path_part(id)?);
        match self
            .post::<serde_json::Value>(&path, &Form::new(), None)
            .await
        {
            Ok(_) => Ok(Expired::Now),
            Err(StripeError::Rejected {
                status: 400 | 404, ..
            }) => Ok(Expired::NotOpen),
            Err(e) => Err(e),
        }
    }

    pub async fn create_portal_session(
        &self,
        customer: &str,
        return_url: &str,
    ) -> Result<PortalSession, StripeError> {
        let mut form = Form::new();
        field(&mut form, "customer", customer);
        field(&mut form, "return_url", return_url);
        self.post("/v1/billing_portal/sessions", &form, None).await
    }

    pub async fn subscription(&self, id: &str) -> Result<Subscription, StripeError> {
        let url = format!("{}/v1/subscriptions/{}", self.base, path_part(id)?);
        self.call(self.http.get(url)).await
    }

    /// A page of a customer's invoices, newest first.
    pub async fn invoices(
        &self,
        customer: &str,
        limit: u32,
        starting_after: Option<&str>,
    ) -> Result<List<Invoice>, StripeError> {
        let mut query = vec![
            ("customer", customer.to_owned()),
            ("limit", limit.to_string()),
        ];
        if let Some(s) = starting_after {
            query.push(("starting_after", s.to_owned()));
        }
        let req = self
            .http
            .get(format!("{}/v1/invoices", self.base))
            .query(&query);
        self.call(req).await
    }

    /// One meter event. Stripe counts an `identifier` once, so a retry after
    /// a lost answer is not counted twice; a duplicate answers 400 with a
    /// `…duplicate…` error code, which counts as done.
    pub async fn meter_event(
        &self,
        event_name: &str,
        customer: &str,
        value: i64,
        identifier: &str,
        timestamp: i64,
    ) -> Result<(), StripeError> {
        let mut form = Form::new();
        field(&mut form, "event_name", event_name);
        field(&mut form, "identifier", identifier);
        field(&mut form, "timestamp", timestamp.to_string());
        field(&mut form, "payload[stripe_customer_id]", customer);
        field(&mut form, "payload[value]", value.to_string());
        match self
            .post::<serde_json::Value>("/v1/billing/meter_events", &form, Some(identifier))
            .await
        {
            Ok(_) => Ok(()),
            Err(StripeError::Rejected { code: Some(c), .. }) if is_duplicate(&c) => Ok(()),
            Err(e) => Err(e),
        }
    }
}

/// Stripe's error codes for a meter event whose identifier was seen.
fn is_duplicate(code: &str) -> bool {
    code.contains("duplicate")
}

/// An id placed in a URL path: Stripe ids are ASCII letters, digits and `_`.
fn path_part(id: &str) -> Result<&str, StripeError> {
    if !id.is_empty()
        && id.len() <= 255
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
    {
        Ok(id)
    } else {
        Err(StripeError::Rejected {
            status: 400,
            code: Some("invalid_id".into()),
            message: "not a Stripe object id".into(),
        })
    }
}

/// A transport error without the URL (it may carry a query with ids).
fn without_url(e: &reqwest::Error) -> String {
    let kind = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "could not connect"
    } else {
        "request failed"
    };
    let mut detail = e.to_string();
    if let Some(url) = e.url() {
        detail = detail.replace(url.as_str(), "<stripe>");
    }
    format!("{kind}: {detail}")
}
