//! `executor run --spec FILE [--input KEY=VALUE]... [--concurrency N] [--artifacts-dir DIR]`
//!     runs a graph from a file and prints its events as JSON lines, with no API at all.
//! `executor` (no arguments) is the Job workload: it reads the Job
//! environment contract (`run_protocol::env`: `EXECUTION_ID`, `CALLBACK_URL`,
//! `CALLBACK_TOKEN_FILE`), fetches its spec from the callback API and reports
//! everything back to it.
//!
//! Both read the LLM settings `LLM_PROVIDER` (anthropic | openai | dev), `LLM_API_KEY`
//! (or `LLM_API_KEY_FILE`), `LLM_BASE_URL`, `LLM_MODEL`. With none of them set the
//! deterministic dev provider answers (local use); a provider named without a
//! usable key fails its agent nodes with the reason. `EXECUTOR_HTTP_ALLOW` lists hosts http
//! nodes and tools may reach even on private addresses. `WEB_SEARCH_PROVIDER`
//! (searxng | brave), `WEB_SEARCH_URL` (SearXNG's) and `WEB_SEARCH_API_KEY`
//! (or `WEB_SEARCH_API_KEY_FILE`, Brave's) configure the `web_search` tool. Exit codes: 0 completed,
//! 1 failed, 2 usage or spec error, 3 cancelled, 4 timed out.

use std::{path::PathBuf, process::ExitCode, sync::Arc, time::Duration};

use executor::{
    budget::TokenBudget,
    callback::{BeatAnswer, CallbackClient},
    engine,
    http_node::{AllowList, HttpRunner},
    providers::Provider,
    render::Renderer,
    report::{CallbackSink, Sink},
    ArtifactStore, EngineConfig, Redactor, Reporter, RunInput, RunSpec, Runtime,
};
use secrecy::ExposeSecret;
use serde_json::Value;
use settings::{ExecutorSettings, JobSettings};
use tokio_util::sync::CancellationToken;

const USAGE: &str = "usage: executor run --spec FILE [--input KEY=VALUE]... [--concurrency N] [--artifacts-dir DIR]\n       executor            (Job mode: EXECUTION_ID, CALLBACK_URL, CALLBACK_TOKEN_FILE)";

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("executor: {message}");
    ExitCode::from(2)
}

struct Common {
    provider: Provider,
    llm_key: Option<String>,
    search: executor::tools::SearchProvider,
    /// The search provider's key, redacted like the LLM key.
    search_key: Option<String>,
    allow: AllowList,
    config: EngineConfig,
}

/// The executor's branch of the settings tree (`saasit-settings`), read once.
fn common() -> Result<Common, String> {
    let settings = ExecutorSettings::from_env().map_err(|e| e.to_string())?;
    let llm_key = settings
        .llm
        .api_key
        .as_ref()
        .map(|k| k.expose_secret().to_owned());
    let provider = Provider::from_settings(&settings.llm);
    match &provider {
        Provider::Dev => eprintln!(
            "executor: no LLM provider configured: agent nodes use the deterministic dev provider"
        ),
        Provider::Unconfigured(why) => eprintln!("executor: agent nodes will fail: {why}"),
        _ => {}
    }
    let env = |k: &str| std::env::var(k).ok();
    // The search key as a value (local) or a file (the Job's mounted Secret).
    let search_key = match env("WEB_SEARCH_API_KEY_FILE").filter(|p| !p.is_empty()) {
        Some(path) => std::fs::read_to_string(&path).ok(),
        None => env("WEB_SEARCH_API_KEY"),
    }
    .map(|k| k.trim().to_owned())
    .filter(|k| !k.is_empty());
    let search = executor::tools::SearchProvider::from_env(|k| match k {
        "WEB_SEARCH_API_KEY" => search_key.clone(),
        other => env(other),
    })?;
    Ok(Common {
        provider,
        llm_key,
        search,
        search_key,
        allow: AllowList::parse(&settings.http_allow),
        config: EngineConfig {
            max_concurrency: settings.max_concurrency,
            heartbeat_every: settings.heartbeat_every,
            heartbeat_events: true,
            run_timeout: None,
        },
    })
}

/// Cancels the run on SIGTERM (what Kubernetes sends when the Job is deleted) or Ctrl-C.
fn cancel_on_signals(token: CancellationToken) {
    tokio::spawn(async move {
        let ctrl_c = async {
            let _ = tokio::signal::ctrl_c().await;
        };
        #[cfg(unix)]
        let term = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut s) => {
                    s.recv().await;
                }
                Err(_) => std::future::pending::<()>().await,
            }
        };
        #[cfg(not(unix))]
        let term = std::future::pending::<()>();
        tokio::select! {
            () = ctrl_c => {},
            () = term => {},
        }
        eprintln!("executor: signal received, cancelling the run");
        token.cancel();
    });
}

