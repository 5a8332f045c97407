//! `/api/v1/executions`: start, list, follow, cancel and retry runs.

use std::collections::BTreeMap;

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::{
    access::{can, Allowed, InWorkspace},
    activity::Origin,
    db::{
        execution_reads::{self as reads, Detail, Summary},
        executions,
    },
    error::ErrorEnvelope,
    extract::{offset_page, Json},
    protocol::{EndReason, ExecutionStatus, OutputRef},
    runs::{
        start::{StartRun, Started},
        trigger::{CallerTrigger, Trigger, TriggerType},
    },
    tier::{Priority, Tier},
    ApiError, ApiResult, AppState,
};

use crate::RunsState;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"workflowId": "01930000-0000-7000-8000-000000000201", "inputs": {"topic": "tide pools"}, "triggerType": "api", "triggerData": {"source": "nightly-report"}}))]
pub struct StartExecution {
    pub workflow_id: Uuid,
    /// The run's inputs (`{{inputs.…}}`); an object. An input written
    /// `{"$file": "<file id or name>"}` names a ready file of the workspace
    /// and becomes `{"fileId", "name", "contentType", "size"}` (400 naming
    /// `inputs.<key>` when there is no such file).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub inputs: Option<Value>,
    /// What started the run: `manual` (the default) or `api`. Webhook and
    /// schedule runs are started by the workflow's triggers.
    #[serde(default)]
    pub trigger_type: Option<CallerTrigger>,
    /// What the caller wants kept with the run about how it was started; an object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub trigger_data: Option<Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"inputs": {"topic": "tide pools"}}))]
pub struct ExecuteWorkflow {
    /// As for `POST /api/v1/executions`: an object; `{"$file": …}` inputs name files.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub inputs: Option<Value>,
    /// What started the run: `manual` (the default) or `api`. Webhook and
    /// schedule runs are started by the workflow's triggers.
    #[serde(default)]
    pub trigger_type: Option<CallerTrigger>,
    /// What the caller wants kept with the run about how it was started; an object.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub trigger_data: Option<Value>,
}

#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"fromFailed": true}))]
pub struct RetryExecution {
    /// Reuse the outputs of nodes that succeeded; run only the rest.
    #[serde(default)]
    pub from_failed: bool,
}

/// One run as shown on its own: its summary, with its inputs and output.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionView {
    #[serde(flatten)]
    pub summary: ExecutionSummary,
    /// Executions ahead in the same priority class, while queued.
    pub queue_position: Option<i64>,
    #[schema(value_type = Object)]
    pub inputs: Value,
    /// What its trigger handed over (`{}` when nothing).
    #[schema(value_type = Object)]
    pub trigger_data: Value,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    /// Set instead of `output` when the output was too large to keep inline:
    /// the artifact that holds it (see `/artifacts`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub output_ref: Option<OutputRef>,
}

impl ExecutionView {
    fn new(d: Detail, queue_position: Option<i64>) -> Self {
        Self {
            summary: ExecutionSummary::from(d.summary),
            queue_position,
            inputs: d.inputs.0,
            trigger_data: d.trigger_data.0,
            output: d.output.map(|o| o.0),
            output_ref: d.output_ref.map(|o| o.0),
        }
    }
}

fn runtime_ms(e: &Summary) -> Option<i64> {
    match (e.started_at, e.finished_at) {
        (Some(s), Some(f)) => Some((f - s).num_milliseconds()),
        _ => None,
    }
}

/// A run as listed: its state and timings (its inputs and output are on
/// `GET /executions/{id}`).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionSummary {
    pub id: Uuid,
    pub workflow_id: Uuid,
    pub workflow_version: i32,
    pub status: ExecutionStatus,
    pub tier: Tier,
    pub priority: Priority,
    pub error: Option<String>,
    pub failed_node: Option<String>,
    /// Why it ended, beyond its status: `budget_exceeded` for a run stopped
    /// by its token budget or its workspace's monthly budget.
    pub reason: Option<EndReason>,
    /// The LLM tokens its agent calls used so far, and what they cost in US
    /// dollars (the API's price table).
    pub llm_tokens: i64,
    pub cost_usd: f64,
    pub retry_of: Option<Uuid>,
    /// Who started it (`null` for a trigger's run, or once their account is gone).
    pub started_by: Option<Uuid>,
    /// What started it (a retry keeps its run's).
    pub trigger_type: TriggerType,
    /// The highest event sequence number so far (for `GET /logs?after=`).
    pub last_seq: i64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// Milliseconds between start and finish.
    pub runtime_ms: Option<i64>,
}

