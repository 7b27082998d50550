//! The ESP relay between the daemon and a key-engine process
//! (`daemon.engine_socket`, `ikegw pfkey engine PATH --tun NAME`).
//!
//! IKE and ESP share the NAT-T port (RFC 3948 §2.2), and the daemon owns
//! that socket. On illumos the kernel takes ESP off the IKE socket itself
//! (UDP_NAT_T_ENDPOINT); an engine in another process cannot, so the
//! daemon hands it every ESP datagram over `PATH.esp`, a Unix
//! SOCK_SEQPACKET socket (one relay message per packet), and sends what the
//! engine's data plane wants sent from the right NAT-T socket. The engine
//! also reports per-SPI counters for `list-sas`, and the daemon tells it
//! the tunnel links (inner prefixes to route into the TUN device) as the
//! key glue learns them.
//!
//! Messages start with a type byte; addresses are a family byte (4 or 6),
//! the address and a big-endian port; lengths are big-endian. Only this
//! module writes or reads them, on one machine, but a malformed message
//! is still a typed error and never a panic: the engine must survive a
//! confused daemon and the other way round.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

use pfkey::dataplane::Link;

/// Room for one ESP datagram and the relay header.
pub(crate) const MAX_RELAY_MSG: usize = 65_535 + 128;

/// Counter records per [`RelayMsg::Counters`] message (20 bytes each keeps
/// one message well under a seqpacket socket's default buffer).
const COUNTERS_PER_MSG: usize = 2048;

const T_ESP: u8 = 1;
const T_OUT: u8 = 2;
const T_LINKS: u8 = 3;
const T_COUNTERS: u8 = 4;
const T_TUNNEL: u8 = 5;

/// One message on the relay socket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RelayMsg {
    /// Daemon → engine: an ESP datagram received on a NAT-T socket.
    Esp {
        /// Our address it arrived on.
        local: SocketAddr,
        /// The sender.
        remote: SocketAddr,
        /// The UDP payload (SPI first).
        bytes: Vec<u8>,
    },
    /// Engine → daemon: a datagram to send.
    Out {
        /// Our address (and NAT-T port) to send from.
        local: SocketAddr,
        /// The destination.
        to: SocketAddr,
        /// The UDP payload.
        bytes: Vec<u8>,
    },
    /// Daemon → engine: the complete set of tunnel links.
    Links(Vec<Link>),
    /// Daemon → engine: a tunnel link's outer addresses (what `dladm
    /// create-iptun` with `tsrc`/`tdst` sets up on illumos), before the
    /// first [`RelayMsg::Links`] that names it.
    Tunnel {
        /// Link name.
        name: String,
        /// Our outer address.
        local: IpAddr,
        /// The peer's outer address.
        remote: IpAddr,
    },
    /// Engine → daemon: (SPI, bytes, packets) per SA, a complete snapshot
    /// when `last` is set, else a part of one.
    Counters {
        /// Records of this part.
        records: Vec<(u32, u64, u64)>,
        /// Whether this part ends the snapshot.
        last: bool,
    },
}

/// Why a relay message could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RelayError {
    /// The message ends inside a field.
    #[error("relay message truncated at byte {0}")]
    Truncated(usize),
    /// An unknown message type.
    #[error("unknown relay message type {0}")]
    UnknownType(u8),
    /// An address family other than 4 or 6.
    #[error("bad address family {0} at byte {1}")]
    Family(u8, usize),
    /// A tunnel name that is not UTF-8.
    #[error("tunnel name at byte {0} is not UTF-8")]
    Name(usize),
    /// A prefix longer than its address.
    #[error("prefix length {0} too long at byte {1}")]
    Prefix(u8, usize),
    /// Bytes after the last field.
    #[error("{0} trailing bytes")]
    Trailing(usize),
}

fn put_ip(o: &mut Vec<u8>, ip: IpAddr) {
    match ip {
        IpAddr::V4(a) => {
            o.push(4);
            o.extend_from_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            o.push(6);
            o.extend_from_slice(&a.octets());
        }
    }
}

