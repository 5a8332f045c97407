//! A run's view of its workspace's files: the executor's `read_file` tool
//! asks for one by id or by name (the newest ready file of that name) and
//! gets a short-lived download link. Only a live run may ask, and only for
//! its own workspace's ready files.

use std::time::Duration;

use run_protocol::files::FileLink;
use uuid::Uuid;

use super::Runs;
use crate::{db::files, files::FileStatus, ApiError, ApiResult};

/// How long a run's file link lasts.
const LINK_TTL: Duration = Duration::from_secs(5 * 60);

impl Runs {
    pub async fn workspace_file(&self, id: Uuid, reference: &str) -> ApiResult<FileLink> {
        let run = self.live(id).await?;
        let file = match reference.parse::<Uuid>() {
            Ok(file_id) => files::find(&self.db, run.workspace_id, file_id).await?,
            Err(_) => files::find_ready_by_name(&self.db, run.workspace_id, reference).await?,
        }
        .filter(|f| f.status == FileStatus::Ready)
        .ok_or_else(|| ApiError::not_found("file"))?;
        let download_url = self
            .blobs
            .download_url(&file.blob_key, LINK_TTL)
            .await
            .map_err(ApiError::unavailable)?;
        Ok(FileLink {
            id: file.id.to_string(),
            name: file.name,
            content_type: file.content_type,
            size: u64::try_from(file.size).unwrap_or(0),
            download_url,
        })
    }
}
