//! One IKE SA: its handshake state, message-ID windows (RFC 7296 §2.3),
//! retransmission (§2.1), response cache, timers and SK protection (§3.14).
//!
//! Exchange logic lives in `exchange/*`; this file provides what every
//! exchange needs and dispatches incoming messages to them. Windows and
//! timers move only after a message has been authenticated (decrypted with
//! a valid ICV), so forged datagrams cannot disturb the SA.

use std::collections::VecDeque;
use std::mem;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use super::child_sa::ChildSa;
use super::config::{ChildConfig, EndpointConfig, PeerConfig};
use super::exchange::{auth, create_child, informational, init};
use super::timer::{Timer, TimerTable};
use crate::crypto::{
    open_sk, seal_sk, sk_body_len, ActiveKeyExchange, IkeSuite, Random, SecretBytes, SkKeys,
};
use crate::error::{Error, LocalError, PeerIncompatible, PeerMisbehaved};
use crate::io::{Event, IkeSaId, KernelRequest, Path, Transmit};
use crate::policy::proposal::Chosen;
use crate::policy::ts::Family;
use crate::wire::{
    emit_payloads, parse_payloads, payloads_buffer_len, ExchangeType, HashAlgorithm, Header,
    Message, Notify, NotifyType, Payload, PayloadType, Sk, Skf, TrafficSelector, HEADER_LEN,
};

/// A responder's choice of child configuration for proposed selectors
/// ([`IkeSa::select_child`]).
pub(crate) struct SelectedChild {
    /// Index in the peer's children.
    pub(crate) idx: usize,
    /// TSi narrowed to it (the initiator's side).
    pub(crate) ts_i: Vec<TrafficSelector>,
    /// TSr narrowed to it (the responder's side).
    pub(crate) ts_r: Vec<TrafficSelector>,
}

/// Which side started the IKE SA (the I flag, RFC 7296 §3.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Initiator,
    Responder,
}

/// Output queues and shared resources the SAs write into.
pub(crate) struct Shared {
    pub(crate) config: EndpointConfig,
    /// Wall-clock time for certificate validity, as the driver last set it
    /// ([`Endpoint::set_wall_clock`](super::Endpoint::set_wall_clock)).
    pub(crate) wall_clock: Option<std::time::SystemTime>,
    pub(crate) rng: Box<dyn Random>,
    pub(crate) transmits: VecDeque<Transmit>,
    pub(crate) events: VecDeque<Event>,
    pub(crate) kernel: VecDeque<KernelRequest>,
    /// IKE SAs born from a rekey, for the endpoint to adopt.
    pub(crate) new_sas: Vec<IkeSa>,
    /// IKE SAs whose peer sent INITIAL_CONTACT (RFC 7296 §2.4): the
    /// endpoint closes older SAs with the same peer identity.
    pub(crate) initial_contacts: Vec<IkeSaId>,
    /// CHILD_SAs to move between IKE SAs (from, to) after an IKE rekey
    /// collision (RFC 7296 §2.8.2).
    pub(crate) child_moves: Vec<(IkeSaId, IkeSaId)>,
    /// The peer's new IKE SAs that lost a rekey collision we won: the
    /// peer is to delete them (RFC 7296 §2.8.2); the endpoint arms
    /// [`Timer::RedundantIke`] on each in case it never does.
    pub(crate) redundant: Vec<IkeSaId>,
    /// Last kernel request sequence number used.
    pub(crate) next_seq: u32,
    /// Kernel requests awaiting a reply: seq → (IKE SA, inbound SPI, install?).
    pub(crate) kernel_pending: std::collections::BTreeMap<u32, (IkeSaId, u32, bool)>,
}

impl Shared {
    /// Queues an IKE message on `path`, adding the non-ESP marker on the
    /// NAT-T port (RFC 3948 §2.2).
    pub(crate) fn send(&mut self, path: Path, msg: &[u8]) {
        let mut bytes = Vec::with_capacity(msg.len().saturating_add(4));
        if path.local.port() == self.config.natt_port {
            bytes.extend_from_slice(&[0; 4]);
        }
        bytes.extend_from_slice(msg);
        self.transmits.push_back(Transmit { path, bytes });
    }

    /// Queues a kernel request under a fresh sequence number and remembers
    /// it until the kernel's reply (STYLE §7: a conversation, not a call).
    pub(crate) fn kernel_request(&mut self, mut req: KernelRequest) {
        self.next_seq = self.next_seq.wrapping_add(1);
        let seq = self.next_seq;
        let entry = match &mut req {
            KernelRequest::Install(i) => {
                i.seq = seq;
                (i.ike_sa, i.inbound.spi, true)
            }
            KernelRequest::Delete {
                seq: s,
                ike_sa,
                inbound_spi,
                ..
            } => {
                *s = seq;
                (*ike_sa, *inbound_spi, false)
            }
        };
        // A driver that never answers must not grow this without bound.
        while self.kernel_pending.len() >= MAX_KERNEL_PENDING {
            self.kernel_pending.pop_first();
        }
        self.kernel_pending.insert(seq, entry);
        self.kernel.push_back(req);
    }

