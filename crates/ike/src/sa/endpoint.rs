//! [`Endpoint`]: every IKE SA of the gateway, routed by SPI.
//!
//! It answers IKE_SA_INIT before any per-SA state exists (COOKIE,
//! INVALID_KE_PAYLOAD, NO_PROPOSAL_CHOSEN: RFC 7296 §2.6, §1.2, §2.7),
//! limits half-open SAs, and is the one place that decides whether an
//! error is answered on the wire (RFC 7296 §2.21): unauthenticated garbage
//! is dropped silently, authenticated requests get a protected notify.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use super::config::{EndpointConfig, PeerConfig};
use super::exchange::{create_child, informational, init};
use super::ike_sa::{IkeSa, Rejected, Shared};
use super::timer::Timer;
use crate::crypto::Random;
use crate::error::{Error, LocalError, PeerIncompatible};
use crate::io::{Command, Event, IkeSaId, KernelEvent, KernelRequest, Path, Transmit};
use crate::wire::{
    strip_non_esp_marker, ExchangeType, HashAlgorithm, Header, HeaderPacket, Message, Notify,
    NotifyType, Payload,
};

/// The peer index of an SA whose configuration a
/// [`Endpoint::reconfigure`] removed while its Delete is in flight.
const DOOMED_PEER: usize = usize::MAX;

/// The child configuration index of a CHILD_SA whose configuration a
/// [`Endpoint::reconfigure`] removed while its Delete waits or is in flight.
const DOOMED_CHILD: usize = usize::MAX;

/// What [`Endpoint::reconfigure`] did, by peer name.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Reconfigured {
    /// Peers only in the new table.
    pub added: Vec<String>,
    /// Peers only in the old table; their IKE SAs are being deleted.
    pub removed: Vec<String>,
    /// Peers in both whose settings differ; their IKE SAs are being
    /// deleted.
    pub changed: Vec<String>,
    /// Peers in both with the same settings; their SAs were kept.
    pub unchanged: Vec<String>,
    /// Peers in both whose IKE settings are the same but whose children
    /// differ: their IKE SAs stay and take the new configuration; CHILD_SAs
    /// of children that are gone or changed are being deleted (those of
    /// unchanged children stay). Creating new children is the caller's
    /// choice, by [`Command::CreateChild`].
    pub children_changed: Vec<String>,
    /// The IKE SAs being deleted (Delete sent, or closed at once).
    pub deleted: Vec<IkeSaId>,
}

/// Length of the COOKIE secret (RFC 7296 §2.6).
const COOKIE_SECRET_LEN: usize = 32;

struct CookieSecrets {
    version: u8,
    current: [u8; COOKIE_SECRET_LEN],
    previous: Option<[u8; COOKIE_SECRET_LEN]>,
    rotate_at: Instant,
}

/// All IKE SAs of one gateway; the sans-IO core.
///
/// Methods, after quinn-proto's `Connection`:
/// - input: [`handle_datagram`](Self::handle_datagram),
///   [`handle_timeout`](Self::handle_timeout),
///   [`handle_command`](Self::handle_command),
///   [`handle_kernel`](Self::handle_kernel);
/// - output, drained after every input in this order:
///   [`poll_transmit`](Self::poll_transmit), [`poll_kernel`](Self::poll_kernel),
///   [`poll_event`](Self::poll_event); then re-arm the timer from
///   [`poll_timeout`](Self::poll_timeout);
/// - getters: [`ike_sa_count`](Self::ike_sa_count),
///   [`half_open_count`](Self::half_open_count),
///   [`is_established`](Self::is_established).
pub struct Endpoint {
    shared: Shared,
    sas: BTreeMap<u64, IkeSa>,
    /// (next timer deadline, SA) for every SA with a timer running, so the
    /// next deadline and the due SAs are found without a walk over all SAs.
    deadlines: BTreeSet<(Instant, u64)>,
    /// Each SA's entry in `deadlines`.
    deadline_of: BTreeMap<u64, Instant>,
    /// SAs with queued children, siblings or deletes.
    queued: BTreeSet<u64>,
    /// SAs changed since the indexes were last brought up to date (see
    /// [`Endpoint::sync_touched`]).
    touched: Vec<u64>,
    /// Responder SAs by (peer address, SPIi), to spot retransmitted
    /// IKE_SA_INIT requests.
    init_index: BTreeMap<(SocketAddr, u64), u64>,
    /// Each responder SA's key in `init_index` (the address its
    /// IKE_SA_INIT came from, which floating may change in `path`).
    init_key_of: BTreeMap<u64, (SocketAddr, u64)>,
    /// The responder SAs waiting for IKE_AUTH, kept in step with their
    /// states so that the half-open limit and the COOKIE threshold (RFC
    /// 7296 §2.6) cost no walk over every SA on each IKE_SA_INIT.
    half_open: BTreeSet<u64>,
    cookie: CookieSecrets,
}

impl core::fmt::Debug for Endpoint {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Endpoint")
            .field("ike_sas", &self.sas.len())
            .finish_non_exhaustive()
    }
}

impl Endpoint {
    /// A new endpoint. `rng` supplies SPIs, nonces, IVs, key-exchange
    /// secrets and the cookie secret (seeded in tests).
    pub fn new(config: EndpointConfig, rng: Box<dyn Random>, now: Instant) -> Result<Self, Error> {
        let mut current = [0u8; COOKIE_SECRET_LEN];
        rng.fill(&mut current)?;
        let rotate_at = now + config.cookie_secret_lifetime;
        Ok(Self {
            shared: Shared {
                config,
                wall_clock: None,
                rng,
                transmits: VecDeque::new(),
                events: VecDeque::new(),
                kernel: VecDeque::new(),
                new_sas: Vec::new(),
                initial_contacts: Vec::new(),
                child_moves: Vec::new(),
                redundant: Vec::new(),
                next_seq: 0,
                kernel_pending: BTreeMap::new(),
            },
            sas: BTreeMap::new(),
            init_index: BTreeMap::new(),
            init_key_of: BTreeMap::new(),
            half_open: BTreeSet::new(),
            deadlines: BTreeSet::new(),
            deadline_of: BTreeMap::new(),
            queued: BTreeSet::new(),
            touched: Vec::new(),
            cookie: CookieSecrets {
                version: 0,
                current,
                previous: None,
                rotate_at,
            },
        })
    }

