//! Agent nodes that use tools, against a scripted model speaking the
//! Anthropic and OpenAI formats: the loop runs until the model answers, a
//! failing tool is the model's to handle, a loop that never ends stops at
//! its bound, private addresses are refused from tools too, and a large
//! result reaches the model capped, whole as an artifact.

mod support;

use std::collections::HashMap;

use executor::{
    error::ErrorKind, http_node::AllowList, providers::Provider, tools::SearchProvider,
    EngineConfig, RunStatus,
};
use secrecy::SecretString;
use serde_json::{json, Value};
use settings::{LlmProvider, LlmSettings};
use support::{run_with, runtime, runtime_with, serve, trigger, Fake, Run};
use tokio_util::sync::CancellationToken;

fn scripted(base: &str, vendor: LlmProvider, script: &str) -> Provider {
    let path = match vendor {
        LlmProvider::OpenAi => "openai",
        _ => "anthropic",
    };
    Provider::from_settings(&LlmSettings {
        provider: Some(vendor),
        api_key: Some(SecretString::from("test-key".to_owned())),
        key_problem: None,
        base_url: Some(format!("{base}/scripted/{path}/{script}")),
        model: Some("scripted".into()),
    })
}

fn agent_graph(tools: Value, max_iterations: Option<u32>) -> Value {
    let mut config = json!({"systemPrompt": "Use your tools.", "prompt": "{{ inputs.question }}", "tools": tools});
    if let Some(n) = max_iterations {
        config["maxIterations"] = json!(n);
    }
    json!({
        "nodes": [trigger(), {"id": "ask", "type": "agent", "config": config}],
        "edges": [{"from": "start", "to": "ask"}]
    })
}

async fn run(rt: std::sync::Arc<executor::Runtime>, graph: Value) -> Run {
    run_with(
        rt,
        graph,
        json!({"question": "What is the answer?"}),
        HashMap::new(),
        EngineConfig::default(),
        CancellationToken::new(),
        Default::default(),
    )
    .await
}

fn output(run: &Run) -> Value {
    run.for_node("node_succeeded", "ask")
        .first()
        .map(|e| e["output"].clone())
        .unwrap_or(Value::Null)
}

