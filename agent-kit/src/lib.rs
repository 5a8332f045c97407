//! What an agent reaches the world with, shared by the executor (agent
//! nodes) and the API functions (checking an MCP server): outbound HTTP that
//! reaches only public addresses ([`guard`]), and an MCP client over the
//! streamable HTTP transport ([`mcp`]).

pub mod guard;
pub mod mcp;
#[cfg(feature = "double")]
pub mod mcp_double;
