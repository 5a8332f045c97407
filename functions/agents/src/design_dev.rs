//! The design assistant with the `dev` provider (no model configured, for
//! local use): a deterministic designer that says so. From nothing it turns
//! a described sequence of steps ("research the topic, then write a
//! summary, then review it") into a manual trigger, one agent per step and
//! an output; on an existing graph it understands "add a step to …",
//! "remove <node id>" and "rename <node id> to …". Anything else is
//! answered with what it can do.

use serde_json::{json, Value};

use crate::graph_change::{GraphChange, Operation};

pub const NOTICE: &str = "[dev provider] No LLM provider key is configured, so a deterministic \
development designer answered.";

/// Its answer: the text, and the change it proposes, if any.
pub fn design(message: &str, canvas: &Value) -> (String, Option<GraphChange>) {
    let ids: Vec<String> = canvas["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| n["id"].as_str().map(str::to_owned))
        .collect();
    let message = message.trim();
    let lower = message.to_lowercase();
    // The user's own words after a command (the lower-cased copy when case
    // folding changed their length).
    let original = |lowered: &str| -> String {
        message
            .get(message.len().saturating_sub(lowered.len())..)
            .filter(|o| lower.len() == message.len() && o.to_lowercase() == lowered)
            .unwrap_or(lowered)
            .to_owned()
    };
    let change = if ids.is_empty() {
        from_nothing(message)
    } else if let Some(rest) = strip_any(&lower, &["add a step to ", "add a step that ", "add "]) {
        add_step(canvas, &ids, &original(rest))
    } else if let Some(rest) = strip_any(&lower, &["remove ", "delete "]) {
        let gone: Vec<Operation> = words(rest)
            .filter(|w| ids.iter().any(|i| i == w))
            .map(|id| Operation::RemoveNode { id: id.to_owned() })
            .collect();
        (!gone.is_empty()).then(|| GraphChange {
            summary: format!("Removes {} node(s).", gone.len()),
            operations: gone,
        })
    } else if let Some(rest) = lower.strip_prefix("rename ") {
        rest.split_once(" to ").and_then(|(id, name)| {
            let id = id.trim();
            ids.iter().any(|i| i == id).then(|| GraphChange {
                summary: format!("Renames {id}."),
                operations: vec![Operation::ConfigureNode {
                    id: id.to_owned(),
                    name: Some(original(name).trim().to_owned()),
                    config: None,
                    policy: None,
                }],
            })
        })
    } else {
        None
    };
    let text = match &change {
        Some(c) => format!("{NOTICE}\n{} Review the proposal and apply it to make it the next version.", c.summary),
        None if ids.is_empty() => format!("{NOTICE}\nDescribe the steps, e.g. \"research the topic, then write a summary, then review it\"."),
        None => format!("{NOTICE}\nI can \"add a step to …\", \"remove <node id>\" or \"rename <node id> to …\"; this workflow has {}.", ids.join(", ")),
    };
    (text, change)
}

fn strip_any<'a>(s: &'a str, prefixes: &[&str]) -> Option<&'a str> {
    prefixes.iter().find_map(|p| s.strip_prefix(p))
}

