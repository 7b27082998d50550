//! Kernel glue: turns the core's [`KernelRequest`]s into PF_KEY v2 and
//! PF_POLICY messages and talks to a backend through one async socket each.
//!
//! Backends (config `daemon.backend`):
//! - `userland`: the in-process key engine (`pfkey::engine`) reached over a
//!   `SOCK_SEQPACKET` socketpair, so it receives exactly the bytes the
//!   illumos kernel would;
//! - `illumos`: the kernel's PF_KEY (`socket(PF_KEY, SOCK_RAW,
//!   PF_KEY_V2)`) and PF_POLICY sockets; opening them fails elsewhere with
//!   a clear error.
//!
//! Requests are not awaited inline: the driver sends them and keeps
//! serving peers. Each carries its own `seq`; replies are matched by
//! (seq, pid) and a non-zero errno is surfaced with the request it answers
//! and the kernel's diagnostic (STYLE §5: a failure is never success).
//! Messages that are not replies (ACQUIRE, EXPIRE, other daemons' DELETE)
//! become [`KernelEvent`]s for the core.
//!
//! Every SA we add carries a KM cookie (IKEv2, our IKE SPI), so a restart
//! finds and deletes what a previous run left behind, and nobody else's.
//!
//! With the userland data plane (`--tun`), tunnel-mode policies go on one
//! tunnel link per peer (the engine's stand-in for an illumos iptun, whose
//! outer addresses an ACQUIRE and an outbound SA lookup need), and the
//! data plane is told each link's inner prefixes. Trap policies
//! (`start_action = trap`) are installed with no SA; when the engine raises
//! an ACQUIRE for one, its seq is remembered and the outbound ADD of the
//! CHILD_SA negotiated for that peer carries it, which is how the engine
//! knows to release the packets it held (RFC 2367 §3.1.6).

use std::collections::{BTreeMap, HashMap};
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ike::io::{ChildSaInstall, KernelEvent, KernelRequest, Mode};
use ike::wire::{EncrId, IntegId, TrafficSelector};
use pfkey::build::{self, SaSpec};
use pfkey::dataplane::Link;
use pfkey::registry::{
    Errno, SadbAalg, SadbDiagnostic, SadbEalg, SadbKmp, SadbMsgType, SadbSaFlags, SadbSaType,
    SpdDiagnostic, SpdId, SpdMsgType,
};
use pfkey::wire::{
    ActionAlt, AddressExt, AddressKind, KeyExt, KmCookie, Lifetime, PolicyRule, SadbMsg, SockAddr,
    SpdMsg, MAX_MSG_LEN,
};
use socket2::Socket;
use zeroize::Zeroizing;

/// What can go wrong talking to the key engine.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KernelError {
    /// The backend could not be opened.
    #[error("cannot open the {backend} key engine")]
    Open {
        /// `userland` or `illumos`.
        backend: &'static str,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// Socket I/O failed.
    #[error("PF_KEY socket I/O")]
    Io(#[from] io::Error),
    /// A message could not be built.
    #[error("cannot build a PF_KEY message")]
    Emit(#[from] pfkey::wire::EmitError),
    /// A reply did not decode.
    #[error("undecodable reply from the key engine")]
    Decode(#[from] pfkey::wire::DecodeError),
    /// The engine refused a request.
    #[error("{what}: {msg_type} failed with {errno} (diagnostic {diagnostic})")]
    Refused {
        /// What we asked for, in words.
        what: String,
        /// Request type.
        msg_type: SadbMsgType,
        /// errno of the reply.
        errno: Errno,
        /// `sadb_x_msg_diagnostic`.
        diagnostic: SadbDiagnostic,
    },
    /// PF_POLICY refused a rule.
    #[error("{what}: PF_POLICY {msg_type} failed with {errno} (diagnostic {diagnostic})")]
    PolicyRefused {
        /// What we asked for.
        what: String,
        /// Request type.
        msg_type: SpdMsgType,
        /// errno.
        errno: Errno,
        /// `spd_msg_diagnostic`.
        diagnostic: SpdDiagnostic,
    },
    /// The negotiated algorithm has no PF_KEY number.
    #[error("{0} has no PF_KEY algorithm number; configure an ESP proposal with aes*gcm16 or aes*-sha256/384/512")]
    Algorithm(String),
    /// A reply did not arrive in time.
    #[error("no reply from the key engine to {0} within {1:?}")]
    Timeout(&'static str, Duration),
    /// The negotiated selectors have no PF_POLICY form.
    #[error("CHILD_SA selectors {local} === {remote}: {reason}")]
    Selectors {
        /// Our selectors, in text.
        local: String,
        /// The peer's selectors, in text.
        remote: String,
        /// What cannot be expressed.
        reason: String,
    },
}

/// Which key engine (config `daemon.backend`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BackendKind {
    /// In-process userland engine.
    Userland,
    /// A userland engine running as its own process (`ikegw pfkey
    /// engine`), reached on a Unix socket: it outlives the daemon, so a
    /// restart meets what the previous run left, as with a kernel.
    UserlandSocket,
    /// illumos PF_KEY.
    Illumos,
}

impl BackendKind {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Self::Userland => "userland",
            Self::UserlandSocket => "userland (engine process)",
            Self::Illumos => "illumos",
        }
    }
}

/// One message-oriented socket (PF_KEY, PF_POLICY, or the engine's
/// seqpacket end) driven by tokio.
///
/// It is wrapped as a tokio `UnixDatagram` only to get readiness-driven
/// `send`/`recv` without `unsafe` fd registration: those calls are plain
/// send(2)/recv(2), which keep message boundaries on SOCK_SEQPACKET and
/// SOCK_RAW sockets exactly as on datagram sockets.
pub(crate) struct MsgSocket {
    sock: tokio::net::UnixDatagram,
}

impl MsgSocket {
    pub(crate) fn new(sock: Socket) -> io::Result<Self> {
        sock.set_nonblocking(true)?;
        let std: std::os::unix::net::UnixDatagram = sock.into();
        Ok(Self {
            sock: tokio::net::UnixDatagram::from_std(std)?,
        })
    }

    pub(crate) async fn send(&self, msg: &[u8]) -> io::Result<()> {
        let n = self.sock.send(msg).await?;
        if n != msg.len() {
            // One complete message per write: keysock never reassembles.
            return Err(io::Error::new(io::ErrorKind::WriteZero, "short write"));
        }
        Ok(())
    }

    /// One whole message into `buf`.
    pub(crate) async fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        match self.sock.recv(buf).await? {
            0 => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "key engine closed the socket",
            )),
            n => Ok(n),
        }
    }
}

/// What a pending request was for, to name it in errors.
#[derive(Debug, Clone)]
struct Pending {
    msg_type: SadbMsgType,
    what: String,
    /// The core's request seq this message belongs to.
    core: Option<u32>,
}

/// One direction of an SA we added, to delete it at shutdown.
#[derive(Debug, Clone)]
struct AddedSa {
    spi: u32,
    src: SocketAddr,
    dst: SocketAddr,
}

/// Policies and SAs installed for one CHILD_SA.
#[derive(Debug, Clone, Default)]
struct Installed {
    sas: Vec<AddedSa>,
    rules: Vec<PolicyRule>,
    /// The peer whose illumos tunnel link this CHILD_SA holds.
    link: Option<IpAddr>,
}

/// The kernel side of the daemon.
pub(crate) struct Kernel {
    pub(crate) kind: BackendKind,
    pub(crate) pfkey: std::sync::Arc<MsgSocket>,
    pub(crate) policy: std::sync::Arc<MsgSocket>,
    pid: u32,
    seq: u32,
    pending: HashMap<u32, Pending>,
    /// By our inbound SPI.
    installed: BTreeMap<u32, Installed>,
    /// Keeps the userland engine's thread alive.
    server: Option<pfkey::engine::server::Server>,
    /// Requests refused so far (for `ikegw stats`).
    pub(crate) errors: u64,
    /// Policy rules we added, with the number of CHILD_SAs using each.
    policies: HashMap<RuleKey, usize>,
    /// PF_POLICY seq → what it was for.
    policy_pending: HashMap<u32, String>,
    /// Core request seq → PF_KEY messages still unanswered.
    core_waiting: HashMap<u32, usize>,
    /// The core request being translated (set during [`Self::submit`]).
    current_core: Option<u32>,
    /// ACQUIREs not yet answered: (seq, outer destination, when). The
    /// outbound SA ADD for that destination carries the ACQUIRE's seq, so
    /// the engine releases the packets it queued (RFC 2367 §3.1.6).
    acquires: Vec<PendingAcquire>,
    /// The userland data plane's tunnel links, when one runs.
    links_sink: Option<Box<dyn FnMut(Vec<Link>) + Send>>,
    /// Sets up a tunnel link in an engine we reach over a socket (the
    /// in-process engine is configured directly).
    tunnel_sink: Option<Box<dyn FnMut(pfkey::engine::Tunnel) + Send>>,
    /// Tunnel links by peer (outer remote) address.
    tunnels: BTreeMap<IpAddr, TunnelLink>,
    /// Trap policies (`start_action = trap`), removed at shutdown.
    trap_rules: Vec<PolicyRule>,
    /// The illumos backend's IP tunnel links (tunnel-mode policy lives on
    /// a link's policy head there).
    iptun: Option<super::iptun::Iptun>,
}

/// One peer's tunnel link in the userland engine (the stand-in for an
/// illumos iptun, whose policy head holds tunnel-mode rules).
#[derive(Debug, Clone)]
struct TunnelLink {
    name: String,
    nets: Vec<(IpAddr, u8)>,
}

/// A trap policy (`start_action = trap`): selectors and acceptable
/// algorithms, installed before any SA exists so that the first matching
/// packet raises an ACQUIRE (RFC 4301 §4.4.1, "PROTECT" with no SA yet).
#[derive(Debug, Clone)]
pub(crate) struct Trap {
    /// Our outer address.
    pub(crate) local: IpAddr,
    /// The peer's outer address.
    pub(crate) remote: IpAddr,
    /// Our inner prefix.
    pub(crate) local_net: (IpAddr, u8),
    /// The peer's inner prefix.
    pub(crate) remote_net: (IpAddr, u8),
    /// IP protocol selector (`None`: any).
    pub(crate) proto: Option<u8>,
    /// Our port (`None`: any); PF_POLICY selects single ports only.
    pub(crate) local_port: Option<u16>,
    /// The peer's port (`None`: any).
    pub(crate) remote_port: Option<u16>,
    /// Tunnel mode.
    pub(crate) tunnel: bool,
    /// ESP algorithm alternatives, most preferred first.
    pub(crate) actions: Vec<ActionAlt>,
}

impl Trap {
    /// The two rules (outbound, inbound) the trap installs.
    fn rules(&self, tun_name: Option<String>) -> [PolicyRule; 2] {
        let tflag = if self.tunnel {
            pfkey::registry::spd_rule_flag::SPD_RULE_FLAG_TUNNEL
        } else {
            0
        };
        [
            pfkey::registry::spd_rule_flag::SPD_RULE_FLAG_OUTBOUND,
            pfkey::registry::spd_rule_flag::SPD_RULE_FLAG_INBOUND,
        ]
        .map(|dir| PolicyRule {
            priority: 0,
            flags: dir | tflag,
            tun_name: tun_name.clone(),
            proto: self.proto,
            local_port: self.local_port,
            remote_port: self.remote_port,
            local: Some(self.local_net),
            remote: Some(self.remote_net),
            actions: self.actions.clone(),
            ..PolicyRule::default()
        })
    }
}

