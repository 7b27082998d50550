//! Capture files → UDP datagrams, for `ikegw decode` and the capture-replay
//! tests (feature `capture`; the daemon never reads captures).
//!
//! Reads classic pcap and pcapng (via `pcap-parser`), link types Ethernet
//! (with 802.1Q/802.1ad tags), Linux cooked SLL and SLL2, raw IP, BSD
//! loopback; IPv4 and IPv6 (skipping extension headers), reassembling IP
//! fragments, since an unfragmented-at-IKE-level IKE_AUTH with certificates
//! often exceeds the MTU. Malformed frames are skipped, never a panic.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use pcap_parser::pcap::{parse_pcap_frame, parse_pcap_frame_be, parse_pcap_header};
use pcap_parser::pcapng::Block;
use pcap_parser::{Linktype, PcapBlockOwned, PcapNGSlice};

use crate::wire::strip_non_esp_marker;

/// IKE's UDP port (RFC 7296 §2).
pub const IKE_PORT: u16 = 500;
/// The NAT-T port, shared with UDP-encapsulated ESP (RFC 3948, RFC 7296 §2.23).
pub const NAT_T_PORT: u16 = 4500;

/// One UDP datagram found in a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpDatagram {
    /// 1-based number of the frame that completed the datagram.
    pub packet: usize,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

impl UdpDatagram {
    /// The IKE message carried by this datagram, if any: the whole payload
    /// on port 500, the payload after the non-ESP marker on port 4500
    /// (RFC 3948 §2.2); `None` for ESP, NAT keepalives and other ports.
    pub fn ike_message(&self) -> Option<&[u8]> {
        let ports = [self.src.port(), self.dst.port()];
        if ports.contains(&NAT_T_PORT) {
            strip_non_esp_marker(&self.payload)
        } else if ports.contains(&IKE_PORT) {
            Some(&self.payload)
        } else {
            None
        }
    }
}

/// Why a capture file could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CaptureError {
    /// Neither the pcap nor the pcapng magic number.
    #[error("not a pcap or pcapng file")]
    NotACapture,
    /// The file framing is broken after `packets` good records.
    #[error("malformed capture after {packets} packets")]
    Malformed {
        /// Records read before the damage.
        packets: usize,
    },
}

/// True if `file` starts with a pcap or pcapng magic number.
pub fn is_capture(file: &[u8]) -> bool {
    matches!(
        file.get(..4),
        Some(
            [0xd4, 0xc3, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0xc3, 0xd4]
                | [0x4d, 0x3c, 0xb2, 0xa1]
                | [0xa1, 0xb2, 0x3c, 0x4d]
                | [0x0a, 0x0d, 0x0d, 0x0a]
        )
    )
}

/// Every UDP datagram in a pcap or pcapng file, in capture order.
pub fn udp_datagrams(file: &[u8]) -> Result<Vec<UdpDatagram>, CaptureError> {
    let mut out = Extractor::default();
    if file.get(..4) == Some(&[0x0a, 0x0d, 0x0d, 0x0a]) {
        let slice =
            PcapNGSlice::from_slice(file).map_err(|_| CaptureError::Malformed { packets: 0 })?;
        let mut linktypes: Vec<Linktype> = Vec::new();
        for block in slice {
            let block = block.map_err(|_| CaptureError::Malformed {
                packets: out.frames,
            })?;
            match block {
                PcapBlockOwned::NG(Block::SectionHeader(_)) => linktypes.clear(),
                PcapBlockOwned::NG(Block::InterfaceDescription(idb)) => {
                    linktypes.push(idb.linktype)
                }
                PcapBlockOwned::NG(Block::EnhancedPacket(epb)) => {
                    let lt = usize::try_from(epb.if_id)
                        .ok()
                        .and_then(|i| linktypes.get(i))
                        .copied();
                    let data = epb
                        .data
                        .get(..usize::try_from(epb.caplen).unwrap_or(0))
                        .unwrap_or(epb.data);
                    out.frame(lt, data);
                }
                PcapBlockOwned::NG(Block::SimplePacket(spb)) => {
                    out.frame(linktypes.first().copied(), spb.data);
                }
                _ => {}
            }
        }
    } else if is_capture(file) {
        let (mut rest, header) =
            parse_pcap_header(file).map_err(|_| CaptureError::Malformed { packets: 0 })?;
        let lt = header.network;
        // The record byte order follows the file's magic number.
        let parse = if header.is_bigendian() {
            parse_pcap_frame_be
        } else {
            parse_pcap_frame
        };
        while !rest.is_empty() {
            let (r, b) = parse(rest).map_err(|_| CaptureError::Malformed {
                packets: out.frames,
            })?;
            out.frame(Some(lt), b.data);
            rest = r;
        }
    } else {
        return Err(CaptureError::NotACapture);
    }
    Ok(out.datagrams)
}

