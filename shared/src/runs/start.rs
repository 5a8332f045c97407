//! Starting a run: a queued execution of the caller's workflow (or a retry
//! of one of their runs), stored, then sent to its priority queue.

use chrono::Utc;
use serde_json::{json, Map, Value};
use uuid::Uuid;

use super::Runs;
use crate::{
    activity::{self, Action, Activity, Origin},
    analytics::usd,
    db::{
        agents, budgets,
        executions::{self, NewExecution, StoredEvent},
        workflows, workspaces,
    },
    error::ErrorCode,
    protocol::{message::MessageType, ExecutionStatus},
    realtime::publish::publish_run,
    runs::trigger::Trigger,
    workflow::{agent_references, Graph},
    ApiError, ApiResult,
};

/// What to start.
/// How the error of a run whose executor was stopped from outside begins.
pub const INTERRUPTED: &str = "interrupted:";

/// The idempotency key of an automatic resume starts with this.
const RESUME_KEY: &str = "resume-";

#[derive(Debug, Clone)]
pub struct StartRun {
    /// The workspace it runs in (its plan and limits).
    pub workspace_id: Uuid,
    /// Who started it (`None`: one of the workflow's triggers).
    pub started_by: Option<Uuid>,
    pub workflow_id: Uuid,
    /// The run's inputs (`{{inputs.…}}`); an object (`None`: `{}`).
    pub inputs: Option<Value>,
    /// A repeated key returns the run it started.
    pub idempotency_key: Option<String>,
    /// What started it (a retry keeps its run's).
    pub trigger: Trigger,
    /// The request that started it, for the activity log (a trigger: none).
    pub origin: Origin,
    /// The id it is to have (a queued webhook request was answered with it);
    /// `None`: a new one.
    pub id: Option<Uuid>,
}

/// 403 `BUDGET_EXCEEDED` once the workspace's monthly budget is spent.
pub fn within_budget(s: &budgets::Standing) -> ApiResult<()> {
    if !s.exhausted() {
        return Ok(());
    }
    let budget = s.budget.monthly_budget_micros.unwrap_or(0);
    let resets = s
        .month
        .checked_add_months(chrono::Months::new(1))
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|d| d.and_utc());
    Err(ApiError::new(
        ErrorCode::BudgetExceeded,
        format!(
            "the workspace's monthly budget of {:.2} US$ is spent; an owner or admin can raise it",
            usd(budget)
        ),
    )
    .with_details(json!({
        "monthlyBudgetUsd": usd(budget),
        "spentUsd": usd(s.spent_micros),
        "month": s.month,
        "resetsAt": resets,
    })))
}

/// 403 `TIER_LIMIT` for a plan that cannot run workflows (design only).
pub fn may_run(tier: crate::tier::Tier) -> ApiResult<()> {
    if tier.can_run() {
        Ok(())
    } else {
        Err(ApiError::tier_limit(
            tier,
            "concurrent runs (design only: upgrade to run workflows)",
            0,
        ))
    }
}

/// A started run: its row as stored, and whether this call created it
/// (`false`: the idempotency key had started it already).
#[derive(Debug, Clone)]
pub struct Started {
    pub execution: Box<executions::Execution>,
    pub created: bool,
}

/// A retry's origin: the run, the graph it ran and the outputs to reuse.
struct RetryOf {
    id: Uuid,
    graph: Value,
    prior: Value,
}

impl Runs {
    /// Starts a run of the workspace's workflow: 403 `TIER_LIMIT` for plans
    /// that cannot run, 400 for an invalid graph or inputs, 404 for a
    /// workflow that is not the workspace's.
    pub async fn start(&self, req: StartRun) -> ApiResult<Started> {
        self.start_run(req, None).await
    }

