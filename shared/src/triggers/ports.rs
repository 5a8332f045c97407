//! The schedules port: one remote schedule per schedule trigger, created or
//! updated, enabled or disabled, and deleted by the reconciler. EventBridge
//! Scheduler on AWS ([`super::eventbridge`]), an in-process ticker locally
//! ([`super::local`]); both fire by calling [`crate::runs::Runs::fire_schedule`]
//! (on AWS through the `scheduled` Lambda).

use uuid::Uuid;

use crate::future::BoxFuture;

/// What a schedule should be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleDef {
    /// `trigger-<trigger id>`: one per trigger, so a put is idempotent.
    pub name: String,
    pub trigger_id: Uuid,
    /// The five-field cron expression.
    pub cron: String,
    /// IANA time zone.
    pub timezone: String,
    pub enabled: bool,
}

impl ScheduleDef {
    pub fn name_of(trigger_id: Uuid) -> String {
        format!("trigger-{trigger_id}")
    }
}

/// A schedule as the service keeps it (for reading back).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteSchedule {
    pub name: String,
    pub enabled: bool,
    /// The expression as the service holds it (EventBridge: `cron(…)`).
    pub expression: String,
    pub timezone: String,
}

pub trait Schedules: Send + Sync + std::fmt::Debug {
    /// Creates or updates the schedule (idempotent).
    fn put<'a>(&'a self, def: &'a ScheduleDef) -> BoxFuture<'a, anyhow::Result<()>>;
    /// Deletes it; one that does not exist is deleted already.
    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, anyhow::Result<()>>;
    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, anyhow::Result<Option<RemoteSchedule>>>;
}

/// No schedules service configured: every push fails, saying so (the
/// reconciler records it on the trigger, where its list shows it).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoSchedules;

const NONE: &str = "schedules are not configured here (SCHEDULE_GROUP, SCHEDULE_TARGET_ARN, SCHEDULE_ROLE_ARN, SCHEDULE_DLQ_ARN)";

impl Schedules for NoSchedules {
    fn put<'a>(&'a self, _: &'a ScheduleDef) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async { Err(anyhow::anyhow!(NONE)) })
    }
    fn delete<'a>(&'a self, _: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async { Err(anyhow::anyhow!(NONE)) })
    }
    fn get<'a>(&'a self, _: &'a str) -> BoxFuture<'a, anyhow::Result<Option<RemoteSchedule>>> {
        Box::pin(async { Err(anyhow::anyhow!(NONE)) })
    }
}
