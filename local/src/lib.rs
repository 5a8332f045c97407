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
use executions::RunsState;
use serde::Deserialize;
use shared::{
    db::housekeeping,
    realtime::{
        closing,
        memory::MemoryConnections,
        publish::{BroadcastPublisher, Published},
        Realtime,
    },
    runs::{
        dispatch::Outcome,
        local::{
            blobs::{LocalBlobs, ROUTE},
            launcher::ProcessLauncher,
            queue::LocalQueue,
            tracker::{drive, LocalTracker, Signal},
        },
        Ports, RunSettings, Runs,
    },
    triggers::{intake_local::LocalIntake, local::LocalSchedules},
    AppState,
};
use tokio::{net::TcpListener, sync::mpsc::UnboundedReceiver};

pub mod oauth_double;
pub mod stripe_double;
pub mod ws;

/// Every function's routes on `state`, with the run lifecycle on the local
/// adapters but without the workers that drive it (no queue worker, tracker
/// or sweeper): runs started here stay queued. For tests of the API alone;
/// [`Stack`] is the whole system.
pub fn app(state: AppState) -> Router {
    Stack::new(
        state.clone(),
        SocketAddr::from(([127, 0, 0, 1], 0)),
        LocalOptions {
            // Nothing of a test's belongs in the working directory.
            blob_dir: std::env::temp_dir().join("saasit-detached-blobs"),
            executor_logs: None,
            ..LocalOptions::from_settings(&state.settings)
        },
    )
    .router()
}

/// Every function's routes, merged, with the common layers applied once:
/// the execution routes on the run lifecycle, the others on the app state.
pub fn router(runs: RunsState, blobs: Option<Arc<LocalBlobs>>) -> Router {
    let settings = runs.app.settings.clone();
    // The public routes come from the one list the document is built from.
    let (app_routes, run_routes) = health::api_routes();
    let (app_routes, _) = app_routes.split_for_parts();
    let (run_routes, _) = run_routes.split_for_parts();
    let mut router: Router = app_routes
        .with_state(runs.app.clone())
        .merge(run_routes.with_state(runs.clone()))
        .merge(executions::internal_routes().with_state(runs))
        // The document generated from the code (the Lambda serves the committed copy).
        .layer(Extension(document()));
    if let Some(blobs) = blobs {
        router = router.merge(
            Router::new()
                .route(&format!("{ROUTE}/{{*key}}"), get(get_blob).put(put_blob))
                .layer(DefaultBodyLimit::max(64 * 1024 * 1024))
                .layer(Extension(blobs)),
        );
    }
    shared::http::apply_layers(router, &settings.http)
}

/// The API's document, generated once per process from the code.
fn document() -> health::ApiDocument {
    static DOC: std::sync::OnceLock<health::ApiDocument> = std::sync::OnceLock::new();
    DOC.get_or_init(health::ApiDocument::generated).clone()
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
    pub config: RunSettings,
    pub sweep_every: Duration,
}

impl LocalOptions {
    /// From the settings tree: `EXECUTOR_BIN`, `BLOB_DIR`, `EXECUTOR_LOG_DIR`,
    /// `SWEEP_EVERY_SECONDS` and the run settings.
    pub fn from_settings(settings: &shared::settings::Settings) -> Self {
        let local = &settings.local;
        Self {
            executor: local
                .executor_bin
                .clone()
                .unwrap_or_else(Self::default_executor),
            blob_dir: local.blob_dir.clone(),
            executor_env: Vec::new(),
            executor_logs: Some(local.executor_log_dir.clone()),
            config: settings.runs.clone(),
            sweep_every: local.sweep_every,
        }
    }

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

/// Webhook deliveries the local intake holds before a send fails (and the
/// hooks route starts the run at once).
const INTAKE_CAPACITY: usize = 10_000;

/// The whole local stack: the app state, the run lifecycle on the local
/// adapters, and the adapters themselves.
pub struct Stack {
    pub state: AppState,
    pub runs: Arc<Runs>,
    pub queue: Arc<LocalQueue>,
    pub launcher: Arc<ProcessLauncher>,
    pub blobs: Arc<LocalBlobs>,
    pub tracker: Arc<LocalTracker>,
    /// What the pipeline publishes (the fan-out task delivers it to sockets).
    pub events: tokio::sync::broadcast::Sender<Published>,
    pub realtime: Arc<Realtime>,
    pub sockets: Arc<ws::LocalSockets>,
    /// Schedule triggers, in-process (EventBridge Scheduler on AWS).
    pub schedules: Arc<LocalSchedules>,
    /// Verified webhook requests waiting for their run (SQS on AWS).
    pub intake: Arc<LocalIntake>,
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
        let publisher = Arc::new(BroadcastPublisher(events.clone()));
        let schedules = Arc::new(LocalSchedules::new());
        let intake = Arc::new(LocalIntake::new(INTAKE_CAPACITY));
        let runs = Arc::new(
            Runs::new(
                state.db.clone(),
                state.tokens.clone(),
                Ports {
                    queue: queue.clone(),
                    launcher: launcher.clone(),
                    tracker: tracker.clone(),
                    blobs: blobs.clone(),
                    publisher: publisher.clone(),
                    vault: state.vault.clone(),
                    schedules: schedules.clone(),
                },
                base,
                opts.config,
            )
            .with_intake(intake.clone()),
        );
        Self {
            state: state.with_publisher(publisher).with_blobs(blobs.clone()),
            runs,
            queue,
            launcher,
            blobs,
            tracker,
            events,
            realtime,
            sockets,
            schedules,
            intake,
            tracker_signals: std::sync::Mutex::new(Some(signals)),
            sweep_every: opts.sweep_every,
        }
    }

