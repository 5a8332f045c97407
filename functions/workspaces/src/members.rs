//! `/api/v1/workspaces/{id}/members`: who is in a workspace, their roles,
//! removing members and leaving.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use serde_json::json;
use shared::{
    access::{Member, Permission, Role},
    activity::{self, Action, Activity, Origin},
    auth::AuthUser,
    db::workspaces,
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;

use crate::dto::{ChangeRole, MemberList, MemberView};

fn owner_stays(what: &str) -> ApiError {
    ApiError::new(
        ErrorCode::Conflict,
        format!("the owner {what}: hand ownership to another member first"),
    )
    .with_details(json!({ "reason": "owner" }))
}

/// The members of a workspace (any member may see them).
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}/members", operation_id = "workspaces_members", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "The members, owner first", body = MemberList),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<MemberList>> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::ViewWorkflows)?;
    let items = workspaces::members(&state.db, id)
        .await?
        .into_iter()
        .map(MemberView::from)
        .collect();
    Ok(Json(MemberList { items }))
}

/// Change a member's role (owners and admins). The owner's role changes only
/// by handing ownership on (`/transfer`).
#[utoipa::path(
    patch, path = "/api/v1/workspaces/{id}/members/{userId}", operation_id = "workspaces_change_role", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), ("userId" = Uuid, Path, description = "The member's user id")),
    request_body = ChangeRole,
    responses(
        (status = 200, description = "The member with the new role", body = MemberView),
        (status = 403, description = "Your role may not change roles (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours, or no such member (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "The member is the owner, or their role changed meanwhile (CONFLICT)", body = ErrorEnvelope),
    )
)]
pub async fn change_role(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
    Json(body): Json<ChangeRole>,
) -> ApiResult<Json<MemberView>> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::ChangeRoles)?;
    let target = workspaces::member(&state.db, id, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    if target.role == Role::Owner {
        return Err(owner_stays("keeps that role"));
    }
    let to = Role::from(body.role);
    if target.role != to {
        let mut tx = state.db.begin().await?;
        if !workspaces::change_role(&mut *tx, id, user_id, target.role, to).await? {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "the member's role changed meanwhile; read it again",
            ));
        }
        let entry = Activity::new(id, caller.user_id, Action::MemberRoleChanged)
            .on(user_id)
            .details(json!({ "from": target.role, "to": to, "email": target.email }))
            .record(&mut *tx, &origin)
            .await?;
        tx.commit().await?;
        activity::publish(&state, [entry]).await;
    }
    let now = workspaces::member(&state.db, id, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    Ok(Json(MemberView::from(now)))
}

/// Remove a member (owners and admins), or leave (yourself; any member but
/// the owner). Their access ends at once: membership is checked on every
/// request.
#[utoipa::path(
    delete, path = "/api/v1/workspaces/{id}/members/{userId}", operation_id = "workspaces_remove_member", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), ("userId" = Uuid, Path, description = "The member's user id (your own to leave)")),
    responses(
        (status = 204, description = "Removed (or left)"),
        (status = 403, description = "Your role may not remove members (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours, or no such member (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "The owner cannot be removed or leave (CONFLICT, details.reason = owner)", body = ErrorEnvelope),
    )
)]
pub async fn remove(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path((id, user_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    let me = Member::of(&state.db, &caller, id).await?;
    let leaving = user_id == caller.user_id;
    if !leaving {
        me.require(Permission::RemoveMembers)?;
    }
    let target = workspaces::member(&state.db, id, user_id)
        .await?
        .ok_or_else(|| ApiError::not_found("member"))?;
    if target.role == Role::Owner {
        return Err(owner_stays(if leaving {
            "cannot leave"
        } else {
            "cannot be removed"
        }));
    }
    let mut tx = state.db.begin().await?;
    if !workspaces::remove(&mut *tx, id, user_id).await? {
        return Err(ApiError::not_found("member"));
    }
    let action = if leaving {
        Action::MemberLeft
    } else {
        Action::MemberRemoved
    };
    let entry = Activity::new(id, caller.user_id, action)
        .on(user_id)
        .details(json!({ "role": target.role, "email": target.email }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    // Their live subscriptions to the workspace's topics end with their access.
    shared::realtime::publish::revoke_membership(&state, id, user_id).await;
    Ok(StatusCode::NO_CONTENT)
}
