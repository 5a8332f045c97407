//! Dispatcher faults with a launcher that answers like the Kubernetes API
//! (created, then "already exists" for the same name): duplicate deliveries,
//! a crash after launching, and two dispatchers racing for the last slot.
//! Every test ends its runs, so none is left non-terminal. Also the sweeper's
//! housekeeping: stale failed logins and expired sign-in families.

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicU32, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use ::executions::RunsState;
use saasit_tests::{spawn_app, TestApp};
use shared::{
    db::{
        executions::{self, Ending},
        housekeeping,
    },
    protocol::{ExecutionStatus, RunStatus},
    realtime::publish::BroadcastPublisher,
    runs::{
        dispatch::Outcome,
        local::{blobs::LocalBlobs, queue::LocalQueue, tracker::LocalTracker},
        BoxFuture, JobLauncher, JobSpec, JobState, Launch, Ports, RunSettings, Runs,
    },
};
use uuid::Uuid;

#[derive(Default)]
struct Recording {
    jobs: Mutex<HashSet<String>>,
    created: AtomicU32,
    /// Fail (after creating) this many launches: a dispatcher crash after the Job exists.
    fail_after_create: AtomicU32,
}

impl JobLauncher for Recording {
    fn launch(&self, job: JobSpec) -> BoxFuture<'_, anyhow::Result<Launch>> {
        Box::pin(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            let new = self.jobs.lock().expect("lock").insert(job.name.clone());
            if new {
                self.created.fetch_add(1, Ordering::SeqCst);
            }
            if self.fail_after_create.load(Ordering::SeqCst) > 0 {
                self.fail_after_create.fetch_sub(1, Ordering::SeqCst);
                anyhow::bail!("connection reset after the Job was created");
            }
            Ok(if new {
                Launch::Created
            } else {
                Launch::AlreadyExists
            })
        })
    }

    fn delete(&self, name: &str) -> BoxFuture<'_, anyhow::Result<()>> {
        self.jobs.lock().expect("lock").remove(name);
        Box::pin(async { Ok(()) })
    }

    fn state(&self, name: &str) -> BoxFuture<'_, anyhow::Result<JobState>> {
        let known = self.jobs.lock().expect("lock").contains(name);
        Box::pin(async move {
            Ok(if known {
                JobState::Running
            } else {
                JobState::Missing
            })
        })
    }
}

/// The run lifecycle on `launcher`, with local adapters nothing drives:
/// each test runs the steps itself.
async fn with_pipeline(app: &TestApp, launcher: Arc<Recording>) -> (RunsState, Arc<Runs>) {
    let runs = Arc::new(Runs::new(
        app.state.db.clone(),
        app.state.tokens.clone(),
        Ports {
            queue: Arc::new(LocalQueue::new()),
            launcher,
            tracker: Arc::new(LocalTracker::new().0),
            blobs: Arc::new(LocalBlobs::new(
                std::env::temp_dir(),
                "http://127.0.0.1:9",
                b"k",
            )),
            publisher: Arc::new(BroadcastPublisher::nowhere()),
            vault: app.state.vault.clone(),
            schedules: Arc::new(shared::triggers::local::LocalSchedules::new()),
        },
        "http://127.0.0.1:9".into(),
        RunSettings::default(),
    ));
    let state = RunsState {
        app: app.state.clone(),
        runs: runs.clone(),
    };
    (state, runs)
}

/// Queued executions of one STARTER user (one slot), created through the API.
async fn queued(app: &TestApp, state: &RunsState, n: usize) -> Vec<Uuid> {
    let email = format!("u{}@example.com", Uuid::now_v7().simple());
    saasit_tests::queued_runs(app, state, &email, n).await
}

async fn status(state: &RunsState, id: Uuid) -> String {
    executions::get(&state.app.db, id)
        .await
        .expect("query")
        .expect("exists")
        .status
        .as_str()
        .to_owned()
}

async fn end_all(state: &RunsState, ids: &[Uuid]) {
    for id in ids {
        executions::finish(
            &state.app.db,
            *id,
            Ending {
                status: RunStatus::Cancelled,
                output: None,
                output_ref: None,
                error: Some("test over"),
                failed_node: None,
                reason: None,
            },
        )
        .await
        .expect("finish");
        let now: ExecutionStatus = status(state, *id).await.parse().expect("a status");
        assert!(now.is_terminal());
    }
}

