//! The tools API outside workflows: a chat with the workspace's model (the
//! dev provider, a fake Anthropic API for the platform's key, a fake
//! OpenAI-compatible API for a workspace's own key), web search through a
//! fake SearXNG, web read behind the address guard, and the per-user limit.

use axum::{
    http::{HeaderMap, StatusCode},
    response::IntoResponse,
    routing::{get, post},
    Json, Router,
};
use saasit_tests::{json, serve, spawn_app_with, Req, TestApp};
use serde_json::Value;

async fn user(app: &TestApp, email: &str, tier: &str) -> String {
    let (_, token) = app.user(email).await;
    sqlx::query(
        "UPDATE workspaces SET tier = $1 WHERE id = (SELECT id FROM users WHERE email = $2)",
    )
    .bind(tier)
    .bind(email)
    .execute(&app.state.db)
    .await
    .expect("tier");
    token
}

async fn chat(app: &TestApp, t: &str, body: Value) -> saasit_tests::TestResponse {
    app.send(Req::post("/api/v1/tools/ai/chat").bearer(t).json(&body))
        .await
}

/// A fake Anthropic Messages API (JSON answers): model `busy` is rate-limited.
async fn anthropic() -> String {
    let app = Router::new().route(
        "/v1/messages",
        post(|headers: HeaderMap, Json(body): Json<Value>| async move {
            if headers.get("x-api-key").and_then(|v| v.to_str().ok()) != Some("platform-key") {
                return (StatusCode::UNAUTHORIZED, Json(json!({"type": "error"}))).into_response();
            }
            if body["model"] == "busy" {
                return (
                    StatusCode::TOO_MANY_REQUESTS,
                    [("retry-after", "7")],
                    Json(json!({"type": "error", "error": {"type": "rate_limit_error", "message": "slow down"}})),
                )
                    .into_response();
            }
            let turns = body["messages"].as_array().map_or(0, Vec::len);
            let last = body["messages"][turns - 1]["content"].as_str().unwrap_or_default().to_owned();
            Json(json!({
                "id": "msg", "type": "message", "role": "assistant", "model": body["model"],
                "content": [{"type": "text", "text": format!("{turns} messages; last: {last}")}],
                "stop_reason": "end_turn", "usage": {"input_tokens": 12, "output_tokens": 5}
            }))
            .into_response()
        }),
    );
    serve(app).await
}

/// A fake OpenAI-compatible API: a workspace's own key.
async fn openai() -> String {
    let app = Router::new().route(
        "/v1/chat/completions",
        post(|headers: HeaderMap, Json(body): Json<Value>| async move {
            if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer own-key")
            {
                return (StatusCode::UNAUTHORIZED, Json(json!({"error": {}}))).into_response();
            }
            Json(json!({
                "id": "c", "model": body["model"],
                "choices": [{"index": 0, "finish_reason": "stop",
                             "message": {"role": "assistant", "content": "own key answered"}}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 2}
            }))
            .into_response()
        }),
    );
    format!("{}/v1", serve(app).await)
}

