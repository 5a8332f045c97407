//! How a run was started, and what its trigger handed over.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// What started a run. A retry keeps the trigger of the run it repeats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum TriggerType {
    /// Someone pressed run (the default).
    Manual,
    /// A script or integration said so.
    Api,
    /// A request to the workflow's webhook.
    Webhook,
    /// The workflow's schedule.
    Schedule,
}

/// The triggers a caller of the start routes may name: webhook and
/// schedule runs are started by their triggers, never claimed by a caller.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum CallerTrigger {
    #[default]
    Manual,
    Api,
}

impl From<CallerTrigger> for TriggerType {
    fn from(t: CallerTrigger) -> Self {
        match t {
            CallerTrigger::Manual => Self::Manual,
            CallerTrigger::Api => Self::Api,
        }
    }
}

/// A run's trigger and its data (an object; `{}` when there is none).
#[derive(Debug, Clone, PartialEq)]
pub struct Trigger {
    pub kind: TriggerType,
    pub data: Value,
}

impl Default for Trigger {
    fn default() -> Self {
        Self {
            kind: TriggerType::Manual,
            data: Value::Object(Default::default()),
        }
    }
}
