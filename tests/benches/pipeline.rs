//! Pipeline latency on the local stack (real Postgres, real executor processes).
//! Run with: DATABASE_URL=postgres://… cargo bench -p saasit-tests --bench pipeline
//! Build the executor first (cargo build --release -p executor): the stack runs the
//! binary next to the bench's own. scripts/test starts a private cluster; any
//! server where CREATE DATABASE works will do.
//!
//! Prints, for a 3-node workflow: POST → executor started (the run is
//! `running`: its process was launched) and POST → completed, p50/p95 over 100 sequential runs; then 50
//! concurrent runs across 5 SCALE users (10 slots each): wall time and p50/p95.

// A load script: printing its figures is its job.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use saasit_tests::{json, spawn_stack, Req, TestStack};
use serde_json::Value;

fn canvas() -> Value {
    json!({
        "nodes": [
            {"id": "start", "type": "trigger"},
            {"id": "shape", "type": "transform", "config": {"template": {"n": "{{ inputs.n }}"}}},
            {"id": "out", "type": "output", "config": {"value": "{{ shape.output }}"}}
        ],
        "edges": [{"from": "start", "to": "shape"}, {"from": "shape", "to": "out"}]
    })
}

async fn user(s: &TestStack, n: usize) -> (String, String) {
    let email = format!("bench{n}@example.com");
    let token = s.app.register(&email, "correct horse 9").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    sqlx::query(
        "UPDATE workspaces SET tier = 'SCALE' WHERE id = (SELECT id FROM users WHERE email = $1)",
    )
    .bind(&email)
    .execute(&s.app.state.db)
    .await
    .expect("tier");
    let wf = s
        .app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&token)
                .json(&json!({"name": "bench", "canvas": canvas()})),
        )
        .await;
    (token, wf.body["id"].as_str().expect("id").to_owned())
}

/// One run: (POST → first event, POST → completed).
async fn one(s: &TestStack, token: &str, wf: &str, n: usize) -> (Duration, Duration) {
    let t0 = Instant::now();
    let r = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(token)
                .json(&json!({"workflowId": wf, "inputs": {"n": n}})),
        )
        .await;
    assert_eq!(r.status.as_u16(), 202, "{}", r.text);
    let id = r.body["id"].as_str().expect("id").to_owned();
    let mut started = None;
    loop {
        let e = s
            .app
            .send(Req::get(&format!("/api/v1/executions/{id}")).bearer(token))
            .await
            .body;
        // Started: the dispatcher launched the executor process (the run left the queue).
        if started.is_none() && !matches!(e["status"].as_str(), Some("queued" | "dispatching")) {
            started = Some(t0.elapsed());
        }
        match e["status"].as_str().unwrap_or_default() {
            "completed" => return (started.unwrap_or_else(|| t0.elapsed()), t0.elapsed()),
            "failed" | "cancelled" | "timed_out" => panic!("run ended {}: {e}", e["status"]),
            _ => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn report(name: &str, mut v: Vec<Duration>) {
    v.sort();
    println!(
        "{name:<34} p50 {:>7.1} ms   p95 {:>7.1} ms   (n = {})",
        pct(&v, 0.5),
        pct(&v, 0.95),
        v.len()
    );
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let s = spawn_stack().await;
        let (token, wf) = user(&s, 0).await;
        one(&s, &token, &wf, 0).await; // warm-up
        let (mut started, mut completed) = (Vec::new(), Vec::new());
        for n in 0..100 {
            let (a, b) = one(&s, &token, &wf, n).await;
            started.push(a);
            completed.push(b);
        }
        println!("3-node workflow, 100 sequential runs on the local stack:");
        report("POST → executor started", started);
        report("POST → completed", completed);

        let mut users = Vec::new();
        for n in 1..=5 {
            users.push(user(&s, n).await);
        }
        let wall = Instant::now();
        let runs = (0..50).map(|i| {
            let (token, wf) = users[i % users.len()].clone();
            let s = &s;
            async move { one(s, &token, &wf, i).await.1 }
        });
        let times = futures_join_all(runs).await;
        println!(
            "50 concurrent runs across 5 SCALE users: wall {:.1} ms",
            wall.elapsed().as_secs_f64() * 1000.0
        );
        report("POST → completed (concurrent)", times);
    });
}

/// Runs futures concurrently on this task and collects their results in order.
async fn futures_join_all<F: std::future::Future<Output = Duration>>(
    futs: impl Iterator<Item = F>,
) -> Vec<Duration> {
    let futs: Vec<_> = futs.map(Box::pin).collect();
    let mut out = vec![Duration::ZERO; futs.len()];
    let mut pending: Vec<(usize, std::pin::Pin<Box<F>>)> = futs.into_iter().enumerate().collect();
    std::future::poll_fn(|cx| {
        pending.retain_mut(|(i, f)| match f.as_mut().poll(cx) {
            std::task::Poll::Ready(v) => {
                out[*i] = v;
                false
            }
            std::task::Poll::Pending => true,
        });
        if pending.is_empty() {
            std::task::Poll::Ready(())
        } else {
            std::task::Poll::Pending
        }
    })
    .await;
    out
}
