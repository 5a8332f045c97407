//! Request and response bodies of the agent routes, and their parsing.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{
    catalog::{parse_category, Category},
    db::agents::{Agent, AgentFields, Scope},
    error::FieldErrors,
    text::{self, TextRule},
    ApiError,
};
use utoipa::{
    openapi::{RefOr, Schema},
    IntoParams, ToSchema,
};

/// The rules of the agent's text fields (the parser and the document share them).
const DISPLAY_NAME: TextRule = text::line(100);
const DESCRIPTION: TextRule = text::text(2000);
/// An emoji or an image URL.
const AVATAR: TextRule = text::text(2048);
const SKILL: TextRule = text::line(40);
const TOOL: TextRule = text::line(64);
const MAX_ENTRIES: usize = 20;
const SYSTEM_PROMPT: TextRule = text::required_text(20_000);
const MODEL: TextRule = text::line(100);
/// What [`parse_slug`] takes.
const SLUG_PATTERN: &str = "^[a-z0-9][a-z0-9-]{0,62}$";

fn slug_schema(nullable: bool) -> RefOr<Schema> {
    text::string_schema(nullable)
        .pattern(Some(SLUG_PATTERN))
        .description(Some("1–63 lower-case letters, digits and `-`, starting with a letter or digit; unique among your agents."))
        .build()
        .into()
}
fn name_schema() -> RefOr<Schema> {
    slug_schema(false)
}
fn optional_name_schema() -> RefOr<Schema> {
    slug_schema(true)
}
fn display_name_schema() -> RefOr<Schema> {
    DISPLAY_NAME.schema("1–100 characters on one line.")
}
fn optional_display_name_schema() -> RefOr<Schema> {
    DISPLAY_NAME.nullable_schema("1–100 characters on one line.")
}
fn description_schema() -> RefOr<Schema> {
    DESCRIPTION.nullable_schema("At most 2000 characters.")
}
fn avatar_schema() -> RefOr<Schema> {
    AVATAR.nullable_schema("An emoji or an image URL; at most 2048 characters.")
}
fn skills_schema() -> RefOr<Schema> {
    SKILL.list_schema(
        MAX_ENTRIES,
        true,
        "At most 20 skills of 1–40 characters on one line; duplicates dropped.",
    )
}
fn tools_schema() -> RefOr<Schema> {
    TOOL.list_schema(
        MAX_ENTRIES,
        true,
        "Built-in tools the agent's model may call wherever it runs: `http_request`, `web_read`, \
         `web_search`; duplicates dropped.",
    )
}
fn system_prompt_schema() -> RefOr<Schema> {
    SYSTEM_PROMPT.schema("1–20000 characters, not only blanks.")
}
fn optional_system_prompt_schema() -> RefOr<Schema> {
    SYSTEM_PROMPT.nullable_schema("1–20000 characters, not only blanks.")
}
fn model_schema() -> RefOr<Schema> {
    MODEL.nullable_schema("Model override (1–100 characters on one line); absent or `null` uses the workflow's or provider's default.")
}
use uuid::Uuid;

/// A new agent, or (for PATCH) the fields to change.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"displayName": "Careful reviewer", "skills": ["code review", "security"]}))]
pub struct AgentInput {
    #[schema(schema_with = optional_name_schema)]
    pub name: Option<String>,
    #[schema(schema_with = optional_display_name_schema)]
    pub display_name: Option<String>,
    #[schema(value_type = Option<Category>)]
    pub category: Option<String>,
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    #[schema(schema_with = avatar_schema)]
    pub avatar: Option<String>,
    #[schema(schema_with = skills_schema)]
    pub skills: Option<Vec<String>>,
    #[schema(schema_with = tools_schema)]
    pub tools: Option<Vec<String>>,
    #[schema(schema_with = optional_system_prompt_schema)]
    pub system_prompt: Option<String>,
    /// Model override; `null` clears it (the workflow's or provider's default applies).
    #[serde(default, deserialize_with = "shared::extract::present")]
    #[schema(schema_with = model_schema)]
    pub model: Option<Option<String>>,
    /// Public agents can be seen and used by every user.
    pub is_public: Option<bool>,
}

