//! API keys: made once and shown once, stored hashed, accepted where their
//! scopes and their member's role allow, refused with the missing scope
//! named elsewhere, dead when revoked, expired or when the member leaves;
//! and the per-caller API rate limit with its headers.

use saasit_tests::{json, spawn_app, spawn_app_with, Req, TestApp, TestResponse};
use shared::access::Role;
use uuid::Uuid;

async fn make_key(app: &TestApp, token: &str, ws: Option<Uuid>, scopes: &[&str]) -> TestResponse {
    let mut req = Req::post("/api/v1/api-keys")
        .bearer(token)
        .json(&json!({"name": "script", "scopes": scopes}));
    if let Some(ws) = ws {
        req = req.header("x-workspace-id", &ws.to_string());
    }
    app.send(req).await
}

fn secret(r: &TestResponse) -> String {
    r.body["secret"].as_str().expect("secret").to_owned()
}

#[tokio::test]
async fn a_key_is_shown_once_stored_hashed_and_works_within_its_scopes() {
    let app = spawn_app().await;
    let (_, token) = app.user("kim@example.com").await;
    let made = make_key(
        &app,
        &token,
        None,
        &["workflows:read", "executions:read", "workflows:read"],
    )
    .await
    .expect(201, None);
    let key = secret(&made);
    assert!(
        key.starts_with("sak_") && key.len() == 4 + 16 + 1 + 64,
        "{key}"
    );
    assert_eq!(
        made.body["scopes"],
        json!(["workflows:read", "executions:read"])
    );
    assert!(key.starts_with(made.body["prefix"].as_str().expect("prefix")));
    // Never shown again, and never stored in clear.
    let list = app
        .send(Req::get("/api/v1/api-keys").bearer(&token))
        .await
        .expect(200, None);
    assert_eq!(list.body["items"].as_array().map(Vec::len), Some(1));
    assert!(!list.text.contains(&key[21..]));
    let stored: Vec<u8> = sqlx::query_scalar("SELECT secret_hash FROM api_keys")
        .fetch_one(&app.state.db)
        .await
        .expect("hash");
    assert_eq!(stored.len(), 32);

    // Reading works, with the rate-limit headers; writing names the missing scope.
    let read = app
        .send(Req::get("/api/v1/workflows").bearer(&key))
        .await
        .expect(200, None);
    assert_eq!(read.header("ratelimit-limit"), Some("1000000"));
    assert!(read.header("ratelimit-remaining").is_some());
    let refused = app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&key)
                .json(&json!({"name": "w"})),
        )
        .await
        .expect(403, Some("INSUFFICIENT_SCOPE"));
    assert_eq!(
        refused.body["error"]["details"]["missingScope"],
        "workflows:write"
    );
    // Routes only a person may use refuse keys.
    for req in [
        Req::get("/api/v1/auth/me"),
        Req::get("/api/v1/workspaces"),
        Req::get("/api/v1/api-keys"),
    ] {
        let r = app
            .send(req.bearer(&key))
            .await
            .expect(403, Some("FORBIDDEN"));
        assert_eq!(r.body["error"]["details"]["requires"], "session");
    }
    make_key(&app, &key, None, &["workflows:read"])
        .await
        .expect(403, Some("FORBIDDEN"));
    // A tampered secret, a malformed key.
    let mut tampered = key.clone();
    tampered.replace_range(key.len() - 1.., if key.ends_with('0') { "1" } else { "0" });
    app.send(Req::get("/api/v1/workflows").bearer(&tampered))
        .await
        .expect(401, Some("TOKEN_INVALID"));
    app.send(Req::get("/api/v1/workflows").bearer("sak_nothex"))
        .await
        .expect(401, Some("TOKEN_INVALID"));
    let used: Option<chrono::DateTime<chrono::Utc>> =
        sqlx::query_scalar("SELECT last_used_at FROM api_keys")
            .fetch_one(&app.state.db)
            .await
            .expect("last used");
    assert!(used.is_some());

    // Revoked: dead at once. Expired: dead too.
    let id = made.body["id"].as_str().expect("id");
    app.send(Req::delete(&format!("/api/v1/api-keys/{id}")).bearer(&token))
        .await
        .expect(204, None);
    app.send(Req::delete(&format!("/api/v1/api-keys/{id}")).bearer(&token))
        .await
        .expect(204, None);
    app.send(Req::get("/api/v1/workflows").bearer(&key))
        .await
        .expect(401, Some("TOKEN_REVOKED"));
    let short = make_key(&app, &token, None, &["workflows:read"])
        .await
        .expect(201, None);
    sqlx::query(
        "UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE revoked_at IS NULL",
    )
    .execute(&app.state.db)
    .await
    .expect("expire");
    app.send(Req::get("/api/v1/workflows").bearer(&secret(&short)))
        .await
        .expect(401, Some("TOKEN_EXPIRED"));
}

