//! `ike::wire`: the IKEv2 wire codec (RFC 7296 §3, RFC 7383 §2.5).
//!
//! Layers, after smoltcp's `wire` module:
//! - [`HeaderPacket`] is a zero-copy view of the 28-byte IKE header, for
//!   routing a datagram by SPI and message ID before any crypto.
//! - [`Message`], [`Header`] and the [`payload`] Reprs are semantic structs
//!   with `parse`, `buffer_len` and `emit`. They hold no derivable fields
//!   (lengths, counts, next-payload, last flags); emit computes those.
//! - [`registry`] holds the IANA numbers as open newtypes, so unknown values
//!   survive parse → emit.
//!
//! Checking contract: untrusted bytes enter only through
//! [`HeaderPacket::new_checked`], [`Message::parse`] or [`parse_payloads`].
//! These check every declared length and count against the bytes present
//! and return a [`WireError`] naming payload, field, offset and reason; no
//! input can make them panic, and every item they allocate consumes input
//! bytes, with fixed caps on item counts ([`MAX_PAYLOADS`] and friends).
//! Emitting writes every byte of a buffer of `buffer_len()` bytes; reserved
//! fields are written as zero and ignored on input (RFC 7296 §2.5).
//!
//! This layer does not decrypt: SK/SKF bodies are opaque. It does not judge
//! semantics either (which payloads an exchange needs); the SA layer does.
#![warn(clippy::arithmetic_side_effects)]

mod codec;
pub mod error;
pub mod header;
mod message;
pub mod payload;
pub mod registry;

pub use error::{Reason, WireError};
pub use header::{Header, HeaderError, HeaderPacket, HeaderRepr, HEADER_LEN};
pub use message::{
    emit_payloads, first_unsupported_critical, parse_payloads, payloads_buffer_len,
    strip_non_esp_marker, Message, GENERIC_HEADER_LEN, MAX_PAYLOADS,
};
pub use payload::*;
pub use registry::*;
