//! The ESP data plane wired to the key engine: the userland stand-in for
//! the illumos kernel's IPsec packet path over a Linux TUN device.
//!
//! Layer: between the SADB/SPD ([`crate::engine`]) and the per-SA packet
//! transforms ([`crate::esp`]). [`DataPlane`] does no I/O of its own: the
//! socket owner hands it UDP/4500 payloads ([`DataPlane::handle_esp`]) and
//! TUN packets ([`DataPlane::handle_tun`]), and drains what it has to send
//! ([`DataPlane::poll_transmit`], [`DataPlane::poll_tun`]) until
//! [`DataPlane::poll_timeout`]. [`runner::DataPlaneRunner`] (Linux) is a
//! ready-made threaded driver that owns a TUN and its own UDP socket.
//!
//! What it guarantees:
//! - Outbound packets follow the engine's SPD: a TUN packet is matched
//!   against the policy of the tunnel link its destination routes to (or
//!   the global head), and is protected, queued behind an ACQUIRE, or
//!   dropped, exactly as [`crate::engine::Engine::outbound_lookup`] says.
//!   Up to `max_queued_per_acquire` packets (4, `IPSACQ_MAXPACKETS`) wait
//!   per ACQUIRE, oldest dropped first, and leave once the SA arrives.
//! - Its OutboundSa/InboundSa objects mirror the SADB: they are built from
//!   [`SaSnapshot`]s on first use and revalidated whenever
//!   [`KeyEngine::generation`] moves; deleted or expired SAs are dropped,
//!   which zeroizes their keys.
//! - Byte counters go back to the engine ([`KeyEngine::record_bytes`]) in
//!   batches (every `report_bytes` bytes per SA or `report_interval`), so
//!   soft and hard byte lifetimes fire; a hard expiry removes the SA at once.
//! - Decapsulated tunnel-mode packets must fall inside the SA's inner
//!   selectors (RFC 4301 §5.2 step 4), or they are dropped.
//! - NAT keepalives (RFC 3948 §2.3, §4) go to the peer of every
//!   UDP-encapsulated outbound SA that sent nothing for `keepalive_interval`.
//! - Nothing on the per-packet path allocates once flows and SAs are
//!   cached: ciphertext and plaintext are written into one reused buffer.
//!
//! It must not: read the clock (time comes in as `now`), block, or trust a
//! byte of input (every drop is a typed [`TunDrop`] / [`EspDrop`]).

#[cfg(target_os = "linux")]
pub mod runner;

use core::net::{IpAddr, SocketAddr};
use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::engine::{AcquireEvent, ByteVerdict, Direction, Outbound, SaSnapshot, Selector};
use crate::esp::{
    self, encap, mtu, EncryptionAlgorithm, EspKey, InboundSa, InboundTable, IntegrityAlgorithm,
    Mode, NatT, OutboundSa, Payload, SaParams, Spi,
};
use crate::registry::{SadbAalg, SadbEalg, SadbSaType};

/// Largest packet the data plane handles (an IPv4/IPv6 total length), plus
/// room for ESP overhead.
const BUF_LEN: usize = 65_535 + 512;

/// The key engine as the data plane sees it. Implemented for an in-process
/// [`crate::engine::Engine`] and for the [`crate::engine::server::DataPlane`]
/// handle of an engine run by a [`crate::engine::server::Server`].
pub trait KeyEngine {
    /// Moves whenever an SA or policy may have changed
    /// ([`crate::engine::Engine::generation`]).
    fn generation(&self) -> u64;
    /// Outbound policy and SA lookup for one packet's selectors.
    fn outbound(&mut self, now: Instant, tun: Option<&str>, sel: &Selector) -> Outbound;
    /// A usable SA by table, SPI and outer destination.
    fn sa(&mut self, dir: Direction, spi: u32, dst: IpAddr) -> Option<SaSnapshot>;
    /// Feeds an SA's byte counter.
    fn record_bytes(
        &mut self,
        now: Instant,
        dir: Direction,
        spi: u32,
        dst: IpAddr,
        bytes: u64,
    ) -> ByteVerdict;
    /// Next ACQUIRE outcome (completed or given up).
    fn poll_acquire_event(&mut self) -> Option<AcquireEvent>;
}

impl KeyEngine for crate::engine::Engine {
    fn generation(&self) -> u64 {
        Self::generation(self)
    }
    fn outbound(&mut self, now: Instant, tun: Option<&str>, sel: &Selector) -> Outbound {
        self.outbound_lookup(now, tun, sel)
    }
    fn sa(&mut self, dir: Direction, spi: u32, dst: IpAddr) -> Option<SaSnapshot> {
        self.lookup_sa(dir, spi, dst)
    }
    fn record_bytes(
        &mut self,
        now: Instant,
        dir: Direction,
        spi: u32,
        dst: IpAddr,
        bytes: u64,
    ) -> ByteVerdict {
        Self::record_bytes(self, now, dir, spi, dst, bytes)
    }
    fn poll_acquire_event(&mut self) -> Option<AcquireEvent> {
        self.poll_event()
    }
}

/// The handle of an engine run by a [`crate::engine::server::Server`]: every call but
/// [`KeyEngine::generation`] is a round trip to the engine's thread, which
/// is why [`DataPlane`] caches and batches.
pub struct ServerEngine {
    handle: crate::engine::server::DataPlane,
    events: VecDeque<AcquireEvent>,
}

impl ServerEngine {
    /// Wraps a server's data-plane handle.
    pub fn new(handle: crate::engine::server::DataPlane) -> Self {
        Self {
            handle,
            events: VecDeque::new(),
        }
    }
}

