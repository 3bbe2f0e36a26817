//! Keyed fingerprints of matched values: the same secret seen twice gives the same
//! fingerprint under one deployment's key, so repeated leaks correlate across records, while
//! the record never holds the value and the fingerprint cannot be reversed or confirmed
//! without the key.

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Bytes of HMAC-SHA-256 kept in a fingerprint (the first 128 bits).
pub const FINGERPRINT_BYTES: usize = 16;

/// Shortest key accepted.
pub const MIN_KEY_BYTES: usize = 16;

/// A per-deployment HMAC-SHA-256 key.
#[derive(Clone)]
pub struct FingerprintKey {
    mac: Hmac<Sha256>,
}

impl std::fmt::Debug for FingerprintKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never print key material.
        f.write_str("FingerprintKey(..)")
    }
}

#[derive(Debug, thiserror::Error)]
#[error("fingerprint key must be at least {MIN_KEY_BYTES} bytes, got {0}")]
pub struct ShortKey(pub usize);

impl FingerprintKey {
    pub fn new(key: &[u8]) -> Result<FingerprintKey, ShortKey> {
        if key.len() < MIN_KEY_BYTES {
            return Err(ShortKey(key.len()));
        }
        // HMAC accepts keys of any length; the length check above is the only failure.
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(key).map_err(|_| ShortKey(key.len()))?;
        Ok(FingerprintKey { mac })
    }

    /// The truncated HMAC of `value`.
    pub fn fingerprint(&self, value: &[u8]) -> [u8; FINGERPRINT_BYTES] {
        let mut mac = self.mac.clone();
        mac.update(value);
        let full = mac.finalize().into_bytes();
        let mut out = [0u8; FINGERPRINT_BYTES];
        out.copy_from_slice(&full[..FINGERPRINT_BYTES]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_value_same_key_correlates_and_keys_differ() {
        let a = FingerprintKey::new(b"0123456789abcdef-one").unwrap();
        let b = FingerprintKey::new(b"0123456789abcdef-two").unwrap();
        let v = b"AKIAIOSFODNN7EXAMPLE";
        assert_eq!(a.fingerprint(v), a.fingerprint(v));
        assert_ne!(a.fingerprint(v), b.fingerprint(v));
        assert_ne!(a.fingerprint(v), a.fingerprint(b"AKIAIOSFODNN7EXAMPLF"));
        assert!(FingerprintKey::new(b"short").is_err());
        assert_eq!(format!("{a:?}"), "FingerprintKey(..)");
    }
}
