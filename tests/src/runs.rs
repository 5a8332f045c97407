//! Helpers for tests that run workflows on the local stack: a paid user, a
//! workflow, a started run, waiting for a status, and the run's whole log.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::{proxy::CuttableProxy, Req, TestStack};

pub async fn paid_user(s: &TestStack, email: &str, tier: &str) -> String {
    let token = s.app.register(email, "correct horse 9").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    sqlx::query(
        "UPDATE workspaces SET tier = $1 WHERE id = (SELECT id FROM users WHERE email = $2)",
    )
    .bind(tier)
    .bind(email)
    .execute(&s.app.state.db)
    .await
    .expect("tier");
    token
}

pub async fn workflow(s: &TestStack, token: &str, canvas: Value) -> String {
    let r = s
        .app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(token)
                .json(&json!({"name": "run me", "canvas": canvas})),
        )
        .await
        .expect(201, None);
    r.body["id"].as_str().expect("id").to_owned()
}

pub async fn start(s: &TestStack, token: &str, wf: &str, inputs: Value) -> String {
    let r = s
        .app
        .send(
            Req::post("/api/v1/executions")
                .bearer(token)
                .json(&json!({"workflowId": wf, "inputs": inputs})),
        )
        .await
        .expect(202, None);
    r.body["id"].as_str().expect("id").to_owned()
}

/// Polls until the execution's status is one of `wanted`.
/// The terminal statuses' names, as the API answers them.
pub const TERMINAL: &[&str] = &["completed", "failed", "cancelled", "timed_out"];

#[test]
fn the_terminal_names_are_the_protocols() {
    let names: Vec<&str> = shared::protocol::ExecutionStatus::TERMINAL
        .iter()
        .map(|s| s.as_str())
        .collect();
    assert_eq!(names, TERMINAL);
}

