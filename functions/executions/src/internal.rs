//! The internal callback routes the executor calls, opened by its
//! execution-scoped token and nothing else (see `executor/src/callback.rs`).
//! Every one is idempotent: events apply once per sequence number, a
//! heartbeat only refreshes, the result enters a terminal state once.

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
        executions::{self, Artifact, Ending, NewEvent},
    },
    error::ErrorCode,
    extract::Json,
    pipeline::tracker::{after_end, EndedBy},
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

async fn execution(state: &AppState, id: Uuid) -> ApiResult<executions::Execution> {
    executions::get(&state.db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("execution"))
}

/// The run spec: graph snapshot, inputs, outputs to reuse, the agents it names.
pub async fn spec(
    State(state): State<AppState>,
    caller: ExecutionCaller,
) -> ApiResult<Json<Value>> {
    let e = execution(&state, caller.execution_id).await?;
    let graph = Graph::from_canvas(&e.graph.0).unwrap_or_default();
    let ids: Vec<Uuid> = agent_references(&graph)
        .iter()
        .filter_map(|(_, _, a)| a.parse().ok())
        .collect();
    let mut defs = serde_json::Map::new();
    for a in agents::find_visible_many(&state.db, e.owner_id, &ids).await? {
        defs.insert(
            a.id.to_string(),
            json!({ "systemPrompt": a.system_prompt, "model": a.model, "name": a.display_name }),
        );
    }
    let remaining = (e.deadline_at - Utc::now()).num_seconds().max(1);
    Ok(Json(json!({
        "executionId": e.id,
        "graph": e.graph.0,
        "inputs": e.inputs.0,
        "priorOutputs": e.prior_outputs.0,
        "agents": defs,
        "timeoutSeconds": remaining,
    })))
}

#[derive(Debug, Deserialize)]
pub struct EventBatch {
    events: Vec<Value>,
}

/// Stores a batch of events (once per `seq`) and publishes the new ones.
pub async fn events(
    State(state): State<AppState>,
    caller: ExecutionCaller,
    Json(batch): Json<EventBatch>,
) -> ApiResult<StatusCode> {
    let p = pipeline(&state)?;
    let e = execution(&state, caller.execution_id).await?;
    let mut parsed = Vec::with_capacity(batch.events.len());
    for ev in &batch.events {
        let seq = ev["seq"]
            .as_i64()
            .filter(|s| *s > 0)
            .ok_or_else(|| ApiError::field("events", "every event needs a positive seq"))?;
        let kind = ev["type"]
            .as_str()
            .ok_or_else(|| ApiError::field("events", "every event needs a type"))?;
        let ts = ev["ts"]
            .as_str()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or_else(Utc::now, |t| t.with_timezone(&Utc));
        parsed.push(NewEvent {
            seq,
            kind,
            node: ev["node"].as_str(),
            payload: ev,
            ts,
        });
    }
    let mut tx = state.db.begin().await?;
    executions::insert_events(&mut tx, e.id, &parsed).await?;
    tx.commit().await?;
    for ev in &batch.events {
        let topic_type =
            shared::realtime::deliver::event_message_type(ev["type"].as_str().unwrap_or_default());
        p.publish(
            e.id,
            e.owner_id,
            json!({ "type": topic_type, "executionId": e.id, "seq": ev["seq"], "event": ev }),
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunResult {
    status: String,
    #[serde(default)]
    output: Option<Value>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    failed_node: Option<String>,
}

/// The final result: the run enters its terminal state exactly once (which
/// records its runtime and usage); then the tracker is told and the log
/// bundle stored.
pub async fn result(
    State(state): State<AppState>,
    caller: ExecutionCaller,
    Json(r): Json<RunResult>,
) -> ApiResult<StatusCode> {
    let p = pipeline(&state)?;
    if !executions::TERMINAL.contains(&r.status.as_str()) {
        return Err(ApiError::field(
            "status",
            "must be completed, failed, cancelled or timed_out",
        ));
    }
    let e = execution(&state, caller.execution_id).await?;
    let ended = executions::finish(
        &state.db,
        e.id,
        Ending {
            status: &r.status,
            output: r.output.as_ref(),
            error: r.error.as_deref(),
            failed_node: r.failed_node.as_deref(),
        },
    )
    .await?;
    if ended {
        after_end(&state, p, e.id, EndedBy::Executor)
            .await
            .map_err(ApiError::unavailable)?;
    }
    Ok(StatusCode::NO_CONTENT)
}
