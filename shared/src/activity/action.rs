//! What an activity entry says happened, and to what kind of resource.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

macro_rules! actions {
    ($($variant:ident = $text:literal => $resource:ident,)*) => {
        /// What happened. Stored and shown as `resource.verb`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Action {
            $(#[serde(rename = $text)] $variant,)*
        }

        impl Action {
            pub const ALL: &'static [Action] = &[$(Action::$variant,)*];

            pub const fn as_str(self) -> &'static str {
                match self { $(Action::$variant => $text,)* }
            }

            /// The kind of resource the action is about.
            pub const fn resource(self) -> Resource {
                match self { $(Action::$variant => Resource::$resource,)* }
            }

            pub fn parse(raw: &str) -> Option<Self> {
                match raw { $($text => Some(Action::$variant),)* _ => None }
            }
        }
    };
}

actions! {
    WorkspaceCreated = "workspace.created" => Workspace,
    WorkspaceRenamed = "workspace.renamed" => Workspace,
    OwnershipTransferred = "workspace.ownership_transferred" => Workspace,
    MemberJoined = "member.joined" => Member,
    MemberLeft = "member.left" => Member,
    MemberRemoved = "member.removed" => Member,
    MemberRoleChanged = "member.role_changed" => Member,
    InvitationCreated = "invitation.created" => Invitation,
    InvitationResent = "invitation.resent" => Invitation,
    InvitationRevoked = "invitation.revoked" => Invitation,
    InvitationDeclined = "invitation.declined" => Invitation,
    WorkflowCreated = "workflow.created" => Workflow,
    WorkflowUpdated = "workflow.updated" => Workflow,
    WorkflowDeleted = "workflow.deleted" => Workflow,
    WorkflowRestored = "workflow.restored" => Workflow,
    TemplatePublished = "template.published" => Template,
    TemplateDeleted = "template.deleted" => Template,
    AgentCreated = "agent.created" => Agent,
    AgentUpdated = "agent.updated" => Agent,
    AgentDeleted = "agent.deleted" => Agent,
    RunStarted = "run.started" => Execution,
    RunCancelled = "run.cancelled" => Execution,
    PlanChanged = "plan.changed" => Plan,
    ApiKeyCreated = "api_key.created" => ApiKey,
    ApiKeyRevoked = "api_key.revoked" => ApiKey,
    SecretCreated = "secret.created" => Secret,
    SecretUpdated = "secret.updated" => Secret,
    SecretDeleted = "secret.deleted" => Secret,
    SecretUsed = "secret.used" => Secret,
    TriggerPaused = "trigger.paused" => Trigger,
    TriggerResumed = "trigger.resumed" => Trigger,
    TriggerSecretChanged = "trigger.secret_changed" => Trigger,
    BudgetUpdated = "budget.updated" => Budget,
    BudgetReached = "budget.reached" => Budget,
    FileUploaded = "file.uploaded" => File,
    FileDeleted = "file.deleted" => File,
    McpServerCreated = "mcp_server.created" => McpServer,
    McpServerUpdated = "mcp_server.updated" => McpServer,
    McpServerDeleted = "mcp_server.deleted" => McpServer,
    McpServerConnected = "mcp_server.connected" => McpServer,
    McpServerDisconnected = "mcp_server.disconnected" => McpServer,
}

/// Its schema: the strings, as stored and shown (a derive would name the variants).
impl utoipa::PartialSchema for Action {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .schema_type(utoipa::openapi::schema::Type::String)
            .enum_values(Some(Action::ALL.iter().map(|a| a.as_str())))
            .description(Some("What happened, as `resource.verb`."))
            .build()
            .into()
    }
}

impl ToSchema for Action {}

/// The kinds of resource activity is recorded about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Resource {
    Workspace,
    Member,
    Invitation,
    Workflow,
    Template,
    Agent,
    Execution,
    /// The workspace's plan (its Stripe subscription).
    Plan,
    #[serde(rename = "api_key")]
    #[sqlx(rename = "api_key")]
    ApiKey,
    /// A secret of the workspace vault (named in `details.name`; values never).
    Secret,
    /// A workflow's webhook or schedule trigger.
    Trigger,
    /// The workspace's spend caps.
    Budget,
    /// A file of the workspace (named in `details.name`).
    File,
    /// An MCP server of the workspace (named in `details.name`).
    #[serde(rename = "mcp_server")]
    #[sqlx(rename = "mcp_server")]
    McpServer,
}

impl Resource {
    pub fn parse(raw: &str) -> Option<Self> {
        serde_json::from_value(serde_json::Value::String(raw.to_owned())).ok()
    }
}

impl sqlx::Type<sqlx::Postgres> for Action {
    fn type_info() -> sqlx::postgres::PgTypeInfo {
        <&str as sqlx::Type<sqlx::Postgres>>::type_info()
    }
}

impl<'q> sqlx::Encode<'q, sqlx::Postgres> for Action {
    fn encode_by_ref(
        &self,
        buf: &mut sqlx::postgres::PgArgumentBuffer,
    ) -> Result<sqlx::encode::IsNull, sqlx::error::BoxDynError> {
        <&str as sqlx::Encode<sqlx::Postgres>>::encode(self.as_str(), buf)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Postgres> for Action {
    fn decode(value: sqlx::postgres::PgValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let raw = <&str as sqlx::Decode<sqlx::Postgres>>::decode(value)?;
        Action::parse(raw).ok_or_else(|| format!("unknown activity action {raw:?}").into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_match_the_stored_shape() {
        for &a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(a));
            assert_eq!(serde_json::to_value(a).expect("works"), a.as_str());
            let (resource, verb) = a.as_str().split_once('.').expect("works");
            // The table's CHECK: `^[a-z_]+\.[a-z_]+$`.
            assert!(verb.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'));
            assert_eq!(
                resource == "run",
                a.resource() == Resource::Execution,
                "{a:?}"
            );
            if resource != "run" {
                assert_eq!(Resource::parse(resource), Some(a.resource()));
            }
        }
        let schema =
            serde_json::to_value(<Action as utoipa::PartialSchema>::schema()).expect("json");
        let names: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        assert_eq!(schema["enum"], serde_json::json!(names));
    }
}
