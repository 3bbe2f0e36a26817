//! The signed audit trail (DESIGN.md §7): one JSON line per exchange, hash-chained and signed
//! with Ed25519. This module builds, seals and verifies lines; adapters only write the bytes,
//! sync them and read them back. Nothing here does I/O or reads a clock: the adapter passes the
//! time and the durations it measured.
//!
//! See docs/audit.md for the format and the guarantees.

pub mod chain;
pub mod fingerprint;
pub mod record;
pub mod sign;
pub mod time;
pub mod verify;
pub mod wire;

pub use chain::{ChainState, GENESIS, Sealer};
pub use fingerprint::FingerprintKey;
pub use record::{Entry, Timings};
pub use sign::{KeyError, SigningKey, VerifyingKey};
pub use verify::{Failure, FailureKind, Report, Verifier};
pub use wire::{Submission, WireError, WireRecord};

use sha2::{Digest, Sha256};

/// Lower-case hex SHA-256 of `bytes` (policy documents, canonical record bytes).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}
