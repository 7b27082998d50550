//! Deterministic two-peer simulator for the sans-IO core (STYLE §8):
//! two `Endpoint`s, a virtual clock, seeded randomness everywhere, and a
//! link that can drop, duplicate, reorder and delay datagrams, with an
//! optional NAT in front of the initiator.

// Helpers outside #[test] fns are test code too (clippy.toml allows these in tests).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use ike::crypto::{ring_provider, HmacDrbg, SecretBytes};
use ike::io::{
    ChildSaInstall, Command, Event, IkeSaId, KernelRequest, Lifetimes, Mode, Path, Transmit,
};
use ike::policy::proposal::{parse_list, ProposalSpec};
use ike::policy::ts::parse_ts;
use ike::sa::{
    ChildConfig, CredentialProvider, Credentials, Endpoint, EndpointConfig, PeerAuth, PeerConfig,
};
use ike::wire::{ExchangeType, HeaderPacket, Id, IdType, ProtocolId};

const A_IP: &str = "192.0.2.1";
const B_IP: &str = "198.51.100.1";
/// The public side of the NAT in front of A.
const NAT_IP: &str = "203.0.113.5";

/// A clean link with the NAT in front of A.
const NAT_LINK: LinkConfig = LinkConfig {
    loss: 0.0,
    dup: 0.0,
    jitter_ms: 0,
    base_delay_ms: 0,
    nat: true,
    cut: false,
};

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

/// SplitMix64: the link's own deterministic randomness.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn chance(&mut self, p: f64) -> bool {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64 <= p && p > 0.0
    }
    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct LinkConfig {
    loss: f64,
    dup: f64,
    /// Extra random delay up to this many ms (reorders datagrams).
    jitter_ms: u64,
    base_delay_ms: u64,
    nat: bool,
    /// Drop everything (the peer vanished).
    cut: bool,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug, PartialOrd, Ord)]
enum Side {
    A,
    B,
}

struct Peer {
    ep: Endpoint,
    events: Vec<Event>,
    kernel: Vec<KernelRequest>,
    sent: Vec<Transmit>,
}

struct Pair {
    a: Peer,
    b: Peer,
    now: Instant,
    start: Instant,
    link: LinkConfig,
    rng: Rng,
    /// (deliver_at, seq) -> (to, path as the receiver sees it, bytes)
    queue: BTreeMap<(Instant, u64), (Side, Path, Vec<u8>)>,
    seq: u64,
    delivered: u64,
    dropped: u64,
    /// Rewrites (or drops, by returning false) datagrams sent by a side.
    tamper: Option<Box<Tamper>>,
}

type Tamper = dyn FnMut(Side, &mut Vec<u8>) -> bool;

fn id_fqdn(s: &str) -> Id {
    Id {
        id_type: IdType::ID_FQDN,
        data: s.as_bytes().to_vec(),
    }
}

struct PeerOpts {
    ike: &'static str,
    esp: &'static str,
    psk: &'static str,
    local_ts: &'static str,
    remote_ts: &'static str,
    mode: Mode,
    force_encap: bool,
    dpd: Option<Duration>,
    remote_id: Option<&'static str>,
    signer: Option<Arc<dyn ike::crypto::Signer>>,
    local_certs: Vec<Vec<u8>>,
    peer_auth: Option<PeerAuth>,
    ike_rekey: Option<Duration>,
    credentials: Option<Arc<dyn CredentialProvider>>,
}

impl Default for PeerOpts {
    fn default() -> Self {
        Self {
            ike: "aes256gcm16-prfsha384-x25519",
            esp: "aes256gcm16",
            psk: "correct horse battery staple",
            local_ts: "",
            remote_ts: "",
            mode: Mode::Tunnel,
            force_encap: false,
            dpd: None,
            remote_id: None,
            signer: None,
            local_certs: Vec::new(),
            peer_auth: None,
            ike_rekey: None,
            credentials: None,
        }
    }
}

fn peer_config(
    local_ip: &str,
    remote_ip: &str,
    me: &str,
    them: &str,
    o: &PeerOpts,
    default_local_ts: &str,
    default_remote_ts: &str,
) -> Arc<PeerConfig> {
    let lts = if o.local_ts.is_empty() {
        default_local_ts
    } else {
        o.local_ts
    };
    let rts = if o.remote_ts.is_empty() {
        default_remote_ts
    } else {
        o.remote_ts
    };
    Arc::new(PeerConfig {
        eap_client: None,
        name: me.into(),
        local: sa(&format!("{local_ip}:500")),
        remote: sa(&format!("{remote_ip}:500")),
        local_id: id_fqdn(me),
        remote_id: Some(id_fqdn(o.remote_id.unwrap_or(them))),
        psk: Some(SecretBytes::from_slice(o.psk.as_bytes())),
        signer: o.signer.clone(),
        local_certs: o.local_certs.clone(),
        cert_requests: if o.local_certs.is_empty() {
            Vec::new()
        } else {
            vec![vec![0xca; 20]]
        },
        peer_auth: o.peer_auth.clone().unwrap_or(PeerAuth::Psk),
        ike_rekey_time: o.ike_rekey,
        remote_access: Default::default(),
        credentials: o.credentials.clone(),
        ike_proposals: parse_list(ProtocolId::IKE, o.ike).unwrap(),
        children: vec![ChildConfig {
            mode: o.mode,
            ..child("net", o.esp, lts, rts)
        }],
        force_encap: o.force_encap,
        dpd_delay: o.dpd,
    })
}

impl Pair {
    fn new(seed: u64, link: LinkConfig, a: PeerOpts, b: PeerOpts) -> Self {
        Self::with(seed, link, a, b, |_| {}, |_| {})
    }

    fn with(
        seed: u64,
        link: LinkConfig,
        a: PeerOpts,
        b: PeerOpts,
        fa: impl FnOnce(&mut EndpointConfig),
        fb: impl FnOnce(&mut EndpointConfig),
    ) -> Self {
        let start = Instant::now();
        let ca = peer_config(
            A_IP,
            B_IP,
            "a.example",
            "b.example",
            &a,
            "10.1.0.0/16",
            "10.2.0.0/16",
        );
        let cb = peer_config(
            B_IP,
            A_IP,
            "b.example",
            "a.example",
            &b,
            "10.2.0.0/16",
            "10.1.0.0/16",
        );
        let mut ea = EndpointConfig::new(vec![ca], ring_provider());
        fa(&mut ea);
        let mut eb = EndpointConfig::new(vec![cb], ring_provider());
        fb(&mut eb);
        let mk = |cfg, s: u64| Peer {
            ep: Endpoint::new(cfg, Box::new(HmacDrbg::from_u64(s)), start).unwrap(),
            events: Vec::new(),
            kernel: Vec::new(),
            sent: Vec::new(),
        };
        Self {
            a: mk(ea, seed.wrapping_mul(2)),
            b: mk(eb, seed.wrapping_mul(2).wrapping_add(1)),
            now: start,
            start,
            link,
            rng: Rng(seed ^ 0x5eed),
            queue: BTreeMap::new(),
            seq: 0,
            delivered: 0,
            dropped: 0,
            tamper: None,
        }
    }

    fn peer(&mut self, s: Side) -> &mut Peer {
        match s {
            Side::A => &mut self.a,
            Side::B => &mut self.b,
        }
    }

    /// NAT in front of A: A's private ports map to public ones.
    fn nat_out(&self, from: SocketAddr) -> SocketAddr {
        if !self.link.nat {
            return from;
        }
        sa(&format!(
            "{NAT_IP}:{}",
            40000 + u32::from(from.port() == 4500)
        ))
    }

    fn nat_in(&self, to: SocketAddr) -> Option<SocketAddr> {
        if !self.link.nat {
            return Some(to);
        }
        match to.port() {
            40000 => Some(sa(&format!("{A_IP}:500"))),
            40001 => Some(sa(&format!("{A_IP}:4500"))),
            _ => None,
        }
    }

    fn drain(&mut self) {
        for side in [Side::A, Side::B] {
            loop {
                let p = self.peer(side);
                while let Some(k) = p.ep.poll_kernel() {
                    p.kernel.push(k);
                }
                while let Some(e) = p.ep.poll_event() {
                    p.events.push(e);
                }
                let Some(t) = p.ep.poll_transmit() else { break };
                p.sent.push(t.clone());
                self.send(side, t);
            }
        }
    }

    fn send(&mut self, from: Side, mut t: Transmit) {
        if let Some(f) = &mut self.tamper {
            if !f(from, &mut t.bytes) {
                self.dropped += 1;
                return;
            }
        }
        let (to, path) = match from {
            Side::A => (
                Side::B,
                Path {
                    local: t.path.remote,
                    remote: self.nat_out(t.path.local),
                },
            ),
            Side::B => match self.nat_in(t.path.remote) {
                Some(r) => (
                    Side::A,
                    Path {
                        local: r,
                        remote: t.path.local,
                    },
                ),
                None => {
                    self.dropped += 1;
                    return;
                }
            },
        };
        // Only deliver to the address the peer actually has.
        let ok = match to {
            Side::A => path.local.ip().to_string() == A_IP,
            Side::B => path.local.ip().to_string() == B_IP,
        };
        if !ok || self.link.cut || self.rng.chance(self.link.loss) {
            self.dropped += 1;
            return;
        }
        let copies = if self.rng.chance(self.link.dup) { 2 } else { 1 };
        for _ in 0..copies {
            let delay = self.link.base_delay_ms + self.rng.below(self.link.jitter_ms + 1);
            let at = self.now + Duration::from_millis(delay);
            self.seq += 1;
            self.queue
                .insert((at, self.seq), (to, path, t.bytes.clone()));
        }
    }

    /// Advances to the next delivery or deadline; false when idle.
    fn step(&mut self) -> bool {
        self.drain();
        let next_pkt = self.queue.keys().next().map(|k| k.0);
        let next = [next_pkt, self.a.ep.poll_timeout(), self.b.ep.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { return false };
        self.now = self.now.max(next);
        let due: Vec<_> = self
            .queue
            .range(..=(self.now, u64::MAX))
            .map(|(k, _)| *k)
            .collect();
        for k in due {
            if let Some((to, path, bytes)) = self.queue.remove(&k) {
                self.delivered += 1;
                let now = self.now;
                self.peer(to).ep.handle_datagram(now, path, &bytes);
                self.drain();
            }
        }
        let now = self.now;
        self.a.ep.handle_timeout(now);
        self.b.ep.handle_timeout(now);
        self.drain();
        true
    }

    /// Runs until `done` or the virtual time limit; returns whether `done`.
    fn drive_until(&mut self, limit: Duration, mut done: impl FnMut(&Self) -> bool) -> bool {
        let end = self.start + limit;
        for _ in 0..100_000 {
            if done(self) {
                return true;
            }
            if self.now > end || !self.step() {
                return done(self);
            }
        }
        panic!("simulation never went idle");
    }

    fn drive_for(&mut self, d: Duration) {
        let end = self.now + d;
        while self.now < end {
            // Commands leave datagrams in the endpoints; put them on the link first.
            self.drain();
            let next = [
                self.queue.keys().next().map(|k| k.0),
                self.a.ep.poll_timeout(),
                self.b.ep.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(n) if n <= end => {
                    self.step();
                }
                _ => {
                    self.now = end;
                    self.drain();
                }
            }
        }
    }

    fn initiate(&mut self) -> IkeSaId {
        let now = self.now;
        let id = self
            .a
            .ep
            .handle_command(now, Command::Initiate { peer: 0, child: 0 })
            .unwrap();
        self.drain();
        id
    }

    fn established(p: &Peer) -> bool {
        p.events
            .iter()
            .any(|e| matches!(e, Event::Established { .. }))
    }

    fn failed(p: &Peer) -> Option<String> {
        p.events.iter().find_map(|e| match e {
            Event::Failed { reason, .. } | Event::Deleted { reason, .. } => Some(reason.clone()),
            _ => None,
        })
    }

    fn both_established(&self) -> bool {
        Self::established(&self.a) && Self::established(&self.b)
    }

    fn installs(p: &Peer) -> Vec<&ChildSaInstall> {
        p.kernel
            .iter()
            .filter_map(|k| {
                if let KernelRequest::Install(i) = k {
                    Some(&**i)
                } else {
                    None
                }
            })
            .collect()
    }

    fn dropped_reasons(p: &Peer) -> Vec<String> {
        p.events
            .iter()
            .filter_map(|e| {
                if let Event::Dropped { reason, .. } = e {
                    Some(reason.clone())
                } else {
                    None
                }
            })
            .collect()
    }

    fn child_failed(p: &Peer) -> Option<String> {
        p.events.iter().find_map(|e| {
            if let Event::ChildFailed { reason, .. } = e {
                Some(reason.clone())
            } else {
                None
            }
        })
    }

    fn sent_exchanges(p: &Peer, ex: ExchangeType, response: bool) -> usize {
        p.sent_of(ex)
            .filter(|t| header(t).is_response() == response)
            .count()
    }

    /// Gives `cmd` to `side` at the current virtual time; what it sends
    /// goes out on the next drive.
    fn command(&mut self, side: Side, cmd: Command) -> IkeSaId {
        let now = self.now;
        self.peer(side).ep.handle_command(now, cmd).unwrap()
    }

    /// Asks `side` to rekey its CHILD_SA `inbound_spi` of `ike_sa`.
    fn rekey_child(&mut self, side: Side, ike_sa: IkeSaId, inbound_spi: u32) {
        self.command(
            side,
            Command::RekeyChild {
                ike_sa,
                inbound_spi,
            },
        );
    }

    /// Asks `side` for one more CHILD_SA of its `child`-th configuration.
    fn create_child(&mut self, side: Side, ike_sa: IkeSaId, child: usize) {
        self.command(side, Command::CreateChild { ike_sa, child });
    }

    /// Initiates from A and drives until both sides are established or a
    /// minute has passed (the caller checks which); A's IKE SA.
    fn establish(&mut self) -> IkeSaId {
        let id = self.initiate();
        self.drive_until(Duration::from_secs(60), Self::both_established);
        id
    }

    /// Whether both sides have reported an IKE SA deleted for `reason`.
    fn both_deleted_as(reason: &'static str) -> impl Fn(&Self) -> bool {
        move |p| {
            [&p.a, &p.b].iter().all(|x| {
                x.events
                    .iter()
                    .any(|e| matches!(e, Event::Deleted { reason: r, .. } if r == reason))
            })
        }
    }

    /// Whether both sides have asked the kernel to install `n` CHILD_SAs.
    fn both_installed(n: usize) -> impl Fn(&Self) -> bool {
        move |p| installs_count(&p.a) == n && installs_count(&p.b) == n
    }
}

/// The IKE header of a datagram we sent, after the non-ESP marker on 4500
/// (RFC 3948 §2.2).
fn header(t: &Transmit) -> HeaderPacket<&[u8]> {
    let b = if t.path.local.port() == 4500 {
        &t.bytes[4..]
    } else {
        &t.bytes[..]
    };
    HeaderPacket::new_checked(b).unwrap()
}

impl Peer {
    /// The datagrams this side sent in exchanges of type `ex`.
    fn sent_of(&self, ex: ExchangeType) -> impl Iterator<Item = &Transmit> {
        self.sent
            .iter()
            .filter(move |t| header(t).exchange_type() == ex)
    }

