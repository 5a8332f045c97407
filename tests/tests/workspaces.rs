//! Teams: workspaces own everything; one place (`shared::access`) decides
//! every permission, and every route asks it. The matrix test drives every
//! workspace route of the OpenAPI document as each role and as a non-member.

use std::collections::BTreeMap;

use axum::http::Method;
use saasit_tests::{json, spawn_app, spawn_app_with, Req, TestApp};
use serde_json::Value;
use shared::{
    access::{Permission, Role},
    auth::api_key::Scope,
    db::{
        executions::{self, NewExecution},
        workspaces,
    },
    runs::trigger::TriggerType,
    tier::{Priority, Tier},
};
use uuid::Uuid;

fn canvas() -> Value {
    json!({
        "nodes": [{"id": "start", "type": "trigger"}, {"id": "hook", "type": "trigger", "config": {"kind": "webhook"}},
                  {"id": "out", "type": "output", "config": {"value": "done"}}],
        "edges": [{"from": "start", "to": "out"}, {"from": "hook", "to": "out"}]
    })
}

/// The local site the tools routes reach in the matrix.
static SITE: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// The permission each workspace route needs (the routes' extractors and
/// `require` calls say the same; this test checks they agree).
fn needs() -> BTreeMap<&'static str, Permission> {
    use Permission::*;
    BTreeMap::from([
        ("workflows_create", CreateWorkflows),
        ("workflows_list", ViewWorkflows),
        ("workflows_get", ViewWorkflows),
        ("workflows_update", EditWorkflows),
        ("workflows_replace", EditWorkflows),
        ("workflows_delete", DeleteWorkflows),
        ("workflows_restore", DeleteWorkflows),
        ("workflows_versions", ViewWorkflows),
        ("workflows_version", ViewWorkflows),
        ("workflows_restore_version", EditWorkflows),
        ("workflows_duplicate", CreateWorkflows),
        ("workflows_set_status", EditWorkflows),
        ("workflows_validate", ViewWorkflows),
        ("workflows_triggers", ViewWorkflows),
        ("schedules_list", ViewWorkflows),
        ("workflows_trigger_pause", EditWorkflows),
        ("workflows_trigger_resume", EditWorkflows),
        ("workflows_trigger_secret", EditWorkflows),
        ("templates_list", ViewWorkflows),
        ("templates_get", ViewWorkflows),
        ("templates_publish", CreateWorkflows),
        ("templates_delete", DeleteWorkflows),
        ("templates_instantiate", CreateWorkflows),
        ("agents_list", ViewWorkflows),
        ("agents_get", ViewWorkflows),
        ("agents_create", CreateWorkflows),
        ("agents_update", EditWorkflows),
        ("agents_replace", EditWorkflows),
        ("agents_delete", DeleteWorkflows),
        ("agents_test", ExecuteWorkflows),
        ("workflow_chat_send", EditWorkflows),
        ("workflow_chat_list", ViewWorkflows),
        ("workflow_chat_get", ViewWorkflows),
        ("workflow_chat_apply", EditWorkflows),
        ("workflow_chat_reject", EditWorkflows),
        ("executions_start", ExecuteWorkflows),
        ("tools_chat", ExecuteWorkflows),
        ("tools_web_search", ExecuteWorkflows),
        ("tools_web_read", ExecuteWorkflows),
        ("executions_execute_workflow", ExecuteWorkflows),
        ("executions_list", ViewRuns),
        ("executions_get", ViewRuns),
        ("executions_logs", ViewRuns),
        ("executions_nodes", ViewRuns),
        ("executions_artifacts", ViewRuns),
        ("executions_cancel", ExecuteWorkflows),
        ("executions_retry", ExecuteWorkflows),
        ("workspaces_get", ViewWorkflows),
        ("workspaces_members", ViewWorkflows),
        ("workspaces_rename", WorkspaceSettings),
        ("workspaces_change_role", ChangeRoles),
        ("workspaces_remove_member", RemoveMembers),
        ("workspaces_delete", DeleteWorkspace),
        ("workspaces_transfer", TransferOwnership),
        ("workspaces_invite", InviteMembers),
        ("workspaces_invitations", InviteMembers),
        ("workspaces_resend_invitation", InviteMembers),
        ("workspaces_revoke_invitation", InviteMembers),
        ("workspaces_activity", ViewWorkflows),
        ("analytics_overview", ViewAnalytics),
        ("analytics_workflow", ViewAnalytics),
        ("analytics_performance", ViewAnalytics),
        ("workspaces_files_list", ViewWorkflows),
        ("workspaces_files_get", ViewWorkflows),
        ("workspaces_files_create", EditWorkflows),
        ("workspaces_files_complete", EditWorkflows),
        ("workspaces_files_delete", EditWorkflows),
        ("analytics_costs", ViewAnalytics),
        ("analytics_usage", ViewAnalytics),
        ("workspaces_budget_get", ViewBilling),
        ("workspaces_budget_set", ManageBilling),
        ("workspaces_secrets_list", ViewWorkflows),
        ("workspaces_secrets_create", WorkspaceSettings),
        ("workspaces_secrets_replace", WorkspaceSettings),
        ("workspaces_secrets_delete", WorkspaceSettings),
        ("mcp_servers_list", ViewWorkflows),
        ("mcp_servers_get", ViewWorkflows),
        ("mcp_servers_tools", ViewWorkflows),
        ("mcp_servers_create", WorkspaceSettings),
        ("mcp_servers_update", WorkspaceSettings),
        ("mcp_servers_delete", WorkspaceSettings),
        ("mcp_servers_connect", WorkspaceSettings),
        ("mcp_servers_disconnect", WorkspaceSettings),
        ("billing_get", ViewBilling),
        ("billing_checkout", ManageBilling),
        ("billing_portal", ManageBilling),
        ("billing_invoices", ManageBilling),
    ])
}

