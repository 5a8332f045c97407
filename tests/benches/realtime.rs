//! Real-time fan-out on the local stack: 1,000 WebSocket subscribers to one
//! execution, events published the way the callback route publishes them
//! (stored in Postgres, then published). Prints event → delivery latency at
//! p50/p99 over every (subscriber, event) pair, and deliveries per second.
//! Run with: DATABASE_URL=postgres://… cargo bench -p saasit-tests --bench realtime

// A load script: printing its figures is its job.
#![allow(clippy::print_stdout)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use chrono::Utc;
use saasit_tests::{json, spawn_stack, ws, Req};
use shared::{
    db::executions::{self, NewEvent},
    realtime::deliver::event_message,
};
use tokio::sync::Mutex;
use uuid::Uuid;

const SUBSCRIBERS: usize = 1_000;
const EVENTS: i64 = 50;

#[tokio::main]
async fn main() {
    let s = spawn_stack().await;
    let email = "bench-ws@example.com";
    let token = s.app.register(email, "correct horse 9").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    sqlx::query(
        "UPDATE workspaces SET tier = 'SCALE' WHERE id = (SELECT id FROM users WHERE email = $1)",
    )
    .bind(email)
    .execute(&s.app.state.db)
    .await
    .expect("tier");
    let canvas = json!({"nodes": [{"id": "start", "type": "trigger"}, {"id": "wait", "type": "delay", "config": {"seconds": 600}}],
                        "edges": [{"from": "start", "to": "wait"}]});
    let wf = s
        .app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&token)
                .json(&json!({"name": "bench", "canvas": canvas})),
        )
        .await;
    let r = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&token)
                .json(&json!({"workflowId": wf.body["id"]})),
        )
        .await;
    let id: Uuid = r.body["id"].as_str().expect("id").parse().expect("uuid");
    // Stop the real run: the bench publishes its own events (seq from 1000 up).
    s.app
        .send(Req::post(&format!("/api/v1/executions/{id}/cancel")).bearer(&token))
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let first_seq = executions::get(&s.app.state.db, id)
        .await
        .expect("db")
        .expect("run")
        .last_seq
        + 1;

    let connected = Instant::now();
    let mut clients = Vec::with_capacity(SUBSCRIBERS);
    for _ in 0..SUBSCRIBERS {
        let mut c = ws::connect(&s.base_url, Some(&token))
            .await
            .expect("connect");
        c.send(&json!({"action": "subscribe", "topic": format!("execution:{id}")}))
            .await;
        clients.push(c);
    }
    for c in &mut clients {
        let ack = c
            .until(Duration::from_secs(30), |f| f["type"] == "subscribed")
            .await;
        assert!(!ack.is_empty());
    }
    println!(
        "{SUBSCRIBERS} subscribers connected and subscribed in {:.2} s",
        connected.elapsed().as_secs_f64()
    );

    let sent: Arc<Mutex<Vec<Instant>>> = Arc::default();
    let receivers: Vec<_> = clients
        .into_iter()
        .map(|mut c| {
            tokio::spawn(async move {
                let mut got = Vec::with_capacity(EVENTS as usize);
                while (got.len() as i64) < EVENTS {
                    let Some(f) = c.next(Duration::from_secs(60)).await else {
                        break;
                    };
                    if let Some(seq) = f["seq"].as_i64() {
                        got.push((seq, Instant::now()));
                    }
                }
                got
            })
        })
        .collect();

    let runs = s.runs.clone();
    let owner: Uuid = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&s.app.state.db)
        .await
        .expect("owner");
    let started = Instant::now();
    for k in 0..EVENTS {
        let seq = first_seq + k;
        let payload =
            json!({"seq": seq, "type": "log", "message": format!("line {k}"), "level": "info"});
        let mut tx = s.app.state.db.begin().await.expect("tx");
        executions::insert_events(
            &mut *tx,
            id,
            &[NewEvent {
                seq,
                kind: "log",
                node: None,
                payload: &payload,
                ts: Utc::now(),
                tokens: 0,
                usage: None,
            }],
            Duration::from_secs(1200),
        )
        .await
        .expect("insert");
        tx.commit().await.expect("commit");
        sent.lock().await.push(Instant::now());
        runs.publish(id, owner, event_message(id, seq, "log", &payload))
            .await;
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let sent = sent.lock().await.clone();
    let mut latencies = Vec::with_capacity(SUBSCRIBERS * EVENTS as usize);
    let mut complete = 0;
    let mut last = started;
    for r in receivers {
        let got = r.await.expect("receiver");
        if got.len() as i64 == EVENTS
            && got
                .iter()
                .enumerate()
                .all(|(i, (seq, _))| *seq == first_seq + i as i64)
        {
            complete += 1;
        }
        for (seq, at) in got {
            let k = (seq - first_seq) as usize;
            latencies.push(at.duration_since(sent[k]));
            last = last.max(at);
        }
    }
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    let elapsed = last.duration_since(started).as_secs_f64();
    println!(
        "{EVENTS} events to {SUBSCRIBERS} subscribers: {complete} got all, in order; \
         latency p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms; {:.0} deliveries/s ({} in {:.2} s)",
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        latencies.last().map_or(0.0, |d| d.as_secs_f64() * 1e3),
        latencies.len() as f64 / elapsed,
        latencies.len(),
        elapsed
    );
}
