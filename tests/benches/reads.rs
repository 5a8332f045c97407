//! Read routes under load, for a user with large workflows and runs (issue 10,
//! defect 7): a dozen workflows of 1,000-node canvases with five versions
//! each, forty finished runs with large inputs and outputs, and one run with
//! 1,000 reporting nodes. Run with:
//! DATABASE_URL=postgres://… cargo bench -p saasit-tests --bench reads
//!
//! Prints, per route: requests per second with 32 concurrent clients over
//! three seconds, the response size, and p50/p95 latency; then 200 clients
//! mixing the routes: p50/p95. The handlers run in-process (`oneshot`) on
//! real Postgres with a pool of 10 connections, as the local stack.

// A load script: printing its figures is its job.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use saasit_tests::{json, spawn_app_with, Req, TestApp};
use serde_json::Value;
use shared::{
    db::executions::{self, Ending, NewEvent, NewExecution},
    protocol::RunStatus,
    runs::trigger::TriggerType,
    tier::{Priority, Tier},
};
use uuid::Uuid;

fn big_canvas(tag: usize) -> Value {
    let mut nodes = vec![json!({"id": "start", "type": "trigger"})];
    let mut edges = Vec::new();
    let mut prev = "start".to_owned();
    for i in 0..999 {
        let id = format!("n{i}");
        nodes.push(json!({
            "id": id, "type": "transform",
            "config": {"template": {"step": i, "tag": tag, "note": "a node with a little text in its config"}},
            "position": {"x": i * 40, "y": (i % 7) * 30}
        }));
        edges.push(json!({"from": prev, "to": id}));
        prev = id;
    }
    json!({"nodes": nodes, "edges": edges})
}

