//! The executor Job, rendered from `infra/k8s/executor-job.template.json` with
//! the execution's name, environment, the tier's resources and its deadline,
//! and the per-Job Secret holding its callback token. The EKS launcher posts
//! the Job to `/apis/batch/v1/namespaces/{ns}/jobs`, then the Secret, owned by
//! the Job (so deleting the Job, or its TTL, deletes the Secret too), to
//! `/api/v1/namespaces/{ns}/secrets`. The Job mounts the Secret read-only at
//! [`env::TOKEN_MOUNT_DIR`] and names the file in `CALLBACK_TOKEN_FILE`; the
//! pod waits for the Secret before its container starts.
//!
//! The platform's LLM key is not the dispatcher's to hand out: it is a
//! Kubernetes Secret in the namespace (fed from Secrets Manager by the
//! External Secrets Operator, `infra/k8s/external-secrets/llm-key.yaml`),
//! mounted read-only at [`env::LLM_KEY_MOUNT_DIR`] and named by
//! `LLM_API_KEY_FILE`. It is optional in the pod: without it the executor
//! fails its agent nodes saying so (never a silent dev provider).
//!
//! Placement by tier: a PriorityClass per queue class (`saasit-high`,
//! `saasit-standard`, `saasit-low`, `infra/k8s/priorityclasses.yaml`; they
//! order pending pods and never preempt running ones), and spot nodes
//! preferred for short tiers, never used for the long ones.
//!
//! Substitution happens on parsed JSON strings (never on raw text), so no
//! value can change the manifest's structure.

use run_protocol::env;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::JobSpec;
use crate::tier::Capacity;

/// How much longer than the run's time limit its Job may live.
pub const JOB_DEADLINE_GRACE: std::time::Duration = std::time::Duration::from_secs(300);

/// The name of the Secret holding a Job's callback token.
pub fn token_secret_name(job: &str) -> String {
    format!("{job}-token")
}

/// Where the executor finds its token inside the container.
pub fn token_path() -> String {
    format!("{}/{}", env::TOKEN_MOUNT_DIR, env::TOKEN_SECRET_KEY)
}

const TEMPLATE: &str = include_str!("../../../infra/k8s/executor-job.template.json");

/// Where and with what image Jobs run, and which model their agents call.
#[derive(Debug, Clone)]
pub struct JobTarget<'a> {
    pub namespace: &'a str,
    pub image: &'a str,
    pub llm: &'a JobLlm,
}

/// The LLM the executors call, and the search provider their `web_search`
/// tool asks: providers, model and URLs are settings; the keys are the
/// Kubernetes Secret `secret` (keys `api-key`, `web-search-api-key`), never a value here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobLlm {
    pub provider: crate::settings::LlmProvider,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub secret: String,
    /// `searxng` or `brave`; `None`: web search is not offered.
    pub web_search_provider: Option<String>,
    pub web_search_url: Option<String>,
}

impl Default for JobLlm {
    fn default() -> Self {
        Self {
            provider: crate::settings::LlmProvider::Anthropic,
            model: None,
            base_url: None,
            secret: "saasit-llm".into(),
            web_search_provider: None,
            web_search_url: None,
        }
    }
}

/// Where the executor finds the platform's LLM key inside the container.
pub fn llm_key_path() -> String {
    format!("{}/{}", env::LLM_KEY_MOUNT_DIR, env::LLM_KEY_SECRET_KEY)
}

/// Node affinity and tolerations for a tier's capacity. Both label schemes
/// (EKS managed node groups, Karpenter) are named, and "not spot" is written
/// as NotIn so that nodes without either label still qualify.
fn placement(capacity: Capacity) -> (Value, Value) {
    match capacity {
        Capacity::SpotPreferred => (
            json!({ "nodeAffinity": { "preferredDuringSchedulingIgnoredDuringExecution": [
                { "weight": 100, "preference": { "matchExpressions": [
                    { "key": "eks.amazonaws.com/capacityType", "operator": "In", "values": ["SPOT"] } ] } },
                { "weight": 100, "preference": { "matchExpressions": [
                    { "key": "karpenter.sh/capacity-type", "operator": "In", "values": ["spot"] } ] } }
            ] } }),
            json!([{ "key": "saasit.io/spot", "operator": "Exists", "effect": "NoSchedule" }]),
        ),
        Capacity::OnDemand => (
            json!({ "nodeAffinity": { "requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [{ "matchExpressions": [
                    { "key": "eks.amazonaws.com/capacityType", "operator": "NotIn", "values": ["SPOT"] },
                    { "key": "karpenter.sh/capacity-type", "operator": "NotIn", "values": ["spot"] }
                ] }]
            } } }),
            json!([]),
        ),
    }
}