    /// Runs an ended run again as a new run linked to it; `from_failed`
    /// reuses the outputs of the nodes that succeeded. 409 while it has not ended.
    pub async fn retry(
        &self,
        workspace_id: Uuid,
        by: Uuid,
        origin: Origin,
        id: Uuid,
        from_failed: bool,
    ) -> ApiResult<Started> {
        let e = executions::find(&self.db, workspace_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("execution"))?;
        if !e.status.is_terminal() {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "the execution has not finished yet",
            ));
        }
        if from_failed && e.events_pruned {
            return Err(ApiError::new(
                ErrorCode::Conflict,
                "the run's events were pruned after its plan's retention, and with them its nodes' \
                 outputs: retry it from the start (fromFailed: false)",
            )
            .with_details(json!({ "reason": "events_pruned" })));
        }
        let prior = if from_failed {
            succeeded_outputs(&executions::node_events(&self.db, id).await?)
        } else {
            json!({})
        };
        self.start_run(
            StartRun {
                workspace_id,
                started_by: Some(by),
                workflow_id: e.workflow_id,
                inputs: Some(e.inputs.0),
                idempotency_key: None,
                trigger: Trigger {
                    kind: e.trigger_type,
                    data: e.trigger_data.0,
                },
                origin,
                id: None,
            },
            Some(RetryOf {
                id,
                graph: e.graph.0,
                prior,
            }),
        )
        .await
    }

    /// Starts an interrupted run again from its failed nodes (every completed
    /// node's output is reused), as the system: once, since a resume that is
    /// interrupted in its turn is left for its owner to retry.
    /// Idempotent (the new run's idempotency key names the old one). The new
    /// run's id, or `None` when none is started (the plan refuses it, say).
    pub async fn resume_interrupted(&self, id: Uuid) -> anyhow::Result<Option<Uuid>> {
        let Some(e) = executions::get(&self.db, id).await? else {
            return Ok(None);
        };
        // Itself a resume interrupted again: its owner decides. Past its time
        // limit: nothing to resume (the limit, not the interruption, ended it).
        let is_resume = e
            .idempotency_key
            .as_deref()
            .is_some_and(|k| k.starts_with(RESUME_KEY));
        if is_resume || e.deadline_at <= Utc::now() {
            return Ok(None);
        }
        let prior = succeeded_outputs(&executions::node_events(&self.db, id).await?);
        let started = self
            .start_run(
                StartRun {
                    workspace_id: e.workspace_id,
                    started_by: e.started_by,
                    workflow_id: e.workflow_id,
                    inputs: Some(e.inputs.0),
                    idempotency_key: Some(format!("{RESUME_KEY}{id}")),
                    trigger: Trigger {
                        kind: e.trigger_type,
                        data: e.trigger_data.0,
                    },
                    origin: Origin::system(),
                    id: None,
                },
                Some(RetryOf {
                    id,
                    graph: e.graph.0,
                    prior,
                }),
            )
            .await;
        match started {
            Ok(s) => Ok(Some(s.execution.id)),
            Err(err) => {
                tracing::warn!(execution_id = %id, error = %err, "an interrupted run was not resumed; its owner can retry it");
                Ok(None)
            }
        }
    }

    async fn start_run(&self, req: StartRun, retry: Option<RetryOf>) -> ApiResult<Started> {
        let mut inputs = req.inputs.unwrap_or_else(|| json!({}));
        let Some(fields) = inputs.as_object_mut() else {
            return Err(ApiError::field("inputs", "must be a JSON object"));
        };
        // Files named as inputs become their descriptions (a retry's are already).
        super::file_inputs::resolve(&self.db, req.workspace_id, fields).await?;
        if !req.trigger.data.is_object() {
            return Err(ApiError::field("triggerData", "must be a JSON object"));
        }
        let tier = workspaces::tier(&self.db, req.workspace_id)
            .await?
            .ok_or_else(|| ApiError::not_found("workspace"))?;
        may_run(tier)?;
        // A repeated key answers its run, budget or not.
        let repeated = match &req.idempotency_key {
            Some(key) => executions::by_idempotency_key(&self.db, req.workspace_id, key)
                .await?
                .is_some(),
            None => false,
        };
        if !repeated {
            within_budget(&budgets::standing(&self.db, req.workspace_id).await?)?;
        }
        let mut conn = self.db.acquire().await?;
        let wf = workflows::find(&mut *conn, req.workspace_id, req.workflow_id)
            .await?
            .ok_or_else(|| ApiError::not_found("workflow"))?;
        let (graph, prior, retry_of) = match retry {
            Some(r) => (r.graph, r.prior, Some(r.id)),
            None => (wf.canvas.0.clone(), json!({}), None),
        };
        let report = crate::validation::full_report(&mut conn, req.workspace_id, &graph).await?;
        if !report.valid {
            return Err(ApiError::new(
                ErrorCode::ValidationError,
                "the workflow's graph is invalid; fix it before running",
            )
            .with_details(json!({ "reason": "invalid_graph", "report": report })));
        }
        drop(conn);
        let priority = tier.limits().priority;
        let mut tx = self.db.begin().await?;
        let (execution, created) = executions::insert(
            &mut tx,
            NewExecution {
                id: req.id.unwrap_or_else(crate::ids::new_id),
                workspace_id: req.workspace_id,
                started_by: req.started_by,
                workflow_id: req.workflow_id,
                workflow_version: wf.version,
                tier,
                priority,
                graph: &graph,
                inputs: &inputs,
                prior_outputs: &prior,
                idempotency_key: req.idempotency_key.as_deref(),
                retry_of,
                trigger_type: req.trigger.kind,
                trigger_data: &req.trigger.data,
                queue_deadline: Utc::now()
                    + chrono::Duration::from_std(self.settings.max_queue_wait)
                        .unwrap_or_else(|_| chrono::Duration::hours(24)),
            },
        )
        .await?;
        let entry = if created {
            let activity = match req.started_by {
                Some(by) => Activity::new(req.workspace_id, by, Action::RunStarted),
                None => Activity::system(req.workspace_id, Action::RunStarted),
            };
            Some(
                activity
                    .on(execution.id)
                    .details(json!({
                        "workflowId": req.workflow_id, "workflowName": wf.name,
                        "workflowVersion": wf.version, "trigger": req.trigger.kind,
                        "retryOf": retry_of,
                    }))
                    .record(&mut *tx, &req.origin)
                    .await?,
            )
        } else {
            None
        };
        tx.commit().await?;
        if created {
            crate::metrics::count(crate::metrics::RUNS_QUEUED, &[tier.as_str()]);
            self.count_agent_uses(&graph).await;
            // The row is the source of truth: if this send fails, the sweeper sends it again.
            if let Err(e) = self
                .queue
                .send(execution.id, priority, std::time::Duration::ZERO)
                .await
            {
                tracing::warn!(execution_id = %execution.id, error = %e, "could not enqueue; the sweeper will retry");
            }
            publish_run(
                self.publisher.as_ref(),
                execution.id,
                req.workspace_id,
                json!({ "type": MessageType::ExecutionQueued, "executionId": execution.id, "status": ExecutionStatus::Queued }),
            )
            .await;
            if let Some(entry) = entry {
                self.publisher.publish(activity::message(entry)).await;
            }
        }
        Ok(Started {
            execution: Box::new(execution),
            created,
        })
    }

    /// Each agent a started run uses counts one more use (the catalog's
    /// popularity). A failure here is logged: it must not fail the run.
    async fn count_agent_uses(&self, graph: &Value) {
        let Ok(g) = Graph::from_canvas(graph) else {
            return;
        };
        let mut ids: Vec<Uuid> = agent_references(&g)
            .iter()
            .filter_map(|(_, _, a)| a.parse().ok())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        if ids.is_empty() {
            return;
        }
        if let Err(e) = agents::count_usage(&self.db, &ids).await {
            tracing::warn!(error = %e, "could not count agent uses");
        }
    }
}