impl From<Summary> for ExecutionSummary {
    fn from(e: Summary) -> Self {
        Self {
            runtime_ms: runtime_ms(&e),
            id: e.id,
            workflow_id: e.workflow_id,
            workflow_version: e.workflow_version,
            status: e.status,
            tier: e.tier,
            priority: e.priority,
            error: e.error,
            failed_node: e.failed_node,
            reason: e.end_reason,
            llm_tokens: e.llm_tokens,
            cost_usd: shared::analytics::usd(e.cost_micros),
            retry_of: e.retry_of,
            started_by: e.started_by,
            trigger_type: e.trigger_type,
            last_seq: e.last_seq,
            created_at: e.created_at,
            started_at: e.started_at,
            finished_at: e.finished_at,
        }
    }
}

/// The view of one of the caller's runs (with its queue position while queued).
async fn view(state: &AppState, caller: Uuid, id: Uuid) -> ApiResult<ExecutionView> {
    let d = reads::detail(&state.db, caller, id)
        .await?
        .ok_or_else(|| ApiError::not_found("execution"))?;
    shown(state, d).await
}

/// A run's view, with its queue position while queued.
async fn shown(state: &AppState, d: Detail) -> ApiResult<ExecutionView> {
    let position = if d.summary.status == ExecutionStatus::Queued {
        Some(reads::queue_position(&state.db, &d.summary).await?)
    } else {
        None
    };
    Ok(ExecutionView::new(d, position))
}

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => {
            // Exactly the documented pattern `^[!-~]{1,200}$`.
            let key = v.to_str().unwrap_or_default();
            if key.is_empty() || key.len() > 200 || !key.bytes().all(|b| b.is_ascii_graphic()) {
                Err(ApiError::field(
                    "Idempotency-Key",
                    "must be 1–200 visible characters",
                ))
            } else {
                Ok(Some(key.to_owned()))
            }
        }
    }
}

/// The answer to a start: 202 with the new run, or 200 with the run a
/// repeated `Idempotency-Key` started.
async fn started(s: &RunsState, st: Started) -> ApiResult<(StatusCode, Json<ExecutionView>)> {
    let status = if st.created {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    // The row just stored answers; no second read of it.
    Ok((
        status,
        Json(shown(&s.app, Detail::from(*st.execution)).await?),
    ))
}

/// Run a workflow: 202 with the queued execution (or, for a repeated
/// `Idempotency-Key`, 200 with the execution it created).
#[utoipa::path(
    post, path = "/api/v1/executions", operation_id = "executions_start", tag = "executions", security(("bearer" = [])),
    params(InWorkspace, ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$", description = "1–200 visible ASCII characters; repeating it returns the same execution")),
    request_body = StartExecution,
    responses(
        (status = 202, description = "Queued", body = ExecutionView),
        (status = 200, description = "Already started with this Idempotency-Key", body = ExecutionView),
        (status = 400, description = "Invalid body or graph (VALIDATION_ERROR, details.report)", body = ErrorEnvelope),
        (status = 403, description = "FREE and DESIGNER cannot run (TIER_LIMIT); the workspace's monthly budget is spent (BUDGET_EXCEEDED)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow of yours", body = ErrorEnvelope),
    )
)]
pub async fn create(
    State(s): State<RunsState>,
    caller: Allowed<can::ExecuteWorkflows>,
    origin: Origin,
    headers: HeaderMap,
    Json(body): Json<StartExecution>,
) -> ApiResult<(StatusCode, Json<ExecutionView>)> {
    let st = s
        .runs
        .start(StartRun {
            workspace_id: caller.workspace_id,
            started_by: Some(caller.user_id),
            workflow_id: body.workflow_id,
            inputs: body.inputs,
            idempotency_key: idempotency_key(&headers)?,
            trigger: caller_trigger(body.trigger_type, body.trigger_data),
            origin,
            id: None,
        })
        .await?;
    started(&s, st).await
}

