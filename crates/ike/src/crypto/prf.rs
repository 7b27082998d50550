//! The IKE pseudorandom function and prf+ (RFC 7296 §2.13).

use super::{CryptoError, PrfId, SecretBytes};

/// prf+ may run at most 255 rounds: the round counter is one octet
/// (RFC 7296 §2.13).
pub const PRF_PLUS_MAX_ITERATIONS: usize = 255;

/// A negotiated PRF transform (RFC 7296 §3.3.2 type 2).
///
/// Data is passed as a list of pieces that are fed in order, so callers can
/// compute `prf(K, Ni | Nr)` without first concatenating the nonces.
pub trait Prf: Send + Sync {
    /// The transform ID.
    fn id(&self) -> PrfId;

    /// Output length in bytes.
    fn output_len(&self) -> usize;

    /// The preferred key length: the length of SK_d, SK_pi and SK_pr
    /// (RFC 7296 §2.14). For the HMAC-SHA2 PRFs it equals the output length
    /// (RFC 4868 §2.1.2).
    fn key_len(&self) -> usize;

    /// `Some(n)` for PRFs that only take keys of exactly `n` bytes (e.g.
    /// PRF_AES128_XCBC, RFC 4434); `None` for PRFs that take any key length,
    /// as HMAC does. RFC 7296 §2.14 uses this to shape the SKEYSEED key.
    fn fixed_key_len(&self) -> Option<usize> {
        None
    }

    /// Writes `prf(key, data[0] | data[1] | ...)` into `out`, which must be
    /// [`Prf::output_len`] bytes.
    fn compute(&self, key: &[u8], data: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError>;

    /// `prf(key, data...)` as a fresh secret.
    fn prf(&self, key: &[u8], data: &[&[u8]]) -> Result<SecretBytes, CryptoError> {
        let mut out = SecretBytes::zeroed(self.output_len());
        self.compute(key, data, out.secret_bytes_mut())?;
        Ok(out)
    }
}

/// prf+ (RFC 7296 §2.13): `T1 | T2 | ...` truncated to `len` bytes, where
/// `T1 = prf(K, S | 0x01)` and `Tn = prf(K, Tn-1 | S | n)`.
///
/// `seed` is `S`, given in pieces. Asking for more than 255 blocks is an
/// error rather than a silent wrap of the counter.
pub fn prf_plus(
    prf: &dyn Prf,
    key: &[u8],
    seed: &[&[u8]],
    len: usize,
) -> Result<SecretBytes, CryptoError> {
    let block = prf.output_len();
    let max = block.saturating_mul(PRF_PLUS_MAX_ITERATIONS);
    if len > max || block == 0 {
        return Err(CryptoError::PrfPlusTooLong {
            requested: len,
            max,
        });
    }
    let mut out = SecretBytes::zeroed(len);
    let mut prev = SecretBytes::zeroed(block);
    let mut cur = SecretBytes::zeroed(block);
    for (i, chunk) in out.secret_bytes_mut().chunks_mut(block).enumerate() {
        // i < 255 because len <= 255 * block.
        let counter = [
            u8::try_from(i + 1).map_err(|_| CryptoError::PrfPlusTooLong {
                requested: len,
                max,
            })?,
        ];
        let mut parts: Vec<&[u8]> = Vec::with_capacity(seed.len() + 2);
        if i > 0 {
            parts.push(prev.secret_bytes());
        }
        parts.extend_from_slice(seed);
        parts.push(&counter);
        prf.compute(key, &parts, cur.secret_bytes_mut())?;
        let n = chunk.len();
        chunk.copy_from_slice(cur.secret_bytes().get(..n).ok_or(CryptoError::BadLength {
            what: "PRF output",
            expected: n,
            actual: block,
        })?);
        core::mem::swap(&mut prev, &mut cur);
    }
    Ok(out)
}