fn words(s: &str) -> impl Iterator<Item = &str> {
    s.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// A node id from a step's words: its first meaningful word, made unique.
fn id_for(step: &str, taken: &[String]) -> String {
    const FILLER: [&str; 8] = ["a", "an", "the", "and", "to", "then", "it", "of"];
    let base: String = words(&step.to_lowercase())
        .find(|w| !FILLER.contains(w) && w.chars().next().is_some_and(|c| c.is_ascii_alphabetic()))
        .unwrap_or("step")
        .chars()
        .take(30)
        .collect();
    let mut id = base.clone();
    let mut n = 2;
    while taken.contains(&id) || id == "inputs" || id == "secrets" {
        id = format!("{base}_{n}");
        n += 1;
    }
    id
}

fn agent(id: &str, step: &str, prompt: String) -> Operation {
    Operation::AddNode {
        id: id.to_owned(),
        kind: "agent".into(),
        name: Some(capitalised(step)),
        config: Some(json!({
            "systemPrompt": format!("You are a careful assistant. Your task: {step}."),
            "prompt": prompt,
        })),
        policy: None,
    }
}

fn capitalised(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

fn from_nothing(message: &str) -> Option<GraphChange> {
    let mut text = message.to_owned();
    for sep in [" and then ", " then ", "->", "→", ";", "\n"] {
        text = text.replace(sep, "|");
    }
    let mut steps: Vec<String> = text
        .split('|')
        .map(|s| {
            s.trim()
                .trim_matches(|c: char| c == ',' || c == '.')
                .trim()
                .to_owned()
        })
        .filter(|s| !s.is_empty())
        .collect();
    if steps.len() == 1 {
        steps = steps[0].split(", ").map(str::to_owned).collect();
    }
    steps.truncate(8);
    let mut taken = vec!["start".to_owned(), "result".to_owned()];
    let mut ops = vec![Operation::AddNode {
        id: "start".into(),
        kind: "trigger".into(),
        name: Some("Start".into()),
        config: Some(json!({ "kind": "manual" })),
        policy: None,
    }];
    let mut previous = "start".to_owned();
    for step in &steps {
        let id = id_for(step, &taken);
        let prompt = if previous == "start" {
            "{{inputs.request}}".to_owned()
        } else {
            format!("{{{{{previous}.output.text}}}}")
        };
        ops.push(agent(&id, step, prompt));
        ops.push(Operation::Connect {
            from: previous.clone(),
            to: id.clone(),
            condition: None,
        });
        taken.push(id.clone());
        previous = id;
    }
    ops.push(Operation::AddNode {
        id: "result".into(),
        kind: "output".into(),
        name: Some("Result".into()),
        config: Some(json!({ "value": format!("{{{{{previous}.output.text}}}}") })),
        policy: None,
    });
    ops.push(Operation::Connect {
        from: previous,
        to: "result".into(),
        condition: None,
    });
    Some(GraphChange {
        summary: format!(
            "Creates a workflow of {} step(s) from a manual trigger (run it with inputs.request) to an output.",
            steps.len()
        ),
        operations: ops,
    })
}

/// A step added before the output the graph ends with.
fn add_step(canvas: &Value, ids: &[String], step: &str) -> Option<GraphChange> {
    let step = step.trim().trim_end_matches('.');
    let nodes = canvas["nodes"].as_array()?;
    let output = nodes.iter().find(|n| n["type"] == "output")?["id"]
        .as_str()?
        .to_owned();
    let parent = canvas["edges"]
        .as_array()?
        .iter()
        .find(|e| e["to"].as_str() == Some(&output))?["from"]
        .as_str()?
        .to_owned();
    let id = id_for(step, ids);
    Some(GraphChange {
        summary: format!("Adds the step {id:?} between {parent:?} and {output:?}."),
        operations: vec![
            Operation::Disconnect {
                from: parent.clone(),
                to: output.clone(),
            },
            agent(&id, step, format!("{{{{{parent}.output.text}}}}")),
            Operation::Connect {
                from: parent,
                to: id.clone(),
                condition: None,
            },
            Operation::Connect {
                from: id.clone(),
                to: output.clone(),
                condition: None,
            },
            Operation::ConfigureNode {
                id: output,
                name: None,
                config: Some(json!({ "value": format!("{{{{{id}.output.text}}}}") })),
                policy: None,
            },
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph_change::apply;
    use workflow_graph::{report, Graph};

    #[test]
    fn a_described_sequence_becomes_a_valid_workflow_and_grows() {
        let (text, change) = design(
            "Research the topic, then write a summary, then review it",
            &json!({}),
        );
        assert!(text.starts_with("[dev provider]"));
        let canvas = apply(&json!({}), &change.expect("a change")).expect("applies");
        let r = report(&Graph::from_canvas(&canvas).expect("graph"));
        assert!(r.valid, "{r:?}");
        let ids: Vec<&str> = canvas["nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter_map(|n| n["id"].as_str())
            .collect();
        assert_eq!(ids, ["start", "research", "write", "review", "result"]);
        let (_, more) = design("Add a step to translate it into French", &canvas);
        let grown = apply(&canvas, &more.expect("a change")).expect("applies");
        let r = report(&Graph::from_canvas(&grown).expect("graph"));
        assert!(r.valid, "{r:?}");
        assert_eq!(grown["nodes"].as_array().map(Vec::len), Some(6));
        let (_, gone) = design("remove translate", &grown);
        assert!(matches!(
            gone.expect("a change").operations[0],
            Operation::RemoveNode { .. }
        ));
        let (said, none) = design("make it better", &grown);
        assert!(none.is_none());
        assert!(said.contains("research"));
        // Case folding that changes lengths does not cut a character in two.
        let (_, odd) = design("rename İ to Ωx", &json!({"nodes": [{"id": "i̇"}]}));
        assert!(odd.is_some());
        let (_, odd) = design("Add Ωx İ step", &grown);
        assert!(odd.is_some());
    }
}
