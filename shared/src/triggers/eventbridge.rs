//! Schedules on AWS: one EventBridge Scheduler schedule per schedule
//! trigger, in the stack's schedule group, targeting the `scheduled` Lambda
//! with `{"triggerId", "scheduledTime"}` (Scheduler fills in the time), with
//! retries and the stack's dead-letter queue for ticks that cannot be
//! delivered. A put creates, or updates what exists; a delete of what does
//! not exist succeeds.

use aws_config::SdkConfig;
use aws_sdk_scheduler::{
    error::{DisplayErrorContext, ProvideErrorMetadata},
    types::{
        ActionAfterCompletion, DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode,
        RetryPolicy, ScheduleState, Target,
    },
    Client,
};

use super::{
    cron::Schedule,
    ports::{RemoteSchedule, ScheduleDef, Schedules},
};
use crate::future::BoxFuture;

/// Where schedules live and what they call.
#[derive(Debug, Clone)]
pub struct SchedulerTarget {
    pub group: String,
    /// The `scheduled` Lambda's ARN.
    pub function_arn: String,
    /// The role Scheduler assumes to invoke it.
    pub role_arn: String,
    /// Ticks that could not be delivered after the retries.
    pub dead_letter_arn: String,
}

#[derive(Debug, Clone)]
pub struct EventBridgeSchedules {
    client: Client,
    target: SchedulerTarget,
}

impl EventBridgeSchedules {
    pub fn from_config(sdk: &SdkConfig, target: SchedulerTarget) -> Self {
        Self {
            client: Client::new(sdk),
            target,
        }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    fn target(&self, def: &ScheduleDef) -> anyhow::Result<Target> {
        let input = format!(
            r#"{{"triggerId":"{}","scheduledTime":"<aws.scheduler.scheduled-time>"}}"#,
            def.trigger_id
        );
        Target::builder()
            .arn(&self.target.function_arn)
            .role_arn(&self.target.role_arn)
            .input(input)
            .dead_letter_config(
                DeadLetterConfig::builder()
                    .arn(&self.target.dead_letter_arn)
                    .build(),
            )
            .retry_policy(
                RetryPolicy::builder()
                    .maximum_retry_attempts(3)
                    // A tick older than this is not worth running any more.
                    .maximum_event_age_in_seconds(600)
                    .build(),
            )
            .build()
            .map_err(|e| anyhow::anyhow!("schedule target: {e}"))
    }
}

fn failed(what: &str, e: impl std::error::Error) -> anyhow::Error {
    anyhow::anyhow!(
        "EventBridge Scheduler {what} failed: {}",
        DisplayErrorContext(e)
    )
}

impl Schedules for EventBridgeSchedules {
    fn put<'a>(&'a self, def: &'a ScheduleDef) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            let expression = Schedule::parse(&def.cron, Some(&def.timezone))
                .and_then(|s| s.eventbridge())
                .map_err(anyhow::Error::msg)?;
            let state = if def.enabled {
                ScheduleState::Enabled
            } else {
                ScheduleState::Disabled
            };
            let window = FlexibleTimeWindow::builder()
                .mode(FlexibleTimeWindowMode::Off)
                .build()
                .map_err(|e| anyhow::anyhow!("time window: {e}"))?;
            let created = self
                .client
                .create_schedule()
                .name(&def.name)
                .group_name(&self.target.group)
                .schedule_expression(&expression)
                .schedule_expression_timezone(&def.timezone)
                .flexible_time_window(window.clone())
                .target(self.target(def)?)
                .state(state.clone())
                .action_after_completion(ActionAfterCompletion::None)
                .send()
                .await;
            match created {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some("ConflictException") => {
                    self.client
                        .update_schedule()
                        .name(&def.name)
                        .group_name(&self.target.group)
                        .schedule_expression(&expression)
                        .schedule_expression_timezone(&def.timezone)
                        .flexible_time_window(window)
                        .target(self.target(def)?)
                        .state(state)
                        .action_after_completion(ActionAfterCompletion::None)
                        .send()
                        .await
                        .map_err(|e| failed("UpdateSchedule", e))?;
                    Ok(())
                }
                Err(e) => Err(failed("CreateSchedule", e)),
            }
        })
    }

    fn delete<'a>(&'a self, name: &'a str) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            match self
                .client
                .delete_schedule()
                .name(name)
                .group_name(&self.target.group)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(()),
                Err(e) => Err(failed("DeleteSchedule", e)),
            }
        })
    }

    fn get<'a>(&'a self, name: &'a str) -> BoxFuture<'a, anyhow::Result<Option<RemoteSchedule>>> {
        Box::pin(async move {
            match self
                .client
                .get_schedule()
                .name(name)
                .group_name(&self.target.group)
                .send()
                .await
            {
                Ok(s) => Ok(Some(RemoteSchedule {
                    name: s.name.unwrap_or_default(),
                    enabled: s.state == Some(ScheduleState::Enabled),
                    expression: s.schedule_expression.unwrap_or_default(),
                    timezone: s.schedule_expression_timezone.unwrap_or_default(),
                })),
                Err(e) if e.code() == Some("ResourceNotFoundException") => Ok(None),
                Err(e) => Err(failed("GetSchedule", e)),
            }
        })
    }
}
