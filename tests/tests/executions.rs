//! The execution pipeline end to end on the local stack: API → queue →
//! dispatcher → executor process → callbacks → terminal state; and its faults.

use std::time::{Duration, Instant};

use axum::http::Method;
use saasit_tests::{
    json,
    runs::{all_events, paid_user, slow_canvas, start, status_of, wait_for, workflow, TERMINAL},
    spawn_stack, Req, TestStack,
};
use serde_json::Value;

fn full_canvas(base: &str) -> Value {
    json!({
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "health", "type": "http", "config": {"url": format!("{base}/health")}},
            {"id": "write", "type": "agent", "config": {"systemPrompt": "You write.", "prompt": "Status {{ health.output.body.status }} for {{ inputs.who }}"}},
            {"id": "up", "type": "condition", "config": {"expression": "health.output.body.status == 'ok'"}},
            {"id": "good", "type": "transform", "config": {"template": {"db": "{{ health.output.body.checks.database.status }}", "text": "{{ write.output.text }}"}}},
            {"id": "bad", "type": "transform", "config": {"template": "down"}},
            {"id": "out", "type": "output", "config": {"value": {"good": "{{ good.output }}", "bad": "{{ bad.output }}"}, "artifact": {"name": "report.json"}}}
        ],
        "edges": [
            {"from": "start", "to": "health"}, {"from": "start", "to": "write"}, {"from": "health", "to": "write"},
            {"from": "write", "to": "up"}, {"from": "up", "to": "good", "condition": "true"}, {"from": "up", "to": "bad", "condition": "false"},
            {"from": "good", "to": "out"}, {"from": "bad", "to": "out"}
        ]
    })
}

