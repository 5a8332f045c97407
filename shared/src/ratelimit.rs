//! Rate limits that hold across Lambda instances: counters in Postgres
//! ([`crate::db::rate_counters`]), a sliding estimate over two fixed windows
//! (the previous window's hits weighted by how much of it still overlaps),
//! and the `RateLimit-*` headers on the response.
//!
//! A request is counted before it is served, refused or not: parallel
//! requests each see their own count, so a burst cannot slip past a limit.
//! Subjects (an email address, a client address) are stored as a SHA-256, so
//! the counters hold no personal data.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use sha2::{Digest, Sha256};
use sqlx::PgExecutor;

pub use crate::settings::Limit;

use crate::{
    db::rate_counters,
    error::{ApiError, ErrorCode},
};

/// What a limit counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bucket {
    /// API requests of a signed-in user.
    ApiUser,
    /// API requests made with one API key.
    ApiKey,
    Signup,
    OtpRequest,
    OtpVerify,
    Recovery,
    /// Account email sent to one address.
    Mail,
    /// Sign-ins with an OAuth provider from one client address.
    OAuth,
    /// Sign-in attempts from one client address.
    LoginIp,
    /// Sign-in attempts for one email address from clients it does not know.
    LoginEmail,
    /// Sign-in attempts from one device that signed in to the account before.
    LoginDevice,
}

impl Bucket {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::ApiUser => "api_user",
            Self::ApiKey => "api_key",
            Self::Signup => "signup",
            Self::OtpRequest => "otp_request",
            Self::OtpVerify => "otp_verify",
            Self::Recovery => "recovery",
            Self::Mail => "mail",
            Self::OAuth => "oauth",
            Self::LoginIp => "login_ip",
            Self::LoginEmail => "login_email",
            Self::LoginDevice => "login_device",
        }
    }
}

/// The outcome of counting one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    pub limit: Limit,
    /// Requests left in the window after this one.
    pub remaining: u32,
    /// Seconds until the window frees up (refused: until one more request is allowed).
    pub reset_after: u64,
}

impl Decision {
    fn of(limit: Limit, c: rate_counters::Counted) -> Self {
        let w = limit.window.as_secs_f64().max(1.0);
        let e = c.elapsed.clamp(0.0, w);
        let max = f64::from(limit.max);
        let hits = f64::from(c.hits.max(0));
        let carried = (f64::from(c.previous.max(0)) * (1.0 - e / w)).floor();
        let used = hits + carried;
        let allowed = used <= max;
        let remaining = (max - used).max(0.0) as u32;
        let reset_after = if allowed {
            w - e
        } else if hits < max {
            // The previous window's share must fall until one more fits.
            let room = max - hits;
            let prev = f64::from(c.previous.max(1));
            (w * (1.0 - room / prev) - e).max(0.0) + 1.0
        } else {
            // Into the next window, until this window's share falls below the limit.
            (w - e) + w * (1.0 - max / hits) + 1.0
        };
        Self {
            allowed,
            limit,
            remaining,
            reset_after: reset_after.ceil().max(1.0) as u64,
        }
    }

    /// `RateLimit-Limit`, `-Remaining`, `-Reset` and `-Policy` (the IETF draft's fields).
    pub fn headers(&self) -> impl Iterator<Item = (HeaderName, HeaderValue)> {
        [
            ("ratelimit-limit", self.limit.max.to_string()),
            ("ratelimit-remaining", self.remaining.to_string()),
            ("ratelimit-reset", self.reset_after.to_string()),
            (
                "ratelimit-policy",
                format!("{};w={}", self.limit.max, self.limit.window.as_secs()),
            ),
        ]
        .into_iter()
        .filter_map(|(name, value)| {
            HeaderValue::from_str(&value)
                .ok()
                .map(|v| (HeaderName::from_static(name), v))
        })
    }

