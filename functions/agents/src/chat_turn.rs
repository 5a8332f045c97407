//! One exchange with the design assistant, the same over HTTP and the
//! WebSocket: the user's message is stored (within the plan's messages per
//! workflow), the model answers with the workflow, the agent catalogue and
//! the node types as context, its text streams to `chat:{workflowId}`, and
//! a change it proposes is applied to a copy of the graph and validated
//! (the graph checks, the workspace's agents, secrets and MCP servers, the
//! plan's agents per workflow). A change the validator refuses goes back to
//! the model once with the report; refused again, it is stored as
//! `invalid` with the report, never as applicable. The answer is stored
//! with its proposal and tokens, which are charged like a run's.

use std::{sync::Mutex, time::Duration};

use agent_kit::{
    conversation::{ToolCall, ToolOutcome, Turn},
    error::NodeError,
    guard::AllowList,
    providers::{CompletionRequest, Provider},
    redact::Redactor,
};
use chrono::Utc;
use serde_json::{json, Value};
use shared::{
    access::Member,
    activity::{self, Action, Activity, Origin},
    db::{agents, budgets, chat},
    error::ErrorCode,
    runs::start::within_budget,
    ApiError, ApiResult, AppState,
};
use tokio::sync::mpsc::UnboundedSender;
use uuid::Uuid;
use workflow_graph::Graph;

use crate::{
    chat_dto::{
        AnswerStatus, DesignError, DesignExchange, DesignMessage, DesignProposal, DesignUsage,
        ProposalStatus,
    },
    chat_prompt::{self, TOOL},
    chat_stream::ChatStream,
    design_dev,
    graph_change::{self, GraphChange},
    tool_dto::ChatRole,
    tool_routes::{charge, count, failed, own_key},
};

/// The longest the model may take for an answer, repair included; the
/// rest of the request's 25 s (under API Gateway's 29 s) is for storing,
/// streaming and charging it.
pub const WAIT: Duration = Duration::from_secs(21);
/// The most messages a chat history keeps (the oldest go first)...
pub const MAX_HISTORY: usize = 1000;
/// ...and the most bytes (as JSON), so a workflow and its versions stay
/// well within what one answer can carry (Lambda answers at most 6 MB).
pub const MAX_HISTORY_BYTES: usize = 1024 * 1024;

pub fn entries(history: &Value) -> Vec<Value> {
    history.as_array().cloned().unwrap_or_default()
}

/// Keeps the newest messages within [`MAX_HISTORY`] and [`MAX_HISTORY_BYTES`].
pub fn trim(history: &mut Vec<Value>) {
    if history.len() > MAX_HISTORY {
        history.drain(..history.len() - MAX_HISTORY);
    }
    let sizes: Vec<usize> = history.iter().map(|m| m.to_string().len() + 1).collect();
    let mut total: usize = sizes.iter().sum();
    let mut drop = 0;
    while total > MAX_HISTORY_BYTES && drop + 1 < history.len() {
        total -= sizes[drop];
        drop += 1;
    }
    history.drain(..drop);
}

/// The design assistant's model: the workspace's own key when it keeps
/// one, else the platform's (on every plan: the plan limits messages); and
/// the own key's values, to hide.
async fn design_provider(state: &AppState, caller: &Member) -> ApiResult<(Provider, Vec<String>)> {
    let (own, own_values) = own_key(state, caller).await?;
    let allow = AllowList::parse(&state.settings.http.outbound_allow);
    let platform = Provider::from_settings(&state.settings.tools.llm);
    Ok((Provider::for_run(platform, own, true, &allow), own_values))
}

/// What the model made of a message.
struct Thought {
    text: String,
    proposal: Option<DesignProposal>,
}

/// Everything an answer needs.
struct Context<'a> {
    state: &'a AppState,
    caller: &'a Member,
    model: &'a Provider,
    canvas: &'a Value,
    version: i32,
    earlier: &'a [Value],
    message: &'a str,
    pieces: &'a UnboundedSender<String>,
    /// Text received but not sent yet.
    pending: Held,
    redactor: &'a Redactor,
    usages: &'a Mutex<Vec<DesignUsage>>,
}

