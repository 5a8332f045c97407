//! An agent node: the tool-calling loop of [`agent_kit::agent_loop`] (bounded
//! by `maxIterations`, the run's token budget and, around the whole node, the
//! engine's timeout), hosted by the run. Every call and result is an event
//! (redacted by the reporter); a result larger than the model is given is
//! kept whole as an artifact. The answer's text goes out as it is written, in
//! `agent_delta` events a few times a second, never split inside a secret.

use std::time::Instant;

use agent_kit::agent_loop::{self, Host};
use futures_util::future::BoxFuture;
use serde_json::{json, Value};

use crate::{
    budget::TokenBudget,
    conversation::{ToolCall, ToolOutcome},
    engine::ArtifactStore,
    error::{ErrorKind, NodeError},
    event::EventKind,
    providers::{CompletionRequest, Provider},
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

pub async fn run(mut a: AgentRun<'_>) -> Result<Value, NodeError> {
    a.request.tools = a.tools.iter().map(AgentTool::spec).collect();
    let request = a.request.clone();
    let end = agent_loop::run(&a, a.provider, request, a.max_iterations).await?;
    Ok(end.output(a.provider))
}

impl Host for AgentRun<'_> {
    fn budget_check(&self) -> Result<(), String> {
        self.budget.check()
    }

    fn budget_left(&self) -> Option<u64> {
        self.budget.remaining()
    }

    fn budget_add(&self, tokens: u64) {
        self.budget.add(tokens);
    }

    fn usage(&self, provider: &str, model: &str, input_tokens: u64, output_tokens: u64) {
        self.reporter.emit(EventKind::Usage {
            node: self.node.to_owned(),
            provider: provider.to_owned(),
            model: model.to_owned(),
            input_tokens,
            output_tokens,
        });
    }

    fn delta(&self, turn: u32, text: String) {
        self.reporter.emit(EventKind::AgentDelta {
            node: self.node.to_owned(),
            turn,
            text,
        });
    }

    fn safe_cut(&self, pending: &str) -> usize {
        self.reporter.redactor().safe_cut(pending)
    }

    fn use_tool<'a>(&'a self, call: &'a ToolCall, turn: u32) -> BoxFuture<'a, ToolOutcome> {
        Box::pin(use_tool(self, call, turn))
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
