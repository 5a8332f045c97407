//! An activity entry as the API and the `workspace:{id}` topic show it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{Action, Resource};
use crate::db::activity::{Entry, Listed};

/// Who acted: a member (their id; name and email while the account exists),
/// or nobody for the system.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActorView {
    pub id: Uuid,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

/// One entry of a workspace's activity log.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ActivityView {
    /// Time-ordered (UUIDv7): the page cursor.
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// The workspace's running number of the entry (1, 2, 3, …; the
    /// `after` of a `workspace:{id}` subscription).
    pub seq: i64,
    /// `None`: the system acted (a run ending), or the user is gone.
    pub actor: Option<ActorView>,
    pub action: Action,
    pub resource_type: Resource,
    pub resource_id: Option<Uuid>,
    /// A small object with what the action needs (names, roles, statuses).
    #[schema(value_type = Object)]
    pub details: Value,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<Entry> for ActivityView {
    fn from(e: Entry) -> Self {
        Self {
            id: e.id,
            workspace_id: e.workspace_id,
            seq: e.seq,
            actor: e.actor_id.map(|id| ActorView {
                id,
                name: None,
                email: None,
            }),
            action: e.action,
            resource_type: e.resource_type,
            resource_id: e.resource_id,
            details: e.details,
            ip: e.ip,
            user_agent: e.user_agent,
            created_at: e.created_at,
        }
    }
}

impl From<Listed> for ActivityView {
    fn from(l: Listed) -> Self {
        let mut v = Self::from(l.entry);
        if let Some(a) = &mut v.actor {
            a.name = l.actor_name;
            a.email = l.actor_email;
        }
        v
    }
}
