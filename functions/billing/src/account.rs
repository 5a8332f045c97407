//! `GET /api/v1/billing`: the plan, what it allows, this month's usage and
//! what is left. Every member may look; owners and admins may change it.

use axum::extract::State;
use chrono::{Datelike, TimeZone, Utc};
use shared::{
    access::{can, Allowed, InWorkspace, Permission},
    db::billing as store,
    error::ErrorEnvelope,
    extract::Json,
    tier::TierLimits,
    ApiResult, AppState,
};

use crate::dto::{BillingView, LimitsView, RemainingView, SubscriptionView, UsageView};

fn limits(l: &TierLimits) -> LimitsView {
    LimitsView {
        concurrent_runs: l.concurrent_runs,
        max_runtime_seconds: l.max_runtime.map(|d| d.as_secs()),
        workflows_per_month: l.workflows_per_month,
        agents_per_workflow: l.agents_per_workflow,
        messages_per_workflow: l.messages_per_workflow,
        seats: l.seats,
        activity_retention_days: l.activity_retention_days,
    }
}

/// The calendar month (UTC) the usage counters are kept by.
fn this_month() -> (chrono::DateTime<Utc>, chrono::DateTime<Utc>) {
    let now = Utc::now();
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    let (y, m) = if now.month() == 12 {
        (now.year() + 1, 1)
    } else {
        (now.year(), now.month() + 1)
    };
    let end = Utc
        .with_ymd_and_hms(y, m, 1, 0, 0, 0)
        .single()
        .unwrap_or(now);
    (start, end)
}

/// The workspace's plan, limits, usage and what is left.
#[utoipa::path(
    get, path = "/api/v1/billing", operation_id = "billing_get", tag = "billing", security(("bearer" = [])),
    params(InWorkspace),
    responses(
        (status = 200, description = "The plan, its limits, this month's usage and what is left", body = BillingView),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    member: Allowed<can::ViewBilling>,
) -> ApiResult<Json<BillingView>> {
    let ws = member.workspace_id;
    let (sub, usage, history) = tokio::try_join!(
        store::subscription(&state.db, ws),
        store::usage(&state.db, ws),
        store::tier_changes(&state.db, ws, 10),
    )?;
    let billing = state.billing.as_deref();
    let grace = billing.map_or(std::time::Duration::ZERO, |b| b.grace);
    let l = member.tier.limits();
    let (period_start, period_end) = this_month();
    let remaining = RemainingView {
        workflows_this_month: l
            .workflows_per_month
            .map(|max| (i64::from(max) - usage.workflows_created).max(0)),
        seats: (i64::from(l.seats) - usage.seats_used).max(0),
        concurrent_runs: (i64::from(l.concurrent_runs) - usage.runs_in_flight).max(0),
    };
    Ok(Json(BillingView {
        workspace_id: ws,
        tier: member.tier,
        subscription: sub.map(|s| SubscriptionView {
            grace_until: s.grace_until(grace),
            tier: s.tier,
            status: s.status,
            interval: s.interval,
            current_period_start: s.period_start,
            current_period_end: s.period_end,
            cancel_at_period_end: s.cancel_at_period_end,
            metered: s.metered,
        }),
        limits: limits(&l),
        usage: UsageView {
            period_start,
            period_end,
            workflows_created: usage.workflows_created,
            runs: usage.runs,
            run_seconds: usage.run_seconds,
            run_minutes: usage.run_minutes,
            llm_tokens: usage.llm_tokens,
            seats_used: usage.seats_used,
            runs_in_flight: usage.runs_in_flight,
        },
        remaining,
        can_manage: member.role.allows(Permission::ManageBilling),
        billing_enabled: billing.is_some(),
        offers: billing.map(|b| b.catalog.offers()).unwrap_or_default(),
        history,
    }))
}
