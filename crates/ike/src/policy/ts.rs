//! Traffic selectors: parsing from configuration, intersection and the
//! responder's narrowing (RFC 7296 §2.9), and the initiator's check that
//! the narrowed result lies inside what it proposed.
//!
//! Pure functions over [`TrafficSelector`]; they never fail on peer input:
//! selector types we do not know (`Other`) simply intersect with nothing.

use core::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::wire::TrafficSelector;

/// RFC 4301 §4.4.1.1: a port range with start > end means OPAQUE (the
/// ports cannot be seen, e.g. fragments); IKE carries it as 65535..0.
fn is_opaque(start: u16, end: u16) -> bool {
    start > end
}

/// A selector as plain numbers: family, protocol, ports, address range.
#[derive(Clone, Copy, PartialEq, Eq)]
struct Flat {
    v6: bool,
    proto: u8,
    sp: u16,
    ep: u16,
    start: u128,
    end: u128,
}

fn flat(ts: &TrafficSelector) -> Option<Flat> {
    match ts {
        TrafficSelector::Ipv4 {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        } => Some(Flat {
            v6: false,
            proto: *ip_protocol,
            sp: *start_port,
            ep: *end_port,
            start: u128::from(u32::from(*start)),
            end: u128::from(u32::from(*end)),
        }),
        TrafficSelector::Ipv6 {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        } => Some(Flat {
            v6: true,
            proto: *ip_protocol,
            sp: *start_port,
            ep: *end_port,
            start: u128::from(*start),
            end: u128::from(*end),
        }),
        TrafficSelector::Other { .. } => None,
    }
}

fn unflat(f: Flat) -> TrafficSelector {
    if f.v6 {
        TrafficSelector::Ipv6 {
            ip_protocol: f.proto,
            start_port: f.sp,
            end_port: f.ep,
            start: Ipv6Addr::from(f.start),
            end: Ipv6Addr::from(f.end),
        }
    } else {
        // INVARIANT-free narrowing: IPv4 values came from u32s and
        // intersection only moves within them, so try_from cannot fail; a
        // failure would yield 0.0.0.0, never a panic.
        let v4 = |x: u128| Ipv4Addr::from(u32::try_from(x).unwrap_or(0));
        TrafficSelector::Ipv4 {
            ip_protocol: f.proto,
            start_port: f.sp,
            end_port: f.ep,
            start: v4(f.start),
            end: v4(f.end),
        }
    }
}

/// The intersection of two selectors, or `None` if it is empty
/// (RFC 7296 §2.9). Protocol 0 matches any protocol; ports intersect as
/// ranges; an OPAQUE range survives only against itself or the full range.
pub fn intersect(a: &TrafficSelector, b: &TrafficSelector) -> Option<TrafficSelector> {
    let (a, b) = (flat(a)?, flat(b)?);
    if a.v6 != b.v6 {
        return None;
    }
    let proto = match (a.proto, b.proto) {
        (0, p) | (p, 0) => p,
        (p, q) if p == q => p,
        _ => return None,
    };
    let any = |f: &Flat| f.sp == 0 && f.ep == u16::MAX;
    let (sp, ep) = match (is_opaque(a.sp, a.ep), is_opaque(b.sp, b.ep)) {
        (true, true) => (a.sp, a.ep),
        (true, false) if any(&b) => (a.sp, a.ep),
        (false, true) if any(&a) => (b.sp, b.ep),
        (false, false) => {
            let (sp, ep) = (a.sp.max(b.sp), a.ep.min(b.ep));
            if sp > ep {
                return None;
            }
            (sp, ep)
        }
        _ => return None,
    };
    let (start, end) = (a.start.max(b.start), a.end.min(b.end));
    if start > end {
        return None;
    }
    Some(unflat(Flat {
        v6: a.v6,
        proto,
        sp,
        ep,
        start,
        end,
    }))
}

/// Whether `inner` lies entirely inside `outer`.
pub fn is_subset(inner: &TrafficSelector, outer: &TrafficSelector) -> bool {
    intersect(inner, outer).as_ref() == Some(inner)
}

/// Responder narrowing (RFC 7296 §2.9): intersect every selector the
/// initiator proposed with every configured one, in the configured order.
/// A result contained in one already kept is dropped, so the initiator's
/// packet selector (its first TS, from an acquire) does not come back
/// twice. An empty result means TS_UNACCEPTABLE.
pub fn narrow(
    proposed: &[TrafficSelector],
    configured: &[TrafficSelector],
) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for c in configured {
        for p in proposed {
            if let Some(i) = intersect(p, c) {
                if !out.iter().any(|o| is_subset(&i, o)) {
                    out.retain(|o| !is_subset(o, &i));
                    out.push(i);
                }
            }
        }
    }
    out
}

