//! Human-readable rendering of PF_KEY and PF_POLICY messages in the style of
//! illumos `ipseckey monitor` (one labelled line per field; the label names
//! the extension, e.g. `SA:`, `SRC:`, `HLT:`).
//!
//! Key material is never printed: key extensions show their bit counts only.

use std::fmt::Write as _;

use crate::registry::{
    SadbAalg, SadbEalg, SadbExtType, SadbMsgType, SadbSaType, SpdAttrTag, SpdMsgType,
};
use crate::wire::{
    AddressExt, Extension, KmCookie, LifetimeKind, SadbMsg, SpdExt, SpdMsg, SupportedKind,
};

fn satype_name(t: SadbSaType) -> String {
    match t.0 {
        0 => "<unspecified/all>".into(),
        2 => "AH".into(),
        3 => "ESP".into(),
        4 => "TCPSIG".into(),
        5 => "RSVP".into(),
        6 => "OSPFv2".into(),
        7 => "RIPv2".into(),
        8 => "Mobile IP".into(),
        n => format!("<unknown {n}>"),
    }
}

fn type_name(t: SadbMsgType) -> String {
    match t.0 {
        0 => "RESERVED (warning: set to 0)".into(),
        1 => "GETSPI".into(),
        2 => "UPDATE".into(),
        3 => "ADD".into(),
        4 => "DELETE".into(),
        5 => "GET".into(),
        6 => "ACQUIRE".into(),
        7 => "REGISTER".into(),
        8 => "EXPIRE".into(),
        9 => "FLUSH".into(),
        10 => "DUMP".into(),
        11 => "X_PROMISC".into(),
        12 => "X_INVERSE_ACQUIRE".into(),
        13 => "UPDATE PAIR".into(),
        14 => "DELETE PAIR".into(),
        15 => "DELETE PAIR STATE".into(),
        n => format!("Unknown ({n})"),
    }
}

/// illumos `strerror` text for the errnos PF_KEY replies carry.
fn strerror(e: crate::registry::Errno) -> String {
    match e.0 {
        1 => "Not owner".into(),
        2 => "No such file or directory".into(),
        3 => "No such process".into(),
        11 => "Resource temporarily unavailable".into(),
        12 => "Not enough space".into(),
        16 => "Device busy".into(),
        17 => "File exists".into(),
        22 => "Invalid argument".into(),
        62 => "Timer expired".into(),
        97 => "Message too long".into(),
        98 => "Protocol wrong type for socket".into(),
        122 => "Operation not supported".into(),
        132 => "No buffer space available".into(),
        n => format!("Unknown error {n}"),
    }
}

/// Display name of an authentication algorithm id.
pub fn aalg_name(a: SadbAalg) -> String {
    match a {
        SadbAalg::SADB_AALG_NONE => "none".into(),
        SadbAalg::SADB_AALG_MD5 => "md5".into(),
        SadbAalg::SADB_AALG_MD5HMAC => "hmac-md5".into(),
        SadbAalg::SADB_AALG_SHA1HMAC => "hmac-sha1".into(),
        SadbAalg::SADB_AALG_SHA256HMAC => "hmac-sha256".into(),
        SadbAalg::SADB_AALG_SHA384HMAC => "hmac-sha384".into(),
        SadbAalg::SADB_AALG_SHA512HMAC => "hmac-sha512".into(),
        other => format!("<unknown {}>", other.0),
    }
}

/// Display name of an encryption algorithm id (ipsecalgs names).
pub fn ealg_name(e: SadbEalg) -> String {
    match e {
        SadbEalg::SADB_EALG_NONE => "none".into(),
        SadbEalg::SADB_EALG_DESCBC => "des-cbc".into(),
        SadbEalg::SADB_EALG_3DESCBC => "3des-cbc".into(),
        SadbEalg::SADB_EALG_BLOWFISH => "blowfish-cbc".into(),
        SadbEalg::SADB_EALG_NULL => "null".into(),
        SadbEalg::SADB_EALG_AES => "aes-cbc".into(),
        SadbEalg::SADB_EALG_AES_CCM_8 => "aes-ccm8".into(),
        SadbEalg::SADB_EALG_AES_CCM_12 => "aes-ccm12".into(),
        SadbEalg::SADB_EALG_AES_CCM_16 => "aes-ccm16".into(),
        SadbEalg::SADB_EALG_AES_GCM_8 => "aes-gcm8".into(),
        SadbEalg::SADB_EALG_AES_GCM_12 => "aes-gcm12".into(),
        SadbEalg::SADB_EALG_AES_GCM_16 => "aes-gcm16".into(),
        other => format!("<unknown {}>", other.0),
    }
}

