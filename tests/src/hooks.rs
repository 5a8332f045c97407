//! Helpers of the trigger tests: a workflow's webhook, published, with a
//! signing secret, and requests signed for it.

use std::time::Duration;

use serde_json::{json, Value};
use shared::triggers::hook::sign;
use uuid::Uuid;

use crate::{Req, TestApp};

pub async fn publish(app: &TestApp, t: &str, wf: &str) {
    app.send(
        Req::patch(&format!("/api/v1/workflows/{wf}/status"))
            .bearer(t)
            .json(&json!({"status": "published"})),
    )
    .await
    .expect(200, None);
}

pub async fn triggers_of(app: &TestApp, t: &str, wf: &str) -> Vec<Value> {
    app.send(Req::get(&format!("/api/v1/workflows/{wf}/triggers")).bearer(t))
        .await
        .expect(200, None)
        .body["items"]
        .as_array()
        .expect("items")
        .clone()
}

pub async fn new_secret(app: &TestApp, t: &str, wf: &str, trigger: &str) -> String {
    let r = app
        .send(Req::post(&format!("/api/v1/workflows/{wf}/triggers/{trigger}/secret")).bearer(t))
        .await
        .expect(201, None);
    r.body["secret"].as_str().expect("secret").to_owned()
}

/// Waits for a queued webhook request's run to exist (the intake starts it).
pub async fn started(app: &TestApp, id: &str) {
    let id: Uuid = id.parse().expect("uuid");
    for _ in 0..300 {
        if shared::db::executions::get(&app.state.db, id)
            .await
            .expect("db")
            .is_some()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the queued webhook request never started run {id}");
}

pub fn signed(path: &str, secret: &str, body: &str, at: i64) -> Req {
    Req::post(path)
        .header("x-saasit-timestamp", &at.to_string())
        .header(
            "x-saasit-signature",
            &sign(secret.as_bytes(), at, body.as_bytes()),
        )
        .raw(Some("application/json"), body.to_owned())
}

/// A published workflow of a `tier` user whose webhook trigger has `config`
/// (its `kind` added), with a signing secret.
pub struct Hook {
    pub token: String,
    pub workflow: String,
    pub trigger: String,
    pub path: String,
    pub secret: String,
}

pub async fn published_hook(app: &TestApp, email: &str, tier: &str, mut config: Value) -> Hook {
    let token = app.register(email, "correct horse 9").await["accessToken"]
        .as_str()
        .expect("token")
        .to_owned();
    sqlx::query(
        "UPDATE workspaces SET tier = $1 WHERE id = (SELECT id FROM users WHERE email = $2)",
    )
    .bind(tier)
    .bind(email)
    .execute(&app.state.db)
    .await
    .expect("tier");
    config["kind"] = json!("webhook");
    let canvas = json!({
        "nodes": [
            {"id": "hook", "type": "trigger", "config": config},
            {"id": "out", "type": "output", "config": {"value": "{{ inputs.body }}"}}
        ],
        "edges": [{"from": "hook", "to": "out"}]
    });
    let workflow = app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&token)
                .json(&json!({"name": "hooked", "canvas": canvas})),
        )
        .await
        .expect(201, None)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    publish(app, &token, &workflow).await;
    let listed = triggers_of(app, &token, &workflow).await;
    let trigger = listed[0]["id"].as_str().expect("id").to_owned();
    let path = listed[0]["path"].as_str().expect("path").to_owned();
    let secret = new_secret(app, &token, &workflow, &trigger).await;
    Hook {
        token,
        workflow,
        trigger,
        path,
        secret,
    }
}
