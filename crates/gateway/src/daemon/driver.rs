//! The one task that owns the IKE core (STYLE §7, after quinn's
//! `ConnectionDriver`): it selects over datagrams, key-engine messages,
//! control requests, the core's next deadline and shutdown; after every
//! input it drains `poll_transmit` → sockets, `poll_kernel` → PF_KEY,
//! `poll_event` → logs and the `list-sas` view, and re-arms the timer only
//! when the deadline changed.
//!
//! Nothing else touches the [`Endpoint`]: socket readers and the control
//! server talk to this task over bounded channels, with oneshot replies.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ike::io::{Command, Event, IkeSaId, KernelEvent, Path};
use ike::sa::{Endpoint, EndpointConfig};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, error, info, info_span, warn};
use zeroize::Zeroizing;

mod reload;

use super::kernel::Kernel;
use super::net::{demux, Kind, Received, Sockets, MAX_DATAGRAM};
use super::setup::{self, ConnInfo, Peers};
use crate::config::Config;
use crate::control::proto::{
    ChildSaInfo, ControlError, IkeSaInfo, Request, Response, Stats, Status,
};

/// How long shutdown waits for peers to answer our Delete (RFC 7296
/// §1.4.1); after that the SAs are removed locally anyway.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(3);

/// Depth of the channels into the driver.
const CHANNEL_DEPTH: usize = 256;

/// A control request with its reply slot.
pub(crate) struct CtlMsg {
    pub(crate) req: Request,
    pub(crate) reply: oneshot::Sender<Response>,
}

/// Something a reader task read.
enum Input {
    Udp {
        natt: bool,
        rx: Received,
        bytes: Vec<u8>,
    },
    PfKey(Zeroizing<Vec<u8>>),
    Policy(Vec<u8>),
    /// A reader stopped (socket error); the string says which.
    Closed(&'static str, std::io::Error),
}

struct ChildView {
    /// Index of its child in the peer's children.
    child: usize,
    spi_out: u32,
    suite: String,
    local_ts: Vec<String>,
    remote_ts: Vec<String>,
    installed: Instant,
}

struct SaView {
    /// Index of the peer (connection) in the core's table.
    peer: Option<usize>,
    /// Children we asked the core for on this IKE SA (in IKE_AUTH or by
    /// CREATE_CHILD_SA) and have not seen fail or go: not asked twice.
    wanted: std::collections::BTreeSet<usize>,
    established: Option<Instant>,
    path: Option<Path>,
    suite: String,
    remote_id: String,
    nat: bool,
    children: BTreeMap<u32, ChildView>,
}

/// Everything the driver owns.
pub(crate) struct Driver {
    ep: Endpoint,
    socks: Arc<Sockets>,
    kernel: Kernel,
    config: Config,
    info: Vec<ConnInfo>,
    views: BTreeMap<IkeSaId, SaView>,
    stats: Stats,
    started: Instant,
    /// The ESP data plane (`--tun`), fed ESP datagrams from our NAT-T
    /// sockets.
    #[cfg(target_os = "linux")]
    dataplane: Option<super::dataplane::DataPlaneHandle>,
    /// What the data plane sends, until [`Self::run`] starts the sender.
    #[cfg(target_os = "linux")]
    dp_out: Option<mpsc::Receiver<super::dataplane::Out>>,
    /// Children (indexes into `info`) to (re-)initiate later: (when, the
    /// back-off used).
    retry: BTreeMap<usize, (Instant, Duration)>,
    /// Children kept up by us (`start_action = start`, or restarted by
    /// `close_action = start` / `dpd_action = restart`): a failed attempt
    /// is retried with back-off.
    persistent: std::collections::BTreeSet<usize>,
    /// Children whose trap policy is installed, with it (to remove it).
    trapped: BTreeMap<usize, Vec<super::kernel::Trap>>,
    /// Children to trap at the next turn of the loop (`close_action` /
    /// `dpd_action = trap`; installing is asynchronous).
    to_trap: Vec<usize>,
    /// Trap policies to remove at the next turn of the loop (their child
    /// was removed or changed by a reload).
    to_untrap: Vec<super::kernel::Trap>,
    /// Address pools leased to road warriors (#10), shared with the core.
    pools: super::vip::Pools,
    /// Virtual IPs peers assigned to us, on the TUN device.
    our_vips: super::vip::OurVips,
}

/// First wait before re-initiating a peer that failed; it doubles per
/// failure up to [`RETRY_MAX`] (strongSwan's keyingtries retry the same
/// way, without the cap being configurable here).
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest wait between two attempts.
const RETRY_MAX: Duration = Duration::from_secs(60);

/// Why an established IKE SA closed, as far as the actions care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Closed {
    /// The peer sent Delete (RFC 7296 §1.4.1): `close_action`.
    ByPeer,
    /// The peer stopped answering (RFC 7296 §2.4, dead peer detection):
    /// `dpd_action`.
    Dead,
    /// We closed it, or it was rekeyed: nothing to do.
    Other,
}

fn closed_why(reason: &str) -> Closed {
    let r = reason.to_ascii_lowercase();
    if r == "deleted by peer" {
        Closed::ByPeer
    } else if [
        "did not answer",
        "no response",
        "retransmi",
        "timed out",
        "gave up",
    ]
    .iter()
    .any(|w| r.contains(w))
    {
        Closed::Dead
    } else {
        Closed::Other
    }
}

/// Ports and paths a started daemon reports (tests read them).
#[derive(Debug, Clone)]
pub(crate) struct Started {
    /// Bound sockets.
    pub(crate) sockets: Vec<SocketAddr>,
}

