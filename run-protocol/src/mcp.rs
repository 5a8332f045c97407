//! A workspace's MCP server as a run receives it ([`McpServerDef`]), and
//! the header templates both sides read: a header value is text with
//! `{{secrets.NAME}}` references to the workspace vault and nothing else,
//! so the API can check it when it is registered and the executor can fill
//! it in with the run's secrets without a template engine.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One header sent with every request to the server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeaderTemplate {
    pub name: String,
    /// Text and `{{secrets.NAME}}` references.
    pub value: String,
}

/// An MCP server a run's agents use, by its name in the workspace.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct McpServerDef {
    /// Its streamable HTTP endpoint.
    pub url: String,
    #[serde(default)]
    pub headers: Vec<HeaderTemplate>,
}

/// A piece of a header template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece<'a> {
    Text(&'a str),
    Secret(&'a str),
}

/// Whether `name` can name a vault secret: a letter or `_`, then letters,
/// digits and `_`, 64 at most.
pub fn is_secret_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && name.len() <= 64
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Splits a header template into text and secret references; `Err` says
/// what is wrong (a `{{` that is not a secret reference, a `{%`).
pub fn parse(template: &str) -> Result<Vec<Piece<'_>>, String> {
    if template.contains("{%") || template.contains("{#") {
        return Err("only {{secrets.NAME}} references may be used in a header".into());
    }
    let mut out = Vec::new();
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        if start > 0 {
            out.push(Piece::Text(&rest[..start]));
        }
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "a {{ without its }}".to_owned())?;
        let inner = after[..end].trim();
        let name = inner
            .strip_prefix("secrets.")
            .filter(|n| is_secret_name(n))
            .ok_or_else(|| {
                format!("{{{{{inner}}}}} is not a secret reference; write {{{{secrets.NAME}}}}")
            })?;
        out.push(Piece::Secret(name));
        rest = &after[end + 2..];
    }
    if rest.contains("}}") {
        return Err("a }} without its {{".into());
    }
    if !rest.is_empty() {
        out.push(Piece::Text(rest));
    }
    Ok(out)
}

impl HeaderTemplate {
    /// The secret names the value uses (none if it does not parse).
    pub fn secret_names(&self) -> Vec<String> {
        parse(&self.value)
            .map(|pieces| {
                pieces
                    .into_iter()
                    .filter_map(|p| match p {
                        Piece::Secret(n) => Some(n.to_owned()),
                        Piece::Text(_) => None,
                    })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// The value with its secrets filled in; `Err` names a secret the run
    /// was not given (deleted since), or says why the template is bad.
    pub fn render(&self, secrets: &BTreeMap<String, String>) -> Result<String, String> {
        let mut out = String::new();
        for p in parse(&self.value)? {
            match p {
                Piece::Text(t) => out.push_str(t),
                Piece::Secret(n) => out.push_str(
                    secrets
                        .get(n)
                        .ok_or_else(|| format!("the secret {n} is not in the workspace's vault"))?,
                ),
            }
        }
        Ok(out)
    }
}

/// The secret names a list of headers uses, sorted, each once.
pub fn secret_names(headers: &[HeaderTemplate]) -> Vec<String> {
    let mut names: Vec<String> = headers
        .iter()
        .flat_map(HeaderTemplate::secret_names)
        .collect();
    names.sort();
    names.dedup();
    names
}

impl McpServerDef {
    /// The secret names its headers use.
    pub fn secret_names(&self) -> Vec<String> {
        secret_names(&self.headers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(value: &str) -> HeaderTemplate {
        HeaderTemplate {
            name: "Authorization".into(),
            value: value.into(),
        }
    }

    #[test]
    fn templates_hold_text_and_secret_references_only() {
        assert_eq!(
            parse("Bearer {{ secrets.TOKEN }}!"),
            Ok(vec![
                Piece::Text("Bearer "),
                Piece::Secret("TOKEN"),
                Piece::Text("!")
            ])
        );
        assert_eq!(parse("plain"), Ok(vec![Piece::Text("plain")]));
        for bad in [
            "{{ inputs.x }}",
            "{{secrets.}}",
            "{{secrets.1X}}",
            "{{secrets.A",
            "{% if x %}",
            "a }} b",
            "{{ secrets['A'] }}",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rendering_fills_in_secrets_or_names_the_missing_one() {
        let secrets = BTreeMap::from([("TOKEN".to_owned(), "abc".to_owned())]);
        assert_eq!(
            h("Bearer {{secrets.TOKEN}}").render(&secrets),
            Ok("Bearer abc".into())
        );
        assert_eq!(
            h("{{secrets.TOKEN}}").secret_names(),
            vec!["TOKEN".to_owned()]
        );
        let e = h("Bearer {{secrets.GONE}}")
            .render(&secrets)
            .expect_err("missing");
        assert!(e.contains("GONE"), "{e}");
    }
}
