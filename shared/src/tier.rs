//! Subscription tiers and everything each one allows: the one table in code
//! that every other part of the system asks (ARCHITECTURE.md §7).

use std::{fmt, str::FromStr, time::Duration};

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "SCREAMING_SNAKE_CASE")]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Tier {
    Free,
    Designer,
    Starter,
    Professional,
    Scale,
    Enterprise,
}

/// The SQS queue class an execution of this tier is sent to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Priority {
    High,
    Standard,
    Low,
}

impl Priority {
    pub fn as_str(self) -> &'static str {
        match self {
            Priority::High => "high",
            Priority::Standard => "standard",
            Priority::Low => "low",
        }
    }
}

/// What nodes an executor Job of this tier runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capacity {
    /// Spot nodes when there are any (cheaper, may be reclaimed), else on-demand.
    SpotPreferred,
    /// Never spot: long runs that an interruption would cost too much.
    OnDemand,
}

/// Kubernetes resource requests or limits for one executor container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Resources {
    pub cpu: &'static str,
    pub memory: &'static str,
}

/// What a tier may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TierLimits {
    /// Executions running at once; 0 means the tier can design but not run.
    pub concurrent_runs: u32,
    pub priority: Priority,
    /// Where its Jobs run (spot or on-demand nodes).
    pub capacity: Capacity,
    /// Longest an execution may run; `None` when the tier cannot run.
    pub max_runtime: Option<Duration>,
    /// Executor resources (requests, limits); `None` when the tier cannot run.
    pub resources: Option<(Resources, Resources)>,
    /// Workflows created per calendar month; `None` is unlimited.
    pub workflows_per_month: Option<u32>,
    /// Agents in one workflow; `None` is unlimited.
    pub agents_per_workflow: Option<u32>,
    /// Chat messages in one workflow; `None` is unlimited.
    pub messages_per_workflow: Option<u32>,
    /// Members of one workspace, pending invitations included.
    pub seats: u32,
    /// Days the workspace's activity log is kept, and its runs' event logs
    /// after they end.
    pub activity_retention_days: u32,
    /// Whether agent nodes may use the platform's LLM key; without it, a
    /// workspace brings its own (`ANTHROPIC_API_KEY` or `OPENAI_API_KEY` in its vault).
    pub platform_llm: bool,
    /// The largest file the workspace may upload, in bytes.
    pub max_file_bytes: u64,
    /// All its files together (uploads still pending included), in bytes.
    pub file_quota_bytes: u64,
    /// Which kinds of file it may upload.
    pub file_types: crate::files::FileTypes,
}

const MIB: u64 = 1024 * 1024;
const GIB: u64 = 1024 * MIB;

const HOUR: u64 = 3600;
const SMALL: (Resources, Resources) = (
    Resources {
        cpu: "1",
        memory: "2Gi",
    },
    Resources {
        cpu: "2",
        memory: "4Gi",
    },
);
const MEDIUM: (Resources, Resources) = (
    Resources {
        cpu: "2",
        memory: "4Gi",
    },
    Resources {
        cpu: "4",
        memory: "8Gi",
    },
);
const LARGE: (Resources, Resources) = (
    Resources {
        cpu: "4",
        memory: "8Gi",
    },
    Resources {
        cpu: "8",
        memory: "16Gi",
    },
);
const DESIGN_ONLY: TierLimits = TierLimits {
    concurrent_runs: 0,
    priority: Priority::Low,
    capacity: Capacity::SpotPreferred,
    max_runtime: None,
    resources: None,
    workflows_per_month: None,
    agents_per_workflow: None,
    messages_per_workflow: None,
    seats: 3,
    activity_retention_days: 30,
    platform_llm: false,
    max_file_bytes: 10 * MIB,
    file_quota_bytes: 200 * MIB,
    file_types: crate::files::FileTypes::Documents,
};
const UNLIMITED_DESIGN: TierLimits = DESIGN_ONLY;

/// Each tier's retention in days, as parallel arrays of tier names and days
/// (what SQL unnests to join on a tier).
pub fn retention_days() -> (Vec<&'static str>, Vec<i32>) {
    Tier::ALL
        .iter()
        .map(|t| {
            let days = t.limits().activity_retention_days;
            (t.as_str(), i32::try_from(days).unwrap_or(i32::MAX))
        })
        .unzip()
}

