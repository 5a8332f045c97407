//! The agents API: the built-in catalogue, custom agents, visibility.

use axum::http::Method;
use saasit_tests::{json, spawn_app, Req};
use serde_json::Value;

fn reviewer() -> Value {
    json!({
        "name": "rust-reviewer", "displayName": "Rust Reviewer", "category": "engineering",
        "description": "Reviews Rust code", "avatar": "🦀", "skills": ["rust", "ownership"],
        "tools": [], "systemPrompt": "You review Rust code for soundness.", "model": "claude-sonnet"
    })
}

#[tokio::test]
async fn the_builtin_catalogue_is_real() {
    let app = spawn_app().await;
    let t = app.access_token("cat@example.com").await;
    let page = app
        .send(Req::get("/api/v1/agents?scope=builtin&limit=100").bearer(&t))
        .await
        .expect(200, None);
    let items = page.body["items"].as_array().expect("items");
    assert!(items.len() >= 12, "{} built-in agents", items.len());
    let mut categories: Vec<&str> = items
        .iter()
        .filter_map(|a| a["category"].as_str())
        .collect();
    categories.sort_unstable();
    categories.dedup();
    for needed in ["data", "engineering", "operations", "research", "writing"] {
        assert!(categories.contains(&needed), "no {needed} agent");
    }
    for a in items {
        assert_eq!(a["builtIn"], true);
        assert!(
            a["systemPrompt"].as_str().is_some_and(|p| p.len() > 80),
            "{a}"
        );
        assert!(a["skills"].as_array().is_some_and(|s| !s.is_empty()), "{a}");
    }
    let research = app
        .send(Req::get("/api/v1/agents?category=research").bearer(&t))
        .await
        .expect(200, None);
    assert!(research.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|a| a["category"] == "research"));
    let sql = app
        .send(Req::get("/api/v1/agents?q=postgresql").bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(sql.body["items"][0]["name"], "sql-expert");
}

#[tokio::test]
async fn custom_agents_crud_and_visibility() {
    let app = spawn_app().await;
    let alice = app.access_token("alice@example.com").await;
    let bob = app.access_token("bob@example.com").await;

    let created = app
        .send(Req::post("/api/v1/agents").bearer(&alice).json(&reviewer()))
        .await
        .expect(201, None);
    assert_eq!(created.body["mine"], true);
    assert_eq!(created.body["builtIn"], false);
    assert_eq!(created.body["isPublic"], false);
    let id = created.body["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/agents/{id}");

    let mine = app
        .send(Req::get("/api/v1/agents?scope=mine").bearer(&alice))
        .await
        .expect(200, None);
    assert_eq!(mine.body["total"], 1);
    let all = app
        .send(Req::get("/api/v1/agents?q=ownership").bearer(&alice))
        .await
        .expect(200, None);
    assert_eq!(all.body["items"][0]["id"], id.as_str());

    // Private: invisible to Bob, and 404 rather than 403.
    for req in [
        Req::get(&path),
        Req::patch(&path).json(&json!({"description": "mine"})),
        Req::new(Method::DELETE, &path),
    ] {
        app.send(req.bearer(&bob))
            .await
            .expect(404, Some("NOT_FOUND"));
    }
    let bobs = app
        .send(Req::get("/api/v1/agents?q=ownership").bearer(&bob))
        .await
        .expect(200, None);
    assert_eq!(bobs.body["total"], 0);

    // Public: Bob can see and use it, not change it.
    let public = app
        .send(
            Req::patch(&path)
                .bearer(&alice)
                .json(&json!({"isPublic": true, "model": null, "displayName": "Rust Reviewer 2"})),
        )
        .await
        .expect(200, None);
    assert_eq!(public.body["model"], Value::Null);
    assert_eq!(public.body["displayName"], "Rust Reviewer 2");
    assert_eq!(
        public.body["skills"],
        json!(["rust", "ownership"]),
        "untouched fields are kept"
    );
    let seen = app
        .send(Req::get(&path).bearer(&bob))
        .await
        .expect(200, None);
    assert_eq!(seen.body["mine"], false);
    let community = app
        .send(Req::get("/api/v1/agents?scope=community").bearer(&bob))
        .await
        .expect(200, None);
    assert_eq!(community.body["total"], 1);
    // Changing someone else's agent is "not found", never 403.
    app.send(
        Req::patch(&path)
            .bearer(&bob)
            .json(&json!({"description": "hijack"})),
    )
    .await
    .expect(404, Some("NOT_FOUND"));
    app.send(Req::new(Method::DELETE, &path).bearer(&bob))
        .await
        .expect(404, Some("NOT_FOUND"));
    app.send(Req::get(&path).bearer(&alice))
        .await
        .expect(200, None);

    // Built-in agents are read-only.
    let builtin = "/api/v1/agents/01930000-0000-7000-8000-000000000001";
    app.send(Req::get(builtin).bearer(&bob))
        .await
        .expect(200, None);
    app.send(
        Req::patch(builtin)
            .bearer(&bob)
            .json(&json!({"description": "x"})),
    )
    .await
    .expect(403, Some("FORBIDDEN"));
    app.send(Req::new(Method::DELETE, builtin).bearer(&bob))
        .await
        .expect(403, Some("FORBIDDEN"));

    app.send(Req::new(Method::DELETE, &path).bearer(&alice))
        .await
        .expect(204, None);
    app.send(Req::get(&path).bearer(&alice))
        .await
        .expect(404, Some("NOT_FOUND"));
}

