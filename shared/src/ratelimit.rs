//! Rate limits that hold across Lambda instances: counters in Postgres
//! ([`crate::db::rate_counters`]), a sliding estimate over two fixed windows
//! (the previous window's hits weighted by how much of it still overlaps),
//! and the `RateLimit-*` headers on the response.
//!
//! A request is counted before it is served, refused or not: parallel
//! requests each see their own count, so a burst cannot slip past a limit.
//! Subjects (an email address, a client address) are stored as an HMAC under
//! a server key, so the counters hold no personal data and cannot be
//! reversed by trying every address.

use std::sync::{Arc, Mutex};

use axum::http::{HeaderMap, HeaderName, HeaderValue};

pub use crate::settings::Limit;

use crate::{
    auth::TokenKeys,
    db::rate_counters,
    error::{ApiError, ErrorCode},
    AppState,
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
    /// Account notices (someone signed up with, or asked to reset, an
    /// address) sent to one address: apart from codes and links, so notices
    /// cannot use up the mail a person needs to get back in.
    MailNotice,
    /// One-time codes tried for one email address (over a day, across codes).
    OtpEmail,
    /// Sign-in attempts from one client address.
    LoginIp,
    /// Sign-in attempts for one email address from clients it does not know.
    LoginEmail,
    /// Sign-in attempts from one device that signed in to the account before.
    LoginDevice,
    /// Requests to one webhook trigger.
    Hook,
    /// Tools API calls of one user.
    Tools,
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
            Self::MailNotice => "mail_notice",
            Self::OtpEmail => "otp_email",
            Self::LoginIp => "login_ip",
            Self::LoginEmail => "login_email",
            Self::LoginDevice => "login_device",
            Self::Hook => "hook",
            Self::Tools => "tools",
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
    /// The same for a refused request that is taken back ([`attempt`]).
    reset_if_taken_back: u64,
}

/// Seconds until one more request fits when `kept` hits stay in this window.
fn wait_for_room(kept: f64, previous: f64, e: f64, w: f64, max: f64) -> f64 {
    let room = max - kept;
    if room >= 1.0 {
        // The previous window's share must fall until one more fits.
        (w * (1.0 - room / previous.max(1.0)) - e).max(0.0) + 1.0
    } else {
        // Into the next window, until this window's share leaves room.
        (w - e) + w * (1.0 - max / kept.max(1.0)) + 1.0
    }
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
        let previous = f64::from(c.previous.max(0));
        let reset_after = if allowed {
            w - e
        } else {
            wait_for_room(hits, previous, e, w, max)
        };
        let secs = |s: f64| s.ceil().max(1.0) as u64;
        Self {
            allowed,
            limit,
            remaining,
            reset_after: secs(reset_after),
            reset_if_taken_back: secs(wait_for_room((hits - 1.0).max(0.0), previous, e, w, max)),
        }
    }

    /// The decision as it stands once this refused request is taken back.
    pub fn taken_back(self) -> Self {
        Self {
            reset_after: self.reset_if_taken_back,
            ..self
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

/// The stored form of a subject: an HMAC under a key derived from the JWT secret.
pub fn subject_key(keys: &TokenKeys, subject: &str) -> String {
    keys.mac("rate limit subject", subject.as_bytes())
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Counts one request of `subject` against `limit`.
pub async fn hit(
    state: &AppState,
    bucket: Bucket,
    subject: &str,
    limit: Limit,
) -> Result<Decision, sqlx::Error> {
    let key = subject_key(&state.tokens, subject);
    let counted = rate_counters::hit(&state.db, bucket.as_str(), &key, limit.window).await?;
    Ok(Decision::of(limit, counted))
}

/// Counts an attempt, and takes it back when the limit refuses it: a refused
/// attempt checks nothing, so it does not keep the limit closed past its
/// window. Parallel attempts still each see their own count.
pub async fn attempt(
    state: &AppState,
    bucket: Bucket,
    subject: &str,
    limit: Limit,
    scope: &str,
    message: &str,
) -> Result<(), ApiError> {
    let d = hit(state, bucket, subject, limit).await?;
    if !d.allowed {
        unhit(state, bucket, subject, limit).await?;
        return Err(d.taken_back().refusal(scope, message));
    }
    Ok(())
}

/// Takes one counted request back (it turned out not to be what the limit counts).
pub async fn unhit(
    state: &AppState,
    bucket: Bucket,
    subject: &str,
    limit: Limit,
) -> Result<(), sqlx::Error> {
    let key = subject_key(&state.tokens, subject);
    rate_counters::unhit(&state.db, bucket.as_str(), &key, limit.window).await
}

/// Forgets a subject's counts in a bucket.
pub async fn clear(state: &AppState, bucket: Bucket, subject: &str) -> Result<(), sqlx::Error> {
    let key = subject_key(&state.tokens, subject);
    rate_counters::clear(&state.db, bucket.as_str(), &key).await
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
    fn a_refused_attempt_taken_back_waits_only_for_the_window() {
        let counted = decide(5, 6, 0, 40.0);
        assert!(!counted.allowed);
        let back = counted.taken_back();
        assert_eq!(back.reset_after, 61, "the rest of the window, and a second");
        assert!(counted.reset_after > back.reset_after);
    }

    #[test]
    fn subjects_are_keyed_hashes() {
        let keys = |secret: &str| {
            TokenKeys::new(&crate::settings::AuthSettings {
                jwt_secret: secrecy::SecretString::from(secret.to_owned()),
                jwt_issuer: "saasit".into(),
                access_ttl: std::time::Duration::from_secs(900),
                refresh_ttl: std::time::Duration::from_secs(3600),
                login_max_failures: 5,
                login_window: std::time::Duration::from_secs(900),
                refresh_grace: std::time::Duration::from_secs(10),
                verify_ttl: std::time::Duration::from_secs(86_400),
                limits: Default::default(),
            })
        };
        let (a, b) = (keys(&"a".repeat(32)), keys(&"b".repeat(32)));
        let k = subject_key(&a, "alice@example.com");
        assert_eq!(k.len(), 32);
        assert_eq!(k, subject_key(&a, "alice@example.com"));
        assert_ne!(
            k,
            subject_key(&b, "alice@example.com"),
            "another deployment, another key"
        );
    }
}
