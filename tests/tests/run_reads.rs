//! Reads that fit Lambda (issue 10, defect 7): lists carry what they show and
//! nothing else, `/nodes` pages, and no page of events or nodes grows past
//! 4 MiB however large the run's outputs (Lambda answers at most 6 MB).

use saasit_tests::{json, spawn_app, Req, TestApp};
use serde_json::Value;
use shared::{
    db::executions::{self, NewEvent, NewExecution},
    runs::trigger::TriggerType,
    tier::{Priority, Tier},
};
use uuid::Uuid;

const PAGE_CAP: usize = 4 * 1024 * 1024;

fn chain(n: usize) -> Value {
    let mut nodes = vec![json!({"id": "start", "type": "trigger"})];
    let mut edges = Vec::new();
    let mut prev = "start".to_owned();
    for i in 0..n {
        let id = format!("n{i}");
        nodes.push(json!({"id": id, "type": "transform", "config": {"template": {"i": i}}}));
        edges.push(json!({"from": prev, "to": id}));
        prev = id;
    }
    json!({"nodes": nodes, "edges": edges})
}

/// A user with a workflow, and one run of it; the run's owner token and id.
async fn run_of(app: &TestApp, email: &str) -> (String, Uuid) {
    let token = app.register(email, "correct horse 9").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    let owner: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.state.db)
        .await
        .expect("owner");
    let wf = app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&token)
                .json(&json!({"name": "big", "canvas": chain(1000)})),
        )
        .await
        .expect(201, None)
        .body;
    let (e, _) = executions::insert(
        &mut app.state.db.acquire().await.expect("connection"),
        NewExecution {
            id: Uuid::now_v7(),
            workspace_id: owner,
            started_by: Some(owner),
            workflow_id: wf["id"].as_str().expect("id").parse().expect("uuid"),
            workflow_version: 1,
            tier: Tier::Professional,
            priority: Priority::Standard,
            graph: &chain(1000),
            inputs: &json!({"document": "i".repeat(100_000)}),
            prior_outputs: &json!({}),
            idempotency_key: None,
            retry_of: None,
            trigger_type: TriggerType::Manual,
            trigger_data: &json!({}),
            queue_deadline: chrono::Utc::now() + chrono::Duration::hours(1),
        },
    )
    .await
    .expect("execution");
    (token, e.id)
}

