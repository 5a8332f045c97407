//! Unwrapped workspace data keys, kept in memory for a few minutes so a
//! burst of webhook requests or secret reads costs one key-service call
//! (KMS `Decrypt`) per workspace, not one per request. Bounded: when full,
//! expired keys go first, then all of them. A data key never changes once
//! stored, so a cached key is never stale; the bound only limits how long a
//! plaintext key lives in memory.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, PoisonError},
    time::{Duration, Instant},
};

use secrecy::SecretSlice;
use uuid::Uuid;

/// How long an unwrapped key is kept.
pub const TTL: Duration = Duration::from_secs(300);
/// How many workspaces' keys are kept at most.
pub const MAX_KEYS: usize = 1024;

type Entry = (Arc<SecretSlice<u8>>, Instant);

pub struct KeyCache {
    ttl: Duration,
    max: usize,
    entries: Mutex<HashMap<Uuid, Entry>>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self::new(TTL, MAX_KEYS)
    }
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("ttl", &self.ttl)
            .field("max", &self.max)
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    pub fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max: max.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    pub fn get(&self, workspace_id: Uuid) -> Option<Arc<SecretSlice<u8>>> {
        let entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        entries
            .get(&workspace_id)
            .filter(|(_, at)| at.elapsed() < self.ttl)
            .map(|(key, _)| key.clone())
    }

    pub fn put(&self, workspace_id: Uuid, key: Arc<SecretSlice<u8>>) {
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if entries.len() >= self.max && !entries.contains_key(&workspace_id) {
            entries.retain(|_, (_, at)| at.elapsed() < self.ttl);
            if entries.len() >= self.max {
                entries.clear();
            }
        }
        entries.insert(workspace_id, (key, Instant::now()));
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.entries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn key(b: u8) -> Arc<SecretSlice<u8>> {
        Arc::new(SecretSlice::from(vec![b; 32]))
    }

    #[test]
    fn keys_expire_and_the_cache_stays_bounded() {
        let cache = KeyCache::new(Duration::from_millis(50), 2);
        let (a, b, c) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        cache.put(a, key(1));
        assert_eq!(cache.get(a).expect("kept").expose_secret()[0], 1);
        assert!(cache.get(b).is_none());
        cache.put(b, key(2));
        cache.put(c, key(3));
        assert!(cache.len() <= 2, "bounded");
        assert_eq!(cache.get(c).expect("newest kept").expose_secret()[0], 3);
        std::thread::sleep(Duration::from_millis(60));
        assert!(cache.get(c).is_none(), "expired");
        cache.put(a, key(4));
        cache.put(b, key(5));
        assert_eq!(cache.len(), 2, "the expired key went first");
        assert_eq!(cache.get(a).expect("live kept").expose_secret()[0], 4);
        assert_eq!(cache.get(b).expect("added").expose_secret()[0], 5);
    }
}
