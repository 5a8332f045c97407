//! AES-256-GCM sealing (ring): `nonce || ciphertext || tag`, with a random
//! 96-bit nonce per seal and associated data that binds a sealed value to
//! where it belongs (its workspace and name), so a value copied to another
//! row does not open.

use ring::{
    aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN},
    rand::{SecureRandom, SystemRandom},
};
use secrecy::{ExposeSecret, SecretSlice};

/// The length of a data key and of the local master key.
pub const KEY_LEN: usize = 32;

/// A fresh random 256-bit key.
pub fn random_key() -> anyhow::Result<SecretSlice<u8>> {
    let mut key = vec![0u8; KEY_LEN];
    SystemRandom::new()
        .fill(&mut key)
        .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
    Ok(SecretSlice::from(key))
}

fn aead_key(key: &SecretSlice<u8>) -> anyhow::Result<LessSafeKey> {
    let unbound = UnboundKey::new(&AES_256_GCM, key.expose_secret())
        .map_err(|_| anyhow::anyhow!("a vault key must be {KEY_LEN} bytes"))?;
    Ok(LessSafeKey::new(unbound))
}

/// Seals `plain` under `key`, bound to `aad`.
pub fn seal(key: &SecretSlice<u8>, aad: &[u8], plain: &[u8]) -> anyhow::Result<Vec<u8>> {
    let key = aead_key(key)?;
    let mut nonce = [0u8; NONCE_LEN];
    SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| anyhow::anyhow!("the system's random source failed"))?;
    let mut out = Vec::with_capacity(NONCE_LEN + plain.len() + AES_256_GCM.tag_len());
    out.extend_from_slice(&nonce);
    let mut body = plain.to_vec();
    key.seal_in_place_append_tag(
        Nonce::assume_unique_for_key(nonce),
        Aad::from(aad),
        &mut body,
    )
    .map_err(|_| anyhow::anyhow!("sealing failed"))?;
    out.extend_from_slice(&body);
    Ok(out)
}

/// Opens what [`seal`] made with the same key and `aad`; an error for any
/// other key, associated data, or a changed byte.
pub fn open(key: &SecretSlice<u8>, aad: &[u8], sealed: &[u8]) -> anyhow::Result<Vec<u8>> {
    let key = aead_key(key)?;
    anyhow::ensure!(
        sealed.len() >= NONCE_LEN + AES_256_GCM.tag_len(),
        "a sealed value is too short"
    );
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce)
        .map_err(|_| anyhow::anyhow!("a sealed value has a bad nonce"))?;
    let mut body = body.to_vec();
    let plain = key
        .open_in_place(nonce, Aad::from(aad), &mut body)
        .map_err(|_| {
            anyhow::anyhow!(
                "a sealed value does not open with this key (wrong key, or it was changed)"
            )
        })?;
    Ok(plain.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_with_their_key_and_place() {
        let key = random_key().expect("key");
        let other = random_key().expect("key");
        let s = seal(&key, b"ws:NAME", b"hunter2").expect("seal");
        assert_eq!(open(&key, b"ws:NAME", &s).expect("open"), b"hunter2");
        assert!(!s.windows(7).any(|w| w == b"hunter2"), "not in clear");
        assert_ne!(
            s,
            seal(&key, b"ws:NAME", b"hunter2").expect("seal"),
            "fresh nonce"
        );
        assert!(open(&other, b"ws:NAME", &s).is_err());
        assert!(open(&key, b"ws:OTHER", &s).is_err());
        let mut flipped = s.clone();
        let last = flipped.len() - 1;
        flipped[last] ^= 1;
        assert!(open(&key, b"ws:NAME", &flipped).is_err());
        assert!(open(&key, b"ws:NAME", &s[..10]).is_err());
    }
}
