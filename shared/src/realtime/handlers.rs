//! The WebSocket routes, with API Gateway's event shapes: `$connect`
//! authenticates the access token from the query string and binds the
//! connection to its user (and to `user:{id}`), its session and its token's
//! expiry (see [`closing`]); `$disconnect` forgets it; `$default` routes on
//! `action` (`subscribe`, `unsubscribe`, `authenticate`, `ping`).
//!
//! Frames go out through the pusher, never from `$connect`. A bad frame gets
//! an `error` frame with a stable code; the socket stays open.

use aws_lambda_events::{
    apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest},
    encodings::Body,
};
use run_protocol::{message::MessageType, ExecutionStatus};
use serde::Deserialize;
use serde_json::{json, Value};
use uuid::Uuid;

use super::{
    closing,
    deliver::{self, Stream},
    presence, CloseReason, Connection, Realtime,
};
use crate::{
    auth::{TokenKeys, TokenKind},
    db::{activity, chat, execution_reads, sessions, workspaces},
};

/// What the handlers need besides the real-time ports: Postgres, and the
/// keys that verify access tokens.
#[derive(Debug, Clone)]
pub struct Deps {
    pub db: sqlx::PgPool,
    pub tokens: std::sync::Arc<TokenKeys>,
}

fn response(status: i64, body: Value) -> ApiGatewayProxyResponse {
    let mut r = ApiGatewayProxyResponse::default();
    r.status_code = status;
    r.headers.insert(
        "content-type",
        axum::http::HeaderValue::from_static("application/json"),
    );
    r.body = Some(Body::Text(body.to_string()));
    r
}

fn error_body(code: &str, message: &str) -> Value {
    json!({ "type": MessageType::Error, "code": code, "message": message })
}

fn connection_id(req: &ApiGatewayWebsocketProxyRequest) -> Option<String> {
    req.request_context.connection_id.clone()
}

/// `$connect`: 200 binds the connection to the token's user; 401 refuses it.
pub async fn connect(
    state: &Deps,
    rt: &Realtime,
    req: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(id) = connection_id(req) else {
        return response(400, error_body("VALIDATION_ERROR", "no connection id"));
    };
    let Some(token) = req.query_string_parameters.first("token") else {
        return response(
            401,
            error_body("UNAUTHORIZED", "connect with ?token=<access token>"),
        );
    };
    let claims = match state.tokens.verify(token, TokenKind::Access) {
        Ok(c) => c,
        Err(e) => {
            let code = serde_json::to_value(crate::ApiError::from(e).code())
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "UNAUTHORIZED".into());
            return response(401, error_body(&code, "the access token is not valid"));
        }
    };
    match sessions::is_revoked(&state.db, claims.sid).await {
        Ok(false) => {}
        Ok(true) => {
            return response(
                401,
                error_body("TOKEN_INVALID", "this session has been signed out"),
            )
        }
        Err(e) => {
            tracing::warn!(connection_id = %id, error = %e, "cannot check a session");
            return response(503, error_body("SERVICE_UNAVAILABLE", "try again shortly"));
        }
    }
    let connection = Connection {
        id: id.clone(),
        user_id: claims.sub,
        connected_at: chrono::Utc::now().timestamp(),
        session_id: claims.sid,
        expires_at: claims.exp,
    };
    let stored = async {
        rt.store.put(connection.clone()).await?;
        // The user's own topic, and their personal workspace's (the runs
        // they start there, its activity from now on); a team workspace's
        // is subscribed to by name.
        rt.store
            .subscribe(id.clone(), format!("user:{}", claims.sub), 0)
            .await?;
        let from = activity::last_seq(&state.db, claims.sub)
            .await?
            .unwrap_or(0);
        rt.store
            .subscribe(id.clone(), format!("workspace:{}", claims.sub), from)
            .await?;
        closing::bind(rt, &connection).await
    };
    match stored.await {
        Ok(()) => response(200, json!({ "connected": true, "expiresAt": claims.exp })),
        Err(e) => {
            tracing::warn!(connection_id = %id, error = %e, "cannot store a connection");
            response(503, error_body("SERVICE_UNAVAILABLE", "try again shortly"))
        }
    }
}

