//! Agent nodes that use a workspace's MCP server's tools: a real MCP server
//! built with rmcp (the orders double, behind a bearer token from the run's
//! secrets) and a scripted model in both providers' formats.

mod support;

use std::collections::{BTreeMap, HashMap};

use agent_kit::mcp_double;
use executor::{providers::Provider, EngineConfig, RunInput, RunStatus, Runtime};
use run_protocol::mcp::{HeaderTemplate, McpServerDef};
use secrecy::SecretString;
use serde_json::{json, Value};
use settings::{LlmProvider, LlmSettings};
use support::{run_input, runtime, serve, trigger, Run};
use tokio_util::sync::CancellationToken;

const TOKEN: &str = "orders-token-5f2c9a";

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

async fn orders_server() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = mcp_double::router(Some(TOKEN.into()));
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/mcp")
}

fn server(url: &str) -> BTreeMap<String, McpServerDef> {
    BTreeMap::from([(
        "orders".to_owned(),
        McpServerDef {
            url: url.to_owned(),
            headers: vec![HeaderTemplate {
                name: "Authorization".into(),
                value: "Bearer {{secrets.ORDERS_TOKEN}}".into(),
            }],
        },
    )])
}

async fn run(
    rt: std::sync::Arc<Runtime>,
    tools: Value,
    servers: BTreeMap<String, McpServerDef>,
    secrets: BTreeMap<String, String>,
) -> Run {
    let graph = json!({
        "nodes": [trigger(), {"id": "ask", "type": "agent", "config": {
            "systemPrompt": "Use your tools.", "prompt": "Where is order A-1001?", "tools": tools
        }}],
        "edges": [{"from": "start", "to": "ask"}]
    });
    let graph = workflow_graph::Graph::from_canvas(&graph).expect("graph");
    let graph = workflow_graph::validate(&graph).unwrap_or_else(|r| panic!("{r:#?}"));
    let input = RunInput {
        graph,
        inputs: json!({}),
        secrets,
        prior_outputs: HashMap::new(),
        agents: HashMap::new(),
        mcp_servers: servers,
        execution_id: Some("exec-mcp".into()),
        budget: Default::default(),
    };
    run_input(
        rt,
        &EngineConfig::default(),
        input,
        CancellationToken::new(),
    )
    .await
}

fn secrets() -> BTreeMap<String, String> {
    BTreeMap::from([("ORDERS_TOKEN".to_owned(), TOKEN.to_owned())])
}

fn offered(fake: &support::Fake) -> Vec<String> {
    let requests = fake.llm_requests.lock().expect("lock");
    requests.first().expect("a request").1["tools"]
        .as_array()
        .expect("tools")
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
async fn an_agent_calls_an_mcp_servers_tools_with_both_providers() {
    let url = orders_server().await;
    for vendor in [LlmProvider::Anthropic, LlmProvider::OpenAi] {
        let (base, fake) = serve().await;
        let run = run(
            runtime(scripted(&base, vendor, "mcp")),
            json!(["mcp:orders", "web_read"]),
            server(&url),
            secrets(),
        )
        .await;
        assert_eq!(
            run.outcome.status,
            RunStatus::Completed,
            "{vendor:?}: {:?}",
            run.outcome
        );
        let mut names = offered(&fake);
        names.sort();
        assert_eq!(
            names,
            vec![
                "orders__add",
                "orders__get_order",
                "orders__wait",
                "web_read"
            ],
            "{vendor:?}"
        );
        let results = run.of("tool_result");
        assert_eq!(results.len(), 2, "{results:?}");
        assert!(results.iter().all(|r| r["error"] == false), "{results:?}");
        assert!(
            results[0]["output"]
                .as_str()
                .expect("text")
                .contains("packed"),
            "{results:?}"
        );
        assert_eq!(results[1]["output"], "42");
        let text = run.for_node("node_succeeded", "ask")[0]["output"]["text"]
            .as_str()
            .expect("text")
            .to_owned();
        assert!(text.contains("packed") && text.contains("42"), "{text}");
        // The token went to the server, never into an event.
        let all = serde_json::to_string(&run.events).expect("json");
        assert!(!all.contains(TOKEN));
    }
}

#[tokio::test]
async fn one_named_tool_is_all_that_is_offered_and_a_tool_error_is_the_models() {
    let url = orders_server().await;
    let (base, fake) = serve().await;
    let run = run(
        runtime(scripted(&base, LlmProvider::Anthropic, "mcp_error")),
        json!(["mcp:orders/get_order"]),
        server(&url),
        secrets(),
    )
    .await;
    assert_eq!(
        run.outcome.status,
        RunStatus::Completed,
        "{:?}",
        run.outcome
    );
    assert_eq!(offered(&fake), vec!["orders__get_order"]);
    let results = run.of("tool_result");
    assert_eq!(results[0]["error"], true);
    assert!(
        results[0]["output"]
            .as_str()
            .expect("text")
            .contains("no order"),
        "{results:?}"
    );
}

#[tokio::test]
async fn a_server_that_cannot_be_used_fails_the_node_naming_it() {
    let url = orders_server().await;
    let (base, _fake) = serve().await;
    let rt = runtime(scripted(&base, LlmProvider::Anthropic, "mcp"));
    // Not in the run's spec (deleted or disconnected since the run started).
    let r = run(
        rt.clone(),
        json!(["mcp:orders"]),
        BTreeMap::new(),
        secrets(),
    )
    .await;
    assert_eq!(r.outcome.status, RunStatus::Failed);
    let e = r.outcome.error.clone().unwrap_or_default();
    assert!(e.contains("orders") && e.contains("not registered"), "{e}");
    // Its header's secret was deleted from the vault.
    let r = run(
        rt.clone(),
        json!(["mcp:orders"]),
        server(&url),
        BTreeMap::new(),
    )
    .await;
    assert_eq!(r.outcome.status, RunStatus::Failed);
    let e = r.outcome.error.clone().unwrap_or_default();
    assert!(e.contains("ORDERS_TOKEN"), "{e}");
    // The wrong credentials.
    let wrong = BTreeMap::from([("ORDERS_TOKEN".to_owned(), "wrong-token-1".to_owned())]);
    let r = run(rt.clone(), json!(["mcp:orders"]), server(&url), wrong).await;
    assert_eq!(r.outcome.status, RunStatus::Failed);
    let e = r.outcome.error.clone().unwrap_or_default();
    assert!(e.contains("credentials"), "{e}");
    // A tool it does not have.
    let r = run(
        rt.clone(),
        json!(["mcp:orders/refund"]),
        server(&url),
        secrets(),
    )
    .await;
    assert_eq!(r.outcome.status, RunStatus::Failed);
    let e = r.outcome.error.clone().unwrap_or_default();
    assert!(e.contains("no tool \"refund\""), "{e}");
    // A server that is down: a network failure (retryable), naming it.
    let down = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}/mcp", l.local_addr().expect("addr"))
    };
    let r = run(rt, json!(["mcp:orders"]), server(&down), secrets()).await;
    assert_eq!(r.outcome.status, RunStatus::Failed);
    let failed = r.of("node_failed");
    assert_eq!(failed[0]["error"]["kind"], "network", "{failed:?}");
    assert_eq!(failed[0]["error"]["retryable"], true);
}
