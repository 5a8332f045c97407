//! The sweeper (an EventBridge schedule): no execution stays non-terminal
//! past its deadline, queued runs whose message went silent are sent again,
//! WebSocket connections whose token expired or whose session was revoked
//! are closed, stale failed logins and expired sign-in families are pruned,
//! plans whose grace period ended fall back to FREE, metered usage is
//! reported to Stripe, accounts whose deletion was asked for are deleted,
//! and changed schedule triggers are pushed to EventBridge Scheduler.

use shared::{
    db::housekeeping,
    realtime::{closing, Realtime},
    runs::Runs,
    AppState,
};

pub async fn handle(
    state: &AppState,
    runs: &Runs,
    realtime: Option<&Realtime>,
) -> anyhow::Result<serde_json::Value> {
    let swept = runs.sweep().await?;
    // The runs were swept first: a connection store that is down must not
    // keep runs from ending.
    let closed = match realtime {
        Some(rt) => closing::sweep(rt, &state.db, chrono::Utc::now())
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %format!("{e:#}"), "closing connections failed; next sweep");
                closing::Closed::default()
            }),
        None => closing::Closed::default(),
    };
    // Housekeeping that fails is tried again next sweep; the rest goes on.
    let pruned = housekeeping::prune(&state.db).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e, "housekeeping failed; next sweep");
        Default::default()
    });
    let billed = shared::billing::sweep(state).await;
    let deletions = shared::runs::deletion::sweep(state, runs).await;
    let schedules = runs.reconcile_schedules().await.unwrap_or_else(|e| {
        tracing::warn!(error = %format!("{e:#}"), "reconciling schedules failed; next sweep");
        Default::default()
    });
    tracing::info!(
        timed_out = swept.timed_out,
        requeued = swept.requeued,
        rate_counters_pruned = pruned.rate_counters,
        account_tokens_pruned = pruned.account_tokens,
        sessions_pruned = pruned.sessions,
        run_events_pruned = pruned.run_events,
        activity_pruned = pruned.activity,
        connections_expired = closed.expired,
        connections_revoked = closed.revoked,
        grace_expired = billed.grace_expired,
        meter_events_sent = billed.meters_sent,
        meter_events_failed = billed.meters_failed,
        accounts_deleted = deletions.deleted,
        accounts_waiting = deletions.waiting,
        schedules_put = schedules.put,
        schedules_deleted = schedules.deleted,
        schedules_failed = schedules.failed,
        "swept"
    );
    Ok(serde_json::json!({
        "timedOut": swept.timed_out,
        "requeued": swept.requeued,
        "rateCountersPruned": pruned.rate_counters,
        "accountTokensPruned": pruned.account_tokens,
        "sessionsPruned": pruned.sessions,
        "activityPruned": pruned.activity,
        "runEventsPruned": pruned.run_events,
        "connectionsExpired": closed.expired,
        "connectionsRevoked": closed.revoked,
        "graceExpired": billed.grace_expired,
        "meterEventsSent": billed.meters_sent,
        "meterEventsFailed": billed.meters_failed,
        "accountsDeleted": deletions.deleted,
        "accountsWaiting": deletions.waiting,
        "schedulesPut": schedules.put,
        "schedulesDeleted": schedules.deleted,
        "schedulesFailed": schedules.failed,
    }))
}
