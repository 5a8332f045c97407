//! `/api/v1/workspaces/{id}/files`: the workspace's files. An upload is
//! registered (type, size and quota checked against the plan), its bytes go
//! straight to the blob store through a presigned PUT (S3 on AWS), and
//! `…/complete` confirms it once the stored size is checked too. Any member
//! lists and downloads; owners, admins and editors upload and delete. Uploads
//! and deletes are in the activity log.

use std::time::Duration;

use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
};
use chrono::Utc;
use serde_json::json;
use shared::{
    access::{Member, Permission},
    activity::{self, Action, Activity, Origin},
    auth::AuthUser,
    db::files::{self, FileRow},
    error::{ErrorCode, ErrorEnvelope},
    extract::Json,
    runs::BlobStore,
    ApiError, ApiResult, AppState,
};
use uuid::Uuid;

use crate::file_dto::{FileDownload, FileList, FileView, ListParams, NewFile, Upload};

/// How long an upload or download link lasts.
const LINK_TTL: Duration = Duration::from_secs(15 * 60);

fn store(state: &AppState) -> ApiResult<&dyn BlobStore> {
    state.blobs.as_deref().ok_or_else(|| {
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "file storage is not configured here",
        )
    })
}

/// 403 TIER_LIMIT for files: what was asked, the plan's limit, what is used.
fn limit(message: String, details: serde_json::Value) -> ApiError {
    ApiError::new(ErrorCode::TierLimit, message).with_details(details)
}

/// Exactly the `name` pattern of the document: no control characters, `/`
/// or `\\`; not starting with `.` or a space, not ending with a space.
fn plain_name(name: &str) -> bool {
    let control = |c: char| matches!(c, '\u{0}'..='\u{1f}' | '\u{7f}'..='\u{9f}');
    let edge = |c: char| c == ' ' || control(c) || c == '/' || c == '\\';
    let (Some(first), Some(last)) = (name.chars().next(), name.chars().last()) else {
        return false;
    };
    name.chars().count() <= 200
        && !edge(first)
        && first != '.'
        && !edge(last)
        && !name.chars().any(|c| control(c) || c == '/' || c == '\\')
}

