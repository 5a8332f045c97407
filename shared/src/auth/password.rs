//! The password policy and argon2id hashing.
//!
//! Hashing is deliberately slow (argon2id, 19 MiB, t=2), so callers run it on
//! the blocking pool (`tokio::task::spawn_blocking`), never on a runtime thread.

use std::sync::OnceLock;

use argon2::{
    password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString},
    Argon2,
};

use super::Email;

/// Why a password was refused: its length (a 400, the document states it) or
/// its strength (a 422 WEAK_PASSWORD: rules no schema can state).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordError {
    Length(String),
    Weak(String),
}

/// A password that satisfies the policy. Its `Debug` never shows it.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([REDACTED])")
    }
}

impl Password {
    pub const MIN_CHARS: usize = 10;
    pub const MAX_CHARS: usize = 128;

    /// The shape the API document states: 10–128 characters.
    pub fn check_length(raw: &str) -> Result<(), String> {
        let chars = raw.chars().count();
        if chars < Self::MIN_CHARS {
            return Err(format!(
                "password must be at least {} characters",
                Self::MIN_CHARS
            ));
        }
        if chars > Self::MAX_CHARS {
            return Err(format!(
                "password must be at most {} characters",
                Self::MAX_CHARS
            ));
        }
        Ok(())
    }

    /// The whole policy: the length ([`Self::check_length`]), then strength:
    /// at least one letter and one digit or symbol, not mostly one repeated
    /// character, and not containing the email's local part.
    pub fn parse(raw: &str, email: Option<&Email>) -> Result<Self, PasswordError> {
        Self::check_length(raw).map_err(PasswordError::Length)?;
        let has_letter = raw.chars().any(char::is_alphabetic);
        let has_other = raw.chars().any(|c| !c.is_alphabetic());
        if !has_letter || !has_other {
            return Err(PasswordError::Weak(
                "password must contain a letter and a digit or symbol".into(),
            ));
        }
        let mut distinct: Vec<char> = raw.chars().collect();
        distinct.sort_unstable();
        distinct.dedup();
        if distinct.len() < 4 {
            return Err(PasswordError::Weak("password is too repetitive".into()));
        }
        if let Some(email) = email {
            let local = email.local_part();
            if local.len() >= 3 && raw.to_lowercase().contains(local) {
                return Err(PasswordError::Weak(
                    "password must not contain your email address".into(),
                ));
            }
        }
        Ok(Self(raw.to_owned()))
    }

    /// An argon2id PHC string with a fresh random salt.
    pub fn hash(&self) -> Result<String, argon2::password_hash::Error> {
        let salt = SaltString::generate(&mut OsRng);
        Ok(Argon2::default()
            .hash_password(self.0.as_bytes(), &salt)?
            .to_string())
    }
}

/// Checks `candidate` against a stored PHC hash. A malformed hash never matches.
pub fn verify(candidate: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|h| {
            Argon2::default()
                .verify_password(candidate.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// Spends the same time as a real check when the email is unknown, so response
/// times do not reveal which emails have accounts.
pub fn verify_against_dummy(candidate: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| {
        Password("dummy-password-for-timing-1".into())
            .hash()
            .unwrap_or_default()
    });
    let _ = verify(candidate, hash);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        let email = Email::parse("grace@example.com").expect("valid");
        assert!(Password::parse("correct horse 9", Some(&email)).is_ok());
        let weak = |p: &str, e: Option<&Email>| {
            matches!(Password::parse(p, e), Err(PasswordError::Weak(_)))
        };
        let length = |p: &str| matches!(Password::parse(p, None), Err(PasswordError::Length(_)));
        assert!(length("short1"));
        assert!(weak("onlyletterslong", None));
        assert!(weak("1234567890123", None));
        assert!(weak("aaaaaaaaaa1", None));
        assert!(weak("grace-is-great-1", Some(&email)));
        assert!(length(&"ab1".repeat(50)));
    }

    #[test]
    fn hash_and_verify() {
        let p = Password::parse("correct horse 9", None).expect("valid");
        let h = p.hash().expect("hashes");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify("correct horse 9", &h));
        assert!(!verify("correct horse 8", &h));
        assert!(!verify("correct horse 9", "not-a-hash"));
    }

    #[test]
    fn debug_hides_the_password() {
        let p = Password::parse("correct horse 9", None).expect("valid");
        assert!(!format!("{p:?}").contains("horse"));
    }
}
