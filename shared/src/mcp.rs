//! A workspace's MCP servers: their states, and what may be registered
//! (names, URLs and headers). Header values are templates whose only
//! placeholders are vault secrets ([`run_protocol::mcp`]); a credential
//! header with a value in clear is refused, so no credential is ever stored
//! outside the vault.

use std::collections::HashMap;

use run_protocol::mcp::HeaderTemplate;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use workflow_graph::secrets::is_credential_header;

/// The most MCP servers one workspace may register.
pub const MAX_SERVERS: i64 = 20;
/// The most headers one server may be given.
pub const MAX_HEADERS: usize = 20;
/// The longest header value (before secrets are filled in).
pub const MAX_HEADER_VALUE: usize = 4096;
/// The longest URL.
pub const MAX_URL: usize = 2048;

/// Where a server stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum McpStatus {
    /// Registered (or changed) and not connected since.
    Pending,
    /// The last connect succeeded; its tools are cached.
    Connected,
    /// The last connect failed (`lastError` says why).
    Failed,
    /// Disconnected by a member: agents may not use it until it connects again.
    Disabled,
}

/// Headers the transport sets itself, or that HTTP owns.
const RESERVED: [&str; 9] = [
    "accept",
    "content-type",
    "content-length",
    "host",
    "connection",
    "transfer-encoding",
    "mcp-session-id",
    "mcp-protocol-version",
    "last-event-id",
];

fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 100
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// What is wrong with a server's headers, if anything: the message for the
/// `headers` field.
pub fn headers_problem(headers: &[HeaderTemplate]) -> Option<String> {
    if headers.len() > MAX_HEADERS {
        return Some(format!("at most {MAX_HEADERS} headers"));
    }
    let mut seen = std::collections::HashSet::new();
    for h in headers {
        let lower = h.name.to_ascii_lowercase();
        if !is_token(&h.name) {
            return Some(format!("{:?} is not a header name", h.name));
        }
        if RESERVED.contains(&lower.as_str()) {
            return Some(format!("{} is set by the connection itself", h.name));
        }
        if !seen.insert(lower) {
            return Some(format!("{} is given twice", h.name));
        }
        if h.value.chars().count() > MAX_HEADER_VALUE {
            return Some(format!(
                "the value of {} is longer than {MAX_HEADER_VALUE} characters",
                h.name
            ));
        }
        if h.value.chars().any(|c| c.is_control()) {
            return Some(format!("the value of {} holds control characters", h.name));
        }
        let pieces = match run_protocol::mcp::parse(&h.value) {
            Ok(p) => p,
            Err(why) => return Some(format!("{}: {why}", h.name)),
        };
        let has_secret = pieces
            .iter()
            .any(|p| matches!(p, run_protocol::mcp::Piece::Secret(_)));
        if is_credential_header(&h.name) && !has_secret {
            return Some(format!(
                "{} carries a credential: store it in the vault and write {{{{secrets.NAME}}}}",
                h.name
            ));
        }
    }
    None
}

/// The MCP servers each agent node uses: `(node index, node id, server)`,
/// from the node's own `config.tools` and its agent's `tools`
/// (`agent_tools`, by agent id).
pub fn node_servers(
    graph: &workflow_graph::Graph,
    agent_tools: &HashMap<String, Vec<String>>,
) -> Vec<(usize, String, String)> {
    let mut out = Vec::new();
    for (i, n) in graph.nodes.iter().enumerate() {
        if n.kind != "agent" {
            continue;
        }
        let mut tools: Vec<String> = n
            .config
            .get("tools")
            .and_then(|t| t.as_array())
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default();
        if let Some(agent) = n.config.get("agentId").and_then(|a| a.as_str()) {
            tools.extend(agent_tools.get(agent).cloned().unwrap_or_default());
        }
        for server in workflow_graph::tools::mcp_servers(&tools) {
            out.push((i, n.id.clone(), server));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(name: &str, value: &str) -> HeaderTemplate {
        HeaderTemplate {
            name: name.into(),
            value: value.into(),
        }
    }

    #[test]
    fn credentials_come_from_the_vault() {
        assert_eq!(
            headers_problem(&[
                h("Authorization", "Bearer {{secrets.ORDERS_TOKEN}}"),
                h("X-Team", "support"),
            ]),
            None
        );
        for bad in [
            vec![h("Authorization", "Bearer abc123")],
            vec![h("X-Api-Key", "abc123")],
            vec![h("Accept", "text/plain")],
            vec![h("Mcp-Session-Id", "x")],
            vec![h("bad name", "x")],
            vec![h("X-A", "1"), h("x-a", "2")],
            vec![h("X-A", "{{ inputs.x }}")],
            vec![h("X-A", "a\nb")],
        ] {
            assert!(headers_problem(&bad).is_some(), "{bad:?}");
        }
    }
}
