//! `/api/v1/workflows/{id}/chat`: the design assistant. Send a message
//! (its answer streams to `chat:{workflowId}`), read the chat, and apply or
//! reject a proposed change. Applying makes a new workflow version, on the
//! version the proposal was made against (409 when the workflow changed
//! since, like any edit on a stale version); nothing else the assistant
//! does changes the workflow.

use axum::{
    extract::{Path, State},
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use serde_json::{json, Value};
use shared::{
    access::{can, Allowed, InWorkspace, Member},
    activity::{self, Action, Activity, Origin},
    db::{
        chat,
        workflows::{self, Change},
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;
use workflow_graph::Graph;

use crate::{
    chat_dto::{
        AppliedProposal, DesignChat, DesignChatRequest, DesignExchange, DesignMessage,
        ProposalStatus,
    },
    chat_stream::ChatStream,
    chat_turn::{converse, entries},
    graph_change::{self, GraphChange},
};

/// Send a message to the workflow's design assistant (members who may edit
/// workflows). The answer streams to `chat:{workflowId}` subscribers as
/// `chat:delta` messages, then `chat:message`, while the request waits (25 s
/// at most); both messages are stored in the workflow's chat history.
#[utoipa::path(
    post, path = "/api/v1/workflows/{id}/chat", operation_id = "workflow_chat_send", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id")),
    request_body = DesignChatRequest,
    responses(
        (status = 200, description = "Your message and the assistant's answer, with the change it proposes (a draft until applied)", body = DesignExchange),
        (status = 400, description = "An empty or too long message, or one the model refused as too large (VALIDATION_ERROR; details.messageId and details.answerId when the message was stored)", body = ErrorEnvelope),
        (status = 403, description = "Your role may not edit workflows (FORBIDDEN), the plan's messages per workflow are used up (TIER_LIMIT, details.max), or the monthly budget is spent (BUDGET_EXCEEDED)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow in this workspace (NOT_FOUND)", body = ErrorEnvelope),
        (status = 429, description = "Past the tools limit (RATE_LIMITED, Retry-After)", body = ErrorEnvelope),
        (status = 502, description = "The model failed, is busy or took longer than 21 s (UPSTREAM_ERROR; details.messageId, details.answerId: the failed answer is in the history, the message does not count)", body = ErrorEnvelope),
        (status = 503, description = "No model provider is configured, or the workspace's own key cannot be used (SERVICE_UNAVAILABLE; details.messageId and details.answerId when the message was stored)", body = ErrorEnvelope),
    )
)]
pub async fn send(
    State(state): State<AppState>,
    caller: Allowed<can::EditWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
    Json(body): Json<DesignChatRequest>,
) -> ApiResult<Json<DesignExchange>> {
    Ok(Json(
        converse(&state, &caller, &origin, id, &body.message).await?,
    ))
}

/// The workflow's design chat, oldest first, and where its stream stands.
#[utoipa::path(
    get, path = "/api/v1/workflows/{id}/chat", operation_id = "workflow_chat_list", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "The chat's messages and the stream's last number", body = DesignChat),
        (status = 404, description = "No such workflow in this workspace (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<DesignChat>> {
    // The stream's number first: whatever is stored after it is in the history read next.
    let last_seq = chat::last_seq(&state.db, id).await?.unwrap_or(0);
    let wf = workflows::find(&state.db, caller.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    Ok(Json(DesignChat {
        items: entries(&wf.chat_history.0)
            .iter()
            .filter_map(DesignMessage::read)
            .collect(),
        last_seq,
    }))
}

/// One message of the workflow's design chat.
#[utoipa::path(
    get, path = "/api/v1/workflows/{id}/chat/{messageId}", operation_id = "workflow_chat_get", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id"), ("messageId" = Uuid, Path, description = "Message id")),
    responses(
        (status = 200, description = "The message", body = DesignMessage),
        (status = 404, description = "No such workflow or message (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Path((id, message_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<DesignMessage>> {
    let wf = workflows::find(&state.db, caller.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    entries(&wf.chat_history.0)
        .iter()
        .filter_map(DesignMessage::read)
        .find(|m| m.id == message_id)
        .map(Json)
        .ok_or_else(|| ApiError::not_found("chat message"))
}

/// What applying a proposal comes to, decided under the workflow's lock.
enum Decision {
    /// The canvas the new version gets, and its activity entry.
    Apply(Value, Activity),
    /// Refused; `true` when the proposal's status changed (stale, invalid) and is stored.
    Refuse(ApiError, bool),
}

fn conflict(message: &str, details: Value) -> ApiError {
    ApiError::new(ErrorCode::Conflict, message).with_details(details)
}

/// The message with the proposal, locked with its workflow.
async fn proposal_of(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    caller: &Member,
    id: Uuid,
    message_id: Uuid,
) -> ApiResult<(chat::Locked, Vec<Value>, usize, DesignMessage)> {
    let locked = chat::lock(tx, caller.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let history = entries(&locked.chat_history.0);
    let (at, msg) = history
        .iter()
        .enumerate()
        .find_map(|(i, e)| {
            DesignMessage::read(e)
                .filter(|m| m.id == message_id)
                .map(|m| (i, m))
        })
        .ok_or_else(|| ApiError::not_found("chat message"))?;
    if msg.proposal.is_none() {
        return Err(conflict(
            "this message proposes no change",
            json!({ "status": null }),
        ));
    }
    Ok((locked, history, at, msg))
}

/// Apply a proposed change: a new workflow version (members who may edit
/// workflows). It applies to the version it was made against: if the
/// workflow changed since, it is marked `stale` and the answer is 409.
#[utoipa::path(
    post, path = "/api/v1/workflows/{id}/chat/{messageId}/apply", operation_id = "workflow_chat_apply", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id"), ("messageId" = Uuid, Path, description = "The assistant message with the proposal")),
    responses(
        (status = 200, description = "The version it made and the message, its proposal applied", body = AppliedProposal,
            headers(("ETag" = String, description = "The new version, e.g. \"4\""))),
        (status = 403, description = "Your role may not edit workflows (FORBIDDEN), or the change goes past the plan's agents per workflow (TIER_LIMIT)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow or message (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "The workflow changed since the proposal (CONFLICT; details.currentVersion, details.baseVersion), the proposal is no longer a draft (details.status), or it no longer validates (details.report)", body = ErrorEnvelope),
    )
)]
pub async fn apply(
    State(state): State<AppState>,
    caller: Allowed<can::EditWorkflows>,
    origin: Origin,
    Path((id, message_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let (locked, mut history, at, mut msg) = proposal_of(&mut tx, &caller, id, message_id).await?;
    let stream = ChatStream::new(state.db.clone(), state.publisher.clone(), id);
    let (canvas, entry) = match decide_apply(&mut tx, &caller, id, &locked, &mut msg).await? {
        Decision::Refuse(e, changed) => {
            if changed {
                history[at] = msg.to_value();
                chat::store(&mut tx, id, &Value::Array(history), 0).await?;
                tx.commit().await?;
                stream.message(&msg.to_value()).await;
            }
            return Err(e);
        }
        Decision::Apply(canvas, entry) => (canvas, entry),
    };
    history[at] = msg.to_value();
    // The proposal's canvas and the history that says so, in one new version.
    let change = Change {
        canvas: Some(canvas),
        chat_history: Some(Value::Array(history)),
        ..Change::default()
    };
    let wf = workflows::update(
        &mut tx,
        caller.workspace_id,
        caller.user_id,
        id,
        Some(locked.version),
        &change,
    )
    .await?
    .map_err(|_| conflict("the workflow changed meanwhile; try again", json!({})))?;
    let entry = entry.record(&mut *tx, &origin).await?;
    tx.commit().await?;
    stream.message(&msg.to_value()).await;
    shared::realtime::publish::workflow_updated(&state, &wf).await;
    activity::publish(&state, [entry]).await;
    let mut res = (
        StatusCode::OK,
        Json(AppliedProposal {
            workflow_id: wf.id,
            version: wf.version,
            message: msg,
        }),
    )
        .into_response();
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", wf.version)) {
        res.headers_mut().insert(header::ETAG, etag);
    }
    Ok(res)
}

fn as_change(m: &DesignMessage) -> GraphChange {
    let p = m.proposal.as_ref();
    GraphChange {
        summary: p.map(|p| p.summary.clone()).unwrap_or_default(),
        operations: p.map(|p| p.operations.clone()).unwrap_or_default(),
    }
}

/// Whether a draft can be applied now: the workflow still at its base
/// version, the result still valid and within the plan.
async fn decide_apply(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    caller: &Member,
    id: Uuid,
    locked: &chat::Locked,
    msg: &mut DesignMessage,
) -> ApiResult<Decision> {
    let change = as_change(msg);
    let message_id = msg.id;
    let Some(p) = msg.proposal.as_mut() else {
        return Ok(Decision::Refuse(
            conflict("this message proposes no change", json!({})),
            false,
        ));
    };
    if p.status != ProposalStatus::Draft {
        return Ok(Decision::Refuse(
            conflict(
                "this proposal is not a draft: only a draft can be applied",
                json!({ "status": p.status }),
            ),
            false,
        ));
    }
    if locked.version != p.base_version {
        p.status = ProposalStatus::Stale;
        return Ok(Decision::Refuse(
            conflict(
                "the workflow changed since this proposal was made; ask the assistant again",
                json!({ "currentVersion": locked.version, "baseVersion": p.base_version }),
            ),
            true,
        ));
    }
    let canvas = match graph_change::apply(&locked.canvas.0, &change) {
        Ok(c) => c,
        Err(why) => {
            p.status = ProposalStatus::Invalid;
            return Ok(Decision::Refuse(
                conflict(&why, json!({ "status": "invalid" })),
                true,
            ));
        }
    };
    let report = shared::validation::full_report(tx, caller.workspace_id, &canvas).await?;
    if !report.valid {
        p.status = ProposalStatus::Invalid;
        p.issues = report
            .issues
            .iter()
            .filter_map(|i| serde_json::to_value(i).ok())
            .collect();
        return Ok(Decision::Refuse(
            conflict(
                "the proposal no longer gives a valid workflow (an agent, secret or MCP server it uses changed)",
                json!({ "status": "invalid", "report": report }),
            ),
            true,
        ));
    }
    if let Some(max) = caller.tier.limits().agents_per_workflow {
        let agents = Graph::from_canvas(&canvas)
            .map(|g| g.agent_count())
            .unwrap_or(0);
        if agents > max as usize {
            return Ok(Decision::Refuse(
                ApiError::tier_limit(caller.tier, "agents per workflow", max),
                false,
            ));
        }
    }
    p.status = ProposalStatus::Applied;
    p.applied_version = Some(locked.version + 1);
    p.decided_by = Some(caller.user_id);
    p.decided_at = Some(Utc::now());
    let entry = Activity::new(caller.workspace_id, caller.user_id, Action::WorkflowUpdated)
        .on(id)
        .details(json!({
            "version": locked.version + 1, "status": locked.status,
            "fields": ["canvas"], "via": "design chat", "messageId": message_id,
        }));
    Ok(Decision::Apply(canvas, entry))
}

/// Reject a proposed change: the workflow stays as it was (members who may
/// edit workflows).
#[utoipa::path(
    post, path = "/api/v1/workflows/{id}/chat/{messageId}/reject", operation_id = "workflow_chat_reject", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id"), ("messageId" = Uuid, Path, description = "The assistant message with the proposal")),
    responses(
        (status = 200, description = "The message, its proposal rejected", body = DesignMessage),
        (status = 403, description = "Your role may not edit workflows (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow or message (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "The proposal was applied, or there is none (CONFLICT; details.status)", body = ErrorEnvelope),
    )
)]
pub async fn reject(
    State(state): State<AppState>,
    caller: Allowed<can::EditWorkflows>,
    Path((id, message_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<DesignMessage>> {
    let mut tx = state.db.begin().await?;
    let (_, mut history, at, mut msg) = proposal_of(&mut tx, &caller, id, message_id).await?;
    let Some(p) = msg.proposal.as_mut() else {
        return Err(conflict("this message proposes no change", json!({})));
    };
    match p.status {
        ProposalStatus::Applied => {
            return Err(conflict(
                "this proposal was applied: restore an earlier version to undo it",
                json!({ "status": p.status }),
            ))
        }
        ProposalStatus::Rejected => return Ok(Json(msg)),
        _ => {}
    }
    p.status = ProposalStatus::Rejected;
    p.decided_by = Some(caller.user_id);
    p.decided_at = Some(Utc::now());
    history[at] = msg.to_value();
    chat::store(&mut tx, id, &Value::Array(history), 0).await?;
    tx.commit().await?;
    ChatStream::new(state.db.clone(), state.publisher.clone(), id)
        .message(&msg.to_value())
        .await;
    Ok(Json(msg))
}
