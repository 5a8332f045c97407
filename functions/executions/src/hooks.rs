//! `POST /api/v1/hooks/{hookId}`: a workflow's webhook. Its own Lambda on
//! AWS. A request is size-limited, verified (an HMAC of timestamp and body,
//! or a bearer token, as the trigger says), rate-limited per hook, and
//! starts a run as the system with the body and the headers the trigger
//! names as inputs: 202 with the execution's id, or, for a synchronous hook,
//! 200 with the output when the run ends within the trigger's bound.
//!
//! An asynchronous hook's request is queued on the intake
//! ([`shared::triggers::delivery`]) once verified and answered with the id
//! its run will have: a burst waits in the queue (with a dead-letter queue
//! behind it on AWS), and a run refused when it is taken (its graph made
//! invalid meanwhile) is recorded on the trigger, which pauses after five
//! such in a row. A synchronous hook, and a bearer request with an
//! `Idempotency-Key` (whose retry must name the same run before the first is
//! taken), start their run at once.

use std::time::{Duration, Instant};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};
use chrono::Utc;
use serde::Serialize;
use serde_json::{json, Map, Value};
use shared::{
    db::{
        budgets, executions,
        triggers::{self, TriggerRow},
        workspaces,
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    protocol::ExecutionStatus,
    ratelimit::{self, Bucket},
    runs::{
        start::{may_run, within_budget, Started},
        trigger::TriggerType,
    },
    triggers::{
        delivery::{execution_id_for, HookDelivery, HookIntake},
        fire::config,
        hook::{self, HookAuth, Presented, Refusal},
    },
    ApiError, ApiResult,
};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::RunsState;

/// The largest body a webhook takes.
pub const MAX_BODY_BYTES: usize = 256 * 1024;
/// How long a synchronous hook waits unless its trigger says.
const DEFAULT_SYNC_SECONDS: u32 = 10;
/// The longest any request waits, from its arrival (API Gateway cuts at 29 s).
const SYNC_CEILING: Duration = Duration::from_secs(26);

/// What a webhook takes: any JSON (or UTF-8 text, sent as `text/plain`),
/// handed to the run as `inputs.body`. (Only its schema: the body is read as bytes.)
pub struct HookPayload;

impl utoipa::PartialSchema for HookPayload {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        utoipa::openapi::ObjectBuilder::new()
            .description(Some(
                "Any JSON (or UTF-8 text), handed to the run as `inputs.body`.",
            ))
            .examples([json!({"order": 42, "customer": "ada@example.com"})])
            .build()
            .into()
    }
}

impl ToSchema for HookPayload {}

/// What a webhook answers.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HookAnswer {
    pub execution_id: Uuid,
    pub status: ExecutionStatus,
    /// `false`: this request repeated one already accepted (same signature,
    /// or same `Idempotency-Key`), and names that request's run.
    pub created: bool,
    /// A synchronous hook whose run ended in time: its output.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub output: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