#[tokio::test]
async fn a_starter_user_runs_a_workflow_to_completion() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "starter@example.com", "STARTER").await;
    let wf = workflow(&s, &t, full_canvas(&s.base_url)).await;
    let id = start(&s, &t, &wf, json!({"who": "ops"})).await;
    let done = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["priority"], "low");
    assert_eq!(done["output"]["good"]["db"], "up");
    assert_eq!(done["output"]["bad"], Value::Null);
    assert!(done["runtimeMs"].as_i64().is_some());

    // Logs: complete and ordered, across pages.
    let events = all_events(&s, &t, &id).await;
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, (1..=events.len() as i64).collect::<Vec<_>>());
    assert_eq!(events.first().expect("events")["type"], "run_started");
    // The executor's last event, then the run's end: always the last event.
    assert_eq!(events[events.len() - 2]["type"], "run_finished");
    let end = events.last().expect("events");
    assert_eq!(end["type"], "execution_ended");
    assert_eq!(end["status"], "completed");

    let nodes = s
        .app
        .send(Req::get(&format!("/api/v1/executions/{id}/nodes")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(nodes["nextAfter"], Value::Null, "one page holds them all");
    let status_of = |n: &str| {
        nodes["items"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|x| x["node"] == n)
            .map(|x| x["status"].clone())
    };
    assert_eq!(status_of("health"), Some(json!("succeeded")));
    assert_eq!(status_of("bad"), Some(json!("skipped")));

    let artifacts = s
        .app
        .send(Req::get(&format!("/api/v1/executions/{id}/artifacts")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(artifacts[0]["name"], "report.json");
    let url = artifacts[0]["downloadUrl"].as_str().expect("url");
    let path = url.strip_prefix(&s.base_url).expect("local url");
    let file = s.app.send(Req::get(path)).await;
    assert_eq!(file.status.as_u16(), 200);
    assert_eq!(file.body["good"]["db"], "up");
    assert!(s.launcher.running().is_empty() || wait_gone(&s).await);

    // The log bundle: every event, one JSON line each, listed among the artifacts.
    let bundle = wait_for_artifact(&s, &t, &id, "execution-log.ndjson").await;
    let url = bundle["downloadUrl"].as_str().expect("url");
    let file = s
        .app
        .send(Req::get(url.strip_prefix(&s.base_url).expect("local url")))
        .await;
    assert_eq!(file.status.as_u16(), 200);
    let lines: Vec<Value> = file
        .text
        .lines()
        .map(|l| serde_json::from_str(l).expect("a JSON line"))
        .collect();
    assert_eq!(lines.len(), events.len());
    assert_eq!(lines.last().expect("lines")["type"], "execution_ended");

    // Usage: the run and its seconds count toward the workspace's month, once.
    let usage: Vec<(String, i64)> = sqlx::query_as(
        "SELECT metric, count FROM usage_metrics m JOIN users u ON u.id = m.workspace_id
          WHERE u.email = 'starter@example.com' AND metric IN ('runs_finished', 'run_seconds') ORDER BY metric",
    )
    .fetch_all(&s.app.state.db)
    .await
    .expect("usage");
    assert_eq!(usage.len(), 2, "{usage:?}");
    assert_eq!(usage[0].0, "run_seconds");
    assert!(usage[0].1 >= 0);
    assert_eq!(usage[1], ("runs_finished".to_owned(), 1));
}

async fn wait_for_artifact(s: &TestStack, token: &str, id: &str, name: &str) -> Value {
    for _ in 0..50 {
        let list = s
            .app
            .send(Req::get(&format!("/api/v1/executions/{id}/artifacts")).bearer(token))
            .await
            .expect(200, None)
            .body;
        if let Some(a) = list
            .as_array()
            .and_then(|l| l.iter().find(|a| a["name"] == name))
        {
            return a.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("no artifact {name} for {id}");
}

async fn wait_gone(s: &TestStack) -> bool {
    for _ in 0..50 {
        if s.launcher.running().is_empty() {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn design_tiers_cannot_run_and_bad_requests_are_refused() {
    let s = spawn_stack().await;
    let free = s
        .app
        .register("free-run@example.com", "correct horse 9")
        .await["accessToken"]
        .as_str()
        .expect("t")
        .to_owned();
    let wf = workflow(&s, &free, full_canvas(&s.base_url)).await;
    let r = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&free)
                .json(&json!({"workflowId": wf})),
        )
        .await
        .expect(403, Some("TIER_LIMIT"));
    assert_eq!(r.body["error"]["details"]["tier"], "FREE");

    let t = paid_user(&s, "pro@example.com", "PROFESSIONAL").await;
    s.app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&t)
                .json(&json!({"workflowId": wf})),
        )
        .await
        .expect(404, Some("NOT_FOUND"));
    let broken = workflow(
        &s,
        &t,
        json!({"nodes": [{"id": "a", "type": "output"}], "edges": []}),
    )
    .await;
    let r = s
        .app
        .send(
            Req::post(&format!("/api/v1/workflows/{broken}/execute"))
                .bearer(&t)
                .json(&json!({})),
        )
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    assert_eq!(r.body["error"]["details"]["reason"], "invalid_graph");
    let ok = workflow(&s, &t, full_canvas(&s.base_url)).await;
    s.app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&t)
                .json(&json!({"workflowId": ok, "inputs": [1]})),
        )
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM executions")
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(count, 0, "nothing was stored for refused requests");
}

#[tokio::test]
async fn an_idempotency_key_returns_the_same_execution() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "idem@example.com", "SCALE").await;
    let wf = workflow(&s, &t, full_canvas(&s.base_url)).await;
    let body = json!({"workflowId": wf, "inputs": {"who": "x"}});
    let first = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&t)
                .header("idempotency-key", "run-42")
                .json(&body),
        )
        .await
        .expect(202, None);
    assert_eq!(first.body["priority"], "high");
    let again = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&t)
                .header("idempotency-key", "run-42")
                .json(&body),
        )
        .await
        .expect(200, None);
    assert_eq!(first.body["id"], again.body["id"]);
    wait_for(
        &s,
        &t,
        first.body["id"].as_str().expect("id"),
        &["completed"],
        Duration::from_secs(30),
    )
    .await;
}

