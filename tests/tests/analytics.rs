//! Analytics against hand-computed fixtures: runs ended with known statuses,
//! queue waits, run times and tokens; the overview and a workflow's report
//! answer their counts, success rate, means, percentiles (within a
//! histogram bucket), tokens, series and rankings, from the rollups.

use std::sync::Arc;

use chrono::{DateTime, Timelike, Utc};
use saasit_tests::{idle_runs, json, send, spawn_app, Req, TestApp};
use serde_json::Value;
use shared::{
    db::executions::{self, Ending},
    protocol::RunStatus,
};
use uuid::Uuid;

struct Fixture {
    app: TestApp,
    router: axum::Router,
    token: String,
    workspace: Uuid,
}

async fn fixture(email: &str) -> Fixture {
    let app = spawn_app().await;
    let state = ::executions::RunsState {
        app: app.state.clone(),
        runs: Arc::new(idle_runs(&app)),
    };
    let token = app.register(email, "correct horse 9").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    sqlx::query("UPDATE workspaces SET tier = 'PROFESSIONAL' WHERE id = (SELECT id FROM users WHERE email = $1)")
        .bind(email)
        .execute(&app.state.db)
        .await
        .expect("tier");
    let workspace = sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_one(&app.state.db)
        .await
        .expect("workspace");
    Fixture {
        router: local::router(state, None),
        app,
        token,
        workspace,
    }
}

impl Fixture {
    async fn workflow(&self, name: &str) -> Uuid {
        let canvas = json!({"nodes": [{"id": "start", "type": "trigger"}, {"id": "out", "type": "output"}],
                            "edges": [{"from": "start", "to": "out"}]});
        send(
            &self.router,
            Req::post("/api/v1/workflows")
                .bearer(&self.token)
                .json(&json!({"name": name, "canvas": canvas})),
        )
        .await
        .expect(201, None)
        .body["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid")
    }

    /// A run of `wf` that waited `wait_s` queued, ran `run_s` (`None`: never
    /// started) and used `tokens` (at 10 µ$ each), ended now as `status`.
    async fn ended(
        &self,
        wf: Uuid,
        status: RunStatus,
        wait_s: i64,
        run_s: Option<i64>,
        tokens: i64,
    ) {
        let id: Uuid = send(
            &self.router,
            Req::post("/api/v1/executions")
                .bearer(&self.token)
                .json(&json!({"workflowId": wf})),
        )
        .await
        .expect(202, None)
        .body["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid");
        sqlx::query(
            "UPDATE executions SET llm_tokens = $4, cost_micros = least($4::numeric * 10, 9223372036854775807)::bigint,
                    created_at = now() - make_interval(secs => $2 + coalesce($3, 0)),
                    started_at = now() - make_interval(secs => $3),
                    status = CASE WHEN $3 IS NULL THEN status ELSE 'running' END
              WHERE id = $1",
        )
        .bind(id)
        .bind(wait_s as f64)
        .bind(run_s.map(|s| s as f64))
        .bind(tokens)
        .execute(&self.app.state.db)
        .await
        .expect("shape the run");
        executions::finish(
            &self.app.state.db,
            id,
            Ending {
                status,
                output: None,
                output_ref: None,
                error: None,
                failed_node: None,
                reason: None,
            },
        )
        .await
        .expect("finish")
        .expect("ended");
    }

    /// The `period` the overview answered for with `query`.
    async fn period(&self, ws: Uuid, query: &str) -> Value {
        self.get(&format!(
            "/api/v1/workspaces/{ws}/analytics/overview?{query}"
        ))
        .await["period"]
            .clone()
    }

    async fn get(&self, path: &str) -> Value {
        self.app
            .send(Req::get(path).bearer(&self.token))
            .await
            .expect(200, None)
            .body
    }
}

fn close(got: &Value, want_ms: f64, within: f64) {
    let got = got.as_f64().expect("a number");
    assert!(
        (got - want_ms).abs() <= within * want_ms,
        "{got} is not within {within} of {want_ms}"
    );
}