#[tokio::test]
async fn a_chat_goes_to_the_workspaces_model() {
    let llm = anthropic().await;
    let app = spawn_app_with(&[
        ("LLM_PROVIDER", "anthropic"),
        ("LLM_API_KEY", "platform-key"),
        ("LLM_BASE_URL", &llm),
        ("OUTBOUND_HTTP_ALLOW", "127.0.0.1"),
    ])
    .await;
    let t = user(&app, "chat@example.com", "PROFESSIONAL").await;
    let answer = chat(
        &app,
        &t,
        json!({"messages": [
            {"role": "user", "content": "Hello"},
            {"role": "assistant", "content": "Hi!"},
            {"role": "user", "content": "Three uses of a queue?"}
        ], "maxTokens": 100}),
    )
    .await
    .expect(200, None)
    .body;
    assert_eq!(answer["provider"], "anthropic");
    assert_eq!(answer["text"], "3 messages; last: Three uses of a queue?");
    assert_eq!(
        answer["usage"],
        json!({"inputTokens": 12, "outputTokens": 5})
    );
    // Charged to the workspace like a run's calls: its tokens this month, the call by model.
    let (tokens, calls): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count FROM usage_metrics WHERE workspace_id = u.id AND metric = 'llm_tokens'),
                (SELECT sum(calls)::bigint FROM workspace_model_hours WHERE workspace_id = u.id)
           FROM users u WHERE u.email = 'chat@example.com'",
    )
    .fetch_one(&app.state.db)
    .await
    .expect("usage");
    assert_eq!((tokens, calls), (17, 1));
    // The provider's 429 is the other side's failure, and says when to come back.
    let busy = chat(
        &app,
        &t,
        json!({"messages": [{"role": "user", "content": "hi"}], "model": "busy"}),
    )
    .await
    .expect(502, Some("UPSTREAM_ERROR"));
    assert_eq!(
        busy.headers
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("7")
    );
    assert_eq!(busy.body["error"]["details"]["retryable"], true);
    // Bad conversations are refused before any call.
    for bad in [
        json!({"messages": []}),
        json!({"messages": [{"role": "assistant", "content": "hi"}]}),
        json!({"messages": [{"role": "user", "content": "a"}, {"role": "user", "content": "b"}]}),
        json!({"messages": [{"role": "user", "content": "  "}]}),
        json!({"messages": [{"role": "user", "content": "a"}], "maxTokens": 0}),
        json!({"messages": [{"role": "user", "content": "a"}], "extra": 1}),
    ] {
        chat(&app, &t, bad)
            .await
            .expect(400, Some("VALIDATION_ERROR"));
    }
    // STARTER runs agents on the workspace's own key: none stored, refused;
    // stored in the vault, it is what answers.
    let own = openai().await;
    let s = user(&app, "chat-starter@example.com", "STARTER").await;
    let refused = chat(
        &app,
        &s,
        json!({"messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .expect(403, Some("TIER_LIMIT"));
    assert_eq!(refused.body["error"]["details"]["limit"], "platform model");
    let ws = app
        .send(Req::get("/api/v1/workspaces").bearer(&s))
        .await
        .expect(200, None)
        .body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    for (name, value) in [
        ("OPENAI_API_KEY", "own-key"),
        ("OPENAI_BASE_URL", own.as_str()),
    ] {
        app.send(
            Req::post(&format!("/api/v1/workspaces/{ws}/secrets"))
                .bearer(&s)
                .json(&json!({"name": name, "value": value})),
        )
        .await
        .expect(201, None);
    }
    let answered = chat(
        &app,
        &s,
        json!({"messages": [{"role": "user", "content": "hi"}]}),
    )
    .await
    .expect(200, None)
    .body;
    assert_eq!(answered["provider"], "openai");
    assert_eq!(answered["text"], "own key answered");
    assert!(!answered.to_string().contains("own-key"));
}

#[tokio::test]
async fn search_read_and_the_limit() {
    let site = serve(
        Router::new()
            .route(
                "/page",
                get(|| async {
                    (
                        [("content-type", "text/html")],
                        "<html><body><h1>Queues</h1><p>They decouple.</p><script>hidden()</script></body></html>",
                    )
                }),
            )
            .route(
                "/search",
                get(|| async {
                    Json(json!({"results": [
                        {"title": "Queues", "url": "https://example.com/q", "content": "They decouple."}
                    ]}))
                }),
            ),
    )
    .await;
    let app = spawn_app_with(&[
        ("OUTBOUND_HTTP_ALLOW", "127.0.0.1"),
        ("WEB_SEARCH_PROVIDER", "searxng"),
        ("WEB_SEARCH_URL", &site),
        ("RATE_LIMIT_TOOLS", "5/1h"),
    ])
    .await;
    let t = user(&app, "web@example.com", "STARTER").await;
    let found = app
        .send(
            Req::post("/api/v1/tools/web/search")
                .bearer(&t)
                .json(&json!({"query": "queues", "count": 3})),
        )
        .await
        .expect(200, None)
        .body;
    assert_eq!(found["results"][0]["title"], "Queues");
    assert_eq!(found["results"][0]["snippet"], "They decouple.");
    let page = app
        .send(
            Req::post("/api/v1/tools/web/read")
                .bearer(&t)
                .json(&json!({"url": format!("{site}/page")})),
        )
        .await
        .expect(200, None)
        .body;
    let text = page["text"].as_str().expect("text");
    assert!(text.contains("They decouple."), "{text}");
    assert!(!text.contains("hidden"), "{text}");
    // A page that is not there is the other side's failure.
    let gone = app
        .send(
            Req::post("/api/v1/tools/web/read")
                .bearer(&t)
                .json(&json!({"url": format!("{site}/missing")})),
        )
        .await
        .expect(502, Some("UPSTREAM_ERROR"));
    assert_eq!(
        gone.body["error"]["details"]["retryable"], false,
        "{}",
        gone.body
    );
    // A private address the allow-list does not name: refused before any request.
    app.send(
        Req::post("/api/v1/tools/web/read")
            .bearer(&t)
            .json(&json!({"url": "http://169.254.169.254/latest/meta-data"})),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    // The fifth call of the hour is the last.
    app.send(
        Req::post("/api/v1/tools/web/search")
            .bearer(&t)
            .json(&json!({"query": "more"})),
    )
    .await
    .expect(200, None);
    let limited = app
        .send(
            Req::post("/api/v1/tools/web/search")
                .bearer(&t)
                .json(&json!({"query": "more"})),
        )
        .await
        .expect(429, Some("RATE_LIMITED"));
    assert!(limited.headers.get("retry-after").is_some());
    // Another user has their own count.
    let other = user(&app, "web-other@example.com", "STARTER").await;
    app.send(
        Req::post("/api/v1/tools/web/search")
            .bearer(&other)
            .json(&json!({"query": "queues"})),
    )
    .await
    .expect(200, None);
}

#[tokio::test]
async fn without_search_or_a_model_the_answer_says_so() {
    let app = spawn_app_with(&[]).await;
    let t = user(&app, "plain@example.com", "PROFESSIONAL").await;
    let none = app
        .send(
            Req::post("/api/v1/tools/web/search")
                .bearer(&t)
                .json(&json!({"query": "queues"})),
        )
        .await
        .expect(503, Some("SERVICE_UNAVAILABLE"));
    assert!(
        none.body.to_string().contains("not configured"),
        "{}",
        none.body
    );
    // Nothing configured at all (local development): the dev provider, which says so.
    let dev = chat(
        &app,
        &t,
        json!({"messages": [{"role": "user", "content": "ping"}]}),
    )
    .await
    .expect(200, None)
    .body;
    assert_eq!(dev["provider"], "dev");
    assert!(dev["text"].as_str().expect("text").contains("ping"));
}
