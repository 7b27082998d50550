//! EAP-MSCHAPv2 inside IKE_AUTH (RFC 7296 §2.16) between two `Endpoint`s
//! on a virtual clock: the responder signs its AUTH, the initiator leaves
//! AUTH out and runs EAP, then both sides' AUTH payloads are keyed with
//! the MSK. Covers the EAP-Identity round, leases keyed by the EAP user,
//! wrong passwords, unknown users and broken EAP input, each ending in a
//! precise reason on both sides.

#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ike::crypto::mschapv2::NtHash;
use ike::crypto::{
    ring_provider, HmacDrbg, RingSigner, RingVerifier, SecretBytes, SignatureScheme,
};
use ike::io::{Command, Event, KernelRequest, Lifetimes, Mode, Path};
use ike::policy::proposal::parse_list;
use ike::policy::ts::parse_ts;
use ike::sa::{
    AddressError, AddressProvider, ChildConfig, EapCredentials, EapIdentity, EapServerConfig,
    EapUsers, Endpoint, EndpointConfig, PeerAuth, PeerConfig, RemoteAccess,
};
use ike::wire::{Id, IdType, ProtocolId, TrafficSelector};

const GW_IP: &str = "198.51.100.1";
const CLIENT_IP: &str = "203.0.113.10";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn id(t: IdType, s: &str) -> Id {
    Id {
        id_type: t,
        data: s.as_bytes().to_vec(),
    }
}

fn ts(s: &str) -> Vec<TrafficSelector> {
    s.split(',').map(|t| parse_ts(t).unwrap()).collect()
}

struct Users(HashMap<String, String>);

impl EapUsers for Users {
    fn nt_hash(&self, user: &str) -> Option<NtHash> {
        self.0.get(user).map(|p| NtHash::from_password(p))
    }
}

/// A one-pool provider that records who holds which address.
#[derive(Default)]
struct Pool {
    leases: Arc<Mutex<Vec<(String, IpAddr)>>>,
}

impl AddressProvider for Pool {
    fn acquire(
        &mut self,
        identity: &str,
        _pools: &[String],
        requested: IpAddr,
    ) -> Result<IpAddr, AddressError> {
        if requested.is_ipv6() {
            return Err(AddressError::NoPool("v4 only".into()));
        }
        let mut l = self.leases.lock().unwrap();
        let a = IpAddr::V4(Ipv4Addr::new(10, 3, 0, 1 + u8::try_from(l.len()).unwrap()));
        l.push((identity.to_owned(), a));
        Ok(a)
    }

    fn release(&mut self, identity: &str, addr: IpAddr) {
        self.leases
            .lock()
            .unwrap()
            .retain(|(i, a)| !(i == identity && *a == addr));
    }
}

fn child(local: &str, remote: &str) -> Vec<ChildConfig> {
    vec![ChildConfig {
        name: "net".into(),
        esp_proposals: parse_list(ProtocolId::ESP, "aes256gcm16").unwrap(),
        local_ts: ts(local),
        remote_ts: ts(remote),
        mode: Mode::Tunnel,
        lifetimes: Lifetimes {
            soft: Some(Duration::from_secs(3000)),
            hard: Some(Duration::from_secs(3600)),
        },
    }]
}

fn signer() -> Arc<RingSigner> {
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = ring::signature::EcdsaKeyPair::generate_pkcs8(
        &ring::signature::ECDSA_P256_SHA256_ASN1_SIGNING,
        &rng,
    )
    .unwrap();
    Arc::new(RingSigner::new(pkcs8.as_ref(), SignatureScheme::EcdsaSha256).unwrap())
}

