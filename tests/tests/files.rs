//! A workspace's files through the local stack: registered, uploaded
//! straight to the blob store, confirmed, listed, downloaded and deleted;
//! held to the plan's types, sizes and quota (also when more bytes arrive
//! than were declared); abandoned uploads forgotten by the sweeper; and
//! read by an agent's `read_file` tool in a run.

use std::time::Duration;

use saasit_tests::{
    json,
    runs::{all_events, paid_user, start, wait_for, workflow, TERMINAL},
    spawn_stack, Req, TestStack,
};
use serde_json::Value;

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

async fn register(s: &TestStack, t: &str, ws: &str, body: Value) -> saasit_tests::TestResponse {
    s.app
        .send(
            Req::post(&format!("/api/v1/workspaces/{ws}/files"))
                .bearer(t)
                .json(&body),
        )
        .await
}

async fn put(upload: &Value, bytes: Vec<u8>) -> u16 {
    let mut req = reqwest::Client::new().put(upload["uploadUrl"].as_str().expect("url"));
    for (k, v) in upload["uploadHeaders"].as_object().expect("headers") {
        req = req.header(k.as_str(), v.as_str().expect("value"));
    }
    req.body(bytes).send().await.expect("PUT").status().as_u16()
}

#[tokio::test]
async fn a_file_is_registered_uploaded_confirmed_listed_downloaded_and_deleted() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "files@example.com", "STARTER").await;
    let ws = workspace_of(&s, &t).await;
    let up = register(
        &s,
        &t,
        &ws,
        json!({"name": "brief.txt", "contentType": "text/plain", "size": 11}),
    )
    .await
    .expect(201, None)
    .body;
    assert_eq!(up["file"]["status"], "pending");
    assert_eq!(up["uploadHeaders"]["content-type"], "text/plain");
    let id = up["file"]["id"].as_str().expect("id").to_owned();
    let path = format!("/api/v1/workspaces/{ws}/files/{id}");
    // Pending: no download yet, and nothing to confirm before the bytes are there.
    let pending = s
        .app
        .send(Req::get(&path).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(pending["downloadUrl"], Value::Null);
    let early = s
        .app
        .send(Req::post(&format!("{path}/complete")).bearer(&t))
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(early.body["error"]["details"]["reason"], "not_uploaded");

    assert!((200..300).contains(&put(&up, b"hello files".to_vec()).await));
    let ready = s
        .app
        .send(Req::post(&format!("{path}/complete")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(ready["status"], "ready");
    assert_eq!(ready["size"], 11);
    // Confirming again answers it as it is.
    s.app
        .send(Req::post(&format!("{path}/complete")).bearer(&t))
        .await
        .expect(200, None);
    let got = s
        .app
        .send(Req::get(&path).bearer(&t))
        .await
        .expect(200, None)
        .body;
    let body = reqwest::get(got["downloadUrl"].as_str().expect("download url"))
        .await
        .expect("GET")
        .text()
        .await
        .expect("text");
    assert_eq!(body, "hello files");
    let list = s
        .app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/files")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(list["items"].as_array().map(Vec::len), Some(1));
    assert_eq!(list["usedBytes"], 11);
    assert_eq!(list["quotaBytes"], 1_i64 << 30);
    let activity = s
        .app
        .send(
            Req::get(&format!(
                "/api/v1/workspaces/{ws}/activity?action=file.uploaded"
            ))
            .bearer(&t),
        )
        .await
        .expect(200, None)
        .body;
    assert_eq!(
        activity["items"][0]["details"]["name"], "brief.txt",
        "{activity}"
    );

    s.app
        .send(Req::delete(&path).bearer(&t))
        .await
        .expect(204, None);
    s.app
        .send(Req::get(&path).bearer(&t))
        .await
        .expect(404, Some("NOT_FOUND"));
    let gone = reqwest::get(got["downloadUrl"].as_str().expect("url"))
        .await
        .expect("GET");
    assert_eq!(gone.status().as_u16(), 404, "the bytes went too");
    // Another workspace's member sees none of it.
    let other = paid_user(&s, "files-other@example.com", "STARTER").await;
    s.app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/files")).bearer(&other))
        .await
        .expect(404, Some("NOT_FOUND"));
}

#[tokio::test]
async fn uploads_are_held_to_the_plans_types_sizes_and_quota() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "files-free@example.com", "FREE").await;
    let ws = workspace_of(&s, &t).await;
    const MIB: i64 = 1 << 20;
    // Types: no archives on FREE.
    let zip = register(
        &s,
        &t,
        &ws,
        json!({"name": "a.zip", "contentType": "application/zip", "size": 10}),
    )
    .await
    .expect(403, Some("TIER_LIMIT"));
    assert_eq!(zip.body["error"]["details"]["limit"], "file types");
    assert!(zip.body["error"]["details"]["allowed"]
        .to_string()
        .contains("application/pdf"));
    // Size: at most 5 MiB a file.
    let big = register(
        &s,
        &t,
        &ws,
        json!({"name": "big.pdf", "contentType": "application/pdf", "size": 5 * MIB + 1}),
    )
    .await
    .expect(403, Some("TIER_LIMIT"));
    assert_eq!(big.body["error"]["details"]["max"], 5 * MIB);
    // Bad input is 400 and registers nothing.
    for bad in [
        json!({"name": "../etc/passwd", "contentType": "text/plain", "size": 1}),
        json!({"name": ".hidden", "contentType": "text/plain", "size": 1}),
        json!({"name": "a.txt", "contentType": "text/plain", "size": -1}),
        json!({"name": "a.txt", "contentType": "", "size": 1}),
        json!({"name": "a.txt", "contentType": "text/plain", "size": 1, "extra": true}),
    ] {
        register(&s, &t, &ws, bad)
            .await
            .expect(400, Some("VALIDATION_ERROR"));
    }
    // Quota: 50 MiB in all, pending uploads counted.
    for i in 0..10 {
        register(
            &s,
            &t,
            &ws,
            json!({"name": format!("p{i}.pdf"), "contentType": "application/pdf", "size": 5 * MIB}),
        )
        .await
        .expect(201, None);
    }
    let full = register(
        &s,
        &t,
        &ws,
        json!({"name": "one-more.txt", "contentType": "text/plain", "size": 1}),
    )
    .await
    .expect(403, Some("TIER_LIMIT"));
    assert_eq!(full.body["error"]["details"]["limit"], "file storage");
    assert_eq!(full.body["error"]["details"]["used"], 50 * MIB);

    // More bytes than declared, past the plan's largest file: refused at
    // confirmation, and neither the bytes nor the registration are kept.
    let t2 = paid_user(&s, "files-liar@example.com", "FREE").await;
    let ws2 = workspace_of(&s, &t2).await;
    let up = register(
        &s,
        &t2,
        &ws2,
        json!({"name": "small.txt", "contentType": "text/plain", "size": 10}),
    )
    .await
    .expect(201, None)
    .body;
    assert!((200..300).contains(&put(&up, vec![b'x'; (6 * MIB) as usize]).await));
    let path = format!(
        "/api/v1/workspaces/{ws2}/files/{}",
        up["file"]["id"].as_str().expect("id")
    );
    let refused = s
        .app
        .send(Req::post(&format!("{path}/complete")).bearer(&t2))
        .await
        .expect(403, Some("TIER_LIMIT"));
    assert_eq!(refused.body["error"]["details"]["stored"], 6 * MIB);
    s.app
        .send(Req::get(&path).bearer(&t2))
        .await
        .expect(404, Some("NOT_FOUND"));
    let used: i64 =
        sqlx::query_scalar("SELECT count(*) FROM workspace_files WHERE workspace_id = $1::uuid")
            .bind(&ws2)
            .fetch_one(&s.app.state.db)
            .await
            .expect("count");
    assert_eq!(used, 0);
    let key = up["uploadUrl"]
        .as_str()
        .expect("url")
        .split("/local-blobs/")
        .nth(1)
        .expect("key");
    let key = key.split('?').next().expect("key");
    assert!(!s.blob_dir.join(key).exists(), "the bytes were deleted");
}

