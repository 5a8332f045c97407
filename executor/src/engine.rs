//! The engine: runs a validated graph.
//!
//! A node starts as soon as every node before it has finished (so independent
//! branches run concurrently, bounded by `max_concurrency`), always in
//! topological order among the ready ones. Each attempt has the node's
//! timeout; failures are retried with exponential backoff and jitter (transient
//! ones always, others too under `onError: retry`, deterministic ones never).
//! After its last attempt a failed node either stops the run (`fail`,
//! `retry`): running siblings are cancelled and nothing new starts; or the run
//! goes on (`continue`) and its dependants see a null output. A condition
//! activates only the edges of its result; a node none of whose incoming edges
//! is active is reported `skipped`, and so are its own dependants in turn.

use std::{
    cmp::Reverse,
    collections::{BTreeMap, BinaryHeap, HashMap},
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use minijinja::Value as Ctx;
use serde_json::{json, Map, Value};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use workflow_graph::{
    node::{AgentConfig, HttpConfig, OutputConfig},
    tools::DEFAULT_TOOL_ITERATIONS,
    NodeSpec, OnError, ValidGraph,
};

use run_protocol::EndReason;

use crate::{
    agent::AgentRun,
    budget::TokenBudget,
    callback::CallbackClient,
    error::{ErrorKind, NodeError},
    event::{EventKind, RunStatus},
    http_node::{HttpCall, HttpRunner},
    providers::{CompletionRequest, Provider},
    render::{has_statements, Renderer},
    report::Reporter,
    spec::AgentDef,
    tools::{SearchProvider, ToolEnv},
};

/// Where artifacts go.
pub enum ArtifactStore {
    /// Files in a directory (standalone runs).
    Dir(PathBuf),
    /// Presigned uploads through the callback API (in a Job).
    Callback(Arc<CallbackClient>),
    /// Kept in memory (tests).
    Memory(Arc<Mutex<Vec<StoredArtifact>>>),
}

/// An artifact kept in memory: name, content type, bytes.
pub type StoredArtifact = (String, String, Vec<u8>);

impl ArtifactStore {
    pub(crate) async fn store(
        &self,
        name: &str,
        content_type: &str,
        bytes: Vec<u8>,
    ) -> Result<String, NodeError> {
        match self {
            ArtifactStore::Dir(dir) => {
                tokio::fs::create_dir_all(dir).await.map_err(|e| {
                    NodeError::new(
                        ErrorKind::Network,
                        format!("cannot create {}: {e}", dir.display()),
                    )
                })?;
                let path = dir.join(name);
                tokio::fs::write(&path, bytes).await.map_err(|e| {
                    NodeError::new(
                        ErrorKind::Network,
                        format!("cannot write {}: {e}", path.display()),
                    )
                })?;
                Ok(path.display().to_string())
            }
            ArtifactStore::Callback(client) => client
                .upload_artifact(name, content_type, bytes)
                .await
                .map_err(|e| NodeError::new(ErrorKind::Upstream, e.to_string())),
            ArtifactStore::Memory(list) => {
                let mut list = list.lock().unwrap_or_else(|p| p.into_inner());
                list.push((name.to_owned(), content_type.to_owned(), bytes));
                Ok(format!("memory:{}", list.len()))
            }
        }
    }
}

/// What nodes call out to; built once per process.
pub struct Runtime {
    pub provider: Provider,
    pub http: HttpRunner,
    /// What the `web_search` tool asks.
    pub search: SearchProvider,
    /// Where the `read_file` tool finds the workspace's files (the callback
    /// API in a Job; none for a graph run on its own).
    pub files: Option<Arc<CallbackClient>>,
    pub artifacts: ArtifactStore,
    pub renderer: Renderer,
}

#[derive(Debug, Clone)]
pub struct EngineConfig {
    pub max_concurrency: usize,
    pub heartbeat_every: Duration,
    /// Whether liveness is also written to the event stream (`heartbeat`
    /// events): for a graph run on its own, whose events are all there is.
    /// A Job's liveness is its heartbeat calls, recorded once.
    pub heartbeat_events: bool,
    /// The whole run's limit; past it the run ends `timed_out`.
    pub run_timeout: Option<Duration>,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            max_concurrency: 8,
            heartbeat_every: Duration::from_secs(30),
            heartbeat_events: true,
            run_timeout: None,
        }
    }
}