/// An API key of the owner in `workspace` with these scopes.
async fn owner_key(app: &TestApp, token: &str, workspace: Uuid, scopes: &[&str]) -> String {
    app.send(
        Req::post("/api/v1/api-keys")
            .bearer(token)
            .header("x-workspace-id", &workspace.to_string())
            .json(&json!({"name": "matrix", "scopes": scopes})),
    )
    .await
    .expect(201, None)
    .body["secret"]
        .as_str()
        .expect("secret")
        .to_owned()
}

/// Everyone in the test: a user per role, one who stays out of the way (the
/// target of member routes), and an outsider.
struct People {
    owner: (Uuid, String),
    members: Vec<(Role, Uuid, String)>,
    bystander: Uuid,
    outsider: String,
}

async fn people(app: &TestApp) -> People {
    let owner = app.user("owner@example.com").await;
    let mut members = Vec::new();
    for role in [Role::Admin, Role::Editor, Role::Viewer] {
        let (id, token) = app.user(&format!("{}@example.com", role.as_str())).await;
        members.push((role, id, token));
    }
    let (bystander, _) = app.user("bystander@example.com").await;
    let (_, outsider) = app.user("outsider@example.com").await;
    People {
        owner,
        members,
        bystander,
        outsider,
    }
}

/// What a route acts on: a fresh team workspace on the SCALE plan with
/// everyone in it, a workflow, an agent, a published template, an ended run
/// and a secret.
struct Fixture {
    workspace: Uuid,
    workflow: String,
    agent: String,
    template: String,
    execution: Uuid,
    invitation: String,
    trigger: Uuid,
    file: Uuid,
    mcp_server: Uuid,
    /// A design-chat answer proposing a change to the workflow (a draft).
    chat_message: Uuid,
}

