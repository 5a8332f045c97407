//! `web_read`: a page's readable text. HTML is turned into plain text
//! (html2text: headings, lists and tables kept as text, links as numbered
//! footnotes); other text comes as it is.

use serde_json::{json, Value};

use super::{string_field, CALL_TIMEOUT, MAX_FETCH_BYTES};
use crate::{
    error::{ErrorKind, NodeError},
    http::{HttpCall, HttpRunner},
};

/// The width text is wrapped at.
const WIDTH: usize = 100;

pub async fn call(http: &HttpRunner, input: &Value) -> Result<Value, NodeError> {
    let url = string_field(input, "url")?;
    let page = http
        .call(HttpCall {
            method: "GET".into(),
            url: url.to_owned(),
            headers: vec![(
                "accept".into(),
                "text/html, text/plain;q=0.9, */*;q=0.5".into(),
            )],
            body: None,
            timeout: CALL_TIMEOUT,
            max_response_bytes: MAX_FETCH_BYTES,
        })
        .await?;
    let content_type = page["contentType"].as_str().unwrap_or_default().to_owned();
    let text = match &page["body"] {
        Value::String(s) if content_type.contains("html") || looks_like_html(s) => {
            readable(s.clone()).await?
        }
        Value::String(s) => s.clone(),
        other => serde_json::to_string_pretty(other).unwrap_or_default(),
    };
    Ok(json!({ "url": url, "contentType": content_type, "text": text }))
}

fn looks_like_html(s: &str) -> bool {
    let head: String = s.chars().take(512).collect::<String>().to_lowercase();
    head.contains("<html") || head.contains("<!doctype html")
}

/// HTML to text off the async workers (a large page takes a while).
async fn readable(html: String) -> Result<String, NodeError> {
    tokio::task::spawn_blocking(move || html2text::from_read(html.as_bytes(), WIDTH))
        .await
        .map_err(|e| NodeError::new(ErrorKind::Invalid, format!("reading the page crashed: {e}")))?
        .map_err(|e| {
            NodeError::new(
                ErrorKind::Invalid,
                format!("the page is not readable HTML: {e}"),
            )
        })
}
