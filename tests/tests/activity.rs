//! The activity log: every change in a workspace is recorded in the change's
//! own transaction (who, what, which resource, when, from where), read
//! newest first with filters and a cursor, caught up with `after`, kept as
//! long as the plan says; and the workspace's members see it live.

use std::time::Duration;

use axum::http::Method;
use saasit_tests::{json, spawn_app, spawn_stack, ws, Req, TestApp, TestResponse};
use serde_json::Value;
use shared::{
    db::{housekeeping, workspaces},
    tier::Tier,
};
use uuid::Uuid;

const PASSWORD: &str = "correct horse 9";

fn canvas() -> Value {
    json!({
        "nodes": [{"id": "start", "type": "trigger"}, {"id": "out", "type": "output", "config": {"value": "done"}}],
        "edges": [{"from": "start", "to": "out"}]
    })
}

async fn user(app: &TestApp, email: &str) -> (Uuid, String) {
    let r = app.register(email, PASSWORD).await;
    (
        r["user"]["id"].as_str().expect("id").parse().expect("uuid"),
        r["accessToken"].as_str().expect("token").to_owned(),
    )
}

/// A team workspace on `tier` with `members` added directly.
async fn team(
    app: &TestApp,
    owner: &str,
    tier: Tier,
    members: &[(Uuid, shared::access::Role)],
) -> Uuid {
    let ws: Uuid = app
        .send(
            Req::post("/api/v1/workspaces")
                .bearer(owner)
                .json(&json!({"name": "Team"})),
        )
        .await
        .expect(201, None)
        .body["id"]
        .as_str()
        .expect("id")
        .parse()
        .expect("uuid");
    workspaces::set_tier(&app.state.db, ws, tier)
        .await
        .expect("tier");
    for (id, role) in members {
        workspaces::add_member(&app.state.db, ws, *id, *role, None)
            .await
            .expect("member");
    }
    ws
}

async fn activity(app: &TestApp, token: &str, ws: Uuid, query: &str) -> TestResponse {
    app.send(Req::get(&format!("/api/v1/workspaces/{ws}/activity{query}")).bearer(token))
        .await
}

