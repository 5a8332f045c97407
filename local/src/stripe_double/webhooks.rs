//! Webhook delivery, as Stripe does it: each event POSTed to the endpoint
//! with `Stripe-Signature` (signed when sent), one at a time in the order
//! they happened, retried with backoff until a 2xx answer.

use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc::UnboundedReceiver;

use super::StripeDouble;

#[derive(Debug, Clone)]
pub struct Target {
    pub url: String,
    pub secret: String,
}

/// Attempts per event before it is dropped (logged).
const ATTEMPTS: u32 = 8;

pub async fn deliver(double: StripeDouble, mut events: UnboundedReceiver<Value>) {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_default();
    while let Some(event) = events.recv().await {
        let body = event.to_string();
        let mut wait = Duration::from_millis(100);
        for attempt in 1..=ATTEMPTS {
            while double.holding() {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            let target = double
                .inner
                .webhook
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .clone();
            let Some(target) = target else {
                tokio::time::sleep(wait).await;
                continue;
            };
            let signature = shared::billing::signature::sign(
                body.as_bytes(),
                &target.secret,
                chrono::Utc::now().timestamp(),
            );
            let sent = http
                .post(&target.url)
                .header("content-type", "application/json")
                .header("stripe-signature", signature)
                .body(body.clone())
                .send()
                .await;
            match sent {
                Ok(r) if r.status().is_success() => break,
                Ok(r) => {
                    tracing::warn!(status = %r.status(), attempt, "a webhook was not accepted; retrying")
                }
                Err(e) => {
                    tracing::warn!(error = %e, attempt, "a webhook could not be delivered; retrying")
                }
            }
            if attempt == ATTEMPTS {
                tracing::error!(event = %event["id"], "a webhook was given up");
            }
            tokio::time::sleep(wait).await;
            wait = (wait * 2).min(Duration::from_secs(5));
        }
        double
            .inner
            .pending
            .fetch_sub(1, std::sync::atomic::Ordering::SeqCst);
    }
}
