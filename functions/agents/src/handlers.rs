//! The agent route handlers.

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
};
use serde_json::json;
use shared::{
    access::{can, Allowed, InWorkspace, Member},
    activity::{self, Action, Activity, Origin},
    catalog::parse_category,
    db::{
        self,
        agents::{self, Agent, AgentFields},
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::{offset_page, Json},
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;

use crate::dto::{parse_scope, AgentInput, AgentPage, AgentView, ListParams, NewAgent};

fn name_taken(e: sqlx::Error) -> ApiError {
    match db::constraint(&e) {
        Some("agents_workspace_name_key") => ApiError::new(
            ErrorCode::Conflict,
            "you already have an agent with this name",
        )
        .with_details(json!({ "field": "name" })),
        _ => e.into(),
    }
}

/// Why an agent the caller cannot change was not changed: built-in agents
/// are read-only (403); anyone else's agent, public or not, is "not found"
/// (404), so ownership is never revealed through this route.
async fn not_changeable(state: &AppState, caller: Uuid, id: Uuid) -> ApiError {
    match agents::find_visible(&state.db, caller, id).await {
        Ok(found) => why_not_changeable(found.as_ref()),
        Err(e) => e.into(),
    }
}

fn why_not_changeable(found: Option<&Agent>) -> ApiError {
    match found {
        Some(a) if a.workspace_id.is_none() => {
            ApiError::new(ErrorCode::Forbidden, "built-in agents cannot be changed")
        }
        _ => ApiError::not_found("agent"),
    }
}

/// The caller's own agent, or (from the same lookup) why it cannot be changed.
async fn own_agent(state: &AppState, caller: Uuid, id: Uuid) -> ApiResult<Agent> {
    match agents::find_visible(&state.db, caller, id).await? {
        Some(a) if a.workspace_id == Some(caller) => Ok(a),
        found => Err(why_not_changeable(found.as_ref())),
    }
}

/// Stores new fields of the caller's own agent.
async fn save(
    state: &AppState,
    caller: &Member,
    origin: &Origin,
    id: Uuid,
    fields: &AgentFields,
) -> ApiResult<Json<AgentView>> {
    let mut tx = state.db.begin().await?;
    let agent = agents::update(&mut *tx, caller.workspace_id, id, fields)
        .await
        .map_err(name_taken)?
        .ok_or_else(|| ApiError::not_found("agent"))?;
    let entry = Activity::new(caller.workspace_id, caller.user_id, Action::AgentUpdated)
        .on(id)
        .details(json!({ "name": agent.name }))
        .record(&mut *tx, origin)
        .await?;
    tx.commit().await?;
    activity::publish(state, [entry]).await;
    Ok(Json(AgentView::new(agent, caller.workspace_id)))
}

/// Agents you can use: the built-in catalogue, your own, and other users' public ones.
#[utoipa::path(
    operation_id = "agents_list",
    get, path = "/api/v1/agents", tag = "agents", security(("bearer" = [])),
    params(InWorkspace, ListParams),
    responses(
        (status = 200, description = "Built-in first, then by name", body = AgentPage),
        (status = 400, description = "Invalid filter (VALIDATION_ERROR)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<AgentPage>> {
    let scope = parse_scope(p.scope.as_deref()).map_err(|m| ApiError::field("scope", m))?;
    let category = p
        .category
        .as_deref()
        .map(parse_category)
        .map(|c| c.map(str::to_owned))
        .transpose()
        .map_err(|m| ApiError::field("category", m))?;
    let (limit, offset) = offset_page(p.limit, p.offset, 50)?;
    let query = agents::ListQuery {
        scope,
        category,
        search: p.q.map(|q| q.trim().to_owned()).filter(|q| !q.is_empty()),
        limit,
        offset,
    };
    let (rows, total) = agents::list(&state.db, caller.workspace_id, &query).await?;
    Ok(Json(AgentPage {
        items: rows
            .into_iter()
            .map(|a| AgentView::new(a, caller.workspace_id))
            .collect(),
        total,
    }))
}

/// Define your own agent.
#[utoipa::path(
    operation_id = "agents_create",
    post, path = "/api/v1/agents", tag = "agents", security(("bearer" = [])),
    params(InWorkspace),
    request_body = NewAgent,
    responses(
        (status = 201, description = "Created", body = AgentView),
        (status = 400, description = "Invalid or missing fields (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 409, description = "You already have an agent with this name (CONFLICT)", body = ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Allowed<can::CreateWorkflows>,
    origin: Origin,
    Json(body): Json<NewAgent>,
) -> ApiResult<(StatusCode, Json<AgentView>)> {
    let fields = body.parse()?;
    let mut tx = state.db.begin().await?;
    let agent = agents::insert(
        &mut *tx,
        shared::ids::new_id(),
        caller.workspace_id,
        caller.user_id,
        &fields,
    )
    .await
    .map_err(name_taken)?;
    let entry = Activity::new(caller.workspace_id, caller.user_id, Action::AgentCreated)
        .on(agent.id)
        .details(json!({ "name": agent.name }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok((
        StatusCode::CREATED,
        Json(AgentView::new(agent, caller.workspace_id)),
    ))
}

/// One agent you can see.
#[utoipa::path(
    operation_id = "agents_get",
    get, path = "/api/v1/agents/{id}", tag = "agents", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Agent id")),
    responses(
        (status = 200, description = "The agent", body = AgentView),
        (status = 404, description = "No such agent visible to you", body = ErrorEnvelope),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<AgentView>> {
    let agent = agents::find_visible(&state.db, caller.workspace_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("agent"))?;
    Ok(Json(AgentView::new(agent, caller.workspace_id)))
}

/// Change your own agent (only the fields given).
#[utoipa::path(
    operation_id = "agents_update",
    patch, path = "/api/v1/agents/{id}", tag = "agents", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Agent id")),
    request_body = AgentInput,
    responses(
        (status = 200, description = "The changed agent", body = AgentView),
        (status = 400, description = "Invalid fields (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "A built-in agent (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No agent of yours with this id", body = ErrorEnvelope),
        (status = 409, description = "Name already used by another of your agents", body = ErrorEnvelope),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Allowed<can::EditWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
    Json(body): Json<AgentInput>,
) -> ApiResult<Json<AgentView>> {
    let current = own_agent(&state, caller.workspace_id, id).await?;
    let fields = body.apply(current.into())?;
    save(&state, &caller, &origin, id, &fields).await
}

/// Replace your own agent as a whole (`PUT`): the body is a complete agent,
/// as for creating one; what it leaves out takes its default.
#[utoipa::path(
    operation_id = "agents_replace",
    put, path = "/api/v1/agents/{id}", tag = "agents", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Agent id")),
    request_body = NewAgent,
    responses(
        (status = 200, description = "The replaced agent", body = AgentView),
        (status = 400, description = "Invalid or missing fields (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "A built-in agent (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No agent of yours with this id", body = ErrorEnvelope),
        (status = 409, description = "Name already used by another of your agents", body = ErrorEnvelope),
    )
)]
pub async fn replace(
    State(state): State<AppState>,
    caller: Allowed<can::EditWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
    Json(body): Json<NewAgent>,
) -> ApiResult<Json<AgentView>> {
    let fields = body.parse()?;
    own_agent(&state, caller.workspace_id, id).await?;
    save(&state, &caller, &origin, id, &fields).await
}

/// Delete your own agent.
#[utoipa::path(
    operation_id = "agents_delete",
    delete, path = "/api/v1/agents/{id}", tag = "agents", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "Agent id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "A built-in agent (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No such agent visible to you", body = ErrorEnvelope),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Allowed<can::DeleteWorkflows>,
    origin: Origin,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let mut tx = state.db.begin().await?;
    if agents::delete(&mut *tx, caller.workspace_id, id).await? {
        let entry = Activity::new(caller.workspace_id, caller.user_id, Action::AgentDeleted)
            .on(id)
            .record(&mut *tx, &origin)
            .await?;
        tx.commit().await?;
        activity::publish(&state, [entry]).await;
        Ok(StatusCode::NO_CONTENT)
    } else {
        drop(tx);
        Err(not_changeable(&state, caller.workspace_id, id).await)
    }
}
