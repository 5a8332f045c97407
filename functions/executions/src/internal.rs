//! The internal callback routes the executor calls, opened by its
//! execution-scoped token and nothing else (see `executor/src/callback.rs`).
//! Bodies are the run protocol's types (`run_protocol`). Every route is
//! idempotent: events apply once per sequence number, a heartbeat only
//! refreshes, the result enters a terminal state once. The token dies with the
//! run: once it has ended, every call gets 409 `RUN_ENDED`.

use std::collections::HashMap;

use axum::{
    extract::{FromRequestParts, Path, State},
    http::{request::Parts, StatusCode},
};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::{
    auth::{extract::bearer_token, TokenKind},
    db::{
        agents,
        executions::{self, Artifact, Ending, NewEvent, Recorded},
    },
    error::ErrorCode,
    extract::Json,
    pipeline::{
        dispatcher::run_time,
        tracker::{after_end, EndedBy},
    },
    protocol::{AgentDef, Event, EventBatch, RunResult, RunSpec},
    workflow::{agent_references, Graph},
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;

use crate::api::pipeline;

/// The execution a callback token is for; it must match the path.
pub struct ExecutionCaller {
    pub execution_id: Uuid,
}

impl FromRequestParts<AppState> for ExecutionCaller {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let claims = state
            .tokens
            .verify(bearer_token(parts)?, TokenKind::Execution)?;
        let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
            .await
            .map_err(|_| ApiError::not_found("execution"))?;
        if params.get("id").and_then(|s| s.parse::<Uuid>().ok()) != Some(claims.sub) {
            return Err(ApiError::new(
                ErrorCode::Forbidden,
                "this token is for another execution",
            ));
        }
        Ok(Self {
            execution_id: claims.sub,
        })
    }
}

fn run_ended() -> ApiError {
    ApiError::new(
        ErrorCode::RunEnded,
        "the run has ended; its callback token accepts nothing more",
    )
}

/// The caller's execution, while it has not ended.
async fn live_execution(state: &AppState, id: Uuid) -> ApiResult<executions::Execution> {
    let e = executions::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("execution"))?;
    if e.status.is_terminal() {
        return Err(run_ended());
    }
    Ok(e)
}

/// The run spec: graph snapshot, inputs, outputs to reuse, the agents it
/// names, and the tier's runtime (what is left of it once the run started).
pub async fn spec(
    State(state): State<AppState>,
    caller: ExecutionCaller,
) -> ApiResult<Json<RunSpec>> {
    let e = live_execution(&state, caller.execution_id).await?;
    let graph = Graph::from_canvas(&e.graph.0).unwrap_or_default();
    let ids: Vec<Uuid> = agent_references(&graph)
        .iter()
        .filter_map(|(_, _, a)| a.parse().ok())
        .collect();
    let agents = agents::find_visible_many(&state.db, e.owner_id, &ids)
        .await?
        .into_iter()
        .map(|a| {
            (
                a.id.to_string(),
                AgentDef {
                    system_prompt: a.system_prompt,
                    model: a.model,
                    name: Some(a.display_name),
                },
            )
        })
        .collect();
    // Not the row's deadline: while `dispatching` that is the queue's.
    let elapsed = e
        .started_at
        .map_or(0, |s| (Utc::now() - s).num_seconds().max(0) as u64);
    let timeout = run_time(e.tier).as_secs().saturating_sub(elapsed).max(1);
    let prior_outputs = serde_json::from_value(e.prior_outputs.0).unwrap_or_default();
    Ok(Json(RunSpec {
        execution_id: Some(e.id.to_string()),
        graph,
        inputs: e.inputs.0,
        prior_outputs,
        agents,
        timeout_seconds: Some(timeout),
        ..RunSpec::default()
    }))
}