fn gateway(signer: Arc<RingSigner>, identity: EapIdentity) -> PeerConfig {
    let users = Users(HashMap::from([
        ("alice".to_owned(), "correct horse".to_owned()),
        ("bob".to_owned(), "battery staple".to_owned()),
    ]));
    PeerConfig {
        eap_client: None,
        name: "rw-eap".into(),
        local: format!("{GW_IP}:500").parse().unwrap(),
        remote: "0.0.0.0:500".parse().unwrap(),
        local_id: id(IdType::ID_FQDN, "gw.example"),
        remote_id: None,
        psk: None,
        signer: Some(signer),
        local_certs: Vec::new(),
        cert_requests: Vec::new(),
        peer_auth: PeerAuth::EapMschapv2(EapServerConfig {
            users: Arc::new(users),
            identity,
        }),
        ike_proposals: parse_list(ProtocolId::IKE, "aes256gcm16-prfsha384-x25519").unwrap(),
        children: child("10.2.0.0/16", "0.0.0.0/0"),
        force_encap: false,
        dpd_delay: None,
        ike_rekey_time: None,
        remote_access: RemoteAccess {
            pools: vec!["rw".into()],
            dns: vec![ip("10.2.0.53")],
            ..RemoteAccess::default()
        },
        credentials: None,
    }
}

fn client(gw_key: &RingSigner, idi: Id, eap: Option<EapCredentials>) -> PeerConfig {
    PeerConfig {
        eap_client: eap,
        name: "home".into(),
        local: format!("{CLIENT_IP}:500").parse().unwrap(),
        remote: format!("{GW_IP}:500").parse().unwrap(),
        local_id: idi,
        remote_id: Some(id(IdType::ID_FQDN, "gw.example")),
        psk: Some(SecretBytes::from_slice(b"not used with EAP")),
        signer: None,
        local_certs: Vec::new(),
        cert_requests: Vec::new(),
        peer_auth: PeerAuth::PublicKey(Arc::new(RingVerifier::new(gw_key.public_key()))),
        ike_proposals: parse_list(ProtocolId::IKE, "aes256gcm16-prfsha384-x25519").unwrap(),
        children: child("0.0.0.0/0", "10.2.0.0/16"),
        force_encap: false,
        dpd_delay: None,
        ike_rekey_time: None,
        remote_access: RemoteAccess {
            vips: vec![ip("0.0.0.0")],
            ..RemoteAccess::default()
        },
        credentials: None,
    }
}

struct Node {
    addr: IpAddr,
    ep: Endpoint,
    events: Vec<Event>,
    kernel: Vec<KernelRequest>,
    sent: usize,
}

impl Node {
    fn new(addr: &str, cfg: EndpointConfig, seed: u64, now: Instant) -> Self {
        Self {
            addr: ip(addr),
            ep: Endpoint::new(cfg, Box::new(HmacDrbg::from_u64(seed)), now).unwrap(),
            events: Vec::new(),
            kernel: Vec::new(),
            sent: 0,
        }
    }

    fn established(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Established { remote_id, .. } => Some(remote_id.as_str()),
                _ => None,
            })
            .collect()
    }

    fn failed(&self) -> Vec<&str> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Failed { reason, .. } | Event::Deleted { reason, .. } => {
                    Some(reason.as_str())
                }
                _ => None,
            })
            .collect()
    }

    fn installs(&self) -> usize {
        self.kernel
            .iter()
            .filter(|k| matches!(k, KernelRequest::Install(_)))
            .count()
    }

    fn vips(&self) -> Vec<(bool, Vec<IpAddr>, Vec<IpAddr>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::VirtualIp {
                    ours, addrs, dns, ..
                } => Some((*ours, addrs.clone(), dns.clone())),
                _ => None,
            })
            .collect()
    }
}

struct Run {
    gw: Node,
    cl: Node,
    leases: Arc<Mutex<Vec<(String, IpAddr)>>>,
}

/// Connects `client` to `gw` over a lossless network until it is quiet.
fn run(gw: PeerConfig, cl: PeerConfig) -> Run {
    run_peers(vec![gw], cl)
}

