//! The userland key engine: a SADB and SPD kept the way the illumos kernel
//! keeps them, answering the same PF_KEY bytes with the same replies,
//! errnos, diagnostics and delivery rules (reference §1.4, §2, §5).
//!
//! Sans-IO (STYLE §7): no sockets, no clock, no threads. Inputs are
//! `handle_message(now, client, bytes)`, `handle_policy(bytes)` and
//! `handle_timeout(now)`; outputs are drained with `poll_output()` (PF_KEY
//! messages addressed to clients) and `poll_event()` (acquire outcomes for a
//! data plane); `poll_timeout()` is the next deadline. [`server`] runs it
//! over Unix SOCK_SEQPACKET sockets.
//!
//! Known differences from the kernel are listed on [`Engine`].

pub mod sadb;
pub mod server;
pub mod spd;
pub mod validate;

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::registry::{
    Errno, SadbAalg, SadbDiagnostic as D, SadbEalg, SadbExtType as X, SadbKmp, SadbMsgType as T,
    SadbSaFlags as F, SadbSaState as S, SadbSaType,
};
use crate::wire::{
    peek_header, AddressExt, AddressKind, EpropExt, Extension, KeyKind, KmCookie, Lifetime,
    LifetimeKind, ProposalExt, SaExt, SadbHeader, SadbMsg, SockAddr, SupportedKind,
};

use sadb::SaEntry;
pub use sadb::{AlgInfo, AlgTable, Direction, SaSnapshot};
pub use spd::Selector;
use validate::Reject;

/// Identifies one PF_KEY socket (client) of the engine.
pub type ClientId = u64;

/// Engine tunables; defaults are the illumos ESP defaults (reference §5.4).
#[derive(Debug, Clone)]
pub struct EngineConfig {
    /// Addresses considered local (direction guessing, NAT-T checks).
    pub local_addrs: Vec<IpAddr>,
    /// `ipsecesp_larval_timeout` (90 s).
    pub larval_timeout: Duration,
    /// `ipsecesp_acquire_timeout` (15 s).
    pub acquire_timeout: Duration,
    /// `ipsecesp_reap_delay` (1 s).
    pub reap_delay: Duration,
    /// Interval at which an idle EXPIRE repeats (the 8 s aging pass).
    pub idle_repeat: Duration,
    /// `ipsecesp_replay_size` (64), the PROPOSAL replay value.
    pub replay_size: u8,
    /// Packets queued per acquire record (`IPSACQ_MAXPACKETS` = 4).
    pub acquire_max_packets: usize,
    /// Algorithms advertised and accepted.
    pub algs: AlgTable,
    /// Seed of the SPI generator (deterministic tests).
    pub rng_seed: u64,
}

impl Default for EngineConfig {
    fn default() -> Self {
        Self {
            local_addrs: Vec::new(),
            larval_timeout: Duration::from_secs(90),
            acquire_timeout: Duration::from_secs(15),
            reap_delay: Duration::from_secs(1),
            idle_repeat: Duration::from_secs(8),
            replay_size: 64,
            acquire_max_packets: 4,
            algs: AlgTable::illumos_default(),
            rng_seed: 0x5eed,
        }
    }
}

/// A PF_KEY message for one client. Buffers may hold keys (GET/DUMP), so
/// they are zeroizing.
pub struct Output {
    /// Destination client.
    pub to: ClientId,
    /// The message.
    pub bytes: Zeroizing<Vec<u8>>,
}

/// Acquire outcomes a data plane holding queued packets cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AcquireEvent {
    /// An ADD/UPDATE with this seq and destination created the SA: send the
    /// queued packets through it.
    Completed {
        /// ACQUIRE seq.
        seq: u32,
        /// The new SA's SPI.
        spi: u32,
    },
    /// Key management gave up (ACQUIRE with errno) or the record timed out:
    /// drop the queued packets.
    Dropped {
        /// ACQUIRE seq.
        seq: u32,
    },
}

/// Outcome of an outbound policy lookup.
#[derive(Debug)]
pub enum Outbound {
    /// Protect with this SA.
    Protect(Box<SaSnapshot>),
    /// A new ACQUIRE went out; queue the packet under this seq.
    Acquire {
        /// The ACQUIRE's seq.
        seq: u32,
    },
    /// An ACQUIRE is already pending for this destination: queue the packet
    /// (the kernel keeps at most 4 per record, dropping the oldest).
    Pending {
        /// The pending seq.
        seq: u32,
    },
    /// Policy says pass in the clear.
    Bypass,
    /// Policy says drop (or nobody is registered to negotiate).
    Drop,
    /// No policy matched.
    NoPolicy,
}

/// Result of feeding bytes through an SA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteVerdict {
    /// Counted.
    Ok,
    /// Counted; the soft byte limit fired (EXPIRE sent).
    SoftExpired,
    /// The hard byte limit fired: drop the packet (EXPIRE sent).
    HardExpired,
    /// No such SA (or not usable).
    NotFound,
}

#[derive(Debug, Default)]
struct Client {
    registered: Vec<SadbSaType>,
    extended: bool,
    promisc: bool,
}

#[derive(Debug)]
struct AcquireRecord {
    seq: u32,
    dst: IpAddr,
    tun: Option<String>,
    rule: u64,
    deadline: Instant,
    queued: usize,
}

/// An IP tunnel link known to the engine (the iptun's outer endpoints).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tunnel {
    /// Link name, e.g. `ip.tun0`.
    pub name: String,
    /// Outer local address.
    pub local: IpAddr,
    /// Outer remote address.
    pub remote: IpAddr,
}

#[derive(Debug, Clone, Copy)]
enum Route {
    All,
    Sender,
    Register(SadbSaType),
    AcquireRegular(SadbSaType),
    AcquireExtended,
}

/// The key engine.
///
/// Differences from the illumos kernel, by design or not yet done:
/// * Only ESP SAs are kept; SA messages with satype AH or TCPSIG are
///   answered `EOPNOTSUPP` (AH REGISTER/FLUSH/DUMP work).
/// * Each SA lives in exactly one table; "both tables" SAs (no or both
///   direction flags with ambiguous addresses) are placed by a guess, so
///   `PAIR_INAPPROPRIATE` for clones is never produced.
/// * Lifetimes fire at their exact deadline instead of on an 8 s aging
///   pass; soft lifetimes are not fuzzed by 8–23 s.
/// * A failed PAIR link on ADD rejects the ADD instead of inserting the SA
///   as DEAD; address extensions rewritten from v4-mapped IPv6 are echoed
///   in their 3-word IPv4 form (the kernel keeps the 5-word length).
/// * Labels (SENSITIVITY) are always refused (a non-labeled system).
/// * An extended REGISTER on a socket with regular registrations answers
///   EBUSY and stops (keysock also answers EBUSY but then carries on).
/// * Policy ICMP type/code selectors are stored and dumped but not matched;
///   port ranges are single ports, as in the kernel.
/// * There is one FLUSH/DUMP at a time by construction, so the kernel's
///   ENOMEM for concurrent FLUSH/DUMP never occurs.
pub struct Engine {
    cfg: EngineConfig,
    clients: BTreeMap<ClientId, Client>,
    sas: Vec<SaEntry>,
    spd: spd::Spd,
    tunnels: Vec<Tunnel>,
    acquires: Vec<AcquireRecord>,
    acq_seq: u32,
    out: VecDeque<Output>,
    events: VecDeque<AcquireEvent>,
    base: Instant,
    base_unix: u64,
    rng: u64,
    /// Bumped whenever the SADB or SPD may have changed (see
    /// [`Engine::generation`]).
    generation: u64,
}

fn rej(d: D) -> Reject {
    (Errno::EINVAL, d)
}

fn same_ip(a: &AddressExt, b: &AddressExt) -> bool {
    a.addr.ip() == b.addr.ip()
}

fn strip_keys(m: &mut SadbMsg) {
    m.exts
        .retain(|e| !e.is_key() && e.ext_type() != X::SADB_X_EXT_EDUMP);
}

impl Engine {
    /// A new engine; `unix_now` anchors the absolute times it reports.
    pub fn new(cfg: EngineConfig, now: Instant, unix_now: u64) -> Self {
        let rng = cfg.rng_seed;
        Self {
            cfg,
            clients: BTreeMap::new(),
            sas: Vec::new(),
            spd: spd::Spd::default(),
            tunnels: Vec::new(),
            acquires: Vec::new(),
            acq_seq: 0xffff_ffff,
            out: VecDeque::new(),
            events: VecDeque::new(),
            base: now,
            base_unix: unix_now,
            rng,
            generation: 0,
        }
    }

    // ------------------------------------------------------------ getters

    /// Number of SAs (larval included).
    pub fn sa_count(&self) -> usize {
        self.sas.len()
    }

