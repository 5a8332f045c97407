//! The tracker Lambda: the state machine's `track`, `finalize` and `reap` messages.

use aws_lambda_events::sqs::SqsEvent;
use lambda_runtime::{service_fn, LambdaEvent};
use shared::runs::aws::AwsRuns;
use shared::runtime::{bootstrap_from, Live};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let live = Live::start("tracker", |env| {
        Box::pin(async move { AwsRuns::from_state(&bootstrap_from("tracker", &env).await?).await })
    })
    .await?;
    let live = &live;
    lambda_runtime::run(service_fn(move |e: LambdaEvent<SqsEvent>| async move {
        let aws = live.get().await;
        Ok::<_, lambda_runtime::Error>(steps::tracker::handle(&aws.runs, e.payload).await)
    }))
    .await
}
