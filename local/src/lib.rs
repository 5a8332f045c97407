//! The one-process local stack: every function's router mounted on one HTTP
//! server, with the same handlers and layers as on Lambda, and the execution
//! pipeline's local adapters: an in-process priority queue feeding the
//! dispatcher step, executors as child processes, blobs on the filesystem
//! behind signed URLs, and the sweeper as a periodic task.
//! End-to-end tests start it in-process on port 0.

use std::{future::Future, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use axum::{
    body::Bytes,
    extract::{DefaultBodyLimit, Path, Query},
    http::StatusCode,
    response::{IntoResponse, Response},
    routing::get,
    Extension, Router,
};
use serde::Deserialize;
use shared::{
    pipeline::{
        blobs::{LocalBlobs, ROUTE},
        dispatcher::{dispatch_one, Outcome},
        launcher::ProcessLauncher,
        local_tracker::{drive, LocalTracker, Signal},
        queue::LocalQueue,
        sweeper::sweep,
        BroadcastPublisher, Pipeline, PipelineConfig, Published,
    },
    realtime::{closing, memory::MemoryConnections, Realtime},
    AppState,
};
use tokio::{net::TcpListener, sync::mpsc::UnboundedReceiver};
use utoipa_axum::router::OpenApiRouter;

pub mod ws;

/// Every function's routes, merged, with the common layers applied once.
pub fn app(state: AppState) -> Router {
    router(state, None)
}

fn router(state: AppState, blobs: Option<Arc<LocalBlobs>>) -> Router {
    let settings = state.settings.clone();
    let (mut router, _) = OpenApiRouter::new()
        .merge(health::routes())
        .merge(auth::routes())
        .merge(workflows::routes())
        .merge(agents::routes())
        .merge(executions::routes())
        .split_for_parts();
    router = router.merge(executions::internal_routes());
    if let Some(blobs) = blobs {
        router = router.merge(
            Router::new()
                .route(&format!("{ROUTE}/{{*key}}"), get(get_blob).put(put_blob))
                .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
                .layer(Extension(blobs)),
        );
    }
    shared::http::apply_layers(router.with_state(state), &settings.http)
}

#[derive(Deserialize)]
struct Signed {
    expires: u64,
    sig: String,
}

async fn put_blob(
    Extension(blobs): Extension<Arc<LocalBlobs>>,
    Path(key): Path<String>,
    Query(s): Query<Signed>,
    body: Bytes,
) -> Response {
    let Some(path) = blobs.verify("PUT", &key, s.expires, &s.sig) else {
        return shared::ApiError::new(shared::ErrorCode::Forbidden, "invalid or expired signature")
            .into_response();
    };
    if let Some(dir) = path.parent() {
        if let Err(e) = tokio::fs::create_dir_all(dir).await {
            return shared::ApiError::internal(e).into_response();
        }
    }
    match tokio::fs::write(&path, &body).await {
        Ok(()) => StatusCode::OK.into_response(),
        Err(e) => shared::ApiError::internal(e).into_response(),
    }
}

async fn get_blob(
    Extension(blobs): Extension<Arc<LocalBlobs>>,
    Path(key): Path<String>,
    Query(s): Query<Signed>,
) -> Response {
    let Some(path) = blobs.verify("GET", &key, s.expires, &s.sig) else {
        return shared::ApiError::new(shared::ErrorCode::Forbidden, "invalid or expired signature")
            .into_response();
    };
    match tokio::fs::read(&path).await {
        Ok(bytes) => (StatusCode::OK, bytes).into_response(),
        Err(_) => shared::ApiError::not_found("blob").into_response(),
    }
}

/// How the local pipeline runs executors.
#[derive(Debug, Clone)]
pub struct LocalOptions {
    /// The `executor` binary.
    pub executor: PathBuf,
    /// Where blobs (artifacts) are kept.
    pub blob_dir: PathBuf,
    /// Environment every executor gets (LLM settings, the http allow-list).
    pub executor_env: Vec<(String, String)>,
    /// Where executor logs go (`<dir>/exec-<id>.log`); `None` discards them.
    pub executor_logs: Option<PathBuf>,
    pub config: PipelineConfig,
    pub sweep_every: Duration,
}

impl LocalOptions {
    /// `executor` next to the running binary (cargo puts all of a workspace's binaries together).
    pub fn default_executor() -> PathBuf {
        let exe = std::env::current_exe().unwrap_or_default();
        let dir = exe.parent().map(PathBuf::from).unwrap_or_default();
        // Test binaries live one level down, in deps/.
        let dir = if dir.ends_with("deps") {
            dir.parent().map(PathBuf::from).unwrap_or(dir)
        } else {
            dir
        };
        dir.join("executor")
    }
}

/// The whole local stack: state with the pipeline, and its adapters.
pub struct Stack {
    pub state: AppState,
    pub pipeline: Arc<Pipeline>,
    pub queue: Arc<LocalQueue>,
    pub launcher: Arc<ProcessLauncher>,
    pub blobs: Arc<LocalBlobs>,
    pub tracker: Arc<LocalTracker>,
    /// What the pipeline publishes (the fan-out task delivers it to sockets).
    pub events: tokio::sync::broadcast::Sender<Published>,
    pub realtime: Arc<Realtime>,
    pub sockets: Arc<ws::LocalSockets>,
    /// Taken by the first `spawn_workers`.
    tracker_signals: std::sync::Mutex<Option<UnboundedReceiver<Signal>>>,
    pub sweep_every: Duration,
}

impl Stack {
    /// Builds the pipeline for a server reachable at `addr`.
    pub fn new(state: AppState, addr: SocketAddr, opts: LocalOptions) -> Self {
        let base = format!("http://{addr}");
        let queue = Arc::new(LocalQueue::new());
        let launcher = Arc::new(ProcessLauncher::new(
            opts.executor,
            opts.executor_env,
            opts.executor_logs,
        ));
        // A fresh key per process: blob URLs are short-lived and only this process serves them.
        let signing_key: [u8; 32] = rand::random();
        let blobs = Arc::new(LocalBlobs::new(opts.blob_dir, &base, &signing_key));
        let (events, _) = tokio::sync::broadcast::channel(65_536);
        let sockets = Arc::new(ws::LocalSockets::default());
        let realtime = Arc::new(Realtime::new(
            Arc::new(MemoryConnections::default()),
            sockets.clone(),
        ));
        let (tracker, signals) = LocalTracker::new();
        let tracker = Arc::new(tracker);
        let pipeline = Arc::new(Pipeline {
            queue: queue.clone(),
            launcher: launcher.clone(),
            tracker: tracker.clone(),
            blobs: blobs.clone(),
            callback_url: base,
            publisher: Arc::new(BroadcastPublisher(events.clone())),
            config: opts.config,
        });
        Self {
            state: state.with_pipeline(pipeline.clone()),
            pipeline,
            queue,
            launcher,
            blobs,
            tracker,
            events,
            realtime,
            sockets,
            tracker_signals: std::sync::Mutex::new(Some(signals)),
            sweep_every: opts.sweep_every,
        }
    }

    pub fn router(&self) -> Router {
        router(self.state.clone(), Some(self.blobs.clone())).merge(
            Router::new()
                .route("/ws", get(ws::upgrade))
                .layer(Extension(self.state.clone()))
                .layer(Extension(self.realtime.clone()))
                .layer(Extension(self.sockets.clone())),
        )
    }

    /// The queue worker (dispatcher step per message), the tracker's steps
    /// and the sweeper loop.
    pub fn spawn_workers(&self) -> Vec<tokio::task::JoinHandle<()>> {
        let mut handles = Vec::with_capacity(3);
        let signals = self
            .tracker_signals
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(signals) = signals {
            handles.push(tokio::spawn(drive(
                signals,
                self.state.clone(),
                self.pipeline.clone(),
            )));
        }
        let (state, queue, pipeline) = (
            self.state.clone(),
            self.queue.clone(),
            self.pipeline.clone(),
        );
        let worker = tokio::spawn(async move {
            loop {
                let (id, priority) = queue.next().await;
                let (state, queue, pipeline) = (state.clone(), queue.clone(), pipeline.clone());
                tokio::spawn(async move {
                    match dispatch_one(&state, &pipeline, id).await {
                        Ok(Outcome::Deferred(after)) => queue.push(id, priority, after),
                        Ok(_) => {}
                        Err(e) => {
                            tracing::warn!(execution_id = %id, error = %format!("{e:#}"), "dispatch failed; retrying");
                            queue.push(id, priority, Duration::from_secs(2));
                        }
                    }
                });
            }
        });
        let (state, pipeline, rt, every) = (
            self.state.clone(),
            self.pipeline.clone(),
            self.realtime.clone(),
            self.sweep_every,
        );
        let sweeper = tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if let Err(e) = sweep(&state, &pipeline).await {
                    tracing::warn!(error = %format!("{e:#}"), "sweep failed");
                }
                if let Err(e) = closing::sweep(&rt, &state.db, chrono::Utc::now()).await {
                    tracing::warn!(error = %format!("{e:#}"), "closing expired connections failed");
                }
            }
        });
        // Real-time fan-out: one task, so messages leave in publishing order.
        let (mut published, rt, db) = (
            self.events.subscribe(),
            self.realtime.clone(),
            self.state.db.clone(),
        );
        let fanout = tokio::spawn(async move {
            loop {
                match published.recv().await {
                    Ok(p) => shared::realtime::deliver::fanout(&rt, &db, &p).await,
                    // Sequenced events missed here are read from Postgres with the next one.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(missed = n, "real-time fan-out lagged");
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        handles.extend([worker, sweeper, fanout]);
        handles
    }
}

/// Serves the stack on `listener` until `shutdown` resolves, then finishes
/// in-flight requests and returns.
pub async fn run(
    listener: TcpListener,
    stack: Stack,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let workers = stack.spawn_workers();
    let served = axum::serve(
        listener,
        stack
            .router()
            .into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    for w in workers {
        w.abort();
    }
    served
}
