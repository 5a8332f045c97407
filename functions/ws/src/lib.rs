//! The WebSocket API's Lambdas. The routes themselves are
//! `shared::realtime::handlers`, which the local gateway calls too; this
//! crate only builds their state on AWS and runs them.

use std::{future::Future, sync::Arc};

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{service_fn, LambdaEvent};
use shared::{
    realtime::{handlers::Deps, Realtime},
    runs::aws::{realtime, sdk_config},
};

/// Bootstraps settings, Postgres and the real-time ports (DynamoDB, the
/// Management API), then serves `route` for every event.
pub async fn run<F, Fut>(name: &'static str, route: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(Deps, Arc<Realtime>, ApiGatewayWebsocketProxyRequest) -> Fut,
    Fut: Future<Output = ApiGatewayProxyResponse>,
{
    let live = shared::runtime::Live::start(name, move |env| {
        Box::pin(async move {
            let app = shared::runtime::bootstrap_from(name, &env).await?;
            let sdk = sdk_config(None).await;
            let realtime = realtime(&app.settings.aws, &sdk)?.ok_or_else(|| {
                anyhow::anyhow!("CONNECTIONS_TABLE and WS_MANAGEMENT_ENDPOINT are required")
            })?;
            Ok((Deps::from(&app), realtime))
        })
    })
    .await?;
    let (route, live) = (&route, &live);
    lambda_runtime::run(service_fn(
        move |e: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            let current = live.get().await;
            let (state, realtime) = &*current;
            Ok::<_, lambda_runtime::Error>(route(state.clone(), realtime.clone(), e.payload).await)
        },
    ))
    .await
}
