//! PF_POLICY `spd_msg` and its extensions (illumos `net/pfpolicy.h`,
//! reference §6), plus the action/attribute program `ipsecconf` writes.
//!
//! Framing is PF_KEY's: 16-byte header, extensions counted in 8-byte words,
//! host-order fields except ports and addresses (network order).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::msg::{ext_name, RawExtIter};
use super::{
    pad8, words, DecodeError, EmitError, ExtName, Reader, SadbMsgPacket, Writer, HEADER_LEN,
    PF_POLICY_V1,
};
use crate::registry::{
    spd_apply, Errno, SpdActType, SpdAttrTag, SpdDiagnostic, SpdExtType, SpdId, SpdMsgType,
};

/// The `spd_msg` header; `spd_msg_len` is derived on emit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpdHeader {
    /// `spd_msg_version` (PF_POLICY_V1).
    pub version: u8,
    /// Message type.
    pub msg_type: SpdMsgType,
    /// errno (0 in requests).
    pub errno: Errno,
    /// Active or standby SPD.
    pub spdid: SpdId,
    /// Diagnostic (0 in requests).
    pub diagnostic: SpdDiagnostic,
    /// Sequence number.
    pub seq: u32,
    /// Sender pid.
    pub pid: u32,
}

impl SpdHeader {
    /// A request header.
    pub fn new(msg_type: SpdMsgType, spdid: SpdId, seq: u32, pid: u32) -> Self {
        Self {
            version: PF_POLICY_V1,
            msg_type,
            errno: Errno::OK,
            spdid,
            diagnostic: SpdDiagnostic::SPD_DIAGNOSTIC_NONE,
            seq,
            pid,
        }
    }
}

/// Local or remote selector.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// Local (`SPD_EXT_LCL*`).
    Local,
    /// Remote (`SPD_EXT_REM*`).
    Remote,
}

/// One `spd_attribute` (tag, value), host order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SpdAttr {
    /// Tag.
    pub tag: SpdAttrTag,
    /// Value.
    pub value: u32,
}

/// `struct spd_rule`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SpdRule {
    /// Larger wins.
    pub priority: u32,
    /// `SPD_RULE_FLAG_*`.
    pub flags: u32,
    /// Rule index (0 in ADDRULE; filled in by the kernel).
    pub index: u64,
}

/// `struct spd_typecode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub struct SpdTypeCode {
    pub icmp_type: u8,
    pub type_end: u8,
    pub code: u8,
    pub code_end: u8,
}

/// One PF_POLICY extension.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SpdExt {
    /// `SPD_EXT_LCLPORT` / `SPD_EXT_REMPORT` (only min is used by the kernel).
    Port {
        /// Which side.
        side: Side,
        /// `spd_ports_minport`.
        min: u16,
        /// `spd_ports_maxport`.
        max: u16,
    },
    /// `SPD_EXT_PROTO`.
    Proto(u8),
    /// `SPD_EXT_LCLADDR` / `SPD_EXT_REMADDR` (the address is sent masked).
    Addr {
        /// Which side.
        side: Side,
        /// Prefix length.
        prefixlen: u8,
        /// Address.
        addr: IpAddr,
    },
    /// `SPD_EXT_ACTION`: alternatives count + attribute program.
    Action {
        /// `spd_actions_count`.
        count: u16,
        /// Attributes in order.
        attrs: Vec<SpdAttr>,
    },
    /// `SPD_EXT_RULE`.
    Rule(SpdRule),
    /// `SPD_EXT_RULESET`.
    Ruleset {
        /// `spd_ruleset_count`.
        count: u32,
        /// `spd_ruleset_version`.
        version: u64,
    },
    /// `SPD_EXT_ICMP_TYPECODE`.
    IcmpTypeCode(SpdTypeCode),
    /// `SPD_EXT_TUN_NAME`: bytes from offset 4 (name, NUL, padding) kept
    /// verbatim, because ipsecconf uses two length conventions.
    TunName(Vec<u8>),
    /// Unknown type, kept verbatim.
    Other {
        /// Type.
        ext_type: SpdExtType,
        /// Bytes after the 4-byte header.
        data: Vec<u8>,
    },
}

/// illumos address family numbers as PF_POLICY's one-byte `spd_address_af`.
const AF_INET: u8 = 2;
const AF_INET6: u8 = 26;

