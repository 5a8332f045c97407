//! What a subscription's state means for a workspace's plan: one pure
//! function ([`effective_tier`]) the webhook, the sweeper and the tests share.
//!
//! - `active`, `trialing`: the subscription's tier, at once (an upgrade takes
//!   effect as soon as Stripe says the subscription is paid).
//! - `past_due`, `unpaid`: a payment failed; the tier is kept for the grace
//!   period counted from the first failure, then the workspace is FREE.
//! - `canceled`, `incomplete_expired`, `paused`, `incomplete`: FREE. A
//!   cancellation at period end stays `active` (with `cancel_at_period_end`)
//!   until Stripe ends the subscription at the period's end.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::catalog::Interval;
use crate::tier::Tier;

/// A Stripe subscription's `status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum SubscriptionStatus {
    Incomplete,
    IncompleteExpired,
    Trialing,
    Active,
    PastDue,
    Canceled,
    Unpaid,
    Paused,
}

impl SubscriptionStatus {
    /// A payment failed and has not been made good yet.
    pub const fn is_failing(self) -> bool {
        matches!(self, Self::PastDue | Self::Unpaid)
    }

    /// The subscription will never bill again.
    pub const fn is_over(self) -> bool {
        matches!(self, Self::Canceled | Self::IncompleteExpired)
    }
}

/// Why a workspace's plan changed (stored in `tier_changes.cause`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Cause {
    /// A paid subscription started.
    Subscribed,
    /// The subscription moved to another tier (upgrade or downgrade).
    PlanChanged,
    /// A failed payment was made good.
    PaymentRecovered,
    /// A payment failed and the grace period ran out.
    GraceExpired,
    /// The subscription ended (cancelled, at the period's end or at once).
    Canceled,
    /// An operator set the tier (`local set-tier`).
    Admin,
}

/// A subscription as we keep it: what Stripe last said, plus when its
/// payments started failing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionState {
    pub stripe_id: String,
    pub tier: Tier,
    pub interval: Interval,
    pub status: SubscriptionStatus,
    pub period_start: Option<DateTime<Utc>>,
    pub period_end: Option<DateTime<Utc>>,
    pub cancel_at_period_end: bool,
    pub past_due_since: Option<DateTime<Utc>>,
    pub metered: bool,
    /// Stripe's `created` of the subscription.
    pub created: DateTime<Utc>,
}

impl SubscriptionState {
    /// When the grace period of a failed payment ends, if one is running.
    pub fn grace_until(&self, grace: Duration) -> Option<DateTime<Utc>> {
        let since = self.past_due_since.filter(|_| self.status.is_failing())?;
        // A grace too long to add is as good as endless.
        Some(
            chrono::Duration::from_std(grace)
                .ok()
                .and_then(|g| since.checked_add_signed(g))
                .unwrap_or(DateTime::<Utc>::MAX_UTC),
        )
    }
}

/// The plan a workspace has with this subscription (or none) at `now`.
pub fn effective_tier(
    sub: Option<&SubscriptionState>,
    now: DateTime<Utc>,
    grace: Duration,
) -> Tier {
    let Some(sub) = sub else { return Tier::Free };
    match sub.status {
        SubscriptionStatus::Active | SubscriptionStatus::Trialing => sub.tier,
        SubscriptionStatus::PastDue | SubscriptionStatus::Unpaid => match sub.grace_until(grace) {
            Some(until) if now < until => sub.tier,
            _ => Tier::Free,
        },
        SubscriptionStatus::Incomplete
        | SubscriptionStatus::IncompleteExpired
        | SubscriptionStatus::Canceled
        | SubscriptionStatus::Paused => Tier::Free,
    }
}

/// Why the plan went from `from` to `to`, given the subscription before and after.
pub fn cause(
    from: Tier,
    to: Tier,
    before: Option<&SubscriptionState>,
    after: &SubscriptionState,
) -> Cause {
    if to == Tier::Free {
        if after.status.is_failing() {
            Cause::GraceExpired
        } else {
            Cause::Canceled
        }
    } else if before.is_some_and(|b| b.status.is_failing() && b.tier == to) {
        Cause::PaymentRecovered
    } else if from == Tier::Free {
        Cause::Subscribed
    } else {
        Cause::PlanChanged
    }
}

