//! Request and response bodies of the workflow routes, and their parsing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use shared::{
    db::workflows::{Change, Listed, Version, VersionListed, Workflow},
    error::FieldErrors,
    text::{self, TextRule},
    workflow::Graph,
    ApiError,
};
use utoipa::{
    openapi::{RefOr, Schema},
    IntoParams, ToSchema,
};
use uuid::Uuid;

/// A workflow's status; the names the parser takes and the document lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WorkflowStatus {
    Draft,
    Published,
    Archived,
}

pub const STATUSES: [&str; 3] = ["draft", "published", "archived"];
pub const MAX_TAGS: usize = 20;
const MAX_MESSAGES: usize = 1000;

/// A workflow's (or template's) name.
pub const NAME: TextRule = text::line(200);
pub const DESCRIPTION: TextRule = text::text(5000);
/// One tag; stored lower-cased, duplicates dropped.
pub const TAG: TextRule = text::label(40);

pub fn name_schema() -> RefOr<Schema> {
    NAME.schema("1–200 characters on one line; leading and trailing spaces are dropped.")
}
pub fn optional_name_schema() -> RefOr<Schema> {
    NAME.nullable_schema("1–200 characters on one line; absent or `null` leaves it as it is.")
}
pub fn description_schema() -> RefOr<Schema> {
    DESCRIPTION.nullable_schema("At most 5000 characters.")
}
pub fn tags_schema() -> RefOr<Schema> {
    TAG.list_schema(MAX_TAGS, true, "At most 20 tags of 1–40 characters without commas; stored lower-cased, duplicates dropped.")
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "Research brief", "description": "Researches a topic and writes a one-page brief.", "tags": ["research"], "canvas": {"nodes": [{"id": "start", "type": "trigger", "config": {"kind": "manual"}}, {"id": "write", "type": "agent", "config": {"systemPrompt": "You write briefs.", "prompt": "Write about {{inputs.topic}}"}}], "edges": [{"from": "start", "to": "write"}]}}))]
pub struct CreateWorkflow {
    #[schema(schema_with = name_schema)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(schema_with = tags_schema)]
    pub tags: Option<Vec<String>>,
    /// `{"nodes": [...], "edges": [...], ...layout}`; see the graph schema.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub canvas: Option<Value>,
    /// Chat messages of the design assistant, oldest first.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub chat_history: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"baseVersion": 3, "name": "Research brief (short)", "tags": ["research", "short"]}))]
pub struct UpdateWorkflow {
    /// The version this change is based on (or send `If-Match: "<version>"`).
    #[serde(default, deserialize_with = "shared::extract::whole_number")]
    pub base_version: Option<i32>,
    #[serde(default)]
    #[schema(schema_with = optional_name_schema)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(schema_with = tags_schema)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub canvas: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub chat_history: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

/// A workflow's whole content (`PUT`): what it leaves out takes the default
/// a new workflow has (no description, no tags, an empty canvas…).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"baseVersion": 3, "name": "Research brief", "description": "Researches a topic.", "canvas": {"nodes": [{"id": "start", "type": "trigger"}], "edges": []}}))]
pub struct ReplaceWorkflow {
    /// The version this replaces (or send `If-Match: "<version>"`).
    #[serde(default, deserialize_with = "shared::extract::whole_number")]
    pub base_version: Option<i32>,
    #[schema(schema_with = name_schema)]
    pub name: String,
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    #[serde(default)]
    #[schema(schema_with = tags_schema)]
    pub tags: Option<Vec<String>>,
    /// `{"nodes": [...], "edges": [...], ...layout}`; see the graph schema.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub canvas: Option<Value>,
    /// Replaces the design chat as a whole (e.g. `[]` clears it); left out, the chat stays.
    #[serde(default)]
    #[schema(value_type = Option<Vec<Object>>)]
    pub chat_history: Option<Value>,
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub settings: Option<Value>,
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"status": "published", "baseVersion": 4}))]
pub struct StatusChange {
    /// `published` needs a valid graph.
    #[schema(value_type = WorkflowStatus)]
    pub status: String,
    #[serde(default, deserialize_with = "shared::extract::whole_number")]
    pub base_version: Option<i32>,
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    #[param(value_type = Option<WorkflowStatus>)]
    pub status: Option<String>,
    /// Comma-separated; workflows having all of them.
    pub tags: Option<String>,
    /// Case-insensitive part of the name.
    pub q: Option<String>,
    /// 1–100, default 20.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    /// `nextCursor` of the previous page.
    #[param(pattern = "^[A-Za-z0-9_-]{32}$")]
    pub cursor: Option<String>,
}

/// The canvas of a workflow whose body gave none.
pub fn empty_canvas() -> Value {
    serde_json::json!({ "nodes": [], "edges": [] })
}