    /// The algorithm table.
    pub fn algs(&self) -> &AlgTable {
        &self.cfg.algs
    }

    /// A counter that moves whenever an SA or policy may have been added,
    /// changed or removed (any PF_KEY or PF_POLICY message, an expiry, a
    /// reap). A data plane caching SAs compares it to know when to
    /// revalidate; an unchanged value means its cache is still exact.
    pub fn generation(&self) -> u64 {
        self.generation
    }

    // ----------------------------------------------------------- commands

    /// A client socket opened.
    pub fn add_client(&mut self, id: ClientId) {
        self.clients.entry(id).or_default();
    }

    /// A client socket closed.
    pub fn remove_client(&mut self, id: ClientId) {
        self.clients.remove(&id);
    }

    /// Declare an IP tunnel link (`dladm create-iptun` equivalent).
    pub fn configure_tunnel(&mut self, t: Tunnel) {
        self.tunnels.retain(|x| x.name != t.name);
        self.tunnels.push(t);
    }

    // ------------------------------------------------------------- output

    /// Next PF_KEY message to deliver.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Next acquire outcome for the data plane.
    pub fn poll_event(&mut self) -> Option<AcquireEvent> {
        self.events.pop_front()
    }

    /// The next time `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sa = self.sas.iter().flat_map(|s| {
            [
                s.larval_deadline,
                s.soft_deadline(),
                s.hard_deadline(),
                s.idle_deadline(),
                s.dead_at.and_then(|d| d.checked_add(self.cfg.reap_delay)),
            ]
        });
        let acq = self.acquires.iter().map(|a| Some(a.deadline));
        sa.chain(acq).flatten().min()
    }

    fn unix(&self, now: Instant) -> u64 {
        self.base_unix
            .saturating_add(now.saturating_duration_since(self.base).as_secs())
    }

    fn rand(&mut self) -> u32 {
        // splitmix64: deterministic from the configured seed.
        self.rng = self.rng.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.rng;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        u32::try_from((z ^ (z >> 31)) >> 32).unwrap_or(0)
    }

    fn deliver(&mut self, m: &SadbMsg, route: Route, from: Option<ClientId>) {
        let Ok(bytes) = m.to_bytes() else {
            return;
        };
        let mut to: Vec<ClientId> = Vec::new();
        for (id, c) in &self.clients {
            let want = match route {
                Route::All => true,
                Route::Sender => Some(*id) == from,
                Route::Register(t) => {
                    Some(*id) == from || (!c.extended && c.registered.contains(&t))
                }
                Route::AcquireRegular(t) => !c.extended && c.registered.contains(&t),
                Route::AcquireExtended => Some(*id) == from || c.extended,
            };
            if want || c.promisc {
                to.push(*id);
            }
        }
        for id in to {
            self.out.push_back(Output {
                to: id,
                bytes: Zeroizing::new(bytes.to_vec()),
            });
        }
    }

    fn reply_error(&mut self, h: &SadbHeader, e: Reject, from: ClientId) {
        let m = SadbMsg::error_reply(h, e.0, e.1);
        let route = match h.msg_type {
            T::SADB_GETSPI
            | T::SADB_UPDATE
            | T::SADB_ADD
            | T::SADB_DELETE
            | T::SADB_X_UPDATEPAIR
            | T::SADB_X_DELPAIR
            | T::SADB_FLUSH
            | T::SADB_EXPIRE => Route::All,
            _ => Route::Sender,
        };
        self.deliver(&m, route, Some(from));
    }

    // -------------------------------------------------------------- input

    /// One PF_KEY message written by client `from`.
    pub fn handle_message(&mut self, now: Instant, from: ClientId, bytes: &[u8]) {
        self.generation = self.generation.wrapping_add(1);
        self.add_client(from);
        let Some(h) = peek_header(bytes) else {
            return;
        };
        if let Err(e) = validate::frame_check(bytes) {
            return self.reply_error(&h, e, from);
        }
        let m = match SadbMsg::parse(bytes) {
            Ok(m) => m,
            Err(e) => return self.reply_error(&h, validate::decode_reject(&e), from),
        };
        if let Err(e) = self.dispatch(now, from, m) {
            self.reply_error(&h, e, from);
        }
    }

    /// One PF_POLICY message; the replies (to the sender only) are returned.
    pub fn handle_policy(&mut self, bytes: &[u8]) -> Vec<Vec<u8>> {
        self.generation = self.generation.wrapping_add(1);
        self.spd.handle(bytes, &self.cfg.algs)
    }

    fn dispatch(&mut self, now: Instant, from: ClientId, mut m: SadbMsg) -> Result<(), Reject> {
        let t = m.header.msg_type;
        // Requests carry errno/diagnostic 0; only an ACQUIRE's errno means
        // something. Success replies built from the request must not echo
        // garbage there (found by fuzzing: REGISTER with errno 65).
        if t != T::SADB_ACQUIRE {
            m.header.errno = Errno::OK;
            m.header.diagnostic = D::SADB_X_DIAGNOSTIC_NONE;
        }
        match t {
            T::SADB_REGISTER => return self.register(from, &m),
            T::SADB_EXPIRE => return Err((Errno::EOPNOTSUPP, D::SADB_X_DIAGNOSTIC_NONE)),
            T::SADB_FLUSH => return self.flush(from, &m),
            T::SADB_DUMP => return self.dump(now, from, &m),
            T::SADB_X_PROMISC => {
                if let Some(c) = self.clients.get_mut(&from) {
                    c.promisc = m.header.satype.0 != 0;
                }
                self.deliver(&m, Route::Sender, Some(from));
                return Ok(());
            }
            T::SADB_ACQUIRE => return self.user_acquire(from, &m),
            T::SADB_X_INVERSE_ACQUIRE => return self.inverse_acquire(from, &m),
            _ => {}
        }
        // Everything else is passed down to the satype's consumer.
        match m.header.satype {
            // keysock_delpair_all: satype 0 goes to every consumer.
            SadbSaType::SADB_SATYPE_UNSPEC if t == T::SADB_X_DELPAIR_STATE => {}
            SadbSaType::SADB_SATYPE_UNSPEC => {
                return Err(rej(D::SADB_X_DIAGNOSTIC_SATYPE_NEEDED));
            }
            SadbSaType::SADB_SATYPE_ESP => {}
            SadbSaType::SADB_SATYPE_AH | SadbSaType::SADB_X_SATYPE_TCPSIG => {
                return Err((Errno::EOPNOTSUPP, D::SADB_X_DIAGNOSTIC_NONE));
            }
            _ => return Err(rej(D::SADB_X_DIAGNOSTIC_UNKNOWN_SATYPE)),
        }
        // esp_pfkey_reality_failures, then sadb_addrfix.
        if m.ext(X::SADB_EXT_PROPOSAL).is_some() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_PROP_PRESENT));
        }
        if m.ext(X::SADB_EXT_SUPPORTED_AUTH).is_some()
            || m.ext(X::SADB_EXT_SUPPORTED_ENCRYPT).is_some()
        {
            return Err(rej(D::SADB_X_DIAGNOSTIC_SUPP_PRESENT));
        }
        let has_inner = m.address(AddressKind::InnerSrc).is_some();
        validate::addrfix(&mut m, &self.cfg.local_addrs, has_inner)?;
        match t {
            T::SADB_GETSPI => self.getspi(now, m),
            T::SADB_ADD => self.add(now, m),
            T::SADB_UPDATE | T::SADB_X_UPDATEPAIR => self.update(now, m),
            T::SADB_DELETE | T::SADB_X_DELPAIR => self.delete(m),
            T::SADB_GET => self.get(from, m),
            T::SADB_X_DELPAIR_STATE => self.delpair_state(m),
            _ => Err(rej(D::SADB_X_DIAGNOSTIC_UNKNOWN_MSG)),
        }
    }

    // ----------------------------------------------------------- handlers

    fn supported_reply(&self, h: SadbHeader, satype: SadbSaType) -> SadbMsg {
        let mut hh = h;
        hh.satype = satype;
        let mut m = SadbMsg::new(hh);
        let auth: Vec<_> = self.cfg.algs.auth.iter().map(|a| a.to_alg()).collect();
        if !auth.is_empty() {
            m.exts.push(Extension::Supported(SupportedKind::Auth, auth));
        }
        if satype == SadbSaType::SADB_SATYPE_ESP {
            let encr: Vec<_> = self.cfg.algs.encr.iter().map(|a| a.to_alg()).collect();
            if !encr.is_empty() {
                m.exts
                    .push(Extension::Supported(SupportedKind::Encrypt, encr));
            }
        }
        m
    }

    fn register(&mut self, from: ClientId, m: &SadbMsg) -> Result<(), Reject> {
        let satype = m.header.satype;
        let known =
            |s: SadbSaType| matches!(s, SadbSaType::SADB_SATYPE_AH | SadbSaType::SADB_SATYPE_ESP);
        let client = self.clients.entry(from).or_default();
        if satype == SadbSaType::SADB_SATYPE_UNSPEC {
            let list = m.exts.iter().find_map(|e| match e {
                Extension::Ereg(v) => Some(v.clone()),
                _ => None,
            });
            let Some(list) = list else {
                // keysock marks the socket extended even on this error.
                client.extended = true;
                return Err(rej(D::SADB_X_DIAGNOSTIC_SATYPE_NEEDED));
            };
            if !client.registered.is_empty() && !client.extended {
                return Err((Errno::EBUSY, D::SADB_X_DIAGNOSTIC_NONE));
            }
            client.extended = true;
            for s in &list {
                if !client.registered.contains(s) {
                    client.registered.push(*s);
                }
            }
            for s in list {
                if known(s) {
                    let r = self.supported_reply(m.header, s);
                    self.deliver(&r, Route::Sender, Some(from));
                } else {
                    let e = SadbMsg::error_reply(
                        &m.header,
                        Errno::EINVAL,
                        D::SADB_X_DIAGNOSTIC_UNKNOWN_SATYPE,
                    );
                    self.deliver(&e, Route::Sender, Some(from));
                }
            }
            return Ok(());
        }
        if !known(satype) {
            return Err(rej(D::SADB_X_DIAGNOSTIC_UNKNOWN_SATYPE));
        }
        if client.extended {
            return Err((Errno::EBUSY, D::SADB_X_DIAGNOSTIC_NONE));
        }
        if !client.registered.contains(&satype) {
            client.registered.push(satype);
        }
        let r = self.supported_reply(m.header, satype);
        self.deliver(&r, Route::Register(satype), Some(from));
        Ok(())
    }

    fn flush(&mut self, from: ClientId, m: &SadbMsg) -> Result<(), Reject> {
        if !m.exts.is_empty() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_NO_EXT));
        }
        match m.header.satype {
            SadbSaType::SADB_SATYPE_UNSPEC | SadbSaType::SADB_SATYPE_ESP => self.sas.clear(),
            SadbSaType::SADB_SATYPE_AH => {}
            _ => return Err(rej(D::SADB_X_DIAGNOSTIC_UNKNOWN_SATYPE)),
        }
        self.deliver(m, Route::All, Some(from));
        Ok(())
    }

    fn iv_bytes(&self, e: SadbEalg) -> usize {
        self.cfg.algs.encr(e.0).map_or(0, |a| usize::from(a.ivlen))
    }

    fn dump(&mut self, now: Instant, from: ClientId, m: &SadbMsg) -> Result<(), Reject> {
        let mut edump = None;
        for e in &m.exts {
            match e {
                Extension::Edump(t) => edump = Some(*t),
                _ => return Err(rej(D::SADB_X_DIAGNOSTIC_NO_EXT)),
            }
        }
        match m.header.satype {
            SadbSaType::SADB_SATYPE_UNSPEC
            | SadbSaType::SADB_SATYPE_ESP
            | SadbSaType::SADB_SATYPE_AH => {}
            _ => return Err(rej(D::SADB_X_DIAGNOSTIC_UNKNOWN_SATYPE)),
        }
        let want_esp = m.header.satype != SadbSaType::SADB_SATYPE_AH;
        // Kernel order: IPv4 before IPv6, outbound table before inbound.
        let mut order: Vec<usize> = (0..self.sas.len()).collect();
        order.sort_by_key(|&i| {
            let s = self.sas.get(i);
            (
                s.and_then(|s| s.dst_ip()).is_some_and(|ip| ip.is_ipv6()),
                s.is_some_and(|s| s.dir == Direction::Inbound),
            )
        });
        let mut records = Vec::new();
        if want_esp {
            for i in order {
                let Some(s) = self.sas.get(i) else { continue };
                if let Some(t) = edump {
                    let recent = s
                        .last_use
                        .is_some_and(|u| now.saturating_duration_since(u).as_secs() <= t);
                    if !recent {
                        continue;
                    }
                }
                let mut h = m.header;
                h.satype = s.satype;
                let mut r = SadbMsg::new(h);
                r.exts = s.describe(true, self.iv_bytes(s.encrypt));
                records.push(r);
            }
        }
        for r in &records {
            self.deliver(r, Route::Sender, Some(from));
        }
        let mut end = m.header;
        end.seq = 0;
        self.deliver(&SadbMsg::new(end), Route::Sender, Some(from));
        Ok(())
    }

    /// keysock_parse's ACQUIRE case: with errno, passed down to the satype's
    /// consumer (satype 0 only from an extended socket); without errno,
    /// redistributed to sockets registered for the satype.
    fn user_acquire(&mut self, from: ClientId, m: &SadbMsg) -> Result<(), Reject> {
        let satype = m.header.satype;
        if m.header.errno != Errno::OK {
            if satype == SadbSaType::SADB_SATYPE_UNSPEC {
                let extended = self.clients.get(&from).is_some_and(|c| c.extended);
                if !extended {
                    return Err(rej(D::SADB_X_DIAGNOSTIC_SATYPE_NEEDED));
                }
            }
            // sadb_in_acquire: only a bare header counts.
            if m.exts.is_empty() {
                if let Some(p) = self.acquires.iter().position(|a| a.seq == m.header.seq) {
                    let a = self.acquires.remove(p);
                    self.events.push_back(AcquireEvent::Dropped { seq: a.seq });
                }
            }
            return Ok(());
        }
        if satype == SadbSaType::SADB_SATYPE_UNSPEC {
            return Err(rej(D::SADB_X_DIAGNOSTIC_SATYPE_NEEDED));
        }
        self.deliver(m, Route::AcquireRegular(satype), None);
        Ok(())
    }

    fn find(
        &self,
        spi: u32,
        src: Option<&AddressExt>,
        dst: &AddressExt,
        first: Direction,
    ) -> Option<usize> {
        for dir in [first, first.other()] {
            let hit = self.sas.iter().position(|s| {
                s.spi == spi
                    && s.dir == dir
                    && same_ip(&s.dst, dst)
                    && src.is_none_or(|a| same_ip(&s.src, a))
            });
            if hit.is_some() {
                return hit;
            }
        }
        None
    }

    fn getspi(&mut self, now: Instant, mut m: SadbMsg) -> Result<(), Reject> {
        let src = m
            .address(AddressKind::Src)
            .cloned()
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_SRC))?;
        let dst = m
            .address(AddressKind::Dst)
            .cloned()
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_DST))?;
        let range = m
            .exts
            .iter()
            .find_map(|e| match e {
                Extension::SpiRange(r) => Some(*r),
                _ => None,
            })
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_RANGE))?;
        let mut spi = self.rand();
        if spi < range.min || spi > range.max {
            let width = u64::from(range.max.saturating_sub(range.min)).saturating_add(1);
            let off = u64::from(spi) % width;
            spi = range.min.saturating_add(u32::try_from(off).unwrap_or(0));
        }
        let taken = self
            .sas
            .iter()
            .any(|s| s.spi == spi && same_ip(&s.src, &src) && same_ip(&s.dst, &dst));
        if taken {
            return Err((Errno::EEXIST, D::SADB_X_DIAGNOSTIC_NONE));
        }
        let unix = self.unix(now);
        self.sas.push(SaEntry::larval(
            m.header.satype,
            spi,
            src,
            dst,
            now,
            unix,
            self.cfg.larval_timeout,
        ));
        // The reply is the request with SPIRANGE rewritten in place.
        for e in &mut m.exts {
            if matches!(e, Extension::SpiRange(_)) {
                *e = Extension::Sa(SaExt {
                    spi,
                    ..SaExt::default()
                });
            }
        }
        self.deliver(&m, Route::All, None);
        Ok(())
    }

    /// The ADD checks of `esp_add_sa` (reference §2.3 steps 1–18), building
    /// the SA without inserting it. Step 13 (acquire consumption) happens
    /// here because the kernel does it before the remaining checks.
    fn build_sa(&mut self, now: Instant, m: &mut SadbMsg) -> Result<SaEntry, Reject> {
        let src = m
            .address(AddressKind::Src)
            .cloned()
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_SRC))?;
        let mut dst = m
            .address(AddressKind::Dst)
            .cloned()
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_DST))?;
        let isrc = m.address(AddressKind::InnerSrc).cloned();
        let idst = m.address(AddressKind::InnerDst).cloned();
        match (&isrc, &idst) {
            (Some(_), None) => return Err(rej(D::SADB_X_DIAGNOSTIC_MISSING_INNER_DST)),
            (None, Some(_)) => return Err(rej(D::SADB_X_DIAGNOSTIC_MISSING_INNER_SRC)),
            _ => {}
        }
        let sa = *m.sa().ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_SA))?;
        let ekey = m.key(KeyKind::Encrypt);
        if ekey.is_none() && sa.encrypt != SadbEalg::SADB_EALG_NULL {
            return Err(rej(D::SADB_X_DIAGNOSTIC_MISSING_EKEY));
        }
        if !matches!(
            sa.state,
            S::SADB_SASTATE_MATURE | S::SADB_X_SASTATE_ACTIVE_ELSEWHERE
        ) {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_SASTATE));
        }
        if sa.encrypt == SadbEalg::SADB_EALG_NONE {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_EALG));
        }
        if sa.encrypt == SadbEalg::SADB_EALG_NULL && sa.auth == SadbAalg::SADB_AALG_NONE {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_AALG));
        }
        if !F::ESP_ADD_SETTABLE_FLAGS.contains(sa.flags) {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_SAFLAGS));
        }
        let hard = m.lifetime(LifetimeKind::Hard).copied();
        let soft = m.lifetime(LifetimeKind::Soft).copied();
        let idle = m.lifetime(LifetimeKind::Idle).copied();
        hardsoft_check(hard.as_ref(), soft.as_ref(), idle.as_ref())?;
        let natt_loc = m.address(AddressKind::NattLoc).cloned();
        let natt_rem = m.address(AddressKind::NattRem).cloned();
        if sa.flags.contains(F::SADB_X_SAFLAGS_NATT_LOC) && natt_loc.is_none() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_MISSING_NATT_LOC));
        }
        if sa.flags.contains(F::SADB_X_SAFLAGS_NATT_REM) && natt_rem.is_none() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_MISSING_NATT_REM));
        }
        if m.lifetime(LifetimeKind::Current).is_some() {
            return Err((Errno::EOPNOTSUPP, D::SADB_X_DIAGNOSTIC_NONE));
        }
        if m.ext(X::SADB_EXT_SENSITIVITY).is_some() || m.ext(X::SADB_X_EXT_OUTER_SENS).is_some() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_LABEL));
        }
        let auth_key = match m.key(KeyKind::Auth) {
            Some(k) => {
                let info = self
                    .cfg
                    .algs
                    .auth(sa.auth.0)
                    .ok_or(rej(D::SADB_X_DIAGNOSTIC_BAD_AALG))?;
                if !info.valid_bits(k.bits) {
                    return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_AKEYBITS));
                }
                Some(k.duplicate())
            }
            None => None,
        };
        let encr_key = match m.key(KeyKind::Encrypt) {
            Some(k) => {
                let info = self
                    .cfg
                    .algs
                    .encr(sa.encrypt.0)
                    .ok_or(rej(D::SADB_X_DIAGNOSTIC_BAD_EALG))?;
                let key_bits = k
                    .bits
                    .checked_sub(k.reserved)
                    .and_then(|b| b.checked_sub(sa.encrypt.salt_bits()));
                match key_bits {
                    Some(b) if info.valid_bits(b) && sa.encrypt != SadbEalg::SADB_EALG_NULL => {}
                    _ => return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_EKEYBITS)),
                }
                let material_bits = k.bits.saturating_sub(k.reserved);
                let n = usize::from(material_bits).div_ceil(8);
                Some(Zeroizing::new(
                    k.material().get(..n).unwrap_or(&[]).to_vec(),
                ))
            }
            None => None,
        };
        // Step 12: table choice.
        let inb = sa.flags.contains(F::SADB_X_SAFLAGS_INBOUND);
        let outb = sa.flags.contains(F::SADB_X_SAFLAGS_OUTBOUND);
        let dir = match (inb, outb) {
            (true, false) => Direction::Inbound,
            (false, true) => Direction::Outbound,
            _ => {
                let d = dst.addr.ip().ok_or(rej(D::SADB_X_DIAGNOSTIC_BAD_DST))?;
                if validate::is_local(&self.cfg.local_addrs, d) {
                    Direction::Inbound
                } else {
                    Direction::Outbound
                }
            }
        };
        // Step 13: complete a pending ACQUIRE (same seq and destination).
        let seq = m.header.seq;
        let mut completed = None;
        if seq & 0x8000_0000 != 0 {
            if let Some(p) = self
                .acquires
                .iter()
                .position(|a| a.seq == seq && Some(a.dst) == dst.addr.ip())
            {
                self.acquires.remove(p);
                completed = Some(seq);
            }
        }
        // Step 15: tunnel-mode outer protocol fix-up.
        let mut src = src;
        if let Some(i) = &isrc {
            let want = if i.addr.ip().is_some_and(|a| a.is_ipv4()) {
                4
            } else {
                41
            };
            for a in [&mut src, &mut dst] {
                if a.proto == 0 {
                    a.proto = want;
                } else if a.proto != want {
                    return Err((Errno::EPROTOTYPE, D::SADB_X_DIAGNOSTIC_INNER_AF_MISMATCH));
                }
            }
            for e in &mut m.exts {
                if let Extension::Address(AddressKind::Src | AddressKind::Dst, a) = e {
                    a.proto = want;
                }
            }
        }
        // Step 16.
        if sa.flags.contains(F::SADB_X_SAFLAGS_TUNNEL) && isrc.is_none() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_MISSING_INNER_SRC));
        }
        // Step 18.
        if let Some(Extension::ReplayValue(r)) = m.ext(X::SADB_X_EXT_REPLAY_VALUE) {
            if r.replay32 == 0 && r.replay64 != 0 {
                return Err((Errno::EOPNOTSUPP, D::SADB_X_DIAGNOSTIC_INVALID_REPLAY));
            }
        }
        // Kernel-owned flags: combined/counter mode for AEAD, UNIQUE when
        // the SA is bound to a protocol or ports (§3.4).
        let mut flags = sa.flags;
        if sa.encrypt.is_aead() {
            flags = flags
                .union(F::SADB_X_SAFLAGS_EALG1)
                .union(F::SADB_X_SAFLAGS_EALG2);
        }
        let sel_ports = |a: &AddressExt| a.proto != 0 || a.addr.port() != 0;
        if sel_ports(&src)
            || sel_ports(&dst)
            || isrc.as_ref().is_some_and(sel_ports)
            || idst.as_ref().is_some_and(sel_ports)
        {
            flags = flags.union(F::SADB_X_SAFLAGS_UNIQUE);
        }
        let mut kmc = m.km_cookie().unwrap_or_default();
        if kmc.proto == SadbKmp::SADB_X_KMP_IKE {
            kmc.cookie &= 0xffff_ffff;
        }
        let replay = if src.addr.ip().is_some_and(|a| a.is_unspecified()) {
            0
        } else {
            sa.replay
        };
        let unix = self.unix(now);
        let entry = SaEntry {
            satype: m.header.satype,
            spi: sa.spi,
            dir,
            state: S::SADB_SASTATE_MATURE,
            replay,
            auth: sa.auth,
            encrypt: sa.encrypt,
            flags,
            src,
            dst,
            inner: isrc.zip(idst),
            natt_loc,
            natt_rem,
            hard: hard.unwrap_or_default(),
            soft: soft.unwrap_or_default(),
            idle: idle.unwrap_or_default(),
            auth_key,
            encr_key,
            ident_src: m.exts.iter().find_map(|e| match e {
                Extension::Identity(crate::wire::IdentKind::Src, i) => Some(i.clone()),
                _ => None,
            }),
            ident_dst: m.exts.iter().find_map(|e| match e {
                Extension::Identity(crate::wire::IdentKind::Dst, i) => Some(i.clone()),
                _ => None,
            }),
            kmc,
            pair: None,
            added: now,
            added_unix: unix,
            first_use: None,
            last_use: None,
            bytes: 0,
            larval_deadline: None,
            dead_at: None,
            idle_next: None,
            force_hard: false,
        };
        if let Some(seq) = completed {
            self.events
                .push_back(AcquireEvent::Completed { seq, spi: sa.spi });
        }
        Ok(entry)
    }

    /// Step 20: link `new` with the SA named by PAIR.
    fn pair_partner(&self, new: &SaEntry, pair_spi: u32) -> Result<usize, Reject> {
        if pair_spi == 0 || pair_spi == new.spi {
            return Err(rej(D::SADB_X_DIAGNOSTIC_PAIR_INAPPROPRIATE));
        }
        let p = self
            .sas
            .iter()
            .position(|s| {
                s.spi == pair_spi && same_ip(&s.src, &new.dst) && same_ip(&s.dst, &new.src)
            })
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_PAIR_INAPPROPRIATE))?;
        let partner = self
            .sas
            .get(p)
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_PAIR_INAPPROPRIATE))?;
        if partner.dir == new.dir
            || matches!(partner.state, S::SADB_SASTATE_DYING | S::SADB_SASTATE_DEAD)
        {
            return Err(rej(D::SADB_X_DIAGNOSTIC_PAIR_INAPPROPRIATE));
        }
        if partner.pair.is_some() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_PAIR_ALREADY));
        }
        Ok(p)
    }

    fn link_pair(&mut self, idx: usize, partner: usize) {
        let (a, b) = (
            self.sas.get(idx).map(|s| s.spi),
            self.sas.get(partner).map(|s| s.spi),
        );
        if let (Some(a), Some(b)) = (a, b) {
            if let Some(s) = self.sas.get_mut(idx) {
                s.pair = Some(b);
                s.flags = s.flags.union(F::SADB_X_SAFLAGS_PAIRED);
            }
            if let Some(s) = self.sas.get_mut(partner) {
                s.pair = Some(a);
                s.flags = s.flags.union(F::SADB_X_SAFLAGS_PAIRED);
            }
        }
    }

    fn insert_checked(
        &mut self,
        mut entry: SaEntry,
        pair: Option<u32>,
        replace: Option<usize>,
    ) -> Result<(u32, F), Reject> {
        let collide =
            self.sas.iter().enumerate().any(|(i, s)| {
                Some(i) != replace && s.spi == entry.spi && same_ip(&s.dst, &entry.dst)
            });
        if collide {
            return Err((Errno::EEXIST, D::SADB_X_DIAGNOSTIC_NONE));
        }
        let partner = match pair {
            Some(p) => Some(self.pair_partner(&entry, p)?),
            None => None,
        };
        if partner.is_some() {
            entry.flags = entry.flags.union(F::SADB_X_SAFLAGS_PAIRED);
        }
        let idx = match replace {
            Some(i) => {
                if let Some(slot) = self.sas.get_mut(i) {
                    *slot = entry;
                }
                i
            }
            None => {
                self.sas.push(entry);
                self.sas.len().saturating_sub(1)
            }
        };
        if let Some(p) = partner {
            self.link_pair(idx, p);
        }
        let s = self
            .sas
            .get(idx)
            .ok_or((Errno::ENOMEM, D::SADB_X_DIAGNOSTIC_NONE))?;
        Ok((s.spi, s.flags))
    }

    fn echo_with_flags(&mut self, mut m: SadbMsg, flags: F) {
        strip_keys(&mut m);
        for e in &mut m.exts {
            if let Extension::Sa(s) = e {
                s.flags = flags;
            }
        }
        self.deliver(&m, Route::All, None);
    }

    fn add(&mut self, now: Instant, mut m: SadbMsg) -> Result<(), Reject> {
        let entry = self.build_sa(now, &mut m)?;
        let (_, flags) = self.insert_checked(entry, m.pair(), None)?;
        self.echo_with_flags(m, flags);
        Ok(())
    }

    fn update(&mut self, now: Instant, mut m: SadbMsg) -> Result<(), Reject> {
        let src = m
            .address(AddressKind::Src)
            .cloned()
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_SRC))?;
        let dst = m
            .address(AddressKind::Dst)
            .cloned()
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_DST))?;
        let sa = *m.sa().ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_SA))?;
        let first = if sa.flags.contains(F::SADB_X_SAFLAGS_INBOUND) {
            Direction::Inbound
        } else {
            Direction::Outbound
        };
        let idx = self
            .find(sa.spi, Some(&src), &dst, first)
            .ok_or((Errno::ESRCH, D::SADB_X_DIAGNOSTIC_SA_NOTFOUND))?;
        let larval = self
            .sas
            .get(idx)
            .is_some_and(|s| s.state == S::SADB_SASTATE_LARVAL);
        if larval {
            if m.header.msg_type != T::SADB_UPDATE {
                // X_UPDATEPAIR does not hand over larvals: a fresh insert
                // collides with the larval SPI.
                return Err((Errno::EEXIST, D::SADB_X_DIAGNOSTIC_NONE));
            }
            let entry = self.build_sa(now, &mut m)?;
            let (_, flags) = self.insert_checked(entry, m.pair(), Some(idx))?;
            self.echo_with_flags(m, flags);
            return Ok(());
        }
        // Path B: an established SA.
        if m.key(KeyKind::Auth).is_some() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_AKEY_PRESENT));
        }
        if m.key(KeyKind::Encrypt).is_some() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_EKEY_PRESENT));
        }
        if !matches!(
            sa.state,
            S::SADB_SASTATE_MATURE | S::SADB_X_SASTATE_ACTIVE_ELSEWHERE
        ) {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_SASTATE));
        }
        if !F::ESP_UPDATE_SETTABLE_FLAGS.contains(sa.flags) {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_SAFLAGS));
        }
        if m.lifetime(LifetimeKind::Current).is_some() {
            return Err((Errno::EOPNOTSUPP, D::SADB_X_DIAGNOSTIC_MISSING_LIFETIME));
        }
        if m.ext(X::SADB_EXT_SENSITIVITY).is_some() || m.ext(X::SADB_X_EXT_OUTER_SENS).is_some() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_LABEL));
        }
        if m.ext(X::SADB_X_EXT_REPLAY_VALUE).is_some() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_SASTATE));
        }
        let hard = m.lifetime(LifetimeKind::Hard).copied();
        let soft = m.lifetime(LifetimeKind::Soft).copied();
        let idle = m.lifetime(LifetimeKind::Idle).copied();
        hardsoft_check(hard.as_ref(), soft.as_ref(), idle.as_ref())?;
        let mut targets = vec![idx];
        if m.header.msg_type == T::SADB_X_UPDATEPAIR {
            let pair = self.sas.get(idx).and_then(|s| s.pair);
            let p = pair
                .and_then(|p| {
                    self.sas
                        .iter()
                        .position(|s| s.spi == p && s.pair == Some(sa.spi))
                })
                .ok_or((Errno::ESRCH, D::SADB_X_DIAGNOSTIC_PAIR_SA_NOTFOUND))?;
            targets.push(p);
        }
        let kmc = m.km_cookie();
        // Validate the cookie on every target before changing any.
        for &i in &targets {
            if let (Some(k), Some(s)) = (kmc, self.sas.get(i)) {
                check_kmc(&s.kmc, &k)?;
            }
        }
        let new_pair = match m.pair() {
            Some(p) => {
                let s = self
                    .sas
                    .get(idx)
                    .ok_or((Errno::ESRCH, D::SADB_X_DIAGNOSTIC_SA_NOTFOUND))?;
                Some(self.pair_partner(s, p)?)
            }
            None => None,
        };
        for &i in &targets {
            let Some(s) = self.sas.get_mut(i) else {
                continue;
            };
            for (dst_lt, src_lt) in [
                (&mut s.hard, hard),
                (&mut s.soft, soft),
                (&mut s.idle, idle),
            ] {
                if let Some(l) = src_lt {
                    apply_nonzero(dst_lt, &l);
                }
            }
            s.idle_next = None;
            if let Some(k) = kmc {
                if k.proto != SadbKmp::SADB_X_KMP_MANUAL {
                    s.kmc.proto = k.proto;
                }
                if k.cookie != 0 {
                    s.kmc.cookie = k.cookie;
                }
            }
        }
        if let Some(p) = new_pair {
            self.link_pair(idx, p);
        }
        strip_keys(&mut m);
        self.deliver(&m, Route::All, None);
        Ok(())
    }

    fn remove_sa(&mut self, idx: usize) -> Option<SaEntry> {
        (idx < self.sas.len()).then(|| self.sas.remove(idx))
    }

    fn unpair(&mut self, spi: u32, partner: Option<u32>) {
        if let Some(p) = partner {
            for s in &mut self.sas {
                if s.spi == p && s.pair == Some(spi) {
                    s.pair = None;
                    s.flags = s.flags.difference(F::SADB_X_SAFLAGS_PAIRED);
                }
            }
        }
    }

    fn delete(&mut self, m: SadbMsg) -> Result<(), Reject> {
        let delpair = m.header.msg_type == T::SADB_X_DELPAIR;
        let Some(sa) = m.sa().copied() else {
            return self.purge(m);
        };
        let dst = m
            .address(AddressKind::Dst)
            .cloned()
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_DST))?;
        let src = m.address(AddressKind::Src).cloned();
        let first = if sa.flags.contains(F::SADB_X_SAFLAGS_OUTBOUND) {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        let idx = self
            .find(sa.spi, src.as_ref(), &dst, first)
            .ok_or((Errno::ESRCH, D::SADB_X_DIAGNOSTIC_SA_NOTFOUND))?;
        let gone = self
            .remove_sa(idx)
            .ok_or((Errno::ESRCH, D::SADB_X_DIAGNOSTIC_SA_NOTFOUND))?;
        let mut h = m.header;
        let mut partner_missing = false;
        if delpair {
            let p = gone.pair.and_then(|p| {
                self.sas
                    .iter()
                    .position(|s| s.spi == p && s.pair == Some(gone.spi))
            });
            match p {
                Some(p) => {
                    self.remove_sa(p);
                }
                None => partner_missing = true,
            }
        } else {
            self.unpair(gone.spi, gone.pair);
        }
        if partner_missing {
            h.errno = Errno::ESRCH;
            h.diagnostic = D::SADB_X_DIAGNOSTIC_PAIR_SA_NOTFOUND;
            self.deliver(&SadbMsg::new(h), Route::All, None);
            return Ok(());
        }
        let mut r = SadbMsg::new(h);
        r.exts = gone.describe(false, 0);
        self.deliver(&r, Route::All, None);
        Ok(())
    }

    fn purge(&mut self, m: SadbMsg) -> Result<(), Reject> {
        let src = m.address(AddressKind::Src).cloned();
        let dst = m.address(AddressKind::Dst).cloned();
        if src.is_none() && dst.is_none() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_MISSING_SA));
        }
        let kmc = m.km_cookie();
        let v4 = src
            .as_ref()
            .or(dst.as_ref())
            .and_then(|a| a.addr.ip())
            .map(|a| a.is_ipv4());
        let ident = |k: crate::wire::IdentKind| {
            m.exts.iter().find_map(move |e| match e {
                Extension::Identity(kk, i) if *kk == k => Some(i.as_str()),
                _ => None,
            })
        };
        let (isrc, idst) = (
            ident(crate::wire::IdentKind::Src),
            ident(crate::wire::IdentKind::Dst),
        );
        let mut removed = Vec::new();
        self.sas.retain(|s| {
            let hit = s.state != S::SADB_SASTATE_LARVAL
                && s.dst_ip().map(|a| a.is_ipv4()) == v4
                && src.as_ref().is_none_or(|a| same_ip(&s.src, a))
                && dst.as_ref().is_none_or(|a| same_ip(&s.dst, a))
                && isrc
                    .as_ref()
                    .is_none_or(|i| s.ident_src.as_ref().is_some_and(|x| &x.as_str() == i))
                && idst
                    .as_ref()
                    .is_none_or(|i| s.ident_dst.as_ref().is_some_and(|x| &x.as_str() == i))
                && kmc.is_none_or(|k| {
                    (k.proto.0 == 0 || k.proto == s.kmc.proto)
                        && (k.cookie == 0 || k.cookie == s.kmc.cookie)
                });
            if hit {
                removed.push((s.spi, s.pair));
            }
            !hit
        });
        for (spi, pair) in removed {
            self.unpair(spi, pair);
        }
        self.deliver(&m, Route::All, None);
        Ok(())
    }

    fn get(&mut self, from: ClientId, m: SadbMsg) -> Result<(), Reject> {
        let dst = m
            .address(AddressKind::Dst)
            .cloned()
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_DST))?;
        let sa = *m.sa().ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_SA))?;
        let src = m.address(AddressKind::Src).cloned();
        let first = if sa.flags.contains(F::SADB_X_SAFLAGS_OUTBOUND) {
            Direction::Outbound
        } else {
            Direction::Inbound
        };
        let idx = self
            .find(sa.spi, src.as_ref(), &dst, first)
            .ok_or((Errno::ESRCH, D::SADB_X_DIAGNOSTIC_SA_NOTFOUND))?;
        let Some(s) = self.sas.get(idx) else {
            return Err((Errno::ESRCH, D::SADB_X_DIAGNOSTIC_SA_NOTFOUND));
        };
        let mut r = SadbMsg::new(m.header);
        r.exts = s.describe(true, self.iv_bytes(s.encrypt));
        self.deliver(&r, Route::Sender, Some(from));
        Ok(())
    }

    fn delpair_state(&mut self, m: SadbMsg) -> Result<(), Reject> {
        let src = m
            .address(AddressKind::Src)
            .cloned()
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_SRC))?;
        m.address(AddressKind::Dst)
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_DST))?;
        let Some(sa) = m.sa().copied() else {
            return self.purge(m);
        };
        let victims: Vec<(u32, Option<u32>)> = self
            .sas
            .iter()
            .filter(|s| {
                s.dir == Direction::Outbound && s.state == sa.state && same_ip(&s.src, &src)
            })
            .map(|s| (s.spi, s.pair))
            .collect();
        self.sas.retain(|s| {
            !victims
                .iter()
                .any(|(spi, pair)| s.spi == *spi || (Some(s.spi) == *pair && s.pair == Some(*spi)))
        });
        self.deliver(&m, Route::Sender, None);
        Ok(())
    }

    // ------------------------------------------------- policy-driven paths

    fn tunnel_by_outer(&self, local: IpAddr, remote: IpAddr) -> Option<&Tunnel> {
        self.tunnels
            .iter()
            .find(|t| t.local == local && t.remote == remote)
    }

    fn inverse_acquire(&mut self, from: ClientId, m: &SadbMsg) -> Result<(), Reject> {
        let src = m
            .address(AddressKind::Src)
            .cloned()
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_SRC))?;
        let dst = m
            .address(AddressKind::Dst)
            .cloned()
            .ok_or(rej(D::SADB_X_DIAGNOSTIC_MISSING_DST))?;
        let isrc = m.address(AddressKind::InnerSrc).cloned();
        let idst = m.address(AddressKind::InnerDst).cloned();
        let (Some(sip), Some(dip)) = (src.addr.ip(), dst.addr.ip()) else {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_SRC_AF));
        };
        if sip.is_multicast() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_SRC));
        }
        if dip.is_unspecified() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_DST));
        }
        if sip.is_ipv4() != dip.is_ipv4() {
            return Err(rej(D::SADB_X_DIAGNOSTIC_AF_MISMATCH));
        }
        let inner = match (&isrc, &idst) {
            (Some(a), Some(b)) => {
                let (Some(ai), Some(bi)) = (a.addr.ip(), b.addr.ip()) else {
                    return Err(rej(D::SADB_X_DIAGNOSTIC_BAD_INNER_SRC_AF));
                };
                if ai.is_ipv4() != bi.is_ipv4() {
                    return Err(rej(D::SADB_X_DIAGNOSTIC_INNER_AF_MISMATCH));
                }
                let want = if ai.is_ipv4() { 4 } else { 41 };
                if src.proto != 0 && src.proto != want {
                    return Err((Errno::EPROTOTYPE, D::SADB_X_DIAGNOSTIC_INNER_AF_MISMATCH));
                }
                Some(Selector {
                    local: ai,
                    remote: bi,
                    proto: a.proto.max(b.proto),
                    local_port: a.addr.port(),
                    remote_port: b.addr.port(),
                })
            }
            (Some(_), None) => return Err(rej(D::SADB_X_DIAGNOSTIC_MISSING_INNER_DST)),
            (None, Some(_)) => return Err(rej(D::SADB_X_DIAGNOSTIC_MISSING_INNER_SRC)),
            (None, None) => None,
        };
        let noent = (Errno::ENOENT, D::SADB_X_DIAGNOSTIC_NONE);
        let tunnel = if matches!(src.proto, 4 | 41) || inner.is_some() {
            self.tunnel_by_outer(sip, dip).map(|t| t.name.clone())
        } else {
            None
        };
        let outer_sel = Selector {
            local: sip,
            remote: dip,
            proto: src.proto,
            local_port: src.addr.port(),
            remote_port: dst.addr.port(),
        };
        let rule = match (&tunnel, inner) {
            (Some(name), inner) => {
                let head = self.spd.active.tunnels.get(name).ok_or(noent)?;
                let tunnel_mode = head.rules.first().is_some_and(|r| {
                    r.spec.flags & crate::registry::spd_rule_flag::SPD_RULE_FLAG_TUNNEL != 0
                });
                match (inner, tunnel_mode) {
                    (Some(sel), true) => head.lookup(&sel, true).cloned().ok_or(noent)?,
                    (None, false) => head
                        .rules
                        .iter()
                        .find(|r| {
                            r.spec.flags & crate::registry::spd_rule_flag::SPD_RULE_FLAG_OUTBOUND
                                != 0
                        })
                        .cloned()
                        .ok_or(noent)?,
                    _ => return Err(noent),
                }
            }
            (None, _) => self
                .spd
                .active
                .global
                .lookup(&outer_sel, true)
                .cloned()
                .ok_or(noent)?,
        };
        let ecombs: Vec<_> = rule
            .spec
            .actions
            .iter()
            .filter_map(|a| spd::alt_to_ecomb(a, &self.cfg.algs))
            .collect();
        if ecombs.is_empty() {
            return Err(noent);
        }
        let replay = rule
            .spec
            .actions
            .iter()
            .find_map(|a| a.replay_depth)
            .and_then(|r| u8::try_from(r).ok())
            .unwrap_or(self.cfg.replay_size);
        let mut h = m.header;
        h.msg_type = T::SADB_ACQUIRE;
        h.satype = SadbSaType::SADB_SATYPE_UNSPEC;
        let mut r = SadbMsg::new(h);
        if let (Some(a), Some(b)) = (isrc, idst) {
            r.exts.push(Extension::Address(AddressKind::InnerSrc, a));
            r.exts.push(Extension::Address(AddressKind::InnerDst, b));
        }
        r.exts.push(Extension::Address(AddressKind::Src, src));
        r.exts.push(Extension::Address(AddressKind::Dst, dst));
        r.exts.push(Extension::Eprop(EpropExt {
            replay,
            ecombs,
            kmc: None,
        }));
        self.deliver(&r, Route::AcquireExtended, Some(from));
        Ok(())
    }

    /// Outbound policy lookup for a packet (the data-plane hook). For a
    /// packet entering tunnel link `tun`, `sel` describes the inner packet.
    pub fn outbound_lookup(&mut self, now: Instant, tun: Option<&str>, sel: &Selector) -> Outbound {
        let head = match tun {
            Some(n) => match self.spd.active.tunnels.get(n) {
                Some(h) => h,
                None => return Outbound::NoPolicy,
            },
            None => &self.spd.active.global,
        };
        let Some(rule) = head.lookup(sel, true).cloned() else {
            return Outbound::NoPolicy;
        };
        let Some(first) = rule.spec.actions.first() else {
            return Outbound::Drop;
        };
        match first.act_type {
            crate::registry::SpdActType::SPD_ACTTYPE_PASS => return Outbound::Bypass,
            crate::registry::SpdActType::SPD_ACTTYPE_DROP => return Outbound::Drop,
            _ => {}
        }
        let tunnel_mode =
            rule.spec.flags & crate::registry::spd_rule_flag::SPD_RULE_FLAG_TUNNEL != 0;
        let (outer_local, outer_remote) = match tun {
            Some(n) => match self.tunnels.iter().find(|t| t.name == n) {
                Some(t) => (t.local, t.remote),
                None => return Outbound::Drop,
            },
            None => (sel.local, sel.remote),
        };
        let combs: Vec<_> = rule
            .spec
            .actions
            .iter()
            .filter_map(|a| spd::alt_to_comb(a, &self.cfg.algs))
            .collect();
        let usable = |s: &SaEntry| {
            s.dir == Direction::Outbound
                && matches!(s.state, S::SADB_SASTATE_MATURE | S::SADB_SASTATE_DYING)
                && s.dst_ip() == Some(outer_remote)
                && s.src_ip()
                    .is_none_or(|a| a.is_unspecified() || a == outer_local)
                && s.is_tunnel() == tunnel_mode
                && combs.iter().any(|c| {
                    c.encrypt == s.encrypt
                        && (c.auth == SadbAalg::SADB_AALG_NONE || c.auth == s.auth)
                })
                && (!tunnel_mode
                    || s.inner.as_ref().is_some_and(|(a, b)| {
                        inner_covers(a, sel.local) && inner_covers(b, sel.remote)
                    }))
        };
        if let Some(s) = self.sas.iter().rev().find(|s| usable(s)) {
            return Outbound::Protect(Box::new(s.snapshot()));
        }
        // No SA: queue on an acquire record, one ACQUIRE per new record.
        let tun_key = tun.map(str::to_string);
        if let Some(a) = self
            .acquires
            .iter_mut()
            .find(|a| a.dst == outer_remote && a.tun == tun_key && a.rule == rule.index)
        {
            a.queued = a.queued.saturating_add(1).min(self.cfg.acquire_max_packets);
            return Outbound::Pending { seq: a.seq };
        }
        let any_regular = self
            .clients
            .values()
            .any(|c| !c.extended && c.registered.contains(&SadbSaType::SADB_SATYPE_ESP));
        let any_extended = self.clients.values().any(|c| c.extended);
        if !any_regular && !any_extended {
            // esp_keysock_no_socket: nobody to negotiate, drop at once.
            return Outbound::Drop;
        }
        self.acq_seq = self.acq_seq.wrapping_sub(1);
        let seq = self.acq_seq | 0x8000_0000;
        let addr = |ip: IpAddr, proto: u8| AddressExt {
            proto,
            prefixlen: 0,
            addr: SockAddr::from_ip(ip),
        };
        let (osrc, odst, inner) = if tunnel_mode {
            let p = if sel.local.is_ipv4() { 4 } else { 41 };
            let sel_addr = |n: Option<(IpAddr, u8)>, port: Option<u16>, v4: bool| AddressExt {
                proto: rule.spec.proto.unwrap_or(0),
                prefixlen: n.map_or(0, |x| x.1),
                addr: SockAddr::from_ip(n.map_or(
                    if v4 {
                        IpAddr::from([0u8; 4])
                    } else {
                        IpAddr::from([0u8; 16])
                    },
                    |x| x.0,
                ))
                .with_port(port.unwrap_or(0)),
            };
            let v4 = sel.local.is_ipv4();
            (
                addr(outer_local, p),
                addr(outer_remote, p),
                Some((
                    sel_addr(rule.spec.local, rule.spec.local_port, v4),
                    sel_addr(rule.spec.remote, rule.spec.remote_port, v4),
                )),
            )
        } else {
            let unique = first.flags & crate::registry::spd_apply::SPD_APPLY_UNIQUE != 0;
            let (proto, lp, rp) = if unique {
                (sel.proto, sel.local_port, sel.remote_port)
            } else {
                (
                    rule.spec.proto.unwrap_or(0),
                    rule.spec.local_port.unwrap_or(0),
                    rule.spec.remote_port.unwrap_or(0),
                )
            };
            (
                AddressExt {
                    proto,
                    prefixlen: 0,
                    addr: SockAddr::from_ip(outer_local).with_port(lp),
                },
                AddressExt {
                    proto,
                    prefixlen: 0,
                    addr: SockAddr::from_ip(outer_remote).with_port(rp),
                },
                None,
            )
        };
        let replay = first
            .replay_depth
            .and_then(|r| u8::try_from(r).ok())
            .unwrap_or(self.cfg.replay_size);
        let build = |satype: SadbSaType, prop: Extension| {
            let mut m = SadbMsg::new(SadbHeader::new(T::SADB_ACQUIRE, satype, seq, 0));
            if let Some((a, b)) = &inner {
                m.exts
                    .push(Extension::Address(AddressKind::InnerSrc, a.clone()));
                m.exts
                    .push(Extension::Address(AddressKind::InnerDst, b.clone()));
            }
            m.exts
                .push(Extension::Address(AddressKind::Src, osrc.clone()));
            m.exts
                .push(Extension::Address(AddressKind::Dst, odst.clone()));
            m.exts.push(prop);
            m
        };
        if any_extended {
            let ecombs = rule
                .spec
                .actions
                .iter()
                .filter_map(|a| spd::alt_to_ecomb(a, &self.cfg.algs))
                .collect();
            let m = build(
                SadbSaType::SADB_SATYPE_UNSPEC,
                Extension::Eprop(EpropExt {
                    replay,
                    ecombs,
                    kmc: None,
                }),
            );
            self.deliver(&m, Route::AcquireExtended, None);
        }
        if any_regular {
            let m = build(
                SadbSaType::SADB_SATYPE_ESP,
                Extension::Proposal(ProposalExt {
                    replay,
                    combs,
                    kmc: None,
                }),
            );
            self.deliver(&m, Route::AcquireRegular(SadbSaType::SADB_SATYPE_ESP), None);
        }
        self.acquires.push(AcquireRecord {
            seq,
            dst: outer_remote,
            tun: tun_key,
            rule: rule.index,
            deadline: now.checked_add(self.cfg.acquire_timeout).unwrap_or(now),
            queued: 1,
        });
        Outbound::Acquire { seq }
    }

    /// Inbound SA for an ESP packet (SPI + outer destination).
    pub fn lookup_inbound(&self, spi: u32, dst: IpAddr) -> Option<SaSnapshot> {
        self.sas
            .iter()
            .find(|s| {
                s.dir == Direction::Inbound
                    && s.spi == spi
                    && s.dst_ip() == Some(dst)
                    && matches!(s.state, S::SADB_SASTATE_MATURE | S::SADB_SASTATE_DYING)
            })
            .map(SaEntry::snapshot)
    }

    /// Any usable (MATURE or DYING) SA by table, SPI and outer destination:
    /// lets a data plane check that an SA it caches still exists.
    pub fn lookup_sa(&self, dir: Direction, spi: u32, dst: IpAddr) -> Option<SaSnapshot> {
        self.sas
            .iter()
            .find(|s| {
                s.dir == dir
                    && s.spi == spi
                    && s.dst_ip() == Some(dst)
                    && matches!(s.state, S::SADB_SASTATE_MATURE | S::SADB_SASTATE_DYING)
            })
            .map(SaEntry::snapshot)
    }

    /// Count `bytes` processed by an SA (the data plane's byte counters),
    /// firing soft/hard byte EXPIREs as the kernel's `sadb_age_bytes` does.
    pub fn record_bytes(
        &mut self,
        now: Instant,
        dir: Direction,
        spi: u32,
        dst: IpAddr,
        bytes: u64,
    ) -> ByteVerdict {
        let unix = self.unix(now);
        let Some(i) = self.sas.iter().position(|s| {
            s.dir == dir
                && s.spi == spi
                && s.dst_ip() == Some(dst)
                && matches!(s.state, S::SADB_SASTATE_MATURE | S::SADB_SASTATE_DYING)
        }) else {
            return ByteVerdict::NotFound;
        };
        let Some(s) = self.sas.get_mut(i) else {
            return ByteVerdict::NotFound;
        };
        s.bytes = s.bytes.saturating_add(bytes);
        if s.first_use.is_none() {
            s.first_use = Some((now, unix));
        }
        s.last_use = Some(now);
        s.idle_next = None;
        s.flags = s.flags.union(F::SADB_X_SAFLAGS_USED);
        if s.hard.bytes != 0 && s.bytes >= s.hard.bytes {
            self.expire(now, i, LifetimeKind::Hard);
            return ByteVerdict::HardExpired;
        }
        if s.soft.bytes != 0 && s.bytes >= s.soft.bytes && s.state == S::SADB_SASTATE_MATURE {
            self.expire(now, i, LifetimeKind::Soft);
            return ByteVerdict::SoftExpired;
        }
        ByteVerdict::Ok
    }

    fn expire(&mut self, now: Instant, i: usize, which: LifetimeKind) {
        self.generation = self.generation.wrapping_add(1);
        let Some(s) = self.sas.get_mut(i) else { return };
        match which {
            LifetimeKind::Hard => {
                s.state = S::SADB_SASTATE_DEAD;
                s.dead_at = Some(now);
            }
            LifetimeKind::Soft => s.state = S::SADB_SASTATE_DYING,
            _ => s.idle_next = now.checked_add(self.cfg.idle_repeat),
        }
        let mut m = SadbMsg::new(SadbHeader::new(T::SADB_EXPIRE, s.satype, 0, 0));
        m.exts = s.expire_body(which);
        let (spi, pair, dir) = (s.spi, s.pair, s.dir);
        if which == LifetimeKind::Hard {
            s.pair = None;
            // Break the pair: an inbound death forces the outbound partner
            // to its own hard EXPIRE; an outbound death kills the inbound
            // partner silently (reading of age_pair_peer_list).
            if let Some(p) = pair {
                if let Some(partner) = self
                    .sas
                    .iter_mut()
                    .find(|x| x.spi == p && x.pair == Some(spi))
                {
                    partner.pair = None;
                    partner.flags = partner.flags.difference(F::SADB_X_SAFLAGS_PAIRED);
                    if dir == Direction::Inbound {
                        partner.force_hard = true;
                    } else {
                        partner.state = S::SADB_SASTATE_DEAD;
                        partner.dead_at = Some(now);
                    }
                }
            }
        }
        self.deliver(&m, Route::All, None);
    }

    /// Fire every deadline at or before `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        let before = self.sas.len();
        // Larval and acquire timeouts: silent.
        self.sas
            .retain(|s| s.larval_deadline.is_none_or(|d| d > now));
        let mut dropped = Vec::new();
        self.acquires.retain(|a| {
            let keep = a.deadline > now;
            if !keep {
                dropped.push(a.seq);
            }
            keep
        });
        if !dropped.is_empty() {
            self.generation = self.generation.wrapping_add(1);
        }
        for seq in dropped {
            self.events.push_back(AcquireEvent::Dropped { seq });
        }
        let reap = self.cfg.reap_delay;
        self.sas.retain(|s| {
            s.dead_at
                .is_none_or(|d| d.checked_add(reap).is_none_or(|t| t > now))
        });
        if self.sas.len() != before {
            self.generation = self.generation.wrapping_add(1);
        }
        let mut i = 0;
        while i < self.sas.len() {
            let (hard, soft, idle) = match self.sas.get(i) {
                Some(s) => (s.hard_deadline(), s.soft_deadline(), s.idle_deadline()),
                None => break,
            };
            if hard.is_some_and(|d| d <= now) {
                self.expire(now, i, LifetimeKind::Hard);
            } else if soft.is_some_and(|d| d <= now) {
                self.expire(now, i, LifetimeKind::Soft);
                continue; // re-check hard for the same SA
            } else if idle.is_some_and(|d| d <= now) {
                self.expire(now, i, LifetimeKind::Idle);
            }
            i = i.saturating_add(1);
        }
    }
}

