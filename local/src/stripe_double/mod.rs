//! A local Stripe double: the parts of Stripe's API billing uses
//! (customers, Checkout Sessions, Customer Portal sessions, subscriptions,
//! invoices, meter events), served on loopback with Stripe's shapes, plus
//! what Stripe's own pages do: a Checkout page that takes a (pretend)
//! payment and a Portal page that cancels or changes the plan. Every change
//! sends the webhooks Stripe would, signed with the endpoint's secret, in
//! order, retried until answered. Controls under `/_double/…` (not Stripe)
//! end a period, fail or make a payment, inject faults, and show what was
//! sent. The local stack starts it when no `STRIPE_SECRET_KEY` is set; the
//! tests start their own.

mod api;
mod control;
pub mod objects;
mod pages;
mod webhooks;

use std::{
    collections::{BTreeMap, HashMap},
    sync::{Arc, Mutex, MutexGuard},
};

use serde_json::Value;
use tokio::sync::mpsc;

pub use control::Faults;
pub use objects::{Interval, Price};

/// Everything the double knows.
#[derive(Debug, Default)]
struct World {
    customers: HashMap<String, objects::Customer>,
    sessions: HashMap<String, objects::Session>,
    /// Portal session id → (customer, return URL).
    portals: HashMap<String, (String, String)>,
    subscriptions: BTreeMap<String, objects::Subscription>,
    invoices: Vec<objects::Invoice>,
    /// Meter events by identifier: (event name, customer, value).
    meter_events: BTreeMap<String, (String, String, i64)>,
    /// Answers already given, by idempotency key, with the body they answered.
    idempotent: HashMap<String, (Vec<u8>, Value)>,
    /// Every event sent, oldest first.
    events: Vec<Value>,
    faults: Faults,
    next: u64,
}

impl World {
    fn id(&mut self, prefix: &str) -> String {
        self.next += 1;
        format!(
            "{prefix}_{:014}{}",
            self.next,
            &uuid::Uuid::now_v7().simple().to_string()[20..]
        )
    }
}

struct Inner {
    key: String,
    base: String,
    prices: Vec<Price>,
    world: Mutex<World>,
    webhook: Mutex<Option<webhooks::Target>>,
    outbox: mpsc::UnboundedSender<Value>,
    /// Events emitted and not yet delivered (or given up).
    pending: std::sync::atomic::AtomicUsize,
}

/// A running Stripe double.
#[derive(Clone)]
pub struct StripeDouble {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StripeDouble {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeDouble")
            .field("url", &self.inner.base)
            .finish_non_exhaustive()
    }
}

impl StripeDouble {
    /// Starts the double on a free loopback port; requests must carry `key`.
    pub async fn start(key: &str, prices: Vec<Price>) -> std::io::Result<Self> {
        Self::start_on(key, prices, 0).await
    }

    /// Starts the double on `port` (0: a free one).
    pub async fn start_on(key: &str, prices: Vec<Price>, port: u16) -> std::io::Result<Self> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
        let (tx, rx) = mpsc::unbounded_channel();
        let double = Self {
            inner: Arc::new(Inner {
                key: key.to_owned(),
                base: format!("http://{}", listener.local_addr()?),
                prices,
                world: Mutex::new(World::default()),
                webhook: Mutex::new(None),
                outbox: tx,
                pending: std::sync::atomic::AtomicUsize::new(0),
            }),
        };
        tokio::spawn(webhooks::deliver(double.clone(), rx));
        let app = api::router(double.clone())
            .merge(pages::router(double.clone()))
            .merge(control::router(double.clone()));
        tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "the Stripe double stopped");
            }
        });
        Ok(double)
    }

    /// Its base URL (`STRIPE_API_BASE`).
    pub fn url(&self) -> &str {
        &self.inner.base
    }

    /// Where webhooks go, signed with `secret`.
    pub fn set_webhook(&self, url: &str, secret: &str) {
        *self.inner.webhook.lock().unwrap_or_else(|e| e.into_inner()) = Some(webhooks::Target {
            url: url.to_owned(),
            secret: secret.to_owned(),
        });
    }

    fn world(&self) -> MutexGuard<'_, World> {
        self.inner.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn price(&self, id: &str) -> Option<&Price> {
        self.inner.prices.iter().find(|p| p.id == id)
    }

    /// Records an event and queues it for delivery (in order).
    fn emit(&self, world: &mut World, kind: &str, object: Value) {
        let id = world.id("evt");
        let event = objects::event(&id, kind, chrono::Utc::now().timestamp(), object);
        world.events.push(event.clone());
        self.inner
            .pending
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let _ = self.inner.outbox.send(event);
    }

    /// Events emitted whose delivery has not ended yet (a test waits for 0
    /// before changing what those webhooks write).
    pub fn undelivered(&self) -> usize {
        self.inner.pending.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// The prices the local stack sells (cents): every paid tier but
/// ENTERPRISE (sold by contract), monthly and yearly; SCALE also meters usage.
pub fn local_prices() -> Vec<Price> {
    let mut prices = Vec::new();
    for (tier, monthly) in [
        ("designer", 900),
        ("starter", 2900),
        ("professional", 9900),
        ("scale", 29900),
    ] {
        for (interval, amount) in [(Interval::Month, monthly), (Interval::Year, monthly * 10)] {
            prices.push(Price {
                id: format!("price_local_{tier}_{}", interval.as_str()),
                interval,
                amount,
                metered: false,
            });
        }
    }
    prices.push(Price {
        id: "price_local_scale_usage".into(),
        interval: Interval::Month,
        amount: 0,
        metered: true,
    });
    prices
}

/// Billing settings for a stack whose Stripe is this double: its URL, key
/// and prices, and a fresh webhook secret (the double signs with it once
/// [`StripeDouble::set_webhook`] points it at the stack). Other billing
/// settings (grace, tolerance) are kept from `base`.
pub fn settings_for(
    double: &StripeDouble,
    base: &shared::settings::BillingSettings,
) -> shared::settings::BillingSettings {
    let mut s = base.clone();
    s.secret_key = Some(double.inner.key.clone().into());
    s.api_base = double.url().to_owned();
    s.webhook_secrets = vec![format!("whsec_local_{}", uuid::Uuid::now_v7().simple()).into()];
    s.prices = double
        .inner
        .prices
        .iter()
        .filter(|p| !p.metered)
        .filter_map(|p| {
            let tier =
                p.id.strip_prefix("price_local_")?
                    .rsplit_once('_')?
                    .0
                    .to_uppercase();
            Some(shared::settings::PriceSetting {
                tier,
                interval: p.interval.as_str().to_owned(),
                price: p.id.clone(),
            })
        })
        .collect();
    s.metered_prices = double
        .inner
        .prices
        .iter()
        .filter(|p| p.metered)
        .filter_map(|p| {
            let tier =
                p.id.strip_prefix("price_local_")?
                    .strip_suffix("_usage")?
                    .to_uppercase();
            Some((tier, p.id.clone()))
        })
        .collect();
    s
}

/// Points the double's webhooks at the stack on `base_url`, signed with
/// the first secret of `settings`.
pub fn connect(
    double: &StripeDouble,
    base_url: &str,
    settings: &shared::settings::BillingSettings,
) {
    use secrecy::ExposeSecret;
    if let Some(secret) = settings.webhook_secrets.first() {
        double.set_webhook(
            &format!("{base_url}/api/v1/billing/webhook"),
            secret.expose_secret(),
        );
    }
}
