//! ESP data-plane errors, split by who is to blame (STYLE §5).
//!
//! [`DropReason`]: an inbound packet is dropped because the peer or the network
//! sent something that fails a check; each reason has a per-SA counter
//! ([`super::DropCounters`]). [`LocalError`]: our own caller asked for something
//! impossible (buffer too small, a packet from the TUN device that does not fit
//! the SA, an exhausted sequence space, a bad SA configuration). No variant
//! carries key material.

use super::{Mode, Spi};

/// Any failure of the ESP data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An inbound packet was dropped; the remote side or the network is to blame.
    #[error("ESP packet dropped: {0}")]
    Drop(#[from] DropReason),
    /// The local caller or configuration is to blame.
    #[error("ESP local error: {0}")]
    Local(#[from] LocalError),
}

/// Why an inbound ESP packet was dropped (RFC 4303 §3.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DropReason {
    /// Shorter than header + IV + minimal ciphertext + ICV for this SA.
    #[error("packet of {len} bytes is shorter than the {min} bytes the SA needs")]
    Truncated {
        /// Bytes received.
        len: usize,
        /// Smallest length this SA accepts.
        min: usize,
    },
    /// No inbound SA for this SPI (RFC 4303 §3.4.2), or the packet was handed
    /// to an SA with another SPI.
    #[error("no inbound SA for SPI {0}")]
    UnknownSpi(Spi),
    /// The ciphertext does not fill whole cipher blocks / 4-byte words
    /// (RFC 4303 §2.4).
    #[error("ciphertext of {len} bytes is not a multiple of {align}")]
    Misaligned {
        /// Ciphertext length.
        len: usize,
        /// Required alignment.
        align: usize,
    },
    /// Rejected by the anti-replay window (RFC 4303 §3.4.3).
    #[error("sequence number {seq}: {kind}")]
    Replay {
        /// The sequence number (with ESN, the inferred 64-bit value).
        seq: u64,
        /// Which replay check failed.
        kind: ReplayKind,
    },
    /// The integrity check value did not verify (RFC 4303 §3.4.4).
    #[error("ICV mismatch on SPI {0}")]
    IcvMismatch(Spi),
    /// The Pad Length exceeds the decrypted payload (RFC 4303 §2.4, §2.5).
    #[error("pad length {pad_len} does not fit in {available} bytes")]
    BadPadLength {
        /// Pad Length field.
        pad_len: u8,
        /// Bytes of plaintext in front of the trailer.
        available: usize,
    },
    /// The padding is not the default monotonic 1, 2, 3, … (RFC 4303 §2.4).
    #[error("pad byte {index} is {value}, not {expected}")]
    BadPadBytes {
        /// Zero-based index in the padding.
        index: usize,
        /// Byte found.
        value: u8,
        /// Byte expected (index + 1).
        expected: u8,
    },
    /// The Next Header does not fit the SA mode (tunnel mode carries only
    /// IPv4 (4), IPv6 (41) or dummy (59), RFC 4303 §2.6).
    #[error("next header {next_header} not allowed in {mode:?} mode")]
    BadNextHeader {
        /// Next Header field.
        next_header: u8,
        /// The SA's mode.
        mode: Mode,
    },
    /// The decrypted inner packet is not a well-formed IP packet.
    #[error("inner packet: {0}")]
    BadInnerPacket(IpError),
}

/// Which anti-replay check failed (RFC 4303 §3.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplayKind {
    /// Sequence number 0 is never sent (RFC 4303 §3.3.3).
    Zero,
    /// Left of the window (with ESN: also a low half that can only belong
    /// before the first block, RFC 4303 Appendix A2.2).
    TooOld,
    /// Already received.
    Duplicate,
}

impl core::fmt::Display for ReplayKind {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Zero => "zero is never a valid sequence number",
            Self::TooOld => "left of the replay window",
            Self::Duplicate => "already received",
        })
    }
}

