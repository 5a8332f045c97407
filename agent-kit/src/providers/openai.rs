//! OpenAI-compatible chat completions, streamed: `data:` chunks whose
//! `choices[0].delta` carries text and `tool_calls` pieces (by `index`; the
//! arguments a JSON string in pieces), a last chunk with `usage`
//! (`stream_options.include_usage`), then `[DONE]`.

use std::collections::BTreeMap;

use serde_json::{json, Value};

use super::{
    body_or_events, call_input, send, sse, tokens, Completion, CompletionRequest, Endpoint,
};
use crate::{
    conversation::{ToolCall, Turn},
    error::{ErrorKind, NodeError},
};

const WHAT: &str = "the chat-completions API";

pub(super) fn body(req: &CompletionRequest, model: &str) -> Value {
    let mut messages = Vec::new();
    if let Some(s) = &req.system {
        messages.push(json!({ "role": "system", "content": s }));
    }
    messages.push(json!({ "role": "user", "content": req.prompt }));
    for turn in &req.turns {
        match turn {
            Turn::User(text) => messages.push(json!({ "role": "user", "content": text })),
            Turn::Assistant { text, calls } if calls.is_empty() => {
                messages.push(json!({ "role": "assistant", "content": text }))
            }
            Turn::Assistant { text, calls } => messages.push(json!({
                "role": "assistant",
                "content": if text.is_empty() { Value::Null } else { json!(text) },
                "tool_calls": calls.iter().map(|c| json!({
                    "id": c.id, "type": "function",
                    "function": { "name": c.name, "arguments": c.input.to_string() },
                })).collect::<Vec<_>>(),
            })),
            Turn::Results(outcomes) => messages.extend(outcomes.iter().map(
                |o| json!({ "role": "tool", "tool_call_id": o.call_id, "content": o.content }),
            )),
        }
    }
    let mut body = json!({
        "model": model,
        "messages": messages,
        "stream": true,
        "stream_options": { "include_usage": true },
    });
    if !req.tools.is_empty() {
        body["tools"] = json!(req
            .tools
            .iter()
            .map(|t| json!({ "type": "function", "function": {
                "name": t.name, "description": t.description, "parameters": t.input_schema,
            }}))
            .collect::<Vec<_>>());
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    if let Some(m) = req.max_tokens {
        body["max_tokens"] = json!(m);
    }
    body
}

#[derive(Default)]
struct Answer {
    model: Option<String>,
    text: String,
    /// Calls by index: id, name, arguments so far.
    calls: BTreeMap<u64, (String, String, String)>,
    input_tokens: u64,
    output_tokens: u64,
    done: bool,
}

impl Answer {
    fn apply(
        &mut self,
        v: &Value,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<(), NodeError> {
        if let Some(e) = v.get("error").filter(|e| !e.is_null()) {
            return Err(NodeError::new(
                ErrorKind::Upstream,
                format!(
                    "{WHAT} failed while answering: {}",
                    e["message"].as_str().unwrap_or("an error")
                ),
            ));
        }
        if let Some(m) = v["model"].as_str() {
            self.model = Some(m.to_owned());
        }
        if v["usage"].is_object() {
            self.input_tokens = tokens(&v["usage"], "prompt_tokens");
            self.output_tokens = tokens(&v["usage"], "completion_tokens");
        }
        for choice in v["choices"].as_array().into_iter().flatten() {
            let d = &choice["delta"];
            if let Some(t) = d["content"].as_str().filter(|t| !t.is_empty()) {
                self.text.push_str(t);
                on_text(t);
            }
            for c in d["tool_calls"].as_array().into_iter().flatten() {
                let entry = self
                    .calls
                    .entry(c["index"].as_u64().unwrap_or(0))
                    .or_default();
                if let Some(id) = c["id"].as_str() {
                    entry.0 = id.to_owned();
                }
                if let Some(name) = c["function"]["name"].as_str() {
                    entry.1.push_str(name);
                }
                if let Some(args) = c["function"]["arguments"].as_str() {
                    entry.2.push_str(args);
                }
            }
        }
        Ok(())
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
    let auth = format!("Bearer {}", ep.api_key);
    let headers = [("authorization", auth.as_str())];
    let res = send(
        ep,
        format!("{}/chat/completions", ep.base_url),
        &headers,
        &body(req, &model),
        WHAT,
    )
    .await?;
    let mut answer = Answer::default();
    let whole = body_or_events(res, WHAT, |e: sse::Event| {
        if e.data.trim() == "[DONE]" {
            answer.done = true;
            return Ok(());
        }
        match serde_json::from_str::<Value>(&e.data) {
            Ok(v) => answer.apply(&v, on_text),
            Err(_) => Ok(()),
        }
    })
    .await?;
    match whole {
        None if answer.done => Ok(Completion {
            text: answer.text,
            calls: answer
                .calls
                .into_values()
                .map(|(id, name, args)| ToolCall {
                    id,
                    name,
                    input: call_input(&args),
                })
                .collect(),
            model: answer.model.unwrap_or(model),
            input_tokens: answer.input_tokens,
            output_tokens: answer.output_tokens,
        }),
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
    let message = &v["choices"][0]["message"];
    let calls: Vec<ToolCall> = message["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .map(|c| ToolCall {
                    id: c["id"].as_str().unwrap_or_default().to_owned(),
                    name: c["function"]["name"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                    input: call_input(c["function"]["arguments"].as_str().unwrap_or("{}")),
                })
                .collect()
        })
        .unwrap_or_default();
    let text = match message["content"].as_str() {
        Some(t) => t.to_owned(),
        None if !calls.is_empty() => String::new(),
        None => {
            return Err(NodeError::new(
                ErrorKind::Invalid,
                format!("{WHAT} answered without a message"),
            ))
        }
    };
    if !text.is_empty() {
        on_text(&text);
    }
    Ok(Completion {
        text,
        calls,
        model: v["model"].as_str().unwrap_or(model).to_owned(),
        input_tokens: tokens(&v["usage"], "prompt_tokens"),
        output_tokens: tokens(&v["usage"], "completion_tokens"),
    })
}
