//! The `executions`, `execution_events` and `execution_artifacts` tables.
//!
//! Lifecycle: `queued → dispatching → running → completed | failed | cancelled
//! | timed_out`. Every transition is a conditional UPDATE on the current
//! state, so duplicate deliveries, retries and races are harmless. A run's
//! concurrency slot is its being `dispatching` or `running`: entering a
//! terminal state releases it, exactly once, because that state is entered once.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use run_protocol::{EndReason, ExecutionStatus, OutputRef, RunStatus};
use serde_json::{json, Value};
use sqlx::{types::Json, FromRow, PgExecutor, Postgres, Transaction};
use uuid::Uuid;

use crate::{
    db::budgets,
    runs::trigger::TriggerType,
    tier::{Priority, Tier},
};

#[derive(Debug, Clone, FromRow)]
pub struct Execution {
    pub id: Uuid,
    pub workspace_id: Uuid,
    /// Who started it (`None` for a trigger, or once their account is gone).
    pub started_by: Option<Uuid>,
    pub workflow_id: Uuid,
    pub workflow_version: i32,
    pub status: ExecutionStatus,
    pub tier: Tier,
    pub priority: Priority,
    pub graph: Json<Value>,
    pub inputs: Json<Value>,
    pub prior_outputs: Json<Value>,
    pub idempotency_key: Option<String>,
    pub retry_of: Option<Uuid>,
    pub cancel_requested: bool,
    pub job_name: Option<String>,
    pub deadline_at: DateTime<Utc>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub last_seq: i64,
    pub output: Option<Json<Value>>,
    pub error: Option<String>,
    pub failed_node: Option<String>,
    pub created_at: DateTime<Utc>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub started_at: Option<DateTime<Utc>>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The run tracker's task token while it waits for this run (AWS only).
    pub task_token: Option<String>,
    /// Milliseconds from start to end, recorded when the run ends.
    pub runtime_ms: Option<i64>,
    /// Where the output is when it was too large to store inline.
    pub output_ref: Option<Json<OutputRef>>,
    pub trigger_type: TriggerType,
    pub trigger_data: Json<Value>,
    /// The LLM tokens its agent calls used, and what they cost (micro-dollars).
    pub llm_tokens: i64,
    pub cost_micros: i64,
    /// Why it ended, beyond its status.
    pub end_reason: Option<EndReason>,
    /// Its events were pruned, its plan's retention after it ended (all but the last).
    pub events_pruned: bool,
}

const COLUMNS: &str = "id, workspace_id, started_by, workflow_id, workflow_version, status, tier, priority, graph, inputs, \
    prior_outputs, idempotency_key, retry_of, cancel_requested, job_name, deadline_at, heartbeat_at, last_seq, \
    output, error, failed_node, created_at, dispatched_at, started_at, finished_at, task_token, runtime_ms, output_ref, \
    trigger_type, trigger_data, llm_tokens, cost_micros, end_reason, events_pruned";

pub struct NewExecution<'a> {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub started_by: Option<Uuid>,
    pub workflow_id: Uuid,
    pub workflow_version: i32,
    pub tier: Tier,
    pub priority: Priority,
    pub graph: &'a Value,
    pub inputs: &'a Value,
    pub prior_outputs: &'a Value,
    pub idempotency_key: Option<&'a str>,
    pub retry_of: Option<Uuid>,
    pub trigger_type: TriggerType,
    /// An object.
    pub trigger_data: &'a Value,
    /// How long it may wait in the queue before the sweeper ends it.
    pub queue_deadline: DateTime<Utc>,
}

/// The workspace's run started with this idempotency key, if any.
pub async fn by_idempotency_key(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    key: &str,
) -> Result<Option<Execution>, sqlx::Error> {
    sqlx::query_as::<_, Execution>(&format!(
        "SELECT {COLUMNS} FROM executions WHERE workspace_id = $1 AND idempotency_key = $2"
    ))
    .bind(workspace_id)
    .bind(key)
    .fetch_optional(db)
    .await
}

/// Inserts a queued execution; with an idempotency key already used by this
/// workspace, returns the existing one instead (`false`).
pub async fn insert(
    db: &mut sqlx::PgConnection,
    n: NewExecution<'_>,
) -> Result<(Execution, bool), sqlx::Error> {
    let inserted = sqlx::query_as::<_, Execution>(&format!(
        "INSERT INTO executions (id, workspace_id, workflow_id, workflow_version, tier, priority, graph, inputs,
                                 prior_outputs, idempotency_key, retry_of, deadline_at, trigger_type, trigger_data, started_by)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT ON CONSTRAINT executions_idempotency_key DO NOTHING
         RETURNING {COLUMNS}"
    ))
    .bind(n.id)
    .bind(n.workspace_id)
    .bind(n.workflow_id)
    .bind(n.workflow_version)
    .bind(n.tier)
    .bind(n.priority)
    .bind(Json(n.graph))
    .bind(Json(n.inputs))
    .bind(Json(n.prior_outputs))
    .bind(n.idempotency_key)
    .bind(n.retry_of)
    .bind(n.queue_deadline)
    .bind(n.trigger_type)
    .bind(Json(n.trigger_data))
    .bind(n.started_by)
    .fetch_optional(&mut *db)
    .await?;
    match inserted {
        Some(e) => Ok((e, true)),
        None => {
            let existing = sqlx::query_as::<_, Execution>(&format!(
                "SELECT {COLUMNS} FROM executions WHERE workspace_id = $1 AND idempotency_key = $2"
            ))
            .bind(n.workspace_id)
            .bind(n.idempotency_key)
            .fetch_one(&mut *db)
            .await?;
            Ok((existing, false))
        }
    }
}