/// Initiator check: every selector the responder returned lies inside one
/// we proposed (RFC 7296 §2.9 allows narrowing, never widening).
pub fn check_narrowed(returned: &[TrafficSelector], proposed: &[TrafficSelector]) -> bool {
    !returned.is_empty()
        && returned
            .iter()
            .all(|r| proposed.iter().any(|p| is_subset(r, p)))
}

/// The address family of selectors, for CHILD_SAs that carry one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Family {
    /// IPv4 selectors.
    Ipv4,
    /// IPv6 selectors.
    Ipv6,
}

impl Family {
    /// The family of `ts`; `None` for a selector type we do not know.
    pub fn of(ts: &TrafficSelector) -> Option<Self> {
        match ts {
            TrafficSelector::Ipv4 { .. } => Some(Self::Ipv4),
            TrafficSelector::Ipv6 { .. } => Some(Self::Ipv6),
            TrafficSelector::Other { .. } => None,
        }
    }

    /// The other family.
    pub fn other(self) -> Self {
        match self {
            Self::Ipv4 => Self::Ipv6,
            Self::Ipv6 => Self::Ipv4,
        }
    }
}

impl fmt::Display for Family {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Ipv4 => "IPv4",
            Self::Ipv6 => "IPv6",
        })
    }
}

/// The selectors of `ts` of family `f`.
pub fn of_family(ts: &[TrafficSelector], f: Family) -> Vec<TrafficSelector> {
    ts.iter()
        .filter(|t| Family::of(t) == Some(f))
        .cloned()
        .collect()
}

/// Whether both sides have selectors of family `f`.
pub fn both_have(a: &[TrafficSelector], b: &[TrafficSelector], f: Family) -> bool {
    let has = |v: &[TrafficSelector]| v.iter().any(|t| Family::of(t) == Some(f));
    has(a) && has(b)
}

/// One CHILD_SA's selectors when a CHILD_SA may carry one address family
/// (a PF_KEY tunnel-mode SA holds one inner address pair, and illumos
/// selects SAs by inner family): `lead` and `other` restricted to
/// `family`, or, when `None`, to the family of the first selector of
/// `lead` that `other` also has (RFC 7296 §2.9: the first selectors are
/// the traffic that asked for the CHILD_SA). Also returns the family left
/// out when both sides had selectors of it, for a second CHILD_SA. With no
/// family on both sides the selectors are returned as they are.
pub fn split_family(
    lead: &[TrafficSelector],
    other: &[TrafficSelector],
    family: Option<Family>,
) -> (Vec<TrafficSelector>, Vec<TrafficSelector>, Option<Family>) {
    let chosen = family.or_else(|| {
        lead.iter()
            .filter_map(Family::of)
            .find(|f| both_have(lead, other, *f))
    });
    match chosen {
        Some(f) if both_have(lead, other, f) => (
            of_family(lead, f),
            of_family(other, f),
            both_have(lead, other, f.other()).then_some(f.other()),
        ),
        _ => (lead.to_vec(), other.to_vec(), None),
    }
}

/// A configured selector that could not be parsed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad traffic selector '{text}': {reason}")]
pub struct TsParseError {
    /// The selector as written.
    pub text: String,
    /// What is wrong.
    pub reason: &'static str,
}

