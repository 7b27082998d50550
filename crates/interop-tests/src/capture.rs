//! Packet capture on a scenario's WAN: tcpdump into a pcap file, and a
//! reader that turns the file back into UDP datagrams.
//!
//! The reader understands exactly what tcpdump writes on a veth: classic
//! pcap, link type Ethernet, IPv4 or IPv6 (no extension headers), UDP. It is
//! independent of `ike::wire` on purpose: it decides which datagrams are IKE
//! (port 500, or port 4500 behind the four-byte non-ESP marker, RFC 3948
//! §2.2) so that the codec can then be tested on each of them.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pcap_parser::{Linktype, PcapCapture};

use crate::netns::Netns;
use crate::proc::{self, Daemon};
use crate::{io_err, Error, Result};

/// tcpdump.
pub const TCPDUMP: &str = "/usr/bin/tcpdump";

/// IKE's port (RFC 7296 §2).
pub const IKE_PORT: u16 = 500;
/// The NAT-T port, shared by IKE (behind the non-ESP marker) and
/// ESP-in-UDP (RFC 3948 §2).
pub const NATT_PORT: u16 = 4500;

/// A running tcpdump; stopped with SIGINT (so it finishes the file) by PID
/// on [`Capture::stop`] or drop.
#[derive(Debug)]
pub struct Capture {
    daemon: Daemon,
    path: PathBuf,
}

impl Capture {
    /// Starts tcpdump on `iface` in `ns`, writing every packet to `path`, and
    /// waits until it is listening.
    pub fn start(ns: &Netns, iface: &str, path: &Path) -> Result<Self> {
        let log = path.with_extension("tcpdump.log");
        let path_s = path.to_string_lossy().into_owned();
        let daemon = Daemon::spawn(
            "tcpdump",
            ns.name(),
            None,
            &[
                TCPDUMP,
                "-i",
                iface,
                "-n",
                // one write per packet, and no kernel-side batching: without
                // these the last packets can still sit in the ring buffer
                // when tcpdump is stopped
                "-U",
                "--immediate-mode",
                "-s",
                "0",
                // keep the file owned by root (tcpdump drops to its own user)
                "-Z",
                "root",
                "-w",
                &path_s,
            ],
            &log,
            "INT",
        )?;
        let mut cap = Self {
            daemon,
            path: path.to_path_buf(),
        };
        proc::wait_for("tcpdump listening", Duration::from_secs(10), || {
            cap.daemon.check_alive()?;
            let text = std::fs::read_to_string(&log).unwrap_or_default();
            Ok(text.contains("listening on").then_some(()))
        })?;
        Ok(cap)
    }

    /// Stops tcpdump (SIGINT) after a short grace period for packets in
    /// flight, and returns the pcap path.
    pub fn stop(mut self) -> PathBuf {
        std::thread::sleep(Duration::from_millis(300));
        let _ = self.daemon.stop();
        self.path.clone()
    }

    /// The pcap file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Takes the capture out of `slot`, stops it and reads it back; an
    /// error when it was already taken (a scenario reads its capture once).
    pub fn finish(slot: &mut Option<Self>) -> Result<(PathBuf, Packets)> {
        let cap = slot
            .take()
            .ok_or_else(|| Error::Check("capture already finished".into()))?;
        let path = cap.stop();
        let packets = read_pcap(&path)?;
        Ok((path, packets))
    }
}

/// One UDP datagram from a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UdpDatagram {
    /// Index of the frame in the capture (0-based), for messages.
    pub frame: usize,
    /// Source address and port.
    pub src: SocketAddr,
    /// Destination address and port.
    pub dst: SocketAddr,
    /// The UDP payload.
    pub payload: Vec<u8>,
}

/// What a UDP datagram on the IKE ports carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind<'a> {
    /// An IKE message, with the non-ESP marker already removed on 4500.
    Ike(&'a [u8]),
    /// ESP-in-UDP (RFC 3948 §2.1): a non-zero SPI where the marker would be.
    Esp,
    /// NAT-keepalive (RFC 3948 §2.3): the single byte 0xff.
    Keepalive,
    /// Anything else (other ports, a truncated 4500 datagram).
    Other,
}

impl UdpDatagram {
    /// Classifies the datagram by port and, on 4500, by the first four bytes.
    pub fn kind(&self) -> Kind<'_> {
        let ports = [self.src.port(), self.dst.port()];
        if ports.contains(&IKE_PORT) {
            return Kind::Ike(&self.payload);
        }
        if !ports.contains(&NATT_PORT) {
            return Kind::Other;
        }
        if self.payload == [0xff] {
            return Kind::Keepalive;
        }
        match self.payload.split_first_chunk::<4>() {
            Some(([0, 0, 0, 0], rest)) => Kind::Ike(rest),
            Some(_) => Kind::Esp,
            None => Kind::Other,
        }
    }
}

