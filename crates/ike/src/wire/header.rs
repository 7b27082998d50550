//! The 28-byte IKE header (RFC 7296 §3.1): a zero-copy [`HeaderPacket`] view
//! for routing a datagram before any crypto, and the [`Header`] Repr.
//!
//! Checking contract (as in smoltcp): untrusted bytes go through
//! [`HeaderPacket::new_checked`]; after that no accessor can panic. The view
//! checks only the header; [`super::Message::parse`] checks the payloads.

use super::registry::{ExchangeType, PayloadType};

/// Byte ranges of the header fields (RFC 7296 §3.1).
mod field {
    use core::ops::Range;

    pub(super) const SPI_I: Range<usize> = 0..8;
    pub(super) const SPI_R: Range<usize> = 8..16;
    pub(super) const NEXT_PAYLOAD: usize = 16;
    pub(super) const VERSION: usize = 17;
    pub(super) const EXCHANGE: usize = 18;
    pub(super) const FLAGS: usize = 19;
    pub(super) const MESSAGE_ID: Range<usize> = 20..24;
    pub(super) const LENGTH: Range<usize> = 24..28;
}

/// Length of the IKE header in bytes (RFC 7296 §3.1).
pub const HEADER_LEN: usize = field::LENGTH.end;

/// Offset of the version byte, for error reports.
pub(crate) const VERSION_OFFSET: usize = field::VERSION;
/// Offset of the length field, for error reports.
pub(crate) const LENGTH_OFFSET: usize = field::LENGTH.start;

/// Flag bits of the IKE header (RFC 7296 §3.1).
pub mod flags {
    /// Response bit: this message answers a request.
    pub const RESPONSE: u8 = 0x20;
    /// Version bit: the sender could speak a higher major version.
    pub const VERSION: u8 = 0x10;
    /// Initiator bit: sent by the original initiator of the IKE SA.
    pub const INITIATOR: u8 = 0x08;
}

/// Why a buffer cannot be viewed as an IKE header (RFC 7296 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer than 28 bytes.
    #[error("shorter than the 28-byte IKE header")]
    Truncated,
    /// The length field is below 28 or above the buffer length.
    #[error("IKE header length field {0} does not fit the buffer")]
    BadLength(u32),
}

