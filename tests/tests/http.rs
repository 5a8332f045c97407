//! The common HTTP layers: error shape, request ids, security headers, CORS,
//! body limits, unknown routes and methods, and the database being down.

use axum::http::Method;
use saasit_tests::{json, send, spawn_app, test_settings, Req};
use shared::AppState;

#[tokio::test]
async fn malformed_bodies_get_the_same_error_shape() {
    let app = spawn_app().await;
    let path = "/api/v1/auth/register";

    let syntax = app
        .send(Req::post(path).raw(Some("application/json"), "{\"email\": "))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    assert_eq!(syntax.body["error"]["details"]["reason"], "malformed_json");

    let wrong_type = app
        .send(Req::post(path).json(&json!({ "email": 42, "password": "correct horse 9" })))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    assert_eq!(
        wrong_type.body["error"]["details"]["reason"],
        "invalid_body"
    );

    let missing = app
        .send(Req::post(path).json(&json!({ "email": "a@example.com" })))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    assert!(missing.body["error"]["details"]["detail"]
        .as_str()
        .is_some_and(|d| d.contains("password")));

    app.send(
        Req::post(path).json(
            &json!({ "email": "a@example.com", "password": "correct horse 9", "admin": true }),
        ),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));

    app.send(Req::post(path).raw(
        None,
        r#"{"email":"a@example.com","password":"correct horse 9"}"#,
    ))
    .await
    .expect(415, Some("UNSUPPORTED_MEDIA_TYPE"));

    let huge = format!(
        r#"{{"email":"a@example.com","password":"{}"}}"#,
        "x".repeat(2 * 1024 * 1024)
    );
    app.send(Req::post(path).raw(Some("application/json"), huge))
        .await
        .expect(413, Some("PAYLOAD_TOO_LARGE"));

    // Nothing was stored by any of these.
    let users: i64 = sqlx::query_scalar("SELECT count(*) FROM users")
        .fetch_one(&app.state.db)
        .await
        .expect("count");
    assert_eq!(users, 0);
}

#[tokio::test]
async fn unknown_routes_and_methods_are_json_errors() {
    let app = spawn_app().await;
    app.send(Req::get("/api/v1/nope"))
        .await
        .expect(404, Some("NOT_FOUND"));
    let wrong_method = app
        .send(Req::new(Method::DELETE, "/api/v1/auth/login"))
        .await
        .expect(405, Some("METHOD_NOT_ALLOWED"));
    assert!(wrong_method
        .header("allow")
        .is_some_and(|a| a.contains("POST")));
}

#[tokio::test]
async fn every_response_has_a_request_id_and_security_headers() {
    let app = spawn_app().await;
    let ok = app.send(Req::get("/health")).await.expect(200, None);
    let id = ok.header("x-request-id").expect("request id");
    assert_eq!(
        uuid::Uuid::parse_str(id).expect("uuid").get_version_num(),
        7
    );
    assert_eq!(ok.header("x-content-type-options"), Some("nosniff"));
    assert_eq!(ok.header("x-frame-options"), Some("DENY"));
    assert!(ok.header("strict-transport-security").is_some());
    assert!(ok.header("content-security-policy").is_some());

    let err = app
        .send(Req::get("/api/v1/auth/me").header("x-request-id", "client-supplied-42"))
        .await
        .expect(401, Some("UNAUTHORIZED"));
    assert_eq!(err.header("x-request-id"), Some("client-supplied-42"));
    assert_eq!(err.body["requestId"], "client-supplied-42");

    // An id that could inject into logs is replaced.
    let replaced = app
        .send(Req::get("/health").header("x-request-id", "bad id\" with spaces"))
        .await;
    assert_ne!(
        replaced.header("x-request-id"),
        Some("bad id\" with spaces")
    );
}

#[tokio::test]
async fn cors_allows_only_listed_origins() {
    let app = spawn_app().await;
    let preflight = |origin: &'static str| {
        Req::new(Method::OPTIONS, "/api/v1/auth/login")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type")
    };
    let allowed = app.send(preflight("https://app.example.com")).await;
    assert_eq!(
        allowed.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let denied = app.send(preflight("https://evil.example.net")).await;
    assert_eq!(denied.header("access-control-allow-origin"), None);
}

#[tokio::test]
async fn database_down_means_503_json_not_a_hang() {
    // A pool pointed at a port where nothing listens.
    let (mut settings, _) = test_settings("postgres://postgres@127.0.0.1:9/none", &[]);
    settings.database.acquire_timeout = std::time::Duration::from_millis(500);
    let pool = shared::db::pool(&settings.database).expect("pool");
    let router = local::app(AppState::new(settings, pool));

    let health = send(&router, Req::get("/health")).await;
    assert_eq!(health.status.as_u16(), 503, "{}", health.text);
    assert_eq!(health.body["status"], "unavailable");
    assert_eq!(health.body["checks"]["database"]["status"], "down");

    let login = send(
        &router,
        Req::post("/api/v1/auth/login")
            .json(&json!({ "email": "a@example.com", "password": "correct horse 9" })),
    )
    .await
    .expect(503, Some("SERVICE_UNAVAILABLE"));
    assert_eq!(login.header("retry-after"), Some("5"));
    assert!(
        !login.text.contains("127.0.0.1:9"),
        "internals leaked: {}",
        login.text
    );
}

#[tokio::test]
async fn health_reports_the_database() {
    let app = spawn_app().await;
    for path in ["/health", "/api/v1/health"] {
        let h = app.send(Req::get(path)).await.expect(200, None);
        assert_eq!(h.body["status"], "ok");
        assert_eq!(h.body["checks"]["database"]["status"], "up");
        assert!(h.body["checks"]["database"]["latencyMs"].is_number());
    }
}