/// Everything one run needs besides the runtime.
pub struct RunInput {
    pub graph: ValidGraph,
    pub inputs: Value,
    pub secrets: BTreeMap<String, String>,
    pub prior_outputs: HashMap<String, Value>,
    pub agents: HashMap<String, AgentDef>,
    /// The MCP servers the agents name, by name (their headers use `secrets`).
    pub mcp_servers: BTreeMap<String, run_protocol::mcp::McpServerDef>,
    pub execution_id: Option<String>,
    /// The run's token budget; the caller keeps a handle to stop the run
    /// for the workspace's monthly budget.
    pub budget: Arc<TokenBudget>,
}

/// How a run ended.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    pub status: RunStatus,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub failed_node: Option<String>,
    /// Why it ended, beyond its status (`budget_exceeded`).
    pub reason: Option<EndReason>,
    pub duration: Duration,
    /// Outputs of the nodes that succeeded (what a resumed run reuses).
    pub node_outputs: HashMap<String, Value>,
}

impl RunOutcome {
    /// What the executor posts at the end: the run's output, not every
    /// node's (those went out as events).
    pub fn to_result(&self) -> run_protocol::RunResult {
        run_protocol::RunResult {
            status: self.status,
            output: self.output.clone(),
            output_ref: None,
            error: self.error.clone(),
            failed_node: self.failed_node.clone(),
            duration_ms: Some(self.duration.as_millis() as u64),
            reason: self.reason,
        }
    }
}

/// Read-only state the node tasks share.
struct Shared {
    graph: ValidGraph,
    inputs_json: Value,
    inputs: Ctx,
    secrets: Ctx,
    agents: HashMap<String, AgentDef>,
    /// Per node: the template heads it uses (node ids, `inputs`, `secrets`).
    heads: Vec<Vec<String>>,
    budget: Arc<TokenBudget>,
    /// The workspace's MCP servers the agents use, connected on first use.
    mcp: crate::tools::mcp::McpPool,
}

/// How [`Scheduler::drive`] ended the run.
struct Ended {
    status: RunStatus,
    error: Option<String>,
    failed_node: Option<String>,
    reason: Option<EndReason>,
}

impl Ended {
    fn new(status: RunStatus, error: Option<String>, failed_node: Option<String>) -> Self {
        Self {
            status,
            error,
            failed_node,
            reason: None,
        }
    }

    /// `failed` for a budget: the node that asked for more, if one did.
    fn budget(why: String, failed_node: Option<String>) -> Self {
        Self {
            status: RunStatus::Failed,
            error: Some(why),
            failed_node,
            reason: Some(EndReason::BudgetExceeded),
        }
    }
}

enum Finished {
    Succeeded(Value),
    /// Failed under `onError: continue`.
    FailedOn,
    Skipped,
}

/// The result of a node's task after all its attempts.
enum TaskResult {
    Succeeded(Value),
    Failed(NodeError),
}

fn node_heads(r: &Renderer, spec: &NodeSpec) -> Vec<String> {
    let mut heads: Vec<String> = spec
        .templates()
        .iter()
        .flat_map(|(_, src)| r.heads(src))
        .collect();
    if let NodeSpec::Condition(c) = spec {
        heads.extend(r.expression_heads(&c.expression));
    }
    heads.sort();
    heads.dedup();
    heads
}

