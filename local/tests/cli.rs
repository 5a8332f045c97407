//! The `local` binary's commands that need no database: `--help` and
//! `render-job`, the manifest `scripts/test` checks with kubernetes-validate.

use std::process::{Command, Output};

use serde_json::Value;
use shared::tier::Tier;

const BIN: &str = env!("CARGO_BIN_EXE_local");

fn local(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("DATABASE_URL")
        .output()
        .expect("the local binary runs")
}

#[test]
fn help_prints_the_usage_and_succeeds() {
    let out = local(&["--help"]);
    assert!(out.status.success());
    let usage = String::from_utf8_lossy(&out.stderr);
    for command in ["--port", "set-tier", "render-job"] {
        assert!(usage.contains(command), "usage lacks {command}: {usage}");
    }
}

#[test]
fn render_job_prints_each_running_tier_s_job() {
    for tier in Tier::ALL {
        let limits = tier.limits();
        let (Some(runtime), Some((requests, caps))) = (limits.max_runtime, limits.resources) else {
            continue;
        };
        let out = local(&["render-job", &tier.as_str().to_lowercase()]);
        assert!(out.status.success(), "{tier}: {out:?}");
        let job: Value = serde_json::from_slice(&out.stdout).expect("the manifest is JSON");
        assert_eq!(job["apiVersion"], "batch/v1");
        assert_eq!(job["kind"], "Job");
        assert_eq!(
            job["metadata"]["labels"]["saasit.io/tier"],
            tier.as_str().to_lowercase()
        );
        assert_eq!(job["spec"]["backoffLimit"], 0);
        // The run's limit, and a grace in which the executor's own timeout ends it first.
        assert_eq!(
            job["spec"]["activeDeadlineSeconds"],
            runtime.as_secs() + shared::runs::k8s::JOB_DEADLINE_GRACE.as_secs()
        );
        let container = &job["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(container["resources"]["requests"]["cpu"], requests.cpu);
        assert_eq!(
            container["resources"]["requests"]["memory"],
            requests.memory
        );
        assert_eq!(container["resources"]["limits"]["cpu"], caps.cpu);
        assert_eq!(container["resources"]["limits"]["memory"], caps.memory);
        let env = container["env"].as_array().expect("env is a list");
        for name in ["EXECUTION_ID", "CALLBACK_URL", "CALLBACK_TOKEN_FILE"] {
            assert!(
                env.iter().any(|e| e["name"] == name),
                "{tier}: no {name} in {env:?}"
            );
        }
        // The token itself is never an environment value: it is a file from
        // the Job's own Secret.
        assert!(
            !env.iter().any(|e| e["name"] == "CALLBACK_TOKEN"),
            "{env:?}"
        );
        assert!(!job.to_string().contains("execution-scoped-token"));
    }
    let out = local(&["render-job", "starter", "--secret"]);
    assert!(out.status.success(), "{out:?}");
    let secret: Value = serde_json::from_slice(&out.stdout).expect("the manifest is JSON");
    assert_eq!(secret["kind"], "Secret");
    assert_eq!(secret["metadata"]["ownerReferences"][0]["kind"], "Job");
    assert_eq!(
        secret["stringData"]["callback-token"],
        "execution-scoped-token"
    );
}

#[test]
fn render_job_rejects_an_unknown_tier() {
    let out = local(&["render-job", "PLATINUM"]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("PLATINUM"), "{err}");
    assert!(err.contains("usage:"), "{err}");
}