#[tokio::test]
async fn an_upload_never_completed_is_forgotten_after_a_day() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "files-late@example.com", "STARTER").await;
    let ws = workspace_of(&s, &t).await;
    let up = register(
        &s,
        &t,
        &ws,
        json!({"name": "late.csv", "contentType": "text/csv", "size": 3}),
    )
    .await
    .expect(201, None)
    .body;
    assert!((200..300).contains(&put(&up, b"a,b".to_vec()).await));
    let fresh = s.runs.sweep().await.expect("sweep");
    assert_eq!(fresh.abandoned_uploads, 0, "a fresh upload stays");
    sqlx::query("UPDATE workspace_files SET created_at = now() - interval '25 hours' WHERE workspace_id = $1::uuid")
        .bind(&ws)
        .execute(&s.app.state.db)
        .await
        .expect("age it");
    let swept = s.runs.sweep().await.expect("sweep");
    assert_eq!(swept.abandoned_uploads, 1);
    let list = s
        .app
        .send(Req::get(&format!("/api/v1/workspaces/{ws}/files")).bearer(&t))
        .await
        .expect(200, None)
        .body;
    assert_eq!(list["items"], json!([]));
    assert_eq!(list["usedBytes"], 0);
}

/// Registers, uploads and confirms a file; its id.
async fn uploaded(
    s: &TestStack,
    t: &str,
    ws: &str,
    name: &str,
    content_type: &str,
    bytes: &[u8],
) -> String {
    let up = register(
        s,
        t,
        ws,
        json!({"name": name, "contentType": content_type, "size": bytes.len()}),
    )
    .await
    .expect(201, None)
    .body;
    assert!((200..300).contains(&put(&up, bytes.to_vec()).await));
    let id = up["file"]["id"].as_str().expect("id").to_owned();
    s.app
        .send(Req::post(&format!("/api/v1/workspaces/{ws}/files/{id}/complete")).bearer(t))
        .await
        .expect(200, None);
    id
}

