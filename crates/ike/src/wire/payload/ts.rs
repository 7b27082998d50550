//! Traffic Selector payloads TSi and TSr (RFC 7296 §3.13).

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::codec::{add, bytes, reserved, sub, u16f, u8f, Writer};
use crate::wire::error::{fail, PResult, Reason, WireError};
use crate::wire::registry::TsType;

/// Length of a TS_IPV4_ADDR_RANGE selector (RFC 7296 §3.13.1).
const IPV4_TS_LEN: usize = 16;
/// Length of a TS_IPV6_ADDR_RANGE selector (RFC 7296 §3.13.1).
const IPV6_TS_LEN: usize = 40;

/// TSi / TSr payload body (RFC 7296 §3.13).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Ts {
    /// The selectors, in order.
    pub selectors: Vec<TrafficSelector>,
}

/// One traffic selector (RFC 7296 §3.13.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TrafficSelector {
    /// TS_IPV4_ADDR_RANGE.
    Ipv4 {
        /// IP protocol, 0 for any.
        ip_protocol: u8,
        /// First port (or ICMP type/code, RFC 7296 §3.13.1).
        start_port: u16,
        /// Last port.
        end_port: u16,
        /// First address.
        start: Ipv4Addr,
        /// Last address.
        end: Ipv4Addr,
    },
    /// TS_IPV6_ADDR_RANGE.
    Ipv6 {
        /// IP protocol, 0 for any.
        ip_protocol: u8,
        /// First port.
        start_port: u16,
        /// Last port.
        end_port: u16,
        /// First address.
        start: Ipv6Addr,
        /// Last address.
        end: Ipv6Addr,
    },
    /// Any other type (TS_FC_ADDR_RANGE, TS_SECLABEL, …), kept so it
    /// round-trips: the byte after the type and the bytes after the length.
    Other {
        /// Selector type.
        ts_type: TsType,
        /// Second byte of the selector (IP protocol for IP ranges,
        /// reserved for TS_SECLABEL, RFC 9478 §2).
        byte1: u8,
        /// Everything after the length field.
        data: Vec<u8>,
    },
}

impl TrafficSelector {
    /// The selector type (RFC 7296 §3.13.1).
    pub fn ts_type(&self) -> TsType {
        match self {
            Self::Ipv4 { .. } => TsType::TS_IPV4_ADDR_RANGE,
            Self::Ipv6 { .. } => TsType::TS_IPV6_ADDR_RANGE,
            Self::Other { ts_type, .. } => *ts_type,
        }
    }

    fn buffer_len(&self) -> usize {
        match self {
            Self::Ipv4 { .. } => IPV4_TS_LEN,
            Self::Ipv6 { .. } => IPV6_TS_LEN,
            Self::Other { data, .. } => add(4, data.len()),
        }
    }

