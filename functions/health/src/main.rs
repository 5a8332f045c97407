//! The health Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on `$PORT`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::runtime::run_http("health", |state| async move { Ok(health::app(state)) }).await
}