async fn fixture(app: &TestApp, p: &People) -> Fixture {
    let token = &p.owner.1;
    let ws = app
        .send(
            Req::post("/api/v1/workspaces")
                .bearer(token)
                .json(&json!({"name": "Team"})),
        )
        .await
        .expect(201, None);
    let workspace: Uuid = ws.body["id"].as_str().expect("id").parse().expect("uuid");
    assert_eq!(ws.body["role"], "owner");
    let db = &app.state.db;
    workspaces::set_tier(db, workspace, Tier::Scale)
        .await
        .expect("tier");
    for (role, id, _) in &p.members {
        assert!(
            workspaces::add_member(db, workspace, *id, *role, Some(p.owner.0))
                .await
                .expect("member")
        );
    }
    workspaces::add_member(db, workspace, p.bystander, Role::Editor, Some(p.owner.0))
        .await
        .expect("bystander");
    let h = workspace.to_string();
    let in_ws = |r: Req| r.bearer(token).header("x-workspace-id", &h);
    let workflow = app
        .send(
            in_ws(Req::post("/api/v1/workflows"))
                .json(&json!({"name": "shared", "canvas": canvas()})),
        )
        .await
        .expect(201, None)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let agent = app
        .send(in_ws(Req::post("/api/v1/agents")).json(&json!({
            "name": "helper", "displayName": "Helper", "systemPrompt": "You help."
        })))
        .await
        .expect(201, None)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let template = app
        .send(in_ws(Req::post("/api/v1/templates")).json(&json!({
            "workflowId": workflow, "category": "other"
        })))
        .await
        .expect(201, None)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    // An ended run, stored directly: the matrix is about who may act on it.
    let (run, _) = executions::insert(
        &mut db.acquire().await.expect("connection"),
        NewExecution {
            id: Uuid::now_v7(),
            workspace_id: workspace,
            started_by: Some(p.owner.0),
            workflow_id: workflow.parse().expect("uuid"),
            workflow_version: 1,
            tier: Tier::Scale,
            priority: Priority::High,
            graph: &canvas(),
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
    sqlx::query(
        "UPDATE executions SET status = 'completed', started_at = now(), finished_at = now() WHERE id = $1",
    )
    .bind(run.id)
    .execute(db)
    .await
    .expect("ended");
    let invitation = app
        .send(
            Req::post(&format!("/api/v1/workspaces/{workspace}/invitations"))
                .bearer(token)
                .json(&json!({"email": "pending@example.com", "role": "viewer"})),
        )
        .await
        .expect(201, None)
        .body["id"]
        .as_str()
        .expect("id")
        .to_owned();
    app.send(
        Req::post(&format!("/api/v1/workspaces/{workspace}/secrets"))
            .bearer(token)
            .json(&json!({"name": "FIXTURE_KEY", "value": "fixture value"})),
    )
    .await
    .expect(201, None);
    // The secret the documented MCP server example sends.
    app.send(
        Req::post(&format!("/api/v1/workspaces/{workspace}/secrets"))
            .bearer(token)
            .json(&json!({"name": "ORDERS_TOKEN", "value": "fixture token"})),
    )
    .await
    .expect(201, None);
    let trigger: Uuid =
        sqlx::query_scalar("SELECT id FROM workflow_triggers WHERE workflow_id = $1")
            .bind(workflow.parse::<Uuid>().expect("uuid"))
            .fetch_one(db)
            .await
            .expect("the webhook trigger");
    // A file, uploaded and confirmed (its bytes need not be there for the matrix).
    let file = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO workspace_files (id, workspace_id, name, content_type, size, blob_key, status, uploaded_at)
         VALUES ($1, $2, 'fixture.txt', 'text/plain', 4, 'files/fixture/' || $1::text, 'ready', now())",
    )
    .bind(file)
    .bind(workspace)
    .execute(db)
    .await
    .expect("a file");
    // An MCP server at a name that never resolves (a connect fails at once).
    let mcp_server = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO mcp_servers (id, workspace_id, name, url) VALUES ($1, $2, 'fixture', 'http://mcp.invalid/mcp')",
    )
    .bind(mcp_server)
    .bind(workspace)
    .execute(db)
    .await
    .expect("an MCP server");
    // A design-chat answer with a draft proposal, as the assistant stores it.
    let chat_message = Uuid::now_v7();
    sqlx::query("UPDATE workflows SET chat_history = $2 WHERE id = $1::uuid")
        .bind(&workflow)
        .bind(json!([{
            "id": chat_message, "role": "assistant", "content": "Renaming the output.",
            "createdAt": "2026-12-01T00:00:00Z", "status": "complete",
            "proposal": {"summary": "Renames the output.", "status": "draft", "baseVersion": 1,
                         "operations": [{"op": "configure_node", "id": "out", "name": "Result"}]}
        }]))
        .execute(db)
        .await
        .expect("a chat message");
    Fixture {
        chat_message,
        mcp_server,
        file,
        trigger,
        workspace,
        workflow,
        agent,
        template,
        execution: run.id,
        invitation,
    }
}