    fn parse(i: &[u8]) -> PResult<'_, Self> {
        let start = i;
        let (i, t) = u8f(i, "ts.type")?;
        let (i, byte1) = u8f(i, "ts.ip_protocol")?;
        let (_, len) = u16f(i, "ts.length")?;
        let ts_type = TsType(t);
        let want = match ts_type {
            TsType::TS_IPV4_ADDR_RANGE => Some(IPV4_TS_LEN),
            TsType::TS_IPV6_ADDR_RANGE => Some(IPV6_TS_LEN),
            _ => None,
        };
        if want.is_some_and(|w| w != usize::from(len)) {
            return fail(start, "ts.length", Reason::BadValueLength);
        }
        let (rest, body) = sub(start, usize::from(len), 4, "ts.length")?;
        let ts = match ts_type {
            TsType::TS_IPV4_ADDR_RANGE | TsType::TS_IPV6_ADDR_RANGE => {
                let (b, start_port) = u16f(body, "ts.start_port")?;
                let (b, end_port) = u16f(b, "ts.end_port")?;
                if ts_type == TsType::TS_IPV4_ADDR_RANGE {
                    let (b, s) = bytes(b, 4, "ts.start_address")?;
                    let (_, e) = bytes(b, 4, "ts.end_address")?;
                    Self::Ipv4 {
                        ip_protocol: byte1,
                        start_port,
                        end_port,
                        start: Ipv4Addr::from(array4(s)),
                        end: Ipv4Addr::from(array4(e)),
                    }
                } else {
                    let (b, s) = bytes(b, 16, "ts.start_address")?;
                    let (_, e) = bytes(b, 16, "ts.end_address")?;
                    Self::Ipv6 {
                        ip_protocol: byte1,
                        start_port,
                        end_port,
                        start: Ipv6Addr::from(array16(s)),
                        end: Ipv6Addr::from(array16(e)),
                    }
                }
            }
            _ => Self::Other {
                ts_type,
                byte1,
                data: body.to_vec(),
            },
        };
        Ok((rest, ts))
    }

    fn emit(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.u8(self.ts_type().0)?;
        match self {
            Self::Ipv4 {
                ip_protocol,
                start_port,
                end_port,
                start,
                end,
            } => {
                w.u8(*ip_protocol)?;
                w.len16(IPV4_TS_LEN, "ts.length")?;
                w.u16(*start_port)?;
                w.u16(*end_port)?;
                w.put(&start.octets())?;
                w.put(&end.octets())
            }
            Self::Ipv6 {
                ip_protocol,
                start_port,
                end_port,
                start,
                end,
            } => {
                w.u8(*ip_protocol)?;
                w.len16(IPV6_TS_LEN, "ts.length")?;
                w.u16(*start_port)?;
                w.u16(*end_port)?;
                w.put(&start.octets())?;
                w.put(&end.octets())
            }
            Self::Other {
                ts_type,
                byte1,
                data,
            } => {
                // An IP range type in `Other` would not re-parse as `Other`.
                if *ts_type == TsType::TS_IPV4_ADDR_RANGE || *ts_type == TsType::TS_IPV6_ADDR_RANGE
                {
                    return Err(w.err("ts.type", Reason::Inconsistent));
                }
                w.u8(*byte1)?;
                w.len16(add(4, data.len()), "ts.length")?;
                w.put(data)
            }
        }
    }
}

fn array4(s: &[u8]) -> [u8; 4] {
    let mut a = [0u8; 4];
    if s.len() == 4 {
        a.copy_from_slice(s);
    }
    a
}

fn array16(s: &[u8]) -> [u8; 16] {
    let mut a = [0u8; 16];
    if s.len() == 16 {
        a.copy_from_slice(s);
    }
    a
}

/// Prefix length if `start..=end` is exactly one CIDR block.
fn prefix_len(start: u128, end: u128, bits: u32) -> Option<u32> {
    let span = start ^ end;
    let host = span.count_ones();
    // A CIDR block: the differing bits are exactly the low `host` bits, all
    // zero in start and all one in end.
    let mask = if host == 0 {
        0
    } else {
        u128::MAX >> 128u32.checked_sub(host)?
    };
    if span == mask && start & mask == 0 && end & mask == mask && host <= bits {
        bits.checked_sub(host)
    } else {
        None
    }
}

/// Ranges as strongSwan prints them: `10.1.0.0/24` when the range is one
/// CIDR block, `10.1.0.5..10.1.0.9` otherwise, then `[proto/port-port]`
/// when protocol or ports are restricted.
impl fmt::Display for TrafficSelector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (proto, sp, ep) = match self {
            Self::Ipv4 {
                ip_protocol,
                start_port,
                end_port,
                start,
                end,
            } => {
                match prefix_len(
                    u128::from(u32::from(*start)),
                    u128::from(u32::from(*end)),
                    32,
                ) {
                    Some(p) => write!(f, "{start}/{p}")?,
                    None => write!(f, "{start}-{end}")?,
                }
                (*ip_protocol, *start_port, *end_port)
            }
            Self::Ipv6 {
                ip_protocol,
                start_port,
                end_port,
                start,
                end,
            } => {
                match prefix_len(u128::from(*start), u128::from(*end), 128) {
                    Some(p) => write!(f, "{start}/{p}")?,
                    None => write!(f, "{start}-{end}")?,
                }
                (*ip_protocol, *start_port, *end_port)
            }
            Self::Other { ts_type, data, .. } => {
                write!(f, "{ts_type}(")?;
                super::id::write_hex(f, data)?;
                return f.write_str(")");
            }
        };
        if proto != 0 || sp != 0 || ep != 0xffff {
            write!(f, "[{}", proto_name(proto))?;
            if sp == ep {
                write!(f, "/{sp}")?;
            } else if sp == 0 && ep == 0xffff {
                // any port: print the protocol only
            } else if sp > ep {
                // RFC 4301 §4.4.1.1 OPAQUE ports: start > end.
                f.write_str("/OPAQUE")?;
            } else {
                write!(f, "/{sp}-{ep}")?;
            }
            f.write_str("]")?;
        }
        Ok(())
    }
}

