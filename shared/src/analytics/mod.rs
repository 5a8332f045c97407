//! What the analytics routes answer, from the rollups kept when runs end
//! (migration 0016; [`crate::db::analytics`] reads them): a period's run
//! counts by status, success rate, run-time and queue-wait percentiles,
//! tokens, a series in buckets of a time zone, and the busiest workflows.
//! Nothing here scans runs or their events.

pub mod costs;
pub mod csv;
pub mod histogram;
pub mod performance;
pub mod period;
pub mod usage;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::db::analytics::{self as store, Counts, WorkflowTotals};
use period::Period;

/// Runs by how they ended.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunCounts {
    pub total: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub timed_out: i64,
    /// Completed runs among those not cancelled (0–1); `null` with none.
    pub success_rate: Option<f64>,
}

/// A duration over many runs or nodes, in ms: run time, queue wait, dispatch latency.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Timing {
    pub mean_ms: Option<f64>,
    /// From the rollups' histograms: within 25 % of the exact value.
    pub p50_ms: Option<f64>,
    pub p95_ms: Option<f64>,
}

/// A period's (or a bucket's) numbers.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub runs: RunCounts,
    pub duration: Timing,
    pub queue_wait: Timing,
    pub llm_tokens: i64,
    /// What the agent calls cost, in US dollars (the API's price table).
    pub cost_usd: f64,
}

/// One bucket of a series.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeriesPoint {
    /// Where the bucket begins (a local midnight for days and weeks).
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub summary: Summary,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowRank {
    pub workflow_id: Uuid,
    pub name: String,
    pub runs: i64,
    pub failed: i64,
    pub llm_tokens: i64,
    pub cost_usd: f64,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TopWorkflows {
    pub by_runs: Vec<WorkflowRank>,
    /// Those that cost anything, most first.
    pub by_cost: Vec<WorkflowRank>,
}

/// `GET …/analytics/overview` and `…/analytics/workflows/{id}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub period: Period,
    /// Set for one workflow's report.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub workflow_id: Option<Uuid>,
    #[serde(flatten)]
    pub summary: Summary,
    pub series: Vec<SeriesPoint>,
    /// The workspace's report only: its ten busiest workflows.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_workflows: Option<TopWorkflows>,
    /// A workflow's report only: its nodes, the slowest in all first (over
    /// the UTC days the period touches, by when the runs ended).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nodes: Option<Vec<NodeStats>>,
    /// A workflow's report only: why its runs failed (`budget_exceeded`,
    /// `timed_out`, or the failing node's error kind: `timeout`, `upstream`,
    /// `invalid`, …), the commonest first, over the same days.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure_reasons: Option<Vec<FailureReason>>,
}

/// One node of a workflow: its attempts that succeeded (outputs reused by a
/// retry not counted) and their run time, and those that failed for good.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeStats {
    pub node: String,
    pub succeeded: i64,
    pub failed: i64,
    /// Failed among those that ended (0–1); `null` with none.
    pub failure_rate: Option<f64>,
    pub duration: Timing,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FailureReason {
    pub reason: String,
    pub runs: i64,
}

/// Micro-dollars as US dollars.
pub fn usd(micros: i64) -> f64 {
    micros as f64 / 1e6
}

/// How many workflows a ranking holds.
pub const TOP: i64 = 10;

pub(crate) fn timing(sum_ms: i64, count: i64, hist: Option<&[i64]>) -> Timing {
    let mean_ms = (count > 0).then(|| sum_ms as f64 / count as f64);
    Timing {
        mean_ms,
        p50_ms: hist.and_then(|h| histogram::percentile(h, 0.5)),
        p95_ms: hist.and_then(|h| histogram::percentile(h, 0.95)),
    }
}

impl From<&Counts> for Summary {
    fn from(c: &Counts) -> Self {
        let decided = c.runs - c.cancelled;
        Summary {
            runs: RunCounts {
                total: c.runs,
                completed: c.completed,
                failed: c.failed,
                cancelled: c.cancelled,
                timed_out: c.timed_out,
                success_rate: (decided > 0).then(|| c.completed as f64 / decided as f64),
            },
            duration: timing(c.duration_ms, c.started, c.duration_hist.as_deref()),
            queue_wait: timing(c.wait_ms, c.started, c.wait_hist.as_deref()),
            llm_tokens: c.llm_tokens,
            cost_usd: usd(c.cost_micros),
        }
    }
}

impl From<store::NodeTotals> for NodeStats {
    fn from(n: store::NodeTotals) -> Self {
        let ended = n.succeeded.saturating_add(n.failed);
        NodeStats {
            failure_rate: (ended > 0).then(|| n.failed as f64 / ended as f64),
            duration: timing(n.duration_ms, n.succeeded, Some(&n.duration_hist)),
            node: n.node,
            succeeded: n.succeeded,
            failed: n.failed,
        }
    }
}

impl From<WorkflowTotals> for WorkflowRank {
    fn from(w: WorkflowTotals) -> Self {
        WorkflowRank {
            workflow_id: w.workflow_id,
            name: w.name,
            runs: w.runs,
            failed: w.failed,
            llm_tokens: w.llm_tokens,
            cost_usd: usd(w.cost_micros),
        }
    }
}

/// The report of a workspace (`workflow_id: None`) or of one of its workflows.
pub async fn report(
    db: &sqlx::PgPool,
    workspace_id: Uuid,
    workflow_id: Option<Uuid>,
    period: Period,
) -> Result<Report, sqlx::Error> {
    // The totals are the sum of the series (its buckets cover the period).
    let rankings = async {
        match workflow_id {
            Some(_) => Ok(None),
            None => store::top_workflows(db, workspace_id, &period, TOP)
                .await
                .map(Some),
        }
    };
    let details = async {
        match workflow_id {
            Some(wf) => {
                let (nodes, failures) = tokio::try_join!(
                    store::nodes(db, wf, &period),
                    store::failure_reasons(db, wf, &period),
                )?;
                Ok::<_, sqlx::Error>(Some((nodes, failures)))
            }
            None => Ok(None),
        }
    };
    let (points, ranked, details) = tokio::try_join!(
        store::series(db, workspace_id, workflow_id, &period),
        rankings,
        details,
    )?;
    let (nodes, failure_reasons) = match details {
        Some((nodes, failures)) => (
            Some(nodes.into_iter().map(NodeStats::from).collect()),
            Some(
                failures
                    .into_iter()
                    .map(|(reason, runs)| FailureReason { reason, runs })
                    .collect(),
            ),
        ),
        None => (None, None),
    };
    let mut totals = Counts::default();
    for p in &points {
        totals.absorb(&p.counts);
    }
    let top_workflows = ranked.map(|(by_runs, by_cost)| TopWorkflows {
        by_runs: by_runs.into_iter().map(Into::into).collect(),
        by_cost: by_cost.into_iter().map(Into::into).collect(),
    });
    Ok(Report {
        summary: Summary::from(&totals),
        series: points
            .iter()
            .map(|p| SeriesPoint {
                start: p.start,
                summary: Summary::from(&p.counts),
            })
            .collect(),
        period,
        workflow_id,
        top_workflows,
        nodes,
        failure_reasons,
    })
}
