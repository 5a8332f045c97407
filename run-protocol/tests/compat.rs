//! Frozen messages of the previous protocol version: a new API must read what a
//! running executor of the last version sends, and that executor must read the
//! spec a new API serves (unknown fields ignored).

use run_protocol::{Event, EventBatch, EventKind, RunResult, RunSpec, RunStatus};
use serde_json::{json, Value};

#[test]
fn the_api_reads_a_previous_executors_events_and_result() {
    // As the executor of the previous version sent them.
    let batch = json!({ "events": [
        { "seq": 1, "ts": "2026-11-01T10:00:00.000Z", "type": "run_started", "executionId": "x", "nodes": 2, "reused": [] },
        { "seq": 2, "ts": "2026-11-01T10:00:00.001Z", "type": "node_succeeded", "node": "a", "attempt": 1,
          "output": {"k": 1}, "durationMs": 3, "reused": false },
        { "seq": 3, "ts": "2026-11-01T10:00:00.002Z", "type": "heartbeat" },
        { "seq": 4, "ts": "2026-11-01T10:00:00.003Z", "type": "run_finished", "status": "completed",
          "output": {"k": 1}, "error": null, "failedNode": null, "durationMs": 5 }
    ]});
    let parsed: EventBatch = serde_json::from_value(batch).expect("a previous batch parses");
    assert_eq!(parsed.events.len(), 4);
    assert!(matches!(
        &parsed.events[1].kind,
        EventKind::NodeSucceeded {
            output_ref: None,
            ..
        }
    ));
    // The previous result carried every node's output; that field is ignored now.
    let result: RunResult = serde_json::from_value(json!({
        "status": "completed", "output": {"k": 1}, "error": null, "failedNode": null,
        "durationMs": 5, "nodeOutputs": {"a": {"k": 1}}
    }))
    .expect("a previous result parses");
    assert_eq!(result.status, RunStatus::Completed);
}

#[test]
fn unknown_event_types_and_fields_from_a_newer_executor_are_kept_readable() {
    let e: Event = serde_json::from_value(json!({
        "seq": 9, "ts": "2026-11-01T10:00:00.000Z", "type": "tool_call", "node": "a", "tool": "web_read"
    }))
    .expect("an unknown type parses");
    assert_eq!(e.kind, EventKind::Unknown);
    assert_eq!(e.seq, 9);
    let e: Event = serde_json::from_value(json!({
        "seq": 2, "ts": "t", "type": "node_started", "node": "a", "attempt": 1, "newField": true
    }))
    .expect("an unknown field is ignored");
    assert_eq!(e.kind.node(), Some("a"));
}

#[test]
fn a_previous_executor_reads_a_spec_with_new_fields() {
    // The previous executor's spec type is this one minus any field added later:
    // extra fields must not be refused.
    let spec: RunSpec = serde_json::from_value(json!({
        "executionId": "e", "graph": {"nodes": [], "edges": []}, "inputs": {},
        "priorOutputs": {}, "agents": {}, "timeoutSeconds": 60,
        "someFieldOfTheNextVersion": {"x": 1}
    }))
    .expect("new fields are ignored");
    assert_eq!(spec.timeout_seconds, Some(60));
    let _: Value = serde_json::to_value(&spec).expect("serializes");
}
