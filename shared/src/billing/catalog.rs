//! What is for sale: the Stripe price of each tier and interval, read from
//! configuration (`STRIPE_PRICES`, `STRIPE_METERED_PRICES`), and the way back
//! from a price on a subscription to the tier it buys.

use crate::settings::BillingSettings;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::tier::Tier;

/// How often a plan is paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Interval {
    Month,
    Year,
}

impl Interval {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Month => "month",
            Self::Year => "year",
        }
    }
}

/// One tier on sale and the intervals it can be paid by.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Offer {
    pub tier: Tier,
    pub intervals: Vec<Interval>,
    /// Usage (runs, run minutes, LLM tokens) is billed on top.
    pub metered: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Catalog {
    prices: Vec<(Tier, Interval, String)>,
    metered: Vec<(Tier, String)>,
}

fn tier(raw: &str, var: &str) -> Result<Tier, String> {
    match raw.parse::<Tier>() {
        Ok(Tier::Free) => Err(format!("{var}: FREE has no price")),
        Ok(t) => Ok(t),
        Err(_) => Err(format!("{var}: unknown tier {raw:?}")),
    }
}

impl Catalog {
    /// The configured prices; an unknown tier or a price used twice is an error.
    pub fn from_settings(s: &BillingSettings) -> Result<Self, String> {
        let mut c = Self::default();
        for p in &s.prices {
            let interval = if p.interval == "year" {
                Interval::Year
            } else {
                Interval::Month
            };
            c.prices
                .push((tier(&p.tier, "STRIPE_PRICES")?, interval, p.price.clone()));
        }
        for (t, price) in &s.metered_prices {
            c.metered
                .push((tier(t, "STRIPE_METERED_PRICES")?, price.clone()));
        }
        let mut all: Vec<&str> = c.prices.iter().map(|p| p.2.as_str()).collect();
        all.extend(c.metered.iter().map(|m| m.1.as_str()));
        all.sort_unstable();
        if all.windows(2).any(|w| w[0] == w[1]) {
            return Err("STRIPE_PRICES / STRIPE_METERED_PRICES: a price is named twice".into());
        }
        Ok(c)
    }

    /// The price that buys `tier` paid every `interval`, if it is on sale.
    pub fn price(&self, tier: Tier, interval: Interval) -> Option<&str> {
        self.prices
            .iter()
            .find(|(t, i, _)| *t == tier && *i == interval)
            .map(|p| p.2.as_str())
    }

    /// The usage-based price a subscription of `tier` also carries.
    pub fn metered_price(&self, tier: Tier) -> Option<&str> {
        self.metered
            .iter()
            .find(|(t, _)| *t == tier)
            .map(|m| m.1.as_str())
    }

    /// The tier and interval a (flat) price buys.
    pub fn plan_of(&self, price: &str) -> Option<(Tier, Interval)> {
        self.prices
            .iter()
            .find(|(_, _, p)| p == price)
            .map(|(t, i, _)| (*t, *i))
    }

    /// Whether `price` is one of the usage-based prices.
    pub fn is_metered(&self, price: &str) -> bool {
        self.metered.iter().any(|(_, p)| p == price)
    }

    /// Every tier on sale, cheapest first.
    pub fn offers(&self) -> Vec<Offer> {
        Tier::ALL
            .iter()
            .filter_map(|&t| {
                let intervals: Vec<Interval> = [Interval::Month, Interval::Year]
                    .into_iter()
                    .filter(|&i| self.price(t, i).is_some())
                    .collect();
                (!intervals.is_empty()).then(|| Offer {
                    tier: t,
                    intervals,
                    metered: self.metered_price(t).is_some(),
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use crate::settings::Lookup;

    use super::*;

    fn catalog(prices: &str, metered: &str) -> Result<Catalog, String> {
        let map: HashMap<String, String> = [
            ("STRIPE_PRICES".to_owned(), prices.to_owned()),
            ("STRIPE_METERED_PRICES".to_owned(), metered.to_owned()),
        ]
        .into();
        let lookup = Lookup::map(&map);
        let s = BillingSettings::from_lookup(&lookup).map_err(|e| e.to_string())?;
        Catalog::from_settings(&s)
    }

    #[test]
    fn prices_map_both_ways() {
        let c = catalog(
            "STARTER:month=p_sm,STARTER:year=p_sy,SCALE:month=p_xm",
            "SCALE=p_meter",
        )
        .expect("valid");
        assert_eq!(c.price(Tier::Starter, Interval::Year), Some("p_sy"));
        assert_eq!(c.price(Tier::Professional, Interval::Month), None);
        assert_eq!(c.plan_of("p_xm"), Some((Tier::Scale, Interval::Month)));
        assert_eq!(c.plan_of("p_meter"), None);
        assert!(c.is_metered("p_meter"));
        let offers = c.offers();
        assert_eq!(offers.len(), 2);
        assert_eq!(offers[0].intervals, vec![Interval::Month, Interval::Year]);
        assert!(offers[1].metered);
    }

    #[test]
    fn free_unknown_tiers_and_reused_prices_are_refused() {
        assert!(catalog("FREE:month=p", "").is_err());
        assert!(catalog("GOLD:month=p", "").is_err());
        assert!(catalog("STARTER:month=p,SCALE:month=p", "").is_err());
        assert!(catalog("STARTER:month=p", "SCALE=p").is_err());
    }
}
