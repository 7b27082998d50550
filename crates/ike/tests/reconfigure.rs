//! `Endpoint::reconfigure` in a small deterministic two-peer simulator
//! (lossless link, virtual clock, seeded randomness): unchanged peers keep
//! their SAs, removed and changed peers' SAs are deleted on both sides.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ike::crypto::{ring_provider, HmacDrbg, SecretBytes};
use ike::io::{Command, Event, IkeSaId, KernelRequest, Lifetimes, Mode, Path};
use ike::policy::proposal::parse_list;
use ike::policy::ts::parse_ts;
use ike::sa::{ChildConfig, Endpoint, EndpointConfig, PeerAuth, PeerConfig, Reconfigured};
use ike::wire::{Id, IdType, ProtocolId};

const A_IP: &str = "192.0.2.1";
const B_IP: &str = "198.51.100.1";

fn id(s: &str) -> Id {
    Id {
        id_type: IdType::ID_FQDN,
        data: s.as_bytes().to_vec(),
    }
}

/// A peer named `name` from `local` to `remote`, authenticating with `psk`.
fn peer(name: &str, local: &str, remote: &str, me: &str, them: &str, psk: &str) -> Arc<PeerConfig> {
    let (lts, rts) = if local == A_IP {
        ("10.1.0.0/16", "10.2.0.0/16")
    } else {
        ("10.2.0.0/16", "10.1.0.0/16")
    };
    Arc::new(PeerConfig {
        eap_client: None,
        name: name.into(),
        local: format!("{local}:500").parse().unwrap(),
        remote: format!("{remote}:500").parse().unwrap(),
        local_id: id(me),
        remote_id: Some(id(them)),
        psk: Some(SecretBytes::from_slice(psk.as_bytes())),
        signer: None,
        local_certs: Vec::new(),
        cert_requests: Vec::new(),
        peer_auth: PeerAuth::Psk,
        ike_proposals: parse_list(ProtocolId::IKE, "aes256gcm16-prfsha384-x25519").unwrap(),
        children: vec![ChildConfig {
            name: "net".into(),
            esp_proposals: parse_list(ProtocolId::ESP, "aes256gcm16").unwrap(),
            local_ts: vec![parse_ts(lts).unwrap()],
            remote_ts: vec![parse_ts(rts).unwrap()],
            mode: Mode::Tunnel,
            lifetimes: Lifetimes {
                soft: Some(Duration::from_secs(3000)),
                hard: Some(Duration::from_secs(3600)),
            },
        }],
        force_encap: false,
        dpd_delay: None,
        ike_rekey_time: None,
        remote_access: Default::default(),
        credentials: None,
    })
}

fn a_tun(psk: &str) -> Arc<PeerConfig> {
    peer("tun", A_IP, B_IP, "a.example", "b.example", psk)
}

fn b_tun(psk: &str) -> Arc<PeerConfig> {
    peer("tun", B_IP, A_IP, "b.example", "a.example", psk)
}

/// An unrelated connection to a host that is not on the link.
fn extra(local: &str) -> Arc<PeerConfig> {
    peer(
        "extra",
        local,
        "203.0.113.9",
        "x.example",
        "y.example",
        "other",
    )
}

const PSK: &str = "correct horse battery staple";

/// Unchanged means the very same configuration object.
fn same(a: &PeerConfig, b: &PeerConfig) -> bool {
    std::ptr::eq(a, b)
}

#[derive(Default)]
struct Seen {
    events: Vec<Event>,
    kernel: Vec<KernelRequest>,
}

struct Sim {
    a: Endpoint,
    b: Endpoint,
    seen: [Seen; 2],
    now: Instant,
    queue: BTreeMap<(Instant, u64), (usize, Path, Vec<u8>)>,
    seq: u64,
}

impl Sim {
    fn new(a: Vec<Arc<PeerConfig>>, b: Vec<Arc<PeerConfig>>) -> Self {
        let now = Instant::now();
        let mk = |peers, seed| {
            Endpoint::new(
                EndpointConfig::new(peers, ring_provider()),
                Box::new(HmacDrbg::from_u64(seed)),
                now,
            )
            .unwrap()
        };
        Self {
            a: mk(a, 11),
            b: mk(b, 12),
            seen: [Seen::default(), Seen::default()],
            now,
            queue: BTreeMap::new(),
            seq: 0,
        }
    }

