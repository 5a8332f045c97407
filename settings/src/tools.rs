//! What the API's tools routes (`/api/v1/tools/…`) call: the platform's LLM
//! provider (the same `LLM_*` variables the executors get) and its web search
//! provider (`WEB_SEARCH_*`).

use secrecy::SecretString;

use crate::{
    executor::LlmSettings,
    lookup::{Lookup, SettingsError},
};

#[derive(Debug, Clone)]
pub struct WebSearchSettings {
    /// `WEB_SEARCH_PROVIDER`: `searxng`, `brave`, or unset (no search).
    pub provider: Option<String>,
    /// `WEB_SEARCH_URL`: SearXNG's base URL.
    pub url: Option<String>,
    /// `WEB_SEARCH_API_KEY`: Brave's key.
    pub api_key: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub struct ToolsSettings {
    pub llm: LlmSettings,
    pub web_search: WebSearchSettings,
}

impl ToolsSettings {
    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            llm: LlmSettings::from_lookup(l)?,
            web_search: WebSearchSettings {
                provider: l
                    .get("WEB_SEARCH_PROVIDER")
                    .filter(|p| !p.trim().is_empty()),
                url: l.get("WEB_SEARCH_URL"),
                api_key: l.get("WEB_SEARCH_API_KEY").map(SecretString::from),
            },
        })
    }
}
