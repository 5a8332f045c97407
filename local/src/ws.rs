//! The local WebSocket gateway at `/ws`, with API Gateway's semantics: it
//! assigns connection ids, calls the same `$connect` / `$default` /
//! `$disconnect` handlers with the same event shapes, refuses the upgrade
//! when `$connect` does not answer 200, and implements the push port by
//! writing to the sockets (an unknown connection is `Gone`, like a 410).

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
};

use aws_lambda_events::apigw::{
    ApiGatewayWebsocketProxyRequest, ApiGatewayWebsocketProxyRequestContext,
};
use axum::{
    extract::{
        ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade},
        Query,
    },
    http::StatusCode,
    response::{IntoResponse, Response},
    Extension,
};
use base64::Engine as _;
use shared::{
    future::BoxFuture,
    realtime::{
        handlers::{self, Deps},
        CloseReason, PushError, Pusher, Realtime,
    },
    AppState,
};
use tokio::sync::mpsc;

/// What the gateway sends down one socket.
#[derive(Debug)]
enum Outgoing {
    Frame(String),
    Close(CloseReason),
}

/// Open sockets by connection id: the local push port.
#[derive(Default)]
pub struct LocalSockets {
    senders: Mutex<HashMap<String, mpsc::UnboundedSender<Outgoing>>>,
}

impl std::fmt::Debug for LocalSockets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalSockets").finish_non_exhaustive()
    }
}

impl LocalSockets {
    fn register(&self, id: &str) -> mpsc::UnboundedReceiver<Outgoing> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.senders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id.to_owned(), tx);
        rx
    }

    fn forget(&self, id: &str) {
        self.senders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
    }

    pub fn open(&self) -> usize {
        self.senders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl LocalSockets {
    fn send(
        &self,
        connection_id: &str,
        out: Outgoing,
    ) -> BoxFuture<'static, Result<(), PushError>> {
        let sent = self
            .senders
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(connection_id)
            .map(|tx| tx.send(out).is_ok());
        Box::pin(async move {
            match sent {
                Some(true) => Ok(()),
                _ => Err(PushError::Gone),
            }
        })
    }
}

impl Pusher for LocalSockets {
    fn push(&self, connection_id: String, frame: String) -> BoxFuture<'_, Result<(), PushError>> {
        self.send(&connection_id, Outgoing::Frame(frame))
    }

    fn close(
        &self,
        connection_id: String,
        reason: CloseReason,
    ) -> BoxFuture<'_, Result<(), PushError>> {
        self.send(&connection_id, Outgoing::Close(reason))
    }
}

/// A connection id shaped like API Gateway's (12 random bytes, base64).
fn new_connection_id() -> String {
    let bytes: [u8; 12] = rand::random();
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn event(
    connection_id: &str,
    route: &str,
    event_type: &str,
    query: &HashMap<String, String>,
    body: Option<String>,
) -> ApiGatewayWebsocketProxyRequest {
    let mut ctx = ApiGatewayWebsocketProxyRequestContext::default();
    ctx.connection_id = Some(connection_id.to_owned());
    ctx.route_key = Some(route.to_owned());
    ctx.event_type = Some(event_type.to_owned());
    ctx.stage = Some("local".to_owned());
    ctx.domain_name = Some("localhost".to_owned());
    ctx.connected_at = chrono::Utc::now().timestamp_millis();
    let mut req = ApiGatewayWebsocketProxyRequest::default();
    req.query_string_parameters = query
        .iter()
        .map(|(k, v)| (k.clone(), vec![v.clone()]))
        .collect::<HashMap<String, Vec<String>>>()
        .into();
    req.request_context = ctx;
    req.body = body;
    req
}

/// Whether a frame is the `chat` action (the WebSocket API's route selection on `action`).
fn is_chat(body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body).is_ok_and(|v| v["action"] == "chat")
}

/// `GET /ws?token=…`: `$connect`, then the socket's frames to `$default`
/// until it closes, then `$disconnect`.
pub async fn upgrade(
    Extension(state): Extension<AppState>,
    Extension(rt): Extension<Arc<Realtime>>,
    Extension(sockets): Extension<Arc<LocalSockets>>,
    Query(query): Query<HashMap<String, String>>,
    ws: WebSocketUpgrade,
) -> Response {
    let id = new_connection_id();
    let outbox = sockets.register(&id);
    let deps = Deps::from(&state);
    let answer =
        handlers::connect(&deps, &rt, &event(&id, "$connect", "CONNECT", &query, None)).await;
    if answer.status_code != 200 {
        sockets.forget(&id);
        let status = StatusCode::from_u16(u16::try_from(answer.status_code).unwrap_or(500))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let body = match answer.body {
            Some(aws_lambda_events::encodings::Body::Text(t)) => t,
            _ => String::new(),
        };
        return (status, [("content-type", "application/json")], body).into_response();
    }
    ws.on_upgrade(move |socket| serve(socket, id, outbox, deps, state, rt, sockets))
}

async fn serve(
    socket: WebSocket,
    id: String,
    mut outbox: mpsc::UnboundedReceiver<Outgoing>,
    state: Deps,
    app: AppState,
    rt: Arc<Realtime>,
    sockets: Arc<LocalSockets>,
) {
    use futures_util::{SinkExt, StreamExt};
    let (mut sink, mut stream) = socket.split();
    let writer = tokio::spawn(async move {
        while let Some(out) = outbox.recv().await {
            match out {
                Outgoing::Frame(frame) => {
                    if sink.send(Message::Text(frame.into())).await.is_err() {
                        break;
                    }
                }
                Outgoing::Close(reason) => {
                    let frame = CloseFrame {
                        code: reason.code(),
                        reason: reason.as_str().into(),
                    };
                    let _ = sink.send(Message::Close(Some(frame))).await;
                    return;
                }
            }
        }
        let _ = sink.close().await;
    });
    let none = HashMap::new();
    while let Some(Ok(msg)) = stream.next().await {
        let body = match msg {
            Message::Text(t) => t.to_string(),
            Message::Binary(b) => String::from_utf8_lossy(&b).into_owned(),
            Message::Close(_) => break,
            // Pings are answered by the server library.
            Message::Ping(_) | Message::Pong(_) => continue,
        };
        // The design assistant's `chat` action, as API Gateway routes it to
        // the agents function: served on its own, as an invocation would be,
        // so the socket's other frames are not held up while it answers.
        if is_chat(&body) {
            let (app, rt, id) = (app.clone(), rt.clone(), id.clone());
            tokio::spawn(async move {
                let origin = shared::activity::Origin::system();
                agents::chat_ws::handle(&app, &rt, &origin, &id, &body).await;
            });
            continue;
        }
        handlers::default(
            &state,
            &rt,
            &event(&id, "$default", "MESSAGE", &none, Some(body)),
        )
        .await;
    }
    sockets.forget(&id);
    handlers::disconnect(&rt, &event(&id, "$disconnect", "DISCONNECT", &none, None)).await;
    writer.abort();
}
