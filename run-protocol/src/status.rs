//! An execution's lifecycle: `queued → dispatching → running → completed |
//! failed | cancelled | timed_out`.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

/// Where an execution is in its lifecycle. Stored as text (`queued`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum ExecutionStatus {
    Queued,
    Dispatching,
    Running,
    Completed,
    Failed,
    Cancelled,
    TimedOut,
}

impl ExecutionStatus {
    pub const ALL: [Self; 7] = [
        Self::Queued,
        Self::Dispatching,
        Self::Running,
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::TimedOut,
    ];
    /// Statuses that hold a concurrency slot or wait for one.
    pub const ACTIVE: [Self; 3] = [Self::Queued, Self::Dispatching, Self::Running];
    /// Statuses a run never leaves.
    pub const TERMINAL: [Self; 4] = [
        Self::Completed,
        Self::Failed,
        Self::Cancelled,
        Self::TimedOut,
    ];

    pub fn is_terminal(self) -> bool {
        Self::TERMINAL.contains(&self)
    }

    pub fn is_active(self) -> bool {
        !self.is_terminal()
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Dispatching => "dispatching",
            Self::Running => "running",
            Self::Completed => "completed",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::TimedOut => "timed_out",
        }
    }

    /// How the run ended, if it has.
    pub fn ended(self) -> Option<RunStatus> {
        match self {
            Self::Completed => Some(RunStatus::Completed),
            Self::Failed => Some(RunStatus::Failed),
            Self::Cancelled => Some(RunStatus::Cancelled),
            Self::TimedOut => Some(RunStatus::TimedOut),
            Self::Queued | Self::Dispatching | Self::Running => None,
        }
    }
}

impl fmt::Display for ExecutionStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown status {0:?}")]
pub struct UnknownStatus(pub String);

impl FromStr for ExecutionStatus {
    type Err = UnknownStatus;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownStatus(s.to_owned()))
    }
}

/// How a run ended: the terminal statuses. Also the executor's exit code
/// (see [`RunStatus::exit_code`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Completed,
    Failed,
    Cancelled,
    TimedOut,
}

impl RunStatus {
    /// 0 completed, 1 failed, 3 cancelled, 4 timed out (2 is a usage or spec error).
    pub fn exit_code(self) -> i32 {
        match self {
            Self::Completed => 0,
            Self::Failed => 1,
            Self::Cancelled => 3,
            Self::TimedOut => 4,
        }
    }
}

/// Why a run ended, when there is more to say than its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[cfg_attr(feature = "sqlx", derive(sqlx::Type))]
#[cfg_attr(feature = "sqlx", sqlx(type_name = "text", rename_all = "snake_case"))]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// `failed`: the run reached its token budget, or its workspace's monthly
    /// budget was spent.
    BudgetExceeded,
    /// A reason this version does not know (sent by a newer executor).
    #[serde(other)]
    Other,
}

impl From<RunStatus> for ExecutionStatus {
    fn from(s: RunStatus) -> Self {
        match s {
            RunStatus::Completed => Self::Completed,
            RunStatus::Failed => Self::Failed,
            RunStatus::Cancelled => Self::Cancelled,
            RunStatus::TimedOut => Self::TimedOut,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_partition() {
        for s in ExecutionStatus::ALL {
            assert_eq!(s.as_str().parse::<ExecutionStatus>(), Ok(s));
            assert_eq!(serde_json::to_value(s).ok(), Some(s.as_str().into()));
            assert_ne!(s.is_terminal(), ExecutionStatus::ACTIVE.contains(&s));
            assert_eq!(
                s.ended().map(ExecutionStatus::from),
                s.is_terminal().then_some(s)
            );
        }
        assert!("done".parse::<ExecutionStatus>().is_err());
        assert_eq!(RunStatus::TimedOut.exit_code(), 4);
    }
}
