//! The engine's Security Policy Database and its PF_POLICY (`spdsock`)
//! front end: active/standby SPDs, one global head plus per-tunnel heads,
//! ADDRULE/DELETERULE/FLUSH/FLIP/CLONE/DUMP with spdsock's diagnostics
//! (reference §6).

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::registry::{
    spd_apply, spd_rule_flag, Errno, SadbAalg, SadbAlgType, SadbEalg, SadbSaType, SpdActType,
    SpdDiagnostic as D, SpdExtType, SpdId, SpdMsgType,
};
use crate::wire::policy::{RuleRecord, SelectorOrder};
use crate::wire::{
    decode_actions, ActionAlt, AlgDesc, Comb, DecodeError, Ecomb, ExtName, PolicyRule, RawExtIter,
    SadbMsgPacket, Side, SpdExt, SpdHeader, SpdMsg, SpdRule, HEADER_LEN,
};

use super::sadb::AlgTable;

/// Default ESP lifetimes offered in ACQUIREs (ipsecesp defaults, §5.4).
pub(crate) const ACQ_SOFT_ADDTIME: u64 = 24000;
pub(crate) const ACQ_HARD_ADDTIME: u64 = 28800;

/// One internal rule: one direction, one address family.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Rule {
    pub(crate) index: u64,
    pub(crate) v4: bool,
    /// The rule in the shape requests state it, so that dump records are
    /// built by the same code as requests. `flags` holds exactly one of
    /// INBOUND/OUTBOUND, plus TUNNEL on tunnel-mode heads; `tun_name` is
    /// always `None` (the head the rule sits in carries the name).
    pub(crate) spec: PolicyRule,
}

fn prefix_match(net: (IpAddr, u8), ip: IpAddr) -> bool {
    match (net.0, ip) {
        (IpAddr::V4(n), IpAddr::V4(a)) => {
            let m = u32::MAX
                .checked_shl(32u32.saturating_sub(u32::from(net.1)))
                .unwrap_or(0);
            u32::from(n) & m == u32::from(a) & m
        }
        (IpAddr::V6(n), IpAddr::V6(a)) => {
            let m = u128::MAX
                .checked_shl(128u32.saturating_sub(u32::from(net.1)))
                .unwrap_or(0);
            u128::from(n) & m == u128::from(a) & m
        }
        _ => false,
    }
}

/// A packet's selectors as seen by outbound policy (for tunnel heads: the
/// inner packet).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Selector {
    /// Local (source) address.
    pub local: IpAddr,
    /// Remote (destination) address.
    pub remote: IpAddr,
    /// IP protocol (0 = any).
    pub proto: u8,
    /// Local port (0 = any).
    pub local_port: u16,
    /// Remote port (0 = any).
    pub remote_port: u16,
}