impl SpdExt {
    /// `SPD_EXT_TUN_NAME` with ipsecconf's rule-message length
    /// (`8 + roundup(strlen + 1, 8)` bytes); `""` gives one word.
    pub fn tun_name(name: &str) -> Self {
        let mut data = name.as_bytes().to_vec();
        if name.is_empty() {
            data = vec![0; 4];
        } else {
            let total = pad8(name.len().saturating_add(1)).saturating_add(8);
            data.resize(total.saturating_sub(4), 0);
        }
        Self::TunName(data)
    }

    /// The tunnel name up to the first NUL, if this is a TUN_NAME.
    pub fn tun_name_str(&self) -> Option<String> {
        match self {
            Self::TunName(d) => {
                let end = d.iter().position(|&b| b == 0).unwrap_or(d.len());
                Some(String::from_utf8_lossy(d.get(..end).unwrap_or(&[])).into_owned())
            }
            _ => None,
        }
    }

    /// Extension type.
    pub fn ext_type(&self) -> SpdExtType {
        match self {
            Self::Port {
                side: Side::Local, ..
            } => SpdExtType::SPD_EXT_LCLPORT,
            Self::Port {
                side: Side::Remote, ..
            } => SpdExtType::SPD_EXT_REMPORT,
            Self::Proto(_) => SpdExtType::SPD_EXT_PROTO,
            Self::Addr {
                side: Side::Local, ..
            } => SpdExtType::SPD_EXT_LCLADDR,
            Self::Addr {
                side: Side::Remote, ..
            } => SpdExtType::SPD_EXT_REMADDR,
            Self::Action { .. } => SpdExtType::SPD_EXT_ACTION,
            Self::Rule(_) => SpdExtType::SPD_EXT_RULE,
            Self::Ruleset { .. } => SpdExtType::SPD_EXT_RULESET,
            Self::IcmpTypeCode(_) => SpdExtType::SPD_EXT_ICMP_TYPECODE,
            Self::TunName(_) => SpdExtType::SPD_EXT_TUN_NAME,
            Self::Other { ext_type, .. } => *ext_type,
        }
    }

    fn body_len(&self) -> usize {
        match self {
            Self::Port { .. } | Self::Proto(_) | Self::IcmpTypeCode(_) => 4,
            Self::Addr { addr, .. } => match addr {
                IpAddr::V4(_) => 12,
                IpAddr::V6(_) => 20,
            },
            Self::Action { attrs, .. } => attrs.len().saturating_mul(8).saturating_add(4),
            Self::Rule(_) => 20,
            Self::Ruleset { .. } => 12,
            Self::TunName(d) | Self::Other { data: d, .. } => d.len(),
        }
    }

    /// Encoded length in bytes, padded to 8.
    pub fn buffer_len(&self) -> usize {
        pad8(self.body_len().saturating_add(4))
    }

    fn emit(&self, w: &mut Writer<'_>) {
        let start = w.pos();
        let total = self.buffer_len();
        w.u16le(u16::try_from(total / 8).unwrap_or(u16::MAX));
        w.u16le(self.ext_type().0);
        match self {
            Self::Port { min, max, .. } => {
                w.u16be(*min);
                w.u16be(*max);
            }
            Self::Proto(p) => {
                w.u8(*p);
                w.zeros(3);
            }
            Self::Addr {
                prefixlen, addr, ..
            } => {
                w.u8(if addr.is_ipv4() { AF_INET } else { AF_INET6 });
                w.u8(*prefixlen);
                w.u16le(0);
                match addr {
                    IpAddr::V4(a) => w.bytes(&a.octets()),
                    IpAddr::V6(a) => w.bytes(&a.octets()),
                }
            }
            Self::Action { count, attrs } => {
                w.u16le(*count);
                w.u16le(0);
                for a in attrs {
                    w.u32le(a.tag.0);
                    w.u32le(a.value);
                }
            }
            Self::Rule(r) => {
                w.u32le(r.priority);
                w.u32le(r.flags);
                w.u32le(0);
                w.u64le(r.index);
            }
            Self::Ruleset { count, version } => {
                w.u32le(*count);
                w.u64le(*version);
            }
            Self::IcmpTypeCode(t) => {
                w.u8(t.icmp_type);
                w.u8(t.type_end);
                w.u8(t.code);
                w.u8(t.code_end);
            }
            Self::TunName(d) | Self::Other { data: d, .. } => w.bytes(d),
        }
        let written = w.pos().saturating_sub(start);
        w.zeros(total.saturating_sub(written));
    }

