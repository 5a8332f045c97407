//! The caller's own account: a download of their data, and deletion.

use axum::{extract::State, http::StatusCode};
use serde::{Deserialize, Serialize};
use shared::{
    auth::{password, AuthUser, Email},
    db::{
        account_deletion, api_keys,
        sessions::{self, RevokeReason},
        users,
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    ratelimit::{self, Bucket, Limit},
    ApiError, ApiResult, AppState,
};
use utoipa::ToSchema;

use crate::{
    account_dto::DeleteAccount,
    handlers::{account_gone, blocking},
    sessions::close,
};

/// Rows of each kind an export holds at most (newest first); `truncated` says
/// which kinds had more.
const EXPORT_ROWS: i64 = 10_000;
/// How recent a passwordless account's sign-in must be to delete it.
const RECENT_SIGN_IN: chrono::Duration = chrono::Duration::minutes(10);

/// Everything the service holds about the caller, as JSON.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccountExport {
    pub exported_at: chrono::DateTime<chrono::Utc>,
    /// The profile, memberships, workflows and agents they made, runs they
    /// started, what they did (activity), their API keys (never secrets) and
    /// sign-in sessions.
    #[schema(value_type = Object)]
    pub data: serde_json::Value,
}

/// The sections of an export: each a JSON array, newest first. What the
/// user made or did is exported from the workspaces they are still in
/// (`mine`): a workspace they left keeps its content to itself.
const SECTIONS: [(&str, &str); 7] = [
    (
        "workspaces",
        "SELECT json_build_object('id', w.id, 'name', w.name, 'personal', w.personal_of IS NOT NULL,
                'role', m.role, 'tier', w.tier, 'joinedAt', m.joined_at) AS row, m.joined_at AS at
           FROM workspace_members m JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = $1",
    ),
    (
        "workflows",
        "SELECT json_build_object('id', id, 'workspaceId', workspace_id, 'name', name, 'description', description,
                'status', status, 'version', version, 'canvas', canvas, 'createdAt', created_at,
                'updatedAt', updated_at, 'deletedAt', deleted_at) AS row, created_at AS at
           FROM workflows WHERE created_by = $1 AND workspace_id IN (SELECT workspace_id FROM mine)",
    ),
    (
        "agents",
        "SELECT json_build_object('id', id, 'workspaceId', workspace_id, 'name', name,
                'displayName', display_name, 'systemPrompt', system_prompt, 'createdAt', created_at) AS row,
                created_at AS at
           FROM agents WHERE created_by = $1 AND workspace_id IN (SELECT workspace_id FROM mine)",
    ),
    (
        "executions",
        "SELECT json_build_object('id', id, 'workspaceId', workspace_id, 'workflowId', workflow_id,
                'status', status, 'triggerType', trigger_type, 'createdAt', created_at,
                'startedAt', started_at, 'finishedAt', finished_at) AS row, created_at AS at
           FROM executions WHERE started_by = $1 AND workspace_id IN (SELECT workspace_id FROM mine)",
    ),
    (
        "activity",
        "SELECT json_build_object('workspaceId', workspace_id, 'action', action, 'resourceType', resource_type,
                'resourceId', resource_id, 'details', details, 'ip', ip, 'userAgent', user_agent,
                'at', created_at) AS row, created_at AS at
           FROM activity_log WHERE actor_id = $1 AND workspace_id IN (SELECT workspace_id FROM mine)",
    ),
    (
        "apiKeys",
        "SELECT json_build_object('id', id, 'workspaceId', workspace_id, 'name', name,
                'prefix', 'sak_' || public_id, 'scopes', scopes, 'expiresAt', expires_at,
                'lastUsedAt', last_used_at, 'revokedAt', revoked_at, 'createdAt', created_at) AS row,
                created_at AS at
           FROM api_keys WHERE user_id = $1",
    ),
    (
        "sessions",
        "SELECT json_build_object('id', id, 'startedAt', created_at, 'revokedAt', revoked_at,
                'revokedReason', revoked_reason) AS row, created_at AS at
           FROM refresh_token_families WHERE user_id = $1",
    ),
];

/// Download your data: everything the service holds about you, as JSON.
#[utoipa::path(
    operation_id = "auth_export",
    get, path = "/api/v1/auth/me/export", tag = "auth",
    security(("bearer" = [])),
    responses(
        (status = 200, description = "Your data (at most 10,000 rows of each kind, newest first; `data.truncated` names the kinds that had more)", body = AccountExport),
        (status = 401, description = "Missing, expired or invalid access token", body = ErrorEnvelope),
        (status = 403, description = "An API key cannot do this (FORBIDDEN)", body = ErrorEnvelope),
        (status = 429, description = "Too many requests (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn export(
    State(state): State<AppState>,
    caller: AuthUser,
) -> ApiResult<Json<AccountExport>> {
    let user = users::find(&state.db, caller.user_id)
        .await?
        .ok_or_else(account_gone)?;
    let mut data = serde_json::Map::new();
    data.insert(
        "profile".into(),
        serde_json::to_value(crate::dto::UserView::from(user)).map_err(ApiError::internal)?,
    );
    let mut truncated = Vec::new();
    // One read-only snapshot, so the sections agree with each other.
    let mut tx = state.db.begin().await?;
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .execute(&mut *tx)
        .await?;
    for (name, select) in SECTIONS {
        let rows: Vec<serde_json::Value> = sqlx::query_scalar(&format!(
            "WITH mine AS (SELECT workspace_id FROM workspace_members WHERE user_id = $1)
             SELECT row FROM ({select}) s ORDER BY at DESC LIMIT $2"
        ))
        .bind(caller.user_id)
        .bind(EXPORT_ROWS + 1)
        .fetch_all(&mut *tx)
        .await?;
        let mut rows = rows;
        if rows.len() as i64 > EXPORT_ROWS {
            rows.truncate(EXPORT_ROWS as usize);
            truncated.push(name);
        }
        data.insert(name.into(), serde_json::Value::Array(rows));
    }
    tx.commit().await?;
    data.insert("truncated".into(), serde_json::json!(truncated));
    Ok(Json(AccountExport {
        exported_at: chrono::Utc::now(),
        data: serde_json::Value::Object(data),
    }))
}

/// What a deletion request answers.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeletionAccepted {
    #[schema(example = "deleting")]
    pub status: String,
    pub message: String,
}

