//! `read_file`: a text file of the run's workspace, by id or name, through
//! the callback API (which answers a short-lived link to its bytes). HTML is
//! turned into readable text; files that are not text are refused to the
//! model with their type.

use serde_json::{json, Value};

use super::{string_field, MAX_FETCH_BYTES};
use crate::{
    callback::CallbackClient,
    error::{ErrorKind, NodeError},
};

/// Types read as text (parameters such as `charset` aside).
fn textual(content_type: &str) -> bool {
    let base = content_type.split(';').next().unwrap_or_default().trim();
    base.starts_with("text/")
        || matches!(
            base,
            "application/json"
                | "application/x-ndjson"
                | "application/xml"
                | "application/yaml"
                | "image/svg+xml"
        )
}

pub async fn call(files: Option<&CallbackClient>, input: &Value) -> Result<Value, NodeError> {
    let reference = string_field(input, "file")?;
    let files = files.ok_or_else(|| {
        NodeError::new(
            ErrorKind::Config,
            "no workspace files here (a graph run on its own has none)",
        )
    })?;
    let link = files
        .file(reference)
        .await
        .map_err(|e| NodeError::new(ErrorKind::Upstream, e.to_string()))?
        .ok_or_else(|| {
            NodeError::new(
                ErrorKind::Invalid,
                format!("the workspace has no uploaded file {reference:?}"),
            )
        })?;
    if !textual(&link.content_type) {
        return Err(NodeError::new(
            ErrorKind::Invalid,
            format!(
                "{} is {}, not text: read_file reads text files",
                link.name, link.content_type
            ),
        ));
    }
    let bytes = files
        .download(&link.download_url, MAX_FETCH_BYTES)
        .await
        .map_err(|why| {
            NodeError::new(ErrorKind::Upstream, format!("reading {}: {why}", link.name))
        })?;
    let raw = String::from_utf8_lossy(&bytes).into_owned();
    let text = if link.content_type.starts_with("text/html") {
        html2text::from_read(raw.as_bytes(), 100).unwrap_or(raw)
    } else {
        raw
    };
    Ok(
        json!({ "file": link.name, "contentType": link.content_type, "size": link.size, "text": text }),
    )
}