impl Rule {
    pub(crate) fn matches(&self, s: &Selector, outbound: bool) -> bool {
        let dir = if outbound {
            spd_rule_flag::SPD_RULE_FLAG_OUTBOUND
        } else {
            spd_rule_flag::SPD_RULE_FLAG_INBOUND
        };
        let r = &self.spec;
        r.flags & dir != 0
            && self.v4 == s.local.is_ipv4()
            && r.proto.is_none_or(|p| s.proto == 0 || p == s.proto)
            && r.local_port
                .is_none_or(|p| s.local_port == 0 || p == s.local_port)
            && r.remote_port
                .is_none_or(|p| s.remote_port == 0 || p == s.remote_port)
            && r.local.is_none_or(|n| prefix_match(n, s.local))
            && r.remote.is_none_or(|n| prefix_match(n, s.remote))
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct PolHead {
    pub(crate) rules: Vec<Rule>,
    pub(crate) version: u64,
}

impl PolHead {
    fn tunnel_mode(&self) -> Option<bool> {
        self.rules
            .first()
            .map(|r| r.spec.flags & spd_rule_flag::SPD_RULE_FLAG_TUNNEL != 0)
    }

    /// Highest-priority matching rule.
    pub(crate) fn lookup(&self, s: &Selector, outbound: bool) -> Option<&Rule> {
        self.rules
            .iter()
            .filter(|r| r.matches(s, outbound))
            .max_by_key(|r| r.spec.priority)
    }
}

#[derive(Debug, Clone, Default)]
pub(crate) struct Heads {
    pub(crate) global: PolHead,
    pub(crate) tunnels: BTreeMap<String, PolHead>,
}

/// Active and standby SPDs.
#[derive(Debug, Default)]
pub(crate) struct Spd {
    pub(crate) active: Heads,
    standby: Heads,
    next_index: u64,
}

/// spdsock's duplicate diagnostic table is indexed by extension type with no
/// offset, so the code reported belongs to type t+1 (reference §6.9).
fn dup_diag(t: u16) -> D {
    const TABLE: [D; 9] = [
        D::SPD_DIAGNOSTIC_DUPLICATE_LCLPORT,
        D::SPD_DIAGNOSTIC_DUPLICATE_REMPORT,
        D::SPD_DIAGNOSTIC_DUPLICATE_PROTO,
        D::SPD_DIAGNOSTIC_DUPLICATE_LCLADDR,
        D::SPD_DIAGNOSTIC_DUPLICATE_REMADDR,
        D::SPD_DIAGNOSTIC_DUPLICATE_ACTION,
        D::SPD_DIAGNOSTIC_DUPLICATE_RULE,
        D::SPD_DIAGNOSTIC_DUPLICATE_RULESET,
        D::SPD_DIAGNOSTIC_DUPLICATE_ICMP_TYPECODE,
    ];
    TABLE
        .get(usize::from(t))
        .copied()
        .unwrap_or(D::SPD_DIAGNOSTIC_NONE)
}

fn malformed_diag(t: SpdExtType) -> D {
    match t {
        SpdExtType::SPD_EXT_LCLPORT => D::SPD_DIAGNOSTIC_MALFORMED_LCLPORT,
        SpdExtType::SPD_EXT_REMPORT => D::SPD_DIAGNOSTIC_MALFORMED_REMPORT,
        SpdExtType::SPD_EXT_PROTO => D::SPD_DIAGNOSTIC_MALFORMED_PROTO,
        SpdExtType::SPD_EXT_LCLADDR | SpdExtType::SPD_EXT_REMADDR => D::SPD_DIAGNOSTIC_BAD_ADDR_LEN,
        SpdExtType::SPD_EXT_ACTION => D::SPD_DIAGNOSTIC_MALFORMED_ACTION,
        SpdExtType::SPD_EXT_RULE => D::SPD_DIAGNOSTIC_MALFORMED_RULE,
        SpdExtType::SPD_EXT_RULESET => D::SPD_DIAGNOSTIC_MALFORMED_RULESET,
        SpdExtType::SPD_EXT_ICMP_TYPECODE => D::SPD_DIAGNOSTIC_MALFORMED_ICMP_TYPECODE,
        _ => D::SPD_DIAGNOSTIC_NONE,
    }
}

type SpdReject = (Errno, D);

fn spd_frame_check(bytes: &[u8]) -> Result<SpdMsg, SpdReject> {
    let pkt = SadbMsgPacket::new_unchecked(bytes);
    if bytes.len() < HEADER_LEN || pkt.check_len().is_err() {
        return Err((Errno::EMSGSIZE, D::SPD_DIAGNOSTIC_NONE));
    }
    let mut seen = Vec::new();
    let mut it = RawExtIter::new(bytes);
    while let Some(raw) = it.next_ext(true) {
        let raw = raw.map_err(|_| (Errno::EINVAL, D::SPD_DIAGNOSTIC_BAD_EXTLEN))?;
        if raw.ext_type == 0 || raw.ext_type > SpdExtType::SPD_EXT_MAX {
            return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_UNKNOWN_EXT));
        }
        if seen.contains(&raw.ext_type) {
            return Err((Errno::EINVAL, dup_diag(raw.ext_type)));
        }
        seen.push(raw.ext_type);
    }
    SpdMsg::parse(bytes).map_err(|e| match e {
        DecodeError::Malformed {
            ext: ExtName::Spd(t),
            ..
        } => (Errno::EINVAL, malformed_diag(t)),
        _ => (Errno::EINVAL, D::SPD_DIAGNOSTIC_BAD_EXTLEN),
    })
}

