//! Inputs the document allows that the database cannot store are the
//! client's error (400 with a stable code), never a 500.

use saasit_tests::{json, spawn_app, Req};

#[tokio::test]
async fn text_with_a_nul_character_is_refused_with_a_validation_error() {
    let app = spawn_app().await;
    let token = app.access_token("nul@example.com").await;
    // A text column (agents.model), a jsonb string (the canvas) and a query
    // parameter compared in SQL.
    let agent = json!({"name": "nul-agent", "displayName": "Nul", "systemPrompt": "p",
                       "model": "a\u{0}b"});
    let res = app
        .send(Req::post("/api/v1/agents").bearer(&token).json(&agent))
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert_eq!(res.code(), "VALIDATION_ERROR");

    let canvas = json!({"nodes": [{"id": "start", "type": "trigger", "config": {"note": "x\u{0}"}}], "edges": []});
    let res = app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&token)
                .json(&json!({"name": "nul", "canvas": canvas})),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert_eq!(res.code(), "VALIDATION_ERROR");

    let res = app
        .send(Req::get("/api/v1/workflows?q=a%00b").bearer(&token))
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    assert_eq!(res.code(), "VALIDATION_ERROR");

    // Nothing was stored on the way.
    let res = app.send(Req::get("/api/v1/workflows").bearer(&token)).await;
    assert_eq!(
        res.body["items"].as_array().map(Vec::len),
        Some(0),
        "{}",
        res.text
    );
}

#[tokio::test]
async fn a_body_that_is_not_a_json_object_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let token = app.access_token("arr@example.com").await;
    let set = app
        .send(
            Req::patch("/api/v1/auth/me")
                .bearer(&token)
                .json(&json!({"avatarUrl": "https://example.com/a.png"})),
        )
        .await;
    assert_eq!(set.status, 200, "{}", set.text);
    // serde reads a struct from a JSON array too: `[null, null]` would be
    // {name: null, avatarUrl: null} and clear the avatar.
    for body in [
        json!([null, null]),
        json!(["x"]),
        json!(null),
        json!(3),
        json!("s"),
    ] {
        let res = app
            .send(Req::patch("/api/v1/auth/me").bearer(&token).json(&body))
            .await;
        assert_eq!(res.status, 400, "{body}: {}", res.text);
        assert_eq!(res.code(), "VALIDATION_ERROR");
    }
    let me = app.send(Req::get("/api/v1/auth/me").bearer(&token)).await;
    assert_eq!(me.body["avatarUrl"], "https://example.com/a.png");
}

#[tokio::test]
async fn the_largest_and_smallest_json_numbers_round_trip_through_the_database() {
    // PostgreSQL keeps jsonb numbers as exact decimals and writes
    // 1.7976931348623157e308 back as a 309-digit integer; reading that back
    // must give the same number, not a 500 ("number out of range").
    let app = spawn_app().await;
    let token = app.access_token("numbers@example.com").await;
    let numbers = json!([
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        2.101132659570722e16,
        u64::MAX,
        i64::MIN
    ]);
    let res = app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&token)
                .json(&json!({"name": "numbers", "settings": {"n": numbers}})),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let id = res.body["id"].as_str().unwrap_or_default().to_owned();
    let res = app
        .send(Req::get(&format!("/api/v1/workflows/{id}")).bearer(&token))
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    // JSON has one number type: 2.101132659570722e16 may come back written
    // as the integer it is. The values are the same.
    let back: Vec<f64> = res.body["settings"]["n"]
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    let sent: Vec<f64> = numbers
        .as_array()
        .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
        .unwrap_or_default();
    assert_eq!(back, sent, "{}", res.text);
    assert_eq!(back.len(), 7);
}

