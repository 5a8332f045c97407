//! Billing: Stripe is the source of truth for plans.
//!
//! - [`catalog`]: the price of each tier (configuration) and back.
//! - [`stripe`]: the Stripe API client (real Stripe, or the local double).
//! - [`signature`]: `Stripe-Signature` verification for webhooks.
//! - [`plan`]: what a subscription's state means for the plan (pure).
//! - [`sync`]: applying a subscription read from Stripe to a workspace,
//!   and the grace period's end (the sweeper).
//! - [`meter`]: reporting metered usage to Stripe, once per run and metric.

pub mod catalog;
pub mod meter;
pub mod plan;
pub mod signature;
pub mod stripe;
pub mod sync;

use std::time::Duration;

use crate::settings::BillingSettings;
use anyhow::Context;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

pub use catalog::{Catalog, Interval, Offer};
pub use plan::{Cause, SubscriptionStatus};
pub use stripe::{StripeClient, StripeError};

/// What is metered and reported to Stripe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    Runs,
    RunMinutes,
    LlmTokens,
}

impl Metric {
    pub const ALL: [Metric; 3] = [Metric::Runs, Metric::RunMinutes, Metric::LlmTokens];

    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Runs => "runs",
            Self::RunMinutes => "run_minutes",
            Self::LlmTokens => "llm_tokens",
        }
    }
}

/// Billing as configured: the client, the prices and the rules.
#[derive(Debug)]
pub struct Billing {
    pub stripe: StripeClient,
    pub catalog: Catalog,
    /// How long a workspace keeps its plan after a payment fails.
    pub grace: Duration,
    pub webhook_secrets: Vec<SecretString>,
    pub webhook_tolerance: Duration,
    /// The meter event name of each metric.
    pub meter_events: Vec<(Metric, String)>,
}

impl Billing {
    /// Billing from settings; `None` when `STRIPE_SECRET_KEY` is unset.
    /// Invalid prices are an error (the process should not start).
    pub fn from_settings(s: &BillingSettings) -> anyhow::Result<Option<Self>> {
        let Some(key) = s.secret_key.clone() else {
            return Ok(None);
        };
        let catalog = Catalog::from_settings(s).map_err(anyhow::Error::msg)?;
        let stripe = StripeClient::new(&s.api_base, key, s.timeout)
            .context("cannot build the Stripe client")?;
        let meter_events = s
            .meter_events
            .iter()
            .filter_map(|(m, name)| {
                Metric::ALL
                    .into_iter()
                    .find(|x| x.as_str() == m)
                    .map(|x| (x, name.clone()))
            })
            .collect();
        Ok(Some(Self {
            stripe,
            catalog,
            grace: s.grace,
            webhook_secrets: s.webhook_secrets.clone(),
            webhook_tolerance: s.webhook_tolerance,
            meter_events,
        }))
    }

    /// The meter event name of `metric`, if it is reported.
    pub fn meter_event(&self, metric: Metric) -> Option<&str> {
        self.meter_events
            .iter()
            .find(|(m, _)| *m == metric)
            .map(|(_, n)| n.as_str())
    }
}

/// What one billing sweep did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Workspaces whose grace period ended: back to FREE.
    pub grace_expired: usize,
    pub meters_sent: usize,
    pub meters_failed: usize,
}

/// The sweeper's billing round (the sweeper Lambda and the local stack's
/// periodic task): ends plans whose grace period is over, reports metered
/// usage, and forgets Stripe events after 30 days and reported usage after 90. A failure is logged and left to the next round; it never stops
/// the rest of the sweep.
pub async fn sweep(state: &crate::AppState) -> Swept {
    let Some(billing) = state.billing.as_deref() else {
        return Swept::default();
    };
    let mut swept = Swept::default();
    match sync::expire_grace(state, billing).await {
        Ok(n) => swept.grace_expired = n,
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "ending expired grace periods failed"),
    }
    match meter::report_due(&state.db, billing, 100, Duration::from_secs(20)).await {
        Ok(r) => {
            swept.meters_sent = r.sent;
            swept.meters_failed = r.failed;
        }
        Err(e) => tracing::warn!(error = %e, "reporting metered usage failed"),
    }
    let pruned = tokio::try_join!(
        crate::db::billing::prune_events(&state.db, 30),
        crate::db::meters::prune_reported(&state.db, 90),
    );
    if let Err(e) = pruned {
        tracing::warn!(error = %e, "pruning old Stripe events and meter reports failed");
    }
    swept
}