/// A new STARTER user's run of a `seconds`-long delay, once it is running:
/// the user's token and the run's id.
async fn running_delay(s: &TestStack, email: &str, seconds: u32) -> (String, String) {
    let t = paid_user(s, email, "STARTER").await;
    let wf = workflow(s, &t, slow_canvas(seconds)).await;
    let id = start(s, &t, &wf, json!({})).await;
    wait_for(s, &t, &id, &["running"], Duration::from_secs(20)).await;
    (t, id)
}

#[tokio::test]
async fn cancelling_a_running_execution_stops_its_executor() {
    let s = spawn_stack().await;
    let (t, id) = running_delay(&s, "cancel@example.com", 60).await;
    let r = s
        .app
        .send(Req::post(&format!("/api/v1/executions/{id}/cancel")).bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(r.body["status"], "cancelled");
    // Idempotent.
    s.app
        .send(Req::post(&format!("/api/v1/executions/{id}/cancel")).bearer(&t))
        .await
        .expect(200, None);
    assert!(wait_gone(&s).await, "the executor process did not stop");
    let e = s
        .app
        .send(Req::get(&format!("/api/v1/executions/{id}")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(e["status"], "cancelled");
}

#[tokio::test]
async fn a_killed_executor_times_out_after_heartbeat_loss_and_frees_its_slot() {
    let s = spawn_stack().await;
    let (t, id) = running_delay(&s, "killed@example.com", 120).await;
    let pid = s
        .launcher
        .pid(&format!("exec-{id}"))
        .expect("a running executor");
    std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .expect("kill");
    let e = wait_for(
        &s,
        &t,
        &id,
        &["timed_out", "failed"],
        Duration::from_secs(15),
    )
    .await;
    assert_eq!(e["status"], "timed_out");
    assert!(
        e["error"].as_str().is_some_and(|m| m.contains("heartbeat")),
        "{e}"
    );
    // The slot is free again: the next run of this STARTER user runs.
    let quick = workflow(&s, &t, slow_canvas(0)).await;
    let next = start(&s, &t, &quick, json!({})).await;
    wait_for(&s, &t, &next, &["completed"], Duration::from_secs(30)).await;
}

/// Waits until the executor has reported `events` events (it is past its start-up).
async fn reported(s: &TestStack, t: &str, id: &str, events: i64) {
    let started = Instant::now();
    loop {
        let e = s
            .app
            .send(Req::get(&format!("/api/v1/executions/{id}")).bearer(t))
            .await
            .expect(200, None)
            .body;
        if e["lastSeq"].as_i64().unwrap_or(0) >= events {
            return;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{e}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn an_interrupted_executor_fails_its_run_as_interrupted_and_the_run_resumes() {
    // What a spot interruption or a drained node does: SIGTERM to the executor,
    // which stops and reports `cancelled`, though nobody cancelled the run.
    let s = spawn_stack().await;
    let (t, id) = running_delay(&s, "interrupted@example.com", 3).await;
    reported(&s, &t, &id, 3).await;
    let pid = s
        .launcher
        .pid(&format!("exec-{id}"))
        .expect("a running executor");
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    let e = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(15)).await;
    assert_eq!(e["status"], "failed", "not a cancel nobody asked for: {e}");
    assert!(
        e["error"]
            .as_str()
            .is_some_and(|m| m.starts_with("interrupted:")),
        "{e}"
    );
    // Resumed from its failed nodes, as the system, once. The resume is made
    // just after the run is marked failed, so it may not exist yet.
    let started = Instant::now();
    let resumed: uuid::Uuid = loop {
        let found: Option<uuid::Uuid> =
            sqlx::query_scalar("SELECT id FROM executions WHERE retry_of = $1")
                .bind(uuid::Uuid::parse_str(&id).expect("uuid"))
                .fetch_optional(&s.app.state.db)
                .await
                .expect("read the resumed run");
        if let Some(r) = found {
            break r;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "no resumed run"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let r = wait_for(
        &s,
        &t,
        &resumed.to_string(),
        &["completed"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(r["retryOf"], id.as_str(), "{r}");
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM executions WHERE retry_of = $1")
        .bind(uuid::Uuid::parse_str(&id).expect("uuid"))
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(runs, 1, "resumed once");

    // A stop while a cancel is asked for (its request on its way to ending the run)
    // is the cancel: the run ends cancelled and nothing resumes it.
    let (t2, id2) = running_delay(&s, "interrupted-cancel@example.com", 30).await;
    reported(&s, &t2, &id2, 3).await;
    let uuid2 = uuid::Uuid::parse_str(&id2).expect("uuid");
    sqlx::query("UPDATE executions SET cancel_requested = true WHERE id = $1")
        .bind(uuid2)
        .execute(&s.app.state.db)
        .await
        .expect("cancel asked");
    let pid = s
        .launcher
        .pid(&format!("exec-{id2}"))
        .expect("a running executor");
    std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .expect("kill");
    let e = wait_for(&s, &t2, &id2, TERMINAL, Duration::from_secs(15)).await;
    assert_eq!(e["status"], "cancelled", "{e}");
    let resumed: i64 = sqlx::query_scalar("SELECT count(*) FROM executions WHERE retry_of = $1")
        .bind(uuid2)
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(resumed, 0);
}

#[tokio::test]
async fn over_the_concurrency_limit_a_run_waits_for_a_free_slot() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "one-slot@example.com", "STARTER").await;
    let wf = workflow(&s, &t, slow_canvas(2)).await;
    let one = start(&s, &t, &wf, json!({})).await;
    let two = start(&s, &t, &wf, json!({})).await;
    // Both messages are dispatched concurrently (as SQS would), so either run
    // may take the slot; the other must wait for it.
    let started = Instant::now();
    let (first, second) = loop {
        let a = status_of(&s, &t, &one).await;
        let b = status_of(&s, &t, &two).await;
        match (a.as_str(), b.as_str()) {
            ("running", _) => break (one.clone(), two.clone()),
            (_, "running") => break (two.clone(), one.clone()),
            _ => {}
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "neither run started: {a}, {b}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let waiting = s
        .app
        .send(Req::get(&format!("/api/v1/executions/{second}")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(waiting["status"], "queued", "STARTER runs one at a time");
    assert!(waiting["queuePosition"].is_number());
    let a = wait_for(&s, &t, &first, &["completed"], Duration::from_secs(30)).await;
    let b = wait_for(&s, &t, &second, &["completed"], Duration::from_secs(30)).await;
    assert!(
        b["startedAt"].as_str().expect("started") >= a["finishedAt"].as_str().expect("finished"),
        "first: {a}\nsecond: {b}"
    );
}

#[tokio::test]
async fn retry_from_failed_reuses_what_succeeded() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "retry@example.com", "PROFESSIONAL").await;
    // `check` calls a URL that always fails (an unsigned blob URL), so the run fails at `check`
    // after `prep` succeeded; the retry must reuse `prep` instead of running it again.
    let canvas = json!({
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "prep", "type": "http", "config": {"url": format!("{}/health", s.base_url)}},
            {"id": "check", "type": "http", "config": {"url": "{{ inputs.target }}"}},
            {"id": "out", "type": "output", "config": {"value": "{{ check.output.status }}"}}
        ],
        "edges": [{"from": "start", "to": "prep"}, {"from": "prep", "to": "check"}, {"from": "check", "to": "out"}]
    });
    let wf = workflow(&s, &t, canvas).await;
    let missing = format!("{}/local-blobs/not/there?expires=1&sig=x", s.base_url);
    let id = start(&s, &t, &wf, json!({"target": missing})).await;
    let failed = wait_for(
        &s,
        &t,
        &id,
        &["failed", "completed"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(failed["status"], "failed");
    assert_eq!(failed["failedNode"], "check");

    // A retry runs the same snapshot and inputs; from_failed keeps `prep`'s output.
    let retried = s
        .app
        .send(
            Req::post(&format!("/api/v1/executions/{id}/retry"))
                .bearer(&t)
                .json(&json!({"fromFailed": true})),
        )
        .await
        .expect(202, None);
    assert_eq!(retried.body["retryOf"], id.as_str());
    let new_id = retried.body["id"].as_str().expect("id").to_owned();
    wait_for(
        &s,
        &t,
        &new_id,
        &["failed", "completed"],
        Duration::from_secs(30),
    )
    .await;
    let events = all_events(&s, &t, &new_id).await;
    let prep = events
        .iter()
        .find(|e| e["type"] == "node_succeeded" && e["node"] == "prep")
        .expect("prep");
    assert_eq!(prep["reused"], true);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["type"] == "node_started" && e["node"] == "prep")
            .count(),
        0,
        "prep did not run again"
    );
    s.app
        .send(
            Req::post(&format!("/api/v1/executions/{new_id}/retry"))
                .bearer(&t)
                .json(&json!({})),
        )
        .await
        .expect(202, None);
}

#[tokio::test]
async fn callbacks_need_the_execution_token() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "cb@example.com", "STARTER").await;
    let wf = workflow(&s, &t, slow_canvas(0)).await;
    let id = start(&s, &t, &wf, json!({})).await;
    let base = format!("/api/v1/internal/executions/{id}");
    s.app
        .send(Req::get(&format!("{base}/spec")))
        .await
        .expect(401, Some("UNAUTHORIZED"));
    s.app
        .send(Req::get(&format!("{base}/spec")).bearer(&t))
        .await
        .expect(401, Some("TOKEN_INVALID"));
    let other = s
        .app
        .state
        .tokens
        .issue_for_execution(
            uuid::Uuid::now_v7(),
            uuid::Uuid::now_v7(),
            Duration::from_secs(60),
        )
        .expect("token");
    s.app
        .send(Req::get(&format!("{base}/spec")).bearer(&other.token))
        .await
        .expect(403, Some("FORBIDDEN"));
    let own = s
        .app
        .state
        .tokens
        .issue_for_execution(
            id.parse().expect("uuid"),
            uuid::Uuid::now_v7(),
            Duration::from_secs(60),
        )
        .expect("token");
    let spec = s
        .app
        .send(Req::get(&format!("{base}/spec")).bearer(&own.token))
        .await
        .expect(200, None);
    assert_eq!(spec.body["graph"]["nodes"][1]["id"], "wait");
    // A replayed event batch is applied once; a batch is a heartbeat, and answers as one.
    let batch = json!({"events": [{"seq": 1000, "ts": "2026-01-01T00:00:00Z", "type": "log", "level": "info", "message": "hi"}]});
    for _ in 0..2 {
        let answer = s
            .app
            .send(
                Req::post(&format!("{base}/events"))
                    .bearer(&own.token)
                    .json(&batch),
            )
            .await
            .expect(200, None);
        assert_eq!(
            answer.body,
            json!({"cancel": false, "budgetExceeded": false})
        );
    }
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM execution_events WHERE seq = 1000")
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(n, 1);
    s.app
        .send(
            Req::new(Method::POST, &format!("{base}/result"))
                .bearer(&own.token)
                .json(&json!({"status": "exploded"})),
        )
        .await
        .expect(400, Some("VALIDATION_ERROR"));
}

#[tokio::test]
async fn a_heartbeat_before_the_dispatch_is_recorded_does_not_stop_the_run() {
    // The executor can start and beat before the dispatcher has marked the
    // run running (CI once saw a run cancelled 14 ms in this way).
    let s = spawn_stack().await;
    let (t, id) = running_delay(&s, "early-beat@example.com", 60).await;
    let uuid: uuid::Uuid = id.parse().expect("uuid");
    let own = s
        .app
        .state
        .tokens
        .issue_for_execution(uuid, uuid::Uuid::now_v7(), Duration::from_secs(60))
        .expect("token");
    let beat = |status: &'static str| {
        let (s, token) = (&s, own.token.clone());
        async move {
            sqlx::query("UPDATE executions SET status = $2 WHERE id = $1")
                .bind(uuid)
                .bind(status)
                .execute(&s.app.state.db)
                .await
                .expect("status");
            s.app
                .send(
                    Req::post(&format!("/api/v1/internal/executions/{uuid}/heartbeat"))
                        .bearer(&token),
                )
                .await
        }
    };
    assert_eq!(
        beat("dispatching").await.expect(200, None).body["cancel"],
        json!(false)
    );
    assert_eq!(
        beat("running").await.expect(200, None).body["cancel"],
        json!(false)
    );
    s.app
        .send(Req::post(&format!("/api/v1/executions/{id}/cancel")).bearer(&t))
        .await
        .expect(200, None);
    let done = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(20)).await;
    assert_eq!(done["status"], "cancelled", "{done}");
    // A run that has ended does stop its executor: its token is dead. (Checked
    // once it ended: a status set by hand while the run lives races its
    // executor's own reports.)
    let late = s
        .app
        .send(
            Req::post(&format!("/api/v1/internal/executions/{uuid}/heartbeat")).bearer(&own.token),
        )
        .await;
    late.expect(409, Some("RUN_ENDED"));
}

#[tokio::test]
async fn starting_a_run_counts_one_use_of_each_agent_it_names() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "agents-used@example.com", "STARTER").await;
    let (a, b) = (
        "01930000-0000-7000-8000-000000000001",
        "01930000-0000-7000-8000-000000000002",
    );
    let canvas = json!({
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "one", "type": "agent", "config": {"agentId": a, "prompt": "hi"}},
            {"id": "two", "type": "agent", "config": {"agentId": a, "prompt": "again"}},
            {"id": "three", "type": "agent", "config": {"agentId": b, "prompt": "hello"}},
            {"id": "out", "type": "output", "config": {"value": "done"}}
        ],
        "edges": [{"from": "start", "to": "one"}, {"from": "one", "to": "two"},
                  {"from": "two", "to": "three"}, {"from": "three", "to": "out"}]
    });
    // Uses are appended as runs start and folded into the count by the sweeper.
    let count = |id: &'static str| {
        let db = s.app.state.db.clone();
        async move {
            shared::db::agents::fold_usage(&db, 5_000)
                .await
                .expect("fold");
            sqlx::query_scalar::<_, i64>("SELECT usage_count FROM agents WHERE id = $1::uuid")
                .bind(id)
                .fetch_one(&db)
                .await
                .expect("agent")
        }
    };
    let (a0, b0) = (count(a).await, count(b).await);
    let wf = workflow(&s, &t, canvas).await;
    let id = start(&s, &t, &wf, json!({})).await;
    assert_eq!(count(a).await, a0 + 1, "twice in one run is one use");
    assert_eq!(count(b).await, b0 + 1);
    let done = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed", "{done}");
}

