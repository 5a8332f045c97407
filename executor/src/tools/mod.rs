//! The tools an agent node's model may call: the built-in ones
//! ([`agent_kit::tools`]), the workspace's files (`read_file`, through the
//! callback API) and its MCP servers' tools. A tool's failure is an answer
//! the model is given (it may try something else), never the node's failure.

mod read_file;

pub use agent_kit::mcp::pool as mcp;

use serde_json::Value;
use workflow_graph::tools::BuiltinTool;

use crate::{callback::CallbackClient, error::NodeError, http_node::HttpRunner};
pub use agent_kit::tools::{
    http_request, resolve, search, spec, string_field, web_read, AgentTool, NetworkTools,
    SearchProvider, CALL_TIMEOUT, MAX_FETCH_BYTES,
};

/// What the tools run with.
pub struct ToolEnv<'a> {
    pub http: &'a HttpRunner,
    pub search: &'a SearchProvider,
    /// The workspace's files (the callback API); `None` outside a Job.
    pub files: Option<&'a CallbackClient>,
    /// The run's MCP servers.
    pub mcp: &'a mcp::McpPool,
}

/// Runs one call; `Err` is the tool's failure, told to the model.
pub async fn call(env: &ToolEnv<'_>, tool: &AgentTool, input: &Value) -> Result<Value, NodeError> {
    let work = async {
        match tool {
            AgentTool::Builtin(BuiltinTool::ReadFile) => read_file::call(env.files, input).await,
            _ => {
                let net = NetworkTools {
                    http: env.http,
                    search: env.search,
                    mcp: env.mcp,
                };
                net.call(tool, input).await
            }
        }
    };
    tokio::time::timeout(CALL_TIMEOUT, work)
        .await
        .unwrap_or_else(|_| {
            Err(NodeError::new(
                crate::error::ErrorKind::Timeout,
                format!(
                    "{} took longer than {} s",
                    tool.name(),
                    CALL_TIMEOUT.as_secs()
                ),
            ))
        })
}