/// Register an upload (owners, admins, editors).
#[utoipa::path(
    post, path = "/api/v1/workspaces/{id}/files", operation_id = "workspaces_files_create", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id")),
    request_body = NewFile,
    responses(
        (status = 201, description = "Registered: PUT the bytes to uploadUrl, then POST …/complete", body = Upload),
        (status = 400, description = "A bad name, type or size (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 403, description = "Your role may not upload (FORBIDDEN), or the plan does not take this type, this size, or more files (TIER_LIMIT, with the limit in details)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
        (status = 503, description = "File storage is unreachable or not configured (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn create(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Json(body): Json<NewFile>,
) -> ApiResult<(StatusCode, Json<Upload>)> {
    let me = Member::of(&state.db, &caller, id).await?;
    me.require(Permission::EditWorkflows)?;
    let blobs = store(&state)?;
    if !plain_name(&body.name) {
        return Err(ApiError::field(
            "name",
            "must be a plain file name of 1–200 characters (no /, \\, control characters, leading . or spaces at either end)",
        ));
    }
    let content_type = body.content_type.trim().to_ascii_lowercase();
    if content_type.is_empty() || content_type.len() > 200 || content_type.contains(['\r', '\n']) {
        return Err(ApiError::field("contentType", "must be a media type"));
    }
    if body.size < 0 {
        return Err(ApiError::field("size", "must be 0 or more bytes"));
    }
    let limits = me.tier.limits();
    if !limits.file_types.allows(&content_type) {
        return Err(limit(
            format!("the {} tier does not take {content_type} files", me.tier),
            json!({ "tier": me.tier, "limit": "file types", "allowed": limits.file_types.list() }),
        ));
    }
    let max = i64::try_from(limits.max_file_bytes).unwrap_or(i64::MAX);
    if body.size > max {
        return Err(limit(
            format!("the {} tier takes files of at most {max} bytes", me.tier),
            json!({ "tier": me.tier, "limit": "file size", "max": max }),
        ));
    }
    let quota = i64::try_from(limits.file_quota_bytes).unwrap_or(i64::MAX);
    let file_id = shared::ids::new_id();
    let key = format!("files/{id}/{file_id}/{}", body.name);
    let registered = files::register(
        &state.db,
        &files::NewFile {
            id: file_id,
            workspace_id: id,
            name: &body.name,
            content_type: &content_type,
            size: body.size,
            blob_key: &key,
            created_by: caller.user_id,
        },
        quota,
    )
    .await?;
    let row = registered.map_err(|used| {
        limit(
            format!(
                "the {} tier keeps at most {quota} bytes of files; delete some first",
                me.tier
            ),
            json!({ "tier": me.tier, "limit": "file storage", "max": quota, "used": used }),
        )
    })?;
    let upload_url = blobs
        .upload_url(&key, &content_type, LINK_TTL)
        .await
        .map_err(ApiError::unavailable)?;
    let mut headers = serde_json::Map::new();
    headers.insert("content-type".into(), json!(content_type));
    Ok((
        StatusCode::CREATED,
        Json(Upload {
            file: FileView::from(row),
            upload_url,
            upload_headers: headers,
            upload_expires_at: Utc::now()
                + chrono::Duration::from_std(LINK_TTL).unwrap_or_default(),
        }),
    ))
}

/// Confirm an upload once its bytes are stored (whoever may upload).
#[utoipa::path(
    post, path = "/api/v1/workspaces/{id}/files/{fileId}/complete", operation_id = "workspaces_files_complete", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), ("fileId" = Uuid, Path, description = "The file")),
    responses(
        (status = 200, description = "Ready (completing a ready file again answers it as it is)", body = FileView),
        (status = 403, description = "Your role may not upload (FORBIDDEN), or what was stored is larger than the plan takes (TIER_LIMIT: the upload is deleted)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours, or no such file (NOT_FOUND)", body = ErrorEnvelope),
        (status = 409, description = "Nothing was uploaded yet (CONFLICT, details.reason = not_uploaded)", body = ErrorEnvelope),
        (status = 503, description = "File storage is unreachable or not configured (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn complete(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path((id, file_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<FileView>> {
    let me = Member::of(&state.db, &caller, id).await?;
    me.require(Permission::EditWorkflows)?;
    let blobs = store(&state)?;
    let file = found(&state, id, file_id).await?;
    if file.status == shared::files::FileStatus::Ready {
        return Ok(Json(FileView::from(file)));
    }
    let stored = blobs
        .size_of(&file.blob_key)
        .await
        .map_err(ApiError::unavailable)?
        .ok_or_else(|| {
            ApiError::new(
                ErrorCode::Conflict,
                "nothing was uploaded for this file yet: PUT its bytes to the upload URL first",
            )
            .with_details(json!({ "reason": "not_uploaded" }))
        })?;
    let stored = i64::try_from(stored).unwrap_or(i64::MAX);
    let limits = me.tier.limits();
    let max = i64::try_from(limits.max_file_bytes).unwrap_or(i64::MAX);
    let quota = i64::try_from(limits.file_quota_bytes).unwrap_or(i64::MAX);
    let refused = |message: String, details: serde_json::Value| async {
        // What does not fit is not kept: the bytes and the registration go.
        blobs
            .delete(&file.blob_key)
            .await
            .map_err(ApiError::unavailable)?;
        files::delete(&state.db, id, file_id).await?;
        Err::<Json<FileView>, ApiError>(limit(message, details))
    };
    if stored > max {
        return refused(
            format!(
                "the upload is {stored} bytes; the {} tier takes files of at most {max}",
                me.tier
            ),
            json!({ "tier": me.tier, "limit": "file size", "max": max, "stored": stored }),
        )
        .await;
    }
    let row = match files::complete(&state.db, id, file_id, stored, quota).await? {
        Ok(Some(row)) => row,
        // Completed (or deleted) meanwhile: answer it as it is now.
        Ok(None) => found(&state, id, file_id).await?,
        Err(used) => {
            return refused(
                format!(
                    "the {} tier keeps at most {quota} bytes of files; delete some first",
                    me.tier
                ),
                json!({ "tier": me.tier, "limit": "file storage", "max": quota, "used": used }),
            )
            .await
        }
    };
    let entry = Activity::new(id, caller.user_id, Action::FileUploaded)
        .details(json!({ "name": row.name, "size": row.size, "contentType": row.content_type }))
        .record(&state.db, &origin)
        .await?;
    activity::publish(&state, [entry]).await;
    Ok(Json(FileView::from(row)))
}

async fn found(state: &AppState, id: Uuid, file_id: Uuid) -> ApiResult<FileRow> {
    files::find(&state.db, id, file_id)
        .await?
        .ok_or_else(|| ApiError::not_found("file"))
}

/// The workspace's files, the newest first (any member).
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}/files", operation_id = "workspaces_files_list", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), ListParams),
    responses(
        (status = 200, description = "A page of files, what they take and the plan's quota", body = FileList),
        (status = 400, description = "A bad limit (VALIDATION_ERROR)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours (NOT_FOUND)", body = ErrorEnvelope),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    caller: AuthUser,
    Path(id): Path<Uuid>,
    Query(p): Query<ListParams>,
) -> ApiResult<Json<FileList>> {
    let me = Member::of(&state.db, &caller, id).await?;
    me.require(Permission::ViewWorkflows)?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::field("limit", "must be between 1 and 200"));
    }
    let (rows, used) = tokio::try_join!(
        files::list(&state.db, id, p.before, limit + 1),
        files::used_bytes(&state.db, id),
    )?;
    let more = rows.len() as i64 > limit;
    let items: Vec<FileView> = rows
        .into_iter()
        .take(limit as usize)
        .map(FileView::from)
        .collect();
    Ok(Json(FileList {
        next_cursor: more.then(|| items.last().map(|f| f.id)).flatten(),
        items,
        used_bytes: used,
        quota_bytes: i64::try_from(me.tier.limits().file_quota_bytes).unwrap_or(i64::MAX),
    }))
}

