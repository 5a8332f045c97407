//! The activity log: who changed what in a workspace. Each change writes
//! its entry with [`Activity::record`] in the transaction of the change, so
//! the log has an entry exactly when the change happened. [`Origin`] is the
//! request's address and user agent.

mod action;
mod origin;
mod view;

use serde_json::{json, Value};
use sqlx::PgExecutor;
use uuid::Uuid;

pub use action::{Action, Resource};
pub use origin::Origin;
pub use view::{ActivityView, ActorView};

use crate::{
    db::activity::{self as store, Entry},
    realtime::publish::Published,
    state::AppState,
};

/// One entry, built then recorded.
#[derive(Debug, Clone)]
#[must_use = "an activity is only logged by `record`"]
pub struct Activity {
    workspace_id: Uuid,
    actor: Option<Uuid>,
    action: Action,
    resource_id: Option<Uuid>,
    details: Value,
}

impl Activity {
    /// `actor` did `action` in the workspace.
    pub fn new(workspace_id: Uuid, actor: Uuid, action: Action) -> Self {
        Self {
            workspace_id,
            actor: Some(actor),
            action,
            resource_id: None,
            details: json!({}),
        }
    }

    /// The system did `action` (a run ending, a timeout).
    pub fn system(workspace_id: Uuid, action: Action) -> Self {
        Self {
            actor: None,
            ..Self::new(workspace_id, Uuid::nil(), action)
        }
    }

    /// The resource acted on (its type is the action's).
    pub fn on(mut self, resource_id: Uuid) -> Self {
        self.resource_id = Some(resource_id);
        self
    }

    /// A small object saying more (names, old and new roles); never secrets.
    pub fn details(mut self, details: Value) -> Self {
        debug_assert!(details.is_object(), "activity details are an object");
        self.details = details;
        self
    }

    /// Writes the entry (inside the caller's transaction) and returns it as
    /// stored, for publishing once the transaction commits.
    pub async fn record(
        self,
        db: impl PgExecutor<'_>,
        origin: &Origin,
    ) -> Result<Entry, sqlx::Error> {
        store::insert(
            db,
            &Entry {
                id: crate::ids::new_id(),
                workspace_id: self.workspace_id,
                seq: 0,
                actor_id: self.actor,
                action: self.action,
                resource_type: self.action.resource(),
                resource_id: self.resource_id,
                details: self.details,
                ip: origin.ip.clone(),
                user_agent: origin.user_agent.clone(),
                created_at: chrono::Utc::now(),
            },
        )
        .await
    }
}

/// The topic every member of a workspace may follow.
pub fn workspace_topic(workspace_id: Uuid) -> String {
    format!("workspace:{workspace_id}")
}

/// Tells the workspace's live subscribers what was recorded (call after the
/// transaction commits). Entries are numbered (`seq`): delivery keeps each
/// subscriber's cursor, so every entry arrives once and in order, and a
/// reconnecting client subscribes with `after` = the last `seq` it saw.
pub async fn publish(state: &AppState, entries: impl IntoIterator<Item = Entry>) {
    for entry in entries {
        state.publish_message(message(entry)).await;
    }
}

/// The `workspace:activity` message of an entry, for its workspace's topic.
pub fn message(entry: Entry) -> Published {
    Published {
        topic: workspace_topic(entry.workspace_id),
        message: live(entry),
    }
}

/// The message body of an entry on `workspace:{id}`, live or on catch-up.
/// Every member follows the topic: addresses and user agents stay in the
/// log, where only owners and admins see them.
pub fn live(entry: Entry) -> Value {
    let (workspace_id, seq) = (entry.workspace_id, entry.seq);
    let mut view = ActivityView::from(entry);
    view.ip = None;
    view.user_agent = None;
    json!({
        "type": run_protocol::message::MessageType::WorkspaceActivity,
        "workspaceId": workspace_id,
        "seq": seq,
        "activity": view,
    })
}
