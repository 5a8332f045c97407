//! LLM providers for `agent` nodes: the Anthropic Messages API, any
//! OpenAI-compatible chat-completions endpoint, and a deterministic `dev`
//! provider for local use, which says so in its output. A provider named
//! without a key (a Job whose key Secret is missing) is `Unconfigured`: its
//! agent nodes fail saying so, nothing pretends.
//! Errors are classified: 429 and overload are retryable (honouring
//! Retry-After), invalid requests are not. With tools offered, a completion
//! may ask for calls (Anthropic `tool_use` blocks, OpenAI `tool_calls`); the
//! conversation so far is sent back each turn ([`crate::conversation`]).

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::{json, Value};
use settings::{LlmProvider, LlmSettings};

use crate::{
    conversation::{ToolCall, ToolSpec, Turn},
    error::{from_transport, retry_after, ErrorKind, NodeError},
};

/// The answer's cap when a node sets none (the Messages API needs one).
pub const DEFAULT_MAX_TOKENS: u32 = 4096;

#[derive(Debug, Clone, PartialEq)]
pub struct CompletionRequest {
    pub model: Option<String>,
    pub system: Option<String>,
    pub prompt: String,
    pub temperature: Option<f64>,
    pub max_tokens: Option<u32>,
    /// Tools the model may call (none: a plain completion).
    pub tools: Vec<ToolSpec>,
    /// The conversation after `prompt`: the model's calls and their outcomes.
    pub turns: Vec<Turn>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub text: String,
    /// The tools the model asked for; none: `text` is its answer.
    pub calls: Vec<ToolCall>,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
}

/// An HTTP provider's endpoint and key.
pub struct Endpoint {
    http: reqwest::Client,
    base_url: String,
    api_key: String,
    default_model: String,
}

impl std::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Endpoint")
            .field("base_url", &self.base_url)
            .field("api_key", &"[REDACTED]")
            .finish()
    }
}

impl Endpoint {
    /// On a given client (a guarded one, for a URL a workspace chose).
    pub fn with_client(
        http: reqwest::Client,
        base_url: &str,
        api_key: String,
        default_model: &str,
    ) -> Self {
        Self {
            http,
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            default_model: default_model.to_owned(),
        }
    }

    pub fn new(base_url: &str, api_key: String, default_model: &str) -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(600))
                .connect_timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            base_url: base_url.trim_end_matches('/').to_owned(),
            api_key,
            default_model: default_model.to_owned(),
        }
    }
}

#[derive(Debug)]
pub enum Provider {
    Anthropic(Endpoint),
    OpenAi(Endpoint),
    Dev,
    /// A real provider was asked for but there is no key: why, for the node's error.
    Unconfigured(String),
}

pub const DEV_NOTICE: &str =
    "No LLM provider key is configured, so the dev provider answered with a deterministic development response.";