/// A request for a documented operation against a fixture: path parameters
/// filled in, its documented example as the body (naming the fixture's
/// workflow or the bystander), the workspace header where the route takes one.
fn request(doc: &Value, method: &str, path: &str, op: &Value, f: &Fixture, p: &People) -> Req {
    let id = if path.starts_with("/api/v1/workflows/") {
        f.workflow.clone()
    } else if path.starts_with("/api/v1/agents/") {
        f.agent.clone()
    } else if path.starts_with("/api/v1/templates/") {
        f.template.clone()
    } else if path.starts_with("/api/v1/executions/") {
        f.execution.to_string()
    } else if path.starts_with("/api/v1/mcp/servers/") {
        f.mcp_server.to_string()
    } else {
        f.workspace.to_string()
    };
    let url = path
        .replace("{id}", &id)
        .replace("{n}", "1")
        .replace("{version}", "1")
        .replace("{userId}", &p.bystander.to_string())
        .replace("{invitationId}", &f.invitation)
        .replace("{name}", "FIXTURE_KEY")
        .replace("{triggerId}", &f.trigger.to_string())
        .replace("{fileId}", &f.file.to_string())
        .replace("{workflowId}", &f.workflow)
        .replace("{messageId}", &f.chat_message.to_string());
    let mut req = Req::new(
        Method::from_bytes(method.to_uppercase().as_bytes()).expect("method"),
        &url,
    );
    let takes_header = op["parameters"]
        .as_array()
        .is_some_and(|ps| ps.iter().any(|p| p["name"] == "X-Workspace-Id"));
    if takes_header {
        req = req.header("x-workspace-id", &f.workspace.to_string());
    }
    if matches!(method, "patch" | "put") && path.starts_with("/api/v1/workflows/") {
        req = req.header("if-match", "\"1\"");
    }
    let mut schema = &op["requestBody"]["content"]["application/json"]["schema"];
    if let Some(name) = schema["$ref"]
        .as_str()
        .and_then(|r| r.strip_prefix("#/components/schemas/"))
    {
        schema = &doc["components"]["schemas"][name];
    }
    if let Some(schema) = schema.as_object() {
        let mut body = schema.get("example").cloned().unwrap_or_else(|| json!({}));
        if let Some(o) = body.as_object_mut() {
            if path == "/api/v1/tools/web/read" {
                o.insert(
                    "url".into(),
                    json!(format!("{}/page", SITE.get().expect("site"))),
                );
            }
            if o.contains_key("workflowId") {
                o.insert("workflowId".into(), json!(f.workflow));
            }
            if o.contains_key("userId") {
                o.insert("userId".into(), json!(p.bystander));
            }
            if o.contains_key("baseVersion") {
                o.insert("baseVersion".into(), json!(1));
            }
        }
        req = req.json(&body);
    }
    req
}

