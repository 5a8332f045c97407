//! `Stripe-Signature` verification: `t=<unix time>,v1=<hex HMAC-SHA256 of
//! "t.body">[,v1=…]`. Every `v1` is tried against every configured secret
//! (Stripe signs with each of an endpoint's secrets while one is rolled), in
//! constant time; then the timestamp must be within the tolerance. HMAC is
//! the `hmac` crate's; only the header format is ours.

use std::time::Duration;

use hmac::{Hmac, Mac};

use crate::signing::{hex, unhex};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;

/// Why a webhook's signature was refused (the reason goes in the 400's details).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("the Stripe-Signature header is missing")]
    Missing,
    #[error("the Stripe-Signature header is malformed")]
    Malformed,
    #[error("no signature matches a configured secret")]
    Mismatch,
    #[error("the signature's timestamp is outside the tolerance")]
    Expired,
    #[error("no webhook signing secret is configured")]
    NoSecret,
}

impl SignatureError {
    /// The stable `details.reason` of the 400.
    pub const fn reason(self) -> &'static str {
        match self {
            Self::Missing => "missing",
            Self::Malformed => "malformed",
            Self::Mismatch => "mismatch",
            Self::Expired => "expired",
            Self::NoSecret => "webhook_not_configured",
        }
    }
}

fn mac(secret: &str, timestamp: i64, payload: &[u8]) -> Hmac<Sha256> {
    crate::signing::timestamped(secret.as_bytes(), timestamp, payload)
}

/// The header Stripe would send for `payload` signed with `secret` at
/// `timestamp` (the local Stripe double and the tests sign with it).
pub fn sign(payload: &[u8], secret: &str, timestamp: i64) -> String {
    let sig = mac(secret, timestamp, payload).finalize().into_bytes();
    format!("t={timestamp},v1={}", hex(&sig))
}

/// Verifies `header` for `payload` against `secrets` at `now` (unix
/// seconds); returns the signed timestamp.
pub fn verify(
    header: Option<&str>,
    payload: &[u8],
    secrets: &[SecretString],
    tolerance: Duration,
    now: i64,
) -> Result<i64, SignatureError> {
    if secrets.is_empty() {
        return Err(SignatureError::NoSecret);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        let (key, value) = part
            .trim()
            .split_once('=')
            .ok_or(SignatureError::Malformed)?;
        match key {
            "t" if timestamp.is_none() => {
                timestamp = Some(
                    value
                        .parse::<i64>()
                        .map_err(|_| SignatureError::Malformed)?,
                );
            }
            "t" => return Err(SignatureError::Malformed),
            // A v1 that is not hex cannot match; the others still may.
            "v1" => signatures.extend(unhex(value)),
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed)?;
    if signatures.is_empty() {
        return Err(SignatureError::Malformed);
    }
    let matched = secrets.iter().any(|secret| {
        let expected = mac(secret.expose_secret(), timestamp, payload);
        signatures
            .iter()
            .any(|sig| expected.clone().verify_slice(sig).is_ok())
    });
    if !matched {
        return Err(SignatureError::Mismatch);
    }
    let age = now.abs_diff(timestamp);
    if age > tolerance.as_secs() {
        return Err(SignatureError::Expired);
    }
    Ok(timestamp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOLERANCE: Duration = Duration::from_secs(300);
    const BODY: &[u8] = br#"{"id":"evt_1","type":"invoice.paid"}"#;

    fn secrets(s: &[&str]) -> Vec<SecretString> {
        s.iter()
            .map(|s| SecretString::from((*s).to_owned()))
            .collect()
    }

    #[test]
    fn a_signature_by_stripe_is_accepted() {
        let now = 1_700_000_000;
        let header = sign(BODY, "whsec_a", now - 10);
        assert_eq!(
            verify(Some(&header), BODY, &secrets(&["whsec_a"]), TOLERANCE, now),
            Ok(now - 10)
        );
    }

    #[test]
    fn rotation_several_v1_and_several_secrets() {
        let now = 1_700_000_000;
        let old = sign(BODY, "whsec_old", now);
        let new = sign(BODY, "whsec_new", now);
        let new_v1 = new.split_once(",v1=").expect("v1").1;
        // Stripe signs with both secrets while the old one is rolled.
        let both = format!("{old},v1={new_v1},v0=ignored");
        for configured in [
            &["whsec_old"][..],
            &["whsec_new"],
            &["whsec_x", "whsec_new"],
        ] {
            assert!(
                verify(Some(&both), BODY, &secrets(configured), TOLERANCE, now).is_ok(),
                "{configured:?}"
            );
        }
        // A single signature with the new secret, checked by a function that has both.
        assert!(verify(
            Some(&new),
            BODY,
            &secrets(&["whsec_old", "whsec_new"]),
            TOLERANCE,
            now
        )
        .is_ok());
    }

    #[test]
    fn bad_signatures_are_refused_with_a_reason() {
        let now = 1_700_000_000;
        let s = secrets(&["whsec_a"]);
        let good = sign(BODY, "whsec_a", now);
        let cases: Vec<(Option<String>, &[u8], SignatureError)> = vec![
            (None, BODY, SignatureError::Missing),
            (Some("garbage".into()), BODY, SignatureError::Malformed),
            (
                Some(format!("t=x,{}", &good[good.find("v1").expect("v1")..])),
                BODY,
                SignatureError::Malformed,
            ),
            (Some(format!("t={now}")), BODY, SignatureError::Malformed),
            (
                Some(sign(BODY, "whsec_other", now)),
                BODY,
                SignatureError::Mismatch,
            ),
            (
                Some(good.clone()),
                b"{\"id\":\"evt_2\"}",
                SignatureError::Mismatch,
            ),
            (
                Some(format!(
                    "t={},{}",
                    now + 1,
                    &good[good.find("v1").expect("v1")..]
                )),
                BODY,
                SignatureError::Mismatch,
            ),
            (
                Some(sign(BODY, "whsec_a", now - 301)),
                BODY,
                SignatureError::Expired,
            ),
            (
                Some(sign(BODY, "whsec_a", now + 301)),
                BODY,
                SignatureError::Expired,
            ),
        ];
        for (header, body, want) in cases {
            assert_eq!(
                verify(header.as_deref(), body, &s, TOLERANCE, now),
                Err(want),
                "{header:?}"
            );
        }
        assert_eq!(
            verify(Some(&good), BODY, &[], TOLERANCE, now),
            Err(SignatureError::NoSecret)
        );
    }
}
