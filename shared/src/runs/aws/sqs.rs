//! The execution queue on SQS: one queue per priority class (high,
//! standard, low), each with its DLQ and its own event-source
//! `MaximumConcurrency` (template.yaml). A message is `{"executionId": …}`;
//! the row in Postgres is the truth, the message only a wake-up.

use std::time::Duration;

use aws_sdk_sqs::Client;
use serde_json::json;
use uuid::Uuid;

use crate::{
    runs::{BoxFuture, ExecutionQueue},
    tier::Priority,
};

/// SQS delays and visibility timeouts are capped by the service.
pub const MAX_DELAY: Duration = Duration::from_secs(900);
pub const MAX_VISIBILITY: Duration = Duration::from_secs(12 * 3600);

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    /// high, standard, low
    urls: [String; 3],
    /// The webhook intake queue the dispatcher also drains (`HOOK_INTAKE_QUEUE_URL`).
    intake: Option<String>,
}

/// The queue name an ARN (an SQS event's `eventSourceARN`) or URL ends with.
fn queue_name(arn_or_url: &str) -> Option<&str> {
    arn_or_url
        .rsplit([':', '/'])
        .next()
        .filter(|n| !n.is_empty())
}

fn index(p: Priority) -> usize {
    match p {
        Priority::High => 0,
        Priority::Standard => 1,
        Priority::Low => 2,
    }
}

impl SqsQueue {
    pub fn new(client: Client, urls: [String; 3]) -> Self {
        Self {
            client,
            urls,
            intake: None,
        }
    }

    /// Also knowing the webhook intake queue (its messages are deliveries).
    pub fn with_intake(mut self, url: impl Into<String>) -> Self {
        self.intake = Some(url.into()).filter(|u: &String| !u.is_empty());
        self
    }

    /// Whether an event's source is the webhook intake queue.
    pub fn is_intake(&self, arn_or_url: &str) -> bool {
        self.intake
            .as_deref()
            .and_then(queue_name)
            .is_some_and(|name| queue_name(arn_or_url) == Some(name))
    }

    pub fn from_config(sdk: &aws_config::SdkConfig, urls: [String; 3]) -> Self {
        Self::new(Client::new(sdk), urls)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn url(&self, p: Priority) -> &str {
        &self.urls[index(p)]
    }

    /// The priority class of a queue, from its ARN (an SQS event's
    /// `eventSourceARN`) or URL: both end with the queue name.
    pub fn priority_of(&self, arn_or_url: &str) -> Option<Priority> {
        let wanted = queue_name(arn_or_url)?;
        [Priority::High, Priority::Standard, Priority::Low]
            .into_iter()
            .find(|p| queue_name(self.url(*p)) == Some(wanted))
    }

    /// Hides a received message for `delay` (the dispatcher's deferral of an
    /// over-limit run): it comes back then, without spinning.
    pub async fn defer(
        &self,
        priority: Priority,
        receipt_handle: &str,
        delay: Duration,
    ) -> anyhow::Result<()> {
        let secs = delay.min(MAX_VISIBILITY).as_secs();
        self.client
            .change_message_visibility()
            .queue_url(self.url(priority))
            .receipt_handle(receipt_handle)
            .visibility_timeout(i32::try_from(secs).unwrap_or(i32::MAX))
            .send()
            .await?;
        Ok(())
    }
}

/// The body of a queue message.
pub fn message_body(id: Uuid) -> String {
    json!({ "executionId": id }).to_string()
}

/// The execution id of a queue message, if the body is one of ours.
pub fn execution_of(body: &str) -> Option<Uuid> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()?
        .get("executionId")?
        .as_str()?
        .parse()
        .ok()
}

impl ExecutionQueue for SqsQueue {
    fn send(
        &self,
        id: Uuid,
        priority: Priority,
        delay: Duration,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let secs = delay.min(MAX_DELAY).as_secs();
            self.client
                .send_message()
                .queue_url(self.url(priority))
                .message_body(message_body(id))
                .delay_seconds(i32::try_from(secs).unwrap_or(900))
                .send()
                .await?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queue_names_map_to_priorities_and_bodies_round_trip() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let q = SqsQueue::from_config(
            &sdk,
            [
                "https://sqs.eu-west-1.amazonaws.com/1/saasit-exec-high".into(),
                "https://sqs.eu-west-1.amazonaws.com/1/saasit-exec-standard".into(),
                "https://sqs.eu-west-1.amazonaws.com/1/saasit-exec-low".into(),
            ],
        );
        assert_eq!(
            q.priority_of("arn:aws:sqs:eu-west-1:1:saasit-exec-standard"),
            Some(Priority::Standard)
        );
        assert_eq!(q.priority_of("arn:aws:sqs:eu-west-1:1:other"), None);
        assert!(!q.is_intake("arn:aws:sqs:eu-west-1:1:saasit-hook-intake"));
        let q = q.with_intake("https://sqs.eu-west-1.amazonaws.com/1/saasit-hook-intake");
        assert!(q.is_intake("arn:aws:sqs:eu-west-1:1:saasit-hook-intake"));
        assert!(!q.is_intake("arn:aws:sqs:eu-west-1:1:saasit-hook-intake-dlq"));
        assert!(!q.is_intake("arn:aws:sqs:eu-west-1:1:saasit-exec-low"));
        let id = Uuid::now_v7();
        assert_eq!(execution_of(&message_body(id)), Some(id));
        assert_eq!(execution_of("not json"), None);
        assert_eq!(execution_of(r#"{"executionId": "nope"}"#), None);
    }
}