/// The tools offered in the first request the model got.
fn offered(fake: &Fake) -> Vec<String> {
    let requests = fake.llm_requests.lock().expect("lock");
    let body = &requests.first().expect("a request").1;
    body["tools"]
        .as_array()
        .expect("tools offered")
        .iter()
        .map(|t| {
            t["name"]
                .as_str()
                .or_else(|| t["function"]["name"].as_str())
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn a_two_tool_agent_reaches_its_answer_with_both_providers() {
    for vendor in [LlmProvider::Anthropic, LlmProvider::OpenAi] {
        let (base, fake) = serve().await;
        let run = run(
            runtime(scripted(&base, vendor, "two_tools")),
            agent_graph(json!(["web_read", "http_request"]), None),
        )
        .await;
        assert_eq!(
            run.outcome.status,
            RunStatus::Completed,
            "{vendor:?}: {:?}",
            run.outcome
        );
        let out = output(&run);
        let text = out["text"].as_str().expect("text");
        // The page's readable text (no script), and the JSON endpoint's answer.
        assert!(text.contains("The answer is 42"), "{vendor:?}: {text}");
        assert!(!text.contains("hidden"), "{vendor:?}: {text}");
        assert!(text.contains("1.4.2"), "{vendor:?}: {text}");
        assert_eq!(out["turns"], 2);
        assert_eq!(out["toolCalls"], 2);
        // Two model turns, each reported; their tokens summed in the output.
        assert_eq!(run.of("usage").len(), 2);
        assert_eq!(out["usage"], json!({"inputTokens": 20, "outputTokens": 10}));
        let calls = run.of("tool_called");
        assert_eq!(calls.len(), 2);
        assert_eq!(calls[0]["tool"], "web_read");
        assert_eq!(calls[0]["iteration"], 1);
        assert_eq!(calls[1]["input"]["url"], format!("{base}/status.json"));
        let results = run.of("tool_result");
        assert_eq!(results.len(), 2);
        assert!(results.iter().all(|r| r["error"] == false), "{results:?}");
        assert_eq!(offered(&fake), vec!["web_read", "http_request"]);
        // The second request carried the calls and their results back.
        let requests = fake.llm_requests.lock().expect("lock");
        assert_eq!(requests.len(), 2);
        let second = requests[1].1["messages"].to_string();
        assert!(
            second.contains("call_1") && second.contains("The answer is 42"),
            "{second}"
        );
    }
}

#[tokio::test]
async fn a_tool_that_fails_is_reported_to_the_model_and_the_run_goes_on() {
    for vendor in [LlmProvider::Anthropic, LlmProvider::OpenAi] {
        let (base, _) = serve().await;
        let run = run(
            runtime(scripted(&base, vendor, "failing_tool")),
            agent_graph(json!(["http_request"]), None),
        )
        .await;
        assert_eq!(run.outcome.status, RunStatus::Completed, "{vendor:?}");
        let result = &run.of("tool_result")[0];
        assert_eq!(result["error"], true);
        assert!(
            result["output"]
                .as_str()
                .unwrap_or_default()
                .contains("500"),
            "{result}"
        );
        let text = output(&run)["text"].as_str().unwrap_or_default().to_owned();
        assert!(text.contains("final answer after 1 results"), "{text}");
        if vendor == LlmProvider::Anthropic {
            // Anthropic is told it was an error (`is_error`).
            assert!(text.contains("call_1 (error)"), "{text}");
        }
    }
}

#[tokio::test]
async fn a_loop_that_never_ends_stops_at_max_iterations_with_a_clear_error() {
    let (base, fake) = serve().await;
    let run = run(
        runtime(scripted(&base, LlmProvider::Anthropic, "forever")),
        agent_graph(json!(["http_request"]), Some(3)),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Failed);
    let failed = &run.for_node("node_failed", "ask")[0];
    assert_eq!(failed["error"]["kind"], ErrorKind::Limit.as_str());
    assert!(
        failed["error"]["message"]
            .as_str()
            .unwrap_or_default()
            .contains("maxIterations"),
        "{failed}"
    );
    // Three turns, no more, and no retry of a deterministic failure.
    assert_eq!(fake.llm_requests.lock().expect("lock").len(), 3);
    assert_eq!(run.of("tool_called").len(), 3);
}

#[tokio::test]
async fn private_addresses_are_refused_from_tools_too() {
    let (base, _) = serve().await;
    // The default allow-list: nothing private is reachable (the model's
    // double is reached through the provider's own client).
    let run = run(
        runtime_with(
            scripted(&base, LlmProvider::OpenAi, "ssrf"),
            AllowList::default(),
            SearchProvider::None,
        ),
        agent_graph(json!(["http_request"]), None),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Completed);
    let result = &run.of("tool_result")[0];
    assert_eq!(result["error"], true);
    assert!(
        result["output"]
            .as_str()
            .unwrap_or_default()
            .contains("blocked"),
        "{result}"
    );
}

#[tokio::test]
async fn web_search_asks_the_configured_provider_and_says_when_there_is_none() {
    let (base, _) = serve().await;
    let search = SearchProvider::from_env(|k| match k {
        "WEB_SEARCH_PROVIDER" => Some("searxng".into()),
        "WEB_SEARCH_URL" => Some(base.clone()),
        _ => None,
    })
    .expect("search settings");
    let found_run = run(
        runtime_with(
            scripted(&base, LlmProvider::Anthropic, "search"),
            AllowList::parse("127.0.0.1"),
            search,
        ),
        agent_graph(json!(["web_search"]), None),
    )
    .await;
    assert_eq!(found_run.outcome.status, RunStatus::Completed);
    let result = &found_run.of("tool_result")[0];
    assert_eq!(result["error"], false);
    let found: Value =
        serde_json::from_str(result["output"].as_str().expect("text")).expect("json");
    assert_eq!(
        found["results"].as_array().map(Vec::len),
        Some(2),
        "{found}"
    );
    assert_eq!(found["results"][0]["url"], "https://example.com/agents");

    let unconfigured = run(
        runtime(scripted(&base, LlmProvider::Anthropic, "search")),
        agent_graph(json!(["web_search"]), None),
    )
    .await;
    assert_eq!(unconfigured.outcome.status, RunStatus::Completed);
    let result = &unconfigured.of("tool_result")[0];
    assert_eq!(result["error"], true);
    assert!(
        result["output"]
            .as_str()
            .unwrap_or_default()
            .contains("not configured"),
        "{result}"
    );
    assert!(
        SearchProvider::from_env(|k| (k == "WEB_SEARCH_PROVIDER").then(|| "bing".into())).is_err()
    );
}

#[tokio::test]
async fn a_tool_the_node_did_not_declare_is_refused_to_the_model() {
    let (base, _) = serve().await;
    let run = run(
        runtime(scripted(&base, LlmProvider::OpenAi, "unknown_tool")),
        agent_graph(json!(["web_read"]), None),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Completed);
    let result = &run.of("tool_result")[0];
    assert_eq!(result["error"], true);
    assert!(
        result["output"]
            .as_str()
            .unwrap_or_default()
            .contains("no tool \"shell\""),
        "{result}"
    );
}

#[tokio::test]
async fn a_large_result_reaches_the_model_capped_and_is_kept_whole_as_an_artifact() {
    let (base, fake) = serve().await;
    let run = run(
        runtime(scripted(&base, LlmProvider::Anthropic, "big")),
        agent_graph(json!(["http_request"]), None),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Completed);
    let result = &run.of("tool_result")[0];
    let shown = result["output"].as_str().expect("text");
    assert!(
        shown.len() < executor::agent::MAX_RESULT_BYTES + 200,
        "{}",
        shown.len()
    );
    assert!(
        shown.contains("truncated"),
        "{}",
        &shown[shown.len() - 120..]
    );
    assert_eq!(result["artifact"], "ask-call_1.txt");
    let artifact = &run.of("artifact")[0];
    assert!(
        artifact["size"].as_u64().unwrap_or(0) > 100_000,
        "{artifact}"
    );
    let requests = fake.llm_requests.lock().expect("lock");
    assert!(requests[1].1.to_string().len() < 40_000);
}

#[test]
fn the_validator_refuses_unknown_tools_and_bad_bounds() {
    for (tools, max, field) in [
        (json!(["shell"]), None, "tools"),
        (json!(["web_read", "web_read"]), None, "tools"),
        (json!(["web_read"]), Some(0), "maxIterations"),
        (json!(["web_read"]), Some(51), "maxIterations"),
    ] {
        let graph =
            workflow_graph::Graph::from_canvas(&agent_graph(tools.clone(), max)).expect("graph");
        let report = workflow_graph::validate(&graph).expect_err("refused");
        assert!(
            format!("{report:?}").contains(field),
            "{tools} {max:?}: {report:?}"
        );
    }
}

#[tokio::test]
async fn the_dev_provider_tries_the_tools_it_can_so_the_loop_runs_locally() {
    let (base, _) = serve().await;
    let graph = json!({
        "nodes": [trigger(), {"id": "ask", "type": "agent", "config": {
            "systemPrompt": "Use your tools.", "prompt": "Read {{ inputs.url }}, then answer.",
            "tools": ["web_read", "web_search"]}}],
        "edges": [{"from": "start", "to": "ask"}]
    });
    let run = run_with(
        runtime(Provider::Dev),
        graph,
        json!({"url": format!("{base}/page")}),
        HashMap::new(),
        EngineConfig::default(),
        CancellationToken::new(),
        Default::default(),
    )
    .await;
    assert_eq!(run.outcome.status, RunStatus::Completed);
    let out = output(&run);
    let text = out["text"].as_str().expect("text");
    assert!(text.contains("[dev provider]"), "{text}");
    assert!(
        text.contains("Tool call dev_1 returned") && text.contains("The answer is 42"),
        "{text}"
    );
    // No search provider here: the second call failed, and the answer says so.
    assert!(
        text.contains("Tool call dev_2 failed") && text.contains("not configured"),
        "{text}"
    );
    assert_eq!(out["turns"], 2);
    assert_eq!(run.of("tool_called").len(), 2);
}
