//! Just enough IPv4/IPv6 for ESP: read the fixed header of a packet, write a
//! fixed header, and the Internet checksum (RFC 1071).
//!
//! Contract: [`IpHeader::parse`] checks the version, header length and
//! declared length against the bytes present before anything else reads the
//! packet; after it succeeds the ranges it reports are inside the buffer.

use core::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::error::IpError;

/// IPv4 fixed header length (RFC 791 §3.1).
pub(crate) const IPV4_HEADER_LEN: usize = 20;
/// IPv6 fixed header length (RFC 8200 §3).
pub(crate) const IPV6_HEADER_LEN: usize = 40;
/// IP protocol numbers used here (IANA "Assigned Internet Protocol Numbers").
pub(crate) const PROTO_IPV4: u8 = 4;
pub(crate) const PROTO_TCP: u8 = 6;
pub(crate) const PROTO_UDP: u8 = 17;
pub(crate) const PROTO_IPV6: u8 = 41;
pub(crate) const PROTO_ICMP: u8 = 1;
pub(crate) const PROTO_ICMPV6: u8 = 58;
pub(crate) const PROTO_NONE: u8 = 59;
/// TTL / hop limit we give headers we rebuild (transport-mode decapsulation
/// and ICMP errors); RFC 1700's recommended default.
pub(crate) const DEFAULT_TTL: u8 = 64;

/// The facts ESP needs from an IP header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct IpHeader {
    pub(crate) src: IpAddr,
    pub(crate) dst: IpAddr,
    /// IPv4 protocol or IPv6 Next Header of the fixed header.
    pub(crate) protocol: u8,
    /// Length of the fixed header (IPv4 with options: IHL × 4).
    pub(crate) header_len: usize,
    /// Length of the whole packet according to the header.
    pub(crate) total_len: usize,
    /// IPv4 DF bit; always true for IPv6, where routers never fragment.
    pub(crate) dont_fragment: bool,
    /// IPv4 only: MF set or a non-zero fragment offset.
    pub(crate) is_fragment: bool,
    /// IPv4 only: a non-zero fragment offset (not the first fragment).
    pub(crate) is_later_fragment: bool,
}

impl IpHeader {
    /// Reads the fixed header of an IPv4 or IPv6 packet. Trailing bytes past
    /// the declared length are allowed (they are TFC padding on receive).
    pub(crate) fn parse(packet: &[u8]) -> Result<Self, IpError> {
        let first = *packet.first().ok_or(IpError::Truncated { len: 0 })?;
        match first >> 4 {
            4 => Self::parse_v4(packet),
            6 => Self::parse_v6(packet),
            v => Err(IpError::Version(v)),
        }
    }