/// An execution of this workspace.
pub async fn find(
    db: impl PgExecutor<'_>,
    workspace_id: Uuid,
    id: Uuid,
) -> Result<Option<Execution>, sqlx::Error> {
    sqlx::query_as::<_, Execution>(&format!(
        "SELECT {COLUMNS} FROM executions WHERE id = $1 AND workspace_id = $2"
    ))
    .bind(id)
    .bind(workspace_id)
    .fetch_optional(db)
    .await
}

/// Any execution (callback routes, dispatcher, sweeper).
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Execution>, sqlx::Error> {
    sqlx::query_as::<_, Execution>(&format!("SELECT {COLUMNS} FROM executions WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// What the dispatcher found when it claimed an execution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    /// Now `dispatching` (or already was: a redelivery after a crash): launch it.
    Launch(Box<ExecutionRef>),
    /// The workspace's tier has no free slot: try again later.
    NoSlot,
    /// Running, finished, or gone: nothing to do.
    Done,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionRef {
    pub id: Uuid,
    pub workspace_id: Uuid,
    pub tier: Tier,
    /// When it was created (its queue wait starts there).
    pub created_at: DateTime<Utc>,
}

/// A cap on runs dispatching or running across the whole cluster, with a share
/// of it for each queue class: when capacity is short, low-priority runs wait
/// first, then standard ones, and high ones get what is left.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClusterGate {
    /// How many runs may hold a slot at once (0: no gate).
    pub max_runs: i64,
    /// The percentage of `max_runs` standard and low runs may fill.
    pub standard_percent: i64,
    pub low_percent: i64,
}

impl ClusterGate {
    /// How many runs of `priority` may hold a slot at once, cluster-wide.
    pub fn limit(&self, priority: crate::tier::Priority) -> i64 {
        use crate::tier::Priority;
        match priority {
            Priority::High => self.max_runs,
            // At least one, so a small cluster never shuts a class out.
            Priority::Standard => (self.max_runs * self.standard_percent / 100).max(1),
            Priority::Low => (self.max_runs * self.low_percent / 100).max(1),
        }
    }
}

/// Claims a queued execution if its workspace has a free slot. The workspace's
/// advisory lock makes the count-then-claim atomic: two dispatchers can never
/// both take the last slot.
pub async fn claim(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    slots: impl Fn(Tier) -> i64,
    gate: Option<ClusterGate>,
) -> Result<Claim, sqlx::Error> {
    let Some((workspace, status, tier, created_at)) =
        sqlx::query_as::<_, (Uuid, ExecutionStatus, Tier, DateTime<Utc>)>(
            "SELECT workspace_id, status, tier, created_at FROM executions WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(&mut **tx)
        .await?
    else {
        return Ok(Claim::Done);
    };
    let reference = || {
        Claim::Launch(Box::new(ExecutionRef {
            id,
            workspace_id: workspace,
            tier,
            created_at,
        }))
    };
    match status {
        ExecutionStatus::Dispatching => return Ok(reference()),
        ExecutionStatus::Queued => {}
        _ => return Ok(Claim::Done),
    }
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1::text, 7))")
        .bind(workspace)
        .execute(&mut **tx)
        .await?;
    let active: i64 = sqlx::query_scalar("SELECT count(*) FROM executions WHERE workspace_id = $1 AND status IN ('dispatching', 'running')")
        .bind(workspace)
        .fetch_one(&mut **tx)
        .await?;
    let mut full = active >= slots(tier);
    if let Some(gate) = gate.filter(|g| g.max_runs > 0 && !full) {
        // One cluster-wide lock for the count-then-claim (after the workspace's, always
        // in this order); a short transaction, so claims queue on it only briefly.
        sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('saasit.cluster', 7))")
            .execute(&mut **tx)
            .await?;
        let running: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM executions WHERE status IN ('dispatching', 'running')",
        )
        .fetch_one(&mut **tx)
        .await?;
        full = running >= gate.limit(tier.limits().priority);
    }
    if full {
        // Its message is alive (and will come back): the sweeper need not re-send it.
        sqlx::query("UPDATE executions SET enqueued_at = now() WHERE id = $1")
            .bind(id)
            .execute(&mut **tx)
            .await?;
        return Ok(Claim::NoSlot);
    }
    let moved = sqlx::query("UPDATE executions SET status = 'dispatching', dispatched_at = now() WHERE id = $1 AND status = 'queued'")
        .bind(id)
        .execute(&mut **tx)
        .await?;
    Ok(if moved.rows_affected() == 1 {
        reference()
    } else {
        Claim::Done
    })
}

/// `dispatching → running`, with the run's deadline and job name.
pub async fn mark_running(
    db: impl PgExecutor<'_>,
    id: Uuid,
    job_name: &str,
    deadline: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE executions SET status = 'running', started_at = now(), heartbeat_at = now(), deadline_at = $3, job_name = $2
          WHERE id = $1 AND status = 'dispatching'",
    )
    .bind(id)
    .bind(job_name)
    .bind(deadline)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// How a run ended, as recorded.
pub struct Ending<'a> {
    pub status: RunStatus,
    pub output: Option<&'a Value>,
    pub output_ref: Option<&'a OutputRef>,
    pub error: Option<&'a str>,
    pub failed_node: Option<&'a str>,
    /// Why, beyond its status (`budget_exceeded`).
    pub reason: Option<EndReason>,
}

/// Usage metrics a finished run adds to its workspace's month.
pub const RUNS_FINISHED: &str = "runs_finished";
pub const RUN_SECONDS: &str = "run_seconds";
/// Input and output tokens of a run's agent calls (its `usage` events).
pub const LLM_TOKENS: &str = "llm_tokens";
/// A run's minutes, each run rounded up (as metered usage is billed).
pub const RUN_MINUTES: &str = "run_minutes";

/// The `type` of the event that ends every run's log.
pub const ENDED_EVENT: &str = "execution_ended";

