//! Reads of the analytics rollups (migration 0016): a period's series in
//! buckets of a time zone (its totals are their sum), and the busiest workflows. A `scope`
//! of one workflow reads its own rows; otherwise the workspace's.

use chrono::{DateTime, Utc};
use sqlx::{FromRow, PgExecutor};
use uuid::Uuid;

use crate::analytics::period::{Bucket, Period};

/// Sums over rollup rows.
#[derive(Debug, Clone, Default, FromRow)]
pub struct Counts {
    pub runs: i64,
    pub completed: i64,
    pub failed: i64,
    pub cancelled: i64,
    pub timed_out: i64,
    /// Of those, the runs that started (they have a run time and a queue wait).
    pub started: i64,
    pub duration_ms: i64,
    pub wait_ms: i64,
    pub llm_tokens: i64,
    /// What the runs' agent calls cost, in micro-dollars.
    pub cost_micros: i64,
    pub duration_hist: Option<Vec<i64>>,
    pub wait_hist: Option<Vec<i64>>,
}

impl Counts {
    /// Adds `other` in (the period's totals from its buckets).
    pub fn absorb(&mut self, other: &Counts) {
        let add = |a: &mut i64, b: i64| *a = a.saturating_add(b);
        add(&mut self.runs, other.runs);
        add(&mut self.completed, other.completed);
        add(&mut self.failed, other.failed);
        add(&mut self.cancelled, other.cancelled);
        add(&mut self.timed_out, other.timed_out);
        add(&mut self.started, other.started);
        add(&mut self.duration_ms, other.duration_ms);
        add(&mut self.wait_ms, other.wait_ms);
        add(&mut self.llm_tokens, other.llm_tokens);
        add(&mut self.cost_micros, other.cost_micros);
        add_hist(&mut self.duration_hist, other.duration_hist.as_deref());
        add_hist(&mut self.wait_hist, other.wait_hist.as_deref());
    }
}

pub(crate) fn add_hist(into: &mut Option<Vec<i64>>, from: Option<&[i64]>) {
    let Some(from) = from else { return };
    let into = into.get_or_insert_with(|| vec![0; from.len()]);
    if into.len() < from.len() {
        into.resize(from.len(), 0);
    }
    for (a, b) in into.iter_mut().zip(from) {
        *a = a.saturating_add(*b);
    }
}

/// One bucket of a series (empty buckets included).
#[derive(Debug, Clone, FromRow)]
pub struct Point {
    pub start: DateTime<Utc>,
    #[sqlx(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, FromRow)]
pub struct WorkflowTotals {
    pub workflow_id: Uuid,
    pub name: String,
    pub runs: i64,
    pub failed: i64,
    pub llm_tokens: i64,
    pub cost_micros: i64,
}

const SUMS: &str = "coalesce(sum(runs), 0)::bigint AS runs, coalesce(sum(completed), 0)::bigint AS completed,
    coalesce(sum(failed), 0)::bigint AS failed, coalesce(sum(cancelled), 0)::bigint AS cancelled,
    coalesce(sum(timed_out), 0)::bigint AS timed_out, coalesce(sum(started), 0)::bigint AS started,
    coalesce(sum(duration_ms), 0)::bigint AS duration_ms, coalesce(sum(wait_ms), 0)::bigint AS wait_ms,
    least(coalesce(sum(llm_tokens), 0), 9223372036854775807)::bigint AS llm_tokens,
    least(coalesce(sum(cost_micros), 0), 9223372036854775807)::bigint AS cost_micros";

/// A rollup row's bucket: the start of its hour, day or week (the parameter
/// `bucket`) in the time zone `zone` (hours are UTC hours).
pub(crate) fn bucket_of(bucket: &str, zone: &str) -> String {
    format!("date_trunc({bucket}, hour, CASE WHEN {bucket} = 'hour' THEN 'UTC' ELSE {zone} END) AS start")
}

/// The rows of the scope: `$1` workspace, `$2`..`$3` hours, `$4` a workflow or NULL.
const ROWS: &str = "(SELECT * FROM workspace_run_hours WHERE workspace_id = $1 AND $4::uuid IS NULL
                       AND hour >= $2 AND hour < $3
                     UNION ALL
                     SELECT workspace_id, hour, runs, completed, failed, cancelled, timed_out, started,
                            duration_ms, duration_hist, wait_ms, wait_hist, llm_tokens, cost_micros
                       FROM workflow_run_hours WHERE workspace_id = $1 AND workflow_id = $4
                        AND hour >= $2 AND hour < $3) r";

