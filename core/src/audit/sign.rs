//! Ed25519 keys of the audit trail and their file forms.
//!
//! Key files are one line of lower-case hex: the 32-byte secret seed (`PREFIX.key`) or the
//! 32-byte public key (`PREFIX.pub`). Generating a seed needs an entropy source, which the
//! adapter supplies; the core only derives, signs and verifies.

use ed25519_dalek::{Signer as _, Verifier as _};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("key file is not 64 hex digits")]
    Format,
    #[error("not a valid Ed25519 public key")]
    Point,
}

/// The secret half. Its `Debug` never shows key material.
#[derive(Clone)]
pub struct SigningKey(ed25519_dalek::SigningKey);

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SigningKey(public {})", self.verifying_key().to_hex())
    }
}

/// The public half, given to `sluice audit verify`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VerifyingKey(ed25519_dalek::VerifyingKey);

fn hex32(text: &str) -> Result<[u8; 32], KeyError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text.trim(), &mut out).map_err(|_| KeyError::Format)?;
    Ok(out)
}

impl SigningKey {
    pub fn from_seed(seed: [u8; 32]) -> SigningKey {
        SigningKey(ed25519_dalek::SigningKey::from_bytes(&seed))
    }

    /// Reads the text of a `.key` file.
    pub fn from_key_file(text: &str) -> Result<SigningKey, KeyError> {
        Ok(SigningKey::from_seed(hex32(text)?))
    }

    /// The text of a `.key` file (secret: write it with mode 0600, never log it).
    pub fn to_key_file(&self) -> String {
        format!("{}\n", hex::encode(self.0.to_bytes()))
    }

    pub fn verifying_key(&self) -> VerifyingKey {
        VerifyingKey(self.0.verifying_key())
    }

    pub fn sign(&self, message: &[u8]) -> [u8; 64] {
        self.0.sign(message).to_bytes()
    }
}

impl VerifyingKey {
    /// Reads the text of a `.pub` file.
    pub fn from_pub_file(text: &str) -> Result<VerifyingKey, KeyError> {
        let bytes = hex32(text)?;
        ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map(VerifyingKey)
            .map_err(|_| KeyError::Point)
    }

    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// The text of a `.pub` file.
    pub fn to_pub_file(&self) -> String {
        format!("{}\n", self.to_hex())
    }

    /// Strict verification (rejects non-canonical and small-order forms).
    pub fn verify(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        let sig = ed25519_dalek::Signature::from_bytes(signature);
        self.0.verify_strict(message, &sig).is_ok() && self.0.verify(message, &sig).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip_and_signatures_bind_key_and_message() {
        let k = SigningKey::from_seed([7; 32]);
        let again = SigningKey::from_key_file(&k.to_key_file()).unwrap();
        let public = VerifyingKey::from_pub_file(&k.verifying_key().to_pub_file()).unwrap();
        assert_eq!(again.verifying_key(), public);
        let sig = k.sign(b"record");
        assert!(public.verify(b"record", &sig));
        assert!(!public.verify(b"recorD", &sig));
        let other = SigningKey::from_seed([8; 32]).verifying_key();
        assert!(!other.verify(b"record", &sig));
        assert!(VerifyingKey::from_pub_file("zz").is_err());
        assert!(!format!("{k:?}").contains(&hex::encode([7u8; 32])));
    }
}
