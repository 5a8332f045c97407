//! An executor's batch of events reaches each subscriber at once: one topic
//! lookup per batch, and per subscriber one cursor move and one frame per
//! 32 KiB (no cursor read when the subscriber is where the batch begins). A
//! subscriber behind is caught up from Postgres in the same frames, a retried
//! batch sends nothing, and large events split the batch into frames within
//! API Gateway's limit, in order.

use std::sync::{
    atomic::{AtomicUsize, Ordering::Relaxed},
    Arc, Mutex,
};

use saasit_tests::{spawn_app, ws::unbatch};
use serde_json::{json, Value};
use shared::{
    future::BoxFuture,
    realtime::{
        memory::MemoryConnections, publish::FanoutPublisher, CloseReason, Connection,
        ConnectionStore, PushError, Pusher, Realtime, MAX_FRAME_BYTES,
    },
    runs::{local::tracker::LocalTracker, RunSettings},
};
use uuid::Uuid;

/// The memory store, counting what costs on DynamoDB.
#[derive(Default)]
struct Counted {
    inner: MemoryConnections,
    lookups: AtomicUsize,
    reads: AtomicUsize,
    moves: AtomicUsize,
}

impl ConnectionStore for Counted {
    fn put(&self, c: Connection) -> BoxFuture<'_, anyhow::Result<()>> {
        self.inner.put(c)
    }
    fn get(&self, id: String) -> BoxFuture<'_, anyhow::Result<Option<Connection>>> {
        self.inner.get(id)
    }
    fn remove(&self, id: String) -> BoxFuture<'_, anyhow::Result<()>> {
        self.inner.remove(id)
    }
    fn subscribe(
        &self,
        id: String,
        topic: String,
        cursor: i64,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        self.inner.subscribe(id, topic, cursor)
    }
    fn unsubscribe(&self, id: String, topic: String) -> BoxFuture<'_, anyhow::Result<()>> {
        self.inner.unsubscribe(id, topic)
    }
    fn subscribers(&self, topic: String) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        self.lookups.fetch_add(1, Relaxed);
        self.inner.subscribers(topic)
    }
    fn subscriptions(&self, id: String) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        self.inner.subscriptions(id)
    }
    fn connections_of(&self, user_id: Uuid) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        self.inner.connections_of(user_id)
    }
    fn cursor(&self, id: String, topic: String) -> BoxFuture<'_, anyhow::Result<Option<i64>>> {
        self.reads.fetch_add(1, Relaxed);
        self.inner.cursor(id, topic)
    }
    fn advance(
        &self,
        id: String,
        topic: String,
        from: i64,
        to: i64,
    ) -> BoxFuture<'_, anyhow::Result<bool>> {
        self.moves.fetch_add(1, Relaxed);
        self.inner.advance(id, topic, from, to)
    }
}

/// Frames pushed, per connection; the next push fails when asked to.
#[derive(Default)]
struct Frames(Mutex<Vec<(String, String)>>, std::sync::atomic::AtomicBool);

impl Frames {
    fn of(&self, conn: &str) -> Vec<Value> {
        self.0
            .lock()
            .expect("frames")
            .iter()
            .filter(|(c, _)| c == conn)
            .map(|(_, f)| {
                assert!(f.len() <= MAX_FRAME_BYTES, "a frame of {} bytes", f.len());
                serde_json::from_str(f).expect("json")
            })
            .collect()
    }
    fn clear(&self) {
        self.0.lock().expect("frames").clear();
    }
}

impl Pusher for Frames {
    fn push(&self, connection_id: String, frame: String) -> BoxFuture<'_, Result<(), PushError>> {
        if self.1.swap(false, Relaxed) {
            return Box::pin(async { Err(PushError::Failed(anyhow::anyhow!("throttled"))) });
        }
        self.0.lock().expect("frames").push((connection_id, frame));
        Box::pin(async { Ok(()) })
    }
    fn close(&self, _: String, _: CloseReason) -> BoxFuture<'_, Result<(), PushError>> {
        Box::pin(async { Ok(()) })
    }
}

/// The run lifecycle publishing through the real fan-out on `realtime`.
fn fanned(app: &saasit_tests::TestApp, realtime: Arc<Realtime>) -> shared::runs::Runs {
    saasit_tests::runs::runs_on(
        app,
        app.state.db.clone(),
        Arc::new(LocalTracker::new().0),
        Arc::new(FanoutPublisher {
            realtime,
            db: app.state.db.clone(),
        }),
        RunSettings::default(),
    )
}

/// A connection of `user` (subscriptions need one).
async fn connect(store: &Counted, id: &str, user: Uuid) {
    store
        .put(Connection {
            id: id.into(),
            user_id: user,
            connected_at: 1_800_000_000,
            session_id: Uuid::now_v7(),
            expires_at: 1_800_000_900,
        })
        .await
        .expect("connect");
}

