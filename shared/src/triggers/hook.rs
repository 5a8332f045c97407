//! Verifying a webhook request: an HMAC-SHA256 of `"<timestamp>.<body>"`
//! under the hook's signing secret, with the timestamp within
//! [`TOLERANCE`] of now (so a captured request cannot be replayed later;
//! within the window, a repeated signature starts no second run: it is the
//! run's idempotency key), or the secret itself as a bearer token. Every
//! comparison is constant-time (`hmac`'s `verify_slice`).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::signing::{hex, timestamped, unhex};

pub use workflow_graph::HookAuth;

/// How far a signed timestamp may be from the server's clock.
pub const TOLERANCE_SECONDS: i64 = 300;
pub const TIMESTAMP_HEADER: &str = "x-saasit-timestamp";
pub const SIGNATURE_HEADER: &str = "x-saasit-signature";
/// The signature scheme's version prefix: `v1=<hex>`.
pub const SCHEME: &str = "v1=";

/// Why a request was refused (`details.reason` of the 400 `INVALID_SIGNATURE`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// The hook has no signing secret yet.
    NoSecret,
    Missing,
    Malformed,
    /// The timestamp is outside the tolerance (old: a replay, or a clock off).
    Stale,
    Mismatch,
}

impl Refusal {
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::NoSecret => "no_secret",
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Stale => "stale",
            Self::Mismatch => "mismatch",
        }
    }

    pub const fn message(self) -> &'static str {
        match self {
            Self::NoSecret => "the hook has no signing secret yet: make one with POST /api/v1/workflows/{id}/triggers/{triggerId}/secret",
            Self::Missing => "the request is not signed: send X-Saasit-Timestamp and X-Saasit-Signature (or Authorization: Bearer for a bearer hook)",
            Self::Malformed => "the signature headers are malformed: X-Saasit-Timestamp is Unix seconds, X-Saasit-Signature is v1=<64 hex digits>",
            Self::Stale => "the timestamp is more than five minutes from the server's clock (a replay, or a clock that is off)",
            Self::Mismatch => "the signature does not match the request",
        }
    }
}

/// What a request presented.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub timestamp: Option<&'a str>,
    pub signature: Option<&'a str>,
    pub bearer: Option<&'a str>,
}

fn mac(key: &[u8]) -> Hmac<Sha256> {
    <Hmac<Sha256> as Mac>::new_from_slice(key).expect("HMAC-SHA256 takes a key of any length")
}

/// The signature of `body` at `timestamp` (what a sender computes), as `v1=<hex>`.
pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let bytes = timestamped(secret, timestamp, body).finalize().into_bytes();
    format!("{SCHEME}{}", hex(&bytes))
}

/// Checks a request against the hook's secret; `now` in Unix seconds.
pub fn verify(
    auth: HookAuth,
    secret: &[u8],
    p: Presented<'_>,
    body: &[u8],
    now: i64,
) -> Result<(), Refusal> {
    match auth {
        HookAuth::Bearer => {
            let token = p.bearer.ok_or(Refusal::Missing)?;
            // Compared as MACs under a fixed key: constant time, any length.
            let expected = mac(b"saasit-hook-bearer")
                .chain_update(secret)
                .finalize()
                .into_bytes();
            mac(b"saasit-hook-bearer")
                .chain_update(token.as_bytes())
                .verify_slice(&expected)
                .map_err(|_| Refusal::Mismatch)
        }
        HookAuth::Hmac => {
            let (ts, sig) = match (p.timestamp, p.signature) {
                (Some(t), Some(s)) => (t, s),
                _ => return Err(Refusal::Missing),
            };
            let ts: i64 = ts.trim().parse().map_err(|_| Refusal::Malformed)?;
            let sig = sig
                .trim()
                .strip_prefix(SCHEME)
                .and_then(unhex)
                .filter(|b| b.len() == 32)
                .ok_or(Refusal::Malformed)?;
            if now.abs_diff(ts) > TOLERANCE_SECONDS.unsigned_abs() {
                return Err(Refusal::Stale);
            }
            timestamped(secret, ts, body)
                .verify_slice(&sig)
                .map_err(|_| Refusal::Mismatch)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &[u8] = b"whsec_test_0123456789";

    fn signed<'a>(ts: &'a str, sig: &'a str) -> Presented<'a> {
        Presented {
            timestamp: Some(ts),
            signature: Some(sig),
            bearer: None,
        }
    }

    #[test]
    fn a_signed_request_verifies_and_every_change_is_refused() {
        let body = br#"{"order":42}"#;
        let sig = sign(SECRET, 1_000_000, body);
        assert_eq!(
            verify(
                HookAuth::Hmac,
                SECRET,
                signed("1000000", &sig),
                body,
                1_000_100
            ),
            Ok(())
        );
        // Another body, secret, timestamp, or a stale one.
        assert_eq!(
            verify(
                HookAuth::Hmac,
                SECRET,
                signed("1000000", &sig),
                b"{}",
                1_000_100
            ),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify(
                HookAuth::Hmac,
                b"other",
                signed("1000000", &sig),
                body,
                1_000_100
            ),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify(
                HookAuth::Hmac,
                SECRET,
                signed("1000001", &sig),
                body,
                1_000_100
            ),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify(
                HookAuth::Hmac,
                SECRET,
                signed("1000000", &sig),
                body,
                1_000_301
            ),
            Err(Refusal::Stale)
        );
        assert_eq!(
            verify(
                HookAuth::Hmac,
                SECRET,
                signed("1000000", &sig),
                body,
                999_699
            ),
            Err(Refusal::Stale)
        );
        // Malformed and missing.
        for bad in ["", "v1=", "v1=zz", "v0=00", &sig[..20]] {
            assert_eq!(
                verify(
                    HookAuth::Hmac,
                    SECRET,
                    signed("1000000", bad),
                    body,
                    1_000_000
                ),
                Err(Refusal::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            verify(
                HookAuth::Hmac,
                SECRET,
                signed("soon", &sig),
                body,
                1_000_000
            ),
            Err(Refusal::Malformed)
        );
        let none = Presented {
            timestamp: None,
            signature: Some(&sig),
            bearer: None,
        };
        assert_eq!(
            verify(HookAuth::Hmac, SECRET, none, body, 1_000_000),
            Err(Refusal::Missing)
        );
    }

    #[test]
    fn a_bearer_hook_takes_exactly_its_secret() {
        let p = |t: &'static str| Presented {
            timestamp: None,
            signature: None,
            bearer: Some(t),
        };
        let ok = std::str::from_utf8(SECRET).expect("utf-8");
        assert_eq!(
            verify(
                HookAuth::Bearer,
                SECRET,
                Presented {
                    bearer: Some(ok),
                    ..p("")
                },
                b"",
                0
            ),
            Ok(())
        );
        assert_eq!(
            verify(HookAuth::Bearer, SECRET, p("whsec_test_012345678"), b"", 0),
            Err(Refusal::Mismatch)
        );
        assert_eq!(
            verify(HookAuth::Bearer, SECRET, p(""), b"", 0),
            Err(Refusal::Mismatch)
        );
        let none = Presented {
            timestamp: None,
            signature: None,
            bearer: None,
        };
        assert_eq!(
            verify(HookAuth::Bearer, SECRET, none, b"", 0),
            Err(Refusal::Missing)
        );
    }
}
