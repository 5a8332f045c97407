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

use crate::{conversation::ToolSpec, error::NodeError};
pub use search::SearchProvider;

/// How long one tool call may take.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The most a tool may read from the network.
pub const MAX_FETCH_BYTES: u64 = 2 * 1024 * 1024;

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
