//! The daemon's UDP sockets: IKE on port 500 and IKE + ESP-in-UDP on the
//! NAT-T port 4500 (RFC 7296 §2, §2.23; RFC 3948), IPv4 and IPv6.
//!
//! What it guarantees:
//! - Every received datagram comes with the *local* address it was sent to
//!   (`IP_PKTINFO` / `IPV6_RECVPKTINFO`), so a gateway listening on a
//!   wildcard address answers from the address the peer talked to
//!   (RFC 7296 §2.11: replies go back the way the request came). Sends carry
//!   the chosen source address in a pktinfo control message as well.
//! - Datagrams on the NAT-T port are told apart with
//!   [`pfkey::esp::encap::classify`]: IKE (behind the 4-byte non-ESP
//!   marker), NAT keepalive, or ESP. The IKE core (`ike::sa::Endpoint`)
//!   strips and adds the marker itself (`ike::io::Path` doc), so IKE
//!   datagrams are passed to it whole and sent as the core framed them.
//!
//! No `unsafe` here: nix's typed control-message API does the `CMSG_*`
//! work. On systems where nix has no pktinfo support (illumos), the local
//! address is the bound one, so a wildcard in `listen` is replaced by this
//! host's addresses of that family at start ([`expand_wildcards`]): a
//! wildcard socket there would give every peer's SAs (and illumos IP
//! tunnel links) the local address 0.0.0.0. Addresses added later need a
//! restart, or naming in `listen`.

use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use pfkey::esp::encap::{classify, Datagram};
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::Interest;

/// Largest UDP payload we read (IKE messages are far smaller, but an
/// ESP-in-UDP packet can reach the link MTU; 64 KiB covers any datagram).
pub(crate) const MAX_DATAGRAM: usize = 65_535;

/// One datagram as received.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Received {
    /// Payload length in the caller's buffer.
    pub(crate) len: usize,
    /// Sender.
    pub(crate) remote: SocketAddr,
    /// The address and port it was sent to.
    pub(crate) local: SocketAddr,
}