impl KeyEngine for ServerEngine {
    fn generation(&self) -> u64 {
        self.handle.generation()
    }
    fn outbound(&mut self, _now: Instant, tun: Option<&str>, sel: &Selector) -> Outbound {
        // A stopped engine protects nothing.
        self.handle.outbound(tun, *sel).unwrap_or(Outbound::Drop)
    }
    fn sa(&mut self, dir: Direction, spi: u32, dst: IpAddr) -> Option<SaSnapshot> {
        self.handle.sa(dir, spi, dst)
    }
    fn record_bytes(
        &mut self,
        _now: Instant,
        dir: Direction,
        spi: u32,
        dst: IpAddr,
        bytes: u64,
    ) -> ByteVerdict {
        self.handle
            .record_bytes(dir, spi, dst, bytes)
            .unwrap_or(ByteVerdict::NotFound)
    }
    fn poll_acquire_event(&mut self) -> Option<AcquireEvent> {
        if self.events.is_empty() {
            self.events.extend(self.handle.acquire_events());
        }
        self.events.pop_front()
    }
}

/// A tunnel link: TUN packets whose destination falls in `remote_nets` are
/// looked up against the policy head of the engine's tunnel `name` (declare
/// it with `configure_tunnel`), as an illumos iptun's traffic is. Packets
/// routed to no link use the global head (transport mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    /// Tunnel name as known to the engine (`ip.tun0`).
    pub name: String,
    /// Inner destination prefixes routed into this link.
    pub remote_nets: Vec<(IpAddr, u8)>,
}

/// Data-plane tunables.
#[derive(Debug, Clone)]
pub struct DataPlaneConfig {
    /// Path MTU towards peers, for the inner MTU and ICMP Packet Too Big
    /// (RFC 4459 §2).
    pub path_mtu: u16,
    /// NAT keepalive interval (RFC 3948 §4: 20 s by default); `None`
    /// disables keepalives.
    pub keepalive_interval: Option<Duration>,
    /// Packets held per pending ACQUIRE (illumos `IPSACQ_MAXPACKETS`, 4).
    pub max_queued_per_acquire: usize,
    /// Unreported bytes per SA that trigger a `record_bytes` at once.
    pub report_bytes: u64,
    /// Longest time bytes stay unreported.
    pub report_interval: Duration,
    /// Source of ICMP errors sent back into the TUN; `None` uses the SA's
    /// outer local address.
    pub icmp_source: Option<IpAddr>,
    /// Tunnel links by inner destination.
    pub links: Vec<Link>,
    /// Cached flows before the flow cache is cleared.
    pub max_flows: usize,
    /// Our outer addresses, tried in order when [`DataPlane::handle_esp`]
    /// is given an unspecified local address (a wildcard-bound socket
    /// without `IP_PKTINFO`).
    pub local_addrs: Vec<IpAddr>,
}

impl Default for DataPlaneConfig {
    fn default() -> Self {
        Self {
            path_mtu: 1500,
            keepalive_interval: Some(Duration::from_secs(20)),
            max_queued_per_acquire: 4,
            report_bytes: 256 * 1024,
            report_interval: Duration::from_millis(250),
            icmp_source: None,
            links: Vec::new(),
            max_flows: 4096,
            local_addrs: Vec::new(),
        }
    }
}

/// Why a TUN packet was not sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TunDrop {
    /// Not a well-formed IPv4/IPv6 packet.
    #[error("not an IP packet")]
    NotIp,
    /// No policy matched; a TUN has no clear path.
    #[error("no policy matches")]
    NoPolicy,
    /// Policy says bypass; a TUN has no clear path.
    #[error("bypass policy on a TUN")]
    Bypass,
    /// Policy says drop, or nobody is registered to negotiate an SA.
    #[error("policy drop")]
    Policy,
    /// The SA has no UDP encapsulation; this data plane sends ESP-in-UDP
    /// only (RFC 3948).
    #[error("SA {0} is not UDP-encapsulated")]
    NotUdpEncapsulated(Spi),
    /// The SA's keys or algorithms cannot be used by [`crate::esp`].
    #[error("SA {0} unusable: {1}")]
    BadSa(Spi, SaBuildError),
    /// The SA hit its hard byte limit.
    #[error("SA {0} hard-expired")]
    HardExpired(Spi),
    /// [`crate::esp`] refused the packet (too big without DF, exhausted
    /// sequence numbers, …).
    #[error("ESP: {0}")]
    Esp(esp::Error),
}

/// Why an inbound UDP/4500 datagram produced no packet for the TUN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EspDrop {
    /// [`crate::esp`] dropped it (unknown SPI, replay, ICV, …).
    #[error("ESP: {0}")]
    Esp(esp::Error),
    /// The SADB has the SA but [`crate::esp`] cannot run it.
    #[error("SA {0} unusable: {1}")]
    BadSa(Spi, SaBuildError),
    /// The decapsulated packet is outside the SA's inner selectors
    /// (RFC 4301 §5.2).
    #[error("inner packet outside the selectors of SA {0}")]
    SelectorMismatch(Spi),
}

/// An [`SaSnapshot`] that cannot become an ESP SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SaBuildError {
    /// Not an ESP SA.
    #[error("SA type {0:?} is not ESP")]
    NotEsp(SadbSaType),
    /// Encryption algorithm / key length not supported.
    #[error("encryption algorithm {alg:?} with {key_len}-byte key")]
    Encryption {
        /// Algorithm.
        alg: SadbEalg,
        /// Key bytes (salt included).
        key_len: usize,
    },
    /// Integrity algorithm not supported.
    #[error("authentication algorithm {0:?}")]
    Integrity(SadbAalg),
    /// Address missing or of mixed families.
    #[error("SA addresses")]
    Addresses,
    /// [`crate::esp`] refused the parameters.
    #[error("ESP: {0}")]
    Esp(esp::Error),
}

/// What to do with a TUN packet.
#[derive(Debug)]
pub enum TunOutcome<'a> {
    /// Send `bytes` (an ESP packet, SPI first) as a UDP payload from
    /// `local` to `to`.
    Send(Transmit<'a>),
    /// Write `bytes` back into the TUN: an ICMP Packet Too Big for the
    /// sender (RFC 1191 §4, RFC 4443 §3.2).
    Reply(&'a [u8]),
    /// Held behind ACQUIRE `seq`; it leaves through
    /// [`DataPlane::poll_transmit`] once the SA arrives.
    Queued {
        /// The ACQUIRE's seq.
        seq: u32,
    },
    /// Dropped.
    Dropped(TunDrop),
}

/// One UDP datagram to send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transmit<'a> {
    /// Source: the SA's outer local address and NAT-T port.
    pub local: SocketAddr,
    /// Destination: the peer's (possibly NAT-moved) endpoint.
    pub to: SocketAddr,
    /// UDP payload.
    pub bytes: &'a [u8],
}

