//! A small SearXNG-compatible search API for tests and the local stack
//! (`GET /search?q=…&format=json`): a few made-up results about the query,
//! the same for the same query. It stands in for the platform's web search.

use axum::{extract::Query, routing::get, Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Params {
    #[serde(default)]
    q: String,
}

async fn search(Query(p): Query<Params>) -> Json<Value> {
    let q = p.q.trim();
    let slug: String = q
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let results: Vec<Value> = (1..=5)
        .map(|i| {
            json!({
                "title": format!("{q} — result {i} (local search double)"),
                "url": format!("https://search.invalid/{slug}/{i}"),
                "content": format!("Made-up result {i} about {q}; configure WEB_SEARCH_PROVIDER for real ones."),
            })
        })
        .collect();
    Json(json!({ "query": q, "results": results }))
}

/// The search API at `/search`.
pub fn router() -> Router {
    Router::new().route("/search", get(search))
}
