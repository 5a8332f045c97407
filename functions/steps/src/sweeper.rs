//! The sweeper (an EventBridge schedule): no execution stays non-terminal
//! past its deadline, and queued runs whose message went silent are sent again.

use shared::{
    pipeline::{sweeper::sweep, Pipeline},
    AppState,
};

pub async fn handle(state: &AppState, pipeline: &Pipeline) -> anyhow::Result<serde_json::Value> {
    let swept = sweep(state, pipeline).await?;
    tracing::info!(
        timed_out = swept.timed_out,
        requeued = swept.requeued,
        "swept"
    );
    Ok(serde_json::json!({ "timedOut": swept.timed_out, "requeued": swept.requeued }))
}
