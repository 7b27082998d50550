//! Nonce payload (RFC 7296 §3.9).

use crate::wire::codec::Writer;
use crate::wire::error::{fail, PResult, Reason, WireError};

/// Smallest nonce a peer may send, in bytes (RFC 7296 §3.9).
pub const NONCE_MIN_LEN: usize = 16;
/// Largest nonce a peer may send, in bytes (RFC 7296 §3.9).
pub const NONCE_MAX_LEN: usize = 256;

/// Nonce payload (RFC 7296 §3.9): 16 to 256 random bytes.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Nonce {
    /// The nonce.
    pub data: Vec<u8>,
}

impl Nonce {
    pub(crate) fn parse_body(b: &[u8]) -> PResult<'_, Self> {
        if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&b.len()) {
            return fail(b, "nonce.data", Reason::BadValueLength);
        }
        Ok((&[], Self { data: b.to_vec() }))
    }

    pub(crate) fn body_len(&self) -> usize {
        self.data.len()
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        if !(NONCE_MIN_LEN..=NONCE_MAX_LEN).contains(&self.data.len()) {
            return Err(w.err("nonce.data", Reason::BadValueLength));
        }
        w.put(&self.data)
    }
}
