//! Billing and runs on the whole local stack: a plan bought through the
//! Stripe double runs workflows; a downgrade never stops a run in flight
//! (it applies to the next one); a metered plan's usage reaches Stripe once
//! per run and metric however often Stripe's answer is lost.

use std::time::Duration;

use saasit_tests::{
    billing::{billing_until, buy, stack_billed},
    json,
    runs::{start, wait_for, workflow},
    spawn_app, Req,
};
use uuid::Uuid;

#[tokio::test]
async fn a_downgrade_applies_to_the_next_run_not_the_one_in_flight() {
    let (s, billed) = stack_billed(spawn_app().await).await;
    let (_, token) = s.app.user("flight@example.com").await;
    // FREE cannot run.
    let slow = workflow(
        &s,
        &token,
        json!({
            "nodes": [{"id": "start", "type": "trigger"}, {"id": "wait", "type": "delay", "config": {"seconds": 3}},
                      {"id": "out", "type": "output", "config": {"value": "done"}}],
            "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "out"}]
        }),
    )
    .await;
    s.app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&token)
                .json(&json!({ "workflowId": slow })),
        )
        .await
        .expect(403, Some("TIER_LIMIT"));

    let sub = buy(&s.app, &billed, &token, "STARTER", "month").await;
    let run = start(&s, &token, &slow, json!({})).await;
    wait_for(&s, &token, &run, &["running"], Duration::from_secs(20)).await;

    // Cancelled at once while the run is in flight: the plan is FREE again.
    billed
        .double
        .cancel_at_period_end(&sub, true)
        .expect("cancel");
    billed.double.end_period(&sub).expect("period ends");
    billing_until(&s.app, &token, |v| v["tier"] == "FREE").await;

    // The run goes on to the end with the tier it was launched with.
    let done = wait_for(
        &s,
        &token,
        &run,
        saasit_tests::runs::TERMINAL,
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(done["status"], "completed", "{done}");
    // The next one is refused.
    let r = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&token)
                .json(&json!({ "workflowId": slow })),
        )
        .await
        .expect(403, Some("TIER_LIMIT"));
    assert_eq!(r.body["error"]["details"]["tier"], "FREE");
    let view = billing_until(&s.app, &token, |v| v["usage"]["runs"] == 1).await;
    assert_eq!(view["usage"]["runsInFlight"], 0);
    assert!(view["usage"]["runSeconds"].as_i64().expect("seconds") >= 3);
}

