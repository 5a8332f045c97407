//! The tools an agent may be given, declared by name on an agent (`tools`)
//! and on an agent node (`config.tools`): built into the executor
//! (`web_search`), or a workspace's MCP server's: all of them
//! (`mcp:orders`) or one (`mcp:orders/get_order`).

use serde::{Deserialize, Serialize};

/// How many model turns an agent node takes when it sets no `maxIterations`.
pub const DEFAULT_TOOL_ITERATIONS: u32 = 10;
/// The most an agent node may set.
pub const MAX_TOOL_ITERATIONS: u32 = 50;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinTool {
    /// An HTTP request, behind the same address guard as `http` nodes.
    HttpRequest,
    /// A web page's readable text.
    WebRead,
    /// A web search, through the platform's search provider.
    WebSearch,
    /// A text file of the workspace's files, by id or name.
    ReadFile,
}

impl BuiltinTool {
    pub const ALL: [BuiltinTool; 4] = [
        BuiltinTool::HttpRequest,
        BuiltinTool::WebRead,
        BuiltinTool::WebSearch,
        BuiltinTool::ReadFile,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            BuiltinTool::HttpRequest => "http_request",
            BuiltinTool::WebRead => "web_read",
            BuiltinTool::WebSearch => "web_search",
            BuiltinTool::ReadFile => "read_file",
        }
    }
}

impl std::str::FromStr for BuiltinTool {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|t| t.as_str() == s).ok_or(())
    }
}

/// The prefix of an MCP server's tools.
pub const MCP_PREFIX: &str = "mcp:";
/// The longest MCP server name.
pub const MAX_SERVER_NAME: usize = 40;
/// The longest MCP tool name (as the MCP specification allows).
pub const MAX_MCP_TOOL_NAME: usize = 128;

/// Whether `name` can name a workspace's MCP server: 1–40 lowercase letters,
/// digits and `-`, starting with a letter or digit.
pub fn is_server_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_SERVER_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !name.starts_with('-')
}

fn is_mcp_tool_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= MAX_MCP_TOOL_NAME
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'))
}

/// One entry of a `tools` list.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ToolRef {
    Builtin(BuiltinTool),
    /// A workspace's MCP server: all its tools, or the one named.
    Mcp {
        server: String,
        tool: Option<String>,
    },
}

impl ToolRef {
    /// The MCP server it names, if any.
    pub fn server(&self) -> Option<&str> {
        match self {
            ToolRef::Mcp { server, .. } => Some(server),
            ToolRef::Builtin(_) => None,
        }
    }
}

impl std::str::FromStr for ToolRef {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        if let Some(rest) = s.strip_prefix(MCP_PREFIX) {
            let (server, tool) = match rest.split_once('/') {
                Some((server, tool)) => (server, Some(tool)),
                None => (rest, None),
            };
            if !is_server_name(server) {
                return Err(format!(
                    "{s:?}: an MCP server's name is 1–{MAX_SERVER_NAME} lowercase letters, digits and -"
                ));
            }
            if tool.is_some_and(|t| !is_mcp_tool_name(t)) {
                return Err(format!(
                    "{s:?}: an MCP tool's name is 1–{MAX_MCP_TOOL_NAME} letters, digits, _, - and ."
                ));
            }
            return Ok(ToolRef::Mcp {
                server: server.to_owned(),
                tool: tool.map(str::to_owned),
            });
        }
        s.parse::<BuiltinTool>().map(ToolRef::Builtin).map_err(|()| {
            let known: Vec<&str> = BuiltinTool::ALL.iter().map(|t| t.as_str()).collect();
            format!(
                "unknown tool {s:?}; the tools are {}, and a workspace's MCP servers' as mcp:<server> or mcp:<server>/<tool>",
                known.join(", ")
            )
        })
    }
}

impl std::fmt::Display for ToolRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ToolRef::Builtin(b) => f.write_str(b.as_str()),
            ToolRef::Mcp { server, tool: None } => write!(f, "{MCP_PREFIX}{server}"),
            ToolRef::Mcp {
                server,
                tool: Some(t),
            } => write!(f, "{MCP_PREFIX}{server}/{t}"),
        }
    }
}

/// The MCP servers a list of tool names uses (names that do not parse are skipped).
pub fn mcp_servers<'a>(tools: impl IntoIterator<Item = &'a String>) -> Vec<String> {
    let mut out: Vec<String> = tools
        .into_iter()
        .filter_map(|t| t.parse::<ToolRef>().ok())
        .filter_map(|t| t.server().map(str::to_owned))
        .collect();
    out.sort();
    out.dedup();
    out
}

/// What is wrong with a list of tool names, if anything.
pub fn tools_problem(tools: &[String]) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    for t in tools {
        if let Err(why) = t.parse::<ToolRef>() {
            return Some(why);
        }
        if !seen.insert(t.as_str()) {
            return Some(format!("{t:?} is named twice"));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_names_parse() {
        assert_eq!(
            "web_search".parse::<ToolRef>(),
            Ok(ToolRef::Builtin(BuiltinTool::WebSearch))
        );
        assert_eq!(
            "mcp:orders".parse::<ToolRef>(),
            Ok(ToolRef::Mcp {
                server: "orders".into(),
                tool: None
            })
        );
        let one: ToolRef = "mcp:orders-eu/get.order_v2".parse().expect("one tool");
        assert_eq!(one.server(), Some("orders-eu"));
        assert_eq!(one.to_string(), "mcp:orders-eu/get.order_v2");
        for bad in [
            "mcp:",
            "mcp:Orders",
            "mcp:-x",
            "mcp:orders/",
            "mcp:orders/a b",
            "mcp:a/b/c",
            "browse",
            "MCP:orders",
        ] {
            assert!(bad.parse::<ToolRef>().is_err(), "{bad}");
        }
        let long = format!("mcp:{}", "a".repeat(41));
        assert!(long.parse::<ToolRef>().is_err());
    }

    #[test]
    fn lists_are_checked_and_servers_collected() {
        let tools: Vec<String> = ["web_read", "mcp:orders/add", "mcp:orders", "mcp:crm"]
            .map(String::from)
            .into();
        assert_eq!(tools_problem(&tools), None);
        assert_eq!(
            mcp_servers(&tools),
            vec!["crm".to_owned(), "orders".to_owned()]
        );
        let twice: Vec<String> = ["mcp:crm", "mcp:crm"].map(String::from).into();
        assert!(tools_problem(&twice).is_some_and(|w| w.contains("twice")));
    }
}
