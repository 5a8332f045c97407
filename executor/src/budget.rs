//! The run's token budget (`RunSpec::token_budget`) and the stop the API may
//! ask for when the workspace's monthly budget is spent. Agent calls check it
//! before they start and cap their output at what is left (so a call cannot
//! run far past it); every call's tokens are counted once it answers. Once the
//! budget is reached the engine stops the run: `failed`, reason
//! `budget_exceeded`.

use std::sync::{
    atomic::{AtomicU64, Ordering},
    Mutex,
};

use tokio_util::sync::CancellationToken;

#[derive(Debug, Default)]
pub struct TokenBudget {
    limit: Option<u64>,
    used: AtomicU64,
    /// Set once: why the run must stop.
    why: Mutex<Option<String>>,
    spent: CancellationToken,
}

impl TokenBudget {
    /// A budget of `limit` tokens (`None`: no limit, but the API may still
    /// stop the run for the monthly budget).
    pub fn new(limit: Option<u64>) -> Self {
        Self {
            limit,
            ..Self::default()
        }
    }

    /// Tokens left, if there is a limit.
    pub fn remaining(&self) -> Option<u64> {
        self.limit
            .map(|l| l.saturating_sub(self.used.load(Ordering::Relaxed)))
    }

    /// Whether a new agent call may start; if not, why.
    pub fn check(&self) -> Result<(), String> {
        if let Some(why) = self.reason() {
            return Err(why);
        }
        match (self.limit, self.remaining()) {
            (Some(limit), Some(0)) => Err(self.reached(limit)),
            _ => Ok(()),
        }
    }

    /// Counts a call's tokens; stops the run when they reach the limit.
    pub fn add(&self, tokens: u64) {
        let add = |u: u64| Some(u.saturating_add(tokens));
        let before = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, add)
            .unwrap_or_else(|u| u);
        let used = before.saturating_add(tokens);
        if let Some(limit) = self.limit.filter(|&l| used >= l) {
            self.stop(self.reached(limit));
        }
    }

    /// Tokens counted so far.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Stops the run for a budget (the first reason given is kept).
    pub fn stop(&self, why: String) {
        if let Ok(mut slot) = self.why.lock() {
            slot.get_or_insert(why);
        }
        self.spent.cancel();
    }

    /// Why the run was stopped, once it was.
    pub fn reason(&self) -> Option<String> {
        self.why.lock().ok().and_then(|w| w.clone())
    }

    /// Resolves when the run must stop for its budget.
    pub async fn spent(&self) {
        self.spent.cancelled().await;
    }

    fn reached(&self, limit: u64) -> String {
        format!(
            "the run used {} LLM tokens of its budget of {limit}",
            self.used()
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_stops_once_reached_and_keeps_the_first_reason() {
        let b = TokenBudget::new(Some(100));
        assert_eq!(b.remaining(), Some(100));
        b.add(60);
        assert!(b.check().is_ok());
        assert_eq!(b.remaining(), Some(40));
        b.add(60);
        assert_eq!(b.remaining(), Some(0));
        let why = b.check().expect_err("refused");
        assert!(why.contains("120 LLM tokens of its budget of 100"), "{why}");
        b.stop("another".into());
        assert_eq!(b.reason().as_deref(), Some(why.as_str()));
    }

    #[test]
    fn no_limit_counts_but_only_the_api_stops_it() {
        let b = TokenBudget::new(None);
        b.add(u64::MAX);
        b.add(5);
        assert_eq!(b.used(), u64::MAX);
        assert!(b.check().is_ok());
        assert_eq!(b.remaining(), None);
        b.stop("the workspace's monthly budget is spent".into());
        assert!(b.check().expect_err("refused").contains("monthly"));
    }
}
