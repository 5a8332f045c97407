//! Invitations: by email, single use, seven days, only for the address they
//! were sent to; seats count members and pending invitations; an email that
//! cannot be sent changes nothing.

use saasit_tests::{json, spawn_app, spawn_app_with, Req, TestApp};
use serde_json::Value;
use shared::{db::workspaces, tier::Tier};
use uuid::Uuid;

async fn invite(
    app: &TestApp,
    token: &str,
    ws: Uuid,
    email: &str,
    role: &str,
) -> saasit_tests::TestResponse {
    app.send(
        Req::post(&format!("/api/v1/workspaces/{ws}/invitations"))
            .bearer(token)
            .json(&json!({ "email": email, "role": role })),
    )
    .await
}

/// The invitation emails sent (not the sign-up verifications), oldest first.
async fn invitation_emails(app: &TestApp) -> Vec<shared::email::OutgoingEmail> {
    app.outbox()
        .await
        .into_iter()
        .map(|s| s.email)
        .filter(|e| e.subject.contains("invited you"))
        .collect()
}

/// The token in the newest email to `to`, from its link.
async fn token_for(app: &TestApp, to: &str) -> String {
    let sent = app.outbox().await;
    let email = sent
        .iter()
        .rev()
        .find(|s| s.email.to == to && s.email.subject.contains("invited you"))
        .unwrap_or_else(|| panic!("no email to {to}"));
    let text = &email.email.text;
    let at = text.find("token=").expect("a link with a token") + "token=".len();
    text[at..at + 64].to_owned()
}

async fn answer(
    app: &TestApp,
    token: &str,
    what: &str,
    invitation: &str,
) -> saasit_tests::TestResponse {
    app.send(
        Req::post(&format!("/api/v1/invitations/{what}"))
            .bearer(token)
            .json(&json!({ "token": invitation })),
    )
    .await
}

fn items(v: &Value) -> &Vec<Value> {
    v["items"].as_array().expect("items")
}

