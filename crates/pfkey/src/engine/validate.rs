//! keysock's framing and extension sanity checks (reference §1.2) and the
//! ESP module's address normalisation (`sadb_addrfix`, §3.3), as pure
//! functions returning the (errno, diagnostic) the kernel would answer.

use std::net::{IpAddr, Ipv4Addr};

use crate::registry::{Errno, SadbDiagnostic as D, SadbExtType, SadbMsgType};
use crate::wire::{
    AddressExt, AddressKind, DecodeError, ExtName, RawExtIter, SadbMsg, SadbMsgPacket, SockAddr,
    HEADER_LEN,
};

/// A kernel-style failure: errno plus diagnostic.
pub type Reject = (Errno, D);

const fn einval(d: D) -> Reject {
    (Errno::EINVAL, d)
}

/// keysock_parse + keysock_get_ext + ext_check on raw bytes.
///
/// Order, as in keysock.c `keysock_parse`/`keysock_get_ext` (read from
/// the illumos source): byte count vs `sadb_msg_len` (EMSGSIZE); then for
/// each extension in turn: type range (UNKNOWN_EXT), length (BAD_EXTLEN),
/// duplicate (per-type DUPLICATE_*), per-type sanity check (per-type
/// MALFORMED_*); only then is the message type looked at (UNKNOWN_MSG for
/// 0 and anything above `SADB_MAX`).
pub fn frame_check(bytes: &[u8]) -> Result<(), Reject> {
    let pkt = SadbMsgPacket::new_unchecked(bytes);
    if bytes.len() < HEADER_LEN || pkt.check_len().is_err() {
        return Err((Errno::EMSGSIZE, D::SADB_X_DIAGNOSTIC_NONE));
    }
    let mut seen: Vec<u16> = Vec::new();
    for raw in RawExtIter::new(bytes) {
        let raw = match raw {
            Ok(r) => r,
            Err(e) => {
                // keysock checks the type before the length.
                if let DecodeError::BadExtLen {
                    ext: ExtName::Sadb(t),
                    ..
                } = e
                {
                    if t.0 == 0 || t.0 > SadbExtType::SADB_EXT_MAX {
                        return Err(einval(D::SADB_X_DIAGNOSTIC_UNKNOWN_EXT));
                    }
                }
                return Err(einval(D::SADB_X_DIAGNOSTIC_BAD_EXTLEN));
            }
        };
        if raw.ext_type == 0 || raw.ext_type > SadbExtType::SADB_EXT_MAX {
            return Err(einval(D::SADB_X_DIAGNOSTIC_UNKNOWN_EXT));
        }
        if seen.contains(&raw.ext_type) {
            return Err(einval(D::duplicate_of(SadbExtType(raw.ext_type))));
        }
        seen.push(raw.ext_type);
        // ext_check runs on each extension as it is walked, so a
        // malformed extension is reported before a later unknown one.
        let t = SadbExtType(raw.ext_type);
        let bad = || einval(D::malformed_of(t));
        let body = raw.bytes;
        match t {
            SadbExtType::SADB_EXT_ADDRESS_SRC
            | SadbExtType::SADB_EXT_ADDRESS_DST
            | SadbExtType::SADB_X_EXT_ADDRESS_INNER_SRC
            | SadbExtType::SADB_X_EXT_ADDRESS_INNER_DST
                if raw.len_words <= 1 =>
            {
                return Err(bad());
            }
            SadbExtType::SADB_EXT_LIFETIME_CURRENT
            | SadbExtType::SADB_EXT_LIFETIME_HARD
            | SadbExtType::SADB_EXT_LIFETIME_SOFT
                if raw.len_words != 4 =>
            {
                return Err(bad());
            }
            SadbExtType::SADB_EXT_SPIRANGE => {
                let min = body.get(4..8).and_then(|s| s.try_into().ok());
                let max = body.get(8..12).and_then(|s| s.try_into().ok());
                match (min, max) {
                    (Some(a), Some(b)) if u32::from_be_bytes(a) <= u32::from_be_bytes(b) => {}
                    _ => return Err(bad()),
                }
            }
            SadbExtType::SADB_EXT_KEY_AUTH | SadbExtType::SADB_EXT_KEY_ENCRYPT => {
                let bits = body
                    .get(4..6)
                    .and_then(|s| s.try_into().ok())
                    .map(u16::from_le_bytes)
                    .unwrap_or(0);
                let want = usize::from(bits / 8).div_ceil(8) * 8 + 8;
                let material = body.get(8..).unwrap_or(&[]);
                if bits == 0 || body.len() != want || material.iter().all(|&b| b == 0) {
                    return Err(bad());
                }
            }
            SadbExtType::SADB_X_EXT_STR_AUTH => {
                let bits = body
                    .get(4..6)
                    .and_then(|s| s.try_into().ok())
                    .map(u16::from_le_bytes)
                    .unwrap_or(0);
                if bits == 0 || bits > 640 {
                    return Err(bad());
                }
            }
            _ => {}
        }
    }
    let t = pkt.msg_type();
    if t.0 == 0 || t.0 > SadbMsgType::SADB_MAX {
        return Err(einval(D::SADB_X_DIAGNOSTIC_UNKNOWN_MSG));
    }
    Ok(())
}

