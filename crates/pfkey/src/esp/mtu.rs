//! Inner MTU of an ESP SA and ICMP "packet too big" replies, so that
//! oversize inner packets are refused visibly instead of black-holed
//! (RFC 4459 §2, path MTU discovery per RFC 1191 and RFC 8201).
//!
//! Nothing here allocates; the reply is written into a caller buffer and
//! goes back out through the TUN device towards the inner sender.

use core::net::IpAddr;

use super::error::{ConfigError, Error, IpError, LocalError};
use super::ip::{self, IpHeader};
use super::{Mode, OutboundSa, ESP_HEADER_LEN, ESP_TRAILER_LEN};

/// ICMP type 3 "destination unreachable", code 4 "fragmentation needed and
/// DF set" (RFC 792, RFC 1191 §4).
const ICMP_DEST_UNREACH: u8 = 3;
const ICMP_FRAG_NEEDED: u8 = 4;
/// ICMPv6 type 2 "Packet Too Big" (RFC 4443 §3.2).
const ICMPV6_PACKET_TOO_BIG: u8 = 2;
/// ICMP header with the "unused | next-hop MTU" word (RFC 1191 §4) / the
/// ICMPv6 MTU word (RFC 4443 §3.2).
const ICMP_HEADER_LEN: usize = 8;
/// An ICMPv4 error should not exceed 576 bytes (RFC 1812 §4.3.2.3).
const ICMPV4_MAX_LEN: usize = 576;
/// An ICMPv6 error must not exceed the minimum IPv6 MTU (RFC 4443 §2.4(c)).
const IPV6_MIN_MTU: usize = 1280;

/// Largest inner packet `sa` can carry without the outer packet exceeding
/// `path_mtu`: subtracts the outer IP header, the UDP header when
/// UDP-encapsulated, the ESP header, IV, ICV and the trailer, rounding the
/// room for payload + trailer down to the cipher alignment. In transport
/// mode the IP header is the outer one, so it is counted back in.
pub fn inner_mtu(sa: &OutboundSa, path_mtu: u16) -> u16 {
    let (iv, icv, align) = sa.layout();
    let outer = ip::header_len_for(&sa.local());
    let udp = if sa.nat_t().is_some() {
        super::encap::UDP_HEADER_LEN
    } else {
        0
    };
    let fixed = outer + udp + ESP_HEADER_LEN + iv + icv;
    let room = usize::from(path_mtu).saturating_sub(fixed);
    let room = room - room % align.max(1);
    let payload = room.saturating_sub(ESP_TRAILER_LEN);
    let inner = match sa.mode() {
        Mode::Tunnel => payload,
        Mode::Transport => payload.saturating_add(outer),
    };
    u16::try_from(inner).unwrap_or(u16::MAX)
}

/// What to do with a packet given the inner MTU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// It fits.
    Fits,
    /// IPv4 without DF: send it; the outer packet gets fragmented.
    Fragment,
    /// Too big and must not be fragmented: answer with
    /// [`packet_too_big`] carrying `mtu`, and drop it.
    TooBig {
        /// The MTU to report.
        mtu: u16,
    },
}

/// Decides whether `packet` (read from TUN) fits `inner_mtu`.
pub fn check(packet: &[u8], inner_mtu: u16) -> Result<Verdict, IpError> {
    let h = IpHeader::parse(packet)?;
    if h.total_len <= usize::from(inner_mtu) {
        Ok(Verdict::Fits)
    } else if h.dont_fragment {
        Ok(Verdict::TooBig { mtu: inner_mtu })
    } else {
        Ok(Verdict::Fragment)
    }
}

/// ICMP error messages never trigger ICMP errors (RFC 1122 §3.2.2,
/// RFC 4443 §2.4(e.1)).
fn is_icmp_error(h: &IpHeader, packet: &[u8]) -> bool {
    let ty = packet.get(h.header_len).copied();
    match (h.protocol, ty) {
        (ip::PROTO_ICMP, Some(t)) => matches!(t, 3 | 4 | 5 | 11 | 12),
        (ip::PROTO_ICMPV6, Some(t)) => t < 128,
        _ => false,
    }
}

