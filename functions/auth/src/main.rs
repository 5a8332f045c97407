//! The auth Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on `$PORT`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = shared::runtime::bootstrap("auth").await?;
    shared::runtime::serve(auth::app(state)).await
}