/// Where each bucket of the period begins, in order, in its time zone (days
/// and weeks begin at local midnight; hours are UTC hours).
pub async fn bucket_starts(
    db: impl PgExecutor<'_>,
    p: &Period,
) -> Result<Vec<DateTime<Utc>>, sqlx::Error> {
    if p.from >= p.to {
        return Ok(Vec::new());
    }
    let sql = match p.bucket {
        Bucket::Hour => {
            "SELECT generate_series($1, $2 - interval '1 hour', interval '1 hour') AS start"
        }
        Bucket::Day | Bucket::Week => {
            // DISTINCT: a local day a zone skipped (Pacific/Apia, 2011-12-30)
            // maps to the same instant as the next.
            "SELECT DISTINCT generate_series(date_trunc($3, $1, $4) AT TIME ZONE $4,
                                    ($2 - interval '1 microsecond') AT TIME ZONE $4,
                                    ('1 ' || $3)::interval) AT TIME ZONE $4 AS start
              ORDER BY start"
        }
    };
    sqlx::query_scalar(sql)
        .bind(p.from)
        .bind(p.to)
        .bind(p.bucket.as_str())
        .bind(&p.timezone)
        .fetch_all(db)
        .await
}

/// Every bucket of the period (empty ones included), in its time zone.
pub async fn series(
    db: &sqlx::PgPool,
    workspace_id: Uuid,
    workflow_id: Option<Uuid>,
    p: &Period,
) -> Result<Vec<Point>, sqlx::Error> {
    if p.from >= p.to {
        return Ok(Vec::new());
    }
    let start = bucket_of("$5", "$6");
    let sums_sql = format!(
        "SELECT {start}, {SUMS}, NULL::bigint[] AS duration_hist, NULL::bigint[] AS wait_hist
                              FROM {ROWS} GROUP BY 1"
    );
    let sums = sqlx::query_as::<_, Point>(&sums_sql)
        .bind(workspace_id)
        .bind(p.from)
        .bind(p.to)
        .bind(workflow_id)
        .bind(p.bucket.as_str())
        .bind(&p.timezone)
        .fetch_all(db);
    // The histograms as stored, added up here: cheaper than in SQL.
    let hists_sql = format!("SELECT {start}, duration_hist, wait_hist FROM {ROWS}");
    let hists = sqlx::query_as::<_, (DateTime<Utc>, Vec<i64>, Vec<i64>)>(&hists_sql)
        .bind(workspace_id)
        .bind(p.from)
        .bind(p.to)
        .bind(workflow_id)
        .bind(p.bucket.as_str())
        .bind(&p.timezone)
        .fetch_all(db);
    let (starts, sums, hists) = tokio::try_join!(bucket_starts(db, p), sums, hists)?;
    let mut points: Vec<Point> = starts
        .into_iter()
        .map(|start| Point {
            start,
            counts: Counts::default(),
        })
        .collect();
    let at = index(&points, |p| p.start);
    for sum in sums {
        if let Some(p) = at.get(&sum.start).and_then(|i| points.get_mut(*i)) {
            p.counts = sum.counts;
        }
    }
    for (start, duration, wait) in hists {
        if let Some(p) = at.get(&start).and_then(|i| points.get_mut(*i)) {
            add_hist(&mut p.counts.duration_hist, Some(&duration));
            add_hist(&mut p.counts.wait_hist, Some(&wait));
        }
    }
    Ok(points)
}

/// Where each bucket is in `points`, by its start.
pub(crate) fn index<T>(
    points: &[T],
    start: impl Fn(&T) -> DateTime<Utc>,
) -> std::collections::HashMap<DateTime<Utc>, usize> {
    points
        .iter()
        .enumerate()
        .map(|(i, p)| (start(p), i))
        .collect()
}