/// Runs the graph to the end (or until cancelled / out of time) and reports
/// everything through `reporter`, ending with `run_finished`.
pub async fn run(
    rt: Arc<Runtime>,
    cfg: &EngineConfig,
    input: RunInput,
    reporter: Reporter,
    cancel: CancellationToken,
) -> RunOutcome {
    let started = Instant::now();
    let n = input.graph.nodes.len();
    let heads = input
        .graph
        .nodes
        .iter()
        .map(|node| node_heads(&rt.renderer, &node.spec))
        .collect();
    let reused: Vec<String> = input
        .graph
        .nodes
        .iter()
        .filter(|node| input.prior_outputs.contains_key(&node.id))
        .map(|node| node.id.clone())
        .collect();
    reporter.emit(EventKind::RunStarted {
        execution_id: input.execution_id.clone(),
        nodes: n,
        reused,
    });
    let shared = Arc::new(Shared {
        inputs: Ctx::from_serialize(&input.inputs),
        inputs_json: input.inputs,
        secrets: Ctx::from_serialize(&input.secrets),
        mcp: crate::tools::mcp::McpPool::new(
            input.mcp_servers,
            input.secrets.clone(),
            rt.http.allow().clone(),
        ),
        agents: input.agents,
        heads,
        graph: input.graph,
        budget: input.budget,
    });
    let mut sched = Scheduler::new(shared.clone(), input.prior_outputs, reporter.clone());
    let ended = sched.drive(&rt, cfg, &cancel).await;

    let outcome = RunOutcome {
        status: ended.status,
        output: sched.run_output(),
        error: ended.error,
        failed_node: ended.failed_node,
        reason: ended.reason,
        duration: started.elapsed(),
        node_outputs: sched.succeeded_outputs(),
    };
    reporter.emit(EventKind::RunFinished {
        status: outcome.status,
        output: outcome.output.clone(),
        output_ref: None,
        error: outcome.error.clone(),
        failed_node: outcome.failed_node.clone(),
        duration_ms: outcome.duration.as_millis() as u64,
        reason: outcome.reason,
    });
    outcome
}

struct Scheduler {
    shared: Arc<Shared>,
    prior: HashMap<String, Value>,
    reporter: Reporter,
    /// Parents not yet finished, per node.
    waiting_on: Vec<usize>,
    /// Whether some incoming edge is active, per node.
    active: Vec<bool>,
    finished: Vec<Option<Finished>>,
    /// Outputs as template values, converted once.
    ctx_outputs: Vec<Option<Ctx>>,
    /// Ready nodes by topological position.
    ready: BinaryHeap<Reverse<(usize, usize)>>,
    topo_pos: Vec<usize>,
    running: HashMap<tokio::task::Id, usize>,
}

impl Scheduler {
    fn new(shared: Arc<Shared>, prior: HashMap<String, Value>, reporter: Reporter) -> Self {
        let g = &shared.graph;
        let n = g.nodes.len();
        let mut topo_pos = vec![0; n];
        for (pos, &i) in g.layers.iter().flatten().enumerate() {
            topo_pos[i] = pos;
        }
        let waiting_on: Vec<usize> = g.parents.iter().map(Vec::len).collect();
        let mut ready = BinaryHeap::new();
        for (i, w) in waiting_on.iter().enumerate() {
            if *w == 0 {
                ready.push(Reverse((topo_pos[i], i)));
            }
        }
        Self {
            prior,
            reporter,
            waiting_on,
            active: vec![false; n],
            finished: (0..n).map(|_| None).collect(),
            ctx_outputs: vec![None; n],
            ready,
            topo_pos,
            running: HashMap::new(),
            shared,
        }
    }

    fn id(&self, i: usize) -> &str {
        &self.shared.graph.nodes[i].id
    }

    /// The template context of node `i`: only what it refers to.
    fn context(&self, i: usize) -> Ctx {
        let mut map: BTreeMap<String, Ctx> = BTreeMap::new();
        for head in &self.shared.heads[i] {
            match head.as_str() {
                "inputs" => {
                    map.insert("inputs".into(), self.shared.inputs.clone());
                }
                "secrets" => {
                    map.insert("secrets".into(), self.shared.secrets.clone());
                }
                other => {
                    if let Some(j) = self.shared.graph.index_of(other) {
                        if self.finished[j].is_some() {
                            let out = self.ctx_outputs[j].clone().unwrap_or(Ctx::from(()));
                            map.insert(
                                other.to_owned(),
                                Ctx::from(BTreeMap::from([("output".to_owned(), out)])),
                            );
                        }
                    }
                }
            }
        }
        Ctx::from(map)
    }

    /// The outputs of `i`'s parents, by id (an output node without a value).
    fn parent_outputs(&self, i: usize) -> Value {
        let mut map = Map::new();
        for &p in &self.shared.graph.parents[i] {
            if let Some(Finished::Succeeded(v)) = &self.finished[p] {
                map.insert(self.id(p).to_owned(), v.clone());
            }
        }
        Value::Object(map)
    }