/// Validates the spec's graph into a run input; an invalid graph prints its report.
fn prepare(spec: RunSpec) -> Result<RunInput, String> {
    let graph = workflow_graph::validate(&spec.graph).map_err(|report| {
        format!(
            "the graph is invalid:\n{}",
            serde_json::to_string_pretty(&report).unwrap_or_default()
        )
    })?;
    Ok(RunInput {
        graph,
        inputs: if spec.inputs.is_null() {
            Value::Object(Default::default())
        } else {
            spec.inputs
        },
        secrets: spec.secrets,
        prior_outputs: spec.prior_outputs,
        agents: spec.agents,
        mcp_servers: spec.mcp_servers,
        execution_id: spec.execution_id,
        budget: Arc::new(TokenBudget::new(spec.token_budget)),
    })
}

fn redactor(input: &RunInput, extra: impl IntoIterator<Item = Option<String>>) -> Redactor {
    Redactor::new(
        input
            .secrets
            .values()
            .cloned()
            .chain(extra.into_iter().flatten()),
    )
}

async fn standalone(args: &[String]) -> ExitCode {
    let mut spec_path: Option<PathBuf> = None;
    let mut overrides: Vec<(String, Value)> = Vec::new();
    let mut concurrency: Option<usize> = None;
    let mut artifacts = PathBuf::from("artifacts");
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        let mut value = |flag: &str| {
            it.next()
                .cloned()
                .ok_or_else(|| format!("{flag} needs a value"))
        };
        let parsed = match arg.as_str() {
            "--spec" => value("--spec").map(|v| spec_path = Some(v.into())),
            "--input" => value("--input").and_then(|kv| {
                let (k, v) = kv.split_once('=').ok_or("--input takes KEY=VALUE")?;
                overrides.push((
                    k.to_owned(),
                    serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_owned())),
                ));
                Ok(())
            }),
            "--concurrency" => value("--concurrency")
                .and_then(|v| {
                    v.parse()
                        .map_err(|_| "--concurrency must be a number".to_owned())
                })
                .map(|n| concurrency = Some(n)),
            "--artifacts-dir" => value("--artifacts-dir").map(|v| artifacts = v.into()),
            other => Err(format!("unknown argument {other:?}\n{USAGE}")),
        };
        if let Err(e) = parsed {
            return fail(e);
        }
    }
    let Some(spec_path) = spec_path else {
        return fail(USAGE);
    };
    let text = match std::fs::read_to_string(&spec_path) {
        Ok(t) => t,
        Err(e) => return fail(format!("cannot read {}: {e}", spec_path.display())),
    };
    let mut spec: RunSpec = match serde_json::from_str(&text) {
        Ok(s) => s,
        Err(e) => return fail(format!("{} is not a run spec: {e}", spec_path.display())),
    };
    if !overrides.is_empty() {
        if !spec.inputs.is_object() {
            spec.inputs = Value::Object(Default::default());
        }
        for (k, v) in overrides {
            spec.inputs[k] = v;
        }
    }
    let common = match common() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let mut config = common.config;
    config.max_concurrency = concurrency
        .or(spec.max_concurrency)
        .unwrap_or(config.max_concurrency);
    config.run_timeout = spec.timeout_seconds.map(Duration::from_secs);
    let input = match prepare(spec) {
        Ok(i) => i,
        Err(e) => return fail(e),
    };
    let reporter = Reporter::new(
        Sink::Stdout,
        redactor(&input, [common.llm_key, common.search_key]),
    );
    let runtime = Arc::new(Runtime {
        provider: common.provider,
        http: HttpRunner::new(common.allow),
        search: common.search,
        files: None,
        artifacts: ArtifactStore::Dir(artifacts),
        renderer: Renderer::new(),
    });
    let cancel = CancellationToken::new();
    cancel_on_signals(cancel.clone());
    let outcome = engine::run(runtime, &config, input, reporter, cancel).await;
    ExitCode::from(outcome.status.exit_code() as u8)
}