/// An ACQUIRE not yet answered by an SA (see `Kernel::acquires`).
#[derive(Debug, Clone)]
struct PendingAcquire {
    seq: u32,
    /// Outer destination: the peer.
    remote: IpAddr,
    at: Instant,
    /// The traffic it is for (ours, the peer's), when the message said.
    ts: Option<(TrafficSelector, TrafficSelector)>,
}

/// How long an unanswered ACQUIRE is remembered (the engine gives up on
/// its queued packets sooner).
const ACQUIRE_MEMORY: Duration = Duration::from_secs(60);

/// How long startup waits for each reply.
const STARTUP_REPLY_TIMEOUT: Duration = Duration::from_secs(5);

/// How long startup waits for the stale IP tunnel links to go (dladm and
/// ipadm, a few commands per link).
const STALE_LINKS_TIMEOUT: Duration = Duration::from_secs(60);

/// How long shutdown waits for the IP tunnel links to be removed.
const LINK_SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

impl Kernel {
    /// Opens the backend. `local_addrs` tells the userland engine which
    /// addresses are ours (it uses them to place SAs).
    pub(crate) fn open(kind: BackendKind, local_addrs: Vec<IpAddr>) -> Result<Self, KernelError> {
        let open_err = |source| KernelError::Open {
            backend: kind.name(),
            source,
        };
        let (pfkey, policy, server) = match kind {
            BackendKind::Userland => {
                let cfg = pfkey::engine::EngineConfig {
                    local_addrs,
                    ..Default::default()
                };
                let server = pfkey::engine::server::Server::start(cfg);
                let k = server.connect().map_err(open_err)?;
                let p = server.connect_policy().map_err(open_err)?;
                (k, p, Some(server))
            }
            BackendKind::UserlandSocket => {
                return Err(open_err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "an engine process is opened with Kernel::open_socket",
                )));
            }
            BackendKind::Illumos => {
                let raw = |args: (i32, i32, i32), what: &str| {
                    Socket::new(
                        socket2::Domain::from(args.0),
                        socket2::Type::from(args.1),
                        Some(socket2::Protocol::from(args.2)),
                    )
                    .map_err(|e| {
                        io::Error::new(
                            e.kind(),
                            format!(
                                "{what} exists only on illumos ({e}); use backend = \"userland\" elsewhere"
                            ),
                        )
                    })
                };
                let k = raw(pfkey::sys::pfkey_socket_args(), "PF_KEY").map_err(open_err)?;
                let p = raw(pfkey::sys::pfpolicy_socket_args(), "PF_POLICY").map_err(open_err)?;
                let mut k = Self::with_sockets(kind, k, p, None)?;
                k.use_iptun(super::iptun::Iptun::start(Box::new(
                    crate::provision::SystemRunner,
                )));
                return Ok(k);
            }
        };
        Self::with_sockets(kind, pfkey, policy, server)
    }

    /// Connects to a userland engine process listening at `path` (PF_KEY)
    /// and `path.policy` (PF_POLICY), as `ikegw pfkey engine` does.
    pub(crate) fn open_socket(path: &std::path::Path) -> Result<Self, KernelError> {
        let kind = BackendKind::UserlandSocket;
        let open_err = |what: &std::path::Path, e: io::Error| KernelError::Open {
            backend: kind.name(),
            source: io::Error::new(
                e.kind(),
                format!(
                    "{} ({e}); is `ikegw pfkey engine {}` running?",
                    what.display(),
                    path.display()
                ),
            ),
        };
        let mut ppath = path.as_os_str().to_owned();
        ppath.push(".policy");
        let ppath = std::path::PathBuf::from(ppath);
        let k = pfkey::engine::server::connect_path(path).map_err(|e| open_err(path, e))?;
        let p = pfkey::engine::server::connect_path(&ppath).map_err(|e| open_err(&ppath, e))?;
        Self::with_sockets(kind, k, p, None)
    }

    fn with_sockets(
        kind: BackendKind,
        pfkey: Socket,
        policy: Socket,
        server: Option<pfkey::engine::server::Server>,
    ) -> Result<Self, KernelError> {
        let open_err = |source| KernelError::Open {
            backend: kind.name(),
            source,
        };
        Ok(Self {
            kind,
            pfkey: std::sync::Arc::new(MsgSocket::new(pfkey).map_err(open_err)?),
            policy: std::sync::Arc::new(MsgSocket::new(policy).map_err(open_err)?),
            pid: std::process::id(),
            seq: 0,
            pending: HashMap::new(),
            installed: BTreeMap::new(),
            server,
            errors: 0,
            core_waiting: HashMap::new(),
            current_core: None,
            policies: HashMap::new(),
            policy_pending: HashMap::new(),
            acquires: Vec::new(),
            links_sink: None,
            tunnel_sink: None,
            tunnels: BTreeMap::new(),
            trap_rules: Vec::new(),
            iptun: None,
        })
    }

    /// Tunnel-mode CHILD_SAs and traps get illumos IP tunnel links from
    /// `iptun` (the illumos backend; tests give it a recording runner).
    pub(crate) fn use_iptun(&mut self, iptun: super::iptun::Iptun) {
        self.iptun = Some(iptun);
    }

    /// Requests refused and link commands failed so far (for `ikegw stats`).
    pub(crate) fn error_count(&self) -> u64 {
        self.errors
            .saturating_add(self.iptun.as_ref().map_or(0, super::iptun::Iptun::failures))
    }

    fn next_seq(&mut self) -> u32 {
        // Bit 31 clear: the kernel's own ACQUIRE seqs have it set.
        self.seq = (self.seq % 0x7fff_ffff).saturating_add(1);
        self.seq
    }

    fn track(&mut self, seq: u32, msg_type: SadbMsgType, what: String) {
        let core = self.current_core;
        if let Some(c) = core {
            let n = self.core_waiting.entry(c).or_insert(0);
            *n = n.saturating_add(1);
        }
        self.pending.insert(
            seq,
            Pending {
                msg_type,
                what,
                core,
            },
        );
    }

    /// Sends `bytes` and waits for the reply to (`msg_type`, `seq`),
    /// handing everything else to `other`. For startup only.
    async fn request_wait(
        &mut self,
        bytes: &[u8],
        msg_type: SadbMsgType,
        seq: u32,
        what: &str,
        mut other: impl FnMut(SadbMsg),
    ) -> Result<SadbMsg, KernelError> {
        self.pfkey.send(bytes).await?;
        let mut buf = Zeroizing::new(vec![0u8; MAX_MSG_LEN]);
        let deadline = tokio::time::Instant::now() + STARTUP_REPLY_TIMEOUT;
        loop {
            let n = tokio::time::timeout_at(deadline, self.pfkey.recv(&mut buf))
                .await
                .map_err(|_| KernelError::Timeout("REGISTER/DUMP", STARTUP_REPLY_TIMEOUT))??;
            let m = SadbMsg::parse(buf.get(..n).unwrap_or(&[]))?;
            let h = m.header;
            if h.seq == seq && h.pid == self.pid && h.msg_type == msg_type {
                if h.errno != Errno::OK {
                    return Err(KernelError::Refused {
                        what: what.to_string(),
                        msg_type,
                        errno: h.errno,
                        diagnostic: h.diagnostic,
                    });
                }
                return Ok(m);
            }
            other(m);
        }
    }

    /// REGISTER for ESP, then delete the SAs a previous run of ikegw left
    /// (those with our KM cookie protocol). Returns the SPIs deleted.
    pub(crate) async fn start(&mut self) -> Result<Vec<u32>, KernelError> {
        self.clear_stale_links().await?;
        let seq = self.next_seq();
        let reg = build::register(SadbSaType::SADB_SATYPE_ESP, seq, self.pid).to_bytes()?;
        self.request_wait(&reg, SadbMsgType::SADB_REGISTER, seq, "REGISTER ESP", drop)
            .await?;
        // DUMP: records share our seq, the last one has seq 0 (RFC 2367 §3.1.10).
        let seq = self.next_seq();
        let dump = build::dump(SadbSaType::SADB_SATYPE_ESP, seq, self.pid).to_bytes()?;
        self.pfkey.send(&dump).await?;
        let mut left = Vec::new();
        let mut buf = Zeroizing::new(vec![0u8; MAX_MSG_LEN]);
        let deadline = tokio::time::Instant::now() + STARTUP_REPLY_TIMEOUT;
        loop {
            let n = tokio::time::timeout_at(deadline, self.pfkey.recv(&mut buf))
                .await
                .map_err(|_| KernelError::Timeout("DUMP", STARTUP_REPLY_TIMEOUT))??;
            let m = SadbMsg::parse(buf.get(..n).unwrap_or(&[]))?;
            let h = m.header;
            if h.msg_type != SadbMsgType::SADB_DUMP || h.pid != self.pid {
                continue;
            }
            // ENOENT on an empty table is how keysock says "nothing".
            if h.errno != Errno::OK && h.errno != Errno::ENOENT {
                return Err(KernelError::Refused {
                    what: "DUMP ESP".into(),
                    msg_type: h.msg_type,
                    errno: h.errno,
                    diagnostic: h.diagnostic,
                });
            }
            if h.seq == 0 || h.errno == Errno::ENOENT {
                if let (Some(sa), Some(dst)) = (m.sa().copied(), m.address(AddressKind::Dst)) {
                    if m.km_cookie()
                        .is_some_and(|k| k.proto == SadbKmp::SADB_X_KMP_IKEV2)
                    {
                        left.push((
                            sa.spi,
                            sa.flags,
                            m.address(AddressKind::Src).cloned(),
                            dst.clone(),
                        ));
                    }
                }
                break;
            }
            if let (Some(sa), Some(dst)) = (m.sa().copied(), m.address(AddressKind::Dst)) {
                if m.km_cookie()
                    .is_some_and(|k| k.proto == SadbKmp::SADB_X_KMP_IKEV2)
                {
                    left.push((
                        sa.spi,
                        sa.flags,
                        m.address(AddressKind::Src).cloned(),
                        dst.clone(),
                    ));
                }
            }
        }
        let mut deleted = Vec::new();
        for (spi, flags, src, dst) in left {
            let seq = self.next_seq();
            let del = build::sa_op(
                SadbMsgType::SADB_DELETE,
                SadbSaType::SADB_SATYPE_ESP,
                spi,
                flags,
                src,
                dst,
                seq,
                self.pid,
            )
            .to_bytes()?;
            match self
                .request_wait(&del, SadbMsgType::SADB_DELETE, seq, "DELETE stale SA", drop)
                .await
            {
                Ok(_) => deleted.push(spi),
                Err(KernelError::Refused {
                    errno: Errno::ESRCH,
                    ..
                }) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(deleted)
    }

    /// Deletes the IP tunnel links a previous run left (illumos backend).
    /// The kernel drops a link's policy head with it (`iptun_free`), so
    /// nothing of that run's tunnel-mode policy survives into this one.
    async fn clear_stale_links(&mut self) -> Result<(), KernelError> {
        let Some(iptun) = &self.iptun else {
            return Ok(());
        };
        let stale = match iptun.cleanup(STALE_LINKS_TIMEOUT).await {
            Ok(s) => s,
            Err(e) => {
                self.errors = self.errors.saturating_add(1);
                tracing::error!("cannot look for IP tunnel links a previous run left: {e}");
                return Ok(());
            }
        };
        if !stale.is_empty() {
            tracing::warn!(
                "deleted IP tunnel links a previous ikegw run left, with their policies: {}",
                stale.join(" ")
            );
        }
        Ok(())
    }

    /// Turns one core request into messages and sends them. The core
    /// hears the outcome as a [`KernelEvent::Reply`] with its own seq once
    /// every message is answered (or at the first refusal); a request that
    /// cannot even be built is refused at once with EINVAL.
    pub(crate) async fn submit(&mut self, req: KernelRequest) -> Option<KernelEvent> {
        let core_seq = match &req {
            KernelRequest::Install(i) => i.seq,
            KernelRequest::Delete { seq, .. } => *seq,
        };
        self.current_core = Some(core_seq);
        self.core_waiting.insert(core_seq, 0);
        let r = match req {
            KernelRequest::Install(inst) => self.install(*inst).await,
            KernelRequest::Delete {
                inbound_spi,
                outbound_spi,
                local,
                remote,
                ..
            } => {
                let entry = self
                    .installed
                    .remove(&inbound_spi)
                    .unwrap_or_else(|| Installed {
                        sas: vec![
                            AddedSa {
                                spi: inbound_spi,
                                src: remote,
                                dst: local,
                            },
                            AddedSa {
                                spi: outbound_spi,
                                src: local,
                                dst: remote,
                            },
                        ],
                        rules: Vec::new(),
                        link: None,
                    });
                self.remove(entry).await
            }
        };
        self.current_core = None;
        match r {
            Err(e) => {
                self.core_waiting.remove(&core_seq);
                self.errors = self.errors.saturating_add(1);
                tracing::error!("key engine: {}", crate::error_chain(&e));
                Some(KernelEvent::Reply {
                    seq: core_seq,
                    errno: libc::EINVAL,
                })
            }
            Ok(()) if self.core_waiting.get(&core_seq) == Some(&0) => {
                self.core_waiting.remove(&core_seq);
                Some(KernelEvent::Reply {
                    seq: core_seq,
                    errno: 0,
                })
            }
            Ok(()) => None,
        }
    }

    async fn remove(&mut self, entry: Installed) -> Result<(), KernelError> {
        let link = entry.link;
        let r = self.remove_parts(entry).await;
        // After the rules went out: the kernel drops a link's policy head
        // with the link, so its rules should be gone first.
        if let (Some(t), Some(remote)) = (self.iptun.as_mut(), link) {
            t.release(remote);
        }
        r
    }

    async fn remove_parts(&mut self, entry: Installed) -> Result<(), KernelError> {
        for sa in entry.sas {
            let seq = self.next_seq();
            let m = build::sa_op(
                SadbMsgType::SADB_DELETE,
                SadbSaType::SADB_SATYPE_ESP,
                sa.spi,
                SadbSaFlags::default(),
                Some(build::addr(SockAddr::from_ip(sa.src.ip()))),
                build::addr(SockAddr::from_ip(sa.dst.ip())),
                seq,
                self.pid,
            );
            self.track(
                seq,
                SadbMsgType::SADB_DELETE,
                format!(
                    "delete SA {:08x} {} -> {}",
                    sa.spi,
                    sa.src.ip(),
                    sa.dst.ip()
                ),
            );
            self.pfkey.send(&m.to_bytes()?).await?;
        }
        for rule in entry.rules {
            // Policies belong to selectors, not SAs: a rekeyed CHILD_SA's
            // successor shares them, so only the last user removes them.
            let key = rule_key(&rule);
            let left = self
                .policies
                .get(&key)
                .copied()
                .unwrap_or(0)
                .saturating_sub(1);
            if left > 0 {
                self.policies.insert(key, left);
                continue;
            }
            self.policies.remove(&key);
            let seq = self.next_seq();
            self.policy_pending
                .insert(seq, format!("delete policy {}", rule_text(&rule)));
            let m = SpdMsg::rule(
                SpdMsgType::SPD_DELETERULE,
                SpdId::SPD_ACTIVE,
                &rule,
                seq,
                self.pid,
            )?;
            self.policy.send(&m.to_bytes()?).await?;
        }
        Ok(())
    }

    async fn install(&mut self, inst: ChildSaInstall) -> Result<(), KernelError> {
        // Everything that can be refused is checked before anything is
        // sent, so a CHILD_SA whose algorithms or selectors PF_KEY and
        // PF_POLICY cannot hold leaves no SA or link behind (validate,
        // then commit).
        ealg(inst.encr)?;
        aalg(inst.integ)?;
        let tunnel = inst.mode == Mode::Tunnel;
        let sels = policy_selectors(&inst.local_ts, &inst.remote_ts)?;
        // Tunnel links learn every remote block, of either family, so a
        // dual-stack CHILD_SA routes both.
        let mut tun_name = None;
        if tunnel {
            let mut nets: Vec<(IpAddr, u8)> = Vec::new();
            for p in &sels {
                if !nets.contains(&p.remote) {
                    nets.push(p.remote);
                    let name =
                        self.tunnel_link(inst.local.ip(), inst.remote.ip(), p.local, p.remote);
                    tun_name = tun_name.or(name);
                }
            }
        }
        let acquired = self.take_acquire(inst.remote.ip(), &inst.local_ts, &inst.remote_ts);
        let mut entry = Installed::default();
        if let (Some(t), Some(_)) = (self.iptun.as_mut(), &tun_name) {
            t.hold(inst.remote.ip());
            entry.link = Some(inst.remote.ip());
        }
        // Whatever is added is recorded even when a later step fails, so a
        // Delete or the shutdown removes it (and releases the link).
        let r = self
            .add_child(&inst, &sels, tun_name, acquired, &mut entry)
            .await;
        self.installed.insert(inst.inbound.spi, entry);
        r
    }

    /// The SAs and policies of one CHILD_SA (see [`Self::install`]).
    async fn add_child(
        &mut self,
        inst: &ChildSaInstall,
        sels: &[PolicySel],
        tun_name: Option<String>,
        acquired: Option<u32>,
        entry: &mut Installed,
    ) -> Result<(), KernelError> {
        let encrypt = ealg(inst.encr)?;
        let auth = aalg(inst.integ)?;
        let tunnel = inst.mode == Mode::Tunnel;
        let kmc = KmCookie {
            proto: SadbKmp::SADB_X_KMP_IKEV2,
            cookie: inst.ike_sa.0,
        };
        let lifetime = |d: Option<Duration>| {
            d.map(|d| Lifetime {
                addtime: d.as_secs(),
                ..Lifetime::default()
            })
        };
        // A PF_KEY SA holds one inner address pair, of one family
        // (illumos rejects mixed inner families, INNER_AF_MISMATCH), which
        // is why the core negotiates one family per CHILD_SA
        // (`one_family_per_child`); should a peer's selectors still mix
        // them, the SA covers the first pair's family. The policies below
        // stay exact, so the SA is only reached for the negotiated
        // traffic.
        let v4_first = sels.first().is_some_and(|p| p.local.0.is_ipv4());
        let same = |p: &&PolicySel| p.local.0.is_ipv4() == v4_first;
        let local_sel = covering(sels.iter().filter(same).map(|p| p.local));
        let remote_sel = covering(sels.iter().filter(same).map(|p| p.remote));
        // Inbound first, then outbound: traffic may start flowing the
        // moment the outbound SA exists (RFC 7296 §2.17 gives no order,
        // but an inbound SA that is late drops the peer's first packets).
        for (dir, keys, src, dst) in [
            (
                SadbSaFlags::SADB_X_SAFLAGS_INBOUND,
                &inst.inbound,
                inst.remote,
                inst.local,
            ),
            (
                SadbSaFlags::SADB_X_SAFLAGS_OUTBOUND,
                &inst.outbound,
                inst.local,
                inst.remote,
            ),
        ] {
            let mut spec = SaSpec::esp(
                keys.spi,
                encrypt,
                build::addr(SockAddr::from_ip(src.ip())),
                build::addr(SockAddr::from_ip(dst.ip())),
            );
            spec.replay = 64;
            spec.auth = auth;
            spec.flags = dir;
            if tunnel {
                spec.flags = spec.flags.union(SadbSaFlags::SADB_X_SAFLAGS_TUNNEL);
                let (isrc, idst) = if dir == SadbSaFlags::SADB_X_SAFLAGS_INBOUND {
                    (remote_sel, local_sel)
                } else {
                    (local_sel, remote_sel)
                };
                if let (Some(s), Some(d)) = (isrc, idst) {
                    let proto = if s.0.is_ipv4() { 4 } else { 41 };
                    spec.inner = Some((
                        AddressExt {
                            proto,
                            prefixlen: s.1,
                            addr: SockAddr::from_ip(s.0),
                        },
                        AddressExt {
                            proto,
                            prefixlen: d.1,
                            addr: SockAddr::from_ip(d.0),
                        },
                    ));
                }
            }
            if let (Some(encap), IpAddr::V4(_)) = (inst.encap, dst.ip()) {
                // RFC 3948 on illumos (reference §7.10): the flags say the
                // SA is UDP-encapsulated; the extensions carry the ports.
                // NATT_LOC must not be a local address, so it is 0.0.0.0
                // ("only the port"); NATT_REM is 0.0.0.0 in tunnel mode
                // and the peer's address in transport mode (used there to
                // fix inbound checksums). NAT-T is IPv4-only on illumos.
                let unspec = IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED);
                let (lport, rport) = (encap.local_port, encap.remote_port);
                let peer = if dir == SadbSaFlags::SADB_X_SAFLAGS_INBOUND {
                    src.ip()
                } else {
                    dst.ip()
                };
                spec.natt_loc = Some(AddressExt {
                    proto: 17,
                    prefixlen: 0,
                    addr: SockAddr::from_socket(SocketAddr::new(unspec, lport)),
                });
                spec.natt_rem = Some(AddressExt {
                    proto: 17,
                    prefixlen: 0,
                    addr: SockAddr::from_socket(SocketAddr::new(
                        if tunnel { unspec } else { peer },
                        rport,
                    )),
                });
                spec.flags = spec.flags.union(SadbSaFlags(
                    SadbSaFlags::SADB_X_SAFLAGS_NATT_LOC.0 | SadbSaFlags::SADB_X_SAFLAGS_NATT_REM.0,
                ));
            }
            spec.hard = lifetime(inst.lifetimes.hard);
            spec.soft = lifetime(inst.lifetimes.soft);
            spec.encr_key = Some(KeyExt::from_material(keys.encr_key.secret_bytes())?);
            if auth != SadbAalg::SADB_AALG_NONE {
                spec.auth_key = Some(KeyExt::from_material(keys.integ_key.secret_bytes())?);
            }
            spec.kmc = Some(kmc);
            let seq = match acquired {
                Some(a) if dir == SadbSaFlags::SADB_X_SAFLAGS_OUTBOUND => a,
                _ => self.next_seq(),
            };
            let bytes = build::add(spec, seq, self.pid)?;
            self.track(
                seq,
                SadbMsgType::SADB_ADD,
                format!(
                    "add {} SA {:08x} {} -> {}",
                    if dir == SadbSaFlags::SADB_X_SAFLAGS_INBOUND {
                        "inbound"
                    } else {
                        "outbound"
                    },
                    keys.spi,
                    src.ip(),
                    dst.ip()
                ),
            );
            self.pfkey.send(&bytes).await?;
            entry.sas.push(AddedSa {
                spi: keys.spi,
                src,
                dst,
            });
        }
        // Policies: one rule per direction for every selector pair, with
        // the negotiated protocol and single ports, so the SA carries no
        // more than was agreed (RFC 4301 §4.4.1; RFC 7296 §2.9).
        let alt = ActionAlt::esp(
            encrypt.0,
            inst.encr_key_bits.map(u32::from),
            (auth != SadbAalg::SADB_AALG_NONE).then_some(auth.0),
        );
        let tflag = if tunnel {
            pfkey::registry::spd_rule_flag::SPD_RULE_FLAG_TUNNEL
        } else {
            0
        };
        for sel in sels {
            for dir in [
                pfkey::registry::spd_rule_flag::SPD_RULE_FLAG_OUTBOUND,
                pfkey::registry::spd_rule_flag::SPD_RULE_FLAG_INBOUND,
            ] {
                let rule = PolicyRule {
                    priority: 0,
                    flags: dir | tflag,
                    tun_name: tun_name.clone(),
                    proto: sel.proto,
                    local_port: sel.local_port,
                    remote_port: sel.remote_port,
                    local: Some(sel.local),
                    remote: Some(sel.remote),
                    actions: vec![alt],
                    ..PolicyRule::default()
                };
                self.add_rule(&rule).await?;
                entry.rules.push(rule);
            }
        }
        Ok(())
    }

    /// Adds `rule` unless a rule with the same selectors is already ours
    /// (then only its user count grows).
    async fn add_rule(&mut self, rule: &PolicyRule) -> Result<(), KernelError> {
        let n = self.policies.entry(rule_key(rule)).or_insert(0);
        *n = n.saturating_add(1);
        if *n == 1 {
            let seq = self.next_seq();
            self.policy_pending
                .insert(seq, format!("add policy {}", rule_text(rule)));
            let m = SpdMsg::rule(
                SpdMsgType::SPD_ADDRULE,
                SpdId::SPD_ACTIVE,
                rule,
                seq,
                self.pid,
            )?;
            self.policy.send(&m.to_bytes()?).await?;
        }
        Ok(())
    }

    /// Installs a trap policy: both directions, no SA. The first outbound
    /// packet it matches raises an ACQUIRE, which the driver turns into an
    /// initiation. The rules hold a user count of their own, so they
    /// outlive every CHILD_SA negotiated under them (the trap re-arms when
    /// the CHILD_SA closes).
    pub(crate) async fn trap(&mut self, t: Trap) -> Result<(), KernelError> {
        let tun_name = if t.tunnel {
            self.tunnel_link(t.local, t.remote, t.local_net, t.remote_net)
        } else {
            None
        };
        // The trap holds its illumos link for as long as it is armed.
        let held = match (self.iptun.as_mut(), &tun_name) {
            (Some(i), Some(_)) => {
                i.hold(t.remote);
                true
            }
            _ => false,
        };
        for (added, rule) in t.rules(tun_name).into_iter().enumerate() {
            if let Err(e) = self.add_rule(&rule).await {
                if let (true, 0, Some(i)) = (held, added, self.iptun.as_mut()) {
                    i.release(t.remote);
                }
                return Err(e);
            }
            tracing::info!("trap policy {}", rule_text(&rule));
            self.trap_rules.push(rule);
        }
        Ok(())
    }

    /// Removes a trap policy [`trap`](Self::trap) installed (its
    /// connection or child was removed or changed by a reload). Rules a
    /// CHILD_SA still uses stay until it goes.
    pub(crate) async fn untrap(&mut self, t: &Trap) -> Result<(), KernelError> {
        let tun_name = match (&self.iptun, t.tunnel) {
            (_, false) => None,
            (Some(i), true) => i.name_of(t.remote).map(str::to_owned),
            (None, true) => self.tunnels.get(&t.remote).map(|l| l.name.clone()),
        };
        let mut rules = Vec::new();
        for r in t.rules(tun_name) {
            let key = rule_key(&r);
            if let Some(i) = self.trap_rules.iter().position(|x| rule_key(x) == key) {
                let rule = self.trap_rules.swap_remove(i);
                tracing::info!("removing trap policy {}", rule_text(&rule));
                rules.push(rule);
            }
        }
        if t.tunnel && !rules.is_empty() {
            if let Some(i) = self.iptun.as_mut() {
                i.release(t.remote);
            }
        }
        self.remove(Installed {
            sas: Vec::new(),
            rules,
            link: None,
        })
        .await
    }

    /// Lets the userland data plane follow our tunnel links.
    pub(crate) fn attach_dataplane(&mut self, sink: Box<dyn FnMut(Vec<Link>) + Send>) {
        self.links_sink = Some(sink);
    }

    /// Lets an engine process learn our tunnel links' outer addresses.
    pub(crate) fn attach_tunnels(&mut self, sink: Box<dyn FnMut(pfkey::engine::Tunnel) + Send>) {
        self.tunnel_sink = Some(sink);
    }

    /// The engine's data-plane handle (userland backend only).
    pub(crate) fn engine_data_plane(&self) -> Option<pfkey::engine::server::DataPlane> {
        self.server
            .as_ref()
            .map(pfkey::engine::server::Server::data_plane)
    }

    /// The tunnel link carrying `remote_net` to the peer at `remote`:
    /// tunnel-mode policies live on a link's policy head. On illumos that
    /// is an IP tunnel link ([`super::iptun`]), whose endpoints the kernel
    /// uses as the outer addresses of ACQUIREs and SA lookups; `local_net`
    /// (our selector block) picks the link's inner address. With the
    /// userland data plane the engine emulates such a link; those links
    /// are kept for the daemon's lifetime (their routes keep pointing
    /// traffic at the policy, which is what a trap wants).
    fn tunnel_link(
        &mut self,
        local: IpAddr,
        remote: IpAddr,
        local_net: (IpAddr, u8),
        remote_net: (IpAddr, u8),
    ) -> Option<String> {
        if let Some(t) = self.iptun.as_mut() {
            return Some(t.link(local, remote, local_net, remote_net));
        }
        let sink = self.links_sink.as_mut()?;
        if self.server.is_none() && self.tunnel_sink.is_none() {
            return None;
        }
        let (server, tunnel_sink) = (&self.server, &mut self.tunnel_sink);
        // The in-process engine is configured here; the data plane (in
        // this process or the engine's) hears of the link through the
        // tunnel sink, so it can keep the peer itself reachable.
        let mut configure = |t: pfkey::engine::Tunnel| {
            if let Some(server) = server {
                server.data_plane().configure_tunnel(t.clone());
            }
            if let Some(s) = tunnel_sink.as_mut() {
                s(t);
            }
        };
        let n = self.tunnels.len();
        let link = self.tunnels.entry(remote).or_insert_with(|| {
            let name = format!("ikegw.{n}");
            configure(pfkey::engine::Tunnel {
                name: name.clone(),
                local,
                remote,
            });
            TunnelLink {
                name,
                nets: Vec::new(),
            }
        });
        let name = link.name.clone();
        if !link.nets.contains(&remote_net) {
            link.nets.push(remote_net);
            sink(
                self.tunnels
                    .values()
                    .map(|l| Link {
                        name: l.name.clone(),
                        remote_nets: l.nets.clone(),
                    })
                    .collect(),
            );
        }
        Some(name)
    }

    /// The seq of a pending ACQUIRE for `remote` whose traffic the new
    /// CHILD_SA's selectors cover, consumed: with several children toward
    /// one peer, each install answers its own ACQUIRE.
    fn take_acquire(
        &mut self,
        remote: IpAddr,
        local_ts: &[TrafficSelector],
        remote_ts: &[TrafficSelector],
    ) -> Option<u32> {
        let now = Instant::now();
        self.acquires
            .retain(|a| now.saturating_duration_since(a.at) < ACQUIRE_MEMORY);
        let overlaps = |t: &TrafficSelector, v: &[TrafficSelector]| {
            v.iter().any(|x| ike::policy::ts::intersect(t, x).is_some())
        };
        let i = self.acquires.iter().position(|a| {
            a.remote == remote
                && a.ts
                    .as_ref()
                    .is_none_or(|(l, r)| overlaps(l, local_ts) && overlaps(r, remote_ts))
        })?;
        Some(self.acquires.swap_remove(i).seq)
    }

    /// Handles one PF_KEY message read from the backend: a reply to one of
    /// our requests (a refusal is logged with what it was for, the errno
    /// and the diagnostic, and reported to the core), or an event for the
    /// core (EXPIRE, ACQUIRE, someone else's DELETE).
    pub(crate) fn on_pfkey(&mut self, bytes: &[u8]) -> Option<KernelEvent> {
        let m = match SadbMsg::parse(bytes) {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!("undecodable PF_KEY message from the key engine: {e}");
                return None;
            }
        };
        let h = m.header;
        if h.pid == self.pid {
            if let Some(p) = self.pending.remove(&h.seq) {
                if h.errno != Errno::OK {
                    self.errors = self.errors.saturating_add(1);
                    let e = KernelError::Refused {
                        what: p.what,
                        msg_type: p.msg_type,
                        errno: h.errno,
                        diagnostic: h.diagnostic,
                    };
                    tracing::error!("key engine: {e}");
                    let core = p.core?;
                    self.core_waiting.remove(&core)?;
                    return Some(KernelEvent::Reply {
                        seq: core,
                        errno: i32::from(h.errno.0),
                    });
                }
                tracing::debug!(seq = h.seq, "{} done", p.what);
                let core = p.core?;
                let n = self.core_waiting.get_mut(&core)?;
                *n = n.saturating_sub(1);
                if *n == 0 {
                    self.core_waiting.remove(&core);
                    return Some(KernelEvent::Reply {
                        seq: core,
                        errno: 0,
                    });
                }
                return None;
            }
        }
        let spi = m.sa().map(|s| s.spi);
        match (h.msg_type, spi) {
            (SadbMsgType::SADB_EXPIRE, Some(spi)) => {
                let hard = m.lifetime(pfkey::wire::LifetimeKind::Hard).is_some();
                Some(KernelEvent::Expire { spi, hard })
            }
            // Someone else deleted an SA of ours.
            (SadbMsgType::SADB_DELETE, Some(spi)) if h.pid != self.pid && h.errno == Errno::OK => {
                self.installed
                    .values()
                    .any(|i| i.sas.iter().any(|s| s.spi == spi))
                    .then_some(KernelEvent::Deleted { spi })
            }
            (SadbMsgType::SADB_ACQUIRE, _) if h.errno == Errno::OK => {
                let ip = m.address(AddressKind::Dst).and_then(|a| a.addr.ip())?;
                // The traffic it is for: the inner addresses in tunnel mode
                // (the policy's or the packet's selectors), else the outer
                // ones with protocol and ports (RFC 2367 §3.1.6).
                let (local_ts, remote_ts) = match (
                    m.address(AddressKind::InnerSrc),
                    m.address(AddressKind::InnerDst),
                ) {
                    (Some(s), Some(d)) => (acquire_ts(s, true), acquire_ts(d, true)),
                    _ => (
                        m.address(AddressKind::Src)
                            .and_then(|a| acquire_ts(a, false)),
                        m.address(AddressKind::Dst)
                            .and_then(|a| acquire_ts(a, false)),
                    ),
                };
                tracing::info!(
                    "ACQUIRE {:#x} for {ip}: {} === {}",
                    h.seq,
                    local_ts
                        .as_ref()
                        .map_or_else(|| "?".into(), super::setup::ts_text),
                    remote_ts
                        .as_ref()
                        .map_or_else(|| "?".into(), super::setup::ts_text),
                );
                if !self.acquires.iter().any(|a| a.seq == h.seq) {
                    self.acquires.push(PendingAcquire {
                        seq: h.seq,
                        remote: ip,
                        at: Instant::now(),
                        ts: local_ts.clone().zip(remote_ts.clone()),
                    });
                }
                Some(KernelEvent::Acquire {
                    remote: SocketAddr::new(ip, 500),
                    local_ts,
                    remote_ts,
                })
            }
            _ => None,
        }
    }

    /// Handles one PF_POLICY reply; errors are surfaced.
    pub(crate) fn on_policy(&mut self, bytes: &[u8]) -> Result<(), KernelError> {
        let m = SpdMsg::parse(bytes)?;
        let what = self.policy_pending.remove(&m.header.seq);
        if m.header.errno == Errno::EEXIST && m.header.msg_type == SpdMsgType::SPD_ADDRULE {
            // The same rule is already there: left by a run that ended
            // without cleaning up (a crash, SIGKILL). Adopt it rather than
            // stack a duplicate; our user count covers it from now on and
            // shutdown removes it.
            tracing::info!(
                "{}: already in the SPD (left by a previous run); adopted",
                what.as_deref().unwrap_or("policy rule")
            );
            return Ok(());
        }
        if m.header.msg_type == SpdMsgType::SPD_DELETERULE
            && (m.header.errno == Errno::ENOENT || m.header.errno == Errno::ESRCH)
        {
            // Already gone: a tunnel's rules go with its link (illumos
            // `iptun_free`), which may have been deleted first.
            tracing::debug!("{}: already gone", what.as_deref().unwrap_or("policy rule"));
            return Ok(());
        }
        if m.header.errno != Errno::OK {
            self.errors = self.errors.saturating_add(1);
            return Err(KernelError::PolicyRefused {
                what: what.unwrap_or_else(|| "policy rule".into()),
                msg_type: m.header.msg_type,
                errno: m.header.errno,
                diagnostic: m.header.diagnostic,
            });
        }
        Ok(())
    }

    /// Removes every SA and policy we installed (shutdown).
    pub(crate) async fn remove_all(&mut self) -> Result<usize, KernelError> {
        let all = std::mem::take(&mut self.installed);
        let n = all.len();
        for (_, entry) in all {
            self.remove(entry).await?;
        }
        let traps = std::mem::take(&mut self.trap_rules);
        self.remove(Installed {
            sas: Vec::new(),
            rules: traps,
            link: None,
        })
        .await?;
        if let Some(i) = self.iptun.as_mut() {
            i.release_all();
            if !i.settle(LINK_SETTLE_TIMEOUT).await {
                tracing::error!(
                    "IP tunnel links still being removed after {LINK_SETTLE_TIMEOUT:?}"
                );
            }
        }
        Ok(n)
    }

    /// Number of CHILD_SAs installed through us.
    pub(crate) fn installed_count(&self) -> usize {
        self.installed.len()
    }

    /// Stops the userland engine thread.
    pub(crate) fn stop(mut self) {
        if let Some(s) = self.server.take() {
            s.stop();
        }
    }
}

