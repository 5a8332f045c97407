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
//! behind it on AWS) instead of being refused, and a run that cannot start
//! (a plan limit, an invalid graph) is recorded on the trigger, which pauses
//! after five such in a row. A synchronous hook starts its run at once.

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
        executions,
        triggers::{self, TriggerRow},
    },
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    protocol::ExecutionStatus,
    ratelimit::{self, Bucket},
    runs::trigger::TriggerType,
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
        (status = 202, description = "The run is started, or queued to start (an asynchronous hook: its id is final; a run that cannot start shows on the trigger as its last error)", body = HookAnswer),
        (status = 400, description = "A malformed hook id (VALIDATION_ERROR); not signed, a stale timestamp, a wrong signature, or no signing secret yet (INVALID_SIGNATURE, details.reason = missing | malformed | stale | mismatch | no_secret); the body is not valid JSON (VALIDATION_ERROR); or the workflow cannot run (a synchronous hook: VALIDATION_ERROR, details.reason = invalid_graph)", body = ErrorEnvelope),
        (status = 403, description = "The workspace's plan cannot run it (a synchronous hook: TIER_LIMIT)", body = ErrorEnvelope),
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
    let key = match (
        auth,
        presented.signature,
        header_str(&headers, "idempotency-key"),
    ) {
        // The signature as verified (hex of any case is the same MAC).
        (HookAuth::Hmac, Some(sig), _) => {
            format!("hook:{}:{}", t.id, sig.trim().to_ascii_lowercase())
        }
        (_, _, Some(k)) if !k.trim().is_empty() && k.len() <= 200 => {
            format!("hook:{}:key:{}", t.id, k.trim())
        }
        _ => format!("hook:{}:{}", t.id, Uuid::now_v7()),
    };
    let inputs = json!({ "body": payload, "headers": passed });
    let data = json!({
        "triggerId": t.id, "nodeId": t.node_id, "hookId": t.hook_id,
        "receivedAt": Utc::now(),
        "contentType": header_str(&headers, header::CONTENT_TYPE.as_str()),
    });
    let sync = cfg.sync.unwrap_or(false);
    if let (false, Some(intake)) = (sync, s.runs.intake.as_deref()) {
        // A signed request's retry carries the same timestamp: the same id.
        let millis = presented
            .timestamp
            .filter(|_| auth == HookAuth::Hmac)
            .and_then(|ts| ts.trim().parse::<u64>().ok())
            .map_or_else(
                || u64::try_from(Utc::now().timestamp_millis()).unwrap_or_default(),
                |secs| secs.saturating_mul(1000),
            );
        if let Some(answer) = queue(&s, intake, &t, &key, millis, &inputs, &data).await? {
            return Ok((StatusCode::ACCEPTED, Json(answer)).into_response());
        }
    }
    let started = s
        .runs
        .start_from_trigger(&t, TriggerType::Webhook, inputs, data, key)
        .await?;
    let mut answer = HookAnswer {
        execution_id: started.execution.id,
        status: started.execution.status,
        created: started.created,
        output: None,
        error: None,
    };
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

/// Queues a verified request on the intake: its answer (the run it will
/// have, or the one this key started already), or `None` when it cannot be
/// queued (too big, the queue unreachable) and must start at once.
async fn queue(
    s: &RunsState,
    intake: &dyn HookIntake,
    t: &TriggerRow,
    key: &str,
    millis: u64,
    inputs: &Value,
    data: &Value,
) -> ApiResult<Option<HookAnswer>> {
    if let Some(e) = executions::by_idempotency_key(&s.app.db, t.workspace_id, key).await? {
        return Ok(Some(HookAnswer {
            execution_id: e.id,
            status: e.status,
            created: false,
            output: None,
            error: None,
        }));
    }
    let delivery = HookDelivery {
        execution_id: execution_id_for(key, millis),
        trigger_id: t.id,
        key: key.to_owned(),
        inputs: inputs.clone(),
        data: data.clone(),
    };
    match intake.send(&delivery).await {
        Ok(()) => Ok(Some(HookAnswer {
            execution_id: delivery.execution_id,
            status: ExecutionStatus::Queued,
            created: true,
            output: None,
            error: None,
        })),
        Err(e) => {
            tracing::warn!(trigger_id = %t.id, error = %format!("{e:#}"), "webhook not queued; starting its run at once");
            Ok(None)
        }
    }
}