fn actions(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

#[tokio::test]
async fn every_change_is_recorded_with_who_what_and_where() {
    let app = spawn_app().await;
    let (owner_id, owner) = user(&app, "ann@example.com").await;
    let (bob_id, bob) = user(&app, "bob@example.com").await;
    let ws = team(
        &app,
        &owner,
        Tier::Starter,
        &[(bob_id, shared::access::Role::Editor)],
    )
    .await;
    let h = ws.to_string();
    let as_bob = |r: Req| {
        r.bearer(&bob)
            .header("x-workspace-id", &h)
            .header("user-agent", "bob-cli/1.0")
            .from_ip("203.0.113.7")
    };

    let wf = app
        .send(
            as_bob(Req::post("/api/v1/workflows"))
                .json(&json!({"name": "flow", "canvas": canvas()})),
        )
        .await
        .expect(201, None)
        .body;
    let id = wf["id"].as_str().expect("id").to_owned();
    app.send(
        as_bob(Req::patch(&format!("/api/v1/workflows/{id}")))
            .json(&json!({"name": "flow 2", "baseVersion": 1})),
    )
    .await
    .expect(200, None);
    // A refused change records nothing.
    app.send(
        as_bob(Req::patch(&format!("/api/v1/workflows/{id}")))
            .json(&json!({"name": "stale", "baseVersion": 1})),
    )
    .await
    .expect(409, Some("CONFLICT"));
    let agent =
        app.send(as_bob(Req::post("/api/v1/agents")).json(
            &json!({"name": "helper", "displayName": "Helper", "systemPrompt": "You help."}),
        ))
        .await
        .expect(201, None)
        .body;
    let agent_id = agent["id"].as_str().expect("id");
    app.send(
        as_bob(Req::patch(&format!("/api/v1/agents/{agent_id}")))
            .json(&json!({"displayName": "Helper 2"})),
    )
    .await
    .expect(200, None);
    let run = app
        .send(
            as_bob(Req::post(&format!("/api/v1/workflows/{id}/execute")))
                .json(&json!({"inputs": {}})),
        )
        .await
        .expect(202, None)
        .body;
    let run_id = run["id"].as_str().expect("id");
    app.send(as_bob(Req::post(&format!(
        "/api/v1/executions/{run_id}/cancel"
    ))))
    .await
    .expect(200, None);
    // Cancelling again changes nothing and records nothing.
    app.send(as_bob(Req::post(&format!(
        "/api/v1/executions/{run_id}/cancel"
    ))))
    .await
    .expect(200, None);
    app.send(as_bob(Req::new(
        Method::DELETE,
        &format!("/api/v1/agents/{agent_id}"),
    )))
    .await
    .expect(204, None);
    app.send(as_bob(Req::new(
        Method::DELETE,
        &format!("/api/v1/workflows/{id}"),
    )))
    .await
    .expect(204, None);
    app.send(as_bob(Req::post(&format!(
        "/api/v1/workflows/{id}/restore"
    ))))
    .await
    .expect(200, None);
    app.send(
        Req::patch(&format!("/api/v1/workspaces/{ws}/members/{bob_id}"))
            .bearer(&owner)
            .json(&json!({"role": "viewer"})),
    )
    .await
    .expect(200, None);
    app.send(
        Req::patch(&format!("/api/v1/workspaces/{ws}"))
            .bearer(&owner)
            .json(&json!({"name": "Renamed"})),
    )
    .await
    .expect(200, None);

    let page = activity(&app, &owner, ws, "").await.expect(200, None).body;
    assert_eq!(
        actions(&page),
        [
            "workspace.renamed",
            "member.role_changed",
            "workflow.restored",
            "workflow.deleted",
            "agent.deleted",
            "run.cancelled",
            "run.started",
            "agent.updated",
            "agent.created",
            "workflow.updated",
            "workflow.created",
            "workspace.created",
        ]
    );
    assert_eq!(page["retentionDays"], 30);
    let items = page["items"].as_array().expect("items");
    let by = |action: &str| items.iter().find(|e| e["action"] == action).expect(action);
    let updated = by("workflow.updated");
    assert_eq!(updated["actor"]["id"], json!(bob_id));
    assert_eq!(updated["actor"]["email"], "bob@example.com");
    assert_eq!(updated["resourceType"], "workflow");
    assert_eq!(updated["resourceId"], json!(id));
    assert_eq!(updated["details"]["version"], 2);
    assert_eq!(updated["details"]["fields"], json!(["name"]));
    assert_eq!(updated["ip"], "203.0.113.7");
    assert_eq!(updated["userAgent"], "bob-cli/1.0");
    assert_eq!(by("run.started")["resourceId"], run["id"]);
    assert_eq!(by("run.started")["details"]["workflowId"], json!(id));
    assert_eq!(by("run.started")["details"]["trigger"], "manual");
    let role = by("member.role_changed");
    assert_eq!(role["actor"]["id"], json!(owner_id));
    assert_eq!(role["resourceId"], json!(bob_id));
    assert_eq!(
        (&role["details"]["from"], &role["details"]["to"]),
        (&json!("editor"), &json!("viewer"))
    );
    assert_eq!(
        by("workspace.renamed")["details"],
        json!({"from": "Team", "to": "Renamed"})
    );

    // Bob, now a viewer, reads the log but not where people connect from.
    let seen = activity(&app, &bob, ws, "").await.expect(200, None).body;
    assert_eq!(actions(&seen), actions(&page));
    assert!(seen["items"]
        .as_array()
        .expect("items")
        .iter()
        .all(|e| e["ip"].is_null() && e["userAgent"].is_null()));
    // Nothing of this workspace is in Bob's personal log.
    assert!(actions(
        &activity(&app, &bob, bob_id, "")
            .await
            .expect(200, None)
            .body
    )
    .is_empty());
}

#[tokio::test]
async fn the_log_is_filtered_paged_and_caught_up() {
    let app = spawn_app().await;
    let (owner_id, owner) = user(&app, "ann@example.com").await;
    let (bob_id, bob) = user(&app, "bob@example.com").await;
    let ws = team(
        &app,
        &owner,
        Tier::Starter,
        &[(bob_id, shared::access::Role::Editor)],
    )
    .await;
    let h = ws.to_string();
    let mut ids = Vec::new();
    for (i, token) in [&owner, &bob, &owner, &bob, &owner].into_iter().enumerate() {
        let wf = app
            .send(
                Req::post("/api/v1/workflows")
                    .bearer(token)
                    .header("x-workspace-id", &h)
                    .json(&json!({"name": format!("w{i}")})),
            )
            .await
            .expect(201, None)
            .body;
        ids.push(wf["id"].as_str().expect("id").to_owned());
    }
    app.send(
        Req::patch(&format!("/api/v1/workflows/{}", ids[0]))
            .bearer(&bob)
            .header("x-workspace-id", &h)
            .json(&json!({"name": "x", "baseVersion": 1})),
    )
    .await
    .expect(200, None);

    // By actor, resource, action.
    let mine = activity(&app, &owner, ws, &format!("?actor={bob_id}"))
        .await
        .expect(200, None)
        .body;
    assert_eq!(
        actions(&mine),
        ["workflow.updated", "workflow.created", "workflow.created"]
    );
    let first = activity(
        &app,
        &owner,
        ws,
        &format!("?resource=workflow&resourceId={}", ids[0]),
    )
    .await
    .expect(200, None)
    .body;
    assert_eq!(actions(&first), ["workflow.updated", "workflow.created"]);
    let created = activity(&app, &owner, ws, "?action=workflow.created")
        .await
        .expect(200, None)
        .body;
    assert_eq!(actions(&created).len(), 5);
    let owners = activity(
        &app,
        &owner,
        ws,
        &format!("?actor={owner_id}&resource=workspace"),
    )
    .await
    .expect(200, None)
    .body;
    assert_eq!(actions(&owners), ["workspace.created"]);

    // Time range: nothing in the future, everything since an hour ago.
    let soon = (chrono::Utc::now() + chrono::Duration::minutes(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let hour = (chrono::Utc::now() - chrono::Duration::hours(1))
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    assert!(actions(
        &activity(&app, &owner, ws, &format!("?since={soon}"))
            .await
            .expect(200, None)
            .body
    )
    .is_empty());
    assert_eq!(
        actions(
            &activity(&app, &owner, ws, &format!("?since={hour}&until={soon}"))
                .await
                .expect(200, None)
                .body
        )
        .len(),
        7
    );
    // An empty range is empty, not an error.
    assert!(actions(
        &activity(&app, &owner, ws, &format!("?since={soon}&until={hour}"))
            .await
            .expect(200, None)
            .body
    )
    .is_empty());

    // Pages of two: every entry once, newest first.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".into(),
        };
        let page = activity(&app, &owner, ws, &q).await.expect(200, None).body;
        for e in page["items"].as_array().expect("items") {
            seen.push(e["id"].as_str().expect("id").to_owned());
        }
        match page["nextCursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 7);
    let mut sorted = seen.clone();
    sorted.sort();
    sorted.reverse();
    assert_eq!(seen, sorted, "newest first, no repeats");

    // Catching up after the third-oldest: the four after it, oldest first.
    let after = &seen[4];
    let caught = activity(&app, &owner, ws, &format!("?after={after}"))
        .await
        .expect(200, None)
        .body;
    let caught_ids: Vec<&str> = caught["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["id"].as_str().expect("id"))
        .collect();
    let mut want: Vec<&str> = seen[..4].iter().map(String::as_str).collect();
    want.reverse();
    assert_eq!(caught_ids, want);
    assert!(caught["nextCursor"].is_null());

    // Bad filters are named.
    for (q, field) in [
        ("?limit=0", "limit"),
        ("?limit=101", "limit"),
        ("?resource=planet", "resource"),
        ("?action=workflow.exploded", "action"),
    ] {
        let r = activity(&app, &owner, ws, q)
            .await
            .expect(400, Some("VALIDATION_ERROR"));
        assert!(r.text.contains(field), "{q}: {}", r.text);
    }
    activity(&app, &owner, ws, "?actor=not-a-uuid")
        .await
        .expect(400, Some("VALIDATION_ERROR"));
}

#[tokio::test]
async fn entries_are_kept_as_long_as_the_plan_says() {
    let app = spawn_app().await;
    let (_, owner) = user(&app, "ann@example.com").await;
    let free = team(&app, &owner, Tier::Free, &[]).await;
    let pro = team(&app, &owner, Tier::Professional, &[]).await;
    // Entries ten days old in both (FREE keeps 7 days, PROFESSIONAL 90).
    for ws in [free, pro] {
        sqlx::query(
            "INSERT INTO activity_log (id, workspace_id, action, resource_type, created_at)
             VALUES ($1, $2, 'workflow.created', 'workflow', now() - interval '10 days')",
        )
        .bind(Uuid::now_v7())
        .bind(ws)
        .execute(&app.state.db)
        .await
        .expect("old entry");
    }
    let page = activity(&app, &owner, free, "")
        .await
        .expect(200, None)
        .body;
    assert_eq!(page["retentionDays"], 7);
    assert_eq!(
        actions(&page),
        ["workspace.created"],
        "past the FREE plan's retention"
    );
    assert_eq!(
        actions(&activity(&app, &owner, pro, "").await.expect(200, None).body).len(),
        2
    );

    let pruned = housekeeping::prune(&app.state.db, Duration::from_secs(900))
        .await
        .expect("prune");
    assert_eq!(pruned.activity, 1);
    let left: Vec<Uuid> = sqlx::query_scalar(
        "SELECT workspace_id FROM activity_log WHERE created_at < now() - interval '1 day'",
    )
    .fetch_all(&app.state.db)
    .await
    .expect("left");
    assert_eq!(left, [pro]);
    // An upgrade shows what the plan now keeps; nothing pruned comes back.
    workspaces::set_tier(&app.state.db, free, Tier::Professional)
        .await
        .expect("tier");
    let page = activity(&app, &owner, free, "")
        .await
        .expect(200, None)
        .body;
    assert_eq!(
        (page["retentionDays"].as_u64(), actions(&page).len()),
        (Some(90), 1)
    );
}

#[tokio::test]
async fn members_see_changes_live_and_a_removed_member_stops_receiving_them() {
    let s = spawn_stack().await;
    let app = &s.app;
    let (_, owner) = user(app, "ann@example.com").await;
    let (bob_id, bob) = user(app, "bob@example.com").await;
    let ws = team(
        app,
        &owner,
        Tier::Starter,
        &[(bob_id, shared::access::Role::Viewer)],
    )
    .await;
    let h = ws.to_string();
    let wf = app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&owner)
                .header("x-workspace-id", &h)
                .json(&json!({"name": "live", "canvas": canvas()})),
        )
        .await
        .expect(201, None)
        .body;
    let wf_id = wf["id"].as_str().expect("id");

    let mut c = ws::connect(&s.base_url, Some(&bob)).await.expect("connect");
    for topic in [format!("workspace:{ws}"), format!("workflow:{wf_id}")] {
        c.send(&json!({"action": "subscribe", "topic": topic}))
            .await;
        let f = c.next(Duration::from_secs(5)).await.expect("answer");
        assert_eq!(f["type"], "subscribed", "{f}");
    }
    app.send(
        Req::patch(&format!("/api/v1/workflows/{wf_id}"))
            .bearer(&owner)
            .header("x-workspace-id", &h)
            .json(&json!({"name": "live 2", "baseVersion": 1})),
    )
    .await
    .expect(200, None);
    let mut got = Vec::new();
    while let Some(f) = c.next(Duration::from_secs(3)).await {
        got.push(f.clone());
        if got.iter().any(|f| f["type"] == "workspace:activity")
            && got.iter().any(|f| f["type"] == "workflow:update")
        {
            break;
        }
    }
    let live = got
        .iter()
        .find(|f| f["type"] == "workspace:activity")
        .expect("activity frame");
    assert_eq!(live["workspaceId"], json!(ws));
    assert_eq!(live["activity"]["action"], "workflow.updated");
    assert_eq!(live["activity"]["resourceId"], json!(wf_id));

    // Removed: both subscriptions end at once, each said so.
    app.send(
        Req::new(
            Method::DELETE,
            &format!("/api/v1/workspaces/{ws}/members/{bob_id}"),
        )
        .bearer(&owner),
    )
    .await
    .expect(204, None);
    let mut ended = Vec::new();
    while let Some(f) = c.next(Duration::from_secs(3)).await {
        if f["type"] == "unsubscribed" {
            assert_eq!(f["reason"], "membership_ended", "{f}");
            ended.push(f["topic"].as_str().expect("topic").to_owned());
        }
        if ended.len() == 2 {
            break;
        }
    }
    ended.sort();
    let mut want = vec![format!("workflow:{wf_id}"), format!("workspace:{ws}")];
    want.sort();
    assert_eq!(ended, want);
    // Nothing more arrives, and subscribing again is refused.
    app.send(
        Req::patch(&format!("/api/v1/workflows/{wf_id}"))
            .bearer(&owner)
            .header("x-workspace-id", &h)
            .json(&json!({"name": "live 3", "baseVersion": 2})),
    )
    .await
    .expect(200, None);
    c.send(&json!({"action": "subscribe", "topic": format!("workspace:{ws}")}))
        .await;
    let mut after = Vec::new();
    while let Some(f) = c.next(Duration::from_secs(2)).await {
        after.push(f);
    }
    assert!(
        after
            .iter()
            .all(|f| f["type"] != "workspace:activity" && f["type"] != "workflow:update"),
        "{after:?}"
    );
    assert!(
        after.iter().any(|f| f["type"] == "error"),
        "the re-subscribe is refused: {after:?}"
    );
}
