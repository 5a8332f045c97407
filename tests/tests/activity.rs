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

fn canvas() -> Value {
    json!({
        "nodes": [{"id": "start", "type": "trigger"}, {"id": "out", "type": "output", "config": {"value": "done"}}],
        "edges": [{"from": "start", "to": "out"}]
    })
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
    let (owner_id, owner) = app.user("ann@example.com").await;
    let (bob_id, bob) = app.user("bob@example.com").await;
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
    let (owner_id, owner) = app.user("ann@example.com").await;
    let (bob_id, bob) = app.user("bob@example.com").await;
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

    // Pages of two: every entry once, newest first (by number: 7 down to 1).
    let mut seen: Vec<i64> = Vec::new();
    let mut cursor: Option<i64> = None;
    loop {
        let q = match cursor {
            Some(c) => format!("?limit=2&cursor={c}"),
            None => "?limit=2".into(),
        };
        let page = activity(&app, &owner, ws, &q).await.expect(200, None).body;
        for e in page["items"].as_array().expect("items") {
            seen.push(e["seq"].as_i64().expect("seq"));
        }
        match page["nextCursor"].as_i64() {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(seen, [7, 6, 5, 4, 3, 2, 1], "newest first, no repeats");

    // Catching up after the third: the four after it, oldest first.
    let caught = activity(&app, &owner, ws, "?after=3")
        .await
        .expect(200, None)
        .body;
    let caught_seqs: Vec<i64> = caught["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(caught_seqs, [4, 5, 6, 7]);
    assert!(caught["nextCursor"].is_null());
    // Between: after 2, before 6.
    let between = activity(&app, &owner, ws, "?after=2&cursor=6")
        .await
        .expect(200, None)
        .body;
    assert_eq!(
        between["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["seq"].as_i64().expect("seq"))
            .collect::<Vec<_>>(),
        [3, 4, 5]
    );

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
    for q in ["?actor=not-a-uuid", "?cursor=x", "?after=-1"] {
        activity(&app, &owner, ws, q)
            .await
            .expect(400, Some("VALIDATION_ERROR"));
    }
}

#[tokio::test]
async fn entries_are_kept_as_long_as_the_plan_says() {
    let app = spawn_app().await;
    let (_, owner) = app.user("ann@example.com").await;
    let free = team(&app, &owner, Tier::Free, &[]).await;
    let pro = team(&app, &owner, Tier::Professional, &[]).await;
    // Entries ten days old in both (FREE keeps 7 days, PROFESSIONAL 90).
    for ws in [free, pro] {
        sqlx::query(
            "INSERT INTO activity_log (id, workspace_id, seq, action, resource_type, created_at)
             VALUES ($1, $2, 1000, 'workflow.created', 'workflow', now() - interval '10 days')",
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

    let pruned = housekeeping::prune(&app.state.db).await.expect("prune");
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
    let (_, owner) = app.user("ann@example.com").await;
    let (bob_id, bob) = app.user("bob@example.com").await;
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

#[tokio::test]
async fn a_workspace_numbers_its_activity_and_a_reconnect_gets_exactly_what_it_missed() {
    let s = spawn_stack().await;
    let app = &s.app;
    let (_, owner) = app.user("ann@example.com").await;
    let (bob_id, bob) = app.user("bob@example.com").await;
    let ws = team(
        app,
        &owner,
        Tier::Starter,
        &[(bob_id, shared::access::Role::Editor)],
    )
    .await;
    let h = ws.to_string();
    let create = |name: String| {
        let owner = owner.clone();
        let h = h.clone();
        async move {
            app.send(
                Req::post("/api/v1/workflows")
                    .bearer(&owner)
                    .header("x-workspace-id", &h)
                    .json(&json!({ "name": name })),
            )
            .await
            .expect(201, None);
        }
    };
    // Changes made at once are numbered 1, 2, 3, … with no gap or repeat.
    futures_util::future::join_all((0..20).map(|i| create(format!("w{i}")))).await;
    let page = activity(app, &owner, ws, "?limit=100")
        .await
        .expect(200, None)
        .body;
    let mut seqs: Vec<i64> = page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    seqs.sort_unstable();
    assert_eq!(
        seqs,
        (1..=21).collect::<Vec<_>>(),
        "workspace.created and 20 workflows"
    );

    // Bob follows the workspace from now (lastSeq 21), sees two changes live, drops.
    let mut c = ws::connect(&s.base_url, Some(&bob)).await.expect("connect");
    c.send(&json!({"action": "subscribe", "topic": format!("workspace:{ws}")}))
        .await;
    let ack = c.next(Duration::from_secs(5)).await.expect("ack");
    assert_eq!(
        (
            ack["type"].as_str(),
            ack["after"].as_i64(),
            ack["lastSeq"].as_i64()
        ),
        (Some("subscribed"), Some(21), Some(21))
    );
    create("live 1".into()).await;
    create("live 2".into()).await;
    let mut live = Vec::new();
    while live.len() < 2 {
        let f = c.next(Duration::from_secs(5)).await.expect("live activity");
        if f["type"] == "workspace:activity" {
            assert!(
                f["activity"]["ip"].is_null(),
                "no addresses on the topic: {f}"
            );
            live.push(f["seq"].as_i64().expect("seq"));
        }
    }
    assert_eq!(live, [22, 23]);
    c.close().await;

    // While away: three more changes. Back with after = 23: exactly 24, 25, 26, then live.
    for i in 0..3 {
        create(format!("away {i}")).await;
    }
    let mut c = ws::connect(&s.base_url, Some(&bob))
        .await
        .expect("reconnect");
    c.send(&json!({"action": "subscribe", "topic": format!("workspace:{ws}"), "after": 23}))
        .await;
    let ack = c.next(Duration::from_secs(5)).await.expect("ack");
    assert_eq!(
        (ack["after"].as_i64(), ack["lastSeq"].as_i64()),
        (Some(23), Some(26))
    );
    create("after".into()).await;
    let mut got = Vec::new();
    while got.len() < 4 {
        let f = c
            .next(Duration::from_secs(5))
            .await
            .expect("caught up and live");
        if f["type"] == "workspace:activity" {
            assert_eq!(f["activity"]["action"], "workflow.created");
            got.push(f["seq"].as_i64().expect("seq"));
        }
    }
    assert_eq!(got, [24, 25, 26, 27], "each once, in order, nothing missed");
    assert!(
        c.next(Duration::from_millis(500))
            .await
            .is_none_or(|f| f["type"] != "workspace:activity"),
        "no repeats"
    );
}

#[tokio::test]
async fn existing_activity_is_numbered_by_the_migration() {
    use sqlx::{Connection, Executor, PgConnection};
    let app = spawn_app().await;
    // A second database, migrated up to the one before activity numbers.
    let name = format!("test_{}", Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&app.database_url)
        .await
        .expect("connect");
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("create");
    let url = match app.database_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("database url"),
    };
    let mut db = PgConnection::connect(&url).await.expect("connect");
    let (before, after): (Vec<_>, Vec<_>) =
        shared::db::MIGRATOR.iter().partition(|m| m.version < 11);
    for m in before {
        db.execute(&*m.sql).await.expect("older migration");
    }
    let (u, team, quiet) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
    sqlx::query(
        "INSERT INTO users (id, email, name, password_hash) VALUES ($1, 'a@example.com', 'a', 'h')",
    )
    .bind(u)
    .execute(&mut db)
    .await
    .expect("user");
    sqlx::query("INSERT INTO workspaces (id, name, personal_of) VALUES ($1, 'Personal', $1)")
        .bind(u)
        .execute(&mut db)
        .await
        .expect("personal workspace");
    for w in [team, quiet] {
        sqlx::query("INSERT INTO workspaces (id, name) VALUES ($1, 'T')")
            .bind(w)
            .execute(&mut db)
            .await
            .expect("workspace");
    }
    // Three entries in one workspace, one in another, ids in time order.
    let ids: Vec<(Uuid, Uuid)> = vec![
        (Uuid::now_v7(), team),
        (Uuid::now_v7(), u),
        (Uuid::now_v7(), team),
        (Uuid::now_v7(), team),
    ];
    for (id, ws) in &ids {
        sqlx::query("INSERT INTO activity_log (id, workspace_id, actor_id, action, resource_type) VALUES ($1, $2, $3, 'workflow.created', 'workflow')")
            .bind(id)
            .bind(ws)
            .bind(u)
            .execute(&mut db)
            .await
            .expect("entry");
    }
    for m in after {
        db.execute(&*m.sql).await.expect("activity numbers");
    }
    let numbered: Vec<(Uuid, i64)> =
        sqlx::query_as("SELECT id, seq FROM activity_log WHERE workspace_id = $1 ORDER BY seq")
            .bind(team)
            .fetch_all(&mut db)
            .await
            .expect("numbered");
    assert_eq!(numbered, vec![(ids[0].0, 1), (ids[2].0, 2), (ids[3].0, 3)]);
    let counters: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT id, activity_seq FROM workspaces WHERE id = ANY($1) ORDER BY activity_seq",
    )
    .bind(vec![team, quiet, u])
    .fetch_all(&mut db)
    .await
    .expect("counters");
    assert_eq!(counters, vec![(quiet, 0), (u, 1), (team, 3)]);
    drop(db);
    admin
        .execute(format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#).as_str())
        .await
        .expect("drop");
}
