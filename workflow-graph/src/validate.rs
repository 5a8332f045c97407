//! Validation that explains itself, and the execution order.
//!
//! One pass collects every problem (not just the first): bad or duplicate ids,
//! unknown types, config and policy errors, dangling edges, cycles (naming the
//! nodes on them), a missing trigger, unreachable nodes, template syntax
//! errors and references to unknown or not-upstream nodes. A graph without
//! errors becomes a [`ValidGraph`] with a deterministic topological order
//! (Kahn's algorithm, ties broken by declaration order) and its parallel layers.
//! Linear in nodes + edges, except the upstream check of template references,
//! which walks back from each referencing node only until it has found what it refers to.

use std::collections::{hash_map::Entry, HashMap, HashSet, VecDeque};

use serde::Serialize;
use utoipa::ToSchema;

use super::{
    graph::{Edge, Graph},
    node::{NodePolicy, NodeSpec, NODE_TYPES},
    secrets::{is_credential_header, is_literal},
};

pub const MAX_NODES: usize = 10_000;
pub const MAX_EDGES: usize = 50_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// Stable codes of validation issues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum IssueCode {
    TooLarge,
    InvalidNodeId,
    DuplicateNodeId,
    UnknownNodeType,
    InvalidConfig,
    InvalidPolicy,
    DanglingEdge,
    DuplicateEdge,
    InvalidEdgeCondition,
    Cycle,
    MissingTrigger,
    TriggerHasInputs,
    UnreachableNode,
    TemplateSyntax,
    UnknownReference,
    ReferenceNotUpstream,
    /// An agent node names an agent that does not exist or is not visible to
    /// the user (checked where the database is at hand, see `ValidationReport::push`).
    UnknownAgent,
    /// A template names `{{secrets.NAME}}` and the workspace has no secret of
    /// that name (checked where the database is at hand).
    MissingSecret,
    NoOutput,
    /// A header that carries a credential has a value written in clear
    /// (a warning: use `{{secrets.NAME}}` from the workspace vault).
    LiteralCredential,
    /// An agent node's tools (or its agent's) name an MCP server the
    /// workspace has not registered, or has disconnected (checked where the
    /// database is at hand).
    UnknownMcpServer,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Issue {
    pub severity: Severity,
    pub code: IssueCode,
    pub message: String,
    /// The nodes concerned (for a cycle: in order along the cycle).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub node_ids: Vec<String>,
    /// Where in the graph document, e.g. `nodes[2].config.url` or `edges[4]`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
}

/// The order nodes run in: `layers[k]` can run in parallel once `layers[..k]` are done.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct ExecutionPlan {
    pub order: Vec<String>,
    pub layers: Vec<Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ValidationReport {
    pub valid: bool,
    pub issues: Vec<Issue>,
    /// Present when the graph has no cycle.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub plan: Option<ExecutionPlan>,
}

impl ValidationReport {
    /// Adds an issue found outside the pure graph checks (e.g. against the
    /// database) and updates `valid`.
    pub fn push(&mut self, issue: Issue) {
        if issue.severity == Severity::Error {
            self.valid = false;
        }
        self.issues.push(issue);
    }
}

/// The agents a graph's agent nodes name: (node index, node id, `agentId`).
pub fn agent_references(graph: &Graph) -> Vec<(usize, &str, &str)> {
    graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| n.kind == "agent")
        .filter_map(|(i, n)| Some((i, n.id.as_str(), n.config.get("agentId")?.as_str()?)))
        .collect()
}

/// A validated node.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    pub id: String,
    pub name: String,
    pub spec: NodeSpec,
    pub policy: NodePolicy,
}

/// A graph without errors, ready to run.
#[derive(Debug, Clone)]
pub struct ValidGraph {
    pub nodes: Vec<Node>,
    pub plan: ExecutionPlan,
    /// Per node: parent indices.
    pub parents: Vec<Vec<usize>>,
    /// Per node: child indices with the branch (`Some(true/false)`) for condition nodes.
    pub children: Vec<Vec<(usize, Option<bool>)>>,
    pub layers: Vec<Vec<usize>>,
    index: HashMap<String, usize>,
}