/// What a datagram on one of our sockets is, for the driver.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Kind<'a> {
    /// IKE: hand to the core unchanged (with the marker on the NAT-T port).
    Ike(&'a [u8]),
    /// ESP in UDP (RFC 3948 §2.1): for the data plane.
    Esp(&'a [u8]),
    /// NAT keepalive (RFC 3948 §2.3): nothing to do.
    Keepalive,
    /// Not valid on that port; the reason is for debug logs.
    Junk(&'static str),
}

/// Classifies a datagram that arrived on a socket of port kind `natt`.
pub(crate) fn demux(natt: bool, payload: &[u8]) -> Kind<'_> {
    if !natt {
        // Port 500 carries IKE only (RFC 7296 §2).
        return Kind::Ike(payload);
    }
    match classify(payload) {
        Ok(Datagram::Ike(_)) => Kind::Ike(payload),
        Ok(Datagram::Keepalive) => Kind::Keepalive,
        Ok(Datagram::Esp { packet, .. }) => Kind::Esp(packet),
        Err(_) => Kind::Junk("too short for ESP or IKE on the NAT-T port"),
    }
}

/// A bound UDP socket with pktinfo, driven by tokio.
#[derive(Debug)]
pub(crate) struct UdpSock {
    sock: tokio::net::UdpSocket,
    bound: SocketAddr,
    /// Whether this is a NAT-T (4500-style) socket.
    pub(crate) natt: bool,
}

impl UdpSock {
    /// Binds `addr` (port 0 picks one). IPv6 sockets are v6-only so a v4
    /// socket on the same port can coexist.
    pub(crate) fn bind(addr: SocketAddr, natt: bool) -> io::Result<Self> {
        let domain = if addr.is_ipv4() {
            Domain::IPV4
        } else {
            Domain::IPV6
        };
        let s = Socket::new(domain, Type::DGRAM, Some(Protocol::UDP))?;
        if addr.is_ipv6() {
            s.set_only_v6(true)?;
        }
        s.set_reuse_address(true)?;
        enable_pktinfo(&s, addr.is_ipv4())?;
        s.bind(&addr.into())?;
        s.set_nonblocking(true)?;
        let std: std::net::UdpSocket = s.into();
        let sock = tokio::net::UdpSocket::from_std(std)?;
        let bound = sock.local_addr()?;
        Ok(Self { sock, bound, natt })
    }

    /// The bound address (with the real port when 0 was asked for).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.bound
    }

    /// Waits for one datagram.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<Received> {
        self.sock
            .async_io(Interest::READABLE, || self.recv_now(buf))
            .await
    }

    /// Sends `bytes` to `to`, from `from` when it is a specific address of
    /// the socket's family.
    pub(crate) async fn send(&self, bytes: &[u8], to: SocketAddr, from: IpAddr) -> io::Result<()> {
        self.sock
            .async_io(Interest::WRITABLE, || self.send_now(bytes, to, from))
            .await
            .map(drop)
    }

    #[cfg(target_os = "linux")]
    fn recv_now(&self, buf: &mut [u8]) -> io::Result<Received> {
        use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags, SockaddrStorage};
        use std::io::IoSliceMut;
        use std::os::fd::AsRawFd;

        let mut cmsg = nix::cmsg_space!(libc::in6_pktinfo);
        let mut iov = [IoSliceMut::new(buf)];
        let msg = recvmsg::<SockaddrStorage>(
            self.sock.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::empty(),
        )
        .map_err(io::Error::from)?;
        let remote = msg
            .address
            .as_ref()
            .and_then(storage_to_std)
            .ok_or_else(|| io::Error::other("datagram without a sender address"))?;
        let mut local = self.bound;
        if let Ok(cmsgs) = msg.cmsgs() {
            for c in cmsgs {
                match c {
                    ControlMessageOwned::Ipv4PacketInfo(pi) => {
                        let ip = Ipv4Addr::from(u32::from_be(pi.ipi_addr.s_addr));
                        local = SocketAddr::new(IpAddr::V4(ip), self.bound.port());
                    }
                    ControlMessageOwned::Ipv6PacketInfo(pi) => {
                        let ip = Ipv6Addr::from(pi.ipi6_addr.s6_addr);
                        local = SocketAddr::new(IpAddr::V6(ip), self.bound.port());
                    }
                    _ => {}
                }
            }
        }
        Ok(Received {
            len: msg.bytes,
            remote,
            local,
        })
    }

    #[cfg(not(target_os = "linux"))]
    fn recv_now(&self, buf: &mut [u8]) -> io::Result<Received> {
        let (len, remote) = self.sock.try_recv_from(buf)?;
        Ok(Received {
            len,
            remote,
            local: self.bound,
        })
    }

    #[cfg(target_os = "linux")]
    fn send_now(&self, bytes: &[u8], to: SocketAddr, from: IpAddr) -> io::Result<usize> {
        use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags, SockaddrIn, SockaddrIn6};
        use std::io::IoSlice;
        use std::os::fd::AsRawFd;

        let iov = [IoSlice::new(bytes)];
        let fd = self.sock.as_raw_fd();
        let sent = match (to, from) {
            (SocketAddr::V4(to), from) => {
                let dst = SockaddrIn::from(to);
                match from {
                    IpAddr::V4(src) if !src.is_unspecified() => {
                        let pi = libc::in_pktinfo {
                            ipi_ifindex: 0,
                            ipi_spec_dst: libc::in_addr {
                                s_addr: u32::from(src).to_be(),
                            },
                            ipi_addr: libc::in_addr { s_addr: 0 },
                        };
                        let c = [ControlMessage::Ipv4PacketInfo(&pi)];
                        sendmsg(fd, &iov, &c, MsgFlags::empty(), Some(&dst))
                    }
                    _ => sendmsg(fd, &iov, &[], MsgFlags::empty(), Some(&dst)),
                }
            }
            (SocketAddr::V6(to), from) => {
                let dst = SockaddrIn6::from(to);
                match from {
                    IpAddr::V6(src) if !src.is_unspecified() => {
                        let pi = libc::in6_pktinfo {
                            ipi6_addr: libc::in6_addr {
                                s6_addr: src.octets(),
                            },
                            ipi6_ifindex: 0,
                        };
                        let c = [ControlMessage::Ipv6PacketInfo(&pi)];
                        sendmsg(fd, &iov, &c, MsgFlags::empty(), Some(&dst))
                    }
                    _ => sendmsg(fd, &iov, &[], MsgFlags::empty(), Some(&dst)),
                }
            }
        };
        sent.map_err(io::Error::from)
    }

    #[cfg(not(target_os = "linux"))]
    fn send_now(&self, bytes: &[u8], to: SocketAddr, _from: IpAddr) -> io::Result<usize> {
        self.sock.try_send_to(bytes, to)
    }
}

#[cfg(target_os = "linux")]
fn enable_pktinfo(s: &Socket, v4: bool) -> io::Result<()> {
    use nix::sys::socket::{setsockopt, sockopt};
    if v4 {
        setsockopt(s, sockopt::Ipv4PacketInfo, &true).map_err(io::Error::from)
    } else {
        setsockopt(s, sockopt::Ipv6RecvPacketInfo, &true).map_err(io::Error::from)
    }
}

#[cfg(not(target_os = "linux"))]
fn enable_pktinfo(_s: &Socket, _v4: bool) -> io::Result<()> {
    Ok(())
}