/// Enters a terminal state if the run is not in one yet; returns the sequence
/// number of the run's last event if this call did it (and so released the
/// slot), `None` if the run had ended already. In the same statement it
/// appends the `execution_ended` event after every event stored so far (the
/// row lock orders it after any batch being stored), records the runtime and
/// adds the run and its seconds to the workspace's monthly usage, so each is done
/// exactly once, with the transition; for a metered subscription it also
/// leaves the run's usage to be reported to Stripe (`meter_reports`).
pub async fn finish(
    db: &sqlx::PgPool,
    id: Uuid,
    end: Ending<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    finish_where(db, id, end, false).await
}

/// [`finish`], unless someone asked to cancel the run: for an executor that
/// was stopped from outside, whose stop is an interruption only if no cancel
/// was asked for (a cancel asked meanwhile makes it what it is: cancelled).
pub async fn finish_interrupted(
    db: &sqlx::PgPool,
    id: Uuid,
    end: Ending<'_>,
) -> Result<Option<i64>, sqlx::Error> {
    finish_where(db, id, end, true).await
}

/// The statement that ends a run (see [`finish_where`]); its analytics
/// upserts into the two hourly rollups differ only in table and key.
static FINISH: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
        "WITH done AS (
            UPDATE executions SET status = $2, output = $3, error = $4, failed_node = $5, finished_at = now(),
                   output_ref = $8, last_seq = last_seq + 1, end_reason = $14,
                   events_expire_at = now() + make_interval(days => (
                       SELECT r.days FROM unnest($15::text[], $16::int[]) AS r (tier, days)
                        WHERE r.tier = executions.tier)),
                   runtime_ms = CASE WHEN started_at IS NULL THEN 0
                                     ELSE (extract(epoch FROM now() - started_at) * 1000)::bigint END
             WHERE id = $1 AND status IN ('queued', 'dispatching', 'running')
               AND NOT ($13 AND cancel_requested)
            RETURNING workspace_id, workflow_id, status, runtime_ms, last_seq, llm_tokens, cost_micros,
                      end_reason, failed_node,
                      CASE WHEN started_at IS NOT NULL THEN runtime_ms END AS duration,
                      (extract(epoch FROM started_at - created_at) * 1000)::bigint AS wait,
                      tier, graph,
                      CASE WHEN started_at IS NOT NULL THEN
                          greatest((extract(epoch FROM dispatched_at - created_at) * 1000)::bigint, 0) END AS queue,
                      greatest((extract(epoch FROM started_at - dispatched_at) * 1000)::bigint, 0) AS dispatch),
         -- The analytics rollups (migration 0016): this run, in the hour it ended.
         -- Tokens saturate (a run's own count may be i64::MAX): an overflow
         -- here would stop the run from ever ending.
         {by_workspace}
         {by_workflow}
         by_workflow_day AS (
            INSERT INTO workflow_run_days AS r (workspace_id, workflow_id, day, runs, failed, llm_tokens, cost_micros)
            SELECT workspace_id, workflow_id, (now() AT TIME ZONE 'UTC')::date, 1, (status = 'failed')::int,
                   llm_tokens, cost_micros
              FROM done
            ON CONFLICT (workflow_id, day) DO UPDATE SET
                runs = r.runs + 1, failed = r.failed + EXCLUDED.failed,
                llm_tokens = {tokens}, cost_micros = {cost}
            RETURNING 1),
         -- Its nodes' attempts (migration 0017), from its own events: those
         -- that succeeded (not reused) with their run time, those that failed for good.
         attempts AS (
            SELECT ev.node, ev.type, m.ms
              FROM done JOIN execution_events ev ON ev.execution_id = $1 AND ev.node IS NOT NULL
                   -- A number, as the protocol says; anything else is no time at all.
                   CROSS JOIN LATERAL (SELECT CASE WHEN jsonb_typeof(ev.payload->'durationMs') = 'number'
                       THEN least(greatest((ev.payload->>'durationMs')::numeric, 0), 9223372036854775807)::bigint
                       END AS ms) m
             WHERE (ev.type = 'node_succeeded' AND (ev.payload->>'reused') IS DISTINCT FROM 'true')
                OR (ev.type = 'node_failed' AND (ev.payload->>'willRetry') IS DISTINCT FROM 'true')),
         by_node AS (
            INSERT INTO workflow_node_days AS r (workspace_id, workflow_id, day, node, succeeded, failed,
                        duration_ms, duration_hist)
            SELECT done.workspace_id, done.workflow_id, (now() AT TIME ZONE 'UTC')::date, a.node,
                   {node_counts}
              FROM done, attempts a
             GROUP BY done.workspace_id, done.workflow_id, a.node
            ON CONFLICT (workflow_id, day, node) DO UPDATE SET {node_update}
            RETURNING 1),
         -- The same by node type (migration 0018), each node's type from the run's graph.
         node_types AS (
            SELECT DISTINCT ON (x->>'id') x->>'id' AS node, left(x->>'type', 32) AS node_type
              FROM done CROSS JOIN LATERAL jsonb_array_elements(CASE WHEN jsonb_typeof(done.graph->'nodes') = 'array'
                                                                     THEN done.graph->'nodes' ELSE '[]' END) x
             WHERE jsonb_typeof(x) = 'object' AND x->>'id' IS NOT NULL AND x->>'type' IS NOT NULL),
         by_node_type AS (
            INSERT INTO workspace_node_type_days AS r (workspace_id, day, node_type, succeeded, failed,
                        duration_ms, duration_hist)
            SELECT done.workspace_id, (now() AT TIME ZONE 'UTC')::date, t.node_type,
                   {node_counts}
              FROM done, attempts a JOIN node_types t ON t.node = a.node
             GROUP BY done.workspace_id, t.node_type
            ON CONFLICT (workspace_id, day, node_type) DO UPDATE SET {node_update}
            RETURNING 1),
         -- How long it waited for the dispatcher and then for its executor, by its tier (migration 0018).
         by_tier AS (
            INSERT INTO workspace_tier_hours AS r (workspace_id, hour, tier, started, queue_ms, queue_hist,
                        dispatch_ms, dispatch_hist)
            SELECT workspace_id, date_trunc('hour', now()), tier, 1, queue, analytics_one(queue),
                   dispatch, analytics_one(dispatch)
              FROM done WHERE queue IS NOT NULL AND dispatch IS NOT NULL
            ON CONFLICT (workspace_id, hour, tier) DO UPDATE SET
                started = r.started + 1, queue_ms = {queue}, queue_hist = analytics_add(r.queue_hist, EXCLUDED.queue_hist),
                dispatch_ms = {dispatch}, dispatch_hist = analytics_add(r.dispatch_hist, EXCLUDED.dispatch_hist)
            RETURNING 1),
         -- Why it failed: its end's reason, its time limit, or its failing node's error kind.
         by_failure AS (
            INSERT INTO workflow_failure_days AS r (workspace_id, workflow_id, day, reason, runs)
            SELECT workspace_id, workflow_id, (now() AT TIME ZONE 'UTC')::date,
                   coalesce(end_reason, CASE WHEN status = 'timed_out' THEN 'timed_out' END,
                            (SELECT left(ev.payload->'error'->>'kind', 64) FROM execution_events ev
                              WHERE ev.execution_id = $1 AND ev.type = 'node_failed' AND ev.node = done.failed_node
                              ORDER BY ev.seq DESC LIMIT 1),
                            'other'), 1
              FROM done WHERE status IN ('failed', 'timed_out')
            ON CONFLICT (workflow_id, day, reason) DO UPDATE SET runs = r.runs + 1
            RETURNING 1),
         -- Its agent calls by model (migration 0017), for the costs route.
         by_model AS (
            INSERT INTO workspace_model_hours AS r (workspace_id, hour, provider, model, calls, input_tokens,
                        output_tokens, cost_micros, unpriced_calls)
            SELECT done.workspace_id, date_trunc('hour', now()), u.provider, u.model, u.calls, u.input_tokens,
                   u.output_tokens, u.cost_micros, u.unpriced_calls
              FROM done JOIN execution_model_usage u ON u.execution_id = $1
            ON CONFLICT (workspace_id, hour, provider, model) DO UPDATE SET
                calls = r.calls + EXCLUDED.calls, unpriced_calls = r.unpriced_calls + EXCLUDED.unpriced_calls,
                input_tokens = {input}, output_tokens = {output}, cost_micros = {cost}
            RETURNING 1),
         ended AS (
            INSERT INTO execution_events (execution_id, seq, type, node, payload, ts)
            SELECT $1, done.last_seq, $10, NULL,
                   $9::jsonb || jsonb_build_object('seq', done.last_seq,
                       'ts', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')),
                   now()
              FROM done
            -- Never taken while last_seq tracks the stored events (insert_events keeps
            -- it so under the same row lock); if it were, the end must still be last.
            ON CONFLICT (execution_id, seq) DO UPDATE SET type = EXCLUDED.type, payload = EXCLUDED.payload
            RETURNING seq),
         counted AS (
            INSERT INTO usage_metrics (workspace_id, metric, period, count)
            SELECT workspace_id, m.metric, date_trunc('month', now())::date, m.n
              FROM done CROSS JOIN LATERAL (VALUES ($6, 1::bigint), ($7, ceil(runtime_ms / 1000.0)::bigint),
                                                   ($12, ceil(runtime_ms / 60000.0)::bigint), ($11, llm_tokens)) AS m (metric, n)
             WHERE m.n > 0 OR m.metric <> $11
            ON CONFLICT (workspace_id, metric, period) DO UPDATE
               SET count = CASE WHEN usage_metrics.count > 9223372036854775807 - EXCLUDED.count
                                THEN 9223372036854775807 ELSE usage_metrics.count + EXCLUDED.count END
            RETURNING 1),
         -- A metered subscription's usage, reported to Stripe by the sweeper.
         metered AS (
            INSERT INTO meter_reports (execution_id, metric, workspace_id, stripe_customer_id, value, occurred_at)
            SELECT $1, m.metric, done.workspace_id, w.stripe_customer_id, m.n, now()
              FROM done
              JOIN subscriptions s ON s.workspace_id = done.workspace_id AND s.metered
                                  AND s.status IN ('active', 'trialing', 'past_due')
              JOIN workspaces w ON w.id = done.workspace_id AND w.stripe_customer_id IS NOT NULL
              CROSS JOIN LATERAL (VALUES ('runs', 1::bigint), ('run_minutes', ceil(done.runtime_ms / 60000.0)::bigint),
                                         ('llm_tokens', done.llm_tokens)) AS m (metric, n)
            ON CONFLICT (execution_id, metric) DO NOTHING
            RETURNING 1)
         -- Data-modifying CTEs run once whether or not they are read.
         SELECT seq FROM ended",
        tokens = saturating_sum("llm_tokens"),
        cost = saturating_sum("cost_micros"),
        node_counts = "count(*) FILTER (WHERE a.type = 'node_succeeded'),
                   count(*) FILTER (WHERE a.type = 'node_failed'),
                   coalesce(sum(a.ms) FILTER (WHERE a.type = 'node_succeeded'), 0),
                   coalesce(analytics_sum(analytics_one(a.ms)) FILTER (WHERE a.type = 'node_succeeded'),
                            array_fill(0::bigint, ARRAY[80]))",
        node_update = format!(
            "succeeded = r.succeeded + EXCLUDED.succeeded, failed = r.failed + EXCLUDED.failed,
                duration_ms = {}, duration_hist = analytics_add(r.duration_hist, EXCLUDED.duration_hist)",
            saturating_sum("duration_ms")
        ),
        queue = saturating_sum("queue_ms"),
        dispatch = saturating_sum("dispatch_ms"),
        input = saturating_sum("input_tokens"),
        output = saturating_sum("output_tokens"),
        by_workspace = hour_rollup("by_workspace", "workspace_run_hours", &["workspace_id"]),
        by_workflow = hour_rollup("by_workflow", "workflow_run_hours", &["workspace_id", "workflow_id"]),
    )
});

