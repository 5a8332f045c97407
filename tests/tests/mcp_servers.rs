//! A workspace's MCP servers through the local stack, against a real MCP
//! server built with rmcp (the orders double, behind a bearer token kept in
//! the vault): registered, connected (tools cached), changed, disconnected
//! and deleted; credentials only from the vault; private addresses refused;
//! and an agent node calling the server's tools in a run.

use std::time::Duration;

use agent_kit::mcp_double;
use saasit_tests::{
    json,
    runs::{all_events, paid_user, start, wait_for, workflow, TERMINAL},
    serve, spawn_app_with, spawn_stack_with, test_pipeline_config, Req, TestStack,
};
use serde_json::Value;

const TOKEN: &str = "orders-token-8d1e4b";

async fn stack() -> TestStack {
    // The API may reach the loopback double only because the allow-list says so.
    let app = spawn_app_with(&[("OUTBOUND_HTTP_ALLOW", "127.0.0.1")]).await;
    spawn_stack_with(app, test_pipeline_config()).await
}

async fn orders() -> String {
    format!(
        "{}/mcp",
        serve(mcp_double::router(Some(TOKEN.into()))).await
    )
}

async fn workspace_of(s: &TestStack, token: &str) -> String {
    s.app
        .send(Req::get("/api/v1/workspaces").bearer(token))
        .await
        .expect(200, None)
        .body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn store_secret(s: &TestStack, t: &str, ws: &str, name: &str, value: &str) {
    s.app
        .send(
            Req::post(&format!("/api/v1/workspaces/{ws}/secrets"))
                .bearer(t)
                .json(&json!({"name": name, "value": value})),
        )
        .await
        .expect(201, None);
}

async fn register(s: &TestStack, t: &str, ws: &str, body: Value) -> saasit_tests::TestResponse {
    s.app
        .send(
            Req::post("/api/v1/mcp/servers")
                .bearer(t)
                .header("x-workspace-id", ws)
                .json(&body),
        )
        .await
}

fn bearer_header() -> Value {
    json!([{"name": "Authorization", "value": "Bearer {{secrets.ORDERS_TOKEN}}"}])
}

async fn activity(s: &TestStack, t: &str, ws: &str, action: &str) -> Vec<Value> {
    s.app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/activity?action={action}")).bearer(t))
        .await
        .expect(200, None)
        .body["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

#[tokio::test]
async fn a_server_is_registered_connected_changed_disconnected_and_deleted() {
    let s = stack().await;
    let url = orders().await;
    let t = paid_user(&s, "mcp@example.com", "STARTER").await;
    let ws = workspace_of(&s, &t).await;
    store_secret(&s, &t, &ws, "ORDERS_TOKEN", TOKEN).await;
    let created = register(
        &s,
        &t,
        &ws,
        json!({"name": "orders", "url": url, "description": "Order lookups", "headers": bearer_header()}),
    )
    .await
    .expect(201, None)
    .body;
    assert_eq!(created["status"], "pending");
    assert_eq!(created["reference"], "mcp:orders");
    assert_eq!(
        created["headers"][0]["value"],
        "Bearer {{secrets.ORDERS_TOKEN}}"
    );
    let id = created["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/mcp/servers/{id}");

    let connected = s
        .app
        .send(Req::post(&format!("{path}/connect")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(connected["status"], "connected", "{connected}");
    assert_eq!(connected["toolCount"], 3);
    assert_eq!(connected["lastError"], Value::Null);
    assert!(
        connected["serverInfo"]["protocolVersion"].is_string(),
        "{connected}"
    );
    assert!(connected["connectedAt"].is_string());
    let tools = s
        .app
        .send(Req::get(&format!("{path}/tools")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    let get_order = tools["tools"]
        .as_array()
        .expect("tools")
        .iter()
        .find(|t| t["name"] == "get_order")
        .expect("get_order")
        .clone();
    assert_eq!(get_order["reference"], "mcp:orders/get_order");
    assert_eq!(get_order["inputSchema"]["type"], "object");
    // The token never leaves the vault through the API.
    for body in [&created, &connected, &tools] {
        assert!(!body.to_string().contains(TOKEN));
    }
    assert_eq!(
        activity(&s, &t, &ws, "mcp_server.connected").await[0]["details"]["toolCount"],
        3
    );
    let used = activity(&s, &t, &ws, "secret.used").await;
    assert_eq!(used[0]["details"]["mcpServer"], "orders", "{used:?}");

    // A new URL makes it pending again; a connect that fails says why.
    let changed = s
        .app
        .send(
            Req::patch(&path)
                .bearer(&t)
                .json(&json!({"url": url.replace("/mcp", "/nowhere")})),
        )
        .await
        .expect(200, None)
        .body;
    assert_eq!(changed["status"], "pending");
    let failed = s
        .app
        .send(Req::post(&format!("{path}/connect")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(failed["status"], "failed", "{failed}");
    assert!(
        failed["lastError"]
            .as_str()
            .expect("error")
            .starts_with("protocol:"),
        "{failed}"
    );
    // The tools of the last good connect are kept.
    assert_eq!(failed["toolCount"], 3);

    // The wrong token: unauthorized, and the value is not in the error.
    s.app
        .send(Req::patch(&path).bearer(&t).json(&json!({"url": url})))
        .await
        .expect(200, None);
    s.app
        .send(
            Req::new(
                axum::http::Method::PUT,
                &format!("/api/v1/workspaces/{ws}/secrets/ORDERS_TOKEN"),
            )
            .bearer(&t)
            .json(&json!({"value": "wrong-token-value"})),
        )
        .await
        .expect(200, None);
    let refused = s
        .app
        .send(Req::post(&format!("{path}/connect")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(refused["status"], "failed");
    let why = refused["lastError"].as_str().expect("error");
    assert!(why.starts_with("unauthorized:"), "{why}");
    assert!(!why.contains("wrong-token-value"), "{why}");

    let disabled = s
        .app
        .send(Req::post(&format!("{path}/disconnect")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(disabled["status"], "disabled");
    // A change does not bring a disconnected server back: only a connect does.
    let still = s
        .app
        .send(
            Req::patch(&path)
                .bearer(&t)
                .json(&json!({"url": url.replace("/mcp", "/mcp/")})),
        )
        .await
        .expect(200, None)
        .body;
    assert_eq!(still["status"], "disabled");
    let list = s
        .app
        .send(Req::get("/api/v1/mcp/servers").bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(list["servers"].as_array().map(Vec::len), Some(1));
    s.app
        .send(Req::delete(&path).bearer(&t))
        .await
        .expect(204, None);
    s.app
        .send(Req::get(&path).bearer(&t))
        .await
        .expect(404, Some("NOT_FOUND"));
    // Another workspace's member sees none of it.
    let other = paid_user(&s, "mcp-other@example.com", "STARTER").await;
    s.app
        .send(
            Req::get("/api/v1/mcp/servers")
                .bearer(&other)
                .header("x-workspace-id", &ws),
        )
        .await
        .expect(404, Some("NOT_FOUND"));
}

#[tokio::test]
async fn credentials_come_from_the_vault_and_private_addresses_are_refused() {
    let s = stack().await;
    let url = orders().await;
    let t = paid_user(&s, "mcp-rules@example.com", "STARTER").await;
    let ws = workspace_of(&s, &t).await;
    store_secret(&s, &t, &ws, "ORDERS_TOKEN", TOKEN).await;
    for (body, says) in [
        (
            json!({"name": "a", "url": url, "headers": [{"name": "Authorization", "value": format!("Bearer {TOKEN}")}]}),
            "vault",
        ),
        (
            json!({"name": "a", "url": url, "headers": [{"name": "X-Api-Key", "value": "{{secrets.NOT_THERE}}"}]}),
            "NOT_THERE",
        ),
        (
            json!({"name": "a", "url": url, "headers": [{"name": "Mcp-Session-Id", "value": "x"}]}),
            "connection itself",
        ),
        (
            json!({"name": "a", "url": "http://10.0.0.8/mcp"}),
            "private",
        ),
        (
            json!({"name": "a", "url": "http://169.254.169.254/mcp"}),
            "private",
        ),
        (
            json!({"name": "a", "url": "http://user:pw@example.com/mcp"}),
            "credentials",
        ),
        (json!({"name": "Orders", "url": url}), "lowercase"),
        (json!({"name": "a", "url": url, "extra": 1}), ""),
    ] {
        let r = register(&s, &t, &ws, body.clone())
            .await
            .expect(400, Some("VALIDATION_ERROR"));
        assert!(r.body.to_string().contains(says), "{body}: {}", r.body);
        assert!(!r.body.to_string().contains(TOKEN));
    }
    let none: i64 = sqlx::query_scalar("SELECT count(*) FROM mcp_servers")
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(none, 0, "bad input stores nothing");
    register(&s, &t, &ws, json!({"name": "orders", "url": url}))
        .await
        .expect(201, None);
    let taken = register(&s, &t, &ws, json!({"name": "orders", "url": url}))
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(taken.body["error"]["details"]["reason"], "name_taken");
}

#[tokio::test]
async fn an_agent_node_uses_a_connected_servers_tools_in_a_run() {
    let s = stack().await;
    let url = orders().await;
    let t = paid_user(&s, "mcp-run@example.com", "STARTER").await;
    let ws = workspace_of(&s, &t).await;
    let canvas = json!({
        "nodes": [{"id": "start", "type": "trigger"},
                  {"id": "ask", "type": "agent", "config": {
                      "systemPrompt": "Answer with the order's status.",
                      "prompt": "Look it up: orders__get_order {\"orderId\": \"{{ inputs.order }}\"}",
                      "tools": ["mcp:orders"]}},
                  {"id": "out", "type": "output"}],
        "edges": [{"from": "start", "to": "ask"}, {"from": "ask", "to": "out"}]
    });
    let wf = workflow(&s, &t, canvas).await;
    // Not registered yet: the run does not start, and says which server.
    let refused = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&t)
                .json(&json!({"workflowId": wf, "inputs": {"order": "A-1001"}})),
        )
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    assert!(
        refused.body.to_string().contains("UNKNOWN_MCP_SERVER"),
        "{}",
        refused.body
    );
    store_secret(&s, &t, &ws, "ORDERS_TOKEN", TOKEN).await;
    register(
        &s,
        &t,
        &ws,
        json!({"name": "orders", "url": url, "headers": bearer_header()}),
    )
    .await
    .expect(201, None);

    let id = start(&s, &t, &wf, json!({"order": "A-1001"})).await;
    let run = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");
    let events = all_events(&s, &t, &id).await;
    let result = events
        .iter()
        .find(|e| e["type"] == "tool_result")
        .unwrap_or_else(|| panic!("no tool result in {events:?}"));
    assert_eq!(result["tool"], "orders__get_order");
    assert_eq!(result["error"], false, "{result}");
    assert!(
        result["output"].as_str().expect("text").contains("packed"),
        "{result}"
    );
    assert!(!serde_json::to_string(&events)
        .expect("json")
        .contains(TOKEN));
    let used = activity(&s, &t, &ws, "secret.used").await;
    assert!(
        used.iter()
            .any(|u| u["details"]["names"].to_string().contains("ORDERS_TOKEN")),
        "{used:?}"
    );
}