#[cfg(target_os = "linux")]
fn storage_to_std(s: &nix::sys::socket::SockaddrStorage) -> Option<SocketAddr> {
    if let Some(v4) = s.as_sockaddr_in() {
        return Some(SocketAddr::new(IpAddr::V4(v4.ip()), v4.port()));
    }
    s.as_sockaddr_in6()
        .map(|v6| SocketAddr::new(IpAddr::V6(v6.ip()), v6.port()))
}

/// Whether received datagrams carry their local address here (pktinfo,
/// see [`UdpSock::recv`]).
const HAS_PKTINFO: bool = cfg!(target_os = "linux");

/// `addrs` with each wildcard replaced by the addresses of `host` of its
/// family, in order, without duplicates. IPv6 link-local addresses are
/// left out: binding one needs a scope, and IKE peers do not use them.
pub(crate) fn expand_wildcards(addrs: &[IpAddr], host: &[IpAddr]) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = Vec::new();
    let mut push = |a: IpAddr| {
        if !out.contains(&a) {
            out.push(a);
        }
    };
    for a in addrs {
        if !a.is_unspecified() {
            push(*a);
            continue;
        }
        for h in host.iter().filter(|h| h.is_ipv4() == a.is_ipv4()) {
            let link_local = matches!(h, IpAddr::V6(v) if v.segments()[0] & 0xffc0 == 0xfe80);
            if !h.is_unspecified() && !link_local {
                push(*h);
            }
        }
    }
    out
}

