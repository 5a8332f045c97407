//! The one-process local stack: every function's router mounted on one HTTP
//! server, with the same handlers and layers as on Lambda.
//! End-to-end tests start it in-process on port 0 through [`run`].

use std::{future::Future, net::SocketAddr};

use axum::Router;
use shared::AppState;
use tokio::net::TcpListener;
use utoipa_axum::router::OpenApiRouter;

/// Every function's routes, merged, with the common layers applied once.
pub fn app(state: AppState) -> Router {
    let settings = state.settings.clone();
    let (router, _) = OpenApiRouter::new()
        .merge(health::routes())
        .merge(auth::routes())
        .merge(workflows::routes())
        .merge(agents::routes())
        .with_state(state)
        .split_for_parts();
    shared::http::apply_layers(router, &settings.http)
}

/// Serves the stack on `listener` until `shutdown` resolves, then finishes
/// in-flight requests and returns.
pub async fn run(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}
