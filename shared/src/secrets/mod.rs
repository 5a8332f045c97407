//! Secrets at run time, never in a function's configuration.
//!
//! On AWS a function's environment names where each secret is, not what it
//! is: `NAME_FROM_SECRET=<secret ARN>#<JSON key>` (e.g.
//! `JWT_SECRET_FROM_SECRET=arn:aws:secretsmanager:…:secret:saasit/jwt-AbCdEf#key`).
//! [`Resolved::load`] reads every such secret from a [`SecretSource`]
//! (Secrets Manager on AWS, `aws::SecretsManager`) once per ARN and overlays
//! the values on the environment as `NAME`, for the settings to read like any
//! other variable; `GetFunctionConfiguration` shows only ARNs. Values are
//! cached and read again every [`REFRESH`] (`SECRETS_REFRESH_SECONDS`), so a
//! rotated secret reaches running functions without a deploy: the runtime
//! rebuilds its state when a value changed ([`crate::runtime`]).
//!
//! Locally and in tests there are no `_FROM_SECRET` variables: the environment is
//! used as it is.

#[cfg(feature = "secrets")]
pub mod aws;
#[cfg(feature = "secrets")]
pub mod rds;

use std::{
    collections::{BTreeMap, HashMap},
    time::{Duration, Instant},
};

use crate::future::BoxFuture;

/// How often cached secrets are read again (unless `SECRETS_REFRESH_SECONDS` says otherwise).
pub const REFRESH: Duration = Duration::from_secs(300);

/// Reads a secret's current value (its `SecretString`).
pub trait SecretSource: Send + Sync {
    fn fetch<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, anyhow::Result<String>>;
}

/// A variable whose value is a key of a secret's JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretRef {
    pub var: String,
    pub arn: String,
    pub key: String,
}

/// The `NAME_FROM_SECRET` variables of an environment. A reference without `#key`
/// takes the whole secret string.
pub fn references(env: &HashMap<String, String>) -> Result<Vec<SecretRef>, String> {
    let mut refs: Vec<SecretRef> = env
        .iter()
        .filter_map(|(k, v)| Some((k.strip_suffix("_FROM_SECRET")?, v.trim())))
        .filter(|(_, v)| !v.is_empty())
        .map(|(var, v)| {
            let (arn, key) = v.rsplit_once('#').unwrap_or((v, ""));
            if !arn.starts_with("arn:") {
                return Err(format!(
                    "{var}_FROM_SECRET must be a secret ARN, optionally with #key"
                ));
            }
            Ok(SecretRef {
                var: var.to_owned(),
                arn: arn.to_owned(),
                key: key.to_owned(),
            })
        })
        .collect::<Result<_, _>>()?;
    refs.sort_by(|a, b| a.var.cmp(&b.var));
    Ok(refs)
}

/// The value of `r` in a secret string: a key of its JSON object, or the
/// whole string when no key is named.
fn pick(r: &SecretRef, secret: &str) -> Result<String, String> {
    if r.key.is_empty() {
        return Ok(secret.to_owned());
    }
    let json: serde_json::Value = serde_json::from_str(secret)
        .map_err(|_| format!("{}_FROM_SECRET: the secret is not a JSON object", r.var))?;
    match json.get(&r.key) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(serde_json::Value::Number(n)) => Ok(n.to_string()),
        _ => Err(format!(
            "{}_FROM_SECRET: the secret has no string `{}`",
            r.var, r.key
        )),
    }
}

/// The environment with its secrets filled in, and when they were read.
#[derive(Clone)]
pub struct Resolved {
    pub values: HashMap<String, String>,
    /// The secret values alone (for change detection), by variable.
    secrets: BTreeMap<String, String>,
    read_at: Instant,
    refresh: Duration,
}

impl std::fmt::Debug for Resolved {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolved")
            .field("secrets", &self.secrets.keys().collect::<Vec<_>>())
            .finish_non_exhaustive()
    }
}

impl Resolved {
    /// `env` with every `NAME_FROM_SECRET` read from `source` (one read per ARN).
    /// Fails naming the variable, never printing a value.
    pub async fn load(
        env: HashMap<String, String>,
        source: &dyn SecretSource,
    ) -> anyhow::Result<Self> {
        let refs = references(&env).map_err(anyhow::Error::msg)?;
        let mut by_arn: HashMap<&str, String> = HashMap::new();
        for r in &refs {
            if !by_arn.contains_key(r.arn.as_str()) {
                let s = source.fetch(&r.arn).await.map_err(|e| {
                    anyhow::anyhow!("{}_FROM_SECRET: cannot read the secret: {e:#}", r.var)
                })?;
                by_arn.insert(&r.arn, s);
            }
        }
        let mut values = env.clone();
        let mut secrets = BTreeMap::new();
        for r in &refs {
            let v = pick(r, &by_arn[r.arn.as_str()]).map_err(anyhow::Error::msg)?;
            values.insert(r.var.clone(), v.clone());
            secrets.insert(r.var.clone(), v);
        }
        let refresh = env
            .get("SECRETS_REFRESH_SECONDS")
            .and_then(|s| s.trim().parse().ok())
            .map_or(REFRESH, Duration::from_secs);
        Ok(Self {
            values,
            secrets,
            read_at: Instant::now(),
            refresh,
        })
    }

    /// Adds a value made at run time (an IAM database token) as a secret:
    /// hidden like one, a change like one, read again within `refresh`.
    pub fn add_secret(&mut self, var: &str, value: String, refresh: Duration) {
        self.values.insert(var.to_owned(), value.clone());
        self.secrets.insert(var.to_owned(), value);
        self.refresh = self.refresh.min(refresh);
    }

