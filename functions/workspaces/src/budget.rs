//! `/api/v1/workspaces/{id}/budget`: the workspace's spend caps. A monthly
//! budget in US dollars (UTC calendar months): at 80 % and 100 % of it owners
//! and admins are notified, and once it is spent new runs are refused (403
//! `BUDGET_EXCEEDED`) and running ones end `failed`, reason
//! `budget_exceeded`. A token budget for each run, which the executor
//! enforces between and during agent calls. Any member may read them; owners
//! and admins (who manage billing) set them.

use axum::extract::{Path, State};
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use serde_json::json;
use shared::{
    access::{Member, Permission},
    activity::{self, Action, Activity, Origin},
    analytics::usd,
    auth::AuthUser,
    db::budgets::{self, Standing},
    error::ErrorEnvelope,
    extract::Json,
    ApiError, ApiResult, AppState,
};
use utoipa::ToSchema;
use uuid::Uuid;

/// The largest monthly budget, in US dollars.
const MAX_BUDGET_USD: f64 = 1e9;
/// The largest per-run token budget.
const MAX_RUN_TOKENS: i64 = 1_000_000_000_000;

/// The caps to keep (both replaced; absent or `null`: no cap).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
#[schema(example = json!({"monthlyBudgetUsd": 250.0, "runTokenBudget": 200000}))]
pub struct BudgetChange {
    /// US dollars a month (UTC calendar months), to the micro-dollar.
    #[schema(minimum = 0.01, maximum = 1e9)]
    #[serde(default)]
    pub monthly_budget_usd: Option<f64>,
    /// LLM tokens (input and output) one run may use.
    #[schema(minimum = 1, maximum = 1_000_000_000_000_i64)]
    #[serde(default)]
    pub run_token_budget: Option<i64>,
}

/// The caps and this month's spend against them.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BudgetView {
    pub workspace_id: Uuid,
    pub monthly_budget_usd: Option<f64>,
    pub run_token_budget: Option<i64>,
    /// The month the spend counts (its first day, UTC).
    pub month: NaiveDate,
    /// What agent calls cost this month so far (the API's price table).
    pub spent_usd: f64,
    /// What is left of the monthly budget (never below 0); `null` without one.
    pub remaining_usd: Option<f64>,
    /// The shares of the budget reached this month (80, 100).
    pub notices: Vec<i16>,
    /// The monthly budget is spent: new runs are refused until the month ends.
    pub exhausted: bool,
    pub updated_at: Option<DateTime<Utc>>,
    pub updated_by: Option<Uuid>,
    /// Whether the caller may change the caps.
    pub can_manage: bool,
}

fn view(workspace_id: Uuid, s: Standing, can_manage: bool) -> BudgetView {
    let budget = s.budget.monthly_budget_micros;
    BudgetView {
        workspace_id,
        monthly_budget_usd: budget.map(usd),
        run_token_budget: s.budget.run_token_budget,
        month: s.month,
        spent_usd: usd(s.spent_micros),
        remaining_usd: budget.map(|b| usd(b.saturating_sub(s.spent_micros).max(0))),
        exhausted: s.exhausted(),
        notices: s.notices,
        updated_at: s.budget.updated_at,
        updated_by: s.budget.updated_by,
        can_manage,
    }
}

/// The workspace's spend caps and this month's spend (any member).
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}/budget", operation_id = "workspaces_budget_get", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id")),
    responses(
        (status = 200, description = "The caps and this month's spend", body = BudgetView),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<BudgetView>> {
    let me = Member::of(&state.db, &caller, id).await?;
    me.require(Permission::ViewBilling)?;
    let standing = budgets::standing(&state.db, id).await?;
    Ok(Json(view(
        id,
        standing,
        me.role.allows(Permission::ManageBilling),
    )))
}

/// Set the spend caps (owners and admins). A budget lowered below this
/// month's spend refuses new runs at once.
#[utoipa::path(
    put, path = "/api/v1/workspaces/{id}/budget", operation_id = "workspaces_budget_set", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id")),
    request_body = BudgetChange,
    responses(
        (status = 200, description = "Kept", body = BudgetView),
        (status = 400, description = "A budget out of range (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Your role may not manage billing (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn set(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path(id): Path<Uuid>,
    Json(body): Json<BudgetChange>,
) -> ApiResult<Json<BudgetView>> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::ManageBilling)?;
    let monthly = body
        .monthly_budget_usd
        .map(|usd| {
            (usd.is_finite() && (0.01..=MAX_BUDGET_USD).contains(&usd))
                .then(|| (usd * 1e6).round() as i64)
                .ok_or_else(|| {
                    ApiError::field("monthlyBudgetUsd", "must be from 0.01 to 1,000,000,000 US$")
                })
        })
        .transpose()?;
    let tokens = body
        .run_token_budget
        .map(|t| {
            (1..=MAX_RUN_TOKENS)
                .contains(&t)
                .then_some(t)
                .ok_or_else(|| ApiError::field("runTokenBudget", "must be from 1 to 10^12"))
        })
        .transpose()?;
    let mut tx = state.db.begin().await?;
    budgets::set(&mut tx, id, monthly, tokens, caller.user_id).await?;
    let entry = Activity::new(id, caller.user_id, Action::BudgetUpdated)
        .details(json!({
            "monthlyBudgetUsd": monthly.map(usd),
            "runTokenBudget": tokens,
        }))
        .record(&mut *tx, &origin)
        .await?;
    tx.commit().await?;
    activity::publish(&state, [entry]).await;
    let standing = budgets::standing(&state.db, id).await?;
    Ok(Json(view(id, standing, true)))
}
