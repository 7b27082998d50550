//! The values that cross the boundary of the sans-IO core (STYLE §7).
//!
//! Inputs: datagrams (with their [`Path`]), [`KernelEvent`]s, [`Command`]s
//! and the passing of time. Outputs: [`Transmit`]s, [`KernelRequest`]s and
//! [`Event`]s. Nothing here performs I/O; the driver owns sockets, the
//! PF_KEY socket and the clock, and moves these values across.

use core::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::crypto::SecretBytes;
use crate::wire::{EncrId, IntegId, TrafficSelector};

/// Where a datagram came from or goes to: our socket address and the
/// peer's (RFC 7296 §2.11: replies go back to the address and port the
/// request came from).
///
/// On the NAT-T port (4500, RFC 3948 §2.2) the bytes handed to
/// [`Endpoint::handle_datagram`](crate::sa::Endpoint::handle_datagram) and
/// carried by [`Transmit`] include the 4-byte non-ESP marker; on port 500
/// they do not. The core adds and strips it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Path {
    /// Our address and port.
    pub local: SocketAddr,
    /// The peer's address and port.
    pub remote: SocketAddr,
}

/// A UDP datagram to send, exactly as it goes on the wire.
#[derive(Clone, PartialEq, Eq)]
pub struct Transmit {
    /// Send from `path.local` to `path.remote`.
    pub path: Path,
    /// UDP payload (with the non-ESP marker on the NAT-T port).
    pub bytes: Vec<u8>,
}

impl fmt::Debug for Transmit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Transmit")
            .field("path", &self.path)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// Identifies an IKE SA inside one [`Endpoint`](crate::sa::Endpoint): our
/// own IKE SPI, which we choose unique.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct IkeSaId(pub u64);

impl fmt::Display for IkeSaId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

/// CHILD_SA mode (RFC 7296 §1.3.1 USE_TRANSPORT_MODE).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Mode {
    /// Tunnel mode (the default).
    Tunnel,
    /// Transport mode.
    Transport,
}

/// One direction of an ESP SA: SPI and keys (RFC 7296 §2.17).
pub struct EspKeys {
    /// The SPI the receiver of this direction chose.
    pub spi: u32,
    /// Encryption key, including any salt (RFC 4106 §8.1).
    pub encr_key: SecretBytes,
    /// Integrity key; empty for AEAD.
    pub integ_key: SecretBytes,
}

impl fmt::Debug for EspKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EspKeys {{ spi: {:08x}, keys: <secret> }}", self.spi)
    }
}

/// UDP encapsulation of ESP (RFC 3948): the ports both ends use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UdpEncap {
    /// Our source port (normally 4500).
    pub local_port: u16,
    /// The peer's port (4500, or what a NAT mapped it to).
    pub remote_port: u16,
}

/// Soft and hard lifetimes of a CHILD_SA (RFC 4301 §4.4.2.1); `None` is
/// unlimited.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Lifetimes {
    /// Seconds until the kernel sends a soft EXPIRE (rekey time).
    pub soft: Option<Duration>,
    /// Seconds until the kernel deletes the SA.
    pub hard: Option<Duration>,
}

/// Everything the kernel needs to install both directions of a CHILD_SA.
#[derive(Debug)]
pub struct ChildSaInstall {
    /// Sequence number; the kernel's [`KernelEvent::Reply`] echoes it
    /// (the PF_KEY `sadb_msg_seq`).
    pub seq: u32,
    /// The IKE SA that negotiated it.
    pub ike_sa: IkeSaId,
    /// Index of its child configuration in the peer's
    /// [`children`](crate::sa::PeerConfig::children).
    pub child: usize,
    /// Our local tunnel endpoint.
    pub local: SocketAddr,
    /// The peer's tunnel endpoint.
    pub remote: SocketAddr,
    /// Peer → us.
    pub inbound: EspKeys,
    /// Us → peer.
    pub outbound: EspKeys,
    /// Encryption transform.
    pub encr: EncrId,
    /// Key length in bits, if the transform has one.
    pub encr_key_bits: Option<u16>,
    /// Integrity transform (`AUTH_NONE` for AEAD).
    pub integ: IntegId,
    /// Extended sequence numbers negotiated.
    pub esn: bool,
    /// Tunnel or transport.
    pub mode: Mode,
    /// Our side's traffic selectors.
    pub local_ts: Vec<TrafficSelector>,
    /// The peer's side's traffic selectors.
    pub remote_ts: Vec<TrafficSelector>,
    /// Lifetimes to program into the SA.
    pub lifetimes: Lifetimes,
    /// UDP encapsulation, when NAT was detected or forced.
    pub encap: Option<UdpEncap>,
}

