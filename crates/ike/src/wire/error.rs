//! The wire codec's error: what was wrong, where, and which Notify answers it.
//!
//! Parsing rejects input with a [`WireError`] that names the payload, the
//! field, the byte offset from the start of the parsed buffer and a typed
//! [`Reason`]. Nothing is allocated per rejection, so a flood of garbage costs
//! no heap traffic. The nom error plumbing stays private to this module tree:
//! no nom type appears in a public signature.

use core::fmt;

use nom::error::{ErrorKind, ParseError};

use super::registry::{NotifyType, PayloadType};

/// Why a message could not be decoded or encoded (RFC 7296 §2.21 decides
/// which Notify, if any, answers it; see [`WireError::notify`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Reason {
    /// The input ended inside a fixed-size field.
    Truncated,
    /// A length field is smaller than the fixed part it must cover.
    LengthTooShort,
    /// A length field points past the end of the enclosing data.
    LengthOverrun,
    /// The IKE header length differs from the datagram length (RFC 7296 §3.1).
    HeaderLengthMismatch,
    /// Bytes are left after the last payload or inside a substructure.
    TrailingBytes,
    /// A declared count differs from the number of items found.
    CountMismatch,
    /// A "last substructure" flag is not 0 on the last item or 2/3 on the others
    /// (RFC 7296 §3.3.1, §3.3.2).
    BadLastFlag,
    /// Proposal numbers must start at 1 (or at the chosen number in a reply)
    /// and increase by one (RFC 7296 §3.3.1).
    BadProposalNumber,
    /// An SPI size does not fit the protocol (RFC 7296 §3.3.1, §3.11).
    BadSpiSize,
    /// A structure holds no items where at least one is required.
    Empty,
    /// More items than this implementation accepts in one structure.
    TooMany,
    /// A fixed-size value has the wrong size (an address, a nonce).
    BadValueLength,
    /// A field holds a value that is out of its range.
    BadValue,
    /// The major version is not 2 (RFC 7296 §2.5: INVALID_MAJOR_VERSION).
    UnsupportedMajorVersion,
    /// A payload we do not understand has the critical bit set (RFC 7296 §2.5).
    UnsupportedCriticalPayload,
    /// SK or SKF is not the last payload of the chain (RFC 7296 §3.14).
    EncryptedNotLast,
    /// Emit only: the output buffer is smaller than `buffer_len()`.
    BufferTooSmall,
    /// Emit only: a value does not fit its length or count field.
    TooLong,
    /// Emit only: the Repr breaks a rule the wire format imposes (for
    /// example SPIs of different sizes in one Delete payload).
    Inconsistent,
}

impl Reason {
    /// A short, fixed description.
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Truncated => "truncated",
            Self::LengthTooShort => "length field too small",
            Self::LengthOverrun => "length field exceeds the data",
            Self::HeaderLengthMismatch => "header length differs from datagram length",
            Self::TrailingBytes => "trailing bytes",
            Self::CountMismatch => "count differs from items present",
            Self::BadLastFlag => "last-substructure flag disagrees with position",
            Self::BadProposalNumber => "proposal numbers not consecutive",
            Self::BadSpiSize => "SPI size does not fit the protocol",
            Self::Empty => "no items where one is required",
            Self::TooMany => "too many items",
            Self::BadValueLength => "value has the wrong size",
            Self::BadValue => "value out of range",
            Self::UnsupportedMajorVersion => "unsupported major version",
            Self::UnsupportedCriticalPayload => "unsupported critical payload",
            Self::EncryptedNotLast => "encrypted payload is not the last payload",
            Self::BufferTooSmall => "output buffer too small",
            Self::TooLong => "value too long for its length field",
            Self::Inconsistent => "representation is inconsistent",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A rejected IKE message (RFC 7296 §2.5, §2.21): which payload and field,
/// the byte offset from the start of the buffer given to the parser, and why.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
pub struct WireError {
    /// The payload being decoded, `None` for the IKE header itself.
    pub payload: Option<PayloadType>,
    /// The field, as a fixed name such as `"proposal.spi_size"`.
    pub field: &'static str,
    /// Byte offset of the offending field from the start of the input.
    pub offset: usize,
    /// What was wrong.
    pub reason: Reason,
}

impl fmt::Display for WireError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.payload {
            Some(p) => write!(f, "{p} payload: ")?,
            None => f.write_str("IKE header: ")?,
        }
        if !self.field.is_empty() {
            write!(f, "{}: ", self.field)?;
        }
        write!(f, "{} at byte {}", self.reason, self.offset)
    }
}

impl WireError {
    /// An error not tied to input bytes (emit side).
    pub(crate) const fn emit(
        payload: Option<PayloadType>,
        field: &'static str,
        reason: Reason,
    ) -> Self {
        Self {
            payload,
            field,
            offset: 0,
            reason,
        }
    }

    /// The Notify that answers this error (RFC 7296 §2.21, §3.10.1):
    /// UNSUPPORTED_CRITICAL_PAYLOAD for a critical payload we do not know,
    /// INVALID_MAJOR_VERSION for a major version other than 2, INVALID_SYNTAX
    /// for every other decoding failure, and `None` for emit-side errors,
    /// which are our own faults and never reach the wire.
    pub const fn notify(&self) -> Option<NotifyType> {
        match self.reason {
            Reason::UnsupportedCriticalPayload => Some(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD),
            Reason::UnsupportedMajorVersion => Some(NotifyType::INVALID_MAJOR_VERSION),
            Reason::BufferTooSmall | Reason::TooLong | Reason::Inconsistent => None,
            _ => Some(NotifyType::INVALID_SYNTAX),
        }
    }
}

