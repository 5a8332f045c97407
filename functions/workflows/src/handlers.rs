//! The workflow route handlers.

use axum::{
    extract::{Path, Query, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
};
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use shared::{
    access::{can, Allowed, InWorkspace, Member},
    activity::{self, Action, Activity, Origin},
    db::{
        usage,
        workflows::{self, Change, Content, ListQuery, Listed, UpdateError, Workflow},
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    tier::Tier,
    workflow::{Graph, ValidationReport},
    ApiError, ApiResult, AppState,
};
use sqlx::{Postgres, Transaction};
use uuid::Uuid;

use crate::dto::{
    empty_canvas, parse_change, parse_name, parse_status, CreateWorkflow, ListParams,
    ReplaceWorkflow, StatusChange, UpdateWorkflow, VersionSummary, VersionView, WorkflowPage,
    WorkflowSummary, WorkflowView,
};

/// The tier's per-workflow limits on agents and chat messages.
pub(crate) fn check_limits(
    tier: Tier,
    graph: Option<&Graph>,
    chat: Option<&Value>,
) -> ApiResult<()> {
    let limits = tier.limits();
    if let (Some(max), Some(g)) = (limits.agents_per_workflow, graph) {
        if g.agent_count() > max as usize {
            return Err(ApiError::tier_limit(tier, "agents per workflow", max));
        }
    }
    if let (Some(max), Some(Value::Array(messages))) = (limits.messages_per_workflow, chat) {
        // What users sent counts; the assistant's answers, and messages whose answer failed, do not.
        let sent = messages
            .iter()
            .filter(|m| m["role"] != "assistant" && m["failed"] != true)
            .count();
        if sent > max as usize {
            return Err(ApiError::tier_limit(
                tier,
                "chat messages per workflow",
                max,
            ));
        }
    }
    Ok(())
}

/// Takes one of this month's workflow creations, or answers 403 TIER_LIMIT.
pub(crate) async fn take_creation(
    tx: &mut Transaction<'_, Postgres>,
    tier: Tier,
    workspace_id: Uuid,
) -> ApiResult<()> {
    let max = tier.limits().workflows_per_month;
    if usage::take_monthly(&mut **tx, workspace_id, usage::WORKFLOWS_CREATED, max).await? {
        Ok(())
    } else {
        Err(ApiError::tier_limit(
            tier,
            "new workflows a month",
            max.unwrap_or(0),
        ))
    }
}

/// The graph checks plus the agent check (shared with the executions function).
pub(crate) async fn full_report(
    db: &mut sqlx::PgConnection,
    workspace_id: Uuid,
    canvas: &Value,
) -> ApiResult<ValidationReport> {
    Ok(shared::validation::full_report(db, workspace_id, canvas).await?)
}

/// A published workflow must stay runnable.
async fn ensure_publishable(
    db: &mut sqlx::PgConnection,
    workspace_id: Uuid,
    status: &str,
    canvas: &Value,
) -> ApiResult<()> {
    if status != "published" {
        return Ok(());
    }
    let report = full_report(db, workspace_id, canvas).await?;
    if report.valid {
        Ok(())
    } else {
        Err(ApiError::new(
            ErrorCode::ValidationError,
            "a published workflow needs a valid graph",
        )
        .with_details(json!({ "reason": "invalid_graph", "report": report })))
    }
}

/// A version in `If-Match`, exactly as its documented pattern
/// `^(W/)?"?[0-9]{1,9}"?$` describes: quoted or not, weak or not.
fn parse_if_match(raw: &str) -> Option<i32> {
    let v = raw.strip_prefix("W/").unwrap_or(raw);
    let v = v.strip_prefix('"').unwrap_or(v);
    let v = v.strip_suffix('"').unwrap_or(v);
    if v.is_empty() || v.len() > 9 || !v.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    v.parse().ok()
}

/// The version a change is based on: `If-Match` or `baseVersion`; required.
fn base_version(headers: &HeaderMap, from_body: Option<i32>) -> ApiResult<i32> {
    let from_header = match headers.get(header::IF_MATCH) {
        None => None,
        Some(v) => Some(v.to_str().ok().and_then(parse_if_match).ok_or_else(|| {
            ApiError::new(
                ErrorCode::ValidationError,
                "If-Match must be a workflow version such as \"3\"",
            )
        })?),
    };
    match (from_header, from_body) {
        // At most one of them can be the current version: the change is
        // based on a version that is not current, whichever is meant.
        (Some(h), Some(b)) if h != b => Err(ApiError::new(
            ErrorCode::Conflict,
            "If-Match and baseVersion name different versions; send one of them",
        )
        .with_details(json!({ "ifMatch": h, "baseVersion": b }))),
        (Some(v), _) | (None, Some(v)) => Ok(v),
        (None, None) => Err(ApiError::new(
            ErrorCode::PreconditionRequired,
            "say which version this change is based on: If-Match: \"<version>\" or baseVersion",
        )),
    }
}

fn updated(result: Result<Workflow, UpdateError>) -> ApiResult<Workflow> {
    result.map_err(|e| match e {
        UpdateError::NotFound => ApiError::not_found("workflow"),
        UpdateError::Stale { current } => ApiError::new(
            ErrorCode::Conflict,
            "the workflow changed since that version; reload it and apply your change again",
        )
        .with_details(json!({ "currentVersion": current })),
    })
}

/// The workflow with its version as `ETag`.
pub(crate) fn with_etag(status: StatusCode, wf: Workflow) -> Response {
    let etag = HeaderValue::from_str(&format!("\"{}\"", wf.version)).ok();
    let mut res = (status, Json(WorkflowView::from(wf))).into_response();
    if let Some(etag) = etag {
        res.headers_mut().insert(header::ETAG, etag);
    }
    res
}

/// A page position: `updated_at` in microseconds (big-endian i64) and the
/// id, 24 bytes in unpadded base64url: always 32 characters of
/// [`CURSOR_PATTERN`], and every such string is a position (out-of-range
/// times are clamped), so the document's pattern is the whole rule.
#[cfg_attr(not(test), allow(dead_code))]
const CURSOR_PATTERN: &str = "^[A-Za-z0-9_-]{32}$";

fn encode_cursor(w: &Listed) -> String {
    let mut bytes = [0u8; 24];
    bytes[..8].copy_from_slice(&w.updated_at.timestamp_micros().to_be_bytes());
    bytes[8..].copy_from_slice(w.id.as_bytes());
    URL_SAFE_NO_PAD.encode(bytes)
}

fn decode_cursor(raw: &str) -> ApiResult<(DateTime<Utc>, Uuid)> {
    let bytes: [u8; 24] = (raw.len() == 32)
        .then(|| URL_SAFE_NO_PAD.decode(raw).ok())
        .flatten()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::ValidationError,
                "cursor is invalid; use nextCursor from the previous page",
            )
        })?;
    let mut micros = [0u8; 8];
    micros.copy_from_slice(&bytes[..8]);
    // PostgreSQL's timestamps start at 4714-11-24 BC; chrono's end first.
    const PG_MIN_MICROS: i64 = -210_866_803_200_000_000;
    let micros = i64::from_be_bytes(micros).max(PG_MIN_MICROS);
    let at = DateTime::from_timestamp_micros(micros).unwrap_or(DateTime::<Utc>::MAX_UTC);
    let mut id = [0u8; 16];
    id.copy_from_slice(&bytes[8..]);
    Ok((at, Uuid::from_bytes(id)))
}

