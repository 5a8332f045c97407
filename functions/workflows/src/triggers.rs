//! `/api/v1/workflows/{id}/triggers` and `/api/v1/schedules`: a workflow's
//! webhooks and schedules (their rows follow the graph; see
//! `shared::triggers`), pausing and resuming them, and a webhook's signing
//! secret, made (or replaced) and shown once.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use serde_json::json;
use shared::{
    access::{can, Allowed, InWorkspace},
    activity::{self, Action, Activity, Origin},
    db::{triggers, workflows},
    error::ErrorEnvelope,
    extract::Json,
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;

use crate::trigger_dto::{NewHookSecret, TriggerList, TriggerView};

async fn workflow_exists(state: &AppState, workspace_id: Uuid, id: Uuid) -> ApiResult<()> {
    workflows::find(&state.db, workspace_id, id)
        .await?
        .map(|_| ())
        .ok_or_else(|| ApiError::not_found("workflow"))
}

/// A workflow's webhook and schedule triggers.
#[utoipa::path(
    operation_id = "workflows_triggers",
    get, path = "/api/v1/workflows/{id}/triggers", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id")),
    responses(
        (status = 200, description = "Its triggers, by node id", body = TriggerList),
        (status = 404, description = "No such workflow of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<TriggerList>> {
    workflow_exists(&state, caller.workspace_id, id).await?;
    let items = triggers::of_workflow(&state.db, caller.workspace_id, id)
        .await?
        .into_iter()
        .map(TriggerView::from)
        .collect();
    Ok(Json(TriggerList { items }))
}

/// The workspace's schedules, with their next fire times.
#[utoipa::path(
    operation_id = "schedules_list",
    get, path = "/api/v1/schedules", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace),
    responses(
        (status = 200, description = "Every schedule trigger of the workspace's workflows (at most 1000)", body = TriggerList),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn schedules(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
) -> ApiResult<Json<TriggerList>> {
    let items = triggers::schedules(&state.db, caller.workspace_id)
        .await?
        .into_iter()
        .map(TriggerView::from)
        .collect();
    Ok(Json(TriggerList { items }))
}

async fn set_paused(
    state: &AppState,
    caller: &shared::access::Member,
    origin: &Origin,
    (id, trigger_id): (Uuid, Uuid),
    paused: bool,
) -> ApiResult<Json<TriggerView>> {
    workflow_exists(state, caller.workspace_id, id).await?;
    let mut tx = state.db.begin().await?;
    let t = triggers::set_paused(&mut *tx, id, trigger_id, paused)
        .await?
        .filter(|t| t.workspace_id == caller.workspace_id)
        .ok_or_else(|| ApiError::not_found("trigger"))?;
    let action = if paused {
        Action::TriggerPaused
    } else {
        Action::TriggerResumed
    };
    let entry = Activity::new(caller.workspace_id, caller.user_id, action)
        .on(t.id)
        .details(json!({ "workflowId": id, "nodeId": t.node_id, "kind": t.kind }))
        .record(&mut *tx, origin)
        .await?;
    tx.commit().await?;
    activity::publish(state, [entry]).await;
    Ok(Json(TriggerView::from(t)))
}

/// Pause a trigger: it does not fire until resumed.
#[utoipa::path(
    operation_id = "workflows_trigger_pause",
    post, path = "/api/v1/workflows/{id}/triggers/{triggerId}/pause", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id"), ("triggerId" = Uuid, Path, description = "Trigger id")),
    responses(
        (status = 200, description = "Paused", body = TriggerView),
        (status = 403, description = "Your role may not edit workflows (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow or trigger (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn pause(
    State(state): State<AppState>,
    caller: Allowed<can::EditWorkflows>,
    origin: Origin,
    Path(ids): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<TriggerView>> {
    set_paused(&state, &caller, &origin, ids, true).await
}

/// Resume a paused trigger (its count of failed fires starts over).
#[utoipa::path(
    operation_id = "workflows_trigger_resume",
    post, path = "/api/v1/workflows/{id}/triggers/{triggerId}/resume", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id"), ("triggerId" = Uuid, Path, description = "Trigger id")),
    responses(
        (status = 200, description = "Resumed", body = TriggerView),
        (status = 403, description = "Your role may not edit workflows (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow or trigger (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn resume(
    State(state): State<AppState>,
    caller: Allowed<can::EditWorkflows>,
    origin: Origin,
    Path(ids): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<TriggerView>> {
    set_paused(&state, &caller, &origin, ids, false).await
}

/// Make a webhook's signing secret, or replace it (the old one stops
/// working at once). Shown in this answer only.
#[utoipa::path(
    operation_id = "workflows_trigger_secret",
    post, path = "/api/v1/workflows/{id}/triggers/{triggerId}/secret", tag = "workflows", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Workflow id"), ("triggerId" = Uuid, Path, description = "A webhook trigger's id")),
    responses(
        (status = 201, description = "The new secret, shown this once", body = NewHookSecret),
        (status = 403, description = "Your role may not edit workflows (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No such workflow or webhook trigger (NOT_FOUND)", body = ErrorEnvelope),
        (status = 503, description = "The key service is unreachable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn new_secret(
    State(state): State<AppState>,
    caller: Allowed<can::EditWorkflows>,
    origin: Origin,
    Path((id, trigger_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<(StatusCode, Json<NewHookSecret>)> {
    workflow_exists(&state, caller.workspace_id, id).await?;
    let found = triggers::get(&state.db, trigger_id)
        .await?
        .filter(|t| t.workflow_id == id && t.workspace_id == caller.workspace_id)
        .filter(|t| t.kind == "webhook" && t.removed_at.is_none())
        .ok_or_else(|| ApiError::not_found("trigger"))?;
    // 256 random bits, as 64 hex digits.
    let secret = format!("whsec_{}", shared::auth::opaque::new_token());
    let sealed = state
        .vault
        .seal_bytes(
            caller.workspace_id,
            &format!("trigger:{}", found.id),
            secret.as_bytes(),
        )
        .await?;
    let mut tx = state.db.begin().await?;
    let t = triggers::set_secret(&mut *tx, id, found.id, &sealed)
        .await?
        .ok_or_else(|| ApiError::not_found("trigger"))?;
    let entry = Activity::new(
        caller.workspace_id,
        caller.user_id,
        Action::TriggerSecretChanged,
    )
    .on(t.id)
    .details(
        json!({ "workflowId": id, "nodeId": t.node_id, "replaced": found.secret_sealed.is_some() }),
    )
    .record(&mut *tx, &origin)
    .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok((
        StatusCode::CREATED,
        Json(NewHookSecret {
            trigger: TriggerView::from(t),
            secret,
            how_to_sign: "X-Saasit-Timestamp: <Unix seconds>; X-Saasit-Signature: v1=<hex HMAC-SHA256(secret, \"<timestamp>.<body>\")> (bearer hooks: Authorization: Bearer <secret>)".into(),
        }),
    ))
}
