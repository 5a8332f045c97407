//! Input templating at run time, with the same rules the validator checks:
//! `{{inputs.x}}`, `{{node.output.path}}`, `{{secrets.NAME}}`. Undefined
//! values are errors (strict), reported on the node that used them.
//!
//! A string that is exactly one expression (`"{{ fetch.output.items }}"`)
//! keeps the value's JSON type; any other string renders to text.
//!
//! Rendering is bounded: every rendering has [`TEMPLATE_FUEL`] (minijinja's
//! instruction budget), and text stops at [`MAX_RENDERED_BYTES`]; a runaway
//! template fails its node with a `limit` error. Rendering is CPU work: the
//! engine runs templates with statements ([`has_statements`]), which can loop,
//! off the async workers (`spawn_blocking`).

use minijinja::{Environment, ErrorKind as TemplateErrorKind, UndefinedBehavior, Value as Ctx};
use run_protocol::limits::{MAX_RENDERED_BYTES, TEMPLATE_FUEL};
use serde_json::Value;

use crate::error::{ErrorKind, NodeError};

/// A writer that refuses to grow past [`MAX_RENDERED_BYTES`].
struct Capped(Vec<u8>);

impl std::io::Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + buf.len() > MAX_RENDERED_BYTES {
            return Err(std::io::Error::other("rendered text too large"));
        }
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

pub struct Renderer {
    env: Environment<'static>,
}

impl Default for Renderer {
    fn default() -> Self {
        Self::new()
    }
}

fn template_error(e: minijinja::Error) -> NodeError {
    match e.kind() {
        TemplateErrorKind::OutOfFuel => NodeError::new(
            ErrorKind::Limit,
            format!(
                "the template did more work than allowed ({TEMPLATE_FUEL} steps): a runaway loop?"
            ),
        ),
        TemplateErrorKind::WriteFailure => NodeError::new(
            ErrorKind::Limit,
            format!("the template renders more than {MAX_RENDERED_BYTES} bytes"),
        ),
        _ => NodeError::new(ErrorKind::Template, e.to_string()),
    }
}

impl Renderer {
    pub fn new() -> Self {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_keep_trailing_newline(true);
        env.set_fuel(Some(TEMPLATE_FUEL));
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
        let template = self.env.template_from_str(source).map_err(template_error)?;
        let mut out = Capped(Vec::new());
        template
            .render_captured_to(ctx, &mut out)
            .map_err(template_error)?;
        // Whole strings were written, so this is valid UTF-8.
        Ok(String::from_utf8_lossy(&out.0).into_owned())
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

/// Whether any string in a JSON template has statements (`{% … %}`): only
/// those can loop.
pub fn has_statements(template: &Value) -> bool {
    match template {
        Value::String(s) => s.contains("{%"),
        Value::Array(items) => items.iter().any(has_statements),
        Value::Object(map) => map.values().any(has_statements),
        _ => false,
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
    fn runaway_templates_fail_with_a_limit_error() {
        let r = Renderer::new();
        // Two nested loops of 10,000: 10^8 iterations, 100 MB of text unbounded.
        let e = r
            .text(
                "{% for i in range(10000) %}{% for j in range(10000) %}x{% endfor %}{% endfor %}",
                &ctx(),
            )
            .expect_err("out of fuel");
        assert_eq!(e.kind, ErrorKind::Limit, "{e}");
        // Little work, much text: stopped at the cap.
        let e = r
            .text(
                "{% for i in range(5000) %}{{ fetch.output.title * 1000 }}{% endfor %}",
                &Ctx::from_serialize(json!({"fetch": {"output": {"title": "y"}}})),
            )
            .expect_err("too large");
        assert_eq!(e.kind, ErrorKind::Limit, "{e}");
        assert!(e.to_string().contains("bytes"), "{e}");
        // Ordinary templates are untouched by the limits.
        assert_eq!(
            r.text("{% for i in range(1000) %}.{% endfor %}", &ctx())
                .expect("ok")
                .len(),
            1000
        );
    }

    #[test]
    fn only_statements_can_loop() {
        assert!(!has_statements(&json!({"a": "{{ x }}", "b": [1, "y"]})));
        assert!(has_statements(
            &json!({"a": ["{% for i in x %}{{ i }}{% endfor %}"]})
        ));
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
