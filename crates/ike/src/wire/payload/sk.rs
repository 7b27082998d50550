//! Encrypted (SK, RFC 7296 §3.14) and Encrypted Fragment (SKF, RFC 7383
//! §2.5) payloads.
//!
//! The body (IV, ciphertext, padding, ICV) stays opaque here: splitting it
//! needs the negotiated cipher, which the crypto layer knows. The generic
//! header's next-payload field of SK names the first *inner* payload, so it
//! is kept as `next_inner` rather than derived.

use crate::wire::codec::{add, u16f, Writer};
use crate::wire::error::{fail, PResult, Reason, WireError};
use crate::wire::registry::PayloadType;

/// SK payload (RFC 7296 §3.14).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Sk {
    /// Type of the first payload inside the ciphertext.
    pub next_inner: PayloadType,
    /// IV, ciphertext and ICV.
    pub body: Vec<u8>,
}

/// SKF payload (RFC 7383 §2.5): one fragment of an SK payload.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Skf {
    /// First inner payload type in fragment 1, zero in the others.
    pub next_inner: PayloadType,
    /// Fragment number, from 1.
    pub fragment_number: u16,
    /// Total number of fragments.
    pub total_fragments: u16,
    /// IV, ciphertext and ICV of this fragment.
    pub body: Vec<u8>,
}

impl Sk {
    pub(crate) fn parse_body(next_inner: PayloadType, b: &[u8]) -> PResult<'_, Self> {
        Ok((
            &[],
            Self {
                next_inner,
                body: b.to_vec(),
            },
        ))
    }

    pub(crate) fn body_len(&self) -> usize {
        self.body.len()
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.put(&self.body)
    }
}

/// RFC 7383 §2.5: numbering starts at 1 and never exceeds the total.
fn numbers_ok(number: u16, total: u16) -> bool {
    number != 0 && number <= total
}

impl Skf {
    pub(crate) fn parse_body(next_inner: PayloadType, b: &[u8]) -> PResult<'_, Self> {
        let start = b;
        let (b, fragment_number) = u16f(b, "skf.fragment_number")?;
        let (b, total_fragments) = u16f(b, "skf.total_fragments")?;
        if !numbers_ok(fragment_number, total_fragments) {
            return fail(start, "skf.fragment_number", Reason::BadValue);
        }
        Ok((
            &[],
            Self {
                next_inner,
                fragment_number,
                total_fragments,
                body: b.to_vec(),
            },
        ))
    }

    pub(crate) fn body_len(&self) -> usize {
        add(4, self.body.len())
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        if !numbers_ok(self.fragment_number, self.total_fragments) {
            return Err(w.err("skf.fragment_number", Reason::BadValue));
        }
        w.u16(self.fragment_number)?;
        w.u16(self.total_fragments)?;
        w.put(&self.body)
    }
}
