//! A scripted model that uses tools, speaking both the Anthropic Messages
//! and the OpenAI chat-completions formats: what it asks for depends on the
//! script in its URL and on the tool results it was sent back.

use axum::{
    extract::{Path, State},
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::post,
    Json, Router,
};
use serde_json::{json, Value};

use super::Fake;

/// The tool results in a request so far: (call id, content, is_error).
fn results(body: &Value) -> Vec<(String, String, bool)> {
    let mut out = Vec::new();
    for m in body["messages"].as_array().into_iter().flatten() {
        if m["role"] == "tool" {
            out.push((
                m["tool_call_id"].as_str().unwrap_or_default().to_owned(),
                m["content"].as_str().unwrap_or_default().to_owned(),
                false,
            ));
        }
        for b in m["content"].as_array().into_iter().flatten() {
            if b["type"] == "tool_result" {
                out.push((
                    b["tool_use_id"].as_str().unwrap_or_default().to_owned(),
                    b["content"].as_str().unwrap_or_default().to_owned(),
                    b["is_error"].as_bool().unwrap_or(false),
                ));
            }
        }
    }
    out
}

/// What the script says next: a text, and the calls (id, tool, input) it makes.
fn next(script: &str, base: &str, body: &Value) -> (String, Vec<(String, &'static str, Value)>) {
    let done = results(body);
    let turn = done.len();
    let summary = || {
        done.iter()
            .map(|(id, content, err)| {
                format!("{id}{}: {content}", if *err { " (error)" } else { "" })
            })
            .collect::<Vec<_>>()
            .join(" | ")
    };
    match (script, turn) {
        ("two_tools", 0) => (
            "Let me look.".into(),
            vec![
                (
                    "call_1".into(),
                    "web_read",
                    json!({ "url": format!("{base}/page") }),
                ),
                (
                    "call_2".into(),
                    "http_request",
                    json!({ "url": format!("{base}/status.json") }),
                ),
            ],
        ),
        ("failing_tool", 0) => (
            String::new(),
            vec![(
                "call_1".into(),
                "http_request",
                json!({ "url": format!("{base}/status/500") }),
            )],
        ),
        ("ssrf", 0) => (
            String::new(),
            vec![(
                "call_1".into(),
                "http_request",
                json!({ "url": "http://169.254.169.254/latest/meta-data" }),
            )],
        ),
        ("search", 0) => (
            String::new(),
            vec![(
                "call_1".into(),
                "web_search",
                json!({ "query": "saasit agents", "count": 2 }),
            )],
        ),
        ("mcp", 0) => (
            "Checking the order.".into(),
            vec![
                (
                    "call_1".into(),
                    "orders__get_order",
                    json!({ "orderId": "A-1001" }),
                ),
                ("call_2".into(), "orders__add", json!({ "a": 40, "b": 2 })),
            ],
        ),
        ("mcp_error", 0) => (
            String::new(),
            vec![(
                "call_1".into(),
                "orders__get_order",
                json!({ "orderId": "nope" }),
            )],
        ),
        ("unknown_tool", 0) => (
            String::new(),
            vec![("call_1".into(), "shell", json!({ "command": "rm -rf /" }))],
        ),
        ("big", 0) => (
            String::new(),
            vec![(
                "call_1".into(),
                "http_request",
                json!({ "url": format!("{base}/big-text") }),
            )],
        ),
        ("echo", _) => {
            let last = body["messages"]
                .as_array()
                .and_then(|m| m.last())
                .map(|m| m["content"].as_str().unwrap_or_default().to_owned())
                .unwrap_or_default();
            (format!("You said: {last}"), Vec::new())
        }
        ("forever", n) => (
            format!("still looking ({n})"),
            vec![(
                format!("call_{}", n + 1),
                "http_request",
                json!({ "url": format!("{base}/status.json") }),
            )],
        ),
        _ => (
            format!("final answer after {turn} results: {}", summary()),
            Vec::new(),
        ),
    }
}

async fn anthropic(
    State(f): State<Fake>,
    Path(script): Path<String>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> impl IntoResponse {
    f.llm_requests
        .lock()
        .expect("lock")
        .push((headers.clone(), body.clone()));
    if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("test-key") {
        return (StatusCode::UNAUTHORIZED, Json(json!({ "type": "error" }))).into_response();
    }
    let base = format!(
        "http://{}",
        headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
    );
    if let Some(script) = script.strip_suffix("_sse") {
        let (text, calls) = next(script, &base, &body);
        return sse(anthropic_events(script, &body, &text, &calls)).into_response();
    }
    let (text, calls) = next(&script, &base, &body);
    let mut content = Vec::new();
    if !text.is_empty() {
        content.push(json!({ "type": "text", "text": text }));
    }
    for (id, name, input) in &calls {
        content.push(json!({ "type": "tool_use", "id": id, "name": name, "input": input }));
    }
    Json(json!({
        "id": "msg", "type": "message", "role": "assistant", "model": body["model"],
        "content": content,
        "stop_reason": if calls.is_empty() { "end_turn" } else { "tool_use" },
        "usage": { "input_tokens": 10, "output_tokens": 5 }
    }))
    .into_response()
}

async fn openai(
    State(f): State<Fake>,
    Path(script): Path<String>,
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
    let base = format!(
        "http://{}",
        headers
            .get("host")
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default()
    );
    if let Some(script) = script.strip_suffix("_sse") {
        let (text, calls) = next(script, &base, &body);
        return sse(openai_events(&body, &text, &calls)).into_response();
    }
    let (text, calls) = next(&script, &base, &body);
    let mut message = json!({ "role": "assistant", "content": if text.is_empty() { Value::Null } else { json!(text) } });
    if !calls.is_empty() {
        message["tool_calls"] = json!(calls
            .iter()
            .map(|(id, name, input)| json!({ "id": id, "type": "function",
                "function": { "name": name, "arguments": input.to_string() } }))
            .collect::<Vec<_>>());
    }
    Json(json!({
        "model": body["model"],
        "choices": [{ "message": message, "finish_reason": if calls.is_empty() { "stop" } else { "tool_calls" } }],
        "usage": { "prompt_tokens": 10, "completion_tokens": 5 }
    }))
    .into_response()
}

type Calls = [(String, &'static str, Value)];
type Sse = Vec<(Option<&'static str>, Value)>;

/// Pieces of `text` a few characters long (split on character boundaries).
fn pieces(text: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    chars.chunks(n).map(|c| c.iter().collect()).collect()
}

/// Server-sent events, one `(event name, data)` each.
fn sse(events: Sse) -> impl IntoResponse {
    let mut out = String::new();
    for (name, data) in events {
        if let Some(name) = name {
            out.push_str(&format!("event: {name}\n"));
        }
        let data = match data {
            Value::String(s) => s,
            other => other.to_string(),
        };
        out.push_str(&format!("data: {data}\n\n"));
    }
    ([("content-type", "text/event-stream")], out)
}

/// The Anthropic stream of an answer. Script `cut`: it stops before
/// `message_stop`; `overloaded`: an `error` event mid-answer.
fn anthropic_events(script: &str, body: &Value, text: &str, calls: &Calls) -> Sse {
    let mut e: Sse = vec![(
        Some("message_start"),
        json!({"type": "message_start", "message": {"model": body["model"], "usage": {"input_tokens": 10, "output_tokens": 1}}}),
    )];
    e.push((Some("ping"), json!({"type": "ping"})));
    e.push((Some("content_block_start"), json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
    for (i, p) in pieces(text, 3).into_iter().enumerate() {
        e.push((Some("content_block_delta"), json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}})));
        if script == "overloaded" && i == 2 {
            e.push((Some("error"), json!({"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}})));
            return e;
        }
    }
    e.push((
        Some("content_block_stop"),
        json!({"type": "content_block_stop", "index": 0}),
    ));
    for (i, (id, name, input)) in calls.iter().enumerate() {
        let index = i + 1;
        e.push((Some("content_block_start"), json!({"type": "content_block_start", "index": index, "content_block": {"type": "tool_use", "id": id, "name": name, "input": {}}})));
        for p in pieces(&input.to_string(), 5) {
            e.push((Some("content_block_delta"), json!({"type": "content_block_delta", "index": index, "delta": {"type": "input_json_delta", "partial_json": p}})));
        }
        e.push((
            Some("content_block_stop"),
            json!({"type": "content_block_stop", "index": index}),
        ));
    }
    let stop = if calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    e.push((Some("message_delta"), json!({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 5}})));
    if script != "cut" {
        e.push((Some("message_stop"), json!({"type": "message_stop"})));
    }
    e
}

/// The OpenAI stream of an answer: text pieces, call pieces, usage, `[DONE]`.
fn openai_events(body: &Value, text: &str, calls: &Calls) -> Sse {
    let chunk =
        |delta: Value| json!({"model": body["model"], "choices": [{"index": 0, "delta": delta}]});
    let mut e: Sse = vec![(None, chunk(json!({"role": "assistant", "content": ""})))];
    for p in pieces(text, 3) {
        e.push((None, chunk(json!({"content": p}))));
    }
    for (i, (id, name, input)) in calls.iter().enumerate() {
        e.push((None, chunk(json!({"tool_calls": [{"index": i, "id": id, "type": "function", "function": {"name": name, "arguments": ""}}]}))));
        for p in pieces(&input.to_string(), 5) {
            e.push((
                None,
                chunk(json!({"tool_calls": [{"index": i, "function": {"arguments": p}}]})),
            ));
        }
    }
    e.push((None, json!({"model": body["model"], "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5}})));
    e.push((None, json!("[DONE]")));
    e
}

/// The scripted model's routes, and a page, a large text and a SearXNG-style search to use.
pub fn routes() -> Router<Fake> {
    Router::new()
        .route("/scripted/anthropic/{script}/v1/messages", post(anthropic))
        .route("/scripted/openai/{script}/chat/completions", post(openai))
        .route(
            "/page",
            axum::routing::get(|| async {
                (
                    [("content-type", "text/html; charset=utf-8")],
                    "<!doctype html><html><head><title>Saasit</title><script>var hidden = 1;</script></head>\
                     <body><h1>Saasit facts</h1><p>The answer is <b>42</b>.</p>\
                     <p>See <a href=\"https://example.com/more\">more</a>.</p></body></html>",
                )
            }),
        )
        .route("/big-text", axum::routing::get(|| async { "y".repeat(100_000) }))
        .route(
            "/search",
            axum::routing::get(
                |axum::extract::Query(q): axum::extract::Query<std::collections::HashMap<String, String>>| async move {
                    Json(json!({
                        "query": q.get("q"),
                        "results": [
                            { "title": "Saasit agents", "url": "https://example.com/agents", "content": "Agents that use tools." },
                            { "title": "Saasit docs", "url": "https://example.com/docs", "content": "How to build workflows." },
                            { "title": "Third", "url": "https://example.com/3", "content": "Not asked for." }
                        ]
                    }))
                },
            ),
        )
}
