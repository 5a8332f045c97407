//! Input templating at run time, with the same rules the validator checks:
//! `{{inputs.x}}`, `{{node.output.path}}`, `{{secrets.NAME}}`. Undefined
//! values are errors (strict), reported on the node that used them.
//!
//! A string that is exactly one expression (`"{{ fetch.output.items }}"`)
//! keeps the value's JSON type; any other string renders to text.

use minijinja::{Environment, UndefinedBehavior, Value as Ctx};
use serde_json::Value;

use crate::error::{ErrorKind, NodeError};

pub struct Renderer {
    env: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

fn template_error(e: minijinja::Error) -> NodeError {
    NodeError::new(ErrorKind::Template, e.to_string())
}

impl Renderer {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        Self { env }
    }

    /// The variable names a template string uses at the top level (`inputs`, node ids, `secrets`).
    pub fn heads(&self, source: &str) -> Vec<String> {
        if !source.contains("{{") && !source.contains("{%") {
            return Vec::new();
        }
        self.env
            .template_from_str(source)
            .map(|t| t.undeclared_variables(false).into_iter().collect())
            .unwrap_or_default()
    }

    /// Heads used by an expression.
    pub fn expression_heads(&self, expr: &str) -> Vec<String> {
        self.env
            .compile_expression(expr)
            .map(|e| e.undeclared_variables(false).into_iter().collect())
            .unwrap_or_default()
    }

    /// Renders to text (prompts, URLs, header values).
    pub fn text(&self, source: &str, ctx: &Ctx) -> Result<String, NodeError> {
        if !source.contains("{{") && !source.contains("{%") {
            return Ok(source.to_owned());
        }
        self.env.render_str(source, ctx).map_err(template_error)
    }

    /// Renders one JSON string leaf: a lone expression keeps its type.
    pub fn value(&self, source: &str, ctx: &Ctx) -> Result<Value, NodeError> {
        if let Some(expr) = lone_expression(source) {
            let v = self
                .env
                .compile_expression(expr)
                .map_err(template_error)?
                .eval(ctx)
                .map_err(template_error)?;
            return serde_json::to_value(&v)
                .map_err(|e| NodeError::new(ErrorKind::Template, e.to_string()));
        }
        self.text(source, ctx).map(Value::String)
    }

    /// Renders every string in a JSON value.
    pub fn json(&self, template: &Value, ctx: &Ctx) -> Result<Value, NodeError> {
        Ok(match template {
            Value::String(s) => self.value(s, ctx)?,
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .map(|v| self.json(v, ctx))
                    .collect::<Result<_, _>>()?,
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| Ok((k.clone(), self.json(v, ctx)?)))
                    .collect::<Result<_, NodeError>>()?,
            ),
            other => other.clone(),
        })
    }

    /// Evaluates a condition.
    pub fn truth(&self, expr: &str, ctx: &Ctx) -> Result<bool, NodeError> {
        let v = self
            .env
            .compile_expression(expr)
            .map_err(template_error)?
            .eval(ctx)
            .map_err(template_error)?;
        Ok(v.is_true())
    }
}

/// `"{{ expr }}"` with nothing around it and no other tag inside.
fn lone_expression(source: &str) -> Option<&str> {
    let inner = source.trim().strip_prefix("{{")?.strip_suffix("}}")?;
    (!inner.contains("{{") && !inner.contains("}}") && !inner.contains("{%"))
        .then_some(inner.trim())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ctx() -> Ctx {
        Ctx::from_serialize(json!({
            "inputs": {"topic": "rust", "n": 3},
            "fetch": {"output": {"items": [1, 2, 3], "title": "Hello"}},
            "secrets": {"TOKEN": "s3cr3t"}
        }))
    }

    #[test]
    fn lone_expressions_keep_their_type() {
        let r = Renderer::new();
        assert_eq!(
            r.value("{{ fetch.output.items }}", &ctx()).expect("ok"),
            json!([1, 2, 3])
        );
        assert_eq!(r.value("{{inputs.n}}", &ctx()).expect("ok"), json!(3));
        assert_eq!(
            r.value("n = {{inputs.n}}", &ctx()).expect("ok"),
            json!("n = 3")
        );
        let rendered = r
            .json(&json!({"t": "{{ fetch.output.title | upper }}", "keep": 1, "list": ["{{inputs.topic}}!"]}), &ctx())
            .expect("ok");
        assert_eq!(
            rendered,
            json!({"t": "HELLO", "keep": 1, "list": ["rust!"]})
        );
    }

    #[test]
    fn undefined_values_are_template_errors() {
        let r = Renderer::new();
        let e = r.text("{{ inputs.missing }}", &ctx()).expect_err("strict");
        assert_eq!(e.kind, ErrorKind::Template);
        assert!(r.value("{{ nobody.output }}", &ctx()).is_err());
        assert!(r.text("{{ broken", &ctx()).is_err());
    }

    #[test]
    fn conditions_and_heads() {
        let r = Renderer::new();
        assert!(r
            .truth("inputs.n > 2 and fetch.output.title == 'Hello'", &ctx())
            .expect("ok"));
        assert!(!r.truth("inputs.n > 5", &ctx()).expect("ok"));
        let mut heads = r.heads(
            "{{ inputs.a }} {{ fetch.output.b }} {% for x in inputs.list %}{{ x }}{% endfor %}",
        );
        heads.sort();
        assert_eq!(heads, ["fetch", "inputs"]);
    }
}