    /// The configuration.
    pub fn config(&self) -> &EndpointConfig {
        &self.shared.config
    }

    /// Number of IKE SAs in any state.
    pub fn ike_sa_count(&self) -> usize {
        self.sas.len()
    }

    /// Number of responder SAs waiting for IKE_AUTH.
    pub fn half_open_count(&self) -> usize {
        self.half_open.len()
    }

    /// Brings the half-open set in line with the state of SA `id` (or its
    /// absence); called wherever an SA may enter or leave that state.
    fn track_half_open(&mut self, id: u64) {
        if self.sas.get(&id).is_some_and(IkeSa::is_half_open) {
            self.half_open.insert(id);
        } else {
            self.half_open.remove(&id);
        }
    }

    /// Ends every input: brings the deadline index and the set of SAs with
    /// queued work up to date for the SAs the input touched. Debug builds
    /// then check them, and the half-open set, against a full scan.
    fn finish_input(&mut self) {
        self.sync_touched();
        debug_assert_eq!(
            self.half_open.len(),
            self.sas.values().filter(|s| s.is_half_open()).count(),
            "half-open set out of step with the SA states"
        );
        #[cfg(debug_assertions)]
        for (id, sa) in &self.sas {
            debug_assert_eq!(
                self.deadline_of.get(id).copied(),
                sa.timers.next(),
                "deadline index out of step for SA {id:016x}"
            );
            debug_assert!(
                !sa.has_queued_work() || self.queued.contains(id),
                "queued work of SA {id:016x} not indexed"
            );
        }
        debug_assert_eq!(self.deadlines.len(), self.deadline_of.len());
        debug_assert!(
            self.init_index
                .iter()
                .all(|(k, id)| self.init_key_of.get(id) == Some(k) && self.sas.contains_key(id)),
            "IKE_SA_INIT index out of step with the SAs"
        );
    }

    /// Re-indexes the SAs touched since the last call: their next timer
    /// deadline and whether they have queued work. Every mutable access to
    /// an SA goes through [`tracked`] (or records the id), so no walk over
    /// all SAs is needed per input.
    fn sync_touched(&mut self) {
        let mut ids = std::mem::take(&mut self.touched);
        ids.sort_unstable();
        ids.dedup();
        for id in ids {
            if let Some(t) = self.deadline_of.remove(&id) {
                self.deadlines.remove(&(t, id));
            }
            match self.sas.get(&id) {
                Some(sa) => {
                    if let Some(t) = sa.timers.next() {
                        self.deadlines.insert((t, id));
                        self.deadline_of.insert(id, t);
                    }
                    if sa.has_queued_work() {
                        self.queued.insert(id);
                    } else {
                        self.queued.remove(&id);
                    }
                }
                None => {
                    self.queued.remove(&id);
                }
            }
        }
    }

    /// Whether this IKE SA has completed IKE_AUTH.
    pub fn is_established(&self, id: IkeSaId) -> bool {
        self.sas.get(&id.0).is_some_and(IkeSa::is_established)
    }

    /// Number of CHILD_SAs of an IKE SA.
    pub fn child_count(&self, id: IkeSaId) -> usize {
        self.sas.get(&id.0).map_or(0, |s| s.children.len())
    }

    /// The hash algorithms the peer of this IKE SA announced in
    /// SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4), in its order; empty if it
    /// announced none (or the SA is unknown).
    pub fn peer_signature_hashes(&self, id: IkeSaId) -> &[HashAlgorithm] {
        self.sas
            .get(&id.0)
            .map_or(&[], |s| s.peer_sig_hashes.as_slice())
    }

    /// The virtual IPs the peer of this IKE SA assigned to us (RFC 7296
    /// §2.19).
    pub fn virtual_ips(&self, id: IkeSaId) -> &[IpAddr] {
        self.sas.get(&id.0).map_or(&[], |s| s.vips.as_slice())
    }

    /// The virtual IPs we leased to the peer of this IKE SA.
    pub fn leased_ips(&self, id: IkeSaId) -> &[IpAddr] {
        self.sas.get(&id.0).map_or(&[], |s| s.leases.as_slice())
    }

    /// The current wall-clock time, for certificate validity (RFC 5280
    /// §4.1.2.5); the core never reads a clock. The driver sets it before
    /// handing in datagrams; verifiers get it through
    /// [`CertVerifier::verifier_at`](super::CertVerifier::verifier_at).
    /// Until it is set, [`CertVerifier::verifier_for`](super::CertVerifier::verifier_for)
    /// is used and the verifier keeps its own time.
    pub fn set_wall_clock(&mut self, now: SystemTime) {
        self.shared.wall_clock = Some(now);
    }