#[tokio::test]
async fn an_invitation_is_emailed_accepted_once_and_the_new_member_works() {
    let app = spawn_app().await;
    let (owner_id, owner) = app.user("ann@example.com").await;
    let ws = app.team(&owner, "Research <team>").await;
    // Invited before they have an account; the address is normalised.
    let inv = invite(&app, &owner, ws, "  Sam@Example.com ", "editor")
        .await
        .expect(201, None)
        .body;
    assert_eq!(inv["email"], "sam@example.com");
    assert_eq!(inv["role"], "editor");
    assert_eq!(inv["status"], "pending");
    assert_eq!(inv["invitedBy"], json!(owner_id));
    assert!(inv.get("token").is_none() && !inv.to_string().contains("tokenHash"));
    let expires: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(inv["expiresAt"].clone()).expect("time");
    let days = (expires - chrono::Utc::now()).num_hours();
    assert!((167..=168).contains(&days), "seven days, not {days} hours");

    // The email: subject, link into the app, the workspace's name escaped in HTML.
    let sent = invitation_emails(&app).await;
    assert_eq!(sent.len(), 1);
    let email = &sent[0];
    assert_eq!(email.to, "sam@example.com");
    assert!(
        email.subject.contains("Research <team>"),
        "{}",
        email.subject
    );
    assert!(email
        .text
        .contains("http://127.0.0.1:3000/invitations/accept#token="));
    assert!(email
        .html
        .as_deref()
        .expect("html")
        .contains("Research &lt;team&gt;"));
    let link = token_for(&app, "sam@example.com").await;

    // The token is stored only as its SHA-256.
    let (hashed, anywhere): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM workspace_invitations WHERE token_hash = sha256(convert_to($1, 'UTF8'))),
                (SELECT count(*) FROM workspace_invitations i WHERE position($1 in i::text) > 0)",
    )
    .bind(&link)
    .fetch_one(&app.state.db)
    .await
    .expect("query");
    assert_eq!((hashed, anywhere), (1, 0));

    let (sam_id, sam) = app.user("sam@example.com").await;
    let mine = app
        .send(Req::get("/api/v1/invitations").bearer(&sam))
        .await
        .expect(200, None)
        .body;
    assert_eq!(items(&mine).len(), 1);
    assert_eq!(mine["items"][0]["workspaceName"], "Research <team>");
    assert_eq!(mine["items"][0]["invitedByName"], "ann");
    // Not a member yet: the workspace is not theirs to see.
    app.send(Req::get(&format!("/api/v1/workspaces/{ws}")).bearer(&sam))
        .await
        .expect(404, Some("NOT_FOUND"));

    let joined = answer(&app, &sam, "accept", &link)
        .await
        .expect(200, None)
        .body;
    assert_eq!(joined["workspace"]["id"], json!(ws));
    assert_eq!(joined["workspace"]["role"], "editor");
    assert_eq!(joined["workspace"]["members"], 2);
    // Single use.
    let again = answer(&app, &sam, "accept", &link)
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(again.body["error"]["details"]["reason"], "accepted");
    assert!(items(
        &app.send(Req::get("/api/v1/invitations").bearer(&sam))
            .await
            .expect(200, None)
            .body
    )
    .is_empty());
    assert!(items(
        &app.send(Req::get(&format!("/api/v1/workspaces/{ws}/invitations")).bearer(&owner))
            .await
            .expect(200, None)
            .body
    )
    .is_empty());

    // The new editor works in the workspace.
    let h = ws.to_string();
    app.send(
        Req::post("/api/v1/workflows")
            .bearer(&sam)
            .header("x-workspace-id", &h)
            .json(&json!({"name": "from sam"})),
    )
    .await
    .expect(201, None);
    let members = app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/members")).bearer(&owner))
        .await
        .expect(200, None)
        .body;
    let sam_row = items(&members)
        .iter()
        .find(|m| m["userId"] == json!(sam_id))
        .expect("sam is a member");
    assert_eq!(sam_row["role"], "editor");
    assert_eq!(sam_row["invitedBy"], json!(owner_id));

    // Already a member: a second invitation is refused.
    invite(&app, &owner, ws, "sam@example.com", "viewer")
        .await
        .expect(409, Some("CONFLICT"));
}

