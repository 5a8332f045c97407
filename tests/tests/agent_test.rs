//! Trying an agent outside any workflow (`POST /api/v1/agents/{id}/test`):
//! the same tool loop as agent nodes, with a workspace's MCP server (the
//! rmcp orders double), its answer streamed to the caller's WebSocket as
//! `agent:test` messages in order, and the plan's limits.

use std::time::Duration;

use agent_kit::mcp_double;
use saasit_tests::{
    json, runs::paid_user, serve, spawn_app_with, spawn_stack_with, test_pipeline_config, ws, Req,
    TestStack,
};
use serde_json::Value;

const TOKEN: &str = "orders-token-77aa01";

async fn stack() -> TestStack {
    let app = spawn_app_with(&[("OUTBOUND_HTTP_ALLOW", "127.0.0.1")]).await;
    spawn_stack_with(app, test_pipeline_config()).await
}

async fn workspace_of(s: &TestStack, t: &str) -> String {
    s.app
        .send(Req::get("/api/v1/workspaces").bearer(t))
        .await
        .expect(200, None)
        .body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn agent(s: &TestStack, t: &str, tools: Value) -> String {
    s.app
        .send(Req::post("/api/v1/agents").bearer(t).json(&json!({
            "name": "order-desk", "displayName": "Order desk",
            "systemPrompt": "Answer questions about orders.", "tools": tools
        })))
        .await
        .expect(201, None)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

#[tokio::test]
async fn an_agent_is_tried_with_an_mcp_servers_tools_and_streams_to_its_user() {
    let s = stack().await;
    let url = format!(
        "{}/mcp",
        serve(mcp_double::router(Some(TOKEN.into()))).await
    );
    let t = paid_user(&s, "try@example.com", "STARTER").await;
    let ws_id = workspace_of(&s, &t).await;
    s.app
        .send(
            Req::post(&format!("/api/v1/workspaces/{ws_id}/secrets"))
                .bearer(&t)
                .json(&json!({"name": "ORDERS_TOKEN", "value": TOKEN})),
        )
        .await
        .expect(201, None);
    s.app
        .send(
            Req::post("/api/v1/mcp/servers")
                .bearer(&t)
                .json(&json!({"name": "orders", "url": url,
                    "headers": [{"name": "Authorization", "value": "Bearer {{secrets.ORDERS_TOKEN}}"}]})),
        )
        .await
        .expect(201, None);
    let id = agent(&s, &t, json!(["mcp:orders"])).await;
    let mut c = ws::connect(&s.base_url, Some(&t)).await.expect("connect");
    // Its own user topic is subscribed from the start: a ping proves the connection is up.
    c.send(&json!({"action": "ping"})).await;
    let pong = c.next(Duration::from_secs(5)).await.expect("pong");
    assert_eq!(pong["type"], "pong", "{pong}");
    let answer = s
        .app
        .send(
            Req::post(&format!("/api/v1/agents/{id}/test"))
                .bearer(&t)
                .json(
                    &json!({"prompt": "Where is it? orders__get_order {\"orderId\": \"A-1002\"}"}),
                ),
        )
        .await
        .expect(200, None)
        .body;
    assert_eq!(answer["provider"], "dev");
    assert_eq!(answer["turns"], 2, "{answer}");
    assert_eq!(answer["calls"][0]["tool"], "orders__get_order");
    assert_eq!(answer["calls"][0]["error"], false);
    assert!(
        answer["calls"][0]["output"]
            .as_str()
            .expect("out")
            .contains("shipped"),
        "{answer}"
    );
    assert!(answer["text"].as_str().expect("text").contains("shipped"));
    assert!(!answer.to_string().contains(TOKEN));
    let test_id = answer["testId"].as_str().expect("test id").to_owned();
    // Both model turns are charged to the workspace.
    let calls: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM workspace_model_hours WHERE workspace_id = $1::uuid",
    )
    .bind(&ws_id)
    .fetch_one(&s.app.state.db)
    .await
    .expect("calls");
    assert_eq!(calls, 2);
    let seen = c
        .until(Duration::from_secs(10), |m| {
            m["type"] == "agent:test" && m["kind"] == "done"
        })
        .await;
    let mine: Vec<&Value> = seen
        .iter()
        .filter(|m| m["type"] == "agent:test" && m["testId"] == test_id.as_str())
        .collect();
    let kinds: Vec<&str> = mine
        .iter()
        .map(|m| m["kind"].as_str().unwrap_or_default())
        .collect();
    // Turn 1 asks for the tool; turn 2 answers with its result.
    assert_eq!(
        kinds[..3],
        ["usage", "tool_called", "tool_result"],
        "{kinds:?}"
    );
    assert!(
        kinds.contains(&"tool_result") && kinds.contains(&"delta"),
        "{kinds:?}"
    );
    assert_eq!(kinds.last(), Some(&"done"), "{kinds:?}");
    let seqs: Vec<u64> = mine
        .iter()
        .map(|m| m["seq"].as_u64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as u64).collect::<Vec<_>>(),
        "in order, once each"
    );
    c.close().await;
}

#[tokio::test]
async fn a_test_is_held_to_the_plan_and_its_input() {
    let s = stack().await;
    let free = paid_user(&s, "try-free@example.com", "FREE").await;
    let id = agent(&s, &free, json!(["web_read"])).await;
    let path = format!("/api/v1/agents/{id}/test");
    s.app
        .send(
            Req::post(&path)
                .bearer(&free)
                .json(&json!({"prompt": "hi"})),
        )
        .await
        .expect(403, Some("TIER_LIMIT"));
    let t = paid_user(&s, "try-paid@example.com", "STARTER").await;
    let mine = agent(&s, &t, json!(["web_read"])).await;
    let path = format!("/api/v1/agents/{mine}/test");
    for bad in [
        json!({"prompt": ""}),
        json!({"prompt": "hi", "tools": ["shell"]}),
        json!({"prompt": "hi", "tools": ["mcp:nowhere"]}),
        json!({"prompt": "hi", "maxIterations": 11}),
    ] {
        s.app
            .send(Req::post(&path).bearer(&t).json(&bad))
            .await
            .expect(400, Some("VALIDATION_ERROR"));
    }
    // Another workspace's private agent is not there to try.
    s.app
        .send(
            Req::post(&format!("/api/v1/agents/{id}/test"))
                .bearer(&t)
                .json(&json!({"prompt": "hi"})),
        )
        .await
        .expect(404, Some("NOT_FOUND"));
    // read_file needs a run's files: the model is told, and the test goes on.
    let answer = s
        .app
        .send(
            Req::post(&path)
                .bearer(&t)
                .json(&json!({"prompt": "Read notes.md", "tools": ["read_file"]})),
        )
        .await
        .expect(200, None)
        .body;
    assert_eq!(answer["calls"][0]["error"], true, "{answer}");
    assert!(answer["calls"][0]["output"]
        .as_str()
        .expect("o")
        .contains("runs only"));
}