/// A rollup's `col` plus the ended run's, saturating at `i64::MAX`.
fn saturating_sum(col: &str) -> String {
    format!("least(r.{col}::numeric + EXCLUDED.{col}, 9223372036854775807)::bigint")
}

/// One CTE adding the ended run (`done`) to an hourly rollup keyed by
/// `keys` (the last is its conflict key, with the hour).
fn hour_rollup(name: &str, table: &str, keys: &[&str]) -> String {
    let cols = keys.join(", ");
    let key = keys.last().copied().unwrap_or("workspace_id");
    format!(
        "{name} AS (
            INSERT INTO {table} AS r ({cols}, hour, runs, completed, failed, cancelled,
                        timed_out, started, duration_ms, duration_hist, wait_ms, wait_hist, llm_tokens,
                        cost_micros)
            SELECT {cols}, date_trunc('hour', now()), 1, (status = 'completed')::int,
                   (status = 'failed')::int, (status = 'cancelled')::int, (status = 'timed_out')::int,
                   (duration IS NOT NULL)::int, coalesce(duration, 0), analytics_one(duration),
                   coalesce(wait, 0), analytics_one(wait), llm_tokens, cost_micros
              FROM done
            ON CONFLICT ({key}, hour) DO UPDATE SET
                runs = r.runs + 1, completed = r.completed + EXCLUDED.completed,
                failed = r.failed + EXCLUDED.failed, cancelled = r.cancelled + EXCLUDED.cancelled,
                timed_out = r.timed_out + EXCLUDED.timed_out, started = r.started + EXCLUDED.started,
                duration_ms = r.duration_ms + EXCLUDED.duration_ms,
                duration_hist = analytics_add(r.duration_hist, EXCLUDED.duration_hist),
                wait_ms = r.wait_ms + EXCLUDED.wait_ms, wait_hist = analytics_add(r.wait_hist, EXCLUDED.wait_hist),
                llm_tokens = {tokens}, cost_micros = {cost}
            RETURNING 1),",
        tokens = saturating_sum("llm_tokens"),
        cost = saturating_sum("cost_micros"),
    )
}