    fn parse(ext: &[u8], offset: usize) -> Result<Self, DecodeError> {
        let mut r = Reader::new(ext);
        let _ = r.u16le();
        let t = SpdExtType(r.u16le().unwrap_or(0));
        let bad = |reason: &'static str| DecodeError::Malformed {
            ext: ExtName::Spd(t),
            offset,
            reason,
        };
        let short = || bad("extension too short for its fields");
        Ok(match t {
            SpdExtType::SPD_EXT_LCLPORT | SpdExtType::SPD_EXT_REMPORT => Self::Port {
                side: if t.0 == 1 { Side::Local } else { Side::Remote },
                min: r.u16be().ok_or_else(short)?,
                max: r.u16be().ok_or_else(short)?,
            },
            SpdExtType::SPD_EXT_PROTO => Self::Proto(r.u8().ok_or_else(short)?),
            SpdExtType::SPD_EXT_LCLADDR | SpdExtType::SPD_EXT_REMADDR => {
                let side = if t.0 == 4 { Side::Local } else { Side::Remote };
                let af = r.u8().ok_or_else(short)?;
                let prefixlen = r.u8().ok_or_else(short)?;
                r.u16le().ok_or_else(short)?;
                let addr = match af {
                    AF_INET => IpAddr::V4(Ipv4Addr::from(
                        r.array::<4>()
                            .ok_or_else(|| bad("shorter than header + address"))?,
                    )),
                    AF_INET6 => IpAddr::V6(Ipv6Addr::from(
                        r.array::<16>()
                            .ok_or_else(|| bad("shorter than header + address"))?,
                    )),
                    _ => return Err(bad("address family is neither AF_INET nor AF_INET6")),
                };
                Self::Addr {
                    side,
                    prefixlen,
                    addr,
                }
            }
            SpdExtType::SPD_EXT_ACTION => {
                let count = r.u16le().ok_or_else(short)?;
                r.u16le().ok_or_else(short)?;
                let mut attrs = Vec::with_capacity(r.remaining() / 8);
                while r.remaining() >= 8 {
                    attrs.push(SpdAttr {
                        tag: SpdAttrTag(r.u32le().ok_or_else(short)?),
                        value: r.u32le().ok_or_else(short)?,
                    });
                }
                Self::Action { count, attrs }
            }
            SpdExtType::SPD_EXT_RULE => {
                if ext.len() != 24 {
                    return Err(bad("spd_rule must be 3 words"));
                }
                let priority = r.u32le().ok_or_else(short)?;
                let flags = r.u32le().ok_or_else(short)?;
                r.u32le().ok_or_else(short)?;
                Self::Rule(SpdRule {
                    priority,
                    flags,
                    index: r.u64le().ok_or_else(short)?,
                })
            }
            SpdExtType::SPD_EXT_RULESET => {
                if ext.len() != 16 {
                    return Err(bad("spd_ruleset must be 2 words"));
                }
                Self::Ruleset {
                    count: r.u32le().ok_or_else(short)?,
                    version: r.u64le().ok_or_else(short)?,
                }
            }
            SpdExtType::SPD_EXT_ICMP_TYPECODE => Self::IcmpTypeCode(SpdTypeCode {
                icmp_type: r.u8().ok_or_else(short)?,
                type_end: r.u8().ok_or_else(short)?,
                code: r.u8().ok_or_else(short)?,
                code_end: r.u8().ok_or_else(short)?,
            }),
            SpdExtType::SPD_EXT_TUN_NAME => Self::TunName(r.rest().to_vec()),
            _ => Self::Other {
                ext_type: t,
                data: r.rest().to_vec(),
            },
        })
    }
}

/// A whole PF_POLICY message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpdMsg {
    /// Header.
    pub header: SpdHeader,
    /// Extensions in order.
    pub exts: Vec<SpdExt>,
}

impl SpdMsg {
    /// A message with no extensions.
    pub fn new(header: SpdHeader) -> Self {
        Self {
            header,
            exts: Vec::new(),
        }
    }