    fn parse_v4(p: &[u8]) -> Result<Self, IpError> {
        let h: &[u8; IPV4_HEADER_LEN] = p
            .get(..IPV4_HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(IpError::Truncated { len: p.len() })?;
        let header_len = usize::from(h[0] & 0x0f) * 4;
        if header_len < IPV4_HEADER_LEN || header_len > p.len() {
            return Err(IpError::HeaderLength(header_len));
        }
        let total_len = usize::from(u16::from_be_bytes([h[2], h[3]]));
        if total_len < header_len || total_len > p.len() {
            return Err(IpError::Length {
                declared: total_len,
                present: p.len(),
            });
        }
        let flags_frag = u16::from_be_bytes([h[6], h[7]]);
        let offset = flags_frag & 0x1fff;
        Ok(Self {
            src: IpAddr::V4(Ipv4Addr::new(h[12], h[13], h[14], h[15])),
            dst: IpAddr::V4(Ipv4Addr::new(h[16], h[17], h[18], h[19])),
            protocol: h[9],
            header_len,
            total_len,
            dont_fragment: flags_frag & 0x4000 != 0,
            is_fragment: flags_frag & 0x2000 != 0 || offset != 0,
            is_later_fragment: offset != 0,
        })
    }

    fn parse_v6(p: &[u8]) -> Result<Self, IpError> {
        let h: &[u8; IPV6_HEADER_LEN] = p
            .get(..IPV6_HEADER_LEN)
            .and_then(|s| s.try_into().ok())
            .ok_or(IpError::Truncated { len: p.len() })?;
        let payload_len = usize::from(u16::from_be_bytes([h[4], h[5]]));
        // A zero payload length with a jumbo option (RFC 2675) never crosses a
        // TUN device of our MTU, so it is simply a length mismatch here.
        let total_len = IPV6_HEADER_LEN + payload_len;
        if total_len > p.len() {
            return Err(IpError::Length {
                declared: total_len,
                present: p.len(),
            });
        }
        let mut src = [0u8; 16];
        src.copy_from_slice(&h[8..24]);
        let mut dst = [0u8; 16];
        dst.copy_from_slice(&h[24..40]);
        Ok(Self {
            src: IpAddr::V6(Ipv6Addr::from(src)),
            dst: IpAddr::V6(Ipv6Addr::from(dst)),
            protocol: h[6],
            header_len: IPV6_HEADER_LEN,
            total_len,
            dont_fragment: true,
            is_fragment: false,
            is_later_fragment: false,
        })
    }
}

/// Fixed-header length for an address family.
pub(crate) const fn header_len_for(addr: &IpAddr) -> usize {
    match addr {
        IpAddr::V4(_) => IPV4_HEADER_LEN,
        IpAddr::V6(_) => IPV6_HEADER_LEN,
    }
}

/// Writes a fixed IPv4 or IPv6 header (no options) into `out`, which must be
/// exactly 20 or 40 bytes for the family of `src`; `src` and `dst` must be of
/// one family. Returns false (and writes nothing) otherwise.
pub(crate) fn emit_header(
    out: &mut [u8],
    src: IpAddr,
    dst: IpAddr,
    protocol: u8,
    payload_len: usize,
) -> bool {
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            let Ok(h) = <&mut [u8; IPV4_HEADER_LEN]>::try_from(out) else {
                return false;
            };
            let Some(total) = payload_len
                .checked_add(IPV4_HEADER_LEN)
                .and_then(|t| u16::try_from(t).ok())
            else {
                return false;
            };
            h[0] = 0x45;
            h[1] = 0;
            h[2..4].copy_from_slice(&total.to_be_bytes());
            // Identification 0 with DF set: the packet is never fragmented
            // again on our side (RFC 6864 §4.1 allows any ID for atomic datagrams).
            h[4..6].copy_from_slice(&[0, 0]);
            h[6..8].copy_from_slice(&0x4000u16.to_be_bytes());
            h[8] = DEFAULT_TTL;
            h[9] = protocol;
            h[10..12].copy_from_slice(&[0, 0]);
            h[12..16].copy_from_slice(&s.octets());
            h[16..20].copy_from_slice(&d.octets());
            let sum = checksum(&h[..], 0);
            h[10..12].copy_from_slice(&sum.to_be_bytes());
            true
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            let Ok(h) = <&mut [u8; IPV6_HEADER_LEN]>::try_from(out) else {
                return false;
            };
            let Ok(plen) = u16::try_from(payload_len) else {
                return false;
            };
            h[0..4].copy_from_slice(&[0x60, 0, 0, 0]);
            h[4..6].copy_from_slice(&plen.to_be_bytes());
            h[6] = protocol;
            h[7] = DEFAULT_TTL;
            h[8..24].copy_from_slice(&s.octets());
            h[24..40].copy_from_slice(&d.octets());
            true
        }
        _ => false,
    }
}

/// Adds `data` to a running ones'-complement sum (RFC 1071 §4.1); an odd
/// trailing byte is padded with zero.
pub(crate) fn sum(data: &[u8], mut acc: u64) -> u64 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        if let [a, b] = c {
            acc = acc.wrapping_add(u64::from(u16::from_be_bytes([*a, *b])));
        }
    }
    if let [last] = chunks.remainder() {
        acc = acc.wrapping_add(u64::from(*last) << 8);
    }
    acc
}

/// Folds a running sum and complements it: the value to put in a checksum
/// field.
pub(crate) fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff).wrapping_add(acc >> 16);
    }
    // INVARIANT: the loop leaves acc <= 0xffff.
    !u16::try_from(acc).unwrap_or(0xffff)
}