/// Why the daemon could not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum StartError {
    /// Binding the UDP sockets.
    #[error("cannot open the IKE sockets")]
    Sockets(#[source] std::io::Error),
    /// The key engine.
    #[error("key engine")]
    Kernel(#[from] super::kernel::KernelError),
    /// Connections the daemon cannot run.
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("; "))]
    Setup(Vec<setup::SetupError>),
    /// The core refused its configuration.
    #[error("IKE core")]
    Core(#[from] ike::Error),
    /// The ESP data plane could not start.
    #[error("ESP data plane")]
    DataPlane(#[source] std::io::Error),
    /// The lease store of the address pools could not be opened.
    #[error("address pools")]
    Pools(#[source] crate::pool::PoolError),
}

fn new_endpoint(
    peers: Peers,
    natt_port: u16,
    pools: &super::vip::Pools,
    daemon: &crate::config::Daemon,
) -> Result<(Endpoint, Vec<ConnInfo>), ike::Error> {
    let mut cfg = EndpointConfig::new(peers.peers, ike::crypto::ring_provider());
    cfg.natt_port = natt_port;
    cfg.retransmit = ike::sa::RetransmitConfig {
        timeout: daemon.retransmit_timeout,
        base: daemon.retransmit_base,
        tries: daemon.retransmit_tries,
    };
    cfg.keepalive_interval = daemon.keep_alive;
    cfg.cookie_threshold = daemon.cookie_threshold;
    cfg.half_open_limit = daemon.init_limit_half_open;
    cfg.address_provider = pools.provider();
    // Both key engines (illumos, and the userland one that mirrors it)
    // carry one inner address family per SA.
    cfg.one_family_per_child = true;
    let ep = Endpoint::new(
        cfg,
        Box::new(ike::crypto::SystemRandom::new()),
        Instant::now(),
    )?;
    Ok((ep, peers.info))
}

impl Driver {
    /// Binds sockets, opens the key engine (REGISTER + cleanup of a
    /// previous run) and builds the core.
    pub(crate) async fn start(
        config: Config,
        tun: Option<String>,
    ) -> Result<(Self, Started), StartError> {
        let d = &config.daemon;
        let socks = Sockets::bind(&d.listen, d.port, d.port_nat_t).map_err(StartError::Sockets)?;
        let ike_port = socks
            .port_of(false, true)
            .or_else(|| socks.port_of(false, false))
            .unwrap_or(d.port);
        let natt_port = socks
            .port_of(true, true)
            .or_else(|| socks.port_of(true, false))
            .unwrap_or(d.port_nat_t);
        let backend = match d.backend {
            crate::config::Backend::Userland => super::kernel::BackendKind::Userland,
            crate::config::Backend::Illumos => super::kernel::BackendKind::Illumos,
        };
        let mut kernel = match (&d.engine_socket, backend) {
            (Some(path), super::kernel::BackendKind::Userland) => Kernel::open_socket(path)?,
            _ => Kernel::open(backend, d.listen.clone())?,
        };
        let backend = kernel.kind;
        let flushed = kernel.start().await?;
        if flushed.is_empty() {
            info!(
                backend = backend.name(),
                "key engine ready; nothing left from a previous run"
            );
        } else {
            let spis: Vec<String> = flushed.iter().map(|s| format!("{s:08x}")).collect();
            warn!(
                backend = backend.name(),
                "deleted {} SAs a previous ikegw run left: {}",
                spis.len(),
                spis.join(" ")
            );
        }
        let peers = setup::peers(&config, ike_port).map_err(StartError::Setup)?;
        let pools = super::vip::Pools::open(&config).map_err(StartError::Pools)?;
        let (ep, info) = new_endpoint(peers, natt_port, &pools, &config.daemon)?;
        let our_vips = super::vip::OurVips::new(tun.clone());
        let started = Started {
            sockets: socks.all.iter().map(|s| s.local_addr()).collect(),
        };
        let socks = Arc::new(socks);
        #[cfg(target_os = "linux")]
        let (dataplane, dp_out) = match (tun, &d.engine_socket) {
            (Some(_), Some(path)) if backend == super::kernel::BackendKind::UserlandSocket => {
                return Err(StartError::DataPlane(std::io::Error::other(format!(
                    "the TUN device belongs to the engine process: start it as `ikegw pfkey engine {} --tun NAME` and run the daemon without --tun",
                    path.display()
                ))));
            }
            (None, Some(path)) if backend == super::kernel::BackendKind::UserlandSocket => {
                let relay = super::relay::relay_path(path);
                if relay.exists() {
                    let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
                    let dp = super::dataplane::DataPlaneHandle::relay(&relay, tx)
                        .map_err(StartError::DataPlane)?;
                    kernel.attach_dataplane(dp.links_sink());
                    if let Some(t) = dp.tunnel_sink() {
                        kernel.attach_tunnels(t);
                    }
                    (Some(dp), Some(rx))
                } else {
                    info!(
                        "the engine process runs no data plane ({} absent): ESP received here is dropped",
                        relay.display()
                    );
                    (None, None)
                }
            }
            (None, _) => (None, None),
            (Some(name), _) => {
                let engine = kernel.engine_data_plane().ok_or(StartError::DataPlane(
                    std::io::Error::other("the data plane needs backend = \"userland\""),
                ))?;
                for c in config.connections.iter().filter(|c| !c.encap) {
                    warn!(
                        "connection {}: the userland data plane sends ESP in UDP only; set encap = true or its CHILD_SAs carry no traffic",
                        c.name
                    );
                }
                let (tx, rx) = mpsc::channel(CHANNEL_DEPTH);
                let dp =
                    super::dataplane::DataPlaneHandle::start(engine, &name, d.listen.clone(), tx)
                        .map_err(StartError::DataPlane)?;
                kernel.attach_dataplane(dp.links_sink());
                if let Some(t) = dp.tunnel_sink() {
                    kernel.attach_tunnels(t);
                }
                (Some(dp), Some(rx))
            }
        };
        #[cfg(not(target_os = "linux"))]
        if tun.is_some() {
            return Err(StartError::DataPlane(std::io::Error::other(
                "the userland data plane needs Linux TUN",
            )));
        }
        for s in &started.sockets {
            info!("listening on UDP {s}");
        }
        Ok((
            Self {
                ep,
                socks,
                kernel,
                config,
                info,
                views: BTreeMap::new(),
                stats: Stats::default(),
                started: Instant::now(),
                #[cfg(target_os = "linux")]
                dataplane,
                #[cfg(target_os = "linux")]
                dp_out,
                retry: BTreeMap::new(),
                persistent: std::collections::BTreeSet::new(),
                trapped: BTreeMap::new(),
                to_trap: Vec::new(),
                to_untrap: Vec::new(),
                pools,
                our_vips,
            },
            started,
        ))
    }

    fn spawn_readers(&self, tx: mpsc::Sender<Input>) {
        for i in 0..self.socks.all.len() {
            let socks = self.socks.clone();
            let tx = tx.clone();
            tokio::spawn(async move {
                let Some(s) = socks.all.get(i) else { return };
                let mut buf = vec![0u8; MAX_DATAGRAM];
                loop {
                    match s.recv(&mut buf).await {
                        Ok(rx) => {
                            let bytes = buf.get(..rx.len).unwrap_or(&[]).to_vec();
                            let msg = Input::Udp {
                                natt: s.natt,
                                rx,
                                bytes,
                            };
                            if tx.send(msg).await.is_err() {
                                return;
                            }
                        }
                        // ICMP errors (port unreachable) surface on the
                        // next recv on Linux; they say nothing about us.
                        Err(e) if e.kind() == std::io::ErrorKind::ConnectionRefused => {}
                        Err(e) => {
                            let _ = tx.send(Input::Closed("UDP socket", e)).await;
                            return;
                        }
                    }
                }
            });
        }
        let pf = self.kernel.pfkey.clone();
        let tx2 = tx.clone();
        tokio::spawn(async move {
            let mut buf = Zeroizing::new(vec![0u8; pfkey::wire::MAX_MSG_LEN]);
            loop {
                match pf.recv(&mut buf).await {
                    Ok(n) => {
                        let m = Zeroizing::new(buf.get(..n).unwrap_or(&[]).to_vec());
                        if tx2.send(Input::PfKey(m)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx2.send(Input::Closed("PF_KEY socket", e)).await;
                        return;
                    }
                }
            }
        });
        let pol = self.kernel.policy.clone();
        tokio::spawn(async move {
            let mut buf = vec![0u8; pfkey::wire::MAX_MSG_LEN];
            loop {
                match pol.recv(&mut buf).await {
                    Ok(n) => {
                        let m = buf.get(..n).unwrap_or(&[]).to_vec();
                        if tx.send(Input::Policy(m)).await.is_err() {
                            return;
                        }
                    }
                    Err(e) => {
                        let _ = tx.send(Input::Closed("PF_POLICY socket", e)).await;
                        return;
                    }
                }
            }
        });
    }

    /// Runs until `shutdown` turns true (or a reader dies), then deletes
    /// our IKE SAs (bounded wait) and removes what we installed.
    pub(crate) async fn run(
        mut self,
        mut ctl_rx: mpsc::Receiver<CtlMsg>,
        mut shutdown: watch::Receiver<bool>,
        mut hup: mpsc::Receiver<()>,
    ) -> Kernel {
        let (tx, mut rx) = mpsc::channel(CHANNEL_DEPTH);
        self.spawn_readers(tx);
        #[cfg(target_os = "linux")]
        if let Some(rx) = self.dp_out.take() {
            tokio::spawn(super::dataplane::send_task(self.socks.clone(), rx));
        }
        self.install_traps().await;
        self.auto_start();
        self.drain().await;
        let far = || tokio::time::Instant::now() + Duration::from_secs(86_400);
        let mut deadline = self.next_deadline();
        let sleep =
            tokio::time::sleep_until(deadline.map_or_else(far, tokio::time::Instant::from_std));
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                Some(inp) = rx.recv() => {
                    if !self.on_input(inp) {
                        break;
                    }
                }
                Some(msg) = ctl_rx.recv() => {
                    let resp = self.on_control(msg.req);
                    let _ = msg.reply.send(resp);
                }
                () = &mut sleep, if deadline.is_some() => {
                    self.ep.handle_timeout(Instant::now());
                    self.run_retries(Instant::now());
                    // Force a re-arm: a completed Sleep would fire again at once.
                    deadline = None;
                }
                Some(()) = hup.recv() => {
                    let r = self.reload();
                    if let Response::Error(e) = r {
                        warn!("SIGHUP: {e}");
                    }
                }
                _ = shutdown.changed() => break,
            }
            self.drain().await;
            for t in std::mem::take(&mut self.to_untrap) {
                if let Err(e) = self.kernel.untrap(&t).await {
                    error!("removing a trap policy: {}", crate::error_chain(&e));
                }
            }
            for p in std::mem::take(&mut self.to_trap) {
                self.install_trap(p).await;
            }
            let next = self.next_deadline();
            if next != deadline {
                deadline = next;
                sleep
                    .as_mut()
                    .reset(next.map_or_else(far, tokio::time::Instant::from_std));
            }
        }
        self.shutdown(&mut rx).await;
        self.our_vips.clear();
        #[cfg(target_os = "linux")]
        if let Some(dp) = self.dataplane.take() {
            // Joins two threads that wake at least every 100 ms.
            let _ = tokio::task::spawn_blocking(move || dp.stop()).await;
        }
        self.kernel
    }

    async fn shutdown(&mut self, rx: &mut mpsc::Receiver<Input>) {
        let live: Vec<IkeSaId> = self
            .views
            .iter()
            .filter(|(_, v)| v.established.is_some())
            .map(|(id, _)| *id)
            .collect();
        info!("shutting down: deleting {} IKE SAs", live.len());
        for id in live {
            if let Err(e) = self
                .ep
                .handle_command(Instant::now(), Command::Terminate { ike_sa: id })
            {
                debug!(ike_sa = %id, "terminate at shutdown: {e}");
            }
        }
        self.drain().await;
        let until = tokio::time::Instant::now() + SHUTDOWN_GRACE;
        while self.views.values().any(|v| v.established.is_some()) {
            let next = self
                .ep
                .poll_timeout()
                .map_or(until, tokio::time::Instant::from_std)
                .min(until);
            tokio::select! {
                Some(inp) = rx.recv() => { self.on_input(inp); }
                () = tokio::time::sleep_until(next) => {
                    if tokio::time::Instant::now() >= until {
                        break;
                    }
                    self.ep.handle_timeout(Instant::now());
                }
            }
            self.drain().await;
        }
        let left = self
            .views
            .values()
            .filter(|v| v.established.is_some())
            .count();
        if left > 0 {
            warn!("{left} peers did not answer Delete within {SHUTDOWN_GRACE:?}; removing their SAs anyway");
        }
        match self.kernel.remove_all().await {
            Ok(n) => info!("removed {n} CHILD_SAs and their policies from the key engine"),
            Err(e) => error!("removing SAs at shutdown: {}", crate::error_chain(&e)),
        }
        // Read the replies briefly, so refusals are logged, not lost.
        let until = tokio::time::Instant::now() + Duration::from_millis(300);
        while let Ok(Some(inp)) = tokio::time::timeout_at(until, rx.recv()).await {
            self.on_input(inp);
        }
    }

    fn auto_start(&mut self) {
        let starts: Vec<usize> = self
            .info
            .iter()
            .enumerate()
            .filter(|(_, i)| i.start)
            .map(|(n, _)| n)
            .collect();
        for peer in starts {
            self.persistent.insert(peer);
            self.initiate(peer);
        }
    }

    /// (peer, child) of the child at `info` index `p` in the core's table.
    fn locate(&self, p: usize) -> Option<(usize, usize)> {
        setup::locate(&self.ep.config().peers, self.info.get(p)?)
    }

    /// The IKE SA of connection `peer` new children go on: an established
    /// one first, else one being set up.
    fn ike_of(&self, peer: usize) -> Option<IkeSaId> {
        let mine = || self.views.iter().filter(|(_, v)| v.peer == Some(peer));
        mine()
            .find(|(_, v)| v.established.is_some())
            .or_else(|| mine().next())
            .map(|(id, _)| *id)
    }

    /// Brings up the child at `info` index `p`: on its connection's IKE SA
    /// if there is one (CREATE_CHILD_SA, queued by the core until the SA
    /// is up or idle), else by starting an IKE SA with it in IKE_AUTH.
    /// Children of one connection share its IKE SA, as strongSwan's do.
    fn initiate(&mut self, p: usize) -> Response {
        let Some((peer, child)) = self.locate(p) else {
            return Response::Error(ControlError::Refused {
                message: format!(
                    "{} is not in the running configuration",
                    self.peer_name(Some(p))
                ),
            });
        };
        let name = self.peer_name(Some(p));
        let now = Instant::now();
        if let Some(ike_sa) = self.ike_of(peer) {
            // Up or under way, unless one address family of it is up and
            // the other is not (the peer deleted or refused it).
            let has = self
                .views
                .get(&ike_sa)
                .is_some_and(|v| v.wanted.contains(&child))
                && !self.ep.child_family_missing(ike_sa, child);
            if has {
                debug!(%ike_sa, "{name} is already up or under way");
                return Response::Initiated {
                    ike: ike_sa.to_string(),
                };
            }
            match self
                .ep
                .handle_command(now, Command::CreateChild { ike_sa, child })
            {
                Ok(id) => {
                    info!(ike_sa = %id, "creating CHILD SA {name} on the connection's IKE SA");
                    if let Some(v) = self.views.get_mut(&id) {
                        v.wanted.insert(child);
                    }
                    return Response::Initiated {
                        ike: id.to_string(),
                    };
                }
                // Going away (e.g. deleted by a reload): a new IKE SA.
                Err(e) => debug!(%ike_sa, "CHILD SA {name} not on it: {e}"),
            }
        }
        match self
            .ep
            .handle_command(now, Command::Initiate { peer, child })
        {
            Ok(id) => {
                info!(ike_sa = %id, "initiating {name}");
                self.views.insert(
                    id,
                    SaView {
                        peer: Some(peer),
                        wanted: [child].into(),
                        established: None,
                        path: None,
                        suite: String::new(),
                        remote_id: String::new(),
                        nat: false,
                        children: BTreeMap::new(),
                    },
                );
                Response::Initiated {
                    ike: id.to_string(),
                }
            }
            Err(e) => Response::Error(ControlError::Refused {
                message: crate::error_chain(&e),
            }),
        }
    }

    /// The `info` indexes of connection `peer`'s children.
    fn children_of(&self, peer: usize) -> Vec<usize> {
        (0..self.info.len())
            .filter(|p| self.locate(*p).is_some_and(|(q, _)| q == peer))
            .collect()
    }

    /// The `info` index of child `child` of connection `peer`.
    fn info_of(&self, peer: usize, child: usize) -> Option<usize> {
        (0..self.info.len()).find(|p| self.locate(*p) == Some((peer, child)))
    }

    /// The name of an IKE SA in logs and `list-sas`: `conn/child` of the
    /// first child asked for on it, or of the connection's only child, as
    /// before connections carried several; else the connection's name.
    fn sa_name(&self, peer: Option<usize>, wanted: Option<usize>) -> String {
        let only = peer
            .and_then(|p| self.ep.config().peers.get(p))
            .filter(|c| c.children.len() == 1)
            .map(|_| 0);
        self.child_name(peer, wanted.or(only))
    }

    /// Connection name of peer index `peer`, and its child's name.
    fn child_name(&self, peer: Option<usize>, child: Option<usize>) -> String {
        let peers = &self.ep.config().peers;
        let p = peer.and_then(|p| peers.get(p));
        let conn = p.map_or("?", |p| p.name.as_str());
        match child.and_then(|c| p?.children.get(c)) {
            Some(c) => format!("{conn}/{}", c.name),
            None => conn.to_owned(),
        }
    }

    /// Whether peer `p` has `start_action = trap`.
    fn is_trap(&self, p: usize) -> bool {
        self.info.get(p).is_some_and(|i| {
            self.config
                .connections
                .iter()
                .filter(|c| c.name == i.conn)
                .flat_map(|c| c.children.iter())
                .any(|ch| ch.name == i.child && ch.start_action == crate::config::Action::Trap)
        })
    }

    /// Installs the policies of every `start_action = trap` child, with no
    /// SA: the first packet they match raises an ACQUIRE.
    async fn install_traps(&mut self) {
        for p in 0..self.info.len() {
            if self.is_trap(p) {
                self.install_trap(p).await;
            }
        }
    }

    /// Installs child `p`'s trap policy once.
    async fn install_trap(&mut self, p: usize) {
        if self.trapped.contains_key(&p) {
            return;
        }
        let name = self.peer_name(Some(p));
        match self.trap_for(p) {
            Ok(traps) => {
                let mut armed = Vec::new();
                for t in traps {
                    match self.kernel.trap(t.clone()).await {
                        Ok(()) => armed.push(t),
                        Err(e) => error!("trap {name}: {}", crate::error_chain(&e)),
                    }
                }
                if !armed.is_empty() {
                    self.trapped.insert(p, armed);
                }
            }
            Err(why) => warn!("trap {name} not installed: {why}"),
        }
    }

    /// The child config of peer `p`.
    fn child_cfg(&self, p: usize) -> Option<&crate::config::Child> {
        let i = self.info.get(p)?;
        self.config
            .connections
            .iter()
            .filter(|c| c.name == i.conn)
            .flat_map(|c| c.children.iter())
            .find(|ch| ch.name == i.child)
    }

    /// An established IKE SA of connection `peer` closed: for each of its
    /// children, `close_action` if the peer deleted it, `dpd_action` if the
    /// peer went silent.
    fn after_close(&mut self, peer: usize, reason: &str, now: Instant) {
        use crate::config::{Action, DpdAction};
        for p in self.children_of(peer) {
            let Some(ch) = self.child_cfg(p) else {
                continue;
            };
            let (restart, trap) = match closed_why(reason) {
                Closed::ByPeer => (
                    ch.close_action == Action::Start,
                    ch.close_action == Action::Trap,
                ),
                Closed::Dead => (
                    ch.dpd_action == DpdAction::Restart,
                    ch.dpd_action == DpdAction::Trap,
                ),
                Closed::Other => (false, false),
            };
            let name = self.peer_name(Some(p));
            if restart {
                info!("{name} closed ({reason}): restarting");
                self.persistent.insert(p);
                self.retry.insert(p, (now, RETRY_FIRST));
            } else if trap {
                info!("{name} closed ({reason}): installing its trap policy");
                self.to_trap.push(p);
            }
        }
    }

    /// Schedules the next attempt for peer `p`, doubling its back-off.
    fn schedule_retry(&mut self, p: usize, now: Instant) {
        let wait = self
            .retry
            .get(&p)
            .map_or(RETRY_FIRST, |(_, w)| w.saturating_mul(2).min(RETRY_MAX));
        info!("re-initiating {} in {wait:?}", self.peer_name(Some(p)));
        self.retry
            .insert(p, (now.checked_add(wait).unwrap_or(now), wait));
    }

    /// Initiates the peers whose retry is due.
    fn run_retries(&mut self, now: Instant) {
        let due: Vec<usize> = self
            .retry
            .iter()
            .filter(|(_, (t, _))| *t <= now)
            .map(|(p, _)| *p)
            .collect();
        for p in due {
            // Keep the back-off: the next failure doubles it.
            if let Some(r) = self.retry.get_mut(&p) {
                r.0 = now
                    .checked_add(RETRY_MAX.saturating_mul(1000))
                    .unwrap_or(now);
            }
            // `initiate` puts it on the connection's IKE SA if one is up,
            // and does nothing if it is there already.
            if let Response::Error(e) = self.initiate(p) {
                warn!("re-initiating {}: {e}", self.peer_name(Some(p)));
                self.schedule_retry(p, now);
            }
        }
    }

    /// The driver's next deadline: the core's, or a retry's.
    fn next_deadline(&self) -> Option<Instant> {
        let r = self.retry.values().map(|(t, _)| *t).min();
        match (self.ep.poll_timeout(), r) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// The trap policies of child `p`, one per pair of its local and
    /// remote selectors of one address family, from its resolved addresses,
    /// the selectors (each a prefix, optionally with a protocol and single
    /// ports, which PF_POLICY rules can select) and the algorithms of its
    /// `esp_proposals`.
    fn trap_for(&self, p: usize) -> Result<Vec<super::kernel::Trap>, String> {
        let i = self.info.get(p).ok_or("no such child")?;
        let ch = self.child_cfg(p).ok_or("no such child")?;
        let (peer, child) = self.locate(p).ok_or("not in the running configuration")?;
        let cc = self
            .ep
            .config()
            .peers
            .get(peer)
            .and_then(|c| c.children.get(child))
            .ok_or("not in the running configuration")?;
        let ip = |s: &str| {
            s.parse::<std::net::IpAddr>()
                .map_err(|_| format!("address {s} is not a single IP address"))
        };
        let net = |t: &ike::wire::TrafficSelector| {
            super::kernel::ts_prefix(std::slice::from_ref(t))
                .ok_or_else(|| format!("selector {} is not an address prefix", setup::ts_text(t)))
        };
        let actions = super::kernel::esp_actions(&ch.esp_proposals);
        if actions.is_empty() {
            return Err("no esp_proposals algorithm has a PF_KEY number".into());
        }
        let family = ike::policy::ts::Family::of;
        let mut traps = Vec::new();
        for l in &cc.local_ts {
            for r in cc.remote_ts.iter().filter(|r| family(r) == family(l)) {
                let (proto, lport) = trap_ports(l)?;
                let (rproto, rport) = trap_ports(r)?;
                if proto != rproto {
                    return Err("local_ts and remote_ts name different protocols".into());
                }
                traps.push(super::kernel::Trap {
                    local: ip(&i.local)?,
                    remote: ip(&i.remote)?,
                    local_net: net(l)?,
                    remote_net: net(r)?,
                    proto,
                    local_port: lport,
                    remote_port: rport,
                    tunnel: ch.mode == crate::config::Mode::Tunnel,
                    actions: actions.clone(),
                });
            }
        }
        if traps.is_empty() {
            return Err("local_ts and remote_ts have no address family in common".into());
        }
        Ok(traps)
    }

    /// An ACQUIRE: traffic hit one of our policies with no SA. The trapped
    /// child (`start_action`, `close_action` or `dpd_action` = trap) of
    /// that peer whose selectors hold the traffic is brought up here: on
    /// its connection's IKE SA if there is one, else by a new IKE SA, so
    /// the SA shows up in `list-sas` from its first exchange. Anything
    /// else (an established IKE SA that lost its CHILD_SA) is the core's.
    fn on_acquire(
        &mut self,
        now: Instant,
        remote: SocketAddr,
        local_ts: Option<ike::wire::TrafficSelector>,
        remote_ts: Option<ike::wire::TrafficSelector>,
    ) {
        let holds = |t: &Option<ike::wire::TrafficSelector>, cfg: &[ike::wire::TrafficSelector]| {
            t.as_ref()
                .is_none_or(|t| cfg.iter().any(|c| ike::policy::ts::is_subset(t, c)))
        };
        let trap = self.trapped.keys().copied().find(|p| {
            let peer_ok = self
                .info
                .get(*p)
                .is_some_and(|i| i.remote.parse::<std::net::IpAddr>() == Ok(remote.ip()));
            let fits = self.locate(*p).is_some_and(|(peer, child)| {
                self.ep
                    .config()
                    .peers
                    .get(peer)
                    .and_then(|c| c.children.get(child))
                    .is_some_and(|c| {
                        holds(&local_ts, &c.local_ts) && holds(&remote_ts, &c.remote_ts)
                    })
            });
            peer_ok && fits
        });
        let busy = |d: &Self, p: usize| {
            d.locate(p).is_some_and(|(peer, child)| {
                d.views.iter().any(|(id, v)| {
                    v.peer == Some(peer)
                        && v.wanted.contains(&child)
                        && !d.ep.child_family_missing(*id, child)
                })
            })
        };
        match trap {
            Some(p) if !busy(self, p) => {
                info!(
                    "ACQUIRE for {}: initiating {} on demand",
                    remote.ip(),
                    self.peer_name(Some(p))
                );
                if let Response::Error(e) = self.initiate(p) {
                    warn!("ACQUIRE for {}: {e}", remote.ip());
                }
            }
            Some(p) => debug!(
                "ACQUIRE for {}: {} already under way",
                remote.ip(),
                self.peer_name(Some(p))
            ),
            None => self.ep.handle_kernel(
                now,
                KernelEvent::Acquire {
                    remote,
                    local_ts,
                    remote_ts,
                },
            ),
        }
    }

    fn peer_name(&self, peer: Option<usize>) -> String {
        peer.and_then(|p| self.info.get(p))
            .map_or_else(|| "?".into(), |i| format!("{}/{}", i.conn, i.child))
    }

    /// Returns false when the driver must stop.
    fn on_input(&mut self, inp: Input) -> bool {
        let now = Instant::now();
        match inp {
            Input::Udp { natt, rx, bytes } => match demux(natt, &bytes) {
                Kind::Ike(b) => {
                    self.stats.ike_in = self.stats.ike_in.saturating_add(1);
                    let path = Path {
                        local: rx.local,
                        remote: rx.remote,
                    };
                    self.ep.handle_datagram(now, path, b);
                }
                Kind::Esp(packet) => {
                    self.stats.esp_in = self.stats.esp_in.saturating_add(1);
                    #[cfg(target_os = "linux")]
                    if let Some(dp) = &self.dataplane {
                        // A full queue drops the packet, as a busy router would.
                        let _ = dp.esp(super::dataplane::EspIn {
                            bytes: packet.to_vec(),
                            from: rx.remote,
                            to: rx.local,
                        });
                    }
                    #[cfg(not(target_os = "linux"))]
                    let _ = packet;
                }
                Kind::Keepalive => {
                    self.stats.keepalives_in = self.stats.keepalives_in.saturating_add(1);
                }
                Kind::Junk(why) => debug!(from = %rx.remote, "dropped datagram: {why}"),
            },
            Input::PfKey(m) => {
                match self.kernel.on_pfkey(&m) {
                    Some(KernelEvent::Acquire {
                        remote,
                        local_ts,
                        remote_ts,
                    }) => self.on_acquire(now, remote, local_ts, remote_ts),
                    Some(ev) => {
                        debug!(?ev, "key engine event");
                        self.ep.handle_kernel(now, ev);
                    }
                    None => {}
                }
                self.stats.kernel_errors = self.kernel.error_count();
            }
            Input::Policy(m) => {
                if let Err(e) = self.kernel.on_policy(&m) {
                    self.stats.kernel_errors = self.kernel.error_count();
                    error!("key engine: {}", crate::error_chain(&e));
                }
            }
            Input::Closed(what, e) => {
                error!("{what} failed, stopping: {e}");
                return false;
            }
        }
        true
    }

    async fn transmit(&mut self, t: ike::io::Transmit) {
        {
            let sock = self
                .socks
                .for_local(t.path.local)
                .or_else(|| self.socks.natt_for(t.path.local.ip()));
            let Some(sock) = sock else {
                warn!(local = %t.path.local, "no socket to send from");
                return;
            };
            match sock.send(&t.bytes, t.path.remote, t.path.local.ip()).await {
                Ok(()) => self.stats.ike_out = self.stats.ike_out.saturating_add(1),
                Err(e) => {
                    self.stats.send_errors = self.stats.send_errors.saturating_add(1);
                    warn!(to = %t.path.remote, "send failed: {e}");
                }
            }
        }
    }

    async fn drain(&mut self) {
        while let Some(t) = self.ep.poll_transmit() {
            self.transmit(t).await;
        }
        // Kernel refusals found while translating go straight back to the
        // core, which may queue more output: loop until all is quiet.
        loop {
            let mut busy = false;
            while let Some(k) = self.ep.poll_kernel() {
                busy = true;
                if let Some(ev) = self.kernel.submit(k).await {
                    self.ep.handle_kernel(Instant::now(), ev);
                }
            }
            self.stats.kernel_errors = self.kernel.error_count();
            while let Some(ev) = self.ep.poll_event() {
                busy = true;
                self.on_event(ev);
            }
            while let Some(t) = self.ep.poll_transmit() {
                busy = true;
                self.transmit(t).await;
            }
            if !busy {
                break;
            }
        }
    }

    fn on_event(&mut self, ev: Event) {
        let now = Instant::now();
        match ev {
            Event::Established {
                ike_sa,
                peer,
                path,
                suite,
                remote_id,
                nat,
            } => {
                let first = self
                    .views
                    .get(&ike_sa)
                    .and_then(|v| v.wanted.iter().next().copied());
                let name = self.sa_name(Some(peer), first);
                let _g = info_span!("ike_sa", id = %ike_sa, peer = %path.remote).entered();
                info!(
                    "IKE SA {name} established: {} <-> {}, {remote_id}, {suite}{}",
                    path.local,
                    path.remote,
                    if nat { ", NAT-T" } else { "" }
                );
                self.stats.established = self.stats.established.saturating_add(1);
                let v = self.views.entry(ike_sa).or_insert_with(|| SaView {
                    peer: Some(peer),
                    wanted: std::collections::BTreeSet::new(),
                    established: None,
                    path: None,
                    suite: String::new(),
                    remote_id: String::new(),
                    nat: false,
                    children: BTreeMap::new(),
                });
                v.peer = Some(peer);
                v.established = Some(now);
                v.path = Some(path);
                v.suite = suite;
                v.remote_id = remote_id;
                v.nat = nat;
                // The children asked for on it are the core's now.
                let wanted: Vec<usize> = v.wanted.iter().copied().collect();
                for c in wanted {
                    if let Some(p) = self.info_of(peer, c) {
                        self.retry.remove(&p);
                    }
                }
            }
            Event::Failed { ike_sa, reason } => {
                let name = match self.views.get(&ike_sa) {
                    Some(v) if v.peer.is_some() => {
                        self.sa_name(v.peer, v.wanted.iter().next().copied())
                    }
                    _ => "(as responder)".into(),
                };
                let _g = info_span!("ike_sa", id = %ike_sa).entered();
                match hint(&reason) {
                    Some(h) => warn!("IKE SA {name} failed: {reason}; {h}"),
                    None => warn!("IKE SA {name} failed: {reason}"),
                }
                self.stats.failed = self.stats.failed.saturating_add(1);
                self.our_vips.gone(ike_sa);
                if let Some(peer) = self.views.remove(&ike_sa).and_then(|v| v.peer) {
                    for p in self.children_of(peer) {
                        if self.persistent.contains(&p) {
                            self.schedule_retry(p, now);
                        }
                    }
                }
            }
            Event::Deleted { ike_sa, reason } => {
                let _g = info_span!("ike_sa", id = %ike_sa).entered();
                info!("IKE SA deleted: {reason}");
                self.our_vips.gone(ike_sa);
                if let Some(p) = self.views.remove(&ike_sa).and_then(|v| v.peer) {
                    self.after_close(p, &reason, now);
                }
            }
            Event::IkeRekeyed { old, new } => {
                let _g = info_span!("ike_sa", id = %old).entered();
                info!("IKE SA rekeyed, successor {new}");
                self.our_vips.rekeyed(old, new);
                if let Some(mut v) = self.views.remove(&old) {
                    v.established = Some(now);
                    self.views.insert(new, v);
                }
            }
            Event::ChildInstalled {
                ike_sa,
                child,
                inbound_spi,
                outbound_spi,
                suite,
                local_ts,
                remote_ts,
            } => {
                let _g = info_span!("ike_sa", id = %ike_sa).entered();
                let l: Vec<String> = local_ts.iter().map(setup::ts_text).collect();
                let r: Vec<String> = remote_ts.iter().map(setup::ts_text).collect();
                let peer = self.views.get(&ike_sa).and_then(|v| v.peer);
                info!(
                    "CHILD SA installed: SPIs {inbound_spi:08x}_i {outbound_spi:08x}_o, {suite}, {} === {}, child {}",
                    l.join(" "),
                    r.join(" "),
                    self.child_name(peer, Some(child))
                );
                self.stats.children_installed = self.stats.children_installed.saturating_add(1);
                self.our_vips
                    .child(ike_sa, super::kernel::ts_prefix(&remote_ts));
                if let Some(v) = self.views.get_mut(&ike_sa) {
                    v.wanted.insert(child);
                    v.children.insert(
                        inbound_spi,
                        ChildView {
                            child,
                            spi_out: outbound_spi,
                            suite,
                            local_ts: l,
                            remote_ts: r,
                            installed: now,
                        },
                    );
                }
            }
            Event::ChildFailed {
                ike_sa,
                child,
                reason,
            } => {
                let _g = info_span!("ike_sa", id = %ike_sa).entered();
                let peer = self.views.get(&ike_sa).and_then(|v| v.peer);
                let name = match child {
                    Some(_) => format!(" (child {})", self.child_name(peer, child)),
                    None => String::new(),
                };
                warn!("CHILD SA failed: {reason}{name}");
                // Not there: it may be asked for again (ACQUIRE, initiate).
                if let (Some(c), Some(v)) = (child, self.views.get_mut(&ike_sa)) {
                    if !v.children.values().any(|x| x.child == c) {
                        v.wanted.remove(&c);
                    }
                }
            }
            Event::ChildDeleted {
                ike_sa,
                inbound_spi,
            } => {
                let _g = info_span!("ike_sa", id = %ike_sa).entered();
                info!("CHILD SA {inbound_spi:08x}_i deleted");
                if let Some(v) = self.views.get_mut(&ike_sa) {
                    if let Some(c) = v.children.remove(&inbound_spi) {
                        // A rekey installs the successor first; only the
                        // child's last CHILD_SA going makes it unwanted.
                        if !v.children.values().any(|x| x.child == c.child) {
                            v.wanted.remove(&c.child);
                        }
                    }
                }
            }
            Event::VirtualIp {
                ike_sa,
                ours,
                addrs,
                ..
            } => {
                let _g = info_span!("ike_sa", id = %ike_sa).entered();
                let a: Vec<String> = addrs.iter().map(ToString::to_string).collect();
                if ours {
                    info!("virtual IPs assigned to us: {}", a.join(" "));
                    self.our_vips.assigned(ike_sa, &addrs);
                } else {
                    info!("virtual IPs leased to the peer: {}", a.join(" "));
                }
            }
            Event::Dropped { path, reason } => {
                self.stats.dropped = self.stats.dropped.saturating_add(1);
                // A refused proposal is a configuration mismatch the
                // operator must see (RFC 7296 §2.7); other drops are noise
                // an attacker can produce at will.
                if reason.contains("no proposal chosen") {
                    info!(from = %path.remote, "refused: {reason}");
                } else {
                    debug!(from = %path.remote, "dropped: {reason}");
                }
            }
        }
    }

    /// IKE SAs by ID (hex), connection name, child name or `conn/child`.
    fn find_ike(&self, key: &str) -> Vec<IkeSaId> {
        let by_id = u64::from_str_radix(key, 16).ok();
        let peers = &self.ep.config().peers;
        self.views
            .iter()
            .filter(|(id, v)| {
                Some(id.0) == by_id
                    || v.peer.and_then(|p| peers.get(p)).is_some_and(|c| {
                        c.name == key
                            || c.children.iter().any(|ch| {
                                ch.name == key || format!("{}/{}", c.name, ch.name) == key
                            })
                    })
            })
            .map(|(id, _)| *id)
            .collect()
    }

    fn on_control(&mut self, req: Request) -> Response {
        let now = Instant::now();
        match req {
            Request::Status => Response::Status(Status {
                version: env!("CARGO_PKG_VERSION").into(),
                pid: std::process::id(),
                uptime_secs: self.started.elapsed().as_secs(),
                backend: self.kernel.kind.name().into(),
                config: self.config.path.display().to_string(),
                sockets: self
                    .socks
                    .all
                    .iter()
                    .map(|s| s.local_addr().to_string())
                    .collect(),
                ike_sas: self.ep.ike_sa_count(),
                half_open: self.ep.half_open_count(),
                child_sas: self.kernel.installed_count(),
                connections: self.info.len(),
            }),
            Request::ListSas => Response::Sas {
                sas: self.list_sas(now),
            },
            Request::ListConns => Response::Conns {
                conns: self.info.clone(),
            },
            Request::ListPools => Response::Pools {
                pools: self.pools.views(),
            },
            Request::Initiate { child } => {
                let idx = self
                    .info
                    .iter()
                    .position(|i| i.child == child || format!("{}/{}", i.conn, i.child) == child);
                match idx {
                    Some(peer) => self.initiate(peer),
                    None => Response::Error(ControlError::NoSuchChild { name: child }),
                }
            }
            Request::Terminate { ike } => {
                let ids = self.find_ike(&ike);
                if ids.is_empty() {
                    return Response::Error(ControlError::NoSuchIkeSa { name: ike });
                }
                let mut done = Vec::new();
                for id in ids {
                    match self
                        .ep
                        .handle_command(now, Command::Terminate { ike_sa: id })
                    {
                        Ok(_) => done.push(id.to_string()),
                        Err(e) => {
                            return Response::Error(ControlError::Refused {
                                message: crate::error_chain(&e),
                            })
                        }
                    }
                }
                Response::Terminating { ike: done }
            }
            Request::Rekey { ike, child } => {
                let Some(id) = self.find_ike(&ike).into_iter().next() else {
                    return Response::Error(ControlError::NoSuchIkeSa { name: ike });
                };
                let cmd = match child {
                    Some(c) => match u32::from_str_radix(c.trim_end_matches("_i"), 16) {
                        Ok(inbound_spi) => Command::RekeyChild {
                            ike_sa: id,
                            inbound_spi,
                        },
                        Err(e) => {
                            return Response::Error(ControlError::BadRequest {
                                message: format!("child SPI '{c}': {e}"),
                            })
                        }
                    },
                    None => Command::RekeyIke { ike_sa: id },
                };
                match self.ep.handle_command(now, cmd) {
                    Ok(_) => Response::Rekeying {
                        ike: id.to_string(),
                    },
                    Err(e) => Response::Error(ControlError::Refused {
                        message: crate::error_chain(&e),
                    }),
                }
            }
            Request::Reload => self.reload(),
            Request::Stats => {
                let mut s = self.stats.clone();
                s.kernel_errors = s.kernel_errors.max(self.kernel.error_count());
                Response::Stats(s)
            }
            // Streaming is done by the control server itself.
            Request::Log => Response::Error(ControlError::BadRequest {
                message: "log is streamed by the server".into(),
            }),
        }
    }

    fn list_sas(&self, now: Instant) -> Vec<IkeSaInfo> {
        self.views
            .iter()
            .map(|(id, v)| {
                let info = v
                    .peer
                    .and_then(|p| self.children_of(p).first().copied())
                    .and_then(|p| self.info.get(p));
                IkeSaInfo {
                    id: id.to_string(),
                    // `conn/child` of its first child, as before connections
                    // carried several (the CHILD SAs carry their own names).
                    name: self.sa_name(v.peer, v.wanted.iter().next().copied()),
                    state: if v.established.is_some() {
                        "ESTABLISHED".into()
                    } else {
                        "CONNECTING".into()
                    },
                    local: v.path.map_or_else(
                        || info.map_or_else(String::new, |i| i.local.clone()),
                        |p| p.local.to_string(),
                    ),
                    remote: v.path.map_or_else(
                        || info.map_or_else(String::new, |i| i.remote.clone()),
                        |p| p.remote.to_string(),
                    ),
                    local_id: info.map_or_else(String::new, |i| i.local_id.clone()),
                    remote_id: v.remote_id.clone(),
                    suite: v.suite.clone(),
                    nat: v.nat,
                    established_secs: v
                        .established
                        .map(|t| now.saturating_duration_since(t).as_secs()),
                    children: v
                        .children
                        .iter()
                        .map(|(spi_in, c)| ChildSaInfo {
                            name: v
                                .peer
                                .and_then(|p| self.ep.config().peers.get(p))
                                .and_then(|p| p.children.get(c.child))
                                .map_or_else(String::new, |ch| ch.name.clone()),
                            spi_in: format!("{spi_in:08x}"),
                            spi_out: format!("{:08x}", c.spi_out),
                            suite: c.suite.clone(),
                            local_ts: c.local_ts.clone(),
                            remote_ts: c.remote_ts.clone(),
                            installed_secs: now.saturating_duration_since(c.installed).as_secs(),
                            bytes_in: self.counter(*spi_in).0,
                            packets_in: self.counter(*spi_in).1,
                            bytes_out: self.counter(c.spi_out).0,
                            packets_out: self.counter(c.spi_out).1,
                        })
                        .collect(),
                }
            })
            .collect()
    }

    /// (bytes, packets) the data plane counted for an SPI.
    fn counter(&self, spi: u32) -> (u64, u64) {
        #[cfg(target_os = "linux")]
        return self
            .dataplane
            .as_ref()
            .map_or((0, 0), |d| d.counters.get(spi));
        #[cfg(not(target_os = "linux"))]
        {
            let _ = spi;
            (0, 0)
        }
    }
}

/// The protocol and port a trap policy selects for one side of a child:
/// PF_POLICY rules hold one protocol and single ports (`None`: any), so a
/// port range other than all ports cannot be trapped.
fn trap_ports(t: &ike::wire::TrafficSelector) -> Result<(Option<u8>, Option<u16>), String> {
    let (proto, sp, ep) = match t {
        ike::wire::TrafficSelector::Ipv4 {
            ip_protocol,
            start_port,
            end_port,
            ..
        }
        | ike::wire::TrafficSelector::Ipv6 {
            ip_protocol,
            start_port,
            end_port,
            ..
        } => (*ip_protocol, *start_port, *end_port),
        ike::wire::TrafficSelector::Other { .. } => {
            return Err("selector of an unknown type".into())
        }
    };
    let proto = (proto != 0).then_some(proto);
    let port = match (sp, ep) {
        (0, u16::MAX) => None,
        (a, b) if a == b => Some(a),
        _ => {
            return Err(format!(
                "selector {} has a port range, which a PF_POLICY rule cannot select; use one port or all",
                setup::ts_text(t)
            ))
        }
    };
    Ok((proto, port))
}

/// What to change, for the failures an operator can fix in the config
/// (matched on the core's reason text and the Notify names it carries).
fn hint(reason: &str) -> Option<&'static str> {
    let r = reason.to_ascii_lowercase();
    let any = |words: &[&str]| words.iter().any(|w| r.contains(w));
    if any(&[
        "did not answer",
        "no response",
        "retransmi",
        "timed out",
        "gave up",
    ]) {
        Some("check that the peer is reachable on its IKE port (remote_addrs, remote_port) and that a firewall passes UDP 500/4500")
    } else if r.contains("certificate") {
        // The certs crate's reason already says what to change (daemon/creds.rs);
        // the shared-key advice below would mislead.
        None
    } else if r.contains("eap-mschapv2: wrong password") {
        Some("the user typed another password than the one in its [secrets.eap-NAME]")
    } else if r.contains("eap-mschapv2: unknown user") {
        Some("add a [secrets.eap-NAME] whose 'id' is this user, or check the client's user name")
    } else if r.contains("eap") {
        // A broken EAP conversation: the reason names the packet or field.
        None
    } else if any(&["authentication_failed", "does not verify"])
        || (r.contains("auth") && r.contains("fail"))
    {
        Some("check that both sides have the same shared key in [secrets.ike.*] and that local.id / remote.id match the peer's")
    } else if any(&["no_proposal_chosen", "proposal"]) {
        Some("make `proposals` (IKE) and `esp_proposals` (CHILD) share at least one algorithm set with the peer")
    } else if any(&["ts_unacceptable", "selector"]) {
        Some("make local_ts / remote_ts mirror the peer's remote_ts / local_ts")
    } else if any(&["invalid_ke", "key exchange"]) {
        Some("put a key exchange group the peer accepts first in `proposals`")
    } else if r.contains("identity") {
        Some("check remote.id against the identity the peer sends")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::{closed_why, hint, trap_ports, Closed};

    #[test]
    fn closes_are_told_apart_for_close_action_and_dpd_action() {
        assert_eq!(closed_why("deleted by peer"), Closed::ByPeer);
        assert_eq!(
            closed_why("peer did not answer after 5 transmissions"),
            Closed::Dead
        );
        assert_eq!(closed_why("deleted by us"), Closed::Other);
        assert_eq!(closed_why("rekeyed"), Closed::Other);
        assert_eq!(closed_why("terminated"), Closed::Other);
    }

    #[test]
    fn trap_selectors_take_one_protocol_and_single_ports() {
        use ike::policy::ts::parse_ts;
        let t = |s: &str| trap_ports(&parse_ts(s).unwrap());
        assert_eq!(t("10.1.0.0/16"), Ok((None, None)));
        assert_eq!(t("10.1.0.0/16[tcp/443]"), Ok((Some(6), Some(443))));
        assert_eq!(t("10.1.0.0/16[udp]"), Ok((Some(17), None)));
        let e = t("10.1.0.0/16[tcp/1000-2000]").unwrap_err();
        assert!(e.contains("port range"), "{e}");
    }

    #[test]
    fn failures_an_operator_can_fix_come_with_what_to_change() {
        let auth = hint("peer sent AUTHENTICATION_FAILED").unwrap();
        assert!(auth.contains("shared key"), "{auth}");
        let prop = hint("peer sent NO_PROPOSAL_CHOSEN").unwrap();
        assert!(prop.contains("proposals"), "{prop}");
        let ts = hint("peer sent TS_UNACCEPTABLE").unwrap();
        assert!(ts.contains("local_ts"), "{ts}");
        let gone = hint("peer did not answer after 6 transmissions").unwrap();
        assert!(gone.contains("reachable"), "{gone}");
        assert_eq!(hint("IKE SPI collision on rekey"), None);
    }

    #[test]
    fn certificate_failures_get_no_shared_key_advice() {
        assert_eq!(
            hint("authentication failed: peer certificate rejected: untrusted root 'CN=Other CA'"),
            None
        );
    }
}
