//! Publishing: what the API and the run lifecycle send to real-time
//! subscribers, and where it goes. Locally a broadcast channel feeds the
//! stack's fan-out task; on AWS the fan-out runs before the request ends
//! ([`FanoutPublisher`]), since nothing may run after a Lambda answers.

use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use super::{deliver, Realtime};
use crate::future::BoxFuture;

/// A message for real-time subscribers of `topic` (`execution:{id}`, `user:{id}`, …).
#[derive(Debug, Clone)]
pub struct Published {
    pub topic: String,
    pub message: Value,
}

/// Where published messages go. Never fails the caller.
pub trait Publisher: Send + Sync {
    fn publish(&self, message: Published) -> BoxFuture<'_, ()>;
}

impl std::fmt::Debug for dyn Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Publisher")
    }
}

/// The topic of an execution's subscribers.
pub fn execution_topic(id: Uuid) -> String {
    format!("execution:{id}")
}

/// Publishes a message of a run to its own topic and to its workspace's
/// (`workspace:{id}`, which carries status changes to every member).
pub async fn publish_run(
    publisher: &dyn Publisher,
    execution_id: Uuid,
    workspace_id: Uuid,
    message: Value,
) {
    for topic in [
        execution_topic(execution_id),
        format!("workspace:{workspace_id}"),
    ] {
        publisher
            .publish(Published {
                topic,
                message: message.clone(),
            })
            .await;
    }
}

/// Publishes a run's new numbered messages (an executor's batch of events):
/// one `batch` on the run's topic, so each subscriber gets them in one frame
/// with one cursor move; those that are not progress also go to the
/// workspace's topic, as [`publish_run`] sends them.
pub async fn publish_run_events(
    publisher: &dyn Publisher,
    execution_id: Uuid,
    workspace_id: Uuid,
    mut messages: Vec<Value>,
) {
    if messages.len() <= 1 {
        if let Some(m) = messages.pop() {
            publish_run(publisher, execution_id, workspace_id, m).await;
        }
        return;
    }
    let status: Vec<Value> = messages
        .iter()
        .filter(|m| !deliver::is_progress(m))
        .cloned()
        .collect();
    publisher
        .publish(Published {
            topic: execution_topic(execution_id),
            message: deliver::batch(messages),
        })
        .await;
    for message in status {
        publisher
            .publish(Published {
                topic: format!("workspace:{workspace_id}"),
                message,
            })
            .await;
    }
}

/// Tells a workflow's real-time subscribers (`workflow:{id}`) about a new
/// version or status.
pub async fn workflow_updated(state: &crate::AppState, wf: &crate::db::workflows::Workflow) {
    state
        .publish(
            format!("workflow:{}", wf.id),
            serde_json::json!({
                "type": run_protocol::message::MessageType::WorkflowUpdate,
                "workflowId": wf.id, "version": wf.version,
                "status": wf.status, "updatedAt": wf.updated_at,
            }),
        )
        .await;
}

/// Ends a former member's live subscriptions to a workspace's topics (see
/// [`super::membership`]). Bounded, so the answer to the removal does not
/// wait long on the WebSocket API; what it does not reach in time is logged.
pub async fn revoke_membership(state: &crate::AppState, workspace_id: Uuid, user_id: Uuid) {
    state
        .publish_within(
            super::membership::ended(workspace_id, user_id),
            std::time::Duration::from_secs(5),
        )
        .await;
}

/// Publishing into a broadcast channel (no receivers is fine): the local
/// stack's fan-out task reads it.
pub struct BroadcastPublisher(pub tokio::sync::broadcast::Sender<Published>);

impl BroadcastPublisher {
    /// A publisher nobody listens to (a Lambda without the WebSocket API).
    pub fn nowhere() -> Self {
        Self(tokio::sync::broadcast::channel(1).0)
    }
}

impl Publisher for BroadcastPublisher {
    fn publish(&self, message: Published) -> BoxFuture<'_, ()> {
        let _ = self.0.send(message);
        Box::pin(async {})
    }
}

/// Publishing straight into the fan-out, awaited by the publisher: what a
/// Lambda does.
pub struct FanoutPublisher {
    pub realtime: Arc<Realtime>,
    pub db: sqlx::PgPool,
}

impl Publisher for FanoutPublisher {
    fn publish(&self, message: Published) -> BoxFuture<'_, ()> {
        Box::pin(async move { deliver::fanout(&self.realtime, &self.db, &message).await })
    }
}