#[tokio::test]
async fn a_key_acts_as_its_member_in_its_workspace_and_dies_when_they_leave() {
    let app = spawn_app().await;
    let (owner_id, owner) = app.user("own@example.com").await;
    let (viewer_id, viewer) = app.user("view@example.com").await;
    let (editor_id, editor) = app.user("edit@example.com").await;
    let team = app.team(&owner, "Lab").await;
    for (id, role) in [(viewer_id, Role::Viewer), (editor_id, Role::Editor)] {
        shared::db::workspaces::add_member(&app.state.db, team, id, role, Some(owner_id))
            .await
            .expect("member");
    }
    // A viewer cannot be given a scope their role never uses.
    let r = make_key(
        &app,
        &viewer,
        Some(team),
        &["workflows:read", "executions:run"],
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    assert!(r.text.contains("executions:run"), "{}", r.text);
    let key = secret(
        &make_key(
            &app,
            &editor,
            Some(team),
            &["workflows:read", "workflows:write"],
        )
        .await
        .expect(201, None),
    );
    // The key's workspace without a header; another workspace is refused.
    let made = app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&key)
                .json(&json!({"name": "by key", "canvas": {"nodes": [{"id": "t", "type": "trigger"}], "edges": []}})),
        )
        .await
        .expect(201, None);
    assert_eq!(made.body["workspaceId"], json!(team));
    assert_eq!(made.body["createdBy"], json!(editor_id));
    app.send(
        Req::get("/api/v1/workflows")
            .bearer(&key)
            .header("x-workspace-id", &editor_id.to_string()),
    )
    .await
    .expect(403, Some("FORBIDDEN"));

    // The owner sees every member's key and may revoke it; the viewer sees none.
    let all = app
        .send(
            Req::get("/api/v1/api-keys")
                .bearer(&owner)
                .header("x-workspace-id", &team.to_string()),
        )
        .await
        .expect(200, None);
    assert_eq!(all.body["items"].as_array().map(Vec::len), Some(1));
    let theirs = app
        .send(
            Req::get("/api/v1/api-keys")
                .bearer(&viewer)
                .header("x-workspace-id", &team.to_string()),
        )
        .await
        .expect(200, None);
    assert_eq!(theirs.body["items"].as_array().map(Vec::len), Some(0));
    let key_id = all.body["items"][0]["id"].as_str().expect("id").to_owned();
    app.send(
        Req::delete(&format!("/api/v1/api-keys/{key_id}"))
            .bearer(&viewer)
            .header("x-workspace-id", &team.to_string()),
    )
    .await
    .expect(403, Some("FORBIDDEN"));

    // The member's role is read on every request: demoted, the key writes no more.
    app.send(
        Req::patch(&format!("/api/v1/workspaces/{team}/members/{editor_id}"))
            .bearer(&owner)
            .json(&json!({"role": "viewer"})),
    )
    .await
    .expect(200, None);
    let r = app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&key)
                .json(&json!({"name": "again"})),
        )
        .await
        .expect(403, Some("FORBIDDEN"));
    assert_eq!(r.body["error"]["details"]["role"], "viewer");

    // The member is removed: the key stops working at once.
    app.send(Req::delete(&format!("/api/v1/workspaces/{team}/members/{editor_id}")).bearer(&owner))
        .await
        .expect(204, None);
    app.send(Req::get("/api/v1/workflows").bearer(&key))
        .await
        .expect(401, Some("TOKEN_INVALID"));
}

#[tokio::test]
async fn each_caller_has_its_own_api_budget_with_headers_and_retry_after() {
    let app = spawn_app_with(&[("RATE_LIMIT_API", "5/1h")]).await;
    let (_, ann) = app.user("ann@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    for left in (0..5).rev() {
        let r = app
            .send(Req::get("/api/v1/workflows").bearer(&ann))
            .await
            .expect(200, None);
        assert_eq!(
            r.header("ratelimit-remaining"),
            Some(left.to_string().as_str())
        );
        assert_eq!(r.header("ratelimit-policy"), Some("5;w=3600"));
    }
    let limited = app
        .send(Req::get("/api/v1/workflows").bearer(&ann))
        .await
        .expect(429, Some("RATE_LIMITED"));
    let retry: u64 = limited
        .header("retry-after")
        .expect("Retry-After")
        .parse()
        .expect("secs");
    assert!(retry >= 1, "{retry}");
    assert_eq!(limited.header("ratelimit-remaining"), Some("0"));
    assert_eq!(limited.body["error"]["details"]["scope"], "user");
    // Any authenticated route counts, and one user's use is not another's.
    app.send(Req::get("/api/v1/auth/me").bearer(&ann))
        .await
        .expect(429, Some("RATE_LIMITED"));
    app.send(Req::get("/api/v1/workflows").bearer(&bob))
        .await
        .expect(200, None);

    // Fifty requests at once from one caller: exactly the budget passes.
    let (_, cy) = app.user("cy@example.com").await;
    let burst = (0..50).map(|_| app.send(Req::get("/api/v1/workflows").bearer(&cy)));
    let answers = futures_util::future::join_all(burst).await;
    let passed = answers.iter().filter(|r| r.status == 200).count();
    assert_eq!(passed, 5);
}

#[tokio::test]
async fn keys_have_their_own_budget() {
    let app = spawn_app_with(&[("RATE_LIMIT_API", "3/1h")]).await;
    let (_, dee) = app.user("dee@example.com").await;
    let key = secret(
        &make_key(&app, &dee, None, &["workflows:read"])
            .await
            .expect(201, None),
    );
    for _ in 0..3 {
        app.send(Req::get("/api/v1/workflows").bearer(&key))
            .await
            .expect(200, None);
    }
    let r = app
        .send(Req::get("/api/v1/workflows").bearer(&key))
        .await
        .expect(429, Some("RATE_LIMITED"));
    assert_eq!(r.body["error"]["details"]["scope"], "apiKey");
    // The person's own budget is separate (one request was the key's creation).
    app.send(Req::get("/api/v1/workflows").bearer(&dee))
        .await
        .expect(200, None);
}
