//! The functions' database role: data rights only (no DDL), granted by the
//! migration function after it migrates, as the schema's owner. Every grant
//! is idempotent, so each deploy re-applies them, covering tables new
//! migrations added (default privileges cover later ones too).
//!
//! The role signs in with a password, which RDS Proxy presents (the functions
//! present IAM tokens to the proxy, never to the database). So it is never
//! granted `rds_iam` (on RDS a role holding it can only sign in with tokens),
//! and its password reaches Postgres only as a SCRAM-SHA-256 verifier, never
//! in the text of a statement that a log could keep.

use base64::{engine::general_purpose::STANDARD, Engine};
use ring::{digest, hmac, pbkdf2, rand::SecureRandom};
use secrecy::{ExposeSecret, SecretString};
use sqlx::PgPool;

/// The role the functions connect as.
#[derive(Debug, Clone)]
pub struct AppRole {
    /// A plain identifier (`[a-z_][a-z0-9_]*`, at most 63 characters).
    pub name: String,
    /// Its password, where something connects with one (RDS Proxy's own
    /// connection to the database); `None` for IAM authentication alone.
    pub password: Option<SecretString>,
}

/// Why a role cannot be granted.
#[derive(Debug, thiserror::Error)]
pub enum RoleError {
    #[error("DB_APP_USER must be a plain identifier ([a-z_][a-z0-9_]*, at most 63 characters), not {0:?}")]
    BadName(String),
    #[error("DB_APP_USER must not be the migrating user itself ({0}): it would get DDL rights")]
    SameAsOwner(String),
    #[error("the app role's password must not contain a NUL character")]
    BadPassword,
    #[error(transparent)]
    Db(#[from] sqlx::Error),
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
}

/// A string literal for a utility statement (which takes no bind parameters),
/// with standard_conforming_strings on: quotes doubled.
fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// PostgreSQL's default SCRAM iteration count.
const SCRAM_ITERATIONS: u32 = 4096;

/// The SCRAM-SHA-256 verifier Postgres stores for `password` with `salt`
/// (RFC 5802/7677): what `ALTER ROLE … PASSWORD` takes in place of the password.
fn scram_verifier(password: &str, salt: &[u8]) -> String {
    let mut salted = [0u8; 32];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        std::num::NonZeroU32::new(SCRAM_ITERATIONS).unwrap_or(std::num::NonZeroU32::MIN),
        salt,
        password.as_bytes(),
        &mut salted,
    );
    let key = hmac::Key::new(hmac::HMAC_SHA256, &salted);
    let client_key = hmac::sign(&key, b"Client Key");
    let stored_key = digest::digest(&digest::SHA256, client_key.as_ref());
    let server_key = hmac::sign(&key, b"Server Key");
    format!(
        "SCRAM-SHA-256${SCRAM_ITERATIONS}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key.as_ref()),
        STANDARD.encode(server_key.as_ref())
    )
}

/// Makes `role` a login role with data rights on everything in `public`, now
/// and for tables the migrating user creates later, and nothing else: no
/// CREATE on the schema, no writes to the migrations table. On RDS it is
/// granted `rds_iam`, so it signs in with IAM tokens.
pub async fn grant_app_role(pool: &PgPool, role: &AppRole) -> Result<(), RoleError> {
    if !valid_name(&role.name) {
        return Err(RoleError::BadName(role.name.clone()));
    }
    let owner: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(pool)
        .await?;
    if owner == role.name {
        return Err(RoleError::SameAsOwner(owner));
    }
    let r = format!("\"{}\"", role.name);
    let mut tx = pool.begin().await?;
    // One deploy at a time changes roles (two stacks on one database, a retried deploy).
    sqlx::query("SELECT pg_advisory_xact_lock(hashtext('saasit.app_role'))")
        .execute(&mut *tx)
        .await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = $1)")
            .bind(&role.name)
            .fetch_one(&mut *tx)
            .await?;
    if !exists {
        sqlx::query(&format!("CREATE ROLE {r} LOGIN"))
            .execute(&mut *tx)
            .await?;
    }
    if let Some(password) = &role.password {
        let p = password.expose_secret();
        if p.contains('\0') {
            return Err(RoleError::BadPassword);
        }
        let mut salt = [0u8; 16];
        ring::rand::SystemRandom::new()
            .fill(&mut salt)
            .map_err(|_| RoleError::BadPassword)?;
        sqlx::query(&format!(
            "ALTER ROLE {r} LOGIN PASSWORD {}",
            literal(&scram_verifier(p, &salt))
        ))
        .execute(&mut *tx)
        .await?;
    }
    let database: String = sqlx::query_scalar("SELECT current_database()::text")
        .fetch_one(&mut *tx)
        .await?;
    let statements = [
        format!("GRANT CONNECT ON DATABASE \"{}\" TO {r}", database.replace('"', "\"\"")),
        format!("GRANT USAGE ON SCHEMA public TO {r}"),
        format!("REVOKE CREATE ON SCHEMA public FROM {r}"),
        format!("GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO {r}"),
        format!("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO {r}"),
        format!("GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO {r}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {r}"),
        format!("ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {r}"),
        // The migration history is the migrator's alone.
        format!("REVOKE ALL ON TABLE _sqlx_migrations FROM {r}"),
    ];
    for statement in &statements {
        sqlx::query(statement).execute(&mut *tx).await?;
    }
    // Before PostgreSQL 15 every role may create in `public` through PUBLIC;
    // take that away as 15 does, or the role would keep DDL rights.
    let version: i32 = sqlx::query_scalar("SELECT current_setting('server_version_num')::int")
        .fetch_one(&mut *tx)
        .await?;
    if version < 150_000 {
        sqlx::query("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
            .execute(&mut *tx)
            .await?;
    }
    // The proxy signs in with the password: a role holding rds_iam (RDS) could not.
    let holds_rds_iam: bool = sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid
           JOIN pg_roles u ON u.oid = m.member WHERE g.rolname = 'rds_iam' AND u.rolname = $1)",
    )
    .bind(&role.name)
    .fetch_one(&mut *tx)
    .await?;
    if holds_rds_iam {
        sqlx::query(&format!("REVOKE rds_iam FROM {r}"))
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_plain_identifiers() {
        assert!(valid_name("saasit_app"));
        assert!(valid_name("_x1"));
        for bad in ["", "1x", "Saasit", "a-b", "a\"b", "a b", &"x".repeat(64)] {
            assert!(!valid_name(bad), "{bad:?}");
        }
    }

    #[test]
    fn verifiers_are_postgres_scram_sha_256() {
        // Password "pencil" with the salt of RFC 7677, 4096 rounds; checked against
        // Python's hashlib (pbkdf2_hmac, hmac, sha256), an implementation of its own.
        let salt = STANDARD.decode("W22ZaJ0SNY7soEsUEjb6gQ==").expect("salt");
        assert_eq!(
            scram_verifier("pencil", &salt),
            "SCRAM-SHA-256$4096:W22ZaJ0SNY7soEsUEjb6gQ==$WG5d8oPm3OtcPnkdi4Uo7BkeZkBFzpcXkuLmtbsT4qY=:wfPLwcE6nTWhTAmQ7tl2KeoiWGPlZqQxSrmfPwDl2dU="
        );
    }

    #[test]
    fn literals_double_their_quotes() {
        assert_eq!(literal("it's"), "'it''s'");
        assert_eq!(literal("'; DROP ROLE x; --"), "'''; DROP ROLE x; --'");
    }
}
