//! The daemon's ESP data plane (backend `userland`, Linux, `ikegw run
//! --tun NAME`): [`pfkey::dataplane::DataPlane`] in front of the daemon's
//! in-process key engine.
//!
//! Ownership: the daemon keeps its UDP sockets, because IKE and ESP share
//! the NAT-T port (RFC 3948 §2.2). The driver hands every ESP datagram it
//! reads on a NAT-T socket to [`DataPlaneHandle::esp`]; what the data plane
//! has to send comes back as [`Out`] records, which [`send_task`] writes
//! from the socket and source address the SA names. The `DataPlane` itself
//! runs on one thread of its own: its engine calls are synchronous round
//! trips to the engine's thread, which must not stall the tokio workers
//! (STYLE §7: the data plane shares nothing with the IKE core but the
//! PF_KEY stream). A second thread reads the TUN device.
//!
//! Policy decides what is protected: the key glue ([`super::kernel`])
//! installs tunnel-mode policies on per-peer tunnel links and tells this
//! module the links' inner prefixes ([`DataPlaneHandle::links_sink`]);
//! routes for those prefixes point at the TUN device. A packet without an
//! SA raises an ACQUIRE and waits in the data plane (up to 4 per ACQUIRE)
//! until the SA arrives.
//!
//! ESP always travels in UDP here (no raw ESP socket): connections served
//! by this data plane need `encap = true`; an SA without NAT-T ports is
//! refused per packet with a typed drop.

use std::collections::{BTreeSet, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc as std_mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use pfkey::dataplane::{DataPlane, DataPlaneConfig, EspOutcome, Link, ServerEngine, TunOutcome};
use tokio::sync::mpsc;
use tracing::{debug, info, warn};

use super::net::Sockets;
use super::relay::{self, RelayMsg};

/// Room for one inner packet plus ESP/UDP overhead.
const BUF_LEN: usize = 65_535 + 512;
/// Inputs waiting for the data-plane thread; a full queue drops, as a busy
/// router would.
const QUEUE: usize = 1024;
/// Longest the thread sleeps without looking at timers and the stop flag.
const TICK: Duration = Duration::from_millis(100);
/// How stale the `list-sas` counters may get under steady traffic (they
/// are also published whenever the input queue runs dry, so a reader that
/// waits for a burst to end sees all of it).
const PUBLISH_EVERY: Duration = Duration::from_millis(100);
/// MTU of the TUN device: room for ESP-in-UDP on a 1500-byte path.
const TUN_MTU: u32 = 1400;

/// One ESP datagram received on a NAT-T socket.
pub(crate) struct EspIn {
    /// The whole UDP payload (SPI first).
    pub(crate) bytes: Vec<u8>,
    /// The sender.
    pub(crate) from: SocketAddr,
    /// Our address and port it arrived on.
    pub(crate) to: SocketAddr,
}

/// One UDP datagram the data plane wants sent.
pub(crate) struct Out {
    local: SocketAddr,
    to: SocketAddr,
    bytes: Vec<u8>,
}

enum DpIn {
    Tun(Vec<u8>),
    Esp(EspIn),
    Links(Vec<Link>),
    /// A tunnel link's peer (outer remote address).
    Peer(IpAddr),
    Stop,
}

/// Bytes and packets per SPI, copied from the data plane's per-SA counters
/// for `list-sas`.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    by_spi: Mutex<HashMap<u32, (u64, u64)>>,
}

impl Counters {
    /// (bytes, packets) through the SA with this SPI.
    pub(crate) fn get(&self, spi: u32) -> (u64, u64) {
        self.by_spi
            .lock()
            .ok()
            .and_then(|m| m.get(&spi).copied())
            .unwrap_or((0, 0))
    }

    fn publish<K: pfkey::dataplane::KeyEngine>(&self, dp: &DataPlane<K>) {
        let mut fresh = HashMap::new();
        for c in dp.sa_counters() {
            fresh.insert(c.spi.0, (c.traffic.bytes, c.traffic.packets));
        }
        self.merge(fresh);
    }

