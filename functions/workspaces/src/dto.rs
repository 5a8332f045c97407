//! What the workspaces API reads and answers.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    access::Role,
    db::workspaces::{MemberRow, Workspace},
    text::{self, TextRule},
    tier::Tier,
};
use utoipa::{
    openapi::{RefOr, Schema},
    ToSchema,
};
use uuid::Uuid;

/// A workspace's name: one line of 1–100 characters.
pub const NAME: TextRule = text::line(100);

fn name_schema() -> RefOr<Schema> {
    NAME.schema("1–100 characters on one line.")
}

/// A new team workspace.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Research team"}))]
pub struct NewWorkspace {
    #[schema(schema_with = name_schema)]
    pub name: String,
}

/// A workspace's new name.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Research and writing"}))]
pub struct RenameWorkspace {
    #[schema(schema_with = name_schema)]
    pub name: String,
}

/// Whom to hand ownership to: a member, who becomes the owner (the old
/// owner becomes an admin).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"userId": "01930000-0000-7000-8000-000000000301"}))]
pub struct Transfer {
    pub user_id: Uuid,
}

/// A role a member can be given (ownership moves only by transfer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AssignableRole {
    Admin,
    Editor,
    Viewer,
}

impl From<AssignableRole> for Role {
    fn from(r: AssignableRole) -> Self {
        match r {
            AssignableRole::Admin => Role::Admin,
            AssignableRole::Editor => Role::Editor,
            AssignableRole::Viewer => Role::Viewer,
        }
    }
}

/// A member's new role.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"role": "editor"}))]
pub struct ChangeRole {
    pub role: AssignableRole,
}

/// A workspace as one of its members sees it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkspaceView {
    pub id: Uuid,
    pub name: String,
    /// Your personal workspace (its id is your user id); it cannot be
    /// deleted or shared.
    pub personal: bool,
    /// The workspace's plan.
    pub tier: Tier,
    /// Your role in it.
    pub role: Role,
    pub members: i64,
    /// Members the plan allows.
    pub seats: u32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Workspace> for WorkspaceView {
    fn from(w: Workspace) -> Self {
        Self {
            id: w.id,
            name: w.name,
            personal: w.personal,
            seats: w.tier.limits().seats,
            tier: w.tier,
            role: w.role,
            members: w.members,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

/// The caller's workspaces.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct WorkspaceList {
    pub items: Vec<WorkspaceView>,
}

/// One member of a workspace.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MemberView {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
    pub role: Role,
    pub invited_by: Option<Uuid>,
    pub joined_at: DateTime<Utc>,
}

impl From<MemberRow> for MemberView {
    fn from(m: MemberRow) -> Self {
        Self {
            user_id: m.user_id,
            email: m.email,
            name: m.name,
            role: m.role,
            invited_by: m.invited_by,
            joined_at: m.joined_at,
        }
    }
}

/// The members of a workspace, owner first.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct MemberList {
    pub items: Vec<MemberView>,
}