/// Run this workflow (same as `POST /api/v1/executions`).
#[utoipa::path(
    post, path = "/api/v1/workflows/{id}/execute", operation_id = "executions_execute_workflow", tag = "executions", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id"), ("Idempotency-Key" = Option<String>, Header, pattern = "^[!-~]{1,200}$", description = "1–200 visible ASCII characters; repeating it returns the same execution")),
    request_body = ExecuteWorkflow,
    responses(
        (status = 202, description = "Queued", body = ExecutionView),
        (status = 200, description = "Already started with this Idempotency-Key", body = ExecutionView),
        (status = 403, description = "FREE and DESIGNER cannot run (TIER_LIMIT); the workspace's monthly budget is spent (BUDGET_EXCEEDED)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow of yours", body = ErrorEnvelope),
    )
)]
pub async fn execute_workflow(
    State(s): State<RunsState>,
    caller: Allowed<can::ExecuteWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<ExecuteWorkflow>,
) -> ApiResult<(StatusCode, Json<ExecutionView>)> {
    let st = s
        .runs
        .start(StartRun {
            workspace_id: caller.workspace_id,
            started_by: Some(caller.user_id),
            workflow_id: id,
            inputs: body.inputs,
            idempotency_key: idempotency_key(&headers)?,
            trigger: caller_trigger(body.trigger_type, body.trigger_data),
            origin,
            id: None,
        })
        .await?;
    started(&s, st).await
}

