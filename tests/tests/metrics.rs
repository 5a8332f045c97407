//! What the code tells CloudWatch (EMF): a run's path through the pipeline
//! and the executor callbacks that fail. One test in its own binary, since the
//! capture is process-wide.

use std::time::Duration;

use saasit_tests::{
    json,
    runs::{paid_user, start, wait_for, workflow},
    spawn_stack, Req,
};
use serde_json::Value;

fn points<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines.iter().filter(|l| l.get(name).is_some()).collect()
}

#[tokio::test]
async fn a_run_is_counted_queued_started_and_finished_with_its_waits() {
    shared::metrics::capture();
    let s = spawn_stack().await;
    let t = paid_user(&s, "metrics@example.com", "PROFESSIONAL").await;
    let canvas = json!({
        "nodes": [{"id": "start", "type": "trigger"}, {"id": "out", "type": "output", "config": {"value": "done"}}],
        "edges": [{"from": "start", "to": "out"}]
    });
    let wf = workflow(&s, &t, canvas).await;
    let id = start(&s, &t, &wf, json!({})).await;
    wait_for(&s, &t, &id, &["completed"], Duration::from_secs(30)).await;
    // A callback with no valid token is refused and counted.
    s.app
        .send(
            Req::post(&format!("/api/v1/internal/executions/{id}/heartbeat"))
                .bearer("not-a-token")
                .json(&json!({})),
        )
        .await
        .expect(401, None);

    // The end is counted by the step that ended the run, just after the row
    // says so (its answer to the executor waits for it; the poll above may not).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while points(&shared::metrics::captured(), "RunsFinished").is_empty()
        && std::time::Instant::now() < deadline
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let lines = shared::metrics::captured();
    for (name, dims) in [
        ("RunsQueued", json!([["Tier"]])),
        ("RunsStarted", json!([["Tier"]])),
        ("QueueWait", json!([["Tier"]])),
        ("DispatchLatency", json!([["Tier"]])),
        ("RunsFinished", json!([["Tier", "Status"]])),
    ] {
        let p = points(&lines, name);
        assert_eq!(p.len(), 1, "{name}: {lines:?}");
        assert_eq!(p[0]["Tier"], "PROFESSIONAL");
        let declared = &p[0]["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "SaasIt");
        assert_eq!(declared["Dimensions"], dims);
        assert!(p[0][name].as_f64().is_some_and(|v| v >= 0.0), "{}", p[0]);
    }
    assert_eq!(points(&lines, "RunsFinished")[0]["Status"], "completed");
    let errors = points(&lines, "CallbackErrors");
    assert_eq!(errors.len(), 1, "{lines:?}");
    assert_eq!(errors[0]["Kind"], "client");
}
