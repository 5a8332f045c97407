//! Billing through a local Stripe double: Checkout upgrades at once, the
//! Portal cancels at period end, a failed payment keeps the plan for the
//! grace period, webhooks are verified, recorded once and applied in any
//! order without an older state winning, and metered usage reaches Stripe
//! once per run however often the answer is lost.

use std::time::Duration;

use saasit_tests::{
    billing::{billing_until, buy, serve_billed, Billed},
    json, spawn_app, Req, TestApp,
};
use serde_json::Value;
use shared::billing::signature::sign;

async fn billed_app() -> (TestApp, Billed, String) {
    serve_billed(spawn_app().await, |_| {}).await
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    sqlx::query_scalar(sql)
        .fetch_one(&app.state.db)
        .await
        .expect("count")
}

/// Posts `body` to the webhook route as Stripe would, signed with `secret` at `at`.
async fn post_event(
    app: &TestApp,
    body: &str,
    signature: Option<String>,
) -> saasit_tests::TestResponse {
    let mut req =
        Req::post("/api/v1/billing/webhook").raw(Some("application/json"), body.to_owned());
    if let Some(s) = signature {
        req = req.header("stripe-signature", &s);
    }
    app.send(req).await
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

/// The events the double sent of `kind`, oldest first.
fn sent(billed: &Billed, kind: &str) -> Vec<Value> {
    billed
        .double
        .events()
        .into_iter()
        .filter(|e| e["type"] == kind)
        .collect()
}

#[tokio::test]
async fn checkout_upgrades_at_once_and_a_replayed_event_changes_nothing() {
    let (app, billed, _) = billed_app().await;
    // Served again through a stack whose published messages the test reads.
    let stack = local::Stack::new(
        app.state.clone(),
        std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        local::LocalOptions {
            blob_dir: std::env::temp_dir().join("saasit-detached-blobs"),
            executor_logs: None,
            ..local::LocalOptions::from_settings(&app.state.settings)
        },
    );
    let mut events = stack.events.subscribe();
    let url = saasit_tests::serve(stack.router()).await;
    local::stripe_double::connect(&billed.double, &url, &billed.settings);
    let (me, token) = app.user("buyer@example.com").await;

    let free = app
        .send(Req::get("/api/v1/billing").bearer(&token))
        .await
        .expect(200, None)
        .body;
    assert_eq!(free["tier"], "FREE");
    assert_eq!(free["billingEnabled"], true);
    assert_eq!(free["canManage"], true);
    assert!(free["subscription"].is_null());
    assert_eq!(free["limits"]["concurrentRuns"], 0);
    let offers = free["offers"].as_array().expect("offers");
    assert!(offers
        .iter()
        .any(|o| o["tier"] == "STARTER" && o["intervals"] == json!(["month", "year"])));
    assert!(!offers
        .iter()
        .any(|o| o["tier"] == "FREE" || o["tier"] == "ENTERPRISE"));

    // Checkout: a URL of Stripe's (the double's) Checkout page.
    let session = app
        .send(
            Req::post("/api/v1/billing/checkout")
                .bearer(&token)
                .json(&json!({ "tier": "STARTER", "interval": "year" })),
        )
        .await
        .expect(201, None)
        .body;
    let checkout_url = session["url"].as_str().expect("url");
    assert!(checkout_url.starts_with(&format!("{}/checkout/", billed.double.url())));
    // Nothing changes until Stripe says it is paid.
    assert_eq!(count(&app, "SELECT count(*) FROM tier_changes").await, 0);

    // The buyer pays on the Checkout page (as a browser posts its form).
    let paid = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{checkout_url}/pay"))
        .send()
        .await
        .expect("pay");
    assert_eq!(paid.status().as_u16(), 303);
    let back = paid.headers()["location"].to_str().expect("location");
    assert!(
        back.contains("checkout=success")
            && back.contains(session["sessionId"].as_str().expect("id"))
    );

    let view = billing_until(&app, &token, |v| v["tier"] == "STARTER").await;
    assert_eq!(view["subscription"]["status"], "active");
    assert_eq!(view["subscription"]["interval"], "year");
    assert_eq!(view["subscription"]["cancelAtPeriodEnd"], false);
    assert!(view["subscription"]["currentPeriodEnd"].is_string());
    assert_eq!(view["limits"]["concurrentRuns"], 1);
    assert_eq!(view["history"][0]["cause"], "subscribed");
    assert_eq!(view["history"][0]["fromTier"], "FREE");

    // The owner hears of it on their own topic; the members on the workspace's.
    let mut heard = Vec::new();
    while let Ok(p) = tokio::time::timeout(Duration::from_secs(2), events.recv()).await {
        heard.push(p.expect("published"));
        if heard.iter().any(|p| p.topic == format!("user:{me}")) {
            break;
        }
    }
    let note = heard
        .iter()
        .find(|p| p.topic == format!("user:{me}"))
        .unwrap_or_else(|| panic!("a notification to the owner: {heard:?}"));
    assert_eq!(note.message["type"], "notification");
    assert_eq!(note.message["kind"], "plan_changed");
    assert_eq!(note.message["to"], "STARTER");
    assert!(heard.iter().any(|p| p.topic == format!("workspace:{me}")
        && p.message["activity"]["action"] == "plan.changed"));

    // A second purchase is refused: change plans in the portal.
    let again = app
        .send(
            Req::post("/api/v1/billing/checkout")
                .bearer(&token)
                .json(&json!({ "tier": "SCALE" })),
        )
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(again.body["error"]["details"]["reason"], "subscribed");

    // Every event replayed, freshly signed: 200, a no-op.
    // All three of Stripe's webhooks have arrived (they are sent in order).
    let recorded = 3;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count(&app, "SELECT count(*) FROM stripe_events").await < recorded {
        assert!(
            std::time::Instant::now() < deadline,
            "the webhooks never all arrived"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    for event in billed.double.events() {
        let body = event.to_string();
        let r = post_event(
            &app,
            &body,
            Some(sign(body.as_bytes(), &billed.secret(), now())),
        )
        .await
        .expect(200, None);
        assert_eq!(r.body["duplicate"], true);
    }
    assert_eq!(
        count(&app, "SELECT count(*) FROM stripe_events").await,
        recorded
    );
    assert_eq!(count(&app, "SELECT count(*) FROM tier_changes").await, 1);
    // One customer per workspace, remembered.
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM workspaces WHERE stripe_customer_id IS NOT NULL"
        )
        .await,
        1
    );
}

#[tokio::test]
async fn bad_signatures_are_refused_and_change_nothing() {
    let (app, billed, _) = serve_billed(spawn_app().await, |s| {
        // A secret being rolled: the old one and the new one both verify.
        s.webhook_secrets.push("whsec_rolled_in".to_owned().into());
    })
    .await;
    let (me, _) = app.user("sig@example.com").await;
    let body = json!({
        "id": "evt_forged", "object": "event", "type": "customer.subscription.updated",
        "created": now(), "data": { "object": { "id": "sub_x", "customer": "cus_x",
            "metadata": { "workspace_id": me.to_string() } } }
    })
    .to_string();
    let good = sign(body.as_bytes(), &billed.secret(), now());
    let v1 = good.split_once(",v1=").expect("v1").1;
    let cases = [
        (None, "missing"),
        (Some("not a signature".to_owned()), "malformed"),
        (Some(format!("t=soon,v1={v1}")), "malformed"),
        (
            Some(sign(body.as_bytes(), "whsec_someone_else", now())),
            "mismatch",
        ),
        (Some(format!("t={},v1={v1}", now() + 1)), "mismatch"),
        (
            Some(sign(body.as_bytes(), &billed.secret(), now() - 301)),
            "expired",
        ),
    ];
    for (header, reason) in cases {
        let r = post_event(&app, &body, header.clone())
            .await
            .expect(400, Some("INVALID_SIGNATURE"));
        assert_eq!(r.body["error"]["details"]["reason"], reason, "{header:?}");
    }
    // A changed body with the original signature.
    let tampered = body.replace("sub_x", "sub_y");
    post_event(&app, &tampered, Some(good.clone()))
        .await
        .expect(400, Some("INVALID_SIGNATURE"));
    assert_eq!(count(&app, "SELECT count(*) FROM stripe_events").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM subscriptions").await, 0);

    // Signed with the secret being rolled in, or by both (several v1): accepted.
    let rolled = sign(body.as_bytes(), "whsec_rolled_in", now());
    let both = format!("{rolled},v1={v1}");
    post_event(&app, &body, Some(both)).await.expect(200, None);
    // Valid signature, not an event: 400, nothing recorded.
    let junk = "[1,2,3]";
    post_event(
        &app,
        junk,
        Some(sign(junk.as_bytes(), &billed.secret(), now())),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    // The forged subscription is unknown to Stripe: recorded, nothing applied.
    assert_eq!(count(&app, "SELECT count(*) FROM stripe_events").await, 1);
    assert_eq!(count(&app, "SELECT count(*) FROM subscriptions").await, 0);
    let tier: String = sqlx::query_scalar("SELECT tier FROM workspaces WHERE id = $1")
        .bind(me)
        .fetch_one(&app.state.db)
        .await
        .expect("tier");
    assert_eq!(tier, "FREE");
    // Event ids are remembered 30 days (Stripe retries for three).
    sqlx::query("UPDATE stripe_events SET received_at = now() - interval '31 days'")
        .execute(&app.state.db)
        .await
        .expect("age");
    shared::billing::sweep(&app.state).await;
    assert_eq!(count(&app, "SELECT count(*) FROM stripe_events").await, 0);
}

#[tokio::test]
async fn events_out_of_order_never_let_an_older_state_win() {
    let (app, billed, _) = billed_app().await;
    let (_, token) = app.user("order@example.com").await;
    let sub = buy(&app, &billed, &token, "STARTER", "month").await;

    // Two plan changes whose webhooks are held, then delivered newest first.
    billed.double.set_faults(local::stripe_double::Faults {
        hold_webhooks: true,
        ..Default::default()
    });
    billed
        .double
        .switch_price(&sub, "price_local_professional_month")
        .expect("switch");
    billed
        .double
        .switch_price(&sub, "price_local_scale_month")
        .expect("switch");
    let updates = sent(&billed, "customer.subscription.updated");
    let (older, newer) = (&updates[updates.len() - 2], &updates[updates.len() - 1]);
    // Both at once, the newer first: each re-reads Stripe under the lock.
    let deliver = |e: &Value| {
        let body = e.to_string();
        let signature = sign(body.as_bytes(), &billed.secret(), now());
        let app = &app;
        async move { post_event(app, &body, Some(signature)).await }
    };
    for r in futures_util::future::join_all([deliver(newer), deliver(older)]).await {
        r.expect(200, None);
    }
    let view = billing_until(&app, &token, |v| v["tier"] == "SCALE").await;
    assert_eq!(
        view["subscription"]["metered"], false,
        "bought without the usage price"
    );
    // The held deliveries arrive late: replays, nothing changes.
    billed.double.set_faults(Default::default());
    tokio::time::sleep(Duration::from_millis(500)).await;
    let view = billing_until(&app, &token, |v| v["tier"] == "SCALE").await;
    let causes: Vec<&str> = view["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|c| c["cause"].as_str().expect("cause"))
        .collect();
    assert_eq!(causes, ["plan_changed", "subscribed"]);

    // That subscription ends; a new one is bought. A late event about the
    // old one (delivered again under a new id) never ends the new one.
    billed
        .double
        .cancel_at_period_end(&sub, true)
        .expect("cancel");
    billed.double.end_period(&sub).expect("ends");
    billing_until(&app, &token, |v| v["tier"] == "FREE").await;
    let second = buy(&app, &billed, &token, "STARTER", "month").await;
    assert_ne!(second, sub);
    for (i, old) in sent(&billed, "customer.subscription.deleted")
        .into_iter()
        .chain(updates.iter().cloned())
        .enumerate()
    {
        let mut late = old.clone();
        late["id"] = json!(format!("evt_late_{i}"));
        let body = late.to_string();
        post_event(
            &app,
            &body,
            Some(sign(body.as_bytes(), &billed.secret(), now())),
        )
        .await
        .expect(200, None);
    }
    let view = billing_until(&app, &token, |v| v["tier"] == "STARTER").await;
    assert_eq!(view["subscription"]["status"], "active");
    let stored: String = sqlx::query_scalar("SELECT stripe_subscription_id FROM subscriptions")
        .fetch_one(&app.state.db)
        .await
        .expect("stored");
    assert_eq!(stored, second);
}

#[tokio::test]
async fn a_cancellation_takes_effect_at_period_end() {
    let (app, billed, _) = billed_app().await;
    let (_, token) = app.user("leaver@example.com").await;
    let sub = buy(&app, &billed, &token, "PROFESSIONAL", "month").await;

    // The portal only returns into the app.
    app.send(
        Req::post("/api/v1/billing/portal")
            .bearer(&token)
            .json(&json!({ "returnUrl": "https://evil.example.com/" })),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    let portal = app
        .send(
            Req::post("/api/v1/billing/portal")
                .bearer(&token)
                .json(&json!({})),
        )
        .await
        .expect(200, None)
        .body;
    let url = portal["url"].as_str().expect("url");
    let cancelled = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client")
        .post(format!("{url}/cancel"))
        .send()
        .await
        .expect("cancel in the portal");
    assert_eq!(cancelled.status().as_u16(), 303);
    let view = billing_until(&app, &token, |v| {
        v["subscription"]["cancelAtPeriodEnd"] == true
    })
    .await;
    assert_eq!(view["tier"], "PROFESSIONAL", "paid until the period ends");

    billed.double.end_period(&sub).expect("the period ends");
    let view = billing_until(&app, &token, |v| v["tier"] == "FREE").await;
    assert_eq!(view["subscription"]["status"], "canceled");
    assert_eq!(view["history"][0]["cause"], "canceled");
    assert_eq!(view["history"][0]["fromTier"], "PROFESSIONAL");

    // Invoices: the first one, paid.
    let invoices = app
        .send(Req::get("/api/v1/billing/invoices").bearer(&token))
        .await
        .expect(200, None)
        .body;
    let items = invoices["items"].as_array().expect("items");
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["status"], "paid");
    assert_eq!(items[0]["amountPaid"], 9900);
    // Buying again after the end is allowed.
    app.send(
        Req::post("/api/v1/billing/checkout")
            .bearer(&token)
            .json(&json!({ "tier": "STARTER" })),
    )
    .await
    .expect(201, None);
}

#[tokio::test]
async fn a_failed_payment_keeps_the_plan_for_the_grace_period_then_falls_back() {
    let (app, billed, _) = billed_app().await;
    let (me, token) = app.user("late@example.com").await;
    let sub = buy(&app, &billed, &token, "STARTER", "month").await;

    billed.double.fail_payment(&sub).expect("declined");
    let view = billing_until(&app, &token, |v| v["subscription"]["status"] == "past_due").await;
    assert_eq!(view["tier"], "STARTER", "kept during the grace period");
    let until: chrono::DateTime<chrono::Utc> = view["subscription"]["graceUntil"]
        .as_str()
        .expect("graceUntil")
        .parse()
        .expect("time");
    let days = (until - chrono::Utc::now()).num_hours();
    assert!(
        (7 * 24 - 1..=7 * 24).contains(&days),
        "{days} hours of grace"
    );

    // Paid within the grace: nothing ever changed.
    billed.double.pay(&sub).expect("paid");
    billing_until(&app, &token, |v| v["subscription"]["status"] == "active").await;
    assert_eq!(count(&app, "SELECT count(*) FROM tier_changes").await, 1);

    // Declined again, and the grace runs out (as if eight days passed).
    billed.double.fail_payment(&sub).expect("declined");
    billing_until(&app, &token, |v| v["subscription"]["status"] == "past_due").await;
    // Every webhook of the decline handled first: a late one would write the
    // failure's start again over the aged one.
    let settled = std::time::Instant::now();
    while billed.double.undelivered() > 0 {
        assert!(
            settled.elapsed() < Duration::from_secs(30),
            "webhooks still undelivered"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The sweeper does nothing while the grace lasts.
    assert_eq!(shared::billing::sweep(&app.state).await.grace_expired, 0);
    sqlx::query("UPDATE subscriptions SET past_due_since = now() - interval '8 days' WHERE workspace_id = $1")
        .bind(me)
        .execute(&app.state.db)
        .await
        .expect("age the failure");
    // The sweeper's change reaches the owner like a webhook's.
    let (tx, mut heard) = tokio::sync::broadcast::channel(16);
    let watched = app.state.clone().with_publisher(std::sync::Arc::new(
        shared::realtime::publish::BroadcastPublisher(tx),
    ));
    assert_eq!(shared::billing::sweep(&watched).await.grace_expired, 1);
    let mut notified = false;
    while let Ok(Ok(p)) = tokio::time::timeout(Duration::from_secs(1), heard.recv()).await {
        if p.topic == format!("user:{me}") {
            assert_eq!(p.message["cause"], "grace_expired");
            notified = true;
        }
    }
    assert!(notified, "the owner is told the plan ended");
    assert_eq!(
        shared::billing::sweep(&app.state).await.grace_expired,
        0,
        "once"
    );
    let view = billing_until(&app, &token, |v| v["tier"] == "FREE").await;
    assert_eq!(view["history"][0]["cause"], "grace_expired");

    // Paying later restores the plan at once.
    billed.double.pay(&sub).expect("paid");
    let view = billing_until(&app, &token, |v| v["tier"] == "STARTER").await;
    assert_eq!(view["history"][0]["cause"], "payment_recovered");
}

#[tokio::test]
async fn billing_needs_the_right_role_and_answers_when_stripe_is_down() {
    // Without Stripe configured: the plan shows, buying is 503.
    let plain = spawn_app().await;
    let (_, token) = plain.user("plain@example.com").await;
    let view = plain
        .send(Req::get("/api/v1/billing").bearer(&token))
        .await
        .expect(200, None)
        .body;
    assert_eq!(view["billingEnabled"], false);
    assert_eq!(view["offers"], json!([]));
    let r = plain
        .send(
            Req::post("/api/v1/billing/checkout")
                .bearer(&token)
                .json(&json!({ "tier": "STARTER" })),
        )
        .await
        .expect(503, Some("SERVICE_UNAVAILABLE"));
    assert_eq!(
        r.body["error"]["details"]["reason"],
        "billing_not_configured"
    );
    post_event(&plain, "{}", None)
        .await
        .expect(503, Some("SERVICE_UNAVAILABLE"));

    let (app, billed, _) = billed_app().await;
    let (_, owner) = app.user("owner@example.com").await;
    let (editor_id, editor) = app.user("editor@example.com").await;
    let ws = app.team(&owner, "Team").await;
    shared::db::workspaces::add_member(
        &app.state.db,
        ws,
        editor_id,
        shared::access::Role::Editor,
        None,
    )
    .await
    .expect("member");
    let as_editor = |r: Req| r.bearer(&editor).header("x-workspace-id", &ws.to_string());
    let view = app
        .send(as_editor(Req::get("/api/v1/billing")))
        .await
        .expect(200, None)
        .body;
    assert_eq!(view["canManage"], false);
    assert_eq!(view["usage"]["seatsUsed"], 2);
    app.send(as_editor(
        Req::post("/api/v1/billing/checkout").json(&json!({ "tier": "STARTER" })),
    ))
    .await
    .expect(403, Some("FORBIDDEN"));
    app.send(as_editor(Req::get("/api/v1/billing/invoices")))
        .await
        .expect(403, Some("FORBIDDEN"));
    app.send(as_editor(
        Req::post("/api/v1/billing/portal").json(&json!({})),
    ))
    .await
    .expect(403, Some("FORBIDDEN"));

    let as_owner = |r: Req| r.bearer(&owner).header("x-workspace-id", &ws.to_string());
    for bad in [
        json!({ "tier": "FREE" }),
        json!({ "tier": "ENTERPRISE" }),
        json!({ "tier": "GOLD" }),
        json!({ "tier": "STARTER", "interval": "week" }),
    ] {
        app.send(as_owner(Req::post("/api/v1/billing/checkout").json(&bad)))
            .await
            .expect(400, Some("VALIDATION_ERROR"));
    }
    // Nothing bought: no invoices yet.
    let none = app
        .send(as_owner(Req::get("/api/v1/billing/invoices")))
        .await
        .expect(200, None);
    assert_eq!(none.body["items"], json!([]));
    app.send(as_owner(Req::get(
        "/api/v1/billing/invoices?cursor=evil/../x",
    )))
    .await
    .expect(400, Some("VALIDATION_ERROR"));

    // Stripe down: 503 naming it, and nothing half-done.
    billed.double.set_faults(local::stripe_double::Faults {
        unavailable: true,
        ..Default::default()
    });
    let r = app
        .send(as_owner(
            Req::post("/api/v1/billing/checkout").json(&json!({ "tier": "STARTER" })),
        ))
        .await
        .expect(503, Some("SERVICE_UNAVAILABLE"));
    assert_eq!(r.body["error"]["details"]["reason"], "stripe");
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM workspaces WHERE stripe_customer_id IS NOT NULL"
        )
        .await,
        0
    );
    billed.double.set_faults(Default::default());
    // Back up: the team buys, and its webhook applies to the team, not the owner's own.
    let session = app
        .send(as_owner(
            Req::post("/api/v1/billing/checkout").json(&json!({ "tier": "PROFESSIONAL" })),
        ))
        .await
        .expect(201, None)
        .body;
    // Stripe goes down between the payment and the webhook: the webhook
    // answers 503, is not recorded, and is applied when delivered again.
    billed.double.set_faults(local::stripe_double::Faults {
        unavailable: true,
        ..Default::default()
    });
    billed
        .double
        .complete_checkout(session["sessionId"].as_str().expect("id"))
        .expect("paid");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&app, "SELECT count(*) FROM stripe_events").await, 0);
    billed.double.set_faults(Default::default());
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let v = app
            .send(as_owner(Req::get("/api/v1/billing")))
            .await
            .expect(200, None)
            .body;
        if v["tier"] == "PROFESSIONAL" {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "never applied: {v}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let own = app
        .send(Req::get("/api/v1/billing").bearer(&owner))
        .await
        .expect(200, None)
        .body;
    assert_eq!(own["tier"], "FREE");
    let invoices = app
        .send(as_owner(Req::get("/api/v1/billing/invoices?limit=1")))
        .await
        .expect(200, None)
        .body;
    assert_eq!(invoices["items"].as_array().expect("items").len(), 1);
}

#[tokio::test]
async fn a_downgrade_scheduled_in_the_portal_waits_for_the_period_end() {
    let (app, billed, _) = billed_app().await;
    let (_, token) = app.user("down@example.com").await;
    let sub = buy(&app, &billed, &token, "SCALE", "month").await;
    billed
        .double
        .schedule_price(&sub, "price_local_starter_month")
        .expect("scheduled");
    // Stripe says the subscription changed (a schedule); the plan does not.
    let updates = sent(&billed, "customer.subscription.updated").len();
    assert_eq!(updates, 1);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let view = billing_until(&app, &token, |v| v["tier"] == "SCALE").await;
    assert_eq!(view["history"].as_array().expect("history").len(), 1);

    billed.double.end_period(&sub).expect("the period ends");
    let view = billing_until(&app, &token, |v| v["tier"] == "STARTER").await;
    assert_eq!(view["history"][0]["cause"], "plan_changed");
    assert_eq!(view["history"][0]["fromTier"], "SCALE");
    assert_eq!(view["subscription"]["status"], "active");
}

#[tokio::test]
async fn concurrent_checkouts_make_one_customer_and_a_paying_team_is_not_deleted() {
    let (app, billed, _) = billed_app().await;
    let (_, owner) = app.user("rush@example.com").await;
    let ws = app.team(&owner, "Rush").await.to_string();
    let checkout = || {
        app.send(
            Req::post("/api/v1/billing/checkout")
                .bearer(&owner)
                .header("x-workspace-id", &ws)
                .json(&json!({ "tier": "STARTER" })),
        )
    };
    let answers = futures_util::future::join_all((0..8).map(|_| checkout())).await;
    let sessions: Vec<String> = answers
        .into_iter()
        .map(|r| {
            r.expect(201, None).body["sessionId"]
                .as_str()
                .expect("id")
                .to_owned()
        })
        .collect();
    let customers: Vec<String> = sqlx::query_scalar(
        "SELECT stripe_customer_id FROM workspaces WHERE stripe_customer_id IS NOT NULL",
    )
    .fetch_all(&app.state.db)
    .await
    .expect("customers");
    assert_eq!(customers.len(), 1, "one customer for the workspace");

    let delete = || {
        app.send(
            Req::new(
                axum::http::Method::DELETE,
                &format!("/api/v1/workspaces/{ws}"),
            )
            .bearer(&owner),
        )
    };
    // A checkout that can still be paid keeps the team from being deleted.
    let r = delete().await.expect(409, Some("CONFLICT"));
    assert_eq!(r.body["error"]["details"]["reason"], "checkout_open");

    // Only the newest Checkout can still be paid: the others were expired.
    // It is paid while Stripe's webhooks are delayed.
    billed.double.set_faults(local::stripe_double::Faults {
        hold_webhooks: true,
        ..Default::default()
    });
    let paid: Vec<&String> = sessions
        .iter()
        .filter(|s| billed.double.complete_checkout(s).is_ok())
        .collect();
    assert_eq!(paid.len(), 1, "one payable checkout of {}", sessions.len());
    let sub = billed
        .double
        .subscriptions_of(&customers[0])
        .pop()
        .expect("sub");
    let in_team = |r: Req| r.bearer(&owner).header("x-workspace-id", &ws);
    // Another checkout before the webhooks arrive: Stripe's subscription is
    // found, applied at once, and the purchase refused.
    let r = checkout().await.expect(409, Some("CONFLICT"));
    assert_eq!(r.body["error"]["details"]["reason"], "subscribed");
    let view = app
        .send(in_team(Req::get("/api/v1/billing")))
        .await
        .expect(200, None)
        .body;
    assert_eq!(view["tier"], "STARTER");
    assert_eq!(
        billed.double.subscriptions_of(&customers[0]).len(),
        1,
        "no second subscription"
    );
    // The delayed webhooks arrive: nothing changes again.
    billed.double.set_faults(Default::default());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(count(&app, "SELECT count(*) FROM tier_changes").await, 1);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    // A paying team is not deleted until its subscription ends.
    let r = delete().await.expect(409, Some("CONFLICT"));
    assert_eq!(r.body["error"]["details"]["reason"], "subscribed");
    billed
        .double
        .cancel_at_period_end(&sub, true)
        .expect("cancel");
    billed.double.end_period(&sub).expect("ends");
    while app.send(in_team(Req::get("/api/v1/billing"))).await.body["tier"] != "FREE" {
        assert!(std::time::Instant::now() < deadline, "never FREE");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    delete().await.expect(204, None);
}