    pub(crate) fn random(&self, n: usize) -> Result<Vec<u8>, Error> {
        let mut v = vec![0u8; n];
        self.rng.fill(&mut v)?;
        Ok(v)
    }

    pub(crate) fn random_u32(&self) -> Result<u32, Error> {
        let mut b = [0u8; 4];
        self.rng.fill(&mut b)?;
        Ok(u32::from_be_bytes(b))
    }

    pub(crate) fn random_u64(&self) -> Result<u64, Error> {
        let mut b = [0u8; 8];
        self.rng.fill(&mut b)?;
        Ok(u64::from_be_bytes(b))
    }
}

/// The keys of an IKE SA after IKE_SA_INIT (RFC 7296 §2.14).
pub(crate) struct IkeKeys {
    pub(crate) suite: IkeSuite,
    pub(crate) chosen: Chosen,
    pub(crate) sk: SkKeys,
    pub(crate) sk_d: SecretBytes,
    pub(crate) sk_pi: SecretBytes,
    pub(crate) sk_pr: SecretBytes,
}

/// Initiator: IKE_SA_INIT sent, waiting for the response.
pub(crate) struct AwaitInitResponse {
    pub(crate) ni: Vec<u8>,
    pub(crate) ke: Box<dyn ActiveKeyExchange>,
    pub(crate) cookie: Option<Vec<u8>>,
    /// COOKIE and INVALID_KE round trips so far.
    pub(crate) retries: u8,
}

/// What both IKE_AUTH states keep from IKE_SA_INIT.
pub(crate) struct InitDone {
    pub(crate) keys: IkeKeys,
    pub(crate) ni: Vec<u8>,
    pub(crate) nr: Vec<u8>,
    /// The IKE_SA_INIT request as sent (signed by the initiator, §2.15).
    pub(crate) init_request: Vec<u8>,
    /// The IKE_SA_INIT response as sent (signed by the responder).
    pub(crate) init_response: Vec<u8>,
    /// CA hashes of the CERTREQ in the IKE_SA_INIT response (RFC 7296
    /// §3.7), for choosing the chain we send in IKE_AUTH.
    pub(crate) peer_cert_requests: Vec<[u8; 20]>,
}

/// Responder: IKE_SA_INIT answered, waiting for IKE_AUTH.
pub(crate) struct AwaitAuthRequest {
    pub(crate) init: InitDone,
    /// EAP in progress (RFC 7296 §2.16): IKE_AUTH takes several rounds.
    pub(crate) eap: Option<Box<super::exchange::auth_eap::EapServerRun>>,
}

/// Initiator: IKE_AUTH sent, waiting for the response.
pub(crate) struct AwaitAuthResponse {
    pub(crate) init: InitDone,
    pub(crate) child: auth::ChildRequest,
    /// We authenticate with EAP (RFC 7296 §2.16): its progress.
    pub(crate) eap: Option<Box<super::exchange::auth_eap::EapClientRun>>,
}

/// IKE_AUTH done.
pub(crate) struct Established {
    pub(crate) keys: IkeKeys,
    /// What the outstanding request (if any) was for.
    pub(crate) pending: Option<Outstanding>,
}

/// What an established SA's outstanding request is for.
pub(crate) enum Outstanding {
    Info(informational::PendingKind),
    CreateChild(Box<create_child::Pending>),
}

/// Handshake state: one struct per state; transitions consume the old one.
pub(crate) enum State {
    AwaitInitResponse(Box<AwaitInitResponse>),
    AwaitAuthRequest(Box<AwaitAuthRequest>),
    AwaitAuthResponse(Box<AwaitAuthResponse>),
    Established(Box<Established>),
    /// Finished; the endpoint removes the SA.
    Closed,
}

/// Most fragments we accept for one message (RFC 7383 §2.6 leaves the
/// limit to us; strongSwan's default `max_fragments` is 128, ours is lower
/// because PSK and certificate exchanges never need more).
const MAX_FRAGMENTS: u16 = 64;

/// Most reassembled bytes for one message.
const MAX_REASSEMBLED: usize = 64 * 1024;

/// Kernel requests remembered while awaiting their reply.
const MAX_KERNEL_PENDING: usize = 4096;

/// A fragmented message being put back together (RFC 7383 §2.6).
pub(crate) struct Reassembly {
    msg_id: u32,
    response: bool,
    total: u16,
    next_inner: PayloadType,
    parts: Vec<Option<Vec<u8>>>,
    bytes: usize,
}

/// An outstanding request of ours (window size 1, RFC 7296 §2.3).
pub(crate) struct Pending {
    pub(crate) msg_id: u32,
    pub(crate) exchange: ExchangeType,
    /// The datagrams as sent (several with RFC 7383 fragmentation).
    pub(crate) datagrams: Vec<Vec<u8>>,
    pub(crate) sent: u32,
}

