//! Rate limits: how many requests a caller, a client address or an email
//! address may make in a window. Each is `RATE_LIMIT_<NAME>` written as
//! `COUNT/WINDOW`, the window in seconds or with a unit (`1000/1h`, `5/15m`,
//! `10/900`).

use std::time::Duration;

use crate::lookup::{Lookup, SettingsError};

/// At most `max` requests per `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    pub const fn new(max: u32, window_secs: u64) -> Self {
        Self {
            max,
            window: Duration::from_secs(window_secs),
        }
    }

    /// Parses `COUNT/WINDOW` (`5/15m`, `1000/1h`, `10/900`).
    pub fn parse(raw: &str) -> Option<Self> {
        let (count, window) = raw.trim().split_once('/')?;
        let max: u32 = count.trim().parse().ok().filter(|m| *m > 0)?;
        let window = window.trim();
        let (number, unit) = match window.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
            Some((at, _)) => window.split_at(at),
            None => (window, "s"),
        };
        let scale = match unit {
            "s" => 1,
            "m" => 60,
            "h" => 3600,
            "d" => 86_400,
            _ => return None,
        };
        let secs = number.parse::<u64>().ok().filter(|n| *n > 0)?;
        // Windows past a week would keep counters for nothing.
        let secs = secs.checked_mul(scale).filter(|s| *s <= 7 * 86_400)?;
        Some(Self::new(max, secs))
    }
}

/// Every limit the API enforces (defaults from the FastAPI plan where it says).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LimitSettings {
    /// `RATE_LIMIT_API` (`1000/1h`): requests per signed-in user, and per API key.
    pub api: Limit,
    /// `RATE_LIMIT_SIGNUP` (`10/1h`): sign-ups per client address.
    pub signup: Limit,
    /// `RATE_LIMIT_OTP_REQUEST` (`5/15m`): one-time codes asked for per client address.
    pub otp_request: Limit,
    /// `RATE_LIMIT_OTP_VERIFY` (`10/15m`): one-time codes tried per client address.
    pub otp_verify: Limit,
    /// `RATE_LIMIT_RECOVERY` (`5/15m`): password-reset requests and resets per client address.
    pub recovery: Limit,
    /// `RATE_LIMIT_MAIL` (`3/15m`): account emails (codes, reset and verification
    /// links) sent to one address; past it the request answers the same and sends nothing.
    pub mail: Limit,
    /// `RATE_LIMIT_OAUTH` (`20/15m`): sign-ins with Google or GitHub started and
    /// finished per client address.
    pub oauth: Limit,
    /// `RATE_LIMIT_OTP_EMAIL` (`20/1d`): one-time codes tried for one email
    /// address, across codes (each code allows five tries; this bounds guessing
    /// with fresh codes).
    pub otp_email: Limit,
    /// `RATE_LIMIT_HOOK` (120/1m): requests to one webhook.
    pub hook: Limit,
    /// `RATE_LIMIT_TOOLS` (100/1h): tools API calls (chat, web search, web
    /// read) per user, as the FastAPI plan says.
    pub tools: Limit,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            api: Limit::new(1000, 3600),
            signup: Limit::new(10, 3600),
            otp_request: Limit::new(5, 900),
            otp_verify: Limit::new(10, 900),
            recovery: Limit::new(5, 900),
            mail: Limit::new(3, 900),
            oauth: Limit::new(20, 900),
            otp_email: Limit::new(20, 86_400),
            hook: Limit::new(120, 60),
            tools: Limit::new(100, 3600),
        }
    }
}

impl LimitSettings {
    pub fn from_lookup(l: &Lookup<'_>) -> Result<Self, SettingsError> {
        let d = Self::default();
        let read = |name: &'static str, default: Limit| match l.get(name) {
            None => Ok(default),
            Some(raw) => Limit::parse(&raw).ok_or(SettingsError::Invalid {
                name,
                reason: "must be COUNT/WINDOW, e.g. 1000/1h or 5/15m (window up to 7d)".into(),
            }),
        };
        Ok(Self {
            api: read("RATE_LIMIT_API", d.api)?,
            signup: read("RATE_LIMIT_SIGNUP", d.signup)?,
            otp_request: read("RATE_LIMIT_OTP_REQUEST", d.otp_request)?,
            otp_verify: read("RATE_LIMIT_OTP_VERIFY", d.otp_verify)?,
            recovery: read("RATE_LIMIT_RECOVERY", d.recovery)?,
            mail: read("RATE_LIMIT_MAIL", d.mail)?,
            oauth: read("RATE_LIMIT_OAUTH", d.oauth)?,
            otp_email: read("RATE_LIMIT_OTP_EMAIL", d.otp_email)?,
            hook: read("RATE_LIMIT_HOOK", d.hook)?,
            tools: read("RATE_LIMIT_TOOLS", d.tools)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse_with_units() {
        assert_eq!(Limit::parse("5/15m"), Some(Limit::new(5, 900)));
        assert_eq!(Limit::parse(" 1000 / 1h "), Some(Limit::new(1000, 3600)));
        assert_eq!(Limit::parse("10/900"), Some(Limit::new(10, 900)));
        assert_eq!(Limit::parse("2/1d"), Some(Limit::new(2, 86_400)));
        for bad in [
            "", "5", "0/1h", "5/0", "5/1y", "x/1h", "5/8d", "-1/1h", "5/m",
        ] {
            assert_eq!(Limit::parse(bad), None, "{bad}");
        }
    }
}
