//! The executor callback path under load, as thousands of executors would
//! drive it: simulated executors (no processes) post event batches for their
//! runs through the same `Runs` the internal routes call, against real
//! Postgres reached through a statement-counting proxy, while every run has
//! subscribers on its topic (the real fan-out: connection store, cursors,
//! frames; the push port records when each message arrives instead of
//! writing to a socket).
//! Run with: DATABASE_URL=postgres://… cargo bench -p saasit-tests --bench callbacks --profile dev
//! (`EXECUTORS`, default 200; `BATCHES` per executor, default 10; `SUBSCRIBERS`
//! per run, default 1; `BEAT_EVERY` batches, default 0: an executor whose
//! batches keep coming sends no heartbeat call, a batch is the beat).
//!
//! Prints events persisted and delivered per second, statements per event
//! (counted at the wire, and from `pg_stat_statements` where the server has
//! it loaded), and p50/p99 of a batch's latency and of delivery (from the
//! executor sending a batch to a subscriber's frame holding its events).

// A load script: printing its figures is its job.
#![allow(clippy::print_stdout)]

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use saasit_tests::{runs::stored_running_run, spawn_app, statements::StatementCounter};
use serde_json::{json, Value};
use shared::{
    future::BoxFuture,
    protocol::EventBatch,
    realtime::{
        memory::MemoryConnections, publish::FanoutPublisher, CloseReason, Connection,
        ConnectionStore, PushError, Pusher, Realtime,
    },
    runs::{local::tracker::LocalTracker, RunSettings},
};
use uuid::Uuid;

/// Events in a batch: two node transitions and a log line (what a
/// sequential graph sends per step).
const PER_BATCH: u64 = 3;

/// The `i`-th batch of a run, numbered on from the last.
fn batch(i: u64) -> EventBatch<Value> {
    let seq = PER_BATCH * i + 1;
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

/// When each batch was sent, by run and batch number.
type Sent = Arc<Mutex<HashMap<(Uuid, u64), Instant>>>;

/// A push port that times each message from its batch's sending.
struct Timing {
    sent: Sent,
    latencies: Mutex<Vec<Duration>>,
    frames: Mutex<u64>,
}

impl Pusher for Timing {
    fn push(&self, _: String, frame: String) -> BoxFuture<'_, Result<(), PushError>> {
        let now = Instant::now();
        let v: Value = serde_json::from_str(&frame).unwrap_or_default();
        let messages = if v["type"] == "batch" {
            v["messages"].as_array().cloned().unwrap_or_default()
        } else {
            vec![v]
        };
        let sent = self.sent.lock().expect("sent");
        let mut latencies = self.latencies.lock().expect("latencies");
        for m in messages {
            let id = m["executionId"].as_str().and_then(|s| s.parse().ok());
            let seq = m["seq"].as_u64();
            if let (Some(id), Some(seq)) = (id, seq) {
                if let Some(at) = sent.get(&(id, (seq - 1) / PER_BATCH)) {
                    latencies.push(now.duration_since(*at));
                }
            }
        }
        *self.frames.lock().expect("frames") += 1;
        Box::pin(async { Ok(()) })
    }

    fn close(&self, _: String, _: CloseReason) -> BoxFuture<'_, Result<(), PushError>> {
        Box::pin(async { Ok(()) })
    }
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1000.0
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// Statements of this database in `pg_stat_statements`, with the most
/// called ones; `None` when the server does not have it loaded.
async fn stat_statements(db: &sqlx::PgPool) -> Option<(i64, Vec<(i64, String)>)> {
    let rows: Vec<(i64, String)> = sqlx::query_as(
        "SELECT calls, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) FROM pg_stat_statements
          WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
            AND query NOT ILIKE '%pg_stat_statements%'
          ORDER BY calls DESC",
    )
    .fetch_all(db)
    .await
    .ok()?;
    let total = rows.iter().map(|(c, _)| c).sum();
    Some((total, rows.into_iter().take(6).collect()))
}