    /// The IKE SA of this side's first `Established` event.
    fn ike_sa(&self) -> IkeSaId {
        self.events
            .iter()
            .find_map(|e| match e {
                Event::Established { ike_sa, .. } => Some(*ike_sa),
                _ => None,
            })
            .unwrap()
    }

    /// The new IKE SAs of this side's `IkeRekeyed` events, in order.
    fn rekeyed_to(&self) -> Vec<IkeSaId> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::IkeRekeyed { new, .. } => Some(*new),
                _ => None,
            })
            .collect()
    }

    /// Whether this side dropped a message for a reason `pred` accepts.
    fn dropped_any(&self, pred: impl Fn(&String) -> bool) -> bool {
        Pair::dropped_reasons(self).iter().any(pred)
    }

    /// Our inbound SPI of the first CHILD_SA this side installed.
    fn first_spi(&self) -> u32 {
        Pair::installs(self)[0].inbound.spi
    }

    /// The inbound SPIs of the CHILD_SAs this side asked the kernel to
    /// delete, in order.
    fn deleted_spis(&self) -> Vec<u32> {
        self.kernel
            .iter()
            .filter_map(|k| match k {
                KernelRequest::Delete { inbound_spi, .. } => Some(*inbound_spi),
                _ => None,
            })
            .collect()
    }

    /// Whether this side asked the kernel to delete any CHILD_SA.
    fn deletes_any(&self) -> bool {
        !self.deleted_spis().is_empty()
    }
}

/// Our inbound keys are the peer's outbound keys and vice versa.
fn assert_keys_agree(a: &ChildSaInstall, b: &ChildSaInstall) {
    assert_eq!(a.inbound.spi, b.outbound.spi);
    assert_eq!(a.outbound.spi, b.inbound.spi);
    assert_eq!(
        a.inbound.encr_key.secret_bytes(),
        b.outbound.encr_key.secret_bytes()
    );
    assert_eq!(
        a.outbound.encr_key.secret_bytes(),
        b.inbound.encr_key.secret_bytes()
    );
    assert_eq!(
        a.inbound.integ_key.secret_bytes(),
        b.outbound.integ_key.secret_bytes()
    );
    assert_eq!(
        a.outbound.integ_key.secret_bytes(),
        b.inbound.integ_key.secret_bytes()
    );
    assert_ne!(
        a.inbound.encr_key.secret_bytes(),
        a.outbound.encr_key.secret_bytes()
    );
    assert!(!a.inbound.encr_key.is_empty());
    assert_eq!(
        (a.encr, a.encr_key_bits, a.integ, a.esn, a.mode),
        (b.encr, b.encr_key_bits, b.integ, b.esn, b.mode)
    );
    assert_eq!(a.local_ts, b.remote_ts);
    assert_eq!(a.remote_ts, b.local_ts);
}

/// UDP encapsulation between these ports (RFC 3948).
fn encap(local_port: u16, remote_port: u16) -> Option<ike::io::UdpEncap> {
    Some(ike::io::UdpEncap {
        local_port,
        remote_port,
    })
}

/// Two peers with the default options over a clean link, their endpoint
/// configurations changed by `fa` and `fb`.
fn tuned_pair(
    seed: u64,
    fa: impl FnOnce(&mut EndpointConfig),
    fb: impl FnOnce(&mut EndpointConfig),
) -> Pair {
    let o = PeerOpts::default;
    Pair::with(seed, LinkConfig::default(), o(), o(), fa, fb)
}

/// Two peers with the default options over a clean link.
fn default_pair(seed: u64) -> Pair {
    Pair::new(
        seed,
        LinkConfig::default(),
        PeerOpts::default(),
        PeerOpts::default(),
    )
}

/// A rekeys its first CHILD_SA over `ike_sa`; within `limit` both sides
/// install the new CHILD_SA (their second), with agreeing keys.
fn assert_child_rekey_works(p: &mut Pair, ike_sa: IkeSaId, limit: Duration, what: &str) {
    let spi = p.a.first_spi();
    p.rekey_child(Side::A, ike_sa, spi);
    assert!(
        p.drive_until(limit, Pair::both_installed(2)),
        "{what}: {:?}",
        p.a.events
    );
    assert_keys_agree(Pair::installs(&p.a)[1], Pair::installs(&p.b)[1]);
}

fn handshake(p: &mut Pair) {
    p.initiate();
    assert!(
        p.drive_until(Duration::from_secs(60), Pair::both_established),
        "a: {:?}\nb: {:?}",
        p.a.events,
        p.b.events
    );
}

#[test]
fn psk_handshake_establishes_and_both_sides_agree_on_keys() {
    let mut p = Pair::new(
        1,
        LinkConfig {
            base_delay_ms: 10,
            ..Default::default()
        },
        PeerOpts::default(),
        PeerOpts::default(),
    );
    handshake(&mut p);
    let (ia, ib) = (Pair::installs(&p.a), Pair::installs(&p.b));
    assert_eq!((ia.len(), ib.len()), (1, 1));
    assert_keys_agree(ia[0], ib[0]);
    assert_eq!(ia[0].encr, ike::wire::EncrId::AES_GCM_16);
    assert_eq!(
        ia[0].inbound.encr_key.len(),
        36,
        "AES-256 key + 4-byte salt"
    );
    assert_eq!(ia[0].encap, None, "no NAT, nothing forced");
    assert_eq!(ia[0].mode, Mode::Tunnel);
    assert_eq!(ia[0].local_ts[0].to_string(), "10.1.0.0/16");
    // One SA_INIT and one AUTH each way, message IDs 0 and 1 as strongSwan expects.
    assert_eq!(
        Pair::sent_exchanges(&p.a, ExchangeType::IKE_SA_INIT, false),
        1
    );
    assert_eq!(Pair::sent_exchanges(&p.a, ExchangeType::IKE_AUTH, false), 1);
    let auth = p.a.sent_of(ExchangeType::IKE_AUTH).next().unwrap();
    assert_eq!(header(auth).message_id(), 1);
    let ev = p.a.events.iter().find_map(|e| {
        if let Event::Established {
            suite,
            remote_id,
            nat,
            ..
        } = e
        {
            Some((suite.clone(), remote_id.clone(), *nat))
        } else {
            None
        }
    });
    assert_eq!(
        ev,
        Some((
            "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519".into(),
            "b.example".into(),
            false
        ))
    );
}