/// What an inbound UDP/4500 datagram was.
#[derive(Debug)]
pub enum EspOutcome<'a> {
    /// An authenticated inner packet: write it into the TUN.
    Deliver(&'a [u8]),
    /// An authenticated TFC dummy packet (RFC 4303 §2.6): nothing to do.
    Dummy,
    /// An IKE message (non-ESP marker, RFC 3948 §2.2): the caller's IKE
    /// code takes the payload after the first 4 bytes.
    Ike,
    /// A NAT keepalive (RFC 3948 §2.3): ignore.
    Keepalive,
    /// Dropped.
    Dropped(EspDrop),
}

/// Counters of the data plane as a whole.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    /// Packets read from the TUN.
    pub tun_packets: u64,
    /// ESP datagrams produced (immediate and released).
    pub esp_sent: u64,
    /// ESP payload bytes sent (UDP payload).
    pub esp_sent_bytes: u64,
    /// ESP datagrams received.
    pub esp_received: u64,
    /// Inner packets delivered to the TUN.
    pub delivered: u64,
    /// TUN packets dropped.
    pub tun_dropped: u64,
    /// ESP datagrams dropped.
    pub esp_dropped: u64,
    /// ACQUIREs this data plane triggered.
    pub acquires: u64,
    /// Packets queued behind ACQUIREs.
    pub queued: u64,
    /// Queued packets dropped (queue full, or key management gave up).
    pub queue_dropped: u64,
    /// Queued packets sent once their SA arrived.
    pub released: u64,
    /// ICMP Packet Too Big replies.
    pub too_big: u64,
    /// NAT keepalives sent.
    pub keepalives: u64,
    /// Outbound SAs built from the SADB.
    pub sas_built: u64,
    /// SAs dropped because the SADB no longer has them (delete, expire).
    pub sas_removed: u64,
}