/// What makes two policy rules the same rule: policy head (tunnel name),
/// direction flags and selectors (addresses, protocol, ports: a trap for
/// one port of a network is another rule than the CHILD_SA policy for all
/// of it).
type RuleKey = (
    Option<String>,
    u32,
    Option<(IpAddr, u8)>,
    Option<(IpAddr, u8)>,
    Option<u8>,
    Option<u16>,
    Option<u16>,
);

fn rule_key(r: &PolicyRule) -> RuleKey {
    (
        r.tun_name.clone(),
        r.flags,
        r.local,
        r.remote,
        r.proto,
        r.local_port,
        r.remote_port,
    )
}

/// One side of an ACQUIRE as a traffic selector: an inner address is a
/// prefix (length 0 is any address), an outer one a host; port 0 and
/// protocol 0 are any.
fn acquire_ts(a: &AddressExt, inner: bool) -> Option<TrafficSelector> {
    let ip = a.addr.ip()?;
    let port = a.addr.port();
    let (start_port, end_port) = if port == 0 {
        (0, u16::MAX)
    } else {
        (port, port)
    };
    // Only used for the outer addresses in transport mode, where the
    // protocol is the traffic's (in tunnel mode it names IP-in-IP).
    let ip_protocol = a.proto;
    let bits = |max: u8| if inner { a.prefixlen.min(max) } else { max };
    Some(match ip {
        IpAddr::V4(v4) => {
            let b = u32::from(bits(32));
            let mask = u32::MAX.checked_shl(32u32.saturating_sub(b)).unwrap_or(0);
            let start = u32::from(v4) & mask;
            TrafficSelector::Ipv4 {
                ip_protocol,
                start_port,
                end_port,
                start: start.into(),
                end: (start | !mask).into(),
            }
        }
        IpAddr::V6(v6) => {
            let b = u32::from(bits(128));
            let mask = u128::MAX.checked_shl(128u32.saturating_sub(b)).unwrap_or(0);
            let start = u128::from(v6) & mask;
            TrafficSelector::Ipv6 {
                ip_protocol,
                start_port,
                end_port,
                start: start.into(),
                end: (start | !mask).into(),
            }
        }
    })
}

