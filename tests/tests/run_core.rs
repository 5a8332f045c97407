//! The execution core's promises, each first shown failing on the code before
//! it: no run loses its events or result (deep and large outputs), the
//! callback token dies with its run, an outage longer than the heartbeat
//! window kills nothing alive, and the end of a run is its last event.

use std::time::Duration;

use saasit_tests::{
    json,
    runs::{all_events, paid_user, stack_with_cuttable_db, start, wait_for, workflow, TERMINAL},
    spawn_stack, Req, TestStack,
};
use serde_json::Value;

/// A chain of transforms, each passing its output on one level deeper.
fn nesting_chain(nodes: usize) -> Value {
    let mut list = vec![json!({"id": "start", "type": "trigger"})];
    let mut edges = Vec::new();
    let mut prev = "start".to_owned();
    for i in 1..=nodes {
        let id = format!("n{i}");
        list.push(json!({"id": id, "type": "transform",
                         "config": {"template": {"step": i, "prev": format!("{{{{ {prev}.output }}}}")}}}));
        edges.push(json!({"from": prev, "to": id}));
        prev = id;
    }
    json!({"nodes": list, "edges": edges})
}

fn assert_complete_log(events: &[Value], status: &str) {
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=events.len() as i64).collect::<Vec<_>>(),
        "every event stored once, in order"
    );
    let end = events.last().expect("events");
    assert_eq!(end["type"], "execution_ended", "{end}");
    assert_eq!(end["status"], status, "{end}");
    assert_eq!(events[events.len() - 2]["type"], "run_finished");
}

#[tokio::test]
async fn a_chain_nesting_past_the_limit_fails_loudly_and_loses_no_event() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "deep@example.com", "STARTER").await;
    // 140 levels: past what JSON parsers take (128); the run used to end
    // `completed` with half of its events silently dropped.
    let wf = workflow(&s, &t, nesting_chain(140)).await;
    let id = start(&s, &t, &wf, json!({})).await;
    let done = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "failed", "{done}");
    let limit = shared::protocol::limits::MAX_OUTPUT_DEPTH;
    // start's output is `{}` (depth 1): node n(limit) is the first too deep.
    assert_eq!(done["failedNode"], format!("n{limit}"), "{done}");
    assert!(
        done["error"]
            .as_str()
            .is_some_and(|e| e.contains("deeper than")),
        "{done}"
    );
    let events = all_events(&s, &t, &id).await;
    assert_complete_log(&events, "failed");
    let failed = events
        .iter()
        .find(|e| e["type"] == "node_failed")
        .expect("the node that broke the limit says so");
    assert_eq!(failed["error"]["kind"], "limit");
    let succeeded = events
        .iter()
        .filter(|e| e["type"] == "node_succeeded")
        .count();
    assert_eq!(
        succeeded,
        limit,
        "start and n1..n{} succeeded, each reported",
        limit - 1
    );
}