#[tokio::test]
async fn metered_usage_is_reported_once_however_often_the_answer_is_lost() {
    let (s, billed) = stack_billed(spawn_app().await).await;
    let (me, token) = s.app.user("metered@example.com").await;
    buy(&s.app, &billed, &token, "SCALE", "month").await;
    let view = billing_until(&s.app, &token, |v| v["subscription"]["metered"] == true).await;
    assert_eq!(view["tier"], "SCALE");

    let agent = workflow(
        &s,
        &token,
        json!({
            "nodes": [{"id": "start", "type": "trigger"},
                      {"id": "write", "type": "agent", "config": {"systemPrompt": "You write.", "prompt": "Say hello to the metered world"}},
                      {"id": "out", "type": "output", "config": {"value": "{{ write.output }}"}}],
            "edges": [{"from": "start", "to": "write"}, {"from": "write", "to": "out"}]
        }),
    )
    .await;
    // Stripe will record the first three reports but their answers are lost.
    // (The stack's own sweeper reports too, every half second: the two share
    // the work through leases.)
    billed.double.set_faults(local::stripe_double::Faults {
        meter_answers_lost: 3,
        ..Default::default()
    });
    let mut runs = Vec::new();
    for _ in 0..2 {
        let run = start(&s, &token, &agent, json!({})).await;
        wait_for(&s, &token, &run, &["completed"], Duration::from_secs(30)).await;
        runs.push(run);
    }
    // What the runs used, as counted when they ended.
    let view = billing_until(&s.app, &token, |v| v["usage"]["runs"] == 2).await;
    let tokens = view["usage"]["llmTokens"].as_i64().expect("tokens");
    assert!(tokens > 0, "agent calls count their tokens: {view}");
    let rows: i64 =
        sqlx::query_scalar("SELECT count(*) FROM meter_reports WHERE workspace_id = $1")
            .bind(me)
            .fetch_one(&s.app.state.db)
            .await
            .expect("count");
    assert_eq!(rows, 6, "three metrics for each of two runs");

    let mut rounds = 0;
    loop {
        // Make every leased or backed-off report due at once (time passing).
        sqlx::query("UPDATE meter_reports SET next_attempt_at = now() WHERE reported_at IS NULL")
            .execute(&s.app.state.db)
            .await
            .expect("due");
        shared::billing::sweep(&s.app.state).await;
        rounds += 1;
        let left: i64 =
            sqlx::query_scalar("SELECT count(*) FROM meter_reports WHERE reported_at IS NULL")
                .fetch_one(&s.app.state.db)
                .await
                .expect("count");
        if left == 0 {
            break;
        }
        assert!(rounds < 10, "{left} reports never went through");
    }
    let attempts: i64 = sqlx::query_scalar("SELECT sum(attempts) FROM meter_reports")
        .fetch_one(&s.app.state.db)
        .await
        .expect("attempts");
    assert!(attempts > 6, "{attempts} attempts");

    // Stripe has each run's metric once: two runs, their minutes, their tokens.
    let events = billed.double.meter_events();
    assert_eq!(events.len(), 6, "{events:?}");
    let total = |name: &str| -> i64 {
        events
            .iter()
            .filter(|(_, n, _, _)| n == name)
            .map(|(_, _, _, v)| v)
            .sum()
    };
    assert_eq!(total("saasit_runs"), 2);
    assert_eq!(
        total("saasit_run_minutes"),
        2,
        "each run rounds up to a minute"
    );
    assert_eq!(total("saasit_llm_tokens"), tokens);
    for run in runs {
        assert!(events
            .iter()
            .any(|(id, _, _, _)| id == &format!("saasit-{run}-runs")));
    }
    // Another round sends nothing more.
    shared::billing::sweep(&s.app.state).await;
    assert_eq!(billed.double.meter_events().len(), 6);

    // A report still unconfirmed 20 hours after its first attempt is given
    // up: Stripe might have counted it and no longer knows its identifier.
    let customer: String =
        sqlx::query_scalar("SELECT stripe_customer_id FROM workspaces WHERE id = $1")
            .bind(me)
            .fetch_one(&s.app.state.db)
            .await
            .expect("customer");
    sqlx::query(
        "INSERT INTO meter_reports (execution_id, metric, workspace_id, stripe_customer_id, value, occurred_at,
                                    attempts, first_attempt_at)
         VALUES ($1, 'runs', $2, $3, 1, now() - interval '21 hours', 3, now() - interval '21 hours')",
    )
    .bind(Uuid::now_v7())
    .bind(me)
    .bind(&customer)
    .execute(&s.app.state.db)
    .await
    .expect("an old report");
    // This sweep or the stack's own gives it up.
    shared::billing::sweep(&s.app.state).await;
    let given_up = || async {
        sqlx::query_as::<_, (String, Option<String>)>(
            "SELECT next_attempt_at::text, last_error FROM meter_reports WHERE reported_at IS NULL",
        )
        .fetch_one(&s.app.state.db)
        .await
        .expect("the old report")
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let (next, error) = loop {
        let row = given_up().await;
        if row.0 == "infinity" || std::time::Instant::now() > deadline {
            break row;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(next, "infinity");
    assert!(error.unwrap_or_default().contains("given up"));
    assert_eq!(billed.double.meter_events().len(), 6, "not sent again");
}