/// Per-SA counters, for `ipseckey`-like listings and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaCounters {
    /// Table.
    pub direction: Direction,
    /// SPI.
    pub spi: Spi,
    /// Packets and payload bytes.
    pub traffic: esp::TrafficCounters,
    /// Inbound drops (zero for outbound SAs).
    pub drops: esp::DropCounters,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct FlowKey {
    link: Option<usize>,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    sport: u16,
    dport: u16,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FlowAction {
    Protect(SaKey),
    Bypass,
    Drop,
    NoPolicy,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct SaKey {
    spi: u32,
    dst: IpAddr,
}

type Net = (IpAddr, u8);

struct OutEntry {
    sa: OutboundSa,
    remote: IpAddr,
    reported: u64,
    last_sent: Option<Instant>,
}

struct InMeta {
    dst: IpAddr,
    remote: IpAddr,
    inner: Option<(Net, Net)>,
    reported: u64,
}

struct Pending {
    seq: u32,
    packets: VecDeque<Vec<u8>>,
}

struct Queued {
    local: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

enum Step {
    Send {
        local: SocketAddr,
        to: SocketAddr,
        len: usize,
    },
    Reply(usize),
    Queued(u32),
}

/// The data plane. Methods, as on the IKE core (STYLE §7): getters
/// ([`Self::stats`], [`Self::sa_counters`]); inputs [`Self::handle_tun`],
/// [`Self::handle_esp`], [`Self::handle_timeout`]; outputs, drained in this
/// order after every input: [`Self::poll_transmit`], [`Self::poll_tun`],
/// then [`Self::poll_timeout`].
pub struct DataPlane<K: KeyEngine> {
    cfg: DataPlaneConfig,
    key: K,
    rng: ring::rand::SystemRandom,
    generation: Option<u64>,
    flows: HashMap<FlowKey, FlowAction>,
    out: HashMap<SaKey, OutEntry>,
    inbound: InboundTable,
    in_meta: HashMap<Spi, InMeta>,
    unknown_spis: HashSet<u32>,
    pending: Vec<Pending>,
    pool: Vec<Vec<u8>>,
    tx: VecDeque<Queued>,
    to_tun: VecDeque<Vec<u8>>,
    buf: Vec<u8>,
    next_report: Option<Instant>,
    /// The latest `now` seen, so `poll_timeout` needs no clock.
    last_now: Option<Instant>,
    stats: Stats,
}

impl<K: KeyEngine> core::fmt::Debug for DataPlane<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DataPlane")
            .field("outbound_sas", &self.out.len())
            .field("inbound_sas", &self.inbound.len())
            .field("flows", &self.flows.len())
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Negative cache bound for SPIs the SADB does not know.
const MAX_UNKNOWN_SPIS: usize = 1024;
/// Pooled buffers kept for queued packets and transmits.
const MAX_POOL: usize = 64;
/// How often to look for ACQUIRE outcomes while packets wait: an engine
/// behind a [`crate::engine::server::Server`] cannot wake us.
const PENDING_POLL: Duration = Duration::from_millis(50);

impl<K: KeyEngine> DataPlane<K> {
    /// A data plane in front of `key`.
    pub fn new(cfg: DataPlaneConfig, key: K) -> Self {
        Self {
            cfg,
            key,
            rng: ring::rand::SystemRandom::new(),
            generation: None,
            flows: HashMap::new(),
            out: HashMap::new(),
            inbound: InboundTable::new(),
            in_meta: HashMap::new(),
            unknown_spis: HashSet::new(),
            pending: Vec::new(),
            pool: Vec::new(),
            tx: VecDeque::new(),
            to_tun: VecDeque::new(),
            buf: vec![0; BUF_LEN],
            next_report: None,
            last_now: None,
            stats: Stats::default(),
        }
    }

    // ------------------------------------------------------------ getters

    /// Data-plane counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The engine behind this data plane.
    pub fn key_engine(&mut self) -> &mut K {
        &mut self.key
    }

    /// Counters of every SA currently mirrored.
    pub fn sa_counters(&self) -> Vec<SaCounters> {
        let mut v: Vec<SaCounters> = self
            .out
            .values()
            .map(|e| SaCounters {
                direction: Direction::Outbound,
                spi: e.sa.spi(),
                traffic: e.sa.counters(),
                drops: esp::DropCounters::default(),
            })
            .collect();
        for spi in self.in_meta.keys() {
            if let Some(sa) = self.inbound.get(*spi) {
                v.push(SaCounters {
                    direction: Direction::Inbound,
                    spi: *spi,
                    traffic: sa.counters(),
                    drops: sa.drops(),
                });
            }
        }
        v
    }

    /// Drops of datagrams that reached no SA (unknown SPI, runts).
    pub fn unmatched_drops(&self) -> esp::DropCounters {
        self.inbound.drops()
    }

    /// Replaces the tunnel links, for a key manager that learns them as
    /// CHILD_SAs and trap policies come and go. Cached flows name links by
    /// position, so they are dropped.
    pub fn set_links(&mut self, links: Vec<Link>) {
        self.cfg.links = links;
        self.flows.clear();
    }

    // -------------------------------------------------------------- input

    /// One packet read from the TUN device.
    pub fn handle_tun(&mut self, now: Instant, packet: &[u8]) -> TunOutcome<'_> {
        self.sync(now);
        self.stats.tun_packets = self.stats.tun_packets.saturating_add(1);
        match self.tun_step(now, packet) {
            Ok(Step::Send { local, to, len }) => match self.buf.get(..len) {
                Some(bytes) => TunOutcome::Send(Transmit { local, to, bytes }),
                None => TunOutcome::Dropped(TunDrop::NotIp),
            },
            Ok(Step::Reply(len)) => match self.buf.get(..len) {
                Some(b) => TunOutcome::Reply(b),
                None => TunOutcome::Dropped(TunDrop::NotIp),
            },
            Ok(Step::Queued(seq)) => TunOutcome::Queued { seq },
            Err(e) => {
                self.stats.tun_dropped = self.stats.tun_dropped.saturating_add(1);
                TunOutcome::Dropped(e)
            }
        }
    }

    /// One UDP payload received on the NAT-T socket from `from`; `to` is the
    /// local address and port it arrived on (the SA's outer destination).
    pub fn handle_esp(
        &mut self,
        now: Instant,
        from: SocketAddr,
        to: SocketAddr,
        payload: &[u8],
    ) -> EspOutcome<'_> {
        let spi = match encap::classify(payload) {
            Ok(encap::Datagram::Esp { spi, .. }) => spi,
            Ok(encap::Datagram::Ike(_)) => return EspOutcome::Ike,
            Ok(encap::Datagram::Keepalive) => return EspOutcome::Keepalive,
            Err(r) => {
                self.stats.esp_dropped = self.stats.esp_dropped.saturating_add(1);
                return EspOutcome::Dropped(EspDrop::Esp(r.into()));
            }
        };
        self.sync(now);
        self.stats.esp_received = self.stats.esp_received.saturating_add(1);
        match self.esp_step(now, from, to.ip(), spi, payload) {
            Ok(Some(len)) => match self.buf.get(..len) {
                Some(b) => EspOutcome::Deliver(b),
                None => EspOutcome::Dummy,
            },
            Ok(None) => EspOutcome::Dummy,
            Err(e) => {
                self.stats.esp_dropped = self.stats.esp_dropped.saturating_add(1);
                EspOutcome::Dropped(e)
            }
        }
    }

    /// Fires due work: byte reports, keepalives, ACQUIRE outcomes.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.sync(now);
        if self.next_report.is_some_and(|t| t <= now) {
            self.report_all(now);
        }
        self.keepalives(now);
        self.acquire_events(now);
    }

    // ------------------------------------------------------------- output

    /// Next datagram to send (released queued packets, keepalives), copied
    /// into `buf`: `(local, to, len)`.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<(SocketAddr, SocketAddr, usize)> {
        loop {
            let q = self.tx.pop_front()?;
            let n = q.bytes.len();
            let done = buf.get_mut(..n).map(|d| d.copy_from_slice(&q.bytes));
            self.recycle(q.bytes);
            if done.is_some() {
                return Some((q.local, q.to, n));
            }
        }
    }

    /// Next packet for the TUN (ICMP replies to released packets), copied
    /// into `buf`.
    pub fn poll_tun(&mut self, buf: &mut [u8]) -> Option<usize> {
        loop {
            let p = self.to_tun.pop_front()?;
            let n = p.len();
            let done = buf.get_mut(..n).map(|d| d.copy_from_slice(&p));
            self.recycle(p);
            if done.is_some() {
                return Some(n);
            }
        }
    }

    /// When [`Self::handle_timeout`] next has work. While ACQUIREs are
    /// pending it asks to be called every 50 ms after the latest input, to
    /// pick up their outcome.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let keep = self.cfg.keepalive_interval.and_then(|iv| {
            self.out
                .values()
                .filter(|e| e.sa.nat_t().is_some())
                .filter_map(|e| e.last_sent.and_then(|t| t.checked_add(iv)))
                .min()
        });
        let pending = (!self.pending.is_empty())
            .then(|| self.last_now.and_then(|t| t.checked_add(PENDING_POLL)))
            .flatten();
        [self.next_report, keep, pending]
            .into_iter()
            .flatten()
            .min()
    }

    // ---------------------------------------------------------- internals

    fn take_buf(&mut self, data: &[u8]) -> Vec<u8> {
        let mut v = self.pool.pop().unwrap_or_default();
        v.clear();
        v.extend_from_slice(data);
        v
    }

    fn recycle(&mut self, mut v: Vec<u8>) {
        if self.pool.len() < MAX_POOL {
            // Pooled buffers held plaintext: clear before reuse is enough
            // (they never hold keys).
            v.clear();
            self.pool.push(v);
        }
    }

    /// Revalidates every cached SA and drops the flow cache when the
    /// engine's generation moved.
    fn sync(&mut self, now: Instant) {
        self.last_now = Some(self.last_now.map_or(now, |t| t.max(now)));
        let g = self.key.generation();
        if self.generation == Some(g) {
            return;
        }
        self.generation = Some(g);
        self.flows.clear();
        self.unknown_spis.clear();
        let keys: Vec<SaKey> = self.out.keys().copied().collect();
        for k in keys {
            if self.key.sa(Direction::Outbound, k.spi, k.dst).is_none() {
                self.remove_out(k);
            }
        }
        let spis: Vec<(Spi, IpAddr)> = self.in_meta.iter().map(|(s, m)| (*s, m.dst)).collect();
        for (spi, dst) in spis {
            if self.key.sa(Direction::Inbound, spi.0, dst).is_none() {
                self.remove_in(spi);
            }
        }
        self.acquire_events(now);
    }

    fn remove_out(&mut self, k: SaKey) {
        // Dropping the OutboundSa zeroizes its keys (esp::EspKey).
        if self.out.remove(&k).is_some() {
            self.stats.sas_removed = self.stats.sas_removed.saturating_add(1);
        }
        self.flows
            .retain(|_, a| !matches!(a, FlowAction::Protect(x) if *x == k));
    }

    fn remove_in(&mut self, spi: Spi) {
        self.in_meta.remove(&spi);
        if self.inbound.remove(spi).is_some() {
            self.stats.sas_removed = self.stats.sas_removed.saturating_add(1);
        }
    }

    fn acquire_events(&mut self, now: Instant) {
        while let Some(ev) = self.key.poll_acquire_event() {
            let seq = match ev {
                AcquireEvent::Completed { seq, .. } | AcquireEvent::Dropped { seq } => seq,
            };
            let Some(i) = self.pending.iter().position(|p| p.seq == seq) else {
                continue;
            };
            let p = self.pending.swap_remove(i);
            match ev {
                AcquireEvent::Completed { .. } => {
                    // A new SA: cached flows for its destination are stale.
                    self.flows.clear();
                    for pkt in p.packets {
                        self.release(now, &pkt);
                        self.recycle(pkt);
                    }
                }
                AcquireEvent::Dropped { .. } => {
                    let n = u64::try_from(p.packets.len()).unwrap_or(u64::MAX);
                    self.stats.queue_dropped = self.stats.queue_dropped.saturating_add(n);
                    for pkt in p.packets {
                        self.recycle(pkt);
                    }
                }
            }
        }
    }

    fn release(&mut self, now: Instant, pkt: &[u8]) {
        match self.tun_step(now, pkt) {
            Ok(Step::Send { local, to, len }) => {
                self.stats.released = self.stats.released.saturating_add(1);
                let mut v = self.pool.pop().unwrap_or_default();
                v.clear();
                v.extend_from_slice(self.buf.get(..len).unwrap_or_default());
                self.tx.push_back(Queued {
                    local,
                    to,
                    bytes: v,
                });
            }
            Ok(Step::Reply(len)) => {
                let mut v = self.pool.pop().unwrap_or_default();
                v.clear();
                v.extend_from_slice(self.buf.get(..len).unwrap_or_default());
                self.to_tun.push_back(v);
            }
            Ok(Step::Queued(_)) => {}
            Err(_) => {
                self.stats.queue_dropped = self.stats.queue_dropped.saturating_add(1);
            }
        }
    }

    fn link_for(&self, dst: IpAddr) -> Option<usize> {
        let mut best: Option<(usize, u8)> = None;
        for (i, l) in self.cfg.links.iter().enumerate() {
            for (net, len) in &l.remote_nets {
                if prefix_covers((*net, *len), dst) && best.is_none_or(|(_, b)| *len > b) {
                    best = Some((i, *len));
                }
            }
        }
        best.map(|(i, _)| i)
    }

    fn tun_step(&mut self, now: Instant, packet: &[u8]) -> Result<Step, TunDrop> {
        let sel = selector(packet).ok_or(TunDrop::NotIp)?;
        let link = self.link_for(sel.remote);
        let fk = FlowKey {
            link,
            src: sel.local,
            dst: sel.remote,
            proto: sel.proto,
            sport: sel.local_port,
            dport: sel.remote_port,
        };
        let action = match self.flows.get(&fk) {
            Some(a) => *a,
            None => {
                let tun = link
                    .and_then(|i| self.cfg.links.get(i))
                    .map(|l| l.name.clone());
                let a = match self.key.outbound(now, tun.as_deref(), &sel) {
                    Outbound::Protect(snap) => {
                        let k = SaKey {
                            spi: snap.spi,
                            dst: snap.dst.ip().ok_or(TunDrop::Policy)?,
                        };
                        if !self.out.contains_key(&k) {
                            let entry = self.build_out(&snap)?;
                            self.out.insert(k, entry);
                            self.stats.sas_built = self.stats.sas_built.saturating_add(1);
                        }
                        FlowAction::Protect(k)
                    }
                    Outbound::Acquire { seq } => {
                        self.stats.acquires = self.stats.acquires.saturating_add(1);
                        return Ok(self.enqueue(seq, packet));
                    }
                    Outbound::Pending { seq } => return Ok(self.enqueue(seq, packet)),
                    Outbound::Bypass => FlowAction::Bypass,
                    Outbound::Drop => FlowAction::Drop,
                    Outbound::NoPolicy => FlowAction::NoPolicy,
                };
                if self.flows.len() >= self.cfg.max_flows {
                    self.flows.clear();
                }
                self.flows.insert(fk, a);
                a
            }
        };
        let k = match action {
            FlowAction::Protect(k) => k,
            FlowAction::Bypass => return Err(TunDrop::Bypass),
            FlowAction::Drop => return Err(TunDrop::Policy),
            FlowAction::NoPolicy => return Err(TunDrop::NoPolicy),
        };
        let path_mtu = self.cfg.path_mtu;
        let icmp_source = self.cfg.icmp_source;
        let Some(e) = self.out.get_mut(&k) else {
            // The flow points at an SA removed since: look it up afresh.
            self.flows.remove(&fk);
            return Err(TunDrop::Policy);
        };
        let spi = e.sa.spi();
        let inner_mtu = mtu::inner_mtu(&e.sa, path_mtu);
        if let Ok(mtu::Verdict::TooBig { mtu }) = mtu::check(packet, inner_mtu) {
            let from = icmp_source.unwrap_or_else(|| e.sa.local());
            let from = if from.is_ipv4() == sel.local.is_ipv4() {
                from
            } else {
                sel.remote
            };
            return match mtu::packet_too_big(packet, mtu, from, &mut self.buf) {
                Ok(Some(r)) => {
                    let n = r.len();
                    self.stats.too_big = self.stats.too_big.saturating_add(1);
                    Ok(Step::Reply(n))
                }
                Ok(None) => Err(TunDrop::Esp(esp::Error::Local(
                    esp::LocalError::Unsupported(esp::Unsupported::Oversize),
                ))),
                Err(err) => Err(TunDrop::Esp(err)),
            };
        }
        let (Some(nat), Some(to)) = (e.sa.nat_t(), e.sa.remote_endpoint()) else {
            return Err(TunDrop::NotUdpEncapsulated(spi));
        };
        let local = SocketAddr::new(e.sa.local(), nat.local_port);
        let len =
            e.sa.encapsulate(packet, &mut self.buf)
                .map_err(TunDrop::Esp)?
                .len();
        e.last_sent = Some(now);
        let unreported = e.sa.counters().bytes.saturating_sub(e.reported);
        self.stats.esp_sent = self.stats.esp_sent.saturating_add(1);
        self.stats.esp_sent_bytes = self
            .stats
            .esp_sent_bytes
            .saturating_add(u64::try_from(len).unwrap_or(u64::MAX));
        if unreported >= self.cfg.report_bytes {
            if self.report_out(now, k) == ByteVerdict::HardExpired {
                // The kernel drops the packet that crosses the hard limit.
                return Err(TunDrop::HardExpired(spi));
            }
        } else if unreported > 0 && self.next_report.is_none() {
            self.next_report = now.checked_add(self.cfg.report_interval);
        }
        Ok(Step::Send { local, to, len })
    }

    fn enqueue(&mut self, seq: u32, packet: &[u8]) -> Step {
        self.stats.queued = self.stats.queued.saturating_add(1);
        let max = self.cfg.max_queued_per_acquire;
        let copy = self.take_buf(packet);
        let i = match self.pending.iter().position(|p| p.seq == seq) {
            Some(i) => i,
            None => {
                self.pending.push(Pending {
                    seq,
                    packets: VecDeque::new(),
                });
                self.pending.len().saturating_sub(1)
            }
        };
        let mut evicted = Vec::new();
        if let Some(p) = self.pending.get_mut(i) {
            p.packets.push_back(copy);
            // Oldest first out, as the kernel's acquire record does.
            while p.packets.len() > max {
                if let Some(old) = p.packets.pop_front() {
                    evicted.push(old);
                }
            }
        }
        for old in evicted {
            self.stats.queue_dropped = self.stats.queue_dropped.saturating_add(1);
            self.recycle(old);
        }
        Step::Queued(seq)
    }

    fn build_out(&mut self, snap: &SaSnapshot) -> Result<OutEntry, TunDrop> {
        let spi = Spi(snap.spi);
        let params = sa_params(snap).map_err(|e| TunDrop::BadSa(spi, e))?;
        let remote = params.remote;
        let sa = OutboundSa::new(params, &self.rng)
            .map_err(|e| TunDrop::BadSa(spi, SaBuildError::Esp(e)))?;
        Ok(OutEntry {
            sa,
            remote,
            reported: 0,
            last_sent: None,
        })
    }

    fn esp_step(
        &mut self,
        now: Instant,
        from: SocketAddr,
        local: IpAddr,
        spi: Spi,
        packet: &[u8],
    ) -> Result<Option<usize>, EspDrop> {
        if self.inbound.get(spi).is_none() && !self.unknown_spis.contains(&spi.0) {
            if self.unknown_spis.len() >= MAX_UNKNOWN_SPIS {
                self.unknown_spis.clear();
            }
            let found = if local.is_unspecified() {
                let mut hit = None;
                for a in &self.cfg.local_addrs {
                    hit = self.key.sa(Direction::Inbound, spi.0, *a).map(|s| (s, *a));
                    if hit.is_some() {
                        break;
                    }
                }
                hit
            } else {
                self.key
                    .sa(Direction::Inbound, spi.0, local)
                    .map(|s| (s, local))
            };
            match found {
                Some((snap, local)) => {
                    // An SA we cannot run is not looked up again until the
                    // SADB changes.
                    self.unknown_spis.insert(spi.0);
                    let params = sa_params(&snap).map_err(|e| EspDrop::BadSa(spi, e))?;
                    let meta = InMeta {
                        dst: local,
                        remote: params.remote,
                        inner: inner_nets(&snap),
                        reported: 0,
                    };
                    let sa = InboundSa::new(params)
                        .map_err(|e| EspDrop::BadSa(spi, SaBuildError::Esp(e)))?;
                    self.unknown_spis.remove(&spi.0);
                    self.inbound.insert(sa);
                    self.in_meta.insert(spi, meta);
                }
                None => {
                    self.unknown_spis.insert(spi.0);
                }
            }
        }
        let (spi, d) = self
            .inbound
            .decapsulate(Some(from), packet, &mut self.buf)
            .map_err(EspDrop::Esp)?;
        let moved = d.peer_moved;
        let len = match d.payload {
            Payload::Ipv4(p) | Payload::Ipv6(p) => Some(p.len()),
            Payload::Dummy => None,
        };
        let (remote, inner) = match self.in_meta.get(&spi) {
            Some(m) => (m.remote, m.inner),
            None => return Err(EspDrop::Esp(esp::DropReason::UnknownSpi(spi).into())),
        };
        if let Some(peer) = moved {
            // RFC 3948 §3.1: follow the peer's new NAT mapping, learned only
            // from authenticated traffic, on every SA towards it.
            for e in self.out.values_mut() {
                if e.remote == remote {
                    e.sa.set_remote_endpoint(peer);
                }
            }
        }
        self.count_in(now, spi);
        let Some(len) = len else { return Ok(None) };
        if let (Some((src_net, dst_net)), Some(p)) = (inner, self.buf.get(..len)) {
            let sel = selector(p).ok_or(EspDrop::SelectorMismatch(spi))?;
            if !prefix_covers(src_net, sel.local) || !prefix_covers(dst_net, sel.remote) {
                return Err(EspDrop::SelectorMismatch(spi));
            }
        }
        self.stats.delivered = self.stats.delivered.saturating_add(1);
        Ok(Some(len))
    }

    fn count_in(&mut self, now: Instant, spi: Spi) {
        let Some(total) = self.inbound.get(spi).map(|s| s.counters().bytes) else {
            return;
        };
        let Some(m) = self.in_meta.get(&spi) else {
            return;
        };
        let unreported = total.saturating_sub(m.reported);
        if unreported >= self.cfg.report_bytes {
            self.report_in(now, spi);
        } else if unreported > 0 && self.next_report.is_none() {
            self.next_report = now.checked_add(self.cfg.report_interval);
        }
    }

    fn report_out(&mut self, now: Instant, k: SaKey) -> ByteVerdict {
        let Some(e) = self.out.get_mut(&k) else {
            return ByteVerdict::NotFound;
        };
        let total = e.sa.counters().bytes;
        let delta = total.saturating_sub(e.reported);
        if delta == 0 {
            return ByteVerdict::Ok;
        }
        e.reported = total;
        let v = self
            .key
            .record_bytes(now, Direction::Outbound, k.spi, k.dst, delta);
        if matches!(v, ByteVerdict::HardExpired | ByteVerdict::NotFound) {
            self.remove_out(k);
        }
        v
    }

    fn report_in(&mut self, now: Instant, spi: Spi) -> ByteVerdict {
        let Some(total) = self.inbound.get(spi).map(|s| s.counters().bytes) else {
            return ByteVerdict::NotFound;
        };
        let Some(m) = self.in_meta.get_mut(&spi) else {
            return ByteVerdict::NotFound;
        };
        let delta = total.saturating_sub(m.reported);
        if delta == 0 {
            return ByteVerdict::Ok;
        }
        m.reported = total;
        let dst = m.dst;
        let v = self
            .key
            .record_bytes(now, Direction::Inbound, spi.0, dst, delta);
        if matches!(v, ByteVerdict::HardExpired | ByteVerdict::NotFound) {
            self.remove_in(spi);
        }
        v
    }

    fn report_all(&mut self, now: Instant) {
        self.next_report = None;
        let outs: Vec<SaKey> = self.out.keys().copied().collect();
        for k in outs {
            self.report_out(now, k);
        }
        let ins: Vec<Spi> = self.in_meta.keys().copied().collect();
        for spi in ins {
            self.report_in(now, spi);
        }
    }

    fn keepalives(&mut self, now: Instant) {
        let Some(iv) = self.cfg.keepalive_interval else {
            return;
        };
        let mut sends: Vec<(SocketAddr, SocketAddr)> = Vec::new();
        for e in self.out.values_mut() {
            let (Some(nat), Some(to)) = (e.sa.nat_t(), e.sa.remote_endpoint()) else {
                continue;
            };
            // RFC 3948 §4: only when nothing else went out for a while. An
            // SA that never sent starts its clock now.
            let due = match e.last_sent {
                None => {
                    e.last_sent = Some(now);
                    false
                }
                Some(t) => t.checked_add(iv).is_some_and(|d| d <= now),
            };
            if due {
                e.last_sent = Some(now);
                let local = SocketAddr::new(e.sa.local(), nat.local_port);
                if !sends.contains(&(local, to)) {
                    sends.push((local, to));
                }
            }
        }
        for (local, to) in sends {
            let bytes = self.take_buf(&encap::NAT_KEEPALIVE);
            self.stats.keepalives = self.stats.keepalives.saturating_add(1);
            self.tx.push_back(Queued { local, to, bytes });
        }
    }
}

