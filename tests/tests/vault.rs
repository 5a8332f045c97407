//! The workspace vault: values are write-only, sealed at rest, given to a
//! run only when its graph names them, and redacted from everything the run
//! leaves behind.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{http::HeaderMap, routing::get, Router};
use saasit_tests::{
    json,
    runs::{paid_user, start, wait_for, workflow, TERMINAL},
    serve, spawn_app, spawn_stack, Req,
};
use serde_json::Value;
use shared::{access::Role, db::workspaces};
use uuid::Uuid;

const VALUE: &str = "sk-live-5f2b9c0e7d1a4e83";

async fn stored(db: &sqlx::PgPool, needle: &str) -> Vec<String> {
    // Every text and jsonb column of every table, and every bytea as bytes.
    let tables: Vec<(String, String, String)> = sqlx::query_as(
        "SELECT table_name::text, column_name::text, data_type::text FROM information_schema.columns
          WHERE table_schema = 'public' AND data_type IN ('text', 'jsonb', 'bytea', 'character varying')",
    )
    .fetch_all(db)
    .await
    .expect("columns");
    let mut found = Vec::new();
    for (table, column, kind) in tables {
        let sql = if kind == "bytea" {
            format!(
                r#"SELECT count(*) FROM "{table}" WHERE position(convert_to($1, 'UTF8') in "{column}") > 0"#
            )
        } else {
            format!(
                r#"SELECT count(*) FROM "{table}" WHERE "{column}"::text LIKE '%' || $1 || '%'"#
            )
        };
        let n: i64 = sqlx::query_scalar(&sql)
            .bind(needle)
            .fetch_one(db)
            .await
            .expect("scan");
        if n > 0 {
            found.push(format!("{table}.{column}"));
        }
    }
    found
}

