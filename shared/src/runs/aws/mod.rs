//! The AWS adapters of the pipeline's ports, each behind its own feature:
//! `sqs` ([`sqs::SqsQueue`]), `s3` ([`s3::S3Blobs`]), `sfn`
//! ([`sfn::SfnTracker`]) and `eks` ([`eks::EksLauncher`]).
//!
//! Clients are built once per cold start from one [`aws_config::SdkConfig`]
//! using rustls with the `ring` provider. `AWS_ENDPOINT_URL` (or an explicit
//! endpoint) points every client at moto in tests.

#[cfg(feature = "eks")]
pub mod eks;
#[cfg(feature = "eks")]
pub mod kube_api;
#[cfg(feature = "s3")]
pub mod s3;
#[cfg(feature = "sfn")]
pub mod sfn;
#[cfg(feature = "sqs")]
pub mod sqs;

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};

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

pub use crate::settings::AwsSettings;

/// The run lifecycle on AWS: SQS, EKS, Step Functions and S3 behind the
/// ports, built once per cold start (the Kubernetes client lazily, on first
/// use).
#[cfg(all(
    feature = "sqs",
    feature = "s3",
    feature = "sfn",
    feature = "eks",
    feature = "dynamodb",
    feature = "apigw"
))]
pub struct AwsRuns {
    pub runs: std::sync::Arc<super::Runs>,
    /// The queue adapter itself, for the dispatcher's deferrals.
    pub queue: std::sync::Arc<sqs::SqsQueue>,
}

#[cfg(all(
    feature = "sqs",
    feature = "s3",
    feature = "sfn",
    feature = "eks",
    feature = "dynamodb",
    feature = "apigw"
))]
impl AwsRuns {
    /// `path_style` S3 URLs are for emulators (moto). Published messages go
    /// to `publisher` (the real-time fan-out, or nowhere).
    pub fn build(
        state: &crate::AppState,
        sdk: &SdkConfig,
        path_style: bool,
        publisher: std::sync::Arc<dyn crate::realtime::publish::Publisher>,
    ) -> anyhow::Result<Self> {
        use std::sync::Arc;
        let s = &state.settings.aws;
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
        let queue = Arc::new(
            sqs::SqsQueue::from_config(sdk, s.queue_urls.clone())
                .with_intake(s.hook_intake_queue_url.clone()),
        );
        let launcher = eks::EksLauncher::from_config(
            sdk,
            eks::EksTarget {
                cluster_name: s.cluster_name.clone(),
                region,
                namespace: s.namespace.clone(),
                image: s.executor_image.clone(),
                llm: job_llm(s)?,
                api_server_override: None,
            },
        )?;
        let runs = Arc::new(super::Runs::new(
            state.db.clone(),
            state.tokens.clone(),
            super::Ports {
                queue: queue.clone(),
                launcher: Arc::new(launcher),
                tracker: Arc::new(sfn::SfnTracker::from_config(sdk, &s.state_machine_arn)),
                blobs: Arc::new(s3::S3Blobs::from_config(sdk, &s.bucket, path_style)),
                publisher,
                vault: state.vault.clone(),
                // Only the functions that push or fire schedules link Scheduler
                // ([`AwsRuns::with_schedules`]).
                schedules: std::sync::Arc::new(crate::triggers::NoSchedules),
            },
            s.callback_url.clone(),
            state.settings.runs.clone(),
        ));
        Ok(Self { runs, queue })
    }

    /// For the Lambda binaries: published messages go to WebSocket
    /// subscribers when the connections table and the Management API
    /// endpoint are configured.
    pub async fn from_state(state: &crate::AppState) -> anyhow::Result<Self> {
        Self::from_state_on(state, &sdk_config(None).await)
    }

    fn from_state_on(state: &crate::AppState, sdk: &SdkConfig) -> anyhow::Result<Self> {
        let publisher: std::sync::Arc<dyn crate::realtime::publish::Publisher> =
            match realtime(&state.settings.aws, sdk)? {
                Some(rt) => std::sync::Arc::new(crate::realtime::publish::FanoutPublisher {
                    realtime: rt,
                    db: state.db.clone(),
                }),
                // Without the WebSocket API configured, nobody listens.
                None => {
                    std::sync::Arc::new(crate::realtime::publish::BroadcastPublisher::nowhere())
                }
            };
        Self::build(state, sdk, false, publisher)
    }
}

#[cfg(all(
    feature = "sqs",
    feature = "s3",
    feature = "sfn",
    feature = "eks",
    feature = "dynamodb",
    feature = "apigw",
    feature = "scheduler"
))]
impl AwsRuns {
    /// For the sweeper and the scheduled Lambda: the run lifecycle with
    /// schedule triggers on EventBridge Scheduler (others keep none, and do
    /// not link its client).
    pub async fn with_schedules(state: &crate::AppState) -> anyhow::Result<Self> {
        let sdk = sdk_config(None).await;
        let built = Self::from_state_on(state, &sdk)?;
        built.adjusted(|runs| runs.schedules = schedules(&state.settings.aws, &sdk))
    }
}

#[cfg(all(
    feature = "sqs",
    feature = "s3",
    feature = "sfn",
    feature = "eks",
    feature = "dynamodb",
    feature = "apigw"
))]
impl AwsRuns {
    /// For the hooks Lambda: verified webhook requests are queued on SQS
    /// (`HOOK_INTAKE_QUEUE_URL`) before their run starts; unset, they start at once.
    pub async fn with_intake(state: &crate::AppState) -> anyhow::Result<Self> {
        let sdk = sdk_config(None).await;
        let built = Self::from_state_on(state, &sdk)?;
        let url = &state.settings.aws.hook_intake_queue_url;
        if url.is_empty() {
            tracing::warn!(
                "HOOK_INTAKE_QUEUE_URL is not set: webhooks start their runs at once, unqueued"
            );
            return Ok(built);
        }
        let intake = crate::triggers::intake_sqs::SqsIntake::from_config(&sdk, url.clone());
        built.adjusted(|runs| runs.intake = Some(std::sync::Arc::new(intake)))
    }

