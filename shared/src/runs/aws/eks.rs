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
//! dispatch) is success; deleting a missing Job is too. The calls go through
//! [`super::kube_api`].

use std::time::{Duration, Instant, SystemTime};

use aws_credential_types::provider::{ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_runtime_api::client::identity::Identity;
use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine as _};
use serde_json::{json, Value};
use tokio::sync::Mutex;

use super::kube_api::{KubeApi, KubeEndpoint, KubeError};
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
    cached: Mutex<Option<(KubeApi, Instant)>>,
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
    async fn client(&self) -> anyhow::Result<KubeApi> {
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
        let client = KubeApi::new(&KubeEndpoint { server: url, ca }, &self.token().await?)?;
        *cached = Some((client.clone(), Instant::now()));
        Ok(client)
    }

    fn jobs_path(&self) -> String {
        format!("/apis/batch/v1/namespaces/{}/jobs", self.target.namespace)
    }

    fn job_path(&self, name: &str) -> String {
        format!("{}/{name}", self.jobs_path())
    }

    /// Drops the cached client when the API server refused its token, so the
    /// next call presigns a new one; hands the error on with `context`.
    async fn refused(&self, e: KubeError, context: &'static str) -> anyhow::Error {
        if e.is_unauthorized() {
            self.forget_client().await;
        }
        anyhow::Error::new(e).context(context)
    }

    /// Creates the Job's token Secret, owned by the Job; one there already
    /// (a redelivered dispatch) is kept.
    async fn create_token_secret(&self, job: &JobSpec, job_uid: &str) -> anyhow::Result<()> {
        let secret = render_token_secret(job, &self.target.namespace, job_uid);
        let path = format!("/api/v1/namespaces/{}/secrets", self.target.namespace);
        match self.client().await?.create(&path, &secret).await {
            Ok(_) => Ok(()),
            Err(e) if e.is_already_exists() => Ok(()),
            // The status names the Secret, never its data.
            Err(e) => Err(self
                .refused(e, "creating the executor's token Secret")
                .await),
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
            let api = self.client().await?;
            let (launch, created) = match api.create(&self.jobs_path(), &manifest).await {
                Ok(created) => (Launch::Created, created),
                Err(e) if e.is_already_exists() => {
                    // A redelivery: the Job is there; make sure its Secret is too.
                    match api.get(&self.job_path(&job.name)).await {
                        Ok(Some(existing)) => (Launch::AlreadyExists, existing),
                        Ok(None) => anyhow::bail!("the executor Job exists and then does not"),
                        Err(e) => return Err(self.refused(e, "reading the executor Job").await),
                    }
                }
                Err(e) => return Err(self.refused(e, "creating the executor Job").await),
            };
            let uid = created["metadata"]["uid"]
                .as_str()
                .filter(|uid| !uid.is_empty())
                .ok_or_else(|| anyhow::anyhow!("the API server gave the Job no uid"))?;
            // Until this succeeds the pod waits for its volume; a failure
            // makes the dispatch fail and come back, and the retry lands here.
            self.create_token_secret(&job, uid).await?;
            Ok(launch)
        })
    }

    fn delete(&self, name: &str) -> BoxFuture<'_, anyhow::Result<()>> {
        let name = name.to_owned();
        Box::pin(async move {
            // Foreground: the pod goes with the Job.
            let options = json!({
                "kind": "DeleteOptions",
                "apiVersion": "v1",
                "propagationPolicy": "Foreground",
                "gracePeriodSeconds": 10,
            });
            let api = self.client().await?;
            match api.delete(&self.job_path(&name), &options).await {
                Ok(_) => Ok(()),
                Err(e) if e.is_not_found() => Ok(()),
                Err(e) => Err(self.refused(e, "deleting the executor Job").await),
            }
        })
    }

    fn state(&self, name: &str) -> BoxFuture<'_, anyhow::Result<JobState>> {
        let name = name.to_owned();
        Box::pin(async move {
            match self.client().await?.get(&self.job_path(&name)).await {
                Ok(Some(job)) => Ok(job_state(&job)),
                Ok(None) => Ok(JobState::Missing),
                Err(e) => Err(self.refused(e, "reading the executor Job").await),
            }
        })
    }
}

/// A Job's state from its status: ended once a pod succeeded or failed (the
/// Job has `backoffLimit: 0`), running once a pod is ready (the executor has
/// no readiness probe, so ready means its container runs), else starting.
pub fn job_state(job: &Value) -> JobState {
    let s = &job["status"];
    let count = |key: &str| s[key].as_i64().unwrap_or(0);
    let ended = count("succeeded") > 0
        || count("failed") > 0
        || s["completionTime"].is_string()
        || s["conditions"].as_array().is_some_and(|c| {
            c.iter().any(|c| {
                (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True"
            })
        });
    if ended {
        JobState::Ended
    } else if count("ready") > 0 {
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
        let job = |status: Value| json!({ "metadata": {"name": "j"}, "status": status });
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
