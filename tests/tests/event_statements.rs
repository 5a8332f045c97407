//! What an event batch costs Postgres, counted at the wire (a proxy counts
//! the statements the callback path runs): the capacity model
//! (`infra/CAPACITY.md`) states the figure, and this test fails when the
//! code grows past it. A retried batch stores and publishes nothing again.

use std::sync::{Arc, Mutex};

use saasit_tests::{spawn_app, statements::StatementCounter};
use serde_json::{json, Value};
use shared::{
    future::BoxFuture,
    realtime::publish::{Published, Publisher},
    runs::{local::tracker::LocalTracker, RunSettings},
};

/// A figure the capacity model states (`<!-- statements-per-event-batch: N -->`
/// for a batch with a priced model call, `…-unpriced-event-batch` without).
fn stated_for(what: &str) -> u64 {
    let doc = include_str!("../../infra/CAPACITY.md");
    let tag = format!("<!-- {what}: ");
    let at = doc
        .find(&tag)
        .unwrap_or_else(|| panic!("infra/CAPACITY.md states {what}"))
        + tag.len();
    doc[at..]
        .split_whitespace()
        .next()
        .and_then(|n| n.parse().ok())
        .expect("a number")
}

fn stated() -> u64 {
    stated_for("statements-per-event-batch")
}

#[derive(Default)]
struct Kept(Mutex<Vec<Published>>);

impl Publisher for Kept {
    fn publish(&self, message: Published) -> BoxFuture<'_, ()> {
        self.0.lock().expect("kept").push(message);
        Box::pin(async {})
    }
}

/// A batch as an executor sends it: 25 events of a 10-node run, one of them a priced model call.
fn batch(from: u64) -> Value {
    let mut events = Vec::new();
    let mut seq = from;
    let mut push = |kind: Value| {
        let mut e = kind;
        e["seq"] = json!(seq);
        e["ts"] = json!("2026-12-01T05:00:00Z");
        events.push(e);
        seq += 1;
    };
    for n in 0..12 {
        push(json!({"type": "node_started", "node": format!("n{n}"), "attempt": 1}));
        push(
            json!({"type": "node_succeeded", "node": format!("n{n}"), "attempt": 1, "output": {"text": "done"}, "durationMs": 1200, "reused": false}),
        );
    }
    push(
        json!({"type": "usage", "node": "n3", "provider": "anthropic", "model": "claude-sonnet-4-5",
                "inputTokens": 1200, "outputTokens": 300}),
    );
    json!({ "events": events })
}

#[tokio::test]
async fn an_event_batch_costs_what_the_capacity_model_says() {
    let app = spawn_app().await;
    let (user, _) = app.user("statements@example.com").await;
    let run = saasit_tests::runs::stored_running_run(&app, user).await;

    let counter = StatementCounter::in_front_of(&app.database_url).await;
    let db = counter.pool(&app.database_url, 1).await;
    let kept = Arc::new(Kept::default());
    let runs = saasit_tests::runs::runs_on(
        &app,
        db,
        Arc::new(LocalTracker::new().0),
        kept.clone(),
        RunSettings::default(),
    );

    let first = batch(1);
    let parsed = serde_json::from_value(first.clone()).expect("a batch");
    let before = counter.count();
    runs.record_events(run, &parsed).await.expect("stored");
    let used = counter.count() - before;
    assert!(used > 0, "the counter saw the batch");
    assert!(
        used <= stated(),
        "a batch of 25 events took {used} statements; the capacity model says {}",
        stated()
    );
    // Published at once: one batch of the 25 on the run's topic.
    let published = |kept: &Kept| {
        kept.0
            .lock()
            .expect("kept")
            .iter()
            .filter(|p| p.topic == format!("execution:{run}"))
            .map(|p| p.message["messages"].as_array().map_or(1, Vec::len))
            .collect::<Vec<_>>()
    };
    assert_eq!(published(&kept), vec![25]);

    // The same batch again (a retry after a lost answer): nothing new stored or published.
    runs.record_events(run, &parsed).await.expect("stored");
    assert_eq!(published(&kept), vec![25]);
    // A batch without a priced call: one statement, no transaction.
    let mut plain = batch(26);
    plain["events"].as_array_mut().expect("events").pop();
    let plain = serde_json::from_value(plain).expect("a batch");
    let before = counter.count();
    runs.record_events(run, &plain).await.expect("stored");
    let used = counter.count() - before;
    let unpriced = stated_for("statements-per-unpriced-event-batch");
    assert!(
        used > 0 && used <= unpriced,
        "a batch of 24 events without a model call took {used} statements; the capacity model says {unpriced}"
    );
    assert_eq!(published(&kept), vec![25, 24]);
    let (events, last_seq, tokens): (i64, i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM execution_events WHERE execution_id = $1), last_seq, llm_tokens
           FROM executions WHERE id = $1",
    )
    .bind(run)
    .fetch_one(&app.state.db)
    .await
    .expect("stored");
    assert_eq!((events, last_seq, tokens), (49, 49, 1500));
}