/// A read-only or writable view of an IKE header at the start of a buffer
/// (RFC 7296 §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeaderPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> HeaderPacket<T> {
    /// Wrap without checking; accessors may then return zero for missing
    /// bytes but never panic. Use for emitting into a buffer of known size.
    pub const fn new_unchecked(buffer: T) -> Self {
        Self { buffer }
    }

    /// Wrap after [`Self::check_len`] (RFC 7296 §3.1).
    pub fn new_checked(buffer: T) -> Result<Self, HeaderError> {
        let p = Self::new_unchecked(buffer);
        p.check_len()?;
        Ok(p)
    }

    /// Check that the buffer holds a full header and that the length field
    /// is at least 28 and at most the buffer length.
    pub fn check_len(&self) -> Result<(), HeaderError> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(HeaderError::Truncated);
        }
        let declared = self.length();
        let fits = usize::try_from(declared).is_ok_and(|d| (HEADER_LEN..=len).contains(&d));
        if fits {
            Ok(())
        } else {
            Err(HeaderError::BadLength(declared))
        }
    }

    /// Give back the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn array<const N: usize>(&self, r: core::ops::Range<usize>) -> [u8; N] {
        let mut out = [0u8; N];
        if let Some(src) = self.buffer.as_ref().get(r) {
            if src.len() == N {
                out.copy_from_slice(src);
            }
        }
        out
    }

    fn byte(&self, at: usize) -> u8 {
        self.buffer.as_ref().get(at).copied().unwrap_or(0)
    }

    /// IKE SA Initiator's SPI.
    pub fn spi_i(&self) -> u64 {
        u64::from_be_bytes(self.array(field::SPI_I))
    }

    /// IKE SA Responder's SPI (zero in the first IKE_SA_INIT request).
    pub fn spi_r(&self) -> u64 {
        u64::from_be_bytes(self.array(field::SPI_R))
    }

    /// Type of the first payload.
    pub fn next_payload(&self) -> PayloadType {
        PayloadType(self.byte(field::NEXT_PAYLOAD))
    }

    /// Major version (upper nibble; 2 for IKEv2).
    pub fn major_version(&self) -> u8 {
        self.byte(field::VERSION) >> 4
    }

    /// Minor version (lower nibble).
    pub fn minor_version(&self) -> u8 {
        self.byte(field::VERSION) & 0x0f
    }

    /// Exchange type.
    pub fn exchange_type(&self) -> ExchangeType {
        ExchangeType(self.byte(field::EXCHANGE))
    }

    /// The raw flags byte.
    pub fn flags(&self) -> u8 {
        self.byte(field::FLAGS)
    }

    /// The I(nitiator) flag.
    pub fn is_initiator(&self) -> bool {
        self.flags() & flags::INITIATOR != 0
    }

    /// The R(esponse) flag.
    pub fn is_response(&self) -> bool {
        self.flags() & flags::RESPONSE != 0
    }

    /// The V(ersion) flag.
    pub fn version_flag(&self) -> bool {
        self.flags() & flags::VERSION != 0
    }

    /// Message ID.
    pub fn message_id(&self) -> u32 {
        u32::from_be_bytes(self.array(field::MESSAGE_ID))
    }

    /// Total message length, header included.
    pub fn length(&self) -> u32 {
        u32::from_be_bytes(self.array(field::LENGTH))
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> HeaderPacket<T> {
    fn set(&mut self, r: core::ops::Range<usize>, v: &[u8]) {
        if let Some(dst) = self.buffer.as_mut().get_mut(r) {
            if dst.len() == v.len() {
                dst.copy_from_slice(v);
            }
        }
    }

    fn set_byte(&mut self, at: usize, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(at) {
            *b = v;
        }
    }

    /// Set the initiator's SPI.
    pub fn set_spi_i(&mut self, v: u64) {
        self.set(field::SPI_I, &v.to_be_bytes());
    }

    /// Set the responder's SPI.
    pub fn set_spi_r(&mut self, v: u64) {
        self.set(field::SPI_R, &v.to_be_bytes());
    }

    /// Set the first payload's type.
    pub fn set_next_payload(&mut self, v: PayloadType) {
        self.set_byte(field::NEXT_PAYLOAD, v.0);
    }

    /// Set major and minor version (each 4 bits; higher bits are dropped).
    pub fn set_version(&mut self, major: u8, minor: u8) {
        self.set_byte(field::VERSION, ((major & 0x0f) << 4) | (minor & 0x0f));
    }

    /// Set the exchange type.
    pub fn set_exchange_type(&mut self, v: ExchangeType) {
        self.set_byte(field::EXCHANGE, v.0);
    }

    /// Set the raw flags byte.
    pub fn set_flags(&mut self, v: u8) {
        self.set_byte(field::FLAGS, v);
    }

    /// Set the message ID.
    pub fn set_message_id(&mut self, v: u32) {
        self.set(field::MESSAGE_ID, &v.to_be_bytes());
    }

    /// Set the total length.
    pub fn set_length(&mut self, v: u32) {
        self.set(field::LENGTH, &v.to_be_bytes());
    }
}

/// The IKE major version this codec speaks (RFC 7296 §3.1).
pub const IKE_MAJOR_VERSION: u8 = 2;

/// The semantic IKE header (RFC 7296 §3.1). The next-payload and length
/// fields are derived on emit; the major version is always 2 (others are
/// rejected on parse with INVALID_MAJOR_VERSION, RFC 7296 §2.5).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Header {
    /// IKE SA Initiator's SPI.
    pub spi_i: u64,
    /// IKE SA Responder's SPI.
    pub spi_r: u64,
    /// Minor version (0 for RFC 7296 implementations).
    pub minor_version: u8,
    /// Exchange type.
    pub exchange: ExchangeType,
    /// I flag: sent by the original initiator.
    pub initiator: bool,
    /// V flag: the sender can speak a higher major version.
    pub version_flag: bool,
    /// R flag: this message is a response.
    pub response: bool,
    /// Message ID.
    pub message_id: u32,
}

