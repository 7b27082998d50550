//! Configuration payloads in IKE_AUTH (RFC 7296 §2.19, §3.15): virtual IPs,
//! DNS servers, split-tunnel subnets and split-DNS domains (RFC 8598).
//!
//! Pure functions: building a CFG_REQUEST from a [`RemoteAccess`], reading
//! one (responder), building the CFG_REPLY, reading it (initiator), and the
//! traffic selectors a virtual IP implies. Leasing and releasing addresses
//! goes through the [`AddressProvider`](super::AddressProvider) in
//! `exchange/auth.rs` and `endpoint.rs`; nothing here keeps state.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::config::RemoteAccess;
use crate::error::{Error, PeerMisbehaved};
use crate::policy::ts;
use crate::wire::{CfgType, Cp, CpAttribute, CpAttributeType as T, TrafficSelector};

/// Prefix length sent with an INTERNAL_IP6_ADDRESS: the address alone is
/// the client's (RFC 7296 §3.15.1 carries a prefix length with it).
const IP6_HOST_PREFIX: u8 = 128;

fn attr(attr_type: T, value: Vec<u8>) -> CpAttribute {
    CpAttribute { attr_type, value }
}

fn bad(a: &CpAttribute) -> Error {
    PeerMisbehaved::BadCpAttribute {
        attr: a.attr_type,
        len: a.value.len(),
    }
    .into()
}

fn v4(a: &CpAttribute) -> Result<Ipv4Addr, Error> {
    <[u8; 4]>::try_from(a.value.as_slice())
        .map(Ipv4Addr::from)
        .map_err(|_| bad(a))
}

fn v6(a: &CpAttribute) -> Result<Ipv6Addr, Error> {
    <[u8; 16]>::try_from(a.value.as_slice())
        .map(Ipv6Addr::from)
        .map_err(|_| bad(a))
}

/// An IPv6 address followed by a prefix length (17 octets, §3.15.1).
fn v6_prefix(a: &CpAttribute) -> Result<(Ipv6Addr, u8), Error> {
    let (addr, len) = a.value.split_at_checked(16).ok_or_else(|| bad(a))?;
    let addr = <[u8; 16]>::try_from(addr).map_err(|_| bad(a))?;
    match len {
        [p] if *p <= 128 => Ok((Ipv6Addr::from(addr), *p)),
        _ => Err(bad(a)),
    }
}

/// Initiator: the CFG_REQUEST for `ra.vips` (RFC 7296 §2.19), asking for
/// DNS servers of the same families and signalling split-DNS support with
/// an empty INTERNAL_DNS_DOMAIN (RFC 8598 §3.1). `None` without vips.
pub(crate) fn request(ra: &RemoteAccess) -> Option<Cp> {
    if ra.vips.is_empty() {
        return None;
    }
    let mut attributes = Vec::new();
    let (mut want4, mut want6) = (false, false);
    for vip in &ra.vips {
        match vip {
            IpAddr::V4(a) => {
                want4 = true;
                let value = if a.is_unspecified() {
                    Vec::new()
                } else {
                    a.octets().to_vec()
                };
                attributes.push(attr(T::INTERNAL_IP4_ADDRESS, value));
            }
            IpAddr::V6(a) => {
                want6 = true;
                let value = if a.is_unspecified() {
                    Vec::new()
                } else {
                    let mut v = a.octets().to_vec();
                    v.push(IP6_HOST_PREFIX);
                    v
                };
                attributes.push(attr(T::INTERNAL_IP6_ADDRESS, value));
            }
        }
    }
    if want4 {
        attributes.push(attr(T::INTERNAL_IP4_DNS, Vec::new()));
    }
    if want6 {
        attributes.push(attr(T::INTERNAL_IP6_DNS, Vec::new()));
    }
    attributes.push(attr(T::INTERNAL_DNS_DOMAIN, Vec::new()));
    Some(Cp {
        cfg_type: CfgType::CFG_REQUEST,
        attributes,
    })
}

/// What a peer's CFG_REQUEST asks for (responder side).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Requested {
    /// Addresses asked for, at most one per family; unspecified = any.
    pub(crate) addrs: Vec<IpAddr>,
    /// Whether anything IPv4 (an address or DNS) was asked for.
    pub(crate) v4: bool,
    /// Whether anything IPv6 was asked for.
    pub(crate) v6: bool,
}

