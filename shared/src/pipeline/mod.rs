//! The execution pipeline's ports and steps, shared by Lambda functions and
//! the local stack: a queue (three priority classes), a job launcher, a run
//! tracker, a blob store, an event publisher; the dispatcher, tracker and
//! sweeper steps.
//!
//! Each port is a narrow trait with a local adapter here; the AWS adapters
//! (SQS, EKS, Step Functions, S3) in [`aws`] implement the same traits, each
//! behind its own cargo feature.

#[cfg(feature = "aws")]
pub mod aws;
pub mod blobs;
pub mod dispatcher;
pub mod k8s;
pub mod launcher;
pub mod local_tracker;
pub mod queue;
pub mod sweeper;
pub mod tracker;

use std::{future::Future, pin::Pin, sync::Arc, time::Duration};

use serde_json::Value;
use uuid::Uuid;

use crate::tier::Priority;

/// The topic of an execution's subscribers.
pub fn execution_topic(id: Uuid) -> String {
    format!("execution:{id}")
}

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Where queued executions wait for the dispatcher.
pub trait ExecutionQueue: Send + Sync {
    /// Sends an execution id to its priority class, visible after `delay`.
    fn send(
        &self,
        id: Uuid,
        priority: Priority,
        delay: Duration,
    ) -> BoxFuture<'_, anyhow::Result<()>>;
}

/// A Kubernetes Job (or, locally, a child process) running the executor.
#[derive(Debug, Clone)]
pub struct JobSpec {
    /// Deterministic (`exec-<id>`), so a redelivered message finds the Job already there.
    pub name: String,
    pub execution_id: Uuid,
    /// The owner's tier at launch (a label on the Job).
    pub tier: String,
    /// The environment contract of the executor: no secrets. The callback
    /// token travels apart (below) and reaches the executor as a file named
    /// by `CALLBACK_TOKEN_FILE`.
    pub env: Vec<(String, String)>,
    /// The execution-scoped callback token: a per-Job Kubernetes Secret
    /// (owned by the Job, so it goes with it) mounted read-only on EKS; a
    /// private file locally. Never an environment value, never printed.
    pub callback_token: secrecy::SecretString,
    /// The tier's resources (requests, limits) as cpu/memory strings.
    pub resources: Option<(crate::tier::Resources, crate::tier::Resources)>,
    /// `activeDeadlineSeconds`.
    pub deadline: Duration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Launch {
    Created,
    /// A job with this name exists already (a redelivery): success.
    AlreadyExists,
}

/// What the launcher knows of a job: the tracker asks before it ends a
/// silent run, so nothing alive is killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Created, its pod not running yet (waiting for a node, pulling its image).
    Starting,
    /// Its executor is running.
    Running,
    /// It ran and stopped.
    Ended,
    /// No such job.
    Missing,
}

pub trait JobLauncher: Send + Sync {
    fn launch(&self, job: JobSpec) -> BoxFuture<'_, anyhow::Result<Launch>>;
    /// Stops and removes a job; a missing job is not an error.
    fn delete(&self, name: &str) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Whether a job is starting, running, or gone.
    fn state(&self, name: &str) -> BoxFuture<'_, anyhow::Result<JobState>>;
}

/// Objects behind presigned URLs.
pub trait BlobStore: Send + Sync {
    /// A presigned PUT (S3 presigning resolves credentials, hence async).
    fn upload_url<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<String>>;
    /// A presigned GET.
    fn download_url<'a>(
        &'a self,
        key: &'a str,
        ttl: Duration,
    ) -> BoxFuture<'a, anyhow::Result<String>>;
    /// Stores an object from a stream of chunks (the log bundle), holding at
    /// most one part in memory (S3 multipart above [`PART_BYTES`]); returns
    /// its size. Writing the same key again replaces it; a failed stream
    /// leaves no object behind.
    fn put_stream<'a>(
        &'a self,
        key: &'a str,
        content_type: &'a str,
        chunks: BoxStream<'a, anyhow::Result<Vec<u8>>>,
    ) -> BoxFuture<'a, anyhow::Result<u64>>;
}

/// A stream of chunks for [`BlobStore::put_stream`].
pub type BoxStream<'a, T> = Pin<Box<dyn futures_util::Stream<Item = T> + Send + 'a>>;

/// The size of an uploaded part (S3 wants at least 5 MiB but the last).
pub const PART_BYTES: usize = 8 * 1024 * 1024;

/// A run the tracker watches from launch to end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrackedRun {
    pub execution_id: Uuid,
    /// Silence longer than this ends the run (`HeartbeatSeconds`).
    pub heartbeat: Duration,
    /// The run must end within this (`TimeoutSeconds`: the tier's runtime plus a grace).
    pub timeout: Duration,
}