#[cfg(test)]
mod cursor_tests {
    use super::*;

    #[test]
    fn the_document_states_the_pattern() {
        use utoipa::IntoParams;
        let params =
            serde_json::to_value(crate::dto::ListParams::into_params(|| None)).unwrap_or_default();
        let cursor = params
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "cursor"))
            .cloned()
            .unwrap_or_default();
        assert_eq!(cursor["schema"]["pattern"], CURSOR_PATTERN, "{cursor}");
    }

    #[test]
    fn every_string_of_the_pattern_is_a_position() {
        for raw in [
            "A".repeat(32),
            "_".repeat(32),
            "-".repeat(32),
            "z9".repeat(16),
        ] {
            assert!(decode_cursor(&raw).is_ok(), "{raw}");
        }
        for raw in [
            "",
            "A",
            &"A".repeat(31),
            &"A".repeat(33),
            &format!("{}=", "A".repeat(31)),
        ] {
            assert!(decode_cursor(raw).is_err(), "{raw}");
        }
    }
}

/// Create a workflow (version 1).
#[utoipa::path(
    operation_id = "workflows_create",
    post, path = "/api/v1/workflows", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace),
    request_body = CreateWorkflow,
    responses(
        (status = 201, description = "Created; ETag is the version", body = WorkflowView),
        (status = 400, description = "Invalid fields (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
        (status = 403, description = "Over a tier limit (TIER_LIMIT)", body = ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Allowed<can::CreateWorkflows>,
    origin: Origin,
    Json(body): Json<CreateWorkflow>,
) -> ApiResult<Response> {
    let name = parse_name(&body.name).map_err(|m| ApiError::field("name", m))?;
    let (change, graph) = parse_change(
        None,
        body.description,
        body.tags,
        body.canvas,
        body.chat_history,
        body.settings,
    )?;
    let tier = caller.tier;
    check_limits(tier, graph.as_ref(), change.chat_history.as_ref())?;
    let content = Content {
        name,
        description: change.description.unwrap_or_default(),
        status: "draft".into(),
        tags: change.tags.unwrap_or_default(),
        canvas: change.canvas.unwrap_or_else(empty_canvas),
        chat_history: change.chat_history.unwrap_or_else(|| json!([])),
        settings: change.settings.unwrap_or_else(|| json!({})),
    };
    let mut tx = state.db.begin().await?;
    take_creation(&mut tx, tier, caller.workspace_id).await?;
    let wf = workflows::insert(
        &mut tx,
        shared::ids::new_id(),
        caller.workspace_id,
        caller.user_id,
        &content,
    )
    .await?;
    let entry = Activity::new(caller.workspace_id, caller.user_id, Action::WorkflowCreated)
        .on(wf.id)
        .details(json!({ "name": wf.name, "version": wf.version }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(with_etag(StatusCode::CREATED, wf))
}

/// List the caller's workflows, most recently updated first.
#[utoipa::path(
    operation_id = "workflows_list",
    get, path = "/api/v1/workflows", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ListParams),
    responses(
        (status = 200, description = "One page", body = WorkflowPage),
        (status = 400, description = "Invalid filter or cursor (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "Not signed in", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<WorkflowPage>> {
    let limit = p.limit.unwrap_or(20);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::new(
            ErrorCode::ValidationError,
            "limit must be between 1 and 100",
        ));
    }
    let query = ListQuery {
        status: p.status.as_deref().map(parse_status).transpose()?,
        tags: p
            .tags
            .map(|t| {
                t.split(',')
                    .map(|s| s.trim().to_lowercase())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default(),
        search: p.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()),
        after: p.cursor.as_deref().map(decode_cursor).transpose()?,
        limit: limit + 1,
    };
    let (mut rows, total) = workflows::list(&state.db, caller.workspace_id, &query).await?;
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = if more {
        rows.last().map(encode_cursor)
    } else {
        None
    };
    Ok(Json(WorkflowPage {
        items: rows.into_iter().map(WorkflowSummary::from).collect(),
        next_cursor,
        total,
    }))
}

/// One workflow, with its version as `ETag`.
#[utoipa::path(
    operation_id = "workflows_get",
    get, path = "/api/v1/workflows/{id}", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "The workflow", body = WorkflowView),
        (status = 404, description = "No such workflow of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let wf = workflows::find(&state.db, caller.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    Ok(with_etag(StatusCode::OK, wf))
}

/// Change a workflow: creates a new immutable version.
///
/// Requires the version the change is based on (`If-Match` or `baseVersion`);
/// a stale one gets 409 with the current version.
#[utoipa::path(
    operation_id = "workflows_update",
    patch, path = "/api/v1/workflows/{id}", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id"), ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]{1,9}"?$"#, description = "The base version, e.g. \"3\"")),
    request_body = UpdateWorkflow,
    responses(
        (status = 200, description = "The new version", body = WorkflowView),
        (status = 400, description = "Invalid fields (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Over a tier limit (TIER_LIMIT)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow of yours", body = ErrorEnvelope),
        (status = 409, description = "Stale base version (CONFLICT; details.currentVersion), or If-Match and baseVersion name different versions", body = ErrorEnvelope),
        (status = 428, description = "No base version given (PRECONDITION_REQUIRED)", body = ErrorEnvelope),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Allowed<can::EditWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<UpdateWorkflow>,
) -> ApiResult<Response> {
    let base = base_version(&headers, body.base_version)?;
    let (change, graph) = parse_change(
        body.name,
        body.description,
        body.tags,
        body.canvas,
        body.chat_history,
        body.settings,
    )?;
    change_content(&state, &caller, &origin, id, base, change, graph).await
}