impl Provider {
    pub fn name(&self) -> &'static str {
        match self {
            Provider::Anthropic(_) => "anthropic",
            Provider::OpenAi(_) => "openai",
            Provider::Dev => "dev",
            Provider::Unconfigured(_) => "unconfigured",
        }
    }

    /// The provider the settings describe. The dev provider only when asked
    /// for, or when nothing is configured at all (a graph run by hand); a
    /// provider named without a usable key is [`Provider::Unconfigured`].
    pub fn from_settings(s: &LlmSettings) -> Self {
        let key = s
            .api_key
            .as_ref()
            .map(|k| k.expose_secret().trim().to_owned())
            .filter(|k| !k.is_empty());
        let kind = match (s.provider, &key, &s.key_problem) {
            (Some(LlmProvider::Dev), _, _) | (None, None, None) => return Provider::Dev,
            (Some(kind), _, _) => kind,
            (None, _, _) => LlmProvider::Anthropic,
        };
        let Some(key) = key else {
            let why = s.key_problem.as_deref().unwrap_or("LLM_API_KEY is not set");
            return Provider::Unconfigured(format!(
                "no API key is configured for the {} provider ({why}); on EKS the key is the \
                 Kubernetes Secret the Job mounts (infra/README.md: LLM credentials)",
                kind.as_str()
            ));
        };
        match kind {
            LlmProvider::OpenAi => Provider::OpenAi(Endpoint::new(
                s.base_url.as_deref().unwrap_or("https://api.openai.com/v1"),
                key,
                s.model.as_deref().unwrap_or("gpt-4o-mini"),
            )),
            _ => Provider::Anthropic(Endpoint::new(
                s.base_url.as_deref().unwrap_or("https://api.anthropic.com"),
                key,
                s.model.as_deref().unwrap_or("claude-sonnet-4-5"),
            )),
        }
    }

    /// The provider a run's agent nodes use: the workspace's own key when it
    /// keeps one; else the platform's, where the plan allows it; else, when
    /// the platform has no provider at all (local development), the dev
    /// provider; else none, saying how to get one.
    pub fn for_run(
        platform: Provider,
        own: Option<run_protocol::LlmCredential>,
        platform_allowed: bool,
        allow: &crate::http_node::AllowList,
    ) -> Provider {
        use run_protocol::LlmVendor;
        let Some(own) = own else {
            return match platform {
                p if platform_allowed => p,
                Provider::Dev => Provider::Dev,
                _ => Provider::Unconfigured(
                    "this workspace's plan runs agents with its own provider key: store \
                     ANTHROPIC_API_KEY or OPENAI_API_KEY (and OPENAI_BASE_URL for a compatible API) \
                     in the workspace's secrets, or upgrade to PROFESSIONAL"
                        .into(),
                ),
            };
        };
        let timeout = Duration::from_secs(600);
        match own.vendor {
            LlmVendor::Anthropic => Provider::Anthropic(Endpoint::with_client(
                crate::http_node::guarded_client(allow, timeout),
                "https://api.anthropic.com",
                own.api_key,
                "claude-sonnet-4-5",
            )),
            LlmVendor::OpenAi => {
                let base = own
                    .base_url
                    .as_deref()
                    .unwrap_or("https://api.openai.com/v1");
                if crate::http_node::is_blocked_literal(base, allow)
                    || !(base.starts_with("https://") || base.starts_with("http://"))
                {
                    return Provider::Unconfigured(
                        "OPENAI_BASE_URL must be an http(s) URL of a public address".into(),
                    );
                }
                Provider::OpenAi(Endpoint::with_client(
                    crate::http_node::guarded_client(allow, timeout),
                    base,
                    own.api_key,
                    "gpt-4o-mini",
                ))
            }
        }
    }

    pub async fn complete(&self, req: &CompletionRequest) -> Result<Completion, NodeError> {
        match self {
            Provider::Anthropic(ep) => anthropic(ep, req).await,
            Provider::OpenAi(ep) => openai(ep, req).await,
            Provider::Dev => Ok(dev(req)),
            Provider::Unconfigured(why) => Err(NodeError::new(ErrorKind::Config, why.clone())),
        }
    }
}

async fn post(
    ep: &Endpoint,
    url: String,
    headers: &[(&str, &str)],
    body: &Value,
    what: &str,
) -> Result<Value, NodeError> {
    let mut req = ep.http.post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.map_err(|e| from_transport(e, what))?;
    let status = res.status().as_u16();
    let after = retry_after(res.headers());
    let text = res.text().await.map_err(|e| from_transport(e, what))?;
    if !(200..300).contains(&status) {
        return Err(NodeError::from_status(status, after, what, &text));
    }
    serde_json::from_str(&text).map_err(|e| {
        NodeError::new(
            ErrorKind::Invalid,
            format!("{what} sent unreadable JSON: {e}"),
        )
    })
}

fn tokens(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

async fn anthropic(ep: &Endpoint, req: &CompletionRequest) -> Result<Completion, NodeError> {
    let model = req
        .model
        .clone()
        .unwrap_or_else(|| ep.default_model.clone());
    let mut messages = vec![json!({ "role": "user", "content": req.prompt })];
    for turn in &req.turns {
        messages.push(match turn {
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
    });
    if let Some(s) = &req.system {
        body["system"] = json!(s);
    }
    if !req.tools.is_empty() {
        body["tools"] = json!(req
            .tools
            .iter()
            .map(|t| json!({ "name": t.name, "description": t.description, "input_schema": t.input_schema }))
            .collect::<Vec<_>>());
    }
    if let Some(t) = req.temperature {
        body["temperature"] = json!(t);
    }
    let headers = [
        ("x-api-key", ep.api_key.as_str()),
        ("anthropic-version", "2023-06-01"),
    ];
    let v = post(
        ep,
        format!("{}/v1/messages", ep.base_url),
        &headers,
        &body,
        "the Anthropic API",
    )
    .await?;
    let blocks = v["content"].as_array().ok_or_else(|| {
        NodeError::new(
            ErrorKind::Invalid,
            "the Anthropic API answered without content",
        )
    })?;
    let text: String = blocks
        .iter()
        .filter(|b| b["type"] == "text")
        .filter_map(|b| b["text"].as_str())
        .collect::<Vec<_>>()
        .join("");
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
        model: v["model"].as_str().unwrap_or(&model).to_owned(),
        input_tokens: tokens(&v["usage"], "input_tokens"),
        output_tokens: tokens(&v["usage"], "output_tokens"),
    })
}

