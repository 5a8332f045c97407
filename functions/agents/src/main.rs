//! The agents Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on `$PORT`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = shared::runtime::bootstrap("agents").await?;
    shared::runtime::serve(agents::app(state)).await
}
