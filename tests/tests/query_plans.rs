//! The hot queries use the indexes made for them (EXPLAIN), however much
//! history a workspace has: the claim's count of a workspace's active runs
//! reads the partial index of active runs, not the workspace's whole history.

use saasit_tests::{
    runs::{stored_queued_run, stored_workflow},
    spawn_app,
};
use serde_json::Value;

/// The index names in a JSON plan.
fn indexes(plan: &Value, out: &mut Vec<String>) {
    match plan {
        Value::Object(o) => {
            if let Some(Value::String(name)) = o.get("Index Name") {
                out.push(name.clone());
            }
            o.values().for_each(|v| indexes(v, out));
        }
        Value::Array(a) => a.iter().for_each(|v| indexes(v, out)),
        _ => {}
    }
}

#[tokio::test]
async fn the_claims_count_reads_the_active_runs_index() {
    let app = spawn_app().await;
    let (user, _) = app.user("plans@example.com").await;
    let workflow = stored_workflow(&app, user).await;
    for _ in 0..400 {
        stored_queued_run(&app, user, workflow).await;
    }
    let mut conn = app.state.db.acquire().await.expect("connection");
    // A long history, one run active.
    sqlx::query(
        "UPDATE executions SET status = 'completed', started_at = now(), finished_at = now()",
    )
    .execute(&mut *conn)
    .await
    .expect("history");
    sqlx::query("UPDATE executions SET status = 'running' WHERE id = (SELECT id FROM executions ORDER BY id DESC LIMIT 1)")
        .execute(&mut *conn)
        .await
        .expect("one active");
    sqlx::query("ANALYZE executions")
        .execute(&mut *conn)
        .await
        .expect("analyze");
    // Of the ways to read it by index, the planner's cheapest must be the one made for it.
    sqlx::query("SET enable_seqscan = off")
        .execute(&mut *conn)
        .await
        .expect("set");
    let plan: Value = sqlx::query_scalar(
        "EXPLAIN (FORMAT JSON) SELECT count(*) FROM executions WHERE workspace_id = $1 AND status IN ('dispatching', 'running')",
    )
    .bind(user)
    .fetch_one(&mut *conn)
    .await
    .expect("plan");
    let mut used = Vec::new();
    indexes(&plan, &mut used);
    assert_eq!(used, ["executions_workspace_active"], "{plan:#}");
    let active: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM executions WHERE workspace_id = $1 AND status IN ('dispatching', 'running')",
    )
    .bind(user)
    .fetch_one(&mut *conn)
    .await
    .expect("count");
    assert_eq!(active, 1);
}
