//! Billing under test: an app (or the whole stack) whose Stripe is a local
//! Stripe double, the double's webhooks pointed at the app on a real port.

use std::{sync::Arc, time::Duration};

use local::stripe_double::{connect, local_prices, settings_for, StripeDouble};
use secrecy::ExposeSecret;
use serde_json::Value;
use shared::settings::BillingSettings;

use crate::{Req, TestApp, TestStack};

pub struct Billed {
    pub double: StripeDouble,
    pub settings: BillingSettings,
}

impl Billed {
    /// The endpoint's signing secret.
    pub fn secret(&self) -> String {
        self.settings.webhook_secrets[0].expose_secret().to_owned()
    }
}

/// Starts a Stripe double and gives `app` billing through it (before the
/// app is served; [`serve_billed`] or [`stack_billed`] connect the webhooks).
pub async fn with_billing(app: &mut TestApp, adjust: impl FnOnce(&mut BillingSettings)) -> Billed {
    let double = StripeDouble::start("sk_test_double", local_prices())
        .await
        .expect("start the Stripe double");
    let mut settings = settings_for(&double, &app.state.settings.billing);
    adjust(&mut settings);
    let billing = shared::billing::Billing::from_settings(&settings)
        .expect("billing settings")
        .map(Arc::new);
    app.state = app.state.clone().with_billing(billing);
    app.router = local::app(app.state.clone());
    Billed { double, settings }
}

/// A billed app served on a real port (the double's webhooks reach it).
pub async fn serve_billed(
    mut app: TestApp,
    adjust: impl FnOnce(&mut BillingSettings),
) -> (TestApp, Billed, String) {
    let billed = with_billing(&mut app, adjust).await;
    let url = crate::serve(app.router.clone()).await;
    connect(&billed.double, &url, &billed.settings);
    (app, billed, url)
}

/// The whole stack (runs execute) with billing through a double.
pub async fn stack_billed(mut app: TestApp) -> (TestStack, Billed) {
    let billed = with_billing(&mut app, |_| {}).await;
    let stack = crate::spawn_stack_with(app, crate::test_pipeline_config()).await;
    connect(&billed.double, &stack.base_url, &billed.settings);
    (stack, billed)
}

/// Polls `GET /api/v1/billing` until `done` holds (10 s at most).
pub async fn billing_until(app: &TestApp, token: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let view = app
            .send(Req::get("/api/v1/billing").bearer(token))
            .await
            .expect(200, None)
            .body;
        if done(&view) {
            return view;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "billing never reached the expected state: {view}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Buys `tier` for the caller's personal workspace through Checkout: the
/// double takes the payment and sends its webhooks; returns the
/// subscription id once the plan is `tier`.
pub async fn buy(
    app: &TestApp,
    billed: &Billed,
    token: &str,
    tier: &str,
    interval: &str,
) -> String {
    let session = app
        .send(
            Req::post("/api/v1/billing/checkout")
                .bearer(token)
                .json(&serde_json::json!({ "tier": tier, "interval": interval })),
        )
        .await
        .expect(201, None)
        .body;
    let id = session["sessionId"].as_str().expect("session id");
    billed
        .double
        .complete_checkout(id)
        .expect("checkout completes");
    let view = billing_until(app, token, |v| v["tier"] == tier).await;
    view["subscription"]["status"]
        .as_str()
        .map(|_| ())
        .expect("a subscription");
    let customer =
        sqlx::query_scalar::<_, String>("SELECT stripe_customer_id FROM workspaces WHERE id = $1")
            .bind(uuid::Uuid::parse_str(view["workspaceId"].as_str().expect("ws")).expect("uuid"))
            .fetch_one(&app.state.db)
            .await
            .expect("customer stored");
    billed
        .double
        .subscriptions_of(&customer)
        .pop()
        .expect("a subscription at the double")
}
