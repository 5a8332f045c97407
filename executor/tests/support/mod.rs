//! A local HTTP server for executor tests: slow, flaky and failing endpoints,
//! and fake Anthropic and OpenAI-compatible APIs. Bound to 127.0.0.1:0.
#![allow(dead_code)]

pub mod scripted;

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    extract::{Path, Query, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::{get, post},
    Json, Router,
};
use executor::{
    http_node::{AllowList, HttpRunner},
    providers::Provider,
    render::Renderer,
    tools::SearchProvider,
    ArtifactStore, EngineConfig, Event, Redactor, Reporter, RunInput, RunOutcome, Runtime,
};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

#[derive(Clone, Default)]
pub struct Fake {
    /// Calls per key (flaky and count endpoints).
    pub hits: Arc<Mutex<HashMap<String, u32>>>,
    /// Request bodies the fake LLM APIs received.
    pub llm_requests: Arc<Mutex<Vec<(HeaderMap, Value)>>>,
}

impl Fake {
    pub fn hits(&self, key: &str) -> u32 {
        self.hits
            .lock()
            .expect("lock")
            .get(key)
            .copied()
            .unwrap_or(0)
    }
    fn hit(&self, key: &str) -> u32 {
        let mut h = self.hits.lock().expect("lock");
        let n = h.entry(key.to_owned()).or_default();
        *n += 1;
        *n
    }
}

async fn sleep(Query(q): Query<HashMap<String, u64>>) -> Json<Value> {
    let ms = q.get("ms").copied().unwrap_or(0);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    Json(json!({ "slept": ms }))
}

/// Fails with 503 (Retry-After: 0) for the first `fail` calls of `key`.
async fn flaky(
    State(f): State<Fake>,
    Path(key): Path<String>,
    Query(q): Query<HashMap<String, u32>>,
) -> impl IntoResponse {
    let n = f.hit(&key);
    if n <= q.get("fail").copied().unwrap_or(0) {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            [("retry-after", "0")],
            Json(json!({ "error": "try again" })),
        )
            .into_response()
    } else {
        Json(json!({ "ok": true, "calls": n })).into_response()
    }
}

async fn status(Path(code): Path<u16>) -> impl IntoResponse {
    (
        StatusCode::from_u16(code).unwrap_or(StatusCode::IM_A_TEAPOT),
        "status as asked",
    )
}

async fn count(State(f): State<Fake>, Path(key): Path<String>) -> Json<Value> {
    Json(json!({ "calls": f.hit(&key) }))
}

async fn echo_headers(headers: HeaderMap) -> Json<Value> {
    let auth = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    Json(json!({ "authorization": auth }))
}

async fn big() -> String {
    "x".repeat(10_000)
}

async fn anthropic(
    State(f): State<Fake>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    f.llm_requests
        .lock()
        .expect("lock")
        .push((headers.clone(), body.clone()));
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("test-key")
        || headers.get("anthropic-version").is_none()
    {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "type": "error" }))).into_response();
    }
    match mode.as_str() {
        "limited" => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "1")], Json(json!({ "type": "error", "error": { "type": "rate_limit_error" } }))).into_response(),
        "overloaded" => (StatusCode::from_u16(529).expect("529"), Json(json!({ "type": "error", "error": { "type": "overloaded_error" } }))).into_response(),
        "broken" => (StatusCode::INTERNAL_SERVER_ERROR, "boom").into_response(),
        "invalid" => (StatusCode::BAD_REQUEST, Json(json!({ "type": "error", "error": { "type": "invalid_request_error", "message": "max_tokens too large" } }))).into_response(),
        _ => Json(json!({
            "id": "msg_1", "type": "message", "role": "assistant", "model": body["model"],
            "content": [{ "type": "text", "text": format!("echo: {}", body["messages"][0]["content"].as_str().unwrap_or_default()) }],
            "usage": { "input_tokens": 11, "output_tokens": 7 }
        }))
        .into_response(),
    }
}

async fn openai(
    State(f): State<Fake>,
    Path(mode): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    f.llm_requests
        .lock()
        .expect("lock")
        .push((headers.clone(), body.clone()));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer test-key") {
        return (StatusCode::UNAUTHORIZED, "no").into_response();
    }
    match mode.as_str() {
        "limited" => (StatusCode::TOO_MANY_REQUESTS, [("retry-after", "2")], "slow down").into_response(),
        "broken" => (StatusCode::BAD_GATEWAY, "bad gateway").into_response(),
        "invalid" => (StatusCode::BAD_REQUEST, Json(json!({ "error": { "message": "unknown model" } }))).into_response(),
        "json" => Json(json!({
            "model": "gpt-test", "choices": [{ "message": { "role": "assistant", "content": "```json\n{\"urgency\": 5, \"topic\": \"billing\"}\n```" } }],
            "usage": { "prompt_tokens": 3, "completion_tokens": 4 }
        }))
        .into_response(),
        _ => Json(json!({
            "model": body["model"], "choices": [{ "message": { "role": "assistant", "content": "hello from openai" } }],
            "usage": { "prompt_tokens": 5, "completion_tokens": 2 }
        }))
        .into_response(),
    }
}