pub async fn wait_for(
    s: &TestStack,
    token: &str,
    id: &str,
    wanted: &[&str],
    limit: Duration,
) -> Value {
    let started = Instant::now();
    loop {
        let e = s
            .app
            .send(Req::get(&format!("/api/v1/executions/{id}")).bearer(token))
            .await
            .expect(200, None)
            .body;
        if wanted.contains(&e["status"].as_str().unwrap_or_default()) {
            return e;
        }
        assert!(
            started.elapsed() < limit,
            "execution {id} still {} after {limit:?}: {e}",
            e["status"]
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

pub async fn all_events(s: &TestStack, token: &str, id: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = 0;
    loop {
        let page = s
            .app
            .send(
                Req::get(&format!(
                    "/api/v1/executions/{id}/logs?after={after}&limit=7"
                ))
                .bearer(token),
            )
            .await
            .expect(200, None)
            .body;
        let events = page["events"].as_array().expect("events").clone();
        if events.is_empty() {
            return out;
        }
        after = page["nextAfter"].as_i64().expect("nextAfter");
        out.extend(events);
    }
}

/// The local stack reaching Postgres through a proxy the test can cut.
pub async fn stack_with_cuttable_db(
    config: shared::runs::RunSettings,
) -> (TestStack, CuttableProxy) {
    let mut app = crate::spawn_app().await;
    let direct = url::Url::parse(&app.database_url).expect("url");
    let upstream = format!(
        "{}:{}",
        direct.host_str().expect("host"),
        direct.port().unwrap_or(5432)
    );
    let proxy = CuttableProxy::start(upstream).await;
    let mut via = direct.clone();
    via.set_host(Some("127.0.0.1")).expect("host");
    via.set_port(Some(proxy.addr.port())).expect("port");
    let name = format!("test_{}", uuid::Uuid::now_v7().simple());
    let key = crate::vault_key_file(&name);
    let outbox = std::env::temp_dir().join(format!("saasit-outbox-{}", &name[5..]));
    let (settings, secret) = crate::test_settings(
        via.as_str(),
        &[
            (
                "VAULT_MASTER_KEY_FILE",
                key.to_str().expect("utf-8 temp dir"),
            ),
            ("EMAIL_OUTBOX_DIR", outbox.to_str().expect("utf-8 temp dir")),
        ],
    );
    let pool = shared::db::pool(&settings.database).expect("pool");
    app.state = shared::AppState::new(settings, pool);
    app.jwt_secret = secret;
    app.router = local::app(app.state.clone());
    (crate::spawn_stack_with(app, config).await, proxy)
}

/// A trigger, a `seconds`-long delay, an output.
pub fn slow_canvas(seconds: u32) -> Value {
    json!({
        "nodes": [{"id": "start", "type": "trigger"}, {"id": "wait", "type": "delay", "config": {"seconds": seconds}},
                  {"id": "out", "type": "output", "config": {"value": "done"}}],
        "edges": [{"from": "start", "to": "wait"}, {"from": "wait", "to": "out"}]
    })
}

/// The execution's status, as the API answers it.
pub async fn status_of(s: &TestStack, token: &str, id: &str) -> String {
    s.app
        .send(Req::get(&format!("/api/v1/executions/{id}")).bearer(token))
        .await
        .expect(200, None)
        .body["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// A one-trigger workflow of `user`'s personal workspace, stored directly.
pub async fn stored_workflow(app: &crate::TestApp, user: uuid::Uuid) -> uuid::Uuid {
    sqlx::query_scalar(
        "INSERT INTO workflows (id, workspace_id, created_by, name, canvas) VALUES ($1, $2, $2, 'w', $3) RETURNING id",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(user)
    .bind(json!({"nodes": [{"id": "start", "type": "trigger"}], "edges": []}))
    .fetch_one(&app.state.db)
    .await
    .expect("workflow")
}

/// A queued PROFESSIONAL execution of that workflow, stored directly.
pub async fn stored_queued_run(
    app: &crate::TestApp,
    user: uuid::Uuid,
    workflow: uuid::Uuid,
) -> uuid::Uuid {
    use shared::{
        db::executions::{self, NewExecution},
        runs::trigger::TriggerType,
        tier::{Priority, Tier},
    };
    let canvas = json!({"nodes": [{"id": "start", "type": "trigger"}], "edges": []});
    let (stored, _) = executions::insert(
        &mut app.state.db.acquire().await.expect("connection"),
        NewExecution {
            id: uuid::Uuid::now_v7(),
            workspace_id: user,
            started_by: Some(user),
            workflow_id: workflow,
            workflow_version: 1,
            tier: Tier::Professional,
            priority: Priority::Standard,
            graph: &canvas,
            inputs: &json!({}),
            prior_outputs: &json!({}),
            idempotency_key: None,
            retry_of: None,
            trigger_type: TriggerType::Manual,
            trigger_data: &json!({}),
            queue_deadline: chrono::Utc::now() + chrono::Duration::hours(1),
        },
    )
    .await
    .expect("execution");
    stored.id
}

/// A running execution of `user`'s personal workspace, stored directly (for
/// tests of what a run's callbacks cost, with no executor).
pub async fn stored_running_run(app: &crate::TestApp, user: uuid::Uuid) -> uuid::Uuid {
    let workflow = stored_workflow(app, user).await;
    let id = stored_queued_run(app, user, workflow).await;
    sqlx::query("UPDATE executions SET status = 'running', started_at = now() WHERE id = $1")
        .bind(id)
        .execute(&app.state.db)
        .await
        .expect("running");
    id
}

/// No cluster: runs driven by hand (their callbacks alone) never launch,
/// and their jobs always look alive.
pub struct NoJobs;

impl shared::runs::JobLauncher for NoJobs {
    fn launch(
        &self,
        _: shared::runs::JobSpec,
    ) -> shared::future::BoxFuture<'_, anyhow::Result<shared::runs::Launch>> {
        Box::pin(async { anyhow::bail!("no cluster here") })
    }
    fn delete(&self, _: &str) -> shared::future::BoxFuture<'_, anyhow::Result<()>> {
        Box::pin(async { Ok(()) })
    }
    fn state(
        &self,
        _: &str,
    ) -> shared::future::BoxFuture<'_, anyhow::Result<shared::runs::JobState>> {
        Box::pin(async { Ok(shared::runs::JobState::Running) })
    }
}

/// The run lifecycle on `db` (e.g. a pool through a statement counter)
/// with local ports, no cluster, and the given tracker and publisher.
pub fn runs_on(
    app: &crate::TestApp,
    db: sqlx::PgPool,
    tracker: std::sync::Arc<dyn shared::runs::RunTracker>,
    publisher: std::sync::Arc<dyn shared::realtime::publish::Publisher>,
    settings: shared::runs::RunSettings,
) -> shared::runs::Runs {
    use shared::runs::local::{blobs::LocalBlobs, queue::LocalQueue};
    use std::sync::Arc;
    shared::runs::Runs::new(
        db,
        app.state.tokens.clone(),
        shared::runs::Ports {
            queue: Arc::new(LocalQueue::new()),
            launcher: Arc::new(NoJobs),
            tracker,
            blobs: Arc::new(LocalBlobs::new(
                std::env::temp_dir(),
                "http://127.0.0.1:9",
                b"k",
            )),
            publisher,
            vault: app.state.vault.clone(),
            schedules: Arc::new(shared::triggers::local::LocalSchedules::new()),
        },
        "http://127.0.0.1:9".into(),
        settings,
    )
}
