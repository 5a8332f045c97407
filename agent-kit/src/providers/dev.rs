//! The deterministic `dev` provider, for local use only: it says so in its
//! answer.

use serde_json::json;

use super::{Completion, CompletionRequest, DEV_NOTICE};
use crate::conversation::{ToolCall, ToolOutcome, Turn};

/// A deterministic answer that shows what the agent was asked. Offered
/// tools, it first calls each one it can find an input for in the prompt
/// (the first URL for `web_read` and `http_request`, the prompt itself for
/// `web_search`, the first file name or id for `read_file`, and for any
/// other tool, such as an MCP server's `orders__get_order`, a JSON object
/// written right after its name), then answers with what they returned:
/// the tool loop can be tried locally without a model.
pub fn complete(req: &CompletionRequest, on_text: &mut (dyn FnMut(&str) + Send)) -> Completion {
    // In a chat, the user's latest message is what is answered.
    let latest = req
        .turns
        .iter()
        .rev()
        .find_map(|t| match t {
            Turn::User(text) => Some(text.as_str()),
            _ => None,
        })
        .unwrap_or(&req.prompt);
    let excerpt: String = latest.chars().take(200).collect();
    let words = |s: &str| s.split_whitespace().count() as u64;
    let input_tokens = words(&req.prompt) + req.system.as_deref().map_or(0, words);
    let results: Vec<&ToolOutcome> = req
        .turns
        .iter()
        .filter_map(|t| match t {
            Turn::Results(r) => Some(r),
            Turn::Assistant { .. } | Turn::User(_) => None,
        })
        .flatten()
        .collect();
    if results.is_empty() {
        let calls: Vec<ToolCall> = req
            .tools
            .iter()
            .filter_map(|t| {
                let input = match t.name.as_str() {
                    "web_read" | "http_request" => json!({ "url": first_url(&req.prompt)? }),
                    "web_search" => json!({ "query": excerpt.clone() }),
                    "read_file" => json!({ "file": first_file(&req.prompt)? }),
                    other => arguments_after(&req.prompt, other)?,
                };
                Some((t.name.clone(), input))
            })
            .enumerate()
            .map(|(i, (name, input))| ToolCall {
                id: format!("dev_{}", i + 1),
                name,
                input,
            })
            .collect();
        if !calls.is_empty() {
            return Completion {
                text: String::new(),
                calls,
                model: "dev".into(),
                input_tokens,
                output_tokens: 0,
            };
        }
    }
    let mut text = format!(
        "[dev provider] {DEV_NOTICE}\nPrompt ({} characters): {excerpt}",
        latest.chars().count()
    );
    for r in results {
        let shown: String = r.content.chars().take(300).collect();
        let how = if r.is_error { "failed" } else { "returned" };
        text.push_str(&format!("\nTool call {} {how}: {shown}", r.call_id));
    }
    // Streamed a few words at a time, as a model's answer would be.
    let words: Vec<&str> = text.split_inclusive(' ').collect();
    for piece in words.chunks(8) {
        on_text(&piece.concat());
    }
    Completion {
        text,
        calls: Vec::new(),
        model: "dev".into(),
        input_tokens,
        output_tokens: 0,
    }
}

/// The JSON object written right after `name` in a text
/// (`orders__get_order {"orderId": "A-1001"}`).
fn arguments_after(text: &str, name: &str) -> Option<serde_json::Value> {
    let at = text.find(name)? + name.len();
    let rest = text[at..].trim_start();
    if !rest.starts_with('{') {
        return None;
    }
    let mut values = serde_json::Deserializer::from_str(rest).into_iter::<serde_json::Value>();
    values.next()?.ok().filter(serde_json::Value::is_object)
}

/// The first http(s) URL in a text.
fn first_url(text: &str) -> Option<String> {
    let start = text.find("https://").or_else(|| text.find("http://"))?;
    let url: String = text[start..]
        .chars()
        .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | '\'' | '<' | '>' | ')' | ']'))
        .collect();
    Some(url.trim_end_matches(['.', ',', ';', ':']).to_owned())
}

/// The first word of a text that names a file: a UUID, or a name with an
/// extension (`notes.md`), URLs aside.
fn first_file(text: &str) -> Option<String> {
    text.split_whitespace()
        .map(|w| {
            w.trim_matches(|c: char| {
                matches!(c, '"' | '\'' | ',' | ';' | ':' | '(' | ')' | '[' | ']')
            })
        })
        .map(|w| w.trim_end_matches('.'))
        .find(|w| {
            if w.contains("://") {
                return false;
            }
            if uuid_like(w) {
                return true;
            }
            match w.rsplit_once('.') {
                Some((stem, ext)) => {
                    !stem.is_empty()
                        && (1..=5).contains(&ext.len())
                        && ext.chars().all(|c| c.is_ascii_alphanumeric())
                        && ext.chars().any(|c| c.is_ascii_alphabetic())
                }
                None => false,
            }
        })
        .map(str::to_owned)
}

fn uuid_like(w: &str) -> bool {
    w.len() == 36
        && w.chars().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => c == '-',
            _ => c.is_ascii_hexdigit(),
        })
}