impl ValidGraph {
    pub fn index_of(&self, id: &str) -> Option<usize> {
        self.index.get(id).copied()
    }
}

fn is_valid_id(id: &str) -> bool {
    let mut chars = id.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
        && id.len() <= 64
        && !RESERVED_IDS.contains(&id)
}

/// Template namespaces that are not nodes: `inputs.*` (the run's inputs) and
/// `secrets.*` (resolved by the executor, never written to events or logs).
pub const RESERVED_IDS: [&str; 2] = ["inputs", "secrets"];

/// Names a template may use besides `inputs` and node ids: minijinja's globals.
const TEMPLATE_GLOBALS: [&str; 4] = ["range", "dict", "namespace", "loop"];

struct Checker<'g> {
    graph: &'g Graph,
    issues: Vec<Issue>,
}

impl Checker<'_> {
    fn push(
        &mut self,
        severity: Severity,
        code: IssueCode,
        message: String,
        node_ids: Vec<String>,
        path: Option<String>,
    ) {
        self.issues.push(Issue {
            severity,
            code,
            message,
            node_ids,
            path,
        });
    }

    fn error(
        &mut self,
        code: IssueCode,
        message: String,
        node: Option<&str>,
        path: Option<String>,
    ) {
        let ids = node.map(|n| vec![n.to_owned()]).unwrap_or_default();
        self.push(Severity::Error, code, message, ids, path);
    }
}

/// Validates `graph`: the typed graph and its plan, or the report of what is wrong.
pub fn validate(graph: &Graph) -> Result<ValidGraph, ValidationReport> {
    let (report, valid) = analyse(graph);
    valid.ok_or(report)
}

/// The full report (also for valid graphs, with their plan and any warnings).
pub fn report(graph: &Graph) -> ValidationReport {
    analyse(graph).0
}

