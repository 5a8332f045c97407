//! The workspaces Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on `$PORT`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = shared::runtime::bootstrap("workspaces").await?;
    shared::runtime::serve(workspaces::app(state)).await
}
