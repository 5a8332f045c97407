//! The webhook intake on SQS: one queue (`HookIntakeQueue`) with a
//! dead-letter queue, drained by the dispatcher Lambda at a bounded
//! `MaximumConcurrency`; a delivery the dispatcher could not start (a
//! dependency down) comes back after the visibility timeout, and after
//! `maxReceiveCount` tries waits in the dead-letter queue for a redrive
//! (infra/runbooks/hook-deliveries-dead-lettered.md).

use aws_sdk_sqs::Client;

use super::delivery::{HookDelivery, HookIntake};
use crate::future::BoxFuture;

#[derive(Debug, Clone)]
pub struct SqsIntake {
    client: Client,
    url: String,
}

impl SqsIntake {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self {
            client,
            url: url.into(),
        }
    }

    pub fn from_config(sdk: &aws_config::SdkConfig, url: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), url)
    }
}

impl HookIntake for SqsIntake {
    fn send<'a>(&'a self, delivery: &'a HookDelivery) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let body = delivery
                .to_message()
                .ok_or_else(|| anyhow::anyhow!("the delivery is over the queue's message limit"))?;
            self.client
                .send_message()
                .queue_url(&self.url)
                .message_body(body)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "cannot queue a webhook delivery: {}",
                        aws_sdk_sqs::error::DisplayErrorContext(e)
                    )
                })?;
            Ok(())
        })
    }
}