fn analyse(graph: &Graph) -> (ValidationReport, Option<ValidGraph>) {
    let mut c = Checker {
        graph,
        issues: Vec::new(),
    };
    if graph.nodes.len() > MAX_NODES || graph.edges.len() > MAX_EDGES {
        c.error(
            IssueCode::TooLarge,
            format!("a workflow may have at most {MAX_NODES} nodes and {MAX_EDGES} edges"),
            None,
            None,
        );
        return (finish(c.issues, None), None);
    }

    // Ids: the first node with an id owns it.
    let mut index: HashMap<&str, usize> = HashMap::with_capacity(graph.nodes.len());
    for (i, n) in graph.nodes.iter().enumerate() {
        if !is_valid_id(&n.id) {
            c.error(
                IssueCode::InvalidNodeId,
                format!(
                    "node id {:?} must be 1–64 letters, digits or _, start with a letter or _, and not be \"inputs\" or \"secrets\"",
                    n.id
                ),
                Some(&n.id),
                Some(format!("nodes[{i}].id")),
            );
        } else if let Entry::Vacant(slot) = index.entry(n.id.as_str()) {
            slot.insert(i);
        } else {
            c.error(
                IssueCode::DuplicateNodeId,
                format!("node id {:?} is used more than once", n.id),
                Some(&n.id),
                Some(format!("nodes[{i}].id")),
            );
        }
    }

    // Types, configs and policies.
    let mut specs: Vec<Option<NodeSpec>> = Vec::with_capacity(graph.nodes.len());
    let mut policies: Vec<Option<NodePolicy>> = Vec::with_capacity(graph.nodes.len());
    for (i, n) in graph.nodes.iter().enumerate() {
        let spec = match NodeSpec::parse(&n.kind, &n.config) {
            None => {
                c.error(
                    IssueCode::UnknownNodeType,
                    format!(
                        "node {:?} has unknown type {:?}; expected one of {}",
                        n.id,
                        n.kind,
                        NODE_TYPES.join(", ")
                    ),
                    Some(&n.id),
                    Some(format!("nodes[{i}].type")),
                );
                None
            }
            Some(Err(problems)) => {
                for (field, message) in problems {
                    let path = if field.is_empty() {
                        format!("nodes[{i}].config")
                    } else {
                        format!("nodes[{i}].config.{field}")
                    };
                    c.error(
                        IssueCode::InvalidConfig,
                        format!("node {:?}: {message}", n.id),
                        Some(&n.id),
                        Some(path),
                    );
                }
                None
            }
            Some(Ok(spec)) => Some(spec),
        };
        let policy = match NodePolicy::parse(n.policy.as_ref()) {
            Ok(p) => Some(p),
            Err(problems) => {
                for (field, message) in problems {
                    let path = if field.is_empty() {
                        format!("nodes[{i}].policy")
                    } else {
                        format!("nodes[{i}].policy.{field}")
                    };
                    c.error(
                        IssueCode::InvalidPolicy,
                        format!("node {:?}: {message}", n.id),
                        Some(&n.id),
                        Some(path),
                    );
                }
                None
            }
        };
        if let Some(NodeSpec::Http(h)) = &spec {
            for (name, value) in &h.headers {
                if is_credential_header(name) && value.as_str().is_some_and(is_literal) {
                    c.push(
                        Severity::Warning,
                        IssueCode::LiteralCredential,
                        format!(
                            "node {:?}: header {name:?} holds a credential in clear; it is copied into every version, run and template: store it in the workspace's secrets and write {{{{secrets.NAME}}}}",
                            n.id
                        ),
                        vec![n.id.clone()],
                        Some(format!("nodes[{i}].config.headers.{name}")),
                    );
                }
            }
        }
        specs.push(spec);
        policies.push(policy);
    }

    // Edges.
    let n = graph.nodes.len();
    let mut parents: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut children: Vec<Vec<(usize, Option<bool>)>> = vec![Vec::new(); n];
    let mut seen: HashSet<(usize, usize)> = HashSet::with_capacity(graph.edges.len());
    for (j, e) in graph.edges.iter().enumerate() {
        let (from, to) = (
            index.get(e.from.as_str()).copied(),
            index.get(e.to.as_str()).copied(),
        );
        let (Some(from), Some(to)) = (from, to) else {
            let missing: Vec<&str> = [&e.from, &e.to]
                .into_iter()
                .filter(|id| !index.contains_key(id.as_str()))
                .map(String::as_str)
                .collect();
            c.error(
                IssueCode::DanglingEdge,
                format!(
                    "edge {} → {} refers to missing node {}",
                    e.from,
                    e.to,
                    missing.join(" and ")
                ),
                None,
                Some(format!("edges[{j}]")),
            );
            continue;
        };
        if from == to {
            c.push(
                Severity::Error,
                IssueCode::Cycle,
                format!("cycle: {0} → {0}", e.from),
                vec![e.from.clone()],
                Some(format!("edges[{j}]")),
            );
            continue;
        }
        if !seen.insert((from, to)) {
            c.push(
                Severity::Warning,
                IssueCode::DuplicateEdge,
                format!("edge {} → {} is listed more than once", e.from, e.to),
                vec![e.from.clone(), e.to.clone()],
                Some(format!("edges[{j}]")),
            );
            continue;
        }
        let branch = edge_branch(&mut c, e, j, specs[from].as_ref());
        parents[to].push(from);
        children[from].push((to, branch));
    }

    let (layers, leftover) = kahn_layers(&index, &parents, &children, n);
    if !leftover.is_empty() {
        for cycle in find_cycles(&leftover, &parents) {
            let ids: Vec<String> = cycle.iter().map(|&i| graph.nodes[i].id.clone()).collect();
            let mut shown = ids.clone();
            shown.push(ids[0].clone());
            c.push(
                Severity::Error,
                IssueCode::Cycle,
                format!("cycle: {}", shown.join(" → ")),
                ids,
                None,
            );
        }
    }

    check_triggers(&mut c, &index, &specs, &parents, &children);
    check_templates(&mut c, &index, &specs, &parents, leftover.is_empty());
    if !specs
        .iter()
        .flatten()
        .any(|s| matches!(s, NodeSpec::Output(_)))
        && !graph.nodes.is_empty()
    {
        c.push(
            Severity::Warning,
            IssueCode::NoOutput,
            "the workflow has no output node; its result will be empty".into(),
            Vec::new(),
            None,
        );
    }

    let plan = leftover.is_empty().then(|| ExecutionPlan {
        order: layers
            .iter()
            .flatten()
            .map(|&i| graph.nodes[i].id.clone())
            .collect(),
        layers: layers
            .iter()
            .map(|l| l.iter().map(|&i| graph.nodes[i].id.clone()).collect())
            .collect(),
    });
    let report = finish(c.issues, plan.clone());
    if !report.valid {
        return (report, None);
    }
    let nodes = graph
        .nodes
        .iter()
        .zip(specs.into_iter().zip(policies))
        .filter_map(|(raw, (spec, policy))| {
            Some(Node {
                id: raw.id.clone(),
                name: raw.name.clone(),
                spec: spec?,
                policy: policy?,
            })
        })
        .collect();
    let valid = ValidGraph {
        nodes,
        plan: plan.unwrap_or(ExecutionPlan {
            order: Vec::new(),
            layers: Vec::new(),
        }),
        parents,
        children,
        layers,
        index: index.into_iter().map(|(k, v)| (k.to_owned(), v)).collect(),
    };
    (report, Some(valid))
}

