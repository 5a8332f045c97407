//! What LLM tokens cost: the price table the API prices `usage` events with
//! (analytics' costs, spend caps). Built-in list prices for the models the
//! executor's providers default to and their usual siblings, overridden or
//! extended by `LLM_PRICES`.
//!
//! `LLM_PRICES` is a comma-separated list of `model=input/output`, in US
//! dollars per million tokens: `claude-sonnet-4-5=3/15,my-finetune=0.3/1.2`.
//! A model is priced by the longest entry its name starts with (up to a `-`,
//! `.`, `:`, `@` or `/`), so
//! `gpt-4o-2024-08-06` costs what `gpt-4o` does. Prices are kept as whole
//! micro-dollars per million tokens (so a token's price is exact to 10⁻¹² $).

use std::collections::BTreeMap;

use crate::lookup::{Lookup, SettingsError};

/// A model's price, in micro-dollars per million tokens.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModelPrice {
    pub input: u64,
    pub output: u64,
}

/// Prices by model-name prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceTable {
    prices: BTreeMap<String, ModelPrice>,
}

/// List prices (US dollars per million input and output tokens) as the
/// providers published them; an operator corrects or adds with `LLM_PRICES`.
const BUILT_IN: &[(&str, f64, f64)] = &[
    ("claude-opus-4", 15.0, 75.0),
    ("claude-sonnet-4", 3.0, 15.0),
    ("claude-haiku-4", 1.0, 5.0),
    ("claude-3-7-sonnet", 3.0, 15.0),
    ("claude-3-5-sonnet", 3.0, 15.0),
    ("claude-3-5-haiku", 0.8, 4.0),
    ("claude-3-opus", 15.0, 75.0),
    ("claude-3-haiku", 0.25, 1.25),
    ("gpt-4o", 2.5, 10.0),
    ("gpt-4o-mini", 0.15, 0.6),
    ("gpt-4.1", 2.0, 8.0),
    ("gpt-4.1-mini", 0.4, 1.6),
    ("gpt-4.1-nano", 0.1, 0.4),
    ("o3", 2.0, 8.0),
    ("o3-mini", 1.1, 4.4),
    ("o4-mini", 1.1, 4.4),
    // The local stack's echo provider: free.
    ("dev", 0.0, 0.0),
];

/// A price in dollars per million tokens, as micro-dollars; `None` if it is
/// not a finite, non-negative number under a million dollars.
fn micros(dollars: f64) -> Option<u64> {
    (dollars.is_finite() && (0.0..1e6).contains(&dollars)).then(|| (dollars * 1e6).round() as u64)
}

impl Default for PriceTable {
    fn default() -> Self {
        let prices = BUILT_IN
            .iter()
            .map(|&(model, input, output)| {
                let price = ModelPrice {
                    input: micros(input).unwrap_or(0),
                    output: micros(output).unwrap_or(0),
                };
                (model.to_owned(), price)
            })
            .collect();
        Self { prices }
    }
}

impl PriceTable {
    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        let mut table = Self::default();
        if let Some(list) = l.get("LLM_PRICES") {
            table
                .extend(&list)
                .map_err(|reason| SettingsError::Invalid {
                    name: "LLM_PRICES",
                    reason,
                })?;
        }
        Ok(table)
    }

    /// Adds (or replaces) the entries of a `model=input/output,…` list.
    pub fn extend(&mut self, list: &str) -> Result<(), String> {
        for entry in list.split(',').map(str::trim).filter(|e| !e.is_empty()) {
            let bad =
                || format!("{entry:?} is not model=input/output (US dollars per million tokens)");
            let (model, price) = entry.split_once('=').ok_or_else(bad)?;
            let (input, output) = price.split_once('/').ok_or_else(bad)?;
            let parse = |s: &str| s.trim().parse::<f64>().ok().and_then(micros);
            let model = model.trim();
            if model.is_empty() {
                return Err(bad());
            }
            let price = ModelPrice {
                input: parse(input).ok_or_else(bad)?,
                output: parse(output).ok_or_else(bad)?,
            };
            self.prices.insert(model.to_owned(), price);
        }
        Ok(())
    }

    /// The price of `model`: its longest prefix in the table that ends at a word's end, if any.
    pub fn price(&self, model: &str) -> Option<ModelPrice> {
        self.prices
            .iter()
            .filter(|(k, _)| {
                // At a word's end: `dev` prices `dev` and `dev-2`, not `devstral`.
                model.strip_prefix(k.as_str()).is_some_and(|rest| {
                    rest.is_empty() || rest.starts_with(['-', '.', ':', '@', '/'])
                })
            })
            .max_by_key(|(k, _)| k.len())
            .map(|(_, p)| *p)
    }

    /// What `input` and `output` tokens of `model` cost, in micro-dollars
    /// (rounded up, saturating); `None` when the model has no price.
    pub fn cost_micros(&self, model: &str, input: u64, output: u64) -> Option<i64> {
        let p = self.price(model)?;
        let pico =
            u128::from(input) * u128::from(p.input) + u128::from(output) * u128::from(p.output);
        Some(i64::try_from(pico.div_ceil(1_000_000)).unwrap_or(i64::MAX))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_model_is_priced_by_its_longest_prefix() {
        let t = PriceTable::default();
        assert_eq!(
            t.price("gpt-4o-2024-08-06").expect("priced").input,
            2_500_000
        );
        assert_eq!(
            t.price("gpt-4o-mini-2024-07-18").expect("priced").input,
            150_000
        );
        assert_eq!(
            t.price("claude-sonnet-4-5-20250929")
                .expect("priced")
                .output,
            15_000_000
        );
        assert_eq!(
            t.price("claude-3-5-haiku-latest").expect("priced").input,
            800_000
        );
        assert_eq!(
            t.price("o3-mini-2025-01-31").expect("priced").input,
            1_100_000
        );
        assert_eq!(t.price("dev").expect("priced").input, 0);
        assert_eq!(t.price("devstral-small"), None);
        assert_eq!(t.price("mistral-large"), None);
        assert_eq!(t.price(""), None);
    }

    #[test]
    fn costs_are_micro_dollars_rounded_up() {
        let t = PriceTable::default();
        // 1,000 input and 500 output tokens of a 3/15 model: 0.003 + 0.0075 $.
        assert_eq!(t.cost_micros("claude-sonnet-4-5", 1_000, 500), Some(10_500));
        // One token of a 0.15 $/M model is 0.15 µ$: rounded up to 1.
        assert_eq!(t.cost_micros("gpt-4o-mini", 1, 0), Some(1));
        assert_eq!(t.cost_micros("dev", 1_000_000, 1_000_000), Some(0));
        assert_eq!(t.cost_micros("unknown", 1, 1), None);
        assert_eq!(
            t.cost_micros("claude-opus-4", u64::MAX, u64::MAX),
            Some(i64::MAX)
        );
    }

    #[test]
    fn the_setting_adds_and_overrides_and_refuses_what_it_cannot_read() {
        let mut t = PriceTable::default();
        t.extend(" my-model = 0.3/1.2 , gpt-4o=5/20").expect("read");
        assert_eq!(
            t.price("my-model-v2"),
            Some(ModelPrice {
                input: 300_000,
                output: 1_200_000
            })
        );
        assert_eq!(t.price("gpt-4o").expect("priced").input, 5_000_000);
        for bad in [
            "gpt-4o", "gpt-4o=1", "=1/2", "x=-1/2", "x=1/NaN", "x=1/inf", "x=a/b",
        ] {
            assert!(PriceTable::default().extend(bad).is_err(), "{bad}");
        }
    }
}
