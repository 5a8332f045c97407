//! The workflow graph: a domain type with no web or database types in it,
//! shared by the API (validation on save) and the executor (running it).
//! [`Graph`] is what is stored and sent; [`validate`] turns it into a
//! [`ValidGraph`] with typed nodes and an execution plan, or explains every
//! problem in a [`ValidationReport`].

pub mod graph;
pub mod node;
pub mod secrets;
pub mod tools;
pub mod validate;

pub use graph::{Edge, Graph, RawNode};
pub use node::{
    AgentConfig, HookAuth, HttpConfig, NodeKind, OutputConfig, Overlap, TriggerConfig, TriggerKind,
};
pub use node::{ArtifactSpec, NodePolicy, NodeSpec, OnError};
pub use secrets::secret_references;
pub use validate::{
    agent_references, report, validate, ExecutionPlan, Issue, IssueCode, Severity, ValidGraph,
    ValidationReport,
};

#[cfg(test)]
mod tests;
