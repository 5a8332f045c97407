//! The tools an agent may be given: built into the executor, declared by
//! name on an agent (`tools`) and on an agent node (`config.tools`).

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

/// What is wrong with a list of tool names, if anything.
pub fn tools_problem(tools: &[String]) -> Option<String> {
    let mut seen = std::collections::HashSet::new();
    for t in tools {
        if t.parse::<BuiltinTool>().is_err() {
            let known: Vec<&str> = BuiltinTool::ALL.iter().map(|t| t.as_str()).collect();
            return Some(format!(
                "unknown tool {t:?}; the tools are {}",
                known.join(", ")
            ));
        }
        if !seen.insert(t.as_str()) {
            return Some(format!("{t:?} is named twice"));
        }
    }
    None
}
