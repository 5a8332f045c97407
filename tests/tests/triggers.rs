//! Triggers that fire by themselves: a workflow's webhook (signed, size- and
//! rate-limited, idempotent within its signature's window, synchronous on
//! request) and its schedule (fired on the tick, skipping while busy, paused
//! when it keeps failing), with rows that follow the graph.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{http::HeaderMap, routing::get, Router};
use chrono::Utc;
use saasit_tests::{
    hooks::{new_secret, publish, signed, started, triggers_of},
    json,
    runs::{paid_user, wait_for, workflow, TERMINAL},
    serve, spawn_stack, Req, TestStack,
};
use serde_json::Value;
use shared::triggers::{fire::Fired, hook::sign};
use uuid::Uuid;

const SECRET_VALUE: &str = "partner-token-8d41f0c2a9b7";

/// A partner API that wants the vault's token.
async fn partner() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = Router::new().route(
        "/orders",
        get(move |headers: HeaderMap| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                log.lock().expect("lock").push(auth.clone());
                axum::Json(json!({ "accepted": auth == format!("Bearer {SECRET_VALUE}") }))
            }
        }),
    );
    (serve(app).await, seen)
}

#[tokio::test]
async fn a_signed_webhook_starts_a_run_that_uses_a_vault_secret() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "hooks@example.com", "PROFESSIONAL").await;
    let ws: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = 'hooks@example.com'")
        .fetch_one(&s.app.state.db)
        .await
        .expect("id");
    s.app
        .send(
            Req::post(&format!("/api/v1/workspaces/{ws}/secrets"))
                .bearer(&t)
                .json(&json!({"name": "PARTNER", "value": SECRET_VALUE})),
        )
        .await
        .expect(201, None);
    let (api, seen) = partner().await;
    let wf = workflow(
        &s,
        &t,
        json!({
            "nodes": [
                {"id": "hook", "type": "trigger", "config": {"kind": "webhook", "headers": ["X-Source"]}},
                {"id": "call", "type": "http", "config": {"url": format!("{api}/orders"),
                    "headers": {"Authorization": "Bearer {{ secrets.PARTNER }}"}}},
                {"id": "out", "type": "output", "config": {"value": {
                    "order": "{{ inputs.body.order }}", "source": "{{ inputs.headers['x-source'] }}",
                    "accepted": "{{ call.output.body.accepted }}"}}}
            ],
            "edges": [{"from": "hook", "to": "call"}, {"from": "call", "to": "out"}]
        }),
    )
    .await;
    let list = triggers_of(&s.app, &t, &wf).await;
    assert_eq!(list.len(), 1, "{list:?}");
    let trigger = list[0]["id"].as_str().expect("id").to_owned();
    assert_eq!(list[0]["kind"], "webhook");
    assert_eq!(
        list[0]["state"], "inactive",
        "a draft's triggers do not fire"
    );
    assert_eq!(list[0]["hasSecret"], false);
    let path = list[0]["path"].as_str().expect("path").to_owned();
    let body = r#"{"order": 42}"#;
    let now = Utc::now().timestamp();

    // No secret yet: refused, saying how to make one.
    let r = s
        .app
        .send(signed(&path, "whatever", body, now))
        .await
        .expect(400, Some("INVALID_SIGNATURE"));
    assert_eq!(r.body["error"]["details"]["reason"], "no_secret");
    let secret = new_secret(&s.app, &t, &wf, &trigger).await;
    assert!(secret.starts_with("whsec_") && secret.len() == 70);
    let listed = triggers_of(&s.app, &t, &wf).await;
    assert_eq!(listed[0]["hasSecret"], true);
    assert!(
        !Value::Array(listed).to_string().contains(&secret),
        "shown once"
    );
    // Signed, but the workflow is a draft.
    let r = s
        .app
        .send(signed(&path, &secret, body, now))
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(r.body["error"]["details"]["reason"], "not_published");
    publish(&s.app, &t, &wf).await;
    assert_eq!(triggers_of(&s.app, &t, &wf).await[0]["state"], "active");

    // Refusals: each a clear 4xx, and no run. The stale ones are well
    // outside the 300 s tolerance from the clock at the time they are sent,
    // however slow the machine running this test is.
    let now = Utc::now().timestamp();
    let bad = [
        (signed(&path, "whsec_wrong", body, now), 400, "mismatch"),
        (signed(&path, &secret, body, now - 900), 400, "stale"),
        (signed(&path, &secret, body, now + 900), 400, "stale"),
        (
            Req::post(&path).raw(Some("application/json"), body),
            400,
            "missing",
        ),
        (
            Req::post(&path)
                .header("x-saasit-timestamp", "yesterday")
                .header("x-saasit-signature", "v1=00")
                .raw(Some("application/json"), body),
            400,
            "malformed",
        ),
    ];
    for (req, status, reason) in bad {
        let r = s.app.send(req).await;
        assert_eq!(r.status.as_u16(), status, "{reason}: {}", r.text);
        assert_eq!(r.body["error"]["details"]["reason"], reason);
    }
    // A signature over another body does not start this one.
    let other = sign(secret.as_bytes(), now, br#"{"order": 1}"#);
    s.app
        .send(
            Req::post(&path)
                .header("x-saasit-timestamp", &now.to_string())
                .header("x-saasit-signature", &other)
                .raw(Some("application/json"), body),
        )
        .await
        .expect(400, Some("INVALID_SIGNATURE"));
    let big = format!(r#"{{"pad": "{}"}}"#, "x".repeat(300 * 1024));
    s.app
        .send(signed(&path, &secret, &big, now))
        .await
        .expect(413, Some("PAYLOAD_TOO_LARGE"));
    let r = s
        .app
        .send(
            Req::post(&path)
                .header("x-saasit-timestamp", &now.to_string())
                .header(
                    "x-saasit-signature",
                    &sign(secret.as_bytes(), now, b"\x00\x01"),
                )
                .raw(Some("application/octet-stream"), vec![0u8, 1]),
        )
        .await;
    assert_eq!(r.status.as_u16(), 415, "{}", r.text);
    s.app
        .send(signed(&path, &secret, "{not json", now))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    s.app
        .send(signed(
            "/api/v1/hooks/00000000000000000000000000000000",
            &secret,
            body,
            now,
        ))
        .await
        .expect(404, Some("NOT_FOUND"));
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM executions WHERE workflow_id = $1")
        .bind(Uuid::parse_str(&wf).expect("uuid"))
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(runs, 0, "nothing refused started a run");

    // Signed: 202 and a run with the body, the named header and the secret.
    let r = s
        .app
        .send(
            signed(&path, &secret, body, now)
                .header("x-source", "shop")
                .header("x-other", "no"),
        )
        .await
        .expect(202, None);
    assert_eq!(r.body["created"], true);
    assert_eq!(r.body["status"], "queued");
    let id = r.body["executionId"].as_str().expect("id").to_owned();
    // Queued on the intake: the run has the id the sender was given.
    started(&s.app, &id).await;
    let e = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(e["status"], "completed", "{e}");
    assert_eq!(
        e["output"],
        json!({"order": 42, "source": "shop", "accepted": true}),
        "{e}"
    );
    assert_eq!(e["triggerType"], "webhook");
    assert_eq!(e["triggerData"]["triggerId"], trigger.as_str());
    assert_eq!(
        e["inputs"]["headers"],
        json!({"x-source": "shop"}),
        "only the named headers"
    );
    assert_eq!(
        *seen.lock().expect("lock"),
        [format!("Bearer {SECRET_VALUE}")]
    );
    // The same request again (a sender's retry): the same run, not a second.
    let again = s
        .app
        .send(signed(&path, &secret, body, now).header("x-source", "shop"))
        .await
        .expect(202, None);
    assert_eq!(again.body["executionId"], id.as_str());
    assert_eq!(again.body["created"], false);

    // The secret's value is nowhere: not in the run, its events, the database.
    let events = Value::Array(saasit_tests::runs::all_events(&s, &t, &id).await).to_string();
    assert!(!events.contains(SECRET_VALUE) && !e.to_string().contains(SECRET_VALUE));
    let dump: Vec<String> = sqlx::query_scalar(
        "SELECT row_to_json(x)::text FROM (SELECT * FROM executions) x
         UNION ALL SELECT row_to_json(x)::text FROM (SELECT * FROM execution_events) x
         UNION ALL SELECT row_to_json(x)::text FROM (SELECT * FROM activity_log) x
         UNION ALL SELECT row_to_json(x)::text FROM (SELECT * FROM workflow_triggers) x",
    )
    .fetch_all(&s.app.state.db)
    .await
    .expect("dump");
    assert!(dump
        .iter()
        .all(|row| !row.contains(SECRET_VALUE) && !row.contains(&secret)));

    // A new secret: the old one stops working at once.
    let newer = new_secret(&s.app, &t, &wf, &trigger).await;
    let later = Utc::now().timestamp();
    s.app
        .send(signed(&path, &secret, r#"{"order": 43}"#, later))
        .await
        .expect(400, Some("INVALID_SIGNATURE"));
    s.app
        .send(signed(&path, &newer, r#"{"order": 43}"#, later))
        .await
        .expect(202, None);

    // Paused: refused; resumed: fires again.
    s.app
        .send(Req::post(&format!("/api/v1/workflows/{wf}/triggers/{trigger}/pause")).bearer(&t))
        .await
        .expect(200, None);
    let r = s
        .app
        .send(signed(&path, &newer, r#"{"order": 44}"#, later))
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(r.body["error"]["details"]["reason"], "paused");
    s.app
        .send(Req::post(&format!("/api/v1/workflows/{wf}/triggers/{trigger}/resume")).bearer(&t))
        .await
        .expect(200, None);
    s.app
        .send(signed(&path, &newer, r#"{"order": 44}"#, later))
        .await
        .expect(202, None);
}

#[tokio::test]
async fn a_synchronous_bearer_hook_answers_with_the_output_and_hooks_are_rate_limited() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "sync-hooks@example.com", "PROFESSIONAL").await;
    let wf = workflow(
        &s,
        &t,
        json!({
            "nodes": [
                {"id": "hook", "type": "trigger", "config": {"kind": "webhook", "auth": "bearer", "sync": true, "syncTimeoutSeconds": 20}},
                {"id": "out", "type": "output", "config": {"value": "hello {{ inputs.body }}"}}
            ],
            "edges": [{"from": "hook", "to": "out"}]
        }),
    )
    .await;
    publish(&s.app, &t, &wf).await;
    let listed = triggers_of(&s.app, &t, &wf).await;
    let trigger = listed[0]["id"].as_str().expect("id").to_owned();
    let path = listed[0]["path"].as_str().expect("path").to_owned();
    let secret = new_secret(&s.app, &t, &wf, &trigger).await;
    let r = s
        .app
        .send(
            Req::post(&path)
                .bearer(&secret)
                .header("idempotency-key", "k-1")
                .raw(Some("text/plain"), "world"),
        )
        .await
        .expect(200, None);
    assert_eq!(r.body["status"], "completed", "{}", r.text);
    assert_eq!(r.body["output"], "hello world");
    // The same key: the same run, answered the same way.
    let again = s
        .app
        .send(
            Req::post(&path)
                .bearer(&secret)
                .header("idempotency-key", "k-1")
                .raw(Some("text/plain"), "world"),
        )
        .await
        .expect(200, None);
    assert_eq!(again.body["executionId"], r.body["executionId"]);
    s.app
        .send(
            Req::post(&path)
                .bearer("whsec_nope")
                .raw(Some("text/plain"), "x"),
        )
        .await
        .expect(400, Some("INVALID_SIGNATURE"));
    // Requests nobody signed do not use up the sender's allowance.
    for _ in 0..130 {
        s.app
            .send(
                Req::post(&path)
                    .bearer("whsec_nope")
                    .raw(Some("text/plain"), "x"),
            )
            .await
            .expect(400, Some("INVALID_SIGNATURE"));
    }
    // The per-hook limit (120 a minute by default): the 121st is 429 with
    // Retry-After (the same key, so each names the run that ended already).
    let mut refused = None;
    for i in 0..125 {
        let r = s
            .app
            .send(
                Req::post(&path)
                    .bearer(&secret)
                    .header("idempotency-key", "k-1")
                    .raw(Some("text/plain"), "world"),
            )
            .await;
        if r.status.as_u16() == 429 {
            refused = Some((i, r));
            break;
        }
    }
    let (i, r) = refused.expect("the limit refuses a burst");
    assert!(i >= 100, "{i}");
    assert_eq!(r.code(), "RATE_LIMITED");
    assert!(r.header("retry-after").is_some());

    // The node removed, then added again with the same id: a new URL and no
    // secret, so what was revoked stays revoked.
    let canvas = |with_hook: bool| {
        let mut nodes = vec![
            json!({"id": "start", "type": "trigger"}),
            json!({"id": "out", "type": "output", "config": {"value": "x"}}),
        ];
        let mut edges = vec![json!({"from": "start", "to": "out"})];
        if with_hook {
            nodes.push(json!({"id": "hook", "type": "trigger", "config": {"kind": "webhook", "auth": "bearer"}}));
            edges.push(json!({"from": "hook", "to": "out"}));
        }
        json!({"nodes": nodes, "edges": edges})
    };
    for with_hook in [false, true] {
        let current = s
            .app
            .send(Req::get(&format!("/api/v1/workflows/{wf}")).bearer(&t))
            .await
            .expect(200, None);
        let version = current.body["version"].as_i64().expect("version");
        s.app
            .send(
                Req::patch(&format!("/api/v1/workflows/{wf}"))
                    .bearer(&t)
                    .header("if-match", &format!("\"{version}\""))
                    .json(&json!({"canvas": canvas(with_hook)})),
            )
            .await
            .expect(200, None);
        s.app
            .send(
                Req::post(&path)
                    .bearer(&secret)
                    .raw(Some("text/plain"), "x"),
            )
            .await
            .expect(404, Some("NOT_FOUND"));
    }
    let again = triggers_of(&s.app, &t, &wf).await;
    assert_eq!(again.len(), 1);
    assert_ne!(again[0]["path"], path.as_str(), "a new URL");
    assert_eq!(again[0]["hasSecret"], false);
}

async fn schedule_workflow(s: &TestStack, t: &str, overlap: &str, seconds: u32) -> (String, Uuid) {
    let wf = workflow(
        s,
        t,
        json!({
            "nodes": [
                {"id": "tick", "type": "trigger", "config": {"kind": "schedule", "cron": "*/5 * * * *", "timezone": "Europe/Paris", "overlap": overlap}},
                {"id": "wait", "type": "delay", "config": {"seconds": seconds}},
                {"id": "out", "type": "output", "config": {"value": "{{ inputs }}"}}
            ],
            "edges": [{"from": "tick", "to": "wait"}, {"from": "wait", "to": "out"}]
        }),
    )
    .await;
    let id: Uuid = triggers_of(&s.app, t, &wf).await[0]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    (wf, id)
}

#[tokio::test]
async fn a_schedule_fires_on_its_tick_skips_while_busy_and_follows_the_graph() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "schedules@example.com", "PROFESSIONAL").await;
    let (wf, trigger) = schedule_workflow(&s, &t, "skip", 3).await;
    let tick = Utc::now();
    assert_eq!(
        s.runs.fire_schedule(trigger, tick).await.expect("fire"),
        Fired::Skipped("not_published")
    );
    publish(&s.app, &t, &wf).await;

    // Pushed to the schedules port (in-process here, EventBridge on AWS).
    // The stack's own sweeper reconciles every 500 ms too, so which call did
    // the work varies: what is checked is that none failed, and the port's state.
    let done = s.runs.reconcile_schedules().await.expect("reconcile");
    assert_eq!(done.failed, 0, "{done:?}");
    let name = shared::triggers::ScheduleDef::name_of(trigger);
    let remote = s
        .runs
        .schedules
        .get(&name)
        .await
        .expect("get")
        .expect("pushed");
    assert!(remote.enabled);
    assert_eq!(remote.timezone, "Europe/Paris");
    let listed = s
        .app
        .send(Req::get("/api/v1/schedules").bearer(&t))
        .await
        .expect(200, None);
    let item = &listed.body["items"][0];
    assert_eq!(item["syncState"], "synced");
    let times: Vec<chrono::DateTime<Utc>> =
        serde_json::from_value(item["nextFireTimes"].clone()).expect("times");
    assert_eq!(times.len(), 3);
    assert!(times[0] > Utc::now() && times[0] < times[1] && times[1] < times[2]);
    assert!(
        times.iter().all(|t| t.timestamp() % 300 == 0),
        "every five minutes: {times:?}"
    );

    // The tick starts a run; the same tick again (delivered twice) does not start another.
    let Fired::Started(first) = s.runs.fire_schedule(trigger, tick).await.expect("fire") else {
        panic!("not started")
    };
    assert_eq!(
        s.runs.fire_schedule(trigger, tick).await.expect("fire"),
        Fired::Skipped("busy")
    );
    let next = tick + chrono::Duration::minutes(5);
    assert_eq!(
        s.runs.fire_schedule(trigger, next).await.expect("fire"),
        Fired::Skipped("busy"),
        "skips while busy"
    );
    let e = wait_for(
        &s,
        &t,
        &first.to_string(),
        TERMINAL,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(e["status"], "completed", "{e}");
    assert_eq!(e["triggerType"], "schedule");
    assert_eq!(e["triggerData"]["triggerId"], json!(trigger));
    assert!(matches!(
        s.runs.fire_schedule(trigger, next).await.expect("fire"),
        Fired::Started(_)
    ));

    // Paused by a person: skipped, and disabled on the port.
    s.app
        .send(Req::post(&format!("/api/v1/workflows/{wf}/triggers/{trigger}/pause")).bearer(&t))
        .await
        .expect(200, None);
    s.runs.reconcile_schedules().await.expect("reconcile");
    assert!(
        s.runs.schedules.get(&name).await.expect("get").is_none(),
        "only a schedule that fires exists on the port"
    );
    assert_eq!(
        s.runs
            .fire_schedule(trigger, next + chrono::Duration::minutes(5))
            .await
            .expect("fire"),
        Fired::Skipped("paused")
    );

    // Resumed: on the port again.
    s.app
        .send(Req::post(&format!("/api/v1/workflows/{wf}/triggers/{trigger}/resume")).bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(
        s.runs
            .reconcile_schedules()
            .await
            .expect("reconcile")
            .failed,
        0
    );
    assert!(s.runs.schedules.get(&name).await.expect("get").is_some());

    // The trigger node removed from the graph: its schedule goes, then its row.
    let current = s
        .app
        .send(Req::get(&format!("/api/v1/workflows/{wf}")).bearer(&t))
        .await
        .expect(200, None);
    let version = current.body["version"].as_i64().expect("version");
    s.app
        .send(
            Req::patch(&format!("/api/v1/workflows/{wf}"))
                .bearer(&t)
                .header("if-match", &format!("\"{version}\""))
                .json(&json!({"canvas": {
                    "nodes": [{"id": "start", "type": "trigger"}, {"id": "out", "type": "output", "config": {"value": "x"}}],
                    "edges": [{"from": "start", "to": "out"}]}})),
        )
        .await
        .expect(200, None);
    assert!(triggers_of(&s.app, &t, &wf).await.is_empty());
    let done = s.runs.reconcile_schedules().await.expect("reconcile");
    assert_eq!(done.failed, 0, "{done:?}");
    assert!(s.runs.schedules.get(&name).await.expect("get").is_none());
    let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM workflow_triggers WHERE id = $1")
        .bind(trigger)
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(rows, 0);
    assert_eq!(
        s.runs
            .fire_schedule(trigger, Utc::now())
            .await
            .expect("fire"),
        Fired::Gone
    );
}

#[tokio::test]
async fn overlap_allowed_starts_another_and_a_failing_schedule_is_paused_with_a_notice() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "overlap@example.com", "PROFESSIONAL").await;
    let (wf, trigger) = schedule_workflow(&s, &t, "allow", 2).await;
    publish(&s.app, &t, &wf).await;
    let now = Utc::now();
    assert!(matches!(
        s.runs.fire_schedule(trigger, now).await.expect("fire"),
        Fired::Started(_)
    ));
    assert!(
        matches!(
            s.runs
                .fire_schedule(trigger, now + chrono::Duration::minutes(5))
                .await
                .expect("fire"),
            Fired::Started(_)
        ),
        "overlap allowed"
    );

    // The plan no longer runs workflows: each tick is refused, and the fifth pauses it.
    sqlx::query("UPDATE workspaces SET tier = 'FREE' WHERE id = (SELECT id FROM users WHERE email = 'overlap@example.com')")
        .execute(&s.app.state.db)
        .await
        .expect("tier");
    for i in 1..=5 {
        let fired = s
            .runs
            .fire_schedule(trigger, now + chrono::Duration::minutes(5 * (i + 1)))
            .await
            .expect("fire");
        assert!(matches!(fired, Fired::Refused(_)), "{fired:?}");
    }
    assert_eq!(
        s.runs
            .fire_schedule(trigger, now + chrono::Duration::hours(2))
            .await
            .expect("fire"),
        Fired::Skipped("paused")
    );
    let listed = triggers_of(&s.app, &t, &wf).await;
    assert_eq!(listed[0]["state"], "paused");
    assert_eq!(listed[0]["pausedReason"], "failing");
    assert_eq!(listed[0]["failures"], 5);
    assert!(
        listed[0]["lastError"]
            .as_str()
            .expect("error")
            .contains("upgrade"),
        "{}",
        listed[0]
    );
    let paused: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM activity_log WHERE action = 'trigger.paused' AND resource_id = $1",
    )
    .bind(trigger)
    .fetch_one(&s.app.state.db)
    .await
    .expect("count");
    assert_eq!(paused, 1);
    // Resumed: the count starts over.
    let r = s
        .app
        .send(Req::post(&format!("/api/v1/workflows/{wf}/triggers/{trigger}/resume")).bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(r.body["failures"], 0);
    assert_eq!(r.body["state"], "active");
}

#[tokio::test]
async fn trigger_configs_are_checked() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "trigger-config@example.com", "PROFESSIONAL").await;
    for (config, field) in [
        (json!({"kind": "webhook", "cron": "* * * * *"}), "cron"),
        (
            json!({"kind": "webhook", "syncTimeoutSeconds": 60}),
            "syncTimeoutSeconds",
        ),
        (
            json!({"kind": "webhook", "headers": ["Authorization"]}),
            "headers",
        ),
        (
            json!({"kind": "schedule", "cron": "* * * * *", "auth": "bearer"}),
            "auth",
        ),
        (
            json!({"kind": "schedule", "cron": "* * * * *", "timezone": "not a zone!"}),
            "timezone",
        ),
        (
            json!({"kind": "schedule", "cron": "* * * * *", "timezone": "Mars/Olympus_Mons"}),
            "timezone",
        ),
        (json!({"kind": "manual", "overlap": "allow"}), "overlap"),
        // Runs on cron, but EventBridge Scheduler cannot hold it: refused everywhere.
        (json!({"kind": "schedule", "cron": "0 8 1 * 1"}), "cron"),
    ] {
        let wf = workflow(
            &s,
            &t,
            json!({"nodes": [{"id": "x", "type": "trigger", "config": config}, {"id": "o", "type": "output"}],
                   "edges": [{"from": "x", "to": "o"}]}),
        )
        .await;
        let report = s
            .app
            .send(Req::post(&format!("/api/v1/workflows/{wf}/validate")).bearer(&t))
            .await
            .expect(200, None);
        let issues = report.body["issues"].to_string();
        assert!(
            issues.contains(&format!("nodes[0].config.{field}")),
            "{config}: {issues}"
        );
    }
}
