//! The sweeper Lambda, on an EventBridge schedule.

use lambda_runtime::{service_fn, LambdaEvent};
use shared::runs::aws::{realtime, sdk_config, AwsRuns};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    let mut state = shared::runtime::bootstrap("sweeper").await?;
    // Plan changes it makes (a grace period's end) reach owners and members.
    if let Some(publisher) = shared::runs::aws::fanout_publisher(&state).await? {
        state = state.with_publisher(publisher);
    }
    let aws = AwsRuns::from_state(&state).await?;
    // Connections are closed only where the WebSocket API is configured.
    let rt = realtime(&state.settings.aws, &sdk_config(None).await)?;
    let (state, aws, rt) = (&state, &aws, rt.as_deref());
    lambda_runtime::run(service_fn(
        move |_: LambdaEvent<serde_json::Value>| async move {
            steps::sweeper::handle(state, &aws.runs, rt)
                .await
                .map_err(|e| lambda_runtime::Error::from(format!("{e:#}")))
        },
    ))
    .await
}
