//! The WebSocket API's Lambdas. The routes themselves are
//! `shared::realtime::handlers`, which the local gateway calls too; this
//! crate only builds their state on AWS and runs them.

use std::{future::Future, sync::Arc};

use aws_lambda_events::apigw::{ApiGatewayProxyResponse, ApiGatewayWebsocketProxyRequest};
use lambda_runtime::{service_fn, LambdaEvent};
use shared::{
    pipeline::aws::{realtime, sdk_config, AwsPipelineSettings},
    realtime::Realtime,
    AppState,
};

/// Bootstraps settings, Postgres and the real-time ports (DynamoDB, the
/// Management API), then serves `route` for every event.
pub async fn run<F, Fut>(name: &'static str, route: F) -> Result<(), lambda_runtime::Error>
where
    F: Fn(AppState, Arc<Realtime>, ApiGatewayWebsocketProxyRequest) -> Fut,
    Fut: Future<Output = ApiGatewayProxyResponse>,
{
    let state = shared::runtime::bootstrap(name).await?;
    let settings = AwsPipelineSettings::from_env()?;
    let sdk = sdk_config(None).await;
    let realtime = realtime(&settings, &sdk)?;
    let route = &route;
    let (state, realtime) = (&state, &realtime);
    lambda_runtime::run(service_fn(
        move |e: LambdaEvent<ApiGatewayWebsocketProxyRequest>| async move {
            Ok::<_, lambda_runtime::Error>(route(state.clone(), realtime.clone(), e.payload).await)
        },
    ))
    .await
}