#[tokio::test]
async fn the_permission_matrix_holds_on_every_workspace_route() {
    // The tools routes read a page and search through a local site.
    let site = saasit_tests::serve(
        axum::Router::new()
            .route("/page", axum::routing::get(|| async { "a page" }))
            .route(
                "/search",
                axum::routing::get(|| async { axum::Json(json!({"results": []})) }),
            ),
    )
    .await;
    SITE.set(site.clone()).expect("once");
    let mut app = spawn_app_with(&[
        ("OUTBOUND_HTTP_ALLOW", "127.0.0.1"),
        ("WEB_SEARCH_PROVIDER", "searxng"),
        ("WEB_SEARCH_URL", &site),
    ])
    .await;
    // Billing routes reach Stripe: a local double.
    let _billed = saasit_tests::billing::with_billing(&mut app, |_| {}).await;
    let doc = app
        .send(Req::get("/api/v1/openapi.json"))
        .await
        .expect(200, None)
        .body;
    let p = people(&app).await;
    let needs = needs();
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("item") {
            let name = op["operationId"].as_str().expect("operationId");
            // Any member manages their own API keys (owners and admins
            // everyone's): api_keys.rs drives those routes.
            if name.starts_with("api_keys_") {
                continue;
            }
            let scoped = op["parameters"]
                .as_array()
                .is_some_and(|ps| ps.iter().any(|p| p["name"] == "X-Workspace-Id"))
                || path.starts_with("/api/v1/workspaces/{id}");
            if !scoped {
                assert!(
                    !needs.contains_key(name),
                    "{name} is not workspace-scoped in the document"
                );
                continue;
            }
            let need = *needs.get(name).unwrap_or_else(|| {
                panic!("{name} ({method} {path}) has no expected permission here")
            });
            assert!(
                op["responses"].get("404").is_some(),
                "{name} does not declare 404"
            );
            assert!(
                Role::Viewer.allows(need) || op["responses"].get("403").is_some(),
                "{name} does not declare 403"
            );
            // A non-member: not found, whatever the route.
            let f = fixture(&app, &p).await;
            let r = app
                .send(request(&doc, method, path, op, &f, &p).bearer(&p.outsider))
                .await;
            assert_eq!(r.status, 404, "{name} as a non-member: {}", r.text);
            // Each member role, on a fresh fixture (some routes delete what they act on).
            let mut roles: Vec<(Role, &str)> =
                p.members.iter().map(|(r, _, t)| (*r, t.as_str())).collect();
            roles.push((Role::Owner, &p.owner.1));
            for (role, token) in roles {
                let f = fixture(&app, &p).await;
                let r = app
                    .send(request(&doc, method, path, op, &f, &p).bearer(token))
                    .await;
                if role.allows(need) {
                    assert!(
                        r.status.is_success(),
                        "{name} as {role:?} is allowed ({need:?}) but answered {}: {}",
                        r.status,
                        r.text
                    );
                } else {
                    assert_eq!(
                        (r.status.as_u16(), r.code()),
                        (403, "FORBIDDEN"),
                        "{name} as {role:?} needs {need:?}: {}",
                        r.text
                    );
                    assert_eq!(r.body["error"]["details"]["role"], json!(role));
                }
            }
            // The owner's API keys: the route's scope is needed, and enough;
            // routes no scope opens need the person.
            let scope = Scope::for_permission(need);
            let session_only = scope.is_none() || path.starts_with("/api/v1/workspaces");
            let f = fixture(&app, &p).await;
            let others: Vec<&str> = Scope::ALL
                .iter()
                .filter(|s| Some(**s) != scope)
                .map(|s| s.as_str())
                .collect();
            let key = owner_key(&app, &p.owner.1, f.workspace, &others).await;
            let r = app
                .send(request(&doc, method, path, op, &f, &p).bearer(&key))
                .await;
            if session_only {
                assert_eq!(
                    (r.status.as_u16(), r.code()),
                    (403, "FORBIDDEN"),
                    "{name} with a key: {}",
                    r.text
                );
                assert_eq!(r.body["error"]["details"]["requires"], "session");
            } else {
                assert_eq!(
                    (r.status.as_u16(), r.code()),
                    (403, "INSUFFICIENT_SCOPE"),
                    "{name} with a key without its scope: {}",
                    r.text
                );
                assert_eq!(
                    r.body["error"]["details"]["missingScope"],
                    json!(scope),
                    "{name}"
                );
                let f = fixture(&app, &p).await;
                let only = [scope.map(|s| s.as_str()).unwrap_or_default()];
                let key = owner_key(&app, &p.owner.1, f.workspace, &only).await;
                let r = app
                    .send(request(&doc, method, path, op, &f, &p).bearer(&key))
                    .await;
                assert!(
                    r.status.is_success(),
                    "{name} with a key holding {only:?} answered {}: {}",
                    r.status,
                    r.text
                );
            }
            checked += 1;
        }
    }
    assert_eq!(checked, needs.len(), "every route in the table was driven");
}