#[tokio::test]
async fn the_database_going_down_during_callbacks_loses_nothing() {
    // This stack reaches Postgres through a proxy the test can cut.
    let (s, proxy) = saasit_tests::runs::stack_with_cuttable_db(shared::runs::RunSettings {
        heartbeat_every: Duration::from_secs(1),
        // Longer than the outage: this test is about callbacks, not heartbeat loss.
        heartbeat_timeout: Duration::from_secs(20),
        defer: Duration::from_millis(200),
        ..shared::runs::RunSettings::default()
    })
    .await;
    let t = paid_user(&s, "outage@example.com", "STARTER").await;
    let canvas = json!({
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "first", "type": "delay", "config": {"seconds": 1}},
            {"id": "shape", "type": "transform", "config": {"template": {"step": "two"}}},
            {"id": "second", "type": "delay", "config": {"seconds": 2}},
            {"id": "out", "type": "output", "config": {"value": "{{ shape.output.step }}"}}
        ],
        "edges": [{"from": "start", "to": "first"}, {"from": "first", "to": "shape"},
                  {"from": "shape", "to": "second"}, {"from": "second", "to": "out"}]
    });
    let wf = workflow(&s, &t, canvas).await;
    let id = start(&s, &t, &wf, json!({})).await;
    wait_for(&s, &t, &id, &["running"], Duration::from_secs(20)).await;

    proxy.cut();
    let during = s
        .app
        .send(Req::get(&format!("/api/v1/executions/{id}")).bearer(&t))
        .await;
    assert_eq!(during.status.as_u16(), 503, "{}", during.text);
    assert_eq!(during.code(), "SERVICE_UNAVAILABLE");
    // The executor's events, heartbeats and result meet 503s (or no answer) meanwhile.
    tokio::time::sleep(Duration::from_secs(3)).await;
    proxy.restore();

    let done = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(40)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], "two");
    let events = all_events(&s, &t, &id).await;
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "every event arrived once, in order"
    );
    for node in ["first", "shape", "second", "out"] {
        assert!(
            events
                .iter()
                .any(|e| e["type"] == "node_succeeded" && e["node"] == node),
            "{node} succeeded: {events:?}"
        );
    }
    // The executor's last event, then the run's end: always the last event.
    assert_eq!(events[events.len() - 2]["type"], "run_finished");
    let end = events.last().expect("events");
    assert_eq!(end["type"], "execution_ended");
    assert_eq!(end["status"], "completed");
}

