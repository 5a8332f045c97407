//! Who may do what in a workspace: the one place that decides every
//! permission. Routes name the permission they need in their extractor
//! ([`Allowed`]); this module's [`Role::allows`] is the permission matrix.
//!
//! | permission | owner | admin | editor | viewer |
//! |---|---|---|---|---|
//! | view workflows, runs, logs, agents, members | ✓ | ✓ | ✓ | ✓ |
//! | create, edit, delete workflows, agents, templates | ✓ | ✓ | ✓ | |
//! | execute workflows (start, cancel, retry runs) | ✓ | ✓ | ✓ | |
//! | view analytics | ✓ | ✓ | ✓ | ✓ |
//! | invite, remove members, change roles | ✓ | ✓ | | |
//! | workspace settings | ✓ | ✓ | | |
//! | view the plan, its limits and usage | ✓ | ✓ | ✓ | ✓ |
//! | buy or change the plan, see invoices | ✓ | ✓ | | |
//! | delete the workspace, transfer ownership | ✓ | | | |

mod member;
mod verified;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

pub use member::{Allowed, Credential, InWorkspace, Member, WORKSPACE_HEADER};
pub use verified::{require_verified, NeedsVerified};

/// A member's role in a workspace. A workspace has exactly one owner.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, ToSchema, sqlx::Type,
)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Owner,
    Admin,
    Editor,
    Viewer,
}

/// What a route may need.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum Permission {
    ViewWorkflows,
    /// View runs, their steps, events and logs (the same row of the matrix as
    /// workflows; its own permission so an API key can be given one and not the other).
    ViewRuns,
    CreateWorkflows,
    EditWorkflows,
    DeleteWorkflows,
    ExecuteWorkflows,
    ViewAnalytics,
    InviteMembers,
    RemoveMembers,
    ChangeRoles,
    WorkspaceSettings,
    ViewBilling,
    ManageBilling,
    DeleteWorkspace,
    TransferOwnership,
}

impl Permission {
    pub const ALL: [Permission; 15] = [
        Permission::ViewWorkflows,
        Permission::ViewRuns,
        Permission::CreateWorkflows,
        Permission::EditWorkflows,
        Permission::DeleteWorkflows,
        Permission::ExecuteWorkflows,
        Permission::ViewAnalytics,
        Permission::InviteMembers,
        Permission::RemoveMembers,
        Permission::ChangeRoles,
        Permission::WorkspaceSettings,
        Permission::ViewBilling,
        Permission::ManageBilling,
        Permission::DeleteWorkspace,
        Permission::TransferOwnership,
    ];
}

impl Role {
    /// The permission matrix.
    pub const fn allows(self, p: Permission) -> bool {
        use Permission::*;
        match p {
            ViewWorkflows | ViewRuns | ViewAnalytics | ViewBilling => true,
            CreateWorkflows | EditWorkflows | DeleteWorkflows | ExecuteWorkflows => {
                !matches!(self, Self::Viewer)
            }
            InviteMembers | RemoveMembers | ChangeRoles | WorkspaceSettings | ManageBilling => {
                matches!(self, Self::Owner | Self::Admin)
            }
            DeleteWorkspace | TransferOwnership => matches!(self, Self::Owner),
        }
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Owner => "owner",
            Self::Admin => "admin",
            Self::Editor => "editor",
            Self::Viewer => "viewer",
        }
    }
}

/// Marker types naming a permission at the type level, for [`Allowed`].
pub mod can {
    use super::Permission;

    /// A permission a route can name in its extractor.
    pub trait Need {
        const PERMISSION: Permission;
    }

    macro_rules! needs {
        ($($name:ident),*) => {$(
            #[derive(Debug, Clone, Copy)]
            pub struct $name;
            impl Need for $name {
                const PERMISSION: Permission = Permission::$name;
            }
        )*};
    }
    needs!(
        ViewWorkflows,
        ViewRuns,
        CreateWorkflows,
        EditWorkflows,
        DeleteWorkflows,
        ExecuteWorkflows,
        ViewAnalytics,
        InviteMembers,
        RemoveMembers,
        ChangeRoles,
        WorkspaceSettings,
        ViewBilling,
        ManageBilling,
        DeleteWorkspace,
        TransferOwnership
    );
}

#[cfg(test)]
mod tests {
    use super::{Permission::*, Role::*, *};

    /// The FastAPI plan's matrix, row by row (and transfer, which only the
    /// owner may do, as deleting the workspace).
    #[test]
    fn the_matrix_is_the_product_documents() {
        let rows: [(Permission, [bool; 4]); 15] = [
            (ViewWorkflows, [true, true, true, true]),
            (ViewRuns, [true, true, true, true]),
            (CreateWorkflows, [true, true, true, false]),
            (EditWorkflows, [true, true, true, false]),
            (DeleteWorkflows, [true, true, true, false]),
            (ExecuteWorkflows, [true, true, true, false]),
            (ViewAnalytics, [true, true, true, true]),
            (InviteMembers, [true, true, false, false]),
            (RemoveMembers, [true, true, false, false]),
            (ChangeRoles, [true, true, false, false]),
            (WorkspaceSettings, [true, true, false, false]),
            (ViewBilling, [true, true, true, true]),
            (ManageBilling, [true, true, false, false]),
            (DeleteWorkspace, [true, false, false, false]),
            (TransferOwnership, [true, false, false, false]),
        ];
        for (p, allowed) in rows {
            for (role, want) in [Owner, Admin, Editor, Viewer].into_iter().zip(allowed) {
                assert_eq!(role.allows(p), want, "{role:?} {p:?}");
            }
        }
    }
}
