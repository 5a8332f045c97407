//! `$disconnect`: forget the connection and its subscriptions.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ws::run("ws-disconnect", |_state, rt, req| async move {
        shared::realtime::handlers::disconnect(&rt, &req).await
    })
    .await
}