fn rule_text(r: &PolicyRule) -> String {
    let net = |n: Option<(IpAddr, u8)>| n.map_or_else(|| "any".into(), |(a, p)| format!("{a}/{p}"));
    let dir = if r.flags & pfkey::registry::spd_rule_flag::SPD_RULE_FLAG_OUTBOUND != 0 {
        "outbound"
    } else {
        "inbound"
    };
    let mut sel = String::new();
    if let Some(p) = r.proto {
        sel.push_str(&format!(" proto {p}"));
    }
    if let Some(p) = r.local_port {
        sel.push_str(&format!(" local port {p}"));
    }
    if let Some(p) = r.remote_port {
        sel.push_str(&format!(" remote port {p}"));
    }
    format!("{dir} {} -> {}{sel}", net(r.local), net(r.remote))
}

/// PF_POLICY action alternatives for ESP proposals: every (encryption,
/// integrity) pair PF_KEY can name, in the proposals' order of preference.
pub(crate) fn esp_actions(proposals: &[ike::policy::proposal::ProposalSpec]) -> Vec<ActionAlt> {
    let mut out = Vec::new();
    for p in proposals {
        for e in &p.encr {
            let Ok(encr) = ealg(EncrId(e.id)) else {
                continue;
            };
            let bits = e.key_bits.map(u32::from);
            let integs: Vec<Option<u8>> = if p.integ.is_empty() {
                vec![None]
            } else {
                p.integ
                    .iter()
                    .filter_map(|i| aalg(IntegId(i.id)).ok())
                    .map(|a| (a != SadbAalg::SADB_AALG_NONE).then_some(a.0))
                    .collect()
            };
            for auth in integs {
                let alt = ActionAlt::esp(encr.0, bits, auth);
                if !out.contains(&alt) {
                    out.push(alt);
                }
            }
        }
    }
    out
}

