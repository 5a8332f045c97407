//! The tools an agent node's model may call: the built-in ones
//! ([`agent_kit::tools`]), the workspace's files (`read_file`, through the
//! callback API) and its MCP servers' tools. A tool's failure is an answer
//! the model is given (it may try something else), never the node's failure.

pub mod mcp;
mod read_file;

use serde_json::Value;
use workflow_graph::tools::BuiltinTool;

use crate::{
    callback::CallbackClient, conversation::ToolSpec, error::NodeError, http_node::HttpRunner,
};
pub use agent_kit::tools::{
    http_request, search, spec, string_field, web_read, SearchProvider, CALL_TIMEOUT,
    MAX_FETCH_BYTES,
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

/// A tool an agent node offers its model.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentTool {
    Builtin(BuiltinTool),
    /// A tool of one of the workspace's MCP servers, under `exposed`.
    Mcp {
        server: String,
        tool: agent_kit::mcp::McpTool,
        exposed: String,
    },
}

impl AgentTool {
    /// The name the model calls it by.
    pub fn name(&self) -> &str {
        match self {
            AgentTool::Builtin(b) => b.as_str(),
            AgentTool::Mcp { exposed, .. } => exposed,
        }
    }

    pub fn spec(&self) -> ToolSpec {
        match self {
            AgentTool::Builtin(b) => spec(*b),
            AgentTool::Mcp {
                server,
                tool,
                exposed,
            } => mcp::spec(exposed, server, tool),
        }
    }
}

/// The tools a node's tool names stand for, in order, each once: an MCP
/// server's are listed by connecting to it (the run's pool).
pub async fn resolve(names: &[String], pool: &mcp::McpPool) -> Result<Vec<AgentTool>, NodeError> {
    use workflow_graph::tools::ToolRef;
    let mut out: Vec<AgentTool> = Vec::new();
    for name in names {
        let r: ToolRef = name
            .parse()
            .map_err(|why: String| NodeError::new(crate::error::ErrorKind::Config, why))?;
        match r {
            ToolRef::Builtin(b) => {
                if !out.contains(&AgentTool::Builtin(b)) {
                    out.push(AgentTool::Builtin(b));
                }
            }
            ToolRef::Mcp { server, tool } => {
                let connected = pool.get(&server).await?;
                let chosen: Vec<&agent_kit::mcp::McpTool> =
                    match &tool {
                        None => connected.tools.iter().collect(),
                        Some(t) => vec![connected.tools.iter().find(|x| &x.name == t).ok_or_else(
                            || {
                                NodeError::new(
                                    crate::error::ErrorKind::Config,
                                    format!("MCP server {server:?} has no tool {t:?}"),
                                )
                            },
                        )?],
                    };
                for t in chosen {
                    let already = out.iter().any(|o| {
                        matches!(o, AgentTool::Mcp { server: s, tool: x, .. } if *s == server && x.name == t.name)
                    });
                    if already {
                        continue;
                    }
                    let base = mcp::exposed_name(&server, &t.name);
                    let mut exposed = base.clone();
                    let mut n = 2;
                    while out.iter().any(|o| o.name() == exposed) {
                        let suffix = format!("_{n}");
                        let keep = base.len().min(64 - suffix.len());
                        exposed = format!("{}{suffix}", &base[..keep]);
                        n += 1;
                    }
                    out.push(AgentTool::Mcp {
                        server: server.clone(),
                        tool: t.clone(),
                        exposed,
                    });
                }
            }
        }
    }
    Ok(out)
}

/// Runs one call; `Err` is the tool's failure, told to the model.
pub async fn call(env: &ToolEnv<'_>, tool: &AgentTool, input: &Value) -> Result<Value, NodeError> {
    let work = async {
        match tool {
            AgentTool::Builtin(BuiltinTool::HttpRequest) => {
                http_request::call(env.http, input).await
            }
            AgentTool::Builtin(BuiltinTool::WebRead) => web_read::call(env.http, input).await,
            AgentTool::Builtin(BuiltinTool::WebSearch) => env.search.search(input).await,
            AgentTool::Builtin(BuiltinTool::ReadFile) => read_file::call(env.files, input).await,
            AgentTool::Mcp { server, tool, .. } => {
                env.mcp.call(server, &tool.name, input, CALL_TIMEOUT).await
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
