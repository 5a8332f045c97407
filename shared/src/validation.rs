//! The full validation of a stored graph: the pure graph checks plus the one
//! the database answers (every agent node names an agent the workspace can use).
//! Used when publishing, validating, publishing templates and starting runs.

use serde_json::Value;
use uuid::Uuid;

use crate::{
    db::agents,
    workflow::{self, Graph, Issue, IssueCode, Severity, ValidationReport},
};

pub async fn full_report(
    db: &mut sqlx::PgConnection,
    workspace_id: Uuid,
    canvas: &Value,
) -> Result<ValidationReport, sqlx::Error> {
    let graph = Graph::from_canvas(canvas).unwrap_or_default();
    let mut report = workflow::report(&graph);
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
