//! Integrity transforms (RFC 7296 §3.3.2 type 3), used by encrypt-then-MAC
//! SK ciphers (RFC 7296 §3.14) and for CHILD_SA key lengths (§2.17).

use super::{ct_eq, CryptoError, IntegId};

/// A negotiated INTEG transform such as AUTH_HMAC_SHA2_256_128 (RFC 4868).
pub trait Integ: Send + Sync {
    /// The transform ID.
    fn id(&self) -> IntegId;

    /// Key length in bytes (the length of SK_ai / SK_ar, RFC 7296 §2.14).
    fn key_len(&self) -> usize;

    /// Length of the truncated ICV in bytes.
    fn icv_len(&self) -> usize;

    /// Writes the ICV over `data[0] | data[1] | ...` into `icv`, which must
    /// be [`Integ::icv_len`] bytes.
    fn compute(&self, key: &[u8], data: &[&[u8]], icv: &mut [u8]) -> Result<(), CryptoError>;

    /// Checks a received ICV in constant time.
    fn verify(&self, key: &[u8], data: &[&[u8]], icv: &[u8]) -> Result<(), CryptoError> {
        let mut expected = vec![0u8; self.icv_len()];
        self.compute(key, data, &mut expected)?;
        if ct_eq(&expected, icv) {
            Ok(())
        } else {
            Err(CryptoError::IntegrityCheckFailed)
        }
    }
}
