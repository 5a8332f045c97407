//! The run protocol: what the executor and the API say to each other, written
//! once and depended on by both.
//!
//! - [`status`]: an execution's lifecycle status, and how a run ended.
//! - [`spec`]: what the executor fetches before it starts ([`RunSpec`]).
//! - [`event`]: what it reports while it runs ([`Event`]), in batches.
//! - [`result`]: what it reports at the end ([`RunResult`]).
//! - [`limits`]: sizes and depths both sides enforce, so anything the executor
//!   produces the API accepts.
//! - [`mcp`]: the MCP servers a run's agents use, and their header templates.
//! - [`env`]: the Job environment contract.
//! - [`message`]: the real-time message types subscribers see.
//!
//! # Compatibility
//! A Job started by one version of the API may run while the next version is
//! deployed, so changes are additive: new fields are optional
//! (`#[serde(default)]`), no type denies unknown fields, and an event type the
//! API does not know yet is stored as sent ([`EventKind::Unknown`]). The tests
//! in `tests/compat.rs` hold frozen messages of the previous version.

pub mod env;
pub mod event;
pub mod files;
pub mod limits;
pub mod mcp;
pub mod message;
pub mod result;
pub mod spec;
pub mod status;

pub use event::{ErrorView, Event, EventBatch, EventKind};
pub use result::{OutputRef, RunResult};
pub use spec::{AgentDef, LlmCredential, LlmVendor, RunSpec};
pub use status::{EndReason, ExecutionStatus, RunStatus, UnknownStatus};
