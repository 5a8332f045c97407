//! A workspace's files: what may be uploaded (types and sizes by tier,
//! [`crate::tier::TierLimits`]), and the states an upload goes through.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Which kinds of file a tier may upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileTypes {
    /// Text, Markdown, CSV, JSON, PDF and images.
    Documents,
    /// Those, and office documents, HTML, XML, archives, audio and video.
    All,
}

const DOCUMENTS: [&str; 9] = [
    "text/plain",
    "text/markdown",
    "text/csv",
    "application/json",
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
];

const MORE: [&str; 14] = [
    "text/html",
    "text/xml",
    "application/xml",
    "application/x-ndjson",
    "application/zip",
    "application/gzip",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    "audio/mpeg",
    "audio/wav",
    "video/mp4",
    "image/svg+xml",
    "application/yaml",
];

impl FileTypes {
    /// Whether a content type (parameters such as `charset` aside) may be uploaded.
    pub fn allows(self, content_type: &str) -> bool {
        let base = content_type
            .split(';')
            .next()
            .unwrap_or_default()
            .trim()
            .to_ascii_lowercase();
        DOCUMENTS.contains(&base.as_str())
            || (self == FileTypes::All && MORE.contains(&base.as_str()))
    }

    /// The types it takes, for error details.
    pub fn list(self) -> Vec<&'static str> {
        let mut all = DOCUMENTS.to_vec();
        if self == FileTypes::All {
            all.extend(MORE);
        }
        all
    }
}

/// Where an upload is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum FileStatus {
    /// Registered; its bytes not yet confirmed (`…/complete`).
    Pending,
    /// Stored, its size checked: it can be downloaded and used.
    Ready,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_by_tier() {
        assert!(FileTypes::Documents.allows("application/pdf"));
        assert!(FileTypes::Documents.allows("text/plain; charset=utf-8"));
        assert!(FileTypes::Documents.allows("IMAGE/PNG"));
        assert!(!FileTypes::Documents.allows("application/zip"));
        assert!(FileTypes::All.allows("application/zip"));
        assert!(!FileTypes::All.allows("application/x-msdownload"));
        assert!(!FileTypes::All.allows("application/octet-stream"));
    }
}