/// How a rejected message is to be treated; the endpoint decides what
/// goes on the wire from the error's [`Error::notify`].
pub(crate) enum Rejected {
    /// Not authenticated (or a stale duplicate): drop, change nothing.
    Drop(Error),
    /// An authenticated request we refuse: answer with its notify, keep the SA.
    Respond {
        msg_id: u32,
        exchange: ExchangeType,
        error: Error,
    },
    /// The SA cannot continue. For a request, answer with the notify first.
    Fatal {
        respond: Option<(u32, ExchangeType)>,
        error: Error,
    },
}

impl From<Error> for Rejected {
    fn from(e: Error) -> Self {
        Self::Drop(e)
    }
}

pub(crate) struct IkeSa {
    pub(crate) id: IkeSaId,
    pub(crate) role: Role,
    pub(crate) spi_i: u64,
    pub(crate) spi_r: u64,
    pub(crate) peer: usize,
    pub(crate) cfg: Arc<PeerConfig>,
    pub(crate) path: Path,
    pub(crate) state: State,
    /// Our next request's message ID.
    pub(crate) next_msg_id: u32,
    pub(crate) pending: Option<Pending>,
    /// The peer's next request's message ID.
    pub(crate) peer_next_id: u32,
    /// Our response to the peer's last request, for its retransmissions.
    pub(crate) cached_response: Option<(u32, Vec<Vec<u8>>)>,
    /// RFC 7383 fragmentation negotiated in IKE_SA_INIT.
    pub(crate) frag: bool,
    /// Fragments of the message being reassembled (RFC 7383 §2.6).
    pub(crate) reassembly: Option<Reassembly>,
    pub(crate) timers: TimerTable,
    /// NAT detected (either side) or forced: IKE and ESP go over 4500.
    pub(crate) nat: bool,
    pub(crate) children: Vec<ChildSa>,
    /// Replaced by a rekeyed IKE SA; waiting for the old one's deletion.
    pub(crate) superseded: bool,
    /// We are behind a NAT (or pretend to be): send keepalives.
    pub(crate) behind_nat: bool,
    /// The peer's authenticated identity, once established.
    pub(crate) remote_id: Option<String>,
    /// We answered the peer's rekey of this IKE SA while ours was in
    /// flight: its new SA, the peer's Ni and our Nr (RFC 7296 §2.8.2).
    pub(crate) ike_collision: Option<(IkeSaId, Vec<u8>, Vec<u8>)>,
    /// A redundant SA from a rekey collision: delete it once adopted.
    pub(crate) delete_on_adopt: bool,
    /// Send INITIAL_CONTACT in IKE_AUTH: no other IKE SA with this peer.
    pub(crate) initial_contact: bool,
    /// CHILD_SA rekeys the peer started while ours of the same CHILD_SA was
    /// outstanding (RFC 7296 §2.8.1): old inbound SPI, the peer's Ni, our Nr.
    pub(crate) collisions: Vec<(u32, Vec<u8>, Vec<u8>)>,
    /// The hash algorithms the peer announced in SIGNATURE_HASH_ALGORITHMS
    /// (RFC 7427 §4); empty if it sent none.
    pub(crate) peer_sig_hashes: Vec<HashAlgorithm>,
    /// Virtual IPs the peer assigned to us (RFC 7296 §2.19): our side of
    /// every CHILD_SA.
    pub(crate) vips: Vec<IpAddr>,
    /// Virtual IPs we leased to the peer from the address provider: its
    /// side of every CHILD_SA; released when the SA is removed.
    pub(crate) leases: Vec<IpAddr>,
    /// Initiator: the child configuration negotiated in IKE_AUTH.
    pub(crate) first_child: usize,
    /// Work waiting for the request window (RFC 7296 §2.3, size 1): child
    /// configurations to create, in order.
    pub(crate) queued_children: VecDeque<usize>,
    /// CHILD_SAs for the second address family of a child configuration
    /// whose first family is up (see
    /// [`EndpointConfig::one_family_per_child`](super::EndpointConfig)),
    /// started as `queued_children` are.
    pub(crate) queued_siblings: VecDeque<(usize, Family)>,
    /// CHILD_SAs (our inbound SPI) to delete when the window is free, e.g.
    /// because a reconfiguration removed their child configuration.
    pub(crate) queued_deletes: VecDeque<u32>,
}