#[tokio::test]
async fn text_rules_are_the_documented_patterns() {
    let app = spawn_app().await;
    let token = app.access_token("text@example.com").await;
    let create =
        |body: serde_json::Value| Req::post("/api/v1/workflows").bearer(&token).json(&body);
    // Spaces around a name are dropped; only spaces is no name; a tab or a
    // line break is not part of a one-line name.
    let res = app.send(create(json!({"name": "  Report  "}))).await;
    assert_eq!(res.status, 201, "{}", res.text);
    assert_eq!(res.body["name"], "Report");
    for bad in ["   ", "a\tb", "line\nbreak", "\u{85}x"] {
        let res = app.send(create(json!({"name": bad}))).await;
        assert_eq!(res.status, 400, "{bad:?}: {}", res.text);
        assert_eq!(res.code(), "VALIDATION_ERROR");
    }
    // 200 characters is the limit, counted as the document counts them.
    let res = app.send(create(json!({"name": "é".repeat(200)}))).await;
    assert_eq!(res.status, 201, "{}", res.text);
    let res = app.send(create(json!({"name": "é".repeat(201)}))).await;
    assert_eq!(res.status, 400, "{}", res.text);
    // Tags: no commas, no empty ones.
    let res = app
        .send(create(json!({"name": "t", "tags": ["a,b"]})))
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    let res = app.send(create(json!({"name": "t", "tags": [""]}))).await;
    assert_eq!(res.status, 400, "{}", res.text);
}

#[tokio::test]
async fn integers_written_with_a_zero_fraction_are_integers() {
    // JSON Schema's `integer` is any number without a fraction: 1.0 is 1.
    let app = spawn_app().await;
    let token = app.access_token("whole@example.com").await;
    let res = app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&token)
                .json(&json!({"name": "w"})),
        )
        .await;
    let path = format!(
        "/api/v1/workflows/{}",
        res.body["id"].as_str().unwrap_or_default()
    );
    let res = app
        .send(
            Req::patch(&path)
                .bearer(&token)
                .json(&json!({"baseVersion": 1.0, "name": "w2"})),
        )
        .await;
    assert_eq!(res.status, 200, "{}", res.text);
    assert_eq!(res.body["version"], 2);
    let res = app
        .send(
            Req::patch(&path)
                .bearer(&token)
                .json(&json!({"baseVersion": 2.5, "name": "w3"})),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
    // If-Match and baseVersion naming different versions: one is stale.
    let res = app
        .send(
            Req::patch(&path)
                .bearer(&token)
                .header("if-match", "\"2\"")
                .json(&json!({"baseVersion": 1, "name": "w4"})),
        )
        .await;
    assert_eq!(res.status, 409, "{}", res.text);
    assert_eq!(res.code(), "CONFLICT");
}

#[tokio::test]
async fn every_cursor_of_the_documented_pattern_is_a_page() {
    let app = spawn_app().await;
    let token = app.access_token("cursor@example.com").await;
    for cursor in ["A".repeat(32), "_".repeat(32), "-".repeat(32)] {
        let res = app
            .send(Req::get(&format!("/api/v1/workflows?cursor={cursor}")).bearer(&token))
            .await;
        assert_eq!(res.status, 200, "{cursor}: {}", res.text);
    }
    let res = app
        .send(Req::get("/api/v1/workflows?cursor=").bearer(&token))
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
}

#[tokio::test]
async fn an_optional_body_may_be_null() {
    let app = spawn_app().await;
    let token = app.access_token("nullbody@example.com").await;
    let res = app.send(Req::get("/api/v1/templates").bearer(&token)).await;
    let id = res.body["items"][0]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let path = format!("/api/v1/templates/{id}/instantiate");
    let res = app
        .send(
            Req::post(&path)
                .bearer(&token)
                .raw(Some("application/json"), "null"),
        )
        .await;
    assert_eq!(res.status, 201, "{}", res.text);
    let res = app
        .send(
            Req::post(&path)
                .bearer(&token)
                .raw(Some("application/json"), "[]"),
        )
        .await;
    assert_eq!(res.status, 400, "{}", res.text);
}