/// Starts the fake server; returns its base URL and its state.
pub async fn serve() -> (String, Fake) {
    let fake = Fake::default();
    let app = Router::new()
        .route("/sleep", get(sleep))
        .route("/flaky/{key}", get(flaky))
        .route("/status/{code}", get(status))
        .route("/count/{key}", get(count))
        .route("/echo-headers", get(echo_headers))
        .route("/big", get(big))
        .route(
            "/status.json",
            get(|| async { Json(json!({ "healthy": true, "version": "1.4.2" })) }),
        )
        .route("/anthropic/{mode}/v1/messages", post(anthropic))
        .route("/openai/{mode}/chat/completions", post(openai))
        .merge(scripted::routes())
        .with_state(fake.clone());
    (serve_router(app).await, fake)
}

/// Serves `app` on a free loopback port until the test ends; returns its URL.
pub async fn serve_router(app: Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    format!("http://{addr}")
}

pub fn runtime(provider: Provider) -> Arc<Runtime> {
    runtime_with(
        provider,
        AllowList::parse("127.0.0.1"),
        SearchProvider::None,
    )
}

/// A runtime with its own address allow-list and search provider.
pub fn runtime_with(provider: Provider, allow: AllowList, search: SearchProvider) -> Arc<Runtime> {
    Arc::new(Runtime {
        provider,
        http: HttpRunner::new(allow),
        search,
        files: None,
        artifacts: ArtifactStore::Memory(Arc::default()),
        renderer: Renderer::new(),
    })
}

pub struct Run {
    pub outcome: RunOutcome,
    pub events: Vec<Event>,
}

impl Run {
    /// The events of a type, as JSON.
    pub fn of(&self, kind: &str) -> Vec<Value> {
        self.events
            .iter()
            .map(|e| serde_json::to_value(e).expect("json"))
            .filter(|e| e["type"] == kind)
            .collect()
    }
    pub fn for_node(&self, kind: &str, node: &str) -> Vec<Value> {
        self.of(kind)
            .into_iter()
            .filter(|e| e["node"] == node)
            .collect()
    }
}

/// Validates and runs a graph with the dev provider unless another runtime is given.
pub async fn run_graph(
    graph: Value,
    inputs: Value,
    prior: HashMap<String, Value>,
    cfg: EngineConfig,
    cancel: CancellationToken,
) -> Run {
    run_with(
        runtime(Provider::Dev),
        graph,
        inputs,
        prior,
        cfg,
        cancel,
        Default::default(),
    )
    .await
}

pub async fn run_with(
    rt: Arc<Runtime>,
    graph: Value,
    inputs: Value,
    prior: HashMap<String, Value>,
    cfg: EngineConfig,
    cancel: CancellationToken,
    secrets: std::collections::BTreeMap<String, String>,
) -> Run {
    run_budgeted(
        rt,
        graph,
        inputs,
        prior,
        cfg,
        cancel,
        secrets,
        Default::default(),
    )
    .await
}

/// [`run_with`], under a token budget the test keeps a handle on.
#[allow(clippy::too_many_arguments)]
pub async fn run_budgeted(
    rt: Arc<Runtime>,
    graph: Value,
    inputs: Value,
    prior: HashMap<String, Value>,
    cfg: EngineConfig,
    cancel: CancellationToken,
    secrets: std::collections::BTreeMap<String, String>,
    budget: Arc<executor::budget::TokenBudget>,
) -> Run {
    let graph = workflow_graph::Graph::from_canvas(&graph).expect("graph json");
    let graph =
        workflow_graph::validate(&graph).unwrap_or_else(|r| panic!("invalid test graph: {r:#?}"));
    let input = RunInput {
        graph,
        inputs,
        secrets,
        prior_outputs: prior,
        agents: HashMap::new(),
        mcp_servers: Default::default(),
        execution_id: Some("exec-test".into()),
        budget,
    };
    run_input(rt, &cfg, input, cancel).await
}

/// Runs a prepared input (its secrets redacted from the events).
pub async fn run_input(
    rt: Arc<Runtime>,
    cfg: &EngineConfig,
    input: RunInput,
    cancel: CancellationToken,
) -> Run {
    let (reporter, events) = Reporter::memory(Redactor::new(input.secrets.values().cloned()));
    let outcome = executor::run(rt, cfg, input, reporter, cancel).await;
    let events = events.lock().expect("lock").clone();
    Run { outcome, events }
}

pub fn trigger() -> Value {
    json!({ "id": "start", "type": "trigger" })
}

pub fn http(id: &str, url: &str) -> Value {
    json!({ "id": id, "type": "http", "config": { "url": url } })
}
