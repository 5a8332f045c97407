//! The job launcher on EKS: one Kubernetes Job per execution, rendered from
//! `infra/k8s/executor-job.template.json` ([`crate::runs::k8s`]), and
//! its callback token in a Secret the Job owns (created right after the Job,
//! whose uid the owner reference needs; the pod waits for it).
//!
//! The cluster's endpoint and CA come from `DescribeCluster`; the bearer token
//! is `k8s-aws-v1.` + base64url of a presigned STS `GetCallerIdentity` URL
//! carrying the signed `x-k8s-aws-id` header (what `aws eks get-token` does).
//! Tokens live 15 minutes: the client is cached and rebuilt after
//! [`TOKEN_REFRESH`], well before expiry. "Already exists" (a redelivered
//! dispatch) is success; deleting a missing Job is too.

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::identity::Identity;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use k8s_openapi::api::{batch::v1::Job, core::v1::Secret};
use kube::api::{Api, DeleteParams, PostParams, PropagationPolicy};
use tokio::sync::Mutex;

use crate::runs::{
    k8s::{render_job, render_token_secret, JobTarget},
    BoxFuture, JobLauncher, JobSpec, JobState, Launch,
};

/// A cached client is rebuilt with a fresh token after this long (tokens last 15 min).
pub const TOKEN_REFRESH: Duration = Duration::from_secs(10 * 60);

/// Which cluster, and where its Jobs go.
#[derive(Debug, Clone)]
pub struct EksTarget {
    pub cluster_name: String,
    pub region: String,
    pub namespace: String,
    pub image: String,
    /// The model executors call (the key is the Secret it names).
    pub llm: super::super::k8s::JobLlm,
    /// Talk to this API server instead of the endpoint `DescribeCluster`
    /// gives (a local fake Kubernetes API in tests; plain HTTP, no CA).
    pub api_server_override: Option<String>,
}

pub struct EksLauncher {
    eks: aws_sdk_eks::Client,
    credentials: SharedCredentialsProvider,
    target: EksTarget,
    cached: Mutex<Option<(kube::Client, Instant)>>,
}

impl std::fmt::Debug for EksLauncher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EksLauncher")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl EksLauncher {
    pub fn from_config(sdk: &aws_config::SdkConfig, target: EksTarget) -> anyhow::Result<Self> {
        let credentials = sdk
            .credentials_provider()
            .ok_or_else(|| anyhow::anyhow!("no AWS credentials provider is configured"))?;
        Ok(Self {
            eks: aws_sdk_eks::Client::new(sdk),
            credentials,
            target,
            cached: Mutex::new(None),
        })
    }

    /// The bearer token for the cluster: a presigned STS `GetCallerIdentity`.
    pub async fn token(&self) -> anyhow::Result<String> {
        let creds = self.credentials.provide_credentials().await?;
        presigned_token(
            creds.into(),
            &self.target.region,
            &self.target.cluster_name,
            SystemTime::now(),
        )
    }

    /// A Kubernetes client with a fresh-enough token.
    async fn client(&self) -> anyhow::Result<kube::Client> {
        let mut cached = self.cached.lock().await;
        if let Some((client, built)) = cached.as_ref() {
            if built.elapsed() < TOKEN_REFRESH {
                return Ok(client.clone());
            }
        }
        let cluster = self
            .eks
            .describe_cluster()
            .name(&self.target.cluster_name)
            .send()
            .await?;
        let cluster = cluster
            .cluster()
            .ok_or_else(|| anyhow::anyhow!("DescribeCluster returned no cluster"))?;
        let (url, ca) = match &self.target.api_server_override {
            Some(url) => (url.clone(), None),
            None => (
                cluster
                    .endpoint()
                    .ok_or_else(|| anyhow::anyhow!("the cluster has no endpoint yet"))?
                    .to_owned(),
                cluster
                    .certificate_authority()
                    .and_then(|c| c.data())
                    .map(ca_certificates)
                    .transpose()?,
            ),
        };
        let mut config = kube::Config::new(url.parse()?);
        config.default_namespace = self.target.namespace.clone();
        config.root_cert = ca;
        config.connect_timeout = Some(Duration::from_secs(5));
        config.read_timeout = Some(Duration::from_secs(20));
        config.write_timeout = Some(Duration::from_secs(20));
        config.auth_info.token = Some(self.token().await?.into());
        let client = kube::Client::try_from(config)?;
        *cached = Some((client.clone(), Instant::now()));
        Ok(client)
    }

    async fn jobs(&self) -> anyhow::Result<Api<Job>> {
        Ok(Api::namespaced(
            self.client().await?,
            &self.target.namespace,
        ))
    }

    async fn secrets(&self) -> anyhow::Result<Api<Secret>> {
        Ok(Api::namespaced(
            self.client().await?,
            &self.target.namespace,
        ))
    }

    /// Creates the Job's token Secret, owned by the Job; one there already
    /// (a redelivered dispatch) is kept.
    async fn create_token_secret(&self, job: &JobSpec, job_uid: &str) -> anyhow::Result<()> {
        let secret: Secret =
            serde_json::from_value(render_token_secret(job, &self.target.namespace, job_uid))?;
        match self
            .secrets()
            .await?
            .create(&PostParams::default(), &secret)
            .await
        {
            Ok(_) => Ok(()),
            Err(e) if api_status(&e).is_some_and(|s| s.is_already_exists() || s.code == 409) => {
                Ok(())
            }
            Err(e) => {
                if api_status(&e).is_some_and(|s| s.code == 401) {
                    self.forget_client().await;
                }
                // The status names the Secret, never its data.
                Err(anyhow::Error::new(e).context("creating the executor's token Secret"))
            }
        }
    }

    /// Drops the cached client (after a 401, so the next call gets a new token).
    async fn forget_client(&self) {
        *self.cached.lock().await = None;
    }
}