/// A file, with a download link once it is ready (any member).
#[utoipa::path(
    get, path = "/api/v1/workspaces/{id}/files/{fileId}", operation_id = "workspaces_files_get", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), ("fileId" = Uuid, Path, description = "The file")),
    responses(
        (status = 200, description = "The file; downloadUrl lasts 15 minutes", body = FileDownload),
        (status = 404, description = "Not a workspace of yours, or no such file (NOT_FOUND)", body = ErrorEnvelope),
        (status = 503, description = "File storage is unreachable or not configured (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    caller: AuthUser,
    Path((id, file_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<Json<FileDownload>> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::ViewWorkflows)?;
    let blobs = store(&state)?;
    let file = found(&state, id, file_id).await?;
    let download_url = match file.status {
        shared::files::FileStatus::Ready => Some(
            blobs
                .download_url(&file.blob_key, LINK_TTL)
                .await
                .map_err(ApiError::unavailable)?,
        ),
        shared::files::FileStatus::Pending => None,
    };
    Ok(Json(FileDownload {
        file: FileView::from(file),
        download_url,
    }))
}

/// Delete a file and its bytes (owners, admins, editors).
#[utoipa::path(
    delete, path = "/api/v1/workspaces/{id}/files/{fileId}", operation_id = "workspaces_files_delete", tag = "workspaces", security(("bearer" = [])),
    params(("id" = Uuid, Path, description = "Workspace id"), ("fileId" = Uuid, Path, description = "The file")),
    responses(
        (status = 204, description = "Deleted"),
        (status = 403, description = "Your role may not delete files (FORBIDDEN)", body = ErrorEnvelope),
        (status = 404, description = "Not a workspace of yours, or no such file (NOT_FOUND)", body = ErrorEnvelope),
        (status = 503, description = "File storage is unreachable or not configured: nothing was deleted (SERVICE_UNAVAILABLE)", body = ErrorEnvelope),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    caller: AuthUser,
    origin: Origin,
    Path((id, file_id)): Path<(Uuid, Uuid)>,
) -> ApiResult<StatusCode> {
    Member::of(&state.db, &caller, id)
        .await?
        .require(Permission::EditWorkflows)?;
    let blobs = store(&state)?;
    let file = found(&state, id, file_id).await?;
    // The bytes first: a store that is down leaves the file as it was.
    blobs
        .delete(&file.blob_key)
        .await
        .map_err(ApiError::unavailable)?;
    if files::delete(&state.db, id, file_id).await?.is_some() {
        let entry = Activity::new(id, caller.user_id, Action::FileDeleted)
            .details(json!({ "name": file.name, "size": file.size }))
            .record(&state.db, &origin)
            .await?;
        activity::publish(&state, [entry]).await;
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::plain_name;

    #[test]
    fn plain_names_are_the_documents() {
        for ok in [
            "brief.pdf",
            "a",
            "Q3 report (final).xlsx",
            "notes.",
            "résumé.md",
        ] {
            assert!(plain_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".env",
            " a",
            "a ",
            "a/b",
            "a\\b",
            "a\u{8e}b",
            "a\tb",
            &"x".repeat(201),
        ] {
            assert!(!plain_name(bad), "{bad:?}");
        }
    }
}