/// Internet checksum of `data` on top of `acc`.
pub(crate) fn checksum(data: &[u8], acc: u64) -> u16 {
    fold(sum(data, acc))
}

/// Sum of the TCP/UDP/ICMPv6 pseudo-header (RFC 768, RFC 793, RFC 8200 §8.1).
pub(crate) fn pseudo_header_sum(src: IpAddr, dst: IpAddr, protocol: u8, len: usize) -> u64 {
    let mut acc = 0u64;
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            acc = sum(&s.octets(), acc);
            acc = sum(&d.octets(), acc);
        }
        (s, d) => {
            acc = sum(&to_v6(s).octets(), acc);
            acc = sum(&to_v6(d).octets(), acc);
        }
    }
    acc.wrapping_add(u64::from(protocol))
        .wrapping_add(u64::try_from(len).unwrap_or(0))
}

fn to_v6(a: IpAddr) -> Ipv6Addr {
    match a {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    }
}

/// Recomputes the TCP or UDP checksum of a transport-mode payload for the
/// pseudo-header it will now carry. RFC 3948 §3.1.2 lets a transport-mode
/// receiver behind NAT recompute instead of patching with NAT-OA. A zero
/// IPv4 UDP checksum means "none" and is left alone. Other protocols are
/// untouched.
pub(crate) fn fix_l4_checksum(segment: &mut [u8], src: IpAddr, dst: IpAddr, protocol: u8) {
    let at = match protocol {
        PROTO_TCP => 16,
        PROTO_UDP => 6,
        _ => return,
    };
    let Some(field) = segment.get(at..at + 2) else {
        return;
    };
    if protocol == PROTO_UDP && src.is_ipv4() && field == [0, 0] {
        return;
    }
    if let Some(f) = segment.get_mut(at..at + 2) {
        f.copy_from_slice(&[0, 0]);
    }
    let acc = pseudo_header_sum(src, dst, protocol, segment.len());
    let mut c = checksum(segment, acc);
    if protocol == PROTO_UDP && c == 0 {
        // RFC 768: a computed zero is sent as all ones.
        c = 0xffff;
    }
    if let Some(f) = segment.get_mut(at..at + 2) {
        f.copy_from_slice(&c.to_be_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_matches_rfc1071_example() {
        // RFC 1071 §3 worked example: bytes 00 01 f2 03 f4 f5 f6 f7 sum to ddf2.
        let data = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(checksum(&data, 0), !0xddf2);
    }

    #[test]
    fn emitted_ipv4_header_parses_and_verifies() {
        let mut h = [0xa5u8; 20];
        let s: IpAddr = "192.0.2.1".parse().unwrap();
        let d: IpAddr = "198.51.100.2".parse().unwrap();
        assert!(emit_header(&mut h, s, d, PROTO_UDP, 8));
        assert_eq!(checksum(&h, 0), 0);
        let mut pkt = h.to_vec();
        pkt.extend_from_slice(&[0; 8]);
        let ip = IpHeader::parse(&pkt).unwrap();
        assert_eq!((ip.src, ip.dst, ip.protocol, ip.total_len), (s, d, 17, 28));
        assert!(ip.dont_fragment && !ip.is_fragment);
    }

    #[test]
    fn parse_rejects_bad_lengths() {
        assert_eq!(IpHeader::parse(&[]), Err(IpError::Truncated { len: 0 }));
        let mut h = [0u8; 20];
        h[0] = 0x44;
        assert_eq!(IpHeader::parse(&h), Err(IpError::HeaderLength(16)));
        h[0] = 0x45;
        h[3] = 21;
        assert_eq!(
            IpHeader::parse(&h),
            Err(IpError::Length {
                declared: 21,
                present: 20
            })
        );
        assert_eq!(IpHeader::parse(&[0x50; 20]), Err(IpError::Version(5)));
        let mut v6 = [0u8; 40];
        v6[0] = 0x60;
        v6[5] = 1;
        assert!(matches!(
            IpHeader::parse(&v6),
            Err(IpError::Length { declared: 41, .. })
        ));
    }
}