#[test]
fn same_seed_gives_the_same_run() {
    let run = |seed| {
        let mut p = Pair::new(
            seed,
            LinkConfig {
                loss: 0.2,
                jitter_ms: 50,
                ..Default::default()
            },
            PeerOpts::default(),
            PeerOpts::default(),
        );
        p.initiate();
        p.drive_until(Duration::from_secs(200), Pair::both_established);
        p.a.sent
            .iter()
            .chain(p.b.sent.iter())
            .map(|t| t.bytes.clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(run(7), run(7));
    assert_ne!(run(7), run(8));
}

/// Many seeds over a bad link: 30 % loss, 10 % duplication, reordering.
/// Every run ends either with both sides established on agreeing keys, or
/// with the initiator giving up after strongSwan's retransmission schedule.
#[test]
fn handshake_survives_loss_duplication_and_reordering() {
    let seeds = 300u64;
    let mut ok = 0;
    for seed in 0..seeds {
        let link = LinkConfig {
            loss: 0.3,
            dup: 0.1,
            jitter_ms: 300,
            base_delay_ms: 5,
            ..Default::default()
        };
        let mut p = Pair::new(seed, link, PeerOpts::default(), PeerOpts::default());
        p.initiate();
        p.drive_until(Duration::from_secs(400), |p| {
            p.both_established() || Pair::failed(&p.a).is_some()
        });
        if p.both_established() {
            ok += 1;
            let (ia, ib) = (Pair::installs(&p.a), Pair::installs(&p.b));
            assert_eq!(
                (ia.len(), ib.len()),
                (1, 1),
                "seed {seed}: duplicates must not install twice"
            );
            assert_keys_agree(ia[0], ib[0]);
        } else {
            let r = Pair::failed(&p.a).unwrap();
            assert!(r.contains("did not answer"), "seed {seed}: {r}");
        }
    }
    eprintln!("loss 30%/dup 10%/reorder: {ok}/{seeds} seeds established");
    assert!(ok * 100 >= seeds * 90, "{ok}/{seeds}");
}

#[test]
fn lossless_runs_always_establish() {
    for seed in 100..150 {
        let link = LinkConfig {
            dup: 0.3,
            jitter_ms: 200,
            ..Default::default()
        };
        let mut p = Pair::new(seed, link, PeerOpts::default(), PeerOpts::default());
        handshake(&mut p);
        assert_keys_agree(Pair::installs(&p.a)[0], Pair::installs(&p.b)[0]);
    }
}

#[test]
fn retransmits_on_strongswan_schedule_then_gives_up() {
    let link = LinkConfig {
        cut: true,
        ..Default::default()
    };
    let mut p = Pair::new(3, link, PeerOpts::default(), PeerOpts::default());
    let t0 = p.now;
    p.initiate();
    p.drive_until(Duration::from_secs(400), |p| Pair::failed(&p.a).is_some());
    let reason = Pair::failed(&p.a).unwrap();
    assert_eq!(
        reason,
        "local error: peer did not answer after 6 transmissions"
    );
    assert_eq!(
        Pair::sent_exchanges(&p.a, ExchangeType::IKE_SA_INIT, false),
        6
    );
    // 4 + 7.2 + 12.96 + 23.328 + 41.99 + 75.58 s = 165.06 s (strongSwan's defaults).
    let took = p.now - t0;
    assert!(
        took > Duration::from_secs(165) && took < Duration::from_secs(166),
        "{took:?}"
    );
    assert_eq!(p.a.ep.ike_sa_count(), 0);
}

#[test]
fn cookie_round_trip_when_responder_is_loaded() {
    let mut p = tuned_pair(4, |_| {}, |b| b.cookie_threshold = 0);
    handshake(&mut p);
    assert_eq!(
        Pair::sent_exchanges(&p.a, ExchangeType::IKE_SA_INIT, false),
        2
    );
    assert!(p.b.dropped_any(|r| r == "COOKIE required"));
    assert_keys_agree(Pair::installs(&p.a)[0], Pair::installs(&p.b)[0]);
}

#[test]
fn forged_cookie_is_refused() {
    let mut p = tuned_pair(5, |_| {}, |b| b.cookie_threshold = 0);
    p.initiate();
    p.step();
    // Replay A's first request with a bogus cookie prepended: B must still ask.
    let first = p.a.sent[0].bytes.clone();
    let mut m = ike::wire::Message::parse(&first).unwrap();
    m.payloads.insert(
        0,
        ike::wire::Payload::Notify(ike::wire::Notify::new(
            ike::wire::NotifyType::COOKIE,
            vec![0; 33],
        )),
    );
    m.header.spi_i ^= 1;
    let before = Pair::dropped_reasons(&p.b)
        .iter()
        .filter(|r| *r == "COOKIE required")
        .count();
    let now = p.now;
    p.b.ep.handle_datagram(
        now,
        Path {
            local: sa(&format!("{B_IP}:500")),
            remote: sa(&format!("{A_IP}:500")),
        },
        &m.to_vec(),
    );
    p.drain();
    let after = Pair::dropped_reasons(&p.b)
        .iter()
        .filter(|r| *r == "COOKIE required")
        .count();
    assert_eq!(after, before + 1);
    assert_eq!(p.b.ep.half_open_count(), 0);
}

#[test]
fn invalid_ke_payload_makes_the_initiator_retry_with_the_right_group() {
    let a = PeerOpts {
        ike: "aes256gcm16-prfsha384-x25519-ecp256",
        ..Default::default()
    };
    let b = PeerOpts {
        ike: "aes256gcm16-prfsha384-ecp256",
        ..Default::default()
    };
    let mut p = Pair::new(6, LinkConfig::default(), a, b);
    handshake(&mut p);
    assert_eq!(
        Pair::sent_exchanges(&p.a, ExchangeType::IKE_SA_INIT, false),
        2
    );
    assert!(p.b.dropped_any(|r| r.contains("asking for ECP_256")));
    let suite = p.b.events.iter().find_map(|e| {
        if let Event::Established { suite, .. } = e {
            Some(suite.clone())
        } else {
            None
        }
    });
    assert_eq!(suite.unwrap(), "AES_GCM_16_256/PRF_HMAC_SHA2_384/ECP_256");
}

#[test]
fn no_common_ike_proposal_fails_with_a_readable_reason() {
    let a = PeerOpts {
        ike: "aes128gcm16-prfsha256-ecp384",
        ..Default::default()
    };
    let mut p = Pair::new(7, LinkConfig::default(), a, PeerOpts::default());
    p.initiate();
    p.drive_until(Duration::from_secs(30), |p| Pair::failed(&p.a).is_some());
    assert_eq!(Pair::failed(&p.a).unwrap(), "peer sent NO_PROPOSAL_CHOSEN");
    assert!(Pair::dropped_reasons(&p.b).contains(
        &"no proposal chosen: peer offered AES_GCM_16_128/PRF_HMAC_SHA2_256/ECP_384, we accept AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519".to_string()
    ));
    assert_eq!(p.b.ep.ike_sa_count(), 0);
}

#[test]
fn wrong_psk_fails_authentication_on_both_sides() {
    let a = PeerOpts {
        psk: "wrong",
        ..Default::default()
    };
    let mut p = Pair::new(8, LinkConfig::default(), a, PeerOpts::default());
    p.initiate();
    p.drive_until(Duration::from_secs(30), |p| {
        Pair::failed(&p.a).is_some() && Pair::failed(&p.b).is_some()
    });
    assert_eq!(
        Pair::failed(&p.a).unwrap(),
        "peer sent AUTHENTICATION_FAILED"
    );
    assert_eq!(
        Pair::failed(&p.b).unwrap(),
        "authentication failed: AUTH payload of a.example does not verify"
    );
    assert!(Pair::installs(&p.a).is_empty() && Pair::installs(&p.b).is_empty());
    assert_eq!((p.a.ep.ike_sa_count(), p.b.ep.ike_sa_count()), (0, 0));
}

#[test]
fn responder_rejects_an_unknown_identity() {
    let b = PeerOpts {
        remote_id: Some("someone.else"),
        ..Default::default()
    };
    let mut p = Pair::new(9, LinkConfig::default(), PeerOpts::default(), b);
    p.initiate();
    p.drive_until(Duration::from_secs(30), |p| Pair::failed(&p.a).is_some());
    assert_eq!(
        Pair::failed(&p.a).unwrap(),
        "peer sent AUTHENTICATION_FAILED"
    );
    assert_eq!(
        Pair::failed(&p.b).unwrap(),
        "authentication failed: no configuration for peer identity a.example"
    );
}

#[test]
fn initiator_rejects_an_unexpected_responder_identity() {
    let a = PeerOpts {
        remote_id: Some("not-b.example"),
        ..Default::default()
    };
    let mut p = Pair::new(10, LinkConfig::default(), a, PeerOpts::default());
    p.initiate();
    p.drive_until(Duration::from_secs(30), |p| Pair::failed(&p.a).is_some());
    assert_eq!(
        Pair::failed(&p.a).unwrap(),
        "authentication failed: peer identity b.example is not the expected not-b.example"
    );
    assert!(Pair::installs(&p.a).is_empty());
    // B had answered IKE_AUTH, so it holds an established SA until A's
    // INFORMATIONAL with AUTHENTICATION_FAILED arrives (RFC 7296 §2.21.2).
    assert_responder_torn_down_after_auth_rejection(&mut p);
}

fn assert_responder_torn_down_after_auth_rejection(p: &mut Pair) {
    p.drive_until(Duration::from_secs(30), |p| Pair::failed(&p.b).is_some());
    assert!(Pair::established(&p.b));
    assert_eq!(
        Pair::failed(&p.b).unwrap(),
        "peer rejected our authentication (AUTHENTICATION_FAILED)"
    );
    assert_eq!(p.b.ep.ike_sa_count(), 0);
    assert_eq!(p.a.ep.ike_sa_count(), 0);
    // B's CHILD_SA went back out of the kernel.
    let b_deletes =
        p.b.kernel
            .iter()
            .filter(|k| matches!(k, KernelRequest::Delete { .. }))
            .count();
    assert_eq!(Pair::installs(&p.b).len(), 1);
    assert_eq!(b_deletes, 1);
    // One INFORMATIONAL from A, sent once and never retransmitted.
    p.drive_for(Duration::from_secs(120));
    assert_eq!(
        Pair::sent_exchanges(&p.a, ExchangeType::INFORMATIONAL, false),
        1
    );
    assert_eq!(
        Pair::sent_exchanges(&p.b, ExchangeType::INFORMATIONAL, true),
        1
    );
}

#[test]
fn traffic_selectors_are_narrowed_by_the_responder() {
    let a = PeerOpts {
        local_ts: "10.1.0.0/16",
        remote_ts: "10.0.0.0/8",
        ..Default::default()
    };
    let b = PeerOpts {
        local_ts: "10.2.3.0/24[tcp/443]",
        remote_ts: "10.1.0.0/16",
        ..Default::default()
    };
    let mut p = Pair::new(11, LinkConfig::default(), a, b);
    handshake(&mut p);
    let ia = Pair::installs(&p.a)[0];
    assert_eq!(ia.remote_ts[0].to_string(), "10.2.3.0/24[tcp/443]");
    assert_keys_agree(ia, Pair::installs(&p.b)[0]);
}

#[test]
fn disjoint_selectors_give_ts_unacceptable_but_keep_the_ike_sa() {
    let b = PeerOpts {
        remote_ts: "172.16.0.0/12",
        ..Default::default()
    };
    let mut p = Pair::new(12, LinkConfig::default(), PeerOpts::default(), b);
    handshake(&mut p);
    assert_eq!(
        Pair::child_failed(&p.a).unwrap(),
        "peer sent TS_UNACCEPTABLE"
    );
    assert!(Pair::child_failed(&p.b)
        .unwrap()
        .starts_with("traffic selectors unacceptable: peer proposed 10.1.0.0/16 === 10.2.0.0/16"));
    assert!(Pair::installs(&p.a).is_empty() && Pair::installs(&p.b).is_empty());
}

#[test]
fn no_common_esp_proposal_fails_only_the_child() {
    let b = PeerOpts {
        esp: "aes128gcm16-x25519",
        ..Default::default()
    };
    let mut p = Pair::new(13, LinkConfig::default(), PeerOpts::default(), b);
    handshake(&mut p);
    assert_eq!(
        Pair::child_failed(&p.a).unwrap(),
        "peer sent NO_PROPOSAL_CHOSEN"
    );
    assert_eq!(
        Pair::child_failed(&p.b).unwrap(),
        "no proposal chosen: peer offered AES_GCM_16_256/NO_EXT_SEQ, we accept AES_GCM_16_128/NO_EXT_SEQ"
    );
}

#[test]
fn esp_cbc_with_esn_and_transport_mode() {
    let o = || PeerOpts {
        esp: "aes128-sha256-esn",
        mode: Mode::Transport,
        ..Default::default()
    };
    let mut p = Pair::new(14, LinkConfig::default(), o(), o());
    handshake(&mut p);
    let (ia, ib) = (Pair::installs(&p.a)[0], Pair::installs(&p.b)[0]);
    assert_keys_agree(ia, ib);
    assert_eq!(ia.mode, Mode::Transport);
    assert!(ia.esn);
    assert_eq!(
        (ia.inbound.encr_key.len(), ia.inbound.integ_key.len()),
        (16, 32)
    );
}

#[test]
fn transport_request_falls_back_to_tunnel_when_responder_wants_tunnel() {
    let a = PeerOpts {
        mode: Mode::Transport,
        ..Default::default()
    };
    let mut p = Pair::new(15, LinkConfig::default(), a, PeerOpts::default());
    handshake(&mut p);
    assert_eq!(Pair::installs(&p.a)[0].mode, Mode::Tunnel);
    assert_eq!(Pair::installs(&p.b)[0].mode, Mode::Tunnel);
}

#[test]
fn nat_is_detected_and_both_float_to_4500() {
    let mut p = Pair::new(16, NAT_LINK, PeerOpts::default(), PeerOpts::default());
    handshake(&mut p);
    let (ia, ib) = (Pair::installs(&p.a)[0], Pair::installs(&p.b)[0]);
    assert_keys_agree(ia, ib);
    assert_eq!(ia.encap, encap(4500, 4500));
    // B sees A's NAT mapping of 4500.
    assert_eq!(ib.encap, encap(4500, 40001));
    assert_eq!(ib.remote, sa(&format!("{NAT_IP}:40001")));
    // IKE_AUTH went over 4500 with the non-ESP marker.
    let auth =
        p.a.sent
            .iter()
            .find(|t| t.path.local.port() == 4500)
            .unwrap();
    assert_eq!(&auth.bytes[..4], &[0, 0, 0, 0]);
    assert!(p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::Established { nat: true, .. })));
}

#[test]
fn forced_encapsulation_floats_without_a_nat() {
    let a = PeerOpts {
        force_encap: true,
        ..Default::default()
    };
    let mut p = Pair::new(17, LinkConfig::default(), a, PeerOpts::default());
    handshake(&mut p);
    let (ia, ib) = (Pair::installs(&p.a)[0], Pair::installs(&p.b)[0]);
    assert_eq!(ia.encap, encap(4500, 4500));
    assert_eq!(ib.encap, encap(4500, 4500));
}

#[test]
fn terminate_deletes_the_ike_sa_on_both_sides() {
    let mut p = default_pair(18);
    let id = p.establish();
    p.command(Side::A, Command::Terminate { ike_sa: id });
    p.drive_until(Duration::from_secs(120), |p| {
        Pair::failed(&p.a).is_some() && Pair::failed(&p.b).is_some()
    });
    assert_eq!(Pair::failed(&p.a).unwrap(), "deleted by us");
    assert_eq!(Pair::failed(&p.b).unwrap(), "deleted by peer");
    for peer in [&p.a, &p.b] {
        assert!(peer.deletes_any());
        assert_eq!(peer.ep.ike_sa_count(), 0);
    }
}

#[test]
fn terminate_child_deletes_it_on_both_sides() {
    let mut p = default_pair(19);
    let id = p.establish();
    let spi = p.a.first_spi();
    p.command(
        Side::A,
        Command::TerminateChild {
            ike_sa: id,
            inbound_spi: spi,
        },
    );
    let gone = |p: &Pair| {
        [&p.a, &p.b].iter().all(|x| {
            x.events
                .iter()
                .any(|e| matches!(e, Event::ChildDeleted { .. }))
        })
    };
    assert!(p.drive_until(Duration::from_secs(120), gone));
    assert_eq!(p.a.ep.child_count(id), 0);
    assert!(p.a.ep.is_established(id));
    let b_del = p.b.deleted_spis().first().copied();
    assert_eq!(b_del, Some(p.b.first_spi()));
}

#[test]
fn dpd_keeps_a_live_peer_and_detects_a_dead_one() {
    let o = || PeerOpts {
        dpd: Some(Duration::from_secs(30)),
        ..Default::default()
    };
    let mut p = Pair::new(20, LinkConfig::default(), o(), o());
    let id = p.establish();
    p.drive_for(Duration::from_secs(100));
    assert!(Pair::sent_exchanges(&p.a, ExchangeType::INFORMATIONAL, false) >= 2);
    assert!(p.a.ep.is_established(id));
    p.link.cut = true;
    p.drive_for(Duration::from_secs(300));
    assert_eq!(
        Pair::failed(&p.a).unwrap(),
        "local error: peer did not answer after 6 transmissions"
    );
    assert!(p.a.deletes_any());
}

#[test]
fn half_open_sa_expires_when_ike_auth_never_comes() {
    let mut p = default_pair(21);
    p.initiate();
    p.step(); // SA_INIT request reaches B
    p.link.cut = true;
    assert_eq!(p.b.ep.half_open_count(), 1);
    p.drive_for(Duration::from_secs(31));
    assert_eq!(p.b.ep.half_open_count(), 0);
    assert_eq!(
        Pair::failed(&p.b).unwrap(),
        "no IKE_AUTH within the half-open timeout"
    );
}

#[test]
fn half_open_limit_drops_new_requests() {
    let mut p = tuned_pair(
        22,
        |_| {},
        |b| {
            b.half_open_limit = 1;
            b.cookie_threshold = 100;
        },
    );
    // A first half-open SA from elsewhere.
    p.initiate();
    p.step();
    p.link.cut = true;
    assert_eq!(p.b.ep.half_open_count(), 1);
    let req = p.a.sent[0].bytes.clone();
    let mut m = ike::wire::Message::parse(&req).unwrap();
    m.header.spi_i ^= 0xff;
    let now = p.now;
    p.b.ep.handle_datagram(
        now,
        Path {
            local: sa(&format!("{B_IP}:500")),
            remote: sa("192.0.2.99:500"),
        },
        &m.to_vec(),
    );
    p.drain();
    assert_eq!(p.b.ep.half_open_count(), 1);
    assert!(p.b.dropped_any(|r| r.starts_with("half-open limit")));
}

#[test]
fn retransmitted_requests_get_the_cached_response() {
    let mut p = Pair::new(
        23,
        LinkConfig {
            dup: 1.0,
            ..Default::default()
        },
        PeerOpts::default(),
        PeerOpts::default(),
    );
    handshake(&mut p);
    p.drive_for(Duration::from_secs(1));
    // Every request arrived twice; B answered each twice, byte-identical.
    let auth_resps: Vec<_> = p.b.sent_of(ExchangeType::IKE_AUTH).collect();
    assert_eq!(auth_resps.len(), 2);
    assert_eq!(auth_resps[0].bytes, auth_resps[1].bytes);
    assert_eq!(
        (Pair::installs(&p.a).len(), Pair::installs(&p.b).len()),
        (1, 1)
    );
}

#[test]
fn garbage_and_forged_messages_are_dropped_without_harm() {
    let mut p = default_pair(24);
    let id = p.establish();
    let path = Path {
        local: sa(&format!("{B_IP}:500")),
        remote: sa(&format!("{A_IP}:500")),
    };
    let now = p.now;
    for junk in [&[][..], &[1, 2, 3][..], &[0u8; 28][..], &[0xff; 100][..]] {
        p.b.ep.handle_datagram(now, path, junk);
    }
    // A correctly framed INFORMATIONAL with a corrupted ICV.
    let auth = p.a.sent_of(ExchangeType::IKE_AUTH).next().unwrap();
    let mut forged = auth.bytes.clone();
    forged[18] = ExchangeType::INFORMATIONAL.0;
    forged[23] = 2;
    let last = forged.len() - 1;
    forged[last] ^= 1;
    p.b.ep.handle_datagram(now, path, &forged);
    p.drain();
    assert_eq!(Pair::dropped_reasons(&p.b).len(), 5);
    // The SA still works: delete it cleanly.
    p.command(Side::A, Command::Terminate { ike_sa: id });
    p.drive_until(Duration::from_secs(120), |p| Pair::failed(&p.b).is_some());
    assert_eq!(Pair::failed(&p.b).unwrap(), "deleted by peer");
}

