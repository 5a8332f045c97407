//! The MCP client against a real MCP server built with rmcp (the orders
//! double), over streamable HTTP on a local port.

use std::{net::SocketAddr, time::Duration};

use agent_kit::{
    guard::AllowList,
    mcp::{McpClient, McpErrorKind},
    mcp_double,
};
use serde_json::json;

const T: Duration = Duration::from_secs(10);

async fn serve(app: axum::Router) -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    addr
}

fn local() -> AllowList {
    AllowList::parse("127.0.0.1")
}

fn bearer(token: &str) -> Vec<(String, String)> {
    vec![("Authorization".into(), format!("Bearer {token}"))]
}

#[tokio::test]
async fn connects_lists_tools_and_calls_them() {
    let addr = serve(mcp_double::router(Some("s3cret".into()))).await;
    let url = format!("http://{addr}/mcp");
    let c = McpClient::connect(&url, &bearer("s3cret"), &local(), T)
        .await
        .expect("connect");
    assert!(!c.server().protocol_version.is_empty());
    let tools = c.tools(T).await.expect("tools");
    let names: Vec<&str> = tools.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names.len(), 3, "{names:?}");
    for n in ["add", "get_order", "wait"] {
        assert!(names.contains(&n), "{names:?}");
    }
    let add = tools.iter().find(|t| t.name == "add").expect("add");
    assert_eq!(add.description, "Add two numbers");
    assert_eq!(add.input_schema["type"], "object");
    assert!(add.input_schema["properties"]["a"].is_object());

    let sum = c
        .call("add", json!({"a": 2, "b": 40.5}), T)
        .await
        .expect("add");
    assert!(!sum.is_error);
    assert_eq!(sum.value, json!("42.5"));

    let order = c
        .call("get_order", json!({"orderId": "A-1001"}), T)
        .await
        .expect("order");
    assert!(!order.is_error);
    assert_eq!(order.value["status"], "packed");
    assert_eq!(order.value["orderId"], "A-1001");

    // A tool's own failure is an answer, marked as an error.
    let missing = c
        .call("get_order", json!({"orderId": "nope"}), T)
        .await
        .expect("answer");
    assert!(missing.is_error);
    assert!(
        missing.value.to_string().contains("no order"),
        "{:?}",
        missing.value
    );

    // An unknown tool and bad arguments are the server's protocol errors.
    let e = c
        .call("drop_tables", json!({}), T)
        .await
        .expect_err("unknown");
    assert_eq!(e.kind, McpErrorKind::Protocol, "{e}");
    let e = c
        .call("add", json!([1, 2]), T)
        .await
        .expect_err("not an object");
    assert_eq!(e.kind, McpErrorKind::Config, "{e}");
    c.close().await;
}

#[tokio::test]
async fn wrong_or_missing_credentials_are_unauthorized() {
    let addr = serve(mcp_double::router(Some("s3cret".into()))).await;
    let url = format!("http://{addr}/mcp");
    for headers in [vec![], bearer("wrong")] {
        let e = McpClient::connect(&url, &headers, &local(), T)
            .await
            .err()
            .expect("refused");
        assert_eq!(e.kind, McpErrorKind::Unauthorized, "{e}");
        assert!(!e.message.contains("wrong"), "{e}");
    }
}

#[tokio::test]
async fn private_addresses_are_refused_without_the_allow_list() {
    let addr = serve(mcp_double::router(None)).await;
    for url in [
        format!("http://{addr}/mcp"),
        format!("http://localhost:{}/mcp", addr.port()),
        "http://169.254.169.254/mcp".to_owned(),
        "http://[::ffff:127.0.0.1]/mcp".to_owned(),
    ] {
        let e = McpClient::connect(&url, &[], &AllowList::default(), T)
            .await
            .err()
            .expect("blocked");
        assert_eq!(e.kind, McpErrorKind::Blocked, "{url}: {e}");
    }
    // Credentials in the URL and other schemes are refused before any request.
    for url in [
        "ftp://example.com/mcp",
        "http://user:pw@example.com/mcp",
        "not a url",
        "https://mcp.example.com/mcp?api_key=pw",
        "https://mcp.example.com/mcp?region=eu&token=pw",
    ] {
        let e = McpClient::connect(url, &[], &local(), T)
            .await
            .err()
            .expect("config");
        assert_eq!(e.kind, McpErrorKind::Config, "{url}: {e}");
        assert!(!e.message.contains("pw"), "{e}");
    }
}

#[tokio::test]
async fn every_wait_has_a_timeout() {
    let addr = serve(mcp_double::router(None)).await;
    let url = format!("http://{addr}/mcp");
    let c = McpClient::connect(&url, &[], &local(), T)
        .await
        .expect("connect");
    let started = std::time::Instant::now();
    let e = c
        .call("wait", json!({"seconds": 60}), Duration::from_millis(300))
        .await
        .expect_err("timeout");
    assert_eq!(e.kind, McpErrorKind::Timeout, "{e}");
    assert!(e.transient());
    assert!(started.elapsed() < Duration::from_secs(5));

    // A server that accepts the connection and never answers.
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let silent_addr = silent.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = silent.accept().await {
            held.push(s);
        }
    });
    let e = McpClient::connect(
        &format!("http://{silent_addr}/mcp"),
        &[],
        &local(),
        Duration::from_millis(500),
    )
    .await
    .err()
    .expect("timeout");
    assert_eq!(e.kind, McpErrorKind::Timeout, "{e}");

    // Nothing listening.
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        l.local_addr().expect("addr")
    };
    let e = McpClient::connect(&format!("http://{closed}/mcp"), &[], &local(), T)
        .await
        .err()
        .expect("refused");
    assert_eq!(e.kind, McpErrorKind::Network, "{e}");
    assert!(!e.message.contains(&closed.to_string()), "{e}");
}

#[tokio::test]
async fn a_server_that_is_not_mcp_is_a_protocol_error() {
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(|| async { ([("content-type", "text/html")], "<html>hello</html>") }),
    );
    let addr = serve(app).await;
    let e = McpClient::connect(&format!("http://{addr}/mcp"), &[], &local(), T)
        .await
        .err()
        .expect("not mcp");
    assert_eq!(e.kind, McpErrorKind::Protocol, "{e}");
    let huge = "x".repeat(6 * 1024 * 1024);
    let app = axum::Router::new().route(
        "/mcp",
        axum::routing::post(move || {
            let body = format!("{{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":\"{huge}\"}}");
            async move { ([("content-type", "application/json")], body) }
        }),
    );
    let addr = serve(app).await;
    let e = McpClient::connect(&format!("http://{addr}/mcp"), &[], &local(), T)
        .await
        .err()
        .expect("too large");
    assert_eq!(e.kind, McpErrorKind::Protocol, "{e}");
    assert!(e.message.contains("larger than"), "{e}");
}
