//! The workflows Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on `$PORT`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = shared::runtime::bootstrap("workflows").await?;
    shared::runtime::serve(workflows::app(state)).await
}
