//! illumos PF_KEY v2 and PF_POLICY for ikegw: a byte-exact codec, the illumos
//! socket backend, and a userland key engine that answers the same messages.
//!
//! * [`wire`], [`registry`]: the codec (reference: illumos-pfkey.md §1–§6).
//! * [`build`]: the requests a daemon sends, shared by every backend.
//! * [`transport`]: the seam (`Transport`) and request/reply matching.
//! * [`sys`]: the illumos PF_KEY / PF_POLICY sockets.
//! * [`engine`]: the userland key engine (SADB + SPD with kernel semantics).
//! * [`monitor`]: `ipseckey monitor`-style printing.
//! * [`esp`]: the ESP data plane (RFC 4303) for the userland path over TUN.
//! * [`dataplane`]: [`esp`] driven by the [`engine`]'s SADB/SPD (ACQUIRE
//!   queueing, byte lifetimes, NAT keepalives) and a threaded TUN runner.
//! * `tun` (Linux only): the TUN device the ESP data plane reads and writes.

pub mod build;
pub mod dataplane;
pub mod engine;
pub mod error;
pub mod esp;
#[doc(hidden)]
pub mod fuzzing;
pub mod monitor;
pub mod registry;
pub mod sys;
pub mod transport;
#[cfg(target_os = "linux")]
pub mod tun;
pub mod wire;

pub use error::Error;