#[tokio::test]
async fn a_large_output_travels_as_an_artifact_and_the_run_completes() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "large@example.com", "STARTER").await;
    // 1.5 MB: over the callback body limit of the code before, which refused
    // the batch, dropped it, and lost the run's result with it.
    let canvas = json!({
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "big", "type": "transform", "config": {"template": {"blob": "{{ 'x' * 1500000 }}"}}},
            {"id": "out", "type": "output", "config": {"value": "{{ big.output }}"}}
        ],
        "edges": [{"from": "start", "to": "big"}, {"from": "big", "to": "out"}]
    });
    let wf = workflow(&s, &t, canvas).await;
    let id = start(&s, &t, &wf, json!({})).await;
    let done = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], Value::Null);
    assert!(
        done["outputRef"]["size"]
            .as_u64()
            .is_some_and(|n| n > 1_500_000),
        "{done}"
    );

    let events = all_events(&s, &t, &id).await;
    assert_complete_log(&events, "completed");
    let big = events
        .iter()
        .find(|e| e["type"] == "node_succeeded" && e["node"] == "big")
        .expect("big succeeded");
    assert_eq!(big["output"], Value::Null);
    let artifact_id = big["outputRef"]["artifactId"]
        .as_str()
        .expect("a reference");

    // The reference is a real artifact with the whole output in it.
    let list = s
        .app
        .send(Req::get(&format!("/api/v1/executions/{id}/artifacts")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    let listed = list
        .as_array()
        .expect("list")
        .iter()
        .find(|a| a["id"] == artifact_id)
        .expect("listed");
    let url = listed["downloadUrl"].as_str().expect("url");
    let body = reqwest::get(format!(
        "{}{}",
        s.base_url,
        url.trim_start_matches(&s.base_url)
    ))
    .await
    .expect("download")
    .text()
    .await
    .expect("body");
    let value: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(value["blob"].as_str().map(str::len), Some(1_500_000));
    assert!(list
        .as_array()
        .expect("list")
        .iter()
        .any(|a| a["name"] == "run-output.json"));
}

/// The execution token of a run, as the dispatcher issues it.
fn token_of(s: &TestStack, id: &str) -> String {
    s.app
        .state
        .tokens
        .issue_for_execution(
            id.parse().expect("uuid"),
            uuid::Uuid::now_v7(),
            Duration::from_secs(600),
        )
        .expect("token")
        .token
}

#[tokio::test]
async fn the_callback_token_dies_with_its_run() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "dead-token@example.com", "STARTER").await;
    let canvas = json!({"nodes": [{"id": "start", "type": "trigger"}, {"id": "out", "type": "output"}],
                        "edges": [{"from": "start", "to": "out"}]});
    let wf = workflow(&s, &t, canvas).await;
    let id = start(&s, &t, &wf, json!({})).await;
    let done = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed", "{done}");
    let before = all_events(&s, &t, &id).await;

    let token = token_of(&s, &id);
    let base = format!("/api/v1/internal/executions/{id}");
    let late_event = json!({"events": [{"seq": 999, "ts": "2026-11-29T00:00:00.000Z", "type": "log",
                                       "level": "info", "message": "after the end", "node": null}]});
    for req in [
        Req::get(&format!("{base}/spec")),
        Req::post(&format!("{base}/events")).json(&late_event),
        Req::post(&format!("{base}/heartbeat")).json(&json!({})),
        Req::post(&format!("{base}/artifacts"))
            .json(&json!({"name": "late.txt", "contentType": "text/plain", "size": 3})),
        Req::post(&format!("{base}/result")).json(&json!({"status": "failed", "error": "late"})),
    ] {
        s.app
            .send(req.bearer(&token))
            .await
            .expect(409, Some("RUN_ENDED"));
    }
    // Nothing changed: same events, same ending.
    assert_eq!(all_events(&s, &t, &id).await, before);
    let after = s
        .app
        .send(Req::get(&format!("/api/v1/executions/{id}")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(after["status"], "completed");
}

#[tokio::test]
async fn a_database_outage_longer_than_the_heartbeat_window_kills_no_live_run() {
    let (s, proxy) = stack_with_cuttable_db(shared::runs::RunSettings {
        heartbeat_every: Duration::from_secs(1),
        // Five times shorter than the outage (the tracker's too).
        heartbeat_timeout: Duration::from_secs(2),
        tracker_heartbeat: Duration::from_secs(2),
        defer: Duration::from_millis(200),
        ..shared::runs::RunSettings::default()
    })
    .await;
    let t = paid_user(&s, "long-outage@example.com", "STARTER").await;
    let canvas = json!({
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "work", "type": "delay", "config": {"seconds": 14}},
            {"id": "out", "type": "output", "config": {"value": "{{ work.output.waitedSeconds }}"}}
        ],
        "edges": [{"from": "start", "to": "work"}, {"from": "work", "to": "out"}]
    });
    let wf = workflow(&s, &t, canvas).await;
    let id = start(&s, &t, &wf, json!({})).await;
    wait_for(&s, &t, &id, &["running"], Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_secs(1)).await;

    proxy.cut();
    tokio::time::sleep(Duration::from_secs(10)).await;
    proxy.restore();

    let done = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(60)).await;
    assert_eq!(done["status"], "completed", "{done}");
    assert_eq!(done["output"], 14);
    assert_complete_log(&all_events(&s, &t, &id).await, "completed");
}