async fn finish_where(
    db: &sqlx::PgPool,
    id: Uuid,
    end: Ending<'_>,
    unless_cancel_requested: bool,
) -> Result<Option<i64>, sqlx::Error> {
    let status = ExecutionStatus::from(end.status);
    let mut event = json!({
        "type": ENDED_EVENT, "status": status, "output": end.output,
        "error": end.error, "failedNode": end.failed_node,
    });
    if let Some(r) = end.output_ref {
        event["outputRef"] = json!(r);
    }
    if let Some(reason) = end.reason {
        event["reason"] = json!(reason);
    }
    let retention = crate::tier::retention_days();
    // The row is locked first, in a statement of its own: FINISH's snapshot
    // then comes after any batch of events being stored (which holds the same
    // lock), so its rollups of the run's events and per-model usage see them all.
    let mut tx = db.begin().await?;
    sqlx::query("SELECT 1 FROM executions WHERE id = $1 FOR UPDATE")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let last = sqlx::query_scalar(FINISH.as_str())
        .bind(id)
        .bind(status)
        .bind(end.output.map(Json))
        .bind(end.error)
        .bind(end.failed_node)
        .bind(RUNS_FINISHED)
        .bind(RUN_SECONDS)
        .bind(end.output_ref.map(Json))
        .bind(Json(event))
        .bind(ENDED_EVENT)
        .bind(LLM_TOKENS)
        .bind(RUN_MINUTES)
        .bind(unless_cancel_requested)
        .bind(end.reason)
        .bind(&retention.0)
        .bind(&retention.1)
        .fetch_optional(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(last)
}

/// Records the tracker's task token for a run; returns the run's status.
pub async fn set_task_token(
    db: impl PgExecutor<'_>,
    id: Uuid,
    token: &str,
) -> Result<Option<ExecutionStatus>, sqlx::Error> {
    // The tracker's window opens now: its first beat is due a third of it
    // later (a run shorter than that never forwards one).
    sqlx::query_scalar(
        "UPDATE executions SET task_token = $2, tracker_beat_at = now() WHERE id = $1 RETURNING status",
    )
        .bind(id)
        .bind(token)
        .fetch_optional(db)
        .await
}

/// What a heartbeat found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Beat {
    /// The run should stop (cancel requested, or the run already ended).
    pub stop: bool,
    /// The run has ended.
    pub ended: bool,
    /// The tracker's task token, to forward the beat to.
    pub task_token: Option<String>,
    /// The workspace's monthly budget is set and spent.
    pub over_budget: bool,
    /// This beat is the first in a third of the tracker's window: forward it.
    pub forward: bool,
}

