//! What the MCP server routes read and answer. Header values are shown as
//! registered: text and `{{secrets.NAME}}` references, never a secret.

use chrono::{DateTime, Utc};
use run_protocol::mcp::HeaderTemplate;
use serde::{Deserialize, Serialize};
use shared::{
    db::mcp_servers::McpServerRow,
    mcp::{McpStatus, MAX_HEADERS, MAX_URL},
    text::{self, TextRule},
};
use utoipa::{
    openapi::{ArrayBuilder, ObjectBuilder, RefOr, Schema},
    ToSchema,
};
use uuid::Uuid;
use workflow_graph::tools::MCP_PREFIX;

/// A server's description.
pub const DESCRIPTION: TextRule = text::text(500);
/// What a server's name must look like (agents write `mcp:<name>`).
pub const NAME_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,39}$";
/// What a server's URL must look like before it is parsed and checked.
pub const URL_PATTERN: &str =
    "^[hH][tT][tT][pP][sS]?://[A-Za-z0-9.-]+(:[0-9]{1,5})?([/?#][^\\x00-\\x20\\x7f-\\x9f]*)?$";

fn name_schema(nullable: bool) -> ObjectBuilder {
    text::string_schema(nullable)
        .min_length(Some(1))
        .max_length(Some(40))
        .pattern(Some(NAME_PATTERN))
        .description(Some(
            "1–40 lowercase letters, digits and `-`: agents use the server's tools as \
             `mcp:<name>` (all of them) or `mcp:<name>/<tool>`.",
        ))
}
fn new_name_schema() -> RefOr<Schema> {
    name_schema(false).build().into()
}
fn changed_name_schema() -> RefOr<Schema> {
    name_schema(true).build().into()
}
fn url_schema(nullable: bool) -> ObjectBuilder {
    text::string_schema(nullable)
        .max_length(Some(MAX_URL))
        .pattern(Some(URL_PATTERN))
        .description(Some(
            "The server's streamable HTTP endpoint: an http(s) URL on a public address, \
             without credentials in it (send them in a header from the vault).",
        ))
}
fn new_url_schema() -> RefOr<Schema> {
    url_schema(false).build().into()
}
fn changed_url_schema() -> RefOr<Schema> {
    url_schema(true).build().into()
}
fn description_schema() -> RefOr<Schema> {
    DESCRIPTION.nullable_schema("Up to 500 characters: what the server is for.")
}
fn headers_schema() -> RefOr<Schema> {
    ArrayBuilder::new()
        .schema_type(utoipa::openapi::schema::SchemaType::from_iter([
            utoipa::openapi::schema::Type::Array,
            utoipa::openapi::schema::Type::Null,
        ]))
        .items(RefOr::Ref(utoipa::openapi::Ref::from_schema_name(
            "McpHeader",
        )))
        .max_items(Some(MAX_HEADERS))
        .description(Some(
            "Sent with every request. A header that carries a credential (Authorization, \
             X-Api-Key, …) must take it from the vault: `Bearer {{secrets.ORDERS_TOKEN}}`.",
        ))
        .build()
        .into()
}

/// A header sent to the server.
#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "Authorization", "value": "Bearer {{secrets.ORDERS_TOKEN}}"}))]
pub struct McpHeader {
    /// An HTTP header name.
    #[schema(
        min_length = 1,
        max_length = 100,
        pattern = "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"
    )]
    pub name: String,
    /// Text and `{{secrets.NAME}}` references to the workspace's vault.
    #[schema(max_length = 4096, pattern = "^[^\\x00-\\x1f\\x7f]*$")]
    pub value: String,
}

impl From<McpHeader> for HeaderTemplate {
    fn from(h: McpHeader) -> Self {
        Self {
            name: h.name,
            value: h.value,
        }
    }
}

/// A server to register.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "orders", "url": "https://mcp.example.com/mcp", "description": "Order lookups", "headers": [{"name": "Authorization", "value": "Bearer {{secrets.ORDERS_TOKEN}}"}]}))]
pub struct NewMcpServer {
    #[schema(schema_with = new_name_schema)]
    pub name: String,
    #[schema(schema_with = new_url_schema)]
    pub url: String,
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(schema_with = headers_schema)]
    pub headers: Option<Vec<McpHeader>>,
}

/// Changes to a server; absent or `null` fields stay as they are. A new
/// URL or new headers make it `pending` until it connects again.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"url": "https://mcp.example.com/v2/mcp"}))]
pub struct McpServerChange {
    #[serde(default)]
    #[schema(schema_with = changed_name_schema)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = changed_url_schema)]
    pub url: Option<String>,
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(schema_with = headers_schema)]
    pub headers: Option<Vec<McpHeader>>,
}

/// Who answered the last successful connect.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpServerInfo {
    pub name: String,
    pub version: String,
    pub protocol_version: String,
}

/// A server as the API shows it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpServerView {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub url: String,
    pub headers: Vec<McpHeader>,
    pub status: McpStatus,
    /// Why the last connect failed (when `status` is `failed`).
    pub last_error: Option<String>,
    pub server_info: Option<McpServerInfo>,
    /// How many tools the last successful connect found.
    pub tool_count: usize,
    /// What an agent's `tools` says to use all of them: `mcp:<name>`.
    pub reference: String,
    /// The last connect, whatever its outcome.
    pub checked_at: Option<DateTime<Utc>>,
    /// The last successful connect.
    pub connected_at: Option<DateTime<Utc>>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<McpServerRow> for McpServerView {
    fn from(r: McpServerRow) -> Self {
        Self {
            id: r.id,
            reference: format!("{MCP_PREFIX}{}", r.name),
            name: r.name,
            description: r.description,
            url: r.url,
            headers: r
                .headers
                .0
                .into_iter()
                .map(|h| McpHeader {
                    name: h.name,
                    value: h.value,
                })
                .collect(),
            status: r.status,
            last_error: r.last_error,
            server_info: r.server_info.and_then(|v| serde_json::from_value(v).ok()),
            tool_count: r.tools.as_array().map_or(0, Vec::len),
            checked_at: r.checked_at,
            connected_at: r.connected_at,
            created_by: r.created_by,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct McpServerList {
    /// By name.
    pub servers: Vec<McpServerView>,
}

/// A tool of a server, as its last successful connect listed it.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpToolView {
    pub name: String,
    pub description: String,
    /// A JSON Schema object for the tool's arguments.
    #[schema(value_type = Object)]
    pub input_schema: serde_json::Value,
    /// What an agent's `tools` says to use only this one: `mcp:<server>/<tool>`.
    #[serde(default)]
    pub reference: String,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct McpToolList {
    pub server: McpServerView,
    pub tools: Vec<McpToolView>,
}
