//! How runs end. [`Runs::finish`](super::Runs::finish) records an
//! executor's result; everything else ends a run without one
//! ([`Runs::end`]): a cancel, a reap, the sweeper. Whichever step moves a
//! run into its terminal state (once: a conditional update) then does what
//! follows ([`Runs::after_end`]).

use run_protocol::{message::MessageType, EndReason, RunStatus};
use serde_json::json;
use uuid::Uuid;

use super::{job_name, Runs};
use crate::{
    activity::{self, Action, Activity, Origin},
    db::{
        execution_reads,
        executions::{self, Artifact, Ending},
    },
    realtime::publish::Published,
    ApiError, ApiResult,
};

/// Who ended a run, which decides what else must stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EndedBy {
    /// The executor reported its result: the tracker is told it finished.
    Executor,
    /// The user cancelled: the job is deleted and the tracker stopped.
    User,
    /// The sweeper: the job is deleted and the tracker stopped.
    Sweeper,
    /// The tracker reaped it: the job is deleted (the tracker is ending by itself).
    Tracker,
}

/// The key of a run's log bundle in the blob store.
pub fn log_bundle_key(id: Uuid) -> String {
    format!("executions/{id}/execution-log.ndjson")
}

pub const LOG_BUNDLE_NAME: &str = "execution-log.ndjson";

/// Events read per page while the log bundle is written.
const BUNDLE_PAGE: i64 = 64;

impl Runs {
    /// Ends a run `timed_out` with `error` if it has not ended yet (then does
    /// what follows an end); returns whether this call ended it. The tracker's
    /// reap and the sweeper both end runs this way.
    pub async fn time_out(&self, id: Uuid, error: &str, by: EndedBy) -> anyhow::Result<bool> {
        self.end(id, RunStatus::TimedOut, error, by).await
    }

    /// Ends a run that has no result from its executor (timed out, cancelled,
    /// never dispatched) with `error`; returns whether this call ended it.
    pub async fn end(
        &self,
        id: Uuid,
        status: RunStatus,
        error: &str,
        by: EndedBy,
    ) -> anyhow::Result<bool> {
        self.end_for(id, status, error, None, by).await
    }

    /// [`Self::end`], saying why beyond the status.
    pub async fn end_for(
        &self,
        id: Uuid,
        status: RunStatus,
        error: &str,
        reason: Option<EndReason>,
        by: EndedBy,
    ) -> anyhow::Result<bool> {
        let ended = executions::finish(
            &self.db,
            id,
            Ending {
                status,
                output: None,
                output_ref: None,
                error: Some(error),
                failed_node: None,
                reason,
            },
        )
        .await?;
        if ended.is_some() {
            tracing::warn!(execution_id = %id, %error, ?status, ended_by = ?by, "execution ended without a result");
            self.after_end(id, by).await?;
        }
        Ok(ended.is_some())
    }

    /// What follows a run's entering a terminal state, done once by the step that
    /// moved it there: publish the end (the run's last sequenced message, after
    /// every event), stop what still runs for it, store its log bundle. Failures
    /// to reach the job or tracker are logged, not returned: the run has ended,
    /// the job's own deadline and the tracker's timeout stop them anyway.
    pub async fn after_end(&self, id: Uuid, by: EndedBy) -> anyhow::Result<()> {
        let Some(e) = executions::get(&self.db, id).await? else {
            return Ok(());
        };
        crate::metrics::count(
            crate::metrics::RUNS_FINISHED,
            &[e.tier.as_str(), e.status.as_str()],
        );
        if let Some(last) = executions::last_event(&self.db, id).await? {
            self.publish(
                id,
                e.workspace_id,
                crate::realtime::deliver::event_message(id, last.seq, &last.kind, &last.payload.0),
            )
            .await;
        }
        self.publisher.publish(analytics_message(&e)).await;
        // A run never dispatched has no job.
        if by != EndedBy::Executor && e.dispatched_at.is_some() {
            let job = e.job_name.clone().unwrap_or_else(|| job_name(id));
            if let Err(err) = self.launcher.delete(&job).await {
                tracing::warn!(execution_id = %id, error = %err, "could not delete the job of an ended run");
            }
        }
        let told = match by {
            EndedBy::Executor => self.tracker.finished(id, e.task_token.clone()).await,
            EndedBy::User | EndedBy::Sweeper => self.tracker.stop(id).await,
            EndedBy::Tracker => Ok(()),
        };
        if let Err(err) = told {
            tracing::warn!(execution_id = %id, error = %err, "could not update the run tracker");
        }
        if let Err(err) = self.store_log_bundle(id).await {
            // `finalize` (and the next reader) can store it again later.
            tracing::warn!(execution_id = %id, error = %err, "could not store the log bundle");
        }
        Ok(())
    }

