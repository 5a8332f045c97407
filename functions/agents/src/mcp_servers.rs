//! `/api/v1/mcp/servers` (in the workspace the request names): the MCP
//! servers a workspace's agents may use. Owners and admins register, change, connect, disconnect
//! and delete them (their headers may send vault secrets to the server);
//! any member lists them and their tools. `connect` performs the MCP
//! handshake through the address guard, lists the server's tools and caches
//! them, and records the outcome (`status`, `lastError`). Every change and
//! every connect is in the activity log, with the secrets it used.

use std::time::{Duration, Instant};

use agent_kit::{
    guard::AllowList,
    mcp::{self, McpClient, McpErrorKind},
    redact::Redactor,
};
use axum::{
    extract::{Path, State},
    http::StatusCode,
};
use run_protocol::mcp::HeaderTemplate;
use serde_json::json;
use shared::{
    access::{can, Allowed, InWorkspace},
    activity::{self, Action, Activity, Origin},
    db::{
        mcp_servers::{self, Checked, McpServerRow, Refused, ServerFields},
        secrets,
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    mcp::{headers_problem, MAX_SERVERS, MAX_URL},
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;
use workflow_graph::tools::{is_server_name, MCP_PREFIX};

use crate::mcp_dto::{
    McpServerChange, McpServerList, McpServerView, McpToolList, McpToolView, NewMcpServer,
    DESCRIPTION,
};

/// How long a connect may take in all: under API Gateway's 29 s.
const CONNECT_BUDGET: Duration = Duration::from_secs(20);

fn allow_list(state: &AppState) -> AllowList {
    AllowList::parse(&state.settings.http.outbound_allow)
}

fn refusal(why: Refused, name: &str) -> ApiError {
    match why {
        Refused::NameTaken => ApiError::new(
            ErrorCode::Conflict,
            format!("the workspace already has an MCP server named {name}"),
        )
        .with_details(json!({ "reason": "name_taken", "name": name })),
        Refused::TooMany => ApiError::new(
            ErrorCode::Conflict,
            format!("a workspace may register at most {MAX_SERVERS} MCP servers; delete one first"),
        )
        .with_details(json!({ "reason": "too_many_servers", "limit": MAX_SERVERS })),
    }
}

/// The fields as they will be stored, each checked.
struct Fields {
    name: String,
    description: String,
    url: String,
    headers: Vec<HeaderTemplate>,
}

async fn check_fields(
    state: &AppState,
    workspace_id: Uuid,
    name: &str,
    url: &str,
    description: Option<&str>,
    headers: Vec<HeaderTemplate>,
) -> ApiResult<Fields> {
    if !is_server_name(name) {
        return Err(ApiError::field(
            "name",
            "must be 1–40 lowercase letters, digits and -, not starting with -",
        ));
    }
    if url.chars().count() > MAX_URL {
        return Err(ApiError::field(
            "url",
            format!("must be at most {MAX_URL} characters"),
        ));
    }
    let parsed =
        mcp::check_url(url, &allow_list(state)).map_err(|e| ApiError::field("url", e.message))?;
    let description = DESCRIPTION
        .parse(description.unwrap_or_default())
        .map_err(|m| ApiError::field("description", m))?;
    if let Some(why) = headers_problem(&headers) {
        return Err(ApiError::field("headers", why));
    }
    let named = run_protocol::mcp::secret_names(&headers);
    if !named.is_empty() {
        let have = secrets::existing(&state.db, workspace_id, &named).await?;
        if let Some(missing) = named.iter().find(|n| !have.contains(n)) {
            return Err(ApiError::field(
                "headers",
                format!("the secret {missing} is not in the workspace's vault; store it first"),
            ));
        }
    }
    Ok(Fields {
        name: name.to_owned(),
        description,
        url: parsed.to_string(),
        headers,
    })
}

async fn load(state: &AppState, workspace_id: Uuid, server_id: Uuid) -> ApiResult<McpServerRow> {
    mcp_servers::get(&state.db, workspace_id, server_id)
        .await?
        .ok_or_else(|| ApiError::not_found("MCP server"))
}

/// The workspace's MCP servers (any member).
#[utoipa::path(
    get, path = "/api/v1/mcp/servers", operation_id = "mcp_servers_list", tag = "mcp", security(("bearer" = [])),
    params(InWorkspace),
    responses(
        (status = 200, description = "The servers, by name", body = McpServerList),
        (status = 404, description = "X-Workspace-Id names no workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
) -> ApiResult<Json<McpServerList>> {
    let id = caller.workspace_id;
    let servers = mcp_servers::list(&state.db, id)
        .await?
        .into_iter()
        .map(McpServerView::from)
        .collect();
    Ok(Json(McpServerList { servers }))
}

/// Register an MCP server (owners and admins). It is `pending` until it
/// connects: `POST …/{serverId}/connect`.
#[utoipa::path(
    post, path = "/api/v1/mcp/servers", operation_id = "mcp_servers_create", tag = "mcp", security(("bearer" = [])),
    params(InWorkspace),
    request_body = NewMcpServer,
    responses(
        (status = 201, description = "Registered (pending)", body = McpServerView),
        (status = 400, description = "A bad name, URL (a private address, credentials in it), description or header: a credential header must take its value from the vault, and the secrets it names must exist (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Your role may not change the workspace's settings (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "X-Workspace-Id names no workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "The name is taken, or the workspace has 20 servers already (CONFLICT, details.reason = name_taken | too_many_servers)", body = ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: Allowed<can::WorkspaceSettings>,
    origin: Origin,
    Json(body): Json<NewMcpServer>,
) -> ApiResult<(StatusCode, Json<McpServerView>)> {
    let id = caller.workspace_id;
    let headers: Vec<HeaderTemplate> = body
        .headers
        .unwrap_or_default()
        .into_iter()
        .map(Into::into)
        .collect();
    let f = check_fields(
        &state,
        id,
        &body.name,
        &body.url,
        body.description.as_deref(),
        headers,
    )
    .await?;
    let row = mcp_servers::create(
        &state.db,
        id,
        &ServerFields {
            name: &f.name,
            description: &f.description,
            url: &f.url,
            headers: &f.headers,
        },
        caller.user_id,
    )
    .await?
    .map_err(|why| refusal(why, &f.name))?;
    let entry = Activity::new(id, caller.user_id, Action::McpServerCreated)
        .details(json!({ "name": row.name, "url": row.url }))
        .record(&state.db, &origin)
        .await?;
    activity::publish(&state, [entry]).await;
    Ok((StatusCode::CREATED, Json(McpServerView::from(row))))
}

/// One MCP server (any member).
#[utoipa::path(
    get, path = "/api/v1/mcp/servers/{id}", operation_id = "mcp_servers_get", tag = "mcp", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "MCP server id")),
    responses(
        (status = 200, description = "The server", body = McpServerView),
        (status = 404, description = "No such server in the workspace (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Path(server_id): Path<Uuid>,
) -> ApiResult<Json<McpServerView>> {
    let id = caller.workspace_id;
    Ok(Json(load(&state, id, server_id).await?.into()))
}

/// Change an MCP server (owners and admins). A new URL or new headers make
/// it `pending` until it connects again; runs started meanwhile use the new
/// settings.
#[utoipa::path(
    patch, path = "/api/v1/mcp/servers/{id}", operation_id = "mcp_servers_update", tag = "mcp", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "MCP server id")),
    request_body = McpServerChange,
    responses(
        (status = 200, description = "Changed", body = McpServerView),
        (status = 400, description = "A bad name, URL, description or header (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Your role may not change the workspace's settings (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No such server in the workspace (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "The new name is taken (CONFLICT, details.reason = name_taken)", body = ErrorEnvelope),
    )
)]
pub async fn update(
    State(state): State<AppState>,
    caller: Allowed<can::WorkspaceSettings>,
    origin: Origin,
    Path(server_id): Path<Uuid>,
    Json(body): Json<McpServerChange>,
) -> ApiResult<Json<McpServerView>> {
    let id = caller.workspace_id;
    let old = load(&state, id, server_id).await?;
    let headers = match body.headers {
        Some(h) => h.into_iter().map(Into::into).collect(),
        None => old.headers.0.clone(),
    };
    let f = check_fields(
        &state,
        id,
        body.name.as_deref().unwrap_or(&old.name),
        body.url.as_deref().unwrap_or(&old.url),
        Some(body.description.as_deref().unwrap_or(&old.description)),
        headers,
    )
    .await?;
    let row = mcp_servers::update(
        &state.db,
        id,
        server_id,
        &ServerFields {
            name: &f.name,
            description: &f.description,
            url: &f.url,
            headers: &f.headers,
        },
    )
    .await?
    .map_err(|why| refusal(why, &f.name))?
    .ok_or_else(|| ApiError::not_found("MCP server"))?;
    let entry = Activity::new(id, caller.user_id, Action::McpServerUpdated)
        .details(json!({ "name": row.name, "previousName": old.name, "url": row.url }))
        .record(&state.db, &origin)
        .await?;
    activity::publish(&state, [entry]).await;
    Ok(Json(row.into()))
}