#[tokio::test]
async fn the_overview_and_a_workflows_report_match_hand_computed_figures() {
    let f = fixture("analytics@example.com").await;
    let (a, b) = (f.workflow("alpha").await, f.workflow("beta").await);
    f.ended(a, RunStatus::Completed, 2, Some(10), 100).await;
    f.ended(a, RunStatus::Completed, 4, Some(20), 200).await;
    f.ended(a, RunStatus::Failed, 6, Some(30), 300).await;
    f.ended(a, RunStatus::Cancelled, 3, None, 0).await;
    f.ended(b, RunStatus::Completed, 1, Some(1), 50).await;
    f.ended(b, RunStatus::TimedOut, 1, Some(100), 0).await;

    let ws = f.workspace;
    let o = f
        .get(&format!(
            "/api/v1/workspaces/{ws}/analytics/overview?bucket=day&tz=Asia/Kolkata"
        ))
        .await;
    assert_eq!(
        o["runs"],
        json!({"total": 6, "completed": 3, "failed": 1, "cancelled": 1, "timedOut": 1, "successRate": 0.6}),
        "{o}"
    );
    assert_eq!(o["llmTokens"], 650);
    // Five runs started: run times 1, 10, 20, 30, 100 s; waits 1, 1, 2, 4, 6 s.
    close(&o["duration"]["meanMs"], 32_200.0, 0.01);
    close(&o["queueWait"]["meanMs"], 2_800.0, 0.05);
    close(&o["duration"]["p50Ms"], 20_000.0, 0.25);
    close(&o["duration"]["p95Ms"], 100_000.0, 0.25);
    close(&o["queueWait"]["p95Ms"], 6_000.0, 0.25);
    assert_eq!(o["period"]["bucket"], "day");
    assert_eq!(o["period"]["timezone"], "Asia/Kolkata");
    // Days begin at midnight in Kolkata (18:30 UTC), every day of the period is there.
    let series = o["series"].as_array().expect("series");
    assert!((30..=31).contains(&series.len()), "{}", series.len());
    for p in series {
        let start: DateTime<Utc> = serde_json::from_value(p["start"].clone()).expect("start");
        assert_eq!((start.hour(), start.minute()), (18, 30), "{start}");
    }
    // Every run ended today (or, if the test crossed 19:00 UTC, Kolkata's
    // midnight at the rollups' hour grain, today and the day before).
    let busy: Vec<&Value> = series.iter().filter(|p| p["runs"]["total"] != 0).collect();
    assert!((1..=2).contains(&busy.len()), "{busy:?}");
    let sum = |key: &str| -> i64 {
        busy.iter()
            .map(|p| p.pointer(key).and_then(Value::as_i64).unwrap_or(0))
            .sum()
    };
    assert_eq!(sum("/runs/total"), 6);
    assert_eq!(sum("/llmTokens"), 650);
    let top = &o["topWorkflows"];
    assert_eq!(top["byRuns"][0]["workflowId"], json!(a));
    assert_eq!(top["byRuns"][0]["name"], "alpha");
    assert_eq!(top["byRuns"][0]["runs"], 4);
    assert_eq!(top["byRuns"][1]["runs"], 2);
    assert_eq!(top["byCost"][0]["llmTokens"], 600);
    assert_eq!(top["byCost"][0]["costUsd"], 0.006);
    assert_eq!(top["byCost"][1]["llmTokens"], 50);
    assert_eq!(top["byCost"][1]["costUsd"], 0.0005);
    assert_eq!(o["costUsd"], 0.0065);

    // One workflow: its runs only, by the hour.
    let w = f
        .get(&format!(
            "/api/v1/workspaces/{ws}/analytics/workflows/{b}?bucket=hour&from={}",
            (Utc::now() - chrono::Duration::days(2)).format("%Y-%m-%dT%H:%M:%SZ")
        ))
        .await;
    assert_eq!(w["workflowId"], json!(b));
    assert_eq!(
        w["runs"],
        json!({"total": 2, "completed": 1, "failed": 0, "cancelled": 0, "timedOut": 1, "successRate": 0.5})
    );
    assert_eq!(w["llmTokens"], 50);
    close(&w["duration"]["meanMs"], 50_500.0, 0.01);
    assert!(w.get("topWorkflows").is_none());
    let hours = w["series"].as_array().expect("series");
    assert!((48..=49).contains(&hours.len()), "{}", hours.len());
    assert_eq!(
        hours
            .iter()
            .map(|p| p["runs"]["total"].as_i64().unwrap_or(0))
            .sum::<i64>(),
        2
    );

    // Rankings read whole days from the daily rows and the edges from the
    // hourly ones: a workflow busy five days ago counts once, not twice.
    let c = f.workflow("gamma").await;
    sqlx::query(
        "WITH t AS (SELECT date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC'
                           - interval '5 days' + interval '12 hours' AS hour)
         , h AS (INSERT INTO workflow_run_hours (workspace_id, workflow_id, hour, runs, completed, llm_tokens, cost_micros)
                 SELECT $1, $2, hour, 10, 10, 1000, 10000 FROM t RETURNING 1)
         INSERT INTO workflow_run_days (workspace_id, workflow_id, day, runs, llm_tokens, cost_micros)
         SELECT $1, $2, (hour AT TIME ZONE 'UTC')::date, 10, 1000, 10000 FROM t",
    )
    .bind(ws)
    .bind(c)
    .execute(&f.app.state.db)
    .await
    .expect("rollups of an earlier day");
    let o = f
        .get(&format!("/api/v1/workspaces/{ws}/analytics/overview"))
        .await;
    assert_eq!(o["topWorkflows"]["byRuns"][0]["workflowId"], json!(c));
    assert_eq!(o["topWorkflows"]["byRuns"][0]["runs"], 10);
    assert_eq!(o["topWorkflows"]["byCost"][0]["llmTokens"], 1000);
    assert_eq!(o["topWorkflows"]["byCost"][0]["costUsd"], 0.01);
    assert_eq!(
        o["topWorkflows"]["byRuns"][1]["runs"], 4,
        "today's edge hours still count"
    );

    // A period with nothing in it: zeros and no percentiles.
    let empty = f
        .get(&format!("/api/v1/workspaces/{ws}/analytics/overview?from=2020-01-01T00:00:00Z&to=2020-01-08T00:00:00Z&bucket=week"))
        .await;
    assert_eq!(empty["runs"]["total"], 0);
    assert!(empty["runs"]["successRate"].is_null());
    assert!(empty["duration"]["p95Ms"].is_null());
    assert_eq!(empty["topWorkflows"]["byRuns"], json!([]));
}