/// `n` log events from `from`, each with `size` bytes of text.
fn events(from: u64, n: u64, size: usize) -> shared::protocol::event::EventBatch<Value> {
    let events: Vec<Value> = (from..from + n)
        .map(|seq| {
            json!({"type": "log", "seq": seq, "ts": "2026-12-01T05:00:00Z", "level": "info",
                   "message": format!("line {seq} {}", "x".repeat(size))})
        })
        .collect();
    serde_json::from_value(json!({ "events": events })).expect("a batch")
}

fn seqs(frames: &[Value]) -> Vec<i64> {
    frames
        .iter()
        .cloned()
        .flat_map(unbatch)
        .map(|m| m["seq"].as_i64().expect("seq"))
        .collect()
}

#[tokio::test]
async fn a_batch_reaches_each_subscriber_in_one_frame_and_one_cursor_move() {
    let app = spawn_app().await;
    let (user, _) = app.user("batched@example.com").await;
    let run = saasit_tests::runs::stored_running_run(&app, user).await;
    let topic = format!("execution:{run}");

    let store = Arc::new(Counted::default());
    let frames = Arc::new(Frames::default());
    let rt = Arc::new(Realtime::new(store.clone(), frames.clone()));
    let runs = fanned(&app, rt.clone());
    for conn in ["A=", "B=", "C="] {
        connect(&store, conn, user).await;
    }
    for conn in ["A=", "B="] {
        store
            .subscribe(conn.into(), topic.clone(), 0)
            .await
            .expect("subscribe");
    }

    // 25 events: one lookup, one move and one frame each, no cursor read.
    runs.record_events(run, &events(1, 25, 40))
        .await
        .expect("stored");
    for conn in ["A=", "B="] {
        let got = frames.of(conn);
        assert_eq!(got.len(), 1, "{conn}: {got:#?}");
        assert_eq!(got[0]["type"], "batch");
        assert_eq!(got[0]["messages"][0]["type"], "execution:logs");
        assert_eq!(got[0]["messages"][0]["executionId"], json!(run));
        assert_eq!(seqs(&got), (1..=25).collect::<Vec<_>>());
    }
    assert_eq!(store.lookups.load(Relaxed), 1);
    assert_eq!(store.moves.load(Relaxed), 2);
    assert_eq!(store.reads.load(Relaxed), 0);

    // A reconnect with `after` = 10 that has not caught up yet: its move
    // fails, its cursor is read, and it gets 11..=50 from Postgres in order.
    store
        .subscribe("C=".into(), topic.clone(), 10)
        .await
        .expect("subscribe");
    frames.clear();
    runs.record_events(run, &events(26, 25, 40))
        .await
        .expect("stored");
    for conn in ["A=", "B="] {
        assert_eq!(frames.of(conn).len(), 1, "{conn}");
        assert_eq!(seqs(&frames.of(conn)), (26..=50).collect::<Vec<_>>());
    }
    assert_eq!(frames.of("C=").len(), 1);
    assert_eq!(seqs(&frames.of("C=")), (11..=50).collect::<Vec<_>>());
    assert_eq!(
        store.reads.load(Relaxed),
        1,
        "only the subscriber behind is read"
    );

    // The same batch again (a retry): nothing is sent.
    frames.clear();
    runs.record_events(run, &events(26, 25, 40))
        .await
        .expect("stored");
    assert!(frames.0.lock().expect("frames").is_empty());

    // Large events: the batch is split into frames of at most 32 KiB, in
    // order, one cursor move each; one over the limit becomes a reference.
    let moves = store.moves.load(Relaxed);
    let mut big = events(51, 9, 9_000);
    big.events.push(
        json!({"type": "log", "seq": 60, "ts": "2026-12-01T05:00:00Z", "level": "info",
               "message": "y".repeat(40_000)}),
    );
    runs.record_events(run, &big).await.expect("stored");
    let got = frames.of("A=");
    assert!(got.len() >= 3, "{} frames", got.len());
    assert_eq!(seqs(&got), (51..=60).collect::<Vec<_>>());
    let last = unbatch(got.last().cloned().expect("frames"))
        .pop()
        .expect("message");
    assert_eq!(last["truncated"], true);
    assert_eq!(store.moves.load(Relaxed) - moves, 3 * got.len());
    for conn in ["A=", "B=", "C="] {
        assert_eq!(
            store
                .inner
                .cursor(conn.into(), topic.clone())
                .await
                .expect("cursor"),
            Some(60)
        );
    }
}

