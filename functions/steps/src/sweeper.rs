//! The sweeper (an EventBridge schedule): no execution stays non-terminal
//! past its deadline, queued runs whose message went silent are sent again,
//! WebSocket connections whose token expired or whose session was revoked
//! are closed, and stale failed logins and expired sign-in families are pruned.

use shared::{
    pipeline::{sweeper::sweep, Pipeline},
    realtime::{closing, Realtime},
    AppState,
};

pub async fn handle(
    state: &AppState,
    pipeline: &Pipeline,
    realtime: Option<&Realtime>,
) -> anyhow::Result<serde_json::Value> {
    let swept = sweep(state, pipeline).await?;
    // The runs were swept first: a connection store that is down must not
    // keep runs from ending.
    let closed = match realtime {
        Some(rt) => closing::sweep(rt, &state.db, chrono::Utc::now()).await?,
        None => closing::Closed::default(),
    };
    tracing::info!(
        timed_out = swept.timed_out,
        requeued = swept.requeued,
        login_failures_pruned = swept.login_failures_pruned,
        sessions_pruned = swept.sessions_pruned,
        connections_expired = closed.expired,
        connections_revoked = closed.revoked,
        "swept"
    );
    Ok(serde_json::json!({
        "timedOut": swept.timed_out,
        "requeued": swept.requeued,
        "loginFailuresPruned": swept.login_failures_pruned,
        "sessionsPruned": swept.sessions_pruned,
        "connectionsExpired": closed.expired,
        "connectionsRevoked": closed.revoked,
    }))
}