/// Delete an MCP server (owners and admins). Runs that name it fail to
/// start, naming it, until one of that name is registered again.
#[utoipa::path(
    delete, path = "/api/v1/mcp/servers/{id}", operation_id = "mcp_servers_delete", tag = "mcp", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "MCP server id")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Your role may not change the workspace's settings (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No such server in the workspace (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: Allowed<can::WorkspaceSettings>,
    origin: Origin,
    Path(server_id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let id = caller.workspace_id;
    let name = mcp_servers::delete(&state.db, id, server_id)
        .await?
        .ok_or_else(|| ApiError::not_found("MCP server"))?;
    let entry = Activity::new(id, caller.user_id, Action::McpServerDeleted)
        .details(json!({ "name": name }))
        .record(&state.db, &origin)
        .await?;
    activity::publish(&state, [entry]).await;
    Ok(StatusCode::NO_CONTENT)
}

/// Connect to an MCP server (owners and admins): the MCP handshake, then
/// its tools, cached. The answer is the server as recorded: `connected`
/// with its tools counted, or `failed` with `lastError` (a server that
/// cannot be reached is an outcome, not an error of this route).
#[utoipa::path(
    post, path = "/api/v1/mcp/servers/{id}/connect", operation_id = "mcp_servers_connect", tag = "mcp", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "MCP server id")),
    responses(
        (status = 200, description = "Connected, or failed (status and lastError say)", body = McpServerView),
        (status = 403, description = "Your role may not change the workspace's settings (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No such server in the workspace (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "The server was changed or deleted while connecting: connect again (CONFLICT)", body = ErrorEnvelope),
        (status = 503, description = "The vault's key service is unreachable (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn connect(
    State(state): State<AppState>,
    caller: Allowed<can::WorkspaceSettings>,
    origin: Origin,
    Path(server_id): Path<Uuid>,
) -> ApiResult<Json<McpServerView>> {
    let id = caller.workspace_id;
    let row = load(&state, id, server_id).await?;
    let values = state
        .vault
        .resolve(id, &run_protocol::mcp::secret_names(&row.headers.0))
        .await?;
    let rendered: Result<Vec<(String, String)>, String> = row
        .headers
        .0
        .iter()
        .map(|h| h.render(&values).map(|v| (h.name.clone(), v)))
        .collect();
    let outcome = match rendered {
        Err(why) => Err(why),
        Ok(headers) => {
            let started = Instant::now();
            match McpClient::connect(&row.url, &headers, &allow_list(&state), CONNECT_BUDGET).await
            {
                Err(e) => Err(describe(&e)),
                Ok(client) => {
                    let left = CONNECT_BUDGET
                        .saturating_sub(started.elapsed())
                        .max(Duration::from_secs(1));
                    let tools = client.tools(left).await;
                    let info = client.server().clone();
                    client.close().await;
                    tools.map(|t| (info, t)).map_err(|e| describe(&e))
                }
            }
        }
    };
    // What the other side says in an error may quote what it was sent.
    let redactor = Redactor::new(values.values().cloned());
    let outcome = outcome.map_err(|why| redactor.redact_str(&why));
    let (checked, details) = match &outcome {
        Ok((info, tools)) => (
            Checked::Connected {
                server_info: json!(info),
                tools: json!(tools),
            },
            json!({ "name": row.name, "status": "connected", "toolCount": tools.len() }),
        ),
        Err(why) => (
            Checked::Failed { error: why },
            json!({ "name": row.name, "status": "failed", "error": why }),
        ),
    };
    let updated = mcp_servers::record_check(&state.db, row.id, row.updated_at, checked)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                "the server was changed or deleted while connecting; connect again",
            )
        })?;
    let mut entries = vec![
        Activity::new(id, caller.user_id, Action::McpServerConnected)
            .details(details)
            .record(&state.db, &origin)
            .await?,
    ];
    if !values.is_empty() {
        let used: Vec<&String> = values.keys().collect();
        entries.push(
            Activity::new(id, caller.user_id, Action::SecretUsed)
                .details(json!({ "names": used, "mcpServer": row.name }))
                .record(&state.db, &origin)
                .await?,
        );
    }
    activity::publish(&state, entries).await;
    Ok(Json(updated.into()))
}

