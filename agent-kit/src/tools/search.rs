//! The web search port behind `web_search`: a SearXNG-compatible JSON API
//! (`GET {base}/search?q=…&format=json`; self-hosted, or the local double),
//! or the Brave Search API. None configured: the tool tells the model so.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{json, Value};

use super::string_field;
use crate::error::{from_transport, retry_after, ErrorKind, NodeError};

/// Results a search returns when the model asks for no count.
const DEFAULT_COUNT: u64 = 5;

pub enum SearchProvider {
    None,
    Searxng {
        base_url: String,
        http: reqwest::Client,
    },
    Brave {
        api_key: SecretString,
        http: reqwest::Client,
    },
}

impl std::fmt::Debug for SearchProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            SearchProvider::None => "SearchProvider::None",
            SearchProvider::Searxng { .. } => "SearchProvider::Searxng",
            SearchProvider::Brave { .. } => "SearchProvider::Brave",
        })
    }
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .connect_timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default()
}

impl SearchProvider {
    /// From `WEB_SEARCH_PROVIDER` (`searxng` or `brave`), `WEB_SEARCH_URL`
    /// (SearXNG's base URL) and `WEB_SEARCH_API_KEY` (Brave's key); the
    /// platform's choice, so its URL is not put behind the address guard.
    pub fn from_env(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let provider = get("WEB_SEARCH_PROVIDER").unwrap_or_default();
        match provider.trim() {
            "" => Ok(SearchProvider::None),
            "searxng" => {
                let base_url = get("WEB_SEARCH_URL")
                    .filter(|u| u.starts_with("http://") || u.starts_with("https://"))
                    .ok_or("WEB_SEARCH_PROVIDER=searxng needs WEB_SEARCH_URL (http or https)")?;
                Ok(SearchProvider::Searxng {
                    base_url: base_url.trim_end_matches('/').to_owned(),
                    http: client(),
                })
            }
            "brave" => {
                let key = get("WEB_SEARCH_API_KEY")
                    .filter(|k| !k.trim().is_empty())
                    .ok_or("WEB_SEARCH_PROVIDER=brave needs WEB_SEARCH_API_KEY")?;
                Ok(SearchProvider::Brave {
                    api_key: SecretString::from(key.trim().to_owned()),
                    http: client(),
                })
            }
            other => Err(format!(
                "WEB_SEARCH_PROVIDER is {other:?}; it must be searxng or brave"
            )),
        }
    }

    /// `{ "query", "results": [{ "title", "url", "snippet" }] }`.
    pub async fn search(&self, input: &Value) -> Result<Value, NodeError> {
        let query = string_field(input, "query")?;
        let count = input
            .get("count")
            .and_then(Value::as_u64)
            .unwrap_or(DEFAULT_COUNT)
            .clamp(1, 10);
        let (req, list, title, url, snippet) = match self {
            SearchProvider::None => {
                return Err(NodeError::new(
                    ErrorKind::Config,
                    "web search is not configured on this platform (WEB_SEARCH_PROVIDER)",
                ))
            }
            SearchProvider::Searxng { base_url, http } => (
                http.get(format!("{base_url}/search"))
                    .query(&[("q", query), ("format", "json")]),
                "/results",
                "title",
                "url",
                "content",
            ),
            SearchProvider::Brave { api_key, http } => (
                http.get("https://api.search.brave.com/res/v1/web/search")
                    .query(&[("q", query), ("count", &count.to_string())])
                    .header("x-subscription-token", api_key.expose_secret())
                    .header("accept", "application/json"),
                "/web/results",
                "title",
                "url",
                "description",
            ),
        };
        let res = req
            .send()
            .await
            .map_err(|e| from_transport(e, "the search provider"))?;
        let status = res.status().as_u16();
        let after = retry_after(res.headers());
        let text = res
            .text()
            .await
            .map_err(|e| from_transport(e, "the search provider"))?;
        if !(200..300).contains(&status) {
            return Err(NodeError::from_status(
                status,
                after,
                "the search provider",
                &text,
            ));
        }
        let body: Value = serde_json::from_str(&text).map_err(|e| {
            NodeError::new(
                ErrorKind::Invalid,
                format!("the search provider sent unreadable JSON: {e}"),
            )
        })?;
        let results: Vec<Value> = body
            .pointer(list)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .take(count as usize)
                    .map(|r| json!({ "title": r[title], "url": r[url], "snippet": r[snippet] }))
                    .collect()
            })
            .unwrap_or_default();
        Ok(json!({ "query": query, "results": results }))
    }
}
