//! Liveness is a run's heartbeats in Postgres (the sweeper judges them);
//! the tracker's window (Step Functions' `HeartbeatSeconds`) is a backstop
//! kept open by a beat forwarded at most every third of it, not by every
//! beat: Step Functions' `SendTaskHeartbeat` quota no longer caps how many
//! runs can run at once.

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

#[tokio::test]
async fn beats_are_recorded_each_time_and_forwarded_once_a_window_third() {
    let app = spawn_app().await;
    let (user, _) = app.user("liveness@example.com").await;
    let run = stored_running_run(&app, user).await;
    let tracker = Arc::new(Counting::default());
    let settings = RunSettings {
        heartbeat_every: Duration::from_secs(1),
        heartbeat_timeout: Duration::from_secs(3),
        tracker_heartbeat: Duration::from_secs(6),
        ..RunSettings::default()
    };
    let runs = saasit_tests::runs::runs_on(
        &app,
        app.state.db.clone(),
        tracker.clone(),
        Arc::new(BroadcastPublisher::nowhere()),
        settings,
    );
    let beat_at = || async {
        sqlx::query_scalar::<_, chrono::DateTime<chrono::Utc>>(
            "SELECT heartbeat_at FROM executions WHERE id = $1",
        )
        .bind(run)
        .fetch_one(&app.state.db)
        .await
        .expect("beat")
    };
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

    // With the default windows (30 s beats, 600 s backstop), a beat reaches the tracker every
    // 200 s at most: one in seven (the first beat at or after each 200 s).
    let d = RunSettings::default();
    assert_eq!(
        d.tracker_beat_every().as_secs() / d.heartbeat_every.as_secs(),
        6
    );
}