/// A new agent: a name, a display name and a system prompt are required;
/// the rest takes defaults. Checked field by field as [`AgentInput`], so a
/// body missing several required fields hears of each.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "reviewer", "displayName": "Reviewer", "category": "engineering", "description": "Reviews a diff and lists the risks.", "avatar": "🔍", "skills": ["code review"], "tools": [], "systemPrompt": "You review code changes and list concrete risks.", "isPublic": false}))]
pub struct NewAgent {
    #[serde(default)]
    #[schema(schema_with = name_schema, required = true)]
    pub name: Option<String>,
    #[serde(default)]
    #[schema(schema_with = display_name_schema, required = true)]
    pub display_name: Option<String>,
    #[schema(value_type = Option<Category>)]
    pub category: Option<String>,
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
    #[schema(schema_with = avatar_schema)]
    pub avatar: Option<String>,
    #[schema(schema_with = skills_schema)]
    pub skills: Option<Vec<String>>,
    #[schema(schema_with = tools_schema)]
    pub tools: Option<Vec<String>>,
    #[serde(default)]
    #[schema(schema_with = system_prompt_schema, required = true)]
    pub system_prompt: Option<String>,
    #[schema(schema_with = model_schema)]
    pub model: Option<String>,
    /// Public agents can be seen and used by every user.
    pub is_public: Option<bool>,
}

impl From<NewAgent> for AgentInput {
    fn from(n: NewAgent) -> Self {
        Self {
            name: n.name,
            display_name: n.display_name,
            category: n.category,
            description: n.description,
            avatar: n.avatar,
            skills: n.skills,
            tools: n.tools,
            system_prompt: n.system_prompt,
            model: n.model.map(Some),
            is_public: n.is_public,
        }
    }
}

impl NewAgent {
    /// The agent's fields, every one checked; each missing required field is named.
    pub fn parse(self) -> Result<AgentFields, ApiError> {
        let mut e = FieldErrors::new();
        for (field, present) in [
            ("name", self.name.is_some()),
            ("displayName", self.display_name.is_some()),
            ("systemPrompt", self.system_prompt.is_some()),
        ] {
            if !present {
                e.add(field, "is required");
            }
        }
        e.finish()?;
        AgentInput::from(self).apply(new_agent_defaults())
    }
}

impl AgentInput {
    /// Merges this input onto `base` (an existing agent, or defaults for a new
    /// one) and checks every field.
    pub fn apply(self, base: AgentFields) -> Result<AgentFields, ApiError> {
        let mut e = FieldErrors::new();
        let name = self
            .name
            .map(|n| e.check("name", parse_slug(&n)))
            .unwrap_or(Some(base.name));
        let display_name = self
            .display_name
            .map(|d| e.check("displayName", DISPLAY_NAME.parse(&d)))
            .unwrap_or(Some(base.display_name));
        let category = self
            .category
            .map(|c| e.check("category", parse_category(&c).map(str::to_owned)))
            .unwrap_or(Some(base.category));
        let description = self
            .description
            .map(|d| e.check("description", DESCRIPTION.parse(&d)))
            .unwrap_or(Some(base.description));
        let avatar = self
            .avatar
            .map(|a| e.check("avatar", AVATAR.parse(&a)))
            .unwrap_or(Some(base.avatar));
        let skills = self
            .skills
            .map(|s| e.check("skills", SKILL.parse_list(s, MAX_ENTRIES, |s| s)))
            .unwrap_or(Some(base.skills));
        let tools = self
            .tools
            .map(|t| {
                e.check(
                    "tools",
                    TOOL.parse_list(t, MAX_ENTRIES, |t| t).and_then(|t| {
                        match workflow_graph::tools::tools_problem(&t) {
                            Some(why) => Err(why),
                            None => Ok(t),
                        }
                    }),
                )
            })
            .unwrap_or(Some(base.tools));
        let system_prompt = self
            .system_prompt
            .map(|p| e.check("systemPrompt", SYSTEM_PROMPT.parse(&p)))
            .unwrap_or(Some(base.system_prompt));
        let model = match self.model {
            None => Some(base.model),
            Some(None) => Some(None),
            Some(Some(m)) => e.check("model", MODEL.parse(&m)).map(Some),
        };
        e.finish()?;
        match (
            name,
            display_name,
            category,
            description,
            avatar,
            skills,
            tools,
            system_prompt,
            model,
        ) {
            (
                Some(name),
                Some(display_name),
                Some(category),
                Some(description),
                Some(avatar),
                Some(skills),
                Some(tools),
                Some(system_prompt),
                Some(model),
            ) => Ok(AgentFields {
                name,
                display_name,
                category,
                description,
                avatar,
                skills,
                tools,
                system_prompt,
                model,
                is_public: self.is_public.unwrap_or(base.is_public),
            }),
            _ => Err(ApiError::new(
                shared::ErrorCode::ValidationError,
                "the agent is invalid",
            )),
        }
    }
}

