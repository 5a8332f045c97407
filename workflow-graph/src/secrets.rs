//! What a graph asks of the workspace vault: the secret names its templates
//! use (`{{secrets.NAME}}`), and header values that look like a credential
//! written in clear, which should be a vault reference instead.

use std::collections::BTreeSet;

use super::{graph::Graph, node::NodeSpec};

/// Header names that carry credentials (compared lower-case).
const CREDENTIAL_HEADERS: [&str; 6] = [
    "authorization",
    "proxy-authorization",
    "cookie",
    "x-api-key",
    "api-key",
    "apikey",
];

/// Words that make a header name a credential's (`X-Auth-Token`, `X-Client-Secret`).
const CREDENTIAL_WORDS: [&str; 4] = ["token", "secret", "password", "api-key"];

/// Whether a header of this name carries a credential.
pub fn is_credential_header(name: &str) -> bool {
    let lower = name.trim().to_ascii_lowercase();
    CREDENTIAL_HEADERS.contains(&lower.as_str())
        || CREDENTIAL_WORDS.iter().any(|w| lower.contains(w))
        || lower.replace('_', "-").contains("api-key")
}

/// Whether a header value is written in clear (no template in it) and not empty.
pub fn is_literal(value: &str) -> bool {
    !value.trim().is_empty() && !value.contains("{{") && !value.contains("{%")
}

/// The secret names a graph's templates use, sorted. Nodes whose config does
/// not parse are skipped (validation reports them); a template that does not
/// compile names nothing. `{{ secrets[name] }}` with a computed name names
/// nothing either: a run receives only the secrets named outright.
pub fn secret_references(graph: &Graph) -> BTreeSet<String> {
    let env = minijinja::Environment::new();
    let mut names = BTreeSet::new();
    for n in &graph.nodes {
        let Some(Ok(spec)) = NodeSpec::parse(&n.kind, &n.config) else {
            continue;
        };
        let mut vars = Vec::new();
        if let NodeSpec::Condition(c) = &spec {
            if let Ok(e) = env.compile_expression(&c.expression) {
                vars.extend(e.undeclared_variables(true));
            }
        }
        for (_, source) in spec.templates() {
            if !source.contains("secrets") {
                continue;
            }
            if let Ok(t) = env.template_from_str(source) {
                vars.extend(t.undeclared_variables(true));
            }
        }
        for v in vars {
            let mut parts = v.split('.');
            if parts.next() == Some("secrets") {
                if let Some(name) = parts.next() {
                    names.insert(name.to_owned());
                }
            }
        }
    }
    names
}
