//! The schedules port, one contract for both adapters: in-process (the
//! local stack) and EventBridge Scheduler (on moto). A put creates or
//! updates (idempotently), a disabled schedule reads back disabled, a delete
//! removes it and deleting what is gone succeeds; a service that cannot be
//! reached is an error, never a silent success.

use saasit_tests::moto::Moto;
use shared::triggers::{
    eventbridge::{EventBridgeSchedules, SchedulerTarget},
    local::LocalSchedules,
    ScheduleDef, Schedules,
};
use uuid::Uuid;

async fn contract(s: &dyn Schedules, expression_of: impl Fn(&str) -> String) {
    let id = Uuid::now_v7();
    let def = ScheduleDef {
        name: ScheduleDef::name_of(id),
        trigger_id: id,
        cron: "*/5 9-17 * * 1-5".into(),
        timezone: "Europe/Paris".into(),
        enabled: true,
    };
    assert!(s.get(&def.name).await.expect("get").is_none());
    s.put(&def).await.expect("create");
    s.put(&def).await.expect("the same again");
    let got = s.get(&def.name).await.expect("get").expect("exists");
    assert!(got.enabled);
    assert_eq!(got.timezone, "Europe/Paris");
    assert_eq!(got.expression, expression_of("*/5 9-17 * * 1-5"));
    // Updated: another time, disabled.
    let changed = ScheduleDef {
        cron: "0 8 * * *".into(),
        enabled: false,
        ..def.clone()
    };
    s.put(&changed).await.expect("update");
    let got = s.get(&def.name).await.expect("get").expect("exists");
    assert!(!got.enabled);
    assert_eq!(got.expression, expression_of("0 8 * * *"));
    // An expression AWS cannot hold is refused, and changes nothing.
    let both_days = ScheduleDef {
        cron: "0 8 1 * 1".into(),
        ..def.clone()
    };
    if s.put(&both_days).await.is_err() {
        assert_eq!(
            s.get(&def.name)
                .await
                .expect("get")
                .expect("kept")
                .expression,
            expression_of("0 8 * * *")
        );
    }
    s.delete(&def.name).await.expect("delete");
    assert!(s.get(&def.name).await.expect("get").is_none());
    s.delete(&def.name).await.expect("deleting what is gone");
}

#[tokio::test]
async fn in_process_schedules_keep_the_contract() {
    contract(&LocalSchedules::new(), |cron| cron.to_owned()).await;
}

#[tokio::test]
async fn eventbridge_scheduler_keeps_the_contract() {
    let moto = Moto::start().await;
    let group = "saasit-triggers";
    moto.scheduler()
        .create_schedule_group()
        .name(group)
        .send()
        .await
        .expect("group");
    let queue = moto.queue("schedule-dlq").await;
    let dlq_arn = moto
        .sqs()
        .get_queue_attributes()
        .queue_url(&queue)
        .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("attributes")
        .attributes
        .and_then(|a| {
            a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn)
                .cloned()
        })
        .expect("arn");
    let target = SchedulerTarget {
        group: group.into(),
        function_arn: "arn:aws:lambda:us-east-1:123456789012:function:saasit-scheduled".into(),
        role_arn: "arn:aws:iam::123456789012:role/saasit-scheduler".into(),
        dead_letter_arn: dlq_arn,
    };
    let s = EventBridgeSchedules::from_config(&moto.sdk, target.clone());
    contract(&s, |cron| {
        shared::triggers::cron::Schedule::parse(cron, None)
            .expect("valid")
            .eventbridge()
            .expect("expressible")
    })
    .await;
    // What a tick will carry: the trigger, and Scheduler's time.
    let id = Uuid::now_v7();
    let def = ScheduleDef {
        name: ScheduleDef::name_of(id),
        trigger_id: id,
        cron: "* * * * *".into(),
        timezone: "UTC".into(),
        enabled: true,
    };
    s.put(&def).await.expect("create");
    let got = s
        .client()
        .get_schedule()
        .name(&def.name)
        .group_name(group)
        .send()
        .await
        .expect("get");
    let t = got.target.expect("target");
    assert_eq!(t.arn, target.function_arn);
    assert_eq!(t.role_arn, target.role_arn);
    let input: serde_json::Value =
        serde_json::from_str(t.input.as_deref().expect("input")).expect("json");
    assert_eq!(input["triggerId"], id.to_string());
    assert_eq!(input["scheduledTime"], "<aws.scheduler.scheduled-time>");
    assert_eq!(
        got.schedule_expression.as_deref(),
        Some("cron(* * * * ? *)")
    );

    // Unreachable: an error.
    let down = shared::runs::aws::emulator_sdk_config("http://127.0.0.1:9").await;
    let cut = EventBridgeSchedules::from_config(&down, target);
    assert!(cut.put(&def).await.is_err());
    assert!(cut.delete(&def.name).await.is_err());
}
