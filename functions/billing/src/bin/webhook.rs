//! The Stripe webhook Lambda (its own function: no JWT authorizer, raw
//! body). Plan changes reach members over the WebSocket API when it is
//! configured.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::runtime::run_http("billing-webhook", |mut state| async move {
        if let Some(publisher) = shared::runs::aws::fanout_publisher(&state).await? {
            state = state.with_publisher(publisher);
        }
        Ok(billing::webhook_app(state))
    })
    .await
}
