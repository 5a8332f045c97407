//! An agent node's conversation with its model: one completion when it has
//! no tools; with tools, the provider's tool-calling loop until the model
//! answers, bounded by `maxIterations` model turns, the token budget (checked
//! before every turn, and capping each turn's answer) and the node's timeout
//! (the engine's, around the whole node). Every call and result is an event
//! (redacted by the reporter); a result larger than the model is given is
//! kept whole as an artifact. The answer's text goes out as it is written,
//! in `agent_delta` events a few times a second.

use std::time::Instant;

use serde_json::{json, Map, Value};

use crate::{
    budget::TokenBudget,
    conversation::{ToolCall, ToolOutcome, Turn},
    engine::ArtifactStore,
    error::{ErrorKind, NodeError},
    event::EventKind,
    providers::{Completion, CompletionRequest, Provider, DEFAULT_MAX_TOKENS, DEV_NOTICE},
    report::Reporter,
    tools::{self, AgentTool, ToolEnv},
};

/// The most of one tool result the model (and the event) is given, in bytes.
pub const MAX_RESULT_BYTES: usize = 16 * 1024;

pub struct AgentRun<'a> {
    pub node: &'a str,
    pub provider: &'a Provider,
    pub env: ToolEnv<'a>,
    pub reporter: &'a Reporter,
    pub artifacts: &'a ArtifactStore,
    pub budget: &'a TokenBudget,
    /// The first turn (prompt, system, model, temperature, the node's answer cap).
    pub request: CompletionRequest,
    pub tools: Vec<AgentTool>,
    pub max_iterations: u32,
}

/// Sums over the turns.
#[derive(Default)]
struct Totals {
    input_tokens: u64,
    output_tokens: u64,
    tool_calls: u64,
}

pub async fn run(mut a: AgentRun<'_>) -> Result<Value, NodeError> {
    a.request.tools = a.tools.iter().map(AgentTool::spec).collect();
    let node_cap = a.request.max_tokens;
    let mut totals = Totals::default();
    for iteration in 1..=a.max_iterations.max(1) {
        a.budget
            .check()
            .map_err(|why| NodeError::new(ErrorKind::Budget, why))?;
        a.request.max_tokens = answer_cap(node_cap, a.budget.remaining());
        let mut deltas = Deltas::new(&a, iteration);
        let streamed = a
            .provider
            .stream(&a.request, &mut |text| deltas.push(text))
            .await;
        deltas.flush(true);
        let done = streamed?;
        a.budget
            .add(done.input_tokens.saturating_add(done.output_tokens));
        totals.input_tokens = totals.input_tokens.saturating_add(done.input_tokens);
        totals.output_tokens = totals.output_tokens.saturating_add(done.output_tokens);
        a.reporter.emit(EventKind::Usage {
            node: a.node.to_owned(),
            provider: a.provider.name().to_owned(),
            model: done.model.clone(),
            input_tokens: done.input_tokens,
            output_tokens: done.output_tokens,
        });
        if done.calls.is_empty() || a.tools.is_empty() {
            return Ok(answer(&a, done, &totals, iteration));
        }
        let mut outcomes = Vec::with_capacity(done.calls.len());
        for call in &done.calls {
            totals.tool_calls += 1;
            outcomes.push(use_tool(&a, call, iteration).await);
        }
        a.request.turns.push(Turn::Assistant {
            text: done.text,
            calls: done.calls,
        });
        a.request.turns.push(Turn::Results(outcomes));
    }
    Err(NodeError::new(
        ErrorKind::Limit,
        format!(
            "the agent was still calling tools after {} model turns (maxIterations); \
             raise maxIterations or narrow the prompt",
            a.max_iterations
        ),
    ))
}

/// How much answer text is held before it goes out as an `agent_delta`
/// event, and for how long at most: a few events a second, not one a token.
const DELTA_BYTES: usize = 256;
const DELTA_EVERY: std::time::Duration = std::time::Duration::from_millis(250);

/// Pieces of a turn's answer on their way out as `agent_delta` events, never
/// split inside a secret (each event is redacted on its own).
struct Deltas<'a> {
    reporter: &'a Reporter,
    node: &'a str,
    turn: u32,
    pending: String,
    since: Instant,
}