    /// Records that node `i` finished and propagates to its children: a child
    /// whose parents are all done becomes ready, or is skipped when no edge
    /// into it is active (and so on down).
    fn finish(&mut self, i: usize, done: Finished) {
        let mut work = vec![(i, done)];
        while let Some((i, done)) = work.pop() {
            let is_condition = matches!(self.shared.graph.nodes[i].spec, NodeSpec::Condition(_));
            let result = match &done {
                Finished::Succeeded(v) if is_condition => v.get("result").and_then(Value::as_bool),
                _ => None,
            };
            if let Finished::Succeeded(v) = &done {
                self.ctx_outputs[i] = Some(Ctx::from_serialize(v));
            }
            let shared = self.shared.clone();
            for &(c, branch) in &shared.graph.children[i] {
                let edge_active = match &done {
                    Finished::Succeeded(_) if is_condition => branch.is_none() || branch == result,
                    Finished::Succeeded(_) => true,
                    Finished::FailedOn => !is_condition,
                    Finished::Skipped => false,
                };
                self.active[c] |= edge_active;
                self.waiting_on[c] -= 1;
                if self.waiting_on[c] == 0 {
                    if self.active[c] {
                        self.ready.push(Reverse((self.topo_pos[c], c)));
                    } else {
                        let reason = self.skip_reason(c);
                        self.reporter.emit(EventKind::NodeSkipped {
                            node: self.id(c).to_owned(),
                            reason,
                        });
                        work.push((c, Finished::Skipped));
                    }
                }
            }
            self.finished[i] = Some(done);
        }
    }

    fn skip_reason(&self, c: usize) -> String {
        let g = &self.shared.graph;
        let conditions: Vec<&str> = g.parents[c]
            .iter()
            .filter(|&&p| {
                matches!(g.nodes[p].spec, NodeSpec::Condition(_))
                    && !matches!(self.finished[p], Some(Finished::Skipped))
            })
            .map(|&p| g.nodes[p].id.as_str())
            .collect();
        if conditions.is_empty() {
            "every node before it was skipped".to_owned()
        } else {
            format!(
                "the branch of condition {} that leads here was not taken",
                conditions.join(", ")
            )
        }
    }

    async fn drive(
        &mut self,
        rt: &Arc<Runtime>,
        cfg: &EngineConfig,
        cancel: &CancellationToken,
    ) -> Ended {
        let mut tasks: JoinSet<(usize, TaskResult)> = JoinSet::new();
        let deadline = cfg.run_timeout.map(|t| tokio::time::Instant::now() + t);
        let mut heartbeat = tokio::time::interval_at(
            tokio::time::Instant::now() + cfg.heartbeat_every,
            cfg.heartbeat_every,
        );
        loop {
            let budget = self.shared.budget.clone();
            // Checked before nodes start and before "completed": a run whose
            // last call used up its budget ends the same way whichever finished first.
            if let Some(why) = budget.reason() {
                self.stop(&mut tasks).await;
                return Ended::budget(why, None);
            }
            self.start_ready(rt, cfg, &mut tasks);
            if self.running.is_empty() && self.ready.is_empty() {
                return Ended::new(RunStatus::Completed, None, None);
            }
            tokio::select! {
                biased;
                () = cancel.cancelled() => {
                    self.stop(&mut tasks).await;
                    return Ended::new(RunStatus::Cancelled, Some("the run was cancelled".into()), None);
                }
                () = budget.spent() => {
                    self.stop(&mut tasks).await;
                    return Ended::budget(budget.reason().unwrap_or_default(), None);
                }
                () = sleep_until(deadline) => {
                    self.stop(&mut tasks).await;
                    let limit = cfg.run_timeout.map_or(0, |t| t.as_secs());
                    return Ended::new(RunStatus::TimedOut, Some(format!("the run exceeded its time limit of {limit} s")), None);
                }
                joined = tasks.join_next_with_id() => {
                    let Some(joined) = joined else { continue };
                    let (i, result) = match joined {
                        Ok((id, (i, result))) => {
                            self.running.remove(&id);
                            (i, result)
                        }
                        Err(e) => {
                            let i = self.running.remove(&e.id()).unwrap_or(0);
                            (i, TaskResult::Failed(NodeError::new(ErrorKind::Config, format!("the node crashed: {e}"))))
                        }
                    };
                    match result {
                        TaskResult::Succeeded(v) => self.finish(i, Finished::Succeeded(v)),
                        // Whatever the node's onError says: the run is out of budget.
                        TaskResult::Failed(e) if e.kind == ErrorKind::Budget => {
                            let node = self.id(i).to_owned();
                            self.stop(&mut tasks).await;
                            return Ended::budget(e.message, Some(node));
                        }
                        TaskResult::Failed(e) => {
                            if self.shared.graph.nodes[i].policy.on_error == OnError::Continue {
                                self.reporter.log("warn", Some(self.id(i)), "the node failed; the run continues (onError: continue)");
                                self.finish(i, Finished::FailedOn);
                            } else {
                                let node = self.id(i).to_owned();
                                self.stop(&mut tasks).await;
                                return Ended::new(RunStatus::Failed, Some(format!("node {node} failed: {e}")), Some(node));
                            }
                        }
                    }
                }
                _ = heartbeat.tick(), if cfg.heartbeat_events => self.reporter.emit(EventKind::Heartbeat {}),
            }
        }
    }

