//! The billing API Lambda (or, without `AWS_LAMBDA_RUNTIME_API`, a server on
//! `$PORT`). Stripe's key comes from Secrets Manager through the template.

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let state = shared::runtime::bootstrap("billing").await?;
    shared::runtime::serve(billing::app(state)).await
}
