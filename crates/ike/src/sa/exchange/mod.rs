//! One file per exchange (RFC 7296 §1.2–§1.4).

pub(crate) mod auth;
pub(crate) mod auth_eap;
pub(crate) mod create_child;
pub(crate) mod informational;
pub(crate) mod init;

use crate::wire::{Auth, Id, Ke, Nonce, Payload, Sa, Ts};

// Finding a payload by type in a parsed message: shared by every exchange.
// Absence is the caller's to judge (most answer INVALID_SYNTAX via
// `missing`), so these only look.

/// The first SA payload (RFC 7296 §3.3).
pub(crate) fn find_sa(p: &[Payload]) -> Option<&Sa> {
    p.iter().find_map(|x| match x {
        Payload::Sa(s) => Some(s),
        _ => None,
    })
}

/// The first KE payload (RFC 7296 §3.4).
pub(crate) fn find_ke(p: &[Payload]) -> Option<&Ke> {
    p.iter().find_map(|x| match x {
        Payload::Ke(k) => Some(k),
        _ => None,
    })
}

/// The first Nonce payload (RFC 7296 §3.9).
pub(crate) fn find_nonce(p: &[Payload]) -> Option<&Nonce> {
    p.iter().find_map(|x| match x {
        Payload::Nonce(n) => Some(n),
        _ => None,
    })
}

/// The first AUTH payload (RFC 7296 §3.8).
pub(crate) fn find_auth(p: &[Payload]) -> Option<&Auth> {
    p.iter().find_map(|x| match x {
        Payload::Auth(a) => Some(a),
        _ => None,
    })
}

/// IDi when `initiator`, else IDr (RFC 7296 §3.5).
pub(crate) fn find_id(p: &[Payload], initiator: bool) -> Option<&Id> {
    p.iter().find_map(|x| match (x, initiator) {
        (Payload::Idi(i), true) | (Payload::Idr(i), false) => Some(i),
        _ => None,
    })
}

/// TSi when `initiator`, else TSr (RFC 7296 §3.13).
pub(crate) fn find_ts(p: &[Payload], initiator: bool) -> Option<&Ts> {
    p.iter().find_map(|x| match (x, initiator) {
        (Payload::Tsi(t), true) | (Payload::Tsr(t), false) => Some(t),
        _ => None,
    })
}