#[tokio::test]
async fn only_the_invited_address_answers_and_links_expire_change_and_die() {
    let app = spawn_app().await;
    let (_, owner) = app.user("ann@example.com").await;
    let ws = app.team(&owner, "Team").await;
    let (_, eve) = app.user("eve@example.com").await;
    let (_, bob) = app.user("bob@example.com").await;
    let inv = invite(&app, &owner, ws, "bob@example.com", "viewer")
        .await
        .expect(201, None)
        .body;
    let first = token_for(&app, "bob@example.com").await;

    // Someone else holding the link cannot use it.
    let r = answer(&app, &eve, "accept", &first)
        .await
        .expect(403, Some("FORBIDDEN"));
    assert_eq!(r.body["error"]["details"]["reason"], "email_mismatch");
    answer(&app, &eve, "decline", &first)
        .await
        .expect(403, Some("FORBIDDEN"));
    // Not a token; a token that opens nothing.
    answer(&app, &bob, "accept", "abc")
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    answer(&app, &bob, "accept", &"0".repeat(64))
        .await
        .expect(404, Some("NOT_FOUND"));
    // Inviting the same address again while pending: send it again instead.
    let r = invite(&app, &owner, ws, "bob@example.com", "editor")
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(r.body["error"]["details"]["reason"], "pending");
    assert_eq!(r.body["error"]["details"]["invitationId"], inv["id"]);

    // Past its seven days: 410, listed as expired.
    sqlx::query("UPDATE workspace_invitations SET expires_at = now() - interval '1 second'")
        .execute(&app.state.db)
        .await
        .expect("expire");
    answer(&app, &bob, "accept", &first)
        .await
        .expect(410, Some("INVITATION_EXPIRED"));
    let listed = app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/invitations")).bearer(&owner))
        .await
        .expect(200, None)
        .body;
    assert_eq!(listed["items"][0]["status"], "expired");
    assert!(items(
        &app.send(Req::get("/api/v1/invitations").bearer(&bob))
            .await
            .expect(200, None)
            .body
    )
    .is_empty());

    // Sent again (as editor): a new link, seven more days; the old link is dead.
    let id = inv["id"].as_str().expect("id");
    let again = app
        .send(
            Req::post(&format!("/api/v1/workspaces/{ws}/invitations/{id}/resend"))
                .bearer(&owner)
                .json(&json!({"role": "editor"})),
        )
        .await
        .expect(200, None)
        .body;
    assert_eq!(again["status"], "pending");
    assert_eq!(again["role"], "editor");
    assert_eq!(again["sentCount"], 2);
    let second = token_for(&app, "bob@example.com").await;
    assert_ne!(first, second);
    answer(&app, &bob, "accept", &first)
        .await
        .expect(404, Some("NOT_FOUND"));

    // Declined: the link is used up.
    answer(&app, &bob, "decline", &second)
        .await
        .expect(204, None);
    let r = answer(&app, &bob, "accept", &second)
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(r.body["error"]["details"]["reason"], "declined");
    app.send(Req::get(&format!("/api/v1/workspaces/{ws}")).bearer(&bob))
        .await
        .expect(404, Some("NOT_FOUND"));

    // Revoked: the link stops working; revoking twice is a conflict.
    let inv = invite(&app, &owner, ws, "bob@example.com", "viewer")
        .await
        .expect(201, None)
        .body;
    let third = token_for(&app, "bob@example.com").await;
    let url = format!(
        "/api/v1/workspaces/{ws}/invitations/{}",
        inv["id"].as_str().expect("id")
    );
    app.send(Req::new(axum::http::Method::DELETE, &url).bearer(&owner))
        .await
        .expect(204, None);
    app.send(Req::new(axum::http::Method::DELETE, &url).bearer(&owner))
        .await
        .expect(409, Some("CONFLICT"));
    let r = answer(&app, &bob, "accept", &third)
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(r.body["error"]["details"]["reason"], "revoked");

    // A personal workspace is not shared.
    let (me, solo) = app.user("solo@example.com").await;
    let r = invite(&app, &solo, me, "bob@example.com", "viewer")
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(r.body["error"]["details"]["reason"], "personal");
    // Bad input is named.
    let r = invite(&app, &owner, ws, "not an address", "viewer")
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    assert!(r.text.contains("email"));
    invite(&app, &owner, ws, "x@example.com", "owner")
        .await
        .expect(400, Some("VALIDATION_ERROR"));
}

