//! The agents Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on `$PORT`).

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut state = shared::runtime::bootstrap("agents").await?;
    // Agent changes reach `workspace:{id}` subscribers when the WebSocket API is configured.
    if let Some(publisher) = shared::runs::aws::fanout_publisher(&state).await? {
        state = state.with_publisher(publisher);
    }
    shared::runtime::serve(agents::app(state)).await
}
