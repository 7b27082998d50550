//! Whole IKE messages (RFC 7296 §3.1, §3.2): the header plus the payload
//! chain, and the non-ESP marker of UDP port 4500 (RFC 3948 §2.2).
//!
//! Parsing walks the chain by next-payload types, checks each generic length
//! (at least 4, at most the bytes left), decodes each body on an exact slice,
//! and rejects bytes after the last payload. SK/SKF end the chain: their
//! next-payload names the first payload inside the ciphertext.

use super::codec::{add, u16f, u8f, Writer};
use super::error::{fail, finish, in_payload, PResult, Reason, WireError};
use super::header::{
    Header, HeaderPacket, HEADER_LEN, IKE_MAJOR_VERSION, LENGTH_OFFSET, VERSION_OFFSET,
};
use super::payload::Payload;
use super::registry::PayloadType;

/// Upper bound on payloads in one chain. Real messages carry a few dozen at
/// most (many CERTs or Vendor IDs); each payload needs 4 bytes, so without a
/// bound a 64 KiB datagram could make 16 k small allocations.
pub const MAX_PAYLOADS: usize = 512;

/// Size of the generic payload header (RFC 7296 §3.2).
pub const GENERIC_HEADER_LEN: usize = 4;

/// The critical bit of the generic payload header (RFC 7296 §3.2).
const CRITICAL: u8 = 0x80;

/// An IKE message: header and payload chain (RFC 7296 §3).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Message {
    /// The header, without its derived fields (next payload, length).
    pub header: Header,
    /// The payloads, in wire order.
    pub payloads: Vec<Payload>,
}

impl Message {
    /// Parse a whole message: the datagram must be exactly the length the
    /// header declares (RFC 7296 §3.1). Offsets in errors count from the
    /// first byte of `bytes`.
    pub fn parse(bytes: &[u8]) -> Result<Self, WireError> {
        let header_err = |reason, field, offset| WireError {
            payload: None,
            field,
            offset,
            reason,
        };
        if bytes.len() < HEADER_LEN {
            return Err(header_err(Reason::Truncated, "header", bytes.len()));
        }
        let packet = HeaderPacket::new_unchecked(bytes);
        if usize::try_from(packet.length()).ok() != Some(bytes.len()) {
            return Err(header_err(
                Reason::HeaderLengthMismatch,
                "header.length",
                LENGTH_OFFSET,
            ));
        }
        if packet.major_version() != IKE_MAJOR_VERSION {
            return Err(header_err(
                Reason::UnsupportedMajorVersion,
                "header.version",
                VERSION_OFFSET,
            ));
        }
        let header = Header::parse(&packet);
        let body = bytes.get(HEADER_LEN..).unwrap_or_default();
        let (_, payloads) = chain(packet.next_payload(), body).map_err(|e| finish(e, bytes))?;
        Ok(Self { header, payloads })
    }

    /// Bytes needed to emit this message.
    pub fn buffer_len(&self) -> usize {
        add(HEADER_LEN, payloads_buffer_len(&self.payloads))
    }

    /// Write the message into `buf`, which must hold at least
    /// [`Self::buffer_len`] bytes; every byte of that prefix is written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<(), WireError> {
        let len = self.buffer_len();
        let length = u32::try_from(len)
            .map_err(|_| WireError::emit(None, "header.length", Reason::TooLong))?;
        if self.header.minor_version > 0x0f {
            return Err(WireError::emit(None, "header.version", Reason::TooLong));
        }
        let Some((head, rest)) = buf.split_at_mut_checked(HEADER_LEN) else {
            return Err(WireError::emit(None, "header", Reason::BufferTooSmall));
        };
        let first = self
            .payloads
            .first()
            .map_or(PayloadType::NO_NEXT_PAYLOAD, Payload::payload_type);
        emit_payloads(&self.payloads, rest)?;
        self.header
            .emit(&mut HeaderPacket::new_unchecked(head), first, length);
        Ok(())
    }

    /// Emit into a new vector. Returns an empty vector if the message cannot
    /// be represented (a payload over 65535 bytes, SK not last, …); use
    /// [`Self::try_to_vec`] to learn why. No valid message is empty.
    pub fn to_vec(&self) -> Vec<u8> {
        self.try_to_vec().unwrap_or_default()
    }

    /// Emit into a new vector, or say why the message cannot be emitted.
    pub fn try_to_vec(&self) -> Result<Vec<u8>, WireError> {
        let mut v = vec![0u8; self.buffer_len()];
        self.emit(&mut v)?;
        Ok(v)
    }

    /// The first unknown payload with the critical bit set, as the error
    /// that answers it with UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 §2.5).
    /// The offset is that payload's position in the emitted message.
    pub fn unsupported_critical(&self) -> Option<WireError> {
        first_unsupported_critical(&self.payloads, HEADER_LEN)
    }

    /// Iterate over payloads of one type.
    pub fn payloads_of(&self, t: PayloadType) -> impl Iterator<Item = &Payload> {
        self.payloads.iter().filter(move |p| p.payload_type() == t)
    }
}