/// A request to the kernel (or the userland key engine).
#[derive(Debug)]
pub enum KernelRequest {
    /// Install both directions of a CHILD_SA.
    Install(Box<ChildSaInstall>),
    /// Remove both directions of a CHILD_SA.
    Delete {
        /// Sequence number, echoed by [`KernelEvent::Reply`].
        seq: u32,
        /// The IKE SA that owned it.
        ike_sa: IkeSaId,
        /// Our inbound SPI.
        inbound_spi: u32,
        /// Our outbound SPI.
        outbound_spi: u32,
        /// Our address.
        local: SocketAddr,
        /// The peer's address.
        remote: SocketAddr,
    },
}

/// Something the kernel told us.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KernelEvent {
    /// Traffic matched a policy with no SA (SADB_ACQUIRE).
    Acquire {
        /// Peer address of the policy.
        remote: SocketAddr,
        /// Our side of the traffic (the packet or the policy's selector,
        /// from the inner or outer addresses, protocol and ports of the
        /// ACQUIRE), when known: it picks which of the peer's children is
        /// wanted, and is proposed first in TSi (RFC 7296 §2.9).
        local_ts: Option<TrafficSelector>,
        /// The peer's side of the traffic, when known.
        remote_ts: Option<TrafficSelector>,
    },
    /// An SA reached a lifetime (SADB_EXPIRE); `hard` means it is gone.
    Expire {
        /// SPI of the SA (inbound or outbound).
        spi: u32,
        /// Hard (deleted) or soft (rekey due).
        hard: bool,
    },
    /// The kernel's answer to the [`KernelRequest`] with this `seq`;
    /// `errno` 0 is success (PF_KEY `sadb_msg_errno`).
    Reply {
        /// Sequence number of the request.
        seq: u32,
        /// 0, or the errno the kernel returned.
        errno: i32,
    },
    /// An SA was deleted by someone else (SADB_DELETE).
    Deleted {
        /// SPI of the SA.
        spi: u32,
    },
}

/// A command from the operator or the daemon.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Command {
    /// Start an IKE SA (with its first CHILD_SA) for the peer configuration
    /// at this index of [`EndpointConfig::peers`](crate::sa::EndpointConfig::peers).
    Initiate {
        /// Index of the peer configuration.
        peer: usize,
        /// Index in its [`children`](crate::sa::PeerConfig::children) of
        /// the CHILD_SA to create in IKE_AUTH.
        child: usize,
    },
    /// Delete an IKE SA and its CHILD_SAs (RFC 7296 §1.4.1).
    Terminate {
        /// Which IKE SA.
        ike_sa: IkeSaId,
    },
    /// Delete one CHILD_SA, by our inbound SPI.
    TerminateChild {
        /// Which IKE SA.
        ike_sa: IkeSaId,
        /// Our inbound SPI of the CHILD_SA.
        inbound_spi: u32,
    },
    /// Rekey a CHILD_SA, by our inbound SPI (RFC 7296 §1.3.3).
    RekeyChild {
        /// Which IKE SA.
        ike_sa: IkeSaId,
        /// Our inbound SPI of the CHILD_SA.
        inbound_spi: u32,
    },
    /// Create one more CHILD_SA from a child configuration of the IKE
    /// SA's peer (RFC 7296 §1.3.1). While the IKE SA is still being set up
    /// or busy with another exchange, the request waits its turn (window
    /// size 1, §2.3).
    CreateChild {
        /// Which IKE SA.
        ike_sa: IkeSaId,
        /// Index in the peer's [`children`](crate::sa::PeerConfig::children).
        child: usize,
    },
    /// Rekey the IKE SA (RFC 7296 §1.3.2).
    RekeyIke {
        /// Which IKE SA.
        ike_sa: IkeSaId,
    },
    /// Send a liveness check (an empty INFORMATIONAL, RFC 7296 §1.4) now.
    Dpd {
        /// Which IKE SA.
        ike_sa: IkeSaId,
    },
}

