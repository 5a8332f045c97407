//! Billing through Stripe: the keys (secrets), where the API is, and the
//! prices of each tier (configuration, not code).

use std::time::Duration;

use secrecy::SecretString;

use crate::lookup::{Lookup, SettingsError};

/// One configured price: `TIER:interval=price_id` in `STRIPE_PRICES`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceSetting {
    /// A tier name as written (`STARTER`); `shared::billing` parses it.
    pub tier: String,
    /// `month` or `year`.
    pub interval: String,
    pub price: String,
}

#[derive(Debug, Clone)]
pub struct BillingSettings {
    /// `STRIPE_SECRET_KEY`: unset, billing routes answer 503 and the plan
    /// only changes with `local set-tier`.
    pub secret_key: Option<SecretString>,
    /// `STRIPE_WEBHOOK_SECRET`: the endpoint's signing secrets, separated by
    /// commas; more than one while a secret is being rotated.
    pub webhook_secrets: Vec<SecretString>,
    /// `STRIPE_API_BASE` (`https://api.stripe.com`): a local double in tests.
    pub api_base: String,
    /// `STRIPE_PRICES`: `STARTER:month=price_…,STARTER:year=price_…,…`.
    pub prices: Vec<PriceSetting>,
    /// `STRIPE_METERED_PRICES`: `SCALE=price_…,…`, the usage-based price a
    /// subscription of that tier also carries (its usage is reported).
    pub metered_prices: Vec<(String, String)>,
    /// `STRIPE_METER_EVENTS` (`runs=saasit_runs,run_minutes=saasit_run_minutes,
    /// llm_tokens=saasit_llm_tokens`): the meter event name of each metric.
    pub meter_events: Vec<(String, String)>,
    /// `BILLING_GRACE_DAYS` (7): how long a workspace keeps its plan after a
    /// payment fails.
    pub grace: Duration,
    /// `STRIPE_WEBHOOK_TOLERANCE_SECS` (300): how old a signature may be.
    pub webhook_tolerance: Duration,
    /// `STRIPE_TIMEOUT_MS` (10000): the longest one call to Stripe may take.
    pub timeout: Duration,
}

fn pairs(
    l: &Lookup<'_>,
    name: &'static str,
    default: &str,
) -> Result<Vec<(String, String)>, SettingsError> {
    l.or(name, default)
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            item.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
                .filter(|(k, v)| !k.is_empty() && !v.is_empty())
                .ok_or_else(|| SettingsError::Invalid {
                    name,
                    reason: "each entry must be NAME=VALUE, separated by commas".into(),
                })
        })
        .collect()
}

/// `BILLING_GRACE_DAYS`: 0 to 365.
fn grace_days(l: &Lookup<'_>) -> Result<Duration, SettingsError> {
    let days: u64 = l.parse("BILLING_GRACE_DAYS", 7)?;
    if days > 365 {
        return Err(SettingsError::Invalid {
            name: "BILLING_GRACE_DAYS",
            reason: "must be 0 to 365".into(),
        });
    }
    Ok(Duration::from_secs(days * 86_400))
}

impl BillingSettings {
    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        let api_base = l.or("STRIPE_API_BASE", "https://api.stripe.com");
        if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
            return Err(SettingsError::Invalid {
                name: "STRIPE_API_BASE",
                reason: "must be an http(s) URL".into(),
            });
        }
        let prices = pairs(l, "STRIPE_PRICES", "")?
            .into_iter()
            .map(|(k, price)| {
                let (tier, interval) = k.split_once(':').ok_or(SettingsError::Invalid {
                    name: "STRIPE_PRICES",
                    reason: "each entry must be TIER:month=PRICE or TIER:year=PRICE".into(),
                })?;
                if !matches!(interval, "month" | "year") {
                    return Err(SettingsError::Invalid {
                        name: "STRIPE_PRICES",
                        reason: "the interval must be month or year".into(),
                    });
                }
                Ok(PriceSetting {
                    tier: tier.trim().to_uppercase(),
                    interval: interval.to_owned(),
                    price,
                })
            })
            .collect::<Result<_, _>>()?;
        let meter_events = pairs(
            l,
            "STRIPE_METER_EVENTS",
            "runs=saasit_runs,run_minutes=saasit_run_minutes,llm_tokens=saasit_llm_tokens",
        )?;
        if let Some((metric, _)) = meter_events
            .iter()
            .find(|(m, _)| !matches!(m.as_str(), "runs" | "run_minutes" | "llm_tokens"))
        {
            return Err(SettingsError::Invalid {
                name: "STRIPE_METER_EVENTS",
                reason: format!("unknown metric {metric:?} (runs, run_minutes, llm_tokens)"),
            });
        }
        Ok(Self {
            secret_key: l.get("STRIPE_SECRET_KEY").map(SecretString::from),
            webhook_secrets: l
                .get("STRIPE_WEBHOOK_SECRET")
                .unwrap_or_default()
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|s| SecretString::from(s.to_owned()))
                .collect(),
            api_base: api_base.trim_end_matches('/').to_owned(),
            prices,
            metered_prices: pairs(l, "STRIPE_METERED_PRICES", "")?
                .into_iter()
                .map(|(t, p)| (t.to_uppercase(), p))
                .collect(),
            meter_events,
            grace: grace_days(l)?,
            webhook_tolerance: l
                .seconds("STRIPE_WEBHOOK_TOLERANCE_SECS", Duration::from_secs(300))?,
            timeout: Duration::from_millis(l.parse("STRIPE_TIMEOUT_MS", 10_000)?),
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    fn read(vars: &[(&str, &str)]) -> Result<BillingSettings, SettingsError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        let lookup = Lookup::map(&map);
        BillingSettings::from_lookup(&lookup)
    }

    #[test]
    fn prices_and_rotated_secrets_are_read() {
        let s = read(&[
            (
                "STRIPE_PRICES",
                "starter:month=price_a, STARTER:year=price_b",
            ),
            ("STRIPE_WEBHOOK_SECRET", "whsec_old, whsec_new"),
            ("STRIPE_METERED_PRICES", "scale=price_m"),
        ])
        .expect("valid");
        assert_eq!(s.prices.len(), 2);
        assert_eq!(s.prices[0].tier, "STARTER");
        assert_eq!(s.prices[1].interval, "year");
        assert_eq!(s.webhook_secrets.len(), 2);
        assert_eq!(s.metered_prices, vec![("SCALE".into(), "price_m".into())]);
        assert_eq!(s.meter_events.len(), 3);
        assert_eq!(s.grace, Duration::from_secs(7 * 86_400));
        assert!(s.secret_key.is_none());
    }

    #[test]
    fn malformed_prices_name_the_variable() {
        for bad in ["STARTER=price_a", "STARTER:week=price_a", "STARTER:month="] {
            let err = read(&[("STRIPE_PRICES", bad)]).expect_err(bad);
            assert!(err.to_string().contains("STRIPE_PRICES"), "{err}");
            assert!(!err.to_string().contains("price_a"), "{err}");
        }
        assert!(read(&[("BILLING_GRACE_DAYS", "100000000000000000")]).is_err());
        let err = read(&[("STRIPE_METER_EVENTS", "seats=x")]).expect_err("unknown metric");
        assert!(err.to_string().contains("STRIPE_METER_EVENTS"));
    }
}