/// Parses a swanctl-style selector: `10.0.0.0/24`, `192.0.2.1`,
/// `10.0.0.1-10.0.0.9`, `::/0`, optionally followed by
/// `[proto]`, `[proto/port]` or `[proto/lo-hi]` (`tcp`, `udp`, `icmp`,
/// `ipv6-icmp`, `any` or a number).
pub fn parse_ts(text: &str) -> Result<TrafficSelector, TsParseError> {
    let err = |reason| TsParseError {
        text: text.to_owned(),
        reason,
    };
    let t = text.trim();
    let (addr, extra) = match t.split_once('[') {
        Some((a, rest)) => (
            a,
            Some(rest.strip_suffix(']').ok_or_else(|| err("missing ']'"))?),
        ),
        None => (t, None),
    };
    let (v6, start, end) = if let Some((a, len)) = addr.split_once('/') {
        let ip: IpAddr = a.parse().map_err(|_| err("bad address"))?;
        let len: u32 = len.parse().map_err(|_| err("bad prefix length"))?;
        let (v6, bits, x) = match ip {
            IpAddr::V4(v) => (false, 32u32, u128::from(u32::from(v))),
            IpAddr::V6(v) => (true, 128u32, u128::from(v)),
        };
        if len > bits {
            return Err(err("prefix length too long"));
        }
        let host_bits = bits.saturating_sub(len);
        let host = u128::MAX
            .checked_shr(128u32.saturating_sub(host_bits))
            .filter(|_| host_bits > 0)
            .unwrap_or(0);
        (v6, x & !host, x | host)
    } else if let Some((a, b)) = addr.split_once('-') {
        match (a.trim().parse::<IpAddr>(), b.trim().parse::<IpAddr>()) {
            (Ok(IpAddr::V4(a)), Ok(IpAddr::V4(b))) => {
                (false, u128::from(u32::from(a)), u128::from(u32::from(b)))
            }
            (Ok(IpAddr::V6(a)), Ok(IpAddr::V6(b))) => (true, u128::from(a), u128::from(b)),
            _ => return Err(err("bad address range")),
        }
    } else {
        match addr.parse::<IpAddr>().map_err(|_| err("bad address"))? {
            IpAddr::V4(a) => (false, u128::from(u32::from(a)), u128::from(u32::from(a))),
            IpAddr::V6(a) => (true, u128::from(a), u128::from(a)),
        }
    };
    if start > end {
        return Err(err("range start after end"));
    }
    let (proto, sp, ep) = match extra {
        None => (0, 0, u16::MAX),
        Some(x) => {
            let (p, ports) = match x.split_once('/') {
                Some((p, ports)) => (p, Some(ports)),
                None => (x, None),
            };
            let proto = match p {
                "" | "any" => 0,
                "icmp" => 1,
                "tcp" => 6,
                "udp" => 17,
                "ipv6-icmp" | "icmp6" => 58,
                n => n.parse().map_err(|_| err("bad protocol"))?,
            };
            let (sp, ep) = match ports {
                None | Some("any" | "%any") => (0, u16::MAX),
                Some("opaque" | "%opaque") => (u16::MAX, 0),
                Some(r) => match r.split_once('-') {
                    Some((a, b)) => (
                        a.parse().map_err(|_| err("bad port"))?,
                        b.parse().map_err(|_| err("bad port"))?,
                    ),
                    None => {
                        let p = r.parse().map_err(|_| err("bad port"))?;
                        (p, p)
                    }
                },
            };
            (proto, sp, ep)
        }
    };
    Ok(unflat(Flat {
        v6,
        proto,
        sp,
        ep,
        start,
        end,
    }))
}

/// A list of selectors for logs: `10.0.0.0/24 192.0.2.1/32[tcp/80]`.
pub struct TsList<'a>(pub &'a [TrafficSelector]);

