//! The run lifecycle's windows and limits, read by every binary that
//! dispatches, tracks or sweeps runs (the Lambdas and the local stack alike).

use std::time::Duration;

use crate::{
    lookup::{Lookup, SettingsError},
    prices::PriceTable,
};

/// How often an executor beats, unless told otherwise: the dispatcher passes
/// its setting to the Job, and the executor falls back to this.
pub const DEFAULT_HEARTBEAT_EVERY: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSettings {
    /// `HEARTBEAT_TIMEOUT_SECONDS` (90): a running run silent this long is
    /// asked after; it ends only if its job is gone too.
    pub heartbeat_timeout: Duration,
    /// `START_WINDOW_SECONDS` (900): how long a launched job may take to
    /// start (a node scaling up, an image pulled); apart from the heartbeat window.
    pub start_window: Duration,
    /// `DISPATCH_DEADLINE_SECONDS` (120): a run `dispatching` this long goes
    /// back to the queue (its slot released) ...
    pub dispatch_deadline: Duration,
    /// `MAX_DISPATCH_ATTEMPTS` (3): ... at most this many times, then fails.
    pub max_dispatch_attempts: i32,
    /// `EXECUTOR_HEARTBEAT_SECONDS` (30): how often executors beat.
    pub heartbeat_every: Duration,
    /// `TRACKER_HEARTBEAT_SECONDS` (3,600): the tracker's own heartbeat window
    /// (the state machine's `HeartbeatSeconds`), a backstop for a sweeper
    /// that is down: liveness is judged from Postgres by the sweeper within
    /// `HEARTBEAT_TIMEOUT_SECONDS`, and a beat is forwarded to the tracker
    /// once a third of this window has passed since it began or was last
    /// fed, not at every beat (Step Functions' `SendTaskHeartbeat` quota):
    /// runs shorter than 20 minutes forward none.
    pub tracker_heartbeat: Duration,
    /// `MAX_QUEUE_WAIT_SECONDS` (86,400): a run queued this long (no free
    /// slot) ends timed out.
    pub max_queue_wait: Duration,
    /// `DEFER_SECONDS` (5): how long an over-limit run waits before the
    /// dispatcher tries again (doubling on AWS, up to ten minutes).
    pub defer: Duration,
    /// `REQUEUE_AFTER_SECONDS` (1,200): queued runs whose message has not
    /// been seen this long are sent again (above the longest deferral).
    pub requeue_after: Duration,
    /// `CLUSTER_MAX_RUNS` (0: no cap): runs dispatching or running at once
    /// across the cluster, what its nodes can hold. When it is reached, ...
    pub cluster_max_runs: i64,
    /// ... `CLUSTER_STANDARD_PERCENT` (85) and `CLUSTER_LOW_PERCENT` (60):
    /// the share standard and low queue classes may fill, so high-priority
    /// runs always find room first.
    pub cluster_standard_percent: i64,
    pub cluster_low_percent: i64,
    /// `LLM_PRICES`: what agent calls cost (see [`PriceTable`]).
    pub prices: PriceTable,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            heartbeat_timeout: Duration::from_secs(90),
            start_window: Duration::from_secs(900),
            dispatch_deadline: Duration::from_secs(120),
            max_dispatch_attempts: 3,
            heartbeat_every: DEFAULT_HEARTBEAT_EVERY,
            tracker_heartbeat: Duration::from_secs(3600),
            max_queue_wait: Duration::from_secs(24 * 3600),
            defer: Duration::from_secs(5),
            requeue_after: Duration::from_secs(20 * 60),
            cluster_max_runs: 0,
            cluster_standard_percent: 85,
            cluster_low_percent: 60,
            prices: PriceTable::default(),
        }
    }
}

impl RunSettings {
    /// How often a run's beats are forwarded to the tracker: three times
    /// within its window.
    pub fn tracker_beat_every(&self) -> Duration {
        self.tracker_heartbeat / 3
    }

    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        let d = Self::default();
        let s = Self {
            heartbeat_timeout: l.seconds("HEARTBEAT_TIMEOUT_SECONDS", d.heartbeat_timeout)?,
            start_window: l.seconds("START_WINDOW_SECONDS", d.start_window)?,
            dispatch_deadline: l.seconds("DISPATCH_DEADLINE_SECONDS", d.dispatch_deadline)?,
            max_dispatch_attempts: l.parse("MAX_DISPATCH_ATTEMPTS", d.max_dispatch_attempts)?,
            heartbeat_every: l.seconds("EXECUTOR_HEARTBEAT_SECONDS", d.heartbeat_every)?,
            tracker_heartbeat: l.seconds("TRACKER_HEARTBEAT_SECONDS", d.tracker_heartbeat)?,
            max_queue_wait: l.seconds("MAX_QUEUE_WAIT_SECONDS", d.max_queue_wait)?,
            defer: l.seconds("DEFER_SECONDS", d.defer)?,
            requeue_after: l.seconds("REQUEUE_AFTER_SECONDS", d.requeue_after)?,
            cluster_max_runs: l.parse("CLUSTER_MAX_RUNS", d.cluster_max_runs)?,
            cluster_standard_percent: l
                .parse("CLUSTER_STANDARD_PERCENT", d.cluster_standard_percent)?,
            cluster_low_percent: l.parse("CLUSTER_LOW_PERCENT", d.cluster_low_percent)?,
            prices: PriceTable::from_lookup(l)?,
        };
        if s.cluster_max_runs < 0 {
            return Err(SettingsError::Invalid {
                name: "CLUSTER_MAX_RUNS",
                reason: "must be 0 (no cap) or more".into(),
            });
        }
        if !(1..=100).contains(&s.cluster_standard_percent)
            || !(1..=s.cluster_standard_percent).contains(&s.cluster_low_percent)
        {
            return Err(SettingsError::Invalid {
                name: "CLUSTER_LOW_PERCENT",
                reason: "the shares must satisfy 1 <= CLUSTER_LOW_PERCENT <= CLUSTER_STANDARD_PERCENT <= 100".into(),
            });
        }
        if s.heartbeat_every >= s.heartbeat_timeout {
            return Err(SettingsError::Invalid {
                name: "HEARTBEAT_TIMEOUT_SECONDS",
                reason: "must be longer than EXECUTOR_HEARTBEAT_SECONDS".into(),
            });
        }
        if s.tracker_heartbeat < s.heartbeat_timeout {
            return Err(SettingsError::Invalid {
                name: "TRACKER_HEARTBEAT_SECONDS",
                reason: "must be at least HEARTBEAT_TIMEOUT_SECONDS".into(),
            });
        }
        if s.max_dispatch_attempts < 1 {
            return Err(SettingsError::Invalid {
                name: "MAX_DISPATCH_ATTEMPTS",
                reason: "must be at least 1".into(),
            });
        }
        Ok(s)
    }
}