#[tokio::test]
async fn seats_count_members_and_pending_invitations() {
    let app = spawn_app().await;
    let (_, owner) = app.user("ann@example.com").await;
    let ws = app.team(&owner, "Small team").await;
    // FREE: three seats — the owner and two invitations.
    assert_eq!(Tier::Free.limits().seats, 3);
    invite(&app, &owner, ws, "a@example.com", "viewer")
        .await
        .expect(201, None);
    let b = invite(&app, &owner, ws, "b@example.com", "viewer")
        .await
        .expect(201, None)
        .body;
    let r = invite(&app, &owner, ws, "c@example.com", "viewer")
        .await
        .expect(403, Some("TIER_LIMIT"));
    assert_eq!(r.body["error"]["details"]["limit"], "seats");
    assert_eq!(r.body["error"]["details"]["max"], 3);
    assert_eq!(r.body["error"]["details"]["used"], 3);
    assert_eq!(
        invitation_emails(&app).await.len(),
        2,
        "no email for a refused invitation"
    );

    // A revoked invitation frees its seat.
    let url = format!(
        "/api/v1/workspaces/{ws}/invitations/{}",
        b["id"].as_str().expect("id")
    );
    app.send(Req::new(axum::http::Method::DELETE, &url).bearer(&owner))
        .await
        .expect(204, None);
    invite(&app, &owner, ws, "c@example.com", "viewer")
        .await
        .expect(201, None);
    invite(&app, &owner, ws, "d@example.com", "viewer")
        .await
        .expect(403, Some("TIER_LIMIT"));

    // An expired invitation holds no seat; renewing it needs one again.
    sqlx::query("UPDATE workspace_invitations SET expires_at = now() - interval '1 minute' WHERE email = 'c@example.com'")
        .execute(&app.state.db)
        .await
        .expect("expire");
    invite(&app, &owner, ws, "d@example.com", "viewer")
        .await
        .expect(201, None);
    let c: String = sqlx::query_scalar("SELECT id::text FROM workspace_invitations WHERE email = 'c@example.com' AND status = 'pending'")
        .fetch_one(&app.state.db)
        .await
        .expect("c");
    app.send(Req::post(&format!("/api/v1/workspaces/{ws}/invitations/{c}/resend")).bearer(&owner))
        .await
        .expect(403, Some("TIER_LIMIT"));

    // A bigger plan: more seats; accepting moves a pending seat to a member.
    workspaces::set_tier(&app.state.db, ws, Tier::Starter)
        .await
        .expect("tier");
    app.send(Req::post(&format!("/api/v1/workspaces/{ws}/invitations/{c}/resend")).bearer(&owner))
        .await
        .expect(200, None);
    let (_, a) = app.user("a@example.com").await;
    let link = token_for(&app, "a@example.com").await;
    answer(&app, &a, "accept", &link).await.expect(200, None);
    let w = app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}")).bearer(&owner))
        .await
        .expect(200, None)
        .body;
    assert_eq!(w["members"], 2);
    assert_eq!(w["seats"], 5);
}

#[tokio::test]
async fn concurrent_invitations_never_take_more_seats_than_the_plan_has() {
    let app = spawn_app().await;
    let (_, owner) = app.user("ann@example.com").await;
    let ws = app.team(&owner, "Race").await;
    let attempts = (0..12).map(|i| {
        let app = &app;
        let owner = owner.clone();
        async move {
            invite(app, &owner, ws, &format!("p{i}@example.com"), "viewer")
                .await
                .status
                .as_u16()
        }
    });
    let statuses = futures_util::future::join_all(attempts).await;
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        2,
        "{statuses:?}"
    );
    assert!(
        statuses.iter().all(|s| *s == 201 || *s == 403),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn an_email_that_cannot_be_sent_changes_nothing() {
    // The outbox is a path under a file: every send fails as unavailable.
    let file = std::env::temp_dir().join(format!("not-a-dir-{}", Uuid::now_v7().simple()));
    std::fs::write(&file, "x").expect("file");
    let dir = file.join("outbox");
    let app = spawn_app_with(&[("EMAIL_OUTBOX_DIR", dir.to_str().expect("utf-8"))]).await;
    let (_, owner) = app.user("ann@example.com").await;
    let ws = app.team(&owner, "Team").await;
    let r = invite(&app, &owner, ws, "bob@example.com", "viewer")
        .await
        .expect(503, Some("SERVICE_UNAVAILABLE"));
    assert_eq!(r.body["error"]["details"]["reason"], "email");
    assert!(r.header("retry-after").is_some());
    let pending: i64 = sqlx::query_scalar("SELECT count(*) FROM workspace_invitations")
        .fetch_one(&app.state.db)
        .await
        .expect("count");
    assert_eq!(pending, 0, "no invitation without its email");
    let logged: i64 =
        sqlx::query_scalar("SELECT count(*) FROM activity_log WHERE action LIKE 'invitation.%'")
            .fetch_one(&app.state.db)
            .await
            .expect("count");
    assert_eq!(logged, 0);
    std::fs::remove_file(&file).expect("cleanup");
}