/// `$disconnect`: forgets the connection and its subscriptions.
pub async fn disconnect(
    rt: &Realtime,
    req: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    if let Some(id) = connection_id(req) {
        let topics = rt.store.subscriptions(id.clone()).await.unwrap_or_default();
        if let Err(e) = rt.store.remove(id.clone()).await {
            tracing::warn!(connection_id = %id, error = %e, "cannot remove a connection");
        }
        presence::announce_left(rt, &topics).await;
    }
    response(200, json!({}))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientMessage {
    action: String,
    #[serde(default)]
    topic: Option<String>,
    /// Catch up from after this sequence number.
    #[serde(default)]
    after: Option<i64>,
    /// A fresh access token (`authenticate`).
    #[serde(default)]
    token: Option<String>,
    /// Echoed back, so a client can match answers to requests.
    #[serde(default, rename = "requestId")]
    request_id: Option<Value>,
}

#[derive(Debug, Clone, Copy)]
enum Topic {
    Execution(Uuid),
    Workflow(Uuid),
    User(Uuid),
    Workspace(Uuid),
    /// A workflow's design-assistant chat (numbered).
    Chat(Uuid),
}

fn parse_topic(t: &str) -> Option<Topic> {
    let (kind, id) = t.split_once(':')?;
    let id: Uuid = id.parse().ok()?;
    match kind {
        "execution" => Some(Topic::Execution(id)),
        "workflow" => Some(Topic::Workflow(id)),
        "user" => Some(Topic::User(id)),
        "workspace" => Some(Topic::Workspace(id)),
        "chat" => Some(Topic::Chat(id)),
        _ => None,
    }
}

/// `$default`: one client message. Always 200; the answer is a pushed frame.
pub async fn default(
    state: &Deps,
    rt: &Realtime,
    req: &ApiGatewayWebsocketProxyRequest,
) -> ApiGatewayProxyResponse {
    let Some(conn) = connection_id(req) else {
        return response(400, error_body("VALIDATION_ERROR", "no connection id"));
    };
    let answer = handle_message(state, rt, &conn, req.body.as_deref().unwrap_or_default()).await;
    if let Some(frame) = answer {
        rt.push(&conn, frame.to_string()).await;
    }
    response(200, json!({}))
}

async fn handle_message(state: &Deps, rt: &Realtime, conn: &str, body: &str) -> Option<Value> {
    let msg: ClientMessage = match serde_json::from_str(body) {
        Ok(m) => m,
        Err(e) => {
            return Some(error_body(
                "VALIDATION_ERROR",
                &format!("frames are JSON objects with an action: {e}"),
            ))
        }
    };
    let rid = msg.request_id.clone();
    let with_id = |mut v: Value| {
        if let Some(r) = &rid {
            v["requestId"] = r.clone();
        }
        v
    };
    let connection = match rt.store.get(conn.to_owned()).await {
        Ok(Some(c)) => c,
        Ok(None) => {
            return Some(with_id(error_body(
                "UNAUTHORIZED",
                "this connection is not signed in",
            )))
        }
        Err(e) => {
            tracing::warn!(connection_id = conn, error = %e, "cannot read a connection");
            return Some(with_id(error_body(
                "SERVICE_UNAVAILABLE",
                "try again shortly",
            )));
        }
    };
    let user = connection.user_id;
    // The sweeper closes expired connections within a minute; a message
    // from one in between is not served.
    if connection.expires_at <= chrono::Utc::now().timestamp() && msg.action != "authenticate" {
        closing::close(rt, conn, CloseReason::TokenExpired).await;
        return None;
    }
    match msg.action.as_str() {
        "ping" => Some(with_id(
            json!({ "type": MessageType::Pong, "ts": chrono::Utc::now() }),
        )),
        "authenticate" => Some(with_id(
            authenticate(state, rt, &connection, msg.token.as_deref()).await,
        )),
        "subscribe" | "unsubscribe" => {
            let Some(topic_name) = msg.topic.clone() else {
                return Some(with_id(error_body("VALIDATION_ERROR", "topic is required")));
            };
            let Some(topic) = parse_topic(&topic_name) else {
                return Some(with_id(error_body(
                    "VALIDATION_ERROR",
                    "topic must be execution:{id}, workflow:{id}, chat:{id}, workspace:{id} or user:{id}",
                )));
            };
            if msg.action == "unsubscribe" {
                return Some(with_id(
                    match rt
                        .store
                        .unsubscribe(conn.to_owned(), topic_name.clone())
                        .await
                    {
                        Ok(()) => {
                            if let Topic::Workflow(id) = topic {
                                rt.push(conn, with_id(json!({ "type": MessageType::Unsubscribed, "topic": topic_name })).to_string()).await;
                                presence::announce(rt, id).await;
                                return None;
                            }
                            json!({ "type": MessageType::Unsubscribed, "topic": topic_name })
                        }
                        Err(_) => error_body("SERVICE_UNAVAILABLE", "try again shortly"),
                    },
                ));
            }
            let opened = match topic {
                Topic::Workflow(id) => Some(id),
                _ => None,
            };
            match subscribe(state, rt, conn, user, topic, topic_name.clone(), msg.after).await {
                Ok(sub) => {
                    let mut answer = json!({ "type": MessageType::Subscribed, "topic": topic_name, "after": sub.cursor });
                    // For a run: where it stands, so a client that (re)subscribes at
                    // any moment knows what is still to come. When it has ended,
                    // `lastSeq` is its `execution:completed` message. For a
                    // workspace: the number of its latest activity.
                    if let Some(status) = sub.status {
                        answer["status"] = json!(status);
                    }
                    if let Some(last_seq) = sub.last_seq {
                        answer["lastSeq"] = json!(last_seq);
                    }
                    rt.push(conn, with_id(answer).to_string()).await;
                    if let Some(stream) = sub.stream {
                        // Catch up from the cursor to the last stored message; live
                        // ones continue from there (the cursor keeps them in
                        // order, once each).
                        deliver::deliver_in_order(rt, &state.db, conn, &topic_name, stream, None)
                            .await;
                    }
                    if let Some(id) = opened {
                        presence::announce(rt, id).await;
                    }
                    None
                }
                Err(e) => Some(with_id(e)),
            }
        }
        other => Some(with_id(error_body(
            "VALIDATION_ERROR",
            &format!("unknown action {other:?}: use subscribe, unsubscribe, authenticate or ping"),
        ))),
    }
}

/// `authenticate`: a fresh access token of the same user keeps the
/// connection open until that token expires (and binds it to its session).
async fn authenticate(
    state: &Deps,
    rt: &Realtime,
    connection: &Connection,
    token: Option<&str>,
) -> Value {
    let Some(token) = token else {
        return error_body("VALIDATION_ERROR", "token is required");
    };
    let claims = match state.tokens.verify(token, TokenKind::Access) {
        Ok(c) if c.sub == connection.user_id => c,
        Ok(_) => {
            return error_body(
                "FORBIDDEN",
                "the token is another user's: open a new connection",
            )
        }
        Err(e) => {
            let code = serde_json::to_value(crate::ApiError::from(e).code())
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "UNAUTHORIZED".into());
            return error_body(&code, "the access token is not valid");
        }
    };
    match sessions::is_revoked(&state.db, claims.sid).await {
        Ok(false) => {}
        Ok(true) => return error_body("TOKEN_INVALID", "this session has been signed out"),
        Err(_) => return error_body("SERVICE_UNAVAILABLE", "try again shortly"),
    }
    let renewed = Connection {
        session_id: claims.sid,
        expires_at: claims.exp,
        ..connection.clone()
    };
    match closing::rebind(rt, connection, renewed).await {
        Ok(()) => json!({ "type": MessageType::Authenticated, "expiresAt": claims.exp }),
        Err(e) => {
            tracing::warn!(connection_id = %connection.id, error = %e, "cannot renew a connection");
            error_body("SERVICE_UNAVAILABLE", "try again shortly")
        }
    }
}