/// Map a codec rejection (after `frame_check` passed) to the kernel answer:
/// structural faults of a typed extension are its MALFORMED diagnostic.
pub fn decode_reject(e: &DecodeError) -> Reject {
    match e {
        DecodeError::ShortHeader { .. } | DecodeError::LengthMismatch { .. } => {
            (Errno::EMSGSIZE, D::SADB_X_DIAGNOSTIC_NONE)
        }
        DecodeError::BadExtLen { .. } => einval(D::SADB_X_DIAGNOSTIC_BAD_EXTLEN),
        DecodeError::Duplicate {
            ext: ExtName::Sadb(t),
            ..
        } => einval(D::duplicate_of(*t)),
        DecodeError::Malformed {
            ext: ExtName::Sadb(t),
            ..
        } => einval(D::malformed_of(*t)),
        _ => einval(D::SADB_X_DIAGNOSTIC_NONE),
    }
}

/// Is `ip` one of the engine's local addresses?
pub(crate) fn is_local(locals: &[IpAddr], ip: IpAddr) -> bool {
    locals.contains(&ip)
}

fn v4_mapped(a: &mut AddressExt, inner: bool) {
    if let SockAddr::V6 { addr, port, .. } = &a.addr {
        if let Some(v4) = addr.to_ipv4_mapped() {
            a.addr = SockAddr::V4 {
                addr: v4,
                port: *port,
            };
            if inner {
                a.prefixlen = a.prefixlen.saturating_sub(96);
            }
        }
    }
}

fn mask(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip {
        IpAddr::V4(a) => {
            let bits = u32::from(a);
            let m = u32::MAX
                .checked_shl(32u32.saturating_sub(u32::from(prefix)))
                .unwrap_or(0);
            IpAddr::V4(Ipv4Addr::from(bits & m))
        }
        IpAddr::V6(a) => {
            let bits = u128::from(a);
            let m = u128::MAX
                .checked_shl(128u32.saturating_sub(u32::from(prefix)))
                .unwrap_or(0);
            IpAddr::V6((bits & m).into())
        }
    }
}

