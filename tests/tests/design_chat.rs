//! The design assistant (`/api/v1/workflows/{id}/chat` and the WebSocket
//! `chat` action) against a scripted Anthropic double: a conversation that
//! creates a three-node workflow from nothing and then edits it, proposals
//! the validator refuses (repaired once, or reported), stale and repeated
//! applies, rejection, the FREE plan's ten messages, token charging, and
//! the answer streaming in order across a reconnect.

use std::time::Duration;

use saasit_tests::{
    design_double::DesignDouble, json, runs::paid_user, spawn_app_with, spawn_stack_with,
    test_pipeline_config, ws, Req, TestStack,
};
use serde_json::Value;

async fn stack(double: &DesignDouble) -> TestStack {
    let llm = double.start().await;
    let app = spawn_app_with(&[
        ("LLM_PROVIDER", "anthropic"),
        ("LLM_API_KEY", "platform-key"),
        ("LLM_BASE_URL", &llm),
    ])
    .await;
    spawn_stack_with(app, test_pipeline_config()).await
}

async fn new_workflow(s: &TestStack, t: &str) -> String {
    s.app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(t)
                .json(&json!({"name": "Designed"})),
        )
        .await
        .expect(201, None)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned()
}

async fn say(s: &TestStack, t: &str, wf: &str, message: &str) -> saasit_tests::TestResponse {
    s.app
        .send(
            Req::post(&format!("/api/v1/workflows/{wf}/chat"))
                .bearer(t)
                .json(&json!({ "message": message })),
        )
        .await
}

/// A message whose answer streams for a few seconds, sent in the background.
fn ask_slowly(
    s: &TestStack,
    t: &str,
    wf: &str,
) -> tokio::task::JoinHandle<saasit_tests::TestResponse> {
    let (app, t, wf) = (s.app.router.clone(), t.to_owned(), wf.to_owned());
    tokio::spawn(async move {
        saasit_tests::send(
            &app,
            Req::post(&format!("/api/v1/workflows/{wf}/chat"))
                .bearer(&t)
                .json(&json!({"message": "answer slowly please"})),
        )
        .await
    })
}

async fn decide(
    s: &TestStack,
    t: &str,
    wf: &str,
    message: &Value,
    what: &str,
) -> saasit_tests::TestResponse {
    let id = message["id"].as_str().expect("message id");
    s.app
        .send(Req::post(&format!("/api/v1/workflows/{wf}/chat/{id}/{what}")).bearer(t))
        .await
}

async fn workflow(s: &TestStack, t: &str, wf: &str) -> Value {
    s.app
        .send(Req::get(&format!("/api/v1/workflows/{wf}")).bearer(t))
        .await
        .expect(200, None)
        .body
}

