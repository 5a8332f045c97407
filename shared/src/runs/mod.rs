//! The run lifecycle, in one home. [`Runs`] holds the lifecycle's ports and
//! settings, and every step of a run is one of its methods, returning a
//! domain result; the HTTP handlers, the Lambda steps and the local stack's
//! loops are thin callers of these:
//!
//! | step | method | callers |
//! |---|---|---|
//! | start, retry | [`Runs::start`], [`Runs::retry`] ([`start`]) | `POST /executions`, `/workflows/{id}/execute`, `/executions/{id}/retry` |
//! | dispatch | [`Runs::dispatch_one`] ([`dispatch`]) | dispatcher Lambda (SQS), local queue worker |
//! | the executor's callbacks | [`Runs::spec`], [`Runs::record_events`], [`Runs::heartbeat`], [`Runs::register_artifact`], [`Runs::finish`] ([`callbacks`]) | internal routes |
//! | end, cancel | [`Runs::end`], [`Runs::time_out`], [`Runs::cancel`] ([`end`]) | `POST /executions/{id}/cancel`, tracker, sweeper |
//! | track | [`Runs::register`], [`Runs::reap`], [`Runs::finalize`] ([`track`]) | tracker Lambda (Step Functions), local tracker |
//! | sweep | [`Runs::sweep`] ([`sweep`]) | sweeper Lambda (schedule), local sweeper loop |
//!
//! The ports ([`ports`]) have local adapters in [`local`] and AWS ones in
//! [`aws`] (each behind its cargo feature). What a run publishes goes
//! through real-time's [`Publisher`](crate::realtime::publish::Publisher).
//! Nothing here reads the environment or knows HTTP: the settings come from
//! the settings tree ([`RunSettings`]).

#[cfg(feature = "aws")]
pub mod aws;
pub mod callbacks;
pub mod deletion;
pub mod dispatch;
pub mod end;
pub mod file_inputs;
pub mod k8s;
pub mod local;
pub mod ports;
pub mod run_files;
pub mod start;
pub mod sweep;
pub mod track;
pub mod trigger;

use std::{sync::Arc, time::Duration};

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

pub use crate::settings::RunSettings;
pub use ports::{
    BlobStore, BoxFuture, BoxStream, ExecutionQueue, JobLauncher, JobSpec, JobState, Launch,
    RunTracker, TrackedRun, PART_BYTES,
};

use crate::{
    auth::TokenKeys,
    realtime::publish::{publish_run, publish_run_events, Publisher},
    tier::Tier,
    triggers::{HookIntake, Schedules},
    vault::Vault,
};

/// The run lifecycle: its ports and settings. Built once per process (per
/// Lambda cold start) and shared.
pub struct Runs {
    pub db: PgPool,
    /// Signs the execution-scoped callback tokens.
    pub tokens: Arc<TokenKeys>,
    pub queue: Arc<dyn ExecutionQueue>,
    pub launcher: Arc<dyn JobLauncher>,
    pub tracker: Arc<dyn RunTracker>,
    pub blobs: Arc<dyn BlobStore>,
    pub publisher: Arc<dyn Publisher>,
    /// Where a run's `{{secrets.NAME}}` values come from.
    pub vault: Vault,
    /// Where schedule triggers are kept (EventBridge Scheduler, or in-process).
    pub schedules: Arc<dyn Schedules>,
    /// Where verified webhook requests wait for their run (SQS, or in
    /// process); `None`: a webhook starts its run at once.
    pub intake: Option<Arc<dyn HookIntake>>,
    /// Where executors reach the callback API.
    pub callback_url: String,
    pub settings: RunSettings,
}

impl std::fmt::Debug for Runs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runs")
            .field("callback_url", &self.callback_url)
            .field("settings", &self.settings)
            .finish_non_exhaustive()
    }
}

/// The adapters a [`Runs`] is built on.
pub struct Ports {
    pub queue: Arc<dyn ExecutionQueue>,
    pub launcher: Arc<dyn JobLauncher>,
    pub tracker: Arc<dyn RunTracker>,
    pub blobs: Arc<dyn BlobStore>,
    pub publisher: Arc<dyn Publisher>,
    /// The workspace vault (its key service is the process's: KMS or the local master key).
    pub vault: Vault,
    pub schedules: Arc<dyn Schedules>,
}

impl Runs {
    pub fn new(
        db: PgPool,
        tokens: Arc<TokenKeys>,
        ports: Ports,
        callback_url: String,
        settings: RunSettings,
    ) -> Self {
        Self {
            db,
            tokens,
            queue: ports.queue,
            launcher: ports.launcher,
            tracker: ports.tracker,
            blobs: ports.blobs,
            publisher: ports.publisher,
            vault: ports.vault,
            schedules: ports.schedules,
            intake: None,
            callback_url,
            settings,
        }
    }

    /// With webhook requests queued on `intake` before their run starts.
    pub fn with_intake(mut self, intake: Arc<dyn HookIntake>) -> Self {
        self.intake = Some(intake);
        self
    }

    /// Publishes a message of a run to its topic and its workspace's.
    pub async fn publish(&self, execution_id: Uuid, workspace_id: Uuid, message: Value) {
        publish_run(self.publisher.as_ref(), execution_id, workspace_id, message).await;
    }

    /// Publishes a run's new events at once (see [`publish_run_events`]).
    pub async fn publish_events(
        &self,
        execution_id: Uuid,
        workspace_id: Uuid,
        messages: Vec<Value>,
    ) {
        publish_run_events(
            self.publisher.as_ref(),
            execution_id,
            workspace_id,
            messages,
        )
        .await;
    }

    /// A `notification` of `kind` (with `fields`, and the workspace's id) to
    /// each owner and admin of the workspace, on their `user:` topics. A
    /// failure to list them is logged: the activity log has the event too.
    pub async fn notify_managers(&self, workspace_id: Uuid, kind: &str, fields: Value) {
        let users = crate::db::billing::managers(&self.db, workspace_id)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, kind, "cannot list whom to notify");
                Vec::new()
            });
        let mut message = serde_json::json!({
            "type": run_protocol::message::MessageType::Notification,
            "kind": kind,
            "workspaceId": workspace_id,
        });
        if let (Some(m), Value::Object(extra)) = (message.as_object_mut(), fields) {
            m.extend(extra);
        }
        for user in users {
            self.publisher
                .publish(crate::realtime::publish::Published {
                    topic: format!("user:{user}"),
                    message: message.clone(),
                })
                .await;
        }
    }
}

/// Time beyond the tier's runtime the tracker allows for start-up and the final report.
pub const TRACKER_GRACE: Duration = Duration::from_secs(300);

/// How long a run of this tier may run (its tier's runtime).
pub fn run_time(tier: Tier) -> Duration {
    tier.limits()
        .max_runtime
        .unwrap_or(Duration::from_secs(3600))
}

/// The job name of an execution.
pub fn job_name(id: Uuid) -> String {
    format!("exec-{id}")
}
