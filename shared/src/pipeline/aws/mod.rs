//! The AWS adapters of the pipeline's ports, each behind its own feature:
//! `sqs` ([`sqs::SqsQueue`]), `s3` ([`s3::S3Blobs`]), `sfn`
//! ([`sfn::SfnTracker`]) and `eks` ([`eks::EksLauncher`]).
//!
//! Clients are built once per cold start from one [`aws_config::SdkConfig`]
//! using rustls with the `ring` provider. `AWS_ENDPOINT_URL` (or an explicit
//! endpoint) points every client at moto in tests.

#[cfg(feature = "eks")]
pub mod eks;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "sfn")]
pub mod sfn;
#[cfg(feature = "sqs")]
pub mod sqs;

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

use crate::settings::SettingsError;

/// The SDK configuration every AWS adapter is built from: the default
/// credential and region chain, rustls with ring, bounded timeouts. With
/// `endpoint`, every service is sent there (moto in tests).
pub async fn sdk_config(endpoint: Option<&str>) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    let timeouts = aws_config::timeout::TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(3))
        .operation_attempt_timeout(Duration::from_secs(10))
        .operation_timeout(Duration::from_secs(30))
        .build();
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(timeouts);
    if let Some(url) = endpoint {
        loader = loader.endpoint_url(url);
    }
    loader.load().await
}

/// Where the pipeline's AWS resources are (names set by template.yaml).
#[derive(Debug, Clone, Default)]
pub struct AwsPipelineSettings {
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
    /// `CALLBACK_URL`: where executors reach the internal routes.
    pub callback_url: String,
    /// `HEARTBEAT_TIMEOUT_SECONDS` (default 90).
    pub heartbeat_timeout: Duration,
    /// `EXECUTOR_HEARTBEAT_SECONDS` (default 30).
    pub heartbeat_every: Duration,
}

impl AwsPipelineSettings {
    pub fn from_env() -> Result<Self, SettingsError> {
        Self::from_lookup(|k| std::env::var(k).ok().filter(|v| !v.is_empty()))
    }

    /// Every value is optional here; each adapter checks what it needs when built.
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, SettingsError> {
        let seconds = |name: &'static str, default: u64| -> Result<Duration, SettingsError> {
            get(name).map_or(Ok(Duration::from_secs(default)), |v| {
                v.parse::<u64>()
                    .ok()
                    .filter(|s| *s > 0)
                    .map(Duration::from_secs)
                    .ok_or_else(|| SettingsError::Invalid {
                        name,
                        reason: "must be a positive number of seconds".into(),
                    })
            })
        };
        let s = |k: &str| get(k).unwrap_or_default();
        Ok(Self {
            queue_urls: [
                s("QUEUE_URL_HIGH"),
                s("QUEUE_URL_STANDARD"),
                s("QUEUE_URL_LOW"),
            ],
            bucket: s("BLOB_BUCKET"),
            state_machine_arn: s("STATE_MACHINE_ARN"),
            cluster_name: s("EKS_CLUSTER_NAME"),
            namespace: get("EKS_NAMESPACE").unwrap_or_else(|| "saasit-executions".into()),
            executor_image: s("EXECUTOR_IMAGE"),
            callback_url: s("CALLBACK_URL"),
            heartbeat_timeout: seconds("HEARTBEAT_TIMEOUT_SECONDS", 90)?,
            heartbeat_every: seconds("EXECUTOR_HEARTBEAT_SECONDS", 30)?,
        })
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