/// Everything read from one capture.
#[derive(Debug, Default)]
pub struct Packets {
    /// UDP datagrams, in capture order.
    pub udp: Vec<UdpDatagram>,
    /// Number of ICMP / ICMPv6 packets (plaintext traffic on the WAN).
    pub icmp: usize,
    /// Number of TCP segments (plaintext traffic on the WAN).
    pub tcp: usize,
    /// Frames that are neither (ARP, ...).
    pub other: usize,
}

/// Reads a classic pcap file written by tcpdump on an Ethernet-like link.
pub fn read_pcap(path: &Path) -> Result<Packets> {
    let bytes = std::fs::read(path).map_err(io_err(path))?;
    let bad = |reason: String| Error::Capture {
        path: path.to_path_buf(),
        reason,
    };
    let cap = PcapCapture::from_file(&bytes).map_err(|e| bad(format!("not a pcap file: {e:?}")))?;
    if cap.header.network != Linktype::ETHERNET {
        return Err(bad(format!(
            "link type {:?}, want Ethernet",
            cap.header.network
        )));
    }
    let mut out = Packets::default();
    for (frame, block) in cap.blocks.iter().enumerate() {
        match parse_frame(block.data) {
            Some(L4::Udp(src, dst, payload)) => out.udp.push(UdpDatagram {
                frame,
                src,
                dst,
                payload: payload.to_vec(),
            }),
            Some(L4::Icmp) => out.icmp = out.icmp.saturating_add(1),
            Some(L4::Tcp) => out.tcp = out.tcp.saturating_add(1),
            None => out.other = out.other.saturating_add(1),
        }
    }
    Ok(out)
}

enum L4<'a> {
    Udp(SocketAddr, SocketAddr, &'a [u8]),
    Icmp,
    Tcp,
}

const ETHERTYPE_IPV4: u16 = 0x0800;
const ETHERTYPE_IPV6: u16 = 0x86dd;
const PROTO_ICMP: u8 = 1;
const PROTO_TCP: u8 = 6;
const PROTO_UDP: u8 = 17;
const PROTO_ICMPV6: u8 = 58;

fn be16(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at.checked_add(2)?)?;
    Some(u16::from_be_bytes([*s.first()?, *s.get(1)?]))
}

/// Ethernet → IPv4/IPv6 → UDP; `None` for anything else or a short frame.
fn parse_frame(f: &[u8]) -> Option<L4<'_>> {
    const ETH_LEN: usize = 14;
    let ethertype = be16(f, 12)?;
    let ip = f.get(ETH_LEN..)?;
    let (proto, src, dst, l4) = match ethertype {
        ETHERTYPE_IPV4 => {
            let ihl = usize::from(ip.first()? & 0x0f).checked_mul(4)?;
            let total = usize::from(be16(ip, 2)?);
            let proto = *ip.get(9)?;
            let s: [u8; 4] = ip.get(12..16)?.try_into().ok()?;
            let d: [u8; 4] = ip.get(16..20)?.try_into().ok()?;
            (
                proto,
                IpAddr::V4(Ipv4Addr::from(s)),
                IpAddr::V4(Ipv4Addr::from(d)),
                ip.get(ihl..total)?,
            )
        }
        ETHERTYPE_IPV6 => {
            let plen = usize::from(be16(ip, 4)?);
            let proto = *ip.get(6)?;
            let s: [u8; 16] = ip.get(8..24)?.try_into().ok()?;
            let d: [u8; 16] = ip.get(24..40)?.try_into().ok()?;
            (
                proto,
                IpAddr::V6(Ipv6Addr::from(s)),
                IpAddr::V6(Ipv6Addr::from(d)),
                ip.get(40..40usize.checked_add(plen)?)?,
            )
        }
        _ => return None,
    };
    match proto {
        PROTO_UDP => {
            let sport = be16(l4, 0)?;
            let dport = be16(l4, 2)?;
            let ulen = usize::from(be16(l4, 4)?);
            let payload = l4.get(8..ulen)?;
            Some(L4::Udp(
                SocketAddr::new(src, sport),
                SocketAddr::new(dst, dport),
                payload,
            ))
        }
        PROTO_ICMP | PROTO_ICMPV6 => Some(L4::Icmp),
        PROTO_TCP => Some(L4::Tcp),
        _ => None,
    }
}

/// The fixed IKE header fields a scenario checks (RFC 7296 §3.1), read
/// without the codec under test.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IkeHeader {
    /// Initiator's SPI.
    pub spi_i: u64,
    /// Responder's SPI.
    pub spi_r: u64,
    /// First payload type.
    pub next_payload: u8,
    /// Exchange type.
    pub exchange: u8,
    /// Flags (I = 0x08, V = 0x10, R = 0x20).
    pub flags: u8,
    /// Message ID.
    pub message_id: u32,
    /// Length of the whole message.
    pub length: u32,
}

