//! Operational metrics in CloudWatch's Embedded Metric Format (EMF): one JSON
//! log line per data point, which CloudWatch Logs turns into a metric in the
//! `SaasIt` namespace, with no API call and no agent. The template's alarms
//! and dashboard read them (the deploy lint checks every alarmed metric is
//! one of [`ALL`]).
//!
//! On Lambda (`METRICS=emf`, set by the template) lines go to stdout; locally
//! and in tests nothing is printed unless a [`capture`] is installed, which
//! the tests use to see what would be sent.

use std::sync::{Mutex, OnceLock};

use serde_json::{json, Map, Value};

/// The namespace of every metric here.
pub const NAMESPACE: &str = "SaasIt";

/// A CloudWatch unit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// A metric: its name, unit and the dimensions every data point carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Metric {
    pub name: &'static str,
    pub unit: Unit,
    pub dimensions: &'static [&'static str],
}

impl Metric {
    pub const fn new(name: &'static str, unit: Unit, dimensions: &'static [&'static str]) -> Self {
        Self {
            name,
            unit,
            dimensions,
        }
    }
}

/// A run was accepted and queued (by its workspace's tier).
pub const RUNS_QUEUED: Metric = Metric::new("RunsQueued", Unit::Count, &["Tier"]);
/// A run's Job was created and its tracker started.
pub const RUNS_STARTED: Metric = Metric::new("RunsStarted", Unit::Count, &["Tier"]);
/// A run reached a terminal state (by tier and status).
pub const RUNS_FINISHED: Metric = Metric::new("RunsFinished", Unit::Count, &["Tier", "Status"]);
/// From queued to claimed by the dispatcher.
pub const QUEUE_WAIT: Metric = Metric::new("QueueWait", Unit::Milliseconds, &["Tier"]);
/// From claimed to its Job created and its tracker started.
pub const DISPATCH_LATENCY: Metric = Metric::new("DispatchLatency", Unit::Milliseconds, &["Tier"]);
/// An executor callback answered with a server error (Kind=server) or was refused (Kind=client).
pub const CALLBACK_ERRORS: Metric = Metric::new("CallbackErrors", Unit::Count, &["Kind"]);

/// Every metric the code emits.
pub const ALL: [Metric; 6] = [
    RUNS_QUEUED,
    RUNS_STARTED,
    RUNS_FINISHED,
    QUEUE_WAIT,
    DISPATCH_LATENCY,
    CALLBACK_ERRORS,
];

enum Sink {
    Stdout,
    Capture(Mutex<Vec<Value>>),
}

static SINK: OnceLock<Sink> = OnceLock::new();

/// Emit to stdout when `METRICS=emf` (called once at start-up by the runtime).
pub fn init_from_env() {
    if std::env::var("METRICS").is_ok_and(|v| v == "emf") {
        let _ = SINK.set(Sink::Stdout);
    }
}

/// Keep emitted lines in memory (tests): every later [`emit`] is recorded.
pub fn capture() {
    let _ = SINK.set(Sink::Capture(Mutex::new(Vec::new())));
}

/// The lines recorded since [`capture`] (empty without it).
pub fn captured() -> Vec<Value> {
    match SINK.get() {
        Some(Sink::Capture(lines)) => lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone(),
        _ => Vec::new(),
    }
}

/// The EMF document for one data point.
pub fn document(metric: Metric, dimensions: &[&str], value: f64, now_ms: i64) -> Value {
    let mut doc = Map::new();
    doc.insert(
        "_aws".into(),
        json!({
            "Timestamp": now_ms,
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [metric.dimensions],
                "Metrics": [{ "Name": metric.name, "Unit": metric.unit.as_str() }],
            }],
        }),
    );
    for (name, v) in metric.dimensions.iter().zip(dimensions) {
        doc.insert((*name).into(), json!(v));
    }
    doc.insert(metric.name.into(), json!(value));
    Value::Object(doc)
}

/// Records one data point; `dimensions` are the values of `metric.dimensions`, in order.
pub fn emit(metric: Metric, dimensions: &[&str], value: f64) {
    debug_assert_eq!(metric.dimensions.len(), dimensions.len(), "{}", metric.name);
    let Some(sink) = SINK.get() else {
        return;
    };
    let doc = document(
        metric,
        dimensions,
        value,
        chrono::Utc::now().timestamp_millis(),
    );
    match sink {
        Sink::Stdout => {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{doc}");
        }
        Sink::Capture(lines) => lines
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(doc),
    }
}

/// Records a count of one.
pub fn count(metric: Metric, dimensions: &[&str]) {
    emit(metric, dimensions, 1.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_follow_the_embedded_metric_format() {
        let d = document(
            RUNS_FINISHED,
            &["PROFESSIONAL", "failed"],
            1.0,
            1_700_000_000_000,
        );
        assert_eq!(
            d,
            json!({
                "_aws": {
                    "Timestamp": 1_700_000_000_000_i64,
                    "CloudWatchMetrics": [{
                        "Namespace": "SaasIt",
                        "Dimensions": [["Tier", "Status"]],
                        "Metrics": [{"Name": "RunsFinished", "Unit": "Count"}],
                    }],
                },
                "Tier": "PROFESSIONAL",
                "Status": "failed",
                "RunsFinished": 1.0,
            })
        );
        let names: std::collections::HashSet<&str> = ALL.iter().map(|m| m.name).collect();
        assert_eq!(names.len(), ALL.len(), "unique names");
    }
}