/// Records a heartbeat, or `None` if there is no such execution.
pub async fn heartbeat(
    db: impl PgExecutor<'_>,
    id: Uuid,
    forward_every: std::time::Duration,
) -> Result<Option<Beat>, sqlx::Error> {
    let row: Option<(bool, ExecutionStatus, Option<String>, bool, bool)> = sqlx::query_as(
        "UPDATE executions e SET heartbeat_at = CASE WHEN status = 'running' THEN now() ELSE heartbeat_at END,
                tracker_beat_at = CASE WHEN status = 'running'
                                        AND (tracker_beat_at IS NULL OR tracker_beat_at <= now() - make_interval(secs => $3))
                                       THEN now() ELSE tracker_beat_at END
          WHERE id = $1
         RETURNING cancel_requested, status, task_token,
                   EXISTS (SELECT 1 FROM workspace_budgets b
                             JOIN usage_metrics u ON u.workspace_id = b.workspace_id AND u.metric = $2
                                                 AND u.period = date_trunc('month', now())::date
                            WHERE b.workspace_id = e.workspace_id AND u.count >= b.monthly_budget_micros),
                   tracker_beat_at IS NOT DISTINCT FROM now()",
    )
    .bind(id)
    .bind(budgets::LLM_COST)
    .bind(forward_every.as_secs_f64())
    .fetch_optional(db)
    .await?;
    // A fast executor can beat before the dispatcher has recorded it as
    // running: only a cancel or the run's end stops it.
    Ok(
        row.map(|(cancel, status, task_token, over_budget, forward)| Beat {
            stop: cancel || status.is_terminal(),
            ended: status.is_terminal(),
            task_token,
            over_budget,
            forward,
        }),
    )
}

/// A forward to the tracker that failed gives its slot back: the next beat
/// forwards again (rather than a third of the window later).
pub async fn forward_failed(db: impl PgExecutor<'_>, id: Uuid) -> Result<(), sqlx::Error> {
    sqlx::query("UPDATE executions SET tracker_beat_at = NULL WHERE id = $1")
        .bind(id)
        .execute(db)
        .await?;
    Ok(())
}

pub async fn request_cancel(db: impl PgExecutor<'_>, id: Uuid) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE executions SET cancel_requested = true
          WHERE id = $1 AND NOT cancel_requested AND status IN ('queued', 'dispatching', 'running')",
    )
    .bind(id)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// One event as the executor sent it.
pub struct NewEvent<'a> {
    pub seq: i64,
    pub kind: &'a str,
    pub node: Option<&'a str>,
    pub payload: &'a Value,
    pub ts: DateTime<Utc>,
    /// The LLM tokens a `usage` event reports (0 for other events).
    pub tokens: i64,
    /// A `usage` event's call, priced.
    pub usage: Option<ModelUsage<'a>>,
}

/// One agent call's usage, as a `usage` event reports it, and its price.
#[derive(Debug, Clone, Copy)]
pub struct ModelUsage<'a> {
    pub provider: &'a str,
    pub model: &'a str,
    pub input_tokens: i64,
    pub output_tokens: i64,
    /// Micro-dollars; `None` when the price table does not know the model.
    pub cost_micros: Option<i64>,
}

/// What storing a batch of events did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// Stored: the sequence numbers that were new (only those are
    /// published), whose run it is (to publish to), and what a heartbeat
    /// would have answered (a batch is the run's heartbeat too).
    Added {
        new: std::collections::BTreeSet<i64>,
        workspace_id: Uuid,
        cancel: bool,
        over_budget: bool,
        /// The tracker's task token, and whether this batch is the beat
        /// to forward to it (as [`heartbeat`] decides).
        task_token: Option<String>,
        forward: bool,
    },
    /// The run has ended: nothing after its end is taken.
    Ended,
    /// No such execution.
    Missing,
}