fn err_reply(h: &SpdHeader, e: SpdReject) -> SpdMsg {
    let mut h = *h;
    h.errno = e.0;
    h.diagnostic = e.1;
    SpdMsg::new(h)
}

impl Spd {
    fn heads_mut(&mut self, id: SpdId) -> &mut Heads {
        if id == SpdId::SPD_STANDBY {
            &mut self.standby
        } else {
            &mut self.active
        }
    }

    /// Handle one PF_POLICY message; replies go to the sender only.
    pub(crate) fn handle(&mut self, bytes: &[u8], algs: &AlgTable) -> Vec<Vec<u8>> {
        let Some(hdr) = crate::wire::peek_header(bytes) else {
            return Vec::new();
        };
        let h = SpdHeader {
            version: hdr.version,
            msg_type: SpdMsgType(hdr.msg_type.0),
            errno: Errno::OK,
            spdid: SpdId(hdr.satype.0),
            diagnostic: D::SPD_DIAGNOSTIC_NONE,
            seq: hdr.seq,
            pid: hdr.pid,
        };
        let replies = match spd_frame_check(bytes) {
            Err(e) => vec![err_reply(&h, e)],
            Ok(m) => match self.dispatch(m, algs) {
                Ok(r) => r,
                Err(e) => vec![err_reply(&h, e)],
            },
        };
        replies.iter().filter_map(|m| m.to_bytes().ok()).collect()
    }