/// This host's interface addresses (getifaddrs).
fn host_addrs() -> io::Result<Vec<IpAddr>> {
    let list = nix::ifaddrs::getifaddrs().map_err(io::Error::from)?;
    Ok(list
        .filter_map(|i| {
            let a = i.address?;
            if let Some(v4) = a.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .collect())
}

/// The IKE and NAT-T sockets of one daemon.
#[derive(Debug)]
pub(crate) struct Sockets {
    /// All sockets; IKE ones have `natt == false`.
    pub(crate) all: Vec<UdpSock>,
}

impl Sockets {
    /// Binds `port` and `natt_port` on each address of `listen` (empty:
    /// the IPv4 and IPv6 wildcards). With port 0 each socket gets its own
    /// ephemeral port; tests read them back with [`Self::port_of`].
    pub(crate) fn bind(listen: &[IpAddr], port: u16, natt_port: u16) -> io::Result<Self> {
        let addrs: Vec<IpAddr> = if listen.is_empty() {
            vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ]
        } else {
            listen.to_vec()
        };
        let addrs = if HAS_PKTINFO || !addrs.iter().any(IpAddr::is_unspecified) {
            addrs
        } else {
            let host = host_addrs()?;
            let expanded = expand_wildcards(&addrs, &host);
            tracing::info!(
                "no per-datagram local address on this system: listening on this host's addresses ({}) instead of the wildcard; addresses added later need a restart",
                expanded
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(" ")
            );
            expanded
        };
        let mut all = Vec::new();
        for ip in addrs {
            for (p, natt) in [(port, false), (natt_port, true)] {
                match UdpSock::bind(SocketAddr::new(ip, p), natt) {
                    Ok(s) => all.push(s),
                    // A host without IPv6 still runs on IPv4 when the
                    // wildcard was implied rather than asked for.
                    Err(e)
                        if listen.is_empty()
                            && ip.is_ipv6()
                            && e.kind() == io::ErrorKind::AddrNotAvailable =>
                    {
                        tracing::warn!("no IPv6 socket on port {p}: {e}");
                    }
                    Err(e) => {
                        return Err(io::Error::new(
                            e.kind(),
                            format!("cannot bind UDP {}: {e}", SocketAddr::new(ip, p)),
                        ))
                    }
                }
            }
        }
        Ok(Self { all })
    }

    /// The bound port of the first socket of this kind and family.
    pub(crate) fn port_of(&self, natt: bool, v4: bool) -> Option<u16> {
        self.all
            .iter()
            .find(|s| s.natt == natt && s.bound.is_ipv4() == v4)
            .map(|s| s.bound.port())
    }

    /// The socket to send from for `local` (matching family and port,
    /// preferring one bound to exactly that address).
    pub(crate) fn for_local(&self, local: SocketAddr) -> Option<&UdpSock> {
        let fam = self
            .all
            .iter()
            .filter(|s| s.bound.is_ipv4() == local.is_ipv4() && s.bound.port() == local.port());
        let mut fallback = None;
        for s in fam {
            if s.bound.ip() == local.ip() {
                return Some(s);
            }
            if s.bound.ip().is_unspecified() && fallback.is_none() {
                fallback = Some(s);
            }
        }
        fallback
    }

    /// The NAT-T socket for the family of `ip` (for ESP output).
    pub(crate) fn natt_for(&self, ip: IpAddr) -> Option<&UdpSock> {
        let fam = || {
            self.all
                .iter()
                .filter(move |s| s.natt && s.bound.is_ipv4() == ip.is_ipv4())
        };
        fam()
            .find(|s| s.bound.ip() == ip)
            .or_else(|| fam().find(|s| s.bound.ip().is_unspecified()))
            .or_else(|| fam().next())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_become_the_hosts_addresses_of_their_family() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let host = [
            ip("127.0.0.1"),
            ip("192.0.2.1"),
            ip("::1"),
            ip("fe80::1"),
            ip("2001:db8::1"),
            ip("192.0.2.1"),
        ];
        assert_eq!(
            expand_wildcards(&[ip("0.0.0.0"), ip("::")], &host),
            [
                ip("127.0.0.1"),
                ip("192.0.2.1"),
                ip("::1"),
                ip("2001:db8::1")
            ]
        );
        // Named addresses stay; a wildcard of one family adds only its own.
        assert_eq!(
            expand_wildcards(&[ip("198.51.100.7"), ip("::")], &host),
            [ip("198.51.100.7"), ip("::1"), ip("2001:db8::1")]
        );
        assert!(host_addrs().unwrap().contains(&ip("127.0.0.1")));
    }

    #[test]
    fn demux_port_500_is_always_ike() {
        assert_eq!(demux(false, &[0, 0, 0, 0, 1]), Kind::Ike(&[0, 0, 0, 0, 1]));
    }

    #[test]
    fn demux_natt_tells_ike_esp_and_keepalive_apart() {
        let ike = [0u8, 0, 0, 0, 9, 9];
        assert_eq!(demux(true, &ike), Kind::Ike(&ike));
        assert_eq!(demux(true, &[0xff]), Kind::Keepalive);
        let esp = [0u8, 0, 1, 0, 0, 0, 0, 1, 7, 7];
        assert_eq!(demux(true, &esp), Kind::Esp(&esp));
        assert!(matches!(demux(true, &[]), Kind::Junk(_)));
        assert!(matches!(demux(true, &[1, 2, 3]), Kind::Junk(_)));
    }

    #[tokio::test]
    async fn reply_leaves_from_the_address_the_request_was_sent_to() {
        // A wildcard socket; the peer talks to 127.0.0.2, so the reply
        // must come from 127.0.0.2 (the kernel would pick 127.0.0.1).
        let s = UdpSock::bind("0.0.0.0:0".parse().unwrap(), false).unwrap();
        let port = s.local_addr().port();
        let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let dst: SocketAddr = format!("127.0.0.2:{port}").parse().unwrap();
        peer.send_to(b"hello", dst).await.unwrap();
        let mut buf = [0u8; 64];
        let r = s.recv(&mut buf).await.unwrap();
        assert_eq!(&buf[..r.len], b"hello");
        assert_eq!(r.local, dst);
        assert_eq!(r.remote, peer.local_addr().unwrap());
        s.send(b"back", r.remote, r.local.ip()).await.unwrap();
        let (n, from) = peer.recv_from(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], b"back");
        assert_eq!(from, dst);
    }

    #[tokio::test]
    async fn ipv6_loopback_round_trip_reports_local_address() {
        let Ok(s) = UdpSock::bind("[::]:0".parse().unwrap(), true) else {
            eprintln!("SKIP: no IPv6 on this host");
            return;
        };
        let port = s.local_addr().port();
        let Ok(peer) = tokio::net::UdpSocket::bind("[::1]:0").await else {
            eprintln!("SKIP: no ::1 on this host");
            return;
        };
        let dst: SocketAddr = format!("[::1]:{port}").parse().unwrap();
        peer.send_to(&[0, 0, 0, 0, 1], dst).await.unwrap();
        let mut buf = [0u8; 64];
        let r = s.recv(&mut buf).await.unwrap();
        assert_eq!(r.local, dst);
        assert_eq!(demux(s.natt, &buf[..r.len]), Kind::Ike(&[0, 0, 0, 0, 1]));
        s.send(b"x", r.remote, r.local.ip()).await.unwrap();
        let (n, from) = peer.recv_from(&mut buf).await.unwrap();
        assert_eq!((n, from), (1, dst));
    }

    #[test]
    fn sockets_pick_the_socket_bound_to_the_local_address() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let ips = ["127.0.0.1".parse().unwrap()];
            let socks = Sockets::bind(&ips, 0, 0).unwrap();
            let p = socks.port_of(false, true).unwrap();
            let n = socks.port_of(true, true).unwrap();
            assert_ne!(p, n);
            let s = socks.for_local(SocketAddr::new(ips[0], n)).unwrap();
            assert!(s.natt);
            assert!(socks.natt_for(ips[0]).unwrap().natt);
            assert!(socks.for_local("127.0.0.1:1".parse().unwrap()).is_none());
        });
    }
}
