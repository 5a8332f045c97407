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

/// An SDK configuration for an AWS emulator (moto) at `endpoint`: fixed
/// dummy credentials and region, so nothing is read from the environment.
pub async fn emulator_sdk_config(endpoint: &str) -> SdkConfig {
    let http = aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "emulator",
        ))
        .load()
        .await
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
    /// `CALLBACK_URL`: where executors reach the internal routes (the
    /// dispatcher needs it; the API functions cannot know it without a cycle).
    pub callback_url: String,
    /// `CONNECTIONS_TABLE`: the WebSocket connections (DynamoDB).
    pub connections_table: String,
    /// `WS_MANAGEMENT_ENDPOINT`: the WebSocket stage URL for `PostToConnection`.
    pub ws_management_endpoint: String,
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
            connections_table: s("CONNECTIONS_TABLE"),
            ws_management_endpoint: s("WS_MANAGEMENT_ENDPOINT"),
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

/// The pipeline on AWS: SQS, EKS, Step Functions and S3 behind the ports,
/// built once per cold start (the Kubernetes client lazily, on first use).
#[cfg(all(feature = "sqs", feature = "s3", feature = "sfn", feature = "eks"))]
pub struct AwsPipeline {
    pub pipeline: std::sync::Arc<super::Pipeline>,
    /// The queue adapter itself, for the dispatcher's deferrals.
    pub queue: std::sync::Arc<sqs::SqsQueue>,
}

#[cfg(all(feature = "sqs", feature = "s3", feature = "sfn", feature = "eks"))]
impl AwsPipeline {
    /// `path_style` S3 URLs are for emulators (moto). Published messages go
    /// to `publisher` (the real-time fan-out, or nowhere).
    pub fn build(
        settings: &AwsPipelineSettings,
        sdk: &SdkConfig,
        path_style: bool,
        publisher: std::sync::Arc<dyn super::Publisher>,
    ) -> anyhow::Result<Self> {
        use std::sync::Arc;
        let s = settings;
        for (name, value) in [
            ("QUEUE_URL_HIGH", &s.queue_urls[0]),
            ("QUEUE_URL_STANDARD", &s.queue_urls[1]),
            ("QUEUE_URL_LOW", &s.queue_urls[2]),
            ("BLOB_BUCKET", &s.bucket),
            ("STATE_MACHINE_ARN", &s.state_machine_arn),
            ("EKS_CLUSTER_NAME", &s.cluster_name),
            ("EXECUTOR_IMAGE", &s.executor_image),
        ] {
            s.require(name, value)?;
        }
        let region = sdk
            .region()
            .map(ToString::to_string)
            .ok_or_else(|| anyhow::anyhow!("no AWS region is configured (AWS_REGION)"))?;
        let queue = Arc::new(sqs::SqsQueue::from_config(sdk, s.queue_urls.clone()));
        let launcher = eks::EksLauncher::from_config(
            sdk,
            eks::EksTarget {
                cluster_name: s.cluster_name.clone(),
                region,
                namespace: s.namespace.clone(),
                image: s.executor_image.clone(),
                api_server_override: None,
            },
        )?;
        let pipeline = Arc::new(super::Pipeline {
            queue: queue.clone(),
            launcher: Arc::new(launcher),
            tracker: Arc::new(sfn::SfnTracker::from_config(sdk, &s.state_machine_arn)),
            blobs: Arc::new(s3::S3Blobs::from_config(sdk, &s.bucket, path_style)),
            callback_url: s.callback_url.clone(),
            publisher,
            config: super::PipelineConfig {
                heartbeat_timeout: s.heartbeat_timeout,
                heartbeat_every: s.heartbeat_every,
                // Deferrals back off up to `MAX_DEFERRAL`; re-sending waits longer than that.
                requeue_after: Duration::from_secs(20 * 60),
                ..super::PipelineConfig::default()
            },
        });
        Ok(Self { pipeline, queue })
    }

    /// From the environment (template.yaml sets it), for the Lambda binaries:
    /// published messages go to WebSocket subscribers when the connections
    /// table and the Management API endpoint are configured.
    pub async fn from_env(db: sqlx::PgPool) -> anyhow::Result<Self> {
        Self::from_settings(&AwsPipelineSettings::from_env()?, db).await
    }

    pub async fn from_settings(
        settings: &AwsPipelineSettings,
        db: sqlx::PgPool,
    ) -> anyhow::Result<Self> {
        let sdk = sdk_config(None).await;
        // Without the WebSocket API configured, nobody listens.
        let publisher: std::sync::Arc<dyn super::Publisher> = if settings
            .connections_table
            .is_empty()
            || settings.ws_management_endpoint.is_empty()
        {
            std::sync::Arc::new(super::BroadcastPublisher(
                tokio::sync::broadcast::channel(1).0,
            ))
        } else {
            std::sync::Arc::new(crate::realtime::FanoutPublisher {
                realtime: realtime(settings, &sdk)?,
                db,
            })
        };
        Self::build(settings, &sdk, false, publisher)
    }
}

/// The real-time fan-out on AWS: connections in DynamoDB (`CONNECTIONS_TABLE`),
/// pushes through the Management API (`WS_MANAGEMENT_ENDPOINT`).
#[cfg(all(feature = "dynamodb", feature = "apigw"))]
pub fn realtime(
    settings: &AwsPipelineSettings,
    sdk: &SdkConfig,
) -> anyhow::Result<std::sync::Arc<crate::realtime::Realtime>> {
    settings.require("CONNECTIONS_TABLE", &settings.connections_table)?;
    settings.require("WS_MANAGEMENT_ENDPOINT", &settings.ws_management_endpoint)?;
    Ok(std::sync::Arc::new(crate::realtime::Realtime::new(
        std::sync::Arc::new(crate::realtime::dynamo::DynamoConnections::from_config(
            sdk,
            &settings.connections_table,
        )),
        std::sync::Arc::new(crate::realtime::apigw::ManagementApiPusher::from_config(
            sdk,
            &settings.ws_management_endpoint,
        )),
    )))
}

/// Publishing through the real-time fan-out when the WebSocket API is
/// configured (both settings set), else `None`: for functions outside the
/// pipeline that still publish (workflow updates).
#[cfg(all(feature = "dynamodb", feature = "apigw"))]
pub async fn fanout_publisher_from_env(
    db: sqlx::PgPool,
) -> anyhow::Result<Option<std::sync::Arc<dyn super::Publisher>>> {
    let settings = AwsPipelineSettings::from_env()?;
    if settings.connections_table.is_empty() || settings.ws_management_endpoint.is_empty() {
        return Ok(None);
    }
    let sdk = sdk_config(None).await;
    Ok(Some(std::sync::Arc::new(
        crate::realtime::FanoutPublisher {
            realtime: realtime(&settings, &sdk)?,
            db,
        },
    )))
}

/// The longest an over-limit run's message is hidden before it is tried again.
pub const MAX_DEFERRAL: Duration = Duration::from_secs(10 * 60);

/// Exponential deferral: `base`, doubled for each earlier receive, capped at [`MAX_DEFERRAL`].
pub fn deferral(base: Duration, receive_count: u32) -> Duration {
    let doublings = receive_count.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings).min(MAX_DEFERRAL)
}
