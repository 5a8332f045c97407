//! The OpenAPI document is generated from the code and covers every mounted route.

use axum::http::Method;
use saasit_tests::{spawn_app, Req};

/// Every route the local stack mounts. Adding a route means adding it here,
/// and the test then fails until it is documented too.
const MOUNTED: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/api/v1/health"),
    ("GET", "/api/v1/openapi.json"),
    ("POST", "/api/v1/auth/register"),
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/refresh"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/auth/me"),
    ("PATCH", "/api/v1/auth/me"),
    ("POST", "/api/v1/workflows"),
    ("GET", "/api/v1/workflows"),
    ("GET", "/api/v1/workflows/{id}"),
    ("PATCH", "/api/v1/workflows/{id}"),
    ("DELETE", "/api/v1/workflows/{id}"),
    ("POST", "/api/v1/workflows/{id}/restore"),
    ("GET", "/api/v1/workflows/{id}/versions"),
    ("GET", "/api/v1/workflows/{id}/versions/{version}"),
    ("POST", "/api/v1/workflows/{id}/versions/{version}/restore"),
    ("POST", "/api/v1/workflows/{id}/duplicate"),
    ("PATCH", "/api/v1/workflows/{id}/status"),
    ("POST", "/api/v1/workflows/{id}/validate"),
    ("GET", "/api/v1/templates"),
    ("POST", "/api/v1/templates"),
    ("GET", "/api/v1/templates/{id}"),
    ("DELETE", "/api/v1/templates/{id}"),
    ("POST", "/api/v1/templates/{id}/instantiate"),
    ("GET", "/api/v1/agents"),
    ("POST", "/api/v1/agents"),
    ("GET", "/api/v1/agents/{id}"),
    ("PATCH", "/api/v1/agents/{id}"),
    ("DELETE", "/api/v1/agents/{id}"),
    ("POST", "/api/v1/executions"),
    ("GET", "/api/v1/executions"),
    ("POST", "/api/v1/workflows/{id}/execute"),
    ("GET", "/api/v1/executions/{id}"),
    ("GET", "/api/v1/executions/{id}/logs"),
    ("GET", "/api/v1/executions/{id}/nodes"),
    ("GET", "/api/v1/executions/{id}/artifacts"),
    ("POST", "/api/v1/executions/{id}/cancel"),
    ("POST", "/api/v1/executions/{id}/retry"),
];

fn documented(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.push((method.to_uppercase(), path.clone()));
        }
    }
    out.sort();
    out
}

#[tokio::test]
async fn document_lists_exactly_the_mounted_routes() {
    let app = spawn_app().await;
    let doc = app
        .send(Req::get("/api/v1/openapi.json"))
        .await
        .expect(200, None)
        .body;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());

    let mut mounted: Vec<(String, String)> = MOUNTED
        .iter()
        .map(|(m, p)| ((*m).into(), (*p).into()))
        .collect();
    mounted.sort();
    assert_eq!(
        documented(&doc),
        mounted,
        "documented routes differ from mounted routes"
    );

    // And each documented route really is routed (not the 404 fallback, not 405).
    for (method, path) in documented(&doc) {
        let res = app
            .send(Req::new(
                Method::from_bytes(method.as_bytes()).expect("method"),
                &path,
            ))
            .await;
        assert!(
            res.status != 405 && !(res.status == 404 && res.code() == "NOT_FOUND"),
            "{method} {path} is documented but not routed: {} {}",
            res.status,
            res.text
        );
    }
}