#[tokio::test]
async fn analytics_refuse_bad_input_keep_periods_in_bounds_and_hide_from_strangers() {
    let f = fixture("analytics-refusals@example.com").await;
    let ws = f.workspace;
    for query in ["bucket=month", "tz=Mars/Olympus", "from=yesterday"] {
        f.app
            .send(
                Req::get(&format!(
                    "/api/v1/workspaces/{ws}/analytics/overview?{query}"
                ))
                .bearer(&f.token),
            )
            .await
            .expect(400, None);
    }
    // What no schema can say is kept in bounds, not refused; `period` says how.
    let backwards = f
        .period(ws, "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z")
        .await;
    assert_eq!(backwards["from"], backwards["to"], "empty");
    let long = f
        .period(ws, "from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z")
        .await;
    assert_eq!(long["from"], "2024-11-27T00:00:00Z", "the last 400 days");
    let coarser = f
        .period(
            ws,
            "bucket=hour&from=2026-01-01T00:00:00Z&to=2026-03-01T00:00:00Z",
        )
        .await;
    assert_eq!(coarser["bucket"], "day");
    // Someone else's workspace, or a workflow that is not this workspace's: 404.
    let (_, other) = f.app.user("analytics-other@example.com").await;
    f.app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/analytics/overview")).bearer(&other))
        .await
        .expect(404, Some("NOT_FOUND"));
    f.app
        .send(
            Req::get(&format!(
                "/api/v1/workspaces/{ws}/analytics/workflows/{}",
                Uuid::now_v7()
            ))
            .bearer(&f.token),
        )
        .await
        .expect(404, Some("NOT_FOUND"));
}

#[tokio::test]
async fn a_run_at_the_token_ceiling_still_ends_and_is_counted_saturated() {
    let f = fixture("analytics-ceiling@example.com").await;
    let wf = f.workflow("hungry").await;
    // A run's own count saturates at i64::MAX; two such runs in one hour
    // must not overflow the rollups, or the second could never end.
    f.ended(wf, RunStatus::Completed, 1, Some(1), i64::MAX)
        .await;
    f.ended(wf, RunStatus::Completed, 1, Some(1), i64::MAX)
        .await;
    let ws = f.workspace;
    let o = f
        .get(&format!("/api/v1/workspaces/{ws}/analytics/overview"))
        .await;
    assert_eq!(o["runs"]["total"], 2);
    assert_eq!(o["llmTokens"], i64::MAX);
    assert_eq!(o["topWorkflows"]["byCost"][0]["llmTokens"], i64::MAX);
    assert_eq!(o["costUsd"], i64::MAX as f64 / 1e6);
    let w = f
        .get(&format!(
            "/api/v1/workspaces/{ws}/analytics/workflows/{wf}?bucket=hour&from={}",
            (Utc::now() - chrono::Duration::hours(3)).format("%Y-%m-%dT%H:00:00Z")
        ))
        .await;
    assert_eq!(w["llmTokens"], i64::MAX);
    // An empty period: no points at all.
    let empty = f
        .get(&format!("/api/v1/workspaces/{ws}/analytics/overview?from=2026-01-01T10:00:00Z&to=2026-01-01T10:00:00Z&tz=Asia/Kolkata"))
        .await;
    assert_eq!(empty["series"], json!([]));
}