async fn seed(app: &TestApp) -> (String, String, String) {
    let email = "reads@example.com";
    let token = app.register(email, "correct horse 9").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    sqlx::query("UPDATE workspaces SET tier = 'PROFESSIONAL' WHERE id = (SELECT id FROM users WHERE email = $1)")
        .bind(email)
        .execute(&app.state.db)
        .await
        .expect("tier");
    let owner: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.state.db)
        .await
        .expect("owner");
    let mut first = String::new();
    for w in 0..12 {
        let r = app
            .send(
                Req::post("/api/v1/workflows")
                    .bearer(&token)
                    .json(&json!({"name": format!("big {w}"), "canvas": big_canvas(0)})),
            )
            .await;
        let id = r.body["id"].as_str().expect("id").to_owned();
        for v in 1..5 {
            let r = app
                .send(
                    Req::patch(&format!("/api/v1/workflows/{id}"))
                        .bearer(&token)
                        .header("if-match", &v.to_string())
                        .json(&json!({"canvas": big_canvas(v)})),
                )
                .await;
            assert!(r.status.is_success(), "{}", r.text);
        }
        if first.is_empty() {
            first = id;
        }
    }
    let wf: Uuid = first.parse().expect("uuid");
    let graph = big_canvas(0);
    let inputs = json!({"document": "i".repeat(20_000)});
    let output = json!({"summary": "o".repeat(50_000)});
    let mut with_nodes = String::new();
    for n in 0..40 {
        let (e, _) = executions::insert(
            &mut app.state.db.acquire().await.expect("connection"),
            NewExecution {
                id: Uuid::now_v7(),
                workspace_id: owner,
                started_by: Some(owner),
                workflow_id: wf,
                workflow_version: 5,
                tier: Tier::Professional,
                priority: Priority::Standard,
                graph: &graph,
                inputs: &inputs,
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
        if n == 0 {
            // A thousand nodes report: started and succeeded, 2 KB each.
            let payloads: Vec<(Value, Value)> = (0..1000)
                .map(|i| {
                    (
                        json!({"type": "node_started", "node": format!("n{i}"), "attempt": 1, "ts": "2026-01-01T00:00:00Z"}),
                        json!({"type": "node_succeeded", "node": format!("n{i}"), "output": {"text": "x".repeat(2000)}, "ts": "2026-01-01T00:00:01Z"}),
                    )
                })
                .collect();
            let mut rows = Vec::new();
            for (i, (a, b)) in payloads.iter().enumerate() {
                let node = format!("n{i}");
                for (k, (p, kind)) in [(a, "node_started"), (b, "node_succeeded")]
                    .into_iter()
                    .enumerate()
                {
                    rows.push((
                        i64::try_from(2 * i + k + 1).expect("seq"),
                        kind,
                        node.clone(),
                        p,
                    ));
                }
            }
            for chunk in rows.chunks(200) {
                let events: Vec<NewEvent<'_>> = chunk
                    .iter()
                    .map(|(seq, kind, node, p)| NewEvent {
                        seq: *seq,
                        kind,
                        node: Some(node.as_str()),
                        payload: p,
                        ts: chrono::Utc::now(),
                        tokens: 0,
                        usage: None,
                    })
                    .collect();
                let mut tx = app.state.db.begin().await.expect("tx");
                executions::insert_events(&mut *tx, e.id, &events, Duration::from_secs(1200))
                    .await
                    .expect("events");
                tx.commit().await.expect("commit");
            }
            with_nodes = e.id.to_string();
        }
        executions::finish(
            &app.state.db,
            e.id,
            Ending {
                status: RunStatus::Completed,
                output: Some(&output),
                output_ref: None,
                error: None,
                failed_node: None,
                reason: None,
            },
        )
        .await
        .expect("finish");
    }
    (token, first, with_nodes)
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

/// 32 clients for three seconds: (requests, bytes of one response, latencies).
async fn load(app: &TestApp, token: &str, path: &str) -> (usize, usize, Vec<Duration>) {
    let stop = Instant::now() + Duration::from_secs(3);
    let clients = (0..32).map(|_| async move {
        let mut lat = Vec::new();
        let mut size = 0;
        while Instant::now() < stop {
            let t = Instant::now();
            let r = app.send(Req::get(path).bearer(token)).await;
            lat.push(t.elapsed());
            assert!(r.status.is_success(), "{path}: {}", r.status);
            size = r.text.len();
        }
        (lat, size)
    });
    let results = futures_util::future::join_all(clients).await;
    let size = results.first().map_or(0, |r| r.1);
    let mut all: Vec<Duration> = results.into_iter().flat_map(|r| r.0).collect();
    all.sort();
    (all.len(), size, all)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        // The local stack's pool; requests wait for a connection rather than fail.
        let app = spawn_app_with(&[
            ("DB_MAX_CONNECTIONS", "10"),
            ("DB_ACQUIRE_TIMEOUT_MS", "60000"),
        ])
        .await;
        let (token, wf, run) = seed(&app).await;
        let routes = [
            ("GET /auth/me".to_owned(), "/api/v1/auth/me".to_owned()),
            (
                "GET /workflows?limit=20".to_owned(),
                "/api/v1/workflows?limit=20".to_owned(),
            ),
            (
                "GET /workflows/{id}/versions".to_owned(),
                format!("/api/v1/workflows/{wf}/versions"),
            ),
            (
                "GET /executions?limit=20".to_owned(),
                "/api/v1/executions?limit=20".to_owned(),
            ),
            (
                "GET /executions/{id}/nodes".to_owned(),
                format!("/api/v1/executions/{run}/nodes"),
            ),
        ];
        println!("reads for a user with 12 workflows of 1,000 nodes (5 versions each) and 40 large runs:");
        for (name, path) in &routes {
            load(&app, &token, path).await; // warm-up
            let (n, size, lat) = load(&app, &token, path).await;
            println!(
                "{name:<30} {:>8.0} req/s   {:>9} bytes   p50 {:>7.1} ms   p95 {:>7.1} ms",
                n as f64 / 3.0,
                size,
                pct(&lat, 0.5),
                pct(&lat, 0.95)
            );
        }
        let clients = (0..200).map(|c| {
            let (app, token, routes) = (&app, &token, &routes);
            async move {
                let mut lat = Vec::new();
                for i in 0..10 {
                    let (_, path) = &routes[(c + i) % routes.len()];
                    let t = Instant::now();
                    app.send(Req::get(path).bearer(token)).await;
                    lat.push(t.elapsed());
                }
                lat
            }
        });
        let wall = Instant::now();
        let mut lat: Vec<Duration> = futures_util::future::join_all(clients)
            .await
            .into_iter()
            .flatten()
            .collect();
        lat.sort();
        println!(
            "200 clients mixing them (10 each): wall {:.0} ms   p50 {:.1} ms   p95 {:.1} ms",
            wall.elapsed().as_secs_f64() * 1000.0,
            pct(&lat, 0.5),
            pct(&lat, 0.95)
        );
    });
}
