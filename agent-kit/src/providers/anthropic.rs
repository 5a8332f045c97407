//! The Anthropic Messages API, streamed: `message_start` (model, input
//! tokens), `content_block_start`/`_delta` (text, and `tool_use` blocks whose
//! input arrives as JSON pieces), `message_delta` (output tokens), `error`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{
    body_or_events, call_input, send, sse, tokens, Completion, CompletionRequest, Endpoint,
    DEFAULT_MAX_TOKENS,
};
use crate::{
    conversation::{ToolCall, Turn},
    error::{ErrorKind, NodeError},
};

const WHAT: &str = "the Anthropic API";

pub(super) fn body(req: &CompletionRequest, model: &str) -> Value {
    let mut messages = vec![json!({ "role": "user", "content": req.prompt })];
    for turn in &req.turns {
        messages.push(match turn {
            Turn::User(text) => json!({ "role": "user", "content": text }),
            Turn::Assistant { text, calls } => {
                let mut content: Vec<Value> = Vec::new();
                if !text.is_empty() {
                    content.push(json!({ "type": "text", "text": text }));
                }
                content.extend(calls.iter().map(
                    |c| json!({ "type": "tool_use", "id": c.id, "name": c.name, "input": c.input }),
                ));
                json!({ "role": "assistant", "content": content })
            }
            Turn::Results(outcomes) => json!({
                "role": "user",
                "content": outcomes.iter().map(|o| json!({
                    "type": "tool_result", "tool_use_id": o.call_id,
                    "content": o.content, "is_error": o.is_error,
                })).collect::<Vec<_>>(),
            }),
        });
    }
    let mut body = json!({
        "model": model,
        "max_tokens": req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS),
        "messages": messages,
        "stream": true,
    });
    if let Some(s) = &req.system {
        body["system"] = json!(s);
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if !req.tools.is_empty() {
        body["tools"] = json!(req
            .tools
            .iter()
            .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.input_schema }))
            .collect::<Vec<_>>());
    }
    body
}

/// A content block being streamed.
enum Block {
    Text,
    Tool {
        id: String,
        name: String,
        input: String,
    },
}

#[derive(Default)]
struct Answer {
    model: Option<String>,
    text: String,
    blocks: BTreeMap<u64, Block>,
    input_tokens: u64,
    output_tokens: u64,
    stopped: bool,
}

impl Answer {
    fn apply(
        &mut self,
        v: &Value,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), NodeError> {
        let index = v["index"].as_u64().unwrap_or(0);
        match v["type"].as_str().unwrap_or_default() {
            "message_start" => {
                let m = &v["message"];
                self.model = m["model"].as_str().map(str::to_owned);
                self.input_tokens = tokens(&m["usage"], "input_tokens");
                self.output_tokens = tokens(&m["usage"], "output_tokens");
            }
            "content_block_start" => {
                let b = &v["content_block"];
                let block = if b["type"] == "tool_use" {
                    Block::Tool {
                        id: b["id"].as_str().unwrap_or_default().to_owned(),
                        name: b["name"].as_str().unwrap_or_default().to_owned(),
                        input: String::new(),
                    }
                } else {
                    if let Some(t) = b["text"].as_str().filter(|t| !t.is_empty()) {
                        self.text.push_str(t);
                        on_text(t);
                    }
                    Block::Text
                };
                self.blocks.insert(index, block);
            }
            "content_block_delta" => {
                let d = &v["delta"];
                match (d["type"].as_str(), self.blocks.get_mut(&index)) {
                    (Some("text_delta"), _) => {
                        let t = d["text"].as_str().unwrap_or_default();
                        self.text.push_str(t);
                        on_text(t);
                    }
                    (Some("input_json_delta"), Some(Block::Tool { input, .. })) => {
                        input.push_str(d["partial_json"].as_str().unwrap_or_default());
                    }
                    _ => {}
                }
            }
            "message_delta" => {
                if let Some(n) = v["usage"]["output_tokens"].as_u64() {
                    self.output_tokens = n;
                }
            }
            "message_stop" => self.stopped = true,
            "error" => {
                let e = &v["error"];
                let kind = match e["type"].as_str() {
                    Some("overloaded_error") => ErrorKind::Overloaded,
                    Some("rate_limit_error") => ErrorKind::RateLimited,
                    Some("invalid_request_error") => ErrorKind::Invalid,
                    _ => ErrorKind::Upstream,
                };
                return Err(NodeError::new(
                    kind,
                    format!(
                        "{WHAT} failed while answering: {}",
                        e["message"].as_str().unwrap_or("an error")
                    ),
                ));
            }
            _ => {}
        }
        Ok(())
    }

    fn into_completion(self, model: &str) -> Completion {
        let calls = self
            .blocks
            .into_values()
            .filter_map(|b| match b {
                Block::Tool { id, name, input } => Some(ToolCall {
                    id,
                    name,
                    input: call_input(&input),
                }),
                Block::Text => None,
            })
            .collect();
        Completion {
            text: self.text,
            calls,
            model: self.model.unwrap_or_else(|| model.to_owned()),
            input_tokens: self.input_tokens,
            output_tokens: self.output_tokens,
        }
    }
}

pub async fn complete(
    ep: &Endpoint,
    req: &CompletionRequest,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<Completion, NodeError> {
    let model = req
        .model
        .clone()
        .unwrap_or_else(|| ep.default_model.clone());
    let headers = [
        ("x-api-key", ep.api_key.as_str()),
        ("anthropic-version", "2023-06-01"),
    ];
    let res = send(
        ep,
        format!("{}/v1/messages", ep.base_url),
        &headers,
        &body(req, &model),
        WHAT,
    )
    .await?;
    let mut answer = Answer::default();
    let whole = body_or_events(res, WHAT, |e: sse::Event| {
        match serde_json::from_str::<Value>(&e.data) {
            Ok(v) => answer.apply(&v, on_text),
            // Pings and anything unreadable carry nothing we use.
            Err(_) => Ok(()),
        }
    })
    .await?;
    match whole {
        None if answer.stopped => Ok(answer.into_completion(&model)),
        None => Err(NodeError::new(
            ErrorKind::Network,
            format!("{WHAT} stream ended before the answer did"),
        )),
        Some(v) => whole_answer(&v, &model, on_text),
    }
}

/// An answer sent as one JSON body (no streaming).
fn whole_answer(
    v: &Value,
    model: &str,
    on_text: &mut (dyn FnMut(&str) + Send),
) -> Result<Completion, NodeError> {
    let blocks = v["content"].as_array().ok_or_else(|| {
        NodeError::new(
            ErrorKind::Invalid,
            format!("{WHAT} answered without content"),
        )
    })?;
    let text: String = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("");
    if !text.is_empty() {
        on_text(&text);
    }
    let calls = blocks
        .iter()
        .filter(|b| b["type"] == "tool_use")
        .map(|b| ToolCall {
            id: b["id"].as_str().unwrap_or_default().to_owned(),
            name: b["name"].as_str().unwrap_or_default().to_owned(),
            input: b.get("input").cloned().unwrap_or_else(|| json!({})),
        })
        .collect();
    Ok(Completion {
        text,
        calls,
        model: v["model"].as_str().unwrap_or(model).to_owned(),
        input_tokens: tokens(&v["usage"], "input_tokens"),
        output_tokens: tokens(&v["usage"], "output_tokens"),
    })
}
