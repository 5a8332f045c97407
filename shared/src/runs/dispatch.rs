//! The dispatcher step: one queue message, one execution. Lambda (SQS batch),
//! the local queue worker and tests all call [`Runs::dispatch_one`].
//!
//! Crash-safety: the claim (`queued → dispatching`) commits before the job is
//! launched; the job name is deterministic, so a redelivery after a crash finds
//! the execution `dispatching`, launches again and gets "already exists";
//! `dispatching → running` is conditional, so it happens once. The tracker is
//! started under the execution id, so starting it again is harmless too.

use std::time::Duration;

use chrono::Utc;
use run_protocol::{env, message::MessageType, EndReason, ExecutionStatus, RunStatus};
use serde_json::json;
use uuid::Uuid;

use super::{end::EndedBy, job_name, run_time, JobSpec, Runs, TrackedRun, TRACKER_GRACE};
use crate::db::{
    budgets,
    executions::{self, Claim},
};
use crate::metrics;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The job runs (launched now, or found already launched).
    Launched,
    /// Nothing to do: already running, finished, or unknown.
    Done,
    /// No free slot for the workspace's plan: send again after this delay.
    Deferred(Duration),
}

impl Runs {
    /// Claims a queued run and launches its job: [`Outcome::Deferred`] when
    /// its workspace's plan has no free slot.
    pub async fn dispatch_one(&self, id: Uuid) -> anyhow::Result<Outcome> {
        let (claimed_at, claimed_wall) = (std::time::Instant::now(), Utc::now());
        let gate = executions::ClusterGate {
            max_runs: self.settings.cluster_max_runs,
            standard_percent: self.settings.cluster_standard_percent,
            low_percent: self.settings.cluster_low_percent,
        };
        let mut tx = self.db.begin().await?;
        let claim = executions::claim(
            &mut tx,
            id,
            |tier| i64::from(tier.limits().concurrent_runs),
            Some(gate),
        )
        .await?;
        tx.commit().await?;
        let r = match claim {
            Claim::Done => return Ok(Outcome::Done),
            Claim::NoSlot => return Ok(Outcome::Deferred(self.settings.defer)),
            Claim::Launch(r) => r,
        };
        // Queued before the workspace's monthly budget was spent: it ends
        // here, as a running run would at its next heartbeat, and never launches.
        if budgets::standing(&self.db, r.workspace_id)
            .await?
            .exhausted()
        {
            self.end_for(
                id,
                RunStatus::Failed,
                "the workspace's monthly budget is spent",
                Some(EndReason::BudgetExceeded),
                EndedBy::Sweeper,
            )
            .await?;
            return Ok(Outcome::Done);
        }
        let limits = r.tier.limits();
        let max_runtime = run_time(r.tier);
        let token = self
            .tokens
            .issue_for_execution(id, r.workspace_id, max_runtime + Duration::from_secs(900))
            .map_err(|e| anyhow::anyhow!("cannot sign the execution token: {e}"))?;
        let name = job_name(id);
        self.launcher
            .launch(JobSpec {
                name: name.clone(),
                execution_id: id,
                tier: r.tier,
                env: vec![
                    (env::EXECUTION_ID.into(), id.to_string()),
                    (env::CALLBACK_URL.into(), self.callback_url.clone()),
                    (
                        env::HEARTBEAT_SECONDS.into(),
                        self.settings.heartbeat_every.as_secs().max(1).to_string(),
                    ),
                ],
                callback_token: token.token.into(),
                resources: limits.resources,
                deadline: max_runtime,
            })
            .await?;
        // The tracker gives the run its tier's runtime plus a grace for start-up
        // and the final report; it is started under the execution id, so a
        // redelivery starts nothing new.
        self.tracker
            .start(TrackedRun {
                execution_id: id,
                heartbeat: self.settings.tracker_heartbeat,
                timeout: max_runtime + TRACKER_GRACE,
            })
            .await?;
        let deadline = Utc::now()
            + chrono::Duration::from_std(max_runtime)
                .unwrap_or_else(|_| chrono::Duration::hours(1));
        if executions::mark_running(&self.db, id, &name, deadline).await? {
            let tier = r.tier.as_str();
            metrics::count(metrics::RUNS_STARTED, &[tier]);
            let waited = (claimed_wall - r.created_at).num_milliseconds().max(0);
            metrics::emit(metrics::QUEUE_WAIT, &[tier], waited as f64);
            metrics::emit(
                metrics::DISPATCH_LATENCY,
                &[tier],
                claimed_at.elapsed().as_millis() as f64,
            );
            self
            .publish(
                id,
                r.workspace_id,
                json!({ "type": MessageType::ExecutionStatus, "executionId": id, "status": ExecutionStatus::Running }),
            )
            .await;
        }
        Ok(Outcome::Launched)
    }
}