#[tokio::test]
async fn the_same_message_delivered_twice_launches_one_job() {
    let app = spawn_app().await;
    let launcher = Arc::new(Recording::default());
    let (state, pipeline) = with_pipeline(&app, launcher.clone()).await;
    let ids = queued(&app, &state, 1).await;
    let (a, b) = tokio::join!(pipeline.dispatch_one(ids[0]), pipeline.dispatch_one(ids[0]));
    let outcomes = [a.expect("dispatch"), b.expect("dispatch")];
    assert!(outcomes.contains(&Outcome::Launched), "{outcomes:?}");
    assert_eq!(launcher.created.load(Ordering::SeqCst), 1, "one Job");
    assert_eq!(status(&state, ids[0]).await, "running");
    // A third, late redelivery finds it running and does nothing.
    assert_eq!(
        pipeline.dispatch_one(ids[0]).await.expect("dispatch"),
        Outcome::Done
    );
    end_all(&state, &ids).await;
}

#[tokio::test]
async fn a_crash_after_launching_does_not_launch_a_second_job() {
    let app = spawn_app().await;
    let launcher = Arc::new(Recording::default());
    launcher.fail_after_create.store(1, Ordering::SeqCst);
    let (state, pipeline) = with_pipeline(&app, launcher.clone()).await;
    let ids = queued(&app, &state, 1).await;
    assert!(
        pipeline.dispatch_one(ids[0]).await.is_err(),
        "the first attempt fails after the Job exists"
    );
    assert_eq!(status(&state, ids[0]).await, "dispatching");
    // The message comes back (SQS visibility timeout / the local retry).
    assert_eq!(
        pipeline.dispatch_one(ids[0]).await.expect("redelivery"),
        Outcome::Launched
    );
    assert_eq!(launcher.created.load(Ordering::SeqCst), 1, "still one Job");
    assert_eq!(status(&state, ids[0]).await, "running");
    end_all(&state, &ids).await;
}

#[tokio::test]
async fn two_dispatchers_never_both_take_the_last_slot() {
    let app = spawn_app().await;
    let launcher = Arc::new(Recording::default());
    let (state, pipeline) = with_pipeline(&app, launcher.clone()).await;
    let ids = queued(&app, &state, 2).await;
    let (a, b) = tokio::join!(pipeline.dispatch_one(ids[0]), pipeline.dispatch_one(ids[1]));
    let mut outcomes = vec![a.expect("dispatch"), b.expect("dispatch")];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert_eq!(
        outcomes,
        [Outcome::Deferred(Duration::from_secs(5)), Outcome::Launched]
    );
    assert_eq!(launcher.created.load(Ordering::SeqCst), 1);
    // When the running one ends, its slot is free and the other goes.
    let running = if status(&state, ids[0]).await == "running" {
        ids[0]
    } else {
        ids[1]
    };
    let waiting = if running == ids[0] { ids[1] } else { ids[0] };
    assert_eq!(status(&state, waiting).await, "queued");
    executions::finish(
        &state.app.db,
        running,
        Ending {
            status: RunStatus::Completed,
            output: None,
            output_ref: None,
            error: None,
            failed_node: None,
            reason: None,
        },
    )
    .await
    .expect("finish");
    assert_eq!(
        pipeline.dispatch_one(waiting).await.expect("dispatch"),
        Outcome::Launched
    );
    end_all(&state, &ids).await;
}

#[tokio::test]
async fn the_sweeper_ends_runs_past_their_deadline_and_requeues_lost_messages() {
    let app = spawn_app().await;
    let launcher = Arc::new(Recording::default());
    let (state, pipeline) = with_pipeline(&app, launcher.clone()).await;
    let ids = queued(&app, &state, 2).await;
    assert_eq!(
        pipeline.dispatch_one(ids[0]).await.expect("dispatch"),
        Outcome::Launched
    );
    // The running one passes its deadline; the queued one lost its message long ago.
    sqlx::query("UPDATE executions SET deadline_at = now() - interval '1 second' WHERE id = $1")
        .bind(ids[0])
        .execute(&state.app.db)
        .await
        .expect("age");
    sqlx::query("UPDATE executions SET created_at = now() - interval '30 minutes', enqueued_at = now() - interval '30 minutes' WHERE id = $1")
        .bind(ids[1])
        .execute(&state.app.db)
        .await
        .expect("age");
    let swept = pipeline.sweep().await.expect("sweep");
    assert_eq!((swept.timed_out, swept.requeued), (1, 1));
    assert_eq!(status(&state, ids[0]).await, "timed_out");
    assert!(
        launcher.jobs.lock().expect("lock").is_empty(),
        "the timed-out run's Job was deleted"
    );
    // Sweeping again changes nothing: the run has ended, and the re-sent
    // message is fresh (queued runs are re-sent only after a silence).
    let again = pipeline.sweep().await.expect("sweep");
    assert_eq!((again.timed_out, again.requeued), (0, 0));
    end_all(&state, &ids).await;
}

