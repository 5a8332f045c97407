//! Spend caps end to end on the local stack, with the real executor: a run's
//! token budget stops it mid-way; a monthly budget spent while a run is going
//! ends that run at its next heartbeat, notifies at 80 % and 100 % (once
//! each), and refuses new runs (403 `BUDGET_EXCEEDED`) until it is raised.
//! Costs are priced as usage events arrive and reach the costs report; a
//! workflow's report shows its nodes and why its runs failed.

use std::time::Duration;

use axum::{extract::Query, routing::get, Router};
use saasit_tests::{
    json,
    runs::{all_events, paid_user, start, wait_for, workflow, TERMINAL},
    serve, spawn_app, spawn_stack, spawn_stack_with, test_pipeline_config, Req, TestStack,
};
use serde_json::Value;
use shared::settings::PriceTable;

/// Each dev-provider call below reports 6 tokens (4 prompt words, 2 system words).
fn agent(id: &str) -> Value {
    json!({"id": id, "type": "agent", "config": {"systemPrompt": "You write.", "prompt": "one two three four"}})
}

async fn workspace_of(s: &TestStack, token: &str) -> String {
    s.app
        .send(Req::get("/api/v1/workspaces").bearer(token))
        .await
        .expect(200, None)
        .body["items"][0]["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn set_budget(s: &TestStack, token: &str, ws: &str, body: Value) -> Value {
    s.app
        .send(
            Req::new(
                axum::http::Method::PUT,
                &format!("/api/v1/workspaces/{ws}/budget"),
            )
            .bearer(token)
            .json(&body),
        )
        .await
        .expect(200, None)
        .body
}

#[tokio::test]
async fn a_run_token_budget_stops_a_run_mid_way() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "tokens@example.com", "STARTER").await;
    let ws = workspace_of(&s, &t).await;
    let kept = set_budget(&s, &t, &ws, json!({"runTokenBudget": 5})).await;
    assert_eq!(kept["runTokenBudget"], 5);
    assert_eq!(kept["monthlyBudgetUsd"], Value::Null);
    let wf = workflow(
        &s,
        &t,
        json!({
            "nodes": [{"id": "start", "type": "trigger"}, agent("a"), agent("b"), {"id": "out", "type": "output"}],
            "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "out"}]
        }),
    )
    .await;
    let id = start(&s, &t, &wf, json!({})).await;
    let done = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["reason"], "budget_exceeded");
    assert_eq!(
        done["error"],
        "the run used 6 LLM tokens of its budget of 5"
    );
    assert_eq!(done["llmTokens"], 6);
    let events = all_events(&s, &t, &id).await;
    let of = |kind: &str, node: &str| {
        events
            .iter()
            .filter(|e| e["type"] == kind && e["node"] == node)
            .count()
    };
    assert_eq!(of("node_succeeded", "a"), 1);
    assert_eq!(
        of("node_started", "b"),
        0,
        "the run went on past its budget"
    );
    let end = events.last().expect("events");
    assert_eq!(end["type"], "execution_ended");
    assert_eq!(end["reason"], "budget_exceeded");
    // The workflow's report says why.
    let r = s
        .app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/analytics/workflows/{wf}")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(
        r["failureReasons"],
        json!([{"reason": "budget_exceeded", "runs": 1}])
    );
}

/// The local stack with the dev model at 2,000 US$ per million tokens: a
/// call's 6 tokens cost 0.012 US$.
async fn priced_stack() -> TestStack {
    let mut prices = PriceTable::default();
    prices.extend("dev=2000/2000").expect("prices");
    spawn_stack_with(
        spawn_app().await,
        shared::runs::RunSettings {
            prices,
            ..test_pipeline_config()
        },
    )
    .await
}

/// A server whose `/sleep?ms=` answers late: a node the run is in when its
/// monthly budget runs out.
async fn sleeper() -> String {
    async fn sleep(Query(q): Query<std::collections::HashMap<String, u64>>) -> &'static str {
        tokio::time::sleep(Duration::from_millis(q.get("ms").copied().unwrap_or(0))).await;
        "late"
    }
    serve(Router::new().route("/sleep", get(sleep))).await
}

