//! A scripted Anthropic Messages API for the design assistant: it streams
//! its answers as server-sent events (a piece every few milliseconds), and
//! what it proposes depends on a keyword in the user's latest message and
//! on whether the validator's report came back (a `tool_result` with
//! `is_error`). Every request body is kept for assertions.

use std::{
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    body::{Body, Bytes},
    extract::State,
    response::{IntoResponse, Response},
    routing::post,
    Json, Router,
};
use serde_json::{json, Value};

#[derive(Clone, Default)]
pub struct DesignDouble {
    pub requests: Arc<Mutex<Vec<Value>>>,
}

impl DesignDouble {
    /// Serves it; the base URL to give as `LLM_BASE_URL`.
    pub async fn start(&self) -> String {
        let app = Router::new()
            .route("/v1/messages", post(messages))
            .with_state(self.clone());
        crate::serve(app).await
    }

    pub fn requests(&self) -> Vec<Value> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

/// The latest user text of a request, and whether a tool result (the
/// validator's report) came back after it.
fn latest(body: &Value) -> (String, bool) {
    let mut text = String::new();
    let mut reported = false;
    for m in body["messages"].as_array().into_iter().flatten() {
        if m["role"] != "user" {
            continue;
        }
        match &m["content"] {
            Value::String(s) => {
                text = s.clone();
                reported = false;
            }
            Value::Array(blocks) => {
                for b in blocks {
                    if b["type"] == "tool_result" {
                        reported = true;
                    } else if let Some(t) = b["text"].as_str() {
                        text = t.to_owned();
                        reported = false;
                    }
                }
            }
            _ => {}
        }
    }
    (text, reported)
}

fn three_nodes() -> Value {
    json!({"summary": "Creates a researcher between a manual trigger and an output.", "operations": [
        {"op": "add_node", "id": "start", "type": "trigger", "config": {"kind": "manual"}},
        {"op": "add_node", "id": "research", "type": "agent", "name": "Research",
         "config": {"systemPrompt": "You research topics.", "prompt": "Research {{inputs.topic}}"}},
        {"op": "add_node", "id": "result", "type": "output", "config": {"value": "{{research.output.text}}"}},
        {"op": "connect", "from": "start", "to": "research"},
        {"op": "connect", "from": "research", "to": "result"}
    ]})
}

fn review_step() -> Value {
    json!({"summary": "Adds a reviewer after the researcher.", "operations": [
        {"op": "add_node", "id": "review", "type": "agent",
         "config": {"systemPrompt": "You review drafts.", "prompt": "Review: {{research.output.text}}"}},
        {"op": "disconnect", "from": "research", "to": "result"},
        {"op": "connect", "from": "research", "to": "review"},
        {"op": "connect", "from": "review", "to": "result"},
        {"op": "configure_node", "id": "result", "config": {"value": "{{review.output.text}}"}}
    ]})
}

/// Removing the trigger leaves nodes nothing starts: the validator refuses it.
fn broken() -> Value {
    json!({"summary": "Removes the trigger.", "operations": [{"op": "remove_node", "id": "start"}]})
}

fn renamed() -> Value {
    json!({"summary": "Renames the researcher.", "operations": [
        {"op": "configure_node", "id": "research", "name": "Researcher"}
    ]})
}

/// The script: the answer's text, its pieces' pace, and the change it proposes.
fn script(text: &str, reported: bool) -> (String, usize, Option<Value>) {
    let t = text.to_lowercase();
    if t.contains("create") {
        return (
            "I'll create a three-node workflow: a trigger, a researcher and an output.".into(),
            5,
            Some(three_nodes()),
        );
    }
    if t.contains("review") {
        return (
            "Adding a review step before the output.".into(),
            5,
            Some(review_step()),
        );
    }
    if t.contains("repairable") {
        return if reported {
            (
                "You're right, the trigger must stay; renaming instead.".into(),
                5,
                Some(renamed()),
            )
        } else {
            ("Removing the trigger.".into(), 5, Some(broken()))
        };
    }
    if t.contains("hopeless") {
        return ("Removing the trigger.".into(), 5, Some(broken()));
    }
    if t.contains("slowly") {
        let words: Vec<String> = (1..=40).map(|i| format!("w{i} ")).collect();
        return (words.concat(), 60, None);
    }
    (format!("You said: {text}"), 5, None)
}

fn event(name: &str, data: Value) -> Bytes {
    Bytes::from(format!("event: {name}\ndata: {data}\n\n"))
}

async fn messages(State(double): State<DesignDouble>, Json(body): Json<Value>) -> Response {
    if let Ok(mut r) = double.requests.lock() {
        r.push(body.clone());
    }
    let (text, reported) = latest(&body);
    let (answer, pace_ms, change) = script(&text, reported);
    let mut events = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {"model": "claude-design-double", "usage": {"input_tokens": 100, "output_tokens": 1}}}),
    )];
    events.push(event("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
    for piece in answer.split_inclusive(' ') {
        events.push(event("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}})));
    }
    events.push(event(
        "content_block_stop",
        json!({"type": "content_block_stop", "index": 0}),
    ));
    if let Some(input) = &change {
        let raw = input.to_string();
        let (a, b) = raw.split_at(raw.len() / 2);
        events.push(event("content_block_start", json!({"type": "content_block_start", "index": 1,
            "content_block": {"type": "tool_use", "id": format!("toolu_{}", reported as u8), "name": "propose_change", "input": {}}})));
        for part in [a, b] {
            events.push(event("content_block_delta", json!({"type": "content_block_delta", "index": 1, "delta": {"type": "input_json_delta", "partial_json": part}})));
        }
        events.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 1}),
        ));
    }
    let stop = if change.is_some() {
        "tool_use"
    } else {
        "end_turn"
    };
    events.push(event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 20}})));
    events.push(event("message_stop", json!({"type": "message_stop"})));
    let pace = Duration::from_millis(pace_ms as u64);
    let stream = futures_util::stream::unfold(events.into_iter(), move |mut rest| async move {
        let next = rest.next()?;
        tokio::time::sleep(pace).await;
        Some((Ok::<_, Infallible>(next), rest))
    });
    (
        [("content-type", "text/event-stream")],
        Body::from_stream(stream),
    )
        .into_response()
}
