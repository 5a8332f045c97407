//! The OpenAPI document is generated from the code: the local stack mounts
//! its public routes from the one list the document is built from
//! (`health::api_routes`), so these tests check what that list cannot: every
//! documented route is routed, no undocumented method answers on a documented
//! path, and every answer a route gives by its shape is declared.

use axum::http::Method;
use saasit_tests::{spawn_app, Req};
use serde_json::Value;

const METHODS: [&str; 5] = ["get", "post", "put", "patch", "delete"];

fn documented(doc: &Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            out.push((method.to_uppercase(), path.clone()));
        }
    }
    out.sort();
    out
}

async fn document() -> (saasit_tests::TestApp, Value) {
    let app = spawn_app().await;
    let doc = app
        .send(Req::get("/api/v1/openapi.json"))
        .await
        .expect(200, None)
        .body;
    (app, doc)
}

#[tokio::test]
async fn every_documented_route_is_routed_and_no_other_method_answers() {
    let (app, doc) = document().await;
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["components"]["securitySchemes"]["bearer"].is_object());
    assert!(doc["components"]["schemas"]["ErrorEnvelope"].is_object());
    let routes = documented(&doc);
    assert!(
        routes.len() >= 40,
        "only {} routes documented",
        routes.len()
    );

    for (method, path) in &routes {
        let res = app
            .send(Req::new(
                Method::from_bytes(method.as_bytes()).expect("method"),
                path,
            ))
            .await;
        assert!(
            res.status != 405 && !(res.status == 404 && res.code() == "NOT_FOUND"),
            "{method} {path} is documented but not routed: {} {}",
            res.status,
            res.text
        );
    }
    // A method the document does not list on a path is not mounted there.
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if item.get(method).is_some() {
                continue;
            }
            let res = app
                .send(Req::new(
                    Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
                    path,
                ))
                .await;
            assert_eq!(
                res.status, 405,
                "{method} {path} is not documented but answers {}",
                res.text
            );
            assert_eq!(res.code(), "METHOD_NOT_ALLOWED");
        }
    }
}

fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
    match v {
        Value::Object(m) => {
            if let Some(Value::String(r)) = m.get("$ref") {
                out.push(r);
            }
            m.values().for_each(|v| refs(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| refs(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn every_schema_the_document_names_is_in_it() {
    let (_app, doc) = document().await;
    let mut names = Vec::new();
    refs(&doc, &mut names);
    assert!(!names.is_empty());
    for r in names {
        let name = r
            .strip_prefix("#/components/schemas/")
            .expect("a schema ref");
        assert!(
            doc["components"]["schemas"].get(name).is_some(),
            "{r} is named but not defined"
        );
    }
}

/// Free-form objects are opened for client generators by a pass over the
/// document that reads it back as utoipa's `OpenApi`: a schema it cannot
/// read (one with a description and no type, say) silently stopped the pass
/// once, and the generated TypeScript client no longer type-checked.
#[tokio::test]
async fn every_free_form_object_is_open() {
    fn walk(v: &Value, path: &str, closed: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                if shared::openapi::is_closed_free_form(map) {
                    closed.push(path.to_owned());
                }
                for (k, v) in map {
                    walk(v, &format!("{path}/{k}"), closed);
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    walk(v, &format!("{path}/{i}"), closed);
                }
            }
            _ => {}
        }
    }
    let (_app, doc) = document().await;
    let mut closed = Vec::new();
    walk(&doc, "", &mut closed);
    assert!(
        closed.is_empty(),
        "free-form objects left closed: {closed:?}"
    );
    let parsed: Result<utoipa::openapi::OpenApi, _> = serde_json::from_value(doc);
    assert!(
        parsed.is_ok(),
        "utoipa cannot read the document back: {:?}",
        parsed.err()
    );
}

#[tokio::test]
async fn every_answer_a_route_gives_by_its_shape_is_declared_with_the_error_envelope() {
    let (_app, doc) = document().await;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let responses = op["responses"].as_object().expect("responses");
            let has = |s: &str| responses.contains_key(s);
            let name = format!("{} {path}", method.to_uppercase());
            let secured = op["security"].as_array().is_some_and(|s| !s.is_empty());
            let has_body = op.get("requestBody").is_some();
            let has_params = op["parameters"].as_array().is_some_and(|p| !p.is_empty());
            if secured {
                assert!(has("401"), "{name}: 401 undeclared");
            }
            if has_body || has_params {
                assert!(has("400"), "{name}: 400 undeclared");
            }
            if has_body {
                assert!(has("413") && has("415"), "{name}: 413/415 undeclared");
            }
            for param in op["parameters"].as_array().into_iter().flatten() {
                let ty = &param["schema"]["type"];
                assert!(
                    !ty.as_array().is_some_and(|t| t.iter().any(|t| t == "null")),
                    "{name}: parameter {} may be null, which a header or query cannot send",
                    param["name"]
                );
            }
            if path != "/api/v1/openapi.json" && path != "/api/docs" {
                assert!(has("503"), "{name}: 503 undeclared");
            }
            assert!(!has("500"), "{name}: a 500 is never part of the contract");
            for (status, response) in responses {
                if status.starts_with('4') || status.starts_with('5') {
                    let schema = &response["content"]["application/json"]["schema"]["$ref"];
                    // The health report answers 503 with its own body.
                    if !path.ends_with("/health") {
                        assert_eq!(
                            schema, "#/components/schemas/ErrorEnvelope",
                            "{name}: {status} is not the error envelope"
                        );
                    }
                }
            }
        }
    }
}

/// API Gateway's routes in template.yaml: (method, path) of every `Type: Api` event.
fn gateway_routes() -> Vec<(String, String)> {
    let template =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../template.yaml"))
            .expect("template.yaml");
    let lines: Vec<&str> = template.lines().map(str::trim).collect();
    lines
        .windows(2)
        .filter_map(|w| {
            let path = w[0].strip_prefix("Path: /")?;
            let method = w[1].strip_prefix("Method: ")?;
            Some((method.to_owned(), format!("/{path}")))
        })
        .collect()
}

#[tokio::test]
async fn api_gateway_sends_every_documented_route_to_a_function() {
    let (_app, doc) = document().await;
    let routes = gateway_routes();
    assert!(routes.len() > 5, "{routes:?}");
    for (method, path) in documented(&doc) {
        let covered = routes.iter().any(|(m, p)| {
            (m == "ANY" || *m == method)
                && match p.strip_suffix("{proxy+}") {
                    Some(prefix) => path.starts_with(prefix) && path.len() > prefix.len(),
                    None => *p == path,
                }
        });
        assert!(
            covered,
            "{method} {path} has no API Gateway route in template.yaml"
        );
    }
}

#[tokio::test]
async fn the_reference_for_people_embeds_the_document() {
    let (app, doc) = document().await;
    let res = app.send(Req::get("/api/docs")).await.expect(200, None);
    assert_eq!(res.header("content-type"), Some("text/html; charset=utf-8"));
    let csp = res.header("content-security-policy").unwrap_or_default();
    assert!(csp.contains("script-src https://cdn.jsdelivr.net"), "{csp}");
    assert!(res.text.contains("@scalar/api-reference"), "{}", res.text);
    let start = res
        .text
        .find("type=\"application/json\">")
        .expect("embedded document")
        + "type=\"application/json\">".len();
    let end = start
        + res.text[start..]
            .find("</script>")
            .expect("end of the document");
    let embedded: Value = serde_json::from_str(res.text[start..end].trim()).expect("JSON");
    assert_eq!(embedded, doc);
}

#[tokio::test]
async fn every_request_body_has_an_example() {
    let (_app, doc) = document().await;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Some(body) = op.get("requestBody") else {
                continue;
            };
            let schema = &body["content"]["application/json"]["schema"];
            let name = schema["$ref"]
                .as_str()
                .or_else(|| {
                    schema["oneOf"]
                        .as_array()
                        .and_then(|v| v.iter().find_map(|s| s["$ref"].as_str()))
                })
                .and_then(|r| r.strip_prefix("#/components/schemas/"))
                .unwrap_or_else(|| {
                    panic!("{method} {path}: the body is not a named schema: {schema}")
                });
            let component = &doc["components"]["schemas"][name];
            assert!(
                component.get("example").is_some() || component.get("examples").is_some(),
                "{} {path}: {name} has no example",
                method.to_uppercase()
            );
        }
    }
}

