//! The full validation of a stored graph: the pure graph checks plus the ones
//! the database answers (every agent node names an agent the workspace can
//! use; every `{{secrets.NAME}}` is a secret of the workspace; every MCP
//! server an agent node's tools name is registered and not disconnected).
//! Used when publishing, validating, publishing templates and starting runs.

use std::collections::HashMap;

use serde_json::Value;
use uuid::Uuid;

use crate::{
    db::{agents, mcp_servers, secrets},
    workflow::{self, Graph, Issue, IssueCode, Severity, ValidationReport},
};

pub async fn full_report(
    db: &mut sqlx::PgConnection,
    workspace_id: Uuid,
    canvas: &Value,
) -> Result<ValidationReport, sqlx::Error> {
    let graph = Graph::from_canvas(canvas).unwrap_or_default();
    let mut report = workflow::report(&graph);
    let names: Vec<String> = workflow::secret_references(&graph).into_iter().collect();
    if !names.is_empty() {
        let have = secrets::existing(&mut *db, workspace_id, &names).await?;
        for name in names.iter().filter(|n| !have.contains(n)) {
            report.push(Issue {
                severity: Severity::Error,
                code: IssueCode::MissingSecret,
                message: format!("the workflow uses {{{{secrets.{name}}}}}, but the workspace has no secret named {name:?}: add it under the workspace's secrets"),
                node_ids: Vec::new(),
                path: None,
            });
        }
    }
    // Schedules: time zones against the time zone database (the graph checks
    // only their shape), and expressions EventBridge Scheduler can hold, so a
    // schedule that runs locally also runs on AWS.
    for (i, n) in graph.nodes.iter().enumerate() {
        if n.kind != "trigger" {
            continue;
        }
        let field = |k: &str| n.config.get(k).and_then(Value::as_str);
        let mut problem = |at: &str, message: String| {
            report.push(Issue {
                severity: Severity::Error,
                code: IssueCode::InvalidConfig,
                message: format!("node {:?}: {message}", n.id),
                node_ids: vec![n.id.clone()],
                path: Some(format!("nodes[{i}].config.{at}")),
            })
        };
        if let Some(tz) = field("timezone") {
            if tz.parse::<chrono_tz::Tz>().is_err() {
                problem(
                    "timezone",
                    format!("unknown time zone {tz:?} (an IANA name, e.g. Europe/Paris)"),
                );
                continue;
            }
        }
        if let (Some("schedule"), Some(cron)) = (field("kind"), field("cron")) {
            if let Ok(s) = crate::triggers::cron::Schedule::parse(cron, field("timezone")) {
                if let Err(why) = s.eventbridge() {
                    problem("cron", why);
                }
            }
        }
    }
    let refs = workflow::agent_references(&graph);
    let ids: Vec<Uuid> = refs.iter().filter_map(|(_, _, a)| a.parse().ok()).collect();
    let visible = if ids.is_empty() {
        Vec::new()
    } else {
        agents::find_visible_many(&mut *db, workspace_id, &ids).await?
    };
    for (i, node, agent) in refs {
        if !agent
            .parse()
            .is_ok_and(|id: Uuid| visible.iter().any(|a| a.id == id))
        {
            report.push(Issue {
                severity: Severity::Error,
                code: IssueCode::UnknownAgent,
                message: format!("node {node:?} uses agent {agent:?}, which does not exist or is not available in this workspace"),
                node_ids: vec![node.to_owned()],
                path: Some(format!("nodes[{i}].config.agentId")),
            });
        }
    }
    let agent_tools: HashMap<String, Vec<String>> = visible
        .into_iter()
        .map(|a| (a.id.to_string(), a.tools))
        .collect();
    let uses = crate::mcp::node_servers(&graph, &agent_tools);
    if uses.is_empty() {
        return Ok(report);
    }
    let mut names: Vec<String> = uses.iter().map(|(_, _, s)| s.clone()).collect();
    names.sort();
    names.dedup();
    let usable = mcp_servers::usable_names(&mut *db, workspace_id, &names).await?;
    for (i, node, server) in uses {
        if !usable.contains(&server) {
            report.push(Issue {
                severity: Severity::Error,
                code: IssueCode::UnknownMcpServer,
                message: format!("node {node:?} uses the tools of MCP server {server:?}, which the workspace has not registered or has disconnected: add or connect it under the workspace's MCP servers"),
                node_ids: vec![node],
                path: Some(format!("nodes[{i}].config.tools")),
            });
        }
    }
    Ok(report)
}