/// The trigger a caller named: `manual` with `{}` unless said otherwise.
fn caller_trigger(kind: Option<CallerTrigger>, data: Option<Value>) -> Trigger {
    let default = Trigger::default();
    Trigger {
        kind: kind.map_or(default.kind, TriggerType::from),
        data: data.unwrap_or(default.data),
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    #[param(value_type = Option<ExecutionStatus>)]
    pub status: Option<String>,
    pub workflow_id: Option<Uuid>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct ExecutionPage {
    pub items: Vec<ExecutionSummary>,
    pub total: i64,
}

/// Your executions, newest first.
#[utoipa::path(
    get, path = "/api/v1/executions", operation_id = "executions_list", tag = "executions", security(("bearer" = [])),
    params(InWorkspace, ListParams),
    responses((status = 200, description = "One page", body = ExecutionPage), (status = 400, description = "Invalid filter", body = ErrorEnvelope))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Allowed<can::ViewRuns>,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<ExecutionPage>> {
    let (limit, offset) = offset_page(p.limit, p.offset, 20)?;
    let status = p
        .status
        .as_deref()
        .map(str::parse::<ExecutionStatus>)
        .transpose()
        .map_err(|_| {
            ApiError::field(
                "status",
                "must be queued, dispatching, running, completed, failed, cancelled or timed_out",
            )
        })?;
    let (rows, total) = reads::list(
        &state.db,
        caller.workspace_id,
        &reads::ListQuery {
            status,
            workflow_id: p.workflow_id,
            limit,
            offset,
        },
    )
    .await?;
    let items = rows.into_iter().map(ExecutionSummary::from).collect();
    Ok(Json(ExecutionPage { items, total }))
}

/// The status of one of the caller's runs (reads nothing else of it).
async fn own_status(state: &AppState, caller: Uuid, id: Uuid) -> ApiResult<ExecutionStatus> {
    reads::status_of(&state.db, caller, id)
        .await?
        .ok_or_else(|| ApiError::not_found("execution"))
}

/// One execution: status, timings, queue position while queued.
#[utoipa::path(
    get, path = "/api/v1/executions/{id}", operation_id = "executions_get", tag = "executions", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Execution id")),
    responses((status = 200, description = "The execution", body = ExecutionView), (status = 404, description = "No such execution of yours", body = ErrorEnvelope))
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Allowed<can::ViewRuns>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<ExecutionView>> {
    Ok(Json(view(&state, caller.workspace_id, id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct LogParams {
    /// Only events after this sequence number (what the client has already seen).
    pub after: Option<i64>,
    /// 1–1000, default 200.
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<i64>,
}

/// The most a page of events or nodes holds (Lambda answers at most 6 MB):
/// a page ends early rather than grow past it, always with at least one item.
pub const MAX_PAGE_BYTES: usize = 4 * 1024 * 1024;

/// The shape of a page of events (the handler writes it from the stored
/// JSON text without parsing it).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogPage {
    /// Events in order; each has `seq`, `type`, `ts` and its fields.
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<Value>,
    /// Pass as `after` for the next page.
    pub next_after: i64,
    /// Whether the run has finished (no more events will come).
    pub finished: bool,
}

/// The run's events in order, complete: page with `after`. A page holds up
/// to `limit` events and at most 4 MiB.
#[utoipa::path(
    get, path = "/api/v1/executions/{id}/logs", operation_id = "executions_logs", tag = "executions", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Execution id"), LogParams),
    responses((status = 200, description = "Events after `after`", body = LogPage), (status = 404, description = "No such execution of yours", body = ErrorEnvelope))
)]
pub async fn logs(
    State(state): State<AppState>,
    caller: Allowed<can::ViewRuns>,
    Path(id): Path<Uuid>,
    Query(p): Query<LogParams>,
) -> ApiResult<Response> {
    let after = p.after.unwrap_or(0).max(0);
    let limit = p.limit.unwrap_or(200);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1–1000"));
    }
    // The status first: once it is terminal, every event is stored.
    let status = own_status(&state, caller.workspace_id, id).await?;
    let rows = reads::event_texts_after(&state.db, id, after, limit).await?;
    // A LogPage, written around the stored texts (each a JSON object).
    let mut body = String::with_capacity(rows.iter().map(|r| r.json.len() + 1).sum::<usize>() + 64);
    body.push_str("{\"events\":[");
    let (mut next_after, mut count) = (after, 0);
    for r in &rows {
        if body.len() + r.json.len() > MAX_PAGE_BYTES && count > 0 {
            break;
        }
        if count > 0 {
            body.push(',');
        }
        body.push_str(&r.json);
        next_after = r.seq;
        count += 1;
    }
    body.push_str(&format!(
        "],\"nextAfter\":{next_after},\"finished\":{}}}",
        status.is_terminal()
    ));
    Ok(([(header::CONTENT_TYPE, "application/json")], body).into_response())
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeRun {
    pub node: String,
    /// running, succeeded, failed, skipped or cancelled.
    pub status: String,
    pub attempts: u32,
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    #[schema(value_type = Option<Object>)]
    pub error: Option<Value>,
    pub reused: bool,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct NodeParams {
    /// Only nodes that first reported after this sequence number (`nextAfter`
    /// of the previous page).
    pub after: Option<i64>,
    /// 1–500, default 100.
    #[param(minimum = 1, maximum = 500)]
    pub limit: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodePage {
    /// Nodes in the order they first reported.
    pub items: Vec<NodeRun>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next_after: Option<i64>,
}

/// Per node: status, attempts, output or error (from the run's events), a
/// page at a time (up to `limit` nodes and at most 4 MiB).
#[utoipa::path(
    get, path = "/api/v1/executions/{id}/nodes", operation_id = "executions_nodes", tag = "executions", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Execution id"), NodeParams),
    responses(
        (status = 200, description = "Nodes in the order they first reported", body = NodePage),
        (status = 400, description = "Invalid limit (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 404, description = "No such execution of yours", body = ErrorEnvelope),
    )
)]
pub async fn nodes(
    State(state): State<AppState>,
    caller: Allowed<can::ViewRuns>,
    Path(id): Path<Uuid>,
    Query(p): Query<NodeParams>,
) -> ApiResult<Json<NodePage>> {
    let after = p.after.unwrap_or(0).max(0);
    let limit = p.limit.unwrap_or(100);
    if !(1..=500).contains(&limit) {
        return Err(ApiError::field("limit", "must be 1–500"));
    }
    own_status(&state, caller.workspace_id, id).await?;
    let rows = reads::node_events_page(&state.db, id, after, limit).await?;
    let mut firsts: BTreeMap<String, i64> = BTreeMap::new();
    for r in &rows {
        if let Some(node) = &r.event.node {
            firsts.entry(node.clone()).or_insert(r.first_seq);
        }
    }
    let nodes_found = firsts.len();
    let events: Vec<executions::StoredEvent> = rows.into_iter().map(|r| r.event).collect();
    let mut items = Vec::new();
    let (mut bytes, mut last_first) = (0, None);
    for run in node_runs(&events) {
        bytes += serde_json::to_vec(&run).map_or(0, |v| v.len());
        if bytes > MAX_PAGE_BYTES && !items.is_empty() {
            break;
        }
        last_first = firsts.get(&run.node).copied();
        items.push(run);
    }
    // More may follow when the page is full, or was cut short by size.
    let full = nodes_found as i64 == limit || items.len() < nodes_found;
    Ok(Json(NodePage {
        next_after: last_first.filter(|_| full),
        items,
    }))
}

pub(crate) fn node_runs(events: &[executions::StoredEvent]) -> Vec<NodeRun> {
    let mut order: Vec<String> = Vec::new();
    let mut runs: BTreeMap<String, NodeRun> = BTreeMap::new();
    for e in events {
        let Some(node) = e.node.clone() else { continue };
        let run = runs.entry(node.clone()).or_insert_with(|| {
            order.push(node.clone());
            NodeRun {
                node: node.clone(),
                status: "pending".into(),
                attempts: 0,
                output: None,
                error: None,
                reused: false,
                started_at: None,
                finished_at: None,
            }
        });
        let p = &e.payload.0;
        match e.kind.as_str() {
            "node_started" => {
                run.status = "running".into();
                run.attempts = run.attempts.max(p["attempt"].as_u64().unwrap_or(1) as u32);
                run.started_at.get_or_insert(e.ts);
            }
            "node_succeeded" => {
                run.status = "succeeded".into();
                run.output = Some(p["output"].clone());
                run.reused = p["reused"].as_bool().unwrap_or(false);
                run.finished_at = Some(e.ts);
            }
            "node_failed" => {
                run.error = Some(p["error"].clone());
                if p["willRetry"] != true {
                    run.status = "failed".into();
                    run.finished_at = Some(e.ts);
                }
            }
            "node_skipped" => run.status = "skipped".into(),
            "node_cancelled" => {
                run.status = "cancelled".into();
                run.finished_at = Some(e.ts);
            }
            _ => {}
        }
    }
    order.into_iter().filter_map(|n| runs.remove(&n)).collect()
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactView {
    pub id: Uuid,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    /// Valid for 15 minutes.
    pub download_url: String,
    pub created_at: DateTime<Utc>,
}

/// The run's artifacts with download URLs.
#[utoipa::path(
    get, path = "/api/v1/executions/{id}/artifacts", operation_id = "executions_artifacts", tag = "executions", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Execution id")),
    responses((status = 200, description = "Artifacts", body = Vec<ArtifactView>), (status = 404, description = "No such execution of yours", body = ErrorEnvelope))
)]
pub async fn artifacts(
    State(s): State<RunsState>,
    caller: Allowed<can::ViewRuns>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<ArtifactView>>> {
    own_status(&s.app, caller.workspace_id, id).await?;
    let list = executions::artifacts(&s.app.db, id).await?;
    let mut out = Vec::with_capacity(list.len());
    for a in list {
        let download_url = s
            .runs
            .blobs
            .download_url(&a.blob_key, std::time::Duration::from_secs(900))
            .await
            .map_err(ApiError::unavailable)?;
        out.push(ArtifactView {
            download_url,
            id: a.id,
            name: a.name,
            content_type: a.content_type,
            size: a.size,
            created_at: a.created_at,
        });
    }
    Ok(Json(out))
}

/// Cancel: a queued run ends at once; a running one has its job stopped. Idempotent.
#[utoipa::path(
    post, path = "/api/v1/executions/{id}/cancel", operation_id = "executions_cancel", tag = "executions", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Execution id")),
    responses((status = 200, description = "The execution, now cancelled (or already finished)", body = ExecutionView), (status = 404, description = "No such execution of yours", body = ErrorEnvelope))
)]
pub async fn cancel(
    State(s): State<RunsState>,
    caller: Allowed<can::ExecuteWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<ExecutionView>> {
    s.runs
        .cancel(caller.workspace_id, caller.user_id, &origin, id)
        .await?;
    Ok(Json(view(&s.app, caller.workspace_id, id).await?))
}

/// Run again as a new execution linked to this one; `fromFailed` reuses the
/// outputs of nodes that succeeded.
#[utoipa::path(
    post, path = "/api/v1/executions/{id}/retry", operation_id = "executions_retry", tag = "executions", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Execution id")),
    request_body = RetryExecution,
    responses(
        (status = 202, description = "The new execution, queued", body = ExecutionView),
        (status = 404, description = "No such execution of yours", body = ErrorEnvelope),
        (status = 409, description = "The run has not finished yet; or fromFailed, and its events were pruned after its plan's retention (CONFLICT, details.reason = events_pruned)", body = ErrorEnvelope),
    )
)]
pub async fn retry(
    State(s): State<RunsState>,
    caller: Allowed<can::ExecuteWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
    Json(body): Json<RetryExecution>,
) -> ApiResult<(StatusCode, Json<ExecutionView>)> {
    let st = s
        .runs
        .retry(
            caller.workspace_id,
            caller.user_id,
            origin,
            id,
            body.from_failed,
        )
        .await?;
    started(&s, st).await
}
