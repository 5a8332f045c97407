//! The `executor` binary: standalone runs of the example specs, exit codes,
//! SIGTERM, and Job mode against a fake callback API.

mod support;

use std::{
    process::{Command, Output, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::{get, post, put},
    Json, Router,
};
use serde_json::{json, Value};

const BIN: &str = env!("CARGO_BIN_EXE_executor");

fn example(name: &str) -> String {
    // Cargo sets the variable when it runs the test too; the run-time value is
    // right even if this binary was built from a checkout elsewhere that
    // shares the target directory.
    let dir =
        std::env::var("CARGO_MANIFEST_DIR").unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").into());
    format!("{dir}/examples/{name}")
}

async fn run(args: Vec<String>, envs: Vec<(&'static str, String)>) -> Output {
    tokio::task::spawn_blocking(move || {
        Command::new(BIN)
            .args(args)
            .envs(envs)
            .env_remove("LLM_API_KEY")
            .output()
            .expect("executor runs")
    })
    .await
    .expect("join")
}

fn events(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not a JSON line: {l:?}: {e}")))
        .collect()
}

fn of<'a>(events: &'a [Value], kind: &str, node: &str) -> Vec<&'a Value> {
    events
        .iter()
        .filter(|e| e["type"] == kind && e["node"] == node)
        .collect()
}