/// Key of an IP datagram being reassembled (RFC 791 §3.2, RFC 8200 §4.5).
type FragKey = (IpAddr, IpAddr, u32);

#[derive(Default)]
struct Extractor {
    frames: usize,
    datagrams: Vec<UdpDatagram>,
    /// Fragments by datagram: (offset, data, more-fragments).
    fragments: HashMap<FragKey, Vec<(usize, Vec<u8>, bool)>>,
}

/// Upper bound on datagrams under reassembly, so a capture full of lone
/// fragments cannot grow memory without limit.
const MAX_PENDING_REASSEMBLIES: usize = 1024;

impl Extractor {
    fn frame(&mut self, linktype: Option<Linktype>, data: &[u8]) {
        self.frames = self.frames.saturating_add(1);
        let Some(lt) = linktype else { return };
        let l3 = match lt {
            Linktype::ETHERNET => ethernet(data),
            Linktype::LINUX_SLL => data
                .get(14..16)
                .zip(data.get(16..))
                .map(|(p, d)| (be16(p), d)),
            Linktype::LINUX_SLL2 => data
                .get(0..2)
                .zip(data.get(20..))
                .map(|(p, d)| (be16(p), d)),
            Linktype::RAW | Linktype::IPV4 | Linktype::IPV6 => {
                let v = data.first().map(|b| b >> 4);
                match v {
                    Some(4) => Some((ETH_IPV4, data)),
                    Some(6) => Some((ETH_IPV6, data)),
                    _ => None,
                }
            }
            // BSD loopback: 4-byte family in host order of the capturing machine.
            Linktype::NULL | Linktype(108) => data.get(4..).map(|d| {
                let v = d.first().map_or(0, |b| b >> 4);
                (if v == 6 { ETH_IPV6 } else { ETH_IPV4 }, d)
            }),
            _ => None,
        };
        match l3 {
            Some((ETH_IPV4, ip)) => self.ipv4(ip),
            Some((ETH_IPV6, ip)) => self.ipv6(ip),
            _ => {}
        }
    }

    fn ipv4(&mut self, ip: &[u8]) {
        let Some(&vihl) = ip.first() else { return };
        let ihl = usize::from(vihl & 0x0f).saturating_mul(4);
        let (Some(total), Some(id), Some(frag), Some(&proto), Some(src), Some(dst)) = (
            ip.get(2..4).map(be16),
            ip.get(4..6).map(be16),
            ip.get(6..8).map(be16),
            ip.get(9),
            ip.get(12..16).and_then(|s| <[u8; 4]>::try_from(s).ok()),
            ip.get(16..20).and_then(|s| <[u8; 4]>::try_from(s).ok()),
        ) else {
            return;
        };
        if vihl >> 4 != 4 || ihl < 20 {
            return;
        }
        // Trust the IP total length over the frame (Ethernet pads short frames).
        let Some(body) = ip.get(ihl..usize::from(total)) else {
            return;
        };
        let (src, dst) = (
            IpAddr::V4(Ipv4Addr::from(src)),
            IpAddr::V4(Ipv4Addr::from(dst)),
        );
        let more = frag & 0x2000 != 0;
        let offset = usize::from(frag & 0x1fff).saturating_mul(8);
        if more || offset != 0 {
            let key = (src, dst, u32::from(id) | (u32::from(proto) << 16));
            if let Some(whole) = self.fragment(key, offset, body, more) {
                if proto == UDP {
                    self.udp(src, dst, &whole);
                }
            }
        } else if proto == UDP {
            self.udp(src, dst, body);
        }
    }

