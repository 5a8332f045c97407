//! Data export and account deletion: the export holds what the service
//! knows about the caller; deletion needs proof, refuses while others depend
//! on a workspace the user owns, signs out at once, and finishes on the
//! whole stack (runs cancelled, Stripe customer deleted, workspaces gone).

use std::time::Duration;

use saasit_tests::{
    billing::{buy, stack_billed},
    json,
    runs::{start, wait_for, workflow},
    spawn_app, Req, TestApp,
};
use shared::access::Role;
use uuid::Uuid;

const PASSWORD: &str = "correct horse 9";

fn delete_me(token: &str, password: Option<&str>) -> Req {
    Req::delete("/api/v1/auth/me")
        .bearer(token)
        .json(&json!({ "password": password }))
}

async fn gone(app: &TestApp, user: Uuid) -> bool {
    for _ in 0..200 {
        let left: i64 = sqlx::query_scalar("SELECT count(*) FROM users WHERE id = $1")
            .bind(user)
            .fetch_one(&app.state.db)
            .await
            .expect("count");
        if left == 0 {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

#[tokio::test]
async fn the_export_holds_the_callers_data_and_no_secrets() {
    let app = spawn_app().await;
    let (id, token) = app.user("ex@example.com").await;
    app.send(
        Req::post("/api/v1/workflows")
            .bearer(&token)
            .json(&json!({"name": "mine", "canvas": {"nodes": [{"id": "t", "type": "trigger"}], "edges": []}})),
    )
    .await
    .expect(201, None);
    let key = app
        .send(
            Req::post("/api/v1/api-keys")
                .bearer(&token)
                .json(&json!({"name": "ci", "scopes": ["workflows:read"]})),
        )
        .await
        .expect(201, None);
    let secret = key.body["secret"].as_str().expect("secret");
    let export = app
        .send(Req::get("/api/v1/auth/me/export").bearer(&token))
        .await
        .expect(200, None);
    let data = &export.body["data"];
    assert_eq!(data["profile"]["id"], json!(id));
    assert_eq!(data["workflows"][0]["name"], "mine");
    assert_eq!(data["workspaces"][0]["personal"], true);
    assert_eq!(data["apiKeys"][0]["name"], "ci");
    assert_eq!(data["sessions"].as_array().map(Vec::len), Some(1));
    assert_eq!(data["truncated"], json!([]));
    assert!(!export.text.contains(&secret[21..]));
    assert!(!export.text.contains("argon2") && !export.text.contains("tokenHash"));
    // Only the person, not a key.
    app.send(Req::get("/api/v1/auth/me/export").bearer(secret))
        .await
        .expect(403, Some("FORBIDDEN"));
}

#[tokio::test]
async fn deletion_needs_proof_and_refuses_while_others_are_in_a_workspace_you_own() {
    let app = spawn_app().await;
    let (owner_id, owner) = app.user("lead@example.com").await;
    let (mate, _) = app.user("mate@example.com").await;
    let team = app.team(&owner, "Crew").await;
    shared::db::workspaces::add_member(&app.state.db, team, mate, Role::Editor, Some(owner_id))
        .await
        .expect("member");

    let r = app
        .send(delete_me(&owner, None))
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    assert_eq!(r.body["error"]["details"]["reason"], "password_required");
    app.send(delete_me(&owner, Some("not my password 1")))
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));
    let refused = app
        .send(delete_me(&owner, Some(PASSWORD)))
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(
        refused.body["error"]["details"]["reason"],
        "owns_shared_workspaces"
    );
    assert_eq!(
        refused.body["error"]["details"]["workspaces"][0]["id"],
        json!(team)
    );
    // Nothing happened: still signed in.
    app.send(Req::get("/api/v1/auth/me").bearer(&owner))
        .await
        .expect(200, None);

    // A passwordless account proves itself with a recent sign-in.
    app.send(Req::post("/api/v1/auth/request-otp").json(&json!({"email": "nopass@example.com"})))
        .await
        .expect(200, None);
    let mail = app.outbox().await;
    let text = &mail.last().expect("code").email.text;
    let at = text.find("code is ").expect("code") + "code is ".len();
    let signed = app
        .send(
            Req::post("/api/v1/auth/verify-otp")
                .json(&json!({"email": "nopass@example.com", "code": &text[at..at + 6]})),
        )
        .await
        .expect(200, None);
    let nopass = signed.body["accessToken"].as_str().expect("token");
    sqlx::query("UPDATE refresh_token_families SET created_at = now() - interval '1 hour'")
        .execute(&app.state.db)
        .await
        .expect("age");
    let r = app
        .send(delete_me(nopass, None))
        .await
        .expect(403, Some("FORBIDDEN"));
    assert_eq!(r.body["error"]["details"]["reason"], "sign_in_again");
    sqlx::query("UPDATE refresh_token_families SET created_at = now()")
        .execute(&app.state.db)
        .await
        .expect("fresh");
    app.send(delete_me(nopass, None)).await.expect(202, None);
    // Signed out at once: the same token cannot ask again (or do anything).
    app.send(delete_me(nopass, None))
        .await
        .expect(401, Some("TOKEN_REVOKED"));
    let pending: i64 =
        sqlx::query_scalar("SELECT count(*) FROM users WHERE deletion_requested_at IS NOT NULL")
            .fetch_one(&app.state.db)
            .await
            .expect("count");
    assert_eq!(pending, 1);
}

#[tokio::test]
async fn a_deleted_account_is_signed_out_at_once_and_gone_with_its_runs_plan_and_workspaces() {
    let (s, billed) = stack_billed(spawn_app().await).await;
    let first = s.app.register("leaver@example.com", PASSWORD).await;
    let token = first["accessToken"].as_str().expect("token").to_owned();
    let refresh = first["refreshToken"].as_str().expect("refresh").to_owned();
    let user: Uuid = first["user"]["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    // A paid plan, a run in flight, a team only they are in, a key, and a
    // seat in someone else's team.
    buy(&s.app, &billed, &token, "STARTER", "month").await;
    let slow = workflow(
        &s,
        &token,
        json!({
            "nodes": [{"id": "start", "type": "trigger"}, {"id": "wait", "type": "delay", "config": {"seconds": 120}},
                      {"id": "out", "type": "output", "config": {"value": "done"}}],
            "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "out"}]
        }),
    )
    .await;
    let run = start(&s, &token, &slow, json!({})).await;
    wait_for(&s, &token, &run, &["running"], Duration::from_secs(20)).await;
    let solo = s.app.team(&token, "Solo").await;
    let key = s
        .app
        .send(
            Req::post("/api/v1/api-keys")
                .bearer(&token)
                .json(&json!({"name": "ci", "scopes": ["workflows:read"]})),
        )
        .await
        .expect(201, None)
        .body["secret"]
        .as_str()
        .expect("secret")
        .to_owned();
    let (other_id, other) = s.app.user("stayer@example.com").await;
    let theirs = s.app.team(&other, "Theirs").await;
    shared::db::workspaces::add_member(&s.app.state.db, theirs, user, Role::Admin, Some(other_id))
        .await
        .expect("member");

    let accepted = s
        .app
        .send(delete_me(&token, Some(PASSWORD)))
        .await
        .expect(202, None);
    assert_eq!(accepted.body["status"], "deleting");
    // At once: signed out everywhere, the key is dead, no new sign-in (the
    // sweeper, every half second here, may already have deleted them: then
    // the token and the key are unknown rather than revoked).
    let dead = ["TOKEN_REVOKED", "TOKEN_INVALID"];
    let r = s.app.refresh(&refresh).await.expect(401, None);
    assert!(dead.contains(&r.code()), "{}", r.text);
    let r = s
        .app
        .send(Req::get("/api/v1/workflows").bearer(&key))
        .await
        .expect(401, None);
    assert!(dead.contains(&r.code()), "{}", r.text);
    s.app
        .login("leaver@example.com", PASSWORD)
        .await
        .expect(401, Some("INVALID_CREDENTIALS"));

    // The stack's sweeper finishes: the run is cancelled, Stripe forgets the
    // customer (its subscription ends), the workspaces go.
    assert!(gone(&s.app, user).await, "the account was not deleted");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces WHERE id = ANY($1)")
        .bind(vec![user, solo])
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(left, 0);
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM executions WHERE id = $1::uuid")
        .bind(&run)
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(runs, 0);
    assert!(s.launcher.running().is_empty(), "the executor still runs");
    assert!(
        billed
            .double
            .events()
            .iter()
            .any(|e| e["type"] == "customer.subscription.deleted"),
        "the subscription did not end at Stripe"
    );
    // Someone else's team keeps going without them.
    let members = s
        .app
        .send(Req::get(&format!("/api/v1/workspaces/{theirs}/members")).bearer(&other))
        .await
        .expect(200, None);
    assert_eq!(members.body["items"].as_array().map(Vec::len), Some(1));
    // The address can sign up again, as a new account.
    s.app
        .sign_up("leaver@example.com", PASSWORD)
        .await
        .expect(202, None);
    let again = s
        .app
        .login("leaver@example.com", PASSWORD)
        .await
        .expect(200, None);
    assert_ne!(again.body["user"]["id"], json!(user));
}

#[tokio::test]
async fn a_team_that_gained_members_after_the_request_is_handed_on_not_deleted() {
    // No sweeper here: the test runs the deletion step itself, after the joins.
    let app = spawn_app().await;
    let runs = saasit_tests::idle_runs(&app);
    let (owner_id, owner) = app.user("going@example.com").await;
    let team = app.team(&owner, "Handed").await;
    let solo = app.team(&owner, "Alone").await;
    app.send(delete_me(&owner, Some(PASSWORD)))
        .await
        .expect(202, None);
    // Members join before the sweeper gets to it (an invitation accepted meanwhile).
    let (viewer, _) = app.user("v@example.com").await;
    let (admin, admin_token) = app.user("a@example.com").await;
    for (id, role) in [(viewer, Role::Viewer), (admin, Role::Admin)] {
        shared::db::workspaces::add_member(&app.state.db, team, id, role, Some(owner_id))
            .await
            .expect("member");
    }
    let done = shared::runs::deletion::finish(&app.state, &runs, owner_id)
        .await
        .expect("finishes");
    assert!(done);
    assert!(gone(&app, owner_id).await);
    let solo_left: i64 = sqlx::query_scalar("SELECT count(*) FROM workspaces WHERE id = $1")
        .bind(solo)
        .fetch_one(&app.state.db)
        .await
        .expect("count");
    assert_eq!(solo_left, 0, "the team only they were in goes with them");
    let ws = app
        .send(Req::get(&format!("/api/v1/workspaces/{team}")).bearer(&admin_token))
        .await
        .expect(200, None);
    assert_eq!(
        ws.body["role"], "owner",
        "the admin inherits it: {}",
        ws.text
    );
}