fn substitute(v: &mut Value, vars: &[(&str, &str)]) {
    match v {
        Value::String(s) => {
            for (k, val) in vars {
                let placeholder = format!("${{{k}}}");
                if s.contains(&placeholder) {
                    *s = s.replace(&placeholder, val);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, vars)),
        Value::Object(map) => map.values_mut().for_each(|i| substitute(i, vars)),
        _ => {}
    }
}

/// The Job manifest for one execution.
pub fn render_job(spec: &JobSpec, target: &JobTarget<'_>) -> Value {
    let mut job: Value = serde_json::from_str(TEMPLATE).unwrap_or_else(|_| json!({}));
    let id = spec.execution_id.to_string();
    substitute(
        &mut job,
        &[
            ("JOB_NAME", &spec.name),
            ("NAMESPACE", target.namespace),
            ("EXECUTION_ID", &id),
            ("TIER", &spec.tier.as_str().to_lowercase()),
            ("IMAGE", target.image),
            ("TOKEN_SECRET", &token_secret_name(&spec.name)),
            ("LLM_SECRET", &target.llm.secret),
        ],
    );
    // The executor's own limit ends the run first (timed out, reported); the
    // Job's deadline, counted from its creation (scheduling and image pull
    // included), only stops an executor that did not stop itself.
    job["spec"]["activeDeadlineSeconds"] =
        json!(spec.deadline.as_secs().max(1) + JOB_DEADLINE_GRACE.as_secs());
    let limits = spec.tier.limits();
    let pod = &mut job["spec"]["template"]["spec"];
    pod["priorityClassName"] = json!(format!("saasit-{}", limits.priority.as_str()));
    let (affinity, tolerations) = placement(limits.capacity);
    pod["affinity"] = affinity;
    pod["tolerations"] = tolerations;
    let container = &mut pod["containers"][0];
    let llm = target.llm;
    let contract = [
        (
            env::RUN_TIMEOUT_SECONDS.to_owned(),
            spec.deadline.as_secs().to_string(),
        ),
        (env::CALLBACK_TOKEN_FILE.to_owned(), token_path()),
        ("LLM_PROVIDER".to_owned(), llm.provider.as_str().to_owned()),
        ("LLM_API_KEY_FILE".to_owned(), llm_key_path()),
    ];
    let search_key = llm.web_search_provider.as_ref().map(|_| {
        format!(
            "{}/{}",
            env::LLM_KEY_MOUNT_DIR,
            env::WEB_SEARCH_KEY_SECRET_KEY
        )
    });
    let optional = [
        ("LLM_MODEL", &llm.model),
        ("LLM_BASE_URL", &llm.base_url),
        ("WEB_SEARCH_PROVIDER", &llm.web_search_provider),
        ("WEB_SEARCH_URL", &llm.web_search_url),
        ("WEB_SEARCH_API_KEY_FILE", &search_key),
    ];
    container["env"] = spec
        .env
        .iter()
        .chain(&contract)
        .map(|(k, v)| json!({ "name": k, "value": v }))
        .chain(
            optional
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| json!({ "name": k, "value": v }))),
        )
        .collect();
    if let Some((requests, limits)) = spec.resources {
        container["resources"] = json!({
            "requests": { "cpu": requests.cpu, "memory": requests.memory },
            "limits": { "cpu": limits.cpu, "memory": limits.memory },
        });
    }
    job
}