/// PF_KEY encryption number for an IKEv2 ENCR id (pfkeyv2.h: the ids
/// coincide with the IKEv2 registry for the ciphers illumos has).
fn ealg(e: EncrId) -> Result<SadbEalg, KernelError> {
    match e {
        EncrId::AES_CBC
        | EncrId::AES_CCM_8
        | EncrId::AES_CCM_12
        | EncrId::AES_CCM_16
        | EncrId::AES_GCM_8
        | EncrId::AES_GCM_12
        | EncrId::AES_GCM_16
        | EncrId::NULL
        | EncrId::ENCR_3DES => u8::try_from(e.0)
            .map(SadbEalg)
            .map_err(|_| KernelError::Algorithm(e.to_string())),
        _ => Err(KernelError::Algorithm(e.to_string())),
    }
}

/// PF_KEY authentication number for an IKEv2 INTEG id (these differ:
/// PF_KEY uses the IPsec DOI numbers).
fn aalg(i: IntegId) -> Result<SadbAalg, KernelError> {
    Ok(match i {
        IntegId::AUTH_NONE => SadbAalg::SADB_AALG_NONE,
        IntegId::AUTH_HMAC_SHA1_96 => SadbAalg::SADB_AALG_SHA1HMAC,
        IntegId::AUTH_HMAC_SHA2_256_128 => SadbAalg::SADB_AALG_SHA256HMAC,
        IntegId::AUTH_HMAC_SHA2_384_192 => SadbAalg::SADB_AALG_SHA384HMAC,
        IntegId::AUTH_HMAC_SHA2_512_256 => SadbAalg::SADB_AALG_SHA512HMAC,
        other => return Err(KernelError::Algorithm(other.to_string())),
    })
}

/// The first selector as (address, prefix), when its address range is a
/// CIDR block (what PF_KEY inner addresses and PF_POLICY rules can say).
pub(crate) fn ts_prefix(ts: &[TrafficSelector]) -> Option<(IpAddr, u8)> {
    ts.iter().find_map(|t| match t {
        TrafficSelector::Ipv4 { start, end, .. } => cidr(
            u128::from(u32::from(*start)),
            u128::from(u32::from(*end)),
            32,
        )
        .map(|p| (IpAddr::V4(*start), p)),
        TrafficSelector::Ipv6 { start, end, .. } => {
            cidr(u128::from(*start), u128::from(*end), 128).map(|p| (IpAddr::V6(*start), p))
        }
        TrafficSelector::Other { .. } => None,
    })
}

/// The prefix length of the block `start..=end` in a `bits`-wide address
/// space, when the range is exactly one CIDR block.
fn cidr(start: u128, end: u128, bits: u8) -> Option<u8> {
    let span = end.checked_sub(start)?;
    let host_bits = match span.checked_add(1) {
        // span + 1 must be a power of two and start aligned to it.
        Some(s) if s.is_power_of_two() => u8::try_from(s.trailing_zeros()).ok()?,
        // The whole 128-bit space (::/0): its size does not fit a u128.
        None if start == 0 => 128,
        _ => return None,
    };
    let prefix = bits.checked_sub(host_bits)?;
    (start & host_mask(host_bits) == 0).then_some(prefix)
}

/// The host part of a block with `host_bits` host bits (all ones for
/// 128: `1 << 128` does not exist).
fn host_mask(host_bits: u8) -> u128 {
    1u128
        .checked_shl(u32::from(host_bits))
        .map_or(u128::MAX, |b| b.wrapping_sub(1))
}

/// The fewest CIDR blocks that together are exactly `start..=end` in a
/// `bits`-wide space (a range selector such as `10.0.0.1-10.0.0.6` is
/// 10.0.0.1/32, .2/31, .4/31, .6/32), in address order: PF_POLICY rules
/// and PF_KEY inner addresses only hold prefixes, and a covering prefix
/// would protect traffic that was not negotiated. At most 2·bits blocks.
fn cidr_blocks(start: u128, end: u128, bits: u8) -> Vec<(u128, u8)> {
    let mut out = Vec::new();
    if start > end || bits > 128 {
        return out;
    }
    let mut cur = start;
    loop {
        // The largest block aligned at `cur` that ends at or before `end`.
        let align = u8::try_from(cur.trailing_zeros()).unwrap_or(128).min(bits);
        let mut host = align;
        while host > 0
            && cur
                .checked_add(host_mask(host))
                .is_none_or(|last| last > end)
        {
            host -= 1;
        }
        let last = cur | host_mask(host);
        out.push((cur, bits.saturating_sub(host)));
        match last.checked_add(1) {
            Some(next) if last < end => cur = next,
            _ => break,
        }
    }
    out
}