fn proto_name(p: u8) -> String {
    match p {
        0 => "any".into(),
        1 => "icmp".into(),
        6 => "tcp".into(),
        17 => "udp".into(),
        58 => "ipv6-icmp".into(),
        other => other.to_string(),
    }
}

impl Ts {
    pub(crate) fn parse_body(b: &[u8]) -> PResult<'_, Self> {
        let start = b;
        let (b, count) = u8f(b, "ts.num_ts")?;
        let (mut b, ()) = reserved(b, 3)?;
        let mut selectors = Vec::with_capacity(usize::from(count));
        for _ in 0..count {
            if b.is_empty() {
                return fail(start, "ts.num_ts", Reason::CountMismatch);
            }
            let (nb, ts) = TrafficSelector::parse(b)?;
            selectors.push(ts);
            b = nb;
        }
        if !b.is_empty() {
            return fail(b, "ts.num_ts", Reason::CountMismatch);
        }
        Ok((b, Self { selectors }))
    }

    pub(crate) fn body_len(&self) -> usize {
        self.selectors.iter().fold(4, |n, s| add(n, s.buffer_len()))
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.len8(self.selectors.len(), "ts.num_ts")?;
        w.zeros(3)?;
        for s in &self.selectors {
            s.emit(w)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: [u8; 4], e: [u8; 4], proto: u8, sp: u16, ep: u16) -> TrafficSelector {
        TrafficSelector::Ipv4 {
            ip_protocol: proto,
            start_port: sp,
            end_port: ep,
            start: s.into(),
            end: e.into(),
        }
    }

    #[test]
    fn prints_cidr_ranges_and_ports() {
        assert_eq!(
            v4([10, 1, 0, 0], [10, 1, 0, 255], 0, 0, 65535).to_string(),
            "10.1.0.0/24"
        );
        assert_eq!(
            v4([10, 1, 0, 5], [10, 1, 0, 9], 0, 0, 65535).to_string(),
            "10.1.0.5-10.1.0.9"
        );
        assert_eq!(
            v4([0, 0, 0, 0], [255, 255, 255, 255], 0, 0, 65535).to_string(),
            "0.0.0.0/0"
        );
        assert_eq!(
            v4([10, 0, 0, 1], [10, 0, 0, 1], 6, 443, 443).to_string(),
            "10.0.0.1/32[tcp/443]"
        );
        assert_eq!(
            v4([10, 0, 0, 1], [10, 0, 0, 1], 17, 0, 65535).to_string(),
            "10.0.0.1/32[udp]"
        );
    }

    #[test]
    fn golden_ipv4_selector_round_trips() {
        let golden = [
            1, 0, 0, 0, // one selector
            7, 17, 0, 16, 0x01, 0xf4, 0x11, 0x94, 10, 1, 0, 0, 10, 1, 0, 255,
        ];
        let (_, ts) = Ts::parse_body(&golden).unwrap();
        assert_eq!(
            ts.selectors,
            vec![v4([10, 1, 0, 0], [10, 1, 0, 255], 17, 500, 4500)]
        );
        let mut buf = vec![0xa5; ts.body_len()];
        ts.emit_body(&mut Writer::new(&mut buf)).unwrap();
        assert_eq!(buf, golden);
    }

    #[test]
    fn rejects_ipv4_selector_with_wrong_length() {
        let bad = [
            1, 0, 0, 0, 7, 0, 0, 20, 0, 0, 0xff, 0xff, 10, 1, 0, 0, 10, 1, 0, 255, 0, 0, 0, 0,
        ];
        let e = Ts::parse_body(&bad).unwrap_err();
        assert!(matches!(e, nom::Err::Failure(pe) if pe.reason == Reason::BadValueLength));
    }

    #[test]
    fn keeps_unknown_selector_types() {
        let golden = [1, 0, 0, 0, 10, 0, 0, 7, b'a', b'b', b'c'];
        let (_, ts) = Ts::parse_body(&golden).unwrap();
        assert_eq!(
            ts.selectors,
            vec![TrafficSelector::Other {
                ts_type: TsType::TS_SECLABEL,
                byte1: 0,
                data: b"abc".to_vec()
            }]
        );
    }
}
