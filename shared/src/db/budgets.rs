//! Spend caps (migration 0017): a workspace's monthly budget and per-run
//! token budget, what it has spent this month, and the notices sent at 80 %
//! and 100 % of the budget. Months are UTC calendar months, as every usage
//! counter's.

use chrono::{DateTime, NaiveDate, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

/// The usage metric that holds a workspace's LLM spend this month, in
/// micro-dollars, added to as `usage` events are stored.
pub const LLM_COST: &str = "llm_cost_micros";

/// The shares of the monthly budget at which a notice goes out.
pub const NOTICE_PERCENTS: [i16; 2] = [80, 100];

/// A workspace's caps (no row: none).
#[derive(Debug, Clone, Default, FromRow)]
pub struct Budget {
    pub monthly_budget_micros: Option<i64>,
    pub run_token_budget: Option<i64>,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<Uuid>,
}

/// The caps, this month's spend, and the notices sent this month.
#[derive(Debug, Clone, Default, FromRow)]
pub struct Standing {
    #[sqlx(flatten)]
    pub budget: Budget,
    pub month: NaiveDate,
    pub spent_micros: i64,
    pub notices: Vec<i16>,
}

impl Standing {
    /// The monthly budget is set and spent.
    pub fn exhausted(&self) -> bool {
        self.budget
            .monthly_budget_micros
            .is_some_and(|b| self.spent_micros >= b)
    }
}

pub async fn standing(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
) -> Result<Standing, sqlx::Error> {
    sqlx::query_as(
        "SELECT b.monthly_budget_micros, b.run_token_budget, b.updated_at, b.updated_by,
                date_trunc('month', now())::date AS month,
                coalesce((SELECT count FROM usage_metrics
                           WHERE workspace_id = $1 AND metric = $2
                             AND period = date_trunc('month', now())::date), 0) AS spent_micros,
                coalesce((SELECT array_agg(percent ORDER BY percent) FROM budget_notices
                           WHERE workspace_id = $1 AND month = date_trunc('month', now())::date),
                         '{}') AS notices
           FROM (SELECT $1::uuid AS workspace_id) w
           LEFT JOIN workspace_budgets b ON b.workspace_id = w.workspace_id",
    )
    .bind(workspace_id)
    .bind(LLM_COST)
    .fetch_one(db)
    .await
}

/// Sets both caps (`None`: no cap). A monthly budget changed starts this
/// month's notices afresh: 80 % and 100 % of the new one go out when reached.
pub async fn set(
    db: &mut sqlx::PgConnection,
    workspace_id: Uuid,
    monthly_budget_micros: Option<i64>,
    run_token_budget: Option<i64>,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    let previous: Option<i64> = sqlx::query_scalar(
        "SELECT monthly_budget_micros FROM workspace_budgets WHERE workspace_id = $1 FOR UPDATE",
    )
    .bind(workspace_id)
    .fetch_optional(&mut *db)
    .await?
    .flatten();
    sqlx::query(
        "INSERT INTO workspace_budgets (workspace_id, monthly_budget_micros, run_token_budget, updated_by)
         VALUES ($1, $2, $3, $4)
         ON CONFLICT (workspace_id) DO UPDATE SET monthly_budget_micros = EXCLUDED.monthly_budget_micros,
             run_token_budget = EXCLUDED.run_token_budget, updated_by = EXCLUDED.updated_by, updated_at = now()",
    )
    .bind(workspace_id)
    .bind(monthly_budget_micros)
    .bind(run_token_budget)
    .bind(by)
    .execute(&mut *db)
    .await?;
    sqlx::query(
        "DELETE FROM budget_notices n WHERE n.workspace_id = $1 AND n.month = date_trunc('month', now())::date
            AND $2::bigint IS DISTINCT FROM $3::bigint",
    )
    .bind(workspace_id)
    .bind(previous)
    .bind(monthly_budget_micros)
    .execute(&mut *db)
    .await?;
    Ok(())
}

/// A share of the budget reached for the first time this month.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Notice {
    pub percent: i16,
    pub spent_micros: i64,
    pub budget_micros: i64,
}

