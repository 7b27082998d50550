//! ESP data plane (RFC 4303) for the userland IPsec path over a TUN device.
//!
//! Layer: per-SA packet transforms on caller-owned buffers, in boringtun's
//! style: [`OutboundSa::encapsulate`] turns an IP packet read from TUN into
//! an ESP packet, [`InboundSa::decapsulate`] turns an ESP packet into an IP
//! packet for TUN. Nothing allocates per packet, nothing does I/O, nothing
//! reads the clock; the caller owns sockets, the TUN device and threads.
//!
//! Guarantees:
//! - Inbound order is RFC 4303 §3.4: SPI, length/alignment, replay
//!   [`ReplayWindow::check`], integrity, then [`ReplayWindow::accept`],
//!   then padding and next-header checks. Only authenticated packets move
//!   the replay window or the NAT-T peer endpoint.
//! - Every dropped packet yields a typed [`DropReason`] and bumps the SA's
//!   [`DropCounters`]; no input can panic.
//! - Outbound sequence numbers start at 1 and never wrap: the SA refuses to
//!   send once 2^32 − 1 (2^64 − 1 with ESN) is used (RFC 4303 §3.3.3).
//! - Extended Sequence Numbers (RFC 4303 §2.2.1, Appendix A) are supported:
//!   the high half is inferred from the replay window and covered by the
//!   ICV (appended to the HMAC input; in the AES-GCM AAD per RFC 4106 §5).
//! - Keys are held in [`EspKey`] (zeroized, no `Clone`, redacted `Debug`).
//!
//! Submodules: [`replay`] (the window), [`encap`] (UDP encapsulation,
//! RFC 3948), [`mtu`] (inner MTU and ICMP Packet Too Big).

mod crypto;
pub mod encap;
mod error;
mod ip;
pub mod mtu;
pub mod replay;
mod sa;

use core::net::IpAddr;

use zeroize::Zeroizing;

pub use error::{ConfigError, DropReason, Error, IpError, LocalError, ReplayKind, Unsupported};
pub use replay::{ReplayWindow, DEFAULT_REPLAY_WINDOW, MAX_REPLAY_WINDOW};
pub use sa::{
    Decapsulated, DropCounters, InboundSa, InboundTable, OutboundSa, Payload, TrafficCounters,
};

/// ESP header: SPI (4) + sequence number (4), RFC 4303 §2.
pub const ESP_HEADER_LEN: usize = 8;
/// Pad Length + Next Header, RFC 4303 §2.4–2.6.
pub const ESP_TRAILER_LEN: usize = 2;

/// Security Parameters Index, RFC 4303 §2.1 (network order on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Spi(pub u32);

impl core::fmt::Display for Spi {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{:#010x}", self.0)
    }
}

/// Key material for one direction of an ESP SA. Zeroized on drop; no
/// `Clone`; `Debug` shows only the length.
pub struct EspKey(Zeroizing<Vec<u8>>);

impl EspKey {
    /// Takes ownership of already-zeroizing bytes.
    pub fn new(bytes: Zeroizing<Vec<u8>>) -> Self {
        Self(bytes)
    }

    /// Copies `bytes` into a zeroizing buffer.
    pub fn from_slice(bytes: &[u8]) -> Self {
        Self(Zeroizing::new(bytes.to_vec()))
    }

    /// The key bytes. Every use can be found by grepping this name.
    pub fn secret_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True for an empty key.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl core::fmt::Debug for EspKey {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "<secret len={}>", self.0.len())
    }
}

/// ESP encryption transforms offered (the illumos ESP set we use).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum EncryptionAlgorithm {
    /// AES-GCM, 16-byte ICV, 128-bit key; key material is key | 4-byte salt
    /// (RFC 4106 §8.1), 20 bytes.
    AesGcm16_128,
    /// AES-GCM, 16-byte ICV, 256-bit key; 36 bytes of key material.
    AesGcm16_256,
    /// AES-CBC with a 128-bit key (RFC 3602); needs an integrity algorithm.
    AesCbc128,
    /// AES-CBC with a 256-bit key (RFC 3602); needs an integrity algorithm.
    AesCbc256,
}

