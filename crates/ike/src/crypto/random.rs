//! Randomness as an argument (STYLE.md rule 3: no global RNG in `ike`).
//!
//! SPIs, nonces, IVs, cookie secrets and key-exchange private keys are all
//! drawn from a [`Random`] the caller hands in. Production uses
//! [`SystemRandom`] (the OS generator through *ring*); tests and the two-peer
//! simulator use [`HmacDrbg`] with a fixed seed, so whole runs repeat exactly.

use std::sync::Mutex;

use ring::hmac;
use zeroize::Zeroize;

use super::CryptoError;

/// A source of random bytes.
pub trait Random: Send + Sync {
    /// Fills `dest` entirely with random bytes.
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError>;
}

/// The operating system's CSPRNG, through `ring::rand::SystemRandom`.
#[derive(Debug)]
pub struct SystemRandom(ring::rand::SystemRandom);

impl SystemRandom {
    /// A handle to the OS generator (cheap; holds no state).
    pub fn new() -> Self {
        Self(ring::rand::SystemRandom::new())
    }
}

impl Default for SystemRandom {
    fn default() -> Self {
        Self::new()
    }
}

impl Random for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        ring::rand::SecureRandom::fill(&self.0, dest).map_err(|_| CryptoError::Rng)
    }
}

/// Deterministic generator for tests and the simulator: HMAC_DRBG with
/// HMAC-SHA-256 (NIST SP 800-90A Rev. 1 §10.1.2), without reseeding or
/// prediction resistance.
///
/// Same seed, same output stream. It is a sound DRBG, but its output is only
/// as unpredictable as its seed: production code uses [`SystemRandom`].
pub struct HmacDrbg {
    state: Mutex<DrbgState>,
}

struct DrbgState {
    key: [u8; 32],
    v: [u8; 32],
}

impl Drop for DrbgState {
    fn drop(&mut self) {
        self.key.zeroize();
        self.v.zeroize();
    }
}

impl DrbgState {
    fn hmac(key: &[u8; 32], parts: &[&[u8]]) -> [u8; 32] {
        let k = hmac::Key::new(hmac::HMAC_SHA256, key);
        let mut ctx = hmac::Context::with_key(&k);
        for p in parts {
            ctx.update(p);
        }
        let tag = ctx.sign();
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// HMAC_DRBG_Update (SP 800-90A §10.1.2.2).
    fn update(&mut self, provided: &[&[u8]]) {
        let empty = provided.iter().all(|p| p.is_empty());
        for round in [0x00u8, 0x01] {
            if round == 0x01 && empty {
                break;
            }
            let mut parts: Vec<&[u8]> = Vec::with_capacity(provided.len() + 2);
            let v = self.v;
            let sep = [round];
            parts.push(&v);
            parts.push(&sep);
            parts.extend_from_slice(provided);
            self.key = Self::hmac(&self.key, &parts);
            self.v = Self::hmac(&self.key, &[&self.v]);
        }
    }
}

impl HmacDrbg {
    /// Instantiate (SP 800-90A §10.1.2.3) from entropy input, nonce and
    /// personalization string.
    pub fn instantiate(entropy: &[u8], nonce: &[u8], personalization: &[u8]) -> Self {
        let mut st = DrbgState {
            key: [0x00; 32],
            v: [0x01; 32],
        };
        st.update(&[entropy, nonce, personalization]);
        Self {
            state: Mutex::new(st),
        }
    }

    /// A generator whose whole output is fixed by `seed`.
    pub fn from_seed(seed: &[u8]) -> Self {
        Self::instantiate(seed, b"", b"ikegw test HMAC_DRBG")
    }

    /// A generator seeded from a number, for simulator runs named by seed.
    pub fn from_u64(seed: u64) -> Self {
        Self::from_seed(&seed.to_be_bytes())
    }
}

impl Random for HmacDrbg {
    /// HMAC_DRBG_Generate (SP 800-90A §10.1.2.5) with no additional input.
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        let mut st = self.state.lock().map_err(|_| CryptoError::Rng)?;
        for chunk in dest.chunks_mut(32) {
            st.v = DrbgState::hmac(&st.key, &[&st.v]);
            let n = chunk.len();
            chunk.copy_from_slice(st.v.get(..n).ok_or(CryptoError::Rng)?);
        }
        st.update(&[]);
        Ok(())
    }
}

impl core::fmt::Debug for HmacDrbg {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("HmacDrbg(<secret state>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_stream_different_seed_different_stream() {
        let a = HmacDrbg::from_u64(7);
        let b = HmacDrbg::from_u64(7);
        let c = HmacDrbg::from_u64(8);
        let (mut x, mut y, mut z) = ([0u8; 100], [0u8; 100], [0u8; 100]);
        a.fill(&mut x).unwrap();
        b.fill(&mut y).unwrap();
        c.fill(&mut z).unwrap();
        assert_eq!(x, y);
        assert_ne!(x, z);
        // Successive calls continue the stream rather than repeat it.
        a.fill(&mut y).unwrap();
        assert_ne!(x, y);
    }

    #[test]
    fn system_random_fills() {
        let r = SystemRandom::new();
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        r.fill(&mut a).unwrap();
        r.fill(&mut b).unwrap();
        assert_ne!(a, b);
    }
}
