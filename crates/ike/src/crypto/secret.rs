//! Zeroizing holder for key material (STYLE.md §6).

use core::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Secret bytes: SKEYSEED, SK_*, KEYMAT, g^ir, PSKs.
///
/// Zeroized when dropped, never `Clone`, and `Debug` prints only the length.
/// The buffer is allocated once at its final size so no stale copy is left
/// behind by a reallocation. Read it with [`SecretBytes::secret_bytes`], so
/// every use can be found with grep.
pub struct SecretBytes(Vec<u8>);

impl SecretBytes {
    /// Takes ownership of `bytes` (which should already be at its final size).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a fresh secret buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(bytes.to_vec())
    }

    /// A zero-filled secret of `len` bytes, to be written in place.
    pub fn zeroed(len: usize) -> Self {
        Self(vec![0; len])
    }

    /// The secret value.
    pub fn secret_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The secret value, writable (for filling in place).
    pub fn secret_bytes_mut(&mut self) -> &mut [u8] {
        &mut self.0
    }

    /// Length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when the secret has no bytes.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Drop for SecretBytes {
    fn drop(&mut self) {
        // Vec's Zeroize also wipes the spare capacity.
        self.0.zeroize();
    }
}

impl ZeroizeOnDrop for SecretBytes {}

impl fmt::Debug for SecretBytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<secret len={}>", self.0.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_prints_only_the_length() {
        let s = SecretBytes::from_slice(&[0x41; 7]);
        assert_eq!(format!("{s:?}"), "<secret len=7>");
        assert_eq!(s.len(), 7);
        assert!(!s.is_empty());
    }

    #[test]
    fn zeroed_is_writable() {
        let mut s = SecretBytes::zeroed(3);
        s.secret_bytes_mut().copy_from_slice(b"xyz");
        assert_eq!(s.secret_bytes(), b"xyz");
    }
}
