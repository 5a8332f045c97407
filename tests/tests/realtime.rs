//! Live execution progress over the local WebSocket gateway, with a real
//! client: authentication, errors as frames, a run seen live in order, and a
//! reconnect that catches up exactly what was missed.

use std::time::Duration;

use saasit_tests::{json, spawn_stack, ws, Req, TestStack};
use serde_json::Value;

async fn paid_user(s: &TestStack, email: &str) -> String {
    let token = s.app.register(email, "correct horse 9").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    sqlx::query("UPDATE workspaces SET tier = 'PROFESSIONAL' WHERE id = (SELECT id FROM users WHERE email = $1)")
        .bind(email)
        .execute(&s.app.state.db)
        .await
        .expect("tier");
    token
}

/// A run with some pauses, so a client can disconnect in the middle.
async fn start_slow_run(s: &TestStack, token: &str) -> String {
    let canvas = json!({
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "a", "type": "transform", "config": {"template": {"n": 1}}},
            {"id": "wait", "type": "delay", "config": {"seconds": 2}},
            {"id": "b", "type": "transform", "config": {"template": {"n": "{{ a.output.n }}"}}},
            {"id": "out", "type": "output", "config": {"value": "{{ b.output.n }}"}}
        ],
        "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "wait"},
                  {"from": "wait", "to": "b"}, {"from": "b", "to": "out"}]
    });
    let wf = s
        .app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(token)
                .json(&json!({"name": "live", "canvas": canvas})),
        )
        .await
        .expect(201, None);
    let r = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(token)
                .json(&json!({"workflowId": wf.body["id"]})),
        )
        .await
        .expect(202, None);
    r.body["id"].as_str().expect("id").to_owned()
}

/// The numbers of a run's frames (the workspace's activity is numbered too,
/// on its own topic).
fn seqs(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .filter(|f| f.get("executionId").is_some())
        .filter_map(|f| f["seq"].as_i64())
        .collect()
}

const LIMIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn connecting_needs_a_valid_token_and_bad_frames_get_error_frames() {
    let s = spawn_stack().await;
    assert_eq!(ws::connect(&s.base_url, None).await.err(), Some(401));
    assert_eq!(
        ws::connect(&s.base_url, Some("not-a-jwt")).await.err(),
        Some(401)
    );
    let token = paid_user(&s, "ws-auth@example.com").await;
    let mut c = ws::connect(&s.base_url, Some(&token))
        .await
        .expect("connect");

    c.send(&json!({"action": "ping", "requestId": 7})).await;
    let pong = c.next(LIMIT).await.expect("pong");
    assert_eq!(
        (pong["type"].as_str(), pong["requestId"].as_i64()),
        (Some("pong"), Some(7))
    );

    c.send_text("{not json").await;
    let e = c.next(LIMIT).await.expect("error frame");
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("VALIDATION_ERROR"))
    );

    c.send(&json!({"action": "dance"})).await;
    let e = c.next(LIMIT).await.expect("error frame");
    assert_eq!(e["code"], "VALIDATION_ERROR");
    assert!(e["message"].as_str().is_some_and(|m| m.contains("dance")));

    c.send(&json!({"action": "subscribe", "topic": "galaxy:far"}))
        .await;
    assert_eq!(
        c.next(LIMIT).await.expect("error")["code"],
        "VALIDATION_ERROR"
    );

    // Still open after all that.
    c.send(&json!({"action": "ping"})).await;
    assert_eq!(c.next(LIMIT).await.expect("pong")["type"], "pong");
    c.close().await;
}