#[test]
fn many_proposals_pick_the_responders_preference() {
    let a = PeerOpts {
        ike: "aes128gcm16-prfsha256-ecp256, aes256gcm16-prfsha384-x25519",
        esp: "aes128gcm16, aes256gcm16",
        ..Default::default()
    };
    let b = PeerOpts {
        ike: "aes256gcm16-prfsha384-x25519, aes128gcm16-prfsha256-ecp256",
        esp: "aes256gcm16, aes128gcm16",
        ..Default::default()
    };
    let mut p = Pair::new(25, LinkConfig::default(), a, b);
    handshake(&mut p);
    // B prefers proposal 2 of A's; A's KE guess (ECP_256 from its first
    // proposal) does not fit it, so B asks for CURVE_25519 first.
    assert_eq!(
        Pair::sent_exchanges(&p.a, ExchangeType::IKE_SA_INIT, false),
        2
    );
    assert_eq!(Pair::installs(&p.a)[0].encr_key_bits, Some(256));
}

#[test]
fn configured_proposals_are_usable_strings() {
    // The configs this simulator builds parse exactly as operators write them.
    let p = ProposalSpec::parse(ProtocolId::IKE, "aes256gcm16-prfsha384-x25519").unwrap();
    assert_eq!(
        p.to_string(),
        "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519"
    );
}

fn installs_count(p: &Peer) -> usize {
    Pair::installs(p).len()
}

fn rekey_child_test(seed: u64, esp: &'static str, link: LinkConfig) -> Pair {
    let o = || PeerOpts {
        esp,
        ..Default::default()
    };
    let mut p = Pair::new(seed, link, o(), o());
    let id = p.initiate();
    assert!(p.drive_until(Duration::from_secs(200), Pair::both_established));
    let old = p.a.first_spi();
    p.rekey_child(Side::A, id, old);
    // New CHILD_SA on both sides, old one deleted on both sides.
    let done = |p: &Pair| {
        installs_count(&p.a) == 2
            && installs_count(&p.b) == 2
            && [&p.a, &p.b].iter().all(|x| {
                x.kernel
                    .iter()
                    .any(|k| matches!(k, KernelRequest::Delete { .. }))
            })
    };
    assert!(
        p.drive_until(Duration::from_secs(600), done),
        "a: {:?}\nb: {:?}",
        p.a.events,
        p.b.events
    );
    let (ia, ib) = (Pair::installs(&p.a), Pair::installs(&p.b));
    assert_keys_agree(ia[1], ib[1]);
    assert_ne!(
        ia[1].inbound.encr_key.secret_bytes(),
        ia[0].inbound.encr_key.secret_bytes()
    );
    assert_eq!(p.a.ep.child_count(id), 1);
    let a_del = p.a.deleted_spis().first().copied();
    assert_eq!(a_del, Some(old));
    p
}

#[test]
fn child_sa_rekey_installs_new_keys_and_deletes_the_old_sa() {
    rekey_child_test(30, "aes256gcm16", LinkConfig::default());
}

#[test]
fn child_sa_rekey_with_pfs() {
    let cc_len = |p: &Pair| {
        let t = p.a.sent_of(ExchangeType::CREATE_CHILD_SA).next();
        t.unwrap().bytes.len()
    };
    let pfs = rekey_child_test(31, "aes256gcm16-x25519", LinkConfig::default());
    let plain = rekey_child_test(31, "aes256gcm16", LinkConfig::default());
    // The PFS request carries a KE payload (8 bytes of headers + 32 of
    // X25519) and its proposal a KE transform (8 bytes).
    assert_eq!(cc_len(&pfs), cc_len(&plain) + 48);
    // IKE_AUTH's CHILD_SA takes its keys from the IKE SA's exchange, so its
    // proposal has no group (RFC 7296 §1.2, as strongSwan insists); the
    // rekey adds the configured PFS group.
    let suites: Vec<&str> = pfs
        .a
        .events
        .iter()
        .filter_map(|e| {
            if let Event::ChildInstalled { suite, .. } = e {
                Some(suite.as_str())
            } else {
                None
            }
        })
        .collect();
    assert_eq!(
        suites,
        [
            "AES_GCM_16_256/NO_EXT_SEQ",
            "AES_GCM_16_256/CURVE_25519/NO_EXT_SEQ"
        ]
    );
    assert!(pfs.a.events.iter().any(|e| matches!(e, Event::ChildInstalled { suite, .. } if suite == "AES_GCM_16_256/CURVE_25519/NO_EXT_SEQ")));
}

#[test]
fn child_sa_rekey_survives_a_lossy_link() {
    let mut ok = 0;
    for seed in 40..60 {
        let o = || PeerOpts::default();
        let mut p = Pair::new(
            seed,
            LinkConfig {
                loss: 0.2,
                dup: 0.1,
                jitter_ms: 200,
                ..Default::default()
            },
            o(),
            o(),
        );
        let id = p.initiate();
        if !p.drive_until(Duration::from_secs(200), Pair::both_established) {
            continue;
        }
        let old = p.a.first_spi();
        p.rekey_child(Side::A, id, old);
        if p.drive_until(Duration::from_secs(800), Pair::both_installed(2)) {
            assert_keys_agree(Pair::installs(&p.a)[1], Pair::installs(&p.b)[1]);
            ok += 1;
        }
    }
    assert!(ok >= 15, "{ok}/20");
}

#[test]
fn kernel_soft_expire_triggers_a_child_rekey() {
    let mut p = default_pair(32);
    p.establish();
    let spi = p.b.first_spi();
    let now = p.now;
    p.b.ep
        .handle_kernel(now, ike::io::KernelEvent::Expire { spi, hard: false });
    assert!(p.drive_until(Duration::from_secs(120), Pair::both_installed(2)));
    assert_keys_agree(Pair::installs(&p.a)[1], Pair::installs(&p.b)[1]);
}

#[test]
fn rekey_of_an_unknown_child_gets_child_sa_not_found() {
    let mut p = default_pair(33);
    let id = p.establish();
    let spi = p.a.first_spi();
    let b_id = p.b.ike_sa();
    // B's kernel drops the CHILD_SA while B has a request outstanding, so
    // B forgets it locally and A never hears of it.
    p.link.cut = true;
    p.command(Side::B, Command::Dpd { ike_sa: b_id });
    let now = p.now;
    p.b.ep.handle_kernel(
        now,
        ike::io::KernelEvent::Deleted {
            spi: p.b.first_spi(),
        },
    );
    p.drain();
    assert_eq!(p.b.ep.child_count(b_id), 0);
    p.link.cut = false;
    p.drive_for(Duration::from_secs(60));
    p.rekey_child(Side::A, id, spi);
    assert!(
        p.drive_until(Duration::from_secs(400), |p| Pair::child_failed(&p.a)
            .is_some())
    );
    assert_eq!(
        Pair::child_failed(&p.a).unwrap(),
        "peer sent CHILD_SA_NOT_FOUND"
    );
    assert_eq!(
        Pair::child_failed(&p.b).unwrap(),
        "REKEY_SA names no CHILD_SA of ours"
    );
}

#[test]
fn ike_sa_rekey_moves_children_and_deletes_the_old_sa() {
    let o = || PeerOpts {
        dpd: Some(Duration::from_secs(30)),
        ..Default::default()
    };
    let mut p = Pair::new(34, LinkConfig::default(), o(), o());
    let id = p.establish();
    p.command(Side::A, Command::RekeyIke { ike_sa: id });
    assert!(
        p.drive_until(Duration::from_secs(120), Pair::both_deleted_as("rekeyed")),
        "a: {:?}\nb: {:?}",
        p.a.events,
        p.b.events
    );
    let new = p.a.rekeyed_to()[0];
    assert!(!p.a.ep.is_established(id));
    assert!(p.a.ep.is_established(new));
    assert_eq!(p.a.ep.child_count(new), 1);
    assert_eq!((p.a.ep.ike_sa_count(), p.b.ep.ike_sa_count()), (1, 1));
    // The CHILD_SA was not touched by the IKE rekey.
    assert!(!p.a.deletes_any());
    // The new IKE SA works: DPD runs over it, and a CHILD rekey and a delete.
    p.drive_for(Duration::from_secs(100));
    assert!(p.a.ep.is_established(new));
    assert_child_rekey_works(&mut p, new, Duration::from_secs(400), "CHILD_SA rekey");
    p.drive_for(Duration::from_secs(5));
    p.command(Side::A, Command::Terminate { ike_sa: new });
    assert!(
        p.drive_until(Duration::from_secs(600), |p| p.a.ep.ike_sa_count() == 0
            && p.b.ep.ike_sa_count() == 0)
    );
}

#[test]
fn responder_can_rekey_the_ike_sa_too() {
    let mut p = default_pair(35);
    p.establish();
    let b_id = p.b.ike_sa();
    p.command(Side::B, Command::RekeyIke { ike_sa: b_id });
    assert!(p.drive_until(Duration::from_secs(120), Pair::both_deleted_as("rekeyed")));
    // B initiated the rekey, so it is the new SA's original initiator;
    // a CHILD rekey from A over the new SA still works.
    let new_a = p.a.rekeyed_to()[0];
    assert_child_rekey_works(&mut p, new_a, Duration::from_secs(200), "CHILD_SA rekey");
}

/// Two peers over a link slow enough (50 ms) that requests both send at
/// the same instant cross, established; with A's and B's IKE SA.
fn crossing_pair(seed: u64, a: PeerOpts) -> (Pair, IkeSaId, IkeSaId) {
    let link = LinkConfig {
        base_delay_ms: 50,
        ..Default::default()
    };
    let mut p = Pair::new(seed, link, a, PeerOpts::default());
    let id = p.establish();
    let b_id = p.b.ike_sa();
    (p, id, b_id)
}

/// What both ends rekey in a collision.
#[derive(Clone, Copy)]
enum Rekey {
    /// Their first CHILD_SA (RFC 7296 §2.8.1).
    Child,
    /// The IKE SA itself (RFC 7296 §2.8.2).
    Ike,
}

/// A (over `id`) and B (over `b_id`) both start a rekey at the same instant.
fn rekey_both_at_once(p: &mut Pair, what: Rekey, id: IkeSaId, b_id: IkeSaId) {
    match what {
        Rekey::Child => {
            let (sa_spi, sb_spi) = (p.a.first_spi(), p.b.first_spi());
            p.rekey_child(Side::A, id, sa_spi);
            p.rekey_child(Side::B, b_id, sb_spi);
        }
        Rekey::Ike => {
            p.command(Side::A, Command::RekeyIke { ike_sa: id });
            p.command(Side::B, Command::RekeyIke { ike_sa: b_id });
        }
    }
}

#[test]
fn simultaneous_child_rekeys_keep_exactly_one_new_sa() {
    for seed in 36..46 {
        let (mut p, id, b_id) = crossing_pair(seed, PeerOpts::default());
        rekey_both_at_once(&mut p, Rekey::Child, id, b_id);
        p.drive_for(Duration::from_secs(30));
        // Both exchanges created a CHILD_SA; the one from the exchange with
        // the lowest nonce and the old one are deleted (RFC 7296 §2.8.1).
        assert_eq!(
            (installs_count(&p.a), installs_count(&p.b)),
            (3, 3),
            "seed {seed}"
        );
        assert_eq!(
            (p.a.ep.child_count(id), p.b.ep.child_count(b_id)),
            (1, 1),
            "seed {seed}"
        );
        let deleted = Peer::deleted_spis;
        assert_eq!(deleted(&p.a).len(), 2, "seed {seed}");
        // The survivor is the same SA on both sides, with agreeing keys.
        let (ia, ib) = (Pair::installs(&p.a), Pair::installs(&p.b));
        let live_a: Vec<_> = ia
            .iter()
            .filter(|i| !deleted(&p.a).contains(&i.inbound.spi))
            .collect();
        let live_b: Vec<_> = ib
            .iter()
            .filter(|i| !deleted(&p.b).contains(&i.inbound.spi))
            .collect();
        assert_eq!((live_a.len(), live_b.len()), (1, 1), "seed {seed}");
        assert_keys_agree(live_a[0], live_b[0]);
    }
}

use ike::wire::{Ke, KeMethod, Message, Notify, NotifyType, Payload, UnknownPayload, VendorId};

/// Rewrites B's IKE_SA_INIT responses with `f`.
fn tamper_init_response(p: &mut Pair, mut f: impl FnMut(&mut Message) + 'static) {
    p.tamper = Some(Box::new(move |from, bytes| {
        if from == Side::B && bytes.len() >= 28 && bytes[18] == ExchangeType::IKE_SA_INIT.0 {
            let mut m = Message::parse(bytes).unwrap();
            f(&mut m);
            *bytes = m.to_vec();
        }
        true
    }));
}

fn run_to_a_failure(p: &mut Pair) -> String {
    p.initiate();
    p.drive_until(Duration::from_secs(400), |p| Pair::failed(&p.a).is_some());
    Pair::failed(&p.a).unwrap()
}

#[test]
fn initiator_rejects_a_ke_payload_of_another_group() {
    let mut p = default_pair(50);
    tamper_init_response(&mut p, |m| {
        for pl in &mut m.payloads {
            if let Payload::Ke(k) = pl {
                k.method = KeMethod::ECP_256;
            }
        }
    });
    assert_eq!(
        run_to_a_failure(&mut p),
        "peer misbehaved: KE payload uses ECP_256, the chosen proposal has CURVE_25519"
    );
}

#[test]
fn initiator_rejects_a_response_with_two_proposals() {
    let mut p = default_pair(51);
    tamper_init_response(&mut p, |m| {
        for pl in &mut m.payloads {
            if let Payload::Sa(sa) = pl {
                let mut second = sa.proposals[0].clone();
                second.number = 2;
                sa.proposals.push(second);
            }
        }
    });
    assert_eq!(
        run_to_a_failure(&mut p),
        "peer misbehaved: response SA has 2 proposals, expected exactly one"
    );
}

#[test]
fn initiator_rejects_a_response_without_nonce() {
    let mut p = default_pair(52);
    tamper_init_response(&mut p, |m| {
        m.payloads.retain(|pl| !matches!(pl, Payload::Nonce(_)))
    });
    assert_eq!(
        run_to_a_failure(&mut p),
        "peer misbehaved: IKE_SA_INIT message lacks a No payload"
    );
}

#[test]
fn initiator_drops_a_response_with_a_zero_responder_spi() {
    let mut p = default_pair(53);
    tamper_init_response(&mut p, |m| m.header.spi_r = 0);
    assert_eq!(
        run_to_a_failure(&mut p),
        "local error: peer did not answer after 6 transmissions"
    );
    assert!(p
        .a
        .dropped_any(|r| r == "peer misbehaved: IKE_SA_INIT response has a zero responder SPI"));
}

