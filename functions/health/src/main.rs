//! The health Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on `$PORT`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = shared::runtime::bootstrap("health").await?;
    shared::runtime::serve(health::app(state)).await
}