    /// Every SPI's (bytes, packets), for the relay to an absent daemon.
    fn snapshot(&self) -> Vec<(u32, u64, u64)> {
        self.by_spi
            .lock()
            .map(|m| m.iter().map(|(s, (b, p))| (*s, *b, *p)).collect())
            .unwrap_or_default()
    }

    fn merge(&self, fresh: HashMap<u32, (u64, u64)>) {
        if let Ok(mut m) = self.by_spi.lock() {
            // Counters of SAs that left the SADB stay readable until the
            // driver forgets the CHILD_SA.
            for (spi, v) in fresh {
                m.insert(spi, v);
            }
        }
    }
}

/// The running data plane: either here (its thread, the TUN reader, and
/// the input queue) or in a key-engine process reached over the ESP relay
/// ([`super::relay`]).
pub(crate) struct DataPlaneHandle {
    /// Per-SPI counters for `list-sas`.
    pub(crate) counters: Arc<Counters>,
    inner: Inner,
}

enum Inner {
    Local {
        tx: std_mpsc::SyncSender<DpIn>,
        stop: Arc<AtomicBool>,
        threads: Vec<JoinHandle<()>>,
    },
    Relay {
        sock: Arc<tokio::net::UnixDatagram>,
        reader: tokio::task::JoinHandle<()>,
    },
}

impl DataPlaneHandle {
    /// Opens the TUN device `tun_name` and starts the data plane in front
    /// of `engine`. `local_addrs` are our outer addresses; datagrams to
    /// send go to `out` (drained by [`send_task`]).
    pub(crate) fn start(
        engine: pfkey::engine::server::DataPlane,
        tun_name: &str,
        local_addrs: Vec<IpAddr>,
        out: mpsc::Sender<Out>,
    ) -> io::Result<Self> {
        let tun = pfkey::tun::Tun::open(tun_name)?;
        tun.set_mtu(TUN_MTU)?;
        tun.set_up()?;
        tun.set_nonblocking(true)?;
        let tun = Arc::new(tun);
        info!("data plane on TUN {}", tun.name());
        let cfg = DataPlaneConfig {
            local_addrs,
            // The IKE core sends the NAT-T keepalives (RFC 3948 §4) for
            // every IKE SA behind a NAT, as it must on illumos where the
            // kernel sends none; a second stream from here would only
            // double them.
            keepalive_interval: None,
            ..DataPlaneConfig::default()
        };
        let dp = DataPlane::new(cfg, ServerEngine::new(engine));
        let (tx, rx) = std_mpsc::sync_channel(QUEUE);
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(Counters::default());
        let mut threads = Vec::new();
        {
            let (tun, tx, stop) = (tun.clone(), tx.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("ikegw-tun".into())
                    .spawn(move || tun_reader(&tun, &tx, &stop))?,
            );
        }
        {
            let (counters, stop) = (counters.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("ikegw-esp".into())
                    .spawn(move || worker(dp, &rx, &tun, &out, &counters, &stop))?,
            );
        }
        Ok(Self {
            counters,
            inner: Inner::Local { tx, stop, threads },
        })
    }