    fn ipv6(&mut self, ip: &[u8]) {
        let (Some(plen), Some(&first_next), Some(src), Some(dst)) = (
            ip.get(4..6).map(be16),
            ip.get(6),
            ip.get(8..24).and_then(|s| <[u8; 16]>::try_from(s).ok()),
            ip.get(24..40).and_then(|s| <[u8; 16]>::try_from(s).ok()),
        ) else {
            return;
        };
        let Some(mut rest) = ip.get(40..40usize.saturating_add(usize::from(plen))) else {
            return;
        };
        let (src, dst) = (
            IpAddr::V6(Ipv6Addr::from(src)),
            IpAddr::V6(Ipv6Addr::from(dst)),
        );
        let mut next = first_next;
        let mut frag: Option<(usize, bool, u32)> = None;
        // Walk extension headers (RFC 8200 §4), a bounded number of them.
        for _ in 0..8 {
            match next {
                0 | 43 | 60 => {
                    let (Some(&nh), Some(&len)) = (rest.first(), rest.get(1)) else {
                        return;
                    };
                    let skip = usize::from(len).saturating_add(1).saturating_mul(8);
                    let Some(r) = rest.get(skip..) else { return };
                    next = nh;
                    rest = r;
                }
                44 => {
                    let (Some(&nh), Some(off), Some(id)) = (
                        rest.first(),
                        rest.get(2..4).map(be16),
                        rest.get(4..8).map(be32),
                    ) else {
                        return;
                    };
                    frag = Some((usize::from(off >> 3).saturating_mul(8), off & 1 != 0, id));
                    next = nh;
                    let Some(r) = rest.get(8..) else { return };
                    rest = r;
                }
                _ => break,
            }
        }
        match frag {
            Some((offset, more, id)) => {
                if let Some(whole) = self.fragment((src, dst, id), offset, rest, more) {
                    if next == UDP {
                        self.udp(src, dst, &whole);
                    }
                }
            }
            None if next == UDP => self.udp(src, dst, rest),
            None => {}
        }
    }

    /// Store a fragment; return the datagram once every piece is present.
    fn fragment(
        &mut self,
        key: FragKey,
        offset: usize,
        data: &[u8],
        more: bool,
    ) -> Option<Vec<u8>> {
        if !self.fragments.contains_key(&key) && self.fragments.len() >= MAX_PENDING_REASSEMBLIES {
            return None;
        }
        let pieces = self.fragments.entry(key).or_default();
        pieces.push((offset, data.to_vec(), more));
        pieces.sort_by_key(|p| p.0);
        let mut end = 0usize;
        let mut complete = false;
        for (off, d, m) in pieces.iter() {
            if *off > end {
                return None;
            }
            end = end.max(off.saturating_add(d.len()));
            if !m {
                complete = true;
            }
        }
        if !complete {
            return None;
        }
        let pieces = self.fragments.remove(&key)?;
        let mut whole = vec![0u8; end];
        for (off, d, _) in pieces {
            if let Some(dst) = whole.get_mut(off..off.saturating_add(d.len())) {
                dst.copy_from_slice(&d);
            }
        }
        Some(whole)
    }

    fn udp(&mut self, src: IpAddr, dst: IpAddr, seg: &[u8]) {
        let (Some(sport), Some(dport), Some(len)) = (
            seg.get(0..2).map(be16),
            seg.get(2..4).map(be16),
            seg.get(4..6).map(be16),
        ) else {
            return;
        };
        let Some(payload) = seg.get(8..usize::from(len)) else {
            return;
        };
        self.datagrams.push(UdpDatagram {
            packet: self.frames,
            src: SocketAddr::new(src, sport),
            dst: SocketAddr::new(dst, dport),
            payload: payload.to_vec(),
        });
    }
}

const ETH_IPV4: u16 = 0x0800;
const ETH_IPV6: u16 = 0x86dd;
const UDP: u8 = 17;