impl fmt::Display for TsList<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (n, t) in self.0.iter().enumerate() {
            if n > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

/// The host selector for one address (all protocols and ports).
pub fn host(addr: IpAddr) -> TrafficSelector {
    match addr {
        IpAddr::V4(a) => TrafficSelector::Ipv4 {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start: a,
            end: a,
        },
        IpAddr::V6(a) => TrafficSelector::Ipv6 {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start: a,
            end: a,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ts(s: &str) -> TrafficSelector {
        parse_ts(s).unwrap()
    }

    #[test]
    fn parses_swanctl_notation() {
        assert_eq!(ts("10.0.0.0/24").to_string(), "10.0.0.0/24");
        assert_eq!(ts("10.0.0.7/24").to_string(), "10.0.0.0/24");
        assert_eq!(ts("0.0.0.0/0").to_string(), "0.0.0.0/0");
        assert_eq!(ts("192.0.2.1[tcp/80]").to_string(), "192.0.2.1/32[tcp/80]");
        assert_eq!(
            ts("10.0.0.1-10.0.0.9[udp/500-4500]").to_string(),
            "10.0.0.1-10.0.0.9[udp/500-4500]"
        );
        assert_eq!(ts("2001:db8::/32").to_string(), "2001:db8::/32");
        assert_eq!(ts("::/0").to_string(), "::/0");
        assert_eq!(ts("10.0.0.0/8[17]").to_string(), "10.0.0.0/8[udp]");
        for bad in [
            "10.0.0.0/33",
            "10.0.0.300/8",
            "10.0.0.9-10.0.0.1",
            "10.0.0.0/8[tcp",
            "1.2.3.4[xyz]",
            "1.2.3.4-::1",
            "1.2.3.4[tcp/x]",
        ] {
            assert!(parse_ts(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn split_family_keeps_the_lead_family_and_names_the_one_left_out() {
        let t = |v: &[&str]| v.iter().map(|x| parse_ts(x).unwrap()).collect::<Vec<_>>();
        let (l, r, left) = split_family(
            &t(&["fd00:1::/64", "10.1.0.0/16"]),
            &t(&["10.2.0.0/16", "fd00:2::/64"]),
            None,
        );
        assert_eq!((l, r), (t(&["fd00:1::/64"]), t(&["fd00:2::/64"])));
        assert_eq!(left, Some(Family::Ipv4));
        let (l, r, left) = split_family(
            &t(&["fd00:1::/64", "10.1.0.0/16"]),
            &t(&["10.2.0.0/16", "fd00:2::/64"]),
            Some(Family::Ipv4),
        );
        assert_eq!((l, r), (t(&["10.1.0.0/16"]), t(&["10.2.0.0/16"])));
        assert_eq!(left, Some(Family::Ipv6));
        // The lead's first family has no partner: the next one is used.
        let (l, r, left) = split_family(
            &t(&["fd00:1::/64", "10.1.0.0/16"]),
            &t(&["10.2.0.0/16"]),
            None,
        );
        assert_eq!(
            (l, r, left),
            (t(&["10.1.0.0/16"]), t(&["10.2.0.0/16"]), None)
        );
        // No family in common: unchanged (narrowing will refuse it).
        let (l, r, left) = split_family(&t(&["fd00:1::/64"]), &t(&["10.2.0.0/16"]), None);
        assert_eq!(
            (l, r, left),
            (t(&["fd00:1::/64"]), t(&["10.2.0.0/16"]), None)
        );
    }

    #[test]
    fn narrows_to_the_intersection() {
        let proposed = [ts("10.1.0.5[tcp/443]"), ts("10.0.0.0/8")];
        let configured = [ts("10.1.0.0/16")];
        let n = narrow(&proposed, &configured);
        assert_eq!(TsList(&n).to_string(), "10.1.0.0/16");
        let n = narrow(
            &[ts("10.0.0.0/8[tcp]")],
            &[ts("10.1.0.0/16[any/1000-2000]"), ts("10.2.0.0/16")],
        );
        assert_eq!(
            TsList(&n).to_string(),
            "10.1.0.0/16[tcp/1000-2000] 10.2.0.0/16[tcp]"
        );
    }

    #[test]
    fn narrowing_can_be_empty() {
        assert!(narrow(&[ts("10.0.0.0/8")], &[ts("192.168.0.0/16")]).is_empty());
        assert!(narrow(&[ts("10.0.0.0/8[tcp]")], &[ts("10.0.0.0/8[udp]")]).is_empty());
        assert!(narrow(&[ts("10.0.0.0/8[tcp/1-5]")], &[ts("10.0.0.0/8[tcp/6-9]")]).is_empty());
        assert!(narrow(&[ts("::/0")], &[ts("0.0.0.0/0")]).is_empty());
        let other = TrafficSelector::Other {
            ts_type: crate::wire::TsType::TS_SECLABEL,
            byte1: 0,
            data: vec![1],
        };
        assert!(narrow(&[other], &[ts("0.0.0.0/0")]).is_empty());
    }

    #[test]
    fn opaque_ports_survive_only_against_any() {
        let op = ts("10.0.0.0/8[udp/opaque]");
        assert_eq!(intersect(&op, &ts("0.0.0.0/0")), Some(op.clone()));
        assert_eq!(intersect(&op, &op), Some(op.clone()));
        assert_eq!(intersect(&op, &ts("0.0.0.0/0[udp/53]")), None);
    }

    #[test]
    fn initiator_rejects_widened_selectors() {
        assert!(check_narrowed(&[ts("10.1.0.0/16")], &[ts("10.0.0.0/8")]));
        assert!(!check_narrowed(&[ts("10.0.0.0/7")], &[ts("10.0.0.0/8")]));
        assert!(!check_narrowed(&[], &[ts("10.0.0.0/8")]));
    }

    fn arb_ts() -> impl Strategy<Value = TrafficSelector> {
        (
            any::<bool>(),
            prop_oneof![Just(0u8), Just(6u8), Just(17u8)],
            any::<u16>(),
            any::<u16>(),
            any::<u128>(),
            any::<u128>(),
        )
            .prop_map(|(v6, proto, a, b, x, y)| {
                let (sp, ep) = (a.min(b), a.max(b));
                let (x, y) = if v6 {
                    (x, y)
                } else {
                    (x & 0xffff_ffff, y & 0xffff_ffff)
                };
                unflat(Flat {
                    v6,
                    proto,
                    sp,
                    ep,
                    start: x.min(y),
                    end: x.max(y),
                })
            })
    }

    proptest! {
        #[test]
        fn narrowed_result_is_inside_both_inputs(
            proposed in proptest::collection::vec(arb_ts(), 0..4),
            configured in proptest::collection::vec(arb_ts(), 0..4),
        ) {
            for r in narrow(&proposed, &configured) {
                prop_assert!(proposed.iter().any(|p| is_subset(&r, p)));
                prop_assert!(configured.iter().any(|c| is_subset(&r, c)));
            }
        }

        #[test]
        fn intersection_is_commutative_and_inside_both(a in arb_ts(), b in arb_ts()) {
            let i = intersect(&a, &b);
            prop_assert_eq!(&i, &intersect(&b, &a));
            if let Some(i) = i {
                prop_assert!(is_subset(&i, &a) && is_subset(&i, &b));
            }
        }
    }
}
