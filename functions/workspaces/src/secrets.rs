//! `/api/v1/workspaces/{id}/secrets`: the workspace vault. Any member sees
//! the names; owners and admins (the workspace's settings) store, replace
//! and delete values, which no route ever returns. Every change is in the
//! activity log (names only); runs receive the values their graph names.

use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use serde_json::json;
use shared::{
    access::{Member, Permission},
    activity::{self, Action, Activity, Origin},
    auth::AuthUser,
    db::secrets,
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    vault::{SecretName, MAX_SECRETS},
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;

use crate::secret_dto::{NewSecret, ReplaceSecret, SecretList, SecretView, DESCRIPTION};

fn description(raw: Option<&str>) -> ApiResult<Option<String>> {
    raw.map(|d| DESCRIPTION.parse(d))
        .transpose()
        .map_err(|m| ApiError::field("description", m))
}

/// The workspace's secrets: names, descriptions and who changed them (any member).
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}/secrets", operation_id = "workspaces_secrets_list", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "The secrets, by name; never their values", body = SecretList),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<SecretList>> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::ViewWorkflows)?;
    let items = secrets::list(&state.db, id)
        .await?
        .into_iter()
        .map(SecretView::from)
        .collect();
    Ok(Json(SecretList { items }))
}

/// Store a new secret (owners and admins). The value is sealed with the
/// workspace's data key and never returned.
#[utoipa::path(
    post, path = "/api/v1/workspaces/{id}/secrets", operation_id = "workspaces_secrets_create", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id")),
    request_body = NewSecret,
    responses(
        (status = 201, description = "Stored", body = SecretView),
        (status = 400, description = "A bad name, value or description (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Your role may not change the workspace's settings (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "The name is taken, or the workspace keeps 500 secrets already (CONFLICT, details.reason = name_taken | too_many_secrets)", body = ErrorEnvelope),
        (status = 503, description = "The key service is unreachable or not configured (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path(id): Path<Uuid>,
    Json(body): Json<NewSecret>,
) -> ApiResult<(StatusCode, Json<SecretView>)> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::WorkspaceSettings)?;
    let name = SecretName::parse(&body.name)?;
    let description = description(body.description.as_deref())?.unwrap_or_default();
    if secrets::count(&state.db, id).await? >= MAX_SECRETS as i64 {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            format!("a workspace may keep at most {MAX_SECRETS} secrets; delete one first"),
        )
        .with_details(json!({ "reason": "too_many_secrets", "limit": MAX_SECRETS })));
    }
    let sealed = state.vault.seal(id, &name, &body.value).await?;
    let mut tx = state.db.begin().await?;
    let meta = secrets::insert(
        &mut *tx,
        id,
        name.as_str(),
        &sealed,
        &description,
        caller.user_id,
    )
    .await?
    .ok_or_else(|| {
        ApiError::new(
            ErrorCode::Conflict,
            format!(
                "the workspace already has a secret named {}; replace its value with PUT",
                name.as_str()
            ),
        )
        .with_details(json!({ "reason": "name_taken", "name": name.as_str() }))
    })?;
    let entry = Activity::new(id, caller.user_id, Action::SecretCreated)
        .details(json!({ "name": meta.name }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok((StatusCode::CREATED, Json(SecretView::from(meta))))
}

/// Replace a secret's value (owners and admins); runs started from now on
/// receive the new one.
#[utoipa::path(
    put, path = "/api/v1/workspaces/{id}/secrets/{name}", operation_id = "workspaces_secrets_replace", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), ("name" = String, Path, description = "The secret's name")),
    request_body = ReplaceSecret,
    responses(
        (status = 200, description = "Replaced", body = SecretView),
        (status = 400, description = "A bad value or description (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Your role may not change the workspace's settings (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours, or no such secret (NOT_FOUND)", body = ErrorEnvelope),
        (status = 503, description = "The key service is unreachable or not configured (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn replace(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path((id, name)): Path<(Uuid, String)>,
    Json(body): Json<ReplaceSecret>,
) -> ApiResult<Json<SecretView>> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::WorkspaceSettings)?;
    let name = SecretName::parse(&name).map_err(|_| ApiError::not_found("secret"))?;
    let description = description(body.description.as_deref())?;
    if secrets::get(&state.db, id, name.as_str()).await?.is_none() {
        return Err(ApiError::not_found("secret"));
    }
    let sealed = state.vault.seal(id, &name, &body.value).await?;
    let mut tx = state.db.begin().await?;
    let meta = secrets::replace(
        &mut *tx,
        id,
        name.as_str(),
        &sealed,
        description.as_deref(),
        caller.user_id,
    )
    .await?
    .ok_or_else(|| ApiError::not_found("secret"))?;
    let entry = Activity::new(id, caller.user_id, Action::SecretUpdated)
        .details(json!({ "name": meta.name }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(Json(SecretView::from(meta)))
}

/// Delete a secret (owners and admins). Workflows that name it fail
/// validation, naming it, until it is stored again.
#[utoipa::path(
    delete, path = "/api/v1/workspaces/{id}/secrets/{name}", operation_id = "workspaces_secrets_delete", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), ("name" = String, Path, description = "The secret's name")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Your role may not change the workspace's settings (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours, or no such secret (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path((id, name)): Path<(Uuid, String)>,
) -> ApiResult<StatusCode> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::WorkspaceSettings)?;
    let name = SecretName::parse(&name).map_err(|_| ApiError::not_found("secret"))?;
    let mut tx = state.db.begin().await?;
    if !secrets::delete(&mut *tx, id, name.as_str()).await? {
        return Err(ApiError::not_found("secret"));
    }
    let entry = Activity::new(id, caller.user_id, Action::SecretDeleted)
        .details(json!({ "name": name.as_str() }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    Ok(StatusCode::NO_CONTENT)
}
