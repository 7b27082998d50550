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
        if let Ok(mut m) = self.by_spi.lock() {
            // Counters of SAs that left the SADB stay readable until the
            // driver forgets the CHILD_SA.
            for (spi, v) in fresh {
                m.insert(spi, v);
            }
        }
    }
}

/// The running data plane: its thread, the TUN reader, and the input queue.
pub(crate) struct DataPlaneHandle {
    tx: std_mpsc::SyncSender<DpIn>,
    /// Per-SPI counters for `list-sas`.
    pub(crate) counters: Arc<Counters>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
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
            tx,
            counters,
            stop,
            threads,
        })
    }

    /// Hands one ESP datagram to the data plane; false if it was dropped
    /// because the queue is full.
    pub(crate) fn esp(&self, e: EspIn) -> bool {
        self.tx.try_send(DpIn::Esp(e)).is_ok()
    }

    /// Where the key glue sends the current tunnel links.
    pub(crate) fn links_sink(&self) -> Box<dyn FnMut(Vec<Link>) + Send> {
        let tx = self.tx.clone();
        Box::new(move |links| {
            // Links must not be lost to a full queue: block briefly.
            if tx.send(DpIn::Links(links)).is_err() {
                warn!("data plane stopped; tunnel links not updated");
            }
        })
    }

    /// Stops both threads and removes the routes the data plane added.
    pub(crate) fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.tx.try_send(DpIn::Stop);
        for t in self.threads {
            let _ = t.join();
        }
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
    let mut routes: BTreeSet<(IpAddr, u8)> = BTreeSet::new();
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
            Ok(DpIn::Links(links)) => {
                let want: BTreeSet<(IpAddr, u8)> = links
                    .iter()
                    .flat_map(|l| l.remote_nets.iter().copied())
                    .collect();
                for n in want.difference(&routes) {
                    route(true, *n, tun.name());
                }
                for n in routes.difference(&want) {
                    route(false, *n, tun.name());
                }
                routes = want;
                dp.set_links(links);
            }
            Ok(DpIn::Stop) | Err(std_mpsc::RecvTimeoutError::Disconnected) => break,
            Err(std_mpsc::RecvTimeoutError::Timeout) => {}
        }
        let now = Instant::now();
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
        route(false, n, tun.name());
    }
}

/// `ip route replace|del NET dev TUN`.
fn route(add: bool, net: (IpAddr, u8), dev: &str) {
    let verb = if add { "replace" } else { "del" };
    let cidr = format!("{}/{}", net.0, net.1);
    match std::process::Command::new("ip")
        .args(["route", verb, &cidr, "dev", dev])
        .status()
    {
        Ok(s) if s.success() => info!("route {verb} {cidr} dev {dev}"),
        Ok(s) => warn!("ip route {verb} {cidr} dev {dev} failed ({s})"),
        Err(e) => warn!("cannot run ip route: {e}"),
    }
}