    /// Builder: append an extension.
    pub fn with(mut self, e: SpdExt) -> Self {
        self.exts.push(e);
        self
    }

    /// Parse one message; same framing rules as PF_KEY (spdsock_get_ext).
    pub fn parse(bytes: &[u8]) -> Result<Self, DecodeError> {
        let pkt = SadbMsgPacket::new_checked(bytes)?;
        let mut r = Reader::new(bytes);
        let version = r.u8().unwrap_or(0);
        let header = SpdHeader {
            version,
            msg_type: SpdMsgType(pkt.msg_type().0),
            errno: pkt.errno(),
            spdid: SpdId(pkt.satype().0),
            diagnostic: SpdDiagnostic(pkt.diagnostic().0),
            seq: pkt.seq(),
            pid: pkt.pid(),
        };
        let mut exts: Vec<SpdExt> = Vec::new();
        let mut it = RawExtIter::new(bytes);
        while let Some(raw) = it.next_ext(true) {
            let raw = raw?;
            if exts.iter().any(|e| e.ext_type().0 == raw.ext_type) {
                return Err(DecodeError::Duplicate {
                    ext: ext_name(true, raw.ext_type),
                    offset: raw.offset,
                });
            }
            exts.push(SpdExt::parse(raw.bytes, raw.offset)?);
        }
        Ok(Self { header, exts })
    }

    /// Encoded length.
    pub fn buffer_len(&self) -> usize {
        self.exts
            .iter()
            .map(SpdExt::buffer_len)
            .fold(HEADER_LEN, usize::saturating_add)
    }

    /// Encode into a new buffer.
    pub fn to_bytes(&self) -> Result<Vec<u8>, EmitError> {
        let len = self.buffer_len();
        let lw = words(len, "message")?;
        for e in &self.exts {
            words(e.buffer_len(), "extension")?;
        }
        let mut buf = vec![0u8; len];
        let mut w = Writer::new(&mut buf);
        w.u8(self.header.version);
        w.u8(self.header.msg_type.0);
        w.u8(self.header.errno.0);
        w.u8(self.header.spdid.0);
        w.u16le(lw);
        w.u16le(self.header.diagnostic.0);
        w.u32le(self.header.seq);
        w.u32le(self.header.pid);
        for e in &self.exts {
            e.emit(&mut w);
        }
        Ok(buf)
    }

    /// First extension of a type.
    pub fn ext(&self, t: SpdExtType) -> Option<&SpdExt> {
        self.exts.iter().find(|e| e.ext_type() == t)
    }

    /// `SPD_FLUSH` of one SPD: `tun` `None` = global head, `Some("")` = global
    /// and every tunnel head, `Some(name)` = that tunnel.
    pub fn flush(spdid: SpdId, tun: Option<&str>, seq: u32, pid: u32) -> Self {
        let mut m = Self::new(SpdHeader::new(SpdMsgType::SPD_FLUSH, spdid, seq, pid));
        if let Some(t) = tun {
            m.exts.push(SpdExt::tun_name(t));
        }
        m
    }

    /// `SPD_DUMP` (same head selection as [`Self::flush`]).
    pub fn dump(spdid: SpdId, tun: Option<&str>, seq: u32, pid: u32) -> Self {
        let mut m = Self::flush(spdid, tun, seq, pid);
        m.header.msg_type = SpdMsgType::SPD_DUMP;
        m
    }

    /// `SPD_FLIP` (swap active and standby).
    pub fn flip(tun: Option<&str>, seq: u32, pid: u32) -> Self {
        let mut m = Self::flush(SpdId::SPD_ACTIVE, tun, seq, pid);
        m.header.msg_type = SpdMsgType::SPD_FLIP;
        m
    }

    /// `SPD_ADDRULE` (or with `delete`, `SPD_DELETERULE`) for a rule.
    pub fn rule(
        msg_type: SpdMsgType,
        spdid: SpdId,
        rule: &PolicyRule,
        seq: u32,
        pid: u32,
    ) -> Result<Self, EmitError> {
        let mut m = Self::new(SpdHeader::new(msg_type, spdid, seq, pid));
        // DELETERULE names the rule by index or by its selectors; no ACTION
        // is sent there (reference §6.2, SPD_DELETERULE).
        rule.push_exts(
            &mut m.exts,
            RuleRecord {
                index: 0,
                tun_name: rule.tun_name.as_deref(),
                order: SelectorOrder::Request,
                with_actions: msg_type == SpdMsgType::SPD_ADDRULE,
            },
        )?;
        Ok(m)
    }
}