/// Skip an Ethernet header and any VLAN tags; return (ethertype, payload).
fn ethernet(frame: &[u8]) -> Option<(u16, &[u8])> {
    let mut et = be16(frame.get(12..14)?);
    let mut rest = frame.get(14..)?;
    for _ in 0..2 {
        if et == 0x8100 || et == 0x88a8 {
            et = be16(rest.get(2..4)?);
            rest = rest.get(4..)?;
        }
    }
    Some((et, rest))
}

fn be16(b: &[u8]) -> u16 {
    match b {
        [a, b, ..] => u16::from_be_bytes([*a, *b]),
        _ => 0,
    }
}

fn be32(b: &[u8]) -> u32 {
    match b {
        [a, b, c, d, ..] => u32::from_be_bytes([*a, *b, *c, *d]),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A classic pcap, Ethernet, one IPv4/UDP 500 datagram carrying "ike!".
    fn tiny_pcap() -> Vec<u8> {
        let mut f = vec![
            0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0, 0, 1, 0, 0,
            0,
        ];
        let mut pkt = vec![0u8; 12];
        pkt.extend_from_slice(&[0x08, 0x00]);
        pkt.extend_from_slice(&[
            0x45, 0, 0, 32, 0, 1, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
        ]);
        pkt.extend_from_slice(&[0x01, 0xf4, 0x01, 0xf4, 0, 12, 0, 0]);
        pkt.extend_from_slice(b"ike!");
        let n = u32::try_from(pkt.len()).unwrap().to_le_bytes();
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&n);
        f.extend_from_slice(&n);
        f.extend_from_slice(&pkt);
        f
    }

    #[test]
    fn extracts_udp_from_ethernet_pcap() {
        let d = udp_datagrams(&tiny_pcap()).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].src, "192.0.2.1:500".parse().unwrap());
        assert_eq!(d[0].ike_message(), Some(&b"ike!"[..]));
        assert_eq!(d[0].packet, 1);
    }

    #[test]
    fn reads_big_endian_pcap() {
        let le = tiny_pcap();
        // Swap every 32-bit field of the file header and record header;
        // the two 16-bit version fields swap as a pair.
        let mut be: Vec<u8> = le[0..4].iter().rev().copied().collect();
        be.extend_from_slice(&[0, 2, 0, 4]);
        for w in le[8..40].chunks(4) {
            be.extend(w.iter().rev());
        }
        be.extend_from_slice(&le[40..]);
        let d = udp_datagrams(&be).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].payload, b"ike!");
    }

    fn ipv4_udp(payload: &[u8], id: u16, frag: u16, total_payload: Option<usize>) -> Vec<u8> {
        let udp_len = 8 + total_payload.unwrap_or(payload.len());
        let mut udp = vec![0x11, 0x94, 0x11, 0x94];
        udp.extend_from_slice(&u16::try_from(udp_len).unwrap().to_be_bytes());
        udp.extend_from_slice(&[0, 0]);
        udp.extend_from_slice(payload);
        ip4(&udp, id, frag)
    }

    fn ip4(body: &[u8], id: u16, frag: u16) -> Vec<u8> {
        let mut ip = vec![0x45, 0];
        ip.extend_from_slice(&u16::try_from(20 + body.len()).unwrap().to_be_bytes());
        ip.extend_from_slice(&id.to_be_bytes());
        ip.extend_from_slice(&frag.to_be_bytes());
        ip.extend_from_slice(&[64, 17, 0, 0, 198, 51, 100, 1, 203, 0, 113, 1]);
        ip.extend_from_slice(body);
        ip
    }

    #[test]
    fn reads_cooked_and_raw_link_types() {
        let ip = ipv4_udp(b"\0\0\0\0hello", 7, 0, None);
        let mut sll = vec![0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0, 0x08, 0x00];
        sll.extend_from_slice(&ip);
        let mut sll2 = vec![
            0x08, 0x00, 0, 0, 0, 0, 0, 1, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0, 0, 0,
        ];
        sll2.extend_from_slice(&ip);
        let mut x = Extractor::default();
        x.frame(Some(Linktype::LINUX_SLL), &sll);
        x.frame(Some(Linktype::LINUX_SLL2), &sll2);
        x.frame(Some(Linktype::RAW), &ip);
        x.frame(Some(Linktype(147)), &ip); // unsupported: skipped
        assert_eq!(x.datagrams.len(), 3);
        assert!(x
            .datagrams
            .iter()
            .all(|d| d.ike_message() == Some(&b"hello"[..])));
        assert_eq!(x.datagrams[2].packet, 3);
    }

    #[test]
    fn reassembles_ipv4_fragments_in_any_order() {
        let payload: Vec<u8> = (0..40u8).collect();
        // UDP header + 40 bytes = 48; split at 24 (a multiple of 8).
        let whole = ipv4_udp(&payload, 9, 0, None);
        let udp = &whole[20..];
        let first = ip4(&udp[..24], 9, 0x2000);
        let second = ip4(&udp[24..], 9, 3);
        let mut x = Extractor::default();
        x.frame(Some(Linktype::RAW), &second);
        assert!(x.datagrams.is_empty());
        x.frame(Some(Linktype::RAW), &first);
        assert_eq!(x.datagrams.len(), 1);
        assert_eq!(x.datagrams[0].payload, payload);
        assert!(x.fragments.is_empty());
    }

    #[test]
    fn reads_ipv6_with_extension_header() {
        let mut udp = vec![0x01, 0xf4, 0x01, 0xf4, 0, 12, 0, 0];
        udp.extend_from_slice(b"ike6");
        let mut ip = vec![0x60, 0, 0, 0];
        ip.extend_from_slice(&u16::try_from(8 + udp.len()).unwrap().to_be_bytes());
        ip.extend_from_slice(&[60, 64]); // destination options first
        ip.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
        ip.extend_from_slice(&[0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
        ip.extend_from_slice(&[17, 0, 1, 4, 0, 0, 0, 0]); // next UDP, PadN
        ip.extend_from_slice(&udp);
        let mut x = Extractor::default();
        x.frame(Some(Linktype::RAW), &ip);
        assert_eq!(x.datagrams.len(), 1);
        assert_eq!(x.datagrams[0].src, "[2001:db8::1]:500".parse().unwrap());
        assert_eq!(x.datagrams[0].payload, b"ike6");
    }

    #[test]
    fn reads_pcapng_with_raw_ip_interface() {
        let le32 = |v: u32| v.to_le_bytes();
        let ip = ipv4_udp(b"\0\0\0\0ng", 1, 0, None);
        let mut f = Vec::new();
        // Section header block (pcapng §4.1).
        f.extend_from_slice(&le32(0x0a0d_0d0a));
        f.extend_from_slice(&le32(28));
        f.extend_from_slice(&le32(0x1a2b_3c4d));
        f.extend_from_slice(&[1, 0, 0, 0]);
        f.extend_from_slice(&[0xff; 8]);
        f.extend_from_slice(&le32(28));
        // Interface description block, LINKTYPE_RAW (101).
        f.extend_from_slice(&le32(1));
        f.extend_from_slice(&le32(20));
        f.extend_from_slice(&[101, 0, 0, 0]);
        f.extend_from_slice(&le32(0xffff));
        f.extend_from_slice(&le32(20));
        // Enhanced packet block.
        let padded = ip.len().div_ceil(4) * 4;
        let total = u32::try_from(32 + padded).unwrap();
        f.extend_from_slice(&le32(6));
        f.extend_from_slice(&le32(total));
        f.extend_from_slice(&le32(0));
        f.extend_from_slice(&le32(0));
        f.extend_from_slice(&le32(0));
        f.extend_from_slice(&le32(u32::try_from(ip.len()).unwrap()));
        f.extend_from_slice(&le32(u32::try_from(ip.len()).unwrap()));
        f.extend_from_slice(&ip);
        f.resize(f.len() + padded - ip.len(), 0);
        f.extend_from_slice(&le32(total));
        let d = udp_datagrams(&f).unwrap();
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].ike_message(), Some(&b"ng"[..]));
    }

    #[test]
    fn rejects_non_capture_and_survives_truncation() {
        assert_eq!(udp_datagrams(b"hello"), Err(CaptureError::NotACapture));
        let f = tiny_pcap();
        for n in 0..f.len() {
            let _ = udp_datagrams(&f[..n]);
        }
    }
}
