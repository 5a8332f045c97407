//! The run's token budget: agent calls are capped at what is left, the run
//! stops once the budget is used (`failed`, reason `budget_exceeded`), a call
//! with nothing left fails its node whatever its `onError`, and the API's
//! monthly-budget stop ends a run mid-node.

mod support;

use std::{collections::HashMap, sync::Arc, time::Duration};

use executor::{budget::TokenBudget, EngineConfig, RunStatus};
use run_protocol::EndReason;
use secrecy::SecretString;
use serde_json::{json, Value};
use settings::{LlmProvider, LlmSettings};
use support::{run_budgeted, runtime, serve, trigger};
use tokio_util::sync::CancellationToken;

fn anthropic(base: &str) -> executor::providers::Provider {
    executor::providers::Provider::from_settings(&LlmSettings {
        provider: Some(LlmProvider::Anthropic),
        api_key: Some(SecretString::from("test-key".to_owned())),
        key_problem: None,
        base_url: Some(format!("{base}/anthropic/ok")),
        model: None,
    })
}

fn agent(id: &str, extra: Value) -> Value {
    let mut config = json!({ "prompt": format!("Step {id}"), "systemPrompt": "You are terse." });
    if let (Some(c), Some(e)) = (config.as_object_mut(), extra.as_object()) {
        c.extend(e.clone());
    }
    json!({ "id": id, "type": "agent", "config": config })
}

/// trigger → a → b → c → out
fn chain(extra: Value) -> Value {
    json!({
        "nodes": [trigger(), agent("a", extra.clone()), agent("b", extra.clone()), agent("c", extra),
                  {"id": "out", "type": "output"}],
        "edges": [{"from":"start","to":"a"},{"from":"a","to":"b"},{"from":"b","to":"c"},{"from":"c","to":"out"}]
    })
}

#[tokio::test]
async fn a_run_stops_once_its_budget_is_used_and_calls_are_capped_at_what_is_left() {
    let (base, fake) = serve().await;
    // The fake answers every call with 11 input and 7 output tokens.
    let budget = Arc::new(TokenBudget::new(Some(40)));
    let run = run_budgeted(
        runtime(anthropic(&base)),
        chain(json!({})),
        json!({}),
        HashMap::new(),
        EngineConfig::default(),
        CancellationToken::new(),
        Default::default(),
        budget.clone(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Failed);
    assert_eq!(run.outcome.reason, Some(EndReason::BudgetExceeded));
    assert_eq!(
        run.outcome.error.as_deref(),
        Some("the run used 54 LLM tokens of its budget of 40")
    );
    assert_eq!(run.outcome.failed_node, None);
    // Each call asked for no more than was left: 40, then 22, then 4.
    let asked: Vec<Value> = fake
        .llm_requests
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, body)| body["max_tokens"].clone())
        .collect();
    assert_eq!(asked, vec![json!(40), json!(22), json!(4)]);
    for node in ["a", "b", "c"] {
        assert_eq!(run.for_node("node_succeeded", node).len(), 1, "{node}");
    }
    // The output node never ran, and nothing was reported cancelled that had ended.
    assert!(run.for_node("node_started", "out").is_empty());
    assert!(run.of("node_cancelled").is_empty());
    let finished = &run.of("run_finished")[0];
    assert_eq!(finished["status"], "failed");
    assert_eq!(finished["reason"], "budget_exceeded");
    assert_eq!(
        run.outcome.to_result().reason,
        Some(EndReason::BudgetExceeded)
    );
    assert_eq!(budget.used(), 54);

    // A node that sets no cap keeps the provider's default while more than
    // that is left: a budget is no cap a model would refuse.
    let (base, fake) = serve().await;
    run_budgeted(
        runtime(anthropic(&base)),
        chain(json!({})),
        json!({}),
        HashMap::new(),
        EngineConfig::default(),
        CancellationToken::new(),
        Default::default(),
        Arc::new(TokenBudget::new(Some(1_000_000))),
    )
    .await;
    let asked: Vec<Value> = fake
        .llm_requests
        .lock()
        .expect("lock")
        .iter()
        .map(|(_, body)| body["max_tokens"].clone())
        .collect();
    assert_eq!(asked, vec![json!(4096); 3]);
}

#[tokio::test]
async fn a_node_with_nothing_left_fails_the_run_whatever_its_on_error() {
    let (base, fake) = serve().await;
    let run = run_budgeted(
        runtime(anthropic(&base)),
        chain(json!({})),
        json!({}),
        HashMap::new(),
        EngineConfig::default(),
        CancellationToken::new(),
        Default::default(),
        Arc::new(TokenBudget::new(Some(0))),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Failed);
    assert_eq!(run.outcome.reason, Some(EndReason::BudgetExceeded));
    assert_eq!(run.outcome.failed_node.as_deref(), Some("a"));
    assert!(fake.llm_requests.lock().expect("lock").is_empty());
    let failed = &run.for_node("node_failed", "a")[0];
    assert_eq!(failed["error"]["kind"], "budget_exceeded");
    assert_eq!(failed["willRetry"], false);

    // `onError: continue` and retries do not let a node spend past the budget.
    let graph = json!({
        "nodes": [trigger(),
                  {"id": "a", "type": "agent", "config": {"prompt": "go", "systemPrompt": "Be brief."},
                   "policy": {"onError": "continue", "retries": 3}},
                  {"id": "out", "type": "output"}],
        "edges": [{"from":"start","to":"a"},{"from":"a","to":"out"}]
    });
    let run = run_budgeted(
        runtime(anthropic(&base)),
        graph,
        json!({}),
        HashMap::new(),
        EngineConfig::default(),
        CancellationToken::new(),
        Default::default(),
        Arc::new(TokenBudget::new(Some(0))),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Failed);
    assert_eq!(run.outcome.reason, Some(EndReason::BudgetExceeded));
    assert_eq!(run.of("node_failed").len(), 1, "no retry");
    assert!(run.for_node("node_started", "out").is_empty());
}

#[tokio::test]
async fn the_monthly_budget_stop_ends_a_run_mid_node() {
    let (base, _) = serve().await;
    let graph = json!({
        "nodes": [trigger(), support::http("slow", &format!("{base}/sleep?ms=10000")),
                  {"id": "out", "type": "output"}],
        "edges": [{"from":"start","to":"slow"},{"from":"slow","to":"out"}]
    });
    let budget = Arc::new(TokenBudget::new(None));
    let stopper = budget.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        stopper.stop("the workspace's monthly budget is spent".into());
    });
    let started = std::time::Instant::now();
    let run = run_budgeted(
        runtime(anthropic(&base)),
        graph,
        json!({}),
        HashMap::new(),
        EngineConfig::default(),
        CancellationToken::new(),
        Default::default(),
        budget,
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "not stopped mid-node"
    );
    assert_eq!(run.outcome.status, RunStatus::Failed);
    assert_eq!(run.outcome.reason, Some(EndReason::BudgetExceeded));
    assert_eq!(
        run.outcome.error.as_deref(),
        Some("the workspace's monthly budget is spent")
    );
    assert_eq!(run.for_node("node_cancelled", "slow").len(), 1);
}