/// Stores node events: `nodes` nodes, each started then succeeded with an
/// output of `output_bytes`.
async fn report(app: &TestApp, id: Uuid, nodes: usize, output_bytes: usize) {
    let payloads: Vec<(i64, String, &'static str, Value)> = (0..nodes)
        .flat_map(|i| {
            let node = format!("n{i}");
            [
                (
                    2 * i as i64 + 1,
                    node.clone(),
                    "node_started",
                    json!({"type": "node_started", "node": node, "attempt": 1, "seq": 2 * i + 1, "ts": "2026-01-01T00:00:00Z"}),
                ),
                (
                    2 * i as i64 + 2,
                    node.clone(),
                    "node_succeeded",
                    json!({"type": "node_succeeded", "node": node, "output": {"text": "x".repeat(output_bytes)}, "seq": 2 * i + 2, "ts": "2026-01-01T00:00:01Z"}),
                ),
            ]
        })
        .collect();
    for chunk in payloads.chunks(100) {
        let rows: Vec<NewEvent<'_>> = chunk
            .iter()
            .map(|(seq, node, kind, p)| NewEvent {
                seq: *seq,
                kind,
                node: Some(node),
                payload: p,
                ts: chrono::Utc::now(),
                tokens: 0,
                usage: None,
            })
            .collect();
        let mut tx = app.state.db.begin().await.expect("tx");
        executions::insert_events(&mut *tx, id, &rows, std::time::Duration::from_secs(1200))
            .await
            .expect("events");
        tx.commit().await.expect("commit");
    }
}

#[tokio::test]
async fn lists_carry_what_they_show_and_nothing_else() {
    let app = spawn_app().await;
    let (token, id) = run_of(&app, "reads-lists@example.com").await;
    let page = app
        .send(Req::get("/api/v1/executions?limit=20").bearer(&token))
        .await
        .expect(200, None);
    let item = &page.body["items"][0];
    assert_eq!(item["id"], id.to_string());
    assert_eq!(item["status"], "queued");
    for heavy in ["inputs", "output", "graph"] {
        assert!(item.get(heavy).is_none(), "{heavy} is not listed: {item}");
    }
    assert!(page.text.len() < 2_000, "{} bytes", page.text.len());
    // The run itself still shows its inputs.
    let one = app
        .send(Req::get(&format!("/api/v1/executions/{id}")).bearer(&token))
        .await
        .expect(200, None)
        .body;
    assert_eq!(
        one["inputs"]["document"].as_str().map(str::len),
        Some(100_000)
    );

    let wfs = app
        .send(Req::get("/api/v1/workflows?limit=20").bearer(&token))
        .await
        .expect(200, None);
    let wf = &wfs.body["items"][0];
    assert!(wf.get("canvas").is_none(), "{wf}");
    assert!(wfs.text.len() < 2_000, "{} bytes", wfs.text.len());
    let versions = app
        .send(
            Req::get(&format!(
                "/api/v1/workflows/{}/versions",
                wf["id"].as_str().expect("id")
            ))
            .bearer(&token),
        )
        .await
        .expect(200, None);
    assert_eq!(versions.body[0]["version"], 1);
    assert!(versions.body[0].get("canvas").is_none());
}

#[tokio::test]
async fn nodes_page_through_a_thousand_nodes_in_order_once_each() {
    let app = spawn_app().await;
    let (token, id) = run_of(&app, "reads-nodes@example.com").await;
    report(&app, id, 1000, 100).await;
    let mut seen = Vec::new();
    let mut after = None::<i64>;
    let mut pages = 0;
    loop {
        let path = match after {
            Some(a) => format!("/api/v1/executions/{id}/nodes?limit=300&after={a}"),
            None => format!("/api/v1/executions/{id}/nodes?limit=300"),
        };
        let page = app
            .send(Req::get(&path).bearer(&token))
            .await
            .expect(200, None)
            .body;
        pages += 1;
        for n in page["items"].as_array().expect("items") {
            assert_eq!(n["status"], "succeeded");
            seen.push(n["node"].as_str().expect("node").to_owned());
        }
        match page["nextAfter"].as_i64() {
            Some(a) => after = Some(a),
            None => break,
        }
    }
    assert_eq!(pages, 4);
    let expected: Vec<String> = (0..1000).map(|i| format!("n{i}")).collect();
    assert_eq!(seen, expected);

    for bad in ["limit=0", "limit=501"] {
        app.send(Req::get(&format!("/api/v1/executions/{id}/nodes?{bad}")).bearer(&token))
            .await
            .expect(400, Some("VALIDATION_ERROR"));
    }
}

#[tokio::test]
async fn no_page_of_nodes_or_events_grows_past_four_mebibytes() {
    let app = spawn_app().await;
    let (token, id) = run_of(&app, "reads-big@example.com").await;
    // 120 nodes with 200 KB outputs: 24 MB of node outputs, 240 events.
    report(&app, id, 120, 200_000).await;

    let mut nodes = 0;
    let mut after = 0;
    loop {
        let page = app
            .send(
                Req::get(&format!(
                    "/api/v1/executions/{id}/nodes?limit=500&after={after}"
                ))
                .bearer(&token),
            )
            .await
            .expect(200, None);
        assert!(
            page.text.len() <= PAGE_CAP + 1024,
            "{} bytes",
            page.text.len()
        );
        nodes += page.body["items"].as_array().expect("items").len();
        match page.body["nextAfter"].as_i64() {
            Some(a) => after = a,
            None => break,
        }
    }
    assert_eq!(nodes, 120);

    let mut events = Vec::new();
    let mut after = 0;
    loop {
        let page = app
            .send(
                Req::get(&format!(
                    "/api/v1/executions/{id}/logs?limit=1000&after={after}"
                ))
                .bearer(&token),
            )
            .await
            .expect(200, None);
        assert!(
            page.text.len() <= PAGE_CAP + 1024,
            "{} bytes",
            page.text.len()
        );
        let got = page.body["events"].as_array().expect("events").clone();
        assert_eq!(page.body["finished"], false);
        if got.is_empty() {
            assert_eq!(page.body["nextAfter"], after);
            break;
        }
        after = page.body["nextAfter"].as_i64().expect("nextAfter");
        events.extend(got);
    }
    let seqs: Vec<i64> = events
        .iter()
        .map(|e| e["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(seqs, (1..=240).collect::<Vec<i64>>());
}