fn finish(issues: Vec<Issue>, plan: Option<ExecutionPlan>) -> ValidationReport {
    ValidationReport {
        valid: !issues.iter().any(|i| i.severity == Severity::Error),
        issues,
        plan,
    }
}

/// Checks an edge's branch label against its source node and returns it.
fn edge_branch(c: &mut Checker<'_>, e: &Edge, j: usize, source: Option<&NodeSpec>) -> Option<bool> {
    let is_condition = matches!(source, Some(NodeSpec::Condition(_)));
    match (is_condition, e.condition.as_deref()) {
        (true, Some("true")) => Some(true),
        (true, Some("false")) => Some(false),
        (true, other) => {
            c.error(
                IssueCode::InvalidEdgeCondition,
                format!(
                    "edge {} → {} leaves a condition node and needs condition \"true\" or \"false\" (got {:?})",
                    e.from, e.to, other
                ),
                Some(&e.from),
                Some(format!("edges[{j}].condition")),
            );
            None
        }
        (false, Some(_)) if source.is_some() => {
            c.error(
                IssueCode::InvalidEdgeCondition,
                format!(
                    "edge {} → {} has a condition but {} is not a condition node",
                    e.from, e.to, e.from
                ),
                Some(&e.from),
                Some(format!("edges[{j}].condition")),
            );
            None
        }
        _ => None,
    }
}

/// Kahn's algorithm by layers; ties in declaration order. Returns the layers
/// and the nodes left over (on or behind a cycle).
fn kahn_layers(
    index: &HashMap<&str, usize>,
    parents: &[Vec<usize>],
    children: &[Vec<(usize, Option<bool>)>],
    n: usize,
) -> (Vec<Vec<usize>>, Vec<usize>) {
    let owned: Vec<bool> = {
        let mut v = vec![false; n];
        for &i in index.values() {
            v[i] = true;
        }
        v
    };
    let mut indegree: Vec<usize> = parents.iter().map(Vec::len).collect();
    let mut layer: Vec<usize> = (0..n).filter(|&i| owned[i] && indegree[i] == 0).collect();
    let mut layers = Vec::new();
    let mut placed = 0;
    while !layer.is_empty() {
        let mut next = Vec::new();
        for &i in &layer {
            for &(child, _) in &children[i] {
                indegree[child] -= 1;
                if indegree[child] == 0 {
                    next.push(child);
                }
            }
        }
        next.sort_unstable();
        placed += layer.len();
        layers.push(std::mem::replace(&mut layer, next));
    }
    let leftover = if placed == index.len() {
        Vec::new()
    } else {
        (0..n).filter(|&i| owned[i] && indegree[i] > 0).collect()
    };
    (layers, leftover)
}