/// Like [`run`], with a gateway holding several peer configurations.
fn run_peers(gw: Vec<PeerConfig>, cl: PeerConfig) -> Run {
    let now = Instant::now();
    let pool = Pool::default();
    let leases = pool.leases.clone();
    let mut gcfg = EndpointConfig::new(gw.into_iter().map(Arc::new).collect(), ring_provider());
    gcfg.address_provider = Some(Box::new(pool));
    let mut nodes = [
        Node::new(GW_IP, gcfg, 11, now),
        Node::new(
            CLIENT_IP,
            EndpointConfig::new(vec![Arc::new(cl)], ring_provider()),
            12,
            now,
        ),
    ];
    nodes[1]
        .ep
        .handle_command(now, Command::Initiate { peer: 0, child: 0 })
        .unwrap();
    let mut now = now;
    for _ in 0..100 {
        let mut moved = Vec::new();
        for n in &mut nodes {
            while let Some(k) = n.ep.poll_kernel() {
                n.kernel.push(k);
            }
            while let Some(e) = n.ep.poll_event() {
                n.events.push(e);
            }
            while let Some(t) = n.ep.poll_transmit() {
                n.sent += 1;
                moved.push(t);
            }
        }
        if moved.is_empty() {
            let [gw, cl] = nodes;
            return Run { gw, cl, leases };
        }
        now += Duration::from_millis(5);
        for t in moved {
            if let Some(n) = nodes.iter_mut().find(|n| n.addr == t.path.remote.ip()) {
                let path = Path {
                    local: t.path.remote,
                    remote: t.path.local,
                };
                n.ep.handle_datagram(now, path, &t.bytes);
            }
        }
    }
    panic!("network never went quiet");
}

fn alice(password: &str) -> Option<EapCredentials> {
    Some(EapCredentials::new("alice", password))
}

#[test]
fn eap_identity_round_then_mschapv2_establishes_with_msk_auth() {
    let s = signer();
    // The client's IKE identity is its address: no user name, so the
    // gateway asks with EAP-Identity even when told to use the IKE ID.
    for policy in [EapIdentity::Ask, EapIdentity::FromIke] {
        let r = run(
            gateway(s.clone(), policy),
            client(
                &s,
                Id {
                    id_type: IdType::ID_IPV4_ADDR,
                    data: vec![203, 0, 113, 10],
                },
                alice("correct horse"),
            ),
        );
        // Both verified the other's MSK-keyed AUTH, or neither would be up.
        assert_eq!(r.gw.established(), ["alice"], "{:?}", r.gw.failed());
        assert_eq!(r.cl.established(), ["gw.example"], "{:?}", r.cl.failed());
        assert!(r.gw.failed().is_empty() && r.cl.failed().is_empty());
        // IKE_SA_INIT, then IKE_AUTH: first request, EAP-Identity,
        // MSCHAPv2 Response, MSCHAPv2 Success, AUTH.
        assert_eq!(r.cl.sent, 6);
        assert_eq!(r.gw.sent, 6);
        // The lease is keyed by the EAP user, and the client got it.
        let leases = r.leases.lock().unwrap().clone();
        assert_eq!(leases, [("alice".to_owned(), ip("10.3.0.1"))]);
        let v = r.cl.vips();
        assert_eq!(v, [(true, vec![ip("10.3.0.1")], vec![ip("10.2.0.53")])]);
        assert_eq!((r.gw.installs(), r.cl.installs()), (1, 1));
    }
}

#[test]
fn ike_identity_as_user_name_skips_the_identity_round() {
    let s = signer();
    let r = run(
        gateway(s.clone(), EapIdentity::FromIke),
        client(
            &s,
            id(IdType::ID_RFC822_ADDR, "bob"),
            Some(EapCredentials::new("bob", "battery staple")),
        ),
    );
    assert_eq!(r.gw.established(), ["bob"], "{:?}", r.gw.failed());
    assert_eq!(r.cl.established(), ["gw.example"]);
    // One IKE_AUTH round fewer than with EAP-Identity.
    assert_eq!(r.cl.sent, 5);
    assert_eq!((r.gw.installs(), r.cl.installs()), (1, 1));
}

#[test]
fn wrong_password_ends_in_eap_failure_and_authentication_failed() {
    let s = signer();
    let r = run(
        gateway(s.clone(), EapIdentity::Ask),
        client(&s, id(IdType::ID_FQDN, "laptop"), alice("guess")),
    );
    assert!(r.gw.established().is_empty() && r.cl.established().is_empty());
    assert_eq!(
        r.gw.failed(),
        ["authentication failed: EAP-MSCHAPv2: wrong password for user 'alice'"]
    );
    assert_eq!(
        r.cl.failed(),
        ["authentication failed: server sent EAP-Failure"]
    );
    assert!(r.leases.lock().unwrap().is_empty());
    assert_eq!((r.gw.installs(), r.cl.installs()), (0, 0));
    assert_eq!((r.gw.ep.ike_sa_count(), r.cl.ep.ike_sa_count()), (0, 0));
}

