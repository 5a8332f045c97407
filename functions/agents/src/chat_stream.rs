//! A workflow's chat as it streams to `chat:{workflowId}`: each message is
//! numbered and stored before it is published, so the fan-out delivers it
//! in order, once each, and a subscriber that reconnects with `after`
//! catches up from Postgres. An answer's pieces (`chat:delta`) are stored a
//! batch at a time (one statement per batch, every [`FLUSH`] or
//! [`BATCH`] pieces); once the answer's whole message is stored, its pieces
//! are dropped.

use std::{sync::Arc, time::Duration};

use run_protocol::message::MessageType;
use serde_json::{json, Value};
use shared::{
    db::chat::{self, EventKind},
    realtime::publish::{Published, Publisher},
};
use sqlx::PgPool;
use tokio::{sync::mpsc, task::JoinHandle};
use uuid::Uuid;

/// How long pieces wait to be stored together.
const FLUSH: Duration = Duration::from_millis(50);
/// The most pieces stored by one statement.
const BATCH: usize = 64;

/// A workflow's chat stream.
#[derive(Clone)]
pub struct ChatStream {
    db: PgPool,
    publisher: Option<Arc<dyn Publisher>>,
    workflow_id: Uuid,
}

impl ChatStream {
    pub fn new(db: PgPool, publisher: Option<Arc<dyn Publisher>>, workflow_id: Uuid) -> Self {
        Self {
            db,
            publisher,
            workflow_id,
        }
    }

    fn topic(&self) -> String {
        format!("chat:{}", self.workflow_id)
    }

    /// Stores and publishes numbered messages of one chat message; a
    /// failure to store is logged (the history holds the message anyway).
    async fn send(&self, message_id: Uuid, items: Vec<(EventKind, Value)>) {
        let seqs = match chat::record(&self.db, self.workflow_id, message_id, &items).await {
            Ok(s) => s,
            Err(e) => {
                tracing::warn!(workflow_id = %self.workflow_id, error = %e, "cannot store chat stream messages");
                return;
            }
        };
        let Some(publisher) = &self.publisher else {
            return;
        };
        for (seq, (_, mut message)) in seqs.into_iter().zip(items) {
            message["seq"] = json!(seq);
            publisher
                .publish(Published {
                    topic: self.topic(),
                    message,
                })
                .await;
        }
    }

    /// A whole message (a user's, an answer's end, an outcome), streamed;
    /// for an answer's end, its pieces are dropped afterwards.
    pub async fn message(&self, message: &Value) {
        let Some(id) = message["id"].as_str().and_then(|s| s.parse::<Uuid>().ok()) else {
            return;
        };
        let frame = json!({
            "type": MessageType::ChatMessage, "workflowId": self.workflow_id,
            "messageId": id, "message": message,
        });
        self.send(id, vec![(EventKind::Message, frame)]).await;
        if message["role"] == "assistant" {
            if let Err(e) = chat::drop_deltas(&self.db, self.workflow_id, id).await {
                tracing::warn!(workflow_id = %self.workflow_id, error = %e, "cannot drop an answer's pieces");
            }
        }
    }

    /// Where an answer's pieces go: a sender, and the task that stores and
    /// publishes them in order (it ends once the sender is dropped and
    /// everything sent is out).
    pub fn pieces(&self, message_id: Uuid) -> (mpsc::UnboundedSender<String>, JoinHandle<()>) {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let stream = self.clone();
        let task = tokio::spawn(async move {
            let frame = |delta: String| {
                (
                    EventKind::Delta,
                    json!({ "type": MessageType::ChatDelta, "workflowId": stream.workflow_id,
                            "messageId": message_id, "delta": delta }),
                )
            };
            while let Some(first) = rx.recv().await {
                let mut batch = vec![frame(first)];
                let until = tokio::time::Instant::now() + FLUSH;
                while batch.len() < BATCH {
                    match tokio::time::timeout_at(until, rx.recv()).await {
                        Ok(Some(next)) => batch.push(frame(next)),
                        Ok(None) | Err(_) => break,
                    }
                }
                stream.send(message_id, batch).await;
            }
        });
        (tx, task)
    }
}