#[tokio::test]
async fn a_run_records_how_it_was_started_and_a_retry_keeps_it() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "trigger@example.com", "PROFESSIONAL").await;
    let wf = workflow(&s, &t, slow_canvas(0)).await;

    // No trigger named: a manual run with no trigger data.
    let manual = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&t)
                .json(&json!({"workflowId": wf})),
        )
        .await
        .expect(202, None);
    assert_eq!(manual.body["triggerType"], "manual");
    assert_eq!(manual.body["triggerData"], json!({}));

    // A script says so, with data of its own; the run shows it wherever it is read.
    let data = json!({"source": "nightly-report", "nested": {"list": [1, 2, {"deep": true}]}});
    let scripted = s
        .app
        .send(
            Req::post(&format!("/api/v1/workflows/{wf}/execute"))
                .bearer(&t)
                .json(&json!({"triggerType": "api", "triggerData": data})),
        )
        .await
        .expect(202, None);
    let id = scripted.body["id"].as_str().expect("id").to_owned();
    assert_eq!(scripted.body["triggerType"], "api");
    assert_eq!(scripted.body["triggerData"], data);
    let done = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed");
    assert_eq!(done["triggerType"], "api");
    assert_eq!(done["triggerData"], data);
    let listed = s
        .app
        .send(Req::get(&format!("/api/v1/executions?workflowId={wf}")).bearer(&t))
        .await
        .expect(200, None);
    let row = listed.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|e| e["id"] == id.as_str())
        .expect("listed");
    assert_eq!(row["triggerType"], "api");

    // A retry is the same start again: it keeps the trigger and its data.
    let retried = s
        .app
        .send(
            Req::post(&format!("/api/v1/executions/{id}/retry"))
                .bearer(&t)
                .json(&json!({})),
        )
        .await
        .expect(202, None);
    assert_eq!(retried.body["triggerType"], "api");
    assert_eq!(retried.body["triggerData"], data);

    // Webhook and schedule runs are started by their triggers, never claimed by a caller;
    // trigger data is an object.
    for bad in [
        json!({"workflowId": wf, "triggerType": "webhook"}),
        json!({"workflowId": wf, "triggerType": "schedule"}),
        json!({"workflowId": wf, "triggerType": "MANUAL"}),
        json!({"workflowId": wf, "triggerData": [1]}),
        json!({"workflowId": wf, "triggerData": "x"}),
    ] {
        s.app
            .send(Req::post("/api/v1/executions").bearer(&t).json(&bad))
            .await
            .expect(400, Some("VALIDATION_ERROR"));
    }
    // `null` is the same as leaving it out.
    let r = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&t)
                .json(&json!({"workflowId": wf, "triggerType": null, "triggerData": null})),
        )
        .await
        .expect(202, None);
    assert_eq!(r.body["triggerType"], "manual");
    assert_eq!(r.body["triggerData"], json!({}));
}