#[test]
fn unknown_user_fails_like_a_wrong_password() {
    let s = signer();
    let r = run(
        gateway(s.clone(), EapIdentity::Ask),
        client(
            &s,
            id(IdType::ID_FQDN, "laptop"),
            Some(EapCredentials::new("mallory", "anything")),
        ),
    );
    assert_eq!(
        r.gw.failed(),
        ["authentication failed: EAP-MSCHAPv2: unknown user 'mallory'"]
    );
    // The client cannot tell an unknown user from a wrong password.
    assert_eq!(
        r.cl.failed(),
        ["authentication failed: server sent EAP-Failure"]
    );
    assert!(r.leases.lock().unwrap().is_empty());
}

#[test]
fn empty_eap_identity_from_the_peer_is_a_precise_error() {
    let s = signer();
    let r = run(
        gateway(s.clone(), EapIdentity::Ask),
        client(
            &s,
            id(IdType::ID_FQDN, "laptop"),
            Some(EapCredentials::new("", "x")),
        ),
    );
    assert_eq!(
        r.gw.failed(),
        ["authentication failed: EAP identity is empty or not UTF-8"]
    );
    assert_eq!(
        r.cl.failed(),
        ["authentication failed: server sent EAP-Failure"]
    );
}

#[test]
fn auth_payload_instead_of_eap_is_refused() {
    let s = signer();
    // A PSK client against a gateway that wants EAP for everyone.
    let r = run(
        gateway(s.clone(), EapIdentity::Ask),
        client(&s, id(IdType::ID_FQDN, "laptop"), None),
    );
    assert_eq!(
        r.gw.failed(),
        ["authentication failed: AUTH method SHARED_KEY_MIC not accepted"]
    );
    assert_eq!(r.cl.failed(), ["peer sent AUTHENTICATION_FAILED"]);
}

#[test]
fn same_settings_sees_another_user_store_and_eap_credentials() {
    let s = signer();
    let a = gateway(s.clone(), EapIdentity::Ask);
    let b = gateway(s.clone(), EapIdentity::Ask);
    // Stores without a fingerprint compare by identity: a new one is a change.
    assert!(!a.same_settings(&b));
    let mut c = gateway(s.clone(), EapIdentity::Ask);
    c.peer_auth = a.peer_auth.clone();
    assert!(a.same_settings(&c));
    let mut d = gateway(s.clone(), EapIdentity::FromIke);
    if let PeerAuth::EapMschapv2(e) = &a.peer_auth {
        d.peer_auth = PeerAuth::EapMschapv2(EapServerConfig {
            users: e.users.clone(),
            identity: EapIdentity::FromIke,
        });
    }
    assert!(!a.same_settings(&d), "eap_id policy differs");
    let idi = id(IdType::ID_FQDN, "laptop");
    let one = client(&s, idi.clone(), alice("correct horse"));
    assert!(one.same_settings(&client(&s, idi.clone(), alice("correct horse"))));
    assert!(!one.same_settings(&client(&s, idi, alice("other"))));
}

#[test]
fn psk_and_eap_road_warriors_share_one_gateway() {
    let s = signer();
    // The EAP configuration comes first and accepts any identity; a client
    // that sends AUTH still finds the PSK configuration after it.
    let gateways = || {
        let mut psk = gateway(s.clone(), EapIdentity::Ask);
        psk.name = "rw-psk".into();
        psk.peer_auth = PeerAuth::Psk;
        psk.psk = Some(SecretBytes::from_slice(b"not used with EAP"));
        vec![gateway(s.clone(), EapIdentity::Ask), psk]
    };
    let laptop = || id(IdType::ID_FQDN, "laptop");
    let r = run_peers(gateways(), client(&s, laptop(), None));
    assert_eq!(r.gw.established(), ["laptop"], "{:?}", r.gw.failed());
    let r = run_peers(gateways(), client(&s, laptop(), alice("correct horse")));
    assert_eq!(r.gw.established(), ["alice"], "{:?}", r.gw.failed());
}
