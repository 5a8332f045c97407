//! What the trigger routes answer: a workflow's webhooks and schedules as
//! their users see them (never a signing secret, except once when made).

use chrono::{DateTime, Utc};
use serde::Serialize;
use shared::{
    db::triggers::TriggerRow,
    triggers::{cron::Schedule, fire::config},
};
use utoipa::ToSchema;
use uuid::Uuid;
use workflow_graph::{HookAuth, Overlap};

/// Whether a trigger fires now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TriggerState {
    /// It fires.
    Active,
    /// Paused (by a person, or for failing: `pausedReason`).
    Paused,
    /// Its workflow is not published: it does not fire.
    Inactive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKindView {
    Webhook,
    Schedule,
}

/// Whether EventBridge Scheduler has a schedule's latest version (always
/// `synced` for webhooks; locally, the in-process scheduler).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum SyncState {
    Pending,
    Synced,
    Failed,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerView {
    pub id: Uuid,
    pub workflow_id: Uuid,
    /// The trigger node's id in the graph.
    pub node_id: String,
    pub kind: TriggerKindView,
    pub state: TriggerState,
    /// `user` or `failing`.
    pub paused_reason: Option<String>,
    /// Webhooks: where to send requests (`POST`, under the API's base URL).
    pub path: Option<String>,
    pub auth: Option<HookAuth>,
    pub sync: Option<bool>,
    /// Webhooks: whether a signing secret was made (it is shown only then).
    pub has_secret: bool,
    pub secret_created_at: Option<DateTime<Utc>>,
    /// Schedules: the cron expression, its time zone and overlap policy.
    pub cron: Option<String>,
    pub timezone: Option<String>,
    pub overlap: Option<Overlap>,
    /// Schedules: the next three fire times, while it is active.
    pub next_fire_times: Vec<DateTime<Utc>>,
    pub sync_state: SyncState,
    pub sync_error: Option<String>,
    pub last_fired_at: Option<DateTime<Utc>>,
    pub last_execution_id: Option<Uuid>,
    /// Consecutive fires that could not start a run (paused at 5).
    pub failures: i32,
    pub last_error: Option<String>,
}

impl From<TriggerRow> for TriggerView {
    fn from(t: TriggerRow) -> Self {
        let cfg = config(&t);
        let schedule = t.kind == "schedule";
        let state = if !t.armed {
            TriggerState::Inactive
        } else if t.paused {
            TriggerState::Paused
        } else {
            TriggerState::Active
        };
        let next_fire_times = match (&cfg.cron, schedule && state == TriggerState::Active) {
            (Some(cron), true) => Schedule::parse(cron, cfg.timezone.as_deref())
                .map(|s| s.upcoming(Utc::now(), 3))
                .unwrap_or_default(),
            _ => Vec::new(),
        };
        Self {
            id: t.id,
            workflow_id: t.workflow_id,
            node_id: t.node_id,
            kind: if schedule {
                TriggerKindView::Schedule
            } else {
                TriggerKindView::Webhook
            },
            state,
            paused_reason: t.paused_reason,
            path: (!schedule).then(|| format!("/api/v1/hooks/{}", t.hook_id.unwrap_or_default())),
            auth: (!schedule).then(|| cfg.auth.unwrap_or_default()),
            sync: (!schedule).then(|| cfg.sync.unwrap_or(false)),
            has_secret: t.secret_sealed.is_some(),
            secret_created_at: t.secret_created_at,
            cron: cfg.cron.clone().filter(|_| schedule),
            timezone: schedule.then(|| cfg.timezone.clone().unwrap_or_else(|| "UTC".into())),
            overlap: schedule.then(|| cfg.overlap.unwrap_or_default()),
            next_fire_times,
            sync_state: match (schedule, t.sync_state.as_str()) {
                (false, _) | (_, "synced") => SyncState::Synced,
                (_, "failed") => SyncState::Failed,
                _ => SyncState::Pending,
            },
            sync_error: t.sync_error.filter(|_| schedule),
            last_fired_at: t.last_fired_at,
            last_execution_id: t.last_execution_id,
            failures: t.failures,
            last_error: t.last_error,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct TriggerList {
    pub items: Vec<TriggerView>,
}

/// A webhook's new signing secret: shown this once.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct NewHookSecret {
    pub trigger: TriggerView,
    /// Keep it: it is never shown again (make a new one to replace it).
    pub secret: String,
    /// How to sign: `X-Saasit-Timestamp` and `X-Saasit-Signature: v1=<hex>`, the
    /// HMAC-SHA256 of `"<timestamp>.<body>"` (or `Authorization: Bearer <secret>`).
    pub how_to_sign: String,
}
