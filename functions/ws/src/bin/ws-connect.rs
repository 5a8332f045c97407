//! `$connect`: authenticate the access token, store the connection.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    ws::run("ws-connect", |state, rt, req| async move {
        shared::realtime::handlers::connect(&state, &rt, &req).await
    })
    .await
}