#[test]
fn initiator_rejects_invalid_ke_for_a_group_it_did_not_offer() {
    let mut p = default_pair(54);
    tamper_init_response(&mut p, |m| {
        m.header.spi_r = 0;
        m.payloads = vec![Payload::Notify(Notify::new(
            NotifyType::INVALID_KE_PAYLOAD,
            KeMethod::MODP_1024.0.to_be_bytes().to_vec(),
        ))];
    });
    assert_eq!(
        run_to_a_failure(&mut p),
        "peer misbehaved: INVALID_KE_PAYLOAD asks for MODP_1024, which we cannot use"
    );
    let mut p = default_pair(55);
    tamper_init_response(&mut p, |m| {
        m.header.spi_r = 0;
        m.payloads = vec![Payload::Notify(Notify::new(
            NotifyType::INVALID_KE_PAYLOAD,
            vec![0],
        ))];
    });
    assert_eq!(
        run_to_a_failure(&mut p),
        "peer misbehaved: INVALID_KE_PAYLOAD notify data has the wrong length"
    );
}

#[test]
fn initiator_gives_up_on_endless_cookies() {
    let mut p = default_pair(56);
    let mut n = 0u8;
    tamper_init_response(&mut p, move |m| {
        n = n.wrapping_add(1);
        m.header.spi_r = 0;
        m.payloads = vec![Payload::Notify(Notify::new(
            NotifyType::COOKIE,
            vec![n; 16],
        ))];
    });
    assert_eq!(
        run_to_a_failure(&mut p),
        "peer misbehaved: too many IKE_SA_INIT retries"
    );
    assert_eq!(
        Pair::sent_exchanges(&p.a, ExchangeType::IKE_SA_INIT, false),
        5
    );
}

#[test]
fn unsupported_critical_payload_is_refused() {
    let mut p = default_pair(57);
    p.tamper = Some(Box::new(|from, bytes| {
        if from == Side::A && bytes[18] == ExchangeType::IKE_SA_INIT.0 {
            let mut m = Message::parse(bytes).unwrap();
            m.payloads.push(Payload::Unknown(UnknownPayload {
                payload_type: ike::wire::PayloadType(200),
                critical: true,
                data: vec![1, 2, 3],
            }));
            *bytes = m.to_vec();
        }
        true
    }));
    assert_eq!(
        run_to_a_failure(&mut p),
        "peer sent UNSUPPORTED_CRITICAL_PAYLOAD"
    );
    assert!(p
        .b
        .dropped_any(|r| r == "unsupported critical payload in IKE_SA_INIT"));
}

/// strongSwan adds status notifies and vendor IDs we do not use
/// (MOBIKE_SUPPORTED, REDIRECT_SUPPORTED, …) and unknown non-critical
/// payloads must be skipped (RFC 7296 §2.5): both sides get through
/// IKE_SA_INIT with them. Since they were added in flight, AUTH (which
/// signs IKE_SA_INIT as sent, §2.15) then catches the change.
#[test]
fn unknown_notifies_and_payloads_pass_init_and_tampering_fails_auth() {
    let mut p = default_pair(58);
    p.tamper = Some(Box::new(|_, bytes| {
        if bytes[18] == ExchangeType::IKE_SA_INIT.0 {
            let mut m = Message::parse(bytes).unwrap();
            m.payloads.push(Payload::Notify(Notify::new(
                NotifyType::REDIRECT_SUPPORTED,
                Vec::new(),
            )));
            m.payloads
                .push(Payload::Notify(Notify::new(NotifyType(40000), vec![9; 5])));
            m.payloads.push(Payload::VendorId(VendorId {
                data: b"strongSwan".to_vec(),
            }));
            m.payloads.push(Payload::Unknown(UnknownPayload {
                payload_type: ike::wire::PayloadType(200),
                critical: false,
                data: vec![1, 2, 3],
            }));
            *bytes = m.to_vec();
        }
        true
    }));
    assert_eq!(run_to_a_failure(&mut p), "peer sent AUTHENTICATION_FAILED");
    assert_eq!(
        Pair::failed(&p.b).unwrap(),
        "authentication failed: AUTH payload of a.example does not verify"
    );
}

#[test]
fn a_forged_ike_auth_response_changes_nothing() {
    let mut p = default_pair(59);
    let mut first = true;
    p.tamper = Some(Box::new(move |from, bytes| {
        if from == Side::B && bytes.len() > 28 && bytes[18] == ExchangeType::IKE_AUTH.0 && first {
            first = false;
            let last = bytes.len() - 1;
            bytes[last] ^= 0x80;
        }
        true
    }));
    handshake(&mut p);
    assert!(p.a.dropped_any(|r| r.contains("integrity check")));
    // A retransmitted its request and B answered from its cache.
    assert_eq!(Pair::sent_exchanges(&p.a, ExchangeType::IKE_AUTH, false), 2);
    assert_keys_agree(Pair::installs(&p.a)[0], Pair::installs(&p.b)[0]);
}

#[test]
fn responder_ignores_a_ke_group_it_does_not_know() {
    // A KE payload for an unknown group in a proposal we cannot match:
    // the responder answers NO_PROPOSAL_CHOSEN, never panics.
    let mut p = default_pair(60);
    p.tamper = Some(Box::new(|from, bytes| {
        if from == Side::A && bytes[18] == ExchangeType::IKE_SA_INIT.0 {
            let mut m = Message::parse(bytes).unwrap();
            for pl in &mut m.payloads {
                match pl {
                    Payload::Ke(k) => {
                        *k = Ke {
                            method: KeMethod(999),
                            data: vec![7; 3],
                        }
                    }
                    Payload::Sa(sa) => {
                        for t in &mut sa.proposals[0].transforms {
                            if t.transform_type == ike::wire::TransformType::KE {
                                t.id = 999;
                            }
                        }
                    }
                    _ => {}
                }
            }
            *bytes = m.to_vec();
        }
        true
    }));
    assert_eq!(run_to_a_failure(&mut p), "peer sent NO_PROPOSAL_CHOSEN");
}

#[test]
fn responder_rejects_a_bad_ke_public_value() {
    let mut p = default_pair(61);
    p.tamper = Some(Box::new(|from, bytes| {
        if from == Side::A && bytes[18] == ExchangeType::IKE_SA_INIT.0 {
            let mut m = Message::parse(bytes).unwrap();
            for pl in &mut m.payloads {
                if let Payload::Ke(k) = pl {
                    k.data.truncate(5);
                }
            }
            *bytes = m.to_vec();
        }
        true
    }));
    p.initiate();
    p.drive_until(Duration::from_secs(10), |p| {
        !Pair::dropped_reasons(&p.b).is_empty()
    });
    assert_eq!(
        Pair::dropped_reasons(&p.b)[0],
        "peer misbehaved: KE data for group 31 is 5 bytes, expected 32"
    );
    assert_eq!(p.b.ep.ike_sa_count(), 0);
}

fn skf_count(p: &Peer, ex: ExchangeType) -> usize {
    p.sent_of(ex)
        .filter(|t| header(t).next_payload() == ike::wire::PayloadType::SKF)
        .count()
}

#[test]
fn large_messages_are_fragmented_and_reassembled() {
    let small = |c: &mut EndpointConfig| c.fragment_size = 200;
    let mut p = tuned_pair(70, small, small);
    handshake(&mut p);
    assert_keys_agree(Pair::installs(&p.a)[0], Pair::installs(&p.b)[0]);
    // Each IKE_AUTH message went out as several SKF fragments, each within the size.
    assert!(skf_count(&p.a, ExchangeType::IKE_AUTH) >= 2);
    assert!(skf_count(&p.b, ExchangeType::IKE_AUTH) >= 2);
    assert!(p.a.sent.iter().chain(p.b.sent.iter()).all(
        |t| t.bytes.len() + 28 <= 200 || header(t).exchange_type() == ExchangeType::IKE_SA_INIT
    ));
}

#[test]
fn fragments_survive_loss_and_reordering() {
    let mut ok = 0;
    let seeds = 60u64;
    for seed in 0..seeds {
        let small = |c: &mut EndpointConfig| c.fragment_size = 180;
        let link = LinkConfig {
            loss: 0.1,
            dup: 0.1,
            jitter_ms: 300,
            nat: seed % 2 == 0,
            ..Default::default()
        };
        let mut p = Pair::with(
            seed + 1000,
            link,
            PeerOpts::default(),
            PeerOpts::default(),
            small,
            small,
        );
        p.initiate();
        p.drive_until(Duration::from_secs(400), |p| {
            p.both_established() || Pair::failed(&p.a).is_some()
        });
        if p.both_established() {
            ok += 1;
            assert_keys_agree(Pair::installs(&p.a)[0], Pair::installs(&p.b)[0]);
        }
    }
    eprintln!("fragmented handshakes, 10% loss: {ok}/{seeds} established");
    assert!(ok * 100 >= seeds * 90, "{ok}/{seeds}");
}

#[test]
fn no_fragments_unless_both_support_them() {
    let mut p = tuned_pair(71, |a| a.fragment_size = 200, |b| b.fragmentation = false);
    handshake(&mut p);
    assert_eq!(skf_count(&p.a, ExchangeType::IKE_AUTH), 0);
    assert_eq!(Pair::sent_exchanges(&p.a, ExchangeType::IKE_AUTH, false), 1);
}

#[test]
fn fragmented_rekeys_and_deletes_work() {
    let small = |c: &mut EndpointConfig| c.fragment_size = 160;
    let o = || PeerOpts {
        esp: "aes256gcm16-x25519",
        ..Default::default()
    };
    let mut p = Pair::with(
        72,
        LinkConfig {
            jitter_ms: 100,
            ..Default::default()
        },
        o(),
        o(),
        small,
        small,
    );
    let id = p.initiate();
    assert!(p.drive_until(Duration::from_secs(60), Pair::both_established));
    assert_child_rekey_works(&mut p, id, Duration::from_secs(120), "CHILD_SA rekey");
    assert!(skf_count(&p.a, ExchangeType::CREATE_CHILD_SA) >= 2);
}

use ike::crypto::{AuthMethod, RingSigner, RingVerifier, SignatureScheme, Signer, Verifier};
use ike::sa::CertVerifier;
use ike::wire::{Cert, HashAlgorithm};

fn p256_signer() -> Arc<RingSigner> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap();
    Arc::new(RingSigner::new(pkcs8.as_ref(), SignatureScheme::EcdsaSha256).unwrap())
}

fn ed25519_signer() -> Arc<RingSigner> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
    Arc::new(RingSigner::new(pkcs8.as_ref(), SignatureScheme::Ed25519).unwrap())
}

fn pinned(s: &RingSigner) -> PeerAuth {
    PeerAuth::PublicKey(Arc::new(RingVerifier::new(s.public_key())))
}

/// Signs with `signer` and accepts only `peer`'s key.
fn signing(signer: &Arc<RingSigner>, peer: &RingSigner) -> PeerOpts {
    PeerOpts {
        signer: Some(signer.clone()),
        peer_auth: Some(pinned(peer)),
        ..Default::default()
    }
}

/// Signs with `signer` and sends `cert`.
fn with_cert(signer: &Arc<RingSigner>, cert: Vec<u8>) -> PeerOpts {
    PeerOpts {
        signer: Some(signer.clone()),
        local_certs: vec![cert],
        ..Default::default()
    }
}

/// Checks the peer's certificate with `cv`.
fn verifying_certs(cv: &Arc<impl CertVerifier + 'static>) -> PeerOpts {
    PeerOpts {
        peer_auth: Some(PeerAuth::Certificate(cv.clone())),
        ..Default::default()
    }
}

#[test]
fn signature_authentication_with_pinned_keys() {
    let (sa_, sb) = (p256_signer(), ed25519_signer());
    let a = signing(&sa_, &sb);
    let b = signing(&sb, &sa_);
    let mut p = Pair::new(80, LinkConfig::default(), a, b);
    handshake(&mut p);
    assert_keys_agree(Pair::installs(&p.a)[0], Pair::installs(&p.b)[0]);
    assert_eq!(sa_.auth_method(), AuthMethod::DIGITAL_SIGNATURE);
}

#[test]
fn signature_from_the_wrong_key_fails() {
    let (sa_, sb, other) = (p256_signer(), p256_signer(), p256_signer());
    let a = signing(&sa_, &sb);
    let b = signing(&sb, &other);
    let mut p = Pair::new(81, LinkConfig::default(), a, b);
    assert_eq!(run_to_a_failure(&mut p), "peer sent AUTHENTICATION_FAILED");
    assert_eq!(
        Pair::failed(&p.b).unwrap(),
        "authentication failed: AUTH payload of a.example does not verify"
    );
}

#[test]
fn initiator_rejecting_the_responders_signature_tears_the_responder_down() {
    let (sa_, sb, other) = (p256_signer(), p256_signer(), p256_signer());
    let a = signing(&sa_, &other);
    let b = signing(&sb, &sa_);
    let mut p = Pair::new(83, LinkConfig::default(), a, b);
    assert_eq!(
        run_to_a_failure(&mut p),
        "authentication failed: AUTH payload of b.example does not verify"
    );
    assert_responder_torn_down_after_auth_rejection(&mut p);
}

#[test]
fn both_sides_announce_identity_hash_and_record_the_peers_list() {
    // RFC 8420 §2: Ed25519 needs Identity (5) in SIGNATURE_HASH_ALGORITHMS.
    let (sa_, sb) = (ed25519_signer(), ed25519_signer());
    let a = signing(&sa_, &sb);
    let b = signing(&sb, &sa_);
    let mut p = Pair::new(84, LinkConfig::default(), a, b);
    handshake(&mut p);
    let want = [
        HashAlgorithm::SHA2_256,
        HashAlgorithm::SHA2_384,
        HashAlgorithm::SHA2_512,
        HashAlgorithm::IDENTITY,
    ];
    let ids = [p.a.ike_sa(), p.b.ike_sa()];
    assert_eq!(p.a.ep.peer_signature_hashes(ids[0]), &want);
    assert_eq!(p.b.ep.peer_signature_hashes(ids[1]), &want);
    // And on the wire, in A's IKE_SA_INIT request.
    let m = Message::parse(&p.a.sent[0].bytes).unwrap();
    let n = m
        .payloads
        .iter()
        .find_map(|x| match x {
            Payload::Notify(n) if n.notify_type == NotifyType::SIGNATURE_HASH_ALGORITHMS => Some(n),
            _ => None,
        })
        .unwrap();
    assert_eq!(n.data, vec![0, 2, 0, 3, 0, 4, 0, 5]);
}

