//! `POST /api/v1/agents/{id}/test`: try an agent on a prompt outside any
//! workflow. The same tool-calling loop as an agent node
//! (`agent_kit::agent_loop`), with the agent's tools (or the ones asked
//! for) but `read_file` (a run's files), the workspace's model and MCP
//! servers, within the plan: it needs a plan that runs workflows, counts
//! against the tools limit and the monthly budget, and stops at the per-run
//! token budget. Its answer streams to the caller's `user:{id}` topic as
//! `agent:test` messages while the request waits (25 s at most).

use std::{
    collections::BTreeMap,
    sync::{
        atomic::{AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

use agent_kit::{
    agent_loop::{self, Host},
    conversation::{ToolCall, ToolOutcome},
    guard::AllowList,
    http::HttpRunner,
    mcp::pool::McpPool,
    providers::CompletionRequest,
    redact::Redactor,
    tools::{resolve, AgentTool, NetworkTools, SearchProvider},
};
use axum::extract::{Path, State};
use futures_util::future::BoxFuture;
use run_protocol::{mcp::McpServerDef, message::MessageType};
use serde_json::{json, Value};
use shared::{
    access::{can, Allowed, InWorkspace, Member},
    db::{agents, budgets, mcp_servers},
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    mcp::McpStatus,
    realtime::publish::Published,
    runs::start::{may_run, within_budget},
    ApiError, ApiResult, AppState,
};
use tokio::sync::mpsc;
use uuid::Uuid;
use workflow_graph::tools::{mcp_servers as servers_in, tools_problem};

use crate::tool_dto::{AgentTestAnswer, AgentTestRequest, TestCall, TokenUsage};
use crate::tool_routes::{charge, count, failed, provider, search_provider};

/// The longest a test waits for its answer (under API Gateway's 29 s).
const WAIT: Duration = Duration::from_secs(25);
/// The most of a tool result shown to the model and the caller.
const MAX_RESULT_CHARS: usize = 16 * 1024;

/// Where the loop runs for a test: the caller's topic, a token budget, the
/// network tools and the values to hide.
struct TestHost<'a> {
    tools: Vec<AgentTool>,
    net: NetworkTools<'a>,
    out: mpsc::UnboundedSender<Value>,
    budget: Option<u64>,
    used: AtomicU64,
    redactor: Redactor,
    calls: Mutex<Vec<TestCall>>,
    /// Each model turn's provider, model and tokens, charged at the end.
    usages: Mutex<Vec<(String, String, u64, u64)>>,
}

impl TestHost<'_> {
    fn send(&self, message: Value) {
        let _ = self.out.send(message);
    }

    fn hide(&self, text: &str) -> String {
        self.redactor.redact_str(text)
    }

    async fn call(&self, call: &ToolCall, turn: u32) -> ToolOutcome {
        self.send(json!({ "kind": "tool_called", "turn": turn, "callId": call.id, "tool": call.name, "input": call.input }));
        let started = Instant::now();
        let result = match self.tools.iter().find(|t| t.name() == call.name) {
            Some(tool) => self.net.call(tool, &call.input).await,
            None => Err(agent_kit::error::NodeError::new(
                agent_kit::error::ErrorKind::Invalid,
                format!("there is no tool {:?} here", call.name),
            )),
        };
        let (content, is_error) = match result {
            Ok(Value::String(s)) => (s, false),
            Ok(v) => (v.to_string(), false),
            Err(e) => (e.message, true),
        };
        let mut content = self.hide(&content);
        if content.chars().count() > MAX_RESULT_CHARS {
            content = content.chars().take(MAX_RESULT_CHARS).collect::<String>() + "\n[truncated]";
        }
        let ms = started.elapsed().as_millis() as u64;
        self.send(
            json!({ "kind": "tool_result", "turn": turn, "callId": call.id, "tool": call.name,
                          "output": content, "error": is_error, "durationMs": ms }),
        );
        if let Ok(mut calls) = self.calls.lock() {
            calls.push(TestCall {
                tool: call.name.clone(),
                input: call.input.clone(),
                output: content.clone(),
                error: is_error,
                duration_ms: ms,
            });
        }
        ToolOutcome {
            call_id: call.id.clone(),
            content,
            is_error,
        }
    }
}

impl Host for TestHost<'_> {
    fn budget_check(&self) -> Result<(), String> {
        match self.budget {
            Some(b) if self.used.load(Ordering::Relaxed) >= b => {
                Err(format!("the per-run token budget ({b}) is used up"))
            }
            _ => Ok(()),
        }
    }

    fn budget_left(&self) -> Option<u64> {
        self.budget
            .map(|b| b.saturating_sub(self.used.load(Ordering::Relaxed)))
    }

    fn budget_add(&self, tokens: u64) {
        self.used.fetch_add(tokens, Ordering::Relaxed);
    }

    fn usage(&self, provider: &str, model: &str, input_tokens: u64, output_tokens: u64) {
        if let Ok(mut u) = self.usages.lock() {
            u.push((
                provider.to_owned(),
                model.to_owned(),
                input_tokens,
                output_tokens,
            ));
        }
        self.send(
            json!({ "kind": "usage", "provider": provider, "model": model,
                          "inputTokens": input_tokens, "outputTokens": output_tokens }),
        );
    }

    fn delta(&self, turn: u32, text: String) {
        let text = self.hide(&text);
        self.send(json!({ "kind": "delta", "turn": turn, "text": text }));
    }

    fn safe_cut(&self, pending: &str) -> usize {
        self.redactor.safe_cut(pending)
    }

    fn use_tool<'a>(&'a self, call: &'a ToolCall, turn: u32) -> BoxFuture<'a, ToolOutcome> {
        Box::pin(self.call(call, turn))
    }
}

