//! Engine behaviour against a local server: concurrency, retries and backoff,
//! continue vs fail, timeouts, condition skipping, cancellation, resume,
//! templating errors, run deadlines, secrets and artifacts.

mod support;

use std::{collections::HashMap, time::Duration};

use chrono::DateTime;
use executor::{EngineConfig, RunStatus};
use serde_json::{json, Value};
use support::{http, run_graph, serve, trigger};
use tokio_util::sync::CancellationToken;

fn cfg() -> EngineConfig {
    EngineConfig::default()
}

fn ts(e: &Value) -> DateTime<chrono::FixedOffset> {
    DateTime::parse_from_rfc3339(e["ts"].as_str().expect("ts")).expect("rfc3339")
}

fn fan_out(base: &str, ms: u64) -> Value {
    json!({
        "nodes": [trigger(), http("a", &format!("{base}/sleep?ms={ms}")), http("b", &format!("{base}/sleep?ms={ms}")),
                  http("c", &format!("{base}/sleep?ms={ms}")), {"id": "out", "type": "output"}],
        "edges": [{"from":"start","to":"a"},{"from":"start","to":"b"},{"from":"start","to":"c"},
                  {"from":"a","to":"out"},{"from":"b","to":"out"},{"from":"c","to":"out"}]
    })
}

#[tokio::test]
async fn independent_branches_run_concurrently() {
    let (base, _) = serve().await;
    let run = run_graph(
        fan_out(&base, 400),
        json!({}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Completed);
    let starts: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| ts(&run.for_node("node_started", n)[0]))
        .collect();
    let ends: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| ts(&run.for_node("node_succeeded", n)[0]))
        .collect();
    // Every branch started before any finished: they overlapped.
    let last_start = starts.iter().max().expect("starts");
    let first_end = ends.iter().min().expect("ends");
    assert!(last_start < first_end, "starts {starts:?} ends {ends:?}");
    assert!(
        run.outcome.duration < Duration::from_millis(1100),
        "{:?}",
        run.outcome.duration
    );
    // The output node got all three parents' outputs.
    assert_eq!(
        run.outcome
            .output
            .as_ref()
            .map(|o| o.as_object().map(|m| m.len())),
        Some(Some(3))
    );
}

#[tokio::test]
async fn the_concurrency_bound_is_respected() {
    let (base, _) = serve().await;
    let one_at_a_time = EngineConfig {
        max_concurrency: 1,
        ..cfg()
    };
    let run = run_graph(
        fan_out(&base, 150),
        json!({}),
        HashMap::new(),
        one_at_a_time,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Completed);
    let mut spans: Vec<_> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            (
                ts(&run.for_node("node_started", n)[0]),
                ts(&run.for_node("node_succeeded", n)[0]),
            )
        })
        .collect();
    spans.sort();
    assert!(
        spans[0].1 <= spans[1].0 && spans[1].1 <= spans[2].0,
        "overlapping: {spans:?}"
    );
}