    fn dispatch(&mut self, m: SpdMsg, algs: &AlgTable) -> Result<Vec<SpdMsg>, SpdReject> {
        let t = m.header.msg_type;
        if m.header.spdid.0 > 1 && t != SpdMsgType::SPD_FLIP {
            return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_BAD_SPDID));
        }
        let tun = m
            .ext(SpdExtType::SPD_EXT_TUN_NAME)
            .and_then(SpdExt::tun_name_str);
        match t {
            SpdMsgType::SPD_FLUSH => {
                let heads = self.heads_mut(m.header.spdid);
                match tun.as_deref() {
                    None => heads.global = PolHead::default(),
                    Some("") => *heads = Heads::default(),
                    Some(n) => {
                        if let Some(h) = heads.tunnels.get_mut(n) {
                            *h = PolHead::default();
                        }
                    }
                }
                Ok(vec![m])
            }
            SpdMsgType::SPD_ADDRULE => self.add_rule(m, tun, algs),
            SpdMsgType::SPD_DELETERULE => self.delete_rule(m, tun),
            SpdMsgType::SPD_FLIP | SpdMsgType::SPD_CLONE => {
                let flip = t == SpdMsgType::SPD_FLIP;
                match tun.as_deref() {
                    None => {
                        if flip {
                            std::mem::swap(&mut self.active.global, &mut self.standby.global);
                        } else {
                            self.standby.global = self.active.global.clone();
                        }
                    }
                    Some("") => {
                        if flip {
                            std::mem::swap(&mut self.active, &mut self.standby);
                        } else {
                            self.standby = self.active.clone();
                        }
                    }
                    Some(n) => {
                        let Some(a) = self.active.tunnels.get(n).cloned() else {
                            return Err((
                                if flip { Errno::ESRCH } else { Errno::ENOENT },
                                D::SPD_DIAGNOSTIC_NONE,
                            ));
                        };
                        if flip {
                            let s = self.standby.tunnels.remove(n).unwrap_or_default();
                            self.standby.tunnels.insert(n.to_string(), a);
                            self.active.tunnels.insert(n.to_string(), s);
                        } else {
                            self.standby.tunnels.insert(n.to_string(), a);
                        }
                    }
                }
                Ok(vec![m])
            }
            SpdMsgType::SPD_DUMP => Ok(self.dump(&m, tun)),
            SpdMsgType::SPD_ALGLIST => Ok(vec![alglist(&m.header, algs)]),
            // SPD_LOOKUP is not implemented in illumos either.
            SpdMsgType::SPD_LOOKUP => Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_NONE)),
            _ => Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_BAD_MSG_TYPE)),
        }
    }

    fn rules_from(
        m: &SpdMsg,
        tunnel_head: bool,
        algs: Option<&AlgTable>,
    ) -> Result<(SpdRule, Vec<Rule>), SpdReject> {
        let Some(SpdExt::Rule(r)) = m.ext(SpdExtType::SPD_EXT_RULE) else {
            return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_NO_RULE_EXT));
        };
        let mut proto = None;
        let (mut lport, mut rport, mut laddr, mut raddr, mut icmp) = (None, None, None, None, None);
        for e in &m.exts {
            match e {
                SpdExt::Proto(p) => proto = Some(*p),
                SpdExt::Port {
                    side: Side::Local,
                    min,
                    ..
                } => lport = Some(*min),
                SpdExt::Port {
                    side: Side::Remote,
                    min,
                    ..
                } => rport = Some(*min),
                SpdExt::Addr {
                    side: Side::Local,
                    prefixlen,
                    addr,
                } => laddr = Some((*addr, *prefixlen)),
                SpdExt::Addr {
                    side: Side::Remote,
                    prefixlen,
                    addr,
                } => raddr = Some((*addr, *prefixlen)),
                SpdExt::IcmpTypeCode(t) => icmp = Some(*t),
                _ => {}
            }
        }
        if let (Some(l), Some(r)) = (laddr, raddr) {
            if l.0.is_ipv4() != r.0.is_ipv4() {
                return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_MIXED_AF));
            }
        }
        let mut actions = Vec::new();
        if let Some(algs) = algs {
            let Some(SpdExt::Action { count, attrs }) = m.ext(SpdExtType::SPD_EXT_ACTION) else {
                return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_NO_ACTION_EXT));
            };
            actions = decode_actions(*count, attrs).map_err(|e| (Errno::EINVAL, e.diagnostic()))?;
            let tunnel_mode = r.flags & spd_rule_flag::SPD_RULE_FLAG_TUNNEL != 0;
            for a in &mut actions {
                check_action(a, algs, tunnel_head, tunnel_mode)?;
            }
        }
        let fams: Vec<bool> = match laddr.or(raddr) {
            Some((a, _)) => vec![a.is_ipv4()],
            None => vec![true, false],
        };
        let mut out = Vec::new();
        for dir in [
            spd_rule_flag::SPD_RULE_FLAG_INBOUND,
            spd_rule_flag::SPD_RULE_FLAG_OUTBOUND,
        ] {
            if r.flags & dir == 0 {
                continue;
            }
            for &v4 in &fams {
                out.push(Rule {
                    index: 0,
                    v4,
                    spec: PolicyRule {
                        priority: r.priority,
                        flags: dir | (r.flags & spd_rule_flag::SPD_RULE_FLAG_TUNNEL),
                        tun_name: None,
                        proto,
                        icmp,
                        local_port: lport,
                        remote_port: rport,
                        local: laddr,
                        remote: raddr,
                        actions: actions.clone(),
                    },
                });
            }
        }
        Ok((*r, out))
    }

    fn add_rule(
        &mut self,
        mut m: SpdMsg,
        tun: Option<String>,
        algs: &AlgTable,
    ) -> Result<Vec<SpdMsg>, SpdReject> {
        if tun.as_deref() == Some("") {
            return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_NOT_GLOBAL_OP));
        }
        if let Some(SpdExt::Rule(r)) = m.ext(SpdExtType::SPD_EXT_RULE) {
            if r.index != 0 {
                return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_INVALID_RULE_INDEX));
            }
        }
        let (_, mut rules) = Self::rules_from(&m, tun.is_some(), Some(algs))?;
        let spdid = m.header.spdid;
        let mut next = self.next_index;
        let head = {
            let heads = self.heads_mut(spdid);
            match &tun {
                None => &mut heads.global,
                Some(n) => heads.tunnels.entry(n.clone()).or_default(),
            }
        };
        let new_tunnel = rules
            .first()
            .is_some_and(|r| r.spec.flags & spd_rule_flag::SPD_RULE_FLAG_TUNNEL != 0);
        if tun.is_some() {
            if let Some(mode) = head.tunnel_mode() {
                if mode != new_tunnel {
                    return Err((Errno::EBUSY, D::SPD_DIAGNOSTIC_NONE));
                }
            }
            let has_sel = rules.first().map(|r| &r.spec).is_some_and(|r| {
                r.proto.is_some()
                    || r.local_port.is_some()
                    || r.remote_port.is_some()
                    || r.local.is_some()
                    || r.remote.is_some()
            });
            if !new_tunnel && has_sel {
                return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_NO_TUNNEL_SELECTORS));
            }
        }
        for r in &rules {
            let dup = head.rules.iter().any(|x| {
                Rule {
                    index: 0,
                    ..x.clone()
                } == Rule {
                    index: 0,
                    ..r.clone()
                }
            });
            if dup {
                return Err((Errno::EEXIST, D::SPD_DIAGNOSTIC_NONE));
            }
        }
        let mut last = 0;
        for r in &mut rules {
            next = next.saturating_add(1);
            r.index = next;
            last = next;
        }
        head.rules.extend(rules);
        head.version = head.version.saturating_add(1);
        self.next_index = next;
        for e in &mut m.exts {
            if let SpdExt::Rule(r) = e {
                r.index = last;
            }
        }
        Ok(vec![m])
    }

    fn delete_rule(&mut self, m: SpdMsg, tun: Option<String>) -> Result<Vec<SpdMsg>, SpdReject> {
        if tun.as_deref() == Some("") {
            return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_NOT_GLOBAL_OP));
        }
        let (rule, rules) = Self::rules_from(&m, tun.is_some(), None)?;
        let heads = self.heads_mut(m.header.spdid);
        let head = match &tun {
            None => &mut heads.global,
            Some(n) => heads
                .tunnels
                .get_mut(n)
                .ok_or((Errno::ENOENT, D::SPD_DIAGNOSTIC_NONE))?,
        };
        if rule.index != 0 {
            let before = head.rules.len();
            head.rules.retain(|r| r.index != rule.index);
            if head.rules.len() == before {
                return Err((Errno::ESRCH, D::SPD_DIAGNOSTIC_NONE));
            }
        } else {
            // Priority and actions do not name a rule, only its selectors.
            let same = |x: &Rule, y: &Rule| {
                let (a, b) = (&x.spec, &y.spec);
                a.flags == b.flags
                    && x.v4 == y.v4
                    && a.proto == b.proto
                    && a.local_port == b.local_port
                    && a.remote_port == b.remote_port
                    && a.local == b.local
                    && a.remote == b.remote
                    && a.icmp == b.icmp
            };
            for r in &rules {
                let pos = head.rules.iter().position(|x| same(x, r));
                match pos {
                    Some(p) => {
                        head.rules.remove(p);
                    }
                    None => return Err((Errno::ESRCH, D::SPD_DIAGNOSTIC_NONE)),
                }
            }
        }
        head.version = head.version.saturating_add(1);
        Ok(vec![m])
    }

    fn dump(&self, m: &SpdMsg, tun: Option<String>) -> Vec<SpdMsg> {
        let heads = if m.header.spdid == SpdId::SPD_STANDBY {
            &self.standby
        } else {
            &self.active
        };
        let mut list: Vec<(Option<&str>, &PolHead)> = Vec::new();
        match tun.as_deref() {
            None => list.push((None, &heads.global)),
            Some("") => {
                list.push((None, &heads.global));
                for (n, h) in &heads.tunnels {
                    list.push((Some(n), h));
                }
            }
            Some(n) => {
                if let Some(h) = heads.tunnels.get(n) {
                    list.push((Some(n), h));
                }
            }
        }
        let version = list.iter().map(|(_, h)| h.version).sum::<u64>();
        let mut out = vec![SpdMsg::new(m.header).with(SpdExt::Ruleset { count: 0, version })];
        let mut count = 0u32;
        let mut trailer_errno = Errno::OK;
        for (name, head) in list {
            for r in &head.rules {
                let mut rec = SpdMsg::new(m.header);
                let built = r.spec.push_exts(
                    &mut rec.exts,
                    RuleRecord {
                        index: r.index,
                        tun_name: name,
                        order: SelectorOrder::Dump,
                        with_actions: true,
                    },
                );
                // Stored programs were decoded from a u16 count, so
                // re-encoding cannot overflow; should it ever fail, the
                // trailer says so the way spdsock reports a record it could
                // not build, instead of a record without its ACTION.
                if built.is_err() {
                    trailer_errno = Errno::ENOMEM;
                    continue;
                }
                out.push(rec);
                count = count.saturating_add(1);
            }
        }
        let mut trailer = m.header;
        trailer.errno = trailer_errno;
        out.push(SpdMsg::new(trailer).with(SpdExt::Ruleset { count, version }));
        out
    }
}