#[tokio::test]
async fn an_agent_reads_the_workspaces_files_with_its_read_file_tool() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "files-agent@example.com", "STARTER").await;
    let ws = workspace_of(&s, &t).await;
    uploaded(
        &s,
        &t,
        &ws,
        "notes.md",
        "text/markdown",
        b"# Plan\nThe launch is on Tuesday.",
    )
    .await;
    let pdf = uploaded(&s, &t, &ws, "scan.pdf", "application/pdf", b"%PDF-1.7").await;
    let wf = workflow(
        &s,
        &t,
        json!({
            "nodes": [{"id": "start", "type": "trigger"},
                      {"id": "ask", "type": "agent", "config": {
                          "systemPrompt": "Answer from the files.", "prompt": "{{ inputs.question }}",
                          "tools": ["read_file"]}},
                      {"id": "out", "type": "output"}],
            "edges": [{"from": "start", "to": "ask"}, {"from": "ask", "to": "out"}]
        }),
    )
    .await;
    // Another workspace's file is not this run's to read, even by id.
    let other = paid_user(&s, "files-agent-other@example.com", "STARTER").await;
    let other_ws = workspace_of(&s, &other).await;
    let foreign = uploaded(
        &s,
        &other,
        &other_ws,
        "secret.txt",
        "text/plain",
        b"not yours",
    )
    .await;
    // The dev provider asks read_file for the first file the prompt names.
    for (question, want, error) in [
        (&*format!("Read {foreign} please"), "no uploaded file", true),
        (
            "When is the launch? See notes.md",
            "The launch is on Tuesday.",
            false,
        ),
        (
            "What does missing.txt say?",
            "no uploaded file \"missing.txt\"",
            true,
        ),
        (&*format!("Read {pdf} please"), "not text", true),
    ] {
        let id = start(&s, &t, &wf, json!({"question": question})).await;
        let run = wait_for(&s, &t, &id, TERMINAL, Duration::from_secs(30)).await;
        assert_eq!(run["status"], "completed", "{question}: {run}");
        let events = all_events(&s, &t, &id).await;
        let result = events
            .iter()
            .find(|e| e["type"] == "tool_result")
            .unwrap_or_else(|| panic!("{question}: no tool result in {events:?}"));
        assert_eq!(result["tool"], "read_file");
        assert_eq!(result["error"], error, "{question}: {result}");
        let output = result["output"].as_str().expect("text");
        assert!(output.contains(want), "{question}: {output}");
    }
}

#[tokio::test]
async fn a_file_is_a_run_input() {
    let s = spawn_stack().await;
    let t = paid_user(&s, "files-input@example.com", "STARTER").await;
    let ws = workspace_of(&s, &t).await;
    let id = uploaded(
        &s,
        &t,
        &ws,
        "brief.md",
        "text/markdown",
        b"Ship it on Friday.",
    )
    .await;
    let wf = workflow(
        &s,
        &t,
        json!({
            "nodes": [{"id": "start", "type": "trigger"},
                      {"id": "ask", "type": "agent", "config": {
                          "systemPrompt": "Answer from the brief.",
                          "prompt": "The brief is {{ inputs.brief.name }}: read {{ inputs.brief.fileId }}",
                          "tools": ["read_file"]}},
                      {"id": "out", "type": "output"}],
            "edges": [{"from": "start", "to": "ask"}, {"from": "ask", "to": "out"}]
        }),
    )
    .await;
    // By name (or id): the run's inputs hold the file's description.
    let run_id = start(&s, &t, &wf, json!({"brief": {"$file": "brief.md"}})).await;
    let run = wait_for(&s, &t, &run_id, TERMINAL, Duration::from_secs(30)).await;
    assert_eq!(run["status"], "completed", "{run}");
    assert_eq!(run["inputs"]["brief"]["fileId"], id.as_str());
    assert_eq!(run["inputs"]["brief"]["contentType"], "text/markdown");
    let events = all_events(&s, &t, &run_id).await;
    let result = events
        .iter()
        .find(|e| e["type"] == "tool_result")
        .unwrap_or_else(|| panic!("no tool result in {events:?}"));
    assert!(
        result["output"]
            .as_str()
            .expect("text")
            .contains("Ship it on Friday."),
        "{result}"
    );
    // A file that is not there, or a malformed reference: refused, naming the input.
    for bad in [
        json!({"brief": {"$file": "missing.md"}}),
        json!({"brief": {"$file": "brief.md", "extra": true}}),
        json!({"brief": {"$file": 7}}),
    ] {
        let r = s
            .app
            .send(
                Req::post("/api/v1/executions")
                    .bearer(&t)
                    .json(&json!({"workflowId": wf, "inputs": bad})),
            )
            .await
            .expect(400, Some("VALIDATION_ERROR"));
        assert!(r.body.to_string().contains("inputs.brief"), "{}", r.body);
    }
}