#[tokio::test]
async fn transient_failures_are_retried_with_backoff() {
    let (base, fake) = serve().await;
    let graph = json!({
        "nodes": [trigger(), {"id": "call", "type": "http", "config": {"url": format!("{base}/flaky/k1?fail=2")},
                              "policy": {"retries": 3, "backoffInitialMs": 100, "backoffMultiplier": 2, "backoffMaxMs": 1000}}],
        "edges": [{"from":"start","to":"call"}]
    });
    let run = run_graph(
        graph,
        json!({}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Completed);
    assert_eq!(fake.hits("k1"), 3);
    let failures = run.for_node("node_failed", "call");
    assert_eq!(failures.len(), 2);
    for (f, (lo, hi)) in failures.iter().zip([(50, 100), (100, 200)]) {
        assert_eq!(f["willRetry"], true);
        assert_eq!(f["error"]["kind"], "overloaded");
        let delay = f["retryInMs"].as_u64().expect("delay");
        assert!(
            (lo..=hi).contains(&delay),
            "delay {delay} not in {lo}..={hi}"
        );
    }
    assert_eq!(run.for_node("node_succeeded", "call")[0]["attempt"], 3);
}

#[tokio::test]
async fn retries_are_limited_and_deterministic_errors_never_retried() {
    let (base, fake) = serve().await;
    let graph = json!({
        "nodes": [trigger(),
                  {"id": "down", "type": "http", "config": {"url": format!("{base}/flaky/k2?fail=99")},
                   "policy": {"retries": 2, "backoffInitialMs": 10, "onError": "continue"}},
                  {"id": "bad", "type": "transform", "config": {"template": "{{ inputs.nothing.here }}"},
                   "policy": {"retries": 5, "onError": "retry", "backoffInitialMs": 10}}],
        "edges": [{"from":"start","to":"down"},{"from":"down","to":"bad"}]
    });
    let run = run_graph(
        graph,
        json!({}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(fake.hits("k2"), 3, "1 attempt + 2 retries");
    assert_eq!(
        run.for_node("node_failed", "down")
            .iter()
            .filter(|f| f["willRetry"] == false)
            .count(),
        1
    );
    let bad = run.for_node("node_failed", "bad");
    assert_eq!(bad.len(), 1, "a template error is never retried");
    assert_eq!(bad[0]["error"]["kind"], "template");
    assert_eq!(run.outcome.status, RunStatus::Failed);
    assert_eq!(run.outcome.failed_node.as_deref(), Some("bad"));
}

#[tokio::test]
async fn on_error_retry_also_retries_non_transient_errors() {
    let (base, _) = serve().await;
    let graph = json!({
        "nodes": [trigger(), {"id": "teapot", "type": "http", "config": {"url": format!("{base}/status/418")},
                              "policy": {"retries": 2, "onError": "retry", "backoffInitialMs": 10}}],
        "edges": [{"from":"start","to":"teapot"}]
    });
    let run = run_graph(
        graph,
        json!({}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.for_node("node_failed", "teapot").len(), 3);
    assert_eq!(run.outcome.status, RunStatus::Failed);
}

#[tokio::test]
async fn continue_lets_dependants_run_with_a_null_output() {
    let (base, _) = serve().await;
    let graph = json!({
        "nodes": [trigger(),
                  {"id": "optional", "type": "http", "config": {"url": format!("{base}/status/400")}, "policy": {"onError": "continue"}},
                  {"id": "after", "type": "transform", "config": {"template": {"got": "{{ optional.output }}", "fallback": "{{ optional.output or 'none' }}"}}},
                  {"id": "out", "type": "output", "config": {"value": "{{ after.output }}"}}],
        "edges": [{"from":"start","to":"optional"},{"from":"optional","to":"after"},{"from":"after","to":"out"}]
    });
    let run = run_graph(
        graph,
        json!({}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Completed);
    assert_eq!(
        run.outcome.output,
        Some(json!({"got": null, "fallback": "none"}))
    );
    assert_eq!(
        run.for_node("node_failed", "optional")[0]["error"]["kind"],
        "invalid"
    );
}

#[tokio::test]
async fn fail_stops_the_run_and_cancels_running_siblings() {
    let (base, fake) = serve().await;
    let graph = json!({
        "nodes": [trigger(),
                  http("broken", &format!("{base}/status/400")),
                  http("slow", &format!("{base}/sleep?ms=3000")),
                  {"id": "next", "type": "http", "config": {"url": format!("{base}/count/next")}}],
        "edges": [{"from":"start","to":"broken"},{"from":"start","to":"slow"},{"from":"broken","to":"next"}]
    });
    let run = run_graph(
        graph,
        json!({}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Failed);
    assert_eq!(run.outcome.failed_node.as_deref(), Some("broken"));
    assert!(
        run.outcome.duration < Duration::from_secs(2),
        "did not stop promptly: {:?}",
        run.outcome.duration
    );
    assert_eq!(run.for_node("node_cancelled", "slow").len(), 1);
    assert!(
        run.for_node("node_started", "next").is_empty(),
        "nothing new starts after a failure"
    );
    assert_eq!(fake.hits("next"), 0);
    let last = run.events.last().expect("events");
    assert_eq!(
        serde_json::to_value(last).expect("json")["type"],
        "run_finished"
    );
}

#[tokio::test]
async fn attempts_time_out() {
    let (base, _) = serve().await;
    let graph = json!({
        "nodes": [trigger(), {"id": "slow", "type": "http", "config": {"url": format!("{base}/sleep?ms=5000"), "timeoutSeconds": 30},
                              "policy": {"timeoutSeconds": 1}}],
        "edges": [{"from":"start","to":"slow"}]
    });
    let run = run_graph(
        graph,
        json!({}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Failed);
    assert_eq!(
        run.for_node("node_failed", "slow")[0]["error"]["kind"],
        "timeout"
    );
    assert!(run.outcome.duration < Duration::from_secs(3));
}

#[tokio::test]
async fn conditions_skip_the_untaken_branch_and_joins_still_run() {
    let graph = json!({
        "nodes": [trigger(),
                  {"id": "big", "type": "condition", "config": {"expression": "inputs.amount > 100"}},
                  {"id": "approve", "type": "transform", "config": {"template": "needs approval"}},
                  {"id": "approve_more", "type": "transform", "config": {"template": "{{ approve.output }}!"}},
                  {"id": "auto", "type": "transform", "config": {"template": "auto-approved"}},
                  {"id": "done", "type": "output", "config": {"value": {"a": "{{ approve_more.output }}", "b": "{{ auto.output }}"}}}],
        "edges": [{"from":"start","to":"big"},{"from":"big","to":"approve","condition":"true"},{"from":"big","to":"auto","condition":"false"},
                  {"from":"approve","to":"approve_more"},{"from":"approve_more","to":"done"},{"from":"auto","to":"done"}]
    });
    let small = run_graph(
        graph.clone(),
        json!({"amount": 20}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(small.outcome.status, RunStatus::Completed);
    let skipped: Vec<String> = small
        .of("node_skipped")
        .iter()
        .map(|e| e["node"].as_str().expect("node").to_owned())
        .collect();
    assert_eq!(
        skipped,
        ["approve", "approve_more"],
        "skips propagate down the untaken branch"
    );
    assert!(small.of("node_skipped")[0]["reason"]
        .as_str()
        .is_some_and(|r| r.contains("big")));
    assert_eq!(
        small.outcome.output,
        Some(json!({"a": null, "b": "auto-approved"}))
    );

    let large = run_graph(
        graph,
        json!({"amount": 500}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(
        large.outcome.output,
        Some(json!({"a": "needs approval!", "b": null}))
    );
    assert_eq!(large.for_node("node_skipped", "auto").len(), 1);
}

#[tokio::test]
async fn cancellation_stops_promptly() {
    let (base, _) = serve().await;
    let graph = json!({
        "nodes": [trigger(), http("slow", &format!("{base}/sleep?ms=10000")), {"id": "out", "type": "output"}],
        "edges": [{"from":"start","to":"slow"},{"from":"slow","to":"out"}]
    });
    let cancel = CancellationToken::new();
    let trigger_cancel = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        trigger_cancel.cancel();
    });
    let run = run_graph(graph, json!({}), HashMap::new(), cfg(), cancel).await;
    assert_eq!(run.outcome.status, RunStatus::Cancelled);
    assert!(
        run.outcome.duration < Duration::from_secs(2),
        "{:?}",
        run.outcome.duration
    );
    assert_eq!(run.for_node("node_cancelled", "slow").len(), 1);
    assert!(run.for_node("node_started", "out").is_empty());
}

#[tokio::test]
async fn the_run_deadline_ends_it_as_timed_out() {
    let (base, _) = serve().await;
    let graph = json!({
        "nodes": [trigger(), http("slow", &format!("{base}/sleep?ms=10000"))],
        "edges": [{"from":"start","to":"slow"}]
    });
    let short = EngineConfig {
        run_timeout: Some(Duration::from_millis(300)),
        ..cfg()
    };
    let run = run_graph(
        graph,
        json!({}),
        HashMap::new(),
        short,
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::TimedOut);
    assert_eq!(RunStatus::TimedOut.exit_code(), 4);
}

#[tokio::test]
async fn resume_reuses_outputs_of_nodes_that_succeeded() {
    let (base, fake) = serve().await;
    let graph = json!({
        "nodes": [trigger(), http("expensive", &format!("{base}/count/expensive")),
                  {"id": "use", "type": "transform", "config": {"template": "{{ expensive.output.body.calls }}"}}],
        "edges": [{"from":"start","to":"expensive"},{"from":"expensive","to":"use"}]
    });
    let prior = HashMap::from([(
        "expensive".to_owned(),
        json!({"status": 200, "body": {"calls": 41}}),
    )]);
    let run = run_graph(graph, json!({}), prior, cfg(), CancellationToken::new()).await;
    assert_eq!(run.outcome.status, RunStatus::Completed);
    assert_eq!(
        fake.hits("expensive"),
        0,
        "a succeeded node is not run again"
    );
    let reused = &run.for_node("node_succeeded", "expensive")[0];
    assert_eq!(reused["reused"], true);
    assert_eq!(run.outcome.node_outputs["use"], json!(41));
    assert_eq!(run.of("run_started")[0]["reused"], json!(["expensive"]));
}

#[tokio::test]
async fn template_errors_are_reported_on_the_node_that_has_them() {
    let graph = json!({
        "nodes": [trigger(),
                  {"id": "fine", "type": "transform", "config": {"template": "{{ inputs.name }}"}},
                  {"id": "typo", "type": "transform", "config": {"template": "{{ fine.output.missing_field.deeper }}"}}],
        "edges": [{"from":"start","to":"fine"},{"from":"fine","to":"typo"}]
    });
    let run = run_graph(
        graph,
        json!({"name": "Ada"}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Failed);
    assert_eq!(run.outcome.failed_node.as_deref(), Some("typo"));
    let failed = run.of("node_failed");
    assert_eq!(failed.len(), 1);
    assert_eq!(failed[0]["node"], "typo");
    assert_eq!(failed[0]["error"]["kind"], "template");
    assert_eq!(run.for_node("node_succeeded", "fine")[0]["output"], "Ada");
}

#[tokio::test]
async fn sequence_numbers_are_contiguous_and_the_last_event_is_the_result() {
    let (base, _) = serve().await;
    let run = run_graph(
        fan_out(&base, 10),
        json!({}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    let seqs: Vec<u64> = run.events.iter().map(|e| e.seq).collect();
    assert_eq!(seqs, (1..=seqs.len() as u64).collect::<Vec<_>>());
    assert_eq!(run.of("run_started").len(), 1);
    assert_eq!(run.of("run_finished").len(), 1);
}

#[tokio::test]
async fn secrets_are_used_but_never_reported() {
    let (base, _) = serve().await;
    let graph = json!({
        "nodes": [trigger(),
                  {"id": "call", "type": "http", "config": {"url": format!("{base}/echo-headers"),
                                                            "headers": {"Authorization": "Bearer {{ secrets.API_TOKEN }}"}}},
                  {"id": "leak", "type": "transform", "config": {"template": "token={{ secrets.API_TOKEN }}"}}],
        "edges": [{"from":"start","to":"call"},{"from":"start","to":"leak"}]
    });
    let secrets =
        std::collections::BTreeMap::from([("API_TOKEN".to_owned(), "tok-9f8e7d6c5b".to_owned())]);
    let run = support::run_with(
        support::runtime(executor::providers::Provider::Dev),
        graph,
        json!({}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
        secrets,
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Completed);
    let all = serde_json::to_string(&run.events).expect("json");
    assert!(
        !all.contains("tok-9f8e7d6c5b"),
        "a secret reached the events"
    );
    // The server did receive it: the echo shows the redacted form.
    assert_eq!(
        run.for_node("node_succeeded", "call")[0]["output"]["body"]["authorization"],
        "Bearer [REDACTED]"
    );
    assert_eq!(
        run.for_node("node_succeeded", "leak")[0]["output"],
        "token=[REDACTED]"
    );
}

#[tokio::test]
async fn output_artifacts_are_stored_and_reported() {
    let store: std::sync::Arc<std::sync::Mutex<Vec<executor::engine::StoredArtifact>>> =
        Default::default();
    let rt = std::sync::Arc::new(executor::Runtime {
        provider: executor::providers::Provider::Dev,
        http: executor::http_node::HttpRunner::new(Default::default()),
        search: executor::tools::SearchProvider::None,
        files: None,
        artifacts: executor::ArtifactStore::Memory(store.clone()),
        renderer: executor::render::Renderer::new(),
    });
    let graph = json!({
        "nodes": [trigger(), {"id": "report", "type": "output",
                              "config": {"value": {"title": "{{ inputs.title }}"}, "artifact": {"name": "report.json"}}}],
        "edges": [{"from":"start","to":"report"}]
    });
    let run = support::run_with(
        rt,
        graph,
        json!({"title": "Q3"}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
        Default::default(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Completed);
    let stored = store.lock().expect("lock");
    assert_eq!(stored.len(), 1);
    assert_eq!(stored[0].0, "report.json");
    assert_eq!(stored[0].1, "application/json");
    assert_eq!(
        serde_json::from_slice::<Value>(&stored[0].2).expect("json"),
        json!({"title": "Q3"})
    );
    assert_eq!(run.of("artifact")[0]["size"], stored[0].2.len());
}

#[tokio::test]
async fn http_nodes_enforce_the_size_cap_and_the_address_guard() {
    let (base, _) = serve().await;
    let graph = json!({
        "nodes": [trigger(),
                  {"id": "big", "type": "http", "config": {"url": format!("{base}/big"), "maxResponseBytes": 1000}, "policy": {"onError": "continue"}},
                  {"id": "metadata", "type": "http", "config": {"url": "http://169.254.169.254/latest/meta-data/"}, "policy": {"onError": "continue", "retries": 3}}],
        "edges": [{"from":"start","to":"big"},{"from":"start","to":"metadata"}]
    });
    let run = run_graph(
        graph,
        json!({}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    assert!(run.for_node("node_failed", "big")[0]["error"]["message"]
        .as_str()
        .is_some_and(|m| m.contains("maxResponseBytes")));
    let blocked = run.for_node("node_failed", "metadata");
    assert_eq!(blocked.len(), 1, "blocked requests are not retried");
    assert_eq!(blocked[0]["error"]["kind"], "blocked");
}

#[tokio::test]
async fn delay_nodes_wait_and_can_be_cancelled() {
    let graph = json!({
        "nodes": [trigger(), {"id": "wait", "type": "delay", "config": {"seconds": 1}},
                  {"id": "out", "type": "output", "config": {"value": "{{ wait.output.waitedSeconds }}"}}],
        "edges": [{"from":"start","to":"wait"},{"from":"wait","to":"out"}]
    });
    let run = run_graph(
        graph.clone(),
        json!({}),
        HashMap::new(),
        cfg(),
        CancellationToken::new(),
    )
    .await;
    assert_eq!(run.outcome.output, Some(json!(1)));
    let waited = ts(&run.for_node("node_succeeded", "wait")[0])
        - ts(&run.for_node("node_started", "wait")[0]);
    assert!(waited >= chrono::Duration::milliseconds(990), "{waited:?}");

    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        c.cancel();
    });
    let long = json!({
        "nodes": [trigger(), {"id": "wait", "type": "delay", "config": {"seconds": 3600}}],
        "edges": [{"from":"start","to":"wait"}]
    });
    let run = run_graph(long, json!({}), HashMap::new(), cfg(), cancel).await;
    assert_eq!(run.outcome.status, RunStatus::Cancelled);
    assert!(run.outcome.duration < Duration::from_secs(1));
}

/// A graph run on its own writes its liveness to the event stream; a Job's
/// liveness is its heartbeat calls only, so it writes no `heartbeat` events.
#[tokio::test]
async fn heartbeat_events_only_when_asked_for() {
    let (base, _) = serve().await;
    let graph = || {
        json!({
            "nodes": [trigger(), http("slow", &format!("{base}/sleep?ms=400"))],
            "edges": [{"from":"start","to":"slow"}]
        })
    };
    for (events, seen) in [(true, true), (false, false)] {
        let beating = EngineConfig {
            heartbeat_every: Duration::from_millis(50),
            heartbeat_events: events,
            ..cfg()
        };
        let run = run_graph(
            graph(),
            json!({}),
            HashMap::new(),
            beating,
            CancellationToken::new(),
        )
        .await;
        assert_eq!(run.outcome.status, RunStatus::Completed);
        assert_eq!(
            !run.of("heartbeat").is_empty(),
            seen,
            "heartbeat_events: {events}"
        );
    }
}