/// Finds disjoint cycles among the nodes Kahn could not place: each of them
/// has a parent that is also left over, so walking back from one must loop.
/// Every node is walked at most once.
fn find_cycles(leftover: &[usize], parents: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let n = parents.len();
    let mut left = vec![false; n];
    for &i in leftover {
        left[i] = true;
    }
    let mut walk_of = vec![usize::MAX; n];
    let mut cycles = Vec::new();
    for (walk, &start) in leftover.iter().enumerate() {
        if walk_of[start] != usize::MAX {
            continue;
        }
        let mut path = Vec::new();
        let mut v = start;
        loop {
            if walk_of[v] == walk {
                // Back at a node of this walk: the cycle is the path from there.
                let from = path.iter().position(|&p| p == v).unwrap_or(0);
                let mut cycle: Vec<usize> = path[from..].to_vec();
                cycle.reverse(); // we walked parent-wards
                let min = cycle
                    .iter()
                    .enumerate()
                    .min_by_key(|(_, &i)| i)
                    .map_or(0, |(k, _)| k);
                cycle.rotate_left(min);
                cycles.push(cycle);
                break;
            }
            if walk_of[v] != usize::MAX {
                break; // joined an earlier walk: nothing new
            }
            walk_of[v] = walk;
            path.push(v);
            match parents[v].iter().find(|&&p| left[p]) {
                Some(&p) => v = p,
                None => break,
            }
        }
    }
    cycles
}

fn check_triggers(
    c: &mut Checker<'_>,
    index: &HashMap<&str, usize>,
    specs: &[Option<NodeSpec>],
    parents: &[Vec<usize>],
    children: &[Vec<(usize, Option<bool>)>],
) {
    let graph = c.graph;
    let triggers: Vec<usize> = (0..specs.len())
        .filter(|&i| specs[i].as_ref().is_some_and(NodeSpec::is_trigger))
        .collect();
    if graph.nodes.is_empty() {
        return;
    }
    if triggers.is_empty() && !graph.nodes.iter().any(|n| n.kind == "trigger") {
        c.error(
            IssueCode::MissingTrigger,
            "the workflow needs a trigger node to start from".into(),
            None,
            None,
        );
        return;
    }
    for &t in &triggers {
        if !parents[t].is_empty() {
            let id = &graph.nodes[t].id;
            c.error(
                IssueCode::TriggerHasInputs,
                format!("trigger {id:?} must not have incoming edges"),
                Some(id),
                None,
            );
        }
    }
    let mut reached = vec![false; specs.len()];
    let mut queue: VecDeque<usize> = triggers.iter().copied().collect();
    for &t in &triggers {
        reached[t] = true;
    }
    while let Some(v) = queue.pop_front() {
        for &(w, _) in &children[v] {
            if !reached[w] {
                reached[w] = true;
                queue.push_back(w);
            }
        }
    }
    let mut unreachable: Vec<usize> = index.values().copied().filter(|&i| !reached[i]).collect();
    if triggers.is_empty() || unreachable.is_empty() {
        return;
    }
    unreachable.sort_unstable();
    let ids: Vec<String> = unreachable
        .iter()
        .map(|&i| graph.nodes[i].id.clone())
        .collect();
    let shown: Vec<&str> = ids.iter().take(10).map(String::as_str).collect();
    let more = if ids.len() > 10 {
        format!(" and {} more", ids.len() - 10)
    } else {
        String::new()
    };
    c.push(
        Severity::Error,
        IssueCode::UnreachableNode,
        format!("no trigger leads to {}{more}", shown.join(", ")),
        ids,
        None,
    );
}

