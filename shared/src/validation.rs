//! The full validation of a stored graph: the pure graph checks plus the ones
//! the database answers (every agent node names an agent the workspace can
//! use; every `{{secrets.NAME}}` is a secret of the workspace).
//! Used when publishing, validating, publishing templates and starting runs.

use serde_json::Value;
use uuid::Uuid;

use crate::{
    db::{agents, secrets},
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
    // Time zones against the time zone database (the graph checks only their shape).
    for (i, n) in graph.nodes.iter().enumerate() {
        let Some(tz) = (n.kind == "trigger")
            .then(|| n.config.get("timezone").and_then(Value::as_str))
            .flatten()
        else {
            continue;
        };
        if tz.parse::<chrono_tz::Tz>().is_err() {
            report.push(Issue {
                severity: Severity::Error,
                code: IssueCode::InvalidConfig,
                message: format!(
                    "node {:?}: unknown time zone {tz:?} (an IANA name, e.g. Europe/Paris)",
                    n.id
                ),
                node_ids: vec![n.id.clone()],
                path: Some(format!("nodes[{i}].config.timezone")),
            });
        }
    }
    let refs = workflow::agent_references(&graph);
    if refs.is_empty() {
        return Ok(report);
    }
    let ids: Vec<Uuid> = refs.iter().filter_map(|(_, _, a)| a.parse().ok()).collect();
    let visible = agents::visible_ids(&mut *db, workspace_id, &ids).await?;
    for (i, node, agent) in refs {
        if !agent.parse().is_ok_and(|id: Uuid| visible.contains(&id)) {
            report.push(Issue {
                severity: Severity::Error,
                code: IssueCode::UnknownAgent,
                message: format!("node {node:?} uses agent {agent:?}, which does not exist or is not available in this workspace"),
                node_ids: vec![node.to_owned()],
                path: Some(format!("nodes[{i}].config.agentId")),
            });
        }
    }
    Ok(report)
}