/// Order of the selector extensions in a rule message. spdsock accepts them
/// in any order on input (it indexes extensions by type), so the order only
/// matters for byte-exact output, and two orders are pinned by facts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SelectorOrder {
    /// Requests as [`SpdMsg::rule`] has always written them: PROTO,
    /// ICMP_TYPECODE, LCLPORT, REMPORT, LCLADDR, REMADDR (the reference §8.15
    /// golden vector pins TUN_NAME, then LCLADDR before REMADDR).
    Request,
    /// SPD_DUMP records as spdsock writes them (`spdsock_encode_rule_head`,
    /// reference §6.7): PROTO, LCLPORT, REMPORT, REMADDR, LCLADDR,
    /// ICMP_TYPECODE.
    Dump,
}

/// What a rule message carries besides the rule itself.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RuleRecord<'a> {
    /// `spd_rule_index`: 0 in requests, the kernel's index in dump records.
    pub(crate) index: u64,
    /// The policy head's tunnel name, if it is not the global head.
    pub(crate) tun_name: Option<&'a str>,
    /// Selector order (see [`SelectorOrder`]).
    pub(crate) order: SelectorOrder,
    /// Append the ACTION program (ADDRULE and dump records, not DELETERULE).
    pub(crate) with_actions: bool,
}

impl PolicyRule {
    /// Appends this rule's extensions: RULE, TUN_NAME, the selectors present
    /// (each port as a one-port range), then ACTION. The one place that turns
    /// a rule into PF_POLICY extensions, for requests and for the userland
    /// engine's dump records alike.
    pub(crate) fn push_exts(
        &self,
        exts: &mut Vec<SpdExt>,
        rec: RuleRecord<'_>,
    ) -> Result<(), EmitError> {
        exts.push(SpdExt::Rule(SpdRule {
            priority: self.priority,
            flags: self.flags,
            index: rec.index,
        }));
        if let Some(t) = rec.tun_name {
            exts.push(SpdExt::tun_name(t));
        }
        let proto = self.proto.map(SpdExt::Proto);
        let icmp = self.icmp.map(SpdExt::IcmpTypeCode);
        let port = |side, p: Option<u16>| {
            p.map(|p| SpdExt::Port {
                side,
                min: p,
                max: p,
            })
        };
        let lport = port(Side::Local, self.local_port);
        let rport = port(Side::Remote, self.remote_port);
        let addr = |side, a: Option<(IpAddr, u8)>| {
            a.map(|(addr, prefixlen)| SpdExt::Addr {
                side,
                prefixlen,
                addr,
            })
        };
        let laddr = addr(Side::Local, self.local);
        let raddr = addr(Side::Remote, self.remote);
        let selectors = match rec.order {
            SelectorOrder::Request => [proto, icmp, lport, rport, laddr, raddr],
            SelectorOrder::Dump => [proto, lport, rport, raddr, laddr, icmp],
        };
        exts.extend(selectors.into_iter().flatten());
        if rec.with_actions {
            exts.push(encode_actions(&self.actions)?);
        }
        Ok(())
    }
}

/// A policy rule as a daemon states it; [`SpdMsg::rule`] encodes it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PolicyRule {
    /// Priority (larger wins).
    pub priority: u32,
    /// `SPD_RULE_FLAG_*`.
    pub flags: u32,
    /// Tunnel link name (`ip.tun0`), `None` for the global head.
    pub tun_name: Option<String>,
    /// Protocol selector.
    pub proto: Option<u8>,
    /// ICMP type/code selector.
    pub icmp: Option<SpdTypeCode>,
    /// Local port.
    pub local_port: Option<u16>,
    /// Remote port.
    pub remote_port: Option<u16>,
    /// Local address and prefix (masked).
    pub local: Option<(IpAddr, u8)>,
    /// Remote address and prefix (masked).
    pub remote: Option<(IpAddr, u8)>,
    /// Alternatives, most preferred first.
    pub actions: Vec<ActionAlt>,
}

