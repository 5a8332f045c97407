//! The webhook intake: a verified request is queued and answered with the id
//! its run will have, so a burst waits instead of being refused; a delivery
//! that meets a database outage waits it out and starts when the database
//! is back; one the plan refuses is recorded on its trigger, not retried.

use std::{collections::HashSet, time::Duration};

use chrono::Utc;
use saasit_tests::{
    hooks::{published_hook, signed},
    json,
    runs::{stack_with_cuttable_db, wait_for, TERMINAL},
    spawn_stack, test_pipeline_config,
};
use shared::{
    db::{executions, triggers},
    triggers::delivery::{execution_id_for, HookDelivery, Taken},
};
use uuid::Uuid;

#[tokio::test]
async fn a_burst_of_webhook_requests_is_queued_and_every_one_starts_its_run() {
    let s = spawn_stack().await;
    let hook = published_hook(&s.app, "burst@example.com", "PROFESSIONAL", json!({})).await;
    let now = Utc::now().timestamp();
    // 100 requests at once: more than the plan's 10 concurrent runs.
    let answers = futures_util::future::join_all((0..100).map(|i| {
        s.app.send(signed(
            &hook.path,
            &hook.secret,
            &format!(r#"{{"order": {i}}}"#),
            now,
        ))
    }))
    .await;
    let mut ids = HashSet::new();
    for r in &answers {
        assert_eq!(r.status.as_u16(), 202, "{}", r.text);
        assert_eq!(r.body["status"], "queued");
        assert_eq!(r.body["created"], true);
        let id = r.body["executionId"].as_str().expect("id").to_owned();
        // Queued, not started at once: the id carries the signed timestamp.
        let (secs, _) = Uuid::parse_str(&id)
            .expect("uuid")
            .get_timestamp()
            .expect("v7")
            .to_unix();
        assert_eq!(secs, u64::try_from(now).expect("positive"));
        ids.insert(id);
    }
    assert_eq!(ids.len(), 100, "one run each");
    // Every one runs to the end, under the id its sender was given.
    let mut orders = HashSet::new();
    for id in &ids {
        saasit_tests::hooks::started(&s.app, id).await;
        let e = wait_for(&s, &hook.token, id, TERMINAL, Duration::from_secs(180)).await;
        assert_eq!(e["status"], "completed", "{e}");
        orders.insert(e["output"]["order"].as_i64().expect("order"));
    }
    assert_eq!(orders, (0..100).collect::<HashSet<i64>>());
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM executions WHERE workflow_id = $1")
        .bind(Uuid::parse_str(&hook.workflow).expect("uuid"))
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(runs, 100, "nothing dropped, nothing doubled");
}

#[tokio::test]
async fn a_queued_delivery_waits_out_a_database_outage() {
    let (s, proxy) = stack_with_cuttable_db(test_pipeline_config()).await;
    let hook = published_hook(&s.app, "outage@example.com", "PROFESSIONAL", json!({})).await;
    let direct = sqlx::PgPool::connect(&s.app.database_url)
        .await
        .expect("direct");
    let trigger: Uuid = hook.trigger.parse().expect("uuid");
    let key = format!("hook:{trigger}:outage");
    let delivery = HookDelivery {
        execution_id: execution_id_for(&key, 1_800_000_000_000),
        trigger_id: trigger,
        key,
        inputs: json!({"body": {"order": 7}, "headers": {}}),
        data: json!({"triggerId": trigger}),
    };
    proxy.cut();
    // While the database is down a request cannot be verified: a clear 503.
    let r = s
        .app
        .send(signed(
            &hook.path,
            &hook.secret,
            "{}",
            Utc::now().timestamp(),
        ))
        .await;
    assert_eq!(r.status.as_u16(), 503, "{}", r.text);
    assert_eq!(r.code(), "SERVICE_UNAVAILABLE");
    // One accepted just before the outage waits in the intake.
    s.runs
        .intake
        .as_ref()
        .expect("an intake")
        .send(&delivery)
        .await
        .expect("queued");
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert!(
        executions::get(&direct, delivery.execution_id)
            .await
            .expect("db")
            .is_none(),
        "nothing starts while the database is down"
    );
    proxy.restore();
    let id = delivery.execution_id.to_string();
    saasit_tests::hooks::started(&s.app, &id).await;
    let e = wait_for(&s, &hook.token, &id, TERMINAL, Duration::from_secs(60)).await;
    assert_eq!(e["status"], "completed", "{e}");
    assert_eq!(e["output"], json!({"order": 7}));
    assert_eq!(e["triggerType"], "webhook");
}

#[tokio::test]
async fn deliveries_are_taken_once_and_refusals_are_recorded_on_the_trigger() {
    let s = spawn_stack().await;
    let hook = published_hook(&s.app, "taken@example.com", "PROFESSIONAL", json!({})).await;
    let trigger: Uuid = hook.trigger.parse().expect("uuid");
    let delivery = |key: &str| HookDelivery {
        execution_id: execution_id_for(key, 1_800_000_000_000),
        trigger_id: trigger,
        key: key.to_owned(),
        inputs: json!({"body": null, "headers": {}}),
        data: json!({"triggerId": trigger}),
    };
    let once = delivery("hook:once");
    // Taken twice (SQS delivers at least once): one run.
    let first = s.runs.take_delivery(&once).await.expect("take");
    assert_eq!(first, Taken::Started(once.execution_id, true));
    let second = s.runs.take_delivery(&once).await.expect("take");
    assert_eq!(second, Taken::Started(once.execution_id, false));
    wait_for(
        &s,
        &hook.token,
        &once.execution_id.to_string(),
        TERMINAL,
        Duration::from_secs(60),
    )
    .await;

    // The plan no longer runs workflows: refused, counted on the trigger.
    sqlx::query("UPDATE workspaces SET tier = 'FREE' WHERE id = (SELECT id FROM users WHERE email = 'taken@example.com')")
        .execute(&s.app.state.db)
        .await
        .expect("tier");
    let refused = s
        .runs
        .take_delivery(&delivery("hook:free"))
        .await
        .expect("take");
    assert!(
        matches!(&refused, Taken::Refused(why) if why.contains("TierLimit")),
        "{refused:?}"
    );
    let row = triggers::get(&s.app.state.db, trigger)
        .await
        .expect("db")
        .expect("row");
    assert_eq!(row.failures, 1);
    assert!(row
        .last_error
        .as_deref()
        .is_some_and(|e| e.contains("FREE")));

    // Paused since it was queued, or gone: dropped, nothing started.
    s.app
        .send(
            saasit_tests::Req::post(&format!(
                "/api/v1/workflows/{}/triggers/{}/pause",
                hook.workflow, hook.trigger
            ))
            .bearer(&hook.token),
        )
        .await
        .expect(200, None);
    assert_eq!(
        s.runs
            .take_delivery(&delivery("hook:paused"))
            .await
            .expect("take"),
        Taken::Dropped("paused")
    );
    let gone = HookDelivery {
        trigger_id: Uuid::now_v7(),
        ..delivery("hook:gone")
    };
    assert_eq!(
        s.runs.take_delivery(&gone).await.expect("take"),
        Taken::Dropped("gone")
    );
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM executions WHERE workflow_id = $1")
        .bind(Uuid::parse_str(&hook.workflow).expect("uuid"))
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(runs, 1);
}

#[tokio::test]
async fn what_the_route_can_refuse_is_refused_before_queueing() {
    let s = spawn_stack().await;
    let hook = published_hook(&s.app, "refusals@example.com", "PROFESSIONAL", json!({})).await;
    let now = Utc::now().timestamp();
    // Text Postgres cannot store: 400 at once, not a refusal on the trigger later.
    s.app
        .send(signed(
            &hook.path,
            &hook.secret,
            r#"{"note": "a\u0000b"}"#,
            now,
        ))
        .await
        .expect(400, Some("VALIDATION_ERROR"));
    // A plan that cannot run: 403 at once.
    sqlx::query("UPDATE workspaces SET tier = 'FREE' WHERE id = (SELECT id FROM users WHERE email = 'refusals@example.com')")
        .execute(&s.app.state.db)
        .await
        .expect("tier");
    s.app
        .send(signed(&hook.path, &hook.secret, "{}", now))
        .await
        .expect(403, Some("TIER_LIMIT"));
    let row = triggers::get(&s.app.state.db, hook.trigger.parse().expect("uuid"))
        .await
        .expect("db")
        .expect("row");
    assert_eq!(row.failures, 0, "nothing counted against the trigger");
    assert!(!row.paused);
}

#[tokio::test]
async fn a_keyed_bearer_request_starts_at_once_so_its_retry_names_the_same_run() {
    let s = spawn_stack().await;
    let hook = published_hook(
        &s.app,
        "keyed@example.com",
        "PROFESSIONAL",
        json!({"auth": "bearer"}),
    )
    .await;
    let send = || {
        s.app.send(
            saasit_tests::Req::post(&hook.path)
                .bearer(&hook.secret)
                .header("idempotency-key", "order-77")
                .raw(Some("application/json"), r#"{"order": 77}"#),
        )
    };
    let first = send().await.expect(202, None);
    let again = send().await.expect(202, None);
    assert_eq!(first.body["created"], true);
    assert_eq!(again.body["created"], false);
    let id = first.body["executionId"].as_str().expect("id");
    assert_eq!(again.body["executionId"], id);
    assert!(
        executions::get(&s.app.state.db, id.parse().expect("uuid"))
            .await
            .expect("db")
            .is_some(),
        "started, not queued: the id names a run at once"
    );
    let e = wait_for(&s, &hook.token, id, TERMINAL, Duration::from_secs(60)).await;
    assert_eq!(e["output"], json!({"order": 77}));
}
