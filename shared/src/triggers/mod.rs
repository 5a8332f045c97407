//! A workflow's triggers that fire by themselves: webhooks (`POST
//! /api/v1/hooks/{hookId}`, verified by [`hook`]) and schedules (cron in a
//! time zone, [`cron`]). Their rows follow the workflow's graph (the
//! database keeps them in step: migration 0015); a trigger fires only while
//! its workflow is published and it is not paused.
//!
//! Schedules go through one port ([`ports::Schedules`]): EventBridge
//! Scheduler on AWS ([`eventbridge`]), an in-process ticker locally
//! ([`local`]). The reconciler ([`reconcile`], run by the sweeper) pushes each
//! changed row to it, idempotently; a tick calls [`crate::runs::Runs::fire_schedule`]
//! ([`fire`]), which skips while the previous scheduled run is active (unless
//! the trigger allows overlap). A trigger whose fires keep failing (tier
//! limits, an invalid graph, a missing secret) is paused after
//! [`fire::PAUSE_AFTER`] in a row, with a notification to the workspace's owner and admins.
//!
//! A verified webhook request waits in an intake queue ([`delivery`]: SQS
//! with a dead-letter queue on AWS, [`intake_local`] in process) until its
//! run starts, so a burst is queued, not dropped.

pub mod cron;
pub mod delivery;
#[cfg(feature = "scheduler")]
pub mod eventbridge;
pub mod fire;
pub mod hook;
pub mod intake_local;
#[cfg(feature = "sqs")]
pub mod intake_sqs;
pub mod local;
pub mod ports;
pub mod reconcile;

pub use delivery::{HookDelivery, HookIntake};
pub use ports::{NoSchedules, ScheduleDef, Schedules};
