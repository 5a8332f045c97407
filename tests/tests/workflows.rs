//! The workflows API through the real router against real Postgres.

use axum::http::Method;
use saasit_tests::{json, spawn_app, Req, TestApp, TestResponse};
use serde_json::Value;

async fn set_tier(app: &TestApp, email: &str, tier: &str) {
    sqlx::query(
        "UPDATE workspaces SET tier = $1 WHERE id = (SELECT id FROM users WHERE email = $2)",
    )
    .bind(tier)
    .bind(email)
    .execute(&app.state.db)
    .await
    .expect("tier");
}

async fn create(app: &TestApp, token: &str, body: Value) -> TestResponse {
    app.send(Req::post("/api/v1/workflows").bearer(token).json(&body))
        .await
}

fn valid_canvas() -> Value {
    json!({
        "nodes": [
            {"id": "start", "type": "trigger", "config": {"kind": "manual"}, "position": {"x": 0, "y": 0}},
            {"id": "write", "type": "agent", "config": {"systemPrompt": "You write.", "prompt": "Write about {{inputs.topic}}"}},
            {"id": "out", "type": "output", "config": {"value": "{{write.output.text}}"}}
        ],
        "edges": [{"from": "start", "to": "write"}, {"from": "write", "to": "out"}],
        "viewport": {"zoom": 1}
    })
}

fn cyclic_canvas() -> Value {
    json!({
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "a", "type": "agent", "config": {"systemPrompt": "x", "prompt": "x"}},
            {"id": "b", "type": "agent", "config": {"systemPrompt": "x", "prompt": "x"}}
        ],
        "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "a"}]
    })
}

fn id_of(r: &TestResponse) -> String {
    r.body["id"].as_str().expect("id").to_owned()
}

