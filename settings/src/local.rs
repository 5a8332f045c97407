//! The one-process local stack's own settings (not read on AWS).

use std::{path::PathBuf, time::Duration};

use crate::lookup::{Lookup, SettingsError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalSettings {
    /// `EXECUTOR_BIN`: the executor binary (default: next to `local`).
    pub executor_bin: Option<PathBuf>,
    /// `BLOB_DIR` (`.local/blobs`): where artifacts and log bundles go.
    pub blob_dir: PathBuf,
    /// `EXECUTOR_LOG_DIR` (`.local/executor-logs`): each executor's stderr.
    pub executor_log_dir: PathBuf,
    /// `SWEEP_EVERY_SECONDS` (5): how often the sweeper runs (every minute on AWS).
    pub sweep_every: Duration,
}

impl LocalSettings {
    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        Ok(Self {
            executor_bin: l.get("EXECUTOR_BIN").map(PathBuf::from),
            blob_dir: PathBuf::from(l.or("BLOB_DIR", ".local/blobs")),
            executor_log_dir: PathBuf::from(l.or("EXECUTOR_LOG_DIR", ".local/executor-logs")),
            sweep_every: l.seconds("SWEEP_EVERY_SECONDS", Duration::from_secs(5))?,
        })
    }
}
