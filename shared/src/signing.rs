//! The one signing scheme both webhook directions use: HMAC-SHA256 of
//! `"<timestamp>.<body>"` (Stripe's to us, ours to workflows' webhooks), and
//! the hex it travels as. HMAC is the `hmac` crate's.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The MAC of `"<timestamp>.<payload>"` under `secret`, ready to finalize or verify.
pub fn timestamped(secret: &[u8], timestamp: i64, payload: &[u8]) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret).expect("HMAC-SHA256 takes a key of any length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(payload);
    mac
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Bytes from hex of either case; `None` for anything else.
pub fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).ok())
        .collect()
}
