//! Pushing schedule triggers to the schedules port: every row whose version
//! the port does not have yet is put while it fires (its workflow is
//! published and it is not paused), else deleted; a removed row goes with
//! its schedule. Idempotent:
//! a put names the schedule after its trigger, and a row that changed while
//! it was pushed stays pending for the next pass.

use workflow_graph::TriggerKind;

use super::{fire::config, ports::ScheduleDef};
use crate::{db::triggers, runs::Runs};

/// Rows pushed per pass.
const BATCH: i64 = 100;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reconciled {
    pub put: usize,
    pub deleted: usize,
    pub failed: usize,
}

impl Runs {
    pub async fn reconcile_schedules(&self) -> anyhow::Result<Reconciled> {
        let mut done = Reconciled::default();
        for t in triggers::unsynced(&self.db, BATCH).await? {
            let name = ScheduleDef::name_of(t.id);
            let cfg = config(&t);
            // Only a schedule that fires exists remotely: drafts', deleted and
            // paused ones are deleted (and made again on publish or resume).
            let wanted = t.removed_at.is_none()
                && t.kind == "schedule"
                && cfg.kind == TriggerKind::Schedule
                && t.armed
                && !t.paused;
            let result = match (&cfg.cron, wanted) {
                (Some(cron), true) => {
                    let def = ScheduleDef {
                        name,
                        trigger_id: t.id,
                        cron: cron.clone(),
                        timezone: cfg.timezone.clone().unwrap_or_else(|| "UTC".into()),
                        enabled: true,
                    };
                    self.schedules.put(&def).await.map(|()| true)
                }
                _ => self.schedules.delete(&name).await.map(|()| false),
            };
            match result {
                Ok(exists) => {
                    triggers::mark_synced(&self.db, t.id, t.version, exists).await?;
                    if exists {
                        done.put += 1;
                    } else {
                        done.deleted += 1;
                    }
                }
                Err(e) => {
                    tracing::warn!(trigger_id = %t.id, error = %e, "a schedule could not be pushed");
                    triggers::mark_sync_failed(&self.db, t.id, t.version, &format!("{e:#}"))
                        .await?;
                    done.failed += 1;
                }
            }
        }
        Ok(done)
    }
}
