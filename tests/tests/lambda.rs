//! The Lambda transport: an API Gateway REST event, as `lambda_http` turns it
//! into a request, goes through the same router. The client IP used for login
//! throttling comes from the gateway's request context, not from headers, and
//! the stage never reaches the router when AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH is set.

use http_body_util::BodyExt;
use saasit_tests::{json, spawn_app};
use tower::ServiceExt;

fn rest_event(method: &str, path: &str, source_ip: &str, body: &serde_json::Value) -> String {
    json!({
        "resource": "/api/v1/auth/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": {
            "Host": "abc123.execute-api.eu-west-1.amazonaws.com",
            "Content-Type": "application/json",
            "X-Forwarded-For": "203.0.113.250"
        },
        "requestContext": {
            "accountId": "123456789012",
            "resourceId": "r1",
            "stage": "prod",
            "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
            "identity": { "sourceIp": source_ip },
            "resourcePath": "/api/v1/auth/{proxy+}",
            "httpMethod": method,
            "apiId": "abc123"
        },
        "body": body.to_string(),
        "isBase64Encoded": false
    })
    .to_string()
}

#[tokio::test]
async fn api_gateway_events_reach_the_same_router() {
    let app = spawn_app().await;
    app.register("lambda@example.com", "correct horse 9").await;
    let wrong = json!({ "email": "lambda@example.com", "password": "wrong pass 1" });

    // As deployed: the template sets this, so "/prod" is not prefixed.
    std::env::set_var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH", "true");
    let event = rest_event("POST", "/api/v1/auth/login", "198.51.100.7", &wrong);
    let request = lambda_http::request::from_str(&event).expect("a REST API event");
    std::env::remove_var("AWS_LAMBDA_HTTP_IGNORE_STAGE_IN_PATH");
    assert_eq!(request.uri().path(), "/api/v1/auth/login");

    let res = app
        .router
        .clone()
        .oneshot(request)
        .await
        .expect("infallible");
    assert_eq!(res.status(), 401);
    assert!(res.headers().contains_key("x-request-id"));
    let body: serde_json::Value =
        serde_json::from_slice(&res.into_body().collect().await.expect("body").to_bytes())
            .expect("json");
    assert_eq!(body["error"]["code"], "INVALID_CREDENTIALS");

    // The attempt was counted against the gateway's source IP, not X-Forwarded-For
    // (the other row is the sign-in `register` made, from the test's own address).
    let subjects: Vec<String> =
        sqlx::query_scalar("SELECT subject FROM rate_counters WHERE bucket = 'login_ip'")
            .fetch_all(&app.state.db)
            .await
            .expect("query");
    assert!(subjects.contains(&shared::ratelimit::subject_key(
        &app.state.tokens,
        "198.51.100.7"
    )));
    assert!(!subjects.contains(&shared::ratelimit::subject_key(
        &app.state.tokens,
        "203.0.113.250"
    )));
    assert_eq!(subjects.len(), 2, "{subjects:?}");
}

/// A push port that keeps the frames it was given.
#[derive(Default)]
struct Frames(std::sync::Mutex<Vec<(String, String)>>);

impl shared::realtime::Pusher for Frames {
    fn push(
        &self,
        connection_id: String,
        frame: String,
    ) -> shared::future::BoxFuture<'_, Result<(), shared::realtime::PushError>> {
        self.0.lock().expect("frames").push((connection_id, frame));
        Box::pin(async { Ok(()) })
    }

    fn close(
        &self,
        _: String,
        _: shared::realtime::CloseReason,
    ) -> shared::future::BoxFuture<'_, Result<(), shared::realtime::PushError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The WebSocket API's `chat` route invokes the agents function: its
/// MESSAGE event, as `lambda_http` turns it into a request, reaches the
/// chat action (which answers the connection through the push port), while
/// other requests still reach the routes.
#[tokio::test]
async fn a_websocket_chat_event_reaches_the_agents_function() {
    use std::sync::Arc;
    let app = spawn_app().await;
    let frames = Arc::new(Frames::default());
    let rt = Arc::new(shared::realtime::Realtime::new(
        Arc::new(shared::realtime::memory::MemoryConnections::default()),
        frames.clone(),
    ));
    let router =
        agents::chat_ws::serve_socket_events(agents::app(app.state.clone()), app.state.clone(), rt);
    let frame = json!({"action": "chat", "workflowId": uuid::Uuid::now_v7(), "message": "hi", "requestId": "r-9"});
    let event = json!({
        "requestContext": {
            "routeKey": "chat", "eventType": "MESSAGE", "messageDirection": "IN",
            "messageId": "abc", "extendedRequestId": "abc", "requestTime": "01/Dec/2026:05:00:00 +0000",
            "stage": "prod", "connectedAt": 1_796_000_000_000_i64, "requestTimeEpoch": 1_796_000_000_100_i64,
            "identity": {"sourceIp": "198.51.100.7"}, "requestId": "abc", "domainName": "ws.example.com",
            "connectionId": "conn-1=", "apiId": "ws123"
        },
        "body": frame.to_string(),
        "isBase64Encoded": false
    })
    .to_string();
    let request = lambda_http::request::from_str(&event).expect("a WebSocket event");
    let res = router.clone().oneshot(request).await.expect("infallible");
    assert_eq!(res.status(), 200);
    let pushed = frames.0.lock().expect("frames").clone();
    assert_eq!(pushed.len(), 1, "{pushed:?}");
    assert_eq!(pushed[0].0, "conn-1=");
    let answer: serde_json::Value = serde_json::from_str(&pushed[0].1).expect("json");
    // Not a connection the store knows: answered on the socket, with the request's id.
    assert_eq!(answer["code"], "UNAUTHORIZED", "{answer}");
    assert_eq!(answer["requestId"], "r-9");

    // Any other request goes on to the routes.
    let other = axum::http::Request::get("/api/v1/agents")
        .body(axum::body::Body::empty())
        .expect("request");
    let res = router.oneshot(other).await.expect("infallible");
    assert_eq!(res.status(), 401);
}
