//! `GET …/analytics/performance`: how long runs waited for the dispatcher
//! (queue wait: start request → dispatch) and then for their executor
//! (dispatch latency: dispatch → the executor's start), by tier and by
//! bucket, and how long each node type's attempts take. From the rollups of
//! migration 0018, kept when runs end.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;
use workflow_graph::NodeKind;

use super::{period::Period, timing, Timing};
use crate::{
    db::{
        analytics::{add_hist, bucket_starts, days_touched, index},
        performance::{self as store, NodeTypeRow, TierRow},
    },
    tier::Tier,
};

/// Queue wait and dispatch latency of the runs that started (counted in the
/// hour they ended).
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Waits {
    /// Runs that started.
    pub runs: i64,
    /// From the start request to the dispatcher taking the run (its last
    /// dispatch, if one was retried).
    pub queue_wait: Timing,
    /// From that dispatch to the executor's start: the Job's creation, the
    /// pod's scheduling, the image pull.
    pub dispatch_latency: Timing,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TierWaits {
    /// The workspace's plan when the run was started.
    pub tier: Tier,
    #[serde(flatten)]
    pub waits: Waits,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WaitsPoint {
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub waits: Waits,
}

/// One node type's attempts: those that succeeded (outputs reused by a retry
/// not counted) with their run time, and those that failed for good.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NodeTypeStats {
    #[serde(rename = "type")]
    pub node_type: NodeKind,
    pub succeeded: i64,
    pub failed: i64,
    /// Failed among those that ended (0–1); `null` with none.
    pub failure_rate: Option<f64>,
    pub duration: Timing,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct PerformanceReport {
    pub period: Period,
    #[serde(flatten)]
    pub waits: Waits,
    /// The tiers the period's runs were started on, the lowest first.
    pub by_tier: Vec<TierWaits>,
    /// Node types by total run time, the largest first, over the UTC days
    /// the period touches (by when the runs ended).
    pub by_node_type: Vec<NodeTypeStats>,
    pub series: Vec<WaitsPoint>,
}

/// Sums of tier rows.
#[derive(Debug, Clone, Default)]
struct Sums {
    started: i64,
    queue_ms: i64,
    queue_hist: Option<Vec<i64>>,
    dispatch_ms: i64,
    dispatch_hist: Option<Vec<i64>>,
}

impl Sums {
    fn absorb(&mut self, r: &TierRow) {
        self.started = self.started.saturating_add(r.started);
        self.queue_ms = self.queue_ms.saturating_add(r.queue_ms);
        self.dispatch_ms = self.dispatch_ms.saturating_add(r.dispatch_ms);
        add_hist(&mut self.queue_hist, Some(&r.queue_hist));
        add_hist(&mut self.dispatch_hist, Some(&r.dispatch_hist));
    }

    fn waits(&self) -> Waits {
        Waits {
            runs: self.started,
            queue_wait: timing(self.queue_ms, self.started, self.queue_hist.as_deref()),
            dispatch_latency: timing(
                self.dispatch_ms,
                self.started,
                self.dispatch_hist.as_deref(),
            ),
        }
    }
}

/// The report of a workspace's period.
pub async fn report(
    db: &sqlx::PgPool,
    workspace_id: Uuid,
    period: Period,
) -> Result<PerformanceReport, sqlx::Error> {
    let node_rows = async {
        if period.from >= period.to {
            return Ok(Vec::new());
        }
        let (first, last) = days_touched(&period);
        store::node_types(db, workspace_id, first, last).await
    };
    let (starts, tier_rows, node_rows) = tokio::try_join!(
        bucket_starts(db, &period),
        store::tiers(db, workspace_id, &period),
        node_rows,
    )?;
    let mut buckets: Vec<(DateTime<Utc>, Sums)> =
        starts.into_iter().map(|s| (s, Sums::default())).collect();
    let at = index(&buckets, |b| b.0);
    let mut total = Sums::default();
    let mut by_tier: BTreeMap<usize, (Tier, Sums)> = BTreeMap::new();
    for row in &tier_rows {
        total.absorb(row);
        if let Some(b) = at.get(&row.start).and_then(|i| buckets.get_mut(*i)) {
            b.1.absorb(row);
        }
        match row.tier.parse::<Tier>() {
            Ok(tier) => {
                let rank = Tier::ALL.iter().position(|t| *t == tier).unwrap_or(0);
                by_tier
                    .entry(rank)
                    .or_insert_with(|| (tier, Sums::default()))
                    .1
                    .absorb(row);
            }
            Err(_) => tracing::warn!(tier = %row.tier, "a performance rollup of an unknown tier"),
        }
    }
    Ok(PerformanceReport {
        waits: total.waits(),
        by_tier: by_tier
            .into_values()
            .map(|(tier, sums)| TierWaits {
                tier,
                waits: sums.waits(),
            })
            .collect(),
        by_node_type: node_types(node_rows),
        series: buckets
            .into_iter()
            .map(|(start, sums)| WaitsPoint {
                start,
                waits: sums.waits(),
            })
            .collect(),
        period,
    })
}

/// Sums of one node type's rows.
#[derive(Debug, Default)]
struct NodeSums {
    succeeded: i64,
    failed: i64,
    duration_ms: i64,
    hist: Option<Vec<i64>>,
}

/// The rows added up per node type, the largest total run time first.
fn node_types(rows: Vec<NodeTypeRow>) -> Vec<NodeTypeStats> {
    let mut by_type: BTreeMap<NodeKind, NodeSums> = BTreeMap::new();
    for row in rows {
        let Ok(kind) = row.node_type.parse::<NodeKind>() else {
            tracing::warn!(node_type = %row.node_type, "a performance rollup of an unknown node type");
            continue;
        };
        let t = by_type.entry(kind).or_default();
        t.succeeded = t.succeeded.saturating_add(row.succeeded);
        t.failed = t.failed.saturating_add(row.failed);
        t.duration_ms = t.duration_ms.saturating_add(row.duration_ms);
        add_hist(&mut t.hist, Some(&row.duration_hist));
    }
    let mut sums: Vec<_> = by_type.into_iter().collect();
    sums.sort_by(|(ka, a), (kb, b)| b.duration_ms.cmp(&a.duration_ms).then(ka.cmp(kb)));
    sums.into_iter()
        .map(|(node_type, t)| {
            let ended = t.succeeded.saturating_add(t.failed);
            NodeTypeStats {
                node_type,
                succeeded: t.succeeded,
                failed: t.failed,
                failure_rate: (ended > 0).then(|| t.failed as f64 / ended as f64),
                duration: timing(t.duration_ms, t.succeeded, t.hist.as_deref()),
            }
        })
        .collect()
}