/// Reads a CFG_REQUEST (RFC 7296 §3.15.1: empty values ask for any
/// value). Only the first address request per family counts: we lease one
/// address per family, as strongSwan does. Other attributes are ignored
/// here; what we answer depends on our configuration.
pub(crate) fn parse_request(cp: &Cp) -> Result<Requested, Error> {
    let mut r = Requested::default();
    for a in &cp.attributes {
        match a.attr_type {
            T::INTERNAL_IP4_ADDRESS | T::INTERNAL_IP4_DNS => r.v4 = true,
            T::INTERNAL_IP6_ADDRESS | T::INTERNAL_IP6_DNS => r.v6 = true,
            _ => {}
        }
        let addr = match a.attr_type {
            T::INTERNAL_IP4_ADDRESS if a.value.is_empty() => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            T::INTERNAL_IP4_ADDRESS => IpAddr::V4(v4(a)?),
            T::INTERNAL_IP6_ADDRESS if a.value.is_empty() => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            T::INTERNAL_IP6_ADDRESS => IpAddr::V6(v6_prefix(a)?.0),
            _ => continue,
        };
        if !r.addrs.iter().any(|x| x.is_ipv4() == addr.is_ipv4()) {
            r.addrs.push(addr);
        }
    }
    Ok(r)
}

/// Responder: the CFG_REPLY for the `leased` addresses, with the DNS
/// servers of the families the peer asked about, the split-tunnel subnets
/// and the split-DNS domains from `ra` (RFC 7296 §3.15.2, RFC 8598 §3.2).
pub(crate) fn reply(ra: &RemoteAccess, wanted: &Requested, leased: &[IpAddr]) -> Cp {
    let mut attributes = Vec::new();
    for a in leased {
        attributes.push(match a {
            IpAddr::V4(a) => attr(T::INTERNAL_IP4_ADDRESS, a.octets().to_vec()),
            IpAddr::V6(a) => {
                let mut v = a.octets().to_vec();
                v.push(IP6_HOST_PREFIX);
                attr(T::INTERNAL_IP6_ADDRESS, v)
            }
        });
    }
    let has4 = wanted.v4 || leased.iter().any(IpAddr::is_ipv4);
    let has6 = wanted.v6 || leased.iter().any(IpAddr::is_ipv6);
    for d in &ra.dns {
        match d {
            IpAddr::V4(d) if has4 => {
                attributes.push(attr(T::INTERNAL_IP4_DNS, d.octets().to_vec()));
            }
            IpAddr::V6(d) if has6 => {
                attributes.push(attr(T::INTERNAL_IP6_DNS, d.octets().to_vec()));
            }
            _ => {}
        }
    }
    for (net, prefix) in &ra.subnets {
        match net {
            IpAddr::V4(n) => {
                let mask = u32::MAX
                    .checked_shl(32u32.saturating_sub(u32::from(*prefix)))
                    .unwrap_or(0);
                let mut v = n.octets().to_vec();
                v.extend_from_slice(&mask.to_be_bytes());
                attributes.push(attr(T::INTERNAL_IP4_SUBNET, v));
            }
            IpAddr::V6(n) => {
                let mut v = n.octets().to_vec();
                v.push((*prefix).min(128));
                attributes.push(attr(T::INTERNAL_IP6_SUBNET, v));
            }
        }
    }
    for d in &ra.dns_domains {
        attributes.push(attr(T::INTERNAL_DNS_DOMAIN, d.as_bytes().to_vec()));
    }
    Cp {
        cfg_type: CfgType::CFG_REPLY,
        attributes,
    }
}

/// What a responder's CFG_REPLY assigned us (initiator side).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Assigned {
    pub(crate) addrs: Vec<IpAddr>,
    pub(crate) dns: Vec<IpAddr>,
    pub(crate) subnets: Vec<(IpAddr, u8)>,
    pub(crate) dns_domains: Vec<String>,
}

