//! The run tracker on Step Functions (`infra/statemachine/execution.asl.json`):
//! one state-machine run per execution, named after the execution id, so
//! starting it twice is harmless. Its `Track` state waits on a task token
//! (registered through the tracker queue) with `HeartbeatSeconds` and
//! `TimeoutSeconds`; heartbeats and the end are reported against that token.

use aws_sdk_sfn::Client;
use serde_json::json;
use uuid::Uuid;

use crate::runs::{BoxFuture, RunTracker, TrackedRun};

#[derive(Debug, Clone)]
pub struct SfnTracker {
    client: Client,
    state_machine_arn: String,
}

impl SfnTracker {
    pub fn new(client: Client, state_machine_arn: impl Into<String>) -> Self {
        Self {
            client,
            state_machine_arn: state_machine_arn.into(),
        }
    }

    pub fn from_config(sdk: &aws_config::SdkConfig, state_machine_arn: impl Into<String>) -> Self {
        Self::new(Client::new(sdk), state_machine_arn)
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    /// The ARN of the run for an execution:
    /// `arn:…:stateMachine:NAME` → `arn:…:execution:NAME:ID`.
    pub fn run_arn(&self, id: Uuid) -> String {
        format!(
            "{}:{id}",
            self.state_machine_arn
                .replacen(":stateMachine:", ":execution:", 1)
        )
    }

    /// Completes the state waiting on `task_token` with `output`; a wait that
    /// is already over is not an error.
    fn succeed(
        &self,
        task_token: Option<String>,
        output: serde_json::Value,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let Some(token) = task_token else {
                return Ok(());
            };
            let sent = self
                .client
                .send_task_success()
                .task_token(token)
                .output(output.to_string())
                .send()
                .await;
            match sent {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error().is_some_and(|s| {
                        s.is_task_timed_out() || s.is_task_does_not_exist() || s.is_invalid_token()
                    }) =>
                {
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    /// The state machine's input for a run.
    pub fn input(run: &TrackedRun) -> String {
        let (heartbeat, timeout) = windows(run);
        json!({
            "executionId": run.execution_id,
            "heartbeatSeconds": heartbeat,
            "timeoutSeconds": timeout,
        })
        .to_string()
    }
}

/// The Track state's windows in seconds: the heartbeat window kept below the
/// timeout (the States Language requires it smaller; a short tier's timeout,
/// or a resumed run's last hour, is below the hour-long backstop).
fn windows(run: &TrackedRun) -> (u64, u64) {
    let timeout = run.timeout.as_secs().max(2);
    (run.heartbeat.as_secs().clamp(1, timeout - 1), timeout)
}

impl RunTracker for SfnTracker {
    fn start(&self, run: TrackedRun) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let started = self
                .client
                .start_execution()
                .state_machine_arn(&self.state_machine_arn)
                .name(run.execution_id.to_string())
                .input(Self::input(&run))
                .send()
                .await;
            match started {
                Ok(_) => Ok(()),
                // A redelivered dispatch: the run is there already.
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_execution_already_exists()) =>
                {
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn heartbeat(
        &self,
        _id: Uuid,
        task_token: Option<String>,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            // Before the token is registered there is nothing to beat against;
            // the first window is `HeartbeatSeconds` long, far longer than that gap.
            let Some(token) = task_token else {
                return Ok(());
            };
            match self
                .client
                .send_task_heartbeat()
                .task_token(token)
                .send()
                .await
            {
                Ok(_) => Ok(()),
                // The wait is over (reaped or finished): nothing to keep alive.
                Err(e)
                    if e.as_service_error().is_some_and(|s| {
                        s.is_task_timed_out() || s.is_task_does_not_exist() || s.is_invalid_token()
                    }) =>
                {
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        })
    }

    fn finished(&self, id: Uuid, task_token: Option<String>) -> BoxFuture<'_, anyhow::Result<()>> {
        // Without a token yet, registering it will see the run ended and finish then.
        self.succeed(task_token, json!({ "executionId": id }))
    }

    fn resume(
        &self,
        run: TrackedRun,
        task_token: Option<String>,
    ) -> BoxFuture<'_, anyhow::Result<()>> {
        // The state machine's `Reap` hands this to its `Alive?` choice, which
        // loops back to `Track` with the new windows.
        self.succeed(
            task_token,
            json!({
                "keep": true,
                "heartbeatSeconds": windows(&run).0,
                "timeoutSeconds": windows(&run).1,
            }),
        )
    }

    fn stop(&self, id: Uuid) -> BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async move {
            let stopped = self
                .client
                .stop_execution()
                .execution_arn(self.run_arn(id))
                .error("Stopped")
                .cause("the run ended outside the tracker (cancelled or swept)")
                .send()
                .await;
            match stopped {
                Ok(_) => Ok(()),
                Err(e)
                    if e.as_service_error()
                        .is_some_and(|s| s.is_execution_does_not_exist()) =>
                {
                    Ok(())
                }
                Err(e) => Err(e.into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn run_arns_and_input() {
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .build();
        let t = SfnTracker::from_config(
            &sdk,
            "arn:aws:states:eu-west-1:123456789012:stateMachine:saasit-execution",
        );
        let id = Uuid::now_v7();
        assert_eq!(
            t.run_arn(id),
            format!("arn:aws:states:eu-west-1:123456789012:execution:saasit-execution:{id}")
        );
        let input: serde_json::Value = serde_json::from_str(&SfnTracker::input(&TrackedRun {
            execution_id: id,
            heartbeat: Duration::from_secs(90),
            timeout: Duration::from_secs(4 * 3600 + 300),
        }))
        .expect("json");
        assert_eq!(input["heartbeatSeconds"], 90);
        assert_eq!(input["timeoutSeconds"], 14_700);
        // The hour-long backstop under a ten-minute timeout: kept below it.
        let input: serde_json::Value = serde_json::from_str(&SfnTracker::input(&TrackedRun {
            execution_id: id,
            heartbeat: Duration::from_secs(3600),
            timeout: Duration::from_secs(600),
        }))
        .expect("json");
        assert_eq!(input["heartbeatSeconds"], 599);
        assert_eq!(input["timeoutSeconds"], 600);
    }
}
