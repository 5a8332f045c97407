//! What the file routes read and answer.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use shared::{db::files::FileRow, files::FileStatus};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// An upload to register: the file's name, type and size in bytes.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
#[schema(example = json!({"name": "brief.pdf", "contentType": "application/pdf", "size": 48213}))]
pub struct NewFile {
    /// A plain file name: 1–200 characters, no `/`, `\`, control
    /// characters, leading `.` or leading or trailing space.
    #[schema(
        min_length = 1,
        max_length = 200,
        pattern = "^[^\\x00-\\x20\\x7f-\\x9f/\\\\.]([^\\x00-\\x1f\\x7f-\\x9f/\\\\]*[^\\x00-\\x20\\x7f-\\x9f/\\\\])?$"
    )]
    pub name: String,
    /// Its media type; which ones a plan takes is in the 403's details.
    #[schema(min_length = 1, max_length = 200, example = "application/pdf")]
    pub content_type: String,
    /// Bytes; at most the plan's largest file.
    #[serde(deserialize_with = "shared::extract::whole_i64")]
    #[schema(minimum = 0)]
    pub size: i64,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileView {
    pub id: Uuid,
    pub name: String,
    pub content_type: String,
    /// Declared while pending; what was stored once ready.
    pub size: i64,
    pub status: FileStatus,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub uploaded_at: Option<DateTime<Utc>>,
}

impl From<FileRow> for FileView {
    fn from(f: FileRow) -> Self {
        Self {
            id: f.id,
            name: f.name,
            content_type: f.content_type,
            size: f.size,
            status: f.status,
            created_by: f.created_by,
            created_at: f.created_at,
            uploaded_at: f.uploaded_at,
        }
    }
}

/// A registered upload: PUT the bytes to `uploadUrl` with `uploadHeaders`
/// before `uploadExpiresAt`, then `POST …/files/{fileId}/complete`.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Upload {
    pub file: FileView,
    pub upload_url: String,
    /// Headers the PUT must carry (the signed content type).
    #[schema(value_type = Object)]
    pub upload_headers: serde_json::Map<String, serde_json::Value>,
    pub upload_expires_at: DateTime<Utc>,
}

/// A file with a link to download it (ready files only).
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileDownload {
    #[serde(flatten)]
    pub file: FileView,
    /// Valid for 15 minutes; `null` while the upload is pending.
    pub download_url: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FileList {
    /// The newest first.
    pub items: Vec<FileView>,
    /// Pass as `before` for the next page; `null` on the last.
    pub next_cursor: Option<Uuid>,
    /// What the workspace's files take (pending uploads included) and may take, in bytes.
    pub used_bytes: i64,
    pub quota_bytes: i64,
}

#[derive(Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(rename_all = "camelCase")]
pub struct ListParams {
    /// The last `id` of the previous page.
    pub before: Option<Uuid>,
    /// 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
}