fn inner_covers(net: &AddressExt, ip: IpAddr) -> bool {
    net.addr.ip().is_some_and(|n| {
        // A zero length on a specific address means that host.
        let p = if net.prefixlen == 0 && !n.is_unspecified() {
            if n.is_ipv4() {
                32
            } else {
                128
            }
        } else {
            net.prefixlen
        };
        crate::dataplane::prefix_covers((n, p), ip)
    })
}

/// `sadb_hardsoftchk` (reference §2.3 ADD step 6).
fn hardsoft_check(
    hard: Option<&Lifetime>,
    soft: Option<&Lifetime>,
    idle: Option<&Lifetime>,
) -> Result<(), Reject> {
    let bad = |h: u64, s: u64| h != 0 && s != 0 && s > h;
    if let (Some(h), Some(s)) = (hard, soft) {
        if h.allocations != 0 && s.allocations != 0 && s.allocations > h.allocations {
            return Err(rej(D::SADB_X_DIAGNOSTIC_ALLOC_HSERR));
        }
        if bad(h.bytes, s.bytes) {
            return Err(rej(D::SADB_X_DIAGNOSTIC_BYTES_HSERR));
        }
        if bad(h.addtime, s.addtime) {
            return Err(rej(D::SADB_X_DIAGNOSTIC_ADDTIME_HSERR));
        }
        if bad(h.usetime, s.usetime) {
            return Err(rej(D::SADB_X_DIAGNOSTIC_USETIME_HSERR));
        }
    }
    if let Some(i) = idle {
        for l in [hard, soft].into_iter().flatten() {
            if bad(l.addtime, i.addtime) {
                return Err(rej(D::SADB_X_DIAGNOSTIC_ADDTIME_HSERR));
            }
            if bad(l.usetime, i.usetime) {
                return Err(rej(D::SADB_X_DIAGNOSTIC_USETIME_HSERR));
            }
        }
    }
    Ok(())
}

