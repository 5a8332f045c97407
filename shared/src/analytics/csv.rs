//! The analytics series as CSV (`format=csv`): a header row, then a row per
//! bucket. Every field is a number or an RFC 3339 time, so none needs quoting;
//! an empty field is a value the bucket does not have (no percentile without runs).

use std::fmt::Write;

use super::{costs::CostPoint, performance::WaitsPoint, usage::UsagePoint, SeriesPoint};

fn opt(v: Option<f64>) -> String {
    v.map(|v| v.to_string()).unwrap_or_default()
}

fn rows<T>(header: &str, items: &[T], row: impl Fn(&T) -> String) -> String {
    let mut out = String::with_capacity(header.len() + 1 + items.len() * 96);
    out.push_str(header);
    out.push('\n');
    for item in items {
        let _ = writeln!(out, "{}", row(item));
    }
    out
}

/// `overview` and `workflows/{id}`.
pub fn series(points: &[SeriesPoint]) -> String {
    rows(
        "start,runs,completed,failed,cancelled,timed_out,success_rate,duration_p50_ms,duration_p95_ms,\
         queue_wait_p50_ms,queue_wait_p95_ms,llm_tokens,cost_usd",
        points,
        |p| {
            let s = &p.summary;
            format!(
                "{},{},{},{},{},{},{},{},{},{},{},{},{}",
                p.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                s.runs.total,
                s.runs.completed,
                s.runs.failed,
                s.runs.cancelled,
                s.runs.timed_out,
                opt(s.runs.success_rate),
                opt(s.duration.p50_ms),
                opt(s.duration.p95_ms),
                opt(s.queue_wait.p50_ms),
                opt(s.queue_wait.p95_ms),
                s.llm_tokens,
                s.cost_usd,
            )
        },
    )
}

/// `costs`.
pub fn costs(points: &[CostPoint]) -> String {
    rows("start,llm_tokens,cost_usd", points, |p| {
        format!(
            "{},{},{}",
            p.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            p.llm_tokens,
            p.cost_usd
        )
    })
}

/// `usage`.
pub fn usage(points: &[UsagePoint]) -> String {
    rows("start,runs,run_minutes,llm_tokens,cost_usd", points, |p| {
        format!(
            "{},{},{},{},{}",
            p.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            p.runs,
            p.run_minutes,
            p.llm_tokens,
            p.cost_usd
        )
    })
}

/// `performance`.
pub fn performance(points: &[WaitsPoint]) -> String {
    rows(
        "start,runs,queue_wait_mean_ms,queue_wait_p50_ms,queue_wait_p95_ms,\
         dispatch_latency_mean_ms,dispatch_latency_p50_ms,dispatch_latency_p95_ms",
        points,
        |p| {
            let (q, d) = (&p.waits.queue_wait, &p.waits.dispatch_latency);
            format!(
                "{},{},{},{},{},{},{},{}",
                p.start.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                p.waits.runs,
                opt(q.mean_ms),
                opt(q.p50_ms),
                opt(q.p95_ms),
                opt(d.mean_ms),
                opt(d.p50_ms),
                opt(d.p95_ms),
            )
        },
    )
}