#[tokio::test]
async fn create_edit_version_restore_duplicate_delete() {
    let app = spawn_app().await;
    let t = app.access_token("designer@example.com").await;

    let created = create(&app, &t, json!({"name": "  Research report ", "tags": ["Research", "research", "ai"], "canvas": valid_canvas()}))
        .await
        .expect(201, None);
    assert_eq!(created.header("etag"), Some("\"1\""));
    assert_eq!(created.body["name"], "Research report");
    assert_eq!(created.body["tags"], json!(["research", "ai"]));
    assert_eq!(created.body["status"], "draft");
    assert_eq!(
        created.body["canvas"]["viewport"]["zoom"], 1,
        "layout is kept"
    );
    let id = id_of(&created);
    let path = format!("/api/v1/workflows/{id}");

    // Changes need the base version.
    app.send(Req::patch(&path).bearer(&t).json(&json!({"name": "x"})))
        .await
        .expect(428, Some("PRECONDITION_REQUIRED"));
    let v2 = app
        .send(
            Req::patch(&path)
                .bearer(&t)
                .header("if-match", "\"1\"")
                .json(&json!({"name": "Research report v2"})),
        )
        .await
        .expect(200, None);
    assert_eq!(v2.body["version"], 2);
    assert_eq!(v2.header("etag"), Some("\"2\""));
    let stale = app
        .send(
            Req::patch(&path)
                .bearer(&t)
                .json(&json!({"baseVersion": 1, "description": "lost update"})),
        )
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(stale.body["error"]["details"]["currentVersion"], 2);
    let fetched = app.send(Req::get(&path).bearer(&t)).await.expect(200, None);
    assert_eq!(
        fetched.body["description"], "",
        "the stale change was not applied"
    );

    let versions = app
        .send(Req::get(&format!("{path}/versions")).bearer(&t))
        .await
        .expect(200, None);
    let numbers: Vec<i64> = versions
        .body
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|v| v["version"].as_i64())
        .collect();
    assert_eq!(numbers, [2, 1]);
    let v1 = app
        .send(Req::get(&format!("{path}/versions/1")).bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(v1.body["name"], "Research report");
    app.send(Req::get(&format!("{path}/versions/9")).bearer(&t))
        .await
        .expect(404, Some("NOT_FOUND"));

    let restored = app
        .send(Req::post(&format!("{path}/versions/1/restore")).bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(restored.body["version"], 3);
    assert_eq!(restored.body["name"], "Research report");

    let copy = app
        .send(Req::post(&format!("{path}/duplicate")).bearer(&t))
        .await
        .expect(201, None);
    assert_eq!(copy.body["name"], "Research report (copy)");
    assert_eq!(copy.body["version"], 1);
    assert_ne!(id_of(&copy), id);

    app.send(Req::new(Method::DELETE, &path).bearer(&t))
        .await
        .expect(204, None);
    app.send(Req::get(&path).bearer(&t))
        .await
        .expect(404, Some("NOT_FOUND"));
    app.send(Req::new(Method::DELETE, &path).bearer(&t))
        .await
        .expect(404, Some("NOT_FOUND"));
    let listed = app
        .send(Req::get("/api/v1/workflows").bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(listed.body["total"], 1);
    let restored = app
        .send(Req::post(&format!("{path}/restore")).bearer(&t))
        .await
        .expect(200, None);
    app.send(Req::get(&path).bearer(&t)).await.expect(200, None);
    // Restoring what is not deleted is a no-op that answers the workflow (a
    // retried restore succeeds again), not a 404.
    let again = app
        .send(Req::post(&format!("{path}/restore")).bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(again.body["version"], restored.body["version"]);
    assert_eq!(again.body["updatedAt"], restored.body["updatedAt"]);

    // A delete older than 30 days can no longer be undone.
    app.send(Req::new(Method::DELETE, &path).bearer(&t))
        .await
        .expect(204, None);
    sqlx::query("UPDATE workflows SET deleted_at = now() - interval '31 days' WHERE id = $1::uuid")
        .bind(&id)
        .execute(&app.state.db)
        .await
        .expect("age");
    app.send(Req::post(&format!("{path}/restore")).bearer(&t))
        .await
        .expect(404, Some("NOT_FOUND"));
}

#[tokio::test]
async fn concurrent_edits_of_one_version_cannot_both_win() {
    let app = spawn_app().await;
    let t = app.access_token("race@example.com").await;
    let id = id_of(
        &create(&app, &t, json!({"name": "shared"}))
            .await
            .expect(201, None),
    );
    let path = format!("/api/v1/workflows/{id}");
    let edit = |name: &'static str| {
        app.send(
            Req::patch(&path)
                .bearer(&t)
                .header("if-match", "1")
                .json(&json!({"name": name})),
        )
    };
    let (a, b) = tokio::join!(edit("alice"), edit("bob"));
    let statuses = [a.status.as_u16(), b.status.as_u16()];
    assert!(
        statuses.contains(&200) && statuses.contains(&409),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn other_users_workflows_are_invisible() {
    let app = spawn_app().await;
    let owner = app.access_token("owner@example.com").await;
    let other = app.access_token("other@example.com").await;
    let id = id_of(
        &create(&app, &owner, json!({"name": "private"}))
            .await
            .expect(201, None),
    );
    let path = format!("/api/v1/workflows/{id}");
    for req in [
        Req::get(&path),
        Req::patch(&path)
            .header("if-match", "1")
            .json(&json!({"name": "mine now"})),
        Req::new(Method::DELETE, &path),
        Req::get(&format!("{path}/versions")),
        Req::get(&format!("{path}/versions/1")),
        Req::post(&format!("{path}/versions/1/restore")),
        Req::post(&format!("{path}/duplicate")),
        Req::post(&format!("{path}/validate")),
        Req::patch(&format!("{path}/status")).json(&json!({"status": "archived"})),
    ] {
        app.send(req.bearer(&other))
            .await
            .expect(404, Some("NOT_FOUND"));
    }
    let listed = app
        .send(Req::get("/api/v1/workflows").bearer(&other))
        .await
        .expect(200, None);
    assert_eq!(listed.body["total"], 0);
    app.send(Req::get(&path).bearer(&owner))
        .await
        .expect(200, None);
    app.send(Req::get(&path))
        .await
        .expect(401, Some("UNAUTHORIZED"));
}

#[tokio::test]
async fn only_valid_graphs_can_be_published() {
    let app = spawn_app().await;
    let t = app.access_token("pub@example.com").await;
    // A draft may be invalid.
    let id = id_of(
        &create(&app, &t, json!({"name": "wip", "canvas": cyclic_canvas()}))
            .await
            .expect(201, None),
    );
    let path = format!("/api/v1/workflows/{id}");

    let report = app
        .send(Req::post(&format!("{path}/validate")).bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(report.body["valid"], false);
    let cycle = report.body["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .find(|i| i["code"] == "CYCLE")
        .cloned()
        .expect("cycle");
    assert_eq!(cycle["nodeIds"], json!(["a", "b"]));

    let refused = app
        .send(
            Req::patch(&format!("{path}/status"))
                .bearer(&t)
                .json(&json!({"status": "published"})),
        )
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    assert_eq!(refused.body["error"]["details"]["reason"], "invalid_graph");

    app.send(
        Req::patch(&path)
            .bearer(&t)
            .header("if-match", "1")
            .json(&json!({"canvas": valid_canvas()})),
    )
    .await
    .expect(200, None);
    let ok = app
        .send(Req::post(&format!("{path}/validate")).bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(ok.body["valid"], true);
    assert_eq!(
        ok.body["plan"]["layers"],
        json!([["start"], ["write"], ["out"]])
    );
    let published = app
        .send(
            Req::patch(&format!("{path}/status"))
                .bearer(&t)
                .json(&json!({"status": "published"})),
        )
        .await
        .expect(200, None);
    assert_eq!(published.body["status"], "published");

    // A published workflow cannot be broken by an edit.
    app.send(
        Req::patch(&path)
            .bearer(&t)
            .header("if-match", "3")
            .json(&json!({"canvas": cyclic_canvas()})),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    let filtered = app
        .send(Req::get("/api/v1/workflows?status=published").bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(filtered.body["total"], 1);
}

#[tokio::test]
async fn free_tier_limits() {
    let app = spawn_app().await;
    let t = app.access_token("free@example.com").await;
    let mut ids = Vec::new();
    for n in 0..3 {
        ids.push(id_of(
            &create(&app, &t, json!({"name": format!("wf {n}")}))
                .await
                .expect(201, None),
        ));
    }
    let over = create(&app, &t, json!({"name": "fourth"}))
        .await
        .expect(403, Some("TIER_LIMIT"));
    assert_eq!(
        over.body["error"]["details"],
        json!({"tier": "FREE", "limit": "new workflows a month", "max": 3})
    );
    // Deleting does not give the allowance back; duplicating uses it too.
    app.send(Req::new(Method::DELETE, &format!("/api/v1/workflows/{}", ids[0])).bearer(&t))
        .await
        .expect(204, None);
    create(&app, &t, json!({"name": "fifth"}))
        .await
        .expect(403, Some("TIER_LIMIT"));
    app.send(Req::post(&format!("/api/v1/workflows/{}/duplicate", ids[1])).bearer(&t))
        .await
        .expect(403, Some("TIER_LIMIT"));

    // At most 10 agents and 10 chat messages per workflow.
    let mut nodes = vec![json!({"id": "start", "type": "trigger"})];
    nodes.extend((0..11).map(|i| json!({"id": format!("a{i}"), "type": "agent", "config": {"systemPrompt": "x", "prompt": "x"}})));
    let path = format!("/api/v1/workflows/{}", ids[1]);
    let agents = app
        .send(
            Req::patch(&path)
                .bearer(&t)
                .header("if-match", "1")
                .json(&json!({"canvas": {"nodes": nodes, "edges": []}})),
        )
        .await
        .expect(403, Some("TIER_LIMIT"));
    assert_eq!(agents.body["error"]["details"]["max"], 10);
    let chat: Vec<Value> = (0..11)
        .map(|i| json!({"role": "user", "content": format!("message {i}")}))
        .collect();
    app.send(
        Req::patch(&path)
            .bearer(&t)
            .header("if-match", "1")
            .json(&json!({"chatHistory": chat})),
    )
    .await
    .expect(403, Some("TIER_LIMIT"));
    app.send(
        Req::patch(&path)
            .bearer(&t)
            .header("if-match", "1")
            .json(&json!({"chatHistory": &chat[..10]})),
    )
    .await
    .expect(200, None);

    // A paid design tier has no such limits.
    set_tier(&app, "free@example.com", "DESIGNER").await;
    create(&app, &t, json!({"name": "now unlimited"}))
        .await
        .expect(201, None);
    app.send(
        Req::patch(&path)
            .bearer(&t)
            .header("if-match", "2")
            .json(&json!({"chatHistory": chat})),
    )
    .await
    .expect(200, None);
}

#[tokio::test]
async fn listing_pages_filters_and_searches() {
    let app = spawn_app().await;
    let t = app.access_token("lister@example.com").await;
    set_tier(&app, "lister@example.com", "PROFESSIONAL").await;
    for (name, tags) in [
        ("Code review", vec!["eng"]),
        ("Customer triage", vec!["support"]),
        ("Research 100% done", vec!["research", "eng"]),
        ("Weekly digest", vec!["writing"]),
        ("Code search", vec!["eng"]),
    ] {
        create(&app, &t, json!({"name": name, "tags": tags}))
            .await
            .expect(201, None);
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("/api/v1/workflows?limit=2&cursor={c}"),
            None => "/api/v1/workflows?limit=2".to_owned(),
        };
        let page = app.send(Req::get(&url).bearer(&t)).await.expect(200, None);
        assert_eq!(page.body["total"], 5);
        for item in page.body["items"].as_array().expect("items") {
            seen.push(item["name"].as_str().expect("name").to_owned());
        }
        match page.body["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "Code search",
            "Weekly digest",
            "Research 100% done",
            "Customer triage",
            "Code review"
        ]
    );

    let eng = app
        .send(Req::get("/api/v1/workflows?tags=eng").bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(eng.body["total"], 3);
    let both = app
        .send(Req::get("/api/v1/workflows?tags=eng,research").bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(both.body["total"], 1);
    let code = app
        .send(Req::get("/api/v1/workflows?q=CODE").bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(code.body["total"], 2);
    // LIKE wildcards in the search are literal.
    let pct = app
        .send(Req::get("/api/v1/workflows?q=100%25").bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(pct.body["total"], 1);
    let underscore = app
        .send(Req::get("/api/v1/workflows?q=_").bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(underscore.body["total"], 0);
}

#[tokio::test]
async fn bad_input_is_refused_and_nothing_is_stored() {
    let app = spawn_app().await;
    let t = app.access_token("bad@example.com").await;
    for (body, field) in [
        (json!({"name": "  "}), "name"),
        (json!({"name": "ok", "tags": ["a,b"]}), "tags"),
        (json!({"name": "ok", "canvas": []}), "canvas"),
        (
            json!({"name": "ok", "canvas": {"nodes": [{"type": "agent"}]}}),
            "canvas",
        ),
        (
            json!({"name": "ok", "chatHistory": {"role": "user"}}),
            "chatHistory",
        ),
        (json!({"name": "ok", "settings": 5}), "settings"),
    ] {
        let r = create(&app, &t, body)
            .await
            .expect(400, Some("VALIDATION_ERROR"));
        assert_eq!(
            r.body["error"]["details"]["fields"][0]["field"], field,
            "{}",
            r.text
        );
    }
    create(&app, &t, json!({"name": "ok", "owner": "someone"}))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    app.send(Req::get("/api/v1/workflows/not-a-uuid").bearer(&t))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    app.send(Req::get("/api/v1/workflows?limit=0").bearer(&t))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    app.send(Req::get("/api/v1/workflows?cursor=%%%").bearer(&t))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    app.send(Req::get("/api/v1/workflows?cursor=bm9wZQ").bearer(&t))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    app.send(Req::get("/api/v1/workflows?status=deleted").bearer(&t))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    let id = id_of(
        &create(&app, &t, json!({"name": "ok"}))
            .await
            .expect(201, None),
    );
    app.send(
        Req::patch(&format!("/api/v1/workflows/{id}"))
            .bearer(&t)
            .header("if-match", "three")
            .json(&json!({"name": "x"})),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    app.send(
        Req::patch(&format!("/api/v1/workflows/{id}/status"))
            .bearer(&t)
            .json(&json!({"status": "gone"})),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM workflows")
        .fetch_one(&app.state.db)
        .await
        .expect("count");
    assert_eq!(count, 1);
}

#[tokio::test]
async fn put_replaces_the_whole_workflow_with_the_same_preconditions() {
    let app = spawn_app().await;
    let t = app.access_token("put@example.com").await;
    let created = create(
        &app,
        &t,
        json!({"name": "Full", "description": "long", "tags": ["a", "b"], "canvas": valid_canvas(), "settings": {"k": 1}}),
    )
    .await
    .expect(201, None);
    let path = format!("/api/v1/workflows/{}", id_of(&created));
    let put = |body: Value| Req::new(Method::PUT, &path).bearer(&t).json(&body);

    // No base version: 428, and nothing changed.
    app.send(put(json!({"name": "Replaced"})))
        .await
        .expect(428, Some("PRECONDITION_REQUIRED"));
    // What the body leaves out takes a new workflow's default.
    let replaced = app
        .send(put(json!({"name": "Replaced"})).header("if-match", "\"1\""))
        .await
        .expect(200, None);
    assert_eq!(replaced.body["version"], 2);
    assert_eq!(replaced.body["name"], "Replaced");
    assert_eq!(replaced.body["description"], "");
    assert_eq!(replaced.body["tags"], json!([]));
    assert_eq!(replaced.body["canvas"], json!({"nodes": [], "edges": []}));
    assert_eq!(replaced.body["settings"], json!({}));
    assert_eq!(replaced.header("etag"), Some("\"2\""));
    // A stale base is a 409 naming the current version; a body missing the
    // name is a 400.
    let stale = app
        .send(put(json!({"name": "Again", "baseVersion": 1})))
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(stale.body["error"]["details"]["currentVersion"], 2);
    app.send(put(json!({"baseVersion": 2})))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    // The history keeps what was replaced.
    let v1 = app
        .send(Req::get(&format!("{path}/versions/1")).bearer(&t))
        .await
        .expect(200, None);
    assert_eq!(v1.body["tags"], json!(["a", "b"]));
}
