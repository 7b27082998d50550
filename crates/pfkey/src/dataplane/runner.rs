//! A ready-made driver for [`DataPlane`]: one thread reads the TUN device,
//! one reads the UDP/4500 socket and runs the timers; both feed the one
//! `DataPlane` behind a mutex and write what it returns. No tokio.
//!
//! For standalone use, e.g. a process that only does ESP for SAs installed
//! over PF_KEY into an [`crate::engine::server::Server`]. A daemon that owns its
//! UDP sockets drives [`DataPlane`] itself instead.

use std::io;
use std::net::{SocketAddr, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::{DataPlane, EspOutcome, KeyEngine, SaCounters, Stats, TunOutcome, BUF_LEN};
use crate::tun::Tun;

/// How long a reader blocks before it checks timers and the stop flag.
const TICK: Duration = Duration::from_millis(50);
/// UDP socket buffer asked for (the kernel caps it at `rmem_max`).
const SOCKET_BUFFER: usize = 4 << 20;

/// A running data plane: TUN thread + UDP thread.
pub struct DataPlaneRunner<K: KeyEngine + Send + 'static> {
    dp: Arc<Mutex<DataPlane<K>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl<K: KeyEngine + Send + 'static> core::fmt::Debug for DataPlaneRunner<K> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DataPlaneRunner")
            .field("threads", &self.threads.len())
            .finish_non_exhaustive()
    }
}

fn lock<K: KeyEngine>(m: &Mutex<DataPlane<K>>) -> MutexGuard<'_, DataPlane<K>> {
    // A panic in one thread must not wedge the other: the state stays
    // consistent between packets, so a poisoned lock is still usable.
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Sends everything queued for the network and the TUN.
fn drain<K: KeyEngine>(dp: &mut DataPlane<K>, udp: &UdpSocket, tun: &Tun, scratch: &mut [u8]) {
    while let Some((_, to, n)) = dp.poll_transmit(scratch) {
        if let Some(b) = scratch.get(..n) {
            let _ = udp.send_to(b, to);
        }
    }
    while let Some(n) = dp.poll_tun(scratch) {
        if let Some(b) = scratch.get(..n) {
            let _ = tun.send(b);
        }
    }
}

fn tun_loop<K: KeyEngine>(dp: &Mutex<DataPlane<K>>, tun: &Tun, udp: &UdpSocket, stop: &AtomicBool) {
    let mut buf = vec![0u8; BUF_LEN];
    let mut scratch = vec![0u8; BUF_LEN];
    while !stop.load(Ordering::Relaxed) {
        let n = match tun.recv(&mut buf) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                let _ = tun.wait_readable(TICK);
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => break,
        };
        let Some(pkt) = buf.get(..n) else { continue };
        let mut g = lock(dp);
        match g.handle_tun(Instant::now(), pkt) {
            TunOutcome::Send(t) => {
                let _ = udp.send_to(t.bytes, t.to);
            }
            TunOutcome::Reply(b) => {
                let _ = tun.send(b);
            }
            TunOutcome::Queued { .. } | TunOutcome::Dropped(_) => {}
        }
        drain(&mut g, udp, tun, &mut scratch);
    }
}

fn udp_loop<K: KeyEngine>(
    dp: &Mutex<DataPlane<K>>,
    tun: &Tun,
    udp: &UdpSocket,
    local: SocketAddr,
    stop: &AtomicBool,
) {
    let mut buf = vec![0u8; BUF_LEN];
    let mut scratch = vec![0u8; BUF_LEN];
    let _ = udp.set_read_timeout(Some(TICK));
    let mut next_tick = Instant::now();
    while !stop.load(Ordering::Relaxed) {
        let got = udp.recv_from(&mut buf);
        let now = Instant::now();
        let mut g = lock(dp);
        if let Ok((n, from)) = got {
            if let Some(payload) = buf.get(..n) {
                if let EspOutcome::Deliver(p) = g.handle_esp(now, from, local, payload) {
                    let _ = tun.send(p);
                }
            }
        }
        let due = g.poll_timeout().is_some_and(|t| t <= now);
        if due || now >= next_tick {
            g.handle_timeout(now);
            next_tick = now.checked_add(TICK).unwrap_or(now);
        }
        drain(&mut g, udp, tun, &mut scratch);
    }
}

impl<K: KeyEngine + Send + 'static> DataPlaneRunner<K> {
    /// Starts the two threads. `udp` must be bound to the specific outer
    /// address the SAs use (not a wildcard): its local address is the SA
    /// destination of inbound ESP.
    pub fn start(dp: DataPlane<K>, tun: Tun, udp: UdpSocket) -> io::Result<Self> {
        let local = udp.local_addr()?;
        if local.ip().is_unspecified() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "the ESP socket must be bound to a specific address",
            ));
        }
        tun.set_nonblocking(true)?;
        // Bursts of a TCP window arrive faster than one thread decrypts
        // them; the default ~200 KiB receive buffer drops them.
        let sock = socket2::SockRef::from(&udp);
        let _ = sock.set_recv_buffer_size(SOCKET_BUFFER);
        let _ = sock.set_send_buffer_size(SOCKET_BUFFER);
        let dp = Arc::new(Mutex::new(dp));
        let stop = Arc::new(AtomicBool::new(false));
        let tun = Arc::new(tun);
        let udp = Arc::new(udp);
        let mut threads = Vec::new();
        {
            let (dp, tun, udp, stop) = (dp.clone(), tun.clone(), udp.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("esp-tun".into())
                    .spawn(move || tun_loop(&dp, &tun, &udp, &stop))?,
            );
        }
        {
            let (dp, stop) = (dp.clone(), stop.clone());
            threads.push(
                std::thread::Builder::new()
                    .name("esp-udp".into())
                    .spawn(move || udp_loop(&dp, &tun, &udp, local, &stop))?,
            );
        }
        Ok(Self { dp, stop, threads })
    }

    /// Data-plane counters.
    pub fn stats(&self) -> Stats {
        lock(&self.dp).stats()
    }

    /// Per-SA counters.
    pub fn sa_counters(&self) -> Vec<SaCounters> {
        lock(&self.dp).sa_counters()
    }

    /// Stops both threads (within one tick) and waits for them.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

impl<K: KeyEngine + Send + 'static> Drop for DataPlaneRunner<K> {
    fn drop(&mut self) {
        self.shutdown();
    }
}