/// A failure as `lastError` shows it: what kind, and what happened.
fn describe(e: &mcp::McpError) -> String {
    let kind = match e.kind {
        McpErrorKind::Config => "configuration",
        McpErrorKind::Blocked => "blocked",
        McpErrorKind::Unauthorized => "unauthorized",
        McpErrorKind::Timeout => "timeout",
        McpErrorKind::Network => "unreachable",
        McpErrorKind::Protocol => "protocol",
    };
    format!("{kind}: {}", e.message)
}

/// Disconnect an MCP server (owners and admins): agents may not use it until
/// it connects again; runs that name it fail to start, saying so.
#[utoipa::path(
    post, path = "/api/v1/mcp/servers/{id}/disconnect", operation_id = "mcp_servers_disconnect", tag = "mcp", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "MCP server id")),
    responses(
        (status = 200, description = "Disabled", body = McpServerView),
        (status = 403, description = "Your role may not change the workspace's settings (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "No such server in the workspace (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn disconnect(
    State(state): State<AppState>,
    caller: Allowed<can::WorkspaceSettings>,
    origin: Origin,
    Path(server_id): Path<Uuid>,
) -> ApiResult<Json<McpServerView>> {
    let id = caller.workspace_id;
    let row = mcp_servers::disable(&state.db, id, server_id)
        .await?
        .ok_or_else(|| ApiError::not_found("MCP server"))?;
    let entry = Activity::new(id, caller.user_id, Action::McpServerDisconnected)
        .details(json!({ "name": row.name }))
        .record(&state.db, &origin)
        .await?;
    activity::publish(&state, [entry]).await;
    Ok(Json(row.into()))
}

/// The tools a server's last successful connect listed (any member).
#[utoipa::path(
    get, path = "/api/v1/mcp/servers/{id}/tools", operation_id = "mcp_servers_tools", tag = "mcp", security(("bearer" = [])),
    params(InWorkspace, ("id" = Uuid, Path, description = "MCP server id")),
    responses(
        (status = 200, description = "Its tools, as cached (empty before the first connect)", body = McpToolList),
        (status = 404, description = "No such server in the workspace (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn tools(
    State(state): State<AppState>,
    caller: Allowed<can::ViewWorkflows>,
    Path(server_id): Path<Uuid>,
) -> ApiResult<Json<McpToolList>> {
    let id = caller.workspace_id;
    let row = load(&state, id, server_id).await?;
    let mut tools: Vec<McpToolView> = serde_json::from_value(row.tools.clone()).unwrap_or_default();
    for t in &mut tools {
        t.reference = format!("{MCP_PREFIX}{}/{}", row.name, t.name);
    }
    Ok(Json(McpToolList {
        server: row.into(),
        tools,
    }))
}
