//! Presence on a workflow: who has it open (follows `workflow:{id}`). Every
//! follower gets the whole set whenever it changes: opening, closing,
//! disconnecting, being removed from the workspace.

use std::time::Duration;

use axum::http::Method;
use saasit_tests::{json, spawn_stack, ws, Req};
use serde_json::Value;
use shared::{access::Role, db::workspaces};
use uuid::Uuid;

const WAIT: Duration = Duration::from_secs(5);

/// The next `workflow:presence` frame's set, skipping other frames.
async fn presence(c: &mut ws::WsClient) -> Vec<Value> {
    loop {
        let f = c.next(WAIT).await.expect("a presence frame");
        if f["type"] == "workflow:presence" {
            return f["present"].as_array().expect("present").clone();
        }
    }
}

fn set(ids: &[Uuid]) -> Vec<Value> {
    let mut ids = ids.to_vec();
    ids.sort();
    ids.into_iter().map(|i| json!(i)).collect()
}

async fn open(c: &mut ws::WsClient, wf: &str) {
    c.send(&json!({"action": "subscribe", "topic": format!("workflow:{wf}")}))
        .await;
}

#[tokio::test]
async fn followers_of_a_workflow_see_who_has_it_open() {
    let s = spawn_stack().await;
    let app = &s.app;
    let (ann_id, ann) = app.user("ann@example.com").await;
    let (bob_id, bob) = app.user("bob@example.com").await;
    let ws_id = app.team(&ann, "Team").await;
    workspaces::add_member(&app.state.db, ws_id, bob_id, Role::Editor, Some(ann_id))
        .await
        .expect("member");
    let wf = app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&ann)
                .header("x-workspace-id", &ws_id.to_string())
                .json(&json!({"name": "shared"})),
        )
        .await
        .expect(201, None)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();

    let mut a = ws::connect(&s.base_url, Some(&ann)).await.expect("connect");
    open(&mut a, &wf).await;
    assert_eq!(presence(&mut a).await, set(&[ann_id]));

    // Bob opens it twice (two tabs): he is present once; both see both.
    let mut b1 = ws::connect(&s.base_url, Some(&bob)).await.expect("connect");
    open(&mut b1, &wf).await;
    assert_eq!(presence(&mut b1).await, set(&[ann_id, bob_id]));
    assert_eq!(presence(&mut a).await, set(&[ann_id, bob_id]));
    let mut b2 = ws::connect(&s.base_url, Some(&bob)).await.expect("connect");
    open(&mut b2, &wf).await;
    assert_eq!(presence(&mut b2).await, set(&[ann_id, bob_id]));
    assert_eq!(presence(&mut a).await, set(&[ann_id, bob_id]));

    // One tab closes (a disconnect): Bob is still there; the other closes the workflow.
    b1.close().await;
    assert_eq!(presence(&mut a).await, set(&[ann_id, bob_id]));
    b2.send(&json!({"action": "unsubscribe", "topic": format!("workflow:{wf}")}))
        .await;
    assert_eq!(presence(&mut a).await, set(&[ann_id]));

    // Bob opens it again, then is removed from the workspace: he is gone at once.
    open(&mut b2, &wf).await;
    assert_eq!(presence(&mut a).await, set(&[ann_id, bob_id]));
    app.send(
        Req::new(
            Method::DELETE,
            &format!("/api/v1/workspaces/{ws_id}/members/{bob_id}"),
        )
        .bearer(&ann),
    )
    .await
    .expect(204, None);
    assert_eq!(presence(&mut a).await, set(&[ann_id]));
}
