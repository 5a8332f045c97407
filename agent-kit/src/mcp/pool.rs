//! The MCP servers of a run (or of an agent tried from the API): connected
//! when an agent first needs one (its headers filled in with the secrets),
//! kept for the other nodes, and their tools offered to the model under
//! names the providers accept (`orders__get_order`).

use std::{
    collections::{BTreeMap, HashMap},
    sync::Arc,
    time::Duration,
};

use super::{McpClient, McpError, McpErrorKind, McpTool};
use crate::guard::AllowList;
use run_protocol::mcp::McpServerDef;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::{
    conversation::ToolSpec,
    error::{ErrorKind, NodeError},
};

/// How long connecting and listing a server's tools may take.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);

/// A connected server and the tools it listed.
pub struct Connected {
    client: McpClient,
    pub tools: Vec<McpTool>,
}

/// The run's servers, connected on first use.
pub struct McpPool {
    servers: BTreeMap<String, McpServerDef>,
    secrets: BTreeMap<String, String>,
    allow: AllowList,
    connected: Mutex<HashMap<String, Arc<Connected>>>,
}

fn node_error(server: &str, e: McpError) -> NodeError {
    let kind = match e.kind {
        McpErrorKind::Timeout => ErrorKind::Timeout,
        McpErrorKind::Network => ErrorKind::Network,
        McpErrorKind::Blocked => ErrorKind::Blocked,
        McpErrorKind::Config | McpErrorKind::Unauthorized => ErrorKind::Config,
        McpErrorKind::Protocol => ErrorKind::Invalid,
    };
    NodeError::new(kind, format!("MCP server {server:?}: {}", e.message))
}

impl McpPool {
    pub fn new(
        servers: BTreeMap<String, McpServerDef>,
        secrets: BTreeMap<String, String>,
        allow: AllowList,
    ) -> Self {
        Self {
            servers,
            secrets,
            allow,
            connected: Mutex::new(HashMap::new()),
        }
    }

    /// The server, connected (once per run; a failure is tried again by
    /// the next node or attempt that needs it).
    pub async fn get(&self, server: &str) -> Result<Arc<Connected>, NodeError> {
        let mut connected = self.connected.lock().await;
        if let Some(c) = connected.get(server) {
            return Ok(c.clone());
        }
        let def = self.servers.get(server).ok_or_else(|| {
            NodeError::new(
                ErrorKind::Config,
                format!(
                    "MCP server {server:?} is not registered in the workspace, or was disconnected"
                ),
            )
        })?;
        let headers = def
            .headers
            .iter()
            .map(|h| h.render(&self.secrets).map(|v| (h.name.clone(), v)))
            .collect::<Result<Vec<_>, String>>()
            .map_err(|why| {
                NodeError::new(ErrorKind::Config, format!("MCP server {server:?}: {why}"))
            })?;
        let work = async {
            let client =
                McpClient::connect(&def.url, &headers, &self.allow, CONNECT_TIMEOUT).await?;
            let tools = client.tools(CONNECT_TIMEOUT).await?;
            Ok::<_, McpError>(Connected { client, tools })
        };
        let c = Arc::new(work.await.map_err(|e| node_error(server, e))?);
        connected.insert(server.to_owned(), c.clone());
        Ok(c)
    }

    /// Calls a tool; `Err` is the failure the model is told.
    pub async fn call(
        &self,
        server: &str,
        tool: &str,
        input: &Value,
        timeout: Duration,
    ) -> Result<Value, NodeError> {
        let c = self.get(server).await?;
        let answer = c
            .client
            .call(tool, input.clone(), timeout)
            .await
            .map_err(|e| node_error(server, e))?;
        if answer.is_error {
            let text = match answer.value {
                Value::String(s) => s,
                v => v.to_string(),
            };
            return Err(NodeError::new(ErrorKind::Invalid, text));
        }
        Ok(answer.value)
    }
}

/// The name a server's tool is offered to the model under: letters, digits,
/// `_` and `-`, at most 64 characters (what both providers accept).
pub fn exposed_name(server: &str, tool: &str) -> String {
    let raw = format!("{}__{tool}", server.replace('-', "_"));
    raw.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' || c == '-' {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// The model's view of a server's tool.
pub fn spec(exposed: &str, server: &str, tool: &McpTool) -> ToolSpec {
    let schema = if tool.input_schema.is_object() {
        tool.input_schema.clone()
    } else {
        serde_json::json!({ "type": "object" })
    };
    ToolSpec {
        name: exposed.to_owned(),
        description: if tool.description.is_empty() {
            format!("{} (MCP server {server})", tool.name)
        } else {
            format!("{} (MCP server {server})", tool.description)
        },
        input_schema: schema,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exposed_names_are_what_providers_accept() {
        assert_eq!(exposed_name("orders", "get_order"), "orders__get_order");
        assert_eq!(
            exposed_name("crm-eu", "find.contact"),
            "crm_eu__find_contact"
        );
        let long = exposed_name("a", &"x".repeat(100));
        assert_eq!(long.len(), 64);
    }
}