#[test]
fn mixed_psk_and_signature_authentication() {
    // A signs, B uses the PSK (RFC 7296 §2.15 lets each side choose).
    let sa_ = p256_signer();
    let a = PeerOpts {
        signer: Some(sa_.clone()),
        ..Default::default()
    };
    let b = PeerOpts {
        peer_auth: Some(pinned(&sa_)),
        ..Default::default()
    };
    let mut p = Pair::new(82, LinkConfig::default(), a, b);
    handshake(&mut p);
    assert_keys_agree(Pair::installs(&p.a)[0], Pair::installs(&p.b)[0]);
}

#[test]
fn psk_where_a_signature_is_required_is_refused() {
    let sa_ = p256_signer();
    let b = PeerOpts {
        peer_auth: Some(pinned(&sa_)),
        ..Default::default()
    };
    let mut p = Pair::new(83, LinkConfig::default(), PeerOpts::default(), b);
    assert_eq!(run_to_a_failure(&mut p), "peer sent AUTHENTICATION_FAILED");
    assert_eq!(
        Pair::failed(&p.b).unwrap(),
        "authentication failed: AUTH method SHARED_KEY_MIC not accepted"
    );
}

/// Stands in for the `certs` crate: accepts one known "certificate" (its
/// bytes) and returns the verifier for the key it certifies.
struct OneCert {
    der: Vec<u8>,
    key: Arc<RingSigner>,
}

impl CertVerifier for OneCert {
    fn verifier_for(&self, peer_id: &Id, certs: &[&Cert]) -> Result<Box<dyn Verifier>, String> {
        match certs.first() {
            Some(c) if c.data == self.der && peer_id.to_string() == "a.example" => {
                Ok(Box::new(RingVerifier::new(self.key.public_key())))
            }
            Some(_) => Err("unknown issuer".into()),
            None => Err("no certificate sent".into()),
        }
    }
}

#[test]
fn certificate_authentication_goes_through_the_cert_verifier() {
    let sa_ = p256_signer();
    let der = b"not really DER, but the bytes the verifier knows".to_vec();
    let cv = Arc::new(OneCert {
        der: der.clone(),
        key: sa_.clone(),
    });
    let a = with_cert(&sa_, der);
    let b = verifying_certs(&cv);
    let mut p = Pair::new(84, LinkConfig::default(), a, b);
    handshake(&mut p);

    // The wrong certificate, and none at all, are rejected with the reason.
    let a = with_cert(&sa_, b"other".to_vec());
    let b = verifying_certs(&cv);
    let mut p = Pair::new(85, LinkConfig::default(), a, b);
    assert_eq!(run_to_a_failure(&mut p), "peer sent AUTHENTICATION_FAILED");
    assert_eq!(
        Pair::failed(&p.b).unwrap(),
        "authentication failed: peer certificate rejected: unknown issuer"
    );
    let a = PeerOpts {
        signer: Some(sa_),
        ..Default::default()
    };
    let b = verifying_certs(&cv);
    let mut p = Pair::new(86, LinkConfig::default(), a, b);
    assert_eq!(run_to_a_failure(&mut p), "peer sent AUTHENTICATION_FAILED");
    assert_eq!(
        Pair::failed(&p.b).unwrap(),
        "authentication failed: peer certificate rejected: no certificate sent"
    );
}

/// [`OneCert`] that records the wall-clock time it was asked to use.
struct ClockedCert {
    inner: OneCert,
    seen: Mutex<Vec<Option<SystemTime>>>,
}

impl CertVerifier for ClockedCert {
    fn verifier_for(&self, peer_id: &Id, certs: &[&Cert]) -> Result<Box<dyn Verifier>, String> {
        self.seen.lock().unwrap().push(None);
        self.inner.verifier_for(peer_id, certs)
    }

    fn verifier_at(
        &self,
        peer_id: &Id,
        certs: &[&Cert],
        now: SystemTime,
    ) -> Result<Box<dyn Verifier>, String> {
        self.seen.lock().unwrap().push(Some(now));
        self.inner.verifier_for(peer_id, certs)
    }
}

#[test]
fn the_drivers_wall_clock_reaches_the_cert_verifier() {
    let sa_ = p256_signer();
    let der = b"a certificate".to_vec();
    let t = SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000);
    for set in [false, true] {
        let cv = Arc::new(ClockedCert {
            inner: OneCert {
                der: der.clone(),
                key: sa_.clone(),
            },
            seen: Mutex::new(Vec::new()),
        });
        let a = with_cert(&sa_, der.clone());
        let b = verifying_certs(&cv);
        let mut p = Pair::new(88, LinkConfig::default(), a, b);
        if set {
            p.b.ep.set_wall_clock(t);
        }
        handshake(&mut p);
        let want = if set { Some(t) } else { None };
        assert_eq!(*cv.seen.lock().unwrap(), vec![want]);
    }
}

/// Chooses the signer by the peer's CERTREQ: `hit` when it asks for CA
/// `[0xca; 20]`, `miss` otherwise; records what it was given.
struct ByCa {
    hit: Arc<RingSigner>,
    miss: Arc<RingSigner>,
    seen: Mutex<Vec<CredentialsAsked>>,
}

/// The CA hashes and announced hash algorithms a provider was given.
type CredentialsAsked = (Vec<[u8; 20]>, Vec<HashAlgorithm>);

impl CredentialProvider for ByCa {
    fn credentials_for(
        &self,
        ca_hashes: &[[u8; 20]],
        peer_hashes: &[HashAlgorithm],
    ) -> Option<Credentials> {
        self.seen
            .lock()
            .unwrap()
            .push((ca_hashes.to_vec(), peer_hashes.to_vec()));
        let hit = ca_hashes.contains(&[0xca; 20]);
        let signer = if hit { &self.hit } else { &self.miss };
        Some(Credentials {
            certs: vec![if hit {
                b"chain".to_vec()
            } else {
                b"default".to_vec()
            }],
            signer: signer.clone(),
        })
    }
}

fn by_ca() -> Arc<ByCa> {
    Arc::new(ByCa {
        hit: p256_signer(),
        miss: p256_signer(),
        seen: Mutex::new(Vec::new()),
    })
}

#[test]
fn certreq_hashes_and_announced_hashes_choose_our_credentials() {
    let (ca, cb) = (by_ca(), by_ca());
    let all = vec![
        HashAlgorithm::SHA2_256,
        HashAlgorithm::SHA2_384,
        HashAlgorithm::SHA2_512,
        HashAlgorithm::IDENTITY,
    ];
    // Both sides have a certificate configured, so both send CERTREQ for
    // CA [0xca; 20]: B in IKE_SA_INIT, A in IKE_AUTH (RFC 7296 §1.2).
    let a = PeerOpts {
        credentials: Some(ca.clone()),
        local_certs: vec![b"a".to_vec()],
        peer_auth: Some(pinned(&cb.hit)),
        ..Default::default()
    };
    let b = PeerOpts {
        credentials: Some(cb.clone()),
        local_certs: vec![b"b".to_vec()],
        peer_auth: Some(pinned(&ca.hit)),
        ..Default::default()
    };
    let mut p = Pair::new(89, LinkConfig::default(), a, b);
    handshake(&mut p);
    assert_eq!(
        *ca.seen.lock().unwrap(),
        vec![(vec![[0xca; 20]], all.clone())]
    );
    assert_eq!(*cb.seen.lock().unwrap(), vec![(vec![[0xca; 20]], all)]);

    // B asks for nothing: A falls back to its other key, which B refuses.
    let ca = by_ca();
    let a = PeerOpts {
        credentials: Some(ca.clone()),
        local_certs: vec![b"a".to_vec()],
        ..Default::default()
    };
    let b = PeerOpts {
        peer_auth: Some(pinned(&ca.hit)),
        ..Default::default()
    };
    let mut p = Pair::new(90, LinkConfig::default(), a, b);
    assert_eq!(run_to_a_failure(&mut p), "peer sent AUTHENTICATION_FAILED");
    assert_eq!(ca.seen.lock().unwrap()[0].0, Vec::<[u8; 20]>::new());
}

#[test]
fn big_certificates_are_fragmented() {
    let sa_ = p256_signer();
    let der = vec![0x30; 3000];
    let cv = Arc::new(OneCert {
        der: der.clone(),
        key: sa_.clone(),
    });
    let a = with_cert(&sa_, der);
    let b = verifying_certs(&cv);
    let mut p = Pair::new(
        87,
        LinkConfig {
            jitter_ms: 100,
            ..Default::default()
        },
        a,
        b,
    );
    handshake(&mut p);
    // 3 kB of certificate in 1280-byte packets.
    assert!(skf_count(&p.a, ExchangeType::IKE_AUTH) >= 3);
}

#[test]
fn initial_contact_replaces_the_sas_of_a_restarted_peer() {
    let mut p = default_pair(90);
    p.establish();
    let old_b = p.b.first_spi();
    // A restarts with no memory and connects again.
    let fresh = default_pair(91);
    p.a = fresh.a;
    p.initiate();
    let two = |p: &Pair| {
        p.b.events
            .iter()
            .filter(|e| matches!(e, Event::Established { .. }))
            .count()
            == 2
    };
    assert!(p.drive_until(Duration::from_secs(120), two));
    assert!(p.b.events.iter().any(|e| matches!(e, Event::Deleted { reason, .. } if reason == "replaced: peer sent INITIAL_CONTACT")));
    assert_eq!(p.b.ep.ike_sa_count(), 1);
    let b_del = p.b.deleted_spis().first().copied();
    assert_eq!(b_del, Some(old_b));
}

#[test]
fn nat_keepalives_are_sent_only_by_the_side_behind_the_nat() {
    let mut p = Pair::new(92, NAT_LINK, PeerOpts::default(), PeerOpts::default());
    handshake(&mut p);
    p.drive_for(Duration::from_secs(65));
    let ka = |x: &Peer| x.sent.iter().filter(|t| t.bytes == [0xff]).count();
    assert_eq!(ka(&p.a), 3);
    assert_eq!(ka(&p.b), 0);
    assert!(
        Pair::dropped_reasons(&p.b).is_empty(),
        "{:?}",
        Pair::dropped_reasons(&p.b)
    );
}

mod robustness {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Mutated copies of real messages (and raw junk), thrown at both
        /// sides after the handshake, never panic and never break the SA:
        /// a liveness check still completes afterwards.
        #[test]
        fn mutated_messages_never_break_an_established_sa(
            picks in proptest::collection::vec((any::<prop::sample::Index>(), any::<usize>(), any::<u8>(), any::<bool>()), 1..40),
            junk in proptest::collection::vec(any::<u8>(), 0..200),
        ) {
            let mut p = default_pair(95);
            let id = p.establish();
            let corpus: Vec<Transmit> = p.a.sent.iter().chain(p.b.sent.iter()).cloned().collect();
            let now = p.now;
            for (pick, pos, val, to_a) in picks {
                let t = pick.get(&corpus);
                let mut bytes = t.bytes.clone();
                let at = pos % bytes.len();
                bytes[at] ^= val | 1;
                let path = Path { local: t.path.remote, remote: t.path.local };
                let ep = if to_a { &mut p.a.ep } else { &mut p.b.ep };
                ep.handle_datagram(now, path, &bytes);
                ep.handle_datagram(now, path, &junk);
            }
            p.drain();
            prop_assert!(p.a.ep.is_established(id));
            let before = Pair::sent_exchanges(&p.b, ExchangeType::INFORMATIONAL, true);
            let now = p.now;
            p.a.ep.handle_command(now, Command::Dpd { ike_sa: id }).unwrap();
            prop_assert!(p.drive_until(Duration::from_secs(200), |p| Pair::sent_exchanges(&p.b, ExchangeType::INFORMATIONAL, true) > before));
            prop_assert!(p.a.ep.is_established(id));
        }
    }
}

#[test]
fn ike_sa_is_rekeyed_on_its_timer() {
    let a = PeerOpts {
        ike_rekey: Some(Duration::from_secs(100)),
        dpd: Some(Duration::from_secs(30)),
        ..Default::default()
    };
    let mut p = Pair::new(100, LinkConfig::default(), a, PeerOpts::default());
    p.establish();
    p.drive_for(Duration::from_secs(250));
    let rekeys =
        p.a.events
            .iter()
            .filter(|e| matches!(e, Event::IkeRekeyed { .. }))
            .count();
    assert_eq!(rekeys, 2, "rekeyed after 90-100 s, twice in 250 s");
    assert_eq!((p.a.ep.ike_sa_count(), p.b.ep.ike_sa_count()), (1, 1));
    let new = *p.a.rekeyed_to().last().unwrap();
    assert_eq!(p.a.ep.child_count(new), 1);
    assert!(!p.a.deletes_any());
}

#[test]
fn kernel_replies_are_matched_by_sequence_number() {
    let mut p = default_pair(101);
    let id = p.establish();
    let seq = Pair::installs(&p.a)[0].seq;
    let spi = p.a.first_spi();
    assert_ne!(seq, 0);
    let now = p.now;
    // An unknown sequence number and a success change nothing.
    p.a.ep.handle_kernel(
        now,
        ike::io::KernelEvent::Reply {
            seq: seq + 100,
            errno: 17,
        },
    );
    p.a.ep
        .handle_kernel(now, ike::io::KernelEvent::Reply { seq, errno: 0 });
    p.drain();
    assert_eq!(p.a.ep.child_count(id), 1);
    assert!(Pair::child_failed(&p.a).is_none());
    // A refused install is reported and the CHILD_SA is deleted with the peer.
    let mut p = default_pair(102);
    let id = p.establish();
    let seq = Pair::installs(&p.a)[0].seq;
    let spi2 = p.a.first_spi();
    let now = p.now;
    p.a.ep
        .handle_kernel(now, ike::io::KernelEvent::Reply { seq, errno: 22 });
    p.drive_for(Duration::from_secs(5));
    assert_eq!(
        Pair::child_failed(&p.a).unwrap(),
        format!("kernel refused to install SA {spi2:08x}: errno 22")
    );
    assert_eq!(p.a.ep.child_count(id), 0);
    assert!(p
        .b
        .events
        .iter()
        .any(|e| matches!(e, Event::ChildDeleted { .. })));
    let _ = spi;
}