/// Reads a CFG_REPLY (RFC 7296 §3.15.1): every value must have its
/// type's length. Attributes we have no use for are skipped.
pub(crate) fn parse_reply(cp: &Cp) -> Result<Assigned, Error> {
    let mut r = Assigned::default();
    for a in &cp.attributes {
        match a.attr_type {
            T::INTERNAL_IP4_ADDRESS => r.addrs.push(IpAddr::V4(v4(a)?)),
            T::INTERNAL_IP6_ADDRESS => r.addrs.push(IpAddr::V6(v6_prefix(a)?.0)),
            T::INTERNAL_IP4_DNS => r.dns.push(IpAddr::V4(v4(a)?)),
            T::INTERNAL_IP6_DNS => r.dns.push(IpAddr::V6(v6(a)?)),
            T::INTERNAL_IP4_SUBNET => {
                let (net, mask) = a.value.split_at_checked(4).ok_or_else(|| bad(a))?;
                let net = <[u8; 4]>::try_from(net).map_err(|_| bad(a))?;
                let mask = <[u8; 4]>::try_from(mask).map_err(|_| bad(a))?;
                let mask = u32::from_be_bytes(mask);
                // A netmask is contiguous ones (RFC 7296 §3.15.1).
                if mask.leading_ones() + mask.trailing_zeros() != 32 {
                    return Err(bad(a));
                }
                let prefix = u8::try_from(mask.leading_ones()).map_err(|_| bad(a))?;
                r.subnets.push((IpAddr::V4(Ipv4Addr::from(net)), prefix));
            }
            T::INTERNAL_IP6_SUBNET => {
                let (net, prefix) = v6_prefix(a)?;
                r.subnets.push((IpAddr::V6(net), prefix));
            }
            T::INTERNAL_DNS_DOMAIN if !a.value.is_empty() => {
                let d = std::str::from_utf8(&a.value).map_err(|_| bad(a))?;
                r.dns_domains.push(d.to_owned());
            }
            _ => {}
        }
    }
    Ok(r)
}

/// A selector covering every address of `vip`'s family, for the TSi of
/// an initiator that does not know its address yet (RFC 7296 §2.19: the
/// responder narrows it to the address it assigns).
pub(crate) fn any_of_family(vip: IpAddr) -> TrafficSelector {
    match vip {
        IpAddr::V4(_) => TrafficSelector::Ipv4 {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start: Ipv4Addr::UNSPECIFIED,
            end: Ipv4Addr::BROADCAST,
        },
        IpAddr::V6(_) => TrafficSelector::Ipv6 {
            ip_protocol: 0,
            start_port: 0,
            end_port: u16::MAX,
            start: Ipv6Addr::UNSPECIFIED,
            end: Ipv6Addr::from(u128::MAX),
        },
    }
}

/// The TSi an initiator proposes when it requests virtual IPs: one
/// family-wide selector per requested family.
pub(crate) fn request_selectors(vips: &[IpAddr]) -> Vec<TrafficSelector> {
    let mut out: Vec<TrafficSelector> = Vec::new();
    for v in vips {
        let s = any_of_family(*v);
        if !out.contains(&s) {
            out.push(s);
        }
    }
    out
}