/// The workspace's MCP servers the tools name (not disconnected), with the
/// secrets their headers use.
async fn servers(
    state: &AppState,
    caller: &Member,
    names: &[String],
) -> ApiResult<(BTreeMap<String, McpServerDef>, BTreeMap<String, String>)> {
    let wanted = servers_in(names);
    if wanted.is_empty() {
        return Ok((BTreeMap::new(), BTreeMap::new()));
    }
    let rows = mcp_servers::by_names(&state.db, caller.workspace_id, &wanted).await?;
    let defs: BTreeMap<String, McpServerDef> = rows
        .into_iter()
        .filter(|r| r.status != McpStatus::Disabled)
        .map(|r| {
            (
                r.name,
                McpServerDef {
                    url: r.url,
                    headers: r.headers.0,
                },
            )
        })
        .collect();
    if let Some(missing) = wanted.iter().find(|w| !defs.contains_key(*w)) {
        return Err(ApiError::field(
            "tools",
            format!("the workspace has no connected MCP server named {missing:?}"),
        ));
    }
    let headers: Vec<_> = defs.values().flat_map(|d| d.headers.clone()).collect();
    let values = state
        .vault
        .resolve(
            caller.workspace_id,
            &run_protocol::mcp::secret_names(&headers),
        )
        .await?;
    Ok((defs, values))
}