#[test]
fn a_superseded_ike_sa_refuses_new_work() {
    let mut p = default_pair(103);
    let id = p.establish();
    let b_id = p.b.ike_sa();
    // A rekeys the IKE SA; its Delete of the old SA is held back, so B can
    // still send on the old SA, which A has marked superseded.
    p.tamper = Some(Box::new(|from, bytes| {
        !(from == Side::A && bytes[18] == ExchangeType::INFORMATIONAL.0)
    }));
    p.command(Side::A, Command::RekeyIke { ike_sa: id });
    p.drive_for(Duration::from_secs(1));
    p.command(Side::B, Command::RekeyIke { ike_sa: b_id });
    p.drive_for(Duration::from_secs(1));
    assert_eq!(
        Pair::child_failed(&p.b).unwrap(),
        "IKE rekey: peer sent TEMPORARY_FAILURE"
    );
}

fn survivor(p: &Peer) -> IkeSaId {
    let mut ids = p.rekeyed_to();
    ids.retain(|id| p.ep.is_established(*id));
    ids.dedup();
    assert_eq!(ids.len(), 1, "exactly one IKE SA survives: {:?}", p.events);
    ids[0]
}

/// After an IKE SA rekey collision, each end has exactly one IKE SA left,
/// the one a rekey created, and it carries the CHILD_SA; (A's, B's).
fn assert_one_ike_sa_survives(p: &Pair, seed: u64) -> (IkeSaId, IkeSaId) {
    assert_eq!(
        (p.a.ep.ike_sa_count(), p.b.ep.ike_sa_count()),
        (1, 1),
        "seed {seed}: A {:?}\nB {:?}",
        p.a.events,
        p.b.events
    );
    let (sa_, sb) = (survivor(&p.a), survivor(&p.b));
    assert_eq!(
        (p.a.ep.child_count(sa_), p.b.ep.child_count(sb)),
        (1, 1),
        "seed {seed}"
    );
    (sa_, sb)
}

#[test]
fn simultaneous_ike_rekeys_converge_on_one_ike_sa() {
    for seed in 110..120 {
        let (mut p, id, b_id) = crossing_pair(seed, PeerOpts::default());
        rekey_both_at_once(&mut p, Rekey::Ike, id, b_id);
        p.drive_for(Duration::from_secs(30));
        let (sa_, _) = assert_one_ike_sa_survives(&p, seed);
        // No CHILD_SA was lost on the way, and the survivor carries traffic.
        assert!(!p.a.deletes_any(), "seed {seed}");
        assert_child_rekey_works(
            &mut p,
            sa_,
            Duration::from_secs(200),
            &format!("seed {seed}"),
        );
    }
}

#[test]
fn a_second_ike_sa_to_the_same_peer_does_not_claim_initial_contact() {
    let mut p = default_pair(120);
    let first = p.establish();
    let second = p.initiate();
    let count = |x: &Peer| {
        x.events
            .iter()
            .filter(|e| matches!(e, Event::Established { .. }))
            .count()
    };
    let two = move |p: &Pair| count(&p.a) == 2 && count(&p.b) == 2;
    assert!(p.drive_until(Duration::from_secs(60), two));
    assert!(p.a.ep.is_established(first) && p.a.ep.is_established(second));
    assert_eq!(p.b.ep.ike_sa_count(), 2);
    assert!(!p
        .b
        .events
        .iter()
        .any(|e| matches!(e, Event::Deleted { .. })));
}

#[test]
fn additional_child_sa_on_command_and_on_acquire() {
    let o = || PeerOpts {
        esp: "aes256gcm16-x25519",
        ..Default::default()
    };
    let mut p = Pair::new(130, LinkConfig::default(), o(), o());
    let id = p.establish();
    p.create_child(Side::A, id, 0);
    assert!(p.drive_until(Duration::from_secs(120), Pair::both_installed(2)));
    assert_keys_agree(Pair::installs(&p.a)[1], Pair::installs(&p.b)[1]);
    assert_eq!(p.a.ep.child_count(id), 2, "the first CHILD_SA stays");
    // Delete both; an acquire for the peer then brings one back.
    for spi in [p.a.first_spi(), Pair::installs(&p.a)[1].inbound.spi] {
        p.command(
            Side::A,
            Command::TerminateChild {
                ike_sa: id,
                inbound_spi: spi,
            },
        );
        p.drive_for(Duration::from_secs(2));
    }
    assert_eq!(p.a.ep.child_count(id), 0);
    let now = p.now;
    p.a.ep.handle_kernel(
        now,
        ike::io::KernelEvent::Acquire {
            remote: sa(&format!("{B_IP}:500")),
            local_ts: None,
            remote_ts: None,
        },
    );
    assert!(p.drive_until(Duration::from_secs(200), Pair::both_installed(3)));
    assert_keys_agree(Pair::installs(&p.a)[2], Pair::installs(&p.b)[2]);
    assert_eq!(p.a.ep.child_count(id), 1);
}

#[test]
fn cbc_hmac_and_modp_suites_work_end_to_end() {
    // The suite older native clients use: AES-CBC + HMAC-SHA2 + MODP-2048,
    // so SK carries block padding and a separate ICV; fragmented too.
    let o = || PeerOpts {
        ike: "aes256-sha256-modp2048",
        esp: "aes128-sha256",
        ..Default::default()
    };
    let native = |c: &mut EndpointConfig| {
        c.crypto = ike::crypto::native_client_provider();
        c.fragment_size = 200;
    };
    let mut p = Pair::with(140, LinkConfig::default(), o(), o(), native, native);
    let id = p.initiate();
    assert!(
        p.drive_until(Duration::from_secs(60), Pair::both_established),
        "{:?}",
        p.a.events
    );
    assert_keys_agree(Pair::installs(&p.a)[0], Pair::installs(&p.b)[0]);
    let suite = p.a.events.iter().find_map(|e| {
        if let Event::Established { suite, .. } = e {
            Some(suite.clone())
        } else {
            None
        }
    });
    assert_eq!(
        suite.unwrap(),
        "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
    );
    assert!(skf_count(&p.a, ExchangeType::IKE_AUTH) >= 2);
    assert_child_rekey_works(&mut p, id, Duration::from_secs(120), "CHILD_SA rekey");
}

// --- Several CHILD_SAs of one connection on one IKE SA (issue #6) ---

fn child(name: &str, esp: &str, local: &str, remote: &str) -> ChildConfig {
    ChildConfig {
        name: name.into(),
        esp_proposals: parse_list(ProtocolId::ESP, esp).unwrap(),
        local_ts: local.split(',').map(|t| parse_ts(t).unwrap()).collect(),
        remote_ts: remote.split(',').map(|t| parse_ts(t).unwrap()).collect(),
        mode: Mode::Tunnel,
        lifetimes: Lifetimes {
            soft: Some(Duration::from_secs(3000)),
            hard: Some(Duration::from_secs(3600)),
        },
    }
}

/// One child of A's: (name, ESP proposal, A's local TS, A's remote TS).
type ChildSpec = (&'static str, &'static str, &'static str, &'static str);

/// The three networks of the multi-child tests, as A sees them.
const NET: ChildSpec = ("net", "aes256gcm16", "10.1.0.0/16", "10.2.0.0/16");
const NET2: ChildSpec = ("net2", "aes256gcm16", "10.11.0.0/16", "10.12.0.0/16");
const NET3: ChildSpec = ("net3", "aes256gcm16", "10.21.0.0/16", "10.22.0.0/16");

/// A's children.
fn a_side(specs: &[ChildSpec]) -> Vec<ChildConfig> {
    specs
        .iter()
        .map(|&(name, esp, local, remote)| child(name, esp, local, remote))
        .collect()
}

/// B's mirror of A's children: the same selectors, local and remote swapped.
fn b_side(specs: &[ChildSpec]) -> Vec<ChildConfig> {
    specs
        .iter()
        .map(|&(name, esp, local, remote)| child(name, esp, remote, local))
        .collect()
}

/// Replaces the (only) peer's children.
fn with_children(children: Vec<ChildConfig>) -> impl FnOnce(&mut EndpointConfig) {
    move |c: &mut EndpointConfig| {
        Arc::get_mut(&mut c.peers[0]).unwrap().children = children;
    }
}

/// Default peers whose only connection has these children.
fn children_pair(seed: u64, a: Vec<ChildConfig>, b: Vec<ChildConfig>) -> Pair {
    tuned_pair(seed, with_children(a), with_children(b))
}

/// (child index, local TS, remote TS) of every ChildInstalled event.
fn installed_children(p: &Peer) -> Vec<(usize, String, String)> {
    p.events
        .iter()
        .filter_map(|e| match e {
            Event::ChildInstalled {
                child,
                local_ts,
                remote_ts,
                ..
            } => Some((
                *child,
                ike::policy::ts::TsList(local_ts).to_string(),
                ike::policy::ts::TsList(remote_ts).to_string(),
            )),
            _ => None,
        })
        .collect()
}

fn ts_text(s: &str) -> String {
    let v: Vec<_> = s.split(',').map(|t| parse_ts(t).unwrap()).collect();
    ike::policy::ts::TsList(&v).to_string()
}

#[test]
fn two_children_share_one_ike_sa_both_ways() {
    // B lists them in another order: indexes are per side.
    let (a, b) = (a_side(&[NET, NET2, NET3]), b_side(&[NET3, NET2, NET]));
    let mut p = children_pair(600, a, b);
    let id = p.initiate();
    // Asked for while IKE_AUTH is in flight: waits for the window.
    p.create_child(Side::A, id, 1);
    assert!(p.drive_until(Duration::from_secs(60), Pair::both_installed(2)));
    // The responder of IKE_AUTH creates the third one on the same IKE SA.
    let b_id = p.b.ike_sa();
    p.create_child(Side::B, b_id, 0);
    assert!(p.drive_until(Duration::from_secs(120), Pair::both_installed(3)));
    assert_eq!(p.a.ep.ike_sa_count(), 1);
    assert_eq!(p.b.ep.ike_sa_count(), 1);
    assert_eq!(p.a.ep.child_count(id), 3);
    assert_eq!(p.b.ep.child_count(b_id), 3);
    for i in 0..3 {
        assert_keys_agree(Pair::installs(&p.a)[i], Pair::installs(&p.b)[i]);
    }
    let t = ts_text;
    assert_eq!(
        installed_children(&p.a),
        vec![
            (0, t("10.1.0.0/16"), t("10.2.0.0/16")),
            (1, t("10.11.0.0/16"), t("10.12.0.0/16")),
            (2, t("10.21.0.0/16"), t("10.22.0.0/16")),
        ]
    );
    assert_eq!(
        installed_children(&p.b),
        vec![
            (2, t("10.2.0.0/16"), t("10.1.0.0/16")),
            (1, t("10.12.0.0/16"), t("10.11.0.0/16")),
            (0, t("10.22.0.0/16"), t("10.21.0.0/16")),
        ]
    );
    // A rekey keeps the child's configuration on both sides.
    let spi = Pair::installs(&p.a)[1].inbound.spi;
    p.rekey_child(Side::A, id, spi);
    assert!(
        p.drive_until(Duration::from_secs(180), |p| installs_count(&p.a) == 4
            && installs_count(&p.b) == 4
            && p.a.ep.child_count(id) == 3
            && p.b.ep.child_count(b_id) == 3)
    );
    assert_eq!(
        installed_children(&p.a)[3],
        (1, t("10.11.0.0/16"), t("10.12.0.0/16"))
    );
    assert_eq!(
        installed_children(&p.b)[3],
        (1, t("10.12.0.0/16"), t("10.11.0.0/16"))
    );
    // The kernel requests name the child as the events do.
    let kids = |x: &Peer| {
        Pair::installs(x)
            .iter()
            .map(|i| i.child)
            .collect::<Vec<_>>()
    };
    assert_eq!(kids(&p.a), [0, 1, 2, 1]);
    assert_eq!(kids(&p.b), [2, 1, 0, 1]);
}

#[test]
fn responder_picks_the_child_whose_selectors_fit_best() {
    // B: a wide child first, then a narrower one with another proposal.
    let wide = ("wide", "aes128gcm16", "10.1.0.0/16", "10.2.0.0/16");
    let exact = ("exact", "aes256gcm16", "10.1.5.0/24", "10.2.5.0/24");
    let other = ("other", "aes256gcm16", "10.8.0.0/16", "10.9.0.0/16");
    let (a, b) = (a_side(&[exact, wide, other]), b_side(&[wide, exact, other]));
    let mut p = children_pair(601, a, b);
    let id = p.initiate();
    for child in [1, 2] {
        p.create_child(Side::A, id, child);
    }
    assert!(p.drive_until(Duration::from_secs(120), Pair::both_installed(3)));
    let t = ts_text;
    // Both "wide" and "exact" contain 10.1.5.0/24 === 10.2.5.0/24; the one
    // equal to the proposal wins, and its proposal (AES-256) is used, which
    // "wide" (AES-128 only) would have refused.
    assert_eq!(
        installed_children(&p.b),
        vec![
            (1, t("10.2.5.0/24"), t("10.1.5.0/24")),
            (0, t("10.2.0.0/16"), t("10.1.0.0/16")),
            (2, t("10.9.0.0/16"), t("10.8.0.0/16")),
        ]
    );
    let suites: Vec<String> =
        p.b.events
            .iter()
            .filter_map(|e| match e {
                Event::ChildInstalled { suite, .. } => Some(suite.clone()),
                _ => None,
            })
            .collect();
    assert!(suites[0].starts_with("AES_GCM_16_256"), "{suites:?}");
    assert!(suites[1].starts_with("AES_GCM_16_128"), "{suites:?}");
}

