//! The executor Job, rendered from `infra/k8s/executor-job.template.json` with
//! the execution's name, environment, the tier's resources and its deadline.
//! The EKS launcher posts this to `/apis/batch/v1/namespaces/{ns}/jobs`.
//!
//! Substitution happens on parsed JSON strings (never on raw text), so no
//! value can change the manifest's structure.

use serde_json::{json, Value};

use super::JobSpec;

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
        ],
    );
    job["spec"]["activeDeadlineSeconds"] = json!(spec.deadline.as_secs().max(1));
    let container = &mut job["spec"]["template"]["spec"]["containers"][0];
    let timeout = (
        "RUN_TIMEOUT_SECONDS".to_owned(),
        spec.deadline.as_secs().to_string(),
    );
    container["env"] = spec
        .env
        .iter()
        .chain(std::iter::once(&timeout))
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
                ("CALLBACK_TOKEN".into(), "tok\"en".into()),
            ],
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
            json!({"name": "CALLBACK_TOKEN", "value": "tok\"en"}),
            "values stay values"
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
