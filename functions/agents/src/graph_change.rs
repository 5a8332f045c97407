//! A change the design assistant proposes to a workflow's graph: typed
//! operations (add, remove, connect, disconnect, configure nodes), the JSON
//! Schema the model fills in, and how a change is applied to a canvas
//! (keeping its layout). Whether the result is a valid graph is the graph
//! validator's business; here only whether each operation can be applied.

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use utoipa::ToSchema;

/// The most operations one proposal may hold.
pub const MAX_OPERATIONS: usize = 200;

/// One edit of the graph.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
pub enum Operation {
    /// Adds a node (`id` new in the graph).
    AddNode {
        id: String,
        /// `trigger`, `agent`, `http`, `transform`, `condition`, `delay` or `output`.
        #[serde(rename = "type")]
        kind: String,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        #[schema(value_type = Option<Object>)]
        config: Option<Value>,
        #[serde(default)]
        #[schema(value_type = Option<Object>)]
        policy: Option<Value>,
    },
    /// Removes a node and every edge that touches it.
    RemoveNode { id: String },
    /// Changes a node: its name, and its config as a JSON merge patch (a
    /// field set to null is removed).
    ConfigureNode {
        id: String,
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        #[schema(value_type = Option<Object>)]
        config: Option<Value>,
        #[serde(default)]
        #[schema(value_type = Option<Object>)]
        policy: Option<Value>,
    },
    /// Adds an edge: `to` runs after `from` (`condition`: `"true"` or
    /// `"false"` for an edge leaving a condition node).
    Connect {
        from: String,
        to: String,
        #[serde(default)]
        condition: Option<String>,
    },
    /// Removes the edge from `from` to `to`.
    Disconnect { from: String, to: String },
}

/// A proposed change: what it does in a sentence, and its operations in order.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GraphChange {
    pub summary: String,
    pub operations: Vec<Operation>,
}

/// The JSON Schema of the `propose_change` tool's input.
pub fn input_schema() -> Value {
    let node_types = json!([
        "trigger",
        "agent",
        "http",
        "transform",
        "condition",
        "delay",
        "output"
    ]);
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["summary", "operations"],
        "properties": {
            "summary": {"type": "string", "description": "What the change does, in one sentence."},
            "operations": {
                "type": "array", "minItems": 1, "maxItems": MAX_OPERATIONS,
                "items": {"oneOf": [
                    {"type": "object", "additionalProperties": false, "required": ["op", "id", "type"],
                     "properties": {"op": {"const": "add_node"}, "id": {"type": "string"},
                                    "type": {"enum": node_types}, "name": {"type": "string"},
                                    "config": {"type": "object"}, "policy": {"type": "object"}}},
                    {"type": "object", "additionalProperties": false, "required": ["op", "id"],
                     "properties": {"op": {"const": "remove_node"}, "id": {"type": "string"}}},
                    {"type": "object", "additionalProperties": false, "required": ["op", "id"],
                     "properties": {"op": {"const": "configure_node"}, "id": {"type": "string"},
                                    "name": {"type": "string"},
                                    "config": {"type": "object", "description": "A JSON merge patch of the node's config."},
                                    "policy": {"type": "object"}}},
                    {"type": "object", "additionalProperties": false, "required": ["op", "from", "to"],
                     "properties": {"op": {"const": "connect"}, "from": {"type": "string"}, "to": {"type": "string"},
                                    "condition": {"enum": ["true", "false"]}}},
                    {"type": "object", "additionalProperties": false, "required": ["op", "from", "to"],
                     "properties": {"op": {"const": "disconnect"}, "from": {"type": "string"}, "to": {"type": "string"}}}
                ]}
            }
        }
    })
}

/// Reads a tool call's input as a change, or says what is wrong with it.
pub fn parse(input: &Value) -> Result<GraphChange, String> {
    let change: GraphChange = serde_json::from_value(input.clone())
        .map_err(|e| format!("the change does not match the propose_change schema: {e}"))?;
    if change.operations.is_empty() {
        return Err("a change needs at least one operation".into());
    }
    if change.operations.len() > MAX_OPERATIONS {
        return Err(format!(
            "a change may hold at most {MAX_OPERATIONS} operations"
        ));
    }
    if change.summary.trim().is_empty() || change.summary.chars().count() > 500 {
        return Err("summary must hold 1–500 characters".into());
    }
    Ok(change)
}

fn nodes_mut(canvas: &mut Value) -> &mut Vec<Value> {
    if !canvas["nodes"].is_array() {
        canvas["nodes"] = json!([]);
    }
    canvas["nodes"].as_array_mut().expect("an array")
}

fn edges_mut(canvas: &mut Value) -> &mut Vec<Value> {
    if !canvas["edges"].is_array() {
        canvas["edges"] = json!([]);
    }
    canvas["edges"].as_array_mut().expect("an array")
}

fn position_of(canvas: &Value, id: &str) -> Option<usize> {
    canvas["nodes"]
        .as_array()?
        .iter()
        .position(|n| n["id"].as_str() == Some(id))
}

/// RFC 7396: `patch` merged into `target`.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    let map = target.as_object_mut().expect("an object");
    for (k, v) in fields {
        if v.is_null() {
            map.remove(k);
        } else {
            merge_patch(map.entry(k.clone()).or_insert(Value::Null), v);
        }
    }
}