#[tokio::test]
async fn secrets_are_write_only_sealed_and_managed_by_owners_and_admins() {
    let app = spawn_app().await;
    let (owner_id, owner) = app.user("vault-owner@example.com").await;
    let team = app.team(&owner, "Vault team").await;
    let mut tokens = Vec::new();
    for role in [Role::Admin, Role::Editor, Role::Viewer] {
        let (id, token) = app
            .user(&format!("vault-{}@example.com", role.as_str()))
            .await;
        workspaces::add_member(&app.state.db, team, id, role, Some(owner_id))
            .await
            .expect("member");
        tokens.push((role, token));
    }
    let base = format!("/api/v1/workspaces/{team}/secrets");

    let created = app
        .send(Req::post(&base).bearer(&owner).json(&json!({
            "name": "API_TOKEN", "value": VALUE, "description": "the partner API"
        })))
        .await
        .expect(201, None);
    assert!(!created.text.contains(VALUE), "{}", created.text);
    assert_eq!(created.body["name"], "API_TOKEN");
    assert_eq!(created.body["reference"], "{{secrets.API_TOKEN}}");
    assert_eq!(created.body["createdBy"], json!(owner_id));

    // Every member sees the names; only owners and admins change values.
    for (role, token) in &tokens {
        let list = app
            .send(Req::get(&base).bearer(token))
            .await
            .expect(200, None);
        assert_eq!(list.body["items"][0]["name"], "API_TOKEN", "{role:?}");
        assert!(!list.text.contains(VALUE));
        let r = app
            .send(Req::post(&base).bearer(token).json(&json!({
                "name": format!("BY_{}", role.as_str().to_uppercase()), "value": "x1234"
            })))
            .await;
        let allowed = matches!(role, Role::Admin);
        assert_eq!(
            r.status.as_u16(),
            if allowed { 201 } else { 403 },
            "{role:?}: {}",
            r.text
        );
    }

    // Bad input is refused, naming the field; nothing is stored.
    for (body, field) in [
        (json!({"name": "9LIVES", "value": "x"}), "name"),
        (json!({"name": "has-dash", "value": "x"}), "name"),
        (json!({"name": "A".repeat(65), "value": "x"}), "name"),
        (json!({"name": "EMPTY", "value": ""}), "value"),
        (
            json!({"name": "HUGE", "value": "x".repeat(32 * 1024 + 1)}),
            "value",
        ),
    ] {
        let r = app
            .send(Req::post(&base).bearer(&owner).json(&body))
            .await
            .expect(400, Some("VALIDATION_ERROR"));
        assert!(r.text.contains(field), "{}", r.text);
    }
    let r = app
        .send(
            Req::post(&base)
                .bearer(&owner)
                .json(&json!({"name": "API_TOKEN", "value": "again"})),
        )
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(r.body["error"]["details"]["reason"], "name_taken");

    // Replace: a new value, sealed afresh; unknown names are 404.
    let replaced = app
        .send(
            Req::new(axum::http::Method::PUT, &format!("{base}/API_TOKEN"))
                .bearer(&owner)
                .json(&json!({"value": format!("{VALUE}-rotated")})),
        )
        .await
        .expect(200, None);
    assert_eq!(replaced.body["description"], "the partner API", "kept");
    app.send(
        Req::new(axum::http::Method::PUT, &format!("{base}/NOPE"))
            .bearer(&owner)
            .json(&json!({"value": "x"})),
    )
    .await
    .expect(404, Some("NOT_FOUND"));

    // At rest: sealed, bound to the workspace and name, never in clear.
    assert!(stored(&app.state.db, VALUE).await.is_empty());
    let sealed: Vec<u8> = sqlx::query_scalar(
        "SELECT sealed FROM workspace_secrets WHERE workspace_id = $1 AND name = 'API_TOKEN'",
    )
    .bind(team)
    .fetch_one(&app.state.db)
    .await
    .expect("row");
    assert!(sealed.len() > VALUE.len() + 28 - 1);
    let resolved = app
        .state
        .vault
        .resolve(team, &["API_TOKEN".into(), "ABSENT".into()])
        .await
        .expect("resolve");
    assert_eq!(resolved.len(), 1);
    assert_eq!(resolved["API_TOKEN"], format!("{VALUE}-rotated"));
    // A row copied to another workspace does not open there.
    let (_, other) = app.user("vault-other@example.com").await;
    let other_ws = app.team(&other, "Other").await;
    app.state
        .vault
        .seal(
            other_ws,
            &shared::vault::SecretName::parse("X").expect("name"),
            &"seed1".to_owned().into(),
        )
        .await
        .expect("the other workspace gets a key");
    sqlx::query(
        "INSERT INTO workspace_secrets (workspace_id, name, sealed) VALUES ($1, 'API_TOKEN', $2)",
    )
    .bind(other_ws)
    .bind(&sealed)
    .execute(&app.state.db)
    .await
    .expect("copy");
    let err = app
        .state
        .vault
        .resolve(other_ws, &["API_TOKEN".into()])
        .await
        .expect_err("does not open elsewhere");
    assert_eq!(err.code(), shared::ErrorCode::InternalError);

    // Delete; then it is gone.
    app.send(Req::delete(&format!("{base}/API_TOKEN")).bearer(&owner))
        .await
        .expect(204, None);
    app.send(Req::delete(&format!("{base}/API_TOKEN")).bearer(&owner))
        .await
        .expect(404, Some("NOT_FOUND"));

    // The activity log has every change, by name, never a value.
    let log = app
        .send(Req::get(&format!("/api/v1/workspaces/{team}/activity?limit=50")).bearer(&owner))
        .await
        .expect(200, None);
    let actions: Vec<&str> = log.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|e| e["action"].as_str())
        .filter(|a| a.starts_with("secret."))
        .collect();
    assert_eq!(
        actions,
        [
            "secret.deleted",
            "secret.updated",
            "secret.created",
            "secret.created"
        ],
        "{}",
        log.text
    );
    assert!(!log.text.contains(VALUE));
}

