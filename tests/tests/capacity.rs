//! The cluster-wide capacity gate: when the cluster is full for a queue
//! class, its runs wait (queued, deferred) while higher classes still start;
//! they start as soon as room frees up.

use std::time::Duration;

use saasit_tests::{
    json,
    runs::{paid_user, slow_canvas, start, status_of, wait_for, workflow},
    spawn_app, spawn_stack_with, test_pipeline_config,
};

#[tokio::test]
async fn when_the_cluster_is_short_low_priority_runs_wait_and_high_ones_start() {
    // Room for two runs; STARTER (low) may fill half of it, SCALE (high) all of it.
    let config = shared::runs::RunSettings {
        cluster_max_runs: 2,
        cluster_standard_percent: 100,
        cluster_low_percent: 50,
        ..test_pipeline_config()
    };
    let s = spawn_stack_with(spawn_app().await, config).await;
    let a = paid_user(&s, "low-a@example.com", "STARTER").await;
    let wf_a = workflow(&s, &a, slow_canvas(4)).await;
    let run_a = start(&s, &a, &wf_a, json!({})).await;
    wait_for(&s, &a, &run_a, &["running"], Duration::from_secs(20)).await;

    // Another workspace's STARTER run: its own plan has a free slot, the cluster's low share does not.
    let b = paid_user(&s, "low-b@example.com", "STARTER").await;
    let wf_b = workflow(&s, &b, slow_canvas(0)).await;
    let run_b = start(&s, &b, &wf_b, json!({})).await;
    // A SCALE run started after it still starts.
    let c = paid_user(&s, "high-c@example.com", "SCALE").await;
    let wf_c = workflow(&s, &c, slow_canvas(0)).await;
    let run_c = start(&s, &c, &wf_c, json!({})).await;
    wait_for(&s, &c, &run_c, &["completed"], Duration::from_secs(20)).await;
    assert_eq!(
        status_of(&s, &b, &run_b).await,
        "queued",
        "the low share is full while A runs"
    );

    // A ends: B starts and finishes, nothing lost.
    wait_for(&s, &a, &run_a, &["completed"], Duration::from_secs(20)).await;
    wait_for(&s, &b, &run_b, &["completed"], Duration::from_secs(30)).await;
}