#[tokio::test]
async fn bad_agents_are_refused() {
    let app = spawn_app().await;
    let t = app.access_token("bad-agents@example.com").await;
    let missing = app
        .send(
            Req::post("/api/v1/agents")
                .bearer(&t)
                .json(&json!({"category": "data"})),
        )
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    assert_eq!(
        missing.body["error"]["details"]["fields"]
            .as_array()
            .map(Vec::len),
        Some(3)
    );
    for (patch, field) in [
        (json!({"name": "Not A Slug"}), "name"),
        (json!({"category": "magic"}), "category"),
        (json!({"systemPrompt": ""}), "systemPrompt"),
        (json!({"skills": vec!["s"; 21]}), "skills"),
    ] {
        let mut body = reviewer();
        for (k, v) in patch.as_object().expect("object") {
            body[k] = v.clone();
        }
        let r = app
            .send(Req::post("/api/v1/agents").bearer(&t).json(&body))
            .await
            .expect(400, Some("VALIDATION_ERROR"));
        assert_eq!(r.body["error"]["details"]["fields"][0]["field"], field);
    }
    app.send(Req::post("/api/v1/agents").bearer(&t).json(&reviewer()))
        .await
        .expect(201, None);
    app.send(Req::post("/api/v1/agents").bearer(&t).json(&reviewer()))
        .await
        .expect(409, Some("CONFLICT"));
    app.send(Req::get("/api/v1/agents?scope=everyone").bearer(&t))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    app.send(Req::get("/api/v1/agents?limit=1000").bearer(&t))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
}

#[tokio::test]
async fn workflows_may_only_use_agents_their_owner_can_see() {
    let app = spawn_app().await;
    let alice = app.access_token("wa@example.com").await;
    let bob = app.access_token("wb@example.com").await;
    let private = app
        .send(Req::post("/api/v1/agents").bearer(&alice).json(&reviewer()))
        .await
        .expect(201, None);
    let private_id = private.body["id"].as_str().expect("id");

    let canvas = |agent: &str| {
        json!({
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "review", "type": "agent", "config": {"agentId": agent, "prompt": "{{inputs.diff}}"}},
                {"id": "out", "type": "output"}
            ],
            "edges": [{"from": "start", "to": "review"}, {"from": "review", "to": "out"}]
        })
    };
    let wf = app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&bob)
                .json(&json!({"name": "uses alice's agent", "canvas": canvas(private_id)})),
        )
        .await
        .expect(201, None);
    let path = format!("/api/v1/workflows/{}", wf.body["id"].as_str().expect("id"));
    let report = app
        .send(Req::post(&format!("{path}/validate")).bearer(&bob))
        .await
        .expect(200, None);
    assert_eq!(report.body["valid"], false);
    assert_eq!(report.body["issues"][0]["code"], "UNKNOWN_AGENT");
    assert_eq!(report.body["issues"][0]["path"], "nodes[1].config.agentId");

    app.send(
        Req::patch(&path)
            .bearer(&bob)
            .header("if-match", "1")
            .json(&json!({"canvas": canvas("01930000-0000-7000-8000-000000000001")})),
    )
    .await
    .expect(200, None);
    let ok = app
        .send(Req::post(&format!("{path}/validate")).bearer(&bob))
        .await
        .expect(200, None);
    assert_eq!(ok.body["valid"], true, "{}", ok.text);
}