fn refused(r: Refusal) -> ApiError {
    ApiError::new(ErrorCode::InvalidSignature, r.message())
        .with_details(json!({ "reason": r.as_str() }))
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// The body as the run's `inputs.body`: JSON as JSON, text as a string.
fn body_value(headers: &HeaderMap, body: &Bytes) -> ApiResult<Value> {
    if body.is_empty() {
        return Ok(Value::Null);
    }
    let ct = header_str(headers, header::CONTENT_TYPE.as_str())
        .unwrap_or("application/json")
        .to_ascii_lowercase();
    if ct.starts_with("application/json") || ct.contains("+json") {
        return serde_json::from_slice(body)
            .map_err(|e| ApiError::field("body", format!("not valid JSON: {e}")));
    }
    if ct.starts_with("text/") || ct.starts_with("application/x-www-form-urlencoded") {
        return std::str::from_utf8(body)
            .map(|s| Value::String(s.to_owned()))
            .map_err(|_| ApiError::field("body", "text must be UTF-8"));
    }
    Err(ApiError::new(
        ErrorCode::UnsupportedMediaType,
        "a webhook takes JSON or UTF-8 text",
    ))
}

/// Start a run of the workflow this webhook belongs to.
///
/// Sign `"<timestamp>.<body>"` with HMAC-SHA256 under the hook's signing
/// secret and send `X-Saasit-Timestamp: <Unix seconds>` and
/// `X-Saasit-Signature: v1=<hex>` (a bearer hook: `Authorization: Bearer
/// <secret>`). The run's inputs are `{"body": …, "headers": {…}}`, with the
/// headers its trigger names. A request repeated within the five minutes its
/// signature is valid (or with the same `Idempotency-Key`) names the same run.
#[utoipa::path(
    post, path = "/api/v1/hooks/{hookId}", operation_id = "hooks_call", tag = "hooks",
    params(
        ("hookId" = String, Path, description = "The webhook's id (from the workflow's triggers)", pattern = "^[0-9a-f]{32}$"),
        ("X-Saasit-Timestamp" = Option<String>, Header, description = "HMAC hooks: Unix seconds, within five minutes of the server's clock"),
        ("X-Saasit-Signature" = Option<String>, Header, description = "HMAC hooks: v1=<hex HMAC-SHA256 of \"<timestamp>.<body>\">"),
        ("Idempotency-Key" = Option<String>, Header, description = "Bearer hooks: a repeated key names the run it started"),
    ),
    request_body(content = HookPayload, description = "Any JSON (or UTF-8 text), at most 256 KiB", content_type = "application/json"),
    responses(
        (status = 200, description = "A synchronous hook whose run ended in time: its output", body = HookAnswer),
        (status = 202, description = "The run is started, or queued to start (status queued: its id is final, and the run exists once the intake takes it; a run refused then shows on the trigger as its last error)", body = HookAnswer),
        (status = 400, description = "A malformed hook id (VALIDATION_ERROR); not signed, a stale timestamp, a wrong signature, or no signing secret yet (INVALID_SIGNATURE, details.reason = missing | malformed | stale | mismatch | no_secret); the body is not valid JSON (VALIDATION_ERROR); the body holds U+0000 (VALIDATION_ERROR); or the workflow cannot run (a run started at once: VALIDATION_ERROR, details.reason = invalid_graph)", body = ErrorEnvelope),
        (status = 403, description = "The workspace's plan cannot run it (TIER_LIMIT), or its monthly budget is spent (BUDGET_EXCEEDED)", body = ErrorEnvelope),
        (status = 404, description = "No such hook (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "The workflow is not published, or the trigger is paused (CONFLICT, details.reason = not_published | paused)", body = ErrorEnvelope),
        (status = 413, description = "The body is over 256 KiB (PAYLOAD_TOO_LARGE)", body = ErrorEnvelope),
        (status = 415, description = "Neither JSON nor text (UNSUPPORTED_MEDIA_TYPE)", body = ErrorEnvelope),
        (status = 429, description = "Too many requests to this hook (RATE_LIMITED; Retry-After)", body = ErrorEnvelope),
        (status = 503, description = "A dependency is down; retry (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn call(
    State(s): State<RunsState>,
    Path(hook_id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let arrived = Instant::now();
    if hook_id.len() != 32
        || !hook_id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(ApiError::field(
            "hookId",
            "must be 32 lowercase hex digits (the path the workflow's triggers list)",
        ));
    }
    let t = triggers::by_hook(&s.app.db, &hook_id)
        .await?
        .ok_or_else(|| ApiError::not_found("hook"))?;
    let cfg = config(&t);
    let sealed = t
        .secret_sealed
        .as_deref()
        .ok_or_else(|| refused(Refusal::NoSecret))?;
    let secret = s
        .app
        .vault
        .open_bytes(t.workspace_id, &format!("trigger:{}", t.id), sealed)
        .await?;
    let auth = cfg.auth.unwrap_or_default();
    let bearer = header_str(&headers, header::AUTHORIZATION.as_str()).and_then(|v| {
        v.strip_prefix("Bearer ")
            .or_else(|| v.strip_prefix("bearer "))
    });
    let presented = Presented {
        timestamp: header_str(&headers, hook::TIMESTAMP_HEADER),
        signature: header_str(&headers, hook::SIGNATURE_HEADER),
        bearer,
    };
    hook::verify(auth, &secret, presented, &body, Utc::now().timestamp()).map_err(refused)?;
    // Counted once verified: requests nobody signed cannot use up the
    // sender's allowance (API Gateway's throttle bounds those).
    let limit = s.app.settings.auth.limits.hook;
    ratelimit::hit(&s.app, Bucket::Hook, &t.id.to_string(), limit)
        .await?
        .check("hook", "too many requests to this webhook; slow down")?;
    if !t.armed {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "the workflow is not published: publish it to turn its triggers on",
        )
        .with_details(json!({ "reason": "not_published" })));
    }
    if t.paused {
        return Err(ApiError::new(
            ErrorCode::Conflict,
            "this trigger is paused: resume it to use it",
        )
        .with_details(json!({ "reason": "paused", "pausedReason": t.paused_reason })));
    }
    let payload = body_value(&headers, &body)?;
    let mut passed = Map::new();
    for name in &cfg.headers {
        if let Some(v) = header_str(&headers, name) {
            passed.insert(name.to_ascii_lowercase(), Value::String(v.to_owned()));
        }
    }
    // The run's idempotency key, and the time its id carries: a signed
    // request's retry repeats its signature and timestamp, so it is named
    // the same run (and id) before that run exists. A keyed bearer request
    // has no such time, so it starts its run at once (the key then names it).
    let (key, millis, queueable) = match (
        auth,
        presented.signature,
        header_str(&headers, "idempotency-key"),
    ) {
        // The signature as verified (hex of any case is the same MAC).
        (HookAuth::Hmac, Some(sig), _) => (
            format!("hook:{}:{}", t.id, sig.trim().to_ascii_lowercase()),
            presented
                .timestamp
                .and_then(|ts| ts.trim().parse::<u64>().ok())
                .map(|secs| secs.saturating_mul(1000)),
            true,
        ),
        (_, _, Some(k)) if !k.trim().is_empty() && k.len() <= 200 => {
            (format!("hook:{}:key:{}", t.id, k.trim()), None, false)
        }
        _ => (format!("hook:{}:{}", t.id, Uuid::now_v7()), None, true),
    };
    let id = execution_id_for(
        &key,
        millis.unwrap_or_else(|| u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default()),
    );
    let inputs = json!({ "body": payload, "headers": passed });
    let data = json!({
        "triggerId": t.id, "nodeId": t.node_id, "hookId": t.hook_id,
        "receivedAt": Utc::now(),
        "contentType": header_str(&headers, header::CONTENT_TYPE.as_str()),
    });
    let sync = cfg.sync.unwrap_or(false);
    if let (false, true, Some(intake)) = (sync, queueable, s.runs.intake.as_deref()) {
        let delivery = HookDelivery {
            execution_id: id,
            trigger_id: t.id,
            key,
            inputs,
            data,
        };
        match queue(&s, intake, &t, &delivery).await? {
            Queued::Answered(answer) => {
                return Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
            }
            Queued::Not(d) => {
                let started = s
                    .runs
                    .start_from_trigger_as(
                        &t,
                        Some(d.execution_id),
                        TriggerType::Webhook,
                        d.inputs,
                        d.data,
                        d.key,
                    )
                    .await?;
                return Ok((StatusCode::ACCEPTED, Json(HookAnswer::of(&started))).into_response());
            }
        }
    }
    let started = s
        .runs
        .start_from_trigger_as(&t, Some(id), TriggerType::Webhook, inputs, data, key)
        .await?;
    let mut answer = HookAnswer::of(&started);
    if sync {
        // Counted from the request's arrival, within API Gateway's 29 s.
        let bound = Duration::from_secs(
            cfg.sync_timeout_seconds
                .unwrap_or(DEFAULT_SYNC_SECONDS)
                .into(),
        )
        .min(SYNC_CEILING);
        loop {
            // The run is started: a database hiccup now answers 202, not an
            // error a sender would retry into a second run.
            let Ok(e) = executions::get(&s.app.db, answer.execution_id).await else {
                break;
            };
            if let Some(e) = e.filter(|e| e.status.is_terminal()) {
                answer.status = e.status;
                answer.output = e.output.map(|o| o.0);
                answer.error = e.error;
                return Ok((StatusCode::OK, Json(answer)).into_response());
            }
            if arrived.elapsed() >= bound {
                break;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    Ok((StatusCode::ACCEPTED, Json(answer)).into_response())
}

/// What queueing a request came to.
enum Queued {
    /// Its answer: the run it will have, or the one its key started already.
    Answered(HookAnswer),
    /// It could not be queued (too big, the queue full or unreachable): start it at once.
    Not(HookDelivery),
}

/// Queues a verified request on the intake. What the route could refuse at
/// once is refused here, not later on the trigger: a plan that cannot run,
/// and text Postgres cannot store.
async fn queue(
    s: &RunsState,
    intake: &dyn HookIntake,
    t: &TriggerRow,
    delivery: &HookDelivery,
) -> ApiResult<Queued> {
    if let Some(e) =
        executions::by_idempotency_key(&s.app.db, t.workspace_id, &delivery.key).await?
    {
        return Ok(Queued::Answered(HookAnswer::new(e.id, e.status, false)));
    }
    let tier = workspaces::tier(&s.app.db, t.workspace_id)
        .await?
        .ok_or_else(|| ApiError::not_found("hook"))?;
    may_run(tier)?;
    within_budget(&budgets::standing(&s.app.db, t.workspace_id).await?)?;
    if has_nul(&delivery.inputs) {
        return Err(ApiError::field(
            "body",
            "text must not contain the NUL character (U+0000)",
        ));
    }
    match intake.send(delivery).await {
        Ok(()) => Ok(Queued::Answered(HookAnswer::new(
            delivery.execution_id,
            ExecutionStatus::Queued,
            true,
        ))),
        Err(e) => {
            tracing::warn!(trigger_id = %t.id, error = %format!("{e:#}"), "webhook not queued; starting its run at once");
            Ok(Queued::Not(delivery.clone()))
        }
    }
}

/// Whether a string or key anywhere in `v` holds U+0000 (Postgres stores none).
fn has_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

impl HookAnswer {
    fn new(execution_id: Uuid, status: ExecutionStatus, created: bool) -> Self {
        Self {
            execution_id,
            status,
            created,
            output: None,
            error: None,
        }
    }

    fn of(started: &Started) -> Self {
        Self::new(
            started.execution.id,
            started.execution.status,
            started.created,
        )
    }
}