fn check_action(
    a: &mut ActionAlt,
    algs: &AlgTable,
    tunnel_head: bool,
    tunnel_mode: bool,
) -> Result<(), SpdReject> {
    let incon = (Errno::EINVAL, D::SPD_DIAGNOSTIC_ADD_INCON_FLAGS);
    let ipsec_bits = spd_apply::SPD_APPLY_AH
        | spd_apply::SPD_APPLY_ESP
        | spd_apply::SPD_APPLY_ESPA
        | spd_apply::SPD_APPLY_SE
        | spd_apply::SPD_APPLY_UNIQUE;
    if a.act_type == SpdActType::SPD_ACTTYPE_IPSEC {
        if a.flags & (spd_apply::SPD_APPLY_AH | spd_apply::SPD_APPLY_ESP) == 0 {
            return Err(incon);
        }
        if tunnel_head && tunnel_mode && a.flags & spd_apply::SPD_APPLY_UNIQUE != 0 {
            return Err(incon);
        }
        if tunnel_head && !tunnel_mode {
            a.flags |= spd_apply::SPD_APPLY_UNIQUE;
        }
    } else if a.flags & ipsec_bits != 0 {
        return Err(incon);
    }
    if a.flags & spd_apply::SPD_APPLY_ESP != 0 {
        let id = a.esp_encr.and_then(|v| u8::try_from(v).ok()).unwrap_or(0);
        let Some(info) = algs.encr(id) else {
            return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_UNSUPP_ESP_ENCR_ALG));
        };
        let min = a.encr_minbits.unwrap_or(0);
        let max = a.encr_maxbits.unwrap_or(0xffff);
        if min > u32::from(info.maxbits) || max < u32::from(info.minbits) || min > max {
            return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_UNSUPP_ESP_ENCR_KEYSIZE));
        }
    }
    if a.flags & spd_apply::SPD_APPLY_ESPA != 0 {
        let id = a.esp_auth.and_then(|v| u8::try_from(v).ok()).unwrap_or(0);
        if algs.auth(id).is_none() {
            return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_UNSUPP_ESP_AUTH_ALG));
        }
    }
    if a.flags & spd_apply::SPD_APPLY_AH != 0 {
        let id = a.ah_auth.and_then(|v| u8::try_from(v).ok()).unwrap_or(0);
        if algs.auth(id).is_none() {
            return Err((Errno::EINVAL, D::SPD_DIAGNOSTIC_UNSUPP_AH_ALG));
        }
    }
    Ok(())
}

