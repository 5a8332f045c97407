//! An agent's conversation with its model: one completion when it has no
//! tools; with tools, the provider's tool-calling loop until the model
//! answers, bounded by `max_iterations` model turns and a token budget
//! (checked before every turn, and capping each turn's answer). Where it
//! runs decides the rest through [`Host`]: an agent node reports events and
//! keeps large results as artifacts, an agent tried from the API streams to
//! its user. The answer's text goes to the host as it is written, a few
//! times a second, never cut inside what the host must not split (a secret).

use std::time::{Duration, Instant};

use futures_util::future::BoxFuture;
use serde_json::{json, Map, Value};

use crate::{
    conversation::{ToolCall, ToolOutcome, Turn},
    error::{ErrorKind, NodeError},
    providers::{Completion, CompletionRequest, Provider, DEFAULT_MAX_TOKENS, DEV_NOTICE},
};

/// How much answer text is held before it goes to the host, and for how
/// long at most: a few pieces a second, not one a token.
const DELTA_BYTES: usize = 256;
const DELTA_EVERY: Duration = Duration::from_millis(250);

/// What the loop asks of where it runs.
pub trait Host: Send + Sync {
    /// `Err(why)` when the token budget is spent.
    fn budget_check(&self) -> Result<(), String>;
    /// The tokens left, if there is a budget.
    fn budget_left(&self) -> Option<u64>;
    fn budget_add(&self, tokens: u64);
    /// One model turn's tokens.
    fn usage(&self, provider: &str, model: &str, input_tokens: u64, output_tokens: u64);
    /// A piece of a turn's answer, as it is written.
    fn delta(&self, turn: u32, text: String);
    /// How much of `pending` may go out now (the rest could be the start of
    /// something that must not be split); all of it by default.
    fn safe_cut(&self, pending: &str) -> usize {
        pending.len()
    }
    /// Runs one call the model asked for, reporting it; its failure is the
    /// model's to handle, in the outcome.
    fn use_tool<'a>(&'a self, call: &'a ToolCall, turn: u32) -> BoxFuture<'a, ToolOutcome>;
}

/// How a loop ended well.
pub struct LoopEnd {
    pub done: Completion,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub tool_calls: u64,
    pub turns: u32,
    /// Whether tools were offered.
    pub with_tools: bool,
}

/// Runs the loop. `request.tools` are what the model is offered.
pub async fn run(
    host: &dyn Host,
    provider: &Provider,
    mut request: CompletionRequest,
    max_iterations: u32,
) -> Result<LoopEnd, NodeError> {
    let cap = request.max_tokens;
    let with_tools = !request.tools.is_empty();
    let (mut input_tokens, mut output_tokens, mut tool_calls) = (0u64, 0u64, 0u64);
    for turn in 1..=max_iterations.max(1) {
        host.budget_check()
            .map_err(|why| NodeError::new(ErrorKind::Budget, why))?;
        request.max_tokens = answer_cap(cap, host.budget_left());
        let mut deltas = Deltas::new(host, turn);
        let streamed = provider
            .stream(&request, &mut |text| deltas.push(text))
            .await;
        deltas.flush(true);
        let done = streamed?;
        host.budget_add(done.input_tokens.saturating_add(done.output_tokens));
        input_tokens = input_tokens.saturating_add(done.input_tokens);
        output_tokens = output_tokens.saturating_add(done.output_tokens);
        host.usage(
            provider.name(),
            &done.model,
            done.input_tokens,
            done.output_tokens,
        );
        if done.calls.is_empty() || !with_tools {
            return Ok(LoopEnd {
                done,
                input_tokens,
                output_tokens,
                tool_calls,
                turns: turn,
                with_tools,
            });
        }
        let mut outcomes = Vec::with_capacity(done.calls.len());
        for call in &done.calls {
            tool_calls += 1;
            outcomes.push(host.use_tool(call, turn).await);
        }
        request.turns.push(Turn::Assistant {
            text: done.text,
            calls: done.calls,
        });
        request.turns.push(Turn::Results(outcomes));
    }
    Err(NodeError::new(
        ErrorKind::Limit,
        format!(
            "the agent was still calling tools after {max_iterations} model turns (maxIterations); \
             raise maxIterations or narrow the prompt"
        ),
    ))
}

impl LoopEnd {
    /// The answer as a node's output: the final text (and, when it is a
    /// JSON object, its fields: `{{triage.output.urgency}}`), the model, the
    /// tokens of every turn, and with tools the turns and calls.
    pub fn output(&self, provider: &Provider) -> Value {
        let mut out = parse_json_object(&self.done.text).unwrap_or_default();
        out.insert("text".into(), json!(self.done.text));
        out.insert("model".into(), json!(self.done.model));
        out.insert("provider".into(), json!(provider.name()));
        out.insert(
            "usage".into(),
            json!({ "inputTokens": self.input_tokens, "outputTokens": self.output_tokens }),
        );
        if self.with_tools {
            out.insert("turns".into(), json!(self.turns));
            out.insert("toolCalls".into(), json!(self.tool_calls));
        }
        if matches!(provider, Provider::Dev) {
            out.insert("notice".into(), json!(DEV_NOTICE));
        }
        Value::Object(out)
    }
}

/// Pieces of a turn's answer on their way to the host, never split where the
/// host says not to.
struct Deltas<'a> {
    host: &'a dyn Host,
    turn: u32,
    pending: String,
    since: Instant,
}

impl<'a> Deltas<'a> {
    fn new(host: &'a dyn Host, turn: u32) -> Self {
        Self {
            host,
            turn,
            pending: String::new(),
            since: Instant::now(),
        }
    }

    fn push(&mut self, text: &str) {
        self.pending.push_str(text);
        if self.pending.len() >= DELTA_BYTES || self.since.elapsed() >= DELTA_EVERY {
            self.flush(false);
        }
    }

    /// Sends what may go now (`end`: all of it).
    fn flush(&mut self, end: bool) {
        let cut = if end {
            self.pending.len()
        } else {
            self.host.safe_cut(&self.pending)
        };
        if cut == 0 {
            return;
        }
        let rest = self.pending.split_off(cut);
        let text = std::mem::replace(&mut self.pending, rest);
        self.host.delta(self.turn, text);
        self.since = Instant::now();
    }
}

/// What is left of the budget caps the answer, so one call cannot run far
/// past it; a node that sets no cap keeps the provider's default unless less
/// than that is left (a larger cap than a model allows is refused).
fn answer_cap(node_cap: Option<u32>, left: Option<u64>) -> Option<u32> {
    let left = left.map(|r| u32::try_from(r).unwrap_or(u32::MAX));
    match (node_cap, left) {
        (Some(m), Some(l)) => Some(m.min(l)),
        (None, Some(l)) => (l < DEFAULT_MAX_TOKENS).then_some(l),
        (m, None) => m,
    }
}

/// The object in an answer that is JSON (optionally in a ```json fence).
fn parse_json_object(text: &str) -> Option<Map<String, Value>> {
    let t = text.trim();
    let t = t
        .strip_prefix("```json")
        .or_else(|| t.strip_prefix("```"))
        .and_then(|s| s.strip_suffix("```"))
        .unwrap_or(t)
        .trim();
    match serde_json::from_str(t) {
        Ok(Value::Object(map)) => Some(map),
        _ => None,
    }
}