fn proto_name(p: u8) -> &'static str {
    match p {
        0 => "<unspecified>",
        1 => "icmp",
        4 => "ipencap",
        6 => "tcp",
        17 => "udp",
        41 => "ipv6",
        50 => "esp",
        51 => "ah",
        58 => "ipv6-icmp",
        _ => "<unknown>",
    }
}

/// `flags=0x… < X_INBOUND X_TUNNEL >` in libipsecutil's order.
fn flag_list(f: crate::registry::SadbSaFlags) -> String {
    const ORDER: [(u32, &str); 15] = [
        (0x0000_0001, "PFS"),
        (0x0000_0002, "NOREPLAY"),
        (0x8000_0000, "X_USED"),
        (0x0001_0000, "X_PAIRED"),
        (0x0000_8000, "X_OUTBOUND"),
        (0x0000_4000, "X_INBOUND"),
        (0x4000_0000, "X_UNIQUE"),
        (0x2000_0000, "X_AALG1"),
        (0x1000_0000, "X_AALG2"),
        (0x0800_0000, "X_EALG1"),
        (0x0400_0000, "X_EALG2"),
        (0x0010_0000, "X_NATT_LOC"),
        (0x0008_0000, "X_NATT_REM"),
        (0x0002_0000, "X_TUNNEL"),
        (0x0000_1000, "X_NATTED"),
    ];
    let mut out = String::new();
    for (bit, name) in ORDER {
        if f.0 & bit != 0 {
            out.push_str(name);
            out.push(' ');
        }
    }
    out
}