impl Context<'_> {
    /// Streams a piece of the answer (see [`Held`]).
    fn piece(&self, text: &str) {
        if let Some(out) = self.pending.take(self.redactor, text) {
            let _ = self.pieces.send(out);
        }
    }

    /// Sends what is still held back (the answer is over).
    fn flush(&self) {
        if let Some(out) = self.pending.rest(self.redactor) {
            let _ = self.pieces.send(out);
        }
    }

    fn used(&self, provider: &str, model: &str, input: u64, output: u64) {
        if let Ok(mut u) = self.usages.lock() {
            u.push(DesignUsage {
                provider: provider.to_owned(),
                model: model.to_owned(),
                input_tokens: input,
                output_tokens: output,
            });
        }
    }
}

/// Text of an answer received but not sent yet: it may end with the start
/// of a secret, so only what [`Redactor::safe_cut`] allows goes out, masked.
#[derive(Default)]
struct Held(Mutex<String>);

impl Held {
    /// A received piece; what may go out now.
    fn take(&self, redactor: &Redactor, text: &str) -> Option<String> {
        let mut pending = self.0.lock().ok()?;
        pending.push_str(text);
        let cut = redactor.safe_cut(&pending);
        if cut == 0 {
            return None;
        }
        let out = redactor.redact_str(&pending[..cut]);
        pending.drain(..cut);
        Some(out)
    }

    /// What is left, masked (the answer is over).
    fn rest(&self, redactor: &Redactor) -> Option<String> {
        let mut pending = self.0.lock().ok()?;
        if pending.is_empty() {
            return None;
        }
        let out = redactor.redact_str(&pending);
        pending.clear();
        Some(out)
    }
}

/// A change checked: valid (with the validator's warnings), or not, with
/// why (for the model) and the issues (for the user).
enum Checked {
    Valid(GraphChange, Vec<Value>),
    Invalid(Option<GraphChange>, String, Vec<Value>),
}

fn problem(code: &str, message: &str) -> Value {
    json!({ "severity": "error", "code": code, "message": message })
}