/// The Repr of [`HeaderPacket`] under the house naming (STYLE.md §3).
pub type HeaderRepr = Header;

impl Header {
    /// Read the semantic fields from a checked view. Reserved flag bits are
    /// ignored (RFC 7296 §3.1).
    pub fn parse<T: AsRef<[u8]>>(p: &HeaderPacket<T>) -> Self {
        Self {
            spi_i: p.spi_i(),
            spi_r: p.spi_r(),
            minor_version: p.minor_version(),
            exchange: p.exchange_type(),
            initiator: p.is_initiator(),
            version_flag: p.version_flag(),
            response: p.is_response(),
            message_id: p.message_id(),
        }
    }

    /// The flags byte this header emits.
    pub fn flags_byte(&self) -> u8 {
        let mut f = 0;
        if self.initiator {
            f |= flags::INITIATOR;
        }
        if self.version_flag {
            f |= flags::VERSION;
        }
        if self.response {
            f |= flags::RESPONSE;
        }
        f
    }

    /// Write every header byte, given the derived next-payload and length.
    pub fn emit<T: AsRef<[u8]> + AsMut<[u8]>>(
        &self,
        p: &mut HeaderPacket<T>,
        next_payload: PayloadType,
        length: u32,
    ) {
        p.set_spi_i(self.spi_i);
        p.set_spi_r(self.spi_r);
        p.set_next_payload(next_payload);
        p.set_version(IKE_MAJOR_VERSION, self.minor_version);
        p.set_exchange_type(self.exchange);
        p.set_flags(self.flags_byte());
        p.set_message_id(self.message_id);
        p.set_length(length);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    static HEADER_BYTES: [u8; 28] = [
        0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, // SPIi
        0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff, 0x00, // SPIr
        0x27, 0x20, 0x23, 0x28, // next AUTH, version 2.0, IKE_AUTH, I+R
        0x00, 0x00, 0x00, 0x01, // message id
        0x00, 0x00, 0x00, 0x1c, // length 28
    ];

    fn header() -> Header {
        Header {
            spi_i: 0x1122_3344_5566_7788,
            spi_r: 0x99aa_bbcc_ddee_ff00,
            minor_version: 0,
            exchange: ExchangeType::IKE_AUTH,
            initiator: true,
            version_flag: false,
            response: true,
            message_id: 1,
        }
    }

    #[test]
    fn view_reads_every_field() {
        let bytes = HEADER_BYTES;
        let p = HeaderPacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.spi_i(), 0x1122_3344_5566_7788);
        assert_eq!(p.next_payload(), PayloadType::AUTH);
        assert_eq!(p.major_version(), 2);
        assert_eq!(p.exchange_type(), ExchangeType::IKE_AUTH);
        assert!(p.is_initiator() && p.is_response() && !p.version_flag());
        assert_eq!(p.message_id(), 1);
        assert_eq!(p.length(), 28);
        assert_eq!(Header::parse(&p), header());
    }

    #[test]
    fn emit_into_poisoned_buffer_writes_every_byte() {
        let expected = HEADER_BYTES;
        let mut buf = [0xa5u8; 28];
        let mut p = HeaderPacket::new_unchecked(&mut buf[..]);
        header().emit(&mut p, PayloadType::AUTH, 28);
        assert_eq!(buf, expected);
    }

    #[test]
    fn rejects_short_buffer_and_bad_length() {
        assert_eq!(
            HeaderPacket::new_checked(&HEADER_BYTES[..27]).unwrap_err(),
            HeaderError::Truncated
        );
        let mut b = HEADER_BYTES;
        b[27] = 29;
        assert_eq!(
            HeaderPacket::new_checked(&b[..]).unwrap_err(),
            HeaderError::BadLength(29)
        );
        b[27] = 27;
        assert_eq!(
            HeaderPacket::new_checked(&b[..]).unwrap_err(),
            HeaderError::BadLength(27)
        );
    }
}