/// Host selectors for the virtual IPs.
pub(crate) fn host_selectors(vips: &[IpAddr]) -> Vec<TrafficSelector> {
    vips.iter().map(|a| ts::host(*a)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn request_asks_for_any_and_specific_addresses_with_dns() {
        let ra = RemoteAccess {
            vips: vec![ip("0.0.0.0"), ip("2001:db8::7")],
            ..RemoteAccess::default()
        };
        let cp = request(&ra).unwrap();
        assert_eq!(cp.cfg_type, CfgType::CFG_REQUEST);
        let types: Vec<T> = cp.attributes.iter().map(|a| a.attr_type).collect();
        assert_eq!(
            types,
            vec![
                T::INTERNAL_IP4_ADDRESS,
                T::INTERNAL_IP6_ADDRESS,
                T::INTERNAL_IP4_DNS,
                T::INTERNAL_IP6_DNS,
                T::INTERNAL_DNS_DOMAIN
            ]
        );
        assert!(cp.attributes[0].value.is_empty());
        assert_eq!(cp.attributes[1].value.len(), 17);
        assert_eq!(cp.attributes[1].value[16], 128);
        let r = parse_request(&cp).unwrap();
        assert_eq!(r.addrs, vec![ip("0.0.0.0"), ip("2001:db8::7")]);
        assert!(request(&RemoteAccess::default()).is_none());
    }

    #[test]
    fn reply_round_trips_through_the_initiator_parser() {
        let ra = RemoteAccess {
            dns: vec![ip("10.9.0.53"), ip("2001:db8::53")],
            subnets: vec![(ip("10.2.0.0"), 16), (ip("2001:db8:2::"), 48)],
            dns_domains: vec!["corp.example".into()],
            ..RemoteAccess::default()
        };
        let wanted = Requested {
            addrs: vec![ip("0.0.0.0")],
            v4: true,
            v6: false,
        };
        let cp = reply(&ra, &wanted, &[ip("10.3.0.1")]);
        assert_eq!(cp.cfg_type, CfgType::CFG_REPLY);
        let got = parse_reply(&cp).unwrap();
        assert_eq!(got.addrs, vec![ip("10.3.0.1")]);
        // Only DNS servers of the leased family.
        assert_eq!(got.dns, vec![ip("10.9.0.53")]);
        assert_eq!(
            got.subnets,
            vec![(ip("10.2.0.0"), 16), (ip("2001:db8:2::"), 48)]
        );
        assert_eq!(got.dns_domains, vec!["corp.example".to_owned()]);
        let subnet = cp
            .attributes
            .iter()
            .find(|a| a.attr_type == T::INTERNAL_IP4_SUBNET)
            .unwrap();
        assert_eq!(subnet.value, vec![10, 2, 0, 0, 255, 255, 0, 0]);
    }

    #[test]
    fn dns_only_request_gets_the_servers_of_its_family() {
        let ra = RemoteAccess {
            dns: vec![ip("10.9.0.53"), ip("2001:db8::53")],
            ..RemoteAccess::default()
        };
        let req = Cp {
            cfg_type: CfgType::CFG_REQUEST,
            attributes: vec![attr(T::INTERNAL_IP6_DNS, Vec::new())],
        };
        let wanted = parse_request(&req).unwrap();
        assert!(wanted.addrs.is_empty());
        assert_eq!((wanted.v4, wanted.v6), (false, true));
        let got = parse_reply(&reply(&ra, &wanted, &[])).unwrap();
        assert_eq!(got.dns, vec![ip("2001:db8::53")]);
        assert!(got.addrs.is_empty());
    }

    #[test]
    fn rejects_malformed_values() {
        let cases = [
            attr(T::INTERNAL_IP4_ADDRESS, vec![10, 0, 0]),
            attr(T::INTERNAL_IP6_ADDRESS, vec![0; 16]),
            attr(T::INTERNAL_IP6_ADDRESS, [vec![0; 16], vec![129]].concat()),
            attr(T::INTERNAL_IP4_DNS, vec![]),
            attr(T::INTERNAL_IP4_SUBNET, vec![10, 0, 0, 0, 255, 0, 255, 0]),
            attr(T::INTERNAL_DNS_DOMAIN, vec![0xff, 0xfe]),
        ];
        for a in cases {
            let cp = Cp {
                cfg_type: CfgType::CFG_REPLY,
                attributes: vec![a.clone()],
            };
            let e = parse_reply(&cp).unwrap_err();
            assert!(
                matches!(e, Error::PeerMisbehaved(PeerMisbehaved::BadCpAttribute { attr, len })
                    if attr == a.attr_type && len == a.value.len()),
                "{e}"
            );
        }
        let cp = Cp {
            cfg_type: CfgType::CFG_REQUEST,
            attributes: vec![attr(T::INTERNAL_IP4_ADDRESS, vec![1, 2])],
        };
        assert!(parse_request(&cp).is_err());
    }

    #[test]
    fn request_selectors_cover_each_family_once() {
        let s = request_selectors(&[ip("0.0.0.0"), ip("10.0.0.1"), ip("::")]);
        assert_eq!(s.len(), 2);
        assert!(ts::is_subset(&ts::host(ip("10.3.0.1")), &s[0]));
        assert!(ts::is_subset(&ts::host(ip("2001:db8::1")), &s[1]));
    }
}