#[tokio::test]
async fn the_usage_report_counts_this_month_against_the_plan_and_what_is_stored() {
    let f = fixture("analytics-usage@example.com").await;
    let (a, b) = (f.workflow("one").await, f.workflow("two").await);
    f.ended(a, RunStatus::Completed, 1, Some(61), 100).await;
    f.ended(a, RunStatus::Failed, 1, Some(30), 0).await;
    f.ended(b, RunStatus::Completed, 2, Some(90), 20).await;
    // Two artifacts of one run, then that run deleted: the counter follows.
    let runs: Vec<Uuid> =
        sqlx::query_scalar("SELECT id FROM executions WHERE workspace_id = $1 ORDER BY created_at")
            .bind(f.workspace)
            .fetch_all(&f.app.state.db)
            .await
            .expect("runs");
    for (run, size) in [(runs[0], 1_000_i64), (runs[0], 24), (runs[1], 500)] {
        sqlx::query(
            "INSERT INTO execution_artifacts (id, execution_id, name, content_type, size, blob_key)
             VALUES ($1, $2, 'a.json', 'application/json', $3, $1::text)",
        )
        .bind(Uuid::now_v7())
        .bind(run)
        .bind(size)
        .execute(&f.app.state.db)
        .await
        .expect("artifact");
    }
    let ws = f.workspace;
    let u = f
        .get(&format!("/api/v1/workspaces/{ws}/analytics/usage"))
        .await;
    assert_eq!(u["tier"], "PROFESSIONAL");
    assert_eq!(u["workflows"], 2);
    assert_eq!(u["storage"], json!({"artifacts": 3, "bytes": 1524}));
    let m = &u["thisMonth"];
    assert_eq!(m["runs"], 3);
    // Each run's minutes rounded up: 61 s (and the test's milliseconds) is 2,
    // then 1 and 2. (Not 60 s: a run ended within half a millisecond would
    // round to exactly 60,000 ms, one minute.)
    assert_eq!(m["runMinutes"], 5);
    assert_eq!(m["llmTokens"], 120);
    assert_eq!(m["seats"], json!({"used": 1, "limit": 10, "remaining": 9}));
    assert_eq!(m["concurrentRuns"]["limit"], 3);
    assert_eq!(m["workflowsCreated"]["used"], 2);
    assert_eq!(m["workflowsCreated"]["limit"], Value::Null);
    assert_eq!(m["monthlyBudgetUsd"], Value::Null);
    assert_eq!(m["budgetExhausted"], false);
    let series = u["series"].as_array().expect("series");
    let runs_in_series: i64 = series.iter().map(|p| p["runs"].as_i64().unwrap_or(0)).sum();
    assert_eq!(runs_in_series, 3);
    let minutes: f64 = series
        .iter()
        .map(|p| p["runMinutes"].as_f64().unwrap_or(0.0))
        .sum();
    assert!((minutes - 181.0 / 60.0).abs() < 0.01, "{minutes}");

    sqlx::query("DELETE FROM executions WHERE id = $1")
        .bind(runs[0])
        .execute(&f.app.state.db)
        .await
        .expect("delete a run");
    let u = f
        .get(&format!("/api/v1/workspaces/{ws}/analytics/usage"))
        .await;
    assert_eq!(u["storage"], json!({"artifacts": 1, "bytes": 500}));
}

