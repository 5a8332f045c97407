//! What the vault routes read and answer: names and who changed them, never values.

use chrono::{DateTime, Utc};
use secrecy::SecretString;
use serde::{Deserialize, Serialize};
use shared::{
    db::secrets::SecretMeta,
    text::{self, TextRule},
};
use utoipa::{
    openapi::{RefOr, Schema},
    ToSchema,
};
use uuid::Uuid;

/// A secret's description.
pub const DESCRIPTION: TextRule = text::text(500);

fn description_schema() -> RefOr<Schema> {
    DESCRIPTION.nullable_schema("Up to 500 characters; what the secret is for.")
}

/// A new secret. Its value is write-only: no route ever returns it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "GITHUB_TOKEN", "value": "ghp_…", "description": "Read-only token for the docs repo"}))]
pub struct NewSecret {
    /// What templates say: `{{secrets.NAME}}`. 1–64 letters, digits or `_`,
    /// not starting with a digit.
    #[schema(pattern = "^[A-Za-z_][A-Za-z0-9_]{0,63}$", max_length = 64)]
    pub name: String,
    /// 1–32768 bytes.
    #[schema(value_type = String, min_length = 1, max_length = 32768)]
    pub value: SecretString,
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
}

/// A secret's new value (and, optionally, description).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"value": "ghp_…"}))]
pub struct ReplaceSecret {
    #[schema(value_type = String, min_length = 1, max_length = 32768)]
    pub value: SecretString,
    #[serde(default)]
    #[schema(schema_with = description_schema)]
    pub description: Option<String>,
}

/// A secret as the API shows it: its name and history, never its value.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretView {
    pub name: String,
    pub description: String,
    /// `{{secrets.NAME}}`, ready to paste into a node's config.
    pub reference: String,
    pub created_by: Option<Uuid>,
    pub updated_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// When a run last received it.
    pub last_used_at: Option<DateTime<Utc>>,
}

impl From<SecretMeta> for SecretView {
    fn from(m: SecretMeta) -> Self {
        Self {
            reference: format!("{{{{secrets.{}}}}}", m.name),
            name: m.name,
            description: m.description,
            created_by: m.created_by,
            updated_by: m.updated_by,
            created_at: m.created_at,
            updated_at: m.updated_at,
            last_used_at: m.last_used_at,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SecretList {
    pub items: Vec<SecretView>,
}