/// `sadb_check_kmc`: a different proto is refused; a different cookie is
/// refused unless the proto is IKEv2 (then it is replaced).
fn check_kmc(have: &KmCookie, new: &KmCookie) -> Result<(), Reject> {
    if new.proto.0 != 0 && have.proto.0 != 0 && new.proto != have.proto {
        return Err(rej(D::SADB_X_DIAGNOSTIC_DUPLICATE_KMP));
    }
    let proto = if new.proto.0 != 0 {
        new.proto
    } else {
        have.proto
    };
    if new.cookie != 0
        && have.cookie != 0
        && new.cookie != have.cookie
        && proto != SadbKmp::SADB_X_KMP_IKEV2
    {
        return Err(rej(D::SADB_X_DIAGNOSTIC_DUPLICATE_KMC));
    }
    Ok(())
}

/// `sadb_update_lifetimes`: only non-zero fields are applied.
fn apply_nonzero(dst: &mut Lifetime, src: &Lifetime) {
    if src.allocations != 0 {
        dst.allocations = src.allocations;
    }
    if src.bytes != 0 {
        dst.bytes = src.bytes;
    }
    if src.addtime != 0 {
        dst.addtime = src.addtime;
    }
    if src.usetime != 0 {
        dst.usetime = src.usetime;
    }
}

impl Direction {
    /// The SA flag naming this direction.
    pub fn flag(self) -> F {
        match self {
            Self::Inbound => F::SADB_X_SAFLAGS_INBOUND,
            Self::Outbound => F::SADB_X_SAFLAGS_OUTBOUND,
        }
    }
}

impl core::fmt::Debug for Engine {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Engine")
            .field("sas", &self.sas.len())
            .field("clients", &self.clients.len())
            .field("acquires", &self.acquires.len())
            .finish_non_exhaustive()
    }
}
