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