/// Fields a create or update may set, checked; what is absent stays `None`.
pub fn parse_change(
    name: Option<String>,
    description: Option<String>,
    tags: Option<Vec<String>>,
    canvas: Option<Value>,
    chat_history: Option<Value>,
    settings: Option<Value>,
) -> Result<(Change, Option<Graph>), ApiError> {
    let mut e = FieldErrors::new();
    let name = name.and_then(|n| e.check("name", parse_name(&n)));
    let description = description.and_then(|d| e.check("description", DESCRIPTION.parse(&d)));
    let tags = tags.and_then(|t| e.check("tags", parse_tags(t)));
    let graph = canvas
        .as_ref()
        .and_then(|c| e.check("canvas", parse_canvas(c)));
    let chat_history = chat_history.and_then(|h| e.check("chatHistory", parse_chat(h)));
    let settings = settings.and_then(|s| {
        e.check(
            "settings",
            if s.is_object() {
                Ok(s)
            } else {
                Err("must be a JSON object".into())
            },
        )
    });
    e.finish()?;
    Ok((
        Change {
            name,
            description,
            status: None,
            tags,
            canvas,
            chat_history,
            settings,
        },
        graph,
    ))
}

pub fn parse_name(raw: &str) -> Result<String, String> {
    NAME.parse(raw)
}

pub fn parse_tags(raw: Vec<String>) -> Result<Vec<String>, String> {
    TAG.parse_list(raw, MAX_TAGS, |t| t.to_lowercase())
}

/// The canvas must hold a graph that parses; whether it is *valid* is the
/// validator's business (drafts may be incomplete).
fn parse_canvas(canvas: &Value) -> Result<Graph, String> {
    if !canvas.is_object() {
        return Err("must be a JSON object with nodes and edges".into());
    }
    Graph::from_canvas(canvas).map_err(|e| format!("is not a workflow graph: {e}"))
}

fn parse_chat(history: Value) -> Result<Value, String> {
    match history.as_array() {
        None => Err("must be an array of messages".into()),
        Some(items) if items.len() > MAX_MESSAGES => {
            Err(format!("at most {MAX_MESSAGES} messages"))
        }
        Some(items) if !items.iter().all(Value::is_object) => {
            Err("every message must be a JSON object".into())
        }
        Some(_) => Ok(history),
    }
}

#[cfg(test)]
mod status_tests {
    use super::*;

    #[test]
    fn the_documented_names_are_the_parsed_names() {
        let documented: Vec<String> = [
            WorkflowStatus::Draft,
            WorkflowStatus::Published,
            WorkflowStatus::Archived,
        ]
        .iter()
        .map(|s| {
            serde_json::to_value(s)
                .expect("serialises")
                .as_str()
                .expect("a string")
                .to_owned()
        })
        .collect();
        assert_eq!(documented, STATUSES);
    }
}

pub fn parse_status(raw: &str) -> Result<String, ApiError> {
    if STATUSES.contains(&raw) {
        Ok(raw.to_owned())
    } else {
        Err(ApiError::field(
            "status",
            format!("must be one of {}", STATUSES.join(", ")),
        ))
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowView {
    pub id: Uuid,
    /// The workspace it belongs to.
    pub workspace_id: Uuid,
    /// Who made it (`null` once their account is gone).
    pub created_by: Option<Uuid>,
    pub name: String,
    pub description: String,
    #[schema(value_type = WorkflowStatus)]
    pub status: String,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub canvas: Value,
    #[schema(value_type = Vec<Object>)]
    pub chat_history: Value,
    #[schema(value_type = Object)]
    pub settings: Value,
    /// Send it back as `If-Match` or `baseVersion` when changing the workflow.
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Workflow> for WorkflowView {
    fn from(w: Workflow) -> Self {
        Self {
            id: w.id,
            workspace_id: w.workspace_id,
            created_by: w.created_by,
            name: w.name,
            description: w.description,
            status: w.status,
            tags: w.tags,
            canvas: w.canvas.0,
            chat_history: w.chat_history.0,
            settings: w.settings.0,
            version: w.version,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowSummary {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    #[schema(value_type = WorkflowStatus)]
    pub status: String,
    pub tags: Vec<String>,
    pub version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl From<Listed> for WorkflowSummary {
    fn from(w: Listed) -> Self {
        Self {
            id: w.id,
            name: w.name,
            description: w.description,
            status: w.status,
            tags: w.tags,
            version: w.version,
            created_at: w.created_at,
            updated_at: w.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WorkflowPage {
    pub items: Vec<WorkflowSummary>,
    /// Pass as `cursor` for the next page; absent on the last page.
    pub next_cursor: Option<String>,
    /// Workflows matching the filters, over all pages.
    pub total: i64,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionSummary {
    pub version: i32,
    pub name: String,
    pub status: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct VersionView {
    pub version: i32,
    pub name: String,
    pub description: String,
    #[schema(value_type = WorkflowStatus)]
    pub status: String,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub canvas: Value,
    #[schema(value_type = Vec<Object>)]
    pub chat_history: Value,
    #[schema(value_type = Object)]
    pub settings: Value,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<Version> for VersionView {
    fn from(v: Version) -> Self {
        Self {
            version: v.version,
            name: v.name,
            description: v.description,
            status: v.status,
            tags: v.tags,
            canvas: v.canvas.0,
            chat_history: v.chat_history.0,
            settings: v.settings.0,
            created_by: v.created_by,
            created_at: v.created_at,
        }
    }
}

impl From<VersionListed> for VersionSummary {
    fn from(v: VersionListed) -> Self {
        Self {
            version: v.version,
            name: v.name,
            status: v.status,
            created_by: v.created_by,
            created_at: v.created_at,
        }
    }
}