#[test]
fn ts_unacceptable_when_no_child_fits_and_the_ike_sa_stays() {
    let stray = ("stray", "aes256gcm16", "10.77.0.0/16", "10.78.0.0/16");
    let mut p = children_pair(602, a_side(&[NET, stray]), b_side(&[NET]));
    // IKE_AUTH with the child B does not have.
    let id = p.command(Side::A, Command::Initiate { peer: 0, child: 1 });
    assert!(p.drive_until(Duration::from_secs(60), Pair::both_established));
    let why = Pair::child_failed(&p.a).unwrap();
    assert!(why.contains("TS_UNACCEPTABLE"), "{why}");
    assert!(p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::ChildFailed { child: Some(1), .. })));
    assert!(p
        .b
        .events
        .iter()
        .any(|e| matches!(e, Event::ChildFailed { child: None, .. })));
    assert_eq!(installs_count(&p.a), 0);
    // The same by CREATE_CHILD_SA, then the one that fits.
    for child in [1, 0] {
        p.create_child(Side::A, id, child);
    }
    assert!(p.drive_until(Duration::from_secs(120), Pair::both_installed(1)));
    let fails = p
        .a
        .events
        .iter()
        .filter(|e| matches!(e, Event::ChildFailed { reason, child: Some(1), .. } if reason.contains("TS_UNACCEPTABLE")))
        .count();
    assert_eq!(fails, 2);
    assert!(p.a.ep.is_established(id));
    assert_eq!(installed_children(&p.a)[0].0, 0);
}

#[test]
fn each_child_negotiates_its_own_proposals() {
    // "fast" disagrees on its ESP proposal, "safe" agrees.
    let a_children = vec![
        child("fast", "aes128gcm16", "10.1.0.0/16", "10.2.0.0/16"),
        child("safe", "aes256gcm16-x25519", "10.11.0.0/16", "10.12.0.0/16"),
    ];
    let b_children = vec![
        child("safe", "aes256gcm16-x25519", "10.12.0.0/16", "10.11.0.0/16"),
        child("fast", "chacha20poly1305", "10.2.0.0/16", "10.1.0.0/16"),
    ];
    let mut p = children_pair(603, a_children, b_children);
    let id = p.initiate();
    p.create_child(Side::A, id, 1);
    assert!(p.drive_until(Duration::from_secs(120), Pair::both_installed(1)));
    let why = Pair::child_failed(&p.a).unwrap();
    assert!(why.contains("NO_PROPOSAL_CHOSEN"), "{why}");
    let t = ts_text;
    assert_eq!(
        installed_children(&p.b),
        vec![(0, t("10.12.0.0/16"), t("10.11.0.0/16"))]
    );
    // PFS from "safe"'s own proposal on CREATE_CHILD_SA.
    assert!(p.a.events.iter().any(|e| matches!(
        e,
        Event::ChildInstalled { child: 1, suite, .. } if suite.contains("CURVE_25519")
    )));
}

#[test]
fn an_acquire_starts_the_child_whose_selectors_hold_the_packet() {
    let web = (
        "web",
        "aes256gcm16",
        "10.11.0.0/16",
        "10.12.0.0/16[tcp/443]",
    );
    let mut p = children_pair(604, a_side(&[NET, web]), b_side(&[NET, web]));
    let acquire = |p: &mut Pair, l: &str, r: &str| {
        let now = p.now;
        p.a.ep.handle_kernel(
            now,
            ike::io::KernelEvent::Acquire {
                remote: sa(&format!("{B_IP}:500")),
                local_ts: Some(parse_ts(l).unwrap()),
                remote_ts: Some(parse_ts(r).unwrap()),
            },
        );
        p.drain();
    };
    // Port 443 traffic: the "web" child, in IKE_AUTH.
    acquire(&mut p, "10.11.0.9[tcp/40000]", "10.12.3.4[tcp/443]");
    // A repeated ACQUIRE while it is being set up changes nothing.
    acquire(&mut p, "10.11.0.9[tcp/40001]", "10.12.3.4[tcp/443]");
    assert!(p.drive_until(Duration::from_secs(60), Pair::both_installed(1)));
    // Other traffic of "web"'s networks but not its port fits no child.
    acquire(&mut p, "10.11.0.9[udp/53]", "10.12.3.4[udp/53]");
    // The other child's traffic: a CREATE_CHILD_SA on the same IKE SA.
    acquire(&mut p, "10.1.0.9", "10.2.0.1");
    assert!(p.drive_until(Duration::from_secs(120), Pair::both_installed(2)));
    p.drive_for(Duration::from_secs(5));
    assert_eq!(p.a.ep.ike_sa_count(), 1);
    assert_eq!(installs_count(&p.a), 2);
    let t = ts_text;
    assert_eq!(
        installed_children(&p.a),
        vec![
            (1, t("10.11.0.0/16"), t("10.12.0.0/16[tcp/443]")),
            (0, t("10.1.0.0/16"), t("10.2.0.0/16")),
        ]
    );
    assert!(p
        .a
        .dropped_any(|r| r.contains("no child configuration fits")));
}

#[test]
fn reconfigure_adds_and_removes_children_without_touching_the_ike_sa() {
    let a0 = a_side(&[NET, NET2]);
    let mut p = children_pair(605, a0, b_side(&[NET, NET2, NET3]));
    let id = p.initiate();
    p.create_child(Side::A, id, 1);
    assert!(p.drive_until(Duration::from_secs(60), |p| installs_count(&p.a) == 2));
    let net_spi = p.a.first_spi();
    // New table: "net2" gone, "net3" added, "net" unchanged (moved index).
    let mut new = peer_config(
        A_IP,
        B_IP,
        "a.example",
        "b.example",
        &PeerOpts::default(),
        "10.1.0.0/16",
        "10.2.0.0/16",
    );
    Arc::get_mut(&mut new).unwrap().children = a_side(&[NET3, NET]);
    let now = p.now;
    let r =
        p.a.ep
            .reconfigure(now, vec![new], PeerConfig::same_settings);
    assert_eq!(r.children_changed, vec!["a.example".to_string()]);
    assert!(r.deleted.is_empty());
    p.create_child(Side::A, id, 0);
    assert!(
        p.drive_until(Duration::from_secs(120), |p| installs_count(&p.a) == 3
            && p.a.ep.child_count(id) == 2)
    );
    assert!(p.a.ep.is_established(id));
    assert_eq!(p.a.ep.ike_sa_count(), 1);
    let t = ts_text;
    assert_eq!(
        installed_children(&p.a)[2],
        (0, t("10.21.0.0/16"), t("10.22.0.0/16"))
    );
    // "net" survived under its new index: a rekey uses it.
    p.rekey_child(Side::A, id, net_spi);
    assert!(p.drive_until(Duration::from_secs(180), |p| installs_count(&p.a) == 4));
    assert_eq!(
        installed_children(&p.a)[3],
        (1, t("10.1.0.0/16"), t("10.2.0.0/16"))
    );
    assert!(p
        .a
        .events
        .iter()
        .any(|e| matches!(e, Event::ChildDeleted { .. })));
}

/// The reason an endpoint gives when it deletes the peer's redundant IKE
/// SA of a collision it won because the peer never did.
const REDUNDANT_TIMEOUT: &str = "redundant IKE SA from a rekey collision, not deleted by the peer";

/// How a staged simultaneous IKE rekey ended.
#[derive(Debug, Default)]
struct CollisionOutcomes {
    /// `held`'s peer deleted the old IKE SA before its own rekey was
    /// answered (so the CHILD_SAs moved to the SA it had answered).
    deleted_before_answer: u32,
    /// The winner deleted the loser's new SA itself, after the grace
    /// period, because the loser never completed (or deleted) it.
    redundant_timed_out: u32,
}

/// Both ends rekey the IKE SA at once (RFC 7296 §2.8.2), and the first
/// CREATE_CHILD_SA response `held` sends is lost, so the other end learns
/// of `held`'s answer only from a retransmission (or never). Checks that
/// exactly one IKE SA survives at both ends, that it carries the CHILD_SA
/// (no CHILD_SA deleted anywhere), that it works (a CHILD_SA rekey on it
/// succeeds with agreeing keys) and that it is rekeyed on its own timer.
fn staged_ike_rekey_collision(seed: u64, held: Side, out: &mut CollisionOutcomes) {
    // Only A rekeys on a timer, so that A's survivor being rekeyed later
    // shows that A armed it, also when the CHILD_SAs reached it through a
    // collision rather than through A's own rekey.
    let a_opts = PeerOpts {
        ike_rekey: Some(Duration::from_secs(3600)),
        ..Default::default()
    };
    let (mut p, id, b_id) = crossing_pair(seed, a_opts);
    let mut lost = false;
    p.tamper = Some(Box::new(move |from, bytes| {
        let h = HeaderPacket::new_checked(&bytes[..]).unwrap();
        let hit = from == held
            && h.exchange_type() == ExchangeType::CREATE_CHILD_SA
            && h.is_response()
            && !lost;
        lost |= hit;
        !hit
    }));
    rekey_both_at_once(&mut p, Rekey::Ike, id, b_id);
    // Past the 30 s grace period for a redundant SA, and past the
    // retransmissions of the held response.
    p.drive_for(Duration::from_secs(90));
    p.tamper = None;
    let (sa_, sb) = assert_one_ike_sa_survives(&p, seed);
    for x in [&p.a, &p.b] {
        assert!(
            !x.deletes_any(),
            "seed {seed}: a CHILD_SA was lost: {:?}",
            x.events
        );
    }
    for x in [&p.a, &p.b] {
        // One report per old SA, naming the SA the CHILD_SAs went to.
        let rekeyed: Vec<_> = x
            .events
            .iter()
            .filter(|e| matches!(e, Event::IkeRekeyed { .. }))
            .collect();
        assert_eq!(rekeyed.len(), 1, "seed {seed}: {rekeyed:?}");
    }
    let other = if held == Side::A { &p.b } else { &p.a };
    if Pair::sent_exchanges(other, ExchangeType::INFORMATIONAL, false) == 0 {
        // It deleted nothing, neither the old SA (as the winner) nor its
        // own new SA (as the loser): the peer deleted the old SA under its
        // still unanswered rekey.
        out.deleted_before_answer += 1;
    }
    let timed_out = |x: &Peer| {
        x.events.iter().any(
            |e| matches!(e, Event::Deleted { reason, .. } if reason.as_str() == REDUNDANT_TIMEOUT),
        )
    };
    if timed_out(&p.a) || timed_out(&p.b) {
        out.redundant_timed_out += 1;
    }
    // The survivor is the same IKE SA at both ends: a CHILD_SA rekey over
    // it completes with agreeing keys.
    assert_child_rekey_works(
        &mut p,
        sa_,
        Duration::from_secs(400),
        &format!("seed {seed}"),
    );
    // A's survivor took over the rekey timer, wherever the CHILD_SAs came
    // from: within the hour A rekeys it again, keeping its CHILD_SAs.
    p.drive_for(Duration::from_secs(3700));
    for (x, s) in [(&p.a, sa_), (&p.b, sb)] {
        assert!(
            x.events
                .iter()
                .any(|e| matches!(e, Event::IkeRekeyed { old, .. } if *old == s)),
            "seed {seed}: survivor {s:?} never rekeyed: {:?}",
            x.events
        );
    }
    assert_eq!(
        (p.a.ep.ike_sa_count(), p.b.ep.ike_sa_count()),
        (1, 1),
        "seed {seed}"
    );
    assert_eq!(installs_count(&p.a), 2, "seed {seed}");
}

/// [`staged_ike_rekey_collision`] over `seeds`: in some runs the peer
/// deletes the old SA before answering, in some the winner times out the
/// redundant SA.
fn staged_collisions_end_both_ways(seeds: std::ops::Range<u64>, held: Side) {
    let mut out = CollisionOutcomes::default();
    for seed in seeds {
        staged_ike_rekey_collision(seed, held, &mut out);
    }
    assert!(out.deleted_before_answer > 0, "{out:?}");
    assert!(out.redundant_timed_out > 0, "{out:?}");
}

#[test]
fn ike_rekey_collision_when_the_peer_deletes_the_old_sa_before_answering() {
    // B's answer to A's rekey is lost: when B wins, it deletes the old IKE
    // SA while A's rekey is still unanswered, and A must move its CHILD_SAs
    // to B's new SA instead of deleting them; B then deletes A's new SA,
    // which A never completed, after the grace period.
    staged_collisions_end_both_ways(200..212, Side::B);
}

#[test]
fn ike_rekey_collision_when_we_win_and_finish_first() {
    // A's answer to B's rekey is lost: when A wins, it completes its rekey
    // and deletes the old IKE SA before B has seen its own rekey answered.
    // B, like strongSwan 5.9, concludes the collision from the Delete and
    // keeps A's new SA; the SA A created for B's rekey is never deleted by
    // B, so A deletes it after the grace period rather than keep it.
    staged_collisions_end_both_ways(220..232, Side::A);
}

#[test]
fn half_open_count_follows_every_way_in_and_out() {
    // Every input also checks, in debug builds, that the endpoint's
    // half-open set equals a recount over all SAs.
    let mut p = tuned_pair(240, |_| {}, |b| b.cookie_threshold = 1000);
    p.initiate();
    let req = p.a.sent[0].bytes.clone();
    let forged = |i: u64| {
        let mut m = ike::wire::Message::parse(&req).unwrap();
        m.header.spi_i ^= i;
        (
            Path {
                local: sa(&format!("{B_IP}:500")),
                remote: sa(&format!("192.0.2.{}:500", 100 + i)),
            },
            m.to_vec(),
        )
    };
    // In: ten requests from elsewhere, each once more (a retransmission
    // gets the cached response and no second SA).
    for i in 1..=10 {
        let (path, bytes) = forged(i);
        let now = p.now;
        p.b.ep.handle_datagram(now, path, &bytes);
        p.b.ep.handle_datagram(now, path, &bytes);
    }
    assert_eq!(p.b.ep.half_open_count(), 10);
    // Out by IKE_AUTH: A's own handshake passes through the state.
    p.drive_until(Duration::from_secs(5), Pair::both_established);
    assert!(p.both_established());
    assert_eq!(p.b.ep.half_open_count(), 10);
    // Out by timeout: none of them ever sends IKE_AUTH.
    p.drive_for(Duration::from_secs(31));
    assert_eq!(p.b.ep.half_open_count(), 0);
    assert_eq!(p.b.ep.ike_sa_count(), 1);
    let expired = p
        .b
        .events
        .iter()
        .filter(
            |e| matches!(e, Event::Failed { reason, .. } if reason.contains("half-open timeout")),
        )
        .count();
    assert_eq!(expired, 10);
}
