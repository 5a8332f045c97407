//! The workflow graph as it is stored and sent: nodes and edges, loosely typed
//! so that a draft with mistakes can still be saved and explained. Turning it
//! into typed nodes is the job of [`super::validate`].

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

/// A workflow graph: the part of the canvas state that runs. Other canvas
/// fields (node positions, viewport) are ignored here and kept by the caller.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Graph {
    #[serde(default)]
    pub nodes: Vec<RawNode>,
    #[serde(default)]
    pub edges: Vec<Edge>,
}

/// One node before validation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RawNode {
    /// Letters, digits and `_`, starting with a letter or `_`, so templates can
    /// refer to it as `{{id.output}}`.
    pub id: String,
    /// `trigger`, `agent`, `http`, `transform`, `condition`, `delay` or `output`.
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(default)]
    pub name: String,
    /// Per-type settings; see the node types.
    #[serde(default)]
    #[schema(value_type = Object)]
    pub config: Value,
    /// Timeout, retries and on-error behaviour.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub policy: Option<Value>,
}

/// A dependency: `to` runs after `from`. Edges leaving a `condition` node say
/// which branch they belong to (`"true"` or `"false"`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Edge {
    pub from: String,
    pub to: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

impl Graph {
    /// Reads the graph out of a canvas state (`{"nodes": […], "edges": […], …}`).
    pub fn from_canvas(canvas: &Value) -> Result<Self, serde_json::Error> {
        Self::deserialize(canvas)
    }

    /// Node ids of the agent nodes, for tier limits.
    pub fn agent_count(&self) -> usize {
        self.nodes.iter().filter(|n| n.kind == "agent").count()
    }
}
