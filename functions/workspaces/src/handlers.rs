//! `/api/v1/workspaces`: list, create, rename and delete workspaces, and hand
//! ownership on.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use serde_json::json;
use shared::{
    access::{Member, Permission},
    activity::{self, Action, Activity, Origin},
    auth::AuthUser,
    db::workspaces::{self, Deletion},
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;

use crate::dto::{NewWorkspace, RenameWorkspace, Transfer, WorkspaceList, WorkspaceView, NAME};

/// The caller's workspace `id` as they see it now.
async fn view(state: &AppState, caller: &AuthUser, id: Uuid) -> ApiResult<WorkspaceView> {
    workspaces::find(&state.db, id, caller.user_id)
        .await?
        .map(WorkspaceView::from)
        .ok_or_else(|| ApiError::not_found("workspace"))
}

/// Your workspaces: your personal one first, then the teams you are in.
#[utoipa::path(
    get, path = "/api/v1/workspaces", operation_id = "workspaces_list", tag = "workspaces", security(("bearer" = [])),
    responses((status = 200, description = "Your workspaces", body = WorkspaceList))
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
) -> ApiResult<Json<WorkspaceList>> {
    let items = workspaces::list_for(&state.db, caller.user_id)
        .await?
        .into_iter()
        .map(WorkspaceView::from)
        .collect();
    Ok(Json(WorkspaceList { items }))
}

/// Create a team workspace; you are its owner. It starts on the FREE plan.
#[utoipa::path(
    post, path = "/api/v1/workspaces", operation_id = "workspaces_create", tag = "workspaces", security(("bearer" = [])),
    request_body = NewWorkspace,
    responses((status = 201, description = "Created", body = WorkspaceView))
)]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Json(body): Json<NewWorkspace>,
) -> ApiResult<(StatusCode, Json<WorkspaceView>)> {
    let name = NAME
        .parse(&body.name)
        .map_err(|m| ApiError::field("name", m))?;
    let mut tx = state.db.begin().await?;
    let w = workspaces::create_team(&mut tx, shared::ids::new_id(), &name, caller.user_id).await?;
    Activity::new(w.id, caller.user_id, Action::WorkspaceCreated)
        .on(w.id)
        .details(json!({ "name": w.name }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    Ok((StatusCode::CREATED, Json(WorkspaceView::from(w))))
}

/// One of your workspaces.
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}", operation_id = "workspaces_get", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "The workspace", body = WorkspaceView),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<WorkspaceView>> {
    Ok(Json(view(&state, &caller, id).await?))
}

/// Rename a workspace (owners and admins).
#[utoipa::path(
    patch, path = "/api/v1/workspaces/{id}", operation_id = "workspaces_rename", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id")),
    request_body = RenameWorkspace,
    responses(
        (status = 200, description = "Renamed", body = WorkspaceView),
        (status = 403, description = "Your role may not change the workspace's settings (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn rename(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path(id): Path<Uuid>,
    Json(body): Json<RenameWorkspace>,
) -> ApiResult<Json<WorkspaceView>> {
    let name = NAME
        .parse(&body.name)
        .map_err(|m| ApiError::field("name", m))?;
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::WorkspaceSettings)?;
    let mut tx = state.db.begin().await?;
    let before = workspaces::rename(&mut *tx, id, &name)
        .await?
        .ok_or_else(|| ApiError::not_found("workspace"))?;
    let entry = Activity::new(id, caller.user_id, Action::WorkspaceRenamed)
        .on(id)
        .details(json!({ "from": before, "to": name }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(Json(view(&state, &caller, id).await?))
}

/// Delete a team workspace and everything in it (its owner only). A
/// personal workspace cannot be deleted, nor one with runs that have not
/// ended, nor one whose paid subscription has not ended (409).
#[utoipa::path(
    delete, path = "/api/v1/workspaces/{id}", operation_id = "workspaces_delete", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Only the owner may delete a workspace (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "A personal workspace cannot be deleted, runs are still queued or running in it, it pays for a subscription (cancel it in the billing portal and wait for the period's end), or a checkout for it can still be paid (within an hour) (CONFLICT, details.reason = personal | active_runs | subscribed | checkout_open)", body = ErrorEnvelope),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let m = Member::of(&state.db, &caller, id).await?;
    m.require(Permission::DeleteWorkspace)?;
    match workspaces::delete_team(&state.db, id).await? {
        Deletion::Deleted => Ok(StatusCode::NO_CONTENT),
        Deletion::Personal => Err(ApiError::new(
            ErrorCode::Conflict,
            "a personal workspace cannot be deleted",
        )
        .with_details(json!({ "reason": "personal" }))),
        Deletion::ActiveRuns => Err(ApiError::new(
            ErrorCode::Conflict,
            "runs are still queued or running in this workspace: cancel them or let them end first",
        )
        .with_details(json!({ "reason": "active_runs" }))),
        Deletion::Subscribed => Err(ApiError::new(
            ErrorCode::Conflict,
            "this workspace pays for a subscription: cancel it in the billing portal first; it can be deleted once the subscription has ended",
        )
        .with_details(json!({ "reason": "subscribed" }))),
        Deletion::CheckoutOpen => Err(ApiError::new(
            ErrorCode::Conflict,
            "a checkout for this workspace can still be paid: it lapses within an hour of being opened",
        )
        .with_details(json!({ "reason": "checkout_open" }))),
    }
}

/// Hand ownership to another member (the owner only): they become the
/// owner and you an admin. There is always exactly one owner.
#[utoipa::path(
    post, path = "/api/v1/workspaces/{id}/transfer", operation_id = "workspaces_transfer", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id")),
    request_body = Transfer,
    responses(
        (status = 200, description = "Transferred: the workspace as you now see it", body = WorkspaceView),
        (status = 403, description = "Only the owner may hand ownership on (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "userId is not a member (CONFLICT, details.reason = not_member); or you named yourself", body = ErrorEnvelope),
    )
)]
pub async fn transfer(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path(id): Path<Uuid>,
    Json(body): Json<Transfer>,
) -> ApiResult<Json<WorkspaceView>> {
    let m = Member::of(&state.db, &caller, id).await?;
    m.require(Permission::TransferOwnership)?;
    if body.user_id == caller.user_id {
        return Err(ApiError::new(ErrorCode::Conflict, "you already own it"));
    }
    let mut tx = state.db.begin().await?;
    if !workspaces::transfer(&mut tx, id, caller.user_id, body.user_id).await? {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "userId is not a member of this workspace: invite them first",
        )
        .with_details(json!({ "reason": "not_member", "field": "userId" })));
    }
    let entry = Activity::new(id, caller.user_id, Action::OwnershipTransferred)
        .on(id)
        .details(json!({ "from": caller.user_id, "to": body.user_id }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(Json(view(&state, &caller, id).await?))
}