/// What happened, for logs and the control socket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// An IKE SA finished IKE_AUTH.
    Established {
        /// Which IKE SA.
        ike_sa: IkeSaId,
        /// Index of the peer configuration.
        peer: usize,
        /// Our address and the peer's.
        path: Path,
        /// Negotiated IKE algorithms in strongSwan notation.
        suite: String,
        /// The peer's identity as it authenticated.
        remote_id: String,
        /// Whether a NAT was detected (RFC 7296 §2.23), or forced.
        nat: bool,
    },
    /// Setting up an IKE SA failed; nothing was established.
    Failed {
        /// Which IKE SA.
        ike_sa: IkeSaId,
        /// Why, for a person to act on.
        reason: String,
    },
    /// An established IKE SA is gone (deleted by either side, or the peer
    /// stopped answering).
    Deleted {
        /// Which IKE SA.
        ike_sa: IkeSaId,
        /// Why.
        reason: String,
    },
    /// The IKE SA was rekeyed (RFC 7296 §1.3.2); its CHILD_SAs now belong
    /// to `new`, and `old` is deleted next.
    IkeRekeyed {
        /// The IKE SA being replaced.
        old: IkeSaId,
        /// Its successor.
        new: IkeSaId,
    },
    /// A CHILD_SA was handed to the kernel.
    ChildInstalled {
        /// Owning IKE SA.
        ike_sa: IkeSaId,
        /// Index of its child configuration in the peer's
        /// [`children`](crate::sa::PeerConfig::children).
        child: usize,
        /// Our inbound SPI.
        inbound_spi: u32,
        /// Our outbound SPI.
        outbound_spi: u32,
        /// ESP algorithms in strongSwan notation.
        suite: String,
        /// Our selectors and the peer's, for logs.
        local_ts: Vec<TrafficSelector>,
        /// The peer's selectors.
        remote_ts: Vec<TrafficSelector>,
    },
    /// Virtual IPs were settled in IKE_AUTH (RFC 7296 §2.19), before the
    /// first CHILD_SA's [`Event::ChildInstalled`].
    VirtualIp {
        /// Which IKE SA.
        ike_sa: IkeSaId,
        /// `true`: the peer assigned `addrs` to us (install them on the
        /// tunnel interface, use `dns`); `false`: we leased them to the peer
        /// (route them into the tunnel).
        ours: bool,
        /// The virtual IPs.
        addrs: Vec<IpAddr>,
        /// DNS servers (INTERNAL_IP4_DNS / INTERNAL_IP6_DNS).
        dns: Vec<IpAddr>,
        /// Networks behind the peer, (network, prefix length)
        /// (INTERNAL_IP4_SUBNET / INTERNAL_IP6_SUBNET, split tunnelling).
        subnets: Vec<(IpAddr, u8)>,
        /// Domains to resolve with `dns` (RFC 8598 INTERNAL_DNS_DOMAIN).
        dns_domains: Vec<String>,
    },
    /// A CHILD_SA could not be created although the IKE SA is up
    /// (RFC 7296 §1.2: IKE_AUTH may succeed without its CHILD_SA).
    ChildFailed {
        /// Owning IKE SA.
        ike_sa: IkeSaId,
        /// Index of the child configuration, when one was chosen (a
        /// responder that found none fitting has `None`).
        child: Option<usize>,
        /// Why.
        reason: String,
    },
    /// A CHILD_SA was removed.
    ChildDeleted {
        /// Owning IKE SA.
        ike_sa: IkeSaId,
        /// Our inbound SPI.
        inbound_spi: u32,
    },
    /// A datagram was dropped or rejected; for debug logs and counters.
    Dropped {
        /// Where it came from.
        path: Path,
        /// Why.
        reason: String,
    },
}