/// The Secret holding a Job's callback token, owned by the Job (`job_uid`:
/// the uid the API server gave it), immutable.
pub fn render_token_secret(spec: &JobSpec, namespace: &str, job_uid: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": token_secret_name(&spec.name),
            "namespace": namespace,
            "labels": {
                "app.kubernetes.io/name": "executor",
                "app.kubernetes.io/part-of": "saasit",
                "saasit.io/execution-id": spec.execution_id.to_string(),
            },
            "ownerReferences": [{
                "apiVersion": "batch/v1",
                "kind": "Job",
                "name": spec.name,
                "uid": job_uid,
            }],
        },
        "type": "Opaque",
        "immutable": true,
        "stringData": { env::TOKEN_SECRET_KEY: spec.callback_token.expose_secret() },
    })
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::tier::Tier;

    #[test]
    fn renders_tier_resources_deadline_and_env() {
        let id = uuid::Uuid::now_v7();
        let spec = JobSpec {
            name: format!("exec-{id}"),
            execution_id: id,
            tier: Tier::Professional,
            env: vec![
                ("EXECUTION_ID".into(), id.to_string()),
                ("CALLBACK_URL".into(), "https://api\"x".into()),
            ],
            callback_token: "tok\"en".to_owned().into(),
            resources: Tier::Professional.limits().resources,
            deadline: Duration::from_secs(12 * 3600),
        };
        let llm = JobLlm {
            model: Some("claude-x".into()),
            ..JobLlm::default()
        };
        let job = render_job(
            &spec,
            &JobTarget {
                namespace: "saasit-executions",
                image: "registry/executor:1",
                llm: &llm,
            },
        );
        assert_eq!(job["metadata"]["name"], format!("exec-{id}"));
        assert_eq!(job["metadata"]["labels"]["saasit.io/tier"], "professional");
        assert_eq!(job["spec"]["activeDeadlineSeconds"], 43_200 + 300);
        assert_eq!(job["spec"]["backoffLimit"], 0);
        let c = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["image"], "registry/executor:1");
        assert_eq!(
            c["resources"]["requests"],
            json!({"cpu": "2", "memory": "4Gi"})
        );
        assert_eq!(
            c["resources"]["limits"],
            json!({"cpu": "4", "memory": "8Gi"})
        );
        assert_eq!(
            c["env"][1],
            json!({"name": "CALLBACK_URL", "value": "https://api\"x"}),
            "values stay values"
        );
        // The token is a file from the Job's own Secret, never an env value.
        assert!(!job.to_string().contains("tok\\\"en"), "{job}");
        assert_eq!(
            c["env"][3],
            json!({"name": "CALLBACK_TOKEN_FILE", "value": "/var/run/saasit/callback-token"})
        );
        // The platform's LLM key: a file from the namespace's Secret, optional in the
        // pod (without it agent nodes fail saying so); provider and model are values.
        let names: Vec<&str> = c["env"]
            .as_array()
            .expect("ok")
            .iter()
            .map(|e| e["name"].as_str().expect("ok"))
            .collect();
        assert_eq!(
            names,
            [
                "EXECUTION_ID",
                "CALLBACK_URL",
                "RUN_TIMEOUT_SECONDS",
                "CALLBACK_TOKEN_FILE",
                "LLM_PROVIDER",
                "LLM_API_KEY_FILE",
                "LLM_MODEL"
            ]
        );
        assert_eq!(c["env"][5]["value"], "/var/run/saasit-llm/api-key");
        assert_eq!(c["env"][6]["value"], "claude-x");
        // Web search named: its provider, URL and key file (the same Secret's mount).
        let searching = render_job(
            &spec,
            &JobTarget {
                namespace: "saasit-executions",
                image: "registry/executor:1",
                llm: &JobLlm {
                    web_search_provider: Some("brave".into()),
                    ..JobLlm::default()
                },
            },
        );
        let env: Vec<(String, String)> = searching["spec"]["template"]["spec"]["containers"][0]
            ["env"]
            .as_array()
            .expect("env")
            .iter()
            .map(|e| {
                (
                    e["name"].as_str().unwrap_or_default().to_owned(),
                    e["value"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        assert!(
            env.contains(&("WEB_SEARCH_PROVIDER".into(), "brave".into())),
            "{env:?}"
        );
        assert!(env.contains(&(
            "WEB_SEARCH_API_KEY_FILE".into(),
            "/var/run/saasit-llm/web-search-api-key".into()
        )));
        assert!(!env.iter().any(|(k, _)| k == "WEB_SEARCH_URL"));
        let key = &job["spec"]["template"]["spec"]["volumes"][1];
        assert_eq!(key["secret"]["secretName"], "saasit-llm");
        assert_eq!(key["secret"]["optional"], true);
        assert_eq!(c["volumeMounts"][1]["mountPath"], "/var/run/saasit-llm");
        // Placement: the tier's priority class; spot preferred for PROFESSIONAL, never for SCALE.
        let pod = &job["spec"]["template"]["spec"];
        assert_eq!(pod["priorityClassName"], "saasit-standard");
        assert!(
            pod["affinity"]["nodeAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
                .is_array()
        );
        assert_eq!(pod["tolerations"][0]["key"], "saasit.io/spot");
        let long = render_job(
            &JobSpec {
                tier: Tier::Scale,
                ..spec.clone()
            },
            &JobTarget {
                namespace: "saasit-executions",
                image: "registry/executor:1",
                llm: &llm,
            },
        );
        let pod = &long["spec"]["template"]["spec"];
        assert_eq!(pod["priorityClassName"], "saasit-high");
        assert_eq!(
            pod["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
                ["nodeSelectorTerms"][0]["matchExpressions"][0]["operator"],
            "NotIn"
        );
        assert_eq!(pod["tolerations"], json!([]));
        let volume = &job["spec"]["template"]["spec"]["volumes"][0];
        assert_eq!(volume["secret"]["secretName"], format!("exec-{id}-token"));
        assert_eq!(c["volumeMounts"][0]["mountPath"], "/var/run/saasit");
        assert_eq!(c["volumeMounts"][0]["readOnly"], true);

        let secret = render_token_secret(&spec, "saasit-executions", "uid-1");
        assert_eq!(secret["metadata"]["name"], format!("exec-{id}-token"));
        assert_eq!(
            secret["metadata"]["ownerReferences"][0],
            json!({"apiVersion": "batch/v1", "kind": "Job", "name": format!("exec-{id}"), "uid": "uid-1"})
        );
        assert_eq!(secret["stringData"]["callback-token"], "tok\"en");
        assert!(
            !format!("{spec:?}").contains("tok\\\"en"),
            "a JobSpec never prints its token"
        );
        assert_eq!(
            job["spec"]["template"]["spec"]["automountServiceAccountToken"],
            false
        );
        assert!(
            !job.to_string().contains("${"),
            "every placeholder was filled"
        );
    }
}