/// ESP integrity transforms (used with AES-CBC only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[allow(non_camel_case_types)]
pub enum IntegrityAlgorithm {
    /// HMAC-SHA1-96, RFC 2404 (20-byte key, 12-byte ICV).
    HmacSha1_96,
    /// HMAC-SHA-256-128, RFC 4868 (32-byte key, 16-byte ICV).
    HmacSha256_128,
    /// HMAC-SHA-384-192, RFC 4868 (48-byte key, 24-byte ICV).
    HmacSha384_192,
    /// HMAC-SHA-512-256, RFC 4868 (64-byte key, 32-byte ICV).
    HmacSha512_256,
}

impl IntegrityAlgorithm {
    /// Truncated ICV length in bytes.
    pub const fn icv_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 12,
            Self::HmacSha256_128 => 16,
            Self::HmacSha384_192 => 24,
            Self::HmacSha512_256 => 32,
        }
    }

    /// Key length in bytes (RFC 2404 §3, RFC 4868 §2.1.1).
    pub const fn key_len(self) -> usize {
        match self {
            Self::HmacSha1_96 => 20,
            Self::HmacSha256_128 => 32,
            Self::HmacSha384_192 => 48,
            Self::HmacSha512_256 => 64,
        }
    }
}

impl EncryptionAlgorithm {
    /// Key material length in bytes, salt included for GCM.
    pub const fn key_len(self) -> usize {
        match self {
            Self::AesGcm16_128 => 20,
            Self::AesGcm16_256 => 36,
            Self::AesCbc128 => 16,
            Self::AesCbc256 => 32,
        }
    }
}

/// ESP mode, RFC 4303 §3.1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// The whole inner IP packet is protected (Next Header 4 or 41).
    Tunnel,
    /// Only the IP payload is protected; the IP header stays outside
    /// (Next Header = the original protocol).
    Transport,
}

/// UDP encapsulation ports of an SA (RFC 3948); `None` in [`SaParams`] means
/// raw ESP (IP protocol 50).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct NatT {
    /// Our UDP port, normally 4500.
    pub local_port: u16,
    /// The peer's UDP port as last seen (it may differ behind a NAT).
    pub remote_port: u16,
}

/// Everything one direction of an ESP SA needs. `local`/`remote` are the
/// outer (tunnel endpoint) addresses and must be of one family; for an
/// inbound SA `remote` is the sender.
#[derive(Debug)]
pub struct SaParams {
    /// SPI chosen by the receiver of this direction.
    pub spi: Spi,
    /// Encryption transform.
    pub encryption: EncryptionAlgorithm,
    /// Encryption key material (with the salt for GCM).
    pub encryption_key: EspKey,
    /// Integrity transform and key; `None` for AES-GCM, required for CBC.
    pub integrity: Option<(IntegrityAlgorithm, EspKey)>,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Our outer address.
    pub local: IpAddr,
    /// The peer's outer address.
    pub remote: IpAddr,
    /// UDP encapsulation, if negotiated.
    pub nat_t: Option<NatT>,
    /// Anti-replay window in packets (inbound only); 0 disables it.
    pub replay_window: u32,
    /// Extended (64-bit) Sequence Numbers, RFC 4303 §2.2.1, as negotiated
    /// by IKEv2 transform type 5 (RFC 7296 §3.3.2).
    pub esn: bool,
}

impl SaParams {
    fn validate(&self) -> Result<(), ConfigError> {
        if self.spi.0 <= 255 {
            return Err(ConfigError::ReservedSpi(self.spi));
        }
        if self.local.is_ipv4() != self.remote.is_ipv4() {
            return Err(ConfigError::AddressFamily);
        }
        if self.replay_window > MAX_REPLAY_WINDOW {
            return Err(ConfigError::ReplayWindow(self.replay_window));
        }
        Ok(())
    }
}