/// Stores events; each sequence number is applied once, so a retried batch is
/// harmless. One statement: the run's row is locked first (so a batch and the
/// run's end never interleave: the end's event is always last), the new
/// events inserted, and the row's `last_seq`, tokens, cost and heartbeat
/// moved, and the tracker's beat slot taken as a heartbeat takes it. A batch
/// with a priced model call runs in a transaction with its usage and spend;
/// others need no transaction of their own.
pub async fn insert_events(
    db: impl PgExecutor<'_>,
    id: Uuid,
    events: &[NewEvent<'_>],
    forward_every: std::time::Duration,
) -> Result<Recorded, sqlx::Error> {
    type Row = (
        ExecutionStatus,
        Uuid,
        bool,
        bool,
        Vec<i64>,
        Option<String>,
        bool,
    );
    let terminal: Vec<&str> = ExecutionStatus::TERMINAL
        .iter()
        .map(|s| s.as_str())
        .collect();
    let row: Option<Row> = sqlx::query_as(
        "WITH run AS (
             SELECT id, status, workspace_id, cancel_requested, task_token FROM executions WHERE id = $1 FOR UPDATE
         ), live AS (
             SELECT id FROM run WHERE status::text <> ALL($11::text[])
         ), batch AS (
             -- A batch may name a number twice: the first one is the stored one.
             SELECT DISTINCT ON (e.seq) e.*
               FROM unnest($2::bigint[], $3::text[], $4::text[], $5::jsonb[], $6::timestamptz[],
                           $7::bigint[], $8::bigint[])
                    WITH ORDINALITY AS e(seq, type, node, payload, ts, tokens, cost, n)
              ORDER BY e.seq, e.n
         ), ins AS (
             INSERT INTO execution_events (execution_id, seq, type, node, payload, ts)
             SELECT live.id, b.seq, b.type, b.node, b.payload, b.ts FROM batch b, live
             ON CONFLICT (execution_id, seq) DO NOTHING
             RETURNING seq
         ), added AS (
             SELECT max(b.seq) AS last,
                    least(coalesce(sum(b.tokens), 0), 9223372036854775807)::bigint AS tokens,
                    least(coalesce(sum(b.cost), 0), 9223372036854775807)::bigint AS cost
               FROM ins JOIN batch b USING (seq)
         ), moved AS (
             UPDATE executions x
                SET last_seq = GREATEST(x.last_seq, coalesce(a.last, x.last_seq)),
                    llm_tokens = CASE WHEN x.llm_tokens > 9223372036854775807 - a.tokens THEN 9223372036854775807
                                      ELSE x.llm_tokens + a.tokens END,
                    cost_micros = least(x.cost_micros::numeric + a.cost, 9223372036854775807)::bigint,
                    heartbeat_at = CASE WHEN x.status = 'running' THEN now() ELSE x.heartbeat_at END,
                    tracker_beat_at = CASE WHEN x.status = 'running'
                                            AND (x.tracker_beat_at IS NULL
                                                 OR x.tracker_beat_at <= now() - make_interval(secs => $10))
                                           THEN now() ELSE x.tracker_beat_at END
               FROM live, added a
              WHERE x.id = live.id
             RETURNING x.tracker_beat_at IS NOT DISTINCT FROM now() AS forward
         )
         SELECT run.status, run.workspace_id, run.cancel_requested,
                EXISTS (SELECT 1 FROM workspace_budgets b
                          JOIN usage_metrics u ON u.workspace_id = b.workspace_id AND u.metric = $9
                                              AND u.period = date_trunc('month', now())::date
                         WHERE b.workspace_id = run.workspace_id AND u.count >= b.monthly_budget_micros),
                ARRAY(SELECT seq FROM ins ORDER BY seq),
                run.task_token, coalesce((SELECT forward FROM moved), false)
           FROM run",
    )
    .bind(id)
    .bind(events.iter().map(|e| e.seq).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.kind).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.node).collect::<Vec<_>>())
    .bind(events.iter().map(|e| Json(e.payload)).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.ts).collect::<Vec<_>>())
    .bind(events.iter().map(|e| e.tokens).collect::<Vec<_>>())
    .bind(
        events
            .iter()
            .map(|e| e.usage.and_then(|u| u.cost_micros).unwrap_or(0))
            .collect::<Vec<_>>(),
    )
    .bind(budgets::LLM_COST)
    .bind(forward_every.as_secs_f64())
    .bind(&terminal)
    .fetch_optional(db)
    .await?;
    Ok(match row {
        None => Recorded::Missing,
        Some((status, ..)) if status.is_terminal() => Recorded::Ended,
        Some((_, workspace_id, cancel, over_budget, new, task_token, forward)) => Recorded::Added {
            new: new.into_iter().collect(),
            workspace_id,
            cancel,
            over_budget,
            task_token,
            forward,
        },
    })
}

/// The priced model calls among a batch's new events: each model's calls,
/// tokens and cost added to the run's usage, and the cost to the
/// workspace's monthly spend. Returns the budget notices the spend made due.
pub async fn add_model_usage(
    tx: &mut Transaction<'_, Postgres>,
    id: Uuid,
    workspace_id: Uuid,
    events: &[NewEvent<'_>],
    new: &std::collections::BTreeSet<i64>,
) -> Result<Vec<budgets::Notice>, sqlx::Error> {
    let mut cost = 0i64;
    let mut by_model: BTreeMap<(&str, &str), [i64; 5]> = BTreeMap::new();
    // A batch may name a number twice: the first one is the stored one.
    let mut counted = std::collections::BTreeSet::new();
    for e in events.iter().filter(|e| new.contains(&e.seq)) {
        if !counted.insert(e.seq) {
            continue;
        }
        if let Some(u) = e.usage {
            let price = u.cost_micros.unwrap_or(0);
            cost = cost.saturating_add(price);
            let m = by_model.entry((u.provider, u.model)).or_default();
            let unpriced = i64::from(u.cost_micros.is_none());
            for (sum, n) in m
                .iter_mut()
                .zip([1, u.input_tokens, u.output_tokens, price, unpriced])
            {
                *sum = sum.saturating_add(n);
            }
        }
    }
    for ((provider, model), [calls, input, output, price, unpriced]) in by_model {
        sqlx::query(
            "INSERT INTO execution_model_usage AS u (execution_id, provider, model, calls, input_tokens,
                         output_tokens, cost_micros, unpriced_calls)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
             ON CONFLICT (execution_id, provider, model) DO UPDATE SET calls = u.calls + EXCLUDED.calls,
                 input_tokens = least(u.input_tokens::numeric + EXCLUDED.input_tokens, 9223372036854775807)::bigint,
                 output_tokens = least(u.output_tokens::numeric + EXCLUDED.output_tokens, 9223372036854775807)::bigint,
                 cost_micros = least(u.cost_micros::numeric + EXCLUDED.cost_micros, 9223372036854775807)::bigint,
                 unpriced_calls = u.unpriced_calls + EXCLUDED.unpriced_calls",
        )
        .bind(id)
        .bind(provider)
        .bind(model)
        .bind(calls)
        .bind(input)
        .bind(output)
        .bind(price)
        .bind(unpriced)
        .execute(&mut **tx)
        .await?;
    }
    if cost > 0 {
        budgets::spend(tx, workspace_id, cost).await
    } else {
        Ok(Vec::new())
    }
}

#[derive(Debug, Clone, FromRow)]
pub struct StoredEvent {
    pub seq: i64,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub node: Option<String>,
    pub payload: Json<Value>,
    pub ts: DateTime<Utc>,
}

