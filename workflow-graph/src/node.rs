//! Typed node configurations and the per-node policy. Each type's config is
//! parsed with unknown fields refused, then range-checked; every problem
//! becomes a message that names the field.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What a node does, with its typed configuration.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", content = "config", rename_all = "lowercase")]
pub enum NodeSpec {
    Trigger(TriggerConfig),
    Agent(AgentConfig),
    Http(HttpConfig),
    Transform(TransformConfig),
    Condition(ConditionConfig),
    Delay(DelayConfig),
    Output(OutputConfig),
}

pub const NODE_TYPES: [&str; 7] = [
    NodeKind::Trigger.as_str(),
    NodeKind::Agent.as_str(),
    NodeKind::Http.as_str(),
    NodeKind::Transform.as_str(),
    NodeKind::Condition.as_str(),
    NodeKind::Delay.as_str(),
    NodeKind::Output.as_str(),
];

/// A node's type, as a graph names it (`RawNode::kind`).
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum NodeKind {
    Trigger,
    Agent,
    Http,
    Transform,
    Condition,
    Delay,
    Output,
}

impl NodeKind {
    pub const ALL: [NodeKind; 7] = [
        NodeKind::Trigger,
        NodeKind::Agent,
        NodeKind::Http,
        NodeKind::Transform,
        NodeKind::Condition,
        NodeKind::Delay,
        NodeKind::Output,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            NodeKind::Trigger => "trigger",
            NodeKind::Agent => "agent",
            NodeKind::Http => "http",
            NodeKind::Transform => "transform",
            NodeKind::Condition => "condition",
            NodeKind::Delay => "delay",
            NodeKind::Output => "output",
        }
    }
}

impl std::str::FromStr for NodeKind {
    type Err = ();

    fn from_str(s: &str) -> Result<Self, ()> {
        Self::ALL.into_iter().find(|k| k.as_str() == s).ok_or(())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerKind {
    #[default]
    Manual,
    Webhook,
    Schedule,
}

/// How a webhook request proves it comes from whoever holds the hook's secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum HookAuth {
    /// `X-Saasit-Signature: v1=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`
    /// with `X-Saasit-Timestamp` (Unix seconds) within five minutes.
    #[default]
    Hmac,
    /// `Authorization: Bearer <secret>`.
    Bearer,
}

/// What a schedule does when a tick comes while its previous run is still going.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Overlap {
    /// Skip the tick (the default).
    #[default]
    Skip,
    /// Start another run.
    Allow,
}

