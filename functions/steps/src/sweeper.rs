//! The sweeper (an EventBridge schedule): no execution stays non-terminal
//! past its deadline, queued runs whose message went silent are sent again,
//! and stale failed logins and expired sign-in families are pruned.

use shared::{
    pipeline::{sweeper::sweep, Pipeline},
    AppState,
};

pub async fn handle(state: &AppState, pipeline: &Pipeline) -> anyhow::Result<serde_json::Value> {
    let swept = sweep(state, pipeline).await?;
    tracing::info!(
        timed_out = swept.timed_out,
        requeued = swept.requeued,
        login_failures_pruned = swept.login_failures_pruned,
        sessions_pruned = swept.sessions_pruned,
        "swept"
    );
    Ok(serde_json::json!({
        "timedOut": swept.timed_out,
        "requeued": swept.requeued,
        "loginFailuresPruned": swept.login_failures_pruned,
        "sessionsPruned": swept.sessions_pruned,
    }))
}