/// Replace a workflow's content as a whole (`PUT`), as a new version: the
/// body is a complete workflow, what it leaves out takes its default; the
/// same preconditions as `PATCH` (a base version is required).
#[utoipa::path(
    operation_id = "workflows_replace",
    put, path = "/api/v1/workflows/{id}", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id"), ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]{1,9}"?$"#, description = "The base version, e.g. \"3\"")),
    request_body = ReplaceWorkflow,
    responses(
        (status = 200, description = "The new version", body = WorkflowView),
        (status = 400, description = "Invalid fields (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Over a tier limit (TIER_LIMIT)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow of yours", body = ErrorEnvelope),
        (status = 409, description = "Stale base version (CONFLICT; details.currentVersion), or If-Match and baseVersion name different versions", body = ErrorEnvelope),
        (status = 428, description = "No base version given (PRECONDITION_REQUIRED)", body = ErrorEnvelope),
    )
)]
pub async fn replace(
    State(state): State<AppState>,
    caller: Allowed<can::EditWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<ReplaceWorkflow>,
) -> ApiResult<Response> {
    let base = base_version(&headers, body.base_version)?;
    let (change, graph) = parse_change(
        Some(body.name),
        Some(body.description.unwrap_or_default()),
        Some(body.tags.unwrap_or_default()),
        Some(body.canvas.unwrap_or_else(empty_canvas)),
        // The design chat is the workflow's log, not its content: left out, it stays.
        body.chat_history,
        Some(body.settings.unwrap_or_else(|| json!({}))),
    )?;
    change_content(&state, &caller, &origin, id, base, change, graph).await
}

