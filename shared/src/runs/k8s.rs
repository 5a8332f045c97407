//! The executor Job, rendered from `infra/k8s/executor-job.template.json` with
//! the execution's name, environment, the tier's resources and its deadline,
//! and the per-Job Secret holding its callback token. The EKS launcher posts
//! the Job to `/apis/batch/v1/namespaces/{ns}/jobs`, then the Secret, owned by
//! the Job (so deleting the Job, or its TTL, deletes the Secret too), to
//! `/api/v1/namespaces/{ns}/secrets`. The Job mounts the Secret read-only at
//! [`env::TOKEN_MOUNT_DIR`] and names the file in `CALLBACK_TOKEN_FILE`; the
//! pod waits for the Secret before its container starts.
//!
//! Substitution happens on parsed JSON strings (never on raw text), so no
//! value can change the manifest's structure.

use run_protocol::env;
use secrecy::ExposeSecret;
use serde_json::{json, Value};

use super::JobSpec;

/// The name of the Secret holding a Job's callback token.
pub fn token_secret_name(job: &str) -> String {
    format!("{job}-token")
}

/// Where the executor finds its token inside the container.
pub fn token_path() -> String {
    format!("{}/{}", env::TOKEN_MOUNT_DIR, env::TOKEN_SECRET_KEY)
}

const TEMPLATE: &str = include_str!("../../../infra/k8s/executor-job.template.json");

/// Where and with what image Jobs run.
#[derive(Debug, Clone)]
pub struct JobTarget<'a> {
    pub namespace: &'a str,
    pub image: &'a str,
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
            ("TIER", &spec.tier.to_lowercase()),
            ("IMAGE", target.image),
            ("TOKEN_SECRET", &token_secret_name(&spec.name)),
        ],
    );
    job["spec"]["activeDeadlineSeconds"] = json!(spec.deadline.as_secs().max(1));
    let container = &mut job["spec"]["template"]["spec"]["containers"][0];
    let contract = [
        (
            env::RUN_TIMEOUT_SECONDS.to_owned(),
            spec.deadline.as_secs().to_string(),
        ),
        (env::CALLBACK_TOKEN_FILE.to_owned(), token_path()),
    ];
    container["env"] = spec
        .env
        .iter()
        .chain(&contract)
        .map(|(k, v)| json!({ "name": k, "value": v }))
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
            tier: "PROFESSIONAL".into(),
            env: vec![
                ("EXECUTION_ID".into(), id.to_string()),
                ("CALLBACK_URL".into(), "https://api\"x".into()),
            ],
            callback_token: "tok\"en".to_owned().into(),
            resources: Tier::Professional.limits().resources,
            deadline: Duration::from_secs(12 * 3600),
        };
        let job = render_job(
            &spec,
            &JobTarget {
                namespace: "saasit-executions",
                image: "registry/executor:1",
            },
        );
        assert_eq!(job["metadata"]["name"], format!("exec-{id}"));
        assert_eq!(job["metadata"]["labels"]["saasit.io/tier"], "professional");
        assert_eq!(job["spec"]["activeDeadlineSeconds"], 43_200);
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