/// The workspace's workflows with the most runs, and those that cost the
/// most, in the period (at most `limit` each), from one pass over the
/// rollups: the period's whole UTC days from the daily rows, the hours at
/// its edges from the hourly ones.
pub async fn top_workflows(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    p: &Period,
    limit: i64,
) -> Result<(Vec<WorkflowTotals>, Vec<WorkflowTotals>), sqlx::Error> {
    let days = p.ranking_days(Utc::now());
    let rows: Vec<(bool, WorkflowTotals)> = sqlx::query_as::<_, Ranked>(
        "WITH parts AS (
                SELECT workflow_id, runs, failed, llm_tokens, cost_micros FROM workflow_run_days
                 WHERE workspace_id = $1 AND day >= $5 AND day < $6
                UNION ALL
                -- The two edges apart: each a range of the index (an OR of
                -- them would filter every hourly row of the workspace).
                SELECT workflow_id, runs, failed, llm_tokens, cost_micros FROM workflow_run_hours
                 WHERE workspace_id = $1 AND hour >= $2 AND hour < $7
                UNION ALL
                SELECT workflow_id, runs, failed, llm_tokens, cost_micros FROM workflow_run_hours
                 WHERE workspace_id = $1 AND hour >= $8 AND hour < $3),
              t AS (SELECT workflow_id, sum(runs)::bigint AS runs, sum(failed)::bigint AS failed,
                           least(sum(llm_tokens), 9223372036854775807)::bigint AS llm_tokens,
                           least(sum(cost_micros), 9223372036854775807)::bigint AS cost_micros
                      FROM parts GROUP BY workflow_id),
              by_runs AS (SELECT false AS by_cost, * FROM t ORDER BY runs DESC, workflow_id LIMIT $4),
              by_cost AS (SELECT true AS by_cost, * FROM t WHERE cost_micros > 0
                           ORDER BY cost_micros DESC, workflow_id LIMIT $4)
         SELECT x.by_cost, x.workflow_id, w.name, x.runs, x.failed, x.llm_tokens, x.cost_micros
           FROM (SELECT * FROM by_runs UNION ALL SELECT * FROM by_cost) x
           JOIN workflows w ON w.id = x.workflow_id
          ORDER BY x.by_cost, CASE WHEN x.by_cost THEN x.cost_micros ELSE x.runs END DESC, x.workflow_id",
    )
    .bind(workspace_id)
    .bind(p.from)
    .bind(p.to)
    .bind(limit)
    .bind(days.start.date_naive())
    .bind(days.end.date_naive())
    .bind(days.start)
    .bind(days.end)
    .fetch_all(db)
    .await?
    .into_iter()
    .map(|r| (r.by_cost, r.totals))
    .collect();
    let (cost, runs): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(c, _)| *c);
    Ok((
        runs.into_iter().map(|(_, w)| w).collect(),
        cost.into_iter().map(|(_, w)| w).collect(),
    ))
}

#[derive(FromRow)]
struct Ranked {
    by_cost: bool,
    #[sqlx(flatten)]
    totals: WorkflowTotals,
}

/// A model's calls in a period (its agent calls' tokens and cost).
#[derive(Debug, Clone, FromRow)]
pub struct ModelTotals {
    pub provider: String,
    pub model: String,
    pub calls: i64,
    pub input_tokens: i64,
    pub output_tokens: i64,
    pub cost_micros: i64,
    pub unpriced_calls: i64,
}

/// The workspace's agent calls in the period by provider and model, the
/// costliest first (then the most used).
pub async fn models(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    p: &Period,
) -> Result<Vec<ModelTotals>, sqlx::Error> {
    sqlx::query_as(
        "SELECT provider, model, sum(calls)::bigint AS calls,
                least(sum(input_tokens), 9223372036854775807)::bigint AS input_tokens,
                least(sum(output_tokens), 9223372036854775807)::bigint AS output_tokens,
                least(sum(cost_micros), 9223372036854775807)::bigint AS cost_micros,
                sum(unpriced_calls)::bigint AS unpriced_calls
           FROM workspace_model_hours
          WHERE workspace_id = $1 AND hour >= $2 AND hour < $3
          GROUP BY provider, model
          ORDER BY cost_micros DESC, calls DESC, provider, model",
    )
    .bind(workspace_id)
    .bind(p.from)
    .bind(p.to)
    .fetch_all(db)
    .await
}