/// A change of content (`PATCH` or `PUT`): within the tier's limits, then applied.
async fn change_content(
    state: &AppState,
    m: &Member,
    origin: &Origin,
    id: Uuid,
    base: i32,
    change: Change,
    graph: Option<Graph>,
) -> ApiResult<Response> {
    check_limits(m.tier, graph.as_ref(), change.chat_history.as_ref())?;
    apply(state, m, origin, id, Some(base), change).await
}

/// Applies a change in one transaction, keeping published workflows valid.
async fn apply(
    state: &AppState,
    m: &Member,
    origin: &Origin,
    id: Uuid,
    base: Option<i32>,
    change: Change,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    let current = workflows::find(&mut *tx, m.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    let status = change.status.as_deref().unwrap_or(&current.status);
    ensure_publishable(
        &mut tx,
        m.workspace_id,
        status,
        change.canvas.as_ref().unwrap_or(&current.canvas.0),
    )
    .await?;
    let wf =
        updated(workflows::update(&mut tx, m.workspace_id, m.user_id, id, base, &change).await?)?;
    let entry = Activity::new(m.workspace_id, m.user_id, Action::WorkflowUpdated)
        .on(wf.id)
        .details(json!({
            "name": wf.name, "version": wf.version, "status": wf.status,
            "fields": change.fields(),
        }))
        .record(&mut *tx, origin)
        .await?;
    tx.commit().await?;
    shared::realtime::publish::workflow_updated(state, &wf).await;
    activity::publish(state, [entry]).await;
    Ok(with_etag(StatusCode::OK, wf))
}

/// Delete a workflow (restorable for 30 days).
#[utoipa::path(
    operation_id = "workflows_delete",
    delete, path = "/api/v1/workflows/{id}", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 404, description = "No such workflow of yours", body = ErrorEnvelope),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Allowed<can::DeleteWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin().await?;
    if !workflows::soft_delete(&mut *tx, caller.workspace_id, id).await? {
        return Err(ApiError::not_found("workflow"));
    }
    let entry = Activity::new(caller.workspace_id, caller.user_id, Action::WorkflowDeleted)
        .on(id)
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Undo a delete made in the last 30 days.
#[utoipa::path(
    operation_id = "workflows_restore",
    post, path = "/api/v1/workflows/{id}/restore", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Restored, or not deleted in the first place (then unchanged)", body = WorkflowView),
        (status = 404, description = "No workflow of yours, or deleted more than 30 days ago", body = ErrorEnvelope),
    )
)]
pub async fn restore(
    State(state): State<AppState>,
    caller: Allowed<can::DeleteWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let mut tx = state.db.begin().await?;
    if let Some(wf) = workflows::undelete(&mut *tx, caller.workspace_id, id).await? {
        let entry = Activity::new(
            caller.workspace_id,
            caller.user_id,
            Action::WorkflowRestored,
        )
        .on(wf.id)
        .details(json!({ "name": wf.name, "version": wf.version }))
        .record(&mut *tx, &origin)
        .await?;
        tx.commit().await?;
        shared::realtime::publish::workflow_updated(&state, &wf).await;
        activity::publish(&state, [entry]).await;
        return Ok(with_etag(StatusCode::OK, wf));
    }
    drop(tx);
    // Not deleted (a retried restore, say): nothing to do, answer it as it is.
    let wf = workflows::find(&state.db, caller.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    Ok(with_etag(StatusCode::OK, wf))
}

/// The versions of a workflow, newest first.
#[utoipa::path(
    operation_id = "workflows_versions",
    get, path = "/api/v1/workflows/{id}/versions", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Versions, newest first (at most 500)", body = Vec<VersionSummary>),
        (status = 404, description = "No such workflow of yours", body = ErrorEnvelope),
    )
)]
pub async fn versions(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<Vec<VersionSummary>>> {
    let list = workflows::versions(&state.db, caller.workspace_id, id, 500).await?;
    if list.is_empty() {
        return Err(ApiError::not_found("workflow"));
    }
    Ok(Json(list.into_iter().map(VersionSummary::from).collect()))
}

/// One version, as it was saved.
#[utoipa::path(
    operation_id = "workflows_version",
    get, path = "/api/v1/workflows/{id}/versions/{version}", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id"), ("version" = i32, Path, description = "Version number")),
    responses(
        (status = 200, description = "The snapshot", body = VersionView),
        (status = 404, description = "No such workflow or version", body = ErrorEnvelope),
    )
)]
pub async fn version(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Path((id, n)): Path<(Uuid, i32)>,
) -> ApiResult<Json<VersionView>> {
    let v = workflows::version(&state.db, caller.workspace_id, id, n)
        .await?
        .ok_or_else(|| ApiError::not_found("version"))?;
    Ok(Json(v.into()))
}