    /// Starts ready nodes up to the concurrency bound; reused nodes finish at once.
    fn start_ready(
        &mut self,
        rt: &Arc<Runtime>,
        cfg: &EngineConfig,
        tasks: &mut JoinSet<(usize, TaskResult)>,
    ) {
        while self.running.len() < cfg.max_concurrency.max(1) {
            let Some(Reverse((_, i))) = self.ready.pop() else {
                break;
            };
            if let Some(prior) = self.prior.get(self.id(i)).cloned() {
                self.reporter.emit(EventKind::NodeSucceeded {
                    node: self.id(i).to_owned(),
                    attempt: 0,
                    output: prior.clone(),
                    output_ref: None,
                    duration_ms: 0,
                    reused: true,
                });
                self.finish(i, Finished::Succeeded(prior));
                continue;
            }
            let job = NodeJob {
                rt: rt.clone(),
                shared: self.shared.clone(),
                reporter: self.reporter.clone(),
                index: i,
                ctx: self.context(i),
                parent_outputs: self.parent_outputs(i),
            };
            let handle = tasks.spawn(async move { (i, job.run().await) });
            self.running.insert(handle.id(), i);
        }
    }

    /// Cancels every running node and reports each one (not a node whose
    /// task had already ended: it reported how).
    async fn stop(&mut self, tasks: &mut JoinSet<(usize, TaskResult)>) {
        tasks.abort_all();
        while let Some(joined) = tasks.join_next_with_id().await {
            if let Ok((id, _)) = joined {
                self.running.remove(&id);
            }
        }
        let mut stopped: Vec<usize> = self.running.drain().map(|(_, i)| i).collect();
        stopped.sort_unstable_by_key(|&i| self.topo_pos[i]);
        for i in stopped {
            self.reporter.emit(EventKind::NodeCancelled {
                node: self.id(i).to_owned(),
            });
        }
    }

    /// The run's result: the value of its output node, or of each output node by id.
    fn run_output(&self) -> Option<Value> {
        let outputs: Vec<usize> = (0..self.shared.graph.nodes.len())
            .filter(|&i| matches!(self.shared.graph.nodes[i].spec, NodeSpec::Output(_)))
            .collect();
        let value = |i: usize| match &self.finished[i] {
            Some(Finished::Succeeded(v)) => Some(v.clone()),
            _ => None,
        };
        match outputs.as_slice() {
            [] => None,
            [one] => value(*one),
            many => {
                let map: Map<String, Value> = many
                    .iter()
                    .filter_map(|&i| Some((self.id(i).to_owned(), value(i)?)))
                    .collect();
                Some(Value::Object(map))
            }
        }
    }

    fn succeeded_outputs(&self) -> HashMap<String, Value> {
        (0..self.finished.len())
            .filter_map(|i| match &self.finished[i] {
                Some(Finished::Succeeded(v)) => Some((self.id(i).to_owned(), v.clone())),
                _ => None,
            })
            .collect()
    }
}

async fn sleep_until(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d).await,
        None => std::future::pending().await,
    }
}

/// One node's attempts, run as its own task.
struct NodeJob {
    rt: Arc<Runtime>,
    shared: Arc<Shared>,
    reporter: Reporter,
    index: usize,
    ctx: Ctx,
    parent_outputs: Value,
}