/// Where a new node goes on the canvas: right of the rightmost one.
fn next_position(canvas: &Value) -> Value {
    let right = canvas["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["position"]["x"].as_f64())
        .fold(None, |m: Option<f64>, x| Some(m.map_or(x, |m| m.max(x))));
    json!({ "x": right.map_or(0.0, |x| x + 260.0), "y": 120.0 })
}

/// Applies the operations in order to a copy of `canvas` (other canvas
/// fields, node positions among them, are kept). The first operation that
/// cannot be applied is the error, naming it.
pub fn apply(canvas: &Value, change: &GraphChange) -> Result<Value, String> {
    let mut out = if canvas.is_object() {
        canvas.clone()
    } else {
        json!({})
    };
    nodes_mut(&mut out);
    edges_mut(&mut out);
    for (i, op) in change.operations.iter().enumerate() {
        apply_one(&mut out, op).map_err(|why| format!("operations[{i}]: {why}"))?;
    }
    Ok(out)
}

fn apply_one(canvas: &mut Value, op: &Operation) -> Result<(), String> {
    match op {
        Operation::AddNode {
            id,
            kind,
            name,
            config,
            policy,
        } => {
            if position_of(canvas, id).is_some() {
                return Err(format!(
                    "a node {id:?} already exists; configure it instead"
                ));
            }
            let mut node = json!({
                "id": id, "type": kind, "name": name.clone().unwrap_or_else(|| id.clone()),
                "config": config.clone().unwrap_or_else(|| json!({})),
                "position": next_position(canvas),
            });
            if let Some(p) = policy {
                node["policy"] = p.clone();
            }
            nodes_mut(canvas).push(node);
        }
        Operation::RemoveNode { id } => {
            let at = position_of(canvas, id).ok_or_else(|| format!("there is no node {id:?}"))?;
            nodes_mut(canvas).remove(at);
            edges_mut(canvas).retain(|e| {
                e["from"].as_str() != Some(id.as_str()) && e["to"].as_str() != Some(id.as_str())
            });
        }
        Operation::ConfigureNode {
            id,
            name,
            config,
            policy,
        } => {
            let at = position_of(canvas, id).ok_or_else(|| format!("there is no node {id:?}"))?;
            let node = &mut nodes_mut(canvas)[at];
            if let Some(n) = name {
                node["name"] = json!(n);
            }
            if let Some(patch) = config {
                merge_patch(&mut node["config"], patch);
            }
            if let Some(patch) = policy {
                merge_patch(&mut node["policy"], patch);
            }
        }
        Operation::Connect {
            from,
            to,
            condition,
        } => {
            for end in [from, to] {
                if position_of(canvas, end).is_none() {
                    return Err(format!("there is no node {end:?}"));
                }
            }
            let edges = edges_mut(canvas);
            if edges
                .iter()
                .any(|e| e["from"].as_str() == Some(from) && e["to"].as_str() == Some(to))
            {
                return Err(format!("{from:?} is already connected to {to:?}"));
            }
            let mut edge = json!({ "from": from, "to": to });
            if let Some(c) = condition {
                edge["condition"] = json!(c);
            }
            edges.push(edge);
        }
        Operation::Disconnect { from, to } => {
            let edges = edges_mut(canvas);
            let before = edges.len();
            edges.retain(|e| !(e["from"].as_str() == Some(from) && e["to"].as_str() == Some(to)));
            if edges.len() == before {
                return Err(format!("there is no edge from {from:?} to {to:?}"));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn change(ops: Value) -> GraphChange {
        parse(&json!({"summary": "s", "operations": ops})).expect("parses")
    }

    #[test]
    fn operations_apply_in_order_and_keep_the_layout() {
        let canvas = json!({
            "nodes": [{"id": "start", "type": "trigger", "position": {"x": 10, "y": 5}}],
            "edges": [], "viewport": {"zoom": 1}
        });
        let c = change(json!([
            {"op": "add_node", "id": "write", "type": "agent", "config": {"systemPrompt": "w", "prompt": "p"}},
            {"op": "connect", "from": "start", "to": "write"},
            {"op": "configure_node", "id": "write", "name": "Writer", "config": {"prompt": "q", "systemPrompt": null}},
        ]));
        let out = apply(&canvas, &c).expect("applies");
        assert_eq!(out["viewport"], json!({"zoom": 1}));
        assert_eq!(out["nodes"][0]["position"], json!({"x": 10, "y": 5}));
        assert_eq!(out["nodes"][1]["position"]["x"], 270.0);
        assert_eq!(out["nodes"][1]["name"], "Writer");
        assert_eq!(out["nodes"][1]["config"], json!({"prompt": "q"}));
        assert_eq!(out["edges"], json!([{"from": "start", "to": "write"}]));
        let removed =
            apply(&out, &change(json!([{"op": "remove_node", "id": "write"}]))).expect("applies");
        assert_eq!(removed["nodes"].as_array().map(Vec::len), Some(1));
        assert_eq!(removed["edges"], json!([]));
    }

    #[test]
    fn an_operation_that_cannot_apply_is_named() {
        let canvas = json!({"nodes": [{"id": "a", "type": "trigger"}], "edges": []});
        for (ops, said) in [
            (
                json!([{"op": "remove_node", "id": "b"}]),
                "operations[0]: there is no node \"b\"",
            ),
            (
                json!([{"op": "add_node", "id": "a", "type": "agent"}]),
                "already exists",
            ),
            (
                json!([{"op": "connect", "from": "a", "to": "x"}]),
                "no node \"x\"",
            ),
            (
                json!([{"op": "disconnect", "from": "a", "to": "a"}]),
                "no edge",
            ),
        ] {
            let err = apply(&canvas, &change(ops)).expect_err("refused");
            assert!(err.contains(said), "{err}");
        }
        assert!(parse(&json!({"summary": "s", "operations": []})).is_err());
        assert!(parse(&json!({"summary": "s", "operations": [{"op": "explode"}]})).is_err());
        assert!(parse(
            &json!({"summary": "s", "operations": [{"op": "remove_node", "id": "a", "x": 1}]})
        )
        .is_err());
    }
}
