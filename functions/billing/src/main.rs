//! The billing API Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on
//! `$PORT`). Stripe's key comes from Secrets Manager through the template.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    shared::runtime::run_http("billing", |state| async move { Ok(billing::app(state)) }).await
}