    /// 429 `RATE_LIMITED` with `Retry-After`, the `RateLimit-*` headers and
    /// the scope in `details`.
    pub fn refusal(&self, scope: &str, message: &str) -> ApiError {
        let refused = ApiError::new(ErrorCode::RateLimited, message)
            .with_details(serde_json::json!({
                "scope": scope,
                "limit": self.limit.max,
                "windowSeconds": self.limit.window.as_secs(),
                "retryAfterSeconds": self.reset_after,
            }))
            .retry_after(self.reset_after);
        self.headers()
            .fold(refused, |e, (name, value)| e.with_header(name, value))
    }

    /// `Ok` when allowed, else [`Self::refusal`].
    pub fn check(self, scope: &str, message: &str) -> Result<Self, ApiError> {
        if self.allowed {
            Ok(self)
        } else {
            Err(self.refusal(scope, message))
        }
    }
}

/// The stored form of a subject.
pub fn subject_key(subject: &str) -> String {
    Sha256::digest(subject.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Counts one request of `subject` against `limit`.
pub async fn hit(
    db: impl PgExecutor<'_>,
    bucket: Bucket,
    subject: &str,
    limit: Limit,
) -> Result<Decision, sqlx::Error> {
    let counted =
        rate_counters::hit(db, bucket.as_str(), &subject_key(subject), limit.window).await?;
    Ok(Decision::of(limit, counted))
}

/// Takes one counted request back (it turned out not to be what the limit counts).
pub async fn unhit(
    db: impl PgExecutor<'_>,
    bucket: Bucket,
    subject: &str,
    limit: Limit,
) -> Result<(), sqlx::Error> {
    rate_counters::unhit(db, bucket.as_str(), &subject_key(subject), limit.window).await
}

/// Forgets a subject's counts in a bucket.
pub async fn clear(
    db: impl PgExecutor<'_>,
    bucket: Bucket,
    subject: &str,
) -> Result<(), sqlx::Error> {
    rate_counters::clear(db, bucket.as_str(), &subject_key(subject)).await
}

/// Where an extractor leaves the decision of the request's API limit, for
/// the request layer ([`crate::http`]) to put in the response headers.
#[derive(Debug, Clone, Default)]
pub struct HeaderSlot(Arc<Mutex<Option<Decision>>>);

impl HeaderSlot {
    pub fn set(&self, d: Decision) {
        if let Ok(mut slot) = self.0.lock() {
            *slot = Some(d);
        }
    }

    /// Adds the `RateLimit-*` headers ([`Decision::headers`]) when a limit
    /// was counted for this request.
    pub fn write(&self, headers: &mut HeaderMap) {
        let Some(d) = self.0.lock().ok().and_then(|s| *s) else {
            return;
        };
        for (name, value) in d.headers() {
            headers.insert(name, value);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(max: u32, hits: i32, previous: i32, elapsed: f64) -> Decision {
        Decision::of(
            Limit::new(max, 100),
            rate_counters::Counted {
                hits,
                previous,
                elapsed,
            },
        )
    }

    #[test]
    fn the_estimate_weights_the_previous_window() {
        let d = decide(10, 1, 0, 10.0);
        assert!(d.allowed);
        assert_eq!((d.remaining, d.reset_after), (9, 90));
        // Half of the previous window's 10 still count.
        assert!(decide(10, 5, 10, 50.0).allowed);
        assert!(!decide(10, 6, 10, 50.0).allowed);
        // Later in the window less of it counts.
        assert!(decide(10, 6, 10, 70.0).allowed);
    }

    #[test]
    fn retry_after_is_when_one_more_fits() {
        // 6 + floor(10 * (1 - t/100)) <= 10 ⇔ t >= 60: 10 s from t = 50.
        let d = decide(10, 6, 10, 50.0);
        assert_eq!(d.reset_after, 11);
        // Over the limit within the window alone: into the next window.
        let d = decide(10, 11, 0, 40.0);
        assert!(!d.allowed);
        assert!(
            d.reset_after > 60 && d.reset_after <= 71,
            "{}",
            d.reset_after
        );
        let e = d.refusal("ip", "slow down");
        assert_eq!(e.code(), ErrorCode::RateLimited);
    }

    #[test]
    fn subjects_are_not_stored_in_clear() {
        let k = subject_key("alice@example.com");
        assert_eq!(k.len(), 32);
        assert!(!k.contains("alice"));
    }
}