/// `sadb_addrcheck`/`sadb_addrfix` on every address extension of a message
/// bound for ESP (reference §3.3). Rewrites in place (v4-mapped → IPv4,
/// inner host bits cleared, unspecified v6 SRC with v4 DST → 0.0.0.0).
pub fn addrfix(m: &mut SadbMsg, locals: &[IpAddr], has_inner: bool) -> Result<(), Reject> {
    use crate::wire::Extension;
    let mut src_fam = None;
    let mut dst_fam = None;
    let mut inner_fams = Vec::new();
    let mut outer_ports = false;
    let mut inner_ports = false;
    for e in &mut m.exts {
        let Extension::Address(kind, a) = e else {
            continue;
        };
        let (bad_af, is_inner) = match kind {
            AddressKind::Src => (D::SADB_X_DIAGNOSTIC_BAD_SRC_AF, false),
            AddressKind::Dst => (D::SADB_X_DIAGNOSTIC_BAD_DST_AF, false),
            AddressKind::InnerSrc => (D::SADB_X_DIAGNOSTIC_BAD_INNER_SRC_AF, true),
            AddressKind::InnerDst => (D::SADB_X_DIAGNOSTIC_BAD_INNER_DST_AF, true),
            AddressKind::NattLoc => (D::SADB_X_DIAGNOSTIC_BAD_NATT_LOC_AF, false),
            AddressKind::NattRem => (D::SADB_X_DIAGNOSTIC_BAD_NATT_REM_AF, false),
        };
        let Some(_) = a.addr.ip() else {
            return Err(einval(bad_af));
        };
        v4_mapped(a, is_inner);
        let ip = a.addr.ip().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        match kind {
            AddressKind::Src => {
                let bcast = matches!(ip, IpAddr::V4(v) if v.is_broadcast());
                if ip.is_multicast() || bcast {
                    return Err(einval(D::SADB_X_DIAGNOSTIC_BAD_SRC));
                }
                src_fam = Some(ip.is_ipv4());
                outer_ports |= a.addr.port() != 0;
            }
            AddressKind::Dst => {
                if ip.is_unspecified() {
                    return Err(einval(D::SADB_X_DIAGNOSTIC_BAD_DST));
                }
                dst_fam = Some(ip.is_ipv4());
                outer_ports |= a.addr.port() != 0;
            }
            AddressKind::InnerSrc | AddressKind::InnerDst => {
                let max = if ip.is_ipv4() { 32 } else { 128 };
                if a.prefixlen > max {
                    return Err(einval(if *kind == AddressKind::InnerSrc {
                        D::SADB_X_DIAGNOSTIC_PREFIX_INNER_SRC
                    } else {
                        D::SADB_X_DIAGNOSTIC_PREFIX_INNER_DST
                    }));
                }
                let port = a.addr.port();
                a.addr = SockAddr::from_ip(mask(ip, a.prefixlen)).with_port(port);
                inner_fams.push(ip.is_ipv4());
                inner_ports |= port != 0;
            }
            AddressKind::NattLoc => {
                if !ip.is_ipv4() {
                    return Err(einval(D::SADB_X_DIAGNOSTIC_MALFORMED_NATT_LOC));
                }
                if is_local(locals, ip) {
                    return Err(einval(D::SADB_X_DIAGNOSTIC_MALFORMED_NATT_LOC));
                }
            }
            AddressKind::NattRem => {
                if !ip.is_ipv4() || is_local(locals, ip) || (ip.is_unspecified() && !has_inner) {
                    return Err(einval(D::SADB_X_DIAGNOSTIC_MALFORMED_NATT_REM));
                }
            }
        }
    }
    if outer_ports && inner_ports {
        return Err(einval(D::SADB_X_DIAGNOSTIC_DUAL_PORT_SETS));
    }
    if let [a, rest @ ..] = inner_fams.as_slice() {
        if rest.iter().any(|b| b != a) {
            return Err(einval(D::SADB_X_DIAGNOSTIC_INNER_AF_MISMATCH));
        }
    }
    if let (Some(s), Some(d)) = (src_fam, dst_fam) {
        if s != d {
            // The one tolerated mismatch: unspecified IPv6 SRC, IPv4 DST.
            let src = m.address(AddressKind::Src).map(|a| a.addr.clone());
            let unspec_v6 = matches!(src, Some(SockAddr::V6 { addr, .. }) if addr.is_unspecified());
            if !(unspec_v6 && d) {
                return Err(einval(D::SADB_X_DIAGNOSTIC_AF_MISMATCH));
            }
            let (sp, dp) = (
                m.address(AddressKind::Src).map_or(0, |a| a.proto),
                m.address(AddressKind::Dst).map_or(0, |a| a.proto),
            );
            if sp != 0 && dp != 0 && sp != dp {
                return Err(einval(D::SADB_X_DIAGNOSTIC_PROTO_MISMATCH));
            }
            for e in &mut m.exts {
                if let Extension::Address(AddressKind::Src, a) = e {
                    let port = a.addr.port();
                    a.addr = SockAddr::V4 {
                        addr: Ipv4Addr::UNSPECIFIED,
                        port,
                    };
                    a.proto = sp.max(dp);
                }
            }
        }
    }
    Ok(())
}
