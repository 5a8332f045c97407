//! Keeping secret values out of what leaves: every event, message and
//! error that could quote one.

use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

/// Replaces secret values wherever they appear: in events and logs of runs,
/// in what an agent tried from the API streams and answers, in the errors
/// another party sent back.
#[derive(Debug, Clone, Default)]
pub struct Redactor {
    secrets: Vec<String>,
}

pub const REDACTED: &str = "[REDACTED]";

impl Redactor {
    /// Secrets shorter than 4 characters are not redacted (they would mangle ordinary text).
    pub fn new(secrets: impl IntoIterator<Item = String>) -> Self {
        let mut secrets: Vec<String> = secrets.into_iter().filter(|s| s.len() >= 4).collect();
        // Longest first, so a secret containing another is replaced whole.
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Self { secrets }
    }

    pub fn redact_str(&self, s: &str) -> String {
        let mut out = s.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), REDACTED);
            }
        }
        out
    }

    /// Where text that is still growing (an answer being streamed) may be
    /// cut so that no secret is split across the cut: at most `len`, before
    /// the last (longest secret − 1) bytes (which may begin a secret not yet
    /// complete), and before any whole secret the cut would cross. The part
    /// before the cut can then be redacted and sent on its own.
    pub fn safe_cut(&self, text: &str) -> usize {
        let hold = self
            .secrets
            .first()
            .map_or(0, |s| s.len().saturating_sub(1));
        let mut cut = text.len().saturating_sub(hold);
        loop {
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let crossing = self.secrets.iter().find_map(|secret| {
                text.match_indices(secret.as_str())
                    .map(|(at, _)| at)
                    .find(|at| *at < cut && at + secret.len() > cut)
            });
            match crossing {
                Some(at) => cut = at,
                None => return cut,
            }
        }
    }

    fn redact_value(&self, v: &mut Value) {
        match v {
            Value::String(s) if self.secrets.iter().any(|x| s.contains(x.as_str())) => {
                *s = self.redact_str(s);
            }
            Value::Array(items) => items.iter_mut().for_each(|i| self.redact_value(i)),
            Value::Object(map) => map.values_mut().for_each(|i| self.redact_value(i)),
            _ => {}
        }
    }

    /// A JSON value with every secret replaced (results, artifacts).
    pub fn redact_json(&self, mut v: Value) -> Value {
        if !self.secrets.is_empty() {
            self.redact_value(&mut v);
        }
        v
    }

    /// The event with every secret replaced.
    /// Any serialisable value (an event, a message) with the secrets
    /// replaced wherever a string holds one.
    pub fn redact<T: Serialize + DeserializeOwned>(&self, item: T) -> T {
        if self.secrets.is_empty() {
            return item;
        }
        let Ok(mut v) = serde_json::to_value(&item) else {
            return item;
        };
        self.redact_value(&mut v);
        serde_json::from_value(v).unwrap_or(item)
    }
}
