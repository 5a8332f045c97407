//! The template catalogue: seeded templates, instantiating, publishing.

use axum::http::Method;
use saasit_tests::{json, spawn_app, Req};

#[tokio::test]
async fn every_seeded_template_instantiates_into_a_valid_workflow() {
    let app = spawn_app().await;
    let t = app.access_token("tpl@example.com").await;
    sqlx::query("UPDATE workspaces SET tier = 'DESIGNER'")
        .execute(&app.state.db)
        .await
        .expect("tier");
    let page = app
        .send(Req::get("/api/v1/templates").bearer(&t))
        .await
        .expect(200, None);
    let items = page.body["items"].as_array().expect("items").clone();
    assert!(items.len() >= 3, "{}", page.text);
    let names: Vec<&str> = items.iter().filter_map(|i| i["name"].as_str()).collect();
    for needed in ["Code review", "Research report", "Customer-support triage"] {
        assert!(names.contains(&needed), "missing template {needed}");
    }
    for item in &items {
        assert_eq!(item["builtIn"], true);
        let id = item["id"].as_str().expect("id");
        let full = app
            .send(Req::get(&format!("/api/v1/templates/{id}")).bearer(&t))
            .await
            .expect(200, None);
        assert!(full.body["canvas"]["nodes"]
            .as_array()
            .is_some_and(|n| n.len() >= 3));
        let wf = app
            .send(Req::post(&format!("/api/v1/templates/{id}/instantiate")).bearer(&t))
            .await
            .expect(201, None);
        assert_eq!(wf.body["name"], item["name"]);
        assert_eq!(wf.body["status"], "draft");
        assert_eq!(wf.body["canvas"], full.body["canvas"]);
        let wf_id = wf.body["id"].as_str().expect("id");
        let report = app
            .send(Req::post(&format!("/api/v1/workflows/{wf_id}/validate")).bearer(&t))
            .await
            .expect(200, None);
        assert_eq!(
            report.body["valid"], true,
            "template {} is invalid: {}",
            item["name"], report.text
        );
        assert!(
            report.body["issues"].as_array().is_some_and(Vec::is_empty),
            "{}",
            report.text
        );
    }
    let again = app
        .send(Req::get("/api/v1/templates?category=support").bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(again.body["items"][0]["usageCount"], 1);
    assert!(again.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|i| i["category"] == "support"));
}

#[tokio::test]
async fn instantiating_counts_against_the_free_tier() {
    let app = spawn_app().await;
    let t = app.access_token("free-tpl@example.com").await;
    let id = "01930000-0000-7000-8000-000000000101";
    let named = app
        .send(
            Req::post(&format!("/api/v1/templates/{id}/instantiate"))
                .bearer(&t)
                .json(&json!({"name": "My review"})),
        )
        .await
        .expect(201, None);
    assert_eq!(named.body["name"], "My review");
    for _ in 0..2 {
        app.send(Req::post(&format!("/api/v1/templates/{id}/instantiate")).bearer(&t))
            .await
            .expect(201, None);
    }
    app.send(Req::post(&format!("/api/v1/templates/{id}/instantiate")).bearer(&t))
        .await
        .expect(403, Some("TIER_LIMIT"));
    app.send(
        Req::post(&format!("/api/v1/templates/{id}/instantiate"))
            .bearer(&t)
            .json(&json!({"nam": "typo"})),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    app.send(
        Req::post("/api/v1/templates/01930000-0000-7000-8000-0000000009ff/instantiate").bearer(&t),
    )
    .await
    .expect(404, Some("NOT_FOUND"));
}

#[tokio::test]
async fn users_publish_and_withdraw_templates() {
    let app = spawn_app().await;
    let alice = app.access_token("pa@example.com").await;
    let bob = app.access_token("pb@example.com").await;
    let canvas = json!({
        "nodes": [{"id": "start", "type": "trigger"},
                  {"id": "sum", "type": "agent", "config": {"agentId": "01930000-0000-7000-8000-00000000000a", "prompt": "{{inputs.text}}"}},
                  {"id": "out", "type": "output"}],
        "edges": [{"from": "start", "to": "sum"}, {"from": "sum", "to": "out"}]
    });
    let wf = app
        .send(Req::post("/api/v1/workflows").bearer(&alice).json(&json!({"name": "Summarise", "canvas": canvas, "chatHistory": [{"role": "user", "content": "secret plans"}]})))
        .await
        .expect(201, None);
    let wf_id = wf.body["id"].as_str().expect("id").to_owned();

    app.send(
        Req::post("/api/v1/templates")
            .bearer(&bob)
            .json(&json!({"workflowId": wf_id, "category": "writing"})),
    )
    .await
    .expect(404, Some("NOT_FOUND"));
    app.send(
        Req::post("/api/v1/templates")
            .bearer(&alice)
            .json(&json!({"workflowId": wf_id, "category": "poetry"})),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    let published =
        app.send(Req::post("/api/v1/templates").bearer(&alice).json(
            &json!({"workflowId": wf_id, "category": "writing", "description": "Summaries"}),
        ))
        .await
        .expect(201, None);
    assert!(
        !published.text.contains("secret plans"),
        "chat history leaked into the template"
    );
    let tpl = published.body["id"].as_str().expect("id").to_owned();

    let seen = app
        .send(Req::get(&format!("/api/v1/templates/{tpl}")).bearer(&bob))
        .await
        .expect(200, None);
    assert_eq!(seen.body["mine"], false);
    assert_eq!(seen.body["builtIn"], false);
    app.send(Req::post(&format!("/api/v1/templates/{tpl}/instantiate")).bearer(&bob))
        .await
        .expect(201, None);
    app.send(Req::new(Method::DELETE, &format!("/api/v1/templates/{tpl}")).bearer(&bob))
        .await
        .expect(404, Some("NOT_FOUND"));
    app.send(
        Req::new(
            Method::DELETE,
            "/api/v1/templates/01930000-0000-7000-8000-000000000101",
        )
        .bearer(&alice),
    )
    .await
    .expect(403, Some("FORBIDDEN"));
    app.send(Req::new(Method::DELETE, &format!("/api/v1/templates/{tpl}")).bearer(&alice))
        .await
        .expect(204, None);
    app.send(Req::get(&format!("/api/v1/templates/{tpl}")).bearer(&bob))
        .await
        .expect(404, Some("NOT_FOUND"));

    // An invalid graph cannot be published.
    let broken = app
        .send(Req::post("/api/v1/workflows").bearer(&alice).json(&json!({"name": "Broken", "canvas": {"nodes": [{"id": "a", "type": "output"}], "edges": []}})))
        .await
        .expect(201, None);
    let r = app
        .send(
            Req::post("/api/v1/templates")
                .bearer(&alice)
                .json(&json!({"workflowId": broken.body["id"], "category": "other"})),
        )
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    assert_eq!(r.body["error"]["details"]["reason"], "invalid_graph");
}