/// Make an old version's content current again (as a new version; the status is kept).
#[utoipa::path(
    operation_id = "workflows_restore_version",
    post, path = "/api/v1/workflows/{id}/versions/{version}/restore", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id"), ("version" = i32, Path, description = "Version to restore"),
           ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]{1,9}"?$"#, description = "Optional base version, e.g. \"3\"")),
    responses(
        (status = 200, description = "The new current version", body = WorkflowView),
        (status = 400, description = "The workflow is published and that version's graph is invalid", body = ErrorEnvelope),
        (status = 404, description = "No such workflow or version", body = ErrorEnvelope),
        (status = 409, description = "Stale If-Match (CONFLICT)", body = ErrorEnvelope),
    )
)]
pub async fn restore_version(
    State(state): State<AppState>,
    caller: Allowed<can::EditWorkflows>,
    origin: Origin,
    Path((id, n)): Path<(Uuid, i32)>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let base = match headers.contains_key(header::IF_MATCH) {
        true => Some(base_version(&headers, None)?),
        false => None,
    };
    let old = workflows::version(&state.db, caller.workspace_id, id, n)
        .await?
        .ok_or_else(|| ApiError::not_found("version"))?;
    let mut change = Change::from(Content::from(old));
    change.status = None;
    // The design chat goes on: restoring a version brings back its content, not its chat.
    change.chat_history = None;
    apply(&state, &caller, &origin, id, base, change).await
}