/// `k8s-aws-v1.` + base64url(presigned `GetCallerIdentity` URL with the
/// signed `x-k8s-aws-id: <cluster>` header).
pub fn presigned_token(
    identity: Identity,
    region: &str,
    cluster: &str,
    now: SystemTime,
) -> anyhow::Result<String> {
    let url = crate::presign::presign_get(
        &identity,
        region,
        "sts",
        &format!("https://sts.{region}.amazonaws.com/?Action=GetCallerIdentity&Version=2011-06-15"),
        &[("x-k8s-aws-id", cluster)],
        Duration::from_secs(60),
        now,
    )?;
    Ok(format!(
        "k8s-aws-v1.{}",
        URL_SAFE_NO_PAD.encode(url.as_str())
    ))
}

/// The cluster CA as DER certificates, from `DescribeCluster`'s base64 PEM.
fn ca_certificates(data: &str) -> anyhow::Result<Vec<Vec<u8>>> {
    use base64::engine::general_purpose::STANDARD;
    let pem = String::from_utf8(STANDARD.decode(data.trim())?)?;
    let mut certs = Vec::new();
    let mut body = String::new();
    let mut inside = false;
    for line in pem.lines().map(str::trim) {
        if line.starts_with("-----BEGIN CERTIFICATE") {
            inside = true;
            body.clear();
        } else if line.starts_with("-----END CERTIFICATE") {
            inside = false;
            certs.push(STANDARD.decode(&body)?);
        } else if inside {
            body.push_str(line);
        }
    }
    anyhow::ensure!(!certs.is_empty(), "the cluster CA holds no certificate");
    Ok(certs)
}

fn api_status(e: &kube::Error) -> Option<&kube::core::Status> {
    match e {
        kube::Error::Api(s) => Some(s),
        _ => None,
    }
}

impl JobLauncher for EksLauncher {
    fn launch(&self, job: JobSpec) -> BoxFuture<'_, anyhow::Result<Launch>> {
        Box::pin(async move {
            let manifest = render_job(
                &job,
                &JobTarget {
                    namespace: &self.target.namespace,
                    image: &self.target.image,
                    llm: &self.target.llm,
                },
            );
            let manifest: Job = serde_json::from_value(manifest)?;
            let jobs = self.jobs().await?;
            let (launch, created) = match jobs.create(&PostParams::default(), &manifest).await {
                Ok(created) => (Launch::Created, created),
                Err(e)
                    if api_status(&e).is_some_and(|s| s.is_already_exists() || s.code == 409) =>
                {
                    // A redelivery: the Job is there; make sure its Secret is too.
                    let existing = jobs
                        .get(&job.name)
                        .await
                        .map_err(|e| anyhow::Error::new(e).context("reading the executor Job"))?;
                    (Launch::AlreadyExists, existing)
                }
                Err(e) => {
                    if api_status(&e).is_some_and(|s| s.code == 401) {
                        self.forget_client().await;
                    }
                    return Err(anyhow::Error::new(e).context("creating the executor Job"));
                }
            };
            let uid = created
                .metadata
                .uid
                .ok_or_else(|| anyhow::anyhow!("the API server gave the Job no uid"))?;
            // Until this succeeds the pod waits for its volume; a failure
            // makes the dispatch fail and come back, and the retry lands here.
            self.create_token_secret(&job, &uid).await?;
            Ok(launch)
        })
    }

    fn delete(&self, name: &str) -> BoxFuture<'_, anyhow::Result<()>> {
        let name = name.to_owned();
        Box::pin(async move {
            // Foreground: the pod goes with the Job.
            let params = DeleteParams {
                propagation_policy: Some(PropagationPolicy::Foreground),
                grace_period_seconds: Some(10),
                ..DeleteParams::default()
            };
            match self.jobs().await?.delete(&name, &params).await {
                Ok(_) => Ok(()),
                Err(e) if api_status(&e).is_some_and(|s| s.is_not_found() || s.code == 404) => {
                    Ok(())
                }
                Err(e) => {
                    if api_status(&e).is_some_and(|s| s.code == 401) {
                        self.forget_client().await;
                    }
                    Err(anyhow::Error::new(e).context("deleting the executor Job"))
                }
            }
        })
    }

    fn state(&self, name: &str) -> BoxFuture<'_, anyhow::Result<JobState>> {
        let name = name.to_owned();
        Box::pin(async move {
            match self.jobs().await?.get_opt(&name).await {
                Ok(Some(job)) => Ok(job_state(&job)),
                Ok(None) => Ok(JobState::Missing),
                Err(e) => {
                    if api_status(&e).is_some_and(|s| s.code == 401) {
                        self.forget_client().await;
                    }
                    Err(anyhow::Error::new(e).context("reading the executor Job"))
                }
            }
        })
    }
}