/// The delay before retry number `attempt` (1-based): exponential, capped,
/// with equal jitter, and never shorter than what the other side asked for.
pub fn backoff(
    policy: &workflow_graph::NodePolicy,
    attempt: u32,
    retry_after: Option<Duration>,
) -> Duration {
    let exp = policy.backoff_initial_ms as f64
        * policy
            .backoff_multiplier
            .powi(attempt.saturating_sub(1) as i32);
    let capped = exp.min(policy.backoff_max_ms as f64);
    let jittered = Duration::from_secs_f64(capped / 1000.0 * (0.5 + rand::random::<f64>() * 0.5));
    jittered.max(retry_after.unwrap_or_default())
}

impl NodeJob {
    async fn run(self) -> TaskResult {
        let node = &self.shared.graph.nodes[self.index];
        let policy = &node.policy;
        let attempts = 1 + policy.retries;
        let mut attempt = 1;
        loop {
            self.reporter.emit(EventKind::NodeStarted {
                node: node.id.clone(),
                attempt,
            });
            let started = Instant::now();
            let result = match tokio::time::timeout(
                Duration::from_secs(u64::from(policy.timeout_seconds)),
                self.execute(),
            )
            .await
            {
                Ok(r) => r,
                Err(_) => Err(NodeError::new(
                    ErrorKind::Timeout,
                    format!("no result within {} s", policy.timeout_seconds),
                )),
            };
            // Limits are checked where outputs are made: an output the API
            // could not take fails its node here, with the reason.
            let result =
                result.and_then(|output| match run_protocol::limits::check_output(&output) {
                    Ok(_) => Ok(output),
                    Err(limit) => Err(NodeError::new(ErrorKind::Limit, limit.to_string())),
                });
            match result {
                Ok(output) => {
                    self.reporter.emit(EventKind::NodeSucceeded {
                        node: node.id.clone(),
                        attempt,
                        output: output.clone(),
                        output_ref: None,
                        duration_ms: started.elapsed().as_millis() as u64,
                        reused: false,
                    });
                    return TaskResult::Succeeded(output);
                }
                Err(e) => {
                    let worth_it = e.kind.transient()
                        || (policy.on_error == OnError::Retry && !e.kind.deterministic());
                    let retry = attempt < attempts && worth_it;
                    let delay = retry.then(|| backoff(policy, attempt, e.retry_after));
                    self.reporter.emit(EventKind::NodeFailed {
                        node: node.id.clone(),
                        attempt,
                        error: e.view(),
                        will_retry: retry,
                        retry_in_ms: delay.map(|d| d.as_millis() as u64),
                    });
                    match delay {
                        Some(d) => tokio::time::sleep(d).await,
                        None => return TaskResult::Failed(e),
                    }
                    attempt += 1;
                }
            }
        }
    }