/// A copied chat's proposals were made for the original: none can be applied to the copy.
fn stale_drafts(mut history: Value) -> Value {
    for m in history.as_array_mut().into_iter().flatten() {
        if let Some(p) = m.get_mut("proposal").filter(|p| p["status"] == "draft") {
            p["status"] = json!("stale");
        }
    }
    history
}

/// Copy a workflow into a new draft (counts as a new workflow for tier limits).
#[utoipa::path(
    operation_id = "workflows_duplicate",
    post, path = "/api/v1/workflows/{id}/duplicate", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 201, description = "The copy", body = WorkflowView),
        (status = 403, description = "Over the monthly limit (TIER_LIMIT)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow of yours", body = ErrorEnvelope),
    )
)]
pub async fn duplicate(
    State(state): State<AppState>,
    caller: Allowed<can::CreateWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
) -> ApiResult<Response> {
    let tier = caller.tier;
    let mut tx = state.db.begin().await?;
    let src = workflows::find(&mut *tx, caller.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    take_creation(&mut tx, tier, caller.workspace_id).await?;
    let name: String = format!("{} (copy)", src.name).chars().take(200).collect();
    let content = Content {
        name,
        description: src.description,
        status: "draft".into(),
        tags: src.tags,
        canvas: src.canvas.0,
        chat_history: stale_drafts(src.chat_history.0),
        settings: src.settings.0,
    };
    let wf = workflows::insert(
        &mut tx,
        shared::ids::new_id(),
        caller.workspace_id,
        caller.user_id,
        &content,
    )
    .await?;
    let entry = Activity::new(caller.workspace_id, caller.user_id, Action::WorkflowCreated)
        .on(wf.id)
        .details(json!({ "name": wf.name, "version": wf.version, "duplicateOf": id }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(with_etag(StatusCode::CREATED, wf))
}

/// Draft, publish (the graph must be valid) or archive a workflow.
#[utoipa::path(
    operation_id = "workflows_set_status",
    patch, path = "/api/v1/workflows/{id}/status", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id"), ("If-Match" = Option<String>, Header, pattern = r#"^(W/)?"?[0-9]{1,9}"?$"#, description = "Optional base version, e.g. \"3\"")),
    request_body = StatusChange,
    responses(
        (status = 200, description = "The new version", body = WorkflowView),
        (status = 400, description = "Unknown status, or publishing an invalid graph (details.report)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow of yours", body = ErrorEnvelope),
        (status = 409, description = "Stale base version, or If-Match and baseVersion name different versions (CONFLICT)", body = ErrorEnvelope),
    )
)]
pub async fn set_status(
    State(state): State<AppState>,
    caller: Allowed<can::EditWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
    Json(body): Json<StatusChange>,
) -> ApiResult<Response> {
    let status = parse_status(&body.status)?;
    let base = match (headers.contains_key(header::IF_MATCH), body.base_version) {
        (false, None) => None,
        (_, from_body) => Some(base_version(&headers, from_body)?),
    };
    let change = Change {
        status: Some(status),
        ..Change::default()
    };
    apply(&state, &caller, &origin, id, base, change).await
}

/// Validate the saved graph without changing anything.
#[utoipa::path(
    operation_id = "workflows_validate",
    post, path = "/api/v1/workflows/{id}/validate", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Every issue found, and the execution plan when the graph has no cycle", body = ValidationReport),
        (status = 404, description = "No such workflow of yours", body = ErrorEnvelope),
    )
)]
pub async fn validate(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<ValidationReport>> {
    let mut db = state.db.acquire().await?;
    let wf = workflows::find(&mut *db, caller.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("workflow"))?;
    Ok(Json(
        full_report(&mut db, caller.workspace_id, &wf.canvas.0).await?,
    ))
}