/// One alternative of an `SPD_EXT_ACTION` program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[allow(missing_docs)]
pub struct ActionAlt {
    pub act_type: SpdActType,
    /// `SPD_APPLY_*`.
    pub flags: u32,
    pub ah_auth: Option<u32>,
    pub esp_encr: Option<u32>,
    pub esp_auth: Option<u32>,
    pub encr_minbits: Option<u32>,
    pub encr_maxbits: Option<u32>,
    pub ah_minbits: Option<u32>,
    pub ah_maxbits: Option<u32>,
    pub espa_minbits: Option<u32>,
    pub espa_maxbits: Option<u32>,
    pub km_proto: Option<u32>,
    pub km_cookie: Option<u32>,
    pub replay_depth: Option<u32>,
}

impl ActionAlt {
    /// An ESP alternative: encryption `encr` (min bits), optional ESP auth.
    pub fn esp(encr: u8, encr_minbits: Option<u32>, auth: Option<u8>) -> Self {
        let mut flags = spd_apply::SPD_APPLY_ESP;
        if auth.is_some() {
            flags |= spd_apply::SPD_APPLY_ESPA;
        }
        Self {
            act_type: SpdActType::SPD_ACTTYPE_IPSEC,
            flags,
            esp_encr: Some(u32::from(encr)),
            encr_minbits,
            esp_auth: auth.map(u32::from),
            ..Self::default()
        }
    }

    /// The PASS (bypass) action.
    pub fn pass() -> Self {
        Self {
            act_type: SpdActType::SPD_ACTTYPE_PASS,
            ..Self::default()
        }
    }

    /// The DROP action.
    pub fn drop_() -> Self {
        Self {
            act_type: SpdActType::SPD_ACTTYPE_DROP,
            ..Self::default()
        }
    }
}

/// Encode alternatives as ipsecconf does: per alternative `EMPTY, TYPE,
/// [FLAGS], algorithms and bounds…, NEXT`, the final `NEXT` becoming `END`
/// (reference §6.4; the kernel resets the template after each NEXT/END, so
/// each alternative is spelled out in full).
pub fn encode_actions(alts: &[ActionAlt]) -> Result<SpdExt, EmitError> {
    let count = u16::try_from(alts.len()).map_err(|_| EmitError::CountOverflow {
        what: "spd_actions_count",
        count: alts.len(),
    })?;
    let mut attrs = Vec::new();
    let mut push = |tag: SpdAttrTag, v: Option<u32>| {
        if let Some(value) = v {
            attrs.push(SpdAttr { tag, value });
        }
    };
    for (i, a) in alts.iter().enumerate() {
        push(SpdAttrTag::SPD_ATTR_EMPTY, Some(0));
        push(SpdAttrTag::SPD_ATTR_TYPE, Some(a.act_type.0));
        if a.flags != 0 || a.act_type == SpdActType::SPD_ACTTYPE_IPSEC {
            push(SpdAttrTag::SPD_ATTR_FLAGS, Some(a.flags));
        }
        push(SpdAttrTag::SPD_ATTR_AH_AUTH, a.ah_auth);
        push(SpdAttrTag::SPD_ATTR_AH_MINBITS, a.ah_minbits);
        push(SpdAttrTag::SPD_ATTR_AH_MAXBITS, a.ah_maxbits);
        push(SpdAttrTag::SPD_ATTR_ESP_ENCR, a.esp_encr);
        push(SpdAttrTag::SPD_ATTR_ENCR_MINBITS, a.encr_minbits);
        push(SpdAttrTag::SPD_ATTR_ENCR_MAXBITS, a.encr_maxbits);
        push(SpdAttrTag::SPD_ATTR_ESP_AUTH, a.esp_auth);
        push(SpdAttrTag::SPD_ATTR_ESPA_MINBITS, a.espa_minbits);
        push(SpdAttrTag::SPD_ATTR_ESPA_MAXBITS, a.espa_maxbits);
        push(SpdAttrTag::SPD_ATTR_KM_PROTO, a.km_proto);
        push(SpdAttrTag::SPD_ATTR_KM_COOKIE, a.km_cookie);
        push(SpdAttrTag::SPD_ATTR_REPLAY_DEPTH, a.replay_depth);
        let last = i.checked_add(1) == Some(alts.len());
        push(
            if last {
                SpdAttrTag::SPD_ATTR_END
            } else {
                SpdAttrTag::SPD_ATTR_NEXT
            },
            Some(0),
        );
    }
    Ok(SpdExt::Action { count, attrs })
}

