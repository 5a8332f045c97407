//! A WebSocket client for tests (tokio-tungstenite).

use std::{collections::VecDeque, time::Duration};

use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use tokio_tungstenite::{connect_async, tungstenite::Message, MaybeTlsStream, WebSocketStream};

pub struct WsClient {
    socket: WebSocketStream<MaybeTlsStream<tokio::net::TcpStream>>,
    /// Messages of a `batch` frame not yet handed out.
    pending: VecDeque<Value>,
    /// Text frames received (a `batch` counts once).
    pub frames: usize,
}

/// The messages a frame carries: a `batch`'s, in order, or itself.
pub fn unbatch(frame: Value) -> Vec<Value> {
    if frame["type"] == "batch" {
        if let Value::Array(all) = frame["messages"].clone() {
            return all;
        }
    }
    vec![frame]
}

/// `ws://host/ws?token=…`; the HTTP status when the upgrade is refused.
pub async fn connect(base_url: &str, token: Option<&str>) -> Result<WsClient, u16> {
    let mut url = format!("{}/ws", base_url.replacen("http://", "ws://", 1));
    if let Some(t) = token {
        url.push_str("?token=");
        url.push_str(t);
    }
    match connect_async(url).await {
        Ok((socket, _)) => Ok(WsClient {
            socket,
            pending: VecDeque::new(),
            frames: 0,
        }),
        Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
        Err(e) => panic!("websocket connect: {e}"),
    }
}

impl WsClient {
    pub async fn send(&mut self, v: &Value) {
        self.socket
            .send(Message::Text(v.to_string().into()))
            .await
            .expect("send");
    }

    pub async fn send_text(&mut self, t: &str) {
        self.socket
            .send(Message::Text(t.to_owned().into()))
            .await
            .expect("send");
    }

    /// The next JSON message (a `batch` frame's one by one), or `None` after
    /// `wait` without one.
    pub async fn next(&mut self, wait: Duration) -> Option<Value> {
        if let Some(m) = self.pending.pop_front() {
            return Some(m);
        }
        loop {
            let msg = tokio::time::timeout(wait, self.socket.next())
                .await
                .ok()??;
            match msg.ok()? {
                Message::Text(t) => {
                    self.frames += 1;
                    self.pending.extend(unbatch(serde_json::from_str(&t).ok()?));
                    return self.pending.pop_front();
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    /// Reads until the server closes the connection: the frames before the
    /// close, and the close frame's code and reason (`None` if the socket
    /// ended without one, or nothing closed it within `wait`).
    pub async fn closed(&mut self, wait: Duration) -> (Vec<Value>, Option<(u16, String)>) {
        let started = std::time::Instant::now();
        let mut frames: Vec<Value> = self.pending.drain(..).collect();
        loop {
            let left = wait.saturating_sub(started.elapsed());
            let Ok(Some(Ok(msg))) = tokio::time::timeout(left, self.socket.next()).await else {
                return (frames, None);
            };
            match msg {
                Message::Text(t) => {
                    self.frames += 1;
                    frames.extend(
                        serde_json::from_str::<Value>(&t)
                            .ok()
                            .into_iter()
                            .flat_map(unbatch),
                    );
                }
                Message::Close(frame) => {
                    return (
                        frames,
                        frame.map(|f| (u16::from(f.code), f.reason.to_string())),
                    )
                }
                _ => continue,
            }
        }
    }

    /// Frames until one satisfies `done` (included), failing after `limit`.
    pub async fn until(&mut self, limit: Duration, done: impl Fn(&Value) -> bool) -> Vec<Value> {
        let started = std::time::Instant::now();
        let mut seen = Vec::new();
        loop {
            let left = limit.saturating_sub(started.elapsed());
            let Some(f) = self.next(left.max(Duration::from_millis(1))).await else {
                panic!("no frame matched within {limit:?}; saw {seen:#?}");
            };
            let stop = done(&f);
            seen.push(f);
            if stop {
                return seen;
            }
        }
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}