#[tokio::test]
async fn the_sweeper_prunes_stale_failed_logins_and_expired_sign_ins() {
    let app = spawn_app().await;
    let (state, _) = with_pipeline(&app, Arc::new(Recording::default())).await;
    let password = "correct horse battery staple";
    let old = app.register("prune@example.com", password).await["refreshToken"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    // That sign-in is two days old and its refresh token has expired in the database.
    sqlx::query("UPDATE refresh_token_families SET created_at = now() - interval '2 days'")
        .execute(&state.app.db)
        .await
        .expect("age families");
    sqlx::query("UPDATE refresh_tokens SET expires_at = now() - interval '1 second'")
        .execute(&state.app.db)
        .await
        .expect("expire tokens");
    let current = app
        .login("prune@example.com", password)
        .await
        .expect(200, None)
        .body["refreshToken"]
        .as_str()
        .expect("refresh token")
        .to_owned();
    // A sign-in attempt counted yesterday, one now.
    sqlx::query(
        "INSERT INTO rate_counters (bucket, subject, window_start, hits, expires_at)
         VALUES ('login_ip', 'x', now() - interval '1 day', 1, now() - interval '23 hours'),
                ('login_ip', 'x', now(), 1, now() + interval '30 minutes')",
    )
    .execute(&state.app.db)
    .await
    .expect("failures");

    let pruned = housekeeping::prune(&state.app.db).await.expect("prune");
    assert_eq!((pruned.rate_counters, pruned.sessions), (1, 1));
    let left: (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM rate_counters WHERE subject = 'x'), (SELECT count(*) FROM refresh_token_families)",
    )
    .fetch_one(&state.app.db)
    .await
    .expect("count");
    assert_eq!(
        left,
        (1, 1),
        "the current window and the current sign-in stay"
    );
    app.refresh(&current).await.expect(200, None);
    app.refresh(&old).await.expect(401, Some("TOKEN_INVALID"));

    let again = housekeeping::prune(&state.app.db).await.expect("prune");
    assert_eq!((again.rate_counters, again.sessions), (0, 0));
}

#[tokio::test]
async fn a_run_stuck_dispatching_releases_its_slot_and_fails_after_a_few_tries() {
    let app = spawn_app().await;
    let launcher = Arc::new(Recording::default());
    let (state, pipeline) = with_pipeline(&app, launcher.clone()).await;
    let ids = queued(&app, &state, 2).await;
    // The dispatcher claimed the first run and died before launching it: the
    // run held the user's only slot (the code before kept it for 24 hours).
    let stick = |id: uuid::Uuid| {
        let db = state.app.db.clone();
        async move {
            sqlx::query("UPDATE executions SET status = 'dispatching', dispatched_at = now() - interval '1 hour' WHERE id = $1")
                .bind(id)
                .execute(&db)
                .await
                .expect("stuck");
        }
    };
    stick(ids[0]).await;
    assert_eq!(
        pipeline.dispatch_one(ids[1]).await.expect("dispatch"),
        Outcome::Deferred(pipeline.settings.defer),
        "the stuck run holds the slot"
    );
    let attempts = pipeline.settings.max_dispatch_attempts;
    for attempt in 1..attempts {
        let swept = pipeline.sweep().await.expect("sweep");
        assert_eq!(swept.redispatched, 1, "attempt {attempt}");
        assert_eq!(
            status(&state, ids[0]).await,
            "queued",
            "back in the queue, its slot free"
        );
        stick(ids[0]).await;
    }
    let swept = pipeline.sweep().await.expect("sweep");
    assert_eq!((swept.redispatched, swept.dispatch_failed), (0, 1));
    let e = executions::get(&state.app.db, ids[0])
        .await
        .expect("db")
        .expect("run");
    assert_eq!(e.status, ExecutionStatus::Failed);
    assert!(
        e.error
            .as_deref()
            .is_some_and(|m| m.contains("could not be dispatched")),
        "{:?}",
        e.error
    );
    // The slot is free: the other run starts.
    assert_eq!(
        pipeline.dispatch_one(ids[1]).await.expect("dispatch"),
        Outcome::Launched
    );
    end_all(&state, &ids).await;
}
