//! The built-in tools an agent's model may call ([`workflow_graph::tools`])
//! that need nothing but the network: each with its description and input
//! schema for the model, and its implementation. A tool's failure is an
//! answer the model is given (it may try something else), never the node's
//! failure. The executor adds the workspace's files and MCP servers.

pub mod http_request;
pub mod search;
pub mod web_read;

use std::time::Duration;

use serde_json::{json, Value};
use workflow_graph::tools::BuiltinTool;

use crate::{
    conversation::ToolSpec,
    error::{ErrorKind, NodeError},
    http::HttpRunner,
    mcp::pool::McpPool,
};
pub use search::SearchProvider;

/// How long one tool call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The most a tool may read from the network.
pub const MAX_FETCH_BYTES: u64 = 2 * 1024 * 1024;

/// A tool an agent offers its model.
#[derive(Debug, Clone, PartialEq)]
pub enum AgentTool {
    Builtin(BuiltinTool),
    /// A tool of one of the workspace's MCP servers, under `exposed`.
    Mcp {
        server: String,
        tool: crate::mcp::McpTool,
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
            } => crate::mcp::pool::spec(exposed, server, tool),
        }
    }
}

/// The tools a node's tool names stand for, in order, each once: an MCP
/// server's are listed by connecting to it (the run's pool).
pub async fn resolve(names: &[String], pool: &McpPool) -> Result<Vec<AgentTool>, NodeError> {
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
                let chosen: Vec<&crate::mcp::McpTool> =
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
                    let base = crate::mcp::pool::exposed_name(&server, &t.name);
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

/// The tools that need only the network: the built-in ones but
/// `read_file` (whose files only a run's host can reach), and MCP servers'.
pub struct NetworkTools<'a> {
    pub http: &'a HttpRunner,
    pub search: &'a SearchProvider,
    pub mcp: &'a McpPool,
}

impl NetworkTools<'_> {
    /// Runs one call; `Err` is the tool's failure, told to the model.
    pub async fn call(&self, tool: &AgentTool, input: &Value) -> Result<Value, NodeError> {
        let work = async {
            match tool {
                AgentTool::Builtin(BuiltinTool::HttpRequest) => {
                    http_request::call(self.http, input).await
                }
                AgentTool::Builtin(BuiltinTool::WebRead) => web_read::call(self.http, input).await,
                AgentTool::Builtin(BuiltinTool::WebSearch) => self.search.search(input).await,
                AgentTool::Builtin(BuiltinTool::ReadFile) => Err(NodeError::new(
                    ErrorKind::Config,
                    "read_file reads a run's workspace files: it works in workflow runs only",
                )),
                AgentTool::Mcp { server, tool, .. } => {
                    self.mcp.call(server, &tool.name, input, CALL_TIMEOUT).await
                }
            }
        };
        tokio::time::timeout(CALL_TIMEOUT, work)
            .await
            .unwrap_or_else(|_| {
                Err(NodeError::new(
                    ErrorKind::Timeout,
                    format!(
                        "{} took longer than {} s",
                        tool.name(),
                        CALL_TIMEOUT.as_secs()
                    ),
                ))
            })
    }
}

/// The model's view of a tool.
pub fn spec(tool: BuiltinTool) -> ToolSpec {
    let (description, schema) = match tool {
        BuiltinTool::HttpRequest => (
            "Make an HTTP request to a public URL and get its status, content type and body \
             (JSON parsed). Private and internal addresses are refused.",
            json!({
                "type": "object",
                "properties": {
                    "url": { "type": "string", "description": "An http or https URL" },
                    "method": { "type": "string", "enum": ["GET", "POST", "PUT", "PATCH", "DELETE"] },
                    "headers": { "type": "object", "additionalProperties": { "type": "string" } },
                    "body": { "description": "A JSON body, or a string sent as it is" }
                },
                "required": ["url"]
            }),
        ),
        BuiltinTool::WebRead => (
            "Fetch a web page and get its readable text (links as footnotes).",
            json!({
                "type": "object",
                "properties": { "url": { "type": "string", "description": "An http or https URL" } },
                "required": ["url"]
            }),
        ),
        BuiltinTool::ReadFile => (
            "Read a text file of the workspace's files (text, Markdown, CSV, JSON, HTML, XML, YAML) \
             by its id or its name.",
            json!({
                "type": "object",
                "properties": { "file": { "type": "string", "description": "The file's id or name" } },
                "required": ["file"]
            }),
        ),
        BuiltinTool::WebSearch => (
            "Search the web; get the top results' titles, URLs and snippets.",
            json!({
                "type": "object",
                "properties": {
                    "query": { "type": "string" },
                    "count": { "type": "integer", "minimum": 1, "maximum": 10 }
                },
                "required": ["query"]
            }),
        ),
    };
    ToolSpec {
        name: tool.as_str().to_owned(),
        description: description.to_owned(),
        input_schema: schema,
    }
}

/// A string field of a tool's input, or the error the model is told.
pub fn string_field<'a>(input: &'a Value, field: &str) -> Result<&'a str, NodeError> {
    input
        .get(field)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| {
            NodeError::new(
                crate::error::ErrorKind::Invalid,
                format!("the input needs a string field {field:?}"),
            )
        })
}