/// A failure on our side of the data plane.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LocalError {
    /// The caller's output buffer is too small.
    #[error("output buffer of {have} bytes, need {need}")]
    BufferTooSmall {
        /// Bytes needed.
        need: usize,
        /// Bytes given.
        have: usize,
    },
    /// The next outbound sequence number would wrap (2^32 − 1 used, or
    /// 2^64 − 1 with ESN): the SA must be rekeyed (RFC 4303 §3.3.3).
    #[error("outbound sequence numbers exhausted; rekey the SA")]
    SequenceExhausted,
    /// The packet to protect is not a well-formed IP packet.
    #[error("packet to protect: {0}")]
    InnerPacket(IpError),
    /// A transport-mode packet whose addresses are not the SA's.
    #[error("packet addresses do not match the transport-mode SA")]
    AddressMismatch,
    /// The packet needs something this implementation does not do.
    #[error("unsupported: {0}")]
    Unsupported(Unsupported),
    /// The SA parameters are inconsistent.
    #[error("SA configuration: {0}")]
    Config(ConfigError),
    /// The cipher refused to seal (only for inputs beyond its limits).
    #[error("cipher failed to seal")]
    Crypto,
}

/// Packets we decline to protect, by design or for now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unsupported {
    /// Transport mode over an IPv4 fragment (ESP is applied before
    /// fragmentation, RFC 4303 §3.3.4).
    Ipv4Fragment,
    /// Transport mode over an IPv6 packet with extension headers.
    Ipv6ExtensionHeaders,
    /// Transport-mode inner and outer address families differ.
    FamilyMismatch,
    /// The payload would not fit the IP length field.
    Oversize,
}

impl core::fmt::Display for Unsupported {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Self::Ipv4Fragment => "transport mode over an IPv4 fragment",
            Self::Ipv6ExtensionHeaders => "transport mode over IPv6 extension headers",
            Self::FamilyMismatch => "transport mode across address families",
            Self::Oversize => "payload too long for the IP length field",
        })
    }
}

/// Inconsistent SA parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// Key length does not match the algorithm.
    #[error("{what} key is {len} bytes, expected {expected}")]
    KeyLength {
        /// Which key.
        what: &'static str,
        /// Bytes given.
        len: usize,
        /// Bytes the algorithm needs.
        expected: usize,
    },
    /// AES-CBC needs an integrity algorithm (we never offer ESP without one).
    #[error("AES-CBC requires an integrity algorithm")]
    MissingIntegrity,
    /// AES-GCM is a combined mode, so it takes no separate integrity
    /// transform (RFC 4106 §1, RFC 7296 §3.3).
    #[error("AES-GCM must not have a separate integrity algorithm")]
    UnexpectedIntegrity,
    /// Replay window larger than [`super::MAX_REPLAY_WINDOW`].
    #[error("replay window {0} exceeds the maximum")]
    ReplayWindow(u32),
    /// The local and remote addresses are of different families.
    #[error("local and remote addresses differ in family")]
    AddressFamily,
    /// SPI values 0..=255 are reserved (RFC 4303 §2.1).
    #[error("SPI {0} is reserved")]
    ReservedSpi(Spi),
    /// The random generator failed.
    #[error("random generator failed")]
    Random,
}

/// Why bytes are not an acceptable IP packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IpError {
    /// Fewer bytes than the fixed header.
    #[error("{len} bytes is shorter than an IP header")]
    Truncated {
        /// Bytes present.
        len: usize,
    },
    /// Version nibble is neither 4 nor 6, or disagrees with Next Header.
    #[error("IP version {0} unexpected")]
    Version(u8),
    /// IPv4 IHL below 5 or beyond the buffer.
    #[error("IPv4 header length {0} invalid")]
    HeaderLength(usize),
    /// The IP total/payload length disagrees with the bytes present.
    #[error("IP length {declared} but {present} bytes present")]
    Length {
        /// Length from the header.
        declared: usize,
        /// Bytes available.
        present: usize,
    },
}