/// Try an agent on a prompt (members who may run workflows, on a plan that
/// runs them). The answer also streams to your `user:{id}` topic as
/// `agent:test` messages (`testId`, `seq`, `kind`: `delta`, `tool_called`,
/// `tool_result`, `usage`, then `done` or `failed`).
#[utoipa::path(
    post, path = "/api/v1/agents/{id}/test", operation_id = "agents_test", tag = "agents", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Agent id")),
    request_body = AgentTestRequest,
    responses(
        (status = 200, description = "The agent's answer, its tool calls and tokens", body = AgentTestAnswer),
        (status = 400, description = "A bad prompt, unknown tools, or an MCP server the workspace has not connected (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Your role may not run workflows (FORBIDDEN), the plan does not run them or needs the workspace's own provider key (TIER_LIMIT), or the monthly budget is spent (BUDGET_EXCEEDED)", body = ErrorEnvelope),
        (status = 404, description = "No such agent visible here (NOT_FOUND)", body = ErrorEnvelope),
        (status = 429, description = "Past the tools limit (RATE_LIMITED, Retry-After)", body = ErrorEnvelope),
        (status = 502, description = "The model or a tool's server failed, or the answer took longer than 25 s (UPSTREAM_ERROR)", body = ErrorEnvelope),
        (status = 503, description = "No model provider is configured (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn test(
    State(state): State<AppState>,
    caller: Allowed<can::ExecuteWorkflows>,
    Path(id): Path<Uuid>,
    Json(body): Json<AgentTestRequest>,
) -> ApiResult<Json<AgentTestAnswer>> {
    let agent = agents::find_visible(&state.db, caller.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent"))?;
    if body.prompt.trim().is_empty() || body.prompt.chars().count() > 20_000 {
        return Err(ApiError::field("prompt", "must hold 1–20,000 characters"));
    }
    let names = body.tools.clone().unwrap_or_else(|| agent.tools.clone());
    if let Some(why) = tools_problem(&names) {
        return Err(ApiError::field("tools", why));
    }
    let max_iterations = body.max_iterations.unwrap_or(5);
    if !(1..=10).contains(&max_iterations) {
        return Err(ApiError::field("maxIterations", "must be 1–10"));
    }
    may_run(caller.tier)?;
    let standing = budgets::standing(&state.db, caller.workspace_id).await?;
    within_budget(&standing)?;
    count(&state, &caller).await?;
    let (model, own_values) = provider(&state, &caller).await?;
    let (defs, secrets) = servers(&state, &caller, &names).await?;
    let allow = AllowList::parse(&state.settings.http.outbound_allow);
    let http = HttpRunner::new(allow.clone());
    let search = search_provider(&state).unwrap_or(SearchProvider::None);
    let pool = McpPool::new(defs, secrets.clone(), allow);
    let net = NetworkTools {
        http: &http,
        search: &search,
        mcp: &pool,
    };
    let test_id = shared::ids::new_id();
    // One deadline for all of it (listing MCP tools, then the loop).
    let deadline = tokio::time::Instant::now() + WAIT;
    let redactor = Redactor::new(secrets.values().cloned().chain(own_values));
    // What the other side says in an error may quote what it was sent.
    let hide = |e: ApiError| -> ApiError { e.map_message(|m| redactor.redact_str(m)) };
    let tools = tokio::time::timeout_at(deadline, resolve(&names, &pool))
        .await
        .map_err(|_| {
            ApiError::new(
                ErrorCode::UpstreamError,
                "an MCP server did not answer in time",
            )
        })?
        .map_err(|e| hide(failed(e, "tools")))?;
    // The agent's messages reach the caller's topic in order, before the answer returns.
    let (out, mut queue) = mpsc::unbounded_channel::<Value>();
    let publisher = state.publisher.clone();
    let topic = format!("user:{}", caller.user_id);
    let meta = json!({ "type": MessageType::AgentTest, "testId": test_id, "agentId": id });
    let forward = tokio::spawn(async move {
        let mut seq = 0u64;
        while let Some(mut m) = queue.recv().await {
            seq += 1;
            if let (Some(o), Some(base)) = (m.as_object_mut(), meta.as_object()) {
                o.extend(base.clone());
                o.insert("seq".into(), json!(seq));
            }
            if let Some(p) = &publisher {
                p.publish(Published {
                    topic: topic.clone(),
                    message: m,
                })
                .await;
            }
        }
    });
    let host = TestHost {
        tools: tools.clone(),
        net,
        out,
        budget: standing
            .budget
            .run_token_budget
            .and_then(|b| u64::try_from(b).ok()),
        used: AtomicU64::new(0),
        redactor: redactor.clone(),
        calls: Mutex::new(Vec::new()),
        usages: Mutex::new(Vec::new()),
    };
    let request = CompletionRequest {
        model: agent.model.clone(),
        system: Some(agent.system_prompt.clone()),
        prompt: body.prompt.clone(),
        temperature: None,
        max_tokens: None,
        tools: tools.iter().map(AgentTool::spec).collect(),
        turns: Vec::new(),
    };
    let outcome = tokio::time::timeout(
        WAIT,
        agent_loop::run(&host, &model, request, max_iterations),
    )
    .await;
    let result = match outcome {
        Err(_) => Err(ApiError::new(
            ErrorCode::UpstreamError,
            "the agent did not answer within 25 s; try a shorter task or fewer tools",
        )
        .with_details(json!({ "kind": "timeout", "retryable": true }))),
        Ok(Err(e)) if e.kind == agent_kit::error::ErrorKind::Budget => {
            Err(ApiError::new(ErrorCode::BudgetExceeded, e.message))
        }
        Ok(Err(e)) => Err(hide(failed(e, "prompt"))),
        Ok(Ok(end)) => Ok(end),
    };
    match &result {
        Ok(end) => host.send(json!({ "kind": "done", "text": host.hide(&end.done.text) })),
        Err(e) => {
            host.send(json!({ "kind": "failed", "code": e.code(), "message": e.to_string() }))
        }
    }
    let calls = host.calls.lock().map(|c| c.clone()).unwrap_or_default();
    let usages = host.usages.lock().map(|u| u.clone()).unwrap_or_default();
    let text = result.as_ref().ok().map(|end| host.hide(&end.done.text));
    drop(host);
    // Delivery is bounded too: what has not gone out in 2 s is left.
    let _ = tokio::time::timeout(Duration::from_secs(2), forward).await;
    // Every turn the model took is charged, whether or not the test ended well.
    for (provider, model, input, output) in usages {
        charge(&state, &caller, &provider, &model, input, output).await?;
    }
    let end = result?;
    Ok(Json(AgentTestAnswer {
        test_id,
        text: text.unwrap_or_default(),
        provider: model.name().to_owned(),
        model: end.done.model.clone(),
        usage: TokenUsage {
            input_tokens: end.input_tokens,
            output_tokens: end.output_tokens,
        },
        turns: end.turns,
        calls,
    }))
}