/// When the failing started: kept while the subscription stays failing,
/// `now` when it starts failing, none once it is paid.
pub fn past_due_since(
    before: Option<&SubscriptionState>,
    status: SubscriptionStatus,
    now: DateTime<Utc>,
) -> Option<DateTime<Utc>> {
    if !status.is_failing() {
        return None;
    }
    before
        .filter(|b| b.status.is_failing())
        .and_then(|b| b.past_due_since)
        .or(Some(now))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WEEK: Duration = Duration::from_secs(7 * 86_400);

    fn sub(status: SubscriptionStatus) -> SubscriptionState {
        SubscriptionState {
            stripe_id: "sub_1".into(),
            tier: Tier::Starter,
            interval: Interval::Month,
            status,
            period_start: None,
            period_end: None,
            cancel_at_period_end: false,
            past_due_since: None,
            metered: false,
            created: Utc::now(),
        }
    }

    #[test]
    fn paid_subscriptions_give_their_tier_at_once() {
        let now = Utc::now();
        assert_eq!(effective_tier(None, now, WEEK), Tier::Free);
        for s in [SubscriptionStatus::Active, SubscriptionStatus::Trialing] {
            assert_eq!(effective_tier(Some(&sub(s)), now, WEEK), Tier::Starter);
        }
        let mut ending = sub(SubscriptionStatus::Active);
        ending.cancel_at_period_end = true;
        assert_eq!(effective_tier(Some(&ending), now, WEEK), Tier::Starter);
        for s in [
            SubscriptionStatus::Incomplete,
            SubscriptionStatus::IncompleteExpired,
            SubscriptionStatus::Canceled,
            SubscriptionStatus::Paused,
        ] {
            assert_eq!(
                effective_tier(Some(&sub(s)), now, WEEK),
                Tier::Free,
                "{s:?}"
            );
        }
    }

    #[test]
    fn a_failed_payment_keeps_the_tier_for_the_grace_period() {
        let now = Utc::now();
        let mut failing = sub(SubscriptionStatus::PastDue);
        failing.past_due_since = Some(now - chrono::Duration::days(6));
        assert_eq!(effective_tier(Some(&failing), now, WEEK), Tier::Starter);
        failing.past_due_since = Some(now - chrono::Duration::days(8));
        assert_eq!(effective_tier(Some(&failing), now, WEEK), Tier::Free);
        assert_eq!(
            cause(Tier::Starter, Tier::Free, None, &failing),
            Cause::GraceExpired
        );
        // The failing started once: a second failure does not restart it.
        let since = past_due_since(Some(&failing), SubscriptionStatus::Unpaid, now);
        assert_eq!(since, failing.past_due_since);
        assert_eq!(
            past_due_since(None, SubscriptionStatus::PastDue, now),
            Some(now)
        );
        assert_eq!(
            past_due_since(Some(&failing), SubscriptionStatus::Active, now),
            None
        );
        assert_eq!(
            cause(
                Tier::Free,
                Tier::Starter,
                Some(&failing),
                &sub(SubscriptionStatus::Active)
            ),
            Cause::PaymentRecovered
        );
    }

    #[test]
    fn causes_name_the_change() {
        let active = sub(SubscriptionStatus::Active);
        assert_eq!(
            cause(Tier::Free, Tier::Starter, None, &active),
            Cause::Subscribed
        );
        assert_eq!(
            cause(Tier::Scale, Tier::Starter, Some(&active), &active),
            Cause::PlanChanged
        );
        assert_eq!(
            cause(
                Tier::Starter,
                Tier::Free,
                Some(&active),
                &sub(SubscriptionStatus::Canceled)
            ),
            Cause::Canceled
        );
    }
}
