//! Postgres: the pool, migrations, and small named query modules.
//! SQL stays visible: each query is a function taking an executor.

pub mod account_deletion;
pub mod account_tokens;
pub mod activity;
pub mod agents;
pub mod analytics;
pub mod api_keys;
pub mod billing;
pub mod budgets;
pub mod chat;
pub mod event_retention;
pub mod execution_reads;
pub mod executions;
pub mod files;
pub mod housekeeping;
pub mod invitations;
pub mod mcp_servers;
pub mod meters;
pub mod oauth;
pub mod otp;
pub mod performance;
pub mod rate_counters;
pub mod roles;
pub mod secrets;
pub mod sessions;
pub mod templates;
pub mod triggers;
pub mod usage;
pub mod users;
pub mod workflows;
pub mod workspaces;

use std::time::{Duration, Instant};

use secrecy::ExposeSecret;
use sqlx::{
    postgres::{PgConnectOptions, PgPoolOptions},
    PgPool,
};

use crate::settings::DatabaseSettings;

/// The migrations embedded from `shared/migrations` at compile time.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Builds the pool without connecting: a Lambda cold start or the local stack
/// starts even when the database is down, and requests answer 503 until it is back.
/// Built once per process and shared.
pub fn pool(settings: &DatabaseSettings) -> Result<PgPool, sqlx::Error> {
    let options: PgConnectOptions = settings.url.expose_secret().parse()?;
    Ok(PgPoolOptions::new()
        .max_connections(settings.max_connections)
        .min_connections(0)
        .acquire_timeout(settings.acquire_timeout)
        // Connections left by a database restart are found dead before use.
        .test_before_acquire(true)
        .idle_timeout(Some(Duration::from_secs(300)))
        .connect_lazy_with(options))
}

/// The migrations as a deploy applies them: a database already migrated by a
/// newer release is not an error (a rollback, or CloudFormation rolling back
/// after the migrations succeeded), since migrations keep older code working.
pub fn deploy_migrator() -> sqlx::migrate::Migrator {
    let mut m = sqlx::migrate!("./migrations");
    m.set_ignore_missing(true);
    m
}

/// Applies pending migrations (guarded by sqlx's advisory lock, so concurrent
/// cold starts are safe).
pub async fn migrate(pool: &PgPool) -> Result<(), sqlx::migrate::MigrateError> {
    MIGRATOR.run(pool).await
}

/// True when the error means the database cannot be reached (as opposed to a
/// bad query): the caller answers 503 and the next request tries again.
pub fn is_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::Io(_)
        | sqlx::Error::Tls(_)
        // A server or proxy that hangs up mid-handshake (restarting, failing
        // over, refusing connections) shows up as a protocol error.
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => {
            // 57P01..03: admin shutdown, crash shutdown, cannot connect now; 08xxx: connection
            // exceptions; and contention that a retry resolves: 55P03 a lock not had within
            // `lock_timeout`, 40P01 a deadlock, 40001 a serialization failure.
            db.code().is_some_and(|c| {
                c.starts_with("57P") || c.starts_with("08") || matches!(&*c, "55P03" | "40P01" | "40001")
            })
        }
        _ => false,
    }
}

/// Round-trips `SELECT 1` within `timeout`; returns the latency.
pub async fn ping(pool: &PgPool, timeout: Duration) -> Result<Duration, String> {
    let started = Instant::now();
    match tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(pool)).await {
        Ok(Ok(_)) => Ok(started.elapsed()),
        Ok(Err(e)) if is_unavailable(&e) => Err("database unreachable".into()),
        Ok(Err(_)) => Err("database query failed".into()),
        Err(_) => Err(format!("no answer within {} ms", timeout.as_millis())),
    }
}

/// A `LIKE`/`ILIKE` pattern matching `text` anywhere, with the wildcards
/// `%` and `_` (and the escape `\`) in it taken literally.
pub fn contains_pattern(text: &str) -> String {
    let escaped = text
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The constraint a violation hit (unique, foreign key, check), so handlers
/// can map it to a 409 or 400 by name.
pub fn constraint(e: &sqlx::Error) -> Option<&str> {
    match e {
        sqlx::Error::Database(db) => db.constraint(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::is_unavailable;

    #[test]
    fn connection_faults_are_unavailable_and_query_faults_are_not() {
        let hung_up = sqlx::Error::Protocol("unexpected response from SSLRequest: 0x00".to_owned());
        assert!(is_unavailable(&hung_up));
        assert!(is_unavailable(&sqlx::Error::PoolTimedOut));
        assert!(is_unavailable(&sqlx::Error::Io(std::io::Error::from(
            std::io::ErrorKind::ConnectionRefused
        ))));
        assert!(!is_unavailable(&sqlx::Error::RowNotFound));
        assert!(!is_unavailable(&sqlx::Error::ColumnNotFound(
            "x".to_owned()
        )));
    }
}
