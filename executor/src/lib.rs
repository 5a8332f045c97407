//! The executor: runs one workflow graph, as the Kubernetes Job of one
//! execution (configured by environment, talking to the callback API) or on
//! its own (`executor run --spec spec.json`, events as JSON lines on stdout).

pub mod agent;
pub mod budget;
pub mod callback;
pub mod engine;
pub mod render;
pub mod report;
pub mod tools;

/// The model conversation, providers and HTTP runner live in `agent-kit`
/// (the API's tools routes use them too), under the names the executor has
/// always used.
pub use agent_kit::{conversation, error, http as http_node, providers};

/// The protocol types, under the names the executor has always used.
pub mod event {
    pub use run_protocol::event::*;
    pub use run_protocol::RunStatus;
}
pub mod spec {
    pub use run_protocol::spec::*;
}

pub use engine::{run, ArtifactStore, EngineConfig, RunInput, RunOutcome, Runtime};
pub use event::{Event, EventKind, RunStatus};
pub use report::{Redactor, Reporter};
pub use spec::RunSpec;