/// One selector pair as a PF_POLICY rule can hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct PolicySel {
    local: (IpAddr, u8),
    remote: (IpAddr, u8),
    proto: Option<u8>,
    local_port: Option<u16>,
    remote_port: Option<u16>,
}

/// Most PF_POLICY rule pairs one CHILD_SA may install: a range that
/// splits badly (an IPv6 range can need 254 blocks) would otherwise
/// multiply into tens of thousands of rules.
const MAX_POLICY_PAIRS: usize = 64;

/// Why a CHILD_SA's selectors cannot be installed.
fn selector_error(
    local: &[TrafficSelector],
    remote: &[TrafficSelector],
    reason: String,
) -> KernelError {
    let text = |v: &[TrafficSelector]| {
        v.iter()
            .map(super::setup::ts_text)
            .collect::<Vec<_>>()
            .join(",")
    };
    KernelError::Selectors {
        local: text(local),
        remote: text(remote),
        reason,
    }
}

/// A selector's address blocks, protocol and single port.
type SelParts = (Vec<(IpAddr, u8)>, Option<u8>, Option<u16>);

fn sel_parts(t: &TrafficSelector) -> Result<SelParts, String> {
    let (blocks, proto, sp, ep) = match t {
        TrafficSelector::Ipv4 {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        } => (
            cidr_blocks(
                u128::from(u32::from(*start)),
                u128::from(u32::from(*end)),
                32,
            )
            .into_iter()
            .filter_map(|(a, p)| {
                let a = u32::try_from(a).ok()?;
                Some((IpAddr::V4(a.into()), p))
            })
            .collect::<Vec<_>>(),
            *ip_protocol,
            *start_port,
            *end_port,
        ),
        TrafficSelector::Ipv6 {
            ip_protocol,
            start_port,
            end_port,
            start,
            end,
        } => (
            cidr_blocks(u128::from(*start), u128::from(*end), 128)
                .into_iter()
                .map(|(a, p)| (IpAddr::V6(a.into()), p))
                .collect(),
            *ip_protocol,
            *start_port,
            *end_port,
        ),
        TrafficSelector::Other { ts_type, .. } => {
            return Err(format!("selector type {ts_type:?} has no PF_POLICY form"));
        }
    };
    if blocks.is_empty() {
        return Err(format!(
            "selector {} has an empty address range",
            super::setup::ts_text(t)
        ));
    }
    // RFC 7296 §3.13.1: 0..65535 is any port; PF_POLICY selects either
    // any port or exactly one (as for trap policies).
    let port = match (sp, ep) {
        (0, u16::MAX) => None,
        (a, b) if a == b => Some(a),
        _ => {
            return Err(format!(
                "selector {} has a port range, which a PF_POLICY rule cannot select",
                super::setup::ts_text(t)
            ))
        }
    };
    Ok((blocks, (proto != 0).then_some(proto), port))
}

/// The PF_POLICY selectors for a CHILD_SA: one per (local, remote)
/// selector pair of one address family and compatible protocols (as
/// strongSwan installs one policy per TS pair), each range split into
/// exact blocks. Pairs whose protocols differ describe no traffic and are
/// left out. Fails when a selector has no PF_POLICY form (port range,
/// unknown type), when no pair remains, or past [`MAX_POLICY_PAIRS`].
fn policy_selectors(
    local: &[TrafficSelector],
    remote: &[TrafficSelector],
) -> Result<Vec<PolicySel>, KernelError> {
    let err = |reason: String| selector_error(local, remote, reason);
    let parts = |v: &[TrafficSelector]| v.iter().map(sel_parts).collect::<Result<Vec<_>, _>>();
    let l = parts(local).map_err(err)?;
    let r = parts(remote).map_err(err)?;
    let mut out: Vec<PolicySel> = Vec::new();
    for (lb, lproto, lport) in &l {
        for (rb, rproto, rport) in &r {
            let proto = match (lproto, rproto) {
                (Some(a), Some(b)) if a != b => continue,
                (a, b) => a.or(*b),
            };
            for &ln in lb {
                for &rn in rb.iter().filter(|rn| rn.0.is_ipv4() == ln.0.is_ipv4()) {
                    let sel = PolicySel {
                        local: ln,
                        remote: rn,
                        proto,
                        local_port: *lport,
                        remote_port: *rport,
                    };
                    if !out.contains(&sel) {
                        if out.len() >= MAX_POLICY_PAIRS {
                            return Err(err(format!(
                                "more than {MAX_POLICY_PAIRS} address block pairs; narrow the selectors to prefixes"
                            )));
                        }
                        out.push(sel);
                    }
                }
            }
        }
    }
    if out.is_empty() {
        return Err(err(
            "no local and remote selector share an address family and protocol".into(),
        ));
    }
    Ok(out)
}

