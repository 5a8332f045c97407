//! The real-time message types subscribers see (the `type` of every frame).

use serde::{Deserialize, Serialize};

/// The `type` of a real-time message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum MessageType {
    /// A run was queued (owner's topic and the run's).
    #[serde(rename = "execution:queued")]
    ExecutionQueued,
    /// A run changed status (dispatched, running).
    #[serde(rename = "execution:status")]
    ExecutionStatus,
    /// A node event of a run (sequenced).
    #[serde(rename = "execution:node")]
    ExecutionNode,
    /// A log line of a run (sequenced).
    #[serde(rename = "execution:logs")]
    ExecutionLogs,
    /// Any other event of a run (sequenced).
    #[serde(rename = "execution:event")]
    ExecutionEvent,
    /// The run ended: its last sequenced message on `execution:{id}`.
    #[serde(rename = "execution:completed")]
    ExecutionCompleted,
    /// A workflow changed (`workflow:{id}`).
    #[serde(rename = "workflow:update")]
    WorkflowUpdate,
    /// Something changed in a workspace (`workspace:{id}`): an entry of its
    /// activity log — members, invitations, workflows, agents, runs —
    /// numbered (`seq`) and delivered in order, once each.
    #[serde(rename = "workspace:activity")]
    WorkspaceActivity,
    /// Who has a workflow open (`workflow:{id}`: the user ids following it).
    #[serde(rename = "workflow:presence")]
    WorkflowPresence,
    /// Something the user should know about their account (`user:{id}`): a
    /// workspace's plan changed (`kind` = `plan_changed`).
    #[serde(rename = "notification")]
    Notification,
    /// A run ended (`workspace:{id}`): what it adds to the workspace's
    /// analytics (status, run time, queue wait, tokens, cost), so a dashboard
    /// updates without polling.
    #[serde(rename = "analytics:run")]
    AnalyticsRun,
    /// An agent being tried (`POST /agents/{id}/test`) on its user's topic
    /// (`user:{id}`): its answer as it is written, its tool calls and
    /// results, its end; numbered per test (`seq`).
    #[serde(rename = "agent:test")]
    AgentTest,
    /// A piece of the design assistant's answer as it is written
    /// (`chat:{workflowId}`: `messageId`, `delta`), numbered per workflow
    /// (`seq`) and delivered in order, once each.
    #[serde(rename = "chat:delta")]
    ChatDelta,
    /// A whole chat message (`chat:{workflowId}`): a user's, the assistant's
    /// answer when it ends (with its proposal), or a proposal's outcome;
    /// numbered with the deltas.
    #[serde(rename = "chat:message")]
    ChatMessage,
    /// The answer to a `chat` action of this connection is stored
    /// (`requestId`, `messageId`, `answerId`); its messages came on `chat:{workflowId}`.
    #[serde(rename = "chat:answered")]
    ChatAnswered,
    /// Several numbered messages of one topic in one frame (`messages`, in
    /// order, each as it would be sent alone): what a subscriber gets when
    /// more than one is due at once (an executor's batch of events, a
    /// catch-up). A frame holds at most 32 KiB.
    #[serde(rename = "batch")]
    Batch,
    #[serde(rename = "subscribed")]
    Subscribed,
    #[serde(rename = "unsubscribed")]
    Unsubscribed,
    #[serde(rename = "pong")]
    Pong,
    /// The connection was signed in again (`authenticate`): it lives on
    /// until the new token expires.
    #[serde(rename = "authenticated")]
    Authenticated,
    /// The server is closing the connection (its token expired, or its
    /// session was revoked): the last frame before the close.
    #[serde(rename = "closing")]
    Closing,
    #[serde(rename = "error")]
    Error,
}

impl MessageType {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::ExecutionQueued => "execution:queued",
            Self::ExecutionStatus => "execution:status",
            Self::ExecutionNode => "execution:node",
            Self::ExecutionLogs => "execution:logs",
            Self::ExecutionEvent => "execution:event",
            Self::ExecutionCompleted => "execution:completed",
            Self::WorkflowUpdate => "workflow:update",
            Self::WorkspaceActivity => "workspace:activity",
            Self::WorkflowPresence => "workflow:presence",
            Self::Notification => "notification",
            Self::AnalyticsRun => "analytics:run",
            Self::AgentTest => "agent:test",
            Self::ChatDelta => "chat:delta",
            Self::ChatMessage => "chat:message",
            Self::ChatAnswered => "chat:answered",
            Self::Batch => "batch",
            Self::Subscribed => "subscribed",
            Self::Unsubscribed => "unsubscribed",
            Self::Pong => "pong",
            Self::Authenticated => "authenticated",
            Self::Closing => "closing",
            Self::Error => "error",
        }
    }

    /// The message type of a stored event of a run, from its `type` word.
    pub fn of_event(kind: &str) -> Self {
        match kind {
            "log" => Self::ExecutionLogs,
            "execution_ended" => Self::ExecutionCompleted,
            k if k.starts_with("node_") => Self::ExecutionNode,
            _ => Self::ExecutionEvent,
        }
    }

    /// Sequenced messages of a run: delivered in order, once each, on `execution:{id}`.
    pub fn is_sequenced(self) -> bool {
        matches!(
            self,
            Self::ExecutionNode
                | Self::ExecutionLogs
                | Self::ExecutionEvent
                | Self::ExecutionCompleted
        )
    }

    /// Progress of a run: only its own topic carries these, not the owner's.
    pub fn is_progress(self) -> bool {
        matches!(
            self,
            Self::ExecutionNode | Self::ExecutionLogs | Self::ExecutionEvent
        )
    }
}

impl std::fmt::Display for MessageType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_match_serde() {
        for t in [
            MessageType::ExecutionQueued,
            MessageType::ExecutionCompleted,
            MessageType::WorkflowUpdate,
            MessageType::Error,
        ] {
            assert_eq!(serde_json::to_value(t).ok(), Some(t.as_str().into()));
        }
        assert_eq!(
            MessageType::of_event("node_failed"),
            MessageType::ExecutionNode
        );
        assert_eq!(
            MessageType::of_event("execution_ended"),
            MessageType::ExecutionCompleted
        );
        assert_eq!(
            MessageType::of_event("run_finished"),
            MessageType::ExecutionEvent
        );
    }
}
