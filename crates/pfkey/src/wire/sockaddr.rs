//! illumos `struct sockaddr_in` (16 bytes) and `struct sockaddr_in6`
//! (32 bytes) as carried in PF_KEY address extensions (reference §3.2).
//!
//! `sa_family_t` is 16 bits in host order (no BSD `sin_len`); `AF_INET6` is
//! 26 on illumos, not Linux's 10. Ports and addresses are network order.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use super::{Reader, Writer};

/// illumos `AF_INET` (sys/socket.h).
pub const AF_INET: u16 = 2;
/// illumos `AF_INET6` (sys/socket.h).
pub const AF_INET6: u16 = 26;
/// `sizeof (struct sockaddr_in)` on illumos.
pub const SOCKADDR_IN_LEN: usize = 16;
/// `sizeof (struct sockaddr_in6)` on illumos (Linux: 28).
pub const SOCKADDR_IN6_LEN: usize = 32;

/// A socket address as illumos lays it out in PF_KEY.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum SockAddr {
    /// `sockaddr_in`; `sin_zero` is written as zeros and ignored on input.
    V4 {
        /// Address.
        addr: Ipv4Addr,
        /// Port (0 = any).
        port: u16,
    },
    /// `sockaddr_in6`; the illumos-private `__sin6_src_id` is written as 0
    /// and ignored on input.
    V6 {
        /// Address.
        addr: Ipv6Addr,
        /// Port (0 = any).
        port: u16,
        /// `sin6_flowinfo` (host order as stored by the kernel).
        flowinfo: u32,
        /// `sin6_scope_id` (host order).
        scope_id: u32,
    },
    /// Any other family, kept verbatim (the bytes after `sa_family`).
    Other {
        /// `sa_family`.
        family: u16,
        /// Bytes following the family field.
        data: Vec<u8>,
    },
}

impl SockAddr {
    /// Address with port 0.
    pub fn from_ip(ip: IpAddr) -> Self {
        Self::from_socket(SocketAddr::new(ip, 0))
    }

    /// From a std socket address (flowinfo/scope kept for IPv6).
    pub fn from_socket(sa: SocketAddr) -> Self {
        match sa {
            SocketAddr::V4(a) => Self::V4 {
                addr: *a.ip(),
                port: a.port(),
            },
            SocketAddr::V6(a) => Self::V6 {
                addr: *a.ip(),
                port: a.port(),
                flowinfo: a.flowinfo(),
                scope_id: a.scope_id(),
            },
        }
    }

    /// The IP address, if the family is INET or INET6.
    pub fn ip(&self) -> Option<IpAddr> {
        match self {
            Self::V4 { addr, .. } => Some(IpAddr::V4(*addr)),
            Self::V6 { addr, .. } => Some(IpAddr::V6(*addr)),
            Self::Other { .. } => None,
        }
    }

    /// The port (0 for other families).
    pub fn port(&self) -> u16 {
        match self {
            Self::V4 { port, .. } | Self::V6 { port, .. } => *port,
            Self::Other { .. } => 0,
        }
    }

    /// `sa_family` as illumos numbers it.
    pub fn family(&self) -> u16 {
        match self {
            Self::V4 { .. } => AF_INET,
            Self::V6 { .. } => AF_INET6,
            Self::Other { family, .. } => *family,
        }
    }

    /// Same address with another port.
    pub fn with_port(&self, port: u16) -> Self {
        match self {
            Self::V4 { addr, .. } => Self::V4 { addr: *addr, port },
            Self::V6 {
                addr,
                flowinfo,
                scope_id,
                ..
            } => Self::V6 {
                addr: *addr,
                port,
                flowinfo: *flowinfo,
                scope_id: *scope_id,
            },
            other => other.clone(),
        }
    }

    /// Encoded size in bytes (before padding of the enclosing extension).
    pub fn buffer_len(&self) -> usize {
        match self {
            Self::V4 { .. } => SOCKADDR_IN_LEN,
            Self::V6 { .. } => SOCKADDR_IN6_LEN,
            Self::Other { data, .. } => data.len().saturating_add(2),
        }
    }

    /// Parse from the bytes following an address extension header. Extra
    /// bytes after a complete INET/INET6 sockaddr are ignored (the kernel
    /// leaves v4-mapped addresses rewritten to `sockaddr_in` inside a 5-word
    /// extension). `None` if the bytes are too short for the family.
    pub(crate) fn parse(body: &[u8]) -> Option<Self> {
        let mut r = Reader::new(body);
        let family = r.u16le()?;
        match family {
            AF_INET => {
                let port = r.u16be()?;
                let addr = Ipv4Addr::from(r.array::<4>()?);
                r.take(8)?; // sin_zero
                Some(Self::V4 { addr, port })
            }
            AF_INET6 => {
                let port = r.u16be()?;
                let flowinfo = r.u32le()?;
                let addr = Ipv6Addr::from(r.array::<16>()?);
                let scope_id = r.u32le()?;
                r.u32le()?; // __sin6_src_id
                Some(Self::V6 {
                    addr,
                    port,
                    flowinfo,
                    scope_id,
                })
            }
            _ => Some(Self::Other {
                family,
                data: r.rest().to_vec(),
            }),
        }
    }

    pub(crate) fn emit(&self, w: &mut Writer<'_>) {
        w.u16le(self.family());
        match self {
            Self::V4 { addr, port } => {
                w.u16be(*port);
                w.bytes(&addr.octets());
                w.zeros(8);
            }
            Self::V6 {
                addr,
                port,
                flowinfo,
                scope_id,
            } => {
                w.u16be(*port);
                w.u32le(*flowinfo);
                w.bytes(&addr.octets());
                w.u32le(*scope_id);
                w.u32le(0);
            }
            Self::Other { data, .. } => w.bytes(data),
        }
    }
}

impl core::fmt::Display for SockAddr {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::V4 { addr, port } => {
                if *port == 0 {
                    write!(f, "{addr}")
                } else {
                    write!(f, "{addr} port {port}")
                }
            }
            Self::V6 { addr, port, .. } => {
                if *port == 0 {
                    write!(f, "{addr}")
                } else {
                    write!(f, "{addr} port {port}")
                }
            }
            Self::Other { family, data } => write!(f, "<AF {family}, {} bytes>", data.len()),
        }
    }
}
