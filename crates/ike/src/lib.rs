//! IKEv2 (RFC 7296) for ikegw: the wire codec, and later the crypto and the
//! sans-IO SA state machine.
//!
//! This crate performs no I/O: no sockets, no clock, no global random number
//! generator. Datagrams, time and randomness come in as arguments; datagrams,
//! kernel requests and timer deadlines go out as values.
#![forbid(unsafe_code)]

#[cfg(feature = "capture")]
pub mod capture;
pub mod crypto;
pub mod error;
#[doc(hidden)]
pub mod fuzzing;
pub mod io;
pub mod policy;
pub mod sa;
pub mod wire;

pub use error::Error;