#[tokio::test]
async fn without_a_key_service_the_vault_answers_503() {
    let app =
        saasit_tests::spawn_app_with(&[("VAULT_MASTER_KEY_FILE", "/nonexistent/vault-key")]).await;
    let (id, token) = app.user("no-vault@example.com").await;
    let r = app
        .send(
            Req::post(&format!("/api/v1/workspaces/{id}/secrets"))
                .bearer(&token)
                .json(&json!({"name": "K", "value": "v"})),
        )
        .await
        .expect(503, Some("SERVICE_UNAVAILABLE"));
    assert!(r.header("retry-after").is_some());
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM workspace_secrets")
        .fetch_one(&app.state.db)
        .await
        .expect("count");
    assert_eq!(n, 0, "nothing stored");
}

/// An API that wants a bearer token, and says what it was given (as a
/// careless API might), so the test sees the executor's redaction work.
async fn partner_api() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = Router::new().route(
        "/partner",
        get(move |headers: HeaderMap| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                log.lock().expect("lock").push(auth.clone());
                axum::Json(json!({ "youSent": auth, "ok": auth == format!("Bearer {VALUE}") }))
            }
        }),
    );
    (serve(app).await, seen)
}

#[tokio::test]
async fn a_run_receives_the_secrets_it_names_and_leaves_them_nowhere() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "vault-run@example.com", "PROFESSIONAL").await;
    let ws: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = 'vault-run@example.com'")
        .fetch_one(&s.app.state.db)
        .await
        .expect("id");
    let (partner, seen) = partner_api().await;
    let canvas = json!({
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "call", "type": "http", "config": {
                "url": format!("{partner}/partner"),
                "headers": {"Authorization": "Bearer {{ secrets.PARTNER_TOKEN }}"}}},
            {"id": "out", "type": "output", "config": {"value": {
                "echo": "{{ call.output.body.youSent }}", "ok": "{{ call.output.body.ok }}"}}}
        ],
        "edges": [{"from": "start", "to": "call"}, {"from": "call", "to": "out"}]
    });
    let wf = workflow(&s, &t, canvas).await;

    // Missing: the run is refused, naming the secret; nothing is queued.
    let r = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&t)
                .json(&json!({"workflowId": wf})),
        )
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    let issues = r.body["error"]["details"]["report"]["issues"].to_string();
    assert!(
        issues.contains("MISSING_SECRET") && issues.contains("PARTNER_TOKEN"),
        "{}",
        r.text
    );

    // Stored, with a second secret the graph does not name.
    for (name, value) in [
        ("PARTNER_TOKEN", VALUE),
        ("UNUSED_KEY", "unused-value-31337"),
    ] {
        s.app
            .send(
                Req::post(&format!("/api/v1/workspaces/{ws}/secrets"))
                    .bearer(&t)
                    .json(&json!({"name": name, "value": value})),
            )
            .await
            .expect(201, None);
    }
    let id = start(&s, &t, &wf, json!({})).await;
    let e = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(e["status"], "completed", "{e}");
    // The partner got the value; the run's result says so without repeating it.
    assert_eq!(*seen.lock().expect("lock"), [format!("Bearer {VALUE}")]);
    assert_eq!(e["output"]["ok"], json!(true), "{e}");
    assert_eq!(e["output"]["echo"], "Bearer [REDACTED]", "{e}");

    // Nowhere in clear: the API, the database, the executor's log.
    let events = saasit_tests::runs::all_events(&s, &t, &id).await;
    let events = Value::Array(events).to_string();
    assert!(!events.contains(VALUE), "{events}");
    assert!(!e.to_string().contains(VALUE));
    assert!(
        stored(&s.app.state.db, VALUE).await.is_empty(),
        "{:?}",
        stored(&s.app.state.db, VALUE).await
    );
    let logs = s.blob_dir.join("logs");
    for entry in std::fs::read_dir(&logs).expect("executor logs") {
        let text = std::fs::read_to_string(entry.expect("entry").path()).unwrap_or_default();
        assert!(!text.contains(VALUE), "an executor log holds the value");
        assert!(!text.contains("unused-value-31337"));
    }
    // The executor received only what the graph names.
    let spec = s
        .runs
        .spec(id.parse().expect("uuid"))
        .await
        .map(|spec| spec.secrets.keys().cloned().collect::<Vec<_>>());
    assert!(spec.is_err(), "the run has ended: its spec is gone");
    let used: Vec<Value> = sqlx::query_scalar(
        "SELECT details FROM activity_log WHERE workspace_id = $1 AND action = 'secret.used'",
    )
    .bind(ws)
    .fetch_all(&s.app.state.db)
    .await
    .expect("used");
    assert_eq!(used.len(), 1);
    assert_eq!(used[0]["names"], json!(["PARTNER_TOKEN"]));
    assert_eq!(used[0]["executionId"], json!(id));
    let last_used: Option<chrono::DateTime<chrono::Utc>> = sqlx::query_scalar(
        "SELECT last_used_at FROM workspace_secrets WHERE workspace_id = $1 AND name = 'UNUSED_KEY'",
    )
    .bind(ws)
    .fetch_one(&s.app.state.db)
    .await
    .expect("row");
    assert!(last_used.is_none(), "not given to the run");
}