/// The smallest prefix holding every block of `nets` that has the family
/// of the first one.
fn covering(nets: impl IntoIterator<Item = (IpAddr, u8)>) -> Option<(IpAddr, u8)> {
    let mut it = nets.into_iter();
    let (first, first_len) = it.next()?;
    let v4 = first.is_ipv4();
    let bits: u8 = if v4 { 32 } else { 128 };
    let num = |a: IpAddr| match a {
        IpAddr::V4(a) => u128::from(u32::from(a)),
        IpAddr::V6(a) => u128::from(a),
    };
    let last = |a: IpAddr, p: u8| num(a) | host_mask(bits.saturating_sub(p));
    let (mut lo, mut hi) = (num(first), last(first, first_len));
    for (a, p) in it.filter(|(a, _)| a.is_ipv4() == v4) {
        lo = lo.min(num(a));
        hi = hi.max(last(a, p));
    }
    // Common leading bits of the lowest and highest address, counted
    // within the family's width.
    let diff = lo ^ hi;
    let common = u8::try_from(diff.leading_zeros())
        .unwrap_or(128)
        .saturating_sub(128 - bits);
    let start = lo & !host_mask(bits.saturating_sub(common));
    let ip = if v4 {
        IpAddr::V4(u32::try_from(start).ok()?.into())
    } else {
        IpAddr::V6(start.into())
    };
    Some((ip, common))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    fn v4(a: [u8; 4], b: [u8; 4]) -> TrafficSelector {
        TrafficSelector::Ipv4 {
            ip_protocol: 0,
            start_port: 0,
            end_port: 65535,
            start: Ipv4Addr::from(a),
            end: Ipv4Addr::from(b),
        }
    }

    #[test]
    fn cidr_ranges_become_prefixes_and_others_do_not() {
        assert_eq!(
            ts_prefix(&[v4([10, 1, 0, 0], [10, 1, 255, 255])]),
            Some(("10.1.0.0".parse().unwrap(), 16))
        );
        assert_eq!(
            ts_prefix(&[v4([10, 1, 0, 5], [10, 1, 0, 5])]),
            Some(("10.1.0.5".parse().unwrap(), 32))
        );
        assert_eq!(
            ts_prefix(&[v4([0, 0, 0, 0], [255, 255, 255, 255])]),
            Some(("0.0.0.0".parse().unwrap(), 0))
        );
        assert_eq!(ts_prefix(&[v4([10, 0, 0, 1], [10, 0, 0, 6])]), None);
        assert_eq!(ts_prefix(&[v4([10, 0, 0, 1], [10, 0, 0, 2])]), None);
    }

    fn ts(s: &str) -> TrafficSelector {
        ike::policy::ts::parse_ts(s).unwrap()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn cidr_handles_the_whole_space_and_single_hosts_of_both_families() {
        // ::/0 used to overflow `1 << 128` (remote_ts = ["::/0"]).
        assert_eq!(cidr(0, u128::MAX, 128), Some(0));
        assert_eq!(cidr(0, u128::from(u32::MAX), 32), Some(0));
        let h6 = u128::from("2001:db8::7".parse::<std::net::Ipv6Addr>().unwrap());
        assert_eq!(cidr(h6, h6, 128), Some(128));
        let h4 = u128::from(u32::from(Ipv4Addr::new(10, 0, 0, 7)));
        assert_eq!(cidr(h4, h4, 32), Some(32));
        // A range wider than the family, or not aligned, is no block.
        assert_eq!(cidr(0, u128::MAX, 32), None);
        assert_eq!(cidr(1, u128::MAX, 128), None);
        assert_eq!(cidr(h4, h4 + 1, 32), None);
        assert_eq!(ts_prefix(&[ts("::/0")]), Some((ip("::"), 0)));
        assert_eq!(ts_prefix(&[ts("0.0.0.0/0")]), Some((ip("0.0.0.0"), 0)));
        assert_eq!(
            ts_prefix(&[ts("2001:db8::1/128")]),
            Some((ip("2001:db8::1"), 128))
        );
        assert_eq!(
            ts_prefix(&[ts("192.0.2.9/32")]),
            Some((ip("192.0.2.9"), 32))
        );
    }

    #[test]
    fn ranges_split_into_the_exact_blocks_that_make_them_up() {
        let a = |o: u8| u128::from(u32::from(Ipv4Addr::new(10, 0, 0, o)));
        assert_eq!(
            cidr_blocks(a(1), a(6), 32),
            vec![(a(1), 32), (a(2), 31), (a(4), 31), (a(6), 32)]
        );
        assert_eq!(cidr_blocks(a(0), a(255), 32), vec![(a(0), 24)]);
        assert_eq!(cidr_blocks(0, u128::MAX, 128), vec![(0, 0)]);
        assert_eq!(cidr_blocks(1, u128::MAX, 128).len(), 128);
        assert_eq!(cidr_blocks(0, u128::from(u32::MAX), 32), vec![(0, 0)]);
        assert!(cidr_blocks(a(6), a(1), 32).is_empty());
        // 1..=MAX-1 is the worst case: 2·(bits-1) blocks, no overflow.
        assert_eq!(cidr_blocks(1, u128::MAX - 1, 128).len(), 254);
    }

    #[test]
    fn every_same_family_selector_pair_becomes_a_policy_with_its_protocol_and_port() {
        let local = [ts("10.1.0.0/16"), ts("fd00:1::/64")];
        let remote = [ts("10.3.0.2/32[tcp/443]"), ts("fd00:3::2/128[tcp/443]")];
        let sels = policy_selectors(&local, &remote).unwrap();
        assert_eq!(
            sels,
            vec![
                PolicySel {
                    local: (ip("10.1.0.0"), 16),
                    remote: (ip("10.3.0.2"), 32),
                    proto: Some(6),
                    local_port: None,
                    remote_port: Some(443),
                },
                PolicySel {
                    local: (ip("fd00:1::"), 64),
                    remote: (ip("fd00:3::2"), 128),
                    proto: Some(6),
                    local_port: None,
                    remote_port: Some(443),
                },
            ]
        );
        // Pairs naming two different protocols carry no traffic.
        let sels = policy_selectors(
            &[ts("10.1.0.0/16[udp]"), ts("10.1.0.0/16[tcp]")],
            &[ts("10.3.0.0/16[tcp]")],
        )
        .unwrap();
        assert_eq!(sels.len(), 1);
        assert_eq!(sels[0].proto, Some(6));
        // A range splits into blocks, each paired.
        let sels = policy_selectors(&[ts("10.0.0.1-10.0.0.6")], &[ts("0.0.0.0/0")]).unwrap();
        let locals: Vec<_> = sels.iter().map(|p| p.local).collect();
        assert_eq!(
            locals,
            [
                (ip("10.0.0.1"), 32),
                (ip("10.0.0.2"), 31),
                (ip("10.0.0.4"), 31),
                (ip("10.0.0.6"), 32)
            ]
        );
        assert_eq!(
            policy_selectors(&[ts("::/0")], &[ts("::/0")]).unwrap()[0].remote,
            (ip("::"), 0)
        );
    }

    #[test]
    fn selectors_without_a_pf_policy_form_are_refused_by_name() {
        let e = policy_selectors(&[ts("10.1.0.0/16[tcp/1000-2000]")], &[ts("10.2.0.0/16")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("port range") && e.contains("10.1.0.0/16"), "{e}");
        let e = policy_selectors(&[ts("10.1.0.0/16")], &[ts("fd00::/8")])
            .unwrap_err()
            .to_string();
        assert!(e.contains("address family"), "{e}");
        // Two /1-less v6 ranges that each split into ~250 blocks.
        let wide = ts("::1-ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe");
        let e = policy_selectors(std::slice::from_ref(&wide), std::slice::from_ref(&wide))
            .unwrap_err()
            .to_string();
        assert!(e.contains("more than 64"), "{e}");
    }

    #[test]
    fn the_sa_inner_prefix_covers_the_first_familys_blocks() {
        assert_eq!(
            covering([
                (ip("10.0.0.1"), 32),
                (ip("10.0.0.2"), 31),
                (ip("10.0.0.6"), 32)
            ]),
            Some((ip("10.0.0.0"), 29))
        );
        assert_eq!(
            covering([
                (ip("10.1.0.0"), 16),
                (ip("fd00::"), 8),
                (ip("10.3.0.0"), 16)
            ]),
            Some((ip("10.0.0.0"), 14))
        );
        assert_eq!(covering([(ip("::"), 0)]), Some((ip("::"), 0)));
        assert_eq!(covering([(ip("0.0.0.0"), 0)]), Some((ip("0.0.0.0"), 0)));
        assert_eq!(
            covering([(ip("2001:db8::1"), 128)]),
            Some((ip("2001:db8::1"), 128))
        );
        assert_eq!(covering([]), None);
    }

    #[test]
    fn algorithms_map_to_pfkey_numbers() {
        assert_eq!(
            ealg(EncrId::AES_GCM_16).unwrap(),
            SadbEalg::SADB_EALG_AES_GCM_16
        );
        assert_eq!(ealg(EncrId::AES_CBC).unwrap(), SadbEalg::SADB_EALG_AES);
        assert!(ealg(EncrId::CHACHA20_POLY1305).is_err());
        assert_eq!(
            aalg(IntegId::AUTH_HMAC_SHA2_256_128).unwrap(),
            SadbAalg::SADB_AALG_SHA256HMAC
        );
        assert!(aalg(IntegId::AUTH_AES_XCBC_96).is_err());
    }

    #[test]
    fn illumos_backend_fails_with_a_clear_error_elsewhere() {
        if cfg!(target_os = "illumos") {
            return;
        }
        let rt = runtime();
        rt.block_on(async {
            let e = Kernel::open(BackendKind::Illumos, vec![]).err().unwrap();
            let text = format!("{e}: {}", std::error::Error::source(&e).unwrap());
            assert!(text.contains("only on illumos"), "{text}");
        });
    }

    #[test]
    fn userland_backend_registers_and_flushes_on_start() {
        let rt = runtime();
        rt.block_on(async {
            let mut k =
                Kernel::open(BackendKind::Userland, vec!["127.0.0.1".parse().unwrap()]).unwrap();
            let deleted = k.start().await.unwrap();
            assert!(deleted.is_empty());
            k.stop();
        });
    }

    fn install(seq: u32, spi_in: u32, spi_out: u32, encap: bool, encr: EncrId) -> KernelRequest {
        use ike::crypto::SecretBytes;
        use ike::io::{ChildSaInstall, EspKeys, IkeSaId, Lifetimes, UdpEncap};
        KernelRequest::Install(Box::new(ChildSaInstall {
            seq,
            ike_sa: IkeSaId(0x1122_3344_5566_7788),
            child: 0,
            local: "192.0.2.1:4500".parse().unwrap(),
            remote: "198.51.100.2:4500".parse().unwrap(),
            inbound: EspKeys {
                spi: spi_in,
                encr_key: SecretBytes::new(vec![1; 36]),
                integ_key: SecretBytes::new(Vec::new()),
            },
            outbound: EspKeys {
                spi: spi_out,
                encr_key: SecretBytes::new(vec![2; 36]),
                integ_key: SecretBytes::new(Vec::new()),
            },
            encr,
            encr_key_bits: Some(256),
            integ: IntegId::AUTH_NONE,
            esn: false,
            mode: Mode::Tunnel,
            local_ts: vec![v4([10, 1, 0, 0], [10, 1, 255, 255])],
            remote_ts: vec![v4([10, 2, 0, 0], [10, 2, 255, 255])],
            lifetimes: Lifetimes {
                soft: Some(Duration::from_secs(3000)),
                hard: Some(Duration::from_secs(3600)),
            },
            encap: encap.then_some(UdpEncap {
                local_port: 4500,
                remote_port: 4501,
            }),
        }))
    }

    /// A ping from 10.1.0.5 (our LAN) to 10.2.0.7 (the peer's).
    fn lan_ping() -> pfkey::engine::Selector {
        pfkey::engine::Selector {
            local: "10.1.0.5".parse().unwrap(),
            remote: "10.2.0.7".parse().unwrap(),
            proto: 1,
            local_port: 0,
            remote_port: 0,
        }
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    /// A userland kernel at 192.0.2.1, started (registered, flushed).
    async fn started_userland() -> Kernel {
        let mut k =
            Kernel::open(BackendKind::Userland, vec!["192.0.2.1".parse().unwrap()]).unwrap();
        k.start().await.unwrap();
        k
    }

    /// A started userland kernel at 192.0.2.1 whose data plane's tunnel
    /// links are recorded, and the engine's data plane.
    async fn userland_with_links() -> (
        Kernel,
        std::sync::Arc<std::sync::Mutex<Vec<Link>>>,
        pfkey::engine::server::DataPlane,
    ) {
        let mut k = started_userland().await;
        let links = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let l2 = links.clone();
        k.attach_dataplane(Box::new(move |l| *l2.lock().unwrap() = l));
        let dp = k.engine_data_plane().unwrap();
        (k, links, dp)
    }

    /// Reads `n` PF_POLICY replies, each of which must be a success.
    async fn policy_replies(k: &mut Kernel, n: usize) {
        let mut buf = vec![0u8; MAX_MSG_LEN];
        for _ in 0..n {
            let n = k.policy.recv(&mut buf).await.unwrap();
            k.on_policy(&buf[..n]).unwrap();
        }
    }

    /// Feeds engine messages to the kernel until a core reply appears.
    async fn reply_for(k: &mut Kernel) -> KernelEvent {
        let mut buf = vec![0u8; MAX_MSG_LEN];
        loop {
            let n = tokio::time::timeout(Duration::from_secs(5), k.pfkey.recv(&mut buf))
                .await
                .expect("engine answers")
                .unwrap();
            if let Some(ev) = k.on_pfkey(&buf[..n]) {
                return ev;
            }
        }
    }

    #[test]
    fn install_and_delete_reach_the_userland_engine_and_report_back_by_core_seq() {
        let rt = runtime();
        rt.block_on(async {
            let mut k = started_userland().await;
            for (seq, encap, spi) in [(7, false, 0x1000_0001), (8, true, 0x1000_0011)] {
                assert!(k
                    .submit(install(seq, spi, spi + 1, encap, EncrId::AES_GCM_16))
                    .await
                    .is_none());
                assert_eq!(
                    reply_for(&mut k).await,
                    KernelEvent::Reply { seq, errno: 0 }
                );
            }
            assert_eq!(k.installed_count(), 2);
            assert_eq!(k.errors, 0);
            // The same SPIs again: the engine refuses (EEXIST) and the
            // core hears the errno under its own seq.
            assert!(k
                .submit(install(
                    9,
                    0x1000_0001,
                    0x1000_0002,
                    false,
                    EncrId::AES_GCM_16
                ))
                .await
                .is_none());
            assert_eq!(
                reply_for(&mut k).await,
                KernelEvent::Reply {
                    seq: 9,
                    errno: libc::EEXIST
                }
            );
            assert_eq!(k.errors, 1);
            // An algorithm PF_KEY cannot name is refused before sending.
            assert_eq!(
                k.submit(install(
                    10,
                    0x2000_0001,
                    0x2000_0002,
                    false,
                    EncrId::CHACHA20_POLY1305
                ))
                .await,
                Some(KernelEvent::Reply {
                    seq: 10,
                    errno: libc::EINVAL
                })
            );
            let del = KernelRequest::Delete {
                seq: 11,
                ike_sa: ike::io::IkeSaId(1),
                inbound_spi: 0x1000_0011,
                outbound_spi: 0x1000_0012,
                local: "192.0.2.1:4500".parse().unwrap(),
                remote: "198.51.100.2:4500".parse().unwrap(),
            };
            assert!(k.submit(del).await.is_none());
            assert_eq!(
                reply_for(&mut k).await,
                KernelEvent::Reply { seq: 11, errno: 0 }
            );
            assert_eq!(k.remove_all().await.unwrap(), 1);
            k.stop();
        });
    }

    #[test]
    fn a_trap_raises_an_acquire_that_the_install_completes_with_its_seq() {
        use pfkey::engine::{AcquireEvent, Outbound};
        let rt = runtime();
        rt.block_on(async {
            let (mut k, links, dp) = userland_with_links().await;
            let esp = ike::policy::proposal::ProposalSpec::parse(
                ike::wire::ProtocolId::ESP,
                "aes256gcm16",
            )
            .unwrap();
            let actions = esp_actions(&[esp]);
            assert_eq!(actions.len(), 1);
            let net = |s: &str| (s.parse::<IpAddr>().unwrap(), 16);
            k.trap(Trap {
                local: "192.0.2.1".parse().unwrap(),
                remote: "198.51.100.2".parse().unwrap(),
                local_net: net("10.1.0.0"),
                remote_net: net("10.2.0.0"),
                proto: None,
                local_port: None,
                remote_port: None,
                tunnel: true,
                actions,
            })
            .await
            .unwrap();
            assert_eq!(
                *links.lock().unwrap(),
                vec![Link {
                    name: "ikegw.0".into(),
                    remote_nets: vec![net("10.2.0.0")]
                }]
            );
            policy_replies(&mut k, 2).await;
            // The first packet: no SA yet, so the engine raises an ACQUIRE
            // and the glue hands it to the driver.
            let sel = lan_ping();
            let Some(Outbound::Acquire { seq }) = dp.outbound(Some("ikegw.0"), sel) else {
                panic!("no ACQUIRE");
            };
            assert_eq!(
                reply_for(&mut k).await,
                KernelEvent::Acquire {
                    remote: "198.51.100.2:500".parse().unwrap(),
                    local_ts: Some(ike::policy::ts::parse_ts("10.1.0.0/16").unwrap()),
                    remote_ts: Some(ike::policy::ts::parse_ts("10.2.0.0/16").unwrap()),
                }
            );
            // The negotiated SA's outbound ADD carries the ACQUIRE's seq, so
            // the engine releases the queued packets.
            assert!(k
                .submit(install(
                    7,
                    0x5000_0001,
                    0x5000_0002,
                    true,
                    EncrId::AES_GCM_16
                ))
                .await
                .is_none());
            assert_eq!(
                reply_for(&mut k).await,
                KernelEvent::Reply { seq: 7, errno: 0 }
            );
            assert!(dp.acquire_events().contains(&AcquireEvent::Completed {
                seq,
                spi: 0x5000_0002
            }));
            assert!(matches!(
                dp.outbound(Some("ikegw.0"), sel),
                Some(Outbound::Protect(_))
            ));
            assert_eq!(k.errors, 0);
            assert_eq!(k.remove_all().await.unwrap(), 1);
            k.stop();
        });
    }

    /// The illumos backend's link handling, over the userland engine
    /// (which takes the same PF_KEY/PF_POLICY bytes) and a recording
    /// runner in place of dladm, ipadm and route.
    #[test]
    fn illumos_tunnel_children_and_traps_share_a_link_that_goes_with_the_last_of_them() {
        use pfkey::engine::Outbound;
        let rt = runtime();
        rt.block_on(async {
            let server = pfkey::engine::server::Server::start(pfkey::engine::EngineConfig {
                local_addrs: vec!["192.0.2.1".parse().unwrap()],
                ..Default::default()
            });
            let mut k = Kernel::with_sockets(
                BackendKind::Illumos,
                server.connect().unwrap(),
                server.connect_policy().unwrap(),
                None,
            )
            .unwrap();
            let runner = super::super::iptun::Shared::default();
            runner.0.lock().unwrap().ok(
                "/usr/sbin/dladm show-iptun -p -o link",
                "ikegw4\nip.tun0\n",
            );
            runner.0.lock().unwrap().ok(
                "/usr/sbin/ipadm show-addr -p -o addr",
                "127.0.0.1/8\n192.0.2.1/24\n10.1.0.1/16\n",
            );
            k.use_iptun(super::super::iptun::Iptun::start(Box::new(runner.clone())));
            let log = || std::mem::take(&mut runner.0.lock().unwrap().log);
            k.start().await.unwrap();
            assert_eq!(
                log(),
                [
                    "/usr/sbin/dladm show-iptun -p -o link",
                    "/usr/sbin/ipadm delete-ip ikegw4",
                    "/usr/sbin/dladm delete-iptun -t ikegw4",
                ]
            );
            let dp = server.data_plane();
            // A trap toward the branch, then the CHILD_SA it leads to.
            let esp = ike::policy::proposal::ProposalSpec::parse(
                ike::wire::ProtocolId::ESP,
                "aes256gcm16",
            )
            .unwrap();
            let trap = Trap {
                local: "192.0.2.1".parse().unwrap(),
                remote: "198.51.100.2".parse().unwrap(),
                local_net: ("10.1.0.0".parse().unwrap(), 16),
                remote_net: ("10.2.0.0".parse().unwrap(), 16),
                proto: None,
                local_port: None,
                remote_port: None,
                tunnel: true,
                actions: esp_actions(&[esp]),
            };
            k.trap(trap.clone()).await.unwrap();
            assert!(k.submit(install(1, 0x7000_0001, 0x7000_0002, true, EncrId::AES_GCM_16)).await.is_none());
            assert_eq!(reply_for(&mut k).await, KernelEvent::Reply { seq: 1, errno: 0 });
            // Trap and CHILD_SA select the same traffic: two rules in all,
            // both on the link's policy head.
            policy_replies(&mut k, 2).await;
            let sel = lan_ping();
            assert!(!matches!(dp.outbound(Some("ikegw0"), sel), Some(Outbound::NoPolicy) | None));
            assert!(matches!(dp.outbound(None, sel), Some(Outbound::NoPolicy) | None));
            assert!(k.iptun.as_ref().unwrap().settle(Duration::from_secs(5)).await);
            assert_eq!(
                log(),
                [
                    "/usr/sbin/dladm create-iptun -t -T ipv4 -a local=192.0.2.1,remote=198.51.100.2 ikegw0",
                    "/usr/sbin/ipadm create-ip -t ikegw0",
                    "/usr/sbin/ipadm show-addr -p -o addr",
                    "/usr/sbin/ipadm create-addr -t -T static -a local=10.1.0.1,remote=10.2.0.1 ikegw0/v4",
                    "/usr/sbin/route -n add -net 10.2.0.0/16 10.2.0.1 -ifp ikegw0",
                ]
            );
            // The CHILD_SA goes; the armed trap keeps the link.
            let del = KernelRequest::Delete {
                seq: 2,
                ike_sa: ike::io::IkeSaId(1),
                inbound_spi: 0x7000_0001,
                outbound_spi: 0x7000_0002,
                local: "192.0.2.1:4500".parse().unwrap(),
                remote: "198.51.100.2:4500".parse().unwrap(),
            };
            assert!(k.submit(del).await.is_none());
            assert_eq!(reply_for(&mut k).await, KernelEvent::Reply { seq: 2, errno: 0 });
            assert!(k.iptun.as_ref().unwrap().settle(Duration::from_secs(5)).await);
            assert_eq!(log(), Vec::<String>::new());
            // The trap goes: its rules first, then the link.
            k.untrap(&trap).await.unwrap();
            policy_replies(&mut k, 2).await;
            assert!(matches!(dp.outbound(Some("ikegw0"), sel), Some(Outbound::NoPolicy) | None));
            assert!(k.iptun.as_ref().unwrap().settle(Duration::from_secs(5)).await);
            assert_eq!(
                log(),
                [
                    "/usr/sbin/route -n delete -net 10.2.0.0/16 10.2.0.1 -ifp ikegw0",
                    "/usr/sbin/ipadm delete-ip ikegw0",
                    "/usr/sbin/dladm delete-iptun -t ikegw0",
                ]
            );
            // A new CHILD_SA gets a new link name; shutdown removes it.
            assert!(k.submit(install(3, 0x7000_0003, 0x7000_0004, true, EncrId::AES_GCM_16)).await.is_none());
            assert_eq!(reply_for(&mut k).await, KernelEvent::Reply { seq: 3, errno: 0 });
            assert_eq!(k.remove_all().await.unwrap(), 1);
            let l = log();
            assert!(l.contains(&"/usr/sbin/dladm delete-iptun -t ikegw1".to_owned()), "{l:?}");
            assert_eq!(k.error_count(), 0);
            server.stop();
        });
    }

    #[test]
    fn a_dual_stack_child_gets_policies_and_links_for_both_families_with_its_ports() {
        use pfkey::engine::{Outbound, Selector};
        let rt = runtime();
        rt.block_on(async {
            let (mut k, links, dp) = userland_with_links().await;
            let mut req = install(3, 0x6000_0001, 0x6000_0002, true, EncrId::AES_GCM_16);
            let KernelRequest::Install(i) = &mut req else {
                unreachable!()
            };
            // The client's two VIPs; the LAN of each family, HTTPS only.
            i.local_ts = vec![ts("10.1.0.0/16[tcp/443]"), ts("fd00:1::/64[tcp/443]")];
            i.remote_ts = vec![ts("10.9.0.7/32"), ts("fd00:9::7/128")];
            assert!(k.submit(req).await.is_none());
            assert_eq!(
                reply_for(&mut k).await,
                KernelEvent::Reply { seq: 3, errno: 0 }
            );
            // Two pairs, both directions: four rules, each acknowledged.
            policy_replies(&mut k, 4).await;
            assert_eq!(k.errors, 0);
            assert_eq!(
                *links.lock().unwrap(),
                vec![Link {
                    name: "ikegw.0".into(),
                    remote_nets: vec![(ip("10.9.0.7"), 32), (ip("fd00:9::7"), 128)]
                }]
            );
            let sel = |l: &str, r: &str, proto: u8, lport: u16| Selector {
                local: ip(l),
                remote: ip(r),
                proto,
                local_port: lport,
                remote_port: 50000,
            };
            assert!(matches!(
                dp.outbound(Some("ikegw.0"), sel("10.1.2.3", "10.9.0.7", 6, 443)),
                Some(Outbound::Protect(_))
            ));
            // The negotiated protocol and port bound the policy: other
            // traffic between the same hosts has none.
            assert!(matches!(
                dp.outbound(Some("ikegw.0"), sel("10.1.2.3", "10.9.0.7", 17, 443)),
                Some(Outbound::NoPolicy)
            ));
            assert!(matches!(
                dp.outbound(Some("ikegw.0"), sel("10.1.2.3", "10.9.0.7", 6, 80)),
                Some(Outbound::NoPolicy)
            ));
            // The IPv6 pair has its own policy (it used to have none).
            assert!(!matches!(
                dp.outbound(Some("ikegw.0"), sel("fd00:1::5", "fd00:9::7", 6, 443)),
                Some(Outbound::NoPolicy)
            ));
            assert!(matches!(
                dp.outbound(Some("ikegw.0"), sel("fd00:1::5", "fd00:9::7", 6, 80)),
                Some(Outbound::NoPolicy)
            ));
            assert_eq!(k.remove_all().await.unwrap(), 1);
            k.stop();
        });
    }

    #[test]
    fn a_child_whose_selectors_have_no_policy_form_is_refused_before_any_sa() {
        let rt = runtime();
        rt.block_on(async {
            let mut k = started_userland().await;
            let mut req = install(4, 0x7000_0001, 0x7000_0002, false, EncrId::AES_GCM_16);
            let KernelRequest::Install(i) = &mut req else {
                unreachable!()
            };
            i.local_ts = vec![ts("10.1.0.0/16[udp/5000-5010]")];
            assert_eq!(
                k.submit(req).await,
                Some(KernelEvent::Reply {
                    seq: 4,
                    errno: libc::EINVAL
                })
            );
            assert_eq!(k.installed_count(), 0);
            assert_eq!(k.remove_all().await.unwrap(), 0);
            k.stop();
        });
    }

    #[test]
    fn start_deletes_the_sas_a_previous_run_left_and_only_those() {
        let rt = runtime();
        rt.block_on(async {
            let mut old = started_userland().await;
            assert!(old
                .submit(install(
                    1,
                    0x3000_0001,
                    0x3000_0002,
                    true,
                    EncrId::AES_GCM_16
                ))
                .await
                .is_none());
            assert_eq!(
                reply_for(&mut old).await,
                KernelEvent::Reply { seq: 1, errno: 0 }
            );
            // A manual SA (no KM cookie) that is not ours to delete.
            let mut spec = SaSpec::esp(
                0x4000_0001,
                SadbEalg::SADB_EALG_AES_GCM_16,
                build::addr(SockAddr::from_ip("192.0.2.9".parse().unwrap())),
                build::addr(SockAddr::from_ip("192.0.2.1".parse().unwrap())),
            );
            spec.flags = SadbSaFlags::SADB_X_SAFLAGS_INBOUND;
            spec.encr_key = Some(KeyExt::from_material(&[5; 36]).unwrap());
            let seq = old.next_seq();
            let m = build::add(spec, seq, old.pid).unwrap();
            old.request_wait(&m, SadbMsgType::SADB_ADD, seq, "manual", drop)
                .await
                .unwrap();

            // A new run on the same engine (illumos: the same kernel).
            let server = old.server.as_ref().unwrap();
            let mut new = Kernel::with_sockets(
                BackendKind::Userland,
                server.connect().unwrap(),
                server.connect_policy().unwrap(),
                None,
            )
            .unwrap();
            new.pid = old.pid.wrapping_add(1);
            let mut deleted = new.start().await.unwrap();
            deleted.sort_unstable();
            assert_eq!(deleted, vec![0x3000_0001, 0x3000_0002]);
            assert!(new.start().await.unwrap().is_empty());
            old.stop();
        });
    }
}
