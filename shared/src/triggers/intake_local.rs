//! The local webhook intake: verified requests wait in process and are
//! taken [`CONCURRENCY`] at a time; one that cannot be started because a
//! dependency is down is tried again with a growing pause (up to
//! [`MAX_BACKOFF`]) for as long as the process lives: what SQS and its
//! redrive do on AWS.

use std::{sync::Arc, time::Duration};

use tokio::sync::{mpsc, Mutex, Semaphore};

use super::delivery::{HookDelivery, HookIntake, Taken};
use crate::{future::BoxFuture, runs::Runs};

/// Deliveries started at once (the dispatcher's `MaximumConcurrency` on AWS).
pub const CONCURRENCY: usize = 4;
/// The longest pause between two tries of a delivery.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

#[derive(Debug)]
pub struct LocalIntake {
    tx: mpsc::Sender<HookDelivery>,
    rx: Mutex<Option<mpsc::Receiver<HookDelivery>>>,
}

impl LocalIntake {
    /// Holds up to `capacity` waiting deliveries; past that, a send fails
    /// and the hooks route starts the run at once.
    pub fn new(capacity: usize) -> Self {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }

    /// Takes deliveries until the process ends (the first call; later ones return at once).
    pub async fn drive(&self, runs: Arc<Runs>) {
        let Some(mut rx) = self.rx.lock().await.take() else {
            return;
        };
        // A slot is taken before a delivery leaves the channel and kept while
        // it is retried: in an outage the channel fills, and then sends fail
        // (the route starts the run itself, or answers 503).
        let slots = Arc::new(Semaphore::new(CONCURRENCY));
        loop {
            let Ok(slot) = slots.clone().acquire_owned().await else {
                return;
            };
            let Some(d) = rx.recv().await else {
                return;
            };
            let runs = runs.clone();
            tokio::spawn(async move {
                take(&runs, &d).await;
                drop(slot);
            });
        }
    }
}

/// Takes one delivery, trying again while a dependency is down.
async fn take(runs: &Runs, d: &HookDelivery) {
    let mut pause = Duration::from_secs(1);
    loop {
        match runs.take_delivery(d).await {
            Ok(Taken::Started(id, _)) => {
                tracing::info!(execution_id = %id, trigger_id = %d.trigger_id, "webhook run started");
                return;
            }
            Ok(other) => {
                tracing::warn!(trigger_id = %d.trigger_id, outcome = ?other, "webhook delivery not started");
                return;
            }
            Err(e) => {
                tracing::warn!(trigger_id = %d.trigger_id, error = %format!("{e:#}"), retry_in_s = pause.as_secs(), "webhook delivery not taken; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_BACKOFF);
            }
        }
    }
}

impl HookIntake for LocalIntake {
    fn send<'a>(&'a self, delivery: &'a HookDelivery) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            self.tx
                .try_send(delivery.clone())
                .map_err(|e| anyhow::anyhow!("the local webhook intake cannot take it: {e}"))
        })
    }
}