/// `SPD_ALGLIST` reply: one ACTION extension listing the table (§6.8).
fn alglist(h: &SpdHeader, algs: &AlgTable) -> SpdMsg {
    use crate::registry::SpdAttrTag as T;
    use crate::wire::SpdAttr;
    let mut attrs = Vec::new();
    let mut n = 0u16;
    let mut add = |tags: [T; 5], a: &super::sadb::AlgInfo| {
        let vals = [
            u32::from(a.id),
            u32::from(a.minbits),
            u32::from(a.maxbits),
            u32::from(a.minbits),
            u32::from(a.increment),
        ];
        for (tag, value) in tags.into_iter().zip(vals) {
            attrs.push(SpdAttr { tag, value });
        }
        attrs.push(SpdAttr {
            tag: T::SPD_ATTR_NEXT,
            value: 0,
        });
        n = n.saturating_add(1);
    };
    for a in &algs.auth {
        add(
            [
                T::SPD_ATTR_AH_AUTH,
                T::SPD_ATTR_AH_MINBITS,
                T::SPD_ATTR_AH_MAXBITS,
                T::SPD_ATTR_AH_DEFBITS,
                T::SPD_ATTR_AH_INCRBITS,
            ],
            a,
        );
        add(
            [
                T::SPD_ATTR_ESP_AUTH,
                T::SPD_ATTR_ESPA_MINBITS,
                T::SPD_ATTR_ESPA_MAXBITS,
                T::SPD_ATTR_ESPA_DEFBITS,
                T::SPD_ATTR_ESPA_INCRBITS,
            ],
            a,
        );
    }
    for a in &algs.encr {
        add(
            [
                T::SPD_ATTR_ESP_ENCR,
                T::SPD_ATTR_ENCR_MINBITS,
                T::SPD_ATTR_ENCR_MAXBITS,
                T::SPD_ATTR_ENCR_DEFBITS,
                T::SPD_ATTR_ENCR_INCRBITS,
            ],
            a,
        );
    }
    if let Some(last) = attrs.last_mut() {
        last.tag = T::SPD_ATTR_END;
    }
    SpdMsg::new(*h).with(SpdExt::Action { count: n, attrs })
}