    /// Connects to the ESP relay of a key-engine process (`PATH.esp`, see
    /// [`super::relay`]): ESP goes there, and what its data plane sends
    /// comes back as [`Out`] records on `out`. Needs the tokio runtime.
    pub(crate) fn relay(path: &std::path::Path, out: mpsc::Sender<Out>) -> io::Result<Self> {
        let s = relay::seqpacket()?;
        s.connect(&socket2::SockAddr::unix(path)?)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))?;
        s.set_nonblocking(true)?;
        let std: std::os::unix::net::UnixDatagram = s.into();
        let sock = Arc::new(tokio::net::UnixDatagram::from_std(std)?);
        let counters = Arc::new(Counters::default());
        let reader = tokio::spawn(relay_reader(sock.clone(), out, counters.clone()));
        info!(
            "data plane in the key-engine process, ESP relayed over {}",
            path.display()
        );
        Ok(Self {
            counters,
            inner: Inner::Relay { sock, reader },
        })
    }

    /// Records a tunnel peer's address (local data plane only).
    fn peer(&self, remote: IpAddr) {
        if let Inner::Local { tx, .. } = &self.inner {
            let _ = tx.send(DpIn::Peer(remote));
        }
    }

    /// Hands one ESP datagram to the data plane; false if it was dropped
    /// because the queue (or the relay socket) is full.
    pub(crate) fn esp(&self, e: EspIn) -> bool {
        match &self.inner {
            Inner::Local { tx, .. } => tx.try_send(DpIn::Esp(e)).is_ok(),
            Inner::Relay { sock, .. } => {
                let m = RelayMsg::Esp {
                    local: e.to,
                    remote: e.from,
                    bytes: e.bytes,
                };
                sock.try_send(&m.encode()).is_ok()
            }
        }
    }

    /// Where the key glue sends the current tunnel links.
    pub(crate) fn links_sink(&self) -> Box<dyn FnMut(Vec<Link>) + Send> {
        match &self.inner {
            Inner::Local { tx, .. } => {
                let tx = tx.clone();
                Box::new(move |links| {
                    // Links must not be lost to a full queue: block briefly.
                    if tx.send(DpIn::Links(links)).is_err() {
                        warn!("data plane stopped; tunnel links not updated");
                    }
                })
            }
            Inner::Relay { sock, .. } => {
                let sock = sock.clone();
                Box::new(move |links| {
                    if let Err(e) = sock.try_send(&RelayMsg::Links(links).encode()) {
                        warn!("ESP relay: tunnel links not sent to the engine: {e}");
                    }
                })
            }
        }
    }

    /// Where the key glue sends tunnel links' outer addresses: the data
    /// plane keeps each peer's own address routed outside the TUN device
    /// (see [`Peers`]), and an engine in another process also configures
    /// the link from it (the in-process engine is configured directly).
    pub(crate) fn tunnel_sink(&self) -> Option<Box<dyn FnMut(pfkey::engine::Tunnel) + Send>> {
        match &self.inner {
            Inner::Local { tx, .. } => {
                let tx = tx.clone();
                Some(Box::new(move |t: pfkey::engine::Tunnel| {
                    if tx.send(DpIn::Peer(t.remote)).is_err() {
                        warn!("data plane stopped; peer {} not recorded", t.remote);
                    }
                }))
            }
            Inner::Relay { sock, .. } => {
                let sock = sock.clone();
                Some(Box::new(move |t: pfkey::engine::Tunnel| {
                    let m = RelayMsg::Tunnel {
                        name: t.name,
                        local: t.local,
                        remote: t.remote,
                    };
                    if let Err(e) = sock.try_send(&m.encode()) {
                        warn!("ESP relay: tunnel link not sent to the engine: {e}");
                    }
                }))
            }
        }
    }

    /// Stops both threads and removes the routes the data plane added
    /// (a relayed data plane keeps running in its engine process).
    pub(crate) fn stop(self) {
        match self.inner {
            Inner::Local { tx, stop, threads } => {
                stop.store(true, Ordering::Relaxed);
                let _ = tx.try_send(DpIn::Stop);
                for t in threads {
                    let _ = t.join();
                }
            }
            Inner::Relay { reader, .. } => reader.abort(),
        }
    }
}