    /// Next datagram to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.shared.transmits.pop_front()
    }

    /// Next kernel request.
    pub fn poll_kernel(&mut self) -> Option<KernelRequest> {
        self.shared.kernel.pop_front()
    }

    /// Next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.shared.events.pop_front()
    }

    /// With [`EndpointConfig::one_family_per_child`]: whether child
    /// configuration `child` of IKE SA `ike_sa` has a CHILD_SA of one
    /// address family but none of the other it is configured for (and
    /// none queued or under way), so that
    /// [`Command::CreateChild`](crate::io::Command) would add it.
    pub fn child_family_missing(&self, ike_sa: IkeSaId, child: usize) -> bool {
        self.shared.config.one_family_per_child
            && self
                .sas
                .get(&ike_sa.0)
                .is_some_and(|sa| sa.missing_family(child).is_some())
    }

    /// The earliest deadline of any IKE SA; call
    /// [`handle_timeout`](Self::handle_timeout) when it passes.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.deadlines.first().map(|(t, _)| *t)
    }

    fn dropped(&mut self, path: Path, reason: String) {
        self.shared
            .events
            .push_back(Event::Dropped { path, reason });
    }

    fn new_spi(&self) -> Result<u64, Error> {
        loop {
            let spi = self.shared.random_u64()?;
            if spi != 0 && !self.sas.contains_key(&spi) {
                return Ok(spi);
            }
        }
    }

    /// Replaces the peer table, matching old and new peers by
    /// [`PeerConfig::name`] (names are expected to be unique; a repeated
    /// name only matches once):
    /// - a peer in both tables that `same(old, new)` calls unchanged keeps
    ///   its old `Arc` (so live SAs and the table agree) and its IKE and
    ///   CHILD SAs, untouched;
    /// - a removed or changed peer's IKE SAs are deleted: an established
    ///   SA with no exchange in flight gets a Delete (RFC 7296 §1.4.1),
    ///   which removes its CHILD_SAs from the kernel when answered; any
    ///   other SA is closed locally at once (kernel deletes requested);
    /// - a peer in both that differs only in its children
    ///   ([`PeerConfig::same_ike_settings`]) keeps its established IKE SAs,
    ///   which take the new configuration: CHILD_SAs of a child present
    ///   unchanged (by name and settings) stay and follow its new index,
    ///   the others are deleted (queued until the request window is free);
    ///   SAs still in IKE_SA_INIT or IKE_AUTH are deleted as for a change;
    /// - a new peer just becomes available to `Initiate` and responders.
    ///
    /// Whether a changed peer is initiated again is the caller's choice.
    /// Peer indexes ([`Command::Initiate`], [`Event::Established`]) refer to
    /// the new table afterwards.
    pub fn reconfigure(
        &mut self,
        now: Instant,
        peers: Vec<Arc<PeerConfig>>,
        same: impl Fn(&PeerConfig, &PeerConfig) -> bool,
    ) -> Reconfigured {
        let mut out = Reconfigured::default();
        let old = std::mem::take(&mut self.shared.config.peers);
        // Old index -> new index, for the peers whose SAs stay.
        let mut remap: BTreeMap<usize, usize> = BTreeMap::new();
        // Old index -> (new index, old config, new config) for the peers
        // whose SAs stay with other children.
        let mut rechild: BTreeMap<usize, (usize, Arc<PeerConfig>, Arc<PeerConfig>)> =
            BTreeMap::new();
        let mut matched = vec![false; old.len()];
        let mut table = Vec::with_capacity(peers.len());
        for (new_idx, new) in peers.into_iter().enumerate() {
            let hit = old
                .iter()
                .enumerate()
                .find(|(i, o)| o.name == new.name && !matched.get(*i).copied().unwrap_or(true));
            match hit {
                Some((i, o)) => {
                    if let Some(m) = matched.get_mut(i) {
                        *m = true;
                    }
                    if same(o, &new) {
                        remap.insert(i, new_idx);
                        out.unchanged.push(new.name.clone());
                        table.push(o.clone());
                    } else if o.same_ike_settings(&new) && o.children != new.children {
                        rechild.insert(i, (new_idx, o.clone(), new.clone()));
                        out.children_changed.push(new.name.clone());
                        table.push(new);
                    } else {
                        out.changed.push(new.name.clone());
                        table.push(new);
                    }
                }
                None => {
                    out.added.push(new.name.clone());
                    table.push(new);
                }
            }
        }
        for (o, m) in old.iter().zip(&matched) {
            if !m {
                out.removed.push(o.name.clone());
            }
        }
        self.shared.config.peers = table;
        let out = self.reconfigure_sas(now, remap, rechild, out);
        self.finish_input();
        out
    }

    fn reconfigure_sas(
        &mut self,
        now: Instant,
        remap: BTreeMap<usize, usize>,
        rechild: BTreeMap<usize, (usize, Arc<PeerConfig>, Arc<PeerConfig>)>,
        mut out: Reconfigured,
    ) -> Reconfigured {
        let ids: Vec<u64> = self.sas.keys().copied().collect();
        for id in ids {
            let Some(sa) = tracked(&mut self.sas, &mut self.touched, id) else {
                continue;
            };
            if let Some(n) = remap.get(&sa.peer) {
                sa.peer = *n;
                continue;
            }
            if let Some((n, old_cfg, new_cfg)) = rechild.get(&sa.peer) {
                if sa.is_established() {
                    sa.peer = *n;
                    rechild_sa(sa, old_cfg, new_cfg);
                    continue;
                }
                // Still in IKE_AUTH with a child that may be gone: start over.
            }
            if sa.peer == DOOMED_PEER {
                // Already being deleted by an earlier reconfiguration.
                continue;
            }
            // No index may point into the new table any more: a later
            // `Initiate` must not see this SA as the peer's.
            sa.peer = DOOMED_PEER;
            out.deleted.push(IkeSaId(id));
            let sent = sa.is_established()
                && sa.pending.is_none()
                && informational::start_delete(sa, now, &mut self.shared).is_ok();
            if !sent {
                self.close(
                    id,
                    "connection removed or changed by reconfiguration".into(),
                );
            }
        }
        out
    }

    /// Starts the queued work of every idle established SA: deletions of
    /// CHILD_SAs a reconfiguration removed, then new CHILD_SAs asked for
    /// while IKE_AUTH or another exchange was in flight (one request at a
    /// time, RFC 7296 §2.3).
    fn run_queues(&mut self, now: Instant) {
        self.sync_touched();
        let ready: Vec<u64> = self
            .queued
            .iter()
            .filter(|id| {
                self.sas
                    .get(id)
                    .is_some_and(|s| s.is_established() && s.pending.is_none() && !s.superseded)
            })
            .copied()
            .collect();
        for id in ready {
            let Some(sa) = tracked(&mut self.sas, &mut self.touched, id) else {
                continue;
            };
            while sa.pending.is_none() {
                if let Some(spi) = sa.queued_deletes.pop_front() {
                    if !sa.children.iter().any(|c| c.inbound_spi == spi) {
                        continue;
                    }
                    if let Err(e) =
                        informational::start_delete_child(sa, now, &mut self.shared, spi)
                    {
                        self.shared.events.push_back(Event::ChildFailed {
                            ike_sa: sa.id,
                            child: None,
                            reason: format!("deleting CHILD_SA {spi:08x}: {e}"),
                        });
                    }
                } else if let Some(child) = sa.queued_children.pop_front() {
                    if let Err(e) = create_child::start_new_child(sa, now, &mut self.shared, child)
                    {
                        self.shared.events.push_back(Event::ChildFailed {
                            ike_sa: sa.id,
                            child: Some(child),
                            reason: e.to_string(),
                        });
                    }
                } else if let Some((child, family)) = sa.queued_siblings.pop_front() {
                    if let Err(e) =
                        create_child::start_sibling(sa, now, &mut self.shared, child, family)
                    {
                        self.shared.events.push_back(Event::ChildFailed {
                            ike_sa: sa.id,
                            child: Some(child),
                            reason: format!("{family} CHILD_SA: {e}"),
                        });
                    }
                } else {
                    break;
                }
            }
        }
    }

    /// A UDP datagram arrived on `path` (with the non-ESP marker if it came
    /// to the NAT-T port).
    pub fn handle_datagram(&mut self, now: Instant, path: Path, bytes: &[u8]) {
        self.datagram(now, path, bytes);
        self.finish_input();
    }

    fn datagram(&mut self, now: Instant, path: Path, bytes: &[u8]) {
        // A NAT-T keepalive (RFC 3948 §2.3) only refreshes the NAT mapping.
        if bytes == [0xff] && path.local.port() == self.shared.config.natt_port {
            return;
        }
        let data = if path.local.port() == self.shared.config.natt_port {
            match strip_non_esp_marker(bytes) {
                Some(d) => d,
                // ESP (non-zero SPI) or a NAT-T keepalive (RFC 3948 §2.3):
                // not for the IKE core.
                None => return self.dropped(path, "not an IKE message on the NAT-T port".into()),
            }
        } else {
            bytes
        };
        if HeaderPacket::new_checked(data).is_err() {
            return self.dropped(path, "shorter than an IKE header".into());
        }
        let msg = match Message::parse(data) {
            Ok(m) => m,
            // Unauthenticated garbage gets no answer (RFC 7296 §2.21.1).
            Err(e) => return self.dropped(path, e.to_string()),
        };
        let h = msg.header;
        if h.exchange == ExchangeType::IKE_SA_INIT && !h.response {
            return self.handle_init_request(now, path, &msg, data);
        }
        let our_spi = if h.initiator { h.spi_r } else { h.spi_i };
        let Some(sa) = tracked(&mut self.sas, &mut self.touched, our_spi) else {
            return self.dropped(path, format!("no IKE SA for SPI {our_spi:016x}"));
        };
        let other_ok = if h.initiator {
            sa.spi_i == h.spi_i
        } else {
            sa.spi_r == 0 || sa.spi_r == h.spi_r
        };
        if !other_ok {
            return self.dropped(path, "IKE SPI pair does not match".into());
        }
        if let Some(e) = msg.unsupported_critical() {
            return self.dropped(path, e.to_string());
        }
        let r = sa.handle_message(now, &mut self.shared, path, &msg, data);
        self.after(now, our_spi, path, r);
    }

    /// Applies the outcome of an SA's processing: the one place deciding
    /// what goes back on the wire for an error.
    fn after(&mut self, now: Instant, id: u64, path: Path, r: Result<(), Rejected>) {
        self.track_half_open(id);
        match r {
            Ok(()) => {}
            Err(Rejected::Drop(e)) => self.dropped(path, e.to_string()),
            Err(Rejected::Respond {
                msg_id,
                exchange,
                error,
            }) => {
                if let (Some(n), Some(sa)) = (
                    error.notify(),
                    tracked(&mut self.sas, &mut self.touched, id),
                ) {
                    sa.respond_error(&mut self.shared, exchange, msg_id, n);
                }
                self.dropped(path, error.to_string());
            }
            Err(Rejected::Fatal { respond, error }) => {
                if let (Some((msg_id, exchange)), Some(n), Some(sa)) = (
                    respond,
                    error.notify(),
                    tracked(&mut self.sas, &mut self.touched, id),
                ) {
                    sa.respond_error(&mut self.shared, exchange, msg_id, n);
                }
                self.close(id, error.to_string());
            }
        }
        // New SAs first: CHILD_SAs that a rekey collision moves out of a
        // closed SA must reach the survivor before the closed one goes.
        self.adopt_new_sas(now);
        if self.sas.get(&id).is_some_and(IkeSa::is_closed) {
            self.remove(id);
        }
        self.apply_initial_contacts();
        self.run_queues(now);
    }

    /// RFC 7296 §2.4: a peer sending INITIAL_CONTACT has lost all its
    /// state, so our older IKE SAs with the same identity are dead; close
    /// them (and remove their CHILD_SAs) without a message.
    fn apply_initial_contacts(&mut self) {
        for new in std::mem::take(&mut self.shared.initial_contacts) {
            let Some(sa) = self.sas.get(&new.0) else {
                continue;
            };
            let (peer, remote_id) = (sa.peer, sa.remote_id.clone());
            let stale: Vec<u64> = self
                .sas
                .iter()
                .filter(|(id, s)| {
                    **id != new.0
                        && s.peer == peer
                        && s.remote_id == remote_id
                        && s.is_established()
                })
                .map(|(id, _)| *id)
                .collect();
            for id in stale {
                self.close(id, "replaced: peer sent INITIAL_CONTACT".into());
            }
        }
    }

    /// Takes in IKE SAs created by rekeying.
    fn adopt_new_sas(&mut self, now: Instant) {
        for sa in std::mem::take(&mut self.shared.new_sas) {
            let id = sa.id;
            if self.sas.contains_key(&id.0) {
                // A 2^-64 SPI clash: refuse the newcomer rather than
                // overwrite a live SA.
                self.shared.events.push_back(Event::Failed {
                    ike_sa: id,
                    reason: "IKE SPI collision on rekey".into(),
                });
                continue;
            }
            self.sas.insert(id.0, sa);
            self.touched.push(id.0);
        }
        for (from, to) in std::mem::take(&mut self.shared.child_moves) {
            let Some(old) = tracked(&mut self.sas, &mut self.touched, from.0) else {
                continue;
            };
            let children = std::mem::take(&mut old.children);
            let vips = std::mem::take(&mut old.vips);
            let leases = std::mem::take(&mut old.leases);
            let queued_children = std::mem::take(&mut old.queued_children);
            let queued_siblings = std::mem::take(&mut old.queued_siblings);
            let queued_deletes = std::mem::take(&mut old.queued_deletes);
            let Some(sa) = tracked(&mut self.sas, &mut self.touched, to.0) else {
                // The survivor is gone (its SPI clashed on adoption): the
                // CHILD_SAs have no IKE SA left, so remove them; the
                // leases stay with the old SA, released when it goes.
                if let Some(old) = tracked(&mut self.sas, &mut self.touched, from.0) {
                    old.children = children;
                    old.vips = vips;
                    old.leases = leases;
                    old.delete_children(&mut self.shared);
                }
                continue;
            };
            sa.children.extend(children);
            sa.vips.extend(vips);
            sa.leases.extend(leases);
            sa.queued_children.extend(queued_children);
            sa.queued_siblings.extend(queued_siblings);
            sa.queued_deletes.extend(queued_deletes);
            // The peer's new SA now carries the CHILD_SAs: it takes over
            // liveness checks, keepalives and the next rekey.
            create_child::arm_survivor(sa, now, &self.shared);
        }
        // RFC 7296 §2.8.2 has the peer delete these; give it the time a
        // half-open SA gets (30 s by default; strongSwan 5.9 waits its own
        // half-open timeout, also 30 s, in the mirror case) before doing it
        // ourselves.
        for id in std::mem::take(&mut self.shared.redundant) {
            if let Some(sa) = tracked(&mut self.sas, &mut self.touched, id.0) {
                sa.timers.set(
                    Timer::RedundantIke,
                    now + self.shared.config.half_open_timeout,
                );
            }
        }
        let doomed: Vec<u64> = self
            .sas
            .iter()
            .filter(|(_, s)| s.delete_on_adopt)
            .map(|(id, _)| *id)
            .collect();
        for id in doomed {
            let Some(sa) = tracked(&mut self.sas, &mut self.touched, id) else {
                continue;
            };
            sa.delete_on_adopt = false;
            sa.superseded = true;
            if informational::start_delete(sa, now, &mut self.shared).is_err() {
                self.close(id, "redundant after simultaneous rekey".into());
            }
        }
    }

    fn remove(&mut self, id: u64) {
        self.half_open.remove(&id);
        self.touched.push(id);
        if let Some(sa) = self.sas.remove(&id) {
            // The SA is gone for good (a rekey moved its leases first), so
            // its virtual IPs go back to the pools (RFC 7296 §2.19), unless
            // the same peer holds them again in a newer SA: a client that
            // reconnects with INITIAL_CONTACT is leased its old address
            // before the stale SA is closed.
            if let Some(p) = self.shared.config.address_provider.as_mut() {
                let who = sa.remote_id.as_deref().unwrap_or_default();
                for a in &sa.leases {
                    let reused = self
                        .sas
                        .values()
                        .any(|s| s.remote_id == sa.remote_id && s.leases.contains(a));
                    if !reused {
                        p.release(who, *a);
                    }
                }
            }
            if let Some(key) = self.init_key_of.remove(&id) {
                if self.init_index.get(&key) == Some(&id) {
                    self.init_index.remove(&key);
                }
            }
        }
    }

    /// Tears an IKE SA down without a message (failure, timeout).
    fn close(&mut self, id: u64, reason: String) {
        let Some(sa) = tracked(&mut self.sas, &mut self.touched, id) else {
            return;
        };
        let was_established = sa.is_established();
        sa.delete_children(&mut self.shared);
        let ike_sa = sa.id;
        self.shared.events.push_back(if was_established {
            Event::Deleted { ike_sa, reason }
        } else {
            Event::Failed { ike_sa, reason }
        });
        self.remove(id);
    }

    fn stateless_reply(&mut self, path: Path, req: &Header, t: NotifyType, data: Vec<u8>) {
        let header = Header {
            spi_i: req.spi_i,
            spi_r: 0,
            minor_version: 0,
            exchange: ExchangeType::IKE_SA_INIT,
            initiator: false,
            version_flag: false,
            response: true,
            message_id: 0,
        };
        let msg = Message {
            header,
            payloads: vec![Payload::Notify(Notify::new(t, data))],
        };
        if let Ok(bytes) = msg.try_to_vec() {
            self.shared.send(path, &bytes);
        }
    }

    fn cookie_for(
        &self,
        secret: &[u8; COOKIE_SECRET_LEN],
        version: u8,
        ni: &[u8],
        ip: IpAddr,
        spi_i: u64,
    ) -> Vec<u8> {
        // RFC 7296 §2.6: Cookie = VersionIDofSecret | Hash(Ni | IPi | SPIi | secret).
        let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
        ctx.update(ni);
        match ip {
            IpAddr::V4(a) => ctx.update(&a.octets()),
            IpAddr::V6(a) => ctx.update(&a.octets()),
        }
        ctx.update(&spi_i.to_be_bytes());
        ctx.update(secret);
        let mut out = vec![version];
        out.extend_from_slice(ctx.finish().as_ref());
        out
    }

    fn cookie_valid(&self, got: &[u8], ni: &[u8], ip: IpAddr, spi_i: u64) -> bool {
        let Some(&v) = got.first() else { return false };
        let c = &self.cookie;
        let secret = if v == c.version {
            Some(&c.current)
        } else if v == c.version.wrapping_sub(1) {
            c.previous.as_ref()
        } else {
            None
        };
        secret.is_some_and(|s| crate::crypto::ct_eq(&self.cookie_for(s, v, ni, ip, spi_i), got))
    }

    fn rotate_cookie_secret(&mut self, now: Instant) -> Result<(), Error> {
        if now < self.cookie.rotate_at {
            return Ok(());
        }
        let mut next = [0u8; COOKIE_SECRET_LEN];
        self.shared.rng.fill(&mut next)?;
        self.cookie.previous = Some(self.cookie.current);
        self.cookie.current = next;
        self.cookie.version = self.cookie.version.wrapping_add(1);
        self.cookie.rotate_at = now + self.shared.config.cookie_secret_lifetime;
        Ok(())
    }

    fn handle_init_request(&mut self, now: Instant, path: Path, msg: &Message, data: &[u8]) {
        let h = msg.header;
        if h.spi_r != 0 || !h.initiator || h.message_id != 0 {
            return self.dropped(path, "malformed IKE_SA_INIT request header".into());
        }
        // A retransmission: resend our response (RFC 7296 §2.1).
        if let Some(id) = self.init_index.get(&(path.remote, h.spi_i)).copied() {
            if let Some(sa) = self.sas.get(&id) {
                if let Some((0, resp)) = &sa.cached_response {
                    for d in resp.clone() {
                        self.shared.send(sa.path, &d);
                    }
                }
            }
            return;
        }
        if msg.unsupported_critical().is_some() {
            self.stateless_reply(
                path,
                &h,
                NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD,
                Vec::new(),
            );
            return self.dropped(path, "unsupported critical payload in IKE_SA_INIT".into());
        }
        if let Err(e) = self.rotate_cookie_secret(now) {
            return self.dropped(path, e.to_string());
        }
        let half_open = self.half_open_count();
        if half_open >= self.shared.config.half_open_limit {
            return self.dropped(path, format!("half-open limit {half_open} reached"));
        }
        if half_open >= self.shared.config.cookie_threshold {
            let ni = msg.payloads.iter().find_map(|p| {
                if let Payload::Nonce(n) = p {
                    Some(n.data.as_slice())
                } else {
                    None
                }
            });
            let Some(ni) = ni else {
                return self.dropped(path, "IKE_SA_INIT without nonce".into());
            };
            let got = match msg.payloads.first() {
                Some(Payload::Notify(n)) if n.notify_type == NotifyType::COOKIE => {
                    Some(n.data.as_slice())
                }
                _ => None,
            };
            let ip = path.remote.ip();
            if !got.is_some_and(|g| self.cookie_valid(g, ni, ip, h.spi_i)) {
                let c = self.cookie_for(&self.cookie.current, self.cookie.version, ni, ip, h.spi_i);
                self.stateless_reply(path, &h, NotifyType::COOKIE, c);
                return self.dropped(path, "COOKIE required".into());
            }
        }
        let sel = match init::select(&self.shared, msg) {
            Ok(s) => s,
            Err(e) => {
                if let Some(n) = e.notify() {
                    let data = match &e {
                        Error::PeerIncompatible(PeerIncompatible::InvalidKe(g)) => {
                            g.0.to_be_bytes().to_vec()
                        }
                        _ => Vec::new(),
                    };
                    // Malformed requests get no answer; only a clean
                    // refusal does (RFC 7296 §2.21.1).
                    if matches!(e, Error::PeerIncompatible(_)) {
                        self.stateless_reply(path, &h, n, data);
                    }
                }
                return self.dropped(path, e.to_string());
            }
        };
        let spi_r = match self.new_spi() {
            Ok(s) => s,
            Err(e) => return self.dropped(path, e.to_string()),
        };
        match init::respond(&mut self.shared, now, path, msg, data, spi_r, sel) {
            Ok(sa) => {
                self.init_index.insert((path.remote, h.spi_i), spi_r);
                self.init_key_of.insert(spi_r, (path.remote, h.spi_i));
                self.sas.insert(spi_r, sa);
                self.touched.push(spi_r);
                self.track_half_open(spi_r);
            }
            Err(e) => self.dropped(path, e.to_string()),
        }
    }

    /// Time passed: fire every due deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.timeouts(now);
        self.run_queues(now);
        self.finish_input();
    }

    fn timeouts(&mut self, now: Instant) {
        self.sync_touched();
        let due: Vec<u64> = self
            .deadlines
            .iter()
            .take_while(|(t, _)| *t <= now)
            .map(|(_, id)| *id)
            .collect();
        for id in due {
            let Some(sa) = tracked(&mut self.sas, &mut self.touched, id) else {
                continue;
            };
            for t in sa.timers.expired(now) {
                let Some(sa) = tracked(&mut self.sas, &mut self.touched, id) else {
                    break;
                };
                match t {
                    Timer::Retransmit => {
                        if let Err(e) = sa.on_retransmit(now, &mut self.shared) {
                            self.close(id, e.to_string());
                            break;
                        }
                    }
                    Timer::Dpd => {
                        if sa.is_established() && sa.pending.is_none() {
                            if let Err(e) = informational::start_dpd(sa, now, &mut self.shared) {
                                self.close(id, e.to_string());
                                break;
                            }
                        } else if let Some(d) = sa.cfg.dpd_delay {
                            sa.timers.set(Timer::Dpd, now + d);
                        }
                    }
                    Timer::Keepalive => {
                        if sa.is_established() && sa.behind_nat {
                            // A single 0xFF byte on the NAT-T port (RFC 3948 §2.3).
                            self.shared.transmits.push_back(Transmit {
                                path: sa.path,
                                bytes: vec![0xff],
                            });
                            sa.timers.set(
                                Timer::Keepalive,
                                now + self.shared.config.keepalive_interval,
                            );
                        }
                    }
                    Timer::IkeRekey => {
                        if !sa.is_established() || sa.superseded {
                            continue;
                        }
                        if sa.pending.is_some() {
                            // Busy: try again shortly.
                            sa.timers
                                .set(Timer::IkeRekey, now + std::time::Duration::from_secs(1));
                            continue;
                        }
                        let new_spi = match self.new_spi() {
                            Ok(s) => s,
                            Err(e) => {
                                self.close(id, e.to_string());
                                break;
                            }
                        };
                        let Some(sa) = tracked(&mut self.sas, &mut self.touched, id) else {
                            break;
                        };
                        if let Err(e) =
                            create_child::start_rekey_ike(sa, now, &mut self.shared, new_spi)
                        {
                            self.shared.events.push_back(Event::ChildFailed {
                                ike_sa: IkeSaId(id),
                                child: None,
                                reason: format!("IKE rekey: {e}"),
                            });
                        }
                    }
                    Timer::HalfOpen => {
                        if sa.is_half_open() {
                            self.close(id, "no IKE_AUTH within the half-open timeout".into());
                            break;
                        }
                    }
                    Timer::RedundantIke => {
                        // Only an SA that carries nothing: CHILD_SAs moved
                        // to it make it a survivor (and stop this timer).
                        if !sa.is_established()
                            || !sa.children.is_empty()
                            || !sa.queued_children.is_empty()
                            || !sa.queued_siblings.is_empty()
                        {
                            continue;
                        }
                        // Tell the peer in case it knows the SA after all,
                        // but do not wait for the answer: a peer that never
                        // completed the SA has no keys to answer with.
                        sa.superseded = true;
                        if sa.pending.is_none() {
                            let _ = informational::start_delete(sa, now, &mut self.shared);
                        }
                        self.close(
                            id,
                            "redundant IKE SA from a rekey collision, not deleted by the peer"
                                .into(),
                        );
                        break;
                    }
                }
            }
            self.track_half_open(id);
        }
    }

    /// An operator or daemon command. Returns the IKE SA it concerns.
    pub fn handle_command(&mut self, now: Instant, cmd: Command) -> Result<IkeSaId, Error> {
        let r = self.command(now, cmd);
        self.run_queues(now);
        self.finish_input();
        r
    }

    fn command(&mut self, now: Instant, cmd: Command) -> Result<IkeSaId, Error> {
        match cmd {
            Command::Initiate { peer, child } => {
                let cfg = self
                    .shared
                    .config
                    .peers
                    .get(peer)
                    .cloned()
                    .ok_or(LocalError::Config("no such peer"))?;
                if cfg.children.get(child).is_none() {
                    return Err(LocalError::Config("no such child configuration").into());
                }
                let spi = self.new_spi()?;
                let first = !self.sas.values().any(|s| s.peer == peer && !s.is_closed());
                let mut sa = init::start(&mut self.shared, now, IkeSaId(spi), peer, cfg)?;
                sa.initial_contact = first;
                sa.first_child = child;
                self.sas.insert(spi, sa);
                self.touched.push(spi);
                Ok(IkeSaId(spi))
            }
            Command::Terminate { ike_sa } => {
                let sa = tracked(&mut self.sas, &mut self.touched, ike_sa.0)
                    .ok_or(LocalError::NoSuchSa)?;
                if sa.is_established() && sa.pending.is_none() {
                    informational::start_delete(sa, now, &mut self.shared)?;
                } else {
                    // Nothing to tell the peer that it could verify yet,
                    // or an exchange is in flight: drop it locally.
                    self.close(ike_sa.0, "terminated".into());
                }
                Ok(ike_sa)
            }
            Command::TerminateChild {
                ike_sa,
                inbound_spi,
            } => {
                let sa = tracked(&mut self.sas, &mut self.touched, ike_sa.0)
                    .ok_or(LocalError::NoSuchSa)?;
                informational::start_delete_child(sa, now, &mut self.shared, inbound_spi)?;
                Ok(ike_sa)
            }
            Command::RekeyChild {
                ike_sa,
                inbound_spi,
            } => {
                let sa = tracked(&mut self.sas, &mut self.touched, ike_sa.0)
                    .ok_or(LocalError::NoSuchSa)?;
                create_child::start_rekey_child(sa, now, &mut self.shared, inbound_spi)?;
                Ok(ike_sa)
            }
            Command::CreateChild { ike_sa, child } => {
                let sa = tracked(&mut self.sas, &mut self.touched, ike_sa.0)
                    .ok_or(LocalError::NoSuchSa)?;
                sa.child_cfg(child)?;
                if sa.is_closed() || sa.superseded {
                    return Err(LocalError::NoSuchSa.into());
                }
                let idle = sa.is_established() && sa.pending.is_none();
                if idle && sa.queued_children.is_empty() && sa.queued_deletes.is_empty() {
                    create_child::start_new_child(sa, now, &mut self.shared, child)?;
                } else if !sa.queued_children.contains(&child) {
                    // Window size 1 (RFC 7296 §2.3): wait for IKE_AUTH or
                    // the exchange in flight; see `run_queues`.
                    sa.queued_children.push_back(child);
                }
                Ok(ike_sa)
            }
            Command::RekeyIke { ike_sa } => {
                let new_spi = self.new_spi()?;
                let sa = tracked(&mut self.sas, &mut self.touched, ike_sa.0)
                    .ok_or(LocalError::NoSuchSa)?;
                create_child::start_rekey_ike(sa, now, &mut self.shared, new_spi)?;
                Ok(ike_sa)
            }
            Command::Dpd { ike_sa } => {
                let sa = tracked(&mut self.sas, &mut self.touched, ike_sa.0)
                    .ok_or(LocalError::NoSuchSa)?;
                informational::start_dpd(sa, now, &mut self.shared)?;
                Ok(ike_sa)
            }
        }
    }

    /// A message from the kernel.
    pub fn handle_kernel(&mut self, now: Instant, ev: KernelEvent) {
        self.kernel_event(now, ev);
        self.run_queues(now);
        self.finish_input();
    }

    fn kernel_event(&mut self, now: Instant, ev: KernelEvent) {
        match ev {
            KernelEvent::Reply { seq, errno } => {
                let Some((ike_sa, inbound, install)) = self.shared.kernel_pending.remove(&seq)
                else {
                    return;
                };
                if errno == 0 {
                    return;
                }
                if !install {
                    self.shared.events.push_back(Event::ChildFailed {
                        ike_sa,
                        child: None,
                        reason: format!("kernel refused to delete SA {inbound:08x}: errno {errno}"),
                    });
                    return;
                }
                // The kernel refused the SA: it must not look installed, and
                // the peer must stop using it (RFC 7296 §1.4.1).
                let child = self.sas.get(&ike_sa.0).and_then(|s| {
                    s.children
                        .iter()
                        .find(|c| c.inbound_spi == inbound)
                        .map(|c| c.config)
                });
                self.shared.events.push_back(Event::ChildFailed {
                    ike_sa,
                    child,
                    reason: format!("kernel refused to install SA {inbound:08x}: errno {errno}"),
                });
                if let Some(sa) = tracked(&mut self.sas, &mut self.touched, ike_sa.0) {
                    if informational::start_delete_child(sa, now, &mut self.shared, inbound)
                        .is_err()
                    {
                        sa.children.retain(|c| c.inbound_spi != inbound);
                    }
                }
            }
            KernelEvent::Acquire {
                remote,
                local_ts,
                remote_ts,
            } => {
                let path = Path {
                    local: remote,
                    remote,
                };
                // The peer by address, then its child whose selectors hold
                // the traffic (all of them when the ACQUIRE named none).
                let fits = |c: &super::ChildConfig| {
                    let holds =
                        |t: &Option<crate::wire::TrafficSelector>,
                         cfg: &[crate::wire::TrafficSelector]| {
                            t.as_ref().is_none_or(|t| {
                                cfg.iter().any(|c| crate::policy::ts::is_subset(t, c))
                            })
                        };
                    holds(&local_ts, &c.local_ts) && holds(&remote_ts, &c.remote_ts)
                };
                let target = self
                    .shared
                    .config
                    .peers
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.remote.ip() == remote.ip())
                    .find_map(|(p, c)| c.children.iter().position(fits).map(|ch| (p, ch)));
                let Some((peer, child)) = target else {
                    return self.dropped(path, "acquire: no child configuration fits".into());
                };
                // An IKE SA of that peer (up or on its way) gets the CHILD_SA
                // unless it has one of that child already.
                let existing = self
                    .sas
                    .iter()
                    .find(|(_, s)| s.peer == peer && !s.is_closed() && !s.superseded)
                    .map(|(id, s)| (IkeSaId(*id), s.has_child(child)));
                let cmd = match existing {
                    Some((_, true)) => return,
                    Some((ike_sa, false)) => Command::CreateChild { ike_sa, child },
                    None => Command::Initiate { peer, child },
                };
                if let Err(e) = self.handle_command(now, cmd) {
                    self.dropped(path, format!("acquire: {e}"));
                }
            }
            KernelEvent::Expire { spi, hard: true } | KernelEvent::Deleted { spi } => {
                let found = self.sas.iter().find_map(|(id, s)| {
                    s.children
                        .iter()
                        .find(|c| c.inbound_spi == spi || c.outbound_spi == spi)
                        .map(|c| (*id, c.inbound_spi))
                });
                if let Some((id, inbound)) = found {
                    let Some(sa) = tracked(&mut self.sas, &mut self.touched, id) else {
                        return;
                    };
                    if informational::start_delete_child(sa, now, &mut self.shared, inbound)
                        .is_err()
                    {
                        // Busy: forget the CHILD_SA locally; the kernel already has.
                        sa.children.retain(|c| c.inbound_spi != inbound);
                        self.shared.events.push_back(Event::ChildDeleted {
                            ike_sa: IkeSaId(id),
                            inbound_spi: inbound,
                        });
                    }
                }
            }
            // Soft expiry: rekey (on illumos the kernel drives CHILD_SA
            // rekeying this way, STYLE §7).
            KernelEvent::Expire { spi, hard: false } => {
                let found = self.sas.iter().find_map(|(id, s)| {
                    s.children
                        .iter()
                        .find(|c| c.inbound_spi == spi || c.outbound_spi == spi)
                        .map(|c| (*id, c.inbound_spi))
                });
                if let Some((id, inbound)) = found {
                    if let Err(e) = self.handle_command(
                        now,
                        Command::RekeyChild {
                            ike_sa: IkeSaId(id),
                            inbound_spi: inbound,
                        },
                    ) {
                        self.shared.events.push_back(Event::ChildFailed {
                            ike_sa: IkeSaId(id),
                            child: None,
                            reason: format!("rekey: {e}"),
                        });
                    }
                }
            }
        }
    }
}