#[tokio::test]
async fn a_runs_events_are_pruned_after_its_plans_retention_and_the_rollups_stay() {
    let f = fixture("analytics-retention@example.com").await;
    let wf = f.workflow("kept").await;
    f.ended(wf, RunStatus::Completed, 1, Some(2), 40).await;
    let db = &f.app.state.db;
    let (id, expires, finished): (Uuid, Option<DateTime<Utc>>, DateTime<Utc>) = sqlx::query_as(
        "SELECT id, events_expire_at, finished_at FROM executions WHERE workspace_id = $1",
    )
    .bind(f.workspace)
    .fetch_one(db)
    .await
    .expect("run");
    // PROFESSIONAL keeps 90 days.
    assert_eq!(
        expires.map(|e| (e - finished).num_days()),
        Some(90),
        "{expires:?}"
    );
    // Give it five earlier events (it has its end already), then let it expire.
    for shift in [
        "UPDATE execution_events SET seq = seq + 5 WHERE execution_id = $1",
        "UPDATE executions SET last_seq = last_seq + 5, events_expire_at = now() - interval '1 minute' WHERE id = $1",
    ] {
        sqlx::query(shift)
            .bind(id)
            .execute(db)
            .await
            .expect("shift");
    }
    sqlx::query(
        "INSERT INTO execution_events (execution_id, seq, type, payload, ts)
         SELECT $1, s, 'log', '{\"type\":\"log\"}', now() FROM generate_series(1, 5) s",
    )
    .bind(id)
    .execute(db)
    .await
    .expect("events");
    let ws = f.workspace;
    let before = f
        .get(&format!("/api/v1/workspaces/{ws}/analytics/overview"))
        .await;
    // Bounded: three a pass, then the rest, then nothing.
    use shared::db::event_retention::prune;
    assert_eq!(prune(db, 3).await.expect("prune"), 3);
    assert_eq!(prune(db, 3).await.expect("prune"), 2);
    assert_eq!(prune(db, 3).await.expect("prune"), 0);
    let left: Vec<String> =
        sqlx::query_scalar("SELECT type FROM execution_events WHERE execution_id = $1")
            .bind(id)
            .fetch_all(db)
            .await
            .expect("left");
    assert_eq!(left, vec!["execution_ended".to_owned()], "the end stays");
    let marked: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT events_expire_at FROM executions WHERE id = $1")
            .bind(id)
            .fetch_one(db)
            .await
            .expect("run");
    assert_eq!(marked, None, "done: not looked at again");
    let after = f
        .get(&format!("/api/v1/workspaces/{ws}/analytics/overview"))
        .await;
    assert_eq!(after["runs"], before["runs"]);
    assert_eq!(after["llmTokens"], 40);
    // Its nodes' outputs went with its events: a retry from its failed nodes
    // is refused, saying why; one from the start is not.
    let retry = |from_failed: bool| {
        Req::post(&format!("/api/v1/executions/{id}/retry"))
            .bearer(&f.token)
            .json(&json!({ "fromFailed": from_failed }))
    };
    let refused = send(&f.router, retry(true))
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(refused.body["error"]["details"]["reason"], "events_pruned");
    send(&f.router, retry(false)).await.expect(202, None);
}

#[tokio::test]
async fn every_analytics_route_exports_its_series_as_csv() {
    let f = fixture("analytics-csv@example.com").await;
    let wf = f.workflow("exported").await;
    f.ended(wf, RunStatus::Completed, 1, Some(2), 300).await;
    f.ended(wf, RunStatus::Failed, 1, Some(4), 100).await;
    let ws = f.workspace;
    for (path, header, runs_column, cost_column) in [
        ("overview", "start,runs,completed,failed,cancelled,timed_out,success_rate,duration_p50_ms,duration_p95_ms,queue_wait_p50_ms,queue_wait_p95_ms,llm_tokens,cost_usd", Some(1), 12),
        (&*format!("workflows/{wf}"), "start,runs,completed,failed,cancelled,timed_out,success_rate,duration_p50_ms,duration_p95_ms,queue_wait_p50_ms,queue_wait_p95_ms,llm_tokens,cost_usd", Some(1), 12),
        ("costs", "start,llm_tokens,cost_usd", None, 2),
        ("usage", "start,runs,run_minutes,llm_tokens,cost_usd", Some(1), 4),
    ] {
        let r = f
            .app
            .send(
                Req::get(&format!(
                    "/api/v1/workspaces/{ws}/analytics/{path}?format=csv&bucket=day"
                ))
                .bearer(&f.token),
            )
            .await
            .expect(200, None);
        assert_eq!(
            r.headers["content-type"], "text/csv; charset=utf-8",
            "{path}"
        );
        let lines: Vec<&str> = r.text.lines().collect();
        assert_eq!(lines[0], header, "{path}");
        // 30 days of buckets (31 when the period starts mid-day), every row as wide as the header.
        assert!((30..=32).contains(&lines.len()), "{path}: {}", lines.len());
        let width = header.split(',').count();
        assert!(lines.iter().all(|l| l.split(',').count() == width), "{path}");
        let column = |i: usize| -> f64 {
            lines[1..]
                .iter()
                .map(|l| l.split(',').nth(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0))
                .sum()
        };
        if let Some(i) = runs_column {
            assert_eq!(column(i), 2.0, "{path}");
        }
        // 400 tokens at 10 µ$ each.
        assert!((column(cost_column) - 0.004).abs() < 1e-9, "{path}");
    }
    f.app
        .send(
            Req::get(&format!(
                "/api/v1/workspaces/{ws}/analytics/overview?format=xml"
            ))
            .bearer(&f.token),
        )
        .await
        .expect(400, Some("VALIDATION_ERROR"));
}