/// Applies a proposed change to a copy of the graph and validates the result.
async fn check(ctx: &Context<'_>, input: &Value) -> ApiResult<Checked> {
    let change = match graph_change::parse(input) {
        Ok(c) => c,
        Err(why) => {
            return Ok(Checked::Invalid(
                None,
                why.clone(),
                vec![problem("INVALID_CHANGE", &why)],
            ))
        }
    };
    let canvas = match graph_change::apply(ctx.canvas, &change) {
        Ok(c) => c,
        Err(why) => {
            return Ok(Checked::Invalid(
                Some(change),
                why.clone(),
                vec![problem("INVALID_CHANGE", &why)],
            ))
        }
    };
    let mut db = ctx.state.db.acquire().await?;
    let report = shared::validation::full_report(&mut db, ctx.caller.workspace_id, &canvas).await?;
    let mut issues: Vec<Value> = report
        .issues
        .iter()
        .filter_map(|i| serde_json::to_value(i).ok())
        .collect();
    let mut valid = report.valid;
    let tier = ctx.caller.tier;
    if let Some(max) = tier.limits().agents_per_workflow {
        let agents = Graph::from_canvas(&canvas)
            .map(|g| g.agent_count())
            .unwrap_or(0);
        if agents > max as usize {
            valid = false;
            issues.push(problem(
                "TIER_LIMIT",
                &format!("the {tier} plan allows at most {max} agent nodes per workflow; this change makes {agents}"),
            ));
        }
    }
    if valid {
        return Ok(Checked::Valid(change, issues));
    }
    let why = issues
        .iter()
        .filter(|i| i["severity"] == "error")
        .map(|i| {
            let at = i["path"]
                .as_str()
                .map(|p| format!(" (at {p})"))
                .unwrap_or_default();
            format!(
                "- [{}] {}{at}",
                i["code"].as_str().unwrap_or_default(),
                i["message"].as_str().unwrap_or_default()
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    Ok(Checked::Invalid(Some(change), why, issues))
}

fn proposal(ctx: &Context<'_>, checked: Checked, repaired: bool) -> DesignProposal {
    let (change, status, issues) = match checked {
        Checked::Valid(c, warnings) => (Some(c), ProposalStatus::Draft, warnings),
        Checked::Invalid(c, _, issues) => (c, ProposalStatus::Invalid, issues),
    };
    let (summary, operations) = change
        .map(|c| (c.summary, c.operations))
        .unwrap_or_else(|| ("(a change that could not be read)".into(), Vec::new()));
    ctx.redactor.redact(DesignProposal {
        summary,
        operations,
        status,
        base_version: ctx.version,
        applied_version: None,
        repaired,
        issues,
        decided_by: None,
        decided_at: None,
    })
}

/// The dev provider's answer: the deterministic designer, streamed a few words at a time.
async fn think_dev(ctx: &Context<'_>) -> ApiResult<Thought> {
    let (text, change) = design_dev::design(ctx.message, ctx.canvas);
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    for piece in words.chunks(4) {
        ctx.piece(&piece.concat());
    }
    let count = |s: &str| s.split_whitespace().count() as u64;
    ctx.used("dev", "dev", count(ctx.message), count(&text));
    let proposal = match change {
        Some(c) => {
            let input = serde_json::to_value(&c).unwrap_or_default();
            Some(proposal(ctx, check(ctx, &input).await?, false))
        }
        None => None,
    };
    Ok(Thought { text, proposal })
}

/// The agents the workflow can use, for the model: built-in and the workspace's own.
async fn catalogue(ctx: &Context<'_>) -> ApiResult<Vec<agents::Agent>> {
    let mut all = Vec::new();
    for scope in [agents::Scope::BuiltIn, agents::Scope::Mine] {
        let q = agents::ListQuery {
            scope,
            category: None,
            search: None,
            limit: 40,
            offset: 0,
        };
        all.extend(
            agents::list(&ctx.state.db, ctx.caller.workspace_id, &q)
                .await?
                .0,
        );
    }
    Ok(all)
}

enum Failure {
    Api(ApiError),
    Model(NodeError),
}

impl From<ApiError> for Failure {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}

async fn call_model(
    ctx: &Context<'_>,
    req: &CompletionRequest,
) -> Result<agent_kit::providers::Completion, Failure> {
    let mut on_text = |t: &str| ctx.piece(t);
    let done = ctx
        .model
        .stream(req, &mut on_text)
        .await
        .map_err(Failure::Model)?;
    ctx.used(
        ctx.model.name(),
        &done.model,
        done.input_tokens,
        done.output_tokens,
    );
    Ok(done)
}

fn proposed(calls: &[ToolCall]) -> Option<&ToolCall> {
    calls.iter().find(|c| c.name == TOOL)
}

/// A model's answer: its text and, when it proposes a change, the change
/// checked, repaired once if the validator refused it.
async fn think(ctx: &Context<'_>) -> Result<Thought, Failure> {
    if matches!(ctx.model, Provider::Dev) {
        return Ok(think_dev(ctx).await?);
    }
    let agents = catalogue(ctx).await?;
    let mut all = chat_prompt::earlier_turns(ctx.earlier);
    all.push(Turn::User(ctx.message.to_owned()));
    let prompt = match all.remove(0) {
        Turn::User(t) => t,
        _ => ctx.message.to_owned(),
    };
    let mut req = CompletionRequest {
        model: None,
        system: Some(chat_prompt::system(ctx.canvas, ctx.version, &agents)),
        prompt,
        temperature: Some(0.2),
        max_tokens: Some(4096),
        tools: vec![chat_prompt::tool()],
        turns: all,
    };
    let first = call_model(ctx, &req).await?;
    let mut text = first.text.clone();
    let Some(call) = proposed(&first.calls).cloned() else {
        return Ok(Thought {
            text,
            proposal: None,
        });
    };
    let (why, issues) = match check(ctx, &call.input).await? {
        valid @ Checked::Valid(..) => {
            return Ok(Thought {
                text,
                proposal: Some(proposal(ctx, valid, false)),
            })
        }
        Checked::Invalid(change, why, issues) => ((change, why), issues),
    };
    // One repair attempt: the validator's report goes back to the model.
    ctx.piece("\n\n");
    req.turns.push(Turn::Assistant {
        text: first.text.clone(),
        calls: vec![call.clone()],
    });
    req.turns.push(Turn::Results(vec![ToolOutcome {
        call_id: call.id.clone(),
        content: format!(
            "Not applied: the change does not give a valid workflow.\n{}\nCall propose_change again with a corrected change.",
            why.1
        ),
        is_error: true,
    }]));
    let second = call_model(ctx, &req).await?;
    text = format!("{text}\n\n{}", second.text).trim().to_owned();
    let checked = match proposed(&second.calls) {
        Some(again) => check(ctx, &again.input).await?,
        None => Checked::Invalid(why.0, why.1, issues),
    };
    Ok(Thought {
        text,
        proposal: Some(proposal(ctx, checked, true)),
    })
}

pub(crate) fn error_of(e: &ApiError) -> DesignError {
    let body = e.envelope().error;
    DesignError {
        code: serde_json::to_value(body.code)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_else(|| "INTERNAL_ERROR".into()),
        message: body.message,
    }
}

/// The tokens of all of an answer's model calls, as one.
fn total(usages: &[DesignUsage]) -> Option<DesignUsage> {
    let last = usages.last()?;
    Some(DesignUsage {
        provider: last.provider.clone(),
        model: last.model.clone(),
        input_tokens: usages.iter().map(|u| u.input_tokens).sum(),
        output_tokens: usages.iter().map(|u| u.output_tokens).sum(),
    })
}

/// 403 `TIER_LIMIT` once the plan's messages per workflow are sent.
fn within_limit(caller: &Member, sent: i32) -> ApiResult<()> {
    match caller.tier.limits().messages_per_workflow {
        Some(max) if sent >= i32::try_from(max).unwrap_or(i32::MAX) => Err(ApiError::tier_limit(
            caller.tier,
            "chat messages per workflow",
            max,
        )),
        _ => Ok(()),
    }
}

/// Sends a message to a workflow's design assistant and waits for its
/// answer (the model at most [`WAIT`]). Once the message is stored, the
/// exchange runs to its end even if the caller goes away, so a message is
/// never left counted without an answer.
pub async fn converse(
    state: &AppState,
    caller: &Member,
    origin: &Origin,
    workflow_id: Uuid,
    text: &str,
) -> ApiResult<DesignExchange> {
    let deadline = tokio::time::Instant::now() + WAIT;
    let text = crate::chat_dto::MESSAGE
        .parse(text)
        .map_err(|why| ApiError::field("message", why))?;
    let text = text.as_str();
    // The workflow and the plan's limit first: a refused message costs nothing.
    let sent = chat::sent(&state.db, caller.workspace_id, workflow_id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    within_limit(caller, sent)?;
    within_budget(&budgets::standing(&state.db, caller.workspace_id).await?)?;
    let (model, own_values) = design_provider(state, caller).await?;
    if let Provider::Unconfigured(why) = &model {
        return Err(ApiError::not_configured(why.clone()));
    }
    count(state, caller).await?;
    let asked = DesignMessage {
        id: shared::ids::new_id(),
        role: ChatRole::User,
        content: text.to_owned(),
        created_at: Utc::now(),
        author_id: Some(caller.user_id),
        reply_to: None,
        status: None,
        failed: false,
        proposal: None,
        usage: None,
        error: None,
    };
    let (locked, earlier) = {
        let mut tx = state.db.begin().await?;
        let locked = chat::lock(&mut tx, caller.workspace_id, workflow_id)
            .await?
            .ok_or_else(|| ApiError::not_found("workflow"))?;
        // Again under the lock: two messages at once cannot both take the last one.
        within_limit(caller, locked.chat_sent)?;
        let mut history = entries(&locked.chat_history.0);
        let earlier = history.clone();
        history.push(asked.to_value());
        trim(&mut history);
        chat::store(&mut tx, workflow_id, &Value::Array(history), 1).await?;
        tx.commit().await?;
        (locked, earlier)
    };
    let exchange = Exchange {
        state: state.clone(),
        caller: caller.clone(),
        origin: origin.clone(),
        workflow_id,
        asked,
        model,
        own_values,
        locked,
        earlier,
        deadline,
    };
    tokio::spawn(exchange.run())
        .await
        .map_err(|e| ApiError::internal(anyhow::anyhow!("the design chat's answer stopped: {e}")))?
}

/// An exchange whose message is stored: what answering it needs.
struct Exchange {
    state: AppState,
    caller: Member,
    origin: Origin,
    workflow_id: Uuid,
    asked: DesignMessage,
    model: Provider,
    own_values: Vec<String>,
    locked: chat::Locked,
    earlier: Vec<Value>,
    deadline: tokio::time::Instant,
}

impl Exchange {
    async fn run(self) -> ApiResult<DesignExchange> {
        let Exchange {
            state,
            caller,
            origin,
            workflow_id,
            asked,
            model,
            own_values,
            locked,
            earlier,
            deadline,
        } = self;
        let state = &state;
        let caller = &caller;
        let stream = ChatStream::new(state.db.clone(), state.publisher.clone(), workflow_id);
        stream.message(&asked.to_value()).await;
        let redactor = Redactor::new(own_values.iter().cloned());
        let answer_id = shared::ids::new_id();
        let (pieces, mut forward) = stream.pieces(answer_id);
        let usages = Mutex::new(Vec::new());
        let ctx = Context {
            state,
            caller,
            model: &model,
            canvas: &locked.canvas.0,
            version: locked.version,
            earlier: &earlier,
            message: &asked.content,
            pieces: &pieces,
            pending: Held::default(),
            redactor: &redactor,
            usages: &usages,
        };
        let outcome = match tokio::time::timeout_at(deadline, think(&ctx)).await {
            Ok(Ok(t)) => Ok(t),
            Ok(Err(Failure::Api(e))) => Err(e),
            Ok(Err(Failure::Model(e))) => {
                Err(failed(e, "message").map_message(|m| redactor.redact_str(m)))
            }
            Err(_) => Err(ApiError::new(
                ErrorCode::UpstreamError,
                format!(
                    "the assistant did not answer within {} s; ask for a smaller change or try again",
                    WAIT.as_secs()
                ),
            )
            .with_details(json!({ "kind": "timeout", "retryable": true }))),
        };
        ctx.flush();
        drop(pieces);
        // Its pieces go out before its whole message; what has not within 2 s
        // is dropped with the others once the whole message is stored.
        if tokio::time::timeout(Duration::from_secs(2), &mut forward)
            .await
            .is_err()
        {
            forward.abort();
        }
        let usages = usages.into_inner().unwrap_or_default();
        let (content, proposal, error) = match &outcome {
            Ok(t) => (redactor.redact_str(&t.text), t.proposal.clone(), None),
            Err(e) => (String::new(), None, Some(error_of(e))),
        };
        let answer = DesignMessage {
            id: answer_id,
            role: ChatRole::Assistant,
            content,
            created_at: Utc::now(),
            author_id: None,
            reply_to: Some(asked.id),
            status: Some(if error.is_some() {
                AnswerStatus::Failed
            } else {
                AnswerStatus::Complete
            }),
            failed: false,
            proposal,
            usage: total(&usages),
            error,
        };
        let mut asked = asked;
        asked.failed = outcome.is_err();
        // Whether or not the answer can be stored (the workflow deleted
        // meanwhile, the database gone), its model calls are charged.
        let stored = store_answer(state, caller, workflow_id, &asked, &answer).await;
        if stored.is_ok() {
            if asked.failed {
                stream.message(&asked.to_value()).await;
            }
            stream.message(&answer.to_value()).await;
        }
        // Every model call is charged, whether or not the answer ended well;
        // the answer is stored, so a failure here is logged, not answered.
        for u in &usages {
            if let Err(e) = charge(
                state,
                caller,
                &u.provider,
                &u.model,
                u.input_tokens,
                u.output_tokens,
            )
            .await
            {
                tracing::error!(workspace_id = %caller.workspace_id, error = %e, "cannot charge a design chat's model call");
            }
        }
        if !own_values.is_empty() {
            let recorded = Activity::new(caller.workspace_id, caller.user_id, Action::SecretUsed)
                .on(workflow_id)
                .details(json!({ "names": ["provider key"], "tool": "design chat" }))
                .record(&state.db, &origin)
                .await;
            match recorded {
                Ok(entry) => activity::publish(state, [entry]).await,
                Err(e) => {
                    tracing::error!(workspace_id = %caller.workspace_id, error = %e, "cannot record a design chat's use of the provider key")
                }
            }
        }
        stored?;
        match outcome {
            Ok(_) => Ok(DesignExchange {
                message: asked,
                answer,
            }),
            Err(e) => {
                let mut details = e.details().cloned().unwrap_or_else(|| json!({}));
                if details.is_object() {
                    details["messageId"] = json!(asked.id);
                    details["answerId"] = json!(answer.id);
                }
                Err(e.with_details(details))
            }
        }
    }
}

/// Stores the answer (and, when it failed, marks the message it answers
/// as not counting).
async fn store_answer(
    state: &AppState,
    caller: &Member,
    workflow_id: Uuid,
    asked: &DesignMessage,
    answer: &DesignMessage,
) -> ApiResult<()> {
    let mut tx = state.db.begin().await?;
    let Some(locked) = chat::lock(&mut tx, caller.workspace_id, workflow_id).await? else {
        return Err(ApiError::not_found("workflow"));
    };
    let mut history = entries(&locked.chat_history.0);
    if asked.failed {
        let id = asked.id.to_string();
        if let Some(m) = history.iter_mut().find(|m| m["id"].as_str() == Some(&id)) {
            m["failed"] = json!(true);
        }
    }
    history.push(answer.to_value());
    trim(&mut history);
    let sent = if asked.failed { -1 } else { 0 };
    chat::store(&mut tx, workflow_id, &Value::Array(history), sent).await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_split_across_pieces_never_goes_out() {
        let secret = "sk-own-key-0123456789";
        let redactor = Redactor::new([secret.to_owned()]);
        let held = Held::default();
        let text = format!("the key is {secret}, see?");
        let mut sent = Vec::new();
        for piece in text.as_bytes().chunks(3) {
            sent.extend(held.take(&redactor, std::str::from_utf8(piece).expect("ascii")));
        }
        sent.extend(held.rest(&redactor));
        assert!(sent.iter().all(|p| !p.contains("sk-own")), "{sent:?}");
        assert_eq!(sent.concat(), redactor.redact_str(&text));
        assert!(sent.len() > 2);
    }

    #[test]
    fn the_history_keeps_the_newest_within_its_bounds() {
        let big = "x".repeat(10_000);
        let mut h: Vec<Value> = (0..300).map(|i| json!({"i": i, "content": big})).collect();
        trim(&mut h);
        let size: usize = h.iter().map(|m| m.to_string().len() + 1).sum();
        assert!(size <= MAX_HISTORY_BYTES, "{size}");
        assert_eq!(h.last().expect("last")["i"], 299);
        let mut many: Vec<Value> = (0..1500).map(|i| json!({"i": i})).collect();
        trim(&mut many);
        assert_eq!(
            (many.len(), many[0]["i"].as_i64()),
            (MAX_HISTORY, Some(500))
        );
    }
}