#[tokio::test]
async fn the_health_lambda_serves_the_codes_document() {
    // The Lambda serves the committed copy (it does not link every handler):
    // it must be the code's document, byte for byte once parsed.
    let committed: Value = serde_json::from_str(health::COMMITTED).expect("committed JSON");
    let generated = serde_json::to_value(health::api_doc()).expect("document");
    assert!(
        committed == generated,
        "functions/health/openapi.json is not the code's document: regenerate it with \
         `cargo run -q -p local -- openapi > functions/health/openapi.json`"
    );
    // And the Lambda's router serves it, with the reference page made from it.
    let app = spawn_app().await;
    let lambda = health::app(app.state.clone());
    let res = tower::ServiceExt::oneshot(
        lambda,
        axum::http::Request::get("/api/v1/openapi.json")
            .body(axum::body::Body::empty())
            .expect("request"),
    )
    .await
    .expect("response");
    assert_eq!(res.status(), 200);
    let body = axum::body::to_bytes(res.into_body(), usize::MAX)
        .await
        .expect("body");
    let served: Value = serde_json::from_slice(&body).expect("json");
    assert_eq!(served, generated);
}

/// Text fields the server parses with a text rule show that rule's pattern,
/// so the document takes no text the server refuses (the fuzzer once sent an
/// API key name holding a C1 control character the schema allowed).
#[tokio::test]
async fn text_fields_show_the_rule_the_server_applies() {
    let (app, doc) = document().await;
    let line = shared::text::line(100).pattern();
    let free = shared::text::text(500).pattern();
    let schemas = &doc["components"]["schemas"];
    assert_eq!(
        schemas["NewApiKey"]["properties"]["name"]["pattern"],
        line.as_str()
    );
    for secret in ["NewSecret", "ReplaceSecret"] {
        assert_eq!(
            schemas[secret]["properties"]["description"]["pattern"],
            free.as_str(),
            "{secret}"
        );
    }
    let (_, token) = app.user("c1@example.com").await;
    app.send(
        Req::post("/api/v1/api-keys")
            .bearer(&token)
            .json(&serde_json::json!({"name": "\u{92}key", "scopes": ["workflows:read"]})),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
}