fn put_sa(o: &mut Vec<u8>, sa: SocketAddr) {
    put_ip(o, sa.ip());
    o.extend_from_slice(&sa.port().to_be_bytes());
}

/// A cursor that never reads past the end.
struct Rd<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Rd<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], RelayError> {
        let end = self
            .at
            .checked_add(n)
            .ok_or(RelayError::Truncated(self.at))?;
        let s = self
            .b
            .get(self.at..end)
            .ok_or(RelayError::Truncated(self.at))?;
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, RelayError> {
        Ok(self.take(1)?.first().copied().unwrap_or(0))
    }
    fn arr<const N: usize>(&mut self) -> Result<[u8; N], RelayError> {
        let mut a = [0u8; N];
        a.copy_from_slice(self.take(N)?);
        Ok(a)
    }
    fn ip(&mut self) -> Result<IpAddr, RelayError> {
        let at = self.at;
        match self.u8()? {
            4 => Ok(IpAddr::V4(Ipv4Addr::from(self.arr::<4>()?))),
            6 => Ok(IpAddr::V6(Ipv6Addr::from(self.arr::<16>()?))),
            f => Err(RelayError::Family(f, at)),
        }
    }
    fn sa(&mut self) -> Result<SocketAddr, RelayError> {
        let ip = self.ip()?;
        Ok(SocketAddr::new(ip, u16::from_be_bytes(self.arr()?)))
    }
    fn rest(&mut self) -> &'a [u8] {
        let s = self.b.get(self.at..).unwrap_or(&[]);
        self.at = self.b.len();
        s
    }
    fn end(&self) -> Result<(), RelayError> {
        match self.b.len().saturating_sub(self.at) {
            0 => Ok(()),
            n => Err(RelayError::Trailing(n)),
        }
    }
}