/// Adds `cost` micro-dollars to the workspace's spend this month (saturating)
/// and returns the notices now due, each recorded so it goes out once.
pub async fn spend(
    tx: &mut sqlx::Transaction<'_, sqlx::Postgres>,
    workspace_id: Uuid,
    cost: i64,
) -> Result<Vec<Notice>, sqlx::Error> {
    let spent: i64 = sqlx::query_scalar(
        "INSERT INTO usage_metrics (workspace_id, metric, period, count)
         VALUES ($1, $2, date_trunc('month', now())::date, $3)
         ON CONFLICT (workspace_id, metric, period) DO UPDATE
            SET count = CASE WHEN usage_metrics.count > 9223372036854775807 - EXCLUDED.count
                             THEN 9223372036854775807 ELSE usage_metrics.count + EXCLUDED.count END
         RETURNING count",
    )
    .bind(workspace_id)
    .bind(LLM_COST)
    .bind(cost)
    .fetch_one(&mut **tx)
    .await?;
    let due: Vec<(i16, i64)> = sqlx::query_as(
        "INSERT INTO budget_notices (workspace_id, month, percent)
         SELECT b.workspace_id, date_trunc('month', now())::date, p
           FROM workspace_budgets b, unnest($3::smallint[]) AS p
          WHERE b.workspace_id = $1 AND b.monthly_budget_micros IS NOT NULL
            AND $2::numeric * 100 >= b.monthly_budget_micros::numeric * p
         ON CONFLICT DO NOTHING
         RETURNING percent, (SELECT monthly_budget_micros FROM workspace_budgets WHERE workspace_id = $1)",
    )
    .bind(workspace_id)
    .bind(spent)
    .bind(&NOTICE_PERCENTS[..])
    .fetch_all(&mut **tx)
    .await?;
    let mut notices: Vec<Notice> = due
        .into_iter()
        .map(|(percent, budget_micros)| Notice {
            percent,
            spent_micros: spent,
            budget_micros,
        })
        .collect();
    notices.sort_by_key(|n| n.percent);
    Ok(notices)
}

/// Charges one model call made outside any run (the tools API's chat, an
/// agent tried from the API) to the workspace: its tokens and cost in the
/// costs rollup by model and hour, its tokens in the month's usage, its cost
/// in the month's spend (so the monthly budget holds). Budget notices are
/// left to the next run's end, which sends what is due.
pub async fn charge_outside_runs(
    db: &sqlx::PgPool,
    workspace_id: Uuid,
    provider: &str,
    model: &str,
    input_tokens: i64,
    output_tokens: i64,
    cost_micros: Option<i64>,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "WITH by_model AS (
            INSERT INTO workspace_model_hours AS r (workspace_id, hour, provider, model, calls,
                        input_tokens, output_tokens, cost_micros, unpriced_calls)
            VALUES ($1, date_trunc('hour', now()), $2, $3, 1, $4, $5, coalesce($6, 0),
                    CASE WHEN $6 IS NULL THEN 1 ELSE 0 END)
            ON CONFLICT (workspace_id, hour, provider, model) DO UPDATE SET
                calls = r.calls + 1, unpriced_calls = r.unpriced_calls + EXCLUDED.unpriced_calls,
                input_tokens = r.input_tokens + EXCLUDED.input_tokens,
                output_tokens = r.output_tokens + EXCLUDED.output_tokens,
                cost_micros = r.cost_micros + EXCLUDED.cost_micros
            RETURNING 1)
         INSERT INTO usage_metrics (workspace_id, metric, period, count)
         SELECT $1, m.metric, date_trunc('month', now())::date, m.n
           FROM (VALUES ($7, $4 + $5), ($8, coalesce($6, 0))) AS m (metric, n)
          WHERE m.n > 0
         ON CONFLICT (workspace_id, metric, period) DO UPDATE
            SET count = CASE WHEN usage_metrics.count > 9223372036854775807 - EXCLUDED.count
                             THEN 9223372036854775807 ELSE usage_metrics.count + EXCLUDED.count END",
    )
    .bind(workspace_id)
    .bind(provider)
    .bind(model)
    .bind(input_tokens)
    .bind(output_tokens)
    .bind(cost_micros)
    .bind(super::executions::LLM_TOKENS)
    .bind(LLM_COST)
    .execute(db)
    .await?;
    Ok(())
}