/// A subscription made: its cursor and, for a numbered stream (a run's
/// events, a workspace's activity), the stream, its last number and (for a
/// run) its status.
#[derive(Debug, Default)]
struct Subscription {
    cursor: i64,
    stream: Option<Stream>,
    last_seq: Option<i64>,
    status: Option<ExecutionStatus>,
}

impl Subscription {
    /// From `after` (clamped to what exists), or from now.
    fn numbered(stream: Stream, after: Option<i64>, last_seq: i64) -> Self {
        Self {
            cursor: after.unwrap_or(last_seq).clamp(0, last_seq),
            stream: Some(stream),
            last_seq: Some(last_seq),
            status: None,
        }
    }
}

/// Checks the topic is the caller's and subscribes with its cursor.
async fn subscribe(
    state: &Deps,
    rt: &Realtime,
    conn: &str,
    user: Uuid,
    topic: Topic,
    name: String,
    after: Option<i64>,
) -> Result<Subscription, Value> {
    let unavailable = || error_body("SERVICE_UNAVAILABLE", "try again shortly");
    let not_found = || error_body("NOT_FOUND", "no such topic of yours");
    let sub = match topic {
        Topic::Execution(id) => match execution_reads::progress(&state.db, user, id).await {
            Ok(Some((status, last_seq))) => Subscription {
                status: Some(status),
                ..Subscription::numbered(Stream::Execution(id), after, last_seq)
            },
            Ok(None) => return Err(not_found()),
            Err(_) => return Err(unavailable()),
        },
        Topic::Workflow(id) => match workspaces::can_see_workflow(&state.db, user, id).await {
            Ok(true) => Subscription::default(),
            Ok(false) => return Err(not_found()),
            Err(_) => return Err(unavailable()),
        },
        Topic::Workspace(id) => match workspaces::membership(&state.db, id, user).await {
            Ok(Some(_)) => match activity::last_seq(&state.db, id).await {
                Ok(Some(last_seq)) => {
                    Subscription::numbered(Stream::Workspace(id), after, last_seq)
                }
                Ok(None) => return Err(not_found()),
                Err(_) => return Err(unavailable()),
            },
            Ok(None) => return Err(not_found()),
            Err(_) => return Err(unavailable()),
        },
        Topic::Chat(id) => match workspaces::can_see_workflow(&state.db, user, id).await {
            Ok(true) => match chat::last_seq(&state.db, id).await {
                Ok(Some(last_seq)) => Subscription::numbered(Stream::Chat(id), after, last_seq),
                Ok(None) => return Err(not_found()),
                Err(_) => return Err(unavailable()),
            },
            Ok(false) => return Err(not_found()),
            Err(_) => return Err(unavailable()),
        },
        Topic::User(id) if id == user => Subscription::default(),
        Topic::User(_) => return Err(not_found()),
    };
    rt.store
        .subscribe(conn.to_owned(), name.clone(), sub.cursor)
        .await
        .map_err(|_| unavailable())?;
    // A removal that committed between the check and the store ended the
    // member's subscriptions before this one existed: check once more.
    let still = match topic {
        Topic::Execution(id) => execution_reads::progress(&state.db, user, id)
            .await
            .map(|p| p.is_some()),
        Topic::Workflow(id) | Topic::Chat(id) => {
            workspaces::can_see_workflow(&state.db, user, id).await
        }
        Topic::Workspace(id) => workspaces::membership(&state.db, id, user)
            .await
            .map(|m| m.is_some()),
        Topic::User(_) => Ok(true),
    };
    if !matches!(still, Ok(true)) {
        let _ = rt.store.unsubscribe(conn.to_owned(), name).await;
        return Err(if still.is_err() {
            unavailable()
        } else {
            not_found()
        });
    }
    Ok(sub)
}
