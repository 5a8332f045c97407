//! Liveness is a run's heartbeats in Postgres (the sweeper judges them),
//! and a batch of events is one; the tracker's window (Step Functions'
//! `HeartbeatSeconds`) is a backstop kept open by a beat forwarded once a
//! third of it has passed, not by every beat: Step Functions'
//! `SendTaskHeartbeat` quota no longer caps how many runs can run at once.

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use saasit_tests::{runs::stored_running_run, spawn_app};
use shared::{
    future::BoxFuture,
    realtime::publish::BroadcastPublisher,
    runs::{RunSettings, RunTracker, TrackedRun},
};
use uuid::Uuid;

/// A tracker that counts the beats it was forwarded.
#[derive(Default)]
struct Counting(AtomicUsize);

impl RunTracker for Counting {
    fn start(&self, _: TrackedRun) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn heartbeat(&self, _: Uuid, _: Option<String>) -> BoxFuture<'_, anyhow::Result<()>> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Box::pin(async { Ok(()) })
    }
    fn finished(&self, _: Uuid, _: Option<String>) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn resume(&self, _: TrackedRun, _: Option<String>) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn stop(&self, _: Uuid) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }
}

/// The run lifecycle with beats every second, silence judged after 3 s and
/// the tracker's window 6 s (a beat forwarded once 2 s have passed).
fn beating(app: &saasit_tests::TestApp, tracker: Arc<Counting>) -> shared::runs::Runs {
    let settings = RunSettings {
        heartbeat_every: Duration::from_secs(1),
        heartbeat_timeout: Duration::from_secs(3),
        tracker_heartbeat: Duration::from_secs(6),
        ..RunSettings::default()
    };
    saasit_tests::runs::runs_on(
        app,
        app.state.db.clone(),
        tracker,
        Arc::new(BroadcastPublisher::nowhere()),
        settings,
    )
}

/// When the run last beat, as Postgres has it.
async fn beat_at(app: &saasit_tests::TestApp, run: Uuid) -> chrono::DateTime<chrono::Utc> {
    sqlx::query_scalar("SELECT heartbeat_at FROM executions WHERE id = $1")
        .bind(run)
        .fetch_one(&app.state.db)
        .await
        .expect("beat")
}

#[tokio::test]
async fn beats_are_recorded_each_time_and_forwarded_once_a_window_third() {
    let app = spawn_app().await;
    let (user, _) = app.user("liveness@example.com").await;
    let run = stored_running_run(&app, user).await;
    let tracker = Arc::new(Counting::default());
    let runs = beating(&app, tracker.clone());
    let beat_at = || beat_at(&app, run);
    // Five beats a second apart: each recorded, one forwarded per 2 s (a third of 6 s).
    let mut recorded = Vec::new();
    for _ in 0..5 {
        let answer = runs.heartbeat(run).await.expect("beat");
        assert!(!answer.cancel);
        recorded.push(beat_at().await);
        tokio::time::sleep(Duration::from_millis(1000)).await;
    }
    assert!(
        recorded.windows(2).all(|w| w[1] > w[0]),
        "every beat is recorded: {recorded:?}"
    );
    let forwarded = tracker.0.load(Ordering::SeqCst);
    assert!(
        (2..=3).contains(&forwarded),
        "forwarded {forwarded} of 5 beats"
    );

    // With the default windows (30 s beats, a 3,600 s backstop), a beat reaches the tracker
    // every 1,200 s at most: one in forty-one.
    let d = RunSettings::default();
    assert_eq!(
        d.tracker_beat_every().as_secs() / d.heartbeat_every.as_secs(),
        40
    );
}

/// The tracker's window opens when it records the run's task token: the
/// first beat is forwarded a third of the window later, not at once, so a
/// run shorter than that costs the tracker no beat at all. A batch of
/// events is a heartbeat too: it moves `heartbeat_at` like a beat.
#[tokio::test]
async fn a_tracked_run_forwards_its_first_beat_a_window_third_later_and_events_beat() {
    let app = spawn_app().await;
    let (user, _) = app.user("liveness-tracked@example.com").await;
    let run = stored_running_run(&app, user).await;
    let tracker = Arc::new(Counting::default());
    let runs = beating(&app, tracker.clone());
    shared::db::executions::set_task_token(&app.state.db, run, "task-token")
        .await
        .expect("tracked");
    runs.heartbeat(run).await.expect("beat");
    assert_eq!(
        tracker.0.load(Ordering::SeqCst),
        0,
        "the window just opened"
    );
    tokio::time::sleep(Duration::from_millis(2100)).await;
    runs.heartbeat(run).await.expect("beat");
    assert_eq!(
        tracker.0.load(Ordering::SeqCst),
        1,
        "a third of the window later"
    );

    let beat_at = || beat_at(&app, run);
    let before = beat_at().await;
    let batch = serde_json::from_value(serde_json::json!({"events": [
        {"type": "log", "seq": 1, "ts": "2026-12-01T05:00:00Z", "level": "info", "message": "hi"}
    ]}))
    .expect("a batch");
    let answer = runs.record_events(run, &batch).await.expect("stored");
    assert!(!answer.cancel && !answer.budget_exceeded);
    assert!(beat_at().await > before, "the batch was a heartbeat");
    assert_eq!(
        tracker.0.load(Ordering::SeqCst),
        1,
        "a third of the window has not passed"
    );
    // A third of the window later, a batch feeds the tracker as a beat would
    // (an executor whose batches keep coming makes no heartbeat call).
    tokio::time::sleep(Duration::from_millis(2100)).await;
    runs.record_events(run, &batch).await.expect("stored");
    assert_eq!(
        tracker.0.load(Ordering::SeqCst),
        2,
        "the batch fed the tracker"
    );
    // A retried batch (nothing new) is still a sign of life.
    let again = beat_at().await;
    runs.record_events(run, &batch).await.expect("stored");
    assert!(beat_at().await > again);
    // And it answers a cancel as a beat does.
    shared::db::executions::request_cancel(&app.state.db, run)
        .await
        .expect("cancel");
    assert!(
        runs.record_events(run, &batch)
            .await
            .expect("stored")
            .cancel
    );
}

/// The batch whose model call spends the last of the workspace's monthly
/// budget answers `budgetExceeded` itself, not the beat after it.
#[tokio::test]
async fn the_batch_that_spends_the_budget_says_so() {
    let app = spawn_app().await;
    let (user, _) = app.user("liveness-budget@example.com").await;
    let run = stored_running_run(&app, user).await;
    sqlx::query(
        "INSERT INTO workspace_budgets (workspace_id, monthly_budget_micros)
         SELECT workspace_id, 1 FROM executions WHERE id = $1",
    )
    .bind(run)
    .execute(&app.state.db)
    .await
    .expect("a budget of one micro-dollar");
    let runs = beating(&app, Arc::new(Counting::default()));
    let batch = serde_json::from_value(serde_json::json!({"events": [
        {"type": "usage", "seq": 1, "ts": "2026-12-01T05:00:00Z", "node": "n1", "provider": "anthropic",
         "model": "claude-sonnet-4-5", "inputTokens": 1200, "outputTokens": 300}
    ]}))
    .expect("a batch");
    let answer = runs.record_events(run, &batch).await.expect("stored");
    assert!(answer.budget_exceeded && !answer.cancel, "{answer:?}");
}
