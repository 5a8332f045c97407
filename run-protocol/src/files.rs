//! A workspace file as the callback API hands it to a run (`GET
//! …/files?ref=<id or name>`): what it is and a short-lived link to its bytes.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileLink {
    pub id: String,
    pub name: String,
    pub content_type: String,
    pub size: u64,
    /// A presigned GET, valid for a few minutes.
    pub download_url: String,
}