/// Why an action program was refused (spdsock_ext_to_actvec semantics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ActionError {
    /// NEXT/END produced a different number of alternatives than `count`.
    #[error("action program yields {produced} alternatives, header says {count}")]
    WrongCount {
        /// Header count.
        count: u16,
        /// Alternatives produced.
        produced: usize,
    },
    /// An unknown `SPD_ATTR_TYPE` value.
    #[error("unknown action type {0}")]
    BadType(u32),
    /// An algorithm id of 0.
    #[error("algorithm id 0 for {0}")]
    ZeroAlg(SpdAttrTag),
}

impl ActionError {
    /// The PF_POLICY diagnostic spdsock gives.
    pub fn diagnostic(&self) -> SpdDiagnostic {
        match self {
            Self::WrongCount { .. } => SpdDiagnostic::SPD_DIAGNOSTIC_ADD_WRONG_ACT_COUNT,
            Self::BadType(_) => SpdDiagnostic::SPD_DIAGNOSTIC_ADD_BAD_TYPE,
            Self::ZeroAlg(SpdAttrTag::SPD_ATTR_AH_AUTH) => {
                SpdDiagnostic::SPD_DIAGNOSTIC_UNSUPP_AH_ALG
            }
            Self::ZeroAlg(SpdAttrTag::SPD_ATTR_ESP_ENCR) => {
                SpdDiagnostic::SPD_DIAGNOSTIC_UNSUPP_ESP_ENCR_ALG
            }
            Self::ZeroAlg(_) => SpdDiagnostic::SPD_DIAGNOSTIC_UNSUPP_ESP_AUTH_ALG,
        }
    }
}