fn main() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async {
        let (executors, batches) = (env("EXECUTORS", 200), env("BATCHES", 10));
        let (subscribers, beat_every) = (env("SUBSCRIBERS", 1), env("BEAT_EVERY", 0) as u64);
        let app = spawn_app().await;
        let (user, _) = app.user("callbacks-bench@example.com").await;
        let mut runs_ids = Vec::with_capacity(executors);
        for _ in 0..executors {
            runs_ids.push(stored_running_run(&app, user).await);
        }
        let sent: Sent = Arc::default();
        let timing = Arc::new(Timing {
            sent: sent.clone(),
            latencies: Mutex::default(),
            frames: Mutex::default(),
        });
        let store = Arc::new(MemoryConnections::default());
        for (r, id) in runs_ids.iter().enumerate() {
            for s in 0..subscribers {
                let conn = format!("c{r}-{s}=");
                store
                    .put(Connection {
                        id: conn.clone(),
                        user_id: user,
                        connected_at: 1_800_000_000,
                        session_id: Uuid::now_v7(),
                        expires_at: 1_900_000_000,
                    })
                    .await
                    .expect("connect");
                store
                    .subscribe(conn, format!("execution:{id}"), 0)
                    .await
                    .expect("subscribe");
            }
        }
        let counter = StatementCounter::in_front_of(&app.database_url).await;
        let db = counter.pool(&app.database_url, 20).await;
        let pg_stat = sqlx::query("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            .execute(&app.state.db)
            .await
            .is_ok()
            && sqlx::query("SELECT pg_stat_statements_reset()")
                .execute(&app.state.db)
                .await
                .is_ok();
        let realtime = Arc::new(Realtime::new(store, timing.clone()));
        let runs = Arc::new(saasit_tests::runs::runs_on(
            &app,
            db.clone(),
            Arc::new(LocalTracker::new().0),
            Arc::new(FanoutPublisher {
                realtime,
                db: db.clone(),
            }),
            RunSettings::default(),
        ));
        let before = counter.count();
        let started = Instant::now();
        let tasks: Vec<_> = runs_ids
            .iter()
            .map(|&id| {
                let (runs, sent) = (runs.clone(), sent.clone());
                tokio::spawn(async move {
                    let (mut posts, mut beats) = (Vec::new(), Vec::new());
                    for i in 0..batches as u64 {
                        let t = Instant::now();
                        sent.lock().expect("sent").insert((id, i), t);
                        runs.record_events(id, &batch(i)).await.expect("events");
                        posts.push(t.elapsed());
                        if beat_every > 0 && i % beat_every == 0 {
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
        let events = executors as f64 * batches as f64 * PER_BATCH as f64;
        posts.sort();
        beats.sort();
        let mut delivered = timing.latencies.lock().expect("latencies").clone();
        delivered.sort();
        let frames = *timing.frames.lock().expect("frames");
        println!(
            "{executors} simulated executors, {batches} batches of {PER_BATCH} events each, \
             {subscribers} subscriber(s) per run, {} heartbeat calls:",
            beats.len()
        );
        println!(
            "  events persisted   {:>9.0} /s   ({events} in {:.2} s)",
            events / wall.as_secs_f64(),
            wall.as_secs_f64()
        );
        println!(
            "  events delivered   {:>9.0} /s   ({} to subscribers in {frames} frames)",
            delivered.len() as f64 / wall.as_secs_f64(),
            delivered.len()
        );
        println!(
            "  statements         {:>9.2} per event at the wire   ({statements} in all, beats included)",
            statements as f64 / events
        );
        match stat_statements(&app.state.db).await.filter(|_| pg_stat) {
            Some((total, top)) => {
                println!(
                    "  pg_stat_statements {:>9.2} per event   ({total} calls in this database); most called:",
                    total as f64 / events
                );
                for (calls, query) in top {
                    println!("    {calls:>7}  {query}");
                }
            }
            None => println!(
                "  pg_stat_statements not loaded (start PostgreSQL with shared_preload_libraries=pg_stat_statements)"
            ),
        }
        println!(
            "  event batch        p50 {:>7.1} ms   p99 {:>7.1} ms",
            pct(&posts, 0.5),
            pct(&posts, 0.99)
        );
        println!(
            "  delivery           p50 {:>7.1} ms   p99 {:>7.1} ms   (batch sent → subscriber's frame)",
            pct(&delivered, 0.5),
            pct(&delivered, 0.99)
        );
        if !beats.is_empty() {
            println!(
                "  heartbeat          p50 {:>7.1} ms   p99 {:>7.1} ms",
                pct(&beats, 0.5),
                pct(&beats, 0.99)
            );
        }
    });
}