    /// The lifecycle changed by `adjust` before anything shares it (the
    /// functions that add a port the others do not link).
    fn adjusted(self, adjust: impl FnOnce(&mut super::Runs)) -> anyhow::Result<Self> {
        let mut runs = std::sync::Arc::try_unwrap(self.runs)
            .map_err(|_| anyhow::anyhow!("the run lifecycle is shared already"))?;
        adjust(&mut runs);
        Ok(Self {
            runs: std::sync::Arc::new(runs),
            queue: self.queue,
        })
    }
}

/// Schedule triggers on EventBridge Scheduler when the template configured
/// it, else none (pushes fail, saying so).
#[cfg(feature = "scheduler")]
fn schedules(s: &AwsSettings, sdk: &SdkConfig) -> std::sync::Arc<dyn crate::triggers::Schedules> {
    use crate::triggers::eventbridge::{EventBridgeSchedules, SchedulerTarget};
    if [
        &s.schedule_group,
        &s.schedule_target_arn,
        &s.schedule_role_arn,
        &s.schedule_dlq_arn,
    ]
    .iter()
    .any(|v| v.is_empty())
    {
        return std::sync::Arc::new(crate::triggers::NoSchedules);
    }
    std::sync::Arc::new(EventBridgeSchedules::from_config(
        sdk,
        SchedulerTarget {
            group: s.schedule_group.clone(),
            function_arn: s.schedule_target_arn.clone(),
            role_arn: s.schedule_role_arn.clone(),
            dead_letter_arn: s.schedule_dlq_arn.clone(),
        },
    ))
}

/// The real-time ports on AWS, when the WebSocket API is configured:
/// connections in DynamoDB (`CONNECTIONS_TABLE`), pushes through the
/// Management API (`WS_MANAGEMENT_ENDPOINT`).
#[cfg(all(feature = "dynamodb", feature = "apigw"))]
pub fn realtime(
    settings: &AwsSettings,
    sdk: &SdkConfig,
) -> anyhow::Result<Option<std::sync::Arc<crate::realtime::Realtime>>> {
    if !settings.has_websockets() {
        return Ok(None);
    }
    Ok(Some(std::sync::Arc::new(crate::realtime::Realtime::new(
        std::sync::Arc::new(crate::realtime::dynamo::DynamoConnections::from_config(
            sdk,
            &settings.connections_table,
        )),
        std::sync::Arc::new(crate::realtime::apigw::ManagementApiPusher::from_config(
            sdk,
            &settings.ws_management_endpoint,
        )),
    ))))
}

/// Publishing through the real-time fan-out when the WebSocket API is
/// configured, else `None`: for functions outside the run lifecycle that
/// still publish (workflow updates, signed-out sessions).
#[cfg(all(feature = "dynamodb", feature = "apigw"))]
pub async fn fanout_publisher(
    state: &crate::AppState,
) -> anyhow::Result<Option<std::sync::Arc<dyn crate::realtime::publish::Publisher>>> {
    let sdk = sdk_config(None).await;
    Ok(realtime(&state.settings.aws, &sdk)?.map(|rt| {
        std::sync::Arc::new(crate::realtime::publish::FanoutPublisher {
            realtime: rt,
            db: state.db.clone(),
        }) as std::sync::Arc<dyn crate::realtime::publish::Publisher>
    }))
}

/// Where workspace files are kept, for the functions outside the run
/// lifecycle that serve them: the S3 bucket `BLOB_BUCKET`, when one is set.
#[cfg(feature = "s3")]
pub async fn file_store(state: &crate::AppState) -> Option<std::sync::Arc<dyn super::BlobStore>> {
    let bucket = &state.settings.aws.bucket;
    if bucket.is_empty() {
        return None;
    }
    let sdk = sdk_config(None).await;
    Some(std::sync::Arc::new(s3::S3Blobs::from_config(
        &sdk, bucket, false,
    )))
}

/// The longest an over-limit run's message is hidden before it is tried again.
pub const MAX_DEFERRAL: Duration = Duration::from_secs(10 * 60);

/// Exponential deferral: `base`, doubled for each earlier receive, capped at [`MAX_DEFERRAL`].
pub fn deferral(base: Duration, receive_count: u32) -> Duration {
    let doublings = receive_count.saturating_sub(1).min(16);
    base.saturating_mul(1 << doublings).min(MAX_DEFERRAL)
}

/// The executors' model from the settings; the dev provider is for local use only.
#[cfg(feature = "eks")]
fn job_llm(s: &crate::settings::AwsSettings) -> anyhow::Result<super::k8s::JobLlm> {
    use crate::settings::LlmProvider;
    let provider = match LlmProvider::parse(&s.executor_llm_provider) {
        Some(p @ (LlmProvider::Anthropic | LlmProvider::OpenAi)) => p,
        _ => anyhow::bail!(
            "EXECUTOR_LLM_PROVIDER must be anthropic or openai, not {:?} (the dev provider is for local use only)",
            s.executor_llm_provider
        ),
    };
    let some = |v: &str| (!v.is_empty()).then(|| v.to_owned());
    Ok(super::k8s::JobLlm {
        provider,
        model: some(&s.executor_llm_model),
        base_url: some(&s.executor_llm_base_url),
        secret: s.executor_llm_secret.clone(),
        web_search_provider: some(&s.executor_web_search_provider),
        web_search_url: some(&s.executor_web_search_url),
    })
}
