//! The sweeper Lambda, on an EventBridge schedule.

use lambda_runtime::{service_fn, LambdaEvent};
use shared::runs::aws::{realtime, sdk_config, AwsRuns};
use shared::runtime::{bootstrap_from, Live};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let live = Live::start("sweeper", |env| {
        Box::pin(async move {
            let mut state = bootstrap_from("sweeper", &env).await?;
            // Plan changes it makes (a grace period's end) reach owners and members.
            if let Some(publisher) = shared::runs::aws::fanout_publisher(&state).await? {
                state = state.with_publisher(publisher);
            }
            let aws = AwsRuns::with_schedules(&state).await?;
            // Connections are closed only where the WebSocket API is configured.
            let rt = realtime(&state.settings.aws, &sdk_config(None).await)?;
            Ok((state, aws, rt))
        })
    })
    .await?;
    let live = &live;
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            let current = live.get().await;
            let (state, aws, rt) = &*current;
            steps::sweeper::handle(state, &aws.runs, rt.as_deref())
                .await
                .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
        },
    ))
    .await
}