/// Daemon side of the relay: datagrams to send and counter snapshots.
async fn relay_reader(
    sock: Arc<tokio::net::UnixDatagram>,
    out: mpsc::Sender<Out>,
    counters: Arc<Counters>,
) {
    let mut buf = vec![0u8; relay::MAX_RELAY_MSG];
    let mut part = HashMap::new();
    loop {
        let n = match sock.recv(&mut buf).await {
            Ok(0) | Err(_) => {
                warn!("ESP relay: the key-engine process closed the relay; no ESP moves until ikegw restarts");
                return;
            }
            Ok(n) => n,
        };
        match RelayMsg::decode(buf.get(..n).unwrap_or(&[])) {
            Ok(RelayMsg::Out { local, to, bytes }) => {
                if out.try_send(Out { local, to, bytes }).is_err() {
                    debug!(%to, "ESP relay: send queue full, datagram dropped");
                }
            }
            Ok(RelayMsg::Counters { records, last }) => {
                part.extend(records.into_iter().map(|(s, b, p)| (s, (b, p))));
                if last {
                    counters.merge(std::mem::take(&mut part));
                }
            }
            Ok(m) => debug!("ESP relay: unexpected message from the engine: {m:?}"),
            Err(e) => warn!("ESP relay: bad message from the engine: {e}"),
        }
    }
}

/// How often the engine process sends its counters to the daemon.
const RELAY_COUNTERS_EVERY: Duration = Duration::from_millis(250);

/// Engine-process side of the relay (`ikegw pfkey engine PATH --tun`):
/// serves one daemon at a time on `path`; a daemon that reconnects (after
/// a restart) replaces the previous one. `out` is the data plane's send
/// queue. Runs until the process ends.
pub(crate) fn serve_relay(
    engine: pfkey::engine::server::DataPlane,
    dp: DataPlaneHandle,
    path: &std::path::Path,
    mut out: mpsc::Receiver<Out>,
) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt as _;
    use std::os::unix::net::UnixDatagram;

    let _ = std::fs::remove_file(path);
    let l = relay::seqpacket()?;
    l.bind(&socket2::SockAddr::unix(path)?)?;
    // Root only, like the PF_KEY socket it stands beside.
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    l.listen(4)?;
    let dp = Arc::new(dp);
    let sink = Arc::new(Mutex::new(dp.links_sink()));
    let current: Arc<Mutex<Option<Arc<UnixDatagram>>>> = Arc::new(Mutex::new(None));
    {
        let current = current.clone();
        std::thread::Builder::new()
            .name("relay-out".into())
            .spawn(move || {
                while let Some(o) = out.blocking_recv() {
                    let conn = current.lock().ok().and_then(|c| c.clone());
                    if let Some(c) = conn {
                        let m = RelayMsg::Out {
                            local: o.local,
                            to: o.to,
                            bytes: o.bytes,
                        };
                        let _ = c.send(&m.encode());
                    }
                }
            })?;
    }
    {
        let (current, dp) = (current.clone(), dp.clone());
        std::thread::Builder::new()
            .name("relay-counters".into())
            .spawn(move || loop {
                std::thread::sleep(RELAY_COUNTERS_EVERY);
                let conn = current.lock().ok().and_then(|c| c.clone());
                if let Some(c) = conn {
                    for m in RelayMsg::counters(dp.counters.snapshot()) {
                        let _ = c.send(&m.encode());
                    }
                }
            })?;
    }
    loop {
        let (s, _) = l.accept()?;
        let conn = Arc::new(UnixDatagram::from(s));
        info!("ESP relay: daemon connected");
        if let Ok(mut c) = current.lock() {
            *c = Some(conn.clone());
        }
        let (current, dp, sink, engine) =
            (current.clone(), dp.clone(), sink.clone(), engine.clone());
        std::thread::Builder::new()
            .name("relay-in".into())
            .spawn(move || {
                let mut buf = vec![0u8; relay::MAX_RELAY_MSG];
                loop {
                    let n = match conn.recv(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => n,
                    };
                    match RelayMsg::decode(buf.get(..n).unwrap_or(&[])) {
                        Ok(RelayMsg::Esp {
                            local,
                            remote,
                            bytes,
                        }) => {
                            let _ = dp.esp(EspIn {
                                bytes,
                                from: remote,
                                to: local,
                            });
                        }
                        Ok(RelayMsg::Tunnel {
                            name,
                            local,
                            remote,
                        }) => {
                            engine.configure_tunnel(pfkey::engine::Tunnel {
                                name,
                                local,
                                remote,
                            });
                            dp.peer(remote);
                        }
                        Ok(RelayMsg::Links(links)) => {
                            if let Ok(mut f) = sink.lock() {
                                f(links);
                            }
                        }
                        Ok(m) => debug!("ESP relay: unexpected message from the daemon: {m:?}"),
                        Err(e) => warn!("ESP relay: bad message from the daemon: {e}"),
                    }
                }
                info!("ESP relay: daemon gone; SAs and policies stay in the engine");
                if let Ok(mut c) = current.lock() {
                    if c.as_ref().is_some_and(|x| Arc::ptr_eq(x, &conn)) {
                        *c = None;
                    }
                }
            })?;
    }
}