/// The first unknown critical payload of a chain whose first byte sits at
/// `base` in its buffer, as an UNSUPPORTED_CRITICAL_PAYLOAD error (RFC 7296 §2.5).
pub fn first_unsupported_critical(payloads: &[Payload], base: usize) -> Option<WireError> {
    let mut offset = base;
    for p in payloads {
        if p.is_unsupported_critical() {
            return Some(WireError {
                payload: Some(p.payload_type()),
                field: "critical",
                offset,
                reason: Reason::UnsupportedCriticalPayload,
            });
        }
        offset = add(offset, p.buffer_len());
    }
    None
}

/// Parse a payload chain starting with type `first` that must fill `bytes`
/// exactly: the message body, or the plaintext of an SK payload
/// (RFC 7296 §3.14). Offsets in errors count from the start of `bytes`.
pub fn parse_payloads(first: PayloadType, bytes: &[u8]) -> Result<Vec<Payload>, WireError> {
    chain(first, bytes)
        .map(|(_, p)| p)
        .map_err(|e| finish(e, bytes))
}

/// Bytes needed to emit a payload chain (RFC 7296 §3.2).
pub fn payloads_buffer_len(payloads: &[Payload]) -> usize {
    payloads.iter().fold(0, |n, p| add(n, p.buffer_len()))
}

/// Emit a payload chain into `buf`; the first payload's type goes into the
/// enclosing header (see [`Payload::payload_type`]).
pub fn emit_payloads(payloads: &[Payload], buf: &mut [u8]) -> Result<(), WireError> {
    let mut w = Writer::new(buf);
    let count = payloads.len();
    for (n, p) in payloads.iter().enumerate() {
        let ptype = p.payload_type();
        w.set_payload(Some(ptype));
        let is_last = n.checked_add(1) == Some(count);
        let next = match p {
            Payload::Sk(sk) if is_last => sk.next_inner,
            Payload::Skf(skf) if is_last => skf.next_inner,
            Payload::Sk(_) | Payload::Skf(_) => {
                return Err(w.err("next_payload", Reason::EncryptedNotLast))
            }
            _ => payloads
                .get(n.saturating_add(1))
                .map_or(PayloadType::NO_NEXT_PAYLOAD, Payload::payload_type),
        };
        if ptype == PayloadType::NO_NEXT_PAYLOAD {
            // Type 0 ends the chain, so it cannot name a payload.
            return Err(w.err("payload_type", Reason::Inconsistent));
        }
        w.u8(next.0)?;
        w.u8(if p.critical() { CRITICAL } else { 0 })?;
        let start = w.pos();
        w.len16(p.buffer_len(), "length")?;
        p.emit_body(&mut w)?;
        debug_assert_eq!(
            w.pos().checked_sub(start),
            Some(p.buffer_len().saturating_sub(2))
        );
    }
    Ok(())
}

/// Walk a chain of payloads starting with type `first` over exactly `bytes`.
fn chain(first: PayloadType, bytes: &[u8]) -> PResult<'_, Vec<Payload>> {
    let mut payloads = Vec::new();
    let mut next = first;
    let mut i = bytes;
    while next != PayloadType::NO_NEXT_PAYLOAD {
        if payloads.len() >= MAX_PAYLOADS {
            return fail(i, "payloads", Reason::TooMany);
        }
        let ptype = next;
        let (ni, (p, following)) = in_payload(ptype, one_payload(ptype, i))?;
        payloads.push(p);
        i = ni;
        next = following;
    }
    if !i.is_empty() {
        return fail(i, "payloads", Reason::TrailingBytes);
    }
    Ok((i, payloads))
}

/// Parse one payload: generic header, then the body on an exact slice.
/// Returns the type of the following payload (none after SK/SKF, whose
/// next-payload field names the first inner payload instead).
fn one_payload(ptype: PayloadType, i: &[u8]) -> PResult<'_, (Payload, PayloadType)> {
    let start = i;
    let (i, next) = u8f(i, "next_payload")?;
    let (i, flags) = u8f(i, "critical")?;
    let (i, len) = u16f(i, "length")?;
    let Some(body_len) = usize::from(len).checked_sub(GENERIC_HEADER_LEN) else {
        return fail(start, "length", Reason::LengthTooShort);
    };
    let Some((body, rest)) = i.split_at_checked(body_len) else {
        return fail(start, "length", Reason::LengthOverrun);
    };
    let critical = flags & CRITICAL != 0;
    let (left, p) = Payload::parse_body(ptype, critical, PayloadType(next), body)?;
    if !left.is_empty() {
        return fail(left, "body", Reason::TrailingBytes);
    }
    if p.is_encrypted() {
        if !rest.is_empty() {
            return fail(rest, "next_payload", Reason::EncryptedNotLast);
        }
        return Ok((rest, (p, PayloadType::NO_NEXT_PAYLOAD)));
    }
    Ok((rest, (p, PayloadType(next))))
}

/// Strip the four-zero-byte non-ESP marker from a UDP payload received on
/// port 4500 (RFC 3948 §2.2, RFC 7296 §2.23). Returns `None` for ESP (a
/// non-zero SPI in the first four bytes), for the one-byte NAT-keepalive
/// 0xff (RFC 3948 §2.3), and for anything too short to be either.
pub fn strip_non_esp_marker(udp_payload: &[u8]) -> Option<&[u8]> {
    match udp_payload.split_first_chunk::<4>() {
        Some(([0, 0, 0, 0], rest)) => Some(rest),
        _ => None,
    }
}