/// Stores a batch of events (once per `seq`) and publishes the new ones.
/// Every event is read as the protocol's [`Event`] (an unknown type from a
/// newer executor is kept as sent); the whole batch is refused if one is not.
pub async fn events(
    State(state): State<AppState>,
    caller: ExecutionCaller,
    Json(batch): Json<EventBatch<Value>>,
) -> ApiResult<StatusCode> {
    let p = pipeline(&state)?;
    let id = caller.execution_id;
    let mut parsed = Vec::with_capacity(batch.events.len());
    for (i, raw) in batch.events.iter().enumerate() {
        let ev: Event = serde_json::from_value(raw.clone()).map_err(|err| {
            ApiError::field(
                "events",
                format!("event {i} is not a protocol event: {err}"),
            )
        })?;
        let seq = i64::try_from(ev.seq)
            .ok()
            .filter(|s| *s > 0)
            .ok_or_else(|| ApiError::field("events", "every event needs a positive seq"))?;
        let ts = DateTime::parse_from_rfc3339(&ev.ts)
            .map_or_else(|_| Utc::now(), |t| t.with_timezone(&Utc));
        parsed.push((seq, ev, ts));
    }
    let rows: Vec<NewEvent<'_>> = parsed
        .iter()
        .zip(&batch.events)
        .map(|((seq, ev, ts), raw)| NewEvent {
            seq: *seq,
            kind: Event::type_of(raw),
            node: ev.kind.node(),
            payload: raw,
            ts: *ts,
        })
        .collect();
    // The row lock in `insert_events` is the one check that the run is live
    // (no separate read of the whole run per batch).
    let mut tx = state.db.begin().await?;
    let owner_id = match executions::insert_events(&mut tx, id, &rows).await? {
        Recorded::Added { owner_id, .. } => owner_id,
        Recorded::Ended => return Err(run_ended()),
        Recorded::Missing => return Err(ApiError::not_found("execution")),
    };
    tx.commit().await?;
    for row in &rows {
        p.publish(
            id,
            owner_id,
            shared::realtime::deliver::event_message(id, row.seq, row.kind, row.payload),
        )
        .await;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// Liveness, forwarded to the run tracker; the answer tells the executor to
/// stop when the run was cancelled.
pub async fn heartbeat(
    State(state): State<AppState>,
    caller: ExecutionCaller,
) -> ApiResult<Json<Value>> {
    let p = pipeline(&state)?;
    let beat = executions::heartbeat(&state.db, caller.execution_id)
        .await?
        .ok_or_else(|| ApiError::not_found("execution"))?;
    if beat.ended {
        return Err(run_ended());
    }
    if !beat.stop {
        // The beat is recorded in Postgres, which the sweeper reads: a tracker
        // that cannot be reached now is not worth failing the executor for.
        if let Err(e) = p
            .tracker
            .heartbeat(caller.execution_id, beat.task_token)
            .await
        {
            tracing::warn!(execution_id = %caller.execution_id, error = %e, "could not forward a heartbeat to the tracker");
        }
    }
    Ok(Json(json!({ "cancel": beat.stop })))
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRequest {
    name: String,
    content_type: String,
    size: i64,
}

/// Registers an artifact and answers a presigned upload URL.
pub async fn artifact(
    State(state): State<AppState>,
    caller: ExecutionCaller,
    Json(req): Json<ArtifactRequest>,
) -> ApiResult<Json<Value>> {
    let p = pipeline(&state)?;
    live_execution(&state, caller.execution_id).await?;
    let plain = !req.name.is_empty()
        && req.name.len() <= 200
        && !req.name.starts_with('.')
        && !req.name.contains('/')
        && !req.name.contains('\\');
    if !plain || !(0..=1 << 30).contains(&req.size) {
        return Err(ApiError::field(
            "name",
            "must be a plain file name; size at most 1 GiB",
        ));
    }
    let id = shared::ids::new_id();
    let key = format!("executions/{}/{id}/{}", caller.execution_id, req.name);
    executions::insert_artifact(
        &state.db,
        caller.execution_id,
        &Artifact {
            id,
            name: req.name,
            content_type: req.content_type.clone(),
            size: req.size,
            blob_key: key.clone(),
            created_at: Utc::now(),
        },
    )
    .await?;
    let url = p
        .blobs
        .upload_url(&key, &req.content_type, std::time::Duration::from_secs(900))
        .await
        .map_err(ApiError::unavailable)?;
    Ok(Json(json!({ "artifactId": id, "uploadUrl": url })))
}

/// The final result: the run enters its terminal state exactly once (which
/// records its runtime and usage and appends its `execution_ended` event);
/// then the tracker is told and the log bundle stored. A result for a run
/// that has ended already (a retry, or a run cancelled meanwhile) is 409
/// `RUN_ENDED`, which the executor takes as final.
pub async fn result(
    State(state): State<AppState>,
    caller: ExecutionCaller,
    Json(r): Json<RunResult>,
) -> ApiResult<StatusCode> {
    let p = pipeline(&state)?;
    let ended = executions::finish(
        &state.db,
        caller.execution_id,
        Ending {
            status: r.status,
            output: r.output.as_ref(),
            output_ref: r.output_ref.as_ref(),
            error: r.error.as_deref(),
            failed_node: r.failed_node.as_deref(),
        },
    )
    .await?;
    match ended {
        Some(_) => after_end(&state, p, caller.execution_id, EndedBy::Executor)
            .await
            .map_err(ApiError::unavailable)?,
        None => {
            executions::get(&state.db, caller.execution_id)
                .await?
                .ok_or_else(|| ApiError::not_found("execution"))?;
            return Err(run_ended());
        }
    }
    Ok(StatusCode::NO_CONTENT)
}
