//! Migrations once per deploy. `template.yaml` has a custom resource
//! (`Custom::Migrations`) whose properties change with every new build of
//! this function, so CloudFormation calls it on each deploy that could carry a
//! migration, before any other function is updated (they depend on it). It
//! applies the pending migrations as the schema's owner, grants the
//! functions' role its data rights (no DDL: [`shared::db::roles`]), and tells
//! CloudFormation: a failure is `FAILED` with the reason, which stops the
//! deploy and rolls it back. Deleting the stack leaves the database alone.
//!
//! CloudFormation waits up to an hour for the answer, so it is always sent:
//! the work is bounded by [`WORK_LIMIT`], well inside the function's timeout.

use std::{collections::HashMap, time::Duration};

use aws_lambda_events::event::cloudformation::{
    CloudFormationCustomResourceRequest as Request,
    CloudFormationCustomResourceResponse as Response,
    CloudFormationCustomResourceResponseStatus as Status,
};
use shared::db::roles::{grant_app_role, AppRole};
use sqlx::PgPool;

/// How long the migrations and grants may take before the deploy is told they failed.
pub const WORK_LIMIT: Duration = Duration::from_secs(600);

/// The one physical id: there is one schema, whatever the stack does.
pub const PHYSICAL_ID: &str = "saasit-database-migrations";

/// What the function works on.
pub struct Migrate {
    /// A pool connected as the schema's owner; `Err`: why the function cannot
    /// work (its settings, its secrets, the pool), which the deploy is told.
    pub pool: Result<PgPool, String>,
    /// The functions' role, when the deploy names one.
    pub app_role: Option<AppRole>,
    pub work_limit: Duration,
    pub http: reqwest::Client,
}

/// Applies the migrations and the grants; the applied version on success.
pub async fn apply(pool: &PgPool, app_role: Option<&AppRole>) -> anyhow::Result<i64> {
    shared::db::deploy_migrator()
        .run(pool)
        .await
        .map_err(|e| anyhow::anyhow!("migrations failed: {e}"))?;
    if let Some(role) = app_role {
        grant_app_role(pool, role)
            .await
            .map_err(|e| anyhow::anyhow!("granting the role {}: {e}", role.name))?;
    }
    let version: Option<i64> =
        sqlx::query_scalar("SELECT max(version) FROM _sqlx_migrations WHERE success")
            .fetch_one(pool)
            .await?;
    Ok(version.unwrap_or(0))
}

/// The answer to one request (not yet sent).
pub async fn answer(m: &Migrate, request: &Request) -> Response {
    let (request_id, stack_id, logical_id, work) = match request {
        Request::Create(r) => (&r.request_id, &r.stack_id, &r.logical_resource_id, true),
        Request::Update(r) => (&r.request_id, &r.stack_id, &r.logical_resource_id, true),
        Request::Delete(r) => (&r.request_id, &r.stack_id, &r.logical_resource_id, false),
        _ => unreachable!("the request types are Create, Update and Delete"),
    };
    let mut response = Response::default();
    response.physical_resource_id = PHYSICAL_ID.to_owned();
    response.request_id = request_id.clone();
    response.stack_id = stack_id.clone();
    response.logical_resource_id = logical_id.clone();
    if !work {
        // Deleting the stack (or replacing the resource) never drops data.
        response.status = Status::Success;
        return response;
    }
    let outcome = match &m.pool {
        Err(e) => Err(anyhow::anyhow!("the migration function cannot start: {e}")),
        Ok(pool) => {
            match tokio::time::timeout(m.work_limit, apply(pool, m.app_role.as_ref())).await {
                Ok(result) => result,
                Err(_) => Err(anyhow::anyhow!(
                    "the migrations did not finish within {} s (a lock held by another session?)",
                    m.work_limit.as_secs()
                )),
            }
        }
    };
    match outcome {
        Ok(version) => {
            tracing::info!(version, "migrations applied");
            response.status = Status::Success;
            response.data = HashMap::from([("Version".to_owned(), version.to_string())]);
        }
        Err(e) => {
            tracing::error!(error = %format!("{e:#}"), "migrations failed");
            response.status = Status::Failed;
            // CloudFormation shows the reason in the stack's events (it caps it at 4 KB).
            let reason: String = format!("{e:#}").chars().take(3000).collect();
            response.reason = Some(reason);
        }
    }
    response
}

/// Handles one request: answers CloudFormation at its presigned URL.
pub async fn handle(m: &Migrate, request: Request) -> anyhow::Result<()> {
    let response = answer(m, &request).await;
    let url = match &request {
        Request::Create(r) => &r.response_url,
        Request::Update(r) => &r.response_url,
        Request::Delete(r) => &r.response_url,
        _ => unreachable!("the request types are Create, Update and Delete"),
    };
    // The presigned URL is signed for no content type: send none.
    let body = serde_json::to_vec(&response)?;
    let mut last = None;
    for attempt in 0..5u32 {
        match m.http.put(url).body(body.clone()).send().await {
            Ok(r) if r.status().is_success() => return Ok(()),
            Ok(r) => last = Some(format!("{}", r.status())),
            Err(e) => last = Some(e.to_string()),
        }
        tokio::time::sleep(Duration::from_millis(200 * 2u64.pow(attempt))).await;
    }
    anyhow::bail!("cannot answer CloudFormation: {}", last.unwrap_or_default())
}