/// The fan-out starts deliveries within its budget (on AWS it runs inside the
/// executor's request): a subscriber it did not reach in time loses nothing,
/// and the topic's next message catches it up from Postgres, in order.
#[tokio::test]
async fn subscribers_left_out_by_the_budget_are_caught_up_by_the_next_batch() {
    let app = spawn_app().await;
    let (user, _) = app.user("budgeted@example.com").await;
    let run = saasit_tests::runs::stored_running_run(&app, user).await;
    let topic = format!("execution:{run}");
    let store = Arc::new(Counted::default());
    let frames = Arc::new(Frames::default());
    let mut rt = Realtime::new(store.clone(), frames.clone());
    rt.fanout_budget = std::time::Duration::ZERO;
    let spent = fanned(&app, Arc::new(rt));
    connect(&store, "A=", user).await;
    store
        .subscribe("A=".into(), topic.clone(), 0)
        .await
        .expect("subscribe");

    spent
        .record_events(run, &events(1, 5, 40))
        .await
        .expect("stored");
    assert!(frames.of("A=").is_empty(), "no time was left for anyone");

    let runs = fanned(&app, Arc::new(Realtime::new(store.clone(), frames.clone())));
    runs.record_events(run, &events(6, 5, 40))
        .await
        .expect("stored");
    assert_eq!(seqs(&frames.of("A=")), (1..=10).collect::<Vec<_>>());

    // A run's end is never left to a next message (there is none): it is
    // sent whatever the budget, with what was left out before it.
    spent
        .record_events(run, &events(11, 5, 40))
        .await
        .expect("stored");
    assert_eq!(seqs(&frames.of("A=")).len(), 10, "left out by the budget");
    let end = shared::realtime::deliver::event_message(
        run,
        16,
        "execution_ended",
        &json!({"type": "execution_ended", "status": "completed"}),
    );
    let budgeted = Realtime {
        fanout_budget: std::time::Duration::ZERO,
        ..Realtime::new(store.clone(), frames.clone())
    };
    shared::realtime::deliver::fanout(
        &budgeted,
        &app.state.db,
        &shared::realtime::publish::Published {
            topic: topic.clone(),
            message: end,
        },
    )
    .await;
    assert_eq!(seqs(&frames.of("A=")), (1..=16).collect::<Vec<_>>());
    assert_eq!(
        unbatch(frames.of("A=").pop().expect("frame"))
            .pop()
            .expect("end")["type"],
        "execution:completed"
    );
}

/// A frame that could not be sent (the Management API throttled, a network
/// error) moves the cursor back: the next message sends it again, in order.
#[tokio::test]
async fn a_frame_not_sent_is_sent_again_with_the_next_batch() {
    let app = spawn_app().await;
    let (user, _) = app.user("unsent@example.com").await;
    let run = saasit_tests::runs::stored_running_run(&app, user).await;
    let topic = format!("execution:{run}");
    let store = Arc::new(Counted::default());
    let frames = Arc::new(Frames::default());
    let runs = fanned(&app, Arc::new(Realtime::new(store.clone(), frames.clone())));
    connect(&store, "A=", user).await;
    store
        .subscribe("A=".into(), topic.clone(), 0)
        .await
        .expect("subscribe");
    frames.1.store(true, Relaxed);
    runs.record_events(run, &events(1, 5, 40))
        .await
        .expect("stored");
    assert!(frames.of("A=").is_empty());
    assert_eq!(
        store
            .inner
            .cursor("A=".into(), topic.clone())
            .await
            .expect("cursor"),
        Some(0),
        "the cursor went back"
    );
    runs.record_events(run, &events(6, 5, 40))
        .await
        .expect("stored");
    assert_eq!(seqs(&frames.of("A=")), (1..=10).collect::<Vec<_>>());
}

/// Published events with a hole another batch already stored (5 and 7, with
/// 6 in Postgres): the subscriber gets 5, 6 and 7, in order, not 5 and 7.
#[tokio::test]
async fn a_hole_in_what_is_published_is_filled_from_postgres() {
    let app = spawn_app().await;
    let (user, _) = app.user("holes@example.com").await;
    let run = saasit_tests::runs::stored_running_run(&app, user).await;
    let topic = format!("execution:{run}");
    let store = Arc::new(Counted::default());
    let frames = Arc::new(Frames::default());
    let rt = Arc::new(Realtime::new(store.clone(), frames.clone()));
    // Stored before anyone follows the run.
    fanned(&app, rt.clone())
        .record_events(run, &events(1, 7, 40))
        .await
        .expect("stored");
    connect(&store, "A=", user).await;
    store
        .subscribe("A=".into(), topic.clone(), 4)
        .await
        .expect("subscribe");
    let message = |seq: i64| {
        shared::realtime::deliver::event_message(
            run,
            seq,
            "log",
            &json!({"type": "log", "seq": seq, "level": "info", "message": "x"}),
        )
    };
    shared::realtime::deliver::fanout(
        &rt,
        &app.state.db,
        &shared::realtime::publish::Published {
            topic,
            message: shared::realtime::deliver::batch(vec![message(5), message(7)]),
        },
    )
    .await;
    assert_eq!(seqs(&frames.of("A=")), vec![5, 6, 7]);
}