/// Writes the data plane's datagrams from the NAT-T socket of the SA's
/// outer local address.
pub(crate) async fn send_task(socks: Arc<Sockets>, mut rx: mpsc::Receiver<Out>) {
    while let Some(o) = rx.recv().await {
        let Some(sock) = socks.natt_for(o.local.ip()) else {
            debug!(local = %o.local, "data plane: no NAT-T socket to send from");
            continue;
        };
        if let Err(e) = sock.send(&o.bytes, o.to, o.local.ip()).await {
            debug!(to = %o.to, "data plane: send: {e}");
        }
    }
}

fn tun_reader(tun: &pfkey::tun::Tun, tx: &std_mpsc::SyncSender<DpIn>, stop: &AtomicBool) {
    let mut buf = vec![0u8; BUF_LEN];
    while !stop.load(Ordering::Relaxed) {
        match tun.recv(&mut buf) {
            Ok(n) => {
                let p = buf.get(..n).unwrap_or(&[]).to_vec();
                match tx.try_send(DpIn::Tun(p)) {
                    Ok(()) | Err(std_mpsc::TrySendError::Full(_)) => {}
                    Err(std_mpsc::TrySendError::Disconnected(_)) => return,
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let _ = tun.wait_readable(TICK);
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => {
                warn!("data plane: TUN read: {e}");
                return;
            }
        }
    }
}

fn queue(out: &mpsc::Sender<Out>, local: SocketAddr, to: SocketAddr, bytes: &[u8]) {
    let o = Out {
        local,
        to,
        bytes: bytes.to_vec(),
    };
    if out.try_send(o).is_err() {
        debug!(%to, "data plane: send queue full, datagram dropped");
    }
}

fn worker(
    mut dp: DataPlane<ServerEngine>,
    rx: &std_mpsc::Receiver<DpIn>,
    tun: &pfkey::tun::Tun,
    out: &mpsc::Sender<Out>,
    counters: &Counters,
    stop: &AtomicBool,
) {
    // Routes wanted (the links' remote blocks) and those in place.
    let mut want: BTreeSet<(IpAddr, u8)> = BTreeSet::new();
    let mut routes: BTreeSet<(IpAddr, u8)> = BTreeSet::new();
    let mut retried = Instant::now();
    let mut peers = Peers::default();
    let mut scratch = vec![0u8; BUF_LEN];
    let mut published = Instant::now();
    let mut ticked = Instant::now();
    let mut dirty = false;
    while !stop.load(Ordering::Relaxed) {
        let now = Instant::now();
        let wait = dp
            .poll_timeout()
            .map_or(TICK, |t| t.saturating_duration_since(now))
            .min(TICK);
        let got = match rx.try_recv() {
            Ok(m) => Ok(m),
            Err(std_mpsc::TryRecvError::Disconnected) => {
                Err(std_mpsc::RecvTimeoutError::Disconnected)
            }
            Err(std_mpsc::TryRecvError::Empty) => {
                if dirty {
                    counters.publish(&dp);
                    published = now;
                    dirty = false;
                }
                rx.recv_timeout(wait)
            }
        };
        if got.is_ok() {
            dirty = true;
        }
        match got {
            Ok(DpIn::Tun(p)) => match dp.handle_tun(Instant::now(), &p) {
                TunOutcome::Send(t) => queue(out, t.local, t.to, t.bytes),
                TunOutcome::Reply(b) => {
                    if let Err(e) = tun.send(b) {
                        debug!("data plane: TUN write: {e}");
                    }
                }
                TunOutcome::Queued { seq } => {
                    debug!("data plane: packet held for ACQUIRE {seq:#x}")
                }
                TunOutcome::Dropped(why) => debug!("data plane: TUN packet dropped: {why}"),
            },
            Ok(DpIn::Esp(e)) => match dp.handle_esp(Instant::now(), e.from, e.to, &e.bytes) {
                EspOutcome::Deliver(p) => {
                    if let Err(err) = tun.send(p) {
                        debug!("data plane: TUN write: {err}");
                    }
                }
                EspOutcome::Dropped(why) => {
                    debug!(from = %e.from, "data plane: ESP dropped: {why}")
                }
                EspOutcome::Dummy | EspOutcome::Ike | EspOutcome::Keepalive => {}
            },
            Ok(DpIn::Peer(p)) => peers.learn(p),
            Ok(DpIn::Links(links)) => {
                want = links
                    .iter()
                    .flat_map(|l| l.remote_nets.iter().copied())
                    .filter(|n| peers.routable(*n, tun.name()))
                    .collect();
                for n in routes.difference(&want).copied().collect::<Vec<_>>() {
                    route(false, n, tun.name(), false);
                    routes.remove(&n);
                }
                for n in want.difference(&routes).copied().collect::<Vec<_>>() {
                    if route(true, n, tun.name(), false) {
                        routes.insert(n);
                    }
                }
                retried = Instant::now();
                dp.set_links(links);
            }
            Ok(DpIn::Stop) | Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
        if want.len() != routes.len() && now.duration_since(retried) >= ROUTE_RETRY {
            retried = now;
            for n in want.difference(&routes).copied().collect::<Vec<_>>() {
                if route(true, n, tun.name(), true) {
                    routes.insert(n);
                }
            }
        }
        // Every tick at least: ACQUIRE outcomes are polled, not pushed.
        if dp.poll_timeout().is_some_and(|t| t <= now) || now.duration_since(ticked) >= TICK {
            dp.handle_timeout(now);
            ticked = now;
        }
        while let Some((local, to, n)) = dp.poll_transmit(&mut scratch) {
            if let Some(b) = scratch.get(..n) {
                queue(out, local, to, b);
            }
        }
        while let Some(n) = dp.poll_tun(&mut scratch) {
            if let Some(b) = scratch.get(..n) {
                let _ = tun.send(b);
            }
        }
        if dirty && now.duration_since(published) >= PUBLISH_EVERY {
            counters.publish(&dp);
            published = now;
            dirty = false;
        }
    }
    counters.publish(&dp);
    let s = dp.stats();
    info!(
        "data plane stopped: {} ESP out, {} in, {} delivered, {} ACQUIREs, {} queued, {} released",
        s.esp_sent, s.esp_received, s.delivered, s.acquires, s.queued, s.released
    );
    for n in routes {
        route(false, n, tun.name(), false);
    }
    peers.unpin_all();
}

/// The IKE peers of the tunnel links, and the host routes that keep each
/// one reachable outside the TUN device. Without them, a remote selector
/// that covers the peer's own address (host-to-host selectors, or
/// 0.0.0.0/0) would route our IKE and ESP-in-UDP packets to the peer into
/// the TUN device, where they would be encapsulated again, forever. Each
/// peer's path is read (`ip route get`) when the peer becomes known,
/// before any tunnel route exists, and pinned as a host route when a
/// tunnel route would cover it. A tunnel route for exactly the peer's own
/// address cannot coexist with that pin and is not installed (as
/// strongSwan's kernel-libipsec does unless `allow_peer_ts` is set).
#[derive(Default)]
struct Peers {
    /// Peer → its path before any tunnel route: (gateway, device).
    known: HashMap<IpAddr, Option<(Option<IpAddr>, String)>>,
    /// Peers whose host route we installed.
    pinned: BTreeSet<IpAddr>,
    /// Tunnel routes refused, warned about once.
    refused: BTreeSet<(IpAddr, u8)>,
}

impl Peers {
    fn learn(&mut self, peer: IpAddr) {
        self.known
            .entry(peer)
            .or_insert_with(|| original_path(peer));
    }

    /// Whether `net` may be routed into the TUN device; pins the host
    /// routes of the peers it covers first.
    fn routable(&mut self, net: (IpAddr, u8), tun: &str) -> bool {
        let covered: Vec<IpAddr> = self
            .known
            .keys()
            .copied()
            .filter(|p| pfkey::dataplane::prefix_covers(net, *p))
            .collect();
        for p in covered {
            if net.1 == host_len(p) {
                if self.refused.insert(net) {
                    warn!(
                        "not routing {}/{} into {tun}: it is the IKE peer's own address, whose IKE and ESP must not enter the tunnel",
                        net.0, net.1
                    );
                }
                return false;
            }
            if self.pinned.contains(&p) {
                continue;
            }
            match self.known.get(&p) {
                Some(Some((via, dev))) if dev != tun => {
                    if pin_route(true, p, *via, dev) {
                        self.pinned.insert(p);
                    }
                }
                _ => warn!(
                    "{}/{} covers IKE peer {p}, whose path is unknown: IKE and ESP to it may loop into {tun}",
                    net.0, net.1
                ),
            }
        }
        true
    }

    fn unpin_all(&mut self) {
        for p in std::mem::take(&mut self.pinned) {
            if let Some(Some((via, dev))) = self.known.get(&p) {
                pin_route(false, p, *via, dev);
            }
        }
    }
}

fn host_len(ip: IpAddr) -> u8 {
    if ip.is_ipv4() {
        32
    } else {
        128
    }
}

/// `ip route get PEER`: the gateway and device our packets to it take.
fn original_path(peer: IpAddr) -> Option<(Option<IpAddr>, String)> {
    let out = std::process::Command::new("ip")
        .args(["route", "get", &peer.to_string()])
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_route_get(&String::from_utf8_lossy(&out.stdout))
}

/// The `via` and `dev` words of `ip route get` output.
fn parse_route_get(text: &str) -> Option<(Option<IpAddr>, String)> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let after = |key: &str| {
        words
            .iter()
            .position(|w| *w == key)
            .and_then(|i| words.get(i + 1))
            .copied()
    };
    let dev = after("dev")?.to_string();
    let via = after("via").and_then(|v| v.parse().ok());
    Some((via, dev))
}

/// `ip route replace|del PEER/32 [via GW] dev DEV`.
fn pin_route(add: bool, peer: IpAddr, via: Option<IpAddr>, dev: &str) -> bool {
    let dst = format!("{peer}/{}", host_len(peer));
    let mut args = vec![
        "route".to_string(),
        if add { "replace" } else { "del" }.to_string(),
        dst.clone(),
    ];
    if let Some(v) = via {
        args.extend(["via".to_string(), v.to_string()]);
    }
    args.extend(["dev".to_string(), dev.to_string()]);
    match std::process::Command::new("ip").args(&args).status() {
        Ok(s) if s.success() => {
            if add {
                info!("route {dst} via {dev} pinned: the IKE peer stays outside the tunnel");
            }
            true
        }
        Ok(s) => {
            warn!("ip {}: {s}", args.join(" "));
            false
        }
        Err(e) => {
            warn!("ip {}: {e}", args.join(" "));
            false
        }
    }
}

/// `ip route replace|del NET dev TUN`.
/// `ip route replace|del NET dev DEV`; whether it worked. A failed add
/// is logged at `quiet` level `debug` (a retry), else `warn`.
fn route(add: bool, net: (IpAddr, u8), dev: &str, quiet: bool) -> bool {
    let verb = if add { "replace" } else { "del" };
    let cidr = format!("{}/{}", net.0, net.1);
    let why = match std::process::Command::new("ip")
        .args(["route", verb, &cidr, "dev", dev])
        .stderr(std::process::Stdio::piped())
        .output()
    {
        Ok(o) if o.status.success() => {
            info!("route {verb} {cidr} dev {dev}");
            return true;
        }
        Ok(o) => format!(
            "failed ({}): {}",
            o.status,
            String::from_utf8_lossy(&o.stderr).trim()
        ),
        Err(e) => format!("cannot run: {e}"),
    };
    if quiet {
        debug!("ip route {verb} {cidr} dev {dev} {why}");
    } else if add {
        warn!("ip route {verb} {cidr} dev {dev} {why}; retried every {ROUTE_RETRY:?}");
    } else {
        warn!("ip route {verb} {cidr} dev {dev} {why}");
    }
    false
}

/// How often routes that could not be added are tried again (e.g. IPv6
/// was still disabled on the TUN device when a trap was installed).
const ROUTE_RETRY: Duration = Duration::from_secs(2);

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn prefixes_contain_only_their_own_family_and_range() {
        use pfkey::dataplane::prefix_covers as prefix_contains;
        assert!(prefix_contains((ip("0.0.0.0"), 0), ip("198.51.100.2")));
        assert!(prefix_contains(
            (ip("198.51.100.0"), 24),
            ip("198.51.100.2")
        ));
        assert!(!prefix_contains(
            (ip("198.51.100.0"), 25),
            ip("198.51.100.200")
        ));
        assert!(prefix_contains(
            (ip("198.51.100.2"), 32),
            ip("198.51.100.2")
        ));
        assert!(!prefix_contains(
            (ip("198.51.100.2"), 32),
            ip("198.51.100.3")
        ));
        assert!(!prefix_contains((ip("::"), 0), ip("198.51.100.2")));
        assert!(prefix_contains((ip("::"), 0), ip("2001:db8::1")));
        assert!(prefix_contains((ip("2001:db8::"), 32), ip("2001:db8:1::1")));
        assert!(!prefix_contains(
            (ip("2001:db8::"), 33),
            ip("2001:db8:8000::1")
        ));
        assert!(prefix_contains((ip("2001:db8::1"), 128), ip("2001:db8::1")));
        // A malformed IPv4 prefix length covers nothing.
        assert!(!prefix_contains((ip("10.0.0.0"), 40), ip("10.0.0.1")));
    }

    #[test]
    fn route_get_output_gives_gateway_and_device() {
        assert_eq!(
            parse_route_get("198.51.100.2 dev wan0 src 198.51.100.1 uid 0 \n    cache \n"),
            Some((None, "wan0".to_string()))
        );
        assert_eq!(
            parse_route_get("203.0.113.9 via 192.0.2.254 dev eth0 src 192.0.2.1 uid 0\n"),
            Some((Some(ip("192.0.2.254")), "eth0".to_string()))
        );
        assert_eq!(
            parse_route_get("2001:db8::2 from :: via fe80::1 dev wan0 proto kernel src 2001:db8::1 metric 256 pref medium\n"),
            Some((Some(ip("fe80::1")), "wan0".to_string()))
        );
        assert_eq!(
            parse_route_get("RTNETLINK answers: Network is unreachable"),
            None
        );
    }

    #[test]
    fn the_peer_itself_is_never_routed_into_the_tunnel() {
        let mut p = Peers::default();
        // Path known but through the TUN device itself: nothing to pin.
        p.known
            .insert(ip("198.51.100.2"), Some((None, "ikegw0".into())));
        assert!(!p.routable((ip("198.51.100.2"), 32), "ikegw0"));
        assert!(p.refused.contains(&(ip("198.51.100.2"), 32)));
        // A net that does not cover the peer is routable without a pin.
        assert!(p.routable((ip("10.2.0.0"), 24), "ikegw0"));
        assert!(p.pinned.is_empty());
    }
}