/// Exchange types (RFC 7296 §3.1), for scenario expectations.
pub mod exchange {
    /// IKE_SA_INIT
    pub const IKE_SA_INIT: u8 = 34;
    /// IKE_AUTH
    pub const IKE_AUTH: u8 = 35;
    /// CREATE_CHILD_SA
    pub const CREATE_CHILD_SA: u8 = 36;
    /// INFORMATIONAL
    pub const INFORMATIONAL: u8 = 37;

    /// The registry name, or the number.
    pub fn name(x: u8) -> String {
        match x {
            IKE_SA_INIT => "IKE_SA_INIT".into(),
            IKE_AUTH => "IKE_AUTH".into(),
            CREATE_CHILD_SA => "CREATE_CHILD_SA".into(),
            INFORMATIONAL => "INFORMATIONAL".into(),
            other => format!("EXCHANGE_{other}"),
        }
    }
}

/// Payload type of an Encrypted Fragment (RFC 7383 §2.5).
pub const PAYLOAD_SKF: u8 = 53;

impl IkeHeader {
    /// Length of the fixed header.
    pub const LEN: usize = 28;

    /// Reads the fixed header; `None` when fewer than 28 bytes.
    pub fn peek(msg: &[u8]) -> Option<Self> {
        let h: &[u8; Self::LEN] = msg.first_chunk()?;
        let (spi_i, rest) = h.split_first_chunk::<8>()?;
        let (spi_r, rest) = rest.split_first_chunk::<8>()?;
        let (&[next_payload, _version, exchange, flags], rest) = rest.split_first_chunk::<4>()?;
        let (mid, rest) = rest.split_first_chunk::<4>()?;
        let len: &[u8; 4] = rest.first_chunk()?;
        Some(Self {
            spi_i: u64::from_be_bytes(*spi_i),
            spi_r: u64::from_be_bytes(*spi_r),
            next_payload,
            exchange,
            flags,
            message_id: u32::from_be_bytes(*mid),
            length: u32::from_be_bytes(*len),
        })
    }

    /// The R flag: this is a response.
    pub fn is_response(&self) -> bool {
        self.flags & 0x20 != 0
    }

    /// A short description such as `IKE_AUTH request #1 (SKF)`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} #{}{}",
            exchange::name(self.exchange),
            if self.is_response() {
                "response"
            } else {
                "request"
            },
            self.message_id,
            if self.next_payload == PAYLOAD_SKF {
                " (SKF)"
            } else {
                ""
            }
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vectors() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../ike/tests/vectors")
    }

    #[test]
    fn reads_committed_strongswan_capture() {
        let p = read_pcap(&vectors().join("strongswan-psk-init-auth.pcap")).unwrap();
        let ike: Vec<IkeHeader> = p
            .udp
            .iter()
            .filter_map(|d| match d.kind() {
                Kind::Ike(m) => IkeHeader::peek(m),
                _ => None,
            })
            .collect();
        assert_eq!(ike.len(), 16);
        let first = ike[0];
        assert_eq!(first.exchange, exchange::IKE_SA_INIT);
        assert!(!first.is_response());
        assert_eq!(first.spi_r, 0);
        // every header length matches its datagram
        for d in &p.udp {
            if let Kind::Ike(m) = d.kind() {
                let h = IkeHeader::peek(m).unwrap();
                assert_eq!(h.length as usize, m.len(), "frame {}", d.frame);
            }
        }
        assert!(p.udp.iter().any(|d| d.kind() == Kind::Esp));
        assert_eq!(p.icmp, 0);
    }

    #[test]
    fn classifies_natt_datagrams() {
        let mk = |port: u16, payload: &[u8]| UdpDatagram {
            frame: 0,
            src: "192.0.2.1:4500".parse().unwrap(),
            dst: SocketAddr::new(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 2)), port),
            payload: payload.to_vec(),
        };
        assert_eq!(mk(4500, &[0xff]).kind(), Kind::Keepalive);
        assert_eq!(mk(4500, &[0, 0, 0, 0, 1, 2]).kind(), Kind::Ike(&[1, 2]));
        assert_eq!(mk(4500, &[0, 0, 0, 1, 1, 2]).kind(), Kind::Esp);
        assert_eq!(mk(4500, &[0, 0]).kind(), Kind::Other);
        let d = UdpDatagram {
            frame: 0,
            src: "192.0.2.1:500".parse().unwrap(),
            dst: "192.0.2.2:500".parse().unwrap(),
            payload: vec![9, 9],
        };
        assert_eq!(d.kind(), Kind::Ike(&[9, 9]));
    }

    #[test]
    fn rejects_a_file_that_is_not_a_pcap() {
        let dir = std::env::temp_dir().join(crate::unique_tag("pcaptest"));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("x.pcap");
        std::fs::write(&f, b"definitely not a capture file").unwrap();
        assert!(matches!(read_pcap(&f), Err(Error::Capture { .. })));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