fn bad_source(a: IpAddr) -> bool {
    match a {
        IpAddr::V4(v4) => {
            v4.is_unspecified() || v4.is_multicast() || v4.is_broadcast() || v4.is_loopback()
        }
        IpAddr::V6(v6) => v6.is_unspecified() || v6.is_multicast() || v6.is_loopback(),
    }
}

/// Builds the ICMP "fragmentation needed" (IPv4, type 3 code 4 with the
/// next-hop MTU, RFC 1191 §4) or ICMPv6 Packet Too Big (RFC 4443 §3.2)
/// answer to `packet`, from `reply_from` (the gateway's inner address) to
/// the packet's source, quoting as much of it as the size limits allow.
///
/// Returns `Ok(None)` where no ICMP error may be sent: for ICMP errors,
/// non-first fragments, IPv4 multicast destinations, and unusable source
/// addresses. The reported IPv6 MTU is raised to 1280, the minimum any
/// IPv6 path has (RFC 8200 §5); below that the outer packet must fragment.
pub fn packet_too_big<'a>(
    packet: &[u8],
    mtu: u16,
    reply_from: IpAddr,
    dst: &'a mut [u8],
) -> Result<Option<&'a mut [u8]>, Error> {
    let h = IpHeader::parse(packet).map_err(LocalError::InnerPacket)?;
    if h.src.is_ipv4() != reply_from.is_ipv4() {
        return Err(LocalError::Config(ConfigError::AddressFamily).into());
    }
    if is_icmp_error(&h, packet) || h.is_later_fragment || bad_source(h.src) {
        return Ok(None);
    }
    if let IpAddr::V4(d) = h.dst {
        if d.is_multicast() || d.is_broadcast() {
            return Ok(None);
        }
    }
    let (ip_len, max_total, ty, code) = if h.src.is_ipv4() {
        (
            ip::IPV4_HEADER_LEN,
            ICMPV4_MAX_LEN,
            ICMP_DEST_UNREACH,
            ICMP_FRAG_NEEDED,
        )
    } else {
        (ip::IPV6_HEADER_LEN, IPV6_MIN_MTU, ICMPV6_PACKET_TOO_BIG, 0)
    };
    let quote_len = h
        .total_len
        .min(max_total.saturating_sub(ip_len + ICMP_HEADER_LEN));
    let icmp_len = ICMP_HEADER_LEN + quote_len;
    let total = ip_len + icmp_len;
    let have = dst.len();
    let out = dst
        .get_mut(..total)
        .ok_or(LocalError::BufferTooSmall { need: total, have })?;
    let quote = packet
        .get(..quote_len)
        .ok_or(LocalError::InnerPacket(IpError::Truncated {
            len: packet.len(),
        }))?;
    let (iph, icmp) = out
        .split_at_mut_checked(ip_len)
        .ok_or(LocalError::BufferTooSmall { need: total, have })?;
    let protocol = if h.src.is_ipv4() {
        ip::PROTO_ICMP
    } else {
        ip::PROTO_ICMPV6
    };
    if !ip::emit_header(iph, reply_from, h.src, protocol, icmp_len) {
        return Err(LocalError::Unsupported(super::Unsupported::Oversize).into());
    }
    let mut head = [0u8; ICMP_HEADER_LEN];
    head[0] = ty;
    head[1] = code;
    if h.src.is_ipv4() {
        head[6..8].copy_from_slice(&mtu.to_be_bytes());
    } else {
        let m = u32::from(mtu).max(1280);
        head[4..8].copy_from_slice(&m.to_be_bytes());
    }
    let (ih, body) = icmp
        .split_at_mut_checked(ICMP_HEADER_LEN)
        .ok_or(LocalError::BufferTooSmall { need: total, have })?;
    body.copy_from_slice(quote);
    // ICMPv4 checksums the message alone; ICMPv6 adds the pseudo-header
    // (RFC 4443 §2.3).
    let acc = if h.src.is_ipv4() {
        0
    } else {
        ip::pseudo_header_sum(reply_from, h.src, ip::PROTO_ICMPV6, icmp_len)
    };
    let c = ip::checksum(body, ip::sum(&head, acc));
    head[2..4].copy_from_slice(&c.to_be_bytes());
    ih.copy_from_slice(&head);
    Ok(Some(out))
}