/// Watches running executions without polling (Step Functions on AWS:
/// `infra/statemachine/execution.asl.json`; timers locally). A run that stops
/// beating or outlives its timeout is reaped through [`tracker::reap`]; a run
/// that ends is finalized through [`tracker::finalize`].
pub trait RunTracker: Send + Sync {
    /// Starts tracking a launched run; starting the same run again is harmless.
    fn start(&self, run: TrackedRun) -> BoxFuture<'_, anyhow::Result<()>>;
    /// The executor is alive. `task_token` is what the tracker registered, if anything.
    fn heartbeat(&self, id: Uuid, task_token: Option<String>) -> BoxFuture<'_, anyhow::Result<()>>;
    /// The run reached a terminal state: stop waiting and finalize.
    fn finished(&self, id: Uuid, task_token: Option<String>) -> BoxFuture<'_, anyhow::Result<()>>;
    /// A reap found the run alive (a fresh heartbeat, or its job still
    /// starting or running): go on tracking it with these windows.
    fn resume(
        &self,
        run: TrackedRun,
        task_token: Option<String>,
    ) -> BoxFuture<'_, anyhow::Result<()>>;
    /// Stop tracking at once (cancelled, or ended by the sweeper).
    fn stop(&self, id: Uuid) -> BoxFuture<'_, anyhow::Result<()>>;
}

/// A message for real-time subscribers of `topic` (`execution:{id}`, `user:{id}`).
#[derive(Debug, Clone)]
pub struct Published {
    pub topic: String,
    pub message: Value,
}

/// Where published messages go: the local stack's broadcast (its fan-out task
/// delivers them to sockets), or on AWS a fan-out through DynamoDB and the
/// Management API done before the request ends. Never fails the caller.
pub trait Publisher: Send + Sync {
    fn publish(&self, message: Published) -> BoxFuture<'_, ()>;
}

impl std::fmt::Debug for dyn Publisher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Publisher")
    }
}

/// Publishing into a broadcast channel (no receivers is fine).
pub struct BroadcastPublisher(pub tokio::sync::broadcast::Sender<Published>);

impl Publisher for BroadcastPublisher {
    fn publish(&self, message: Published) -> BoxFuture<'_, ()> {
        let _ = self.0.send(message);
        Box::pin(async {})
    }
}

#[derive(Debug, Clone)]
pub struct PipelineConfig {
    /// A running execution silent for longer than this is asked after: it is
    /// timed out only if its job is gone too.
    pub heartbeat_timeout: Duration,
    /// How long a launched job may take to start (a node scaling up, an image
    /// pulled) before the run fails; separate from the heartbeat window.
    pub start_window: Duration,
    /// How long a run may stay `dispatching` before it is re-queued (its slot
    /// released); after `max_dispatch_attempts` it fails.
    pub dispatch_deadline: Duration,
    pub max_dispatch_attempts: i32,
    /// How often the executor beats (passed to it).
    pub heartbeat_every: Duration,
    /// How long an execution may stay queued (waiting for a slot) before it ends timed out.
    pub max_queue_wait: Duration,
    /// How long an over-limit execution waits before the dispatcher tries again.
    pub defer: Duration,
    /// Queued executions whose message has not been seen for this long are sent
    /// again (the message may be lost). Keep it above the longest deferral.
    pub requeue_after: Duration,
}

impl Default for PipelineConfig {
    fn default() -> Self {
        Self {
            heartbeat_timeout: Duration::from_secs(90),
            start_window: Duration::from_secs(900),
            dispatch_deadline: Duration::from_secs(120),
            max_dispatch_attempts: 3,
            heartbeat_every: Duration::from_secs(30),
            max_queue_wait: Duration::from_secs(24 * 3600),
            defer: Duration::from_secs(5),
            requeue_after: Duration::from_secs(60),
        }
    }
}

/// The ports and settings the execution routes, dispatcher and sweeper use.
pub struct Pipeline {
    pub queue: Arc<dyn ExecutionQueue>,
    pub launcher: Arc<dyn JobLauncher>,
    pub tracker: Arc<dyn RunTracker>,
    pub blobs: Arc<dyn BlobStore>,
    /// Where executors reach the callback API.
    pub callback_url: String,
    pub publisher: Arc<dyn Publisher>,
    pub config: PipelineConfig,
}

impl std::fmt::Debug for Pipeline {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pipeline")
            .field("callback_url", &self.callback_url)
            .finish_non_exhaustive()
    }
}

impl Pipeline {
    /// Publishes to the execution's topic and its owner's.
    pub async fn publish(&self, execution_id: Uuid, owner_id: Uuid, message: Value) {
        for topic in [execution_topic(execution_id), format!("user:{owner_id}")] {
            self.publisher
                .publish(Published {
                    topic,
                    message: message.clone(),
                })
                .await;
        }
    }
}
