//! The local execution queue: three priority classes in process, drained
//! highest class first, with delayed visibility for deferred messages (what
//! SQS visibility timeouts do on AWS). An id already waiting is not added twice.

use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

use tokio::sync::Notify;
use uuid::Uuid;

use crate::runs::{BoxFuture, ExecutionQueue};
use crate::tier::Priority;

struct Entry {
    priority: Priority,
    rank: u8,
    visible_at: Instant,
    order: u64,
    id: Uuid,
}

#[derive(Default)]
pub struct LocalQueue {
    entries: Mutex<(u64, Vec<Entry>)>,
    notify: Notify,
}

fn rank(p: Priority) -> u8 {
    match p {
        Priority::High => 0,
        Priority::Standard => 1,
        Priority::Low => 2,
    }
}

impl LocalQueue {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&self, id: Uuid, priority: Priority, delay: Duration) {
        let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        let (counter, entries) = &mut *guard;
        let visible_at = Instant::now() + delay;
        if let Some(e) = entries.iter_mut().find(|e| e.id == id) {
            e.visible_at = e.visible_at.min(visible_at);
        } else {
            *counter += 1;
            entries.push(Entry {
                priority,
                rank: rank(priority),
                visible_at,
                order: *counter,
                id,
            });
        }
        drop(guard);
        self.notify.notify_one();
    }

    /// Waits for the next visible message: the highest class first, oldest first within it.
    pub async fn next(&self) -> (Uuid, Priority) {
        loop {
            let wait = {
                let mut guard = self.entries.lock().unwrap_or_else(|p| p.into_inner());
                let entries = &mut guard.1;
                let now = Instant::now();
                let best = entries
                    .iter()
                    .enumerate()
                    .filter(|(_, e)| e.visible_at <= now)
                    .min_by_key(|(_, e)| (e.rank, e.order))
                    .map(|(i, _)| i);
                if let Some(i) = best {
                    let e = entries.swap_remove(i);
                    return (e.id, e.priority);
                }
                entries
                    .iter()
                    .map(|e| e.visible_at.saturating_duration_since(now))
                    .min()
            };
            match wait {
                Some(d) => {
                    let _ = tokio::time::timeout(d, self.notify.notified()).await;
                }
                None => self.notify.notified().await,
            }
        }
    }

    pub fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .1
            .len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl ExecutionQueue for LocalQueue {
    fn send(
        &self,
        id: Uuid,
        priority: Priority,
        delay: Duration,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        self.push(id, priority, delay);
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn higher_classes_first_and_delays_respected() {
        let q = LocalQueue::new();
        let (low, std1, high, later) = (
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
            Uuid::now_v7(),
        );
        q.push(low, Priority::Low, Duration::ZERO);
        q.push(std1, Priority::Standard, Duration::ZERO);
        q.push(later, Priority::High, Duration::from_millis(150));
        q.push(high, Priority::High, Duration::ZERO);
        q.push(high, Priority::High, Duration::ZERO); // duplicate ignored
        assert_eq!(q.len(), 4);
        assert_eq!(q.next().await.0, high);
        assert_eq!(q.next().await.0, std1);
        assert_eq!(q.next().await.0, low);
        let started = Instant::now();
        assert_eq!(q.next().await.0, later);
        assert!(started.elapsed() >= Duration::from_millis(100));
        assert!(q.is_empty());
    }
}
