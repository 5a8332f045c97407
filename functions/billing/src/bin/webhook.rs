//! The Stripe webhook Lambda (its own function: no JWT authorizer, raw
//! body). Plan changes reach members over the WebSocket API when it is
//! configured.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut state = shared::runtime::bootstrap("billing-webhook").await?;
    if let Some(publisher) = shared::runs::aws::fanout_publisher(&state).await? {
        state = state.with_publisher(publisher);
    }
    shared::runtime::serve(billing::webhook_app(state)).await
}
