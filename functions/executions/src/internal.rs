//! The internal callback routes the executor calls, opened by its
//! execution-scoped token and nothing else (see `executor/src/callback.rs`):
//! thin callers of the lifecycle's callback steps (`shared::runs::callbacks`),
//! which are idempotent and refuse every call once the run has ended (409
//! `RUN_ENDED`).

use std::{collections::HashMap, sync::Arc};

use axum::{
    extract::{FromRef, FromRequestParts, Path, Query, State},
    http::{request::Parts, StatusCode},
};
use serde::Deserialize;
use serde_json::{json, Value};
use shared::{
    auth::{extract::bearer_token, TokenKeys, TokenKind},
    error::ErrorCode,
    extract::Json,
    protocol::{EventBatch, RunResult, RunSpec},
    runs::callbacks::NewArtifact,
    ApiError, ApiResult,
};
use uuid::Uuid;

use crate::RunsState;

/// The execution a callback token is for; it must match the path.
pub struct ExecutionCaller {
    pub execution_id: Uuid,
}

impl<S> FromRequestParts<S> for ExecutionCaller
where
    S: Send + Sync,
    Arc<TokenKeys>: FromRef<S>,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let tokens = Arc::<TokenKeys>::from_ref(state);
        let claims = tokens.verify(bearer_token(parts)?, TokenKind::Execution)?;
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

/// The run spec.
pub async fn spec(State(s): State<RunsState>, caller: ExecutionCaller) -> ApiResult<Json<RunSpec>> {
    Ok(Json(s.runs.spec(caller.execution_id).await?))
}

#[derive(Deserialize)]
pub struct FileRef {
    /// A file's id, or its name.
    r#ref: String,
}

/// A file of the run's workspace for its `read_file` tool: what it is and a
/// short-lived download link (404 when there is no such ready file).
pub async fn file(
    State(s): State<RunsState>,
    caller: ExecutionCaller,
    Query(q): Query<FileRef>,
) -> ApiResult<Json<shared::protocol::files::FileLink>> {
    Ok(Json(
        s.runs.workspace_file(caller.execution_id, &q.r#ref).await?,
    ))
}

/// A batch of events, stored once per `seq` and published. It is the run's
/// heartbeat too, and answers as one.
pub async fn events(
    State(s): State<RunsState>,
    caller: ExecutionCaller,
    Json(batch): Json<EventBatch<Value>>,
) -> ApiResult<Json<Value>> {
    let answer = s.runs.record_events(caller.execution_id, &batch).await?;
    Ok(Json(
        json!({ "cancel": answer.cancel, "budgetExceeded": answer.budget_exceeded }),
    ))
}

/// Liveness; the answer tells the executor to stop when the run was
/// cancelled, or to end it when the workspace's monthly budget is spent.
pub async fn heartbeat(
    State(s): State<RunsState>,
    caller: ExecutionCaller,
) -> ApiResult<Json<Value>> {
    let answer = s.runs.heartbeat(caller.execution_id).await?;
    Ok(Json(
        json!({ "cancel": answer.cancel, "budgetExceeded": answer.budget_exceeded }),
    ))
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
    State(s): State<RunsState>,
    caller: ExecutionCaller,
    Json(req): Json<ArtifactRequest>,
) -> ApiResult<Json<Value>> {
    let upload = s
        .runs
        .register_artifact(
            caller.execution_id,
            NewArtifact {
                name: req.name,
                content_type: req.content_type,
                size: req.size,
            },
        )
        .await?;
    Ok(Json(
        json!({ "artifactId": upload.artifact_id, "uploadUrl": upload.upload_url }),
    ))
}

/// The final result: the run enters its terminal state exactly once.
pub async fn result(
    State(s): State<RunsState>,
    caller: ExecutionCaller,
    Json(r): Json<RunResult>,
) -> ApiResult<StatusCode> {
    s.runs.finish(caller.execution_id, &r).await?;
    Ok(StatusCode::NO_CONTENT)
}