/// Clamp a policy alternative to the algorithm table: the `sadb_comb` the
/// kernel puts in a regular ACQUIRE, or `None` if not ESP/unavailable.
pub(crate) fn alt_to_comb(a: &ActionAlt, algs: &AlgTable) -> Option<Comb> {
    if a.act_type != SpdActType::SPD_ACTTYPE_IPSEC || a.flags & spd_apply::SPD_APPLY_ESP == 0 {
        return None;
    }
    let e = algs.encr(u8::try_from(a.esp_encr?).ok()?)?;
    let emin = u16::try_from(a.encr_minbits.unwrap_or(0))
        .unwrap_or(u16::MAX)
        .max(e.minbits);
    let emax = u16::try_from(a.encr_maxbits.unwrap_or(0xffff))
        .unwrap_or(u16::MAX)
        .min(e.maxbits);
    let (auth, amin, amax) = match (a.flags & spd_apply::SPD_APPLY_ESPA != 0, a.esp_auth) {
        (true, Some(id)) => {
            let x = algs.auth(u8::try_from(id).ok()?)?;
            (SadbAalg(x.id), x.minbits, x.maxbits)
        }
        _ => (SadbAalg::SADB_AALG_NONE, 0, 0),
    };
    Some(Comb {
        auth,
        encrypt: SadbEalg(e.id),
        flags: 0,
        auth_minbits: amin,
        auth_maxbits: amax,
        encrypt_minbits: emin,
        encrypt_maxbits: emax,
        encrypt_saltbits: e.saltbits,
        soft_addtime: ACQ_SOFT_ADDTIME,
        hard_addtime: ACQ_HARD_ADDTIME,
        ..Comb::default()
    })
}

