//! Where the AWS resources are (template.yaml sets these). Every value is
//! optional here; each adapter checks what it needs when it is built.

use crate::lookup::{Lookup, SettingsError};

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AwsSettings {
    /// `QUEUE_URL_HIGH`, `QUEUE_URL_STANDARD`, `QUEUE_URL_LOW`.
    pub queue_urls: [String; 3],
    /// `BLOB_BUCKET`.
    pub bucket: String,
    /// `STATE_MACHINE_ARN`.
    pub state_machine_arn: String,
    /// `EKS_CLUSTER_NAME`.
    pub cluster_name: String,
    /// `EKS_NAMESPACE` (default `saasit-executions`).
    pub namespace: String,
    /// `EXECUTOR_IMAGE`.
    pub executor_image: String,
    /// `EXECUTOR_LLM_PROVIDER` (anthropic or openai; default anthropic),
    /// `EXECUTOR_LLM_MODEL`, `EXECUTOR_LLM_BASE_URL`: what executor Jobs call.
    /// Their key is never a setting here: it is the Kubernetes Secret
    /// `EXECUTOR_LLM_SECRET` (default `saasit-llm`) the Jobs mount.
    pub executor_llm_provider: String,
    pub executor_llm_model: String,
    pub executor_llm_base_url: String,
    pub executor_llm_secret: String,
    /// `EXECUTOR_WEB_SEARCH_PROVIDER` (`searxng`, `brave` or empty: none) and
    /// `EXECUTOR_WEB_SEARCH_URL` (SearXNG's): what executors' `web_search` asks.
    pub executor_web_search_provider: String,
    pub executor_web_search_url: String,
    /// `CALLBACK_URL`: where executors reach the internal routes (the
    /// dispatcher needs it; the API functions cannot know it without a cycle).
    pub callback_url: String,
    /// `CONNECTIONS_TABLE`: the WebSocket connections (DynamoDB).
    pub connections_table: String,
    /// `WS_MANAGEMENT_ENDPOINT`: the WebSocket stage URL for `PostToConnection`.
    pub ws_management_endpoint: String,
    /// `SCHEDULE_GROUP`, `SCHEDULE_TARGET_ARN` (the `scheduled` Lambda),
    /// `SCHEDULE_ROLE_ARN` (what EventBridge Scheduler assumes to invoke it),
    /// `SCHEDULE_DLQ_ARN`: where schedule triggers live on AWS.
    pub schedule_group: String,
    pub schedule_target_arn: String,
    pub schedule_role_arn: String,
    pub schedule_dlq_arn: String,
    /// `HOOK_INTAKE_QUEUE_URL`: where verified webhook requests wait for
    /// their run to start (the hooks Lambda sends, the dispatcher takes).
    /// Unset: a webhook starts its run at once.
    pub hook_intake_queue_url: String,
}

impl AwsSettings {
    pub fn from_lookup(l: &Lookup<'_>) -> Self {
        let s = |k: &str| l.get(k).unwrap_or_default();
        Self {
            queue_urls: [
                s("QUEUE_URL_HIGH"),
                s("QUEUE_URL_STANDARD"),
                s("QUEUE_URL_LOW"),
            ],
            bucket: s("BLOB_BUCKET"),
            state_machine_arn: s("STATE_MACHINE_ARN"),
            cluster_name: s("EKS_CLUSTER_NAME"),
            namespace: l.or("EKS_NAMESPACE", "saasit-executions"),
            executor_image: s("EXECUTOR_IMAGE"),
            executor_llm_provider: l.or("EXECUTOR_LLM_PROVIDER", "anthropic"),
            executor_llm_model: s("EXECUTOR_LLM_MODEL"),
            executor_llm_base_url: s("EXECUTOR_LLM_BASE_URL"),
            executor_llm_secret: l.or("EXECUTOR_LLM_SECRET", "saasit-llm"),
            executor_web_search_provider: s("EXECUTOR_WEB_SEARCH_PROVIDER"),
            executor_web_search_url: s("EXECUTOR_WEB_SEARCH_URL"),
            callback_url: s("CALLBACK_URL"),
            connections_table: s("CONNECTIONS_TABLE"),
            ws_management_endpoint: s("WS_MANAGEMENT_ENDPOINT"),
            schedule_group: s("SCHEDULE_GROUP"),
            schedule_target_arn: s("SCHEDULE_TARGET_ARN"),
            schedule_role_arn: s("SCHEDULE_ROLE_ARN"),
            schedule_dlq_arn: s("SCHEDULE_DLQ_ARN"),
            hook_intake_queue_url: s("HOOK_INTAKE_QUEUE_URL"),
        }
    }

    /// Whether the WebSocket API is configured (its table and endpoint).
    pub fn has_websockets(&self) -> bool {
        !self.connections_table.is_empty() && !self.ws_management_endpoint.is_empty()
    }

    /// A required value, or a settings error naming it.
    pub fn require<'a>(
        &'a self,
        name: &'static str,
        value: &'a str,
    ) -> Result<&'a str, SettingsError> {
        if value.is_empty() {
            Err(SettingsError::Missing(name))
        } else {
            Ok(value)
        }
    }
}
