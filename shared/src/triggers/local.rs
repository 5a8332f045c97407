//! Schedules in-process (the local stack): the same port as EventBridge
//! Scheduler, with its semantics: a disabled schedule does not fire, and
//! after downtime (or a tick the process missed) the next fire is the next
//! time from now: no catch-up storm. [`LocalSchedules::due`] hands out what
//! is due and moves each schedule on; the stack's ticker fires them.

use std::{collections::HashMap, sync::Mutex};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::{
    cron::Schedule,
    ports::{RemoteSchedule, ScheduleDef, Schedules},
};
use crate::future::BoxFuture;

#[derive(Debug)]
struct Entry {
    def: ScheduleDef,
    schedule: Schedule,
    next: Option<DateTime<Utc>>,
}

#[derive(Debug, Default)]
pub struct LocalSchedules {
    entries: Mutex<HashMap<String, Entry>>,
}

impl LocalSchedules {
    pub fn new() -> Self {
        Self::default()
    }

    /// The (trigger, scheduled time) pairs due at `now`; each due schedule
    /// moves on to its first time after `now`.
    pub fn due(&self, now: DateTime<Utc>) -> Vec<(Uuid, DateTime<Utc>)> {
        let Ok(mut entries) = self.entries.lock() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for e in entries.values_mut() {
            if !e.def.enabled {
                continue;
            }
            match e.next {
                Some(t) if t <= now => {
                    out.push((e.def.trigger_id, t));
                    e.next = e.schedule.next_after(now);
                }
                Some(_) => {}
                None => e.next = e.schedule.next_after(now),
            }
        }
        out
    }

    /// When a schedule fires next (`None`: disabled or unknown).
    pub fn next_fire(&self, name: &str) -> Option<DateTime<Utc>> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(name)?;
        e.def.enabled.then_some(e.next).flatten()
    }
}

impl Schedules for LocalSchedules {
    fn put<'a>(&'a self, def: &'a ScheduleDef) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let schedule =
                Schedule::parse(&def.cron, Some(&def.timezone)).map_err(anyhow::Error::msg)?;
            let mut entries = self
                .entries
                .lock()
                .map_err(|_| anyhow::anyhow!("the local schedules are poisoned"))?;
            // Unchanged: keep its next time. Changed or new: from now.
            let next = match entries.get(&def.name) {
                Some(e) if e.def == *def => e.next,
                _ => schedule.next_after(Utc::now()),
            };
            entries.insert(
                def.name.clone(),
                Entry {
                    def: def.clone(),
                    schedule,
                    next,
                },
            );
            Ok(())
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            if let Ok(mut entries) = self.entries.lock() {
                entries.remove(name);
            }
            Ok(())
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, anyhow::Result<Option<RemoteSchedule>>> {
        Box::pin(async move {
            let entries = self
                .entries
                .lock()
                .map_err(|_| anyhow::anyhow!("the local schedules are poisoned"))?;
            Ok(entries.get(name).map(|e| RemoteSchedule {
                name: e.def.name.clone(),
                enabled: e.def.enabled,
                expression: e.def.cron.clone(),
                timezone: e.def.timezone.clone(),
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn due_schedules_fire_once_and_never_catch_up() {
        let s = LocalSchedules::new();
        let id = Uuid::now_v7();
        let def = ScheduleDef {
            name: ScheduleDef::name_of(id),
            trigger_id: id,
            cron: "* * * * *".into(),
            timezone: "UTC".into(),
            enabled: true,
        };
        s.put(&def).await.expect("put");
        let next = s.next_fire(&def.name).expect("a next time");
        assert!(s.due(next - chrono::Duration::seconds(1)).is_empty());
        assert_eq!(s.due(next), [(id, next)]);
        assert!(s.due(next).is_empty(), "once");
        // An hour of downtime: one fire, then the next minute from now.
        let later = next + chrono::Duration::minutes(60) + chrono::Duration::seconds(5);
        assert_eq!(s.due(later).len(), 1);
        assert!(s.next_fire(&def.name).expect("next") > later);
        // Disabled: nothing, and no next time.
        s.put(&ScheduleDef {
            enabled: false,
            ..def.clone()
        })
        .await
        .expect("put");
        assert!(s.due(later + chrono::Duration::hours(1)).is_empty());
        assert_eq!(s.next_fire(&def.name), None);
    }
}