/// The longest a synchronous webhook waits for its run (API Gateway cuts at 29 s).
pub const MAX_SYNC_SECONDS: u32 = 25;
/// The most request headers a webhook hands to its run.
pub const MAX_HOOK_HEADERS: usize = 20;

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TriggerConfig {
    #[serde(default)]
    pub kind: TriggerKind,
    /// Five-field cron expression, required for `schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cron: Option<String>,
    /// `schedule`: the IANA time zone the cron expression is read in (`UTC`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// `schedule`: skip a tick while the previous run is active (default) or allow overlap.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub overlap: Option<Overlap>,
    /// `webhook`: how requests are verified (`hmac`, the default, or `bearer`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth: Option<HookAuth>,
    /// `webhook`: answer with the run's output when it ends within `syncTimeoutSeconds`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync: Option<bool>,
    /// `webhook`, with `sync`: how long to wait (1–25 s, default 10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_timeout_seconds: Option<u32>,
    /// `webhook`: request headers handed to the run as `inputs.headers` (names, at most 20).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub headers: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct AgentConfig {
    /// An agent from the catalogue or the user's own; or give `systemPrompt`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub system_prompt: Option<String>,
    /// The user message, a template (`{{inputs.topic}}`, `{{research.output.text}}`).
    pub prompt: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_tokens: Option<u32>,
    /// Built-in tools the model may call (`http_request`, `web_read`,
    /// `web_search`), besides the agent's own.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tools: Vec<String>,
    /// The most model turns when tools are used (default 10, at most 50).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_iterations: Option<u32>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    Get,
    Post,
    Put,
    Patch,
    Delete,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct HttpConfig {
    #[serde(default = "get")]
    pub method: HttpMethod,
    /// A template.
    pub url: String,
    /// Values are templates.
    #[serde(default, skip_serializing_if = "Map::is_empty")]
    pub headers: Map<String, Value>,
    /// Any JSON; its strings are templates.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    #[serde(default = "default_http_timeout")]
    pub timeout_seconds: u32,
    #[serde(default = "default_max_response")]
    pub max_response_bytes: u64,
}

fn get() -> HttpMethod {
    HttpMethod::Get
}
fn default_http_timeout() -> u32 {
    30
}
fn default_max_response() -> u64 {
    1024 * 1024
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TransformConfig {
    /// Any JSON; its strings are templates. The result is the node's output.
    pub template: Value,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ConditionConfig {
    /// An expression such as `review.output.score >= 7`; edges labelled
    /// `"true"` run when it holds, `"false"` otherwise.
    pub expression: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DelayConfig {
    pub seconds: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct OutputConfig {
    /// Any JSON; its strings are templates. Absent: the outputs of the node's parents.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    /// Also store the value as a downloadable artifact (e.g. a report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact: Option<ArtifactSpec>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ArtifactSpec {
    /// A file name such as `report.md`.
    pub name: String,
    /// Defaults from the value: text/plain for strings, application/json otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<String>,
}

/// What happens when a node fails after its retries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnError {
    /// Stop the run.
    #[default]
    Fail,
    /// Record the failure and go on; dependants see a null output.
    Continue,
    /// Retry (with `retries` attempts) before failing.
    Retry,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct NodePolicy {
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u32,
    #[serde(default)]
    pub retries: u32,
    /// First retry delay; each further one is multiplied by `backoffMultiplier`, up to `backoffMaxMs`, with jitter.
    #[serde(default = "default_backoff_initial")]
    pub backoff_initial_ms: u64,
    #[serde(default = "default_backoff_multiplier")]
    pub backoff_multiplier: f64,
    #[serde(default = "default_backoff_max")]
    pub backoff_max_ms: u64,
    #[serde(default)]
    pub on_error: OnError,
}

fn default_timeout() -> u32 {
    300
}
fn default_backoff_initial() -> u64 {
    1000
}
fn default_backoff_multiplier() -> f64 {
    2.0
}
fn default_backoff_max() -> u64 {
    60_000
}

impl Default for NodePolicy {
    fn default() -> Self {
        Self {
            timeout_seconds: default_timeout(),
            retries: 0,
            backoff_initial_ms: default_backoff_initial(),
            backoff_multiplier: default_backoff_multiplier(),
            backoff_max_ms: default_backoff_max(),
            on_error: OnError::Fail,
        }
    }
}

/// A config or policy problem: the field (relative to `config`/`policy`, or
/// empty for the whole object) and what is wrong.
pub type FieldProblem = (String, String);

fn parse_json<T: serde::de::DeserializeOwned>(value: &Value) -> Result<T, FieldProblem> {
    // A missing config is an empty object, so types with all-default fields need none.
    let value = if value.is_null() {
        Value::Object(Map::new())
    } else {
        value.clone()
    };
    serde_json::from_value(value).map_err(|e| (String::new(), e.to_string()))
}

/// The fields that belong to one kind of trigger, and their ranges.
fn trigger_problems(t: &TriggerConfig, p: &mut Vec<FieldProblem>) {
    let schedule = t.kind == TriggerKind::Schedule;
    let webhook = t.kind == TriggerKind::Webhook;
    for (field, set, ok) in [
        ("timezone", t.timezone.is_some(), schedule),
        ("overlap", t.overlap.is_some(), schedule),
        ("auth", t.auth.is_some(), webhook),
        ("sync", t.sync.is_some(), webhook),
        (
            "syncTimeoutSeconds",
            t.sync_timeout_seconds.is_some(),
            webhook,
        ),
        ("headers", !t.headers.is_empty(), webhook),
    ] {
        if set && !ok {
            let kind = if schedule {
                "schedule"
            } else if webhook {
                "webhook"
            } else {
                "manual"
            };
            p.push((
                field.into(),
                format!("a {kind} trigger does not take {field}"),
            ));
        }
    }
    if let Some(tz) = &t.timezone {
        // Checked against the time zone database where schedules are kept;
        // here only its shape (`Area/City`, `UTC`).
        let ok = !tz.is_empty()
            && tz.len() <= 64
            && tz
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"/_+-".contains(&b));
        check(
            p,
            ok,
            "timezone",
            "must be an IANA time zone name, e.g. Europe/Paris or UTC",
        );
    }
    if let Some(n) = t.sync_timeout_seconds {
        check(
            p,
            (1..=MAX_SYNC_SECONDS).contains(&n),
            "syncTimeoutSeconds",
            "must be 1–25 (API Gateway answers within 29 s)",
        );
    }
    check(
        p,
        t.headers.len() <= MAX_HOOK_HEADERS,
        "headers",
        "at most 20 header names",
    );
    for h in &t.headers {
        let ok = !h.is_empty()
            && h.len() <= 64
            && h.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            && !crate::secrets::is_credential_header(h);
        if !ok {
            p.push((
                "headers".into(),
                format!("{h:?} is not a header name a run may receive (1–64 letters, digits, - or _; not a credential header)"),
            ));
        }
    }
}

fn check(problems: &mut Vec<FieldProblem>, ok: bool, field: &str, message: &str) {
    if !ok {
        problems.push((field.to_owned(), message.to_owned()));
    }
}

impl NodeSpec {
    /// Parses and range-checks the config of a node of type `kind`.
    /// `None` when the type is unknown.
    pub fn parse(kind: &str, config: &Value) -> Option<Result<Self, Vec<FieldProblem>>> {
        let parsed = match kind {
            "trigger" => parse_json(config).map(NodeSpec::Trigger),
            "agent" => parse_json(config).map(NodeSpec::Agent),
            "http" => parse_json(config).map(NodeSpec::Http),
            "transform" => parse_json(config).map(NodeSpec::Transform),
            "condition" => parse_json(config).map(NodeSpec::Condition),
            "delay" => parse_json(config).map(NodeSpec::Delay),
            "output" => parse_json(config).map(NodeSpec::Output),
            _ => return None,
        };
        Some(match parsed {
            Err(p) => Err(vec![p]),
            Ok(spec) => {
                let problems = spec.problems();
                if problems.is_empty() {
                    Ok(spec)
                } else {
                    Err(problems)
                }
            }
        })
    }

    fn problems(&self) -> Vec<FieldProblem> {
        let mut p = Vec::new();
        match self {
            NodeSpec::Trigger(t) => {
                match (t.kind, &t.cron) {
                    (TriggerKind::Schedule, None) => check(
                        &mut p,
                        false,
                        "cron",
                        "a schedule trigger needs a cron expression",
                    ),
                    (TriggerKind::Schedule, Some(expr)) => {
                        if let Err(e) = croner::Cron::new(expr).parse() {
                            p.push(("cron".into(), format!("invalid cron expression: {e}")));
                        }
                    }
                    (_, Some(_)) => check(
                        &mut p,
                        false,
                        "cron",
                        "only schedule triggers take a cron expression",
                    ),
                    (_, None) => {}
                }
                trigger_problems(t, &mut p);
            }
            NodeSpec::Agent(a) => {
                check(
                    &mut p,
                    a.agent_id.is_some()
                        || a.system_prompt
                            .as_deref()
                            .is_some_and(|s| !s.trim().is_empty()),
                    "agentId",
                    "an agent node needs an agentId or a systemPrompt",
                );
                check(
                    &mut p,
                    !a.prompt.trim().is_empty(),
                    "prompt",
                    "must not be empty",
                );
                check(
                    &mut p,
                    a.temperature.is_none_or(|t| (0.0..=2.0).contains(&t)),
                    "temperature",
                    "must be between 0 and 2",
                );
                check(
                    &mut p,
                    a.max_tokens.is_none_or(|t| (1..=200_000).contains(&t)),
                    "maxTokens",
                    "must be between 1 and 200000",
                );
                check(
                    &mut p,
                    a.max_iterations
                        .is_none_or(|n| (1..=crate::tools::MAX_TOOL_ITERATIONS).contains(&n)),
                    "maxIterations",
                    "must be between 1 and 50",
                );
                if let Some(why) = crate::tools::tools_problem(&a.tools) {
                    p.push(("tools".into(), why));
                }
            }
            NodeSpec::Http(h) => {
                check(&mut p, !h.url.trim().is_empty(), "url", "must not be empty");
                check(
                    &mut p,
                    (1..=900).contains(&h.timeout_seconds),
                    "timeoutSeconds",
                    "must be between 1 and 900",
                );
                check(
                    &mut p,
                    (1..=10 * 1024 * 1024).contains(&h.max_response_bytes),
                    "maxResponseBytes",
                    "must be between 1 and 10485760",
                );
                for (name, value) in &h.headers {
                    check(
                        &mut p,
                        value.is_string(),
                        &format!("headers.{name}"),
                        "header values must be strings",
                    );
                }
            }
            NodeSpec::Condition(c) => check(
                &mut p,
                !c.expression.trim().is_empty(),
                "expression",
                "must not be empty",
            ),
            NodeSpec::Delay(d) => check(
                &mut p,
                d.seconds <= 86_400,
                "seconds",
                "must be at most 86400",
            ),
            NodeSpec::Output(o) => {
                if let Some(a) = &o.artifact {
                    let ok = !a.name.is_empty()
                        && a.name.len() <= 200
                        && !a.name.starts_with('.')
                        && a.name
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "._- ".contains(c));
                    check(
                        &mut p,
                        ok,
                        "artifact.name",
                        "must be a plain file name (letters, digits, . _ - and spaces)",
                    );
                }
            }
            NodeSpec::Transform(_) => {}
        }
        p
    }

    /// The node's template strings, each with the config field it sits in.
    pub fn templates(&self) -> Vec<(String, &str)> {
        let mut out = Vec::new();
        match self {
            NodeSpec::Agent(a) => {
                out.push(("prompt".to_owned(), a.prompt.as_str()));
                if let Some(s) = &a.system_prompt {
                    out.push(("systemPrompt".to_owned(), s.as_str()));
                }
            }
            NodeSpec::Http(h) => {
                out.push(("url".to_owned(), h.url.as_str()));
                for (name, v) in &h.headers {
                    if let Some(s) = v.as_str() {
                        out.push((format!("headers.{name}"), s));
                    }
                }
                if let Some(b) = &h.body {
                    json_strings(b, "body", &mut out);
                }
            }
            NodeSpec::Transform(t) => json_strings(&t.template, "template", &mut out),
            NodeSpec::Output(o) => {
                if let Some(v) = &o.value {
                    json_strings(v, "value", &mut out);
                }
            }
            NodeSpec::Trigger(_) | NodeSpec::Condition(_) | NodeSpec::Delay(_) => {}
        }
        out
    }

    pub fn is_trigger(&self) -> bool {
        matches!(self, NodeSpec::Trigger(_))
    }
}

/// Every string leaf of a JSON value, with its dotted path.
fn json_strings<'a>(value: &'a Value, path: &str, out: &mut Vec<(String, &'a str)>) {
    match value {
        Value::String(s) => out.push((path.to_owned(), s.as_str())),
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                json_strings(v, &format!("{path}[{i}]"), out);
            }
        }
        Value::Object(map) => {
            for (k, v) in map {
                json_strings(v, &format!("{path}.{k}"), out);
            }
        }
        _ => {}
    }
}

impl NodePolicy {
    pub fn parse(value: Option<&Value>) -> Result<Self, Vec<FieldProblem>> {
        let policy: NodePolicy = match value {
            None | Some(Value::Null) => return Ok(NodePolicy::default()),
            Some(v) => parse_json(v).map_err(|p| vec![p])?,
        };
        let mut p = Vec::new();
        check(
            &mut p,
            (1..=86_400).contains(&policy.timeout_seconds),
            "timeoutSeconds",
            "must be between 1 and 86400",
        );
        check(
            &mut p,
            policy.retries <= 10,
            "retries",
            "must be at most 10",
        );
        check(
            &mut p,
            (1..=600_000).contains(&policy.backoff_initial_ms),
            "backoffInitialMs",
            "must be between 1 and 600000",
        );
        check(
            &mut p,
            (1.0..=10.0).contains(&policy.backoff_multiplier),
            "backoffMultiplier",
            "must be between 1 and 10",
        );
        check(
            &mut p,
            policy.backoff_max_ms >= policy.backoff_initial_ms,
            "backoffMaxMs",
            "must be at least backoffInitialMs",
        );
        check(
            &mut p,
            policy.on_error != OnError::Retry || policy.retries > 0,
            "retries",
            "onError \"retry\" needs retries of at least 1",
        );
        if p.is_empty() {
            Ok(policy)
        } else {
            Err(p)
        }
    }
}
