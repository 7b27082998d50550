//! The control socket: a typed request/response protocol ([`proto`]), the
//! daemon side ([`server`]) and the thin CLI client ([`client`]).

pub(crate) mod client;
pub(crate) mod proto;
pub(crate) mod server;