/// What the workspace holds now: its workflows (not deleted), and its
/// artifacts' count and bytes (migration 0017's counter).
pub async fn holdings(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
) -> Result<(i64, i64, i64), sqlx::Error> {
    sqlx::query_as(
        "SELECT (SELECT count(*) FROM workflows WHERE workspace_id = $1 AND deleted_at IS NULL),
                coalesce((SELECT artifacts FROM workspace_storage WHERE workspace_id = $1), 0),
                coalesce((SELECT bytes FROM workspace_storage WHERE workspace_id = $1), 0)",
    )
    .bind(workspace_id)
    .fetch_one(db)
    .await
}

/// A node's attempts in a workflow's runs.
#[derive(Debug, Clone, FromRow)]
pub struct NodeTotals {
    pub node: String,
    pub succeeded: i64,
    pub failed: i64,
    pub duration_ms: i64,
    pub duration_hist: Vec<i64>,
}

/// The UTC days a period touches (`from`'s to the one before `to`), the
/// grain of the per-node and failure rollups.
pub(crate) fn days_touched(p: &Period) -> (chrono::NaiveDate, chrono::NaiveDate) {
    let last = p.to - chrono::Duration::microseconds(1);
    (p.from.date_naive(), last.max(p.from).date_naive())
}

/// A workflow's nodes over the UTC days the period touches, the slowest
/// (by total run time) first; histograms added up here.
pub async fn nodes(
    db: impl PgExecutor<'_>,
    workflow_id: Uuid,
    p: &Period,
) -> Result<Vec<NodeTotals>, sqlx::Error> {
    if p.from >= p.to {
        return Ok(Vec::new());
    }
    let (first, last) = days_touched(p);
    let rows: Vec<(String, i64, i64, i64, Vec<i64>)> = sqlx::query_as(
        "SELECT node, succeeded, failed, duration_ms, duration_hist FROM workflow_node_days
          WHERE workflow_id = $1 AND day >= $2 AND day <= $3",
    )
    .bind(workflow_id)
    .bind(first)
    .bind(last)
    .fetch_all(db)
    .await?;
    let mut by_node: std::collections::BTreeMap<String, NodeTotals> = Default::default();
    for (node, succeeded, failed, duration_ms, hist) in rows {
        let t = by_node.entry(node.clone()).or_insert_with(|| NodeTotals {
            node,
            succeeded: 0,
            failed: 0,
            duration_ms: 0,
            duration_hist: Vec::new(),
        });
        t.succeeded = t.succeeded.saturating_add(succeeded);
        t.failed = t.failed.saturating_add(failed);
        t.duration_ms = t.duration_ms.saturating_add(duration_ms);
        let mut h = Some(std::mem::take(&mut t.duration_hist)).filter(|h| !h.is_empty());
        add_hist(&mut h, Some(&hist));
        t.duration_hist = h.unwrap_or_default();
    }
    let mut nodes: Vec<NodeTotals> = by_node.into_values().collect();
    nodes.sort_by(|a, b| b.duration_ms.cmp(&a.duration_ms).then(a.node.cmp(&b.node)));
    Ok(nodes)
}

/// Why a workflow's runs failed over the UTC days the period touches, the
/// commonest first.
pub async fn failure_reasons(
    db: impl PgExecutor<'_>,
    workflow_id: Uuid,
    p: &Period,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    if p.from >= p.to {
        return Ok(Vec::new());
    }
    let (first, last) = days_touched(p);
    sqlx::query_as(
        "SELECT reason, sum(runs)::bigint AS runs FROM workflow_failure_days
          WHERE workflow_id = $1 AND day >= $2 AND day <= $3
          GROUP BY reason ORDER BY runs DESC, reason",
    )
    .bind(workflow_id)
    .bind(first)
    .bind(last)
    .fetch_all(db)
    .await
}