#[tokio::test]
async fn members_share_a_workspace_and_a_removed_member_loses_access_at_once() {
    let app = spawn_app().await;
    let (owner_id, owner) = app.user("olga@example.com").await;
    let (editor_id, editor) = app.user("ed@example.com").await;
    // Everyone has a personal workspace with their own id, and owns it.
    let mine = app
        .send(Req::get("/api/v1/workspaces").bearer(&owner))
        .await
        .expect(200, None);
    assert_eq!(mine.body["items"][0]["id"], json!(owner_id));
    assert_eq!(mine.body["items"][0]["personal"], true);
    assert_eq!(mine.body["items"][0]["role"], "owner");

    let ws = app
        .send(
            Req::post("/api/v1/workspaces")
                .bearer(&owner)
                .json(&json!({"name": "Lab"})),
        )
        .await
        .expect(201, None);
    let id = ws.body["id"].as_str().expect("id").to_owned();
    let wid: Uuid = id.parse().expect("uuid");
    assert_eq!(ws.body["tier"], "FREE");
    assert_eq!(ws.body["seats"], 3);
    workspaces::add_member(&app.state.db, wid, editor_id, Role::Editor, Some(owner_id))
        .await
        .expect("member");

    // The editor works in the team workspace by naming it; their personal one stays theirs.
    let wf = app
        .send(
            Req::post("/api/v1/workflows")
                .bearer(&editor)
                .header("x-workspace-id", &id)
                .json(&json!({"name": "together", "canvas": canvas()})),
        )
        .await
        .expect(201, None);
    assert_eq!(wf.body["workspaceId"], id.as_str());
    assert_eq!(wf.body["createdBy"], json!(editor_id));
    let wf_id = wf.body["id"].as_str().expect("id").to_owned();
    app.send(Req::get(&format!("/api/v1/workflows/{wf_id}")).bearer(&editor))
        .await
        .expect(404, Some("NOT_FOUND"));
    let seen = app
        .send(
            Req::get("/api/v1/workflows")
                .bearer(&owner)
                .header("x-workspace-id", &id),
        )
        .await
        .expect(200, None);
    assert_eq!(seen.body["total"], 1);
    // A malformed workspace header is a validation error, an unknown one not found.
    app.send(
        Req::get("/api/v1/workflows")
            .bearer(&owner)
            .header("x-workspace-id", "nope"),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    app.send(
        Req::get("/api/v1/workflows")
            .bearer(&owner)
            .header("x-workspace-id", &Uuid::now_v7().to_string()),
    )
    .await
    .expect(404, Some("NOT_FOUND"));

    // Roles: the owner stays the owner; promotion and demotion are conditional.
    let members = app
        .send(Req::get(&format!("/api/v1/workspaces/{id}/members")).bearer(&editor))
        .await
        .expect(200, None);
    assert_eq!(members.body["items"][0]["role"], "owner");
    assert_eq!(members.body["items"][1]["role"], "editor");
    app.send(
        Req::patch(&format!("/api/v1/workspaces/{id}/members/{owner_id}"))
            .bearer(&owner)
            .json(&json!({"role": "viewer"})),
    )
    .await
    .expect(409, Some("CONFLICT"));
    app.send(
        Req::patch(&format!("/api/v1/workspaces/{id}/members/{editor_id}"))
            .bearer(&owner)
            .json(&json!({"role": "owner"})),
    )
    .await
    .expect(400, Some("VALIDATION_ERROR"));
    app.send(
        Req::new(
            Method::DELETE,
            &format!("/api/v1/workspaces/{id}/members/{owner_id}"),
        )
        .bearer(&owner),
    )
    .await
    .expect(409, Some("CONFLICT"));

    // Handing it to someone who is not a member conflicts with who the
    // members are (the workspace exists: not a 404).
    let r = app
        .send(
            Req::post(&format!("/api/v1/workspaces/{id}/transfer"))
                .bearer(&owner)
                .json(&json!({"userId": Uuid::now_v7()})),
        )
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(r.body["error"]["details"]["reason"], "not_member");
    // Ownership moves in one step; the old owner becomes an admin; still one owner.
    let t = app
        .send(
            Req::post(&format!("/api/v1/workspaces/{id}/transfer"))
                .bearer(&owner)
                .json(&json!({"userId": editor_id})),
        )
        .await
        .expect(200, None);
    assert_eq!(t.body["role"], "admin");
    let owners: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM workspace_members WHERE workspace_id = $1 AND role = 'owner'",
    )
    .bind(wid)
    .fetch_one(&app.state.db)
    .await
    .expect("count");
    assert_eq!(owners, 1);
    // The new owner removes the old one, whose access ends with the next request.
    app.send(
        Req::new(
            Method::DELETE,
            &format!("/api/v1/workspaces/{id}/members/{owner_id}"),
        )
        .bearer(&editor),
    )
    .await
    .expect(204, None);
    app.send(
        Req::get(&format!("/api/v1/workflows/{wf_id}"))
            .bearer(&owner)
            .header("x-workspace-id", &id),
    )
    .await
    .expect(404, Some("NOT_FOUND"));
    app.send(Req::get(&format!("/api/v1/workspaces/{id}")).bearer(&owner))
        .await
        .expect(404, Some("NOT_FOUND"));

    // A personal workspace cannot be deleted; a team one takes its content with it.
    app.send(Req::new(Method::DELETE, &format!("/api/v1/workspaces/{editor_id}")).bearer(&editor))
        .await
        .expect(409, Some("CONFLICT"));
    // A run that has not ended keeps its workspace: nothing alive is cut off.
    let run = sqlx::query_scalar::<_, Uuid>(
        "INSERT INTO executions (id, workspace_id, workflow_id, workflow_version, tier, priority, graph, deadline_at)
         VALUES ($1, $2, $3, 1, 'FREE', 'low', '{}', now() + interval '1 hour') RETURNING id",
    )
    .bind(Uuid::now_v7())
    .bind(wid)
    .bind(wf_id.parse::<Uuid>().expect("uuid"))
    .fetch_one(&app.state.db)
    .await
    .expect("queued run");
    let r = app
        .send(Req::new(Method::DELETE, &format!("/api/v1/workspaces/{id}")).bearer(&editor))
        .await
        .expect(409, Some("CONFLICT"));
    assert_eq!(r.body["error"]["details"]["reason"], "active_runs");
    sqlx::query("UPDATE executions SET status = 'cancelled', finished_at = now() WHERE id = $1")
        .bind(run)
        .execute(&app.state.db)
        .await
        .expect("ended");
    app.send(Req::new(Method::DELETE, &format!("/api/v1/workspaces/{id}")).bearer(&editor))
        .await
        .expect(204, None);
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM workflows WHERE workspace_id = $1")
        .bind(wid)
        .fetch_one(&app.state.db)
        .await
        .expect("count");
    assert_eq!(left, 0);
}