#[tokio::test]
async fn a_run_is_seen_live_from_queued_to_completed_in_order() {
    let s = spawn_stack().await;
    let token = paid_user(&s, "ws-live@example.com").await;
    let mut c = ws::connect(&s.base_url, Some(&token))
        .await
        .expect("connect");
    let id = start_slow_run(&s, &token).await;

    // The owner's topic announces the run; then the client follows it from the start.
    let queued = c.until(LIMIT, |f| f["type"] == "execution:queued").await;
    assert_eq!(queued.last().expect("queued")["executionId"], id.as_str());
    c.send(&json!({"action": "subscribe", "topic": format!("execution:{id}"), "after": 0}))
        .await;
    let frames = c.until(LIMIT, |f| f["type"] == "execution:completed").await;
    let subscribed = frames
        .iter()
        .find(|f| f["type"] == "subscribed")
        .expect("ack");
    assert_eq!(subscribed["after"], 0);
    let got = seqs(&frames);
    assert_eq!(
        got,
        (1..=got.len() as i64).collect::<Vec<_>>(),
        "every event once, in order"
    );
    let kinds: Vec<&str> = frames
        .iter()
        .filter(|f| f["seq"].is_i64() && f.get("executionId").is_some())
        .map(|f| f["event"]["type"].as_str().unwrap_or_default())
        .collect();
    assert_eq!(kinds.first(), Some(&"run_started"));
    // The run's end is its last sequenced frame, after every event.
    assert_eq!(kinds[kinds.len() - 2], "run_finished");
    assert_eq!(kinds.last(), Some(&"execution_ended"));
    assert!(frames.iter().any(|f| f["type"] == "execution:node"));
    let done = frames.last().expect("completed");
    assert_eq!(done["status"], "completed");
    assert_eq!(done["executionId"], id.as_str());

    // The stored log is exactly what was delivered.
    let logs = s
        .app
        .send(Req::get(&format!("/api/v1/executions/{id}/logs?limit=500")).bearer(&token))
        .await
        .expect(200, None);
    assert_eq!(
        logs.body["events"].as_array().map(Vec::len),
        Some(got.len())
    );
    c.close().await;
}

#[tokio::test]
async fn a_reconnect_with_after_receives_exactly_the_missed_events() {
    let s = spawn_stack().await;
    let token = paid_user(&s, "ws-reconnect@example.com").await;
    let id = start_slow_run(&s, &token).await;
    let topic = format!("execution:{id}");

    let mut first = ws::connect(&s.base_url, Some(&token))
        .await
        .expect("connect");
    first
        .send(&json!({"action": "subscribe", "topic": topic, "after": 0}))
        .await;
    // Until the run pauses at `wait`, then drop the connection mid-run.
    let before = first
        .until(LIMIT, |f| {
            f["event"]["type"] == "node_started" && f["event"]["node"] == "wait"
        })
        .await;
    let last_seen = *seqs(&before).last().expect("some events");
    first.close().await;

    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let mut second = ws::connect(&s.base_url, Some(&token))
        .await
        .expect("reconnect");
    second
        .send(&json!({"action": "subscribe", "topic": topic, "after": last_seen}))
        .await;
    let after = second
        .until(LIMIT, |f| f["type"] == "execution:completed")
        .await;
    let mut all = seqs(&before);
    all.extend(seqs(&after));
    assert_eq!(
        all,
        (1..=all.len() as i64).collect::<Vec<_>>(),
        "no gap and no duplicate across the reconnect"
    );
    assert!(seqs(&after).first().is_some_and(|s| *s == last_seen + 1));
    second.close().await;
}