impl RelayMsg {
    /// The message as bytes. Links and counters beyond the field widths
    /// (65535 links, 255-byte names) are cut short rather than wrapped.
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut o = Vec::new();
        match self {
            Self::Esp {
                local,
                remote,
                bytes,
            } => {
                o.push(T_ESP);
                put_sa(&mut o, *local);
                put_sa(&mut o, *remote);
                o.extend_from_slice(bytes);
            }
            Self::Out { local, to, bytes } => {
                o.push(T_OUT);
                put_sa(&mut o, *local);
                put_sa(&mut o, *to);
                o.extend_from_slice(bytes);
            }
            Self::Links(links) => {
                o.push(T_LINKS);
                let links: Vec<&Link> = links.iter().take(usize::from(u16::MAX)).collect();
                o.extend_from_slice(&u16::try_from(links.len()).unwrap_or(0).to_be_bytes());
                for l in links {
                    let name = l
                        .name
                        .as_bytes()
                        .get(..l.name.len().min(255))
                        .unwrap_or(&[]);
                    o.push(u8::try_from(name.len()).unwrap_or(0));
                    o.extend_from_slice(name);
                    let nets: Vec<_> = l.remote_nets.iter().take(usize::from(u16::MAX)).collect();
                    o.extend_from_slice(&u16::try_from(nets.len()).unwrap_or(0).to_be_bytes());
                    for (ip, len) in nets {
                        put_ip(&mut o, *ip);
                        o.push(*len);
                    }
                }
            }
            Self::Tunnel {
                name,
                local,
                remote,
            } => {
                o.push(T_TUNNEL);
                put_ip(&mut o, *local);
                put_ip(&mut o, *remote);
                o.extend_from_slice(name.as_bytes());
            }
            Self::Counters { records, last } => {
                o.push(T_COUNTERS);
                o.push(u8::from(*last));
                for (spi, bytes, packets) in records {
                    o.extend_from_slice(&spi.to_be_bytes());
                    o.extend_from_slice(&bytes.to_be_bytes());
                    o.extend_from_slice(&packets.to_be_bytes());
                }
            }
        }
        o
    }

    /// Reads one message.
    pub(crate) fn decode(b: &[u8]) -> Result<Self, RelayError> {
        let mut r = Rd { b, at: 0 };
        let m = match r.u8()? {
            T_ESP => {
                let local = r.sa()?;
                let remote = r.sa()?;
                Self::Esp {
                    local,
                    remote,
                    bytes: r.rest().to_vec(),
                }
            }
            T_OUT => {
                let local = r.sa()?;
                let to = r.sa()?;
                Self::Out {
                    local,
                    to,
                    bytes: r.rest().to_vec(),
                }
            }
            T_LINKS => {
                let n = u16::from_be_bytes(r.arr()?);
                let mut links = Vec::new();
                for _ in 0..n {
                    let name_len = r.u8()?;
                    let at = r.at;
                    let name = std::str::from_utf8(r.take(usize::from(name_len))?)
                        .map_err(|_| RelayError::Name(at))?
                        .to_string();
                    let k = u16::from_be_bytes(r.arr()?);
                    let mut nets = Vec::new();
                    for _ in 0..k {
                        let ip = r.ip()?;
                        let at = r.at;
                        let len = r.u8()?;
                        let max = if ip.is_ipv4() { 32 } else { 128 };
                        if len > max {
                            return Err(RelayError::Prefix(len, at));
                        }
                        nets.push((ip, len));
                    }
                    links.push(Link {
                        name,
                        remote_nets: nets,
                    });
                }
                Self::Links(links)
            }
            T_TUNNEL => {
                let local = r.ip()?;
                let remote = r.ip()?;
                let at = r.at;
                let name = std::str::from_utf8(r.rest())
                    .map_err(|_| RelayError::Name(at))?
                    .to_string();
                Self::Tunnel {
                    name,
                    local,
                    remote,
                }
            }
            T_COUNTERS => {
                let last = r.u8()? != 0;
                let mut records = Vec::new();
                while r.at < b.len() {
                    let spi = u32::from_be_bytes(r.arr()?);
                    let bytes = u64::from_be_bytes(r.arr()?);
                    let packets = u64::from_be_bytes(r.arr()?);
                    records.push((spi, bytes, packets));
                }
                Self::Counters { records, last }
            }
            t => return Err(RelayError::UnknownType(t)),
        };
        r.end()?;
        Ok(m)
    }

    /// A counter snapshot as one or more messages, the last one marked.
    pub(crate) fn counters(all: Vec<(u32, u64, u64)>) -> Vec<Self> {
        let mut parts: Vec<Self> = all
            .chunks(COUNTERS_PER_MSG)
            .map(|c| Self::Counters {
                records: c.to_vec(),
                last: false,
            })
            .collect();
        match parts.last_mut() {
            Some(Self::Counters { last, .. }) => *last = true,
            _ => parts.push(Self::Counters {
                records: Vec::new(),
                last: true,
            }),
        }
        parts
    }
}

/// `PATH.esp` for an engine socket `PATH`.
pub(crate) fn relay_path(engine_socket: &Path) -> PathBuf {
    let mut p = engine_socket.as_os_str().to_owned();
    p.push(".esp");
    PathBuf::from(p)
}