/// Data from before workspaces existed (one owner per row) lands in each
/// owner's personal workspace, and nothing is lost.
#[tokio::test]
async fn existing_single_user_data_moves_into_personal_workspaces() {
    use sqlx::{Connection, Executor, PgConnection};
    let app = spawn_app().await;
    // A second database, migrated only up to the migration before workspaces.
    let name = format!("pre_ws_{}", Uuid::now_v7().simple());
    let mut admin = PgConnection::connect(&app.database_url)
        .await
        .expect("connect");
    admin
        .execute(format!(r#"CREATE DATABASE "{name}""#).as_str())
        .await
        .expect("create");
    let url = match app.database_url.rsplit_once('/') {
        Some((base, _)) => format!("{base}/{name}"),
        None => panic!("database url"),
    };
    let mut db = PgConnection::connect(&url).await.expect("connect");
    let (before, after): (Vec<_>, Vec<_>) =
        shared::db::MIGRATOR.iter().partition(|m| m.version < 9);
    assert!(!after.is_empty());
    for m in before {
        db.execute(&*m.sql).await.expect("older migration");
    }
    let (a, b) = (Uuid::now_v7(), Uuid::now_v7());
    for (id, email, tier) in [(a, "a@example.com", "SCALE"), (b, "b@example.com", "FREE")] {
        sqlx::query("INSERT INTO users (id, email, name, password_hash, tier) VALUES ($1, $2, 'x', 'h', $3)")
            .bind(id)
            .bind(email)
            .bind(tier)
            .execute(&mut db)
            .await
            .expect("user");
    }
    let wf = Uuid::now_v7();
    sqlx::query("INSERT INTO workflows (id, owner_id, name) VALUES ($1, $2, 'old')")
        .bind(wf)
        .bind(a)
        .execute(&mut db)
        .await
        .expect("workflow");
    sqlx::query("INSERT INTO agents (id, owner_id, name, display_name, category, system_prompt) VALUES ($1, $2, 'mine', 'Mine', 'other', 'p')")
        .bind(Uuid::now_v7())
        .bind(b)
        .execute(&mut db)
        .await
        .expect("agent");
    sqlx::query("INSERT INTO usage_metrics (user_id, metric, period, count) VALUES ($1, 'workflows_created', date_trunc('month', now())::date, 2)")
        .bind(a)
        .execute(&mut db)
        .await
        .expect("usage");
    let run = Uuid::now_v7();
    sqlx::query("INSERT INTO executions (id, owner_id, workflow_id, workflow_version, tier, priority, graph, deadline_at, idempotency_key)
                 VALUES ($1, $2, $3, 1, 'SCALE', 'high', '{}', now(), 'k1')")
        .bind(run)
        .bind(a)
        .bind(wf)
        .execute(&mut db)
        .await
        .expect("execution");
    for m in after {
        db.execute(&*m.sql).await.expect("workspace migration");
    }
    // Each user owns a personal workspace with their id and their old tier.
    let spaces: Vec<(Uuid, Option<Uuid>, String)> =
        sqlx::query_as("SELECT id, personal_of, tier FROM workspaces ORDER BY tier")
            .fetch_all(&mut db)
            .await
            .expect("workspaces");
    assert_eq!(
        spaces,
        vec![(b, Some(b), "FREE".into()), (a, Some(a), "SCALE".into())]
    );
    let owners: Vec<(Uuid, Uuid, String)> = sqlx::query_as(
        "SELECT workspace_id, user_id, role FROM workspace_members ORDER BY role, user_id",
    )
    .fetch_all(&mut db)
    .await
    .expect("members");
    assert_eq!(owners.len(), 2);
    assert!(owners.iter().all(|(w, u, r)| w == u && r == "owner"));
    // Everything is still there, in its owner's workspace, made by its owner.
    let w: (Uuid, Option<Uuid>) =
        sqlx::query_as("SELECT workspace_id, created_by FROM workflows WHERE id = $1")
            .bind(wf)
            .fetch_one(&mut db)
            .await
            .expect("workflow");
    assert_eq!(w, (a, Some(a)));
    let e: (Uuid, Option<Uuid>, Option<String>) = sqlx::query_as(
        "SELECT workspace_id, started_by, idempotency_key FROM executions WHERE id = $1",
    )
    .bind(run)
    .fetch_one(&mut db)
    .await
    .expect("execution");
    assert_eq!(e, (a, Some(a), Some("k1".into())));
    let g: (Option<Uuid>, Option<Uuid>) =
        sqlx::query_as("SELECT workspace_id, created_by FROM agents WHERE name = 'mine'")
            .fetch_one(&mut db)
            .await
            .expect("agent");
    assert_eq!(g, (Some(b), Some(b)));
    let builtin: i64 = sqlx::query_scalar("SELECT count(*) FROM agents WHERE workspace_id IS NULL")
        .fetch_one(&mut db)
        .await
        .expect("builtin");
    assert!(builtin > 0, "the built-in catalogue has no workspace");
    let used: i64 = sqlx::query_scalar("SELECT count FROM usage_metrics WHERE workspace_id = $1")
        .bind(a)
        .fetch_one(&mut db)
        .await
        .expect("usage");
    assert_eq!(used, 2);
    drop(db);
    admin
        .execute(format!(r#"DROP DATABASE "{name}" WITH (FORCE)"#).as_str())
        .await
        .expect("drop");
}