    /// Reads again after another refresh period (a failed re-read keeps what it had).
    pub fn postpone(&mut self) {
        self.read_at = Instant::now();
    }

    /// Whether there are secrets and they are due to be read again.
    pub fn stale(&self) -> bool {
        !self.secrets.is_empty() && self.read_at.elapsed() >= self.refresh
    }

    /// Whether `newer` holds different secret values (a rotation).
    pub fn changed(&self, newer: &Resolved) -> bool {
        self.secrets != newer.secrets
    }

    /// The variables filled from secrets (names only).
    pub fn secret_names(&self) -> impl Iterator<Item = &str> {
        self.secrets.keys().map(String::as_str)
    }
}

/// The process environment.
pub fn process_env() -> HashMap<String, String> {
    std::env::vars().collect()
}

/// Secrets held in memory (tests; a stack without Secrets Manager).
#[derive(Default)]
pub struct MemorySecrets {
    values: std::sync::Mutex<HashMap<String, String>>,
}

impl MemorySecrets {
    pub fn put(&self, arn: &str, value: &str) {
        self.values
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(arn.to_owned(), value.to_owned());
    }
}

impl SecretSource for MemorySecrets {
    fn fetch<'a>(&'a self, arn: &'a str) -> BoxFuture<'a, anyhow::Result<String>> {
        let v = self
            .values
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(arn)
            .cloned();
        Box::pin(async move { v.ok_or_else(|| anyhow::anyhow!("no such secret")) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ARN: &str = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:saasit/jwt-AbC#1";

    #[tokio::test]
    async fn references_are_filled_from_the_source_and_values_never_printed() {
        let source = MemorySecrets::default();
        source.put(
            "arn:aws:secretsmanager:r:1:secret:app",
            r#"{"key":"s3cr3t-value","url":"postgres://u:p@h/db"}"#,
        );
        source.put("arn:aws:secretsmanager:r:1:secret:plain", "plain-s3cr3t");
        let env = HashMap::from([
            (
                "JWT_SECRET_FROM_SECRET".into(),
                "arn:aws:secretsmanager:r:1:secret:app#key".into(),
            ),
            (
                "DATABASE_URL_FROM_SECRET".into(),
                "arn:aws:secretsmanager:r:1:secret:app#url".into(),
            ),
            (
                "TOKEN_FROM_SECRET".into(),
                "arn:aws:secretsmanager:r:1:secret:plain".into(),
            ),
            ("LOG_LEVEL".into(), "info".into()),
        ]);
        let r = Resolved::load(env, &source).await.expect("resolved");
        assert_eq!(r.values["JWT_SECRET"], "s3cr3t-value");
        assert_eq!(r.values["DATABASE_URL"], "postgres://u:p@h/db");
        assert_eq!(r.values["TOKEN"], "plain-s3cr3t");
        assert_eq!(r.values["LOG_LEVEL"], "info");
        let shown = format!("{r:?}");
        assert!(!shown.contains("s3cr3t"), "{shown}");
        assert!(!r.stale(), "just read");

        // A rotation is seen as a change; the same values are not.
        let again = Resolved::load(r.values.clone(), &source)
            .await
            .expect("same");
        assert!(!r.changed(&again));
        source.put(
            "arn:aws:secretsmanager:r:1:secret:app",
            r#"{"key":"rotated","url":"postgres://u:p@h/db"}"#,
        );
        let env = HashMap::from([(
            "JWT_SECRET_FROM_SECRET".into(),
            "arn:aws:secretsmanager:r:1:secret:app#key".into(),
        )]);
        let rotated = Resolved::load(env, &source).await.expect("rotated");
        assert!(r.changed(&rotated));
    }

    #[test]
    fn only_from_secret_variables_are_references() {
        // EMAIL_FROM is a sender address, not a secret reference.
        let env = HashMap::from([
            (
                "EMAIL_FROM".to_owned(),
                "SaasIt <no-reply@example.com>".to_owned(),
            ),
            ("CALLBACK_URL".to_owned(), "https://x".to_owned()),
            ("JWT_SECRET_FROM_SECRET".to_owned(), String::new()),
        ]);
        assert_eq!(references(&env), Ok(Vec::new()));
    }

    #[tokio::test]
    async fn failures_name_the_variable_not_the_value() {
        let source = MemorySecrets::default();
        source.put(
            "arn:aws:secretsmanager:r:1:secret:app",
            r#"{"other":"s3cr3t"}"#,
        );
        let env = |v: &str| HashMap::from([("JWT_SECRET_FROM_SECRET".to_owned(), v.to_owned())]);
        let e = Resolved::load(env("arn:aws:secretsmanager:r:1:secret:app#key"), &source)
            .await
            .expect_err("no such key");
        assert_eq!(
            e.to_string(),
            "JWT_SECRET_FROM_SECRET: the secret has no string `key`"
        );
        let e = Resolved::load(env("arn:aws:secretsmanager:r:1:secret:gone#key"), &source)
            .await
            .expect_err("no such secret");
        assert!(
            e.to_string()
                .starts_with("JWT_SECRET_FROM_SECRET: cannot read the secret"),
            "{e}"
        );
        let e = Resolved::load(env("not-an-arn"), &source)
            .await
            .expect_err("bad");
        assert!(e.to_string().contains("must be a secret ARN"), "{e}");
        assert_eq!(
            references(&HashMap::from([("X_FROM_SECRET".into(), ARN.into())])).expect("ok")[0].key,
            "1"
        );
    }
}