    /// Renders with the renderer and this node's context. A template with
    /// statements (`{% for %}`) can loop, so it runs off the async workers;
    /// one of expressions alone renders in place, where a thread hop would
    /// cost more than the work (both are bounded by the renderer's fuel).
    async fn render<T: Send + 'static>(
        &self,
        may_loop: bool,
        f: impl FnOnce(&Renderer, &Ctx) -> Result<T, NodeError> + Send + 'static,
    ) -> Result<T, NodeError> {
        if !may_loop {
            return f(&self.rt.renderer, &self.ctx);
        }
        let (rt, ctx) = (self.rt.clone(), self.ctx.clone());
        tokio::task::spawn_blocking(move || f(&rt.renderer, &ctx))
            .await
            .map_err(|e| NodeError::new(ErrorKind::Config, format!("rendering crashed: {e}")))?
    }

    async fn execute(&self) -> Result<Value, NodeError> {
        let node = &self.shared.graph.nodes[self.index];
        match &node.spec {
            NodeSpec::Trigger(_) => Ok(self.shared.inputs_json.clone()),
            NodeSpec::Transform(t) => {
                let template = t.template.clone();
                self.render(has_statements(&template), move |r, ctx| {
                    r.json(&template, ctx)
                })
                .await
            }
            NodeSpec::Condition(c) => {
                let expression = c.expression.clone();
                let result = self
                    .render(false, move |r, ctx| r.truth(&expression, ctx))
                    .await?;
                Ok(json!({ "result": result }))
            }
            NodeSpec::Delay(d) => {
                tokio::time::sleep(Duration::from_secs(u64::from(d.seconds))).await;
                Ok(json!({ "waitedSeconds": d.seconds }))
            }
            NodeSpec::Output(o) => self.output(o).await,
            NodeSpec::Agent(a) => self.agent(a).await,
            NodeSpec::Http(h) => self.http(h).await,
        }
    }

    async fn output(&self, o: &OutputConfig) -> Result<Value, NodeError> {
        let value = match &o.value {
            Some(template) => {
                let template = template.clone();
                self.render(has_statements(&template), move |r, ctx| {
                    r.json(&template, ctx)
                })
                .await?
            }
            None => self.parent_outputs.clone(),
        };
        if let Some(artifact) = &o.artifact {
            // Artifacts leave the process like events do: without secrets.
            let (bytes, default_type) = match &self.reporter.redactor().redact_json(value.clone()) {
                Value::String(s) => (s.clone().into_bytes(), "text/plain; charset=utf-8"),
                other => (
                    serde_json::to_vec_pretty(other).unwrap_or_default(),
                    "application/json",
                ),
            };
            let content_type = artifact
                .content_type
                .clone()
                .unwrap_or_else(|| default_type.to_owned());
            let size = bytes.len() as u64;
            let location = self
                .rt
                .artifacts
                .store(&artifact.name, &content_type, bytes)
                .await?;
            self.reporter.emit(EventKind::Artifact {
                node: self.shared.graph.nodes[self.index].id.clone(),
                name: artifact.name.clone(),
                content_type,
                size,
                location,
            });
        }
        Ok(value)
    }

    async fn agent(&self, a: &AgentConfig) -> Result<Value, NodeError> {
        let r = &self.rt.renderer;
        let def = match &a.agent_id {
            Some(id) => match self.shared.agents.get(id) {
                Some(def) => Some(def),
                None if a.system_prompt.is_some() => None,
                None => {
                    return Err(NodeError::new(
                        ErrorKind::Config,
                        format!("agent {id:?} is not in the run's spec"),
                    ))
                }
            },
            None => None,
        };
        let system = match &a.system_prompt {
            Some(s) => Some(r.text(s, &self.ctx)?),
            None => def.map(|d| d.system_prompt.clone()),
        };
        // The agent's tools, then the node's own.
        let names: Vec<String> = def
            .map(|d| d.tools.as_slice())
            .unwrap_or_default()
            .iter()
            .chain(&a.tools)
            .cloned()
            .collect();
        let tools = crate::tools::resolve(&names, &self.shared.mcp).await?;
        let request = CompletionRequest {
            model: a
                .model
                .clone()
                .or_else(|| def.and_then(|d| d.model.clone())),
            system,
            prompt: r.text(&a.prompt, &self.ctx)?,
            temperature: a.temperature,
            max_tokens: a.max_tokens,
            tools: Vec::new(),
            turns: Vec::new(),
        };
        crate::agent::run(AgentRun {
            node: &self.shared.graph.nodes[self.index].id,
            provider: &self.rt.provider,
            env: ToolEnv {
                http: &self.rt.http,
                search: &self.rt.search,
                files: self.rt.files.as_deref(),
                mcp: &self.shared.mcp,
            },
            reporter: &self.reporter,
            artifacts: &self.rt.artifacts,
            budget: &self.shared.budget,
            request,
            tools,
            max_iterations: a.max_iterations.unwrap_or(DEFAULT_TOOL_ITERATIONS),
        })
        .await
    }

    async fn http(&self, h: &HttpConfig) -> Result<Value, NodeError> {
        let r = &self.rt.renderer;
        let headers = h
            .headers
            .iter()
            .map(|(k, v)| {
                Ok((
                    k.clone(),
                    r.text(v.as_str().unwrap_or_default(), &self.ctx)?,
                ))
            })
            .collect::<Result<Vec<_>, NodeError>>()?;
        let call = HttpCall {
            method: serde_json::to_value(h.method)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_else(|| "GET".into()),
            url: r.text(&h.url, &self.ctx)?,
            headers,
            body: h.body.as_ref().map(|b| r.json(b, &self.ctx)).transpose()?,
            timeout: Duration::from_secs(u64::from(h.timeout_seconds)),
            max_response_bytes: h.max_response_bytes,
        };
        self.rt.http.call(call).await
    }
}
