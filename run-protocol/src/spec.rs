//! What one run needs: the graph, inputs, and, when resuming, the outputs of
//! nodes that already succeeded. Read from a file (`executor run --spec`) or
//! fetched from the callback API (in a Job).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};
use serde_json::Value;
use workflow_graph::Graph;

/// An agent definition the spec carries for `agentId` references.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AgentDef {
    pub system_prompt: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub name: Option<String>,
}

/// Unknown fields are ignored: an executor of the previous version reads the
/// spec of the next (see the crate's compatibility rules).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSpec {
    #[serde(default)]
    pub execution_id: Option<String>,
    /// The workflow graph (a canvas state: nodes, edges, layout).
    #[serde(alias = "canvas")]
    pub graph: Graph,
    #[serde(default)]
    pub inputs: Value,
    /// Outputs of nodes that succeeded in an earlier run: they are not run again.
    #[serde(default)]
    pub prior_outputs: HashMap<String, Value>,
    /// Agents referenced by `agentId`, by id.
    #[serde(default)]
    pub agents: HashMap<String, AgentDef>,
    /// Values for `{{secrets.NAME}}`; never written to events or logs.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// Nodes running at once (default 8).
    #[serde(default)]
    pub max_concurrency: Option<usize>,
    /// The whole run's time limit (the tier's maximum runtime).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// Human description, ignored by the engine.
    #[serde(default)]
    pub description: Option<String>,
}