/// An OpenAI-compatible API that answers with what it was asked and says
/// which key it got (as a careless proxy might).
async fn compatible_llm() -> (String, Arc<Mutex<Vec<String>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = seen.clone();
    let app = Router::new().route(
        "/v1/chat/completions",
        axum::routing::post(move |headers: HeaderMap, axum::Json(body): axum::Json<Value>| {
            let log = log.clone();
            async move {
                let auth = headers
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                log.lock().expect("lock").push(auth.clone());
                let prompt = body["messages"][body["messages"].as_array().map_or(0, |m| m.len() - 1)]["content"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                axum::Json(json!({
                    "model": "own-model",
                    "choices": [{"message": {"role": "assistant", "content": format!("own provider ({auth}) says: {prompt}")}}],
                    "usage": {"prompt_tokens": 3, "completion_tokens": 5}
                }))
            }
        }),
    );
    (format!("{}/v1", serve(app).await), seen)
}

#[tokio::test]
async fn agent_nodes_use_the_workspaces_own_provider_key_and_never_show_it() {
    let s = spawn_stack().await;
    // STARTER does not include the platform's key: the workspace brings its own.
    let t = paid_user(&s, "byok@example.com", "STARTER").await;
    let ws: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = 'byok@example.com'")
        .fetch_one(&s.app.state.db)
        .await
        .expect("id");
    let (llm, seen) = compatible_llm().await;
    const KEY: &str = "sk-own-4b1d9e7f3a2c";
    for (name, value) in [("OPENAI_API_KEY", KEY), ("OPENAI_BASE_URL", llm.as_str())] {
        s.app
            .send(
                Req::post(&format!("/api/v1/workspaces/{ws}/secrets"))
                    .bearer(&t)
                    .json(&json!({"name": name, "value": value})),
            )
            .await
            .expect(201, None);
    }
    let wf = workflow(
        &s,
        &t,
        json!({
            "nodes": [
                {"id": "start", "type": "trigger"},
                {"id": "ask", "type": "agent", "config": {"systemPrompt": "You answer.", "prompt": "hello {{ inputs.who }}"}},
                {"id": "out", "type": "output", "config": {"value": "{{ ask.output.text }}"}}
            ],
            "edges": [{"from": "start", "to": "ask"}, {"from": "ask", "to": "out"}]
        }),
    )
    .await;
    let id = start(&s, &t, &wf, json!({"who": "ada"})).await;
    let e = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(e["status"], "completed", "{e}");
    assert_eq!(
        *seen.lock().expect("lock"),
        [format!("Bearer {KEY}")],
        "the workspace's key"
    );
    assert_eq!(
        e["output"], "own provider (Bearer [REDACTED]) says: hello ada",
        "{e}"
    );
    let events = Value::Array(saasit_tests::runs::all_events(&s, &t, &id).await).to_string();
    assert!(!events.contains(KEY));
    assert!(stored(&s.app.state.db, KEY).await.is_empty());
    let used: Value = sqlx::query_scalar(
        "SELECT details FROM activity_log WHERE workspace_id = $1 AND action = 'secret.used'",
    )
    .bind(ws)
    .fetch_one(&s.app.state.db)
    .await
    .expect("used");
    assert_eq!(used["names"], json!(["OPENAI_API_KEY"]));
}