/// Whether `ip` lies in the prefix `net`/`len` (same family only; a
/// length beyond the family's width compares the whole address).
pub fn prefix_covers((net, len): (IpAddr, u8), ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let m = u32::MAX
                .checked_shl(32u32.saturating_sub(u32::from(len)))
                .unwrap_or(0);
            u32::from(a) & m == u32::from(b) & m
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let m = u128::MAX
                .checked_shl(128u32.saturating_sub(u32::from(len)))
                .unwrap_or(0);
            u128::from(a) & m == u128::from(b) & m
        }
        _ => false,
    }
}

/// The inner selectors of a tunnel-mode SA as (source net, destination
/// net); a zero prefix on a specific address means a host (as the engine
/// reads it).
fn inner_nets(s: &SaSnapshot) -> Option<(Net, Net)> {
    let ((a, al), (b, bl)) = s.inner.as_ref()?;
    let fix = |ip: IpAddr, l: u8| {
        if l == 0 && !ip.is_unspecified() {
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        } else {
            (ip, l)
        }
    };
    Some((fix(a.ip()?, *al), fix(b.ip()?, *bl)))
}

/// Reads the policy selectors of an IP packet: addresses, protocol and,
/// for TCP/UDP/SCTP first fragments, ports (RFC 4301 §4.4.1.1).
fn selector(p: &[u8]) -> Option<Selector> {
    let first = *p.first()?;
    let (src, dst, proto, l4) = match first >> 4 {
        4 => {
            let ihl = usize::from(first & 0x0f).checked_mul(4)?;
            let h: &[u8; 20] = p.get(..20)?.try_into().ok()?;
            if ihl < 20 {
                return None;
            }
            let frag_off = u16::from_be_bytes([h[6], h[7]]) & 0x1fff;
            let src = IpAddr::from([h[12], h[13], h[14], h[15]]);
            let dst = IpAddr::from([h[16], h[17], h[18], h[19]]);
            (
                src,
                dst,
                h[9],
                (frag_off == 0).then(|| p.get(ihl..)).flatten(),
            )
        }
        6 => {
            let h: &[u8; 40] = p.get(..40)?.try_into().ok()?;
            let mut s = [0u8; 16];
            s.copy_from_slice(h.get(8..24)?);
            let mut d = [0u8; 16];
            d.copy_from_slice(h.get(24..40)?);
            (IpAddr::from(s), IpAddr::from(d), h[6], p.get(40..))
        }
        _ => return None,
    };
    let (sport, dport) = match (proto, l4) {
        (6 | 17 | 132, Some([a, b, c, d, ..])) => {
            (u16::from_be_bytes([*a, *b]), u16::from_be_bytes([*c, *d]))
        }
        _ => (0, 0),
    };
    Some(Selector {
        local: src,
        remote: dst,
        proto,
        local_port: sport,
        remote_port: dport,
    })
}