#[tokio::test]
async fn the_hello_example_runs_on_its_own() {
    let dir = std::env::temp_dir().join(format!("executor-hello-{}", std::process::id()));
    let out = run(
        vec![
            "run".into(),
            "--spec".into(),
            example("hello.json"),
            "--artifacts-dir".into(),
            dir.display().to_string(),
        ],
        vec![],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = events(&out);
    assert_eq!(ev.first().expect("events")["type"], "run_started");
    let last = ev.last().expect("events");
    assert_eq!(
        (last["type"].clone(), last["status"].clone()),
        (json!("run_finished"), json!("completed"))
    );
    assert_eq!(
        of(&ev, "node_succeeded", "draft")[0]["output"]["provider"],
        "dev"
    );
    let saved = std::fs::read_to_string(dir.join("summary.md")).expect("artifact written");
    assert!(
        saved.starts_with("# Why Idempotent Message Handlers Matter\n"),
        "{saved}"
    );
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn a_named_provider_without_its_key_file_fails_the_agent_node_saying_why() {
    // A Job whose key Secret is missing: the provider is set, the mounted file is absent.
    let out = run(
        vec!["run".into(), "--spec".into(), example("hello.json")],
        vec![
            ("LLM_PROVIDER", "anthropic".into()),
            ("LLM_API_KEY_FILE", "/nonexistent/saasit-llm/api-key".into()),
        ],
    )
    .await;
    assert_eq!(out.status.code(), Some(1), "the run failed");
    let ev = events(&out);
    let failed = of(&ev, "node_failed", "draft");
    assert_eq!(failed.len(), 1, "{ev:?}");
    let message = failed[0]["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no API key is configured for the anthropic provider")
            && message.contains("/nonexistent/saasit-llm/api-key"),
        "{message}"
    );
    assert!(of(&ev, "node_succeeded", "draft").is_empty());
    assert_eq!(ev.last().expect("events")["status"], "failed");
}

#[tokio::test]
async fn the_full_example_has_an_agent_an_http_call_a_condition_and_retries() {
    let (base, _) = support::serve().await;
    let dir = std::env::temp_dir().join(format!("executor-full-{}", std::process::id()));
    let out = run(
        vec![
            "run".into(),
            "--spec".into(),
            example("full.json"),
            "--input".into(),
            format!("api_base={base}"),
            "--artifacts-dir".into(),
            dir.display().to_string(),
        ],
        vec![("EXECUTOR_HTTP_ALLOW", "127.0.0.1".into())],
    )
    .await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = events(&out);
    assert_eq!(
        of(&ev, "node_succeeded", "status")[0]["output"]["body"]["version"],
        "1.4.2"
    );
    assert_eq!(
        of(&ev, "node_succeeded", "healthy")[0]["output"],
        json!({"result": true})
    );
    assert_eq!(of(&ev, "node_skipped", "report_down").len(), 1);
    let flaky = of(&ev, "node_failed", "flaky");
    assert_eq!(flaky.len(), 3, "one attempt and two retries");
    assert_eq!(
        flaky
            .iter()
            .map(|f| f["willRetry"].as_bool().expect("bool"))
            .collect::<Vec<_>>(),
        [true, true, false]
    );
    let last = ev.last().expect("events");
    assert_eq!(last["status"], "completed");
    assert_eq!(last["output"]["ok"]["version"], "1.4.2");
    assert_eq!(last["output"]["down"], Value::Null);
    let seqs: Vec<u64> = ev.iter().map(|e| e["seq"].as_u64().expect("seq")).collect();
    assert_eq!(seqs, (1..=ev.len() as u64).collect::<Vec<_>>());
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn exit_codes_say_how_it_ended() {
    let dir = std::env::temp_dir().join(format!("executor-codes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let write = |name: &str, v: Value| {
        let p = dir.join(name);
        std::fs::write(&p, v.to_string()).expect("write");
        p.display().to_string()
    };
    let failing = write(
        "failing.json",
        json!({"graph": {"nodes": [{"id": "start", "type": "trigger"},
        {"id": "oops", "type": "transform", "config": {"template": "{{ inputs.nope.nope }}"}}],
        "edges": [{"from": "start", "to": "oops"}]}}),
    );
    let out = run(vec!["run".into(), "--spec".into(), failing], vec![]).await;
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(events(&out).last().expect("events")["failedNode"], "oops");

    let invalid = write(
        "invalid.json",
        json!({"graph": {"nodes": [{"id": "a", "type": "output"}], "edges": []}}),
    );
    let out = run(vec!["run".into(), "--spec".into(), invalid], vec![]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("MISSING_TRIGGER"));

    let garbage = write("garbage.json", json!({"nodes": "not a spec"}));
    let out = run(vec!["run".into(), "--spec".into(), garbage], vec![]).await;
    assert_eq!(out.status.code(), Some(2));
    let out = run(vec!["run".into()], vec![]).await;
    assert_eq!(out.status.code(), Some(2));
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test]
async fn sigterm_cancels_the_run() {
    let (base, _) = support::serve().await;
    let spec = std::env::temp_dir().join(format!("executor-term-{}.json", std::process::id()));
    std::fs::write(&spec, json!({"graph": {"nodes": [{"id": "start", "type": "trigger"},
        {"id": "slow", "type": "http", "config": {"url": format!("{base}/sleep?ms=20000"), "timeoutSeconds": 60}, "policy": {"timeoutSeconds": 60}}],
        "edges": [{"from": "start", "to": "slow"}]}}).to_string()).expect("write");
    let child = Command::new(BIN)
        .args(["run", "--spec", &spec.display().to_string()])
        .env("EXECUTOR_HTTP_ALLOW", "127.0.0.1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    tokio::time::sleep(Duration::from_millis(700)).await;
    let pid = child.id().to_string();
    Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill");
    let out = tokio::task::spawn_blocking(move || child.wait_with_output().expect("wait"))
        .await
        .expect("join");
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ev = events(&out);
    assert_eq!(of(&ev, "node_cancelled", "slow").len(), 1);
    assert_eq!(ev.last().expect("events")["status"], "cancelled");
    let _ = std::fs::remove_file(spec);
}

/// An uploaded artifact: name and bytes.
type Upload = (String, Vec<u8>);

/// A fake callback API: serves the spec, records what the executor sends.
#[derive(Clone, Default)]
struct Api {
    spec: Arc<Mutex<Value>>,
    events: Arc<Mutex<Vec<Value>>>,
    event_posts: Arc<Mutex<u32>>,
    heartbeats: Arc<Mutex<u32>>,
    cancel: Arc<Mutex<bool>>,
    uploads: Arc<Mutex<Vec<Upload>>>,
    result: Arc<Mutex<Option<Value>>>,
    base: Arc<Mutex<String>>,
    /// Answer 413 to a batch of more events than this.
    max_batch: Arc<Mutex<Option<usize>>>,
    /// Answer 400 to every event batch.
    refuse_events: Arc<Mutex<bool>>,
    /// Answer event batches with `{"cancel": true}` (heartbeats say no).
    cancel_in_events: Arc<Mutex<bool>>,
    /// Answer event batches 204 without a body, as an older API does.
    events_without_answer: Arc<Mutex<bool>>,
}

const TOKEN: &str = "exec-scoped-token-123456";

fn authorised(h: &HeaderMap) -> bool {
    h.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn serve_api(api: Api) -> String {
    let app = Router::new()
        .route("/api/v1/internal/executions/{id}/spec", get(|State(a): State<Api>, h: HeaderMap| async move {
            if !authorised(&h) { return StatusCode::UNAUTHORIZED.into_response(); }
            Json(a.spec.lock().expect("lock").clone()).into_response()
        }))
        .route("/api/v1/internal/executions/{id}/events", post(|State(a): State<Api>, h: HeaderMap, Json(b): Json<Value>| async move {
            if !authorised(&h) { return StatusCode::UNAUTHORIZED.into_response(); }
            let mut posts = a.event_posts.lock().expect("lock");
            *posts += 1;
            if *posts == 1 { return StatusCode::SERVICE_UNAVAILABLE.into_response(); } // briefly down
            let batch = b["events"].as_array().cloned().unwrap_or_default();
            if *a.refuse_events.lock().expect("lock") { return StatusCode::BAD_REQUEST.into_response(); }
            if a.max_batch.lock().expect("lock").is_some_and(|n| batch.len() > n) { return StatusCode::PAYLOAD_TOO_LARGE.into_response(); }
            a.events.lock().expect("lock").extend(batch);
            if *a.events_without_answer.lock().expect("lock") { return StatusCode::NO_CONTENT.into_response(); }
            // A batch is a heartbeat too, and answered as one.
            Json(json!({ "cancel": *a.cancel_in_events.lock().expect("lock"), "budgetExceeded": false })).into_response()
        }))
        .route("/api/v1/internal/executions/{id}/heartbeat", post(|State(a): State<Api>| async move {
            *a.heartbeats.lock().expect("lock") += 1;
            Json(json!({ "cancel": *a.cancel.lock().expect("lock") }))
        }))
        .route("/api/v1/internal/executions/{id}/artifacts", post(|State(a): State<Api>, Json(b): Json<Value>| async move {
            let base = a.base.lock().expect("lock").clone();
            Json(json!({ "artifactId": "art-1", "uploadUrl": format!("{base}/upload/{}", b["name"].as_str().unwrap_or("x")) }))
        }))
        .route("/upload/{name}", put(|State(a): State<Api>, Path(name): Path<String>, body: Bytes| async move {
            a.uploads.lock().expect("lock").push((name, body.to_vec()));
            StatusCode::OK
        }))
        .route("/api/v1/internal/executions/{id}/result", post(|State(a): State<Api>, Json(b): Json<Value>| async move {
            *a.result.lock().expect("lock") = Some(b);
            StatusCode::NO_CONTENT
        }))
        .with_state(api.clone());
    let base = support::serve_router(app).await;
    // Read only by the artifacts route, which the executor calls well after start.
    *api.base.lock().expect("lock") = base.clone();
    base
}

fn job_env(base: &str) -> Vec<(&'static str, String)> {
    vec![
        (
            "EXECUTION_ID",
            "0192aaaa-0000-7000-8000-000000000001".into(),
        ),
        ("CALLBACK_URL", base.to_owned()),
        ("CALLBACK_TOKEN", TOKEN.into()),
        ("EXECUTOR_HEARTBEAT_SECONDS", "1".into()),
        ("EXECUTOR_HTTP_ALLOW", "127.0.0.1".into()),
    ]
}

#[tokio::test]
async fn job_mode_fetches_its_spec_and_reports_everything_back() {
    let api = Api::default();
    *api.spec.lock().expect("lock") = json!({
        "executionId": "0192aaaa-0000-7000-8000-000000000001",
        "inputs": { "topic": "queues" },
        "secrets": { "WEBHOOK_KEY": "whk-0011223344" },
        "agents": { "01930000-0000-7000-8000-000000000008": { "systemPrompt": "You write docs.", "model": "claude-x" } },
        "graph": { "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "write", "type": "agent", "config": {"agentId": "01930000-0000-7000-8000-000000000008", "prompt": "About {{ inputs.topic }} (key {{ secrets.WEBHOOK_KEY }})"}},
            // Long enough for heartbeats (every second here) to be sent and
            // answered: a run of a few milliseconds may finish before its first.
            {"id": "pause", "type": "delay", "config": {"seconds": 2}},
            {"id": "out", "type": "output", "config": {"value": "{{ write.output.text }}", "artifact": {"name": "doc.md"}}}
        ], "edges": [{"from": "start", "to": "write"}, {"from": "write", "to": "pause"}, {"from": "pause", "to": "out"}] }
    });
    let base = serve_api(api.clone()).await;
    let out = run(vec![], job_env(&base)).await;
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let result = api
        .result
        .lock()
        .expect("lock")
        .clone()
        .expect("result posted");
    assert_eq!(result["status"], "completed");
    // Every event exactly once, in order, despite a 503.
    let events = delivered_in_order(&api);
    assert!(*api.event_posts.lock().expect("lock") >= 2);
    assert_eq!(events.last().expect("events")["type"], "run_finished");
    let uploads = api.uploads.lock().expect("lock").clone();
    assert_eq!(uploads.len(), 1);
    assert_eq!(uploads[0].0, "doc.md");
    let everything = format!(
        "{events:?}{result}{}{}",
        String::from_utf8_lossy(&uploads[0].1),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!everything.contains("whk-0011223344"), "the secret leaked");
    assert!(!everything.contains(TOKEN), "the callback token leaked");
    assert!(*api.heartbeats.lock().expect("lock") >= 1);
}

#[tokio::test]
async fn job_mode_stops_when_the_api_cancels() {
    let (slow_base, _) = support::serve().await;
    let api = Api::default();
    *api.cancel.lock().expect("lock") = true;
    *api.spec.lock().expect("lock") = json!({
        "graph": { "nodes": [{"id": "start", "type": "trigger"},
            {"id": "slow", "type": "http", "config": {"url": format!("{slow_base}/sleep?ms=20000"), "timeoutSeconds": 60}, "policy": {"timeoutSeconds": 60}}],
            "edges": [{"from": "start", "to": "slow"}] }
    });
    let base = serve_api(api.clone()).await;
    let out = run(vec![], job_env(&base)).await;
    assert_eq!(
        out.status.code(),
        Some(3),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        api.result.lock().expect("lock").clone().expect("result")["status"],
        "cancelled"
    );
}

/// Five one-second pauses in a row: events every second for five seconds.
fn paced_chain() -> Value {
    let mut nodes = vec![json!({"id": "start", "type": "trigger"})];
    let mut edges = Vec::new();
    let mut prev = "start".to_owned();
    for i in 0..5 {
        let id = format!("p{i}");
        nodes.push(json!({"id": id, "type": "delay", "config": {"seconds": 1}}));
        edges.push(json!({"from": prev, "to": id}));
        prev = id;
    }
    json!({ "graph": { "nodes": nodes, "edges": edges } })
}

/// Job settings with a heartbeat due every two seconds.
fn paced_env(base: &str) -> Vec<(&'static str, String)> {
    let mut env = job_env(base);
    env.retain(|(k, _)| *k != "EXECUTOR_HEARTBEAT_SECONDS");
    env.push(("EXECUTOR_HEARTBEAT_SECONDS", "2".into()));
    env
}

/// Runs `paced_chain` in Job mode against `api`, a beat due every two
/// seconds; checks the exit code.
async fn run_paced_chain(api: &Api, exit_code: i32) {
    *api.spec.lock().expect("lock") = paced_chain();
    let base = serve_api(api.clone()).await;
    let out = run(vec![], paced_env(&base)).await;
    assert_eq!(
        out.status.code(),
        Some(exit_code),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Batches of events are heartbeats: while they keep coming (every second,
/// beats due every two), no heartbeat call is made after the first.
#[tokio::test]
async fn job_mode_sends_no_heartbeat_while_its_events_keep_coming() {
    let api = Api::default();
    run_paced_chain(&api, 0).await;
    let posts = *api.event_posts.lock().expect("lock");
    let beats = *api.heartbeats.lock().expect("lock");
    assert!(posts >= 5, "{posts} event posts");
    // Five seconds at a beat every two would be three calls or more.
    assert!(
        beats <= 2,
        "{beats} heartbeat calls beside {posts} event posts"
    );
}

/// An older API answers a batch 204 without a body: it did not take the
/// batch as a heartbeat, so the executor goes on beating.
#[tokio::test]
async fn job_mode_beats_on_when_the_api_does_not_answer_its_events() {
    let api = Api::default();
    *api.events_without_answer.lock().expect("lock") = true;
    run_paced_chain(&api, 0).await;
    let beats = *api.heartbeats.lock().expect("lock");
    assert!(
        beats >= 3,
        "{beats} heartbeat calls in five seconds at one every two"
    );
}

/// The answer to a batch of events can stop the run, as a heartbeat's can.
#[tokio::test]
async fn job_mode_stops_when_an_events_answer_cancels() {
    let api = Api::default();
    *api.cancel_in_events.lock().expect("lock") = true;
    run_paced_chain(&api, 3).await;
    assert_eq!(
        api.result.lock().expect("lock").clone().expect("result")["status"],
        "cancelled"
    );
    assert_eq!(
        *api.heartbeats.lock().expect("lock"),
        1,
        "only the first, before any event"
    );
}

/// Six transforms in a row: their events come faster than a batch lingers.
fn quick_chain() -> Value {
    json!({ "graph": {
        "nodes": [{"id": "start", "type": "trigger"},
                  {"id": "a", "type": "transform", "config": {"template": {"n": 1}}},
                  {"id": "b", "type": "transform", "config": {"template": {"n": 2}}},
                  {"id": "c", "type": "transform", "config": {"template": {"n": 3}}},
                  {"id": "d", "type": "transform", "config": {"template": {"n": 4}}},
                  {"id": "out", "type": "output", "config": {"value": "{{ d.output.n }}"}}],
        "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "c"},
                  {"from": "c", "to": "d"}, {"from": "d", "to": "out"}] } })
}

/// The events the API received, checked to be every one once, in order.
fn delivered_in_order(api: &Api) -> Vec<Value> {
    let events = api.events.lock().expect("lock").clone();
    let seqs: Vec<u64> = events
        .iter()
        .map(|e| e["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=events.len() as u64).collect::<Vec<_>>(),
        "every event exactly once, in order"
    );
    events
}

/// Runs `quick_chain` in Job mode against `api`; checks the exit code.
async fn run_quick_chain(api: &Api, exit_code: i32) {
    *api.spec.lock().expect("lock") = quick_chain();
    let base = serve_api(api.clone()).await;
    let out = run(vec![], job_env(&base)).await;
    assert_eq!(
        out.status.code(),
        Some(exit_code),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test]
async fn job_mode_splits_a_batch_the_api_finds_too_large() {
    let api = Api::default();
    *api.max_batch.lock().expect("lock") = Some(2);
    run_quick_chain(&api, 0).await;
    let events = delivered_in_order(&api);
    assert!(
        events.len() > 2,
        "more events than one accepted batch: {}",
        events.len()
    );
    assert_eq!(events.last().expect("events")["type"], "run_finished");
    assert_eq!(
        api.result.lock().expect("lock").clone().expect("result")["status"],
        "completed"
    );
}

#[tokio::test]
async fn job_mode_fails_the_run_when_the_api_refuses_its_events() {
    let api = Api::default();
    *api.refuse_events.lock().expect("lock") = true;
    run_quick_chain(&api, 1).await;
    let result = api.result.lock().expect("lock").clone().expect("result");
    assert_eq!(result["status"], "failed");
    assert!(
        result["error"]
            .as_str()
            .is_some_and(|e| e.contains("refused events")),
        "{result}"
    );
}

#[tokio::test]
async fn job_mode_without_its_settings_is_a_usage_error() {
    let out = run(vec![], vec![]).await;
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("EXECUTION_ID"));
}