/// Seconds since 1970 as `YYYY-MM-DD HH:MM:SS UTC` (proleptic Gregorian).
fn fmt_time(unix: u64) -> String {
    let days = unix / 86_400;
    let rem = unix % 86_400;
    // Civil date from a day count (era-based, 400-year cycles).
    let z = i128::from(days) + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i128::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn addr_lines(out: &mut String, label: &str, what: &str, a: &AddressExt) {
    let _ = writeln!(
        out,
        "{label}: {what} address (proto={}/{})",
        a.proto,
        proto_name(a.proto)
    );
    let fam = match a.addr.family() {
        crate::wire::sockaddr::AF_INET => "AF_INET",
        crate::wire::sockaddr::AF_INET6 => "AF_INET6",
        _ => "AF_?",
    };
    match a.addr.ip() {
        Some(ip) => {
            let prefix = if a.prefixlen != 0 {
                format!("/{}", a.prefixlen)
            } else {
                String::new()
            };
            let _ = writeln!(out, "{label}: {fam}: port {}, {ip}{prefix}.", a.addr.port());
        }
        None => {
            let _ = writeln!(out, "{label}: {}", a.addr);
        }
    }
}

fn kmc_line(out: &mut String, label: &str, k: &KmCookie) {
    let what = match k.proto.0 {
        0 => "Manual SA with cookie",
        1 => "IKEv1",
        3 => "IKEv2",
        _ => "<unknown KM protocol>",
    };
    let _ = writeln!(
        out,
        "{label}: Protocol {}, cookie=\"{what}\" (0x{:x}/{})",
        k.proto.0, k.cookie, k.cookie
    );
}

fn lifetimes(out: &mut String, m: &SadbMsg) {
    let get = |k| m.lifetime(k);
    let (cur, hard, soft, idle) = (
        get(LifetimeKind::Current),
        get(LifetimeKind::Hard),
        get(LifetimeKind::Soft),
        get(LifetimeKind::Idle),
    );
    if cur.is_none() && hard.is_none() && soft.is_none() && idle.is_none() {
        return;
    }
    let _ = writeln!(out, " LT: Lifetime information");
    if let Some(c) = cur {
        let _ = writeln!(out, "CLT: Current lifetime information:");
        let _ = writeln!(
            out,
            "CLT: {} bytes protected, {} allocations used.",
            c.bytes, c.allocations
        );
        let _ = writeln!(out, "CLT: SA added at time: {}", fmt_time(c.addtime));
        if c.usetime != 0 {
            let _ = writeln!(out, "CLT: SA first used at time {}", fmt_time(c.usetime));
        }
    }
    for (label, what, lt) in [("SLT", "Soft", soft), ("HLT", "Hard", hard)] {
        if let Some(l) = lt {
            let _ = writeln!(out, "{label}: {what} lifetime information:");
            let _ = writeln!(
                out,
                "{label}: {} bytes of lifetime, {} allocations.",
                l.bytes, l.allocations
            );
            let _ = writeln!(out, "{label}: {} seconds of post-add lifetime.", l.addtime);
            let _ = writeln!(out, "{label}: {} seconds of post-use lifetime.", l.usetime);
        }
    }
    if let Some(l) = idle {
        let _ = writeln!(out, "ILT: Idle lifetime information:");
        let _ = writeln!(out, "ILT: {} seconds of post-add lifetime.", l.addtime);
        let _ = writeln!(out, "ILT: {} seconds of post-use lifetime.", l.usetime);
    }
}

/// Render one PF_KEY message the way `ipseckey monitor` prints it
/// (libipsecutil `print_samsg`): the base header, one labelled block per
/// extension, lifetimes last. Keys are never printed, only their sizes.
pub fn format_msg(m: &SadbMsg) -> String {
    let mut out = String::new();
    let h = &m.header;
    let _ = writeln!(
        out,
        "Base message (version {}) type {}, SA type {}.",
        h.version,
        type_name(h.msg_type),
        satype_name(h.satype)
    );
    if h.errno.0 != 0 {
        let _ = writeln!(out, "Error {} from PF_KEY.", strerror(h.errno));
        let _ = writeln!(
            out,
            "  Diagnostic code {}:  {}.",
            h.diagnostic.0,
            h.diagnostic
                .name()
                .map(|n| n.trim_start_matches("SADB_X_DIAGNOSTIC_"))
                .unwrap_or("Unknown diagnostic code")
        );
    }
    let _ = writeln!(
        out,
        "Message length {} bytes, seq={}, pid={}.",
        m.buffer_len(),
        h.seq,
        h.pid
    );
    for e in &m.exts {
        let label = e.ext_type().label();
        match e {
            Extension::Sa(sa) => {
                let state = match sa.state.0 {
                    0 => "LARVAL".to_string(),
                    1 => "MATURE".into(),
                    2 => "DYING".into(),
                    3 => "DEAD".into(),
                    4 => "ACTIVE_ELSEWHERE".into(),
                    5 => "IDLE".into(),
                    n => format!("<unknown {n}>"),
                };
                let _ = writeln!(
                    out,
                    "{label}: SADB_ASSOC spi=0x{:x}, replay window size={}, state={state}",
                    sa.spi, sa.replay
                );
                if sa.auth != SadbAalg::SADB_AALG_NONE {
                    let _ = writeln!(
                        out,
                        "{label}: Authentication algorithm = {}",
                        aalg_name(sa.auth)
                    );
                }
                if sa.encrypt != SadbEalg::SADB_EALG_NONE {
                    let _ = writeln!(
                        out,
                        "{label}: Encryption algorithm = {}",
                        ealg_name(sa.encrypt)
                    );
                }
                let _ = writeln!(
                    out,
                    "{label}: flags=0x{:x} < {}>",
                    sa.flags.0,
                    flag_list(sa.flags)
                );
            }
            // Printed last, together (as print_samsg does).
            Extension::Lifetime(..) => {}
            Extension::Address(_, a) => {
                let what = match e.ext_type() {
                    SadbExtType::SADB_EXT_ADDRESS_SRC => "Source",
                    SadbExtType::SADB_EXT_ADDRESS_DST => "Destination",
                    SadbExtType::SADB_X_EXT_ADDRESS_INNER_SRC => "Inner source",
                    SadbExtType::SADB_X_EXT_ADDRESS_INNER_DST => "Inner destination",
                    SadbExtType::SADB_X_EXT_ADDRESS_NATT_LOC => "NAT-T local",
                    _ => "NAT-T remote",
                };
                addr_lines(&mut out, label, what, a);
            }
            Extension::Key(kind, k) => {
                let what = match kind {
                    crate::wire::KeyKind::Auth => "Authentication",
                    crate::wire::KeyKind::Encrypt => "Encryption",
                    crate::wire::KeyKind::StrAuth => "Authentication string",
                };
                let _ = writeln!(out, "{label}: {what} key.");
                let _ = writeln!(
                    out,
                    "{label}: <{} bits, reserved {}, not shown>",
                    k.bits, k.reserved
                );
            }
            Extension::Identity(kind, i) => {
                let what = match kind {
                    crate::wire::IdentKind::Src => "Source",
                    crate::wire::IdentKind::Dst => "Destination",
                };
                let t = match i.ident_type.0 {
                    1 => "prefix",
                    2 => "FQDN",
                    3 => "user-FQDN",
                    4 => "ASN.1 DER Distinguished Name",
                    5 => "ASN.1 DER Generic Name",
                    6 => "Generic key id",
                    7 => "Address range",
                    _ => "<unknown>",
                };
                let _ = writeln!(out, "{label}: {what} identity, uid={}, type {t}", i.id);
                let _ = writeln!(out, "{label}: {}", i.as_str());
            }
            Extension::Sensitivity(kind, s) => {
                let what = match kind {
                    crate::wire::SensKind::Sensitivity => "Plaintext Sensitivity",
                    crate::wire::SensKind::OuterSens => "Ciphertext Sensitivity",
                };
                let _ = writeln!(
                    out,
                    "{label}: {what} DPD {}, sens level={}, integ level={}, flags={:x}",
                    s.dpd, s.sens_level, s.integ_level, s.flags
                );
                for (i, w) in s.sens_bitmap.iter().enumerate() {
                    let _ = writeln!(out, "{label}:  {what} BM extended word {i} 0x{w:x}");
                }
                for (i, w) in s.integ_bitmap.iter().enumerate() {
                    let _ = writeln!(out, "{label}:  Integrity BM extended word {i} 0x{w:x}");
                }
            }
            Extension::Proposal(p) => {
                let _ = writeln!(out, "{label}: Proposal, replay counter = {}.", p.replay);
                for (i, c) in p.combs.iter().enumerate() {
                    let mut line = format!("{label}:  Combination #{} ", i.saturating_add(1));
                    if c.auth != SadbAalg::SADB_AALG_NONE {
                        let _ = write!(
                            line,
                            "Authentication = {}  minbits={}, maxbits={}.\n{label}:  ",
                            aalg_name(c.auth),
                            c.auth_minbits,
                            c.auth_maxbits
                        );
                    }
                    if c.encrypt != SadbEalg::SADB_EALG_NONE {
                        let _ = write!(
                            line,
                            "Encryption = {}  minbits={}, maxbits={}.\n{label}:  ",
                            ealg_name(c.encrypt),
                            c.encrypt_minbits,
                            c.encrypt_maxbits
                        );
                    }
                    let lims = |a: u32, b: u64, add: u64, used: u64| {
                        let mut s = String::new();
                        if a != 0 {
                            let _ = write!(s, "alloc={a} ");
                        }
                        if b != 0 {
                            let _ = write!(s, "bytes={b} ");
                        }
                        if add != 0 {
                            let _ = write!(s, "post-add secs={add} ");
                        }
                        if used != 0 {
                            let _ = write!(s, "post-use secs={used}");
                        }
                        s
                    };
                    let _ = writeln!(
                        out,
                        "{line}HARD: {}\n{label}:  SOFT: {}",
                        lims(
                            c.hard_allocations,
                            c.hard_bytes,
                            c.hard_addtime,
                            c.hard_usetime
                        ),
                        lims(
                            c.soft_allocations,
                            c.soft_bytes,
                            c.soft_addtime,
                            c.soft_usetime
                        )
                    );
                }
                if let Some(k) = &p.kmc {
                    kmc_line(&mut out, "KMC", k);
                }
            }
            Extension::Eprop(p) => {
                let _ = writeln!(
                    out,
                    "{label}: Extended Proposal, replay counter = {}, number of combinations = {}.",
                    p.replay,
                    p.ecombs.len()
                );
                for (i, c) in p.ecombs.iter().enumerate() {
                    let _ = writeln!(
                        out,
                        "{label}:  Extended combination #{}:",
                        i.saturating_add(1)
                    );
                    let _ = writeln!(
                        out,
                        "{label}:  HARD: alloc={}, bytes={}, post-add secs={}, post-use secs={}",
                        c.hard_allocations, c.hard_bytes, c.hard_addtime, c.hard_usetime
                    );
                    let _ = writeln!(
                        out,
                        "{label}:  SOFT: alloc={}, bytes={}, post-add secs={}, post-use secs={}",
                        c.soft_allocations, c.soft_bytes, c.soft_addtime, c.soft_usetime
                    );
                    for (j, a) in c.algs.iter().enumerate() {
                        let target = match a.satype.0 {
                            3 => "for ESP".to_string(),
                            2 => "for AH".to_string(),
                            n => format!("for satype={n}"),
                        };
                        let alg = match a.algtype.0 {
                            2 => format!("Encryption = {}", ealg_name(SadbEalg(a.alg))),
                            1 => format!("Authentication = {}", aalg_name(SadbAalg(a.alg))),
                            t => format!("algtype({t}) = alg({})", a.alg),
                        };
                        let _ = writeln!(
                            out,
                            "{label}:  Alg #{} {target} {alg}  minbits={}, maxbits={}, saltbits={}",
                            j.saturating_add(1),
                            a.minbits,
                            a.maxbits,
                            a.saltbits
                        );
                    }
                }
                if let Some(k) = &p.kmc {
                    kmc_line(&mut out, "KMC", k);
                }
            }
            Extension::Supported(kind, algs) => {
                let what = match kind {
                    SupportedKind::Auth => "authentication",
                    SupportedKind::Encrypt => "encryption",
                };
                let _ = writeln!(out, "{label}: Supported {what} algorithms.");
                for a in algs {
                    let (name, incr) = match kind {
                        SupportedKind::Auth => (aalg_name(SadbAalg(a.id)), String::new()),
                        SupportedKind::Encrypt => (
                            ealg_name(SadbEalg(a.id)),
                            format!(", increment={}", a.increment),
                        ),
                    };
                    let _ = writeln!(
                        out,
                        "{label}: {name} minbits={}, maxbits={}, ivlen={}, saltbits={}{incr}.",
                        a.minbits, a.maxbits, a.ivlen, a.saltbits
                    );
                }
            }
            Extension::SpiRange(r) => {
                let _ = writeln!(
                    out,
                    "{label}: SPI Range, min=0x{:x}, max=0x{:x}",
                    r.min, r.max
                );
            }
            Extension::Ereg(list) => {
                let names: Vec<String> = list.iter().map(|s| satype_name(*s)).collect();
                let _ = writeln!(out, "{label}: Extended REGISTER for {}", names.join(", "));
            }
            Extension::KmCookie(k) => kmc_line(&mut out, label, k),
            Extension::Pair(spi) => {
                let _ = writeln!(out, "{label}: Paired with spi=0x{spi:x}");
            }
            Extension::ReplayValue(r) => {
                let v = if r.replay32 == 0 {
                    r.replay64
                } else {
                    u64::from(r.replay32)
                };
                let _ = writeln!(out, "{label}: Replay Value {v}");
            }
            Extension::Edump(t) => {
                let _ = writeln!(out, "{label}: Dump of SAs used in the last {t} seconds");
            }
            Extension::Other { ext_type, data } => {
                let _ = writeln!(
                    out,
                    "UNK: Unknown ext. {}, len {}.",
                    ext_type.0,
                    data.len().saturating_add(4)
                );
            }
        }
    }
    lifetimes(&mut out, m);
    out
}

/// Render one PF_POLICY message.
pub fn format_spd(m: &SpdMsg) -> String {
    let mut out = String::new();
    let h = &m.header;
    let tname = match h.msg_type.name() {
        Some(n) => n.to_string(),
        None => format!("<unknown {}>", h.msg_type.0),
    };
    let _ = writeln!(
        out,
        "PF_POLICY message (version {}) type {}, SPD {}.",
        h.version,
        tname,
        if h.spdid.0 == 0 { "active" } else { "standby" }
    );
    let _ = writeln!(
        out,
        "Message length {} bytes, seq={}, pid={}.",
        m.buffer_len(),
        h.seq,
        h.pid
    );
    if h.errno.0 != 0 {
        let _ = writeln!(
            out,
            "ERROR: {} (errno {}), diagnostic {} ({:?}).",
            h.errno, h.errno.0, h.diagnostic.0, h.diagnostic
        );
    }
    let _ = SpdMsgType::SPD_FLUSH;
    for e in &m.exts {
        match e {
            SpdExt::Port { side, min, max } => {
                let _ = writeln!(out, "PORT: {side:?} port {min}..{max}");
            }
            SpdExt::Proto(p) => {
                let _ = writeln!(out, "PROTO: {p}/{}", proto_name(*p));
            }
            SpdExt::Addr {
                side,
                prefixlen,
                addr,
            } => {
                let _ = writeln!(out, "ADDR: {side:?} {addr}/{prefixlen}");
            }
            SpdExt::Action { count, attrs } => {
                let _ = writeln!(out, "ACTION: {count} alternative(s)");
                for a in attrs {
                    let tag = a
                        .tag
                        .name()
                        .map(|n| n.trim_start_matches("SPD_ATTR_").to_string())
                        .unwrap_or_else(|| format!("0x{:x}", a.tag.0));
                    if matches!(
                        a.tag,
                        SpdAttrTag::SPD_ATTR_EMPTY
                            | SpdAttrTag::SPD_ATTR_NEXT
                            | SpdAttrTag::SPD_ATTR_END
                    ) {
                        let _ = writeln!(out, "ACTION:   {tag}");
                    } else {
                        let _ = writeln!(out, "ACTION:   {tag}={}", a.value);
                    }
                }
            }
            SpdExt::Rule(r) => {
                let _ = writeln!(
                    out,
                    "RULE: priority 0x{:08x}, flags 0x{:x}, index {}",
                    r.priority, r.flags, r.index
                );
            }
            SpdExt::Ruleset { count, version } => {
                let _ = writeln!(out, "RULESET: count {count}, version {version}");
            }
            SpdExt::IcmpTypeCode(t) => {
                let _ = writeln!(
                    out,
                    "ICMP: type {}..{}, code {}..{}",
                    t.icmp_type, t.type_end, t.code, t.code_end
                );
            }
            SpdExt::TunName(_) => {
                let _ = writeln!(out, "TUNNEL: \"{}\"", e.tun_name_str().unwrap_or_default());
            }
            SpdExt::Other { ext_type, data } => {
                let _ = writeln!(out, "UNKNOWN: type {}, {} bytes", ext_type.0, data.len());
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_header_sa_and_redacts_keys() {
        let bytes = hex_bytes("020200031e00000003000000d2040000020001009a3c71e5200100140040020004000300000000000000000000000000100e000000000000000000000000000004000400000000000000000000000000a80c0000000000000000000000000000030005000400000002000000c63364010000000000000000030006000400000002000000c000020100000000000000000300070000100000020000000a02000000000000000000000300160000100000020000000a010000000000000000000004000900a0000000101112131415161718191a1b1c1d1e1fb0b1b2b3000000000200130003000000efcdab8967452301");
        let m = SadbMsg::parse(&bytes).unwrap();
        let s = format_msg(&m);
        assert!(s.starts_with("Base message (version 2) type UPDATE, SA type ESP.\n"));
        assert!(s.contains("Message length 240 bytes, seq=3, pid=1234."));
        assert!(s.contains("SA: SADB_ASSOC spi=0x9a3c71e5, replay window size=32, state=MATURE\n"));
        assert!(s.contains("SA: Encryption algorithm = aes-gcm16\n"));
        assert!(
            !s.contains("Authentication algorithm"),
            "auth NONE is not printed"
        );
        assert!(s.contains("SA: flags=0x24000 < X_INBOUND X_TUNNEL >\n"));
        assert!(s.contains("INS: AF_INET: port 0, 10.2.0.0/16."));
        assert!(s.contains("EKY: Encryption key.\nEKY: <160 bits"));
        assert!(!s.contains("101112"), "key bytes must not be printed");
        assert!(
            s.contains("KMC: Protocol 3, cookie=\"IKEv2\" (0x123456789abcdef/81985529216486895)")
        );
        assert!(
            s.ends_with("HLT: 0 seconds of post-use lifetime.\n"),
            "lifetimes come last"
        );
        assert_eq!(fmt_time(1_700_000_000), "2023-11-14 22:13:20 UTC");
    }

    fn hex_bytes(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
}
