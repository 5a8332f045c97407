//! An MCP client over the streamable HTTP transport (rmcp, the official
//! Rust SDK): connect (initialize), list the server's tools, call one.
//! Servers are reached through [`crate::guard`], every step has a timeout,
//! answers are size-capped, and failures are classified without the URL or
//! header values in their text.

pub mod pool;
pub mod transport;

use std::{collections::HashMap, error::Error as StdError, time::Duration};

use http::{HeaderName, HeaderValue};
use rmcp::{
    model::{CallToolRequestParams, ClientCapabilities, ClientInfo, Implementation, RawContent},
    service::{ClientInitializeError, RoleClient, RunningService, ServiceError},
    transport::{
        streamable_http_client::{StreamableHttpClientTransportConfig, StreamableHttpError},
        StreamableHttpClientTransport,
    },
    ServiceExt,
};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::guard::{self, AllowList};
use transport::{GuardedHttp, HttpError};

/// The most one answer of a server may hold.
pub const MAX_ANSWER_BYTES: usize = 4 * 1024 * 1024;
/// The most tools one server may offer (more are not listed).
pub const MAX_TOOLS: usize = 200;

/// A tool as a server describes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct McpTool {
    pub name: String,
    #[serde(default)]
    pub description: String,
    /// A JSON Schema object for the tool's arguments.
    pub input_schema: Value,
}

/// Who answered the handshake.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerInfo {
    pub name: String,
    pub version: String,
    pub protocol_version: String,
}

