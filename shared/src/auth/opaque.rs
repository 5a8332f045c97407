//! Opaque single-use tokens (invitation links; account recovery later): 256
//! random bits from the operating system, as 64 hex characters. Only their
//! [`fingerprint`](super::jwt::fingerprint) is stored.

use rand::RngCore;

/// A new token.
pub fn new_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `raw` has the shape of a token (so a malformed one is a 400, not a lookup).
pub fn is_token(raw: &str) -> bool {
    raw.len() == 64
        && raw
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_64_hex_and_differ() {
        let a = new_token();
        let b = new_token();
        assert!(is_token(&a) && is_token(&b));
        assert_ne!(a, b);
        assert!(!is_token(&a[..63]));
        assert!(!is_token(&a.to_uppercase()));
    }
}