    /// The execution routes' state.
    pub fn runs_state(&self) -> RunsState {
        RunsState {
            app: self.state.clone(),
            runs: self.runs.clone(),
        }
    }

    pub fn router(&self) -> Router {
        router(self.runs_state(), Some(self.blobs.clone())).merge(
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
            handles.push(tokio::spawn(drive(signals, self.runs.clone())));
        }
        let (queue, runs) = (self.queue.clone(), self.runs.clone());
        let worker = tokio::spawn(async move {
            loop {
                let (id, priority) = queue.next().await;
                let (queue, runs) = (queue.clone(), runs.clone());
                tokio::spawn(async move {
                    match runs.dispatch_one(id).await {
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
        let (state, runs, rt, every) = (
            self.state.clone(),
            self.runs.clone(),
            self.realtime.clone(),
            self.sweep_every,
        );
        let sweeper = tokio::spawn(async move {
            // The in-process schedules start empty: every schedule is pushed again
            // (on the first sweep the database answers).
            let mut loaded = false;
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                if !loaded {
                    match shared::db::triggers::unsync_schedules(&state.db).await {
                        Ok(_) => loaded = true,
                        Err(e) => tracing::warn!(error = %e, "cannot reload the schedules yet"),
                    }
                }
                if let Err(e) = runs.sweep().await {
                    tracing::warn!(error = %format!("{e:#}"), "sweep failed");
                }
                if let Err(e) = runs.reconcile_schedules().await {
                    tracing::warn!(error = %format!("{e:#}"), "reconciling schedules failed");
                }
                if let Err(e) = housekeeping::prune(&state.db).await {
                    tracing::warn!(error = %e, "pruning counters, codes and sign-ins failed");
                }
                if let Err(e) = closing::sweep(&rt, &state.db, chrono::Utc::now()).await {
                    tracing::warn!(error = %format!("{e:#}"), "closing expired connections failed");
                }
                shared::billing::sweep(&state).await;
                shared::runs::deletion::sweep(&state, &runs).await;
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
        // Schedule triggers: what is due each second fires (as EventBridge
        // Scheduler's invocations of the `scheduled` Lambda do on AWS).
        let (schedules, runs) = (self.schedules.clone(), self.runs.clone());
        let scheduler = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(1));
            loop {
                tick.tick().await;
                for (trigger, at) in schedules.due(chrono::Utc::now()) {
                    let runs = runs.clone();
                    tokio::spawn(async move {
                        match runs.fire_schedule(trigger, at).await {
                            Ok(fired) => {
                                tracing::info!(trigger_id = %trigger, scheduled = %at, %fired, "schedule fired")
                            }
                            Err(e) => {
                                tracing::warn!(trigger_id = %trigger, error = %format!("{e:#}"), "a schedule could not fire")
                            }
                        }
                    });
                }
            }
        });
        // Webhook deliveries: each starts its run (the dispatcher Lambda takes
        // them from the intake queue on AWS).
        let (intake, runs) = (self.intake.clone(), self.runs.clone());
        let deliveries = tokio::spawn(async move { intake.drive(runs).await });
        handles.extend([worker, sweeper, fanout, scheduler, deliveries]);
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
