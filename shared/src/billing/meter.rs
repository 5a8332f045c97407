//! Reporting metered usage to Stripe: each finished run of a metered
//! subscription left one row per metric (`meter_reports`); the reporter
//! (the sweeper) leases due rows, sends each as a meter event with an
//! identifier derived from the run and metric, and marks it reported. A
//! retry after a lost answer sends the same identifier, which Stripe counts
//! once; a failure backs off; Stripe being down stops the round. Stripe
//! deduplicates identifiers for 24 hours, so a report still unconfirmed 20
//! hours after its first attempt is given up (logged as an error) rather
//! than risk counting it twice.

use std::time::{Duration, Instant};

use sqlx::PgPool;

use super::{Billing, StripeError};
use crate::db::meters;

/// What one round did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Reported {
    pub sent: usize,
    pub failed: usize,
}

/// How long a leased report is left to one reporter.
const LEASE: Duration = Duration::from_secs(300);
/// Attempts before a report Stripe keeps refusing is given up (logged).
const MAX_ATTEMPTS: i32 = 12;
/// Stripe recognises a meter event's identifier for at least 24 hours: a
/// report is not sent again once its first attempt is older than this.
const DEDUPLICATED_FOR: chrono::TimeDelta = chrono::TimeDelta::hours(20);

/// The wait before attempt `n + 1`: 1, 2, 4 … minutes, at most six hours.
fn backoff(attempts: i32) -> Duration {
    let exp = u32::try_from(attempts.clamp(1, 10) - 1).unwrap_or(0);
    Duration::from_secs(60 * 2u64.pow(exp)).min(Duration::from_secs(6 * 3600))
}

/// One round: at most `batch` reports, for at most `budget`.
pub async fn report_due(
    db: &PgPool,
    billing: &Billing,
    batch: i64,
    budget: Duration,
) -> Result<Reported, sqlx::Error> {
    let started = Instant::now();
    let mut done = Reported::default();
    for r in meters::lease(db, batch, LEASE).await? {
        if started.elapsed() > budget {
            break; // the rest come due again when their lease ends
        }
        let event = billing.meter_event(r.metric);
        if event.is_none() || r.value == 0 {
            // Not reported for this metric, or nothing to report.
            meters::reported(db, r.execution_id, r.metric).await?;
            continue;
        }
        if chrono::Utc::now() - r.first_attempt_at > DEDUPLICATED_FOR {
            // An earlier attempt may have been counted, and Stripe no longer
            // recognises its identifier: sending again could count it twice.
            tracing::error!(execution_id = %r.execution_id, metric = r.metric.as_str(),
                "a meter event unsent for 20 hours is given up (it may have been counted): check the meter in Stripe");
            meters::failed(
                db,
                r.execution_id,
                r.metric,
                "given up: unconfirmed for 20 hours",
                None,
            )
            .await?;
            done.failed += 1;
            continue;
        }
        let sent = billing
            .stripe
            .meter_event(
                event.unwrap_or_default(),
                &r.stripe_customer_id,
                r.value,
                &r.identifier(),
                r.occurred_at.timestamp(),
            )
            .await;
        match sent {
            Ok(()) => {
                meters::reported(db, r.execution_id, r.metric).await?;
                done.sent += 1;
            }
            Err(e) => {
                done.failed += 1;
                let down = matches!(e, StripeError::Unreachable(_) | StripeError::Unavailable(_));
                let give_up = !down && r.attempts >= MAX_ATTEMPTS;
                if give_up {
                    tracing::error!(execution_id = %r.execution_id, metric = r.metric.as_str(), error = %e, "a meter event Stripe keeps refusing was given up");
                }
                let retry = (!give_up).then(|| backoff(r.attempts));
                meters::failed(db, r.execution_id, r.metric, &e.to_string(), retry).await?;
                if down {
                    tracing::warn!(error = %e, "Stripe is unavailable; meter events wait for the next round");
                    break;
                }
            }
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_six_hours() {
        assert_eq!(backoff(1), Duration::from_secs(60));
        assert_eq!(backoff(2), Duration::from_secs(120));
        assert_eq!(backoff(5), Duration::from_secs(960));
        assert_eq!(backoff(30), Duration::from_secs(6 * 3600));
    }
}
