//! illumos PF_KEY v2 and PF_POLICY for ikegw: a byte-exact codec, the illumos
//! socket backend, and a userland key engine that answers the same messages.
//!
//! * [`wire`], [`registry`]: the codec (reference: illumos-pfkey.md §1–§6).
//! * [`build`]: the requests a daemon sends, shared by every backend.
//! * [`transport`]: the seam (`Transport`) and request/reply matching.
//! * [`sys`]: the illumos PF_KEY / PF_POLICY sockets.
//! * [`engine`]: the userland key engine (SADB + SPD with kernel semantics).
//! * [`monitor`]: `ipseckey monitor`-style printing.

pub mod build;
pub mod engine;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod monitor;
pub mod registry;
pub mod sys;
pub mod transport;
pub mod wire;

pub use error::Error;