impl Tier {
    pub const ALL: [Tier; 6] = [
        Tier::Free,
        Tier::Designer,
        Tier::Starter,
        Tier::Professional,
        Tier::Scale,
        Tier::Enterprise,
    ];

    pub fn limits(self) -> TierLimits {
        match self {
            Tier::Free => TierLimits {
                workflows_per_month: Some(3),
                agents_per_workflow: Some(10),
                messages_per_workflow: Some(10),
                activity_retention_days: 7,
                max_file_bytes: 5 * MIB,
                file_quota_bytes: 50 * MIB,
                ..DESIGN_ONLY
            },
            Tier::Designer => UNLIMITED_DESIGN,
            Tier::Starter => TierLimits {
                concurrent_runs: 1,
                priority: Priority::Low,
                max_runtime: Some(Duration::from_secs(4 * HOUR)),
                resources: Some(SMALL),
                seats: 5,
                max_file_bytes: 25 * MIB,
                file_quota_bytes: GIB,
                file_types: crate::files::FileTypes::All,
                ..UNLIMITED_DESIGN
            },
            Tier::Professional => TierLimits {
                concurrent_runs: 3,
                platform_llm: true,
                priority: Priority::Standard,
                max_runtime: Some(Duration::from_secs(12 * HOUR)),
                resources: Some(MEDIUM),
                seats: 10,
                activity_retention_days: 90,
                max_file_bytes: 100 * MIB,
                file_quota_bytes: 10 * GIB,
                file_types: crate::files::FileTypes::All,
                ..UNLIMITED_DESIGN
            },
            Tier::Scale => TierLimits {
                concurrent_runs: 10,
                platform_llm: true,
                priority: Priority::High,
                // Runs of up to two days: an interruption would cost too much.
                capacity: Capacity::OnDemand,
                max_runtime: Some(Duration::from_secs(48 * HOUR)),
                resources: Some(LARGE),
                seats: 50,
                activity_retention_days: 365,
                max_file_bytes: 500 * MIB,
                file_quota_bytes: 100 * GIB,
                file_types: crate::files::FileTypes::All,
                ..UNLIMITED_DESIGN
            },
            Tier::Enterprise => TierLimits {
                concurrent_runs: 50,
                seats: 500,
                activity_retention_days: 730,
                max_file_bytes: GIB,
                file_quota_bytes: 1024 * GIB,
                ..Tier::Scale.limits()
            },
        }
    }

    /// Whether executions may be started at all.
    pub fn can_run(self) -> bool {
        self.limits().concurrent_runs > 0
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Free => "FREE",
            Tier::Designer => "DESIGNER",
            Tier::Starter => "STARTER",
            Tier::Professional => "PROFESSIONAL",
            Tier::Scale => "SCALE",
            Tier::Enterprise => "ENTERPRISE",
        }
    }
}

impl fmt::Display for Tier {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
#[error("unknown tier {0:?}")]
pub struct UnknownTier(String);

impl FromStr for Tier {
    type Err = UnknownTier;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Tier::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| UnknownTier(s.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for t in Tier::ALL {
            assert_eq!(t.as_str().parse::<Tier>().expect("parses"), t);
            assert_eq!(serde_json::to_value(t).expect("json"), t.as_str());
        }
        assert!("GOLD".parse::<Tier>().is_err());
    }

    #[test]
    fn table_matches_the_product_rules() {
        assert!(!Tier::Free.can_run() && !Tier::Designer.can_run());
        assert_eq!(Tier::Free.limits().workflows_per_month, Some(3));
        assert_eq!(Tier::Designer.limits().workflows_per_month, None);
        assert_eq!(Tier::Starter.limits().concurrent_runs, 1);
        assert_eq!(Tier::Professional.limits().priority, Priority::Standard);
        assert_eq!(
            Tier::Scale.limits().max_runtime,
            Some(Duration::from_secs(48 * 3600))
        );
        let ent = Tier::Enterprise.limits();
        assert_eq!(ent.concurrent_runs, 50);
        assert_eq!(ent.resources, Tier::Scale.limits().resources);
        assert_eq!(ent.priority, Priority::High);
    }
}