    fn ep(&mut self, side: usize) -> &mut Endpoint {
        if side == 0 {
            &mut self.a
        } else {
            &mut self.b
        }
    }

    fn drain(&mut self) {
        for side in 0..2 {
            loop {
                while let Some(k) = self.ep(side).poll_kernel() {
                    self.seen[side].kernel.push(k);
                }
                while let Some(e) = self.ep(side).poll_event() {
                    self.seen[side].events.push(e);
                }
                let Some(t) = self.ep(side).poll_transmit() else {
                    break;
                };
                let to_ip = if side == 0 { B_IP } else { A_IP };
                if t.path.remote.ip().to_string() != to_ip {
                    continue; // nobody there
                }
                let path = Path {
                    local: t.path.remote,
                    remote: t.path.local,
                };
                self.seq += 1;
                let at = self.now + Duration::from_millis(5);
                self.queue.insert((at, self.seq), (1 - side, path, t.bytes));
            }
        }
    }

    /// Runs for `d` of virtual time.
    fn run(&mut self, d: Duration) {
        let end = self.now + d;
        loop {
            self.drain();
            let next = [
                self.queue.keys().next().map(|k| k.0),
                self.a.poll_timeout(),
                self.b.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            let Some(next) = next.filter(|n| *n <= end) else {
                self.now = end;
                return;
            };
            self.now = self.now.max(next);
            let due: Vec<_> = self
                .queue
                .range(..=(self.now, u64::MAX))
                .map(|(k, _)| *k)
                .collect();
            for k in due {
                let (to, path, bytes) = self.queue.remove(&k).unwrap();
                let now = self.now;
                self.ep(to).handle_datagram(now, path, &bytes);
                self.drain();
            }
            let now = self.now;
            self.a.handle_timeout(now);
            self.b.handle_timeout(now);
        }
    }

    fn initiate(&mut self, peer: usize) -> IkeSaId {
        let now = self.now;
        let id = self
            .a
            .handle_command(now, Command::Initiate { peer, child: 0 })
            .unwrap();
        self.run(Duration::from_secs(5));
        id
    }

    fn established(&self, side: usize) -> Vec<IkeSaId> {
        self.seen[side]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Established { ike_sa, .. } => Some(*ike_sa),
                _ => None,
            })
            .collect()
    }

    fn deleted(&self, side: usize) -> Vec<String> {
        self.seen[side]
            .events
            .iter()
            .filter_map(|e| match e {
                Event::Deleted { reason, .. } | Event::Failed { reason, .. } => {
                    Some(reason.clone())
                }
                _ => None,
            })
            .collect()
    }

    /// (inbound, outbound) SPIs of every install, and inbound SPIs of
    /// every kernel delete.
    fn spis(&self, side: usize) -> (Vec<(u32, u32)>, Vec<u32>) {
        let mut inst = Vec::new();
        let mut del = Vec::new();
        for k in &self.seen[side].kernel {
            match k {
                KernelRequest::Install(i) => inst.push((i.inbound.spi, i.outbound.spi)),
                KernelRequest::Delete { inbound_spi, .. } => del.push(*inbound_spi),
            }
        }
        (inst, del)
    }

    fn reconfigure(&mut self, side: usize, peers: Vec<Arc<PeerConfig>>) -> Reconfigured {
        let now = self.now;
        let r = self.ep(side).reconfigure(now, peers, same);
        self.drain();
        r
    }
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| (*s).to_string()).collect()
}

#[test]
fn unchanged_connection_keeps_its_sas_and_spis() {
    let (ca, cb) = (a_tun(PSK), b_tun(PSK));
    let mut s = Sim::new(vec![ca.clone()], vec![cb.clone()]);
    let ike = s.initiate(0);
    assert_eq!(s.established(0).len(), 1);
    assert_eq!(s.established(1).len(), 1);
    let before = (s.spis(0), s.spis(1));
    assert_eq!(before.0 .0.len(), 1);

    // An unrelated connection goes in front of the tunnel on A (its index
    // moves) and after it on B.
    let r = s.reconfigure(0, vec![extra(A_IP), ca]);
    assert_eq!(r.added, names(&["extra"]));
    assert_eq!(r.unchanged, names(&["tun"]));
    assert!(r.removed.is_empty() && r.changed.is_empty() && r.deleted.is_empty());
    let r = s.reconfigure(1, vec![cb, extra(B_IP)]);
    assert_eq!(r.unchanged, names(&["tun"]));
    s.run(Duration::from_secs(60));

    assert!(s.a.is_established(ike));
    assert_eq!(s.a.child_count(ike), 1);
    assert_eq!((s.spis(0), s.spis(1)), before, "no install or delete");
    assert!(s.deleted(0).is_empty() && s.deleted(1).is_empty());
    assert_eq!(s.a.ike_sa_count(), 1);
    assert_eq!(s.b.ike_sa_count(), 1);
    // The new table is the one in force: index 0 is the new peer now.
    assert_eq!(s.a.config().peers[0].name, "extra");
}

