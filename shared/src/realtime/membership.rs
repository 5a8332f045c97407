//! A member who leaves or is removed stops receiving the workspace's
//! messages at once: removing publishes [`ended`] on
//! `membership:{workspace}:{user}`, and the fan-out ends every subscription
//! of that user's connections to the workspace's topics — `workspace:{id}`
//! and the `execution:`, `workflow:` and `chat:` topics of its runs and workflows —
//! each with an `unsubscribed` frame saying why. Subscribing again is
//! refused (membership is checked at every subscribe, and again once the
//! subscription is stored, so a subscribe racing the removal does not
//! outlive it).

use run_protocol::message::MessageType;
use serde_json::json;
use sqlx::PgPool;
use uuid::Uuid;

use super::{publish::Published, Realtime};

pub const PREFIX: &str = "membership:";

/// What removing a member publishes.
pub fn ended(workspace_id: Uuid, user_id: Uuid) -> Published {
    Published {
        topic: format!("{PREFIX}{workspace_id}:{user_id}"),
        message: json!({ "type": MessageType::Unsubscribed, "reason": "membership_ended" }),
    }
}

/// The workspace and user a `membership:` topic names.
pub fn parse(topic: &str) -> Option<(Uuid, Uuid)> {
    let (w, u) = topic.strip_prefix(PREFIX)?.split_once(':')?;
    Some((w.parse().ok()?, u.parse().ok()?))
}

/// The ids in `topics` with this prefix.
fn ids(topics: &[String], prefix: &str) -> Vec<Uuid> {
    topics
        .iter()
        .filter_map(|t| t.strip_prefix(prefix)?.parse().ok())
        .collect()
}

/// Of a connection's topics, those of the workspace.
async fn of_workspace(
    db: &PgPool,
    workspace_id: Uuid,
    topics: &[String],
) -> anyhow::Result<Vec<String>> {
    let mut out: Vec<String> = topics
        .iter()
        .filter(|t| **t == format!("workspace:{workspace_id}"))
        .cloned()
        .collect();
    let runs = ids(topics, "execution:");
    let mut workflows = ids(topics, "workflow:");
    workflows.extend(ids(topics, "chat:"));
    if !runs.is_empty() {
        let mine: Vec<Uuid> = sqlx::query_scalar(
            "SELECT id FROM executions WHERE workspace_id = $1 AND id = ANY($2)",
        )
        .bind(workspace_id)
        .bind(&runs)
        .fetch_all(db)
        .await?;
        out.extend(mine.into_iter().map(|id| format!("execution:{id}")));
    }
    if !workflows.is_empty() {
        let mine: Vec<Uuid> =
            sqlx::query_scalar("SELECT id FROM workflows WHERE workspace_id = $1 AND id = ANY($2)")
                .bind(workspace_id)
                .bind(&workflows)
                .fetch_all(db)
                .await?;
        for prefix in ["workflow:", "chat:"] {
            out.extend(
                mine.iter()
                    .map(|id| format!("{prefix}{id}"))
                    .filter(|t| topics.contains(t)),
            );
        }
    }
    Ok(out)
}

/// Ends the user's subscriptions to the workspace's topics on every one of
/// their connections; returns how many ended.
pub async fn end(
    rt: &Realtime,
    db: &PgPool,
    workspace_id: Uuid,
    user_id: Uuid,
) -> anyhow::Result<usize> {
    let mut ended = 0;
    let mut failed = None;
    for conn in rt.store.connections_of(user_id).await? {
        // One connection that cannot be read does not keep the others subscribed.
        let topics = match rt.store.subscriptions(conn.clone()).await {
            Ok(t) => t,
            Err(e) => {
                tracing::warn!(connection_id = %conn, error = %e, "cannot read a former member's subscriptions");
                failed = Some(e);
                continue;
            }
        };
        for topic in of_workspace(db, workspace_id, &topics).await? {
            if let Err(e) = rt.store.unsubscribe(conn.clone(), topic.clone()).await {
                tracing::warn!(connection_id = %conn, %topic, error = %e, "cannot end a former member's subscription");
                failed = Some(e);
                continue;
            }
            let frame = json!({
                "type": MessageType::Unsubscribed, "topic": topic, "reason": "membership_ended",
            });
            rt.push(&conn, frame.to_string()).await;
            if let Some(id) = super::presence::workflow_of(&topic) {
                super::presence::announce(rt, id).await;
            }
            ended += 1;
        }
    }
    match failed {
        Some(e) => Err(e),
        None => Ok(ended),
    }
}
