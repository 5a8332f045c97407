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
    /// The tools the agent uses wherever it runs (a node may add more).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
}

/// Which provider's API a key is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LlmVendor {
    Anthropic,
    /// OpenAI, or any OpenAI-compatible API (`base_url`).
    OpenAi,
}

/// The workspace's own provider key, from its vault: agent nodes use it
/// instead of the platform's. Never written to events or logs.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LlmCredential {
    pub vendor: LlmVendor,
    pub api_key: String,
    #[serde(default)]
    pub base_url: Option<String>,
}

impl std::fmt::Debug for LlmCredential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LlmCredential")
            .field("vendor", &self.vendor)
            .field("api_key", &"[REDACTED]")
            .field("base_url", &self.base_url)
            .finish()
    }
}

fn yes() -> bool {
    true
}

/// Unknown fields are ignored: an executor of the previous version reads the
/// spec of the next (see the crate's compatibility rules).
#[derive(Debug, Clone, Serialize, Deserialize)]
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
    /// The workspace's MCP servers the agents name (`mcp:<name>`), by name;
    /// their header templates use `secrets` below.
    #[serde(default)]
    pub mcp_servers: BTreeMap<String, crate::mcp::McpServerDef>,
    /// Values for `{{secrets.NAME}}`; never written to events or logs.
    #[serde(default)]
    pub secrets: BTreeMap<String, String>,
    /// The workspace's own provider key, when it keeps one.
    #[serde(default)]
    pub llm: Option<LlmCredential>,
    /// Whether agent nodes may fall back to the platform's key (the
    /// workspace's plan says; `true` when an older API does not say).
    #[serde(default = "yes")]
    pub platform_llm: bool,
    /// Nodes running at once (default 8).
    #[serde(default)]
    pub max_concurrency: Option<usize>,
    /// The whole run's time limit (the tier's maximum runtime).
    #[serde(default)]
    pub timeout_seconds: Option<u64>,
    /// The LLM tokens (input and output) the run may still use: the
    /// workspace's per-run token budget less what the run used before it
    /// resumed. Past it the run ends `failed`, reason `budget_exceeded`.
    #[serde(default)]
    pub token_budget: Option<u64>,
    /// Human description, ignored by the engine.
    #[serde(default)]
    pub description: Option<String>,
}

impl Default for RunSpec {
    /// What a spec that says nothing means (as deserializing `{"graph": …}` does).
    fn default() -> Self {
        Self {
            execution_id: None,
            graph: Graph::default(),
            inputs: Value::Null,
            prior_outputs: HashMap::new(),
            agents: HashMap::new(),
            mcp_servers: BTreeMap::new(),
            secrets: BTreeMap::new(),
            llm: None,
            platform_llm: true,
            max_concurrency: None,
            timeout_seconds: None,
            token_budget: None,
            description: None,
        }
    }
}