/// The `sadb_x_ecomb` for an alternative (extended ACQUIRE / INVERSE
/// reply): algdescs AH auth, ESP auth, ESP encr in that order (§5.6.2).
pub(crate) fn alt_to_ecomb(a: &ActionAlt, algs: &AlgTable) -> Option<Ecomb> {
    if a.act_type != SpdActType::SPD_ACTTYPE_IPSEC {
        return None;
    }
    let mut descs = Vec::new();
    let desc = |satype,
                algtype,
                id: u8,
                info: &super::sadb::AlgInfo,
                min: Option<u32>,
                max: Option<u32>| AlgDesc {
        satype,
        algtype,
        alg: id,
        saltbits: info.saltbits,
        minbits: u16::try_from(min.unwrap_or(0))
            .unwrap_or(u16::MAX)
            .max(info.minbits),
        maxbits: u16::try_from(max.unwrap_or(0xffff))
            .unwrap_or(u16::MAX)
            .min(info.maxbits),
    };
    if a.flags & spd_apply::SPD_APPLY_AH != 0 {
        let id = u8::try_from(a.ah_auth?).ok()?;
        descs.push(desc(
            SadbSaType::SADB_SATYPE_AH,
            SadbAlgType::SADB_X_ALGTYPE_AUTH,
            id,
            algs.auth(id)?,
            a.ah_minbits,
            a.ah_maxbits,
        ));
    }
    if a.flags & spd_apply::SPD_APPLY_ESPA != 0 {
        let id = u8::try_from(a.esp_auth?).ok()?;
        descs.push(desc(
            SadbSaType::SADB_SATYPE_ESP,
            SadbAlgType::SADB_X_ALGTYPE_AUTH,
            id,
            algs.auth(id)?,
            a.espa_minbits,
            a.espa_maxbits,
        ));
    }
    if a.flags & spd_apply::SPD_APPLY_ESP != 0 {
        let id = u8::try_from(a.esp_encr?).ok()?;
        descs.push(desc(
            SadbSaType::SADB_SATYPE_ESP,
            SadbAlgType::SADB_X_ALGTYPE_CRYPT,
            id,
            algs.encr(id)?,
            a.encr_minbits,
            a.encr_maxbits,
        ));
    }
    Some(Ecomb {
        soft_addtime: ACQ_SOFT_ADDTIME,
        hard_addtime: ACQ_HARD_ADDTIME,
        algs: descs,
        ..Ecomb::default()
    })
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[test]
    fn dump_record_repeats_the_added_rule_in_spdsock_order() {
        let algs = AlgTable::illumos_default();
        let mut spd = Spd::default();
        let rule = PolicyRule {
            priority: 0x10,
            flags: spd_rule_flag::SPD_RULE_FLAG_OUTBOUND,
            proto: Some(6),
            local_port: Some(22),
            remote_port: Some(2222),
            local: Some((Ipv4Addr::new(10, 1, 0, 0).into(), 24)),
            remote: Some((Ipv4Addr::new(10, 2, 0, 0).into(), 24)),
            actions: vec![ActionAlt::esp(20, Some(128), None)],
            ..PolicyRule::default()
        };
        let add = SpdMsg::rule(SpdMsgType::SPD_ADDRULE, SpdId::SPD_ACTIVE, &rule, 1, 5).unwrap();
        let reply = spd.handle(&add.to_bytes().unwrap(), &algs);
        let reply = SpdMsg::parse(reply.first().unwrap()).unwrap();
        assert_eq!(reply.header.errno, Errno::OK);

        let dump = SpdMsg::dump(SpdId::SPD_ACTIVE, None, 2, 5)
            .to_bytes()
            .unwrap();
        let out: Vec<SpdMsg> = spd
            .handle(&dump, &algs)
            .iter()
            .map(|b| SpdMsg::parse(b).unwrap())
            .collect();
        assert_eq!(out.len(), 3, "header, one record, trailer");
        let rec = &out[1];
        let types: Vec<_> = rec.exts.iter().map(SpdExt::ext_type).collect();
        assert_eq!(
            types,
            [
                SpdExtType::SPD_EXT_RULE,
                SpdExtType::SPD_EXT_PROTO,
                SpdExtType::SPD_EXT_LCLPORT,
                SpdExtType::SPD_EXT_REMPORT,
                SpdExtType::SPD_EXT_REMADDR,
                SpdExtType::SPD_EXT_LCLADDR,
                SpdExtType::SPD_EXT_ACTION,
            ]
        );
        // The kernel's index comes back; everything else as added.
        let Some(SpdExt::Rule(r)) = rec.ext(SpdExtType::SPD_EXT_RULE) else {
            panic!("no RULE")
        };
        assert_eq!((r.priority, r.flags, r.index), (0x10, rule.flags, 1));
        for e in &add.exts {
            if e.ext_type() != SpdExtType::SPD_EXT_RULE {
                assert!(rec.exts.contains(e), "{e:?} not in the dump record");
            }
        }
        assert_eq!(out[2].header.errno, Errno::OK);
        assert!(matches!(
            out[2].ext(SpdExtType::SPD_EXT_RULESET),
            Some(SpdExt::Ruleset { count: 1, .. })
        ));
    }
}