#[tokio::test]
async fn put_replaces_the_whole_agent() {
    let app = spawn_app().await;
    let t = app.access_token("putagent@example.com").await;
    let created = app
        .send(Req::post("/api/v1/agents").bearer(&t).json(&json!({
            "name": "writer", "displayName": "Writer", "systemPrompt": "You write.",
            "skills": ["prose"], "tools": ["web_search"], "description": "writes", "model": "m-1"
        })))
        .await
        .expect(201, None);
    assert_eq!(created.body["tools"], json!(["web_search"]));
    let path = format!(
        "/api/v1/agents/{}",
        created.body["id"].as_str().expect("id")
    );
    let replaced = app
        .send(Req::new(Method::PUT, &path).bearer(&t).json(&json!({
            "name": "editor", "displayName": "Editor", "systemPrompt": "You edit."
        })))
        .await
        .expect(200, None);
    assert_eq!(replaced.body["name"], "editor");
    assert_eq!(replaced.body["skills"], json!([]));
    assert_eq!(replaced.body["tools"], json!([]));
    assert_eq!(replaced.body["description"], "");
    assert_eq!(replaced.body["model"], Value::Null);
    // A replacement is a whole agent: each missing required field is named.
    let missing = app
        .send(
            Req::new(Method::PUT, &path)
                .bearer(&t)
                .json(&json!({"name": "x"})),
        )
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    assert_eq!(
        missing.body["error"]["details"]["fields"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    // Built-in agents cannot be replaced.
    let builtin = app
        .send(Req::get("/api/v1/agents?scope=builtin&limit=1").bearer(&t))
        .await
        .expect(200, None);
    let builtin_path = format!(
        "/api/v1/agents/{}",
        builtin.body["items"][0]["id"].as_str().expect("id")
    );
    app.send(
        Req::new(Method::PUT, &builtin_path)
            .bearer(&t)
            .json(&json!({
                "name": "mine", "displayName": "Mine", "systemPrompt": "p"
            })),
    )
    .await
    .expect(403, Some("FORBIDDEN"));
}

#[tokio::test]
async fn an_agents_tools_are_tools_its_model_can_call() {
    let app = spawn_app().await;
    let t = app.access_token("agenttools@example.com").await;
    for tools in [json!(["search"]), json!(["web_read", "shell"])] {
        let refused = app
            .send(Req::post("/api/v1/agents").bearer(&t).json(&json!({
                "name": "researcher", "displayName": "Researcher", "systemPrompt": "You research.",
                "tools": tools
            })))
            .await
            .expect(400, Some("VALIDATION_ERROR"));
        assert!(refused.text.contains("tools"), "{}", refused.text);
    }
    let created = app
        .send(Req::post("/api/v1/agents").bearer(&t).json(&json!({
            "name": "researcher", "displayName": "Researcher", "systemPrompt": "You research.",
            "tools": ["web_read", "http_request", "web_read"]
        })))
        .await
        .expect(201, None);
    assert_eq!(created.body["tools"], json!(["web_read", "http_request"]));

    // Labels stored before tools were real become skills (migration 0019),
    // so a run never fails on a tool that does not exist.
    let id: uuid::Uuid = created.body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    sqlx::query("UPDATE agents SET tools = '{calculator,web_read,calculator}', skills = '{maths}' WHERE id = $1")
        .bind(id)
        .execute(&app.state.db)
        .await
        .expect("old labels");
    sqlx::raw_sql(include_str!("../../shared/migrations/0019_agent_tools.sql"))
        .execute(&app.state.db)
        .await
        .expect("the migration's statement");
    let (tools, skills): (Vec<String>, Vec<String>) =
        sqlx::query_as("SELECT tools, skills FROM agents WHERE id = $1")
            .bind(id)
            .fetch_one(&app.state.db)
            .await
            .expect("agent");
    assert_eq!(tools, vec!["web_read"]);
    assert_eq!(skills, vec!["maths", "calculator"]);
}
