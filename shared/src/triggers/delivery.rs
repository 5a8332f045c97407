//! Webhook deliveries: a verified webhook request, queued so that a burst
//! waits instead of being dropped. The hooks route verifies the request
//! (cheap: a lookup and an HMAC), sends a [`HookDelivery`] to the intake
//! ([`HookIntake`]: SQS with a dead-letter queue on AWS, drained by the
//! dispatcher Lambda at a bounded concurrency; in process locally) and
//! answers 202 with the execution id the run will have. [`Runs::take_delivery`]
//! starts the run; a dependency that is down leaves the delivery queued, to
//! be tried again.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use uuid::Uuid;

use crate::{
    db::{executions, triggers},
    error::ErrorCode,
    future::BoxFuture,
    runs::{trigger::TriggerType, Runs},
};

/// The largest delivery a queue takes: SQS's classic message limit, which
/// every region and emulator accepts. A bigger one starts its run at once.
pub const MAX_DELIVERY_BYTES: usize = 256 * 1024;

/// A verified webhook request waiting to start its run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HookDelivery {
    /// The id the run will have (answered to the sender already).
    pub execution_id: Uuid,
    pub trigger_id: Uuid,
    /// The run's idempotency key: a delivery taken twice starts one run.
    pub key: String,
    /// `{"body": …, "headers": {…}}`.
    pub inputs: Value,
    pub data: Value,
}

impl HookDelivery {
    /// As a queue message's body; `None` when it is over [`MAX_DELIVERY_BYTES`].
    pub fn to_message(&self) -> Option<String> {
        let body = serde_json::to_string(self).ok()?;
        (body.len() <= MAX_DELIVERY_BYTES).then_some(body)
    }

    pub fn from_message(body: &str) -> Option<Self> {
        serde_json::from_str(body).ok()
    }
}

/// The execution id of a webhook request: a UUIDv7 whose time is `millis`
/// and whose other bits come from the idempotency key, so a request repeated
/// with the same key and time (a signed request's retry) is answered with
/// the same id before its run exists.
pub fn execution_id_for(key: &str, millis: u64) -> Uuid {
    let digest = Sha256::digest(key.as_bytes());
    let mut tail = [0u8; 10];
    tail.copy_from_slice(&digest[..10]);
    uuid::Builder::from_unix_timestamp_millis(millis, &tail).into_uuid()
}

/// Where verified webhook requests wait for their run to start.
pub trait HookIntake: Send + Sync + std::fmt::Debug {
    /// Queues a delivery (an error: it could not be queued; start it at once).
    fn send<'a>(&'a self, delivery: &'a HookDelivery) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// What taking a delivery did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// Its run, and whether this call created it (`false`: taken before).
    Started(Uuid, bool),
    /// The run could not be started (a tier limit, an invalid graph): counted
    /// on the trigger, which a run of such refusals pauses.
    Refused(String),
    /// Nothing to start: the trigger is gone, paused or unpublished since,
    /// or the workspace's monthly budget is spent.
    Dropped(&'static str),
}

impl Runs {
    /// Starts the run of a queued webhook request (idempotent). An error
    /// only when a dependency is down: the delivery stays queued.
    pub async fn take_delivery(&self, d: &HookDelivery) -> anyhow::Result<Taken> {
        let Some(t) = triggers::get(&self.db, d.trigger_id).await? else {
            return Ok(Taken::Dropped("gone"));
        };
        // Taken before (SQS delivers at least once): its run, whatever the
        // plan or the graph say now.
        if let Some(e) = executions::by_idempotency_key(&self.db, t.workspace_id, &d.key).await? {
            return Ok(Taken::Started(e.id, false));
        }
        if t.removed_at.is_some() {
            return Ok(Taken::Dropped("gone"));
        }
        if !t.armed {
            return Ok(Taken::Dropped("not_published"));
        }
        if t.paused {
            return Ok(Taken::Dropped("paused"));
        }
        let started = self
            .start_from_trigger_as(
                &t,
                Some(d.execution_id),
                TriggerType::Webhook,
                d.inputs.clone(),
                d.data.clone(),
                d.key.clone(),
            )
            .await;
        match started {
            Ok(s) => Ok(Taken::Started(s.execution.id, s.created)),
            // The workspace's, not the trigger's: it does not count towards pausing it.
            Err(e) if e.code() == ErrorCode::BudgetExceeded => {
                Ok(Taken::Dropped("budget_exceeded"))
            }
            Err(e) if e.code().status().is_client_error() => Ok(Taken::Refused(e.to_string())),
            Err(e) => Err(e.into_anyhow()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_same_key_and_time_make_the_same_v7_id() {
        let a = execution_id_for("hook:t:v1=ab", 1_700_000_000_000);
        assert_eq!(a, execution_id_for("hook:t:v1=ab", 1_700_000_000_000));
        assert_ne!(a, execution_id_for("hook:t:v1=ac", 1_700_000_000_000));
        assert_eq!(a.get_version_num(), 7);
        assert!(a < execution_id_for("hook:t:v1=ab", 1_700_000_000_001));
    }

    #[test]
    fn a_delivery_over_the_queue_limit_is_not_a_message() {
        let d = HookDelivery {
            execution_id: Uuid::now_v7(),
            trigger_id: Uuid::now_v7(),
            key: "k".into(),
            inputs: json!({"body": {"order": 1}, "headers": {}}),
            data: json!({}),
        };
        let body = d.to_message().expect("small");
        assert_eq!(HookDelivery::from_message(&body), Some(d.clone()));
        let big = HookDelivery {
            inputs: json!({"body": "\u{1}".repeat(MAX_DELIVERY_BYTES / 4)}),
            ..d
        };
        assert!(big.to_message().is_none(), "escaped past the limit");
        assert!(HookDelivery::from_message("{}").is_none());
    }
}
