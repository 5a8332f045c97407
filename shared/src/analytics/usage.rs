//! `GET …/analytics/usage`: this month against the plan's limits (workflows,
//! runs, run minutes, seats, storage) and the spend caps, and the period's
//! runs, run minutes, tokens and cost in buckets. Counters and rollups only.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{period::Period, usd};
use crate::{
    db::{analytics as store, billing, budgets},
    tier::Tier,
};

/// A count against its limit (`null`: no limit).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Quota {
    pub used: i64,
    pub limit: Option<i64>,
    /// What is left (never below 0); `null` without a limit.
    pub remaining: Option<i64>,
}

impl Quota {
    fn new(used: i64, limit: Option<i64>) -> Self {
        Quota {
            used,
            limit,
            remaining: limit.map(|l| l.saturating_sub(used).max(0)),
        }
    }
}

/// This calendar month (UTC), as the plan's limits count it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Month {
    pub start: NaiveDate,
    pub workflows_created: Quota,
    pub runs: i64,
    /// Each run's minutes rounded up, as metered usage is billed.
    pub run_minutes: i64,
    pub llm_tokens: i64,
    pub cost_usd: f64,
    /// Members and pending invitations, against the plan's seats.
    pub seats: Quota,
    /// Runs queued or running now, against the plan's concurrency.
    pub concurrent_runs: Quota,
    /// The monthly budget (US$): spent against it.
    pub monthly_budget_usd: Option<f64>,
    pub budget_exhausted: bool,
    pub run_token_budget: Option<i64>,
}

/// What the workspace keeps: its runs' artifacts.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Storage {
    pub artifacts: i64,
    pub bytes: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsagePoint {
    pub start: DateTime<Utc>,
    pub runs: i64,
    /// The bucket's run time in minutes (not rounded per run).
    pub run_minutes: f64,
    pub llm_tokens: i64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UsageReport {
    pub period: Period,
    pub tier: Tier,
    pub this_month: Month,
    /// Workflows the workspace has (not deleted).
    pub workflows: i64,
    pub storage: Storage,
    pub series: Vec<UsagePoint>,
}

pub async fn report(
    db: &PgPool,
    workspace_id: Uuid,
    tier: Tier,
    period: Period,
) -> Result<UsageReport, sqlx::Error> {
    let (points, month, standing, (workflows, artifacts, bytes)) = tokio::try_join!(
        store::series(db, workspace_id, None, &period),
        billing::usage(db, workspace_id),
        budgets::standing(db, workspace_id),
        store::holdings(db, workspace_id),
    )?;
    let l = tier.limits();
    Ok(UsageReport {
        this_month: Month {
            start: standing.month,
            workflows_created: Quota::new(
                month.workflows_created,
                l.workflows_per_month.map(i64::from),
            ),
            runs: month.runs,
            run_minutes: month.run_minutes,
            llm_tokens: month.llm_tokens,
            cost_usd: usd(standing.spent_micros),
            seats: Quota::new(month.seats_used, Some(i64::from(l.seats))),
            concurrent_runs: Quota::new(month.runs_in_flight, Some(i64::from(l.concurrent_runs))),
            monthly_budget_usd: standing.budget.monthly_budget_micros.map(usd),
            budget_exhausted: standing.exhausted(),
            run_token_budget: standing.budget.run_token_budget,
        },
        tier,
        workflows,
        storage: Storage { artifacts, bytes },
        series: points
            .iter()
            .map(|p| UsagePoint {
                start: p.start,
                runs: p.counts.runs,
                run_minutes: p.counts.duration_ms as f64 / 60_000.0,
                llm_tokens: p.counts.llm_tokens,
                cost_usd: usd(p.counts.cost_micros),
            })
            .collect(),
        period,
    })
}
