//! A trigger firing: a schedule's tick, or a verified webhook request,
//! starts a run as the system (no person started it), with the trigger's
//! type and data; and the bookkeeping of fires that could not start one.

use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use uuid::Uuid;
use workflow_graph::{Overlap, TriggerConfig};

use super::ports::ScheduleDef;
use crate::{
    activity::{self, Action, Activity, Origin},
    db::triggers::{self, TriggerRow},
    error::ErrorCode,
    runs::{
        start::{StartRun, Started},
        trigger::{Trigger, TriggerType},
        Runs,
    },
    ApiResult,
};

/// Consecutive fires that could not start a run before the trigger is paused.
pub const PAUSE_AFTER: i32 = 5;

/// What a schedule's tick did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fired {
    Started(Uuid),
    /// Not fired: `not_published`, `paused`, `busy` (the previous run is
    /// active), or `budget_exceeded` (the workspace's monthly budget is spent).
    Skipped(&'static str),
    /// No such schedule any more (its remote schedule was deleted).
    Gone,
    /// The run could not be started (counted; the message says why).
    Refused(String),
}

/// A trigger row's config, as the graph declared it.
pub fn config(t: &TriggerRow) -> TriggerConfig {
    serde_json::from_value(t.config.0.clone()).unwrap_or_default()
}

impl Runs {
    /// A schedule's tick for `scheduled` (idempotent: a tick delivered twice
    /// starts one run). An error only when a dependency is down (retry).
    pub async fn fire_schedule(
        &self,
        trigger_id: Uuid,
        scheduled: DateTime<Utc>,
    ) -> anyhow::Result<Fired> {
        let Some(t) = triggers::get(&self.db, trigger_id).await? else {
            // Its workflow is gone: the schedule should be too.
            self.schedules
                .delete(&ScheduleDef::name_of(trigger_id))
                .await?;
            return Ok(Fired::Gone);
        };
        if t.removed_at.is_some() || t.kind != "schedule" {
            return Ok(Fired::Gone);
        }
        if !t.armed {
            return Ok(Fired::Skipped("not_published"));
        }
        if t.paused {
            return Ok(Fired::Skipped("paused"));
        }
        let cfg = config(&t);
        if cfg.overlap.unwrap_or_default() == Overlap::Skip
            && triggers::schedule_run_active(&self.db, t.workflow_id).await?
        {
            tracing::info!(trigger_id = %t.id, "a scheduled run is still active: tick skipped");
            return Ok(Fired::Skipped("busy"));
        }
        let started = self
            .start_from_trigger(
                &t,
                TriggerType::Schedule,
                json!({}),
                json!({ "triggerId": t.id, "nodeId": t.node_id, "scheduledTime": scheduled }),
                format!("schedule:{}:{}", t.id, scheduled.timestamp()),
            )
            .await;
        match started {
            Ok(s) => Ok(Fired::Started(s.execution.id)),
            Err(e) if e.code() == ErrorCode::BudgetExceeded => {
                Ok(Fired::Skipped("budget_exceeded"))
            }
            Err(e) if e.code().status().is_client_error() => Ok(Fired::Refused(e.to_string())),
            Err(e) => Err(e.into_anyhow()),
        }
    }

    /// Starts a run for a trigger, and keeps its count of failed fires: a
    /// refusal (4xx) counts one, and [`PAUSE_AFTER`] in a row pause it. A
    /// spent monthly budget is the workspace's state, not the trigger's: not counted.
    pub async fn start_from_trigger(
        &self,
        t: &TriggerRow,
        kind: TriggerType,
        inputs: Value,
        data: Value,
        idempotency_key: String,
    ) -> ApiResult<Started> {
        self.start_from_trigger_as(t, None, kind, inputs, data, idempotency_key)
            .await
    }

    /// [`Self::start_from_trigger`], the run to have the id `id` (a queued
    /// webhook request's, answered before its run existed).
    pub async fn start_from_trigger_as(
        &self,
        t: &TriggerRow,
        id: Option<Uuid>,
        kind: TriggerType,
        inputs: Value,
        data: Value,
        idempotency_key: String,
    ) -> ApiResult<Started> {
        let started = self
            .start(StartRun {
                id,
                workspace_id: t.workspace_id,
                started_by: None,
                workflow_id: t.workflow_id,
                inputs: Some(inputs),
                idempotency_key: Some(idempotency_key),
                trigger: Trigger { kind, data },
                origin: Origin::system(),
            })
            .await;
        // Bookkeeping only: a run that started is answered as started even
        // when this cannot be written (a retry would start it again).
        match &started {
            Ok(s) => {
                if let Err(e) = triggers::fired(&self.db, t.id, s.execution.id).await {
                    tracing::warn!(trigger_id = %t.id, error = %e, "cannot record a trigger's fire");
                }
            }
            Err(e)
                if e.code().status().is_client_error() && e.code() != ErrorCode::BudgetExceeded =>
            {
                let why = e.to_string();
                match triggers::failed(&self.db, t.id, &why, PAUSE_AFTER).await {
                    Ok(true) => self.announce_paused(t, &why).await,
                    Ok(false) => {}
                    Err(e) => {
                        tracing::warn!(trigger_id = %t.id, error = %e, "cannot count a trigger's failed fire")
                    }
                }
            }
            Err(_) => {}
        }
        started
    }

    /// A trigger paused for failing: in the activity log, and a
    /// `notification` to each owner and admin.
    async fn announce_paused(&self, t: &TriggerRow, why: &str) {
        tracing::warn!(trigger_id = %t.id, workflow_id = %t.workflow_id, error = why, "a failing trigger was paused");
        let entry = Activity::system(t.workspace_id, Action::TriggerPaused)
            .on(t.id)
            .details(json!({
                "workflowId": t.workflow_id, "nodeId": t.node_id, "kind": t.kind,
                "reason": "failing", "failures": PAUSE_AFTER, "lastError": why,
            }))
            .record(&self.db, &Origin::system())
            .await;
        match entry {
            Ok(entry) => self.publisher.publish(activity::message(entry)).await,
            Err(e) => tracing::warn!(error = %e, "cannot log a paused trigger"),
        }
        let fields = json!({
            "workflowId": t.workflow_id,
            "triggerId": t.id,
            "nodeId": t.node_id,
            "error": why,
        });
        self.notify_managers(t.workspace_id, "trigger_paused", fields)
            .await;
    }
}

impl std::fmt::Display for Fired {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Fired::Started(id) => write!(f, "started {id}"),
            Fired::Skipped(why) => write!(f, "skipped ({why})"),
            Fired::Gone => f.write_str("gone"),
            Fired::Refused(why) => write!(f, "refused: {why}"),
        }
    }
}
