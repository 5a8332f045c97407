//! `shared`: everything the SaasIt functions have in common.
//!
//! Handlers are written once against these types and run unchanged on Lambda
//! (`lambda_http`), in the one-process local stack and in tests (`oneshot`).
//! Nothing in here reads the environment except [`settings::Settings::from_env`],
//! which binaries call once at start-up.

pub mod access;
pub mod activity;
pub mod analytics;
pub mod auth;
pub mod billing;
pub mod catalog;
pub mod db;
pub mod email;
pub mod error;
pub mod extract;
pub mod files;
pub mod future;
pub mod http;
pub mod ids;
pub mod mcp;
pub mod metrics;
pub mod openapi;
#[cfg(any(feature = "eks", feature = "secrets"))]
pub mod presign;
pub mod ratelimit;
pub mod realtime;
pub mod request_id;
pub mod runs;
pub mod runtime;
pub mod secrets;
pub mod settings;
pub mod signing;
pub mod state;
pub mod telemetry;
pub mod text;
pub mod tier;
pub mod triggers;
pub mod validation;
pub mod vault;

pub use error::{ApiError, ApiResult, ErrorCode};
/// The run protocol the executor and the API share.
pub use run_protocol as protocol;
pub use state::AppState;
/// The workflow graph domain type (its own crate, so the executor need not link the web stack).
pub use workflow_graph as workflow;
