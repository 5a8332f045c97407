//! `GET …/analytics/costs`: what a period's agent calls cost, by model, by
//! workflow and by bucket, priced when their `usage` events were stored (the
//! API's price table, `LLM_PRICES`) and rolled up when their runs ended.

use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use super::{period::Period, usd};
use crate::db::analytics::{self as store, ModelTotals, WorkflowTotals};

/// How many workflows the costs report ranks.
pub const TOP_WORKFLOWS: i64 = 50;

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModelCost {
    pub provider: String,
    pub model: String,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_usd: f64,
    /// Calls of a model the price table does not know: counted at 0 US$.
    pub unpriced_calls: i64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowCost {
    pub workflow_id: Uuid,
    pub name: String,
    pub runs: i64,
    pub llm_tokens: i64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostPoint {
    pub start: chrono::DateTime<chrono::Utc>,
    pub llm_tokens: i64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CostReport {
    pub period: Period,
    pub cost_usd: f64,
    pub llm_tokens: i64,
    /// Calls of models the price table does not know (in no cost).
    pub unpriced_calls: i64,
    pub by_model: Vec<ModelCost>,
    /// The 50 costliest workflows (those that cost anything).
    pub by_workflow: Vec<WorkflowCost>,
    pub series: Vec<CostPoint>,
}

impl From<ModelTotals> for ModelCost {
    fn from(m: ModelTotals) -> Self {
        ModelCost {
            provider: m.provider,
            model: m.model,
            calls: m.calls,
            input_tokens: m.input_tokens,
            output_tokens: m.output_tokens,
            cost_usd: usd(m.cost_micros),
            unpriced_calls: m.unpriced_calls,
        }
    }
}

impl From<WorkflowTotals> for WorkflowCost {
    fn from(w: WorkflowTotals) -> Self {
        WorkflowCost {
            workflow_id: w.workflow_id,
            name: w.name,
            runs: w.runs,
            llm_tokens: w.llm_tokens,
            cost_usd: usd(w.cost_micros),
        }
    }
}

pub async fn report(
    db: &sqlx::PgPool,
    workspace_id: Uuid,
    period: Period,
) -> Result<CostReport, sqlx::Error> {
    let (points, models, (_, by_cost)) = tokio::try_join!(
        store::series(db, workspace_id, None, &period),
        store::models(db, workspace_id, &period),
        store::top_workflows(db, workspace_id, &period, TOP_WORKFLOWS),
    )?;
    let (mut cost, mut tokens) = (0i64, 0i64);
    for p in &points {
        cost = cost.saturating_add(p.counts.cost_micros);
        tokens = tokens.saturating_add(p.counts.llm_tokens);
    }
    Ok(CostReport {
        cost_usd: usd(cost),
        llm_tokens: tokens,
        unpriced_calls: models.iter().map(|m| m.unpriced_calls).sum(),
        by_model: models.into_iter().map(Into::into).collect(),
        by_workflow: by_cost.into_iter().map(Into::into).collect(),
        series: points
            .iter()
            .map(|p| CostPoint {
                start: p.start,
                llm_tokens: p.counts.llm_tokens,
                cost_usd: usd(p.counts.cost_micros),
            })
            .collect(),
        period,
    })
}