/// Maps an SADB entry onto [`crate::esp`] parameters. The direction decides
/// which outer address is ours: an outbound SA runs src → dst, an inbound
/// SA dst ← src.
pub fn sa_params(s: &SaSnapshot) -> Result<SaParams, SaBuildError> {
    if s.satype != SadbSaType::SADB_SATYPE_ESP {
        return Err(SaBuildError::NotEsp(s.satype));
    }
    let key = s.encr_key.as_ref().map_or(&[][..], |k| k.as_slice());
    let bad_enc = SaBuildError::Encryption {
        alg: s.encrypt,
        key_len: key.len(),
    };
    let encryption = match (s.encrypt, key.len()) {
        (SadbEalg::SADB_EALG_AES_GCM_16, 20) => EncryptionAlgorithm::AesGcm16_128,
        (SadbEalg::SADB_EALG_AES_GCM_16, 36) => EncryptionAlgorithm::AesGcm16_256,
        (SadbEalg::SADB_EALG_AES, 16) => EncryptionAlgorithm::AesCbc128,
        (SadbEalg::SADB_EALG_AES, 32) => EncryptionAlgorithm::AesCbc256,
        _ => return Err(bad_enc),
    };
    let aead = matches!(
        encryption,
        EncryptionAlgorithm::AesGcm16_128 | EncryptionAlgorithm::AesGcm16_256
    );
    let integrity = match (aead, s.auth) {
        (true, SadbAalg::SADB_AALG_NONE) => None,
        (true, a) => return Err(SaBuildError::Integrity(a)),
        (false, a) => {
            let alg = match a {
                SadbAalg::SADB_AALG_SHA1HMAC => IntegrityAlgorithm::HmacSha1_96,
                SadbAalg::SADB_AALG_SHA256HMAC => IntegrityAlgorithm::HmacSha256_128,
                SadbAalg::SADB_AALG_SHA384HMAC => IntegrityAlgorithm::HmacSha384_192,
                SadbAalg::SADB_AALG_SHA512HMAC => IntegrityAlgorithm::HmacSha512_256,
                other => return Err(SaBuildError::Integrity(other)),
            };
            let k = s
                .auth_key
                .as_ref()
                .filter(|k| k.len() == alg.key_len())
                .ok_or(SaBuildError::Integrity(a))?;
            Some((alg, EspKey::from_slice(k)))
        }
    };
    let (src, dst) = (
        s.src.ip().ok_or(SaBuildError::Addresses)?,
        s.dst.ip().ok_or(SaBuildError::Addresses)?,
    );
    let (local, remote, lport, rport) = match s.direction {
        Direction::Outbound => (src, dst, s.natt_local_port, s.natt_remote_port),
        Direction::Inbound => (dst, src, s.natt_local_port, s.natt_remote_port),
    };
    let nat_t = s.udp_encap.then(|| NatT {
        local_port: lport.unwrap_or(encap::NAT_T_PORT),
        remote_port: rport.unwrap_or(encap::NAT_T_PORT),
    });
    let mode = if s.inner.is_some()
        || s.flags
            .contains(crate::registry::SadbSaFlags::SADB_X_SAFLAGS_TUNNEL)
    {
        Mode::Tunnel
    } else {
        Mode::Transport
    };
    Ok(SaParams {
        spi: Spi(s.spi),
        encryption,
        encryption_key: EspKey::from_slice(key),
        integrity,
        mode,
        local,
        remote,
        nat_t,
        replay_window: u32::from(s.replay_window),
        esn: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selector_reads_ports_of_first_fragments_only() {
        let mut p = [0u8; 28];
        p[0] = 0x45;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 1, 0, 1]);
        p[16..20].copy_from_slice(&[10, 2, 0, 1]);
        p[20..24].copy_from_slice(&[0x04, 0xd2, 0x16, 0x2e]);
        let s = selector(&p).unwrap();
        assert_eq!((s.proto, s.local_port, s.remote_port), (17, 1234, 5678));
        p[7] = 1; // fragment offset 8
        assert_eq!(selector(&p).unwrap().local_port, 0);
        assert!(selector(&p[..19]).is_none());
        p[0] = 0x44; // IHL 16 < 20
        assert!(selector(&p).is_none());
    }

    #[test]
    fn prefixes_cover_only_their_family_and_range() {
        let n = ("10.2.0.0".parse().unwrap(), 24);
        assert!(prefix_covers(n, "10.2.0.77".parse().unwrap()));
        assert!(!prefix_covers(n, "10.2.1.1".parse().unwrap()));
        assert!(!prefix_covers(n, "::1".parse().unwrap()));
        assert!(prefix_covers(
            ("0.0.0.0".parse().unwrap(), 0),
            "1.2.3.4".parse().unwrap()
        ));
    }
}