/// A Job's state from its status: ended once a pod succeeded or failed (the
/// Job has `backoffLimit: 0`), running once a pod is ready (the executor has
/// no readiness probe, so ready means its container runs), else starting.
pub fn job_state(job: &Job) -> JobState {
    let Some(s) = &job.status else {
        return JobState::Starting;
    };
    let ended = s.succeeded.unwrap_or(0) > 0
        || s.failed.unwrap_or(0) > 0
        || s.completion_time.is_some()
        || s.conditions.as_ref().is_some_and(|c| {
            c.iter()
                .any(|c| (c.type_ == "Complete" || c.type_ == "Failed") && c.status == "True")
        });
    if ended {
        JobState::Ended
    } else if s.ready.unwrap_or(0) > 0 {
        JobState::Running
    } else {
        JobState::Starting
    }
}

#[cfg(test)]
mod tests {
    use aws_credential_types::Credentials;

    use super::*;

    #[test]
    fn job_states_come_from_the_job_status() {
        let job = |status: serde_json::Value| -> Job {
            serde_json::from_value(
                serde_json::json!({ "metadata": {"name": "j"}, "status": status }),
            )
            .expect("job")
        };
        assert_eq!(job_state(&job(serde_json::json!({}))), JobState::Starting);
        assert_eq!(
            job_state(&job(serde_json::json!({"active": 1, "ready": 0}))),
            JobState::Starting
        );
        assert_eq!(
            job_state(&job(serde_json::json!({"active": 1, "ready": 1}))),
            JobState::Running
        );
        assert_eq!(
            job_state(&job(serde_json::json!({"failed": 1}))),
            JobState::Ended
        );
        assert_eq!(
            job_state(&job(
                serde_json::json!({"conditions": [{"type": "Complete", "status": "True"}]})
            )),
            JobState::Ended
        );
    }

    #[test]
    fn tokens_are_presigned_get_caller_identity_urls_for_the_cluster() {
        let creds = Credentials::new("AKIDEXAMPLE", "secret", None, None, "test");
        let token =
            presigned_token(creds.into(), "eu-west-1", "saasit", SystemTime::now()).expect("token");
        let encoded = token.strip_prefix("k8s-aws-v1.").expect("prefix");
        let url =
            String::from_utf8(URL_SAFE_NO_PAD.decode(encoded).expect("base64url")).expect("utf-8");
        assert!(url.starts_with("https://sts.eu-west-1.amazonaws.com/?Action=GetCallerIdentity"));
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(url.contains("X-Amz-Expires=60"), "{url}");
        assert!(
            url.contains("x-k8s-aws-id"),
            "the cluster header is signed: {url}"
        );
        assert!(!url.contains("secret"), "never the secret key");
    }

    #[test]
    fn the_cluster_ca_becomes_der() {
        use base64::engine::general_purpose::STANDARD;
        let der = b"not really a certificate";
        let pem = format!(
            "-----BEGIN CERTIFICATE-----\n{}\n-----END CERTIFICATE-----\n",
            STANDARD.encode(der)
        );
        let certs = ca_certificates(&STANDARD.encode(pem)).expect("ca");
        assert_eq!(certs, vec![der.to_vec()]);
        assert!(ca_certificates(&STANDARD.encode("nothing")).is_err());
    }
}
