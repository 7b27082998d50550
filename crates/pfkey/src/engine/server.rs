//! Runs an [`Engine`] behind Unix `SOCK_SEQPACKET` sockets, so clients talk
//! to it with exactly the bytes they would write to an illumos PF_KEY
//! socket: one message per `send`, one per `recv`.
//!
//! One thread owns the engine (STYLE §7: no shared mutable core); one reader
//! thread per client forwards messages over a channel. The core thread
//! reads the clock, feeds `handle_*`, drains `poll_output` to the sockets
//! and sleeps until `poll_timeout`.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use socket2::{Domain, SockAddr, Socket, Type};

use super::{
    AcquireEvent, ByteVerdict, ClientId, Direction, Engine, EngineConfig, Outbound, SaSnapshot,
    Selector, Tunnel,
};
use crate::wire::MAX_MSG_LEN;

enum Event {
    Open(ClientId, Socket, bool),
    Message(ClientId, Vec<u8>),
    Closed(ClientId),
    Data(DataRequest),
    Stop,
}

/// Data-plane requests, answered by the core thread over a reply channel.
enum DataRequest {
    Outbound(Option<String>, Selector, mpsc::Sender<Outbound>),
    Inbound(u32, std::net::IpAddr, mpsc::Sender<Option<SaSnapshot>>),
    Sa(
        Direction,
        u32,
        std::net::IpAddr,
        mpsc::Sender<Option<SaSnapshot>>,
    ),
    Bytes(
        Direction,
        u32,
        std::net::IpAddr,
        u64,
        mpsc::Sender<ByteVerdict>,
    ),
    Tunnel(Tunnel),
    Events(mpsc::Sender<Vec<AcquireEvent>>),
}