#[tokio::test]
async fn a_spent_monthly_budget_ends_the_running_run_notifies_and_refuses_new_ones() {
    let s = priced_stack().await;
    let t = paid_user(&s, "monthly@example.com", "STARTER").await;
    let ws = workspace_of(&s, &t).await;
    set_budget(&s, &t, &ws, json!({"monthlyBudgetUsd": 0.01})).await;
    let slow = sleeper().await;
    let wf = workflow(
        &s,
        &t,
        json!({
            "nodes": [{"id": "start", "type": "trigger"}, agent("a"),
                      {"id": "slow", "type": "http", "config": {"url": format!("{slow}/sleep?ms=60000")}},
                      {"id": "out", "type": "output"}],
            "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "slow"}, {"from": "slow", "to": "out"}]
        }),
    )
    .await;
    let id = start(&s, &t, &wf, json!({})).await;
    // Ended by the next heartbeat after the call's usage arrived, not by the 60 s node.
    let done = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "failed", "{done}");
    assert_eq!(done["reason"], "budget_exceeded");
    assert_eq!(done["error"], "the workspace's monthly budget is spent");
    assert_eq!(done["costUsd"], 0.012);
    let events = all_events(&s, &t, &id).await;
    assert!(events
        .iter()
        .any(|e| e["type"] == "node_cancelled" && e["node"] == "slow"));

    // New runs are refused, saying why and until when.
    let refused = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(&t)
                .json(&json!({"workflowId": wf, "inputs": {}})),
        )
        .await
        .expect(403, Some("BUDGET_EXCEEDED"));
    let details = &refused.body["error"]["details"];
    assert_eq!(details["monthlyBudgetUsd"], 0.01);
    assert_eq!(details["spentUsd"], 0.012);
    assert!(details["resetsAt"].as_str().is_some(), "{details}");

    // The budget's standing, and one notice per share reached.
    let budget = s
        .app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/budget")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(budget["exhausted"], true);
    assert_eq!(budget["spentUsd"], 0.012);
    assert_eq!(budget["remainingUsd"], 0.0);
    assert_eq!(budget["notices"], json!([80, 100]));
    let activity = s
        .app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/activity?limit=100")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    let reached: Vec<&Value> = activity["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter(|e| e["action"] == "budget.reached")
        .collect();
    assert_eq!(reached.len(), 2, "{activity}");

    // What it cost, by model and workflow.
    let costs = s
        .app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/analytics/costs")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(costs["costUsd"], 0.012, "{costs}");
    assert_eq!(costs["llmTokens"], 6);
    assert_eq!(
        costs["byModel"],
        json!([{"provider": "dev", "model": "dev", "calls": 1, "inputTokens": 6, "outputTokens": 0,
                "costUsd": 0.012, "unpricedCalls": 0}])
    );
    assert_eq!(costs["byWorkflow"][0]["workflowId"], wf.as_str());
    assert_eq!(costs["byWorkflow"][0]["costUsd"], 0.012);

    // Raised, runs start again.
    let raised = set_budget(&s, &t, &ws, json!({"monthlyBudgetUsd": 10})).await;
    assert_eq!(raised["exhausted"], false);
    assert_eq!(raised["remainingUsd"], 9.988);
    // A changed budget starts the month's notices afresh.
    assert_eq!(raised["notices"], json!([]));
    start(&s, &t, &wf, json!({})).await;
}

#[tokio::test]
async fn the_budget_route_checks_its_input() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "limits@example.com", "STARTER").await;
    let ws = workspace_of(&s, &t).await;
    for bad in [
        json!({"monthlyBudgetUsd": 0}),
        json!({"monthlyBudgetUsd": -1}),
        json!({"monthlyBudgetUsd": 1e10}),
        json!({"runTokenBudget": 0}),
        json!({"runTokenBudget": 1_000_000_000_001_i64}),
        json!({"monthlyBudget": 5}),
    ] {
        s.app
            .send(
                Req::new(
                    axum::http::Method::PUT,
                    &format!("/api/v1/workspaces/{ws}/budget"),
                )
                .bearer(&t)
                .json(&bad),
            )
            .await
            .expect(400, Some("VALIDATION_ERROR"));
    }
    let kept = set_budget(
        &s,
        &t,
        &ws,
        json!({"monthlyBudgetUsd": 12.345678, "runTokenBudget": 100}),
    )
    .await;
    assert_eq!(kept["monthlyBudgetUsd"], 12.345678);
    assert_eq!(kept["canManage"], true);
    assert_eq!(kept["notices"], json!([]));
    // `{}` clears both.
    let cleared = set_budget(&s, &t, &ws, json!({})).await;
    assert_eq!(cleared["monthlyBudgetUsd"], Value::Null);
    assert_eq!(cleared["runTokenBudget"], Value::Null);
    assert_eq!(cleared["remainingUsd"], Value::Null);
}

