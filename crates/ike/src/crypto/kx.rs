//! Key exchange (RFC 7296 §1.2 KE payload, §3.4) behind two small traits.
//!
//! A [`KeyExchangeGroup`] is a factory looked up by transform ID; `start`
//! makes an [`ActiveKeyExchange`] holding the private half, and
//! [`ActiveKeyExchange::complete`] consumes it with the peer's public value,
//! so a private key can be used only once (the rustls `complete(self: Box<Self>)`
//! shape). MODP groups or post-quantum KEMs from another crate implement the
//! same traits.

use super::{CryptoError, KeMethod, Random, SecretBytes};

/// A KE method (Diffie-Hellman group) the provider offers.
pub trait KeyExchangeGroup: Send + Sync {
    /// The transform ID (RFC 7296 §3.3.2 type 4).
    fn id(&self) -> KeMethod;

    /// Length of the public value carried in the KE payload, which is also
    /// the exact length a peer's value must have (RFC 7296 §3.4).
    fn public_len(&self) -> usize;

    /// Generates a private key from `rng` and returns the pending exchange.
    fn start(&self, rng: &dyn Random) -> Result<Box<dyn ActiveKeyExchange>, CryptoError>;
}

/// One side's half of a key exchange in progress.
pub trait ActiveKeyExchange: Send {
    /// The group.
    fn group(&self) -> KeMethod;

    /// Our public value, encoded for the KE payload.
    fn public_value(&self) -> &[u8];

    /// Validates the peer's KE data and computes g^ir, consuming the private
    /// key. A bad length or an invalid value is a [`CryptoError`] with
    /// `Blame::Peer` (the IKE answer is INVALID_SYNTAX).
    fn complete(self: Box<Self>, peer_public: &[u8]) -> Result<SharedSecret, CryptoError>;
}

/// The key-exchange output g^ir (RFC 7296 §2.14), zeroized on drop.
///
/// For ECP groups this is the x coordinate only (RFC 5903 §7); for
/// Curve25519 the 32-byte X25519 output (RFC 8031 §2).
#[derive(Debug)]
pub struct SharedSecret(SecretBytes);

impl SharedSecret {
    /// Wraps bytes produced by a key exchange.
    pub fn new(bytes: SecretBytes) -> Self {
        Self(bytes)
    }

    /// Copies a known value (for tests and for imported vectors).
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(SecretBytes::from_slice(bytes))
    }

    /// g^ir.
    pub fn secret_bytes(&self) -> &[u8] {
        self.0.secret_bytes()
    }
}