async fn job() -> ExitCode {
    let job = match JobSettings::from_env() {
        Ok(j) => j,
        Err(e) => return fail(format!("{e} (Job mode)\n{USAGE}")),
    };
    // Signals first: a Job stopped while it starts (a node drained, a spot
    // interruption) still reports, instead of dying without a word.
    let cancel = CancellationToken::new();
    cancel_on_signals(cancel.clone());
    let (id, url) = (job.execution_id.clone(), job.callback_url.clone());
    let token = job.callback_token.expose_secret().to_owned();
    let common = match common() {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let client = Arc::new(CallbackClient::new(
        &url,
        &id,
        token.clone(),
        Duration::from_secs(600),
    ));
    let mut spec = tokio::select! {
        fetched = client.fetch_spec() => match fetched {
            Ok(s) => s,
            Err(e) => return fail(e),
        },
        () = cancel.cancelled() => {
            eprintln!("executor: stopped before the run began");
            let _ = client
                .finish(&run_protocol::RunResult {
                    status: run_protocol::RunStatus::Cancelled,
                    output: None,
                    output_ref: None,
                    error: Some("stopped before the run began".into()),
                    failed_node: None,
                    duration_ms: None,
                    reason: None,
                })
                .await;
            return ExitCode::from(run_protocol::RunStatus::Cancelled.exit_code() as u8);
        }
    };
    let mut config = common.config;
    // Liveness goes to the API as heartbeat calls: not also as events.
    config.heartbeat_events = false;
    config.max_concurrency = spec.max_concurrency.unwrap_or(config.max_concurrency);
    // The workspace's own provider key, or the platform's where its plan allows.
    let own_key = spec.llm.as_ref().map(|l| l.api_key.clone());
    let provider = Provider::for_run(
        common.provider,
        spec.llm.take(),
        spec.platform_llm,
        &common.allow,
    );
    config.run_timeout = spec
        .timeout_seconds
        .map(Duration::from_secs)
        .or(job.run_timeout);
    let input = match prepare(spec) {
        Ok(i) => i,
        Err(e) => {
            let _ = client
                .finish(&run_protocol::RunResult {
                    status: run_protocol::RunStatus::Failed,
                    output: None,
                    output_ref: None,
                    error: Some(e.clone()),
                    failed_node: None,
                    duration_ms: None,
                    reason: None,
                })
                .await;
            return fail(e);
        }
    };
    let reporter = Reporter::new(
        Sink::Callback(CallbackSink::start(client.clone(), cancel.clone())),
        redactor(
            &input,
            [common.llm_key, common.search_key, own_key, Some(token)],
        ),
    );
    let runtime = Arc::new(Runtime {
        provider,
        http: HttpRunner::new(common.allow),
        search: common.search,
        files: Some(client.clone()),
        artifacts: ArtifactStore::Callback(client.clone()),
        renderer: Renderer::new(),
    });
    // Heartbeats to the API, which may answer that the run was cancelled.
    // They go on until the result is accepted: a long final flush (the API
    // down for a while) is not silence. A batch of events accepted within
    // the period is the beat (the API recorded it, and answered the same).
    let beat = {
        let (client, cancel, every) = (client.clone(), cancel.clone(), config.heartbeat_every);
        let budget = input.budget.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            loop {
                tick.tick().await;
                let answer = match client.events_answer(every) {
                    Some(a) => Ok(a),
                    None => client.heartbeat().await,
                };
                match answer {
                    Ok(BeatAnswer { cancel: true, .. })
                    | Err(executor::callback::CallbackError::RunEnded)
                        if !cancel.is_cancelled() =>
                    {
                        eprintln!("executor: the API cancelled the run");
                        cancel.cancel();
                    }
                    Ok(BeatAnswer {
                        budget_exceeded: true,
                        ..
                    }) if budget.reason().is_none() => {
                        eprintln!("executor: the workspace's monthly budget is spent");
                        budget.stop("the workspace's monthly budget is spent".into());
                    }
                    _ => {}
                }
            }
        })
    };
    let outcome = engine::run(runtime, &config, input, reporter.clone(), cancel).await;
    if let Err(e) = reporter.flush(FINAL_FLUSH).await {
        eprintln!("executor: {e}");
    }
    let mut result = outcome.to_result();
    // Events the API refused fail the run, loudly, whatever the graph did.
    if let Some(why) = reporter.delivery_failure() {
        result.status = run_protocol::RunStatus::Failed;
        result.error = Some(why);
    }
    result.output = result.output.map(|o| reporter.redactor().redact_json(o));
    result.error = result.error.map(|e| reporter.redactor().redact_str(&e));
    if let Some(output) = result.output.take_if(|o| {
        run_protocol::limits::json_size(o) > run_protocol::limits::MAX_INLINE_OUTPUT_BYTES
    }) {
        // `run_finished` carried the same output: stored once, referenced twice.
        let stored = match reporter.run_output_ref() {
            Some(r) => Ok(r),
            None => client.offload("run-output.json", &output).await,
        };
        match stored {
            Ok(r) => result.output_ref = Some(r),
            Err(e) => {
                result.status = run_protocol::RunStatus::Failed;
                result.error = Some(format!("could not store the run's output: {e}"));
            }
        }
    }
    match client.finish(&result).await {
        Ok(()) | Err(executor::callback::CallbackError::RunEnded) => {}
        Err(e) => eprintln!("executor: could not report the result: {e}"),
    }
    beat.abort();
    ExitCode::from(result.status.exit_code() as u8)
}

/// How long the executor keeps delivering its last events after the run:
/// through an API outage of this length nothing is lost.
const FINAL_FLUSH: Duration = Duration::from_secs(1800);

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the async runtime: {e}")),
    };
    match args.first().map(String::as_str) {
        Some("run") => runtime.block_on(standalone(&args[1..])),
        Some("-h" | "--help") => {
            // The usage is the program's output here, so stdout is right.
            #[allow(clippy::print_stdout)]
            {
                println!("{USAGE}");
            }
            ExitCode::SUCCESS
        }
        None => runtime.block_on(job()),
        Some(other) => fail(format!("unknown command {other:?}\n{USAGE}")),
    }
}