#[tokio::test]
async fn a_workflows_report_shows_its_nodes_and_why_its_runs_failed() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "nodes@example.com", "STARTER").await;
    let ws = workspace_of(&s, &t).await;
    let wf = workflow(
        &s,
        &t,
        json!({
            "nodes": [{"id": "start", "type": "trigger"}, agent("a"),
                      {"id": "b", "type": "http", "config": {"url": "{{ inputs.url }}"}},
                      {"id": "out", "type": "output"}],
            "edges": [{"from": "start", "to": "a"}, {"from": "a", "to": "b"}, {"from": "b", "to": "out"}]
        }),
    )
    .await;
    // Once through, once failing at b (nothing listens on port 1).
    for url in [
        format!("{}/health", s.base_url),
        "http://127.0.0.1:1/".to_owned(),
    ] {
        let id = start(&s, &t, &wf, json!({"url": url})).await;
        wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(30)).await;
    }
    let r = s
        .app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/analytics/workflows/{wf}")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(r["runs"]["total"], 2, "{r}");
    assert_eq!(
        r["failureReasons"],
        json!([{"reason": "network", "runs": 1}])
    );
    let node = |id: &str| {
        r["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .find(|n| n["node"] == id)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(node("a")["succeeded"], 2);
    assert_eq!(node("a")["failed"], 0);
    assert!(node("a")["duration"]["p95Ms"].as_f64().is_some(), "{r}");
    assert_eq!(node("b")["succeeded"], 1);
    assert_eq!(node("b")["failed"], 1);
    assert_eq!(node("b")["failureRate"], 0.5);
    // The overview has no per-node figures.
    let o = s
        .app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/analytics/overview")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert!(o.get("nodes").is_none() && o.get("failureReasons").is_none());
    // The workspace's performance: both runs waited on the STARTER plan; its
    // agent nodes took time, its http nodes failed once.
    let p = s
        .app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/analytics/performance")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(p["runs"], 2, "{p}");
    assert_eq!(p["byTier"][0]["tier"], "STARTER", "{p}");
    assert_eq!(p["byTier"][0]["runs"], 2);
    assert!(p["dispatchLatency"]["p95Ms"].as_f64().is_some(), "{p}");
    assert!(p["queueWait"]["meanMs"].as_f64().is_some(), "{p}");
    let of_type = |ty: &str| {
        p["byNodeType"]
            .as_array()
            .expect("byNodeType")
            .iter()
            .find(|n| n["type"] == ty)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(of_type("agent")["succeeded"], 2, "{p}");
    assert_eq!(of_type("http")["succeeded"], 1);
    assert_eq!(of_type("http")["failed"], 1);
    assert_eq!(of_type("http")["failureRate"], 0.5);
}

#[tokio::test]
async fn a_run_queued_before_the_monthly_budget_was_spent_never_launches() {
    let s = priced_stack().await;
    // STARTER runs one at a time: the second run waits for the first.
    let t = paid_user(&s, "queued@example.com", "STARTER").await;
    let ws = workspace_of(&s, &t).await;
    let slow = sleeper().await;
    let wf = workflow(
        &s,
        &t,
        json!({
            "nodes": [{"id": "start", "type": "trigger"},
                      {"id": "wait", "type": "http", "config": {"url": format!("{slow}/sleep?ms=1500")}},
                      agent("a"), {"id": "out", "type": "output"}],
            "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "a"}, {"from": "a", "to": "out"}]
        }),
    )
    .await;
    let first = start(&s, &t, &wf, json!({})).await;
    // The second is queued only once the first runs: two queued runs may be
    // dispatched in either order.
    wait_for(&s, &t, &first, &["running"], Duration::from_secs(30)).await;
    let keyed = || {
        Req::post("/api/v1/executions")
            .bearer(&t)
            .header("idempotency-key", "the-second")
            .json(&json!({"workflowId": wf, "inputs": {}}))
    };
    let second = s.app.send(keyed()).await.expect(202, None).body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    set_budget(&s, &t, &ws, json!({"monthlyBudgetUsd": 0.01})).await;
    // The first spends 0.012 US$ in its last node and completes.
    let done = wait_for(&s, &t, &first, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(done["costUsd"], 0.012, "{done}");
    let ended = wait_for(&s, &t, &second, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(ended["status"], "failed", "{ended}");
    assert_eq!(ended["reason"], "budget_exceeded");
    assert_eq!(ended["error"], "the workspace's monthly budget is spent");
    assert_eq!(ended["startedAt"], Value::Null, "it never started");
    assert_eq!(ended["llmTokens"], 0);
    // Its key, repeated once the budget is spent, still answers it.
    let again = s.app.send(keyed()).await;
    assert_ne!(again.status.as_u16(), 403, "{}", again.body);
    assert_eq!(again.body["id"], second.as_str());
}