impl IkeSa {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        id: IkeSaId,
        role: Role,
        spi_i: u64,
        spi_r: u64,
        peer: usize,
        cfg: Arc<PeerConfig>,
        path: Path,
        state: State,
    ) -> Self {
        Self {
            id,
            role,
            spi_i,
            spi_r,
            peer,
            cfg,
            path,
            state,
            next_msg_id: 0,
            pending: None,
            peer_next_id: 0,
            cached_response: None,
            frag: false,
            reassembly: None,
            timers: TimerTable::default(),
            nat: false,
            children: Vec::new(),
            superseded: false,
            behind_nat: false,
            remote_id: None,
            ike_collision: None,
            delete_on_adopt: false,
            initial_contact: false,
            collisions: Vec::new(),
            peer_sig_hashes: Vec::new(),
            vips: Vec::new(),
            leases: Vec::new(),
            first_child: 0,
            queued_children: VecDeque::new(),
            queued_siblings: VecDeque::new(),
            queued_deletes: VecDeque::new(),
        }
    }

    pub(crate) fn is_half_open(&self) -> bool {
        matches!(self.state, State::AwaitAuthRequest(_))
    }

    pub(crate) fn is_established(&self) -> bool {
        matches!(self.state, State::Established(_))
    }

    pub(crate) fn is_closed(&self) -> bool {
        matches!(self.state, State::Closed)
    }

    pub(crate) fn keys(&self) -> Option<&IkeKeys> {
        match &self.state {
            State::AwaitAuthRequest(s) => Some(&s.init.keys),
            State::AwaitAuthResponse(s) => Some(&s.init.keys),
            State::Established(s) => Some(&s.keys),
            State::AwaitInitResponse(_) | State::Closed => None,
        }
    }

    /// The header for a message of ours (RFC 7296 §3.1).
    pub(crate) fn header(&self, exchange: ExchangeType, response: bool, message_id: u32) -> Header {
        Header {
            spi_i: self.spi_i,
            spi_r: self.spi_r,
            minor_version: 0,
            exchange,
            initiator: self.role == Role::Initiator,
            version_flag: false,
            response,
            message_id,
        }
    }

    /// Builds an SK-protected message (RFC 7296 §3.14), or, when
    /// fragmentation was negotiated and the message would not fit
    /// [`EndpointConfig::fragment_size`], SKF fragments of it (RFC 7383
    /// §2.5). Each datagram is sealed on its own.
    pub(crate) fn seal(
        &self,
        shared: &Shared,
        header: Header,
        inner: &[Payload],
    ) -> Result<Vec<Vec<u8>>, Error> {
        let keys = self.keys().ok_or(LocalError::Config("no keys yet"))?;
        let cipher = keys.sk.outbound();
        let mut plain = vec![0u8; payloads_buffer_len(inner)];
        emit_payloads(inner, &mut plain).map_err(LocalError::Emit)?;
        let next_inner = inner
            .first()
            .map_or(PayloadType::NO_NEXT_PAYLOAD, Payload::payload_type);
        let whole = self.seal_chunk(shared, header, next_inner, None, &plain)?;
        let max = self.max_datagram(shared);
        if !self.frag || whole.len() <= max {
            return Ok(vec![whole]);
        }
        // Room for inner bytes in one fragment: header, SKF header (8),
        // IV, ICV, pad length byte and worst-case padding.
        let overhead = HEADER_LEN
            .saturating_add(8)
            .saturating_add(cipher.iv_len())
            .saturating_add(cipher.icv_len())
            .saturating_add(cipher.block_len().max(1));
        let chunk = max
            .checked_sub(overhead)
            .filter(|c| *c > 0)
            .ok_or(LocalError::Config("fragment_size too small"))?;
        let total = plain.len().div_ceil(chunk);
        let total = u16::try_from(total)
            .ok()
            .filter(|t| *t <= MAX_FRAGMENTS)
            .ok_or(LocalError::Config("message needs too many fragments"))?;
        plain
            .chunks(chunk)
            .zip(1u16..)
            .map(|(c, n)| {
                // Only the first fragment names the first inner payload (RFC 7383 §2.5).
                let next = if n == 1 {
                    next_inner
                } else {
                    PayloadType::NO_NEXT_PAYLOAD
                };
                self.seal_chunk(shared, header, next, Some((n, total)), c)
            })
            .collect()
    }

    /// The largest IKE message that fits one datagram of
    /// `fragment_size` bytes (an IP packet size, as strongSwan counts it).
    fn max_datagram(&self, shared: &Shared) -> usize {
        let ip = if self.path.remote.is_ipv4() { 20 } else { 40 };
        let marker = if self.path.local.port() == shared.config.natt_port {
            4
        } else {
            0
        };
        shared.config.fragment_size.saturating_sub(ip + 8 + marker)
    }

    fn seal_chunk(
        &self,
        shared: &Shared,
        header: Header,
        next_inner: PayloadType,
        fragment: Option<(u16, u16)>,
        plain: &[u8],
    ) -> Result<Vec<u8>, Error> {
        let keys = self.keys().ok_or(LocalError::Config("no keys yet"))?;
        let cipher = keys.sk.outbound();
        let body_len = sk_body_len(cipher, plain.len())?;
        let body = vec![0; body_len];
        let payload = match fragment {
            None => Payload::Sk(Sk { next_inner, body }),
            Some((fragment_number, total_fragments)) => Payload::Skf(Skf {
                next_inner,
                fragment_number,
                total_fragments,
                body,
            }),
        };
        let mut bytes = Message {
            header,
            payloads: vec![payload],
        }
        .try_to_vec()
        .map_err(LocalError::Emit)?;
        let body_start = bytes
            .len()
            .checked_sub(body_len)
            .ok_or(LocalError::Config("SK layout"))?;
        let plain_start = body_start
            .checked_add(cipher.iv_len())
            .ok_or(LocalError::Config("SK layout"))?;
        let plain_end = plain_start
            .checked_add(plain.len())
            .ok_or(LocalError::Config("SK layout"))?;
        bytes
            .get_mut(plain_start..plain_end)
            .ok_or(LocalError::Config("SK layout"))?
            .copy_from_slice(plain);
        let iv = shared.random(cipher.iv_len())?;
        seal_sk(cipher, &mut bytes, body_start, plain.len(), &iv)?;
        Ok(bytes)
    }

    /// Checks and decrypts an SK message, or one SKF fragment (RFC 7383
    /// §2.6). Returns the inner payloads once the message is complete;
    /// `None` while fragments are missing. Fragments are kept only after
    /// their ICV verified, so forged ones cost no memory.
    pub(crate) fn decrypt(
        &mut self,
        msg: &Message,
        bytes: &[u8],
    ) -> Result<Option<Vec<Payload>>, Error> {
        let keys = self
            .keys()
            .ok_or(PeerMisbehaved::UnexpectedExchange(msg.header.exchange))?;
        let (next_inner, body, frag) = match msg.payloads.last() {
            Some(Payload::Sk(sk)) => (sk.next_inner, &sk.body, None),
            Some(Payload::Skf(f)) => (
                f.next_inner,
                &f.body,
                Some((f.fragment_number, f.total_fragments)),
            ),
            _ => {
                return Err(PeerMisbehaved::MissingPayload {
                    exchange: msg.header.exchange,
                    payload: PayloadType::SK,
                }
                .into())
            }
        };
        let body_start = bytes
            .len()
            .checked_sub(body.len())
            .ok_or(LocalError::Config("SK layout"))?;
        let mut buf = bytes.to_vec();
        let range = open_sk(keys.sk.inbound(), &mut buf, body_start)?;
        let plain = buf.get(range).ok_or(LocalError::Config("SK layout"))?;
        let (next_inner, whole) = match frag {
            None => (next_inner, plain.to_vec()),
            Some((n, total)) => {
                if total > MAX_FRAGMENTS {
                    return Err(PeerMisbehaved::TooManyFragments(total).into());
                }
                let h = msg.header;
                let fresh = match &self.reassembly {
                    Some(r) => {
                        r.msg_id != h.message_id || r.response != h.response || r.total != total
                    }
                    None => true,
                };
                if fresh {
                    self.reassembly = Some(Reassembly {
                        msg_id: h.message_id,
                        response: h.response,
                        total,
                        next_inner: PayloadType::NO_NEXT_PAYLOAD,
                        parts: vec![None; usize::from(total)],
                        bytes: 0,
                    });
                }
                let Some(r) = self.reassembly.as_mut() else {
                    return Ok(None);
                };
                let idx = usize::from(n).saturating_sub(1);
                if let Some(slot @ None) = r.parts.get_mut(idx) {
                    r.bytes = r.bytes.saturating_add(plain.len());
                    if r.bytes > MAX_REASSEMBLED {
                        self.reassembly = None;
                        return Err(PeerMisbehaved::TooManyFragments(total).into());
                    }
                    *slot = Some(plain.to_vec());
                    if n == 1 {
                        r.next_inner = next_inner;
                    }
                }
                if r.parts.iter().any(Option::is_none) {
                    return Ok(None);
                }
                let Some(r) = self.reassembly.take() else {
                    return Ok(None);
                };
                (
                    r.next_inner,
                    r.parts.into_iter().flatten().flatten().collect(),
                )
            }
        };
        let payloads = parse_payloads(next_inner, &whole)?;
        if let Some(e) = crate::wire::first_unsupported_critical(&payloads, 0) {
            return Err(e.into());
        }
        Ok(Some(payloads))
    }

    /// Sends a new protected request (window size 1) and arms retransmission.
    pub(crate) fn send_request(
        &mut self,
        now: Instant,
        shared: &mut Shared,
        exchange: ExchangeType,
        inner: &[Payload],
    ) -> Result<(), Error> {
        if self.pending.is_some() {
            return Err(LocalError::Busy.into());
        }
        let msg_id = self.next_msg_id;
        let datagrams = self.seal(shared, self.header(exchange, false, msg_id), inner)?;
        self.start_request(now, shared, exchange, datagrams);
        Ok(())
    }

    /// Records `bytes` as the outstanding request, sends it, arms the timer.
    pub(crate) fn start_request(
        &mut self,
        now: Instant,
        shared: &mut Shared,
        exchange: ExchangeType,
        datagrams: Vec<Vec<u8>>,
    ) {
        for d in &datagrams {
            shared.send(self.path, d);
        }
        self.pending = Some(Pending {
            msg_id: self.next_msg_id,
            exchange,
            datagrams,
            sent: 1,
        });
        self.timers
            .set(Timer::Retransmit, now + shared.config.retransmit.wait(0));
    }

    /// The response to our request arrived and was accepted.
    pub(crate) fn complete_request(&mut self) {
        self.pending = None;
        self.timers.stop(Timer::Retransmit);
        self.next_msg_id = self.next_msg_id.wrapping_add(1);
    }

    /// Sends a protected response and caches it for retransmitted requests.
    pub(crate) fn send_response(
        &mut self,
        shared: &mut Shared,
        exchange: ExchangeType,
        msg_id: u32,
        inner: &[Payload],
    ) -> Result<(), Error> {
        let datagrams = self.seal(shared, self.header(exchange, true, msg_id), inner)?;
        for d in &datagrams {
            shared.send(self.path, d);
        }
        self.cached_response = Some((msg_id, datagrams));
        self.peer_next_id = msg_id.wrapping_add(1);
        Ok(())
    }

    /// Answers an authenticated request with an error notify
    /// (RFC 7296 §2.21.2) and consumes its message ID.
    pub(crate) fn respond_error(
        &mut self,
        shared: &mut Shared,
        exchange: ExchangeType,
        msg_id: u32,
        notify: NotifyType,
    ) {
        let n = Payload::Notify(Notify::new(notify, Vec::new()));
        if self.send_response(shared, exchange, msg_id, &[n]).is_err() {
            // Without keys we cannot answer protected; the peer retransmits
            // and gives up, which is what RFC 7296 §2.21 expects.
            self.peer_next_id = msg_id.wrapping_add(1);
        }
    }

    /// Processes an IKE message routed to this SA.
    pub(crate) fn handle_message(
        &mut self,
        now: Instant,
        shared: &mut Shared,
        path: Path,
        msg: &Message,
        bytes: &[u8],
    ) -> Result<(), Rejected> {
        let h = msg.header;
        // The I flag says who sent it; a message claiming our own role is
        // not from the peer (RFC 7296 §3.1).
        let from_initiator = h.initiator;
        if from_initiator == (self.role == Role::Initiator) {
            return Err(Rejected::Drop(
                PeerMisbehaved::UnexpectedExchange(h.exchange).into(),
            ));
        }
        if h.response {
            let Some(p) = &self.pending else {
                return Err(Rejected::Drop(
                    PeerMisbehaved::UnexpectedExchange(h.exchange).into(),
                ));
            };
            if p.msg_id != h.message_id || p.exchange != h.exchange {
                return Err(Rejected::Drop(
                    PeerMisbehaved::UnexpectedExchange(h.exchange).into(),
                ));
            }
            return self.handle_response(now, shared, path, msg, bytes);
        }
        // A retransmitted request gets our cached response (RFC 7296 §2.1);
        // for a fragmented one, only its first fragment does (RFC 7383 §2.6.1).
        if let Some((id, resp)) = &self.cached_response {
            if *id == h.message_id && h.message_id.wrapping_add(1) == self.peer_next_id {
                let first =
                    !matches!(msg.payloads.last(), Some(Payload::Skf(f)) if f.fragment_number != 1);
                if first {
                    for d in resp.clone() {
                        shared.send(self.path, &d);
                    }
                }
                return Ok(());
            }
        }
        if h.message_id != self.peer_next_id {
            return Err(Rejected::Drop(
                PeerMisbehaved::UnexpectedExchange(h.exchange).into(),
            ));
        }
        self.handle_request(now, shared, path, msg, bytes)
    }

    fn handle_response(
        &mut self,
        now: Instant,
        shared: &mut Shared,
        path: Path,
        msg: &Message,
        bytes: &[u8],
    ) -> Result<(), Rejected> {
        if matches!(self.state, State::AwaitInitResponse(_)) {
            let State::AwaitInitResponse(s) = mem::replace(&mut self.state, State::Closed) else {
                return Ok(());
            };
            return init::handle_response(self, *s, now, shared, path, msg, bytes);
        }
        // Decrypt with the state intact: a forged response changes nothing.
        let Some(inner) = self.decrypt(msg, bytes).map_err(Rejected::Drop)? else {
            return Ok(());
        };
        match mem::replace(&mut self.state, State::Closed) {
            State::AwaitAuthResponse(s) => {
                self.complete_request();
                auth::handle_response(self, *s, now, shared, &inner)
            }
            State::Established(s) => {
                self.complete_request();
                if self.nat {
                    self.path = path;
                }
                if msg.header.exchange == ExchangeType::CREATE_CHILD_SA {
                    let mut s = s;
                    let Some(Outstanding::CreateChild(pending)) = s.pending.take() else {
                        self.state = State::Established(s);
                        return Err(Rejected::Drop(
                            PeerMisbehaved::UnexpectedExchange(msg.header.exchange).into(),
                        ));
                    };
                    self.state = State::Established(s);
                    return create_child::handle_response(self, *pending, now, shared, &inner);
                }
                informational::handle_response(self, *s, now, shared, msg.header.exchange, &inner)
            }
            other => {
                self.state = other;
                Err(Rejected::Drop(
                    PeerMisbehaved::UnexpectedExchange(msg.header.exchange).into(),
                ))
            }
        }
    }

    fn handle_request(
        &mut self,
        now: Instant,
        shared: &mut Shared,
        path: Path,
        msg: &Message,
        bytes: &[u8],
    ) -> Result<(), Rejected> {
        let h = msg.header;
        let Some(inner) = self.decrypt(msg, bytes).map_err(Rejected::Drop)? else {
            return Ok(());
        };
        // Authenticated: from here on the message is the peer's.
        match (mem::replace(&mut self.state, State::Closed), h.exchange) {
            (State::AwaitAuthRequest(s), ExchangeType::IKE_AUTH) => {
                // RFC 7296 §2.23: after NAT detection, answer where the
                // authenticated request came from (the peer floated to 4500).
                self.path = path;
                self.timers.stop(Timer::HalfOpen);
                auth::handle_request(self, *s, now, shared, h.message_id, &inner)
            }
            (State::Established(s), ExchangeType::INFORMATIONAL) => {
                if self.nat {
                    self.path = path;
                }
                informational::handle_request(self, *s, now, shared, h.message_id, &inner)
            }
            (State::Established(s), ExchangeType::CREATE_CHILD_SA) => {
                if self.nat {
                    self.path = path;
                }
                create_child::handle_request(self, *s, now, shared, h.message_id, &inner)
            }
            (other, ex) => {
                self.state = other;
                Err(Rejected::Respond {
                    msg_id: h.message_id,
                    exchange: ex,
                    error: PeerMisbehaved::UnexpectedExchange(ex).into(),
                })
            }
        }
    }

    /// A retransmission deadline passed: resend or give up (RFC 7296 §2.1, §2.4).
    pub(crate) fn on_retransmit(&mut self, now: Instant, shared: &mut Shared) -> Result<(), Error> {
        let Some(p) = &mut self.pending else {
            return Ok(());
        };
        let rc = shared.config.retransmit;
        if p.sent > rc.tries {
            return Err(LocalError::Timeout(p.sent).into());
        }
        let wait = rc.wait(p.sent);
        p.sent = p.sent.saturating_add(1);
        for d in p.datagrams.clone() {
            shared.send(self.path, &d);
        }
        self.timers.set(Timer::Retransmit, now + wait);
        Ok(())
    }

    /// Whether a CHILD_SA of child configuration `idx` exists, is queued,
    /// or is being negotiated (in IKE_AUTH or CREATE_CHILD_SA).
    pub(crate) fn has_child(&self, idx: usize) -> bool {
        let negotiating = match &self.state {
            State::AwaitInitResponse(_) | State::AwaitAuthResponse(_) => self.first_child == idx,
            State::Established(_) => self.negotiating_new(idx),
            State::AwaitAuthRequest(_) | State::Closed => false,
        };
        negotiating
            || self.children.iter().any(|c| c.config == idx)
            || self.queued_children.contains(&idx)
    }

    /// Whether CHILD_SAs to create or delete wait for an idle moment.
    pub(crate) fn has_queued_work(&self) -> bool {
        !self.queued_children.is_empty()
            || !self.queued_deletes.is_empty()
            || !self.queued_siblings.is_empty()
    }

    /// With one family per CHILD_SA: the family of child configuration
    /// `idx` that has no CHILD_SA on this IKE SA while another family has
    /// one (the peer deleted it, or refused it), unless it is queued or
    /// being negotiated. `None` when nothing of `idx` is up yet.
    pub(crate) fn missing_family(&self, idx: usize) -> Option<Family> {
        let c = self.child_cfg(idx).ok()?;
        let (local, remote) = (self.child_local_ts(c), self.child_remote_ts(c));
        let has = |f: Family| self.has_family_child(idx, f);
        if !has(Family::Ipv4) && !has(Family::Ipv6) {
            return None;
        }
        if self.negotiating_new(idx) {
            return None;
        }
        [Family::Ipv4, Family::Ipv6].into_iter().find(|f| {
            crate::policy::ts::both_have(&local, &remote, *f)
                && !has(*f)
                && !self.queued_siblings.contains(&(idx, *f))
        })
    }

    /// Whether a CHILD_SA of configuration `idx` carries family `f`.
    fn has_family_child(&self, idx: usize, f: Family) -> bool {
        self.children
            .iter()
            .any(|c| c.config == idx && c.local_ts.iter().all(|t| Family::of(t) == Some(f)))
    }

    /// Whether a new (not rekeying) CHILD_SA of `idx` is in flight.
    fn negotiating_new(&self, idx: usize) -> bool {
        match &self.state {
            State::Established(e) => matches!(
                &e.pending,
                Some(Outstanding::CreateChild(p)) if matches!(
                    p.as_ref(),
                    create_child::Pending::RekeyChild { old_inbound: None, config, .. } if *config == idx
                )
            ),
            _ => false,
        }
    }

    /// Queues the CHILD_SA of family `family` for child configuration
    /// `idx`, unless one of that family exists, is queued, or a new
    /// CHILD_SA of `idx` is being negotiated (it is looked at again when
    /// that one is installed), or the configuration has no selectors of
    /// that family on both sides.
    pub(crate) fn want_sibling(&mut self, idx: usize, family: Family) {
        let Ok(c) = self.child_cfg(idx) else {
            return;
        };
        let (local, remote) = (self.child_local_ts(c), self.child_remote_ts(c));
        if !crate::policy::ts::both_have(&local, &remote, family) {
            return;
        }
        if !self.has_family_child(idx, family)
            && !self.negotiating_new(idx)
            && !self.queued_siblings.contains(&(idx, family))
        {
            self.queued_siblings.push_back((idx, family));
        }
    }

    /// The child configuration at `idx` of this SA's peer.
    pub(crate) fn child_cfg(&self, idx: usize) -> Result<&ChildConfig, Error> {
        self.cfg
            .children
            .get(idx)
            .ok_or_else(|| LocalError::Config("no such child configuration").into())
    }

    /// Our side's selectors for a new CHILD_SA of `c`: our virtual IPs
    /// when the peer assigned some (RFC 7296 §2.19), else the configured
    /// ones.
    pub(crate) fn child_local_ts(&self, c: &ChildConfig) -> Vec<TrafficSelector> {
        if self.vips.is_empty() {
            c.local_ts.clone()
        } else {
            super::cp::host_selectors(&self.vips)
        }
    }

    /// The peer's side's selectors for a new CHILD_SA of `c`: the
    /// configured ones narrowed to the virtual IPs we leased it, if any.
    pub(crate) fn child_remote_ts(&self, c: &ChildConfig) -> Vec<TrafficSelector> {
        if self.leases.is_empty() {
            c.remote_ts.clone()
        } else {
            crate::policy::ts::narrow(&super::cp::host_selectors(&self.leases), &c.remote_ts)
        }
    }

    /// Responder: the child configuration for a CHILD_SA whose initiator
    /// proposed `tsi` (its side) and `tsr` (ours), with both narrowed to it
    /// (RFC 7296 §2.9). Among the children whose selectors intersect both,
    /// one that contains everything proposed wins over one that only
    /// overlaps, then one whose selectors equal the proposal over a wider
    /// one, then one that contains the first selectors (the packet that
    /// triggered the request, §2.9); ties go to the first configured. This
    /// is the order of preference strongSwan's child_cfg selection uses.
    /// `TS_UNACCEPTABLE` when none fits.
    pub(crate) fn select_child(
        &self,
        tsi: &[TrafficSelector],
        tsr: &[TrafficSelector],
    ) -> Result<SelectedChild, Error> {
        use crate::policy::ts::{is_subset, narrow};
        let contained = |t: &TrafficSelector, allowed: &[TrafficSelector]| {
            allowed.iter().any(|a| is_subset(t, a))
        };
        let mut best: Option<(u8, SelectedChild)> = None;
        for (idx, c) in self.cfg.children.iter().enumerate() {
            let (ar, al) = (self.child_remote_ts(c), self.child_local_ts(c));
            let ni = narrow(tsi, &ar);
            let nr = narrow(tsr, &al);
            if ni.is_empty() || nr.is_empty() {
                continue;
            }
            let all = u8::from(tsi.iter().all(|t| contained(t, &ar)))
                + u8::from(tsr.iter().all(|t| contained(t, &al)));
            // The proposal covers exactly what the child allows.
            let exact = u8::from(ni == ar) + u8::from(nr == al);
            let first = u8::from(tsi.first().is_some_and(|t| contained(t, &ar)))
                + u8::from(tsr.first().is_some_and(|t| contained(t, &al)));
            let score = all * 9 + exact * 3 + first;
            if best.as_ref().is_none_or(|(b, _)| score > *b) {
                best = Some((
                    score,
                    SelectedChild {
                        idx,
                        ts_i: ni,
                        ts_r: nr,
                    },
                ));
            }
        }
        best.map(|(_, s)| s).ok_or_else(|| {
            // With one child, as before connections carried several;
            // with more, each named.
            let named = self.cfg.children.len() > 1;
            let allowed: Vec<String> = self
                .cfg
                .children
                .iter()
                .map(|c| {
                    format!(
                        "{}{} === {}",
                        if named {
                            format!("{}: ", c.name)
                        } else {
                            String::new()
                        },
                        crate::policy::ts::TsList(&self.child_remote_ts(c)),
                        crate::policy::ts::TsList(&self.child_local_ts(c))
                    )
                })
                .collect();
            PeerIncompatible::TsUnacceptable {
                proposed: format!(
                    "{} === {}",
                    crate::policy::ts::TsList(tsi),
                    crate::policy::ts::TsList(tsr)
                ),
                allowed: if allowed.is_empty() {
                    "no child configuration".into()
                } else {
                    allowed.join("; ")
                },
            }
            .into()
        })
    }

    /// Kernel requests to remove every CHILD_SA of this IKE SA.
    pub(crate) fn delete_children(&mut self, shared: &mut Shared) {
        for c in self.children.drain(..) {
            shared.kernel_request(c.delete_request(self.id, self.path));
            shared.events.push_back(Event::ChildDeleted {
                ike_sa: self.id,
                inbound_spi: c.inbound_spi,
            });
        }
    }
}