/// A SOCK_SEQPACKET Unix socket.
pub(crate) fn seqpacket() -> io::Result<socket2::Socket> {
    socket2::Socket::new(socket2::Domain::UNIX, socket2::Type::SEQPACKET, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn every_message_round_trips() {
        let msgs = [
            RelayMsg::Esp {
                local: sa("192.0.2.1:4500"),
                remote: sa("198.51.100.7:61234"),
                bytes: vec![0xc0, 0xff, 0xee, 0x01, 9, 9],
            },
            RelayMsg::Out {
                local: sa("[2001:db8::1]:4500"),
                to: sa("[2001:db8::2]:4500"),
                bytes: vec![],
            },
            RelayMsg::Links(vec![
                Link {
                    name: "ip.tun0".into(),
                    remote_nets: vec![
                        ("10.2.0.0".parse().unwrap(), 16),
                        ("fd00::".parse().unwrap(), 64),
                    ],
                },
                Link {
                    name: "ip.tun1".into(),
                    remote_nets: vec![],
                },
            ]),
            RelayMsg::Links(vec![]),
            RelayMsg::Tunnel {
                name: "ikegw.0".into(),
                local: "198.51.100.1".parse().unwrap(),
                remote: "2001:db8::9".parse().unwrap(),
            },
            RelayMsg::Counters {
                records: vec![(0xc0ffee01, 1 << 40, 7), (1, 0, 0)],
                last: true,
            },
        ];
        for m in msgs {
            assert_eq!(RelayMsg::decode(&m.encode()).unwrap(), m);
        }
    }

    #[test]
    fn malformed_messages_are_typed_errors() {
        assert_eq!(RelayMsg::decode(&[]), Err(RelayError::Truncated(0)));
        assert_eq!(RelayMsg::decode(&[9]), Err(RelayError::UnknownType(9)));
        assert_eq!(
            RelayMsg::decode(&[T_ESP, 5, 1, 2, 3, 4]),
            Err(RelayError::Family(5, 1))
        );
        assert_eq!(
            RelayMsg::decode(&[T_OUT, 4, 1, 2, 3]),
            Err(RelayError::Truncated(2))
        );
        // One link named "\xff", no nets: not UTF-8.
        assert_eq!(
            RelayMsg::decode(&[T_LINKS, 0, 1, 1, 0xff, 0, 0]),
            Err(RelayError::Name(4))
        );
        // An IPv4 net with prefix 33.
        assert_eq!(
            RelayMsg::decode(&[T_LINKS, 0, 1, 1, b'a', 0, 1, 4, 10, 0, 0, 0, 33]),
            Err(RelayError::Prefix(33, 12))
        );
        // Two links announced, one present.
        assert_eq!(
            RelayMsg::decode(&[T_LINKS, 0, 2, 1, b'a', 0, 0]),
            Err(RelayError::Truncated(7))
        );
        assert_eq!(
            RelayMsg::decode(&[T_LINKS, 0, 0, 1]),
            Err(RelayError::Trailing(1))
        );
        assert_eq!(
            RelayMsg::decode(&[T_TUNNEL, 4, 1, 1, 1, 1, 4, 2, 2, 2, 2, 0xc3]),
            Err(RelayError::Name(11))
        );
        // A counter record cut short.
        assert_eq!(
            RelayMsg::decode(&[T_COUNTERS, 1, 0, 0, 0, 1, 0]),
            Err(RelayError::Truncated(6))
        );
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        // Every prefix and single-byte corruption of valid messages.
        let valid = RelayMsg::Links(vec![Link {
            name: "ip.tun0".into(),
            remote_nets: vec![("10.2.0.0".parse().unwrap(), 16)],
        }])
        .encode();
        for n in 0..=valid.len() {
            let _ = RelayMsg::decode(&valid[..n]);
            for i in 0..n {
                let mut v = valid[..n].to_vec();
                v[i] ^= 0xa5;
                let _ = RelayMsg::decode(&v);
            }
        }
    }

    #[test]
    fn large_counter_snapshots_split_and_mark_the_last_part() {
        let all: Vec<_> = (0..5000u32).map(|i| (i, u64::from(i), 1)).collect();
        let parts = RelayMsg::counters(all.clone());
        assert_eq!(parts.len(), 3);
        let mut back = Vec::new();
        for (i, p) in parts.iter().enumerate() {
            let RelayMsg::Counters { records, last } = RelayMsg::decode(&p.encode()).unwrap()
            else {
                panic!("not counters")
            };
            assert_eq!(last, i == 2);
            back.extend(records);
        }
        assert_eq!(back, all);
        assert_eq!(
            RelayMsg::counters(vec![]),
            vec![RelayMsg::Counters {
                records: vec![],
                last: true
            }]
        );
    }
}
