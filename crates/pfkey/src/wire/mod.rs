//! PF_KEY v2 (`sadb_msg`) and PF_POLICY (`spd_msg`) wire codec, illumos layout.
//!
//! Layer: bytes ↔ semantic Reprs. No I/O, no allocation beyond the Reprs.
//!
//! Contract (after smoltcp `wire`): untrusted bytes enter only through
//! [`SadbMsgPacket::new_checked`], [`SadbMsg::parse`] or [`SpdMsg::parse`];
//! every declared length (message and extension, in 8-byte words) is checked
//! against the bytes present before anything is read, so no accessor can
//! panic. Emitting asks `buffer_len()` first and then writes every byte of an
//! exactly sized buffer.
//!
//! Byte order follows the illumos reference (§0, §3.2): header and extension
//! fields are host order, which on every illumos target (x86-64, aarch64) is
//! little-endian, so they are encoded explicitly as little-endian here, so
//! that goldens pin the on-illumos layout on any build host. SPIs, PAIR SPIs,
//! SPI-range bounds, ports and addresses are network order.
//!
//! The codec is *structurally* strict (lengths, duplicates, fixed sizes) and
//! *semantically* lenient: kernel output legitimately violates the input rules
//! (over-long key extensions, any flag bit), so keysock's input sanity checks
//! live in [`crate::engine::validate`], not here.
#![warn(clippy::arithmetic_side_effects)]

pub mod ext;
pub mod msg;
pub mod policy;
pub mod sockaddr;

pub use ext::*;
pub use msg::*;
pub use policy::*;
pub use sockaddr::SockAddr;

/// PF_KEY_V2: the `sadb_msg_version` value and socket protocol (pfkeyv2.h).
pub const PF_KEY_V2: u8 = 2;
/// PF_POLICY_V1: the `spd_msg_version` value and socket protocol (pfpolicy.h).
pub const PF_POLICY_V1: u8 = 1;
/// Size of `sadb_msg_t` / `spd_msg_t`.
pub const HEADER_LEN: usize = 16;
/// Largest message a 16-bit word count can describe (65535 × 8 bytes).
pub const MAX_MSG_LEN: usize = 65535 * 8;

/// Which extension a decode error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExtName {
    /// The 16-byte message header.
    Header,
    /// A PF_KEY extension.
    Sadb(crate::registry::SadbExtType),
    /// A PF_POLICY extension.
    Spd(crate::registry::SpdExtType),
}

impl core::fmt::Display for ExtName {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Header => f.write_str("header"),
            Self::Sadb(t) => write!(f, "{t}"),
            Self::Spd(t) => write!(f, "{t}"),
        }
    }
}

/// A message could not be decoded: blame lies with whoever wrote the bytes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Fewer than 16 bytes.
    #[error("message of {len} bytes is shorter than the 16-byte header")]
    ShortHeader {
        /// Bytes received.
        len: usize,
    },
    /// `sadb_msg_len`/`spd_msg_len` × 8 differs from the bytes received
    /// (keysock answers EMSGSIZE).
    #[error("header declares {declared_words} words ({} bytes) but {actual} bytes arrived", usize::from(*declared_words) * 8)]
    LengthMismatch {
        /// The header's word count.
        declared_words: u16,
        /// Bytes actually present.
        actual: usize,
    },
    /// An extension length of 0 words or one running past the message.
    #[error("{ext} at offset {offset}: extension length {len_words} words is zero or runs past the message")]
    BadExtLen {
        /// The extension.
        ext: ExtName,
        /// Byte offset of the extension in the message.
        offset: usize,
        /// Its declared length in words.
        len_words: u16,
    },
    /// A second extension of a type already seen (keysock `KGE_DUP`).
    #[error("{ext} at offset {offset}: duplicate extension")]
    Duplicate {
        /// The extension.
        ext: ExtName,
        /// Byte offset of the second copy.
        offset: usize,
    },
    /// The extension's body does not fit its type's layout.
    #[error("{ext} at offset {offset}: {reason}")]
    Malformed {
        /// The extension.
        ext: ExtName,
        /// Byte offset of the extension.
        offset: usize,
        /// What was wrong.
        reason: &'static str,
    },
}

