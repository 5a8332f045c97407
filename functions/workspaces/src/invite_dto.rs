//! What the invitation routes read and answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    access::Role,
    db::invitations::{Inbox, Invitation, Stored},
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::dto::{AssignableRole, WorkspaceView};

/// Whom to invite, and as what.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"email": "sam@example.com", "role": "editor"}))]
pub struct NewInvitation {
    /// The address the invitation goes to; only the account with this
    /// address can accept it.
    #[schema(schema_with = shared::auth::email::schema)]
    pub email: String,
    pub role: AssignableRole,
}

/// Sending an invitation again, optionally with another role.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"role": "admin"}))]
pub struct Resend {
    pub role: Option<AssignableRole>,
}

/// The token from an invitation's link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"token": "6f1c…64 hex characters…"}))]
pub struct InvitationToken {
    #[schema(pattern = "^[0-9a-f]{64}$")]
    pub token: String,
}

/// Where an invitation stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    Pending,
    /// Pending, but past `expiresAt`: send it again to renew it.
    Expired,
    Accepted,
    Declined,
    Revoked,
}

impl InvitationStatus {
    pub fn of(i: &Invitation, now: DateTime<Utc>) -> Self {
        match i.status {
            Stored::Pending if i.expires_at <= now => Self::Expired,
            Stored::Pending => Self::Pending,
            Stored::Accepted => Self::Accepted,
            Stored::Declined => Self::Declined,
            Stored::Revoked => Self::Revoked,
        }
    }
}

/// An invitation as the workspace's admins see it (never its token).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InvitationView {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub email: String,
    pub role: Role,
    pub status: InvitationStatus,
    pub invited_by: Option<Uuid>,
    pub expires_at: DateTime<Utc>,
    /// How many times the email went out.
    pub sent_count: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Invitation> for InvitationView {
    fn from(i: Invitation) -> Self {
        Self {
            status: InvitationStatus::of(&i, Utc::now()),
            id: i.id,
            workspace_id: i.workspace_id,
            email: i.email,
            role: i.role,
            invited_by: i.invited_by,
            expires_at: i.expires_at,
            sent_count: i.sent_count,
            created_at: i.created_at,
            updated_at: i.updated_at,
        }
    }
}

/// A workspace's pending invitations.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InvitationList {
    pub items: Vec<InvitationView>,
}

/// An invitation addressed to you.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct InboxView {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub workspace_name: String,
    pub role: Role,
    pub invited_by_name: Option<String>,
    pub expires_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

impl From<Inbox> for InboxView {
    fn from(i: Inbox) -> Self {
        Self {
            id: i.id,
            workspace_id: i.workspace_id,
            workspace_name: i.workspace_name,
            role: i.role,
            invited_by_name: i.invited_by_name,
            expires_at: i.expires_at,
            created_at: i.created_at,
        }
    }
}

/// The pending invitations addressed to you (accept one with the token from its email).
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct InboxList {
    pub items: Vec<InboxView>,
}

/// An accepted invitation: the workspace you joined.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct Joined {
    pub workspace: WorkspaceView,
}
