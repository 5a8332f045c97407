//! The ports of the run lifecycle: narrow traits, each with a local adapter
//! ([`super::local`]) and an AWS one ([`super::aws`]), held to the same
//! contract by `tests/tests/aws_adapters.rs`.

use std::time::Duration;

use uuid::Uuid;

pub use crate::future::{BoxFuture, BoxStream};
use crate::tier::Priority;

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
    /// The workspace's plan at launch: a label on the Job, its priority
    /// class and the nodes it may run on.
    pub tier: crate::tier::Tier,
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
pub trait BlobStore: Send + Sync + std::fmt::Debug {
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
    /// The stored object's size; `None` when there is none (not uploaded yet).
    fn size_of<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<Option<u64>>>;
    /// Deletes an object; deleting one that is not there is not an error.
    fn delete<'a>(&'a self, key: &'a str) -> BoxFuture<'a, anyhow::Result<()>>;
}

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
/// beating or outlives its timeout is reaped through [`Runs::reap`](super::Runs::reap); a run
/// that ends is finalized through [`Runs::finalize`](super::Runs::finalize).
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