/// A Repr cannot be encoded (our own bug or an oversized value).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EmitError {
    /// The message or an extension exceeds 65535 words.
    #[error("{what} is {len} bytes, more than a 16-bit word count can describe")]
    TooLong {
        /// Which part.
        what: &'static str,
        /// Its size in bytes.
        len: usize,
    },
    /// A count field (numalgs, numecombs, sens_len) overflows its width.
    #[error("{what} count {count} does not fit its field")]
    CountOverflow {
        /// Which count.
        what: &'static str,
        /// The value.
        count: usize,
    },
}

/// Round `n` up to a multiple of 8, saturating at `usize::MAX & !7`.
pub(crate) fn pad8(n: usize) -> usize {
    n.checked_add(7).map_or(usize::MAX & !7, |v| v & !7)
}

/// Bytes → 16-bit word count, or an error naming `what`.
pub(crate) fn words(len: usize, what: &'static str) -> Result<u16, EmitError> {
    u16::try_from(len / 8).map_err(|_| EmitError::TooLong { what, len })
}

/// A bounds-checked little cursor over an extension or message body.
///
/// Every read returns `None` past the end instead of panicking; callers turn
/// that into a [`DecodeError::Malformed`] naming the extension.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len().saturating_sub(self.pos)
    }
    pub(crate) fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        let end = self.pos.checked_add(n)?;
        let s = self.buf.get(self.pos..end)?;
        self.pos = end;
        Some(s)
    }
    pub(crate) fn rest(&mut self) -> &'a [u8] {
        let s = self.buf.get(self.pos..).unwrap_or(&[]);
        self.pos = self.buf.len();
        s
    }
    fn arr<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.take(N)?.try_into().ok()
    }
    pub(crate) fn u8(&mut self) -> Option<u8> {
        self.arr::<1>().map(|a| a[0])
    }
    pub(crate) fn u16le(&mut self) -> Option<u16> {
        self.arr().map(u16::from_le_bytes)
    }
    pub(crate) fn u16be(&mut self) -> Option<u16> {
        self.arr().map(u16::from_be_bytes)
    }
    pub(crate) fn u32le(&mut self) -> Option<u32> {
        self.arr().map(u32::from_le_bytes)
    }
    pub(crate) fn u32be(&mut self) -> Option<u32> {
        self.arr().map(u32::from_be_bytes)
    }
    pub(crate) fn u64le(&mut self) -> Option<u64> {
        self.arr().map(u64::from_le_bytes)
    }
    pub(crate) fn array<const N: usize>(&mut self) -> Option<[u8; N]> {
        self.arr()
    }
}

/// A cursor writing into an exactly sized buffer.
///
/// Emitters size the buffer with `buffer_len()` first; a write past the end
/// is an internal bug, caught by `debug_assert!` and otherwise dropped, never
/// a panic in release builds.
pub(crate) struct Writer<'a> {
    buf: &'a mut [u8],
    pos: usize,
}

impl<'a> Writer<'a> {
    pub(crate) fn new(buf: &'a mut [u8]) -> Self {
        Self { buf, pos: 0 }
    }
    pub(crate) fn bytes(&mut self, b: &[u8]) {
        let end = self.pos.saturating_add(b.len());
        match self.buf.get_mut(self.pos..end) {
            Some(dst) => dst.copy_from_slice(b),
            None => debug_assert!(false, "emit past the end of the buffer"),
        }
        self.pos = end;
    }
    pub(crate) fn zeros(&mut self, n: usize) {
        let end = self.pos.saturating_add(n);
        match self.buf.get_mut(self.pos..end) {
            Some(dst) => dst.fill(0),
            None => debug_assert!(false, "emit past the end of the buffer"),
        }
        self.pos = end;
    }
    pub(crate) fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    pub(crate) fn u16le(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    pub(crate) fn u16be(&mut self, v: u16) {
        self.bytes(&v.to_be_bytes());
    }
    pub(crate) fn u32le(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    pub(crate) fn u32be(&mut self, v: u32) {
        self.bytes(&v.to_be_bytes());
    }
    pub(crate) fn u64le(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    pub(crate) fn pos(&self) -> usize {
        self.pos
    }
}