/// Run an attribute program the way the kernel does: the template is reset
/// after every NEXT/END, END stops, and the number of alternatives must
/// equal `count`.
pub fn decode_actions(count: u16, attrs: &[SpdAttr]) -> Result<Vec<ActionAlt>, ActionError> {
    let mut out = Vec::new();
    let mut cur = ActionAlt::default();
    for a in attrs {
        let v = a.value;
        match a.tag {
            SpdAttrTag::SPD_ATTR_NOP => {}
            SpdAttrTag::SPD_ATTR_EMPTY => cur = ActionAlt::default(),
            SpdAttrTag::SPD_ATTR_NEXT | SpdAttrTag::SPD_ATTR_END => {
                out.push(cur);
                cur = ActionAlt::default();
                if a.tag == SpdAttrTag::SPD_ATTR_END {
                    break;
                }
            }
            SpdAttrTag::SPD_ATTR_TYPE => {
                if !(1..=3).contains(&v) {
                    return Err(ActionError::BadType(v));
                }
                cur.act_type = SpdActType(v);
            }
            SpdAttrTag::SPD_ATTR_FLAGS => cur.flags = v,
            t @ (SpdAttrTag::SPD_ATTR_AH_AUTH
            | SpdAttrTag::SPD_ATTR_ESP_ENCR
            | SpdAttrTag::SPD_ATTR_ESP_AUTH) => {
                if v == 0 {
                    return Err(ActionError::ZeroAlg(t));
                }
                match t {
                    SpdAttrTag::SPD_ATTR_AH_AUTH => cur.ah_auth = Some(v),
                    SpdAttrTag::SPD_ATTR_ESP_ENCR => cur.esp_encr = Some(v),
                    _ => cur.esp_auth = Some(v),
                }
            }
            SpdAttrTag::SPD_ATTR_ENCR_MINBITS => cur.encr_minbits = Some(v),
            SpdAttrTag::SPD_ATTR_ENCR_MAXBITS => cur.encr_maxbits = Some(v),
            SpdAttrTag::SPD_ATTR_AH_MINBITS => cur.ah_minbits = Some(v),
            SpdAttrTag::SPD_ATTR_AH_MAXBITS => cur.ah_maxbits = Some(v),
            SpdAttrTag::SPD_ATTR_ESPA_MINBITS => cur.espa_minbits = Some(v),
            SpdAttrTag::SPD_ATTR_ESPA_MAXBITS => cur.espa_maxbits = Some(v),
            SpdAttrTag::SPD_ATTR_KM_PROTO => cur.km_proto = Some(v),
            SpdAttrTag::SPD_ATTR_KM_COOKIE => cur.km_cookie = Some(v),
            SpdAttrTag::SPD_ATTR_REPLAY_DEPTH => cur.replay_depth = Some(v),
            // Lifetimes are accepted and ignored by the kernel; others are
            // algorithm-table attributes.
            _ => {}
        }
    }
    if out.len() != usize::from(count) {
        return Err(ActionError::WrongCount {
            count,
            produced: out.len(),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;
    use crate::registry::spd_rule_flag;

    fn full_rule() -> PolicyRule {
        PolicyRule {
            priority: 7,
            flags: spd_rule_flag::SPD_RULE_FLAG_OUTBOUND,
            tun_name: Some("ip.tun0".into()),
            proto: Some(17),
            icmp: Some(SpdTypeCode::default()),
            local_port: Some(500),
            remote_port: Some(4500),
            local: Some((Ipv4Addr::new(10, 1, 0, 0).into(), 16)),
            remote: Some((Ipv4Addr::new(10, 2, 0, 0).into(), 16)),
            actions: vec![ActionAlt::esp(20, Some(128), None)],
        }
    }

    fn types(exts: &[SpdExt]) -> Vec<SpdExtType> {
        exts.iter().map(SpdExt::ext_type).collect()
    }

    #[test]
    fn request_and_dump_records_differ_only_in_selector_order() {
        use SpdExtType as T;
        let rule = full_rule();
        let mut req = Vec::new();
        let mut dump = Vec::new();
        let rec = |order| RuleRecord {
            index: 9,
            tun_name: Some("ip.tun0"),
            order,
            with_actions: true,
        };
        rule.push_exts(&mut req, rec(SelectorOrder::Request))
            .unwrap();
        rule.push_exts(&mut dump, rec(SelectorOrder::Dump)).unwrap();
        assert_eq!(
            types(&req),
            [
                T::SPD_EXT_RULE,
                T::SPD_EXT_TUN_NAME,
                T::SPD_EXT_PROTO,
                T::SPD_EXT_ICMP_TYPECODE,
                T::SPD_EXT_LCLPORT,
                T::SPD_EXT_REMPORT,
                T::SPD_EXT_LCLADDR,
                T::SPD_EXT_REMADDR,
                T::SPD_EXT_ACTION,
            ]
        );
        // spdsock_encode_rule_head's order (reference §6.7).
        assert_eq!(
            types(&dump),
            [
                T::SPD_EXT_RULE,
                T::SPD_EXT_TUN_NAME,
                T::SPD_EXT_PROTO,
                T::SPD_EXT_LCLPORT,
                T::SPD_EXT_REMPORT,
                T::SPD_EXT_REMADDR,
                T::SPD_EXT_LCLADDR,
                T::SPD_EXT_ICMP_TYPECODE,
                T::SPD_EXT_ACTION,
            ]
        );
        // Same extensions, same values: only the order differs.
        for e in &req {
            assert!(dump.contains(e), "{e:?} missing from the dump record");
        }
        assert_eq!(req.len(), dump.len());
        assert!(matches!(
            req.first(),
            Some(SpdExt::Rule(SpdRule { index: 9, .. }))
        ));
    }

    #[test]
    fn deleterule_carries_no_action_and_absent_selectors_are_omitted() {
        let rule = PolicyRule {
            proto: None,
            icmp: None,
            local_port: None,
            tun_name: None,
            ..full_rule()
        };
        let m = SpdMsg::rule(SpdMsgType::SPD_DELETERULE, SpdId::SPD_ACTIVE, &rule, 1, 2).unwrap();
        assert_eq!(
            types(&m.exts),
            [
                SpdExtType::SPD_EXT_RULE,
                SpdExtType::SPD_EXT_REMPORT,
                SpdExtType::SPD_EXT_LCLADDR,
                SpdExtType::SPD_EXT_REMADDR,
            ]
        );
        assert_eq!(
            m.ext(SpdExtType::SPD_EXT_REMPORT),
            Some(&SpdExt::Port {
                side: Side::Remote,
                min: 4500,
                max: 4500
            })
        );
    }
}
