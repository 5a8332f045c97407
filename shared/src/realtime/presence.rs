//! Presence on a workflow: who has it open. Opening a workflow is following
//! it (`subscribe` to `workflow:{id}`); whenever the set of its followers
//! changes — a subscribe, an unsubscribe, a disconnect, a connection closed
//! for its credentials, a member removed — every follower gets
//! `workflow:presence` with the whole set (`present`: user ids, each once).
//! Each message is the complete state, so one that is missed is made good by
//! the next, and a (re)subscriber gets the current set right away.

use run_protocol::message::MessageType;
use serde_json::json;
use uuid::Uuid;

use super::Realtime;

/// The workflow a topic names, if it is a workflow's.
pub fn workflow_of(topic: &str) -> Option<Uuid> {
    topic.strip_prefix("workflow:")?.parse().ok()
}

/// The users following the workflow, each once, in a stable order; and the
/// connections to tell.
async fn followers(rt: &Realtime, workflow_id: Uuid) -> anyhow::Result<(Vec<Uuid>, Vec<String>)> {
    let conns = rt
        .store
        .subscribers(format!("workflow:{workflow_id}"))
        .await?;
    let mut users = Vec::with_capacity(conns.len());
    for c in &conns {
        if let Some(conn) = rt.store.get(c.clone()).await? {
            users.push(conn.user_id);
        }
    }
    users.sort_unstable();
    users.dedup();
    Ok((users, conns))
}

/// Tells the workflow's followers who has it open (logged, never failing
/// the caller).
pub async fn announce(rt: &Realtime, workflow_id: Uuid) {
    let (present, conns) = match followers(rt, workflow_id).await {
        Ok(f) => f,
        Err(e) => {
            tracing::warn!(%workflow_id, error = %e, "cannot read a workflow's followers");
            return;
        }
    };
    let frame = json!({
        "type": MessageType::WorkflowPresence, "workflowId": workflow_id, "present": present,
    })
    .to_string();
    for c in conns {
        rt.push(&c, frame.clone()).await;
    }
}

/// Announces presence on every workflow among `topics` (a connection's
/// subscriptions that just ended).
pub async fn announce_left(rt: &Realtime, topics: &[String]) {
    for id in topics.iter().filter_map(|t| workflow_of(t)) {
        announce(rt, id).await;
    }
}