impl Fixture {
    /// A completed run of `wf` on `tier` that waited `queue_s` for the
    /// dispatcher, then `dispatch_s` for its executor, ran a second, and
    /// stored `events` (`(type, node, payload fields)`) before it ended.
    async fn dispatched(
        &self,
        wf: Uuid,
        tier: &str,
        queue_s: i64,
        dispatch_s: i64,
        events: &[(&str, &str, Value)],
    ) {
        let id: Uuid = self
            .app
            .send(
                Req::post("/api/v1/executions")
                    .bearer(&self.token)
                    .json(&json!({"workflowId": wf})),
            )
            .await
            .expect(202, None)
            .body["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid");
        sqlx::query(
            "UPDATE executions SET tier = $2, status = 'running',
                    created_at = now() - make_interval(secs => $3 + $4 + 1),
                    dispatched_at = now() - make_interval(secs => $4 + 1),
                    started_at = now() - interval '1 second'
              WHERE id = $1",
        )
        .bind(id)
        .bind(tier)
        .bind(queue_s as f64)
        .bind(dispatch_s as f64)
        .execute(&self.app.state.db)
        .await
        .expect("shape the run");
        for (ty, node, fields) in events {
            let mut payload = json!({"type": ty, "node": node, "attempt": 1});
            for (k, v) in fields.as_object().expect("fields") {
                payload[k] = v.clone();
            }
            sqlx::query(
                "WITH n AS (UPDATE executions SET last_seq = last_seq + 1 WHERE id = $1 RETURNING last_seq)
                 INSERT INTO execution_events (execution_id, seq, type, node, payload, ts)
                 SELECT $1, last_seq, $2, $3, $4 || jsonb_build_object('seq', last_seq), now() FROM n",
            )
            .bind(id)
            .bind(ty)
            .bind(node)
            .bind(&payload)
            .execute(&self.app.state.db)
            .await
            .expect("an event");
        }
        executions::finish(
            &self.app.state.db,
            id,
            Ending {
                status: RunStatus::Completed,
                output: None,
                output_ref: None,
                error: None,
                failed_node: None,
                reason: None,
            },
        )
        .await
        .expect("finish")
        .expect("ended");
    }
}

