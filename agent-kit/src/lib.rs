//! What an agent reaches the world with, shared by the executor (agent
//! nodes) and the API functions (checking an MCP server, the tools API):
//! outbound HTTP that reaches only public addresses ([`guard`], [`http`]),
//! the LLM providers and their tool-calling conversation ([`providers`],
//! [`conversation`]), the built-in tools ([`tools`]), classified failures
//! ([`error`]), and an MCP client over the streamable HTTP transport ([`mcp`]).

pub mod agent_loop;
pub mod conversation;
pub mod error;
pub mod guard;
pub mod http;
pub mod mcp;
#[cfg(feature = "double")]
pub mod mcp_double;
pub mod providers;
pub mod redact;
#[cfg(feature = "double")]
pub mod search_double;
pub mod tools;