/// Defaults for a new agent; every required field is overwritten by the input.
pub fn new_agent_defaults() -> AgentFields {
    AgentFields {
        name: String::new(),
        display_name: String::new(),
        category: "other".into(),
        description: String::new(),
        avatar: String::new(),
        skills: Vec::new(),
        tools: Vec::new(),
        system_prompt: String::new(),
        model: None,
        is_public: false,
    }
}

fn parse_slug(raw: &str) -> Result<String, String> {
    let ok = !raw.is_empty()
        && raw.len() <= 63
        && raw
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        && raw
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if ok {
        Ok(raw.to_owned())
    } else {
        Err("must be 1–63 lower-case letters, digits or -, starting with a letter or digit".into())
    }
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// `all` (default: built-in, yours and public), `builtin`, `mine` or `community`.
    #[param(value_type = Option<AgentScope>)]
    pub scope: Option<String>,
    #[param(value_type = Option<Category>)]
    pub category: Option<String>,
    /// Part of the name, description or a skill.
    pub q: Option<String>,
    /// 1–100, default 50.
    #[param(minimum = 1, maximum = 100)]
    pub limit: Option<i64>,
    #[param(minimum = 0)]
    pub offset: Option<i64>,
}

/// Which agents a list shows; the names the parser takes and the document lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum AgentScope {
    All,
    Builtin,
    Mine,
    Community,
}

impl AgentScope {
    const ALL: [(Self, &'static str, Scope); 4] = [
        (Self::All, "all", Scope::All),
        (Self::Builtin, "builtin", Scope::BuiltIn),
        (Self::Mine, "mine", Scope::Mine),
        (Self::Community, "community", Scope::Community),
    ];
}

pub fn parse_scope(raw: Option<&str>) -> Result<Scope, String> {
    let raw = raw.unwrap_or("all");
    AgentScope::ALL
        .iter()
        .find(|(_, name, _)| *name == raw)
        .map(|(_, _, scope)| *scope)
        .ok_or_else(|| "must be all, builtin, mine or community".into())
}

#[cfg(test)]
mod scope_tests {
    use super::*;

    #[test]
    fn the_documented_names_are_the_parsed_names() {
        for (scope, name, _) in AgentScope::ALL {
            assert_eq!(serde_json::to_value(scope).expect("serialises"), name);
            assert!(parse_scope(Some(name)).is_ok());
        }
        assert!(parse_scope(Some("everything")).is_err());
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentView {
    pub id: Uuid,
    /// True for the catalogue's agents.
    pub built_in: bool,
    /// Whether the caller owns it (and so may change it).
    pub mine: bool,
    pub name: String,
    pub display_name: String,
    pub category: String,
    pub description: String,
    pub avatar: String,
    pub skills: Vec<String>,
    pub tools: Vec<String>,
    pub system_prompt: String,
    pub model: Option<String>,
    pub is_public: bool,
    pub usage_count: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl AgentView {
    pub fn new(a: Agent, caller: Uuid) -> Self {
        Self {
            id: a.id,
            built_in: a.workspace_id.is_none(),
            mine: a.workspace_id == Some(caller),
            name: a.name,
            display_name: a.display_name,
            category: a.category,
            description: a.description,
            avatar: a.avatar,
            skills: a.skills,
            tools: a.tools,
            system_prompt: a.system_prompt,
            model: a.model,
            is_public: a.is_public,
            usage_count: a.usage_count,
            created_at: a.created_at,
            updated_at: a.updated_at,
        }
    }
}

#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AgentPage {
    pub items: Vec<AgentView>,
    pub total: i64,
}
