//! The executor callback path under load, as thousands of executors would
//! drive it: simulated executors (no processes) post event batches and
//! heartbeats for their runs through the same `Runs` the internal routes
//! call, against real Postgres reached through a statement-counting proxy.
//! Run with: DATABASE_URL=postgres://… cargo bench -p saasit-tests --bench callbacks
//! (`EXECUTORS`, default 200; `BATCHES` per executor, default 10).
//!
//! Prints events persisted per second, statements per event (counted at the
//! wire), and p50/p99 of a batch's and a beat's latency.

// A load script: printing its figures is its job.
#![allow(clippy::print_stdout)]

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use saasit_tests::{runs::stored_running_run, spawn_app, statements::StatementCounter};
use serde_json::{json, Value};
use shared::{
    protocol::EventBatch,
    realtime::publish::BroadcastPublisher,
    runs::{local::tracker::LocalTracker, RunSettings},
};

/// The `i`-th batch of a run: two node transitions and a log line (what a
/// sequential graph sends per step), numbered on from the last.
fn batch(i: u64) -> EventBatch<Value> {
    let seq = 3 * i + 1;
    let node = format!("n{i}");
    EventBatch {
        events: vec![
            json!({"type": "node_started", "node": node, "attempt": 1, "seq": seq, "ts": "2026-12-01T05:00:00Z"}),
            json!({"type": "log", "level": "info", "message": "working", "node": node, "seq": seq + 1, "ts": "2026-12-01T05:00:00Z"}),
            json!({"type": "node_succeeded", "node": node, "attempt": 1, "output": {"text": "done"},
                   "durationMs": 12, "reused": false, "seq": seq + 2, "ts": "2026-12-01T05:00:01Z"}),
        ],
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (executors, batches) = (env("EXECUTORS", 200), env("BATCHES", 10));
        let app = spawn_app().await;
        let (user, _) = app.user("callbacks-bench@example.com").await;
        let mut runs_ids = Vec::with_capacity(executors);
        for _ in 0..executors {
            runs_ids.push(stored_running_run(&app, user).await);
        }
        let counter = StatementCounter::in_front_of(&app.database_url).await;
        let db = counter.pool(&app.database_url, 20).await;
        let runs = Arc::new(saasit_tests::runs::runs_on(
            &app,
            db,
            Arc::new(LocalTracker::new().0),
            Arc::new(BroadcastPublisher::nowhere()),
            RunSettings::default(),
        ));
        let before = counter.count();
        let started = Instant::now();
        let tasks: Vec<_> = runs_ids
            .iter()
            .map(|&id| {
                let runs = runs.clone();
                tokio::spawn(async move {
                    let (mut posts, mut beats) = (Vec::new(), Vec::new());
                    for i in 0..batches as u64 {
                        let t = Instant::now();
                        runs.record_events(id, &batch(i)).await.expect("events");
                        posts.push(t.elapsed());
                        if i % 3 == 0 {
                            let t = Instant::now();
                            runs.heartbeat(id).await.expect("beat");
                            beats.push(t.elapsed());
                        }
                    }
                    (posts, beats)
                })
            })
            .collect();
        let (mut posts, mut beats) = (Vec::new(), Vec::new());
        for t in tasks {
            let (p, b) = t.await.expect("executor");
            posts.extend(p);
            beats.extend(b);
        }
        let wall = started.elapsed();
        let statements = counter.count() - before;
        let events = (executors * batches * 3) as f64;
        posts.sort();
        beats.sort();
        println!("{executors} simulated executors, {batches} batches of 3 events each, one beat per 3 batches:");
        println!(
            "  events persisted   {:>9.0} /s   ({events} in {:.2} s)",
            events / wall.as_secs_f64(),
            wall.as_secs_f64()
        );
        println!(
            "  statements         {:>9.2} per event   ({statements} in all, beats included)",
            statements as f64 / events
        );
        println!(
            "  event batch        p50 {:>7.1} ms   p99 {:>7.1} ms",
            pct(&posts, 0.5),
            pct(&posts, 0.99)
        );
        println!(
            "  heartbeat          p50 {:>7.1} ms   p99 {:>7.1} ms",
            pct(&beats, 0.5),
            pct(&beats, 0.99)
        );
    });
}