/// The narrow data-plane API of an engine run by a [`Server`]: the ESP
/// engine calls these from its own threads; the core thread answers them
/// between PF_KEY messages, so the SADB has a single owner.
#[derive(Clone)]
pub struct DataPlane {
    tx: mpsc::Sender<Event>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl DataPlane {
    fn ask<T>(&self, make: impl FnOnce(mpsc::Sender<T>) -> DataRequest) -> Option<T> {
        let (tx, rx) = mpsc::channel();
        self.tx.send(Event::Data(make(tx))).ok()?;
        rx.recv().ok()
    }

    /// Outbound policy + SA lookup ([`Engine::outbound_lookup`]); `None`
    /// if the engine stopped.
    pub fn outbound(&self, tun: Option<&str>, sel: Selector) -> Option<Outbound> {
        self.ask(|r| DataRequest::Outbound(tun.map(str::to_string), sel, r))
    }

    /// Inbound SA by SPI and outer destination ([`Engine::lookup_inbound`]).
    pub fn inbound(&self, spi: u32, dst: std::net::IpAddr) -> Option<SaSnapshot> {
        self.ask(|r| DataRequest::Inbound(spi, dst, r)).flatten()
    }

    /// Any usable SA by table, SPI and destination ([`Engine::lookup_sa`]).
    pub fn sa(&self, dir: Direction, spi: u32, dst: std::net::IpAddr) -> Option<SaSnapshot> {
        self.ask(|r| DataRequest::Sa(dir, spi, dst, r)).flatten()
    }

    /// [`Engine::generation`] as of the core thread's last turn: a plain
    /// atomic load, cheap enough to read per packet.
    pub fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Feed the byte counters ([`Engine::record_bytes`]).
    pub fn record_bytes(
        &self,
        dir: Direction,
        spi: u32,
        dst: std::net::IpAddr,
        bytes: u64,
    ) -> Option<ByteVerdict> {
        self.ask(|r| DataRequest::Bytes(dir, spi, dst, bytes, r))
    }

    /// Declare an IP tunnel link ([`Engine::configure_tunnel`]).
    pub fn configure_tunnel(&self, t: Tunnel) {
        let _ = self.tx.send(Event::Data(DataRequest::Tunnel(t)));
    }

    /// Acquire outcomes since the last call (release or drop queued
    /// packets).
    pub fn acquire_events(&self) -> Vec<AcquireEvent> {
        self.ask(DataRequest::Events).unwrap_or_default()
    }
}

/// A running engine server.
pub struct Server {
    tx: mpsc::Sender<Event>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
    core: Option<JoinHandle<()>>,
    next_id: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

fn seqpacket() -> std::io::Result<Socket> {
    Socket::new(Domain::UNIX, Type::SEQPACKET, None)
}

/// Read one message (SOCK_SEQPACKET keeps boundaries); `None` at EOF.
pub(crate) fn recv_msg(sock: &Socket, buf: &mut [u8]) -> std::io::Result<Option<usize>> {
    use std::io::Read as _;
    let mut s = sock;
    loop {
        match s.read(buf) {
            Ok(0) => return Ok(None),
            Ok(n) => return Ok(Some(n)),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
}

fn reader(id: ClientId, sock: Socket, tx: mpsc::Sender<Event>) {
    let mut buf = vec![0u8; MAX_MSG_LEN];
    loop {
        match recv_msg(&sock, &mut buf) {
            Ok(Some(n)) => {
                let msg = buf.get(..n).unwrap_or(&[]).to_vec();
                if tx.send(Event::Message(id, msg)).is_err() {
                    break;
                }
            }
            _ => {
                let _ = tx.send(Event::Closed(id));
                break;
            }
        }
    }
    // Received messages may carry keys.
    zeroize::Zeroize::zeroize(&mut buf);
}

fn core(
    mut engine: Engine,
    rx: mpsc::Receiver<Event>,
    generation: std::sync::Arc<std::sync::atomic::AtomicU64>,
) {
    let mut socks: HashMap<ClientId, (Socket, bool)> = HashMap::new();
    loop {
        let now = Instant::now();
        let wait = engine
            .poll_timeout()
            .map(|d| d.saturating_duration_since(now))
            .unwrap_or(Duration::from_secs(3600));
        let ev = match rx.recv_timeout(wait) {
            Ok(ev) => Some(ev),
            Err(mpsc::RecvTimeoutError::Timeout) => None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        };
        let now = Instant::now();
        match ev {
            Some(Event::Open(id, s, policy)) => {
                if !policy {
                    engine.add_client(id);
                }
                socks.insert(id, (s, policy));
            }
            Some(Event::Message(id, bytes)) => {
                let policy = socks.get(&id).is_some_and(|(_, p)| *p);
                if policy {
                    let replies = engine.handle_policy(&bytes);
                    if let Some((s, _)) = socks.get(&id) {
                        for r in replies {
                            let mut w = s;
                            let _ = w.write(&r);
                        }
                    }
                } else {
                    engine.handle_message(now, id, &bytes);
                }
                let mut bytes = bytes;
                zeroize::Zeroize::zeroize(&mut bytes);
            }
            Some(Event::Closed(id)) => {
                engine.remove_client(id);
                socks.remove(&id);
            }
            Some(Event::Data(req)) => match req {
                DataRequest::Outbound(tun, sel, r) => {
                    let _ = r.send(engine.outbound_lookup(now, tun.as_deref(), &sel));
                }
                DataRequest::Inbound(spi, dst, r) => {
                    let _ = r.send(engine.lookup_inbound(spi, dst));
                }
                DataRequest::Sa(dir, spi, dst, r) => {
                    let _ = r.send(engine.lookup_sa(dir, spi, dst));
                }
                DataRequest::Bytes(dir, spi, dst, n, r) => {
                    let _ = r.send(engine.record_bytes(now, dir, spi, dst, n));
                }
                DataRequest::Tunnel(t) => engine.configure_tunnel(t),
                DataRequest::Events(r) => {
                    let mut v = Vec::new();
                    while let Some(e) = engine.poll_event() {
                        v.push(e);
                    }
                    let _ = r.send(v);
                }
            },
            Some(Event::Stop) => break,
            None => {}
        }
        engine.handle_timeout(Instant::now());
        generation.store(engine.generation(), std::sync::atomic::Ordering::Release);
        while let Some(out) = engine.poll_output() {
            if let Some((s, _)) = socks.get(&out.to) {
                let mut w = s;
                // A full socket buffer drops the message, as keysock's
                // passup does for broadcasts (reference §1.1).
                let _ = w.write(&out.bytes);
            }
        }
    }
}

impl Server {
    /// Start the core thread with an engine configured by `cfg`.
    pub fn start(cfg: EngineConfig) -> Self {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let engine = Engine::new(cfg, Instant::now(), unix);
        let (tx, rx) = mpsc::channel();
        let generation = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let g = generation.clone();
        let core = std::thread::spawn(move || core(engine, rx, g));
        Self {
            tx,
            generation,
            core: Some(core),
            next_id: std::sync::Arc::new(std::sync::atomic::AtomicU64::new(1)),
        }
    }

    fn attach(&self, sock: Socket, policy: bool) -> std::io::Result<()> {
        let id = self
            .next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let read_half = sock.try_clone()?;
        self.tx
            .send(Event::Open(id, sock, policy))
            .map_err(|_| std::io::Error::other("engine stopped"))?;
        let tx = self.tx.clone();
        std::thread::spawn(move || reader(id, read_half, tx));
        Ok(())
    }

    /// A handle for the data plane.
    pub fn data_plane(&self) -> DataPlane {
        DataPlane {
            tx: self.tx.clone(),
            generation: self.generation.clone(),
        }
    }

    /// A new PF_KEY client over a socketpair; returns the client's end.
    pub fn connect(&self) -> std::io::Result<Socket> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::SEQPACKET, None)?;
        self.attach(b, false)?;
        Ok(a)
    }

    /// A new PF_POLICY client over a socketpair.
    pub fn connect_policy(&self) -> std::io::Result<Socket> {
        let (a, b) = Socket::pair(Domain::UNIX, Type::SEQPACKET, None)?;
        self.attach(b, true)?;
        Ok(a)
    }

    /// Accept PF_KEY clients on a Unix socket path (and PF_POLICY clients
    /// on `<path>.policy`) in a background thread.
    pub fn listen(&self, path: &Path) -> std::io::Result<()> {
        let mut ppath = path.as_os_str().to_owned();
        ppath.push(".policy");
        for (p, policy) in [(path.to_path_buf(), false), (ppath.into(), true)] {
            let _ = std::fs::remove_file(&p);
            let l = seqpacket()?;
            l.bind(&SockAddr::unix(&p)?)?;
            l.listen(16)?;
            let tx = self.tx.clone();
            let ids = self.next_id.clone();
            std::thread::spawn(move || {
                while let Ok((s, _)) = l.accept() {
                    let id = ids.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let Ok(r) = s.try_clone() else { continue };
                    if tx.send(Event::Open(id, s, policy)).is_err() {
                        break;
                    }
                    let tx2 = tx.clone();
                    std::thread::spawn(move || reader(id, r, tx2));
                }
            });
        }
        Ok(())
    }

    /// Stop the core thread.
    pub fn stop(mut self) {
        let _ = self.tx.send(Event::Stop);
        if let Some(h) = self.core.take() {
            let _ = h.join();
        }
    }
}

/// Connect to an engine listening at `path` (PF_KEY side).
pub fn connect_path(path: &Path) -> std::io::Result<Socket> {
    let s = seqpacket()?;
    s.connect(&SockAddr::unix(path)?)?;
    Ok(s)
}
