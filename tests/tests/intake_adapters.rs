//! The webhook intake port on both adapters: in process (the local stack)
//! and SQS (on moto), drained by the dispatcher Lambda's handler. A delivery
//! that cannot be started while the database is down is retried, lands
//! intact in the dead-letter queue after `maxReceiveCount` tries, and starts
//! its run (once) when it is redriven with the database back. A message on
//! the intake queue that is not a delivery is kept for the dead-letter queue.

use std::time::Duration;

use aws_sdk_sqs::types::QueueAttributeName;
use saasit_tests::{
    hooks::published_hook,
    json,
    moto::Moto,
    runs::{stack_with_cuttable_db, wait_for, TERMINAL},
    test_pipeline_config,
};
use shared::{
    db::executions,
    runs::aws::sqs::SqsQueue,
    triggers::{
        delivery::{execution_id_for, HookDelivery, HookIntake, MAX_DELIVERY_BYTES},
        intake_local::LocalIntake,
        intake_sqs::SqsIntake,
    },
};
use uuid::Uuid;

fn delivery(trigger: Uuid, key: &str) -> HookDelivery {
    HookDelivery {
        execution_id: execution_id_for(key, 1_800_000_000_000),
        trigger_id: trigger,
        key: key.to_owned(),
        inputs: json!({"body": {"order": 9}, "headers": {}}),
        data: json!({"triggerId": trigger}),
    }
}

#[tokio::test]
async fn the_local_intake_takes_deliveries_until_it_is_full() {
    let intake = LocalIntake::new(1);
    let d = delivery(Uuid::now_v7(), "k");
    intake.send(&d).await.expect("queued");
    assert!(
        intake.send(&d).await.is_err(),
        "full: the route starts the run at once instead"
    );
}

/// An intake queue whose dead-letter queue takes a message after two receives.
async fn intake_queue(moto: &Moto) -> (String, String) {
    let sqs = moto.sqs();
    let dlq = sqs
        .create_queue()
        .queue_name("hook-intake-dlq")
        .send()
        .await
        .expect("dlq")
        .queue_url
        .expect("url");
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("arn");
    let url = sqs
        .create_queue()
        .queue_name("hook-intake")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": 2}).to_string(),
        )
        .attributes(QueueAttributeName::VisibilityTimeout, "1")
        .send()
        .await
        .expect("queue")
        .queue_url
        .expect("url");
    (url, dlq)
}

#[tokio::test]
async fn sqs_deliveries_outlive_a_database_outage_in_the_dead_letter_queue() {
    let (s, proxy) = stack_with_cuttable_db(test_pipeline_config()).await;
    let hook = published_hook(&s.app, "sqs-intake@example.com", "PROFESSIONAL", json!({})).await;
    let trigger: Uuid = hook.trigger.parse().expect("uuid");
    let moto = Moto::start().await;
    let (url, dlq) = intake_queue(&moto).await;
    let intake = SqsIntake::from_config(&moto.sdk, url.clone());
    // The dispatcher knows the intake's messages by their queue. (Execution
    // messages are not this test's.)
    let executions =
        SqsQueue::from_config(&moto.sdk, ["high".into(), "standard".into(), "low".into()])
            .with_intake(url.clone());

    let d = delivery(trigger, &format!("hook:{trigger}:sqs"));
    intake.send(&d).await.expect("sent");
    let big = HookDelivery {
        inputs: json!({"body": "x".repeat(MAX_DELIVERY_BYTES)}),
        ..delivery(trigger, "big")
    };
    assert!(
        intake.send(&big).await.is_err(),
        "over the message limit: started at once instead"
    );

    // Something that is not a delivery on the intake queue (one naming an
    // execution, say) is not dropped: it comes back, bound for the DLQ.
    let mut odd = moto.receive(&url, Duration::from_secs(2)).await;
    assert_eq!(odd.records.len(), 1);
    let real_body = odd.records[0].body.clone();
    odd.records[0].body = Some(json!({"executionId": d.execution_id}).to_string());
    let response = steps::dispatcher::handle(&s.runs, &executions, odd.clone()).await;
    assert_eq!(response.batch_item_failures.len(), 1, "kept, not dropped");
    assert!(executions::get(&s.app.state.db, d.execution_id)
        .await
        .expect("db")
        .is_none());
    assert_eq!(
        HookDelivery::from_message(real_body.as_deref().expect("body")),
        Some(d.clone())
    );
    moto.acknowledge(&url, &odd, &response).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;

    // The database is down: each receive is a batch item failure, and after
    // the second receive in all the message is in the dead-letter queue, whole.
    proxy.cut();
    let mut failures = 0;
    for _ in 0..15 {
        let batch = moto.receive(&url, Duration::from_secs(1)).await;
        if batch.records.is_empty() {
            if failures >= 1 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
            continue;
        }
        let response = steps::dispatcher::handle(&s.runs, &executions, batch.clone()).await;
        assert_eq!(
            response.batch_item_failures.len(),
            1,
            "retried, not dropped"
        );
        failures += 1;
        moto.acknowledge(&url, &batch, &response).await;
        tokio::time::sleep(Duration::from_millis(1200)).await;
    }
    assert_eq!(failures, 1, "tried maxReceiveCount times (once above)");
    let dead = moto.receive(&dlq, Duration::from_secs(2)).await;
    assert_eq!(dead.records.len(), 1);
    assert_eq!(
        HookDelivery::from_message(dead.records[0].body.as_deref().expect("body")),
        Some(d.clone())
    );

    // Redriven with the database back (moved to the intake queue, as
    // `start-message-move-task` does): the run starts, under the id the
    // sender was given, and a second delivery of it starts nothing more.
    proxy.restore();
    moto.sqs()
        .send_message()
        .queue_url(&url)
        .message_body(dead.records[0].body.clone().expect("body"))
        .send()
        .await
        .expect("redrive");
    moto.acknowledge(&dlq, &dead, &Default::default()).await;
    let redriven = moto.receive(&url, Duration::from_secs(2)).await;
    assert_eq!(redriven.records.len(), 1);
    for _ in 0..2 {
        let response = steps::dispatcher::handle(&s.runs, &executions, redriven.clone()).await;
        assert!(response.batch_item_failures.is_empty());
    }
    moto.acknowledge(&url, &redriven, &Default::default()).await;
    let e = wait_for(
        &s,
        &hook.token,
        &d.execution_id.to_string(),
        TERMINAL,
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(e["status"], "completed", "{e}");
    assert_eq!(e["output"], json!({"order": 9}));
    let runs: i64 = sqlx::query_scalar("SELECT count(*) FROM executions WHERE workflow_id = $1")
        .bind(Uuid::parse_str(&hook.workflow).expect("uuid"))
        .fetch_one(&s.app.state.db)
        .await
        .expect("count");
    assert_eq!(runs, 1);
}