/// `sas[id]`, recording that the SA may change (its timers, its queues),
/// so [`Endpoint::sync_touched`] re-indexes it.
fn tracked<'a>(
    sas: &'a mut BTreeMap<u64, IkeSa>,
    touched: &mut Vec<u64>,
    id: u64,
) -> Option<&'a mut IkeSa> {
    let sa = sas.get_mut(&id)?;
    touched.push(id);
    Some(sa)
}

/// Moves an established SA of a peer whose children changed onto the new
/// configuration: CHILD_SAs (installed, queued or being created) of a child
/// that exists unchanged under the same name follow it to its new index;
/// the others are queued for deletion (RFC 7296 §1.4.1).
fn rechild_sa(sa: &mut IkeSa, old: &PeerConfig, new: &Arc<PeerConfig>) {
    let map = |idx: usize| -> usize {
        old.children
            .get(idx)
            .and_then(|o| new.children.iter().position(|n| n == o))
            .unwrap_or(DOOMED_CHILD)
    };
    for c in &mut sa.children {
        c.config = map(c.config);
        if c.config == DOOMED_CHILD && !sa.queued_deletes.contains(&c.inbound_spi) {
            sa.queued_deletes.push_back(c.inbound_spi);
        }
    }
    sa.queued_children = sa
        .queued_children
        .iter()
        .map(|c| map(*c))
        .filter(|c| *c != DOOMED_CHILD)
        .collect();
    sa.queued_siblings = sa
        .queued_siblings
        .iter()
        .map(|(c, f)| (map(*c), *f))
        .filter(|(c, _)| *c != DOOMED_CHILD)
        .collect();
    if let super::ike_sa::State::Established(e) = &mut sa.state {
        if let Some(super::ike_sa::Outstanding::CreateChild(p)) = &mut e.pending {
            if let create_child::Pending::RekeyChild { config, .. } = p.as_mut() {
                *config = map(*config);
            }
        }
    }
    sa.cfg = new.clone();
}