    /// Writes every event of the run as NDJSON to the blob store and lists it
    /// among the run's artifacts. The events are read a page at a time and
    /// streamed out as stored, so a run of any length takes bounded memory.
    /// Writing it twice is harmless.
    pub async fn store_log_bundle(&self, id: Uuid) -> anyhow::Result<()> {
        let db = self.db.clone();
        let pages = futures_util::stream::try_unfold(0_i64, move |after| {
            let db = db.clone();
            async move {
                let rows = execution_reads::event_texts_after(&db, id, after, BUNDLE_PAGE).await?;
                let Some(last) = rows.last().map(|r| r.seq) else {
                    return anyhow::Ok(None);
                };
                let mut chunk = Vec::with_capacity(rows.iter().map(|r| r.json.len() + 1).sum());
                for r in &rows {
                    chunk.extend_from_slice(r.json.as_bytes());
                    chunk.push(b'\n');
                }
                Ok(Some((chunk, last)))
            }
        });
        let key = log_bundle_key(id);
        let size = self
            .blobs
            .put_stream(&key, "application/x-ndjson", Box::pin(pages))
            .await?;
        executions::insert_artifact(
            &self.db,
            id,
            &Artifact {
                id: crate::ids::new_id(),
                name: LOG_BUNDLE_NAME.into(),
                content_type: "application/x-ndjson".into(),
                size: i64::try_from(size).unwrap_or(i64::MAX),
                blob_key: key,
                created_at: chrono::Utc::now(),
            },
        )
        .await?;
        Ok(())
    }

    /// Cancels one of the workspace's runs: a queued run ends at once, a running
    /// one has its job stopped. Idempotent: an ended run stays as it is.
    pub async fn cancel(
        &self,
        workspace_id: Uuid,
        by: Uuid,
        origin: &Origin,
        id: Uuid,
    ) -> ApiResult<()> {
        let status = execution_reads::status_of(&self.db, workspace_id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("execution"))?;
        if status.is_active() {
            // The first request to cancel is recorded with it; repeats are not.
            let mut tx = self.db.begin().await?;
            let entry = if executions::request_cancel(&mut *tx, id).await? {
                Some(
                    Activity::new(workspace_id, by, Action::RunCancelled)
                        .on(id)
                        .details(json!({ "status": status }))
                        .record(&mut *tx, origin)
                        .await?,
                )
            } else {
                None
            };
            tx.commit().await?;
            if let Some(entry) = entry {
                self.publisher.publish(activity::message(entry)).await;
            }
            self.end(
                id,
                RunStatus::Cancelled,
                "cancelled by the user",
                EndedBy::User,
            )
            .await
            .map_err(ApiError::unavailable)?;
        }
        Ok(())
    }
}

/// The `analytics:run` message of an ended run, for its workspace's topic:
/// what the run added to the rollups (the run is under `run`, not
/// `executionId`, so followers of the run itself get it too).
fn analytics_message(e: &executions::Execution) -> Published {
    let wait = e
        .started_at
        .map(|s| (s - e.created_at).num_milliseconds().max(0));
    Published {
        topic: format!("workspace:{}", e.workspace_id),
        message: json!({
            "type": MessageType::AnalyticsRun,
            "workspaceId": e.workspace_id,
            "run": {
                "id": e.id,
                "workflowId": e.workflow_id,
                "status": e.status,
                "reason": e.end_reason,
                "runtimeMs": e.runtime_ms,
                "queueWaitMs": wait,
                "llmTokens": e.llm_tokens,
                "costUsd": crate::analytics::usd(e.cost_micros),
                "endedAt": e.finished_at,
            },
        }),
    }
}