async fn openai(ep: &Endpoint, req: &CompletionRequest) -> Result<Completion, NodeError> {
    let model = req
        .model
        .clone()
        .unwrap_or_else(|| ep.default_model.clone());
    let mut messages = Vec::new();
    if let Some(s) = &req.system {
        messages.push(json!({ "role": "system", "content": s }));
    }
    messages.push(json!({ "role": "user", "content": req.prompt }));
    for turn in &req.turns {
        match turn {
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
    let mut body = json!({ "model": model, "messages": messages });
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
    let auth = format!("Bearer {}", ep.api_key);
    let headers = [("authorization", auth.as_str())];
    let v = post(
        ep,
        format!("{}/chat/completions", ep.base_url),
        &headers,
        &body,
        "the chat-completions API",
    )
    .await?;
    let message = &v["choices"][0]["message"];
    // Arguments are a JSON string; one that is not JSON reaches the tool as
    // it came, which refuses it to the model.
    let calls: Vec<ToolCall> = message["tool_calls"]
        .as_array()
        .map(|calls| {
            calls
                .iter()
                .map(|c| {
                    let raw = c["function"]["arguments"].as_str().unwrap_or("{}");
                    ToolCall {
                        id: c["id"].as_str().unwrap_or_default().to_owned(),
                        name: c["function"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_owned(),
                        input: serde_json::from_str(raw).unwrap_or_else(|_| json!(raw)),
                    }
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
                "the chat-completions API answered without a message",
            ))
        }
    };
    Ok(Completion {
        text,
        calls,
        model: v["model"].as_str().unwrap_or(&model).to_owned(),
        input_tokens: tokens(&v["usage"], "prompt_tokens"),
        output_tokens: tokens(&v["usage"], "completion_tokens"),
    })
}

/// A deterministic answer that shows what the agent was asked. Offered
/// tools, it first calls each one it can find an input for in the prompt
/// (the first URL for `web_read` and `http_request`, the prompt itself for
/// `web_search`), then answers with what they returned: the tool loop can be
/// tried locally without a model.
fn dev(req: &CompletionRequest) -> Completion {
    let excerpt: String = req.prompt.chars().take(200).collect();
    let words = |s: &str| s.split_whitespace().count() as u64;
    let input_tokens = words(&req.prompt) + req.system.as_deref().map_or(0, words);
    let results: Vec<&crate::conversation::ToolOutcome> = req
        .turns
        .iter()
        .filter_map(|t| match t {
            Turn::Results(r) => Some(r),
            Turn::Assistant { .. } => None,
        })
        .flatten()
        .collect();
    if results.is_empty() {
        let calls: Vec<ToolCall> = req
            .tools
            .iter()
            .filter_map(|t| {
                let input = match t.name.as_str() {
                    "web_read" | "http_request" => json!({ "url": first_url(&req.prompt)? }),
                    "web_search" => json!({ "query": excerpt.clone() }),
                    _ => return None,
                };
                Some((t.name.clone(), input))
            })
            .enumerate()
            .map(|(i, (name, input))| ToolCall {
                id: format!("dev_{}", i + 1),
                name,
                input,
            })
            .collect();
        if !calls.is_empty() {
            return Completion {
                text: String::new(),
                calls,
                model: "dev".into(),
                input_tokens,
                output_tokens: 0,
            };
        }
    }
    let mut text = format!(
        "[dev provider] {DEV_NOTICE}\nPrompt ({} characters): {excerpt}",
        req.prompt.chars().count()
    );
    for r in results {
        let shown: String = r.content.chars().take(300).collect();
        let how = if r.is_error { "failed" } else { "returned" };
        text.push_str(&format!("\nTool call {} {how}: {shown}", r.call_id));
    }
    Completion {
        text,
        calls: Vec::new(),
        model: "dev".into(),
        input_tokens,
        output_tokens: 0,
    }
}

/// The first http(s) URL in a text.
fn first_url(text: &str) -> Option<String> {
    let start = text.find("https://").or_else(|| text.find("http://"))?;
    let url: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '<' | '>' | ')' | ']'))
        .collect();
    Some(url.trim_end_matches(['.', ',', ';', ':']).to_owned())
}