/// The outputs of the nodes whose last word was success, by node: what a
/// retry `fromFailed` reuses. A node whose output was stored as an artifact
/// (its event holds `outputRef`, not the output) runs again rather than
/// hand on a `null`.
pub fn succeeded_outputs(events: &[StoredEvent]) -> Value {
    let mut out = Map::new();
    for e in events {
        let Some(node) = &e.node else { continue };
        let p = &e.payload.0;
        match e.kind.as_str() {
            "node_succeeded" if p.get("outputRef").is_some_and(|r| !r.is_null()) => {
                out.remove(node);
            }
            "node_succeeded" => {
                out.insert(node.clone(), p["output"].clone());
            }
            "node_failed" if p["willRetry"] != true => {
                out.remove(node);
            }
            "node_cancelled" | "node_skipped" => {
                out.remove(node);
            }
            _ => {}
        }
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use serde_json::json;
    use sqlx::types::Json;

    use super::*;

    fn event(seq: i64, kind: &str, node: &str, payload: Value) -> StoredEvent {
        StoredEvent {
            seq,
            kind: kind.into(),
            node: Some(node.into()),
            payload: Json(payload),
            ts: Utc::now(),
        }
    }

    #[test]
    fn a_retry_reuses_what_succeeded_and_nothing_it_cannot_hand_on() {
        let events = [
            event(1, "node_succeeded", "a", json!({"output": {"n": 1}})),
            event(
                2,
                "node_failed",
                "b",
                json!({"error": "x", "willRetry": true}),
            ),
            event(3, "node_succeeded", "b", json!({"output": 2})),
            event(4, "node_failed", "c", json!({"error": "x"})),
            // Too large to keep inline: stored as an artifact.
            event(
                5,
                "node_succeeded",
                "big",
                json!({"output": null, "outputRef": {"artifactId": "x"}}),
            ),
            event(6, "node_skipped", "d", json!({})),
        ];
        assert_eq!(succeeded_outputs(&events), json!({"a": {"n": 1}, "b": 2}));
    }
}
