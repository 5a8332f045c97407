//! Reading variables: one parser, errors that name the variable and never
//! its value.

use std::{collections::HashMap, str::FromStr, time::Duration};

/// Why settings could not be built. Names the variable, never its value.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    #[error("{0} is required but not set")]
    Missing(&'static str),
    #[error("{name} is invalid: {reason}")]
    Invalid { name: &'static str, reason: String },
}

/// Where values come from: the process environment, or a map (tests,
/// tools). A blank value counts as unset.
pub struct Lookup<'a> {
    get: Getter<'a>,
}

type Getter<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

impl<'a> Lookup<'a> {
    pub fn env() -> Self {
        Self::new(|name| std::env::var(name).ok())
    }

    pub fn map(map: &'a HashMap<String, String>) -> Self {
        Self::new(|name| map.get(name).cloned())
    }

    pub fn new(get: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self { get: Box::new(get) }
    }

    /// The value, if set (and not blank).
    pub fn get(&self, name: &str) -> Option<String> {
        (self.get)(name).filter(|v| !v.trim().is_empty())
    }

    pub fn required(&self, name: &'static str) -> Result<String, SettingsError> {
        self.get(name).ok_or(SettingsError::Missing(name))
    }

    pub fn or(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    /// A parsed value, or `default` when unset.
    pub fn parse<T: FromStr>(&self, name: &'static str, default: T) -> Result<T, SettingsError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse()
                .map_err(|e: T::Err| SettingsError::Invalid {
                    name,
                    reason: e.to_string(),
                }),
        }
    }

    /// A positive number of seconds, or `default`.
    pub fn seconds(
        &self,
        name: &'static str,
        default: Duration,
    ) -> Result<Duration, SettingsError> {
        match self.get(name) {
            None => Ok(default),
            Some(raw) => raw
                .trim()
                .parse::<u64>()
                .ok()
                .filter(|s| *s > 0)
                .map(Duration::from_secs)
                .ok_or(SettingsError::Invalid {
                    name,
                    reason: "must be a positive number of seconds".into(),
                }),
        }
    }

    /// A value, or the trimmed contents of the file named by `{name}_FILE`
    /// (how secrets reach containers); `None` when neither is set.
    pub fn value_or_file(
        &self,
        name: &'static str,
        file_var: &'static str,
    ) -> Result<Option<String>, SettingsError> {
        if let Some(v) = self.get(name) {
            return Ok(Some(v));
        }
        match self.get(file_var) {
            None => Ok(None),
            Some(path) => std::fs::read_to_string(&path)
                .map(|s| Some(s.trim().to_owned()))
                .map_err(|e| SettingsError::Invalid {
                    name: file_var,
                    reason: format!("cannot read {path}: {e}"),
                }),
        }
    }
}