/// Parses every template and checks what it refers to: `inputs.*`, or
/// `<node>.output…` of a node that runs before this one.
fn check_templates(
    c: &mut Checker<'_>,
    index: &HashMap<&str, usize>,
    specs: &[Option<NodeSpec>],
    parents: &[Vec<usize>],
    acyclic: bool,
) {
    let graph = c.graph;
    let env = minijinja::Environment::new();
    let mut stamp = vec![usize::MAX; specs.len()];
    for (i, spec) in specs.iter().enumerate() {
        let Some(spec) = spec else { continue };
        let id = &graph.nodes[i].id;
        let mut refs: Vec<(String, String)> = Vec::new(); // (field, variable path)
        let mut sources = spec.templates();
        let expression = match spec {
            NodeSpec::Condition(cond) => Some(cond.expression.as_str()),
            _ => None,
        };
        if let Some(expr) = expression {
            match env.compile_expression(expr) {
                Ok(e) => refs.extend(
                    e.undeclared_variables(true)
                        .into_iter()
                        .map(|v| ("expression".to_owned(), v)),
                ),
                Err(e) => c.error(
                    IssueCode::TemplateSyntax,
                    format!("node {id:?}: {e}"),
                    Some(id),
                    Some(format!("nodes[{i}].config.expression")),
                ),
            }
        }
        for (field, source) in sources.drain(..) {
            if !source.contains("{{") && !source.contains("{%") {
                continue;
            }
            match env.template_from_str(source) {
                Ok(t) => refs.extend(
                    t.undeclared_variables(true)
                        .into_iter()
                        .map(|v| (field.clone(), v)),
                ),
                Err(e) => c.error(
                    IssueCode::TemplateSyntax,
                    format!("node {id:?}: {e}"),
                    Some(id),
                    Some(format!("nodes[{i}].config.{field}")),
                ),
            }
        }
        refs.sort();
        let mut upstream: Vec<(usize, String, String)> = Vec::new();
        for (field, var) in refs {
            let mut parts = var.split('.');
            let head = parts.next().unwrap_or_default();
            if RESERVED_IDS.contains(&head) || TEMPLATE_GLOBALS.contains(&head) {
                continue;
            }
            let path = Some(format!("nodes[{i}].config.{field}"));
            match index.get(head) {
                None => c.error(
                    IssueCode::UnknownReference,
                    format!("node {id:?} refers to {{{{{var}}}}}, but there is no node {head:?} (use inputs.<name> for workflow inputs)"),
                    Some(id),
                    path,
                ),
                Some(_) if parts.next() != Some("output") => c.error(
                    IssueCode::UnknownReference,
                    format!("node {id:?} refers to {{{{{var}}}}}; a node's result is {{{{{head}.output}}}} or {{{{{head}.output.<path>}}}}"),
                    Some(id),
                    path,
                ),
                Some(&j) if j == i => c.error(
                    IssueCode::ReferenceNotUpstream,
                    format!("node {id:?} refers to its own output"),
                    Some(id),
                    path,
                ),
                Some(&j) => upstream.push((j, var, field)),
            }
        }
        if acyclic && !upstream.is_empty() {
            let wanted: Vec<usize> = upstream.iter().map(|(j, _, _)| *j).collect();
            let found = ancestors_among(i, &wanted, parents, &mut stamp);
            for (j, var, field) in upstream {
                if !found.contains(&j) {
                    c.error(
                        IssueCode::ReferenceNotUpstream,
                        format!(
                            "node {id:?} refers to {{{{{var}}}}}, but {:?} does not run before it (add a path of edges from it)",
                            graph.nodes[j].id
                        ),
                        Some(id),
                        Some(format!("nodes[{i}].config.{field}")),
                    );
                }
            }
        }
    }
}

/// Which of `wanted` are ancestors of `node`: a backwards walk that stops as
/// soon as all are found. `stamp` is reused across calls (marked with `node`).
fn ancestors_among(
    node: usize,
    wanted: &[usize],
    parents: &[Vec<usize>],
    stamp: &mut [usize],
) -> HashSet<usize> {
    let wanted: HashSet<usize> = wanted.iter().copied().collect();
    let mut found = HashSet::new();
    let mut stack = vec![node];
    stamp[node] = node;
    while let Some(v) = stack.pop() {
        for &p in &parents[v] {
            if stamp[p] == node {
                continue;
            }
            stamp[p] = node;
            if wanted.contains(&p) {
                found.insert(p);
                if found.len() == wanted.len() {
                    return found;
                }
            }
            stack.push(p);
        }
    }
    found
}
