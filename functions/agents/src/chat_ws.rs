//! The design assistant as a WebSocket action:
//! `{"action": "chat", "workflowId": "…", "message": "…", "requestId": …}`.
//! The connection is subscribed to `chat:{workflowId}` (from where the
//! stream stands, if it was not already), the exchange is the HTTP route's
//! ([`crate::chat_turn::converse`]), and the connection gets
//! `chat:answered` (or an `error` frame with the API's code and details)
//! once the answer is stored. On AWS the WebSocket API's `chat` route
//! invokes the agents function; locally the gateway calls [`handle`].

use run_protocol::message::MessageType;
use serde::Deserialize;
use serde_json::{json, Value};
use shared::{
    access::{Credential, Member, Permission},
    activity::Origin,
    db::{chat, sessions, workflows, workspaces},
    realtime::Realtime,
    ApiError, AppState,
};
use uuid::Uuid;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ChatFrame {
    #[allow(dead_code)]
    action: String,
    workflow_id: Uuid,
    message: String,
    #[serde(default)]
    request_id: Option<Value>,
}

fn error(code: &str, message: &str, details: Option<&Value>) -> Value {
    let mut v = json!({ "type": MessageType::Error, "code": code, "message": message });
    if let Some(d) = details {
        v["details"] = d.clone();
    }
    v
}

fn api_error(e: &ApiError) -> Value {
    let body = crate::chat_turn::error_of(e);
    // The envelope's own message: what went wrong inside stays in the logs.
    let message = if e.code().status().is_server_error()
        && e.code() != shared::error::ErrorCode::UpstreamError
    {
        "try again shortly"
    } else {
        &body.message
    };
    error(&body.code, message, e.details())
}

/// Serves one `chat` frame of a connection: the answer is pushed to it.
pub async fn handle(
    state: &AppState,
    rt: &Realtime,
    origin: &Origin,
    connection_id: &str,
    body: &str,
) {
    let request_id = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| v.get("requestId").cloned());
    let mut frame = answer(state, rt, origin, connection_id, body).await;
    if let Some(r) = request_id {
        frame["requestId"] = r;
    }
    rt.push(connection_id, frame.to_string()).await;
}

async fn answer(
    state: &AppState,
    rt: &Realtime,
    origin: &Origin,
    connection_id: &str,
    body: &str,
) -> Value {
    let frame: ChatFrame = match serde_json::from_str(body) {
        Ok(f) => f,
        Err(e) => {
            return error(
                "VALIDATION_ERROR",
                &format!("a chat frame is {{\"action\": \"chat\", \"workflowId\", \"message\", \"requestId\"?}}: {e}"),
                None,
            )
        }
    };
    let unavailable = || error("SERVICE_UNAVAILABLE", "try again shortly", None);
    let conn = match rt.store.get(connection_id.to_owned()).await {
        Ok(Some(c)) => c,
        Ok(None) => return error("UNAUTHORIZED", "this connection is not signed in", None),
        Err(_) => return unavailable(),
    };
    if conn.expires_at <= chrono::Utc::now().timestamp() {
        return error(
            "TOKEN_EXPIRED",
            "the access token of this connection has expired: authenticate again",
            None,
        );
    }
    match sessions::is_revoked(&state.db, conn.session_id).await {
        Ok(false) => {}
        Ok(true) => return error("TOKEN_INVALID", "this session has been signed out", None),
        Err(_) => return unavailable(),
    }
    let not_found = || error("NOT_FOUND", "no such workflow of yours", None);
    let workspace_id = match workflows::workspace_of(&state.db, frame.workflow_id).await {
        Ok(Some(w)) => w,
        Ok(None) => return not_found(),
        Err(_) => return unavailable(),
    };
    let (role, tier) = match workspaces::membership(&state.db, workspace_id, conn.user_id).await {
        Ok(Some(m)) => m,
        Ok(None) => return not_found(),
        Err(_) => return unavailable(),
    };
    let member = Member {
        user_id: conn.user_id,
        credential: Credential::Session(conn.session_id),
        workspace_id,
        role,
        tier,
    };
    if let Err(e) = member.require(Permission::EditWorkflows) {
        return api_error(&e);
    }
    // The answer's messages reach this connection on the chat's topic.
    let topic = format!("chat:{}", frame.workflow_id);
    let subscribed = matches!(
        rt.store
            .cursor(connection_id.to_owned(), topic.clone())
            .await,
        Ok(Some(_))
    );
    if !subscribed {
        let from = match chat::last_seq(&state.db, frame.workflow_id).await {
            Ok(Some(n)) => n,
            Ok(None) => return not_found(),
            Err(_) => return unavailable(),
        };
        if rt
            .store
            .subscribe(connection_id.to_owned(), topic.clone(), from)
            .await
            .is_err()
        {
            return unavailable();
        }
        let mut subscribed = json!({ "type": MessageType::Subscribed, "topic": topic, "after": from, "lastSeq": from });
        if let Some(r) = &frame.request_id {
            subscribed["requestId"] = r.clone();
        }
        rt.push(connection_id, subscribed.to_string()).await;
    }
    match crate::chat_turn::converse(state, &member, origin, frame.workflow_id, &frame.message)
        .await
    {
        Ok(ex) => json!({
            "type": MessageType::ChatAnswered, "workflowId": frame.workflow_id, "topic": topic,
            "messageId": ex.message.id, "answerId": ex.answer.id,
            "proposal": ex.answer.proposal.as_ref().map(|p| json!({ "status": p.status, "summary": p.summary })),
        }),
        Err(e) => api_error(&e),
    }
}

/// The function's router, also serving the WebSocket API's `chat` route:
/// lambda_http hands its events over as requests carrying their WebSocket
/// request context, which no HTTP route has.
#[cfg(feature = "aws")]
pub fn serve_socket_events(
    router: axum::Router,
    state: AppState,
    rt: std::sync::Arc<Realtime>,
) -> axum::Router {
    use axum::{
        extract::Request,
        http::StatusCode,
        middleware::{self, Next},
        response::IntoResponse,
    };
    use lambda_http::request::RequestContext;
    router.layer(middleware::from_fn(move |req: Request, next: Next| {
        let (state, rt) = (state.clone(), rt.clone());
        async move {
            let (connection, origin) = match req.extensions().get::<RequestContext>() {
                Some(RequestContext::WebSocket(ctx)) => (
                    ctx.connection_id.clone(),
                    Origin {
                        ip: ctx.identity.source_ip.clone(),
                        user_agent: ctx.identity.user_agent.clone(),
                    },
                ),
                _ => return next.run(req).await,
            };
            let Some(connection) = connection else {
                return StatusCode::BAD_REQUEST.into_response();
            };
            // API Gateway's WebSocket frames are at most 128 KiB.
            let body = axum::body::to_bytes(req.into_body(), 256 * 1024)
                .await
                .unwrap_or_default();
            handle(
                &state,
                &rt,
                &origin,
                &connection,
                &String::from_utf8_lossy(&body),
            )
            .await;
            StatusCode::OK.into_response()
        }
    }))
}
