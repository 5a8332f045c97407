//! LLM providers for `agent` nodes: the Anthropic Messages API, any
//! OpenAI-compatible chat-completions endpoint, and a deterministic `dev`
//! provider for local use, which says so in its output. A provider named
//! without a key (a Job whose key Secret is missing) is `Unconfigured`: its
//! agent nodes fail saying so, nothing pretends.
//! Errors are classified: 429 and overload are retryable (honouring
//! Retry-After), invalid requests are not. With tools offered, a completion
//! may ask for calls (Anthropic `tool_use` blocks, OpenAI `tool_calls`); the
//! conversation so far is sent back each turn ([`crate::conversation`]).
//! Answers are streamed (server-sent events), so a node's text can be
//! watched as it is written; an endpoint that answers with one JSON body is
//! read as well.

mod anthropic;
mod dev;
mod openai;
mod sse;

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::Value;
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
        allow: &crate::http::AllowList,
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
                crate::http::guarded_client(allow, timeout),
                "https://api.anthropic.com",
                own.api_key,
                "claude-sonnet-4-5",
            )),
            LlmVendor::OpenAi => {
                let base = own
                    .base_url
                    .as_deref()
                    .unwrap_or("https://api.openai.com/v1");
                if crate::http::is_blocked_literal(base, allow)
                    || !(base.starts_with("https://") || base.starts_with("http://"))
                {
                    return Provider::Unconfigured(
                        "OPENAI_BASE_URL must be an http(s) URL of a public address".into(),
                    );
                }
                Provider::OpenAi(Endpoint::with_client(
                    crate::http::guarded_client(allow, timeout),
                    base,
                    own.api_key,
                    "gpt-4o-mini",
                ))
            }
        }
    }

    pub async fn complete(&self, req: &CompletionRequest) -> Result<Completion, NodeError> {
        self.stream(req, &mut |_| {}).await
    }

    /// [`Self::complete`], handing each piece of the answer's text to
    /// `on_text` as it arrives (the APIs' server-sent events).
    pub async fn stream(
        &self,
        req: &CompletionRequest,
        on_text: &mut (dyn FnMut(&str) + Send),
    ) -> Result<Completion, NodeError> {
        match self {
            Provider::Anthropic(ep) => anthropic::complete(ep, req, on_text).await,
            Provider::OpenAi(ep) => openai::complete(ep, req, on_text).await,
            Provider::Dev => Ok(dev::complete(req, on_text)),
            Provider::Unconfigured(why) => Err(NodeError::new(ErrorKind::Config, why.clone())),
        }
    }
}

/// Sends a request; an answer that is not a success is the node's error.
async fn send(
    ep: &Endpoint,
    url: String,
    headers: &[(&str, &str)],
    body: &Value,
    what: &str,
) -> Result<reqwest::Response, NodeError> {
    let mut req = ep.http.post(url).json(body);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = req.send().await.map_err(|e| from_transport(e, what))?;
    let status = res.status().as_u16();
    if (200..300).contains(&status) {
        return Ok(res);
    }
    let after = retry_after(res.headers());
    let text = res.text().await.map_err(|e| from_transport(e, what))?;
    Err(NodeError::from_status(status, after, what, &text))
}

/// An answer as server-sent events (`Some`), or its JSON body (`None` in
/// the first place, the body in the second).
async fn body_or_events(
    mut res: reqwest::Response,
    what: &str,
    mut on_event: impl FnMut(sse::Event) -> Result<(), NodeError>,
) -> Result<Option<Value>, NodeError> {
    let streamed = res
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if !streamed {
        let text = res.text().await.map_err(|e| from_transport(e, what))?;
        return serde_json::from_str(&text).map(Some).map_err(|e| {
            NodeError::new(
                ErrorKind::Invalid,
                format!("{what} sent unreadable JSON: {e}"),
            )
        });
    }
    let mut decoder = sse::Decoder::default();
    while let Some(chunk) = res.chunk().await.map_err(|e| from_transport(e, what))? {
        for event in decoder.push(&chunk) {
            on_event(event)?;
        }
    }
    for event in decoder.finish() {
        on_event(event)?;
    }
    Ok(None)
}

fn tokens(v: &Value, key: &str) -> u64 {
    v.get(key).and_then(Value::as_u64).unwrap_or(0)
}

/// A tool call's input as streamed: JSON pieces, joined. Not JSON: the text
/// as it came (the tool refuses it to the model).
fn call_input(raw: &str) -> Value {
    if raw.trim().is_empty() {
        return Value::Object(Default::default());
    }
    serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A chat that goes on: the user's later messages and the model's
    /// earlier answers (text only) are sent in order, by both providers.
    #[test]
    fn a_chat_is_sent_turn_by_turn() {
        let req = CompletionRequest {
            model: None,
            system: Some("Be brief.".into()),
            prompt: "Hello".into(),
            temperature: None,
            max_tokens: None,
            tools: Vec::new(),
            turns: vec![
                Turn::Assistant {
                    text: "Hi!".into(),
                    calls: Vec::new(),
                },
                Turn::User("And now?".into()),
            ],
        };
        for body in [anthropic::body(&req, "m"), openai::body(&req, "m")] {
            let messages = body["messages"].as_array().expect("messages");
            let said: Vec<(&str, &str)> = messages
                .iter()
                .filter(|m| m["role"] != "system")
                .map(|m| {
                    let text = m["content"]
                        .as_str()
                        .or_else(|| m["content"][0]["text"].as_str())
                        .unwrap_or_default();
                    (m["role"].as_str().unwrap_or_default(), text)
                })
                .collect();
            assert_eq!(
                said,
                vec![
                    ("user", "Hello"),
                    ("assistant", "Hi!"),
                    ("user", "And now?")
                ]
            );
            assert!(messages.iter().all(|m| m.get("tool_calls").is_none()));
        }
    }
}
