//! Private helpers shared by the payload codecs: nom primitives with our
//! error type, and a bounds-checked writer for emit.
//!
//! Every read goes through nom's `complete` parsers, so running out of input
//! is an error, never a panic. Every write goes through [`Writer`], which
//! refuses to write past the end of its buffer.

use nom::bytes::complete::take;
use nom::number::complete::{be_u16, be_u8};

use super::error::{fail, name, PResult, Reason, WireError};
use super::registry::PayloadType;

/// Read one byte, naming `field` on failure.
pub(crate) fn u8f<'a>(i: &'a [u8], field: &'static str) -> PResult<'a, u8> {
    name(field, be_u8(i))
}

/// Read a big-endian u16.
pub(crate) fn u16f<'a>(i: &'a [u8], field: &'static str) -> PResult<'a, u16> {
    name(field, be_u16(i))
}

/// Take exactly `n` bytes.
pub(crate) fn bytes<'a>(i: &'a [u8], n: usize, field: &'static str) -> PResult<'a, &'a [u8]> {
    name(field, take(n)(i))
}

/// Skip `n` reserved bytes: ignored on input (RFC 7296 §2.5).
pub(crate) fn reserved(i: &[u8], n: usize) -> PResult<'_, ()> {
    let (i, _) = bytes(i, n, "reserved")?;
    Ok((i, ()))
}

/// Split a length-prefixed substructure off `i`: `len` is the declared total
/// length (including the `fixed` bytes already read, starting at `start`).
/// Returns (rest after the structure, body after the fixed part).
pub(crate) fn sub<'a>(
    start: &'a [u8],
    len: usize,
    fixed: usize,
    field: &'static str,
) -> PResult<'a, &'a [u8]> {
    if len < fixed {
        return fail(start, field, Reason::LengthTooShort);
    }
    let Some((whole, rest)) = start.split_at_checked(len) else {
        return fail(start, field, Reason::LengthOverrun);
    };
    match whole.get(fixed..) {
        Some(body) => Ok((rest, body)),
        None => fail(start, field, Reason::LengthTooShort),
    }
}

/// Fail unless `i` is empty: sub-parsers must consume their whole slice.
pub(crate) fn all_consumed<'a>(i: &'a [u8], field: &'static str) -> PResult<'a, ()> {
    if i.is_empty() {
        Ok((i, ()))
    } else {
        fail(i, field, Reason::TrailingBytes)
    }
}

/// A cursor that writes into a fixed buffer and never writes past its end.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
    payload: Option<PayloadType>,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self {
            buf,
            pos: 0,
            payload: None,
        }
    }

    /// Attribute later emit errors to `p`.
    pub(crate) fn set_payload(&mut self, p: Option<PayloadType>) {
        self.payload = p;
    }

    pub(crate) fn pos(&self) -> usize {
        self.pos
    }

    pub(crate) fn err(&self, field: &'static str, reason: Reason) -> WireError {
        WireError::emit(self.payload, field, reason)
    }

    pub(crate) fn put(&mut self, data: &[u8]) -> Result<(), WireError> {
        let end = self
            .pos
            .checked_add(data.len())
            .ok_or_else(|| self.err("", Reason::BufferTooSmall))?;
        let dst = self.buf.get_mut(self.pos..end).ok_or(WireError::emit(
            self.payload,
            "",
            Reason::BufferTooSmall,
        ))?;
        dst.copy_from_slice(data);
        self.pos = end;
        Ok(())
    }

    pub(crate) fn u8(&mut self, v: u8) -> Result<(), WireError> {
        self.put(&[v])
    }

    pub(crate) fn u16(&mut self, v: u16) -> Result<(), WireError> {
        self.put(&v.to_be_bytes())
    }

    /// Write `n` zero bytes (reserved fields are sent as zero, RFC 7296 §2.5).
    pub(crate) fn zeros(&mut self, n: usize) -> Result<(), WireError> {
        for _ in 0..n {
            self.u8(0)?;
        }
        Ok(())
    }

    /// Write a u16 length of `len`, or fail with `TooLong`.
    pub(crate) fn len16(&mut self, len: usize, field: &'static str) -> Result<(), WireError> {
        let v = u16::try_from(len).map_err(|_| self.err(field, Reason::TooLong))?;
        self.u16(v)
    }

    /// Write a u8 count/size of `n`, or fail with `TooLong`.
    pub(crate) fn len8(&mut self, n: usize, field: &'static str) -> Result<(), WireError> {
        let v = u8::try_from(n).map_err(|_| self.err(field, Reason::TooLong))?;
        self.u8(v)
    }
}

/// Sum lengths without overflow panics; saturates, and emit then fails with
/// `TooLong` or `BufferTooSmall` instead of wrapping.
pub(crate) fn add(a: usize, b: usize) -> usize {
    a.saturating_add(b)
}