/// Internal nom error: like [`WireError`] but the position is the address of
/// the first byte of the failing input, so that errors raised inside
/// sub-slices can still be turned into an offset from the start of the
/// outermost buffer (all slices borrow from that one buffer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PErr {
    pub(crate) at: usize,
    pub(crate) payload: Option<PayloadType>,
    pub(crate) field: &'static str,
    pub(crate) reason: Reason,
}

impl PErr {
    pub(crate) fn new(at: &[u8], field: &'static str, reason: Reason) -> Self {
        Self {
            at: addr(at),
            payload: None,
            field,
            reason,
        }
    }

    /// Convert to the public error, measuring the offset from `base`.
    pub(crate) fn into_wire(self, base: &[u8]) -> WireError {
        WireError {
            payload: self.payload,
            field: self.field,
            offset: self.at.saturating_sub(addr(base)),
            reason: self.reason,
        }
    }
}

/// The address of a slice's first byte, used only to compute offsets.
fn addr(s: &[u8]) -> usize {
    s.as_ptr() as usize
}

impl<'a> ParseError<&'a [u8]> for PErr {
    fn from_error_kind(input: &'a [u8], _kind: ErrorKind) -> Self {
        // With `complete` parsers the only way nom's own number and `take`
        // parsers fail is running out of input.
        Self::new(input, "", Reason::Truncated)
    }

    fn append(_input: &'a [u8], _kind: ErrorKind, other: Self) -> Self {
        other
    }
}

/// nom's result with our error.
pub(crate) type PResult<'a, O> = nom::IResult<&'a [u8], O, PErr>;

/// Fail at `at` with `reason`.
pub(crate) fn fail<'a, O>(at: &'a [u8], field: &'static str, reason: Reason) -> PResult<'a, O> {
    Err(nom::Err::Failure(PErr::new(at, field, reason)))
}

/// Name the field of an error raised by a nom primitive, unless an inner
/// parser already did.
pub(crate) fn name<'a, O>(field: &'static str, r: PResult<'a, O>) -> PResult<'a, O> {
    r.map_err(|e| {
        e.map(|mut pe| {
            if pe.field.is_empty() {
                pe.field = field;
            }
            pe
        })
    })
}

/// Tag an error with the payload type it arose in, unless already tagged.
pub(crate) fn in_payload<'a, O>(ptype: PayloadType, r: PResult<'a, O>) -> PResult<'a, O> {
    r.map_err(|e| {
        e.map(|mut pe| {
            if pe.payload.is_none() {
                pe.payload = Some(ptype);
            }
            pe
        })
    })
}

/// Unwrap a nom error into our error (complete parsers never return
/// `Incomplete`; should one appear it is reported as truncation).
pub(crate) fn finish(e: nom::Err<PErr>, base: &[u8]) -> WireError {
    match e {
        nom::Err::Error(pe) | nom::Err::Failure(pe) => pe.into_wire(base),
        nom::Err::Incomplete(_) => WireError {
            payload: None,
            field: "",
            offset: base.len(),
            reason: Reason::Truncated,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(reason: Reason) -> WireError {
        WireError {
            payload: Some(PayloadType::SA),
            field: "proposal.last",
            offset: 40,
            reason,
        }
    }

    #[test]
    fn every_reason_maps_to_its_notify() {
        let all = [
            Reason::Truncated,
            Reason::LengthTooShort,
            Reason::LengthOverrun,
            Reason::HeaderLengthMismatch,
            Reason::TrailingBytes,
            Reason::CountMismatch,
            Reason::BadLastFlag,
            Reason::BadProposalNumber,
            Reason::BadSpiSize,
            Reason::Empty,
            Reason::TooMany,
            Reason::BadValueLength,
            Reason::BadValue,
            Reason::UnsupportedMajorVersion,
            Reason::UnsupportedCriticalPayload,
            Reason::EncryptedNotLast,
            Reason::BufferTooSmall,
            Reason::TooLong,
            Reason::Inconsistent,
        ];
        for r in all {
            let want = match r {
                Reason::UnsupportedCriticalPayload => {
                    Some(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD)
                }
                Reason::UnsupportedMajorVersion => Some(NotifyType::INVALID_MAJOR_VERSION),
                Reason::BufferTooSmall | Reason::TooLong | Reason::Inconsistent => None,
                _ => Some(NotifyType::INVALID_SYNTAX),
            };
            assert_eq!(e(r).notify(), want, "{r:?}");
            assert!(!r.as_str().is_empty());
        }
    }

    #[test]
    fn display_names_payload_field_offset_and_reason() {
        assert_eq!(
            e(Reason::BadLastFlag).to_string(),
            "SA payload: proposal.last: last-substructure flag disagrees with position at byte 40"
        );
        let h = WireError {
            payload: None,
            field: "header.length",
            offset: 24,
            reason: Reason::HeaderLengthMismatch,
        };
        assert_eq!(
            h.to_string(),
            "IKE header: header.length: header length differs from datagram length at byte 24"
        );
    }

    #[test]
    fn offsets_are_measured_from_the_outer_buffer() {
        let buf = [0u8; 10];
        let inner = &buf[4..];
        let pe = PErr::new(&inner[2..], "x", Reason::Truncated);
        assert_eq!(pe.into_wire(&buf).offset, 6);
    }
}