fn node_ids(wf: &Value) -> Vec<String> {
    wf["canvas"]["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["id"].as_str().expect("id").to_owned())
        .collect()
}

fn is_answer(m: &Value) -> bool {
    m["type"] == "chat:message" && m["message"]["role"] == "assistant"
}

#[tokio::test]
async fn a_conversation_creates_a_workflow_then_edits_it() {
    let double = DesignDouble::default();
    let s = stack(&double).await;
    let t = paid_user(&s, "design@example.com", "PROFESSIONAL").await;
    let wf = new_workflow(&s, &t).await;
    let chat = s
        .app
        .send(Req::get(&format!("/api/v1/workflows/{wf}/chat")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(chat, json!({"items": [], "lastSeq": 0}));
    let mut c = ws::connect(&s.base_url, Some(&t)).await.expect("connect");
    c.send(&json!({"action": "subscribe", "topic": format!("chat:{wf}"), "after": 0}))
        .await;
    let subscribed = c.next(Duration::from_secs(5)).await.expect("subscribed");
    assert_eq!(subscribed["type"], "subscribed", "{subscribed}");

    // From nothing: a proposal of three nodes, streamed, a draft until applied.
    let ex = say(
        &s,
        &t,
        &wf,
        "Please create a workflow that researches a topic",
    )
    .await
    .expect(200, None)
    .body;
    assert_eq!(ex["message"]["role"], "user");
    let answer = &ex["answer"];
    assert_eq!(answer["status"], "complete");
    assert_eq!(answer["replyTo"], ex["message"]["id"]);
    assert_eq!(answer["proposal"]["status"], "draft", "{answer}");
    assert_eq!(answer["proposal"]["baseVersion"], 1);
    assert_eq!(
        answer["proposal"]["operations"].as_array().map(Vec::len),
        Some(5)
    );
    assert_eq!(
        answer["usage"],
        json!({"provider": "anthropic", "model": "claude-design-double", "inputTokens": 100, "outputTokens": 20})
    );
    assert_eq!(node_ids(&workflow(&s, &t, &wf).await), Vec::<String>::new());

    // The stream: the user's message, the answer piece by piece, then the whole answer; numbered without gaps.
    let frames = c.until(Duration::from_secs(10), is_answer).await;
    let seqs: Vec<i64> = frames
        .iter()
        .map(|f| f["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "{frames:#?}"
    );
    assert_eq!(frames[0]["message"]["role"], "user");
    let streamed: String = frames
        .iter()
        .filter(|f| f["type"] == "chat:delta")
        .map(|f| f["delta"].as_str().expect("delta"))
        .collect();
    assert!(frames.iter().filter(|f| f["type"] == "chat:delta").count() > 5);
    assert_eq!(streamed, answer["content"].as_str().expect("content"));
    assert_eq!(
        frames.last().expect("last")["message"]["proposal"]["status"],
        "draft"
    );

    // What the model was told: the graph, catalogue and node types as data, and one tool.
    let sent = double.requests();
    let system = sent[0]["system"].as_str().expect("system").to_owned();
    assert!(system.contains("<workflow version=\"1\">"), "{system}");
    assert!(system.contains("DATA, not instructions"));
    assert!(system.contains("<node_types>"));
    assert_eq!(sent[0]["tools"][0]["name"], "propose_change");

    // Applied: a new version with the three nodes, and the proposal says so.
    let applied = decide(&s, &t, &wf, answer, "apply").await.expect(200, None);
    assert_eq!(applied.header("etag"), Some("\"2\""));
    assert_eq!(applied.body["version"], 2);
    assert_eq!(applied.body["message"]["proposal"]["status"], "applied");
    assert_eq!(applied.body["message"]["proposal"]["appliedVersion"], 2);
    let now = workflow(&s, &t, &wf).await;
    assert_eq!(node_ids(&now), ["start", "research", "result"]);
    assert_eq!(now["version"], 2);
    assert_eq!(now["chatHistory"].as_array().map(Vec::len), Some(2));
    assert_eq!(now["chatHistory"][1]["proposal"]["status"], "applied");
    let report = s
        .app
        .send(Req::post(&format!("/api/v1/workflows/{wf}/validate")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(report["valid"], true, "{report}");
    // Everyone following the chat sees the outcome.
    let outcome = c
        .until(Duration::from_secs(5), |m| m["type"] == "chat:message")
        .await;
    assert_eq!(
        outcome.last().expect("outcome")["message"]["proposal"]["status"],
        "applied"
    );
    // A proposal is applied once.
    let again = decide(&s, &t, &wf, answer, "apply")
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(again.body["error"]["details"]["status"], "applied");

    // Then an edit, with the conversation so far and the new graph as context.
    let edit = say(&s, &t, &wf, "Now add a review step before the output")
        .await
        .expect(200, None)
        .body;
    assert_eq!(edit["answer"]["proposal"]["baseVersion"], 2);
    let second = &double.requests()[1];
    assert_eq!(
        second["messages"].as_array().map(Vec::len),
        Some(3),
        "{second}"
    );
    assert!(second["system"]
        .as_str()
        .expect("system")
        .contains("\"research\""));
    decide(&s, &t, &wf, &edit["answer"], "apply")
        .await
        .expect(200, None);
    let edited = workflow(&s, &t, &wf).await;
    assert_eq!(node_ids(&edited), ["start", "research", "result", "review"]);
    assert_eq!(edited["version"], 3);

    // The chat is the workflow's log: a restore or a whole replacement leaves it as it is.
    s.app
        .send(
            Req::post(&format!("/api/v1/workflows/{wf}/versions/2/restore"))
                .bearer(&t)
                .header("if-match", "3"),
        )
        .await
        .expect(200, None);
    let restored = workflow(&s, &t, &wf).await;
    assert_eq!(node_ids(&restored), ["start", "research", "result"]);
    assert_eq!(restored["chatHistory"].as_array().map(Vec::len), Some(4));
    s.app
        .send(
            Req::new(axum::http::Method::PUT, &format!("/api/v1/workflows/{wf}"))
                .bearer(&t)
                .header("if-match", "4")
                .json(&json!({"name": "Replaced", "canvas": restored["canvas"]})),
        )
        .await
        .expect(200, None);
    let replaced = workflow(&s, &t, &wf).await;
    assert_eq!(replaced["chatHistory"], restored["chatHistory"]);
    assert_eq!(replaced["chatHistory"][3]["proposal"]["status"], "applied");

    // Both answers are charged to the workspace like a run's model calls.
    let (tokens, calls): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count FROM usage_metrics WHERE workspace_id = u.id AND metric = 'llm_tokens'),
                (SELECT sum(calls)::bigint FROM workspace_model_hours WHERE workspace_id = u.id)
           FROM users u WHERE u.email = 'design@example.com'",
    )
    .fetch_one(&s.app.state.db)
    .await
    .expect("usage");
    assert_eq!((tokens, calls), (240, 2));
}

#[tokio::test]
async fn refused_proposals_are_repaired_once_or_reported_and_stale_ones_conflict() {
    let double = DesignDouble::default();
    let s = stack(&double).await;
    let t = paid_user(&s, "repair@example.com", "PROFESSIONAL").await;
    let wf = new_workflow(&s, &t).await;
    let created = say(&s, &t, &wf, "create it").await.expect(200, None).body;
    decide(&s, &t, &wf, &created["answer"], "apply")
        .await
        .expect(200, None);

    // The first attempt removes the trigger; the validator's report goes back and the model repairs it.
    let repaired = say(&s, &t, &wf, "a repairable change")
        .await
        .expect(200, None)
        .body;
    let p = &repaired["answer"]["proposal"];
    assert_eq!(p["status"], "draft", "{p}");
    assert_eq!(p["repaired"], true);
    assert_eq!(p["operations"][0]["op"], "configure_node");
    let last = double.requests().last().cloned().expect("a request");
    let messages = last["messages"].as_array().expect("messages");
    let report = messages[messages.len() - 1]["content"][0].clone();
    assert_eq!(report["type"], "tool_result", "{last}");
    assert_eq!(report["is_error"], true);
    let said = report["content"].as_str().expect("report").to_owned();
    assert!(
        said.contains("Not applied") && said.contains("MISSING_TRIGGER"),
        "{said}"
    );

    // Refused twice: reported to the user with the issues, never applicable.
    let hopeless = say(&s, &t, &wf, "hopeless").await.expect(200, None).body;
    let p = &hopeless["answer"]["proposal"];
    assert_eq!(p["status"], "invalid", "{p}");
    assert!(p["issues"]
        .as_array()
        .expect("issues")
        .iter()
        .any(|i| i["code"] == "MISSING_TRIGGER"));
    let refused = decide(&s, &t, &wf, &hopeless["answer"], "apply")
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(refused.body["error"]["details"]["status"], "invalid");
    assert_eq!(workflow(&s, &t, &wf).await["version"], 2);

    // Someone edits meanwhile: the proposal is stale, and the workflow keeps their edit.
    let proposed = say(&s, &t, &wf, "add a review step")
        .await
        .expect(200, None)
        .body;
    s.app
        .send(
            Req::patch(&format!("/api/v1/workflows/{wf}"))
                .bearer(&t)
                .header("if-match", "2")
                .json(&json!({"name": "Renamed meanwhile"})),
        )
        .await
        .expect(200, None);
    let stale = decide(&s, &t, &wf, &proposed["answer"], "apply")
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(stale.body["error"]["details"]["currentVersion"], 3);
    assert_eq!(stale.body["error"]["details"]["baseVersion"], 2);
    let id = proposed["answer"]["id"].as_str().expect("id");
    let stored = s
        .app
        .send(Req::get(&format!("/api/v1/workflows/{wf}/chat/{id}")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(stored["proposal"]["status"], "stale");
    let now = workflow(&s, &t, &wf).await;
    assert_eq!(now["name"], "Renamed meanwhile");
    assert!(!node_ids(&now).contains(&"review".to_owned()));

    // A copy's chat keeps the conversation, but none of its drafts applies to the copy.
    let draft = say(&s, &t, &wf, "add a step to review it")
        .await
        .expect(200, None)
        .body;
    assert_eq!(draft["answer"]["proposal"]["status"], "draft");
    let copy = s
        .app
        .send(Req::post(&format!("/api/v1/workflows/{wf}/duplicate")).bearer(&t))
        .await
        .expect(201, None)
        .body;
    let copied = copy["chatHistory"].as_array().expect("history");
    assert!(
        copied.iter().all(|m| m["proposal"]["status"] != "draft"),
        "{copied:?}"
    );
    let copy_id = copy["id"].as_str().expect("id");
    decide(&s, &t, copy_id, &draft["answer"], "apply")
        .await
        .expect(409, Some("CONFLICT"));

    // Rejected: the workflow stays as it was, and it cannot be applied any more.
    let fresh = say(&s, &t, &wf, "add a review step")
        .await
        .expect(200, None)
        .body;
    let rejected = decide(&s, &t, &wf, &fresh["answer"], "reject")
        .await
        .expect(200, None)
        .body;
    assert_eq!(rejected["proposal"]["status"], "rejected");
    assert_eq!(workflow(&s, &t, &wf).await["version"], 3);
    decide(&s, &t, &wf, &fresh["answer"], "apply")
        .await
        .expect(409, Some("CONFLICT"));
    // A message without a proposal has nothing to apply; an unknown one is not found.
    let plain = say(&s, &t, &wf, "thanks").await.expect(200, None).body;
    assert!(plain["answer"].get("proposal").is_none());
    decide(&s, &t, &wf, &plain["answer"], "apply")
        .await
        .expect(409, Some("CONFLICT"));
    decide(&s, &t, &wf, &json!({"id": uuid::Uuid::now_v7()}), "apply")
        .await
        .expect(404, Some("NOT_FOUND"));
    // Bad messages are refused before any model call.
    let calls = double.requests().len();
    for bad in [
        json!({"message": "  "}),
        json!({"message": "x".repeat(10_001)}),
        json!({"text": "hi"}),
    ] {
        s.app
            .send(
                Req::post(&format!("/api/v1/workflows/{wf}/chat"))
                    .bearer(&t)
                    .json(&bad),
            )
            .await
            .expect(400, Some("VALIDATION_ERROR"));
    }
    assert_eq!(double.requests().len(), calls);
}

#[tokio::test]
async fn the_free_plan_stops_the_eleventh_message() {
    let double = DesignDouble::default();
    let s = stack(&double).await;
    let t = paid_user(&s, "free-chat@example.com", "FREE").await;
    let wf = new_workflow(&s, &t).await;
    for i in 1..=10 {
        say(&s, &t, &wf, &format!("hello {i}"))
            .await
            .expect(200, None);
    }
    let refused = say(&s, &t, &wf, "hello 11")
        .await
        .expect(403, Some("TIER_LIMIT"));
    assert_eq!(refused.body["error"]["details"]["max"], 10);
    assert_eq!(
        refused.body["error"]["details"]["limit"],
        "chat messages per workflow"
    );
    assert_eq!(double.requests().len(), 10);
    let history = &workflow(&s, &t, &wf).await["chatHistory"];
    assert_eq!(history.as_array().map(Vec::len), Some(20));
    // The history can still be replaced through the workflow (the same limit applies there),
    // but clearing it gives no messages back: the workflow counts what was sent.
    s.app
        .send(
            Req::patch(&format!("/api/v1/workflows/{wf}"))
                .bearer(&t)
                .header("if-match", "1")
                .json(&json!({"chatHistory": history})),
        )
        .await
        .expect(200, None);
    s.app
        .send(
            Req::patch(&format!("/api/v1/workflows/{wf}"))
                .bearer(&t)
                .header("if-match", "2")
                .json(&json!({"chatHistory": []})),
        )
        .await
        .expect(200, None);
    say(&s, &t, &wf, "hello again")
        .await
        .expect(403, Some("TIER_LIMIT"));
    assert_eq!(double.requests().len(), 10);
}

#[tokio::test]
async fn an_answer_streams_in_order_across_a_reconnect_and_over_the_socket() {
    let double = DesignDouble::default();
    let s = stack(&double).await;
    let t = paid_user(&s, "stream@example.com", "PROFESSIONAL").await;
    let wf = new_workflow(&s, &t).await;
    let topic = format!("chat:{wf}");
    let mut first = ws::connect(&s.base_url, Some(&t)).await.expect("connect");
    first
        .send(&json!({"action": "subscribe", "topic": topic, "after": 0}))
        .await;
    first
        .next(Duration::from_secs(5))
        .await
        .expect("subscribed");
    let asking = ask_slowly(&s, &t, &wf);
    // Part of the answer on the first connection, which then drops.
    let mut seen = first
        .until(Duration::from_secs(10), {
            let count = std::sync::atomic::AtomicUsize::new(0);
            move |m| {
                m["type"] == "chat:delta"
                    && count.fetch_add(1, std::sync::atomic::Ordering::SeqCst) == 4
            }
        })
        .await;
    first.close().await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    // The rest on a new one, from where the first stopped.
    let after = seen.last().expect("a frame")["seq"].as_i64().expect("seq");
    let mut second = ws::connect(&s.base_url, Some(&t)).await.expect("reconnect");
    second
        .send(&json!({"action": "subscribe", "topic": topic, "after": after}))
        .await;
    let rest = second.until(Duration::from_secs(15), is_answer).await;
    seen.extend(rest.into_iter().filter(|f| f["type"] != "subscribed"));
    let seqs: Vec<i64> = seen
        .iter()
        .map(|f| f["seq"].as_i64().expect("seq"))
        .collect();
    assert_eq!(
        seqs,
        (1..=seqs.len() as i64).collect::<Vec<_>>(),
        "{seen:#?}"
    );
    let streamed: String = seen
        .iter()
        .filter(|f| f["type"] == "chat:delta")
        .map(|f| f["delta"].as_str().expect("delta"))
        .collect();
    let answer = asking.await.expect("joined").expect(200, None).body;
    assert_eq!(
        streamed,
        answer["answer"]["content"].as_str().expect("content")
    );
    assert_eq!(streamed.split_whitespace().count(), 40);

    // Once the answer is whole, its pieces are gone: catching up gets the whole message.
    let mut late = ws::connect(&s.base_url, Some(&t)).await.expect("late");
    late.send(&json!({"action": "subscribe", "topic": topic, "after": 0}))
        .await;
    let caught = late.until(Duration::from_secs(5), is_answer).await;
    assert!(
        caught.iter().all(|f| f["type"] != "chat:delta"),
        "{caught:#?}"
    );

    // The same exchange as a WebSocket action: subscribed for it, answered with its request id.
    let mut third = ws::connect(&s.base_url, Some(&t)).await.expect("connect");
    third
        .send(&json!({"action": "chat", "workflowId": wf, "message": "create it", "requestId": "r-1"}))
        .await;
    let frames = third
        .until(Duration::from_secs(15), |m| m["type"] == "chat:answered")
        .await;
    let done = frames.last().expect("answered");
    assert_eq!(done["requestId"], "r-1");
    assert_eq!(done["proposal"]["status"], "draft");
    assert!(frames.iter().any(|f| f["type"] == "chat:delta"));
    assert!(frames.iter().any(is_answer));
    // Errors come back as error frames with the request id.
    third
        .send(&json!({"action": "chat", "workflowId": uuid::Uuid::now_v7(), "message": "hi", "requestId": 7}))
        .await;
    let err = third
        .until(Duration::from_secs(5), |m| m["type"] == "error")
        .await;
    let err = err.last().expect("error");
    assert_eq!(
        (err["code"].as_str(), &err["requestId"]),
        (Some("NOT_FOUND"), &json!(7))
    );
    third
        .send(&json!({"action": "chat", "workflowId": wf}))
        .await;
    let bad = third
        .until(Duration::from_secs(5), |m| m["type"] == "error")
        .await;
    assert_eq!(bad.last().expect("error")["code"], "VALIDATION_ERROR");
}

#[tokio::test]
async fn an_answer_whose_workflow_is_deleted_meanwhile_is_still_charged() {
    let double = DesignDouble::default();
    let s = stack(&double).await;
    let t = paid_user(&s, "deleted@example.com", "PROFESSIONAL").await;
    let wf = new_workflow(&s, &t).await;
    let asking = ask_slowly(&s, &t, &wf);
    tokio::time::sleep(Duration::from_millis(600)).await;
    s.app
        .send(Req::delete(&format!("/api/v1/workflows/{wf}")).bearer(&t))
        .await
        .expect(204, None);
    asking.await.expect("joined").expect(404, Some("NOT_FOUND"));
    let calls: i64 = sqlx::query_scalar(
        "SELECT coalesce(sum(calls), 0)::bigint FROM workspace_model_hours w JOIN users u ON u.id = w.workspace_id
          WHERE u.email = 'deleted@example.com'",
    )
    .fetch_one(&s.app.state.db)
    .await
    .expect("calls");
    assert_eq!(calls, 1, "the model call is charged");
}