#[tokio::test]
async fn another_user_cannot_follow_your_run() {
    let s = spawn_stack().await;
    let owner = paid_user(&s, "ws-owner@example.com").await;
    let id = start_slow_run(&s, &owner).await;
    let other = paid_user(&s, "ws-other@example.com").await;
    let mut c = ws::connect(&s.base_url, Some(&other))
        .await
        .expect("connect");
    c.send(&json!({"action": "subscribe", "topic": format!("execution:{id}")}))
        .await;
    let e = c.next(LIMIT).await.expect("error frame");
    assert_eq!(
        (e["type"].as_str(), e["code"].as_str()),
        (Some("error"), Some("NOT_FOUND"))
    );
    let me = s
        .app
        .send(Req::get("/api/v1/auth/me").bearer(&owner))
        .await
        .expect(200, None);
    c.send(&json!({"action": "subscribe", "topic": format!("user:{}", me.body["id"].as_str().expect("id"))}))
        .await;
    assert_eq!(
        c.next(LIMIT).await.expect("error frame")["code"],
        "NOT_FOUND"
    );
    // Nothing of the owner's run reaches this socket.
    assert!(c.next(Duration::from_millis(500)).await.is_none());
    c.close().await;
    // Let the owner's run finish, so nothing is left running.
    let started = std::time::Instant::now();
    loop {
        let e = s
            .app
            .send(Req::get(&format!("/api/v1/executions/{id}")).bearer(&owner))
            .await
            .expect(200, None);
        if e.body["status"] == "completed" {
            break;
        }
        assert!(started.elapsed() < LIMIT, "{}", e.body);
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn workflow_subscribers_see_its_updates() {
    let s = spawn_stack().await;
    let token = paid_user(&s, "ws-workflow@example.com").await;
    let wf = s
        .app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&token)
                .json(&json!({"name": "watched"})),
        )
        .await
        .expect(201, None);
    let id = wf.body["id"].as_str().expect("id").to_owned();
    let mut c = ws::connect(&s.base_url, Some(&token))
        .await
        .expect("connect");
    c.send(&json!({"action": "subscribe", "topic": format!("workflow:{id}")}))
        .await;
    assert_eq!(c.next(LIMIT).await.expect("ack")["type"], "subscribed");
    s.app
        .send(
            Req::patch(&format!("/api/v1/workflows/{id}"))
                .bearer(&token)
                .json(&json!({"name": "renamed", "baseVersion": 1})),
        )
        .await
        .expect(200, None);
    // The personal workspace's topic (followed from connect) also carries the
    // change as a `workspace:activity` entry; the workflow's topic carries the update.
    // Opening the workflow also told its followers who has it open.
    let mut update = c.next(LIMIT).await.expect("update");
    while update["type"] == "workspace:activity" || update["type"] == "workflow:presence" {
        if update["type"] == "workspace:activity" {
            assert_eq!(update["activity"]["action"], "workflow.updated");
        }
        update = c.next(LIMIT).await.expect("update");
    }
    assert_eq!(update["type"], "workflow:update");
    assert_eq!(update["workflowId"], id.as_str());
    assert_eq!(update["version"], 2);
    c.send(&json!({"action": "unsubscribe", "topic": format!("workflow:{id}")}))
        .await;
    let mut ack = c.next(LIMIT).await.expect("ack");
    while ack["type"] == "workspace:activity" {
        ack = c.next(LIMIT).await.expect("ack");
    }
    assert_eq!(ack["type"], "unsubscribed");
    c.close().await;
}

#[tokio::test]
async fn a_client_subscribing_after_the_end_knows_it_has_everything() {
    let s = spawn_stack().await;
    let token = paid_user(&s, "ws-late@example.com").await;
    let id = start_slow_run(&s, &token).await;
    let topic = format!("execution:{id}");
    // The socket is open before the end but not subscribed to the run: only
    // the owner's `user:` topic tells it the run is over. Waiting for that
    // notification (rather than polling the status, which is written before
    // the notification goes out) keeps the end from racing the subscribe.
    let mut c = ws::connect(&s.base_url, Some(&token))
        .await
        .expect("connect");
    c.until(LIMIT, |f| f["type"] == "execution:completed").await;
    // Then what the run adds to the workspace's analytics, on the same topic.
    let seen = c.until(LIMIT, |f| f["type"] == "analytics:run").await;
    let run = &seen.last().expect("analytics:run")["run"];
    assert_eq!(run["id"], id.as_str());
    assert_eq!(run["status"], "completed");
    let e = s
        .app
        .send(Req::get(&format!("/api/v1/executions/{id}")).bearer(&token))
        .await
        .expect(200, None)
        .body;
    assert_eq!(e["status"], "completed");
    let last_seq = e["lastSeq"].as_i64().expect("lastSeq");

    // Without `after`: nothing more is coming, and `subscribed` says so (the
    // code before said neither the status nor where the run ends).
    c.send(&json!({"action": "subscribe", "topic": topic}))
        .await;
    let ack = c.next(LIMIT).await.expect("ack");
    assert_eq!(ack["type"], "subscribed");
    assert_eq!(ack["status"], "completed");
    assert_eq!(ack["lastSeq"], last_seq);
    assert_eq!(ack["after"], last_seq);

    // From three before the end: the tail, ending in the terminal frame.
    c.send(&json!({"action": "subscribe", "topic": topic, "after": last_seq - 3}))
        .await;
    let frames = c.until(LIMIT, |f| f["type"] == "execution:completed").await;
    assert_eq!(seqs(&frames), vec![last_seq - 2, last_seq - 1, last_seq]);
    let end = frames.last().expect("end");
    assert_eq!(end["status"], "completed");
    assert_eq!(end["event"]["type"], "execution_ended");
    c.close().await;
}
