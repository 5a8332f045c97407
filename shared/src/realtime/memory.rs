//! The in-memory connection store of the local gateway (and of tests).

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Mutex, PoisonError},
};

use uuid::Uuid;

use super::{Connection, ConnectionStore};
use crate::future::BoxFuture;

#[derive(Default)]
struct Inner {
    connections: HashMap<String, Connection>,
    /// connection → topic → cursor
    subscriptions: HashMap<String, BTreeMap<String, i64>>,
    /// topic → connections
    by_topic: HashMap<String, HashSet<String>>,
}

#[derive(Default)]
pub struct MemoryConnections {
    inner: Mutex<Inner>,
}

impl std::fmt::Debug for MemoryConnections {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryConnections").finish_non_exhaustive()
    }
}

impl MemoryConnections {
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    pub fn len(&self) -> usize {
        self.with(|i| i.connections.len())
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn ready<T: Send + 'static>(v: T) -> BoxFuture<'static, anyhow::Result<T>> {
    Box::pin(async move { Ok(v) })
}

impl ConnectionStore for MemoryConnections {
    fn put(&self, c: Connection) -> BoxFuture<'_, anyhow::Result<()>> {
        self.with(|i| {
            i.connections.insert(c.id.clone(), c);
        });
        ready(())
    }

    fn get(&self, id: String) -> BoxFuture<'_, anyhow::Result<Option<Connection>>> {
        ready(self.with(|i| i.connections.get(&id).cloned()))
    }

    fn subscriptions(&self, id: String) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        ready(self.with(|i| {
            i.subscriptions
                .get(&id)
                .map(|s| s.keys().cloned().collect())
                .unwrap_or_default()
        }))
    }

    fn remove(&self, id: String) -> BoxFuture<'_, anyhow::Result<()>> {
        self.with(|i| {
            i.connections.remove(&id);
            for topic in i.subscriptions.remove(&id).unwrap_or_default().into_keys() {
                if let Some(set) = i.by_topic.get_mut(&topic) {
                    set.remove(&id);
                    if set.is_empty() {
                        i.by_topic.remove(&topic);
                    }
                }
            }
        });
        ready(())
    }

    fn subscribe(
        &self,
        id: String,
        topic: String,
        cursor: i64,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        self.with(|i| {
            if i.connections.contains_key(&id) {
                i.subscriptions
                    .entry(id.clone())
                    .or_default()
                    .insert(topic.clone(), cursor);
                i.by_topic.entry(topic).or_default().insert(id);
            }
        });
        ready(())
    }

    fn unsubscribe(&self, id: String, topic: String) -> BoxFuture<'_, anyhow::Result<()>> {
        self.with(|i| {
            if let Some(s) = i.subscriptions.get_mut(&id) {
                s.remove(&topic);
            }
            if let Some(set) = i.by_topic.get_mut(&topic) {
                set.remove(&id);
                if set.is_empty() {
                    i.by_topic.remove(&topic);
                }
            }
        });
        ready(())
    }

    fn subscribers(&self, topic: String) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        ready(self.with(|i| {
            i.by_topic
                .get(&topic)
                .map(|s| s.iter().cloned().collect())
                .unwrap_or_default()
        }))
    }

    fn connections_of(&self, user_id: Uuid) -> BoxFuture<'_, anyhow::Result<Vec<String>>> {
        ready(self.with(|i| {
            i.connections
                .values()
                .filter(|c| c.user_id == user_id)
                .map(|c| c.id.clone())
                .collect()
        }))
    }

    fn cursor(&self, id: String, topic: String) -> BoxFuture<'_, anyhow::Result<Option<i64>>> {
        ready(self.with(|i| {
            i.subscriptions
                .get(&id)
                .and_then(|s| s.get(&topic).copied())
        }))
    }

    fn advance(
        &self,
        id: String,
        topic: String,
        from: i64,
        to: i64,
    ) -> BoxFuture<'_, anyhow::Result<bool>> {
        ready(self.with(
            |i| match i.subscriptions.get_mut(&id).and_then(|s| s.get_mut(&topic)) {
                Some(c) if *c == from => {
                    *c = to;
                    true
                }
                _ => false,
            },
        ))
    }
}