#[tokio::test]
async fn the_performance_report_matches_hand_computed_waits_by_tier_and_node_times_by_type() {
    let f = fixture("analytics-performance@example.com").await;
    let wf = f.workflow("timed").await;
    let ok = |ms: i64| json!({"durationMs": ms, "output": null});
    let failed = |will_retry: bool| json!({"error": {"kind": "upstream", "message": "502"}, "willRetry": will_retry, "retryInMs": null});
    f.dispatched(
        wf,
        "PROFESSIONAL",
        2,
        4,
        &[
            ("node_succeeded", "start", ok(100)),
            ("node_succeeded", "out", ok(300)),
        ],
    )
    .await;
    // A reused output and a failure that was retried are not attempts that count.
    f.dispatched(
        wf,
        "PROFESSIONAL",
        4,
        6,
        &[
            (
                "node_succeeded",
                "start",
                json!({"durationMs": 0, "output": null, "reused": true}),
            ),
            ("node_failed", "out", failed(true)),
            ("node_succeeded", "out", ok(500)),
        ],
    )
    .await;
    // The workspace was on another plan when this one was started.
    f.dispatched(
        wf,
        "STARTER",
        10,
        1,
        &[
            ("node_succeeded", "start", ok(200)),
            ("node_failed", "out", failed(false)),
        ],
    )
    .await;
    // Never started: no waits to count.
    f.ended(wf, RunStatus::Cancelled, 3, None, 0).await;

    let ws = f.workspace;
    let r = f
        .get(&format!(
            "/api/v1/workspaces/{ws}/analytics/performance?bucket=hour&from={}",
            (Utc::now() - chrono::Duration::days(1)).format("%Y-%m-%dT%H:00:00Z")
        ))
        .await;
    assert_eq!(r["runs"], 3, "{r}");
    close(&r["queueWait"]["meanMs"], 16_000.0 / 3.0, 0.001);
    close(&r["dispatchLatency"]["meanMs"], 11_000.0 / 3.0, 0.001);
    close(&r["queueWait"]["p95Ms"], 10_000.0, 0.25);
    close(&r["dispatchLatency"]["p50Ms"], 4_000.0, 0.25);
    // The lowest tier first.
    let tiers = r["byTier"].as_array().expect("byTier");
    assert_eq!(tiers.len(), 2, "{r}");
    assert_eq!(tiers[0]["tier"], "STARTER");
    assert_eq!(tiers[0]["runs"], 1);
    close(&tiers[0]["queueWait"]["meanMs"], 10_000.0, 0.001);
    close(&tiers[0]["dispatchLatency"]["meanMs"], 1_000.0, 0.001);
    assert_eq!(tiers[1]["tier"], "PROFESSIONAL");
    assert_eq!(tiers[1]["runs"], 2);
    close(&tiers[1]["queueWait"]["meanMs"], 3_000.0, 0.001);
    close(&tiers[1]["dispatchLatency"]["meanMs"], 5_000.0, 0.001);
    // The node types, the most total run time first.
    assert_eq!(r["byNodeType"][0]["type"], "output", "{}", r["byNodeType"]);
    assert_eq!(r["byNodeType"][0]["succeeded"], 2);
    assert_eq!(r["byNodeType"][0]["failed"], 1);
    close(&r["byNodeType"][0]["failureRate"], 1.0 / 3.0, 0.001);
    close(&r["byNodeType"][0]["duration"]["meanMs"], 400.0, 0.001);
    assert_eq!(r["byNodeType"][1]["type"], "trigger");
    assert_eq!(r["byNodeType"][1]["succeeded"], 2);
    assert_eq!(r["byNodeType"][1]["failed"], 0);
    close(&r["byNodeType"][1]["duration"]["meanMs"], 150.0, 0.001);
    assert_eq!(r["byNodeType"].as_array().map(Vec::len), Some(2));
    // A series of hours (24, or 25 when the period starts mid-hour) whose sum is the total.
    let series = r["series"].as_array().expect("series");
    assert!((24..=25).contains(&series.len()), "{}", series.len());
    assert_eq!(
        series
            .iter()
            .map(|p| p["runs"].as_i64().unwrap_or(0))
            .sum::<i64>(),
        3
    );

    // The same as CSV.
    let csv = f
        .app
        .send(
            Req::get(&format!(
                "/api/v1/workspaces/{ws}/analytics/performance?format=csv"
            ))
            .bearer(&f.token),
        )
        .await
        .expect(200, None);
    let lines: Vec<&str> = csv.text.lines().collect();
    assert_eq!(
        lines[0],
        "start,runs,queue_wait_mean_ms,queue_wait_p50_ms,queue_wait_p95_ms,dispatch_latency_mean_ms,dispatch_latency_p50_ms,dispatch_latency_p95_ms"
    );
    assert_eq!(
        lines[1..]
            .iter()
            .map(|l| l
                .split(',')
                .nth(1)
                .and_then(|v| v.parse::<i64>().ok())
                .unwrap_or(0))
            .sum::<i64>(),
        3
    );

    // A period with nothing in it: zeros, no percentiles, no tiers.
    let empty = f
        .get(&format!("/api/v1/workspaces/{ws}/analytics/performance?from=2020-01-01T00:00:00Z&to=2020-01-08T00:00:00Z&bucket=week"))
        .await;
    assert_eq!(empty["runs"], 0);
    assert!(empty["queueWait"]["p95Ms"].is_null());
    assert_eq!(empty["byTier"], json!([]));
    assert_eq!(empty["byNodeType"], json!([]));
}
