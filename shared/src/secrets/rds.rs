//! Postgres through RDS Proxy (or RDS) with IAM authentication: the password
//! is a token, a SigV4-presigned `connect` URL for `rds-db`, valid for 15
//! minutes and checked only when a connection opens. [`database_url`] makes a
//! `DATABASE_URL` with a fresh one; the runtime makes a new one (and a new
//! pool) every [`TOKEN_REFRESH`], so connections always open with a live token.

use std::time::{Duration, SystemTime};

use aws_credential_types::Credentials;

/// Tokens last 15 minutes; a new one is made well before.
pub const TOKEN_REFRESH: Duration = Duration::from_secs(600);

/// Where and as whom to connect (`DATABASE_IAM_HOST`, `DATABASE_IAM_PORT`,
/// `DATABASE_IAM_USER`, `DATABASE_NAME`, `DATABASE_SSLMODE`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IamDatabase {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub database: String,
    /// `verify-full` (default: RDS Proxy's certificate is public), or
    /// `require` for an RDS instance whose CA the client does not carry.
    pub sslmode: String,
}

impl IamDatabase {
    /// From the environment, when `DATABASE_IAM_HOST` is set.
    pub fn from_env(
        env: &std::collections::HashMap<String, String>,
    ) -> anyhow::Result<Option<Self>> {
        let get = |k: &str| {
            env.get(k)
                .map(|v| v.trim().to_owned())
                .filter(|v| !v.is_empty())
        };
        let Some(host) = get("DATABASE_IAM_HOST") else {
            return Ok(None);
        };
        let port = match get("DATABASE_IAM_PORT") {
            None => 5432,
            Some(p) => p
                .parse()
                .map_err(|_| anyhow::anyhow!("DATABASE_IAM_PORT must be a port number"))?,
        };
        let user = get("DATABASE_IAM_USER").ok_or_else(|| {
            anyhow::anyhow!("DATABASE_IAM_USER is required with DATABASE_IAM_HOST")
        })?;
        let database = get("DATABASE_NAME")
            .ok_or_else(|| anyhow::anyhow!("DATABASE_NAME is required with DATABASE_IAM_HOST"))?;
        let sslmode = get("DATABASE_SSLMODE").unwrap_or_else(|| "verify-full".into());
        if !matches!(sslmode.as_str(), "verify-full" | "verify-ca" | "require") {
            anyhow::bail!("DATABASE_SSLMODE must be verify-full, verify-ca or require (IAM tokens never travel in clear)");
        }
        Ok(Some(Self {
            host,
            port,
            user,
            database,
            sslmode,
        }))
    }
}

/// An IAM authentication token for `db` (what the password is).
pub fn auth_token(
    credentials: &Credentials,
    region: &str,
    db: &IamDatabase,
    now: SystemTime,
) -> anyhow::Result<String> {
    let mut url = url::Url::parse(&format!("https://{}:{}/", db.host, db.port))?;
    url.query_pairs_mut()
        .append_pair("Action", "connect")
        .append_pair("DBUser", &db.user);
    let signed = crate::presign::presign_get(
        &credentials.clone().into(),
        region,
        "rds-db",
        url.as_str(),
        &[],
        Duration::from_secs(900),
        now,
    )?;
    Ok(signed.as_str().trim_start_matches("https://").to_owned())
}

/// A `DATABASE_URL` with `token` as the password.
pub fn database_url(db: &IamDatabase, token: &str) -> String {
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    format!(
        "postgres://{}:{}@{}:{}/{}?sslmode={}",
        enc(&db.user),
        enc(token),
        db.host,
        db.port,
        enc(&db.database),
        db.sslmode
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_presigned_connect_urls_for_the_user() {
        let db = IamDatabase {
            host: "saasit.proxy-abc.eu-west-1.rds.amazonaws.com".into(),
            port: 5432,
            user: "saasit_app".into(),
            database: "saasit".into(),
            sslmode: "verify-full".into(),
        };
        let creds = Credentials::new(
            "AKIDEXAMPLE",
            "secret",
            Some("session".into()),
            None,
            "test",
        );
        let token = auth_token(
            &creds,
            "eu-west-1",
            &db,
            SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
        )
        .expect("token");
        assert!(token.starts_with("saasit.proxy-abc.eu-west-1.rds.amazonaws.com:5432/?Action=connect&DBUser=saasit_app&"), "{token}");
        for part in [
            "X-Amz-Algorithm=AWS4-HMAC-SHA256",
            "X-Amz-Expires=900",
            "X-Amz-Signature=",
            "X-Amz-Security-Token=session",
            "%2Feu-west-1%2Frds-db%2Faws4_request",
        ] {
            assert!(token.contains(part), "{part} in {token}");
        }
        let url = database_url(&db, &token);
        let parsed: sqlx::postgres::PgConnectOptions = url.parse().expect("a URL sqlx reads");
        assert_eq!(
            parsed.get_host(),
            "saasit.proxy-abc.eu-west-1.rds.amazonaws.com"
        );
        assert_eq!(parsed.get_username(), "saasit_app");
        assert!(url.ends_with("/saasit?sslmode=verify-full"));
    }
}