/// Delete your account.
///
/// Needs your password (an account without one: a sign-in within the last
/// ten minutes). Team workspaces you own that others belong to must be handed
/// on first (409 lists them). At once: every session is signed out, API keys
/// stop working, and the account can no longer sign in. Then, within a
/// minute or two, the sweeper cancels the runs of your workspaces, deletes
/// your Stripe customer (ending its subscriptions), and deletes the account
/// with your personal workspace and the team workspaces only you were in.
/// Asking again is harmless.
#[utoipa::path(
    operation_id = "auth_delete_account",
    delete, path = "/api/v1/auth/me", tag = "auth",
    security(("bearer" = [])),
    request_body(content = DeleteAccount, description = "Your password", content_type = "application/json"),
    responses(
        (status = 202, description = "The account is being deleted", body = DeletionAccepted),
        (status = 400, description = "Malformed body (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 401, description = "Missing or invalid access token, or the password is missing (INVALID_CREDENTIALS, details.reason = password_required) or wrong (INVALID_CREDENTIALS)", body = ErrorEnvelope),
        (status = 403, description = "An API key cannot do this, or a passwordless account must sign in again first (FORBIDDEN, details.reason = sign_in_again)", body = ErrorEnvelope),
        (status = 409, description = "You own team workspaces others belong to: hand them on first (CONFLICT, details.reason = owns_shared_workspaces, details.workspaces)", body = ErrorEnvelope),
        (status = 429, description = "Too many wrong passwords (RATE_LIMITED); see Retry-After", body = ErrorEnvelope),
        (status = 503, description = "Database unavailable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    Json(body): Json<DeleteAccount>,
) -> ApiResult<(StatusCode, Json<DeletionAccepted>)> {
    let user = users::find(&state.db, caller.user_id)
        .await?
        .ok_or_else(account_gone)?;
    confirm(&state, &caller, &user, body.password).await?;
    let shared_teams = account_deletion::shared_teams(&state.db, user.id).await?;
    if !shared_teams.is_empty() {
        let listed: Vec<_> = shared_teams
            .iter()
            .map(|t| serde_json::json!({ "id": t.id, "name": t.name, "members": t.members }))
            .collect();
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "you own team workspaces others belong to: transfer their ownership or remove their members first",
        )
        .with_details(serde_json::json!({ "reason": "owns_shared_workspaces", "workspaces": listed })));
    }
    let mut tx = state.db.begin().await?;
    account_deletion::request(&mut *tx, user.id).await?;
    api_keys::revoke_all_of(&mut *tx, user.id).await?;
    let revoked =
        sessions::revoke_all(&mut *tx, user.id, None, RevokeReason::AccountDeleted).await?;
    tx.commit().await?;
    close(&state, revoked).await;
    tracing::info!(user_id = %user.id, "account deletion requested");
    Ok((
        StatusCode::ACCEPTED,
        Json(DeletionAccepted {
            status: "deleting".into(),
            message: "You are signed out everywhere. Your runs are cancelled and your account is deleted within a few minutes.".into(),
        }),
    ))
}

/// The caller proves it is them: the password, or a fresh sign-in.
async fn confirm(
    state: &AppState,
    caller: &AuthUser,
    user: &users::User,
    given: Option<String>,
) -> ApiResult<()> {
    let Some(stored) = users::password_hash(&state.db, user.id).await? else {
        let started = sessions::started_at(&state.db, caller.session_id).await?;
        let fresh = started.is_some_and(|t| chrono::Utc::now() - t < RECENT_SIGN_IN);
        if fresh {
            return Ok(());
        }
        return Err(ApiError::new(
            ErrorCode::Forbidden,
            "sign in again (with a one-time code) and delete the account within ten minutes",
        )
        .with_details(serde_json::json!({ "reason": "sign_in_again" })));
    };
    let Some(candidate) = given else {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "your password is needed to delete the account",
        )
        .with_details(serde_json::json!({ "reason": "password_required" })));
    };
    let email = Email::parse(&user.email).map_err(|m| ApiError::internal(anyhow::anyhow!(m)))?;
    let auth = &state.settings.auth;
    let limit = Limit {
        max: auth.login_max_failures,
        window: auth.login_window,
    };
    ratelimit::attempt(
        state,
        Bucket::LoginEmail,
        email.as_str(),
        limit,
        "email",
        "too many wrong passwords; try again later",
    )
    .await?;
    if !blocking(move || password::verify(&candidate, &stored)).await? {
        return Err(ApiError::new(
            ErrorCode::InvalidCredentials,
            "the password is incorrect",
        ));
    }
    ratelimit::unhit(state, Bucket::LoginEmail, email.as_str(), limit).await?;
    Ok(())
}