impl<'a> Deltas<'a> {
    fn new(a: &'a AgentRun<'_>, turn: u32) -> Self {
        Self {
            reporter: a.reporter,
            node: a.node,
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
            self.reporter.redactor().safe_cut(&self.pending)
        };
        if cut == 0 {
            return;
        }
        let rest = self.pending.split_off(cut);
        let text = std::mem::replace(&mut self.pending, rest);
        self.reporter.emit(EventKind::AgentDelta {
            node: self.node.to_owned(),
            turn: self.turn,
            text,
        });
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

/// Runs one call and reports it; its failure becomes the model's to handle.
async fn use_tool(a: &AgentRun<'_>, call: &ToolCall, iteration: u32) -> ToolOutcome {
    a.reporter.emit(EventKind::ToolCalled {
        node: a.node.to_owned(),
        call_id: call.id.clone(),
        tool: call.name.clone(),
        input: call.input.clone(),
        iteration,
    });
    let started = Instant::now();
    let result = match a.tools.iter().find(|t| t.name() == call.name) {
        Some(tool) => tools::call(&a.env, tool, &call.input).await,
        None => Err(NodeError::new(
            ErrorKind::Invalid,
            format!("there is no tool {:?} here", call.name),
        )),
    };
    let (content, is_error) = match result {
        Ok(Value::String(s)) => (s, false),
        Ok(v) => (v.to_string(), false),
        Err(e) => (e.message, true),
    };
    // The model and the event get the same text: secrets out, size capped.
    let content = a.reporter.redactor().redact_str(&content);
    let (shown, artifact) = if content.len() > MAX_RESULT_BYTES {
        let name = format!("{}-{}.txt", a.node, safe(&call.id));
        let size = content.len();
        let location = a
            .artifacts
            .store(
                &name,
                "text/plain; charset=utf-8",
                content.clone().into_bytes(),
            )
            .await
            .ok();
        if let Some(location) = &location {
            a.reporter.emit(EventKind::Artifact {
                node: a.node.to_owned(),
                name: name.clone(),
                content_type: "text/plain; charset=utf-8".into(),
                size: size as u64,
                location: location.clone(),
            });
        }
        let mut cut = MAX_RESULT_BYTES;
        while !content.is_char_boundary(cut) {
            cut -= 1;
        }
        let note = match &location {
            Some(_) => {
                format!("\n[truncated: {size} bytes in all; kept whole as the artifact {name}]")
            }
            None => format!("\n[truncated: {size} bytes in all]"),
        };
        (format!("{}{note}", &content[..cut]), location.map(|_| name))
    } else {
        (content, None)
    };
    a.reporter.emit(EventKind::ToolResult {
        node: a.node.to_owned(),
        call_id: call.id.clone(),
        tool: call.name.clone(),
        output: json!(shown),
        error: is_error,
        duration_ms: started.elapsed().as_millis() as u64,
        artifact,
    });
    ToolOutcome {
        call_id: call.id.clone(),
        content: shown,
        is_error,
    }
}

/// A call id as part of a file name.
fn safe(id: &str) -> String {
    id.chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
        .take(64)
        .collect()
}

/// The node's output: the final text (and, when it is a JSON object, its
/// fields: `{{triage.output.urgency}}`), the model, the tokens of every turn.
fn answer(a: &AgentRun<'_>, done: Completion, totals: &Totals, turns: u32) -> Value {
    let mut out = parse_json_object(&done.text).unwrap_or_default();
    out.insert("text".into(), json!(done.text));
    out.insert("model".into(), json!(done.model));
    out.insert("provider".into(), json!(a.provider.name()));
    out.insert(
        "usage".into(),
        json!({ "inputTokens": totals.input_tokens, "outputTokens": totals.output_tokens }),
    );
    if !a.tools.is_empty() {
        out.insert("turns".into(), json!(turns));
        out.insert("toolCalls".into(), json!(totals.tool_calls));
    }
    if matches!(a.provider, Provider::Dev) {
        out.insert("notice".into(), json!(DEV_NOTICE));
    }
    Value::Object(out)
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