#[test]
fn removed_connection_is_deleted_on_both_sides() {
    let mut s = Sim::new(vec![a_tun(PSK)], vec![b_tun(PSK)]);
    let ike = s.initiate(0);
    let (inst_a, _) = s.spis(0);
    let (inst_b, _) = s.spis(1);
    let r = s.reconfigure(0, vec![extra(A_IP)]);
    assert_eq!(r.removed, names(&["tun"]));
    assert_eq!(r.added, names(&["extra"]));
    assert_eq!(r.deleted, vec![ike]);
    s.run(Duration::from_secs(30));

    assert_eq!(s.deleted(0), names(&["deleted by us"]));
    assert_eq!(s.deleted(1), names(&["deleted by peer"]));
    assert_eq!(s.spis(0).1, vec![inst_a[0].0]);
    assert_eq!(s.spis(1).1, vec![inst_b[0].0]);
    assert_eq!(s.a.ike_sa_count(), 0);
    assert_eq!(s.b.ike_sa_count(), 0);
    // A reconfiguration that changes nothing deletes nothing more.
    let peers = s.a.config().peers.clone();
    let r = s.reconfigure(0, peers);
    assert_eq!(r.unchanged, names(&["extra"]));
    assert!(r.deleted.is_empty());
}

#[test]
fn changed_psk_connection_renegotiates_with_the_new_key() {
    let mut s = Sim::new(vec![a_tun(PSK)], vec![b_tun(PSK)]);
    let first = s.initiate(0);

    // Only B gets the new key: its SA goes, and A's old key no longer works.
    let r = s.reconfigure(1, vec![b_tun("new key")]);
    assert_eq!(r.changed, names(&["tun"]));
    assert_eq!(r.deleted.len(), 1);
    s.run(Duration::from_secs(30));
    assert_eq!(s.deleted(0), names(&["deleted by peer"]));
    assert!(!s.a.is_established(first));
    s.initiate(0);
    s.run(Duration::from_secs(30));
    assert_eq!(s.established(0).len(), 1, "the old key must be refused");
    assert_eq!(s.deleted(0).len(), 2);

    // A gets the new key too and re-initiates (the daemon's start_action).
    let r = s.reconfigure(0, vec![a_tun("new key")]);
    assert_eq!(r.changed, names(&["tun"]));
    let second = s.initiate(0);
    s.run(Duration::from_secs(30));
    assert!(s.a.is_established(second));
    assert_eq!(s.established(0).len(), 2);
    assert_eq!(s.established(1).len(), 2);
    let (inst_a, _) = s.spis(0);
    let (inst_b, _) = s.spis(1);
    assert_eq!(inst_a.len(), 2);
    let (last_a, last_b) = (inst_a[1], inst_b[inst_b.len() - 1]);
    assert_eq!((last_a.0, last_a.1), (last_b.1, last_b.0));
    assert_ne!(inst_a[0], inst_a[1]);
    assert_eq!(s.a.ike_sa_count(), 1);
    assert_eq!(s.b.ike_sa_count(), 1);
}

#[test]
fn same_settings_sees_a_new_key_or_selector_but_not_a_rebuild() {
    let a = a_tun(PSK);
    assert!(
        a.same_settings(&a_tun(PSK)),
        "rebuilt from the same settings"
    );
    assert!(!a.same_settings(&a_tun("new key")));
    assert!(!a.same_settings(&b_tun(PSK)));
    let mut other_ts = Arc::try_unwrap(a_tun(PSK)).unwrap();
    assert!(a.same_settings(&other_ts));
    other_ts.children[0].remote_ts = vec![parse_ts("10.9.0.0/16").unwrap()];
    assert!(!a.same_settings(&other_ts));
}