/// What a tool call answered. A tool's own failure (`is_error`) is an
/// answer too: the model is told and may try something else.
#[derive(Debug, Clone, PartialEq)]
pub struct ToolAnswer {
    pub is_error: bool,
    /// Its structured content when it gave some; else its text (one string),
    /// with other kinds of content named, not inlined.
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum McpErrorKind {
    /// The URL or a header cannot be used.
    Config,
    /// The URL names a private or internal address.
    Blocked,
    /// The server wants credentials it was not given, or refused them.
    Unauthorized,
    Timeout,
    /// The server could not be reached, or the connection broke.
    Network,
    /// The server answered something that is not MCP, or an error.
    Protocol,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct McpError {
    pub kind: McpErrorKind,
    pub message: String,
}

impl McpError {
    fn new(kind: McpErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// Whether trying again later may work.
    pub fn transient(&self) -> bool {
        matches!(self.kind, McpErrorKind::Timeout | McpErrorKind::Network)
    }
}

/// Classifies a failed handshake.
fn classify_init(e: &ClientInitializeError) -> McpError {
    match e {
        ClientInitializeError::TransportError { error, .. } => classify(error),
        ClientInitializeError::JsonRpcError(data) => McpError::new(
            McpErrorKind::Protocol,
            format!("the server refused the handshake: {}", data.message),
        ),
        other => classify(other),
    }
}

/// Classifies a failed request.
fn classify_service(e: &ServiceError) -> McpError {
    match e {
        ServiceError::TransportSend(error) => classify(error),
        ServiceError::McpError(data) => McpError::new(
            McpErrorKind::Protocol,
            format!("the server answered with an error: {}", data.message),
        ),
        ServiceError::Timeout { .. } => {
            McpError::new(McpErrorKind::Timeout, "the server did not answer in time")
        }
        ServiceError::TransportClosed => {
            McpError::new(McpErrorKind::Network, "the connection to the server closed")
        }
        other => classify(other),
    }
}

/// Classifies a failure by what it carries, never quoting a URL (a
/// server's URL may hold a token in its query).
fn classify(e: &(dyn StdError + 'static)) -> McpError {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(r) = err.downcast_ref::<reqwest::Error>() {
            return from_reqwest(r);
        }
        if let Some(h) = err.downcast_ref::<StreamableHttpError<HttpError>>() {
            match h {
                StreamableHttpError::AuthRequired(_) => {
                    return McpError::new(
                        McpErrorKind::Unauthorized,
                        "the server asks for credentials (HTTP 401): check the server's headers",
                    )
                }
                StreamableHttpError::Client(HttpError::Request(r)) => return from_reqwest(r),
                StreamableHttpError::Client(HttpError::TooLarge(n)) => {
                    return McpError::new(
                        McpErrorKind::Protocol,
                        format!("the server's answer is larger than {n} bytes"),
                    )
                }
                StreamableHttpError::UnexpectedServerResponse(m) if m.contains("HTTP 403") => {
                    return McpError::new(McpErrorKind::Unauthorized, m.to_string())
                }
                _ => {}
            }
        }
        cur = err.source();
    }
    McpError::new(McpErrorKind::Protocol, chain(e))
}

fn from_reqwest(r: &reqwest::Error) -> McpError {
    let detail = r
        .source()
        .map(chain)
        .unwrap_or_else(|| "request failed".into());
    if detail.contains("blocked:") {
        return McpError::new(McpErrorKind::Blocked, detail);
    }
    if r.is_timeout() {
        return McpError::new(McpErrorKind::Timeout, "the server did not answer in time");
    }
    if let Some(status) = r.status() {
        return McpError::new(
            McpErrorKind::Protocol,
            format!("the server answered HTTP {status}"),
        );
    }
    McpError::new(
        McpErrorKind::Network,
        format!("cannot reach the server: {detail}"),
    )
}

/// An error and its causes, one line.
fn chain(e: &(dyn StdError + 'static)) -> String {
    let mut parts = vec![e.to_string()];
    let mut cur = e.source();
    while let Some(c) = cur {
        let s = c.to_string();
        if !parts.iter().any(|p| p.contains(&s)) {
            parts.push(s);
        }
        cur = c.source();
    }
    let mut line = parts.join(": ");
    if line.len() > 500 {
        let mut cut = 500;
        while !line.is_char_boundary(cut) {
            cut -= 1;
        }
        line.truncate(cut);
    }
    line
}

fn timed_out(what: &str, after: Duration) -> McpError {
    McpError::new(
        McpErrorKind::Timeout,
        format!("{what} took longer than {} s", after.as_secs()),
    )
}

/// The URL a server may be registered with: absolute http(s), no
/// credentials in it (user info, or a query parameter named like one), and
/// not a private address outright.
pub fn check_url(raw: &str, allow: &AllowList) -> Result<url::Url, McpError> {
    let url = url::Url::parse(raw)
        .map_err(|e| McpError::new(McpErrorKind::Config, format!("invalid URL: {e}")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(McpError::new(
            McpErrorKind::Config,
            "the URL must be http or https",
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(McpError::new(
            McpErrorKind::Config,
            "the URL must not hold credentials; send them in a header from the vault",
        ));
    }
    if let Some((name, _)) = url.query_pairs().find(|(k, _)| {
        let k = k.to_ascii_lowercase().replace('_', "-");
        workflow_graph::secrets::is_credential_header(&k)
            || matches!(
                k.as_str(),
                "key" | "auth" | "sig" | "signature" | "access-token"
            )
    }) {
        return Err(McpError::new(
            McpErrorKind::Config,
            format!(
                "the URL's query holds a credential ({name}); send it in a header whose value is a vault reference"
            ),
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(McpError::new(McpErrorKind::Config, "the URL needs a host"));
    }
    if guard::blocked_literal(&url, allow) {
        return Err(McpError::new(
            McpErrorKind::Blocked,
            "blocked: the URL names a private or internal address",
        ));
    }
    Ok(url)
}

/// A connected server.
pub struct McpClient {
    running: RunningService<RoleClient, ClientInfo>,
    info: ServerInfo,
}

impl McpClient {
    /// Connects and completes the handshake within `timeout`. `headers` are
    /// sent with every request (their values already resolved).
    pub async fn connect(
        url: &str,
        headers: &[(String, String)],
        allow: &AllowList,
        timeout: Duration,
    ) -> Result<Self, McpError> {
        let url = check_url(url, allow)?;
        let mut custom = HashMap::new();
        for (name, value) in headers {
            let n = HeaderName::from_bytes(name.as_bytes()).map_err(|_| {
                McpError::new(
                    McpErrorKind::Config,
                    format!("invalid header name {name:?}"),
                )
            })?;
            let mut v = HeaderValue::from_str(value).map_err(|_| {
                McpError::new(
                    McpErrorKind::Config,
                    format!("the value of header {name:?} is not a valid header value"),
                )
            })?;
            v.set_sensitive(true);
            custom.insert(n, v);
        }
        let client = guard::guarded_builder(allow)
            .user_agent(concat!("saasit/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| McpError::new(McpErrorKind::Config, e.to_string()))?;
        let transport = StreamableHttpClientTransport::with_client(
            GuardedHttp::new(client, MAX_ANSWER_BYTES),
            StreamableHttpClientTransportConfig::with_uri(url.as_str()).custom_headers(custom),
        );
        let hello = ClientInfo::new(
            ClientCapabilities::default(),
            Implementation::new("saasit", env!("CARGO_PKG_VERSION")),
        );
        let running = tokio::time::timeout(timeout, hello.serve(transport))
            .await
            .map_err(|_| timed_out("connecting", timeout))?
            .map_err(|e| classify_init(&e))?;
        let info = running
            .peer_info()
            .map(|p| ServerInfo {
                name: p.server_info.name.clone(),
                version: p.server_info.version.clone(),
                protocol_version: p.protocol_version.to_string(),
            })
            .unwrap_or_else(|| ServerInfo {
                name: String::new(),
                version: String::new(),
                protocol_version: String::new(),
            });
        Ok(Self { running, info })
    }

    pub fn server(&self) -> &ServerInfo {
        &self.info
    }

    /// The server's tools (all pages, at most [`MAX_TOOLS`]).
    pub async fn tools(&self, timeout: Duration) -> Result<Vec<McpTool>, McpError> {
        let tools = tokio::time::timeout(timeout, self.running.list_all_tools())
            .await
            .map_err(|_| timed_out("listing tools", timeout))?
            .map_err(|e| classify_service(&e))?;
        Ok(tools
            .into_iter()
            .take(MAX_TOOLS)
            .map(|t| McpTool {
                name: t.name.into_owned(),
                description: t.description.map(|d| d.into_owned()).unwrap_or_default(),
                input_schema: Value::Object((*t.input_schema).clone()),
            })
            .collect())
    }

    /// Calls one tool with an object of arguments.
    pub async fn call(
        &self,
        tool: &str,
        arguments: Value,
        timeout: Duration,
    ) -> Result<ToolAnswer, McpError> {
        let args = match arguments {
            Value::Object(m) => Some(m),
            Value::Null => None,
            _ => {
                return Err(McpError::new(
                    McpErrorKind::Config,
                    "a tool's arguments must be an object",
                ))
            }
        };
        let mut params = CallToolRequestParams::new(tool.to_owned());
        if let Some(a) = args {
            params = params.with_arguments(a);
        }
        let result = tokio::time::timeout(timeout, self.running.call_tool(params))
            .await
            .map_err(|_| timed_out(&format!("the tool {tool:?}"), timeout))?
            .map_err(|e| classify_service(&e))?;
        let value = match result.structured_content {
            Some(v) => v,
            None => {
                let parts: Vec<String> = result
                    .content
                    .iter()
                    .map(|c| match &c.raw {
                        RawContent::Text(t) => t.text.clone(),
                        RawContent::Image(i) => format!("[image {}]", i.mime_type),
                        RawContent::Audio(a) => format!("[audio {}]", a.mime_type),
                        RawContent::Resource(_) => "[embedded resource]".to_owned(),
                        RawContent::ResourceLink(r) => format!("[resource {}]", r.uri),
                    })
                    .collect();
                Value::String(parts.join("\n"))
            }
        };
        Ok(ToolAnswer {
            is_error: result.is_error.unwrap_or(false),
            value,
        })
    }

    /// Ends the session (the server is told when it keeps sessions).
    pub async fn close(self) {
        let mut running = self.running;
        let _ = running.close_with_timeout(Duration::from_secs(5)).await;
    }
}