/// Events after `after`, in order.
pub async fn events_after(
    db: impl PgExecutor<'_>,
    id: Uuid,
    after: i64,
    limit: i64,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query_as::<_, StoredEvent>(
        "SELECT seq, type, node, payload, ts FROM execution_events WHERE execution_id = $1 AND seq > $2 ORDER BY seq LIMIT $3",
    )
    .bind(id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Node events only, in order (for the per-node summary).
pub async fn node_events(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Vec<StoredEvent>, sqlx::Error> {
    sqlx::query_as::<_, StoredEvent>(
        "SELECT seq, type, node, payload, ts FROM execution_events
          WHERE execution_id = $1 AND node IS NOT NULL AND type LIKE 'node\\_%' ORDER BY seq",
    )
    .bind(id)
    .fetch_all(db)
    .await
}

/// What the tracker and the sweeper judge a run by: its state, deadline,
/// last heartbeat and job (never its graph or outputs).
#[derive(Debug, Clone, FromRow)]
pub struct Liveness {
    pub id: Uuid,
    pub status: ExecutionStatus,
    pub deadline_at: DateTime<Utc>,
    pub heartbeat_at: Option<DateTime<Utc>>,
    pub dispatched_at: Option<DateTime<Utc>>,
    pub job_name: Option<String>,
}

const LIVENESS: &str = "id, status, deadline_at, heartbeat_at, dispatched_at, job_name";

pub async fn liveness(db: impl PgExecutor<'_>, id: Uuid) -> Result<Option<Liveness>, sqlx::Error> {
    sqlx::query_as::<_, Liveness>(&format!("SELECT {LIVENESS} FROM executions WHERE id = $1"))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Running executions whose heartbeat is older than `silence`, and any
/// non-terminal execution past its deadline.
pub async fn overdue(
    db: impl PgExecutor<'_>,
    silence: std::time::Duration,
) -> Result<Vec<Liveness>, sqlx::Error> {
    sqlx::query_as::<_, Liveness>(&format!(
        "SELECT {LIVENESS} FROM executions
          WHERE status IN ('queued', 'dispatching', 'running')
            AND (deadline_at <= now()
                 OR (status = 'running' AND heartbeat_at < now() - make_interval(secs => $1)))"
    ))
    .bind(silence.as_secs_f64())
    .fetch_all(db)
    .await
}

/// Queued executions whose queue message has been silent for `age` (it may
/// be lost): marks them re-sent and returns them. Conditional, so two
/// sweepers never both re-send the same run.
pub async fn stale_queued(
    db: impl PgExecutor<'_>,
    age: std::time::Duration,
) -> Result<Vec<(Uuid, Priority)>, sqlx::Error> {
    sqlx::query_as(
        "UPDATE executions SET enqueued_at = now()
          WHERE status = 'queued' AND enqueued_at < now() - make_interval(secs => $1)
          RETURNING id, priority",
    )
    .bind(age.as_secs_f64())
    .fetch_all(db)
    .await
}

#[derive(Debug, Clone, FromRow)]
pub struct Artifact {
    pub id: Uuid,
    pub name: String,
    pub content_type: String,
    pub size: i64,
    pub blob_key: String,
    pub created_at: DateTime<Utc>,
}

/// Registers an artifact; registering the same blob key again is a no-op.
pub async fn insert_artifact(
    db: impl PgExecutor<'_>,
    execution_id: Uuid,
    a: &Artifact,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO execution_artifacts (id, execution_id, name, content_type, size, blob_key) VALUES ($1, $2, $3, $4, $5, $6)
         ON CONFLICT (execution_id, blob_key) DO NOTHING",
    )
    .bind(a.id)
    .bind(execution_id)
    .bind(&a.name)
    .bind(&a.content_type)
    .bind(a.size)
    .bind(&a.blob_key)
    .execute(db)
    .await?;
    Ok(())
}

pub async fn artifacts(
    db: impl PgExecutor<'_>,
    execution_id: Uuid,
) -> Result<Vec<Artifact>, sqlx::Error> {
    sqlx::query_as::<_, Artifact>(
        "SELECT id, name, content_type, size, blob_key, created_at FROM execution_artifacts WHERE execution_id = $1 ORDER BY created_at, id",
    )
    .bind(execution_id)
    .fetch_all(db)
    .await
}

/// What became of a run whose dispatch took too long.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StuckDispatch {
    /// Back to `queued` (its slot released): send it to its queue again.
    Requeued(Uuid, Priority),
    /// Too many attempts: end it `failed`.
    GiveUp(Uuid),
}

/// Runs that stayed `dispatching` longer than `deadline` (the dispatcher
/// crashed or kept failing to launch): each is put back in the queue, which
/// releases its slot, up to `max_attempts` times. Conditional, so two sweepers
/// never both move the same run.
pub async fn stuck_dispatching(
    db: impl PgExecutor<'_>,
    deadline: std::time::Duration,
    max_attempts: i32,
) -> Result<Vec<StuckDispatch>, sqlx::Error> {
    let rows: Vec<(Uuid, Priority, i32)> = sqlx::query_as(
        "UPDATE executions SET status = CASE WHEN dispatch_attempts + 1 >= $2 THEN status ELSE 'queued' END,
                dispatch_attempts = dispatch_attempts + 1, enqueued_at = now(),
                dispatched_at = CASE WHEN dispatch_attempts + 1 >= $2 THEN dispatched_at ELSE NULL END
          WHERE status = 'dispatching' AND dispatched_at < now() - make_interval(secs => $1)
          RETURNING id, priority, dispatch_attempts",
    )
    .bind(deadline.as_secs_f64())
    .bind(max_attempts)
    .fetch_all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, p, n)| {
            if n >= max_attempts {
                StuckDispatch::GiveUp(id)
            } else {
                StuckDispatch::Requeued(id, p)
            }
        })
        .collect())
}

/// The last event of a run (its `execution_ended` once it has ended).
pub async fn last_event(
    db: impl PgExecutor<'_>,
    id: Uuid,
) -> Result<Option<StoredEvent>, sqlx::Error> {
    sqlx::query_as::<_, StoredEvent>(
        "SELECT seq, type, node, payload, ts FROM execution_events WHERE execution_id = $1 ORDER BY seq DESC LIMIT 1",
    )
    .bind(id)
    .fetch_optional(db)
    .await
}
