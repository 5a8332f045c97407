//! The scheduled Lambda: EventBridge Scheduler's target for schedule triggers.

use lambda_runtime::{service_fn, LambdaEvent};
use shared::runs::aws::AwsRuns;
use shared::runtime::{bootstrap_from, Live};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let live = Live::start("scheduled", |env| {
        Box::pin(async move {
            let state = bootstrap_from("scheduled", &env).await?;
            let aws = AwsRuns::with_schedules(&state).await?;
            Ok((state, aws))
        })
    })
    .await?;
    let live = &live;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<serde_json::Value>| async move {
            let current = live.get().await;
            let (_, aws) = &*current;
            steps::scheduled::handle(&aws.runs, event.payload)
                .await
                .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
        },
    ))
    .await
}
