//! `$default`: subscribe (with catch-up), unsubscribe, ping.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ws::run("ws-default", |state, rt, req| async move {
        shared::realtime::handlers::default(&state, &rt, &req).await
    })
    .await
}
