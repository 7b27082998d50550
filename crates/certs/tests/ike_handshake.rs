//! Certificates authenticate IKE SAs end to end: two `ike::sa::Endpoint`s
//! driven over a virtual link (a small copy of the driving loop of
//! `crates/ike/tests/pair.rs`), with `certs::ikeauth` providing the signer
//! and the certificate verifier. Certificates come from `certs::issue` at
//! test time and from strongSwan's `pki` (tests/data/README.md).

// Helpers outside #[test] fns are test code too (clippy.toml allows these in tests).
#![allow(clippy::unwrap_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use certs::chain::DEFAULT_MAX_DEPTH;
use certs::ikeauth::{
    id_to_wire, requested_hashes, AuthStyle, CertSigner, LocalCredentials, TrustVerifier, WallClock,
};
use certs::issue::{generate_key, Ca, CertSpec, KeyAlgorithm, Profile, San};
use certs::load::{certificate_from_file, crls_from_file};
use certs::{
    Certificate, IkeId, KeyPurpose, LocalChain, PrivateKey, SignatureScheme, TrustStore,
    ValidationOptions,
};
use ike::crypto::{ring_provider, AuthMethod, HmacDrbg, Signer};
use ike::io::{Command, Event, KernelRequest, Lifetimes, Mode, Path};
use ike::policy::proposal::parse_list;
use ike::policy::ts::parse_ts;
use ike::sa::{ChildConfig, Endpoint, EndpointConfig, PeerAuth, PeerConfig};
use ike::wire::{ExchangeType, HeaderPacket, Id, Message, Payload, PayloadType, ProtocolId};

const A_IP: &str = "192.0.2.1";
const B_IP: &str = "198.51.100.1";
const DAY: i64 = 86_400;

/// 2026-11-24 00:00:00 UTC: inside every "long" strongSwan fixture's validity.
const SW_NOW: i64 = 1_795_478_400;

fn at(unix: i64) -> WallClock {
    WallClock::Fixed(SystemTime::UNIX_EPOCH + Duration::from_secs(unix.try_into().unwrap()))
}

fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .try_into()
        .unwrap()
}

fn id(s: &str) -> Id {
    id_to_wire(&IkeId::parse(s).unwrap())
}

// ---------------------------------------------------------------------------
// The harness: two endpoints, an instant link, a virtual clock.
// ---------------------------------------------------------------------------

/// One side's credentials and policy.
struct SideCfg {
    id: Id,
    remote_id: Option<Id>,
    signer: Arc<dyn Signer>,
    certs: Vec<Vec<u8>>,
    verifier: TrustVerifier,
}

fn peer_config(me: &SideCfg, local_ip: &str, remote_ip: &str, lts: &str, rts: &str) -> PeerConfig {
    let sock = |ip: &str| -> SocketAddr { format!("{ip}:500").parse().unwrap() };
    PeerConfig {
        eap_client: None,
        name: me.id.to_string(),
        local: sock(local_ip),
        remote: sock(remote_ip),
        local_id: me.id.clone(),
        remote_id: me.remote_id.clone(),
        psk: None,
        signer: Some(me.signer.clone()),
        local_certs: me.certs.clone(),
        cert_requests: me.verifier.cert_requests(),
        peer_auth: PeerAuth::Certificate(Arc::new(me.verifier.clone())),
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
    }
}

struct Peer {
    ep: Endpoint,
    events: Vec<Event>,
    kernel: Vec<KernelRequest>,
    sent: Vec<Vec<u8>>,
}

impl Peer {
    fn established(&self) -> Option<&str> {
        self.events.iter().find_map(|e| match e {
            Event::Established { remote_id, .. } => Some(remote_id.as_str()),
            _ => None,
        })
    }

    fn failed(&self) -> Option<&str> {
        self.events.iter().find_map(|e| match e {
            Event::Failed { reason, .. } | Event::Deleted { reason, .. } => Some(reason.as_str()),
            _ => None,
        })
    }

    fn installs(&self) -> usize {
        self.kernel
            .iter()
            .filter(|k| matches!(k, KernelRequest::Install(_)))
            .count()
    }

    /// The first datagram this side sent with `exchange`, parsed (only the
    /// unencrypted IKE_SA_INIT is readable here).
    fn sent_message(&self, exchange: ExchangeType) -> Message {
        self.sent
            .iter()
            .filter_map(|b| Message::parse(b).ok())
            .find(|m| m.header.exchange == exchange)
            .unwrap()
    }
}

struct Pair {
    a: Peer,
    b: Peer,
    now: Instant,
    start: Instant,
    /// (to B?, path as the receiver sees it, bytes)
    queue: VecDeque<(bool, Path, Vec<u8>)>,
}

impl Pair {
    /// A initiates to B; each trusts what its `verifier` trusts.
    fn new(a: &SideCfg, b: &SideCfg, seed: u64) -> Self {
        let ca = peer_config(a, A_IP, B_IP, "10.1.0.0/16", "10.2.0.0/16");
        let cb = peer_config(b, B_IP, A_IP, "10.2.0.0/16", "10.1.0.0/16");
        let start = Instant::now();
        let mk = |c: PeerConfig, s: u64| Peer {
            ep: Endpoint::new(
                EndpointConfig::new(vec![Arc::new(c)], ring_provider()),
                Box::new(HmacDrbg::from_u64(s)),
                start,
            )
            .unwrap(),
            events: Vec::new(),
            kernel: Vec::new(),
            sent: Vec::new(),
        };
        Self {
            a: mk(ca, seed.wrapping_mul(2)),
            b: mk(cb, seed.wrapping_mul(2).wrapping_add(1)),
            now: start,
            start,
            queue: VecDeque::new(),
        }
    }

    fn drain(&mut self) {
        for to_b in [true, false] {
            let p = if to_b { &mut self.a } else { &mut self.b };
            while let Some(k) = p.ep.poll_kernel() {
                p.kernel.push(k);
            }
            while let Some(e) = p.ep.poll_event() {
                p.events.push(e);
            }
            while let Some(t) = p.ep.poll_transmit() {
                p.sent.push(t.bytes.clone());
                let path = Path {
                    local: t.path.remote,
                    remote: t.path.local,
                };
                self.queue.push_back((to_b, path, t.bytes));
            }
        }
    }

    /// Delivers datagrams, or jumps to the next deadline; false when idle.
    fn step(&mut self) -> bool {
        self.drain();
        if let Some((to_b, path, bytes)) = self.queue.pop_front() {
            let now = self.now;
            let p = if to_b { &mut self.b } else { &mut self.a };
            p.ep.handle_datagram(now, path, &bytes);
            self.drain();
            return true;
        }
        let next = [self.a.ep.poll_timeout(), self.b.ep.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(next) = next else { return false };
        self.now = self.now.max(next);
        let now = self.now;
        self.a.ep.handle_timeout(now);
        self.b.ep.handle_timeout(now);
        self.drain();
        true
    }

    fn run(&mut self, done: impl Fn(&Self) -> bool) {
        let now = self.now;
        self.a
            .ep
            .handle_command(now, Command::Initiate { peer: 0, child: 0 })
            .unwrap();
        for _ in 0..10_000 {
            if done(self) || self.now > self.start + Duration::from_secs(400) || !self.step() {
                return;
            }
        }
        panic!("simulation never went idle");
    }
}

/// Runs a handshake that must succeed; returns the pair for more checks.
fn handshake(a: &SideCfg, b: &SideCfg) -> Pair {
    let mut p = Pair::new(a, b, 7);
    p.run(|p| p.a.established().is_some() && p.b.established().is_some());
    assert!(
        p.a.established().is_some() && p.b.established().is_some(),
        "a: {:?}\nb: {:?}",
        p.a.events,
        p.b.events
    );
    assert_eq!(p.a.established(), Some(b.id.to_string().as_str()));
    assert_eq!(p.b.established(), Some(a.id.to_string().as_str()));
    // The first CHILD_SA came up on both sides too.
    assert_eq!((p.a.installs(), p.b.installs()), (1, 1));
    p
}

/// Runs a handshake that must fail; returns (A's reason, B's reason).
fn failure(a: &SideCfg, b: &SideCfg) -> (String, Option<String>, Pair) {
    let mut p = Pair::new(a, b, 11);
    p.run(|p| p.a.failed().is_some() && (p.b.failed().is_some() || p.queue.is_empty()));
    // Let the last messages settle (the initiator's DELETE, if any).
    for _ in 0..20 {
        if !p.step() {
            break;
        }
    }
    let ra = p.a.failed().map(str::to_owned).unwrap_or_else(|| {
        panic!("A did not fail: {:?}", p.a.events);
    });
    let rb = p.b.failed().map(str::to_owned);
    assert_eq!(p.a.installs(), 0, "A must install nothing");
    (ra, rb, p)
}

// ---------------------------------------------------------------------------
// Credentials
// ---------------------------------------------------------------------------

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn sw_cert(name: &str) -> Certificate {
    certificate_from_file(&data(name)).unwrap()
}

fn sw_key(name: &str) -> PrivateKey {
    // Git does not keep file modes; read the bytes (the mode check has its own test).
    PrivateKey::from_pem_or_der(&std::fs::read(data(name)).unwrap(), name).unwrap()
}

fn spec(subject: &str, profile: Profile, sans: &[&str], from: i64, days: u32) -> CertSpec {
    let mut s = CertSpec::new(subject, profile, from, days);
    s.sans = sans.iter().map(|x| San::parse(x).unwrap()).collect();
    s
}

fn root(name: &str, alg: KeyAlgorithm) -> Ca {
    let from = now_unix() - DAY;
    Ca::self_signed(
        &spec(name, Profile::Ca { path_len: None }, &[], from, 3650),
        generate_key(alg).unwrap(),
    )
    .unwrap()
}

fn sub_ca(parent: &Ca, name: &str, alg: KeyAlgorithm) -> Ca {
    let from = now_unix() - DAY;
    let key = generate_key(alg).unwrap();
    let cert = parent
        .issue(
            &spec(name, Profile::Ca { path_len: Some(0) }, &[], from, 3650),
            &key,
        )
        .unwrap();
    Ca::new(cert, key).unwrap()
}

/// An end entity for `id` (also its SAN) under `ca`, valid from yesterday.
fn leaf(ca: &Ca, id: &str, profile: Profile, key: &PrivateKey) -> Certificate {
    let from = now_unix() - DAY;
    ca.issue(&spec(&format!("CN={id}"), profile, &[id], from, 365), key)
        .unwrap()
}

fn store(anchors: &[&Certificate]) -> TrustStore {
    let mut s = TrustStore::new();
    for a in anchors {
        s.add_anchor((*a).clone());
    }
    s
}

fn signer(key: PrivateKey, style: AuthStyle) -> Arc<dyn Signer> {
    Arc::new(CertSigner::new(Arc::new(key), style).unwrap())
}

fn ders(certs: &[&Certificate]) -> Vec<Vec<u8>> {
    certs.iter().map(|c| c.der().to_vec()).collect()
}

/// One side: its ID, the peer's, key, AUTH style, CERT payloads, verifier.
fn side(
    me: &str,
    them: &str,
    key: PrivateKey,
    style: AuthStyle,
    chain: &[&Certificate],
    verifier: TrustVerifier,
) -> SideCfg {
    SideCfg {
        id: id(me),
        remote_id: Some(id(them)),
        signer: signer(key, style),
        certs: ders(chain),
        verifier,
    }
}

/// A (`a.example`) and B (`b.example`), each expecting the other, signing
/// AUTH in `styles`, sending `chains` and checking with `v()` (A's, B's).
fn a_and_b(
    keys: (PrivateKey, PrivateKey),
    styles: (AuthStyle, AuthStyle),
    chains: (&[&Certificate], &[&Certificate]),
    v: impl Fn() -> TrustVerifier,
) -> (SideCfg, SideCfg) {
    let a = side("a.example", "b.example", keys.0, styles.0, chains.0, v());
    let b = side("b.example", "a.example", keys.1, styles.1, chains.1, v());
    (a, b)
}

/// Two fresh keys of `alg`, for A and B.
fn two_keys(alg: KeyAlgorithm) -> (PrivateKey, PrivateKey) {
    (generate_key(alg).unwrap(), generate_key(alg).unwrap())
}

/// Gateway certificates for `a.example` (issued by `a_ca`, for `ka`) and
/// `b.example` (by `b_ca`, for `kb`).
fn gateway_leaves(
    a_ca: &Ca,
    b_ca: &Ca,
    ka: &PrivateKey,
    kb: &PrivateKey,
) -> (Certificate, Certificate) {
    (
        leaf(a_ca, "a.example", Profile::Gateway, ka),
        leaf(b_ca, "b.example", Profile::Gateway, kb),
    )
}

/// A verifier with `ca` as its only anchor, checking EKU for `purpose`.
fn trusting(ca: &Ca, purpose: KeyPurpose) -> TrustVerifier {
    TrustVerifier::new(store(&[&ca.cert]), purpose)
}

/// A verifier anchored at the strongSwan fixtures' root, at their date.
fn sw_trusting(purpose: KeyPurpose) -> TrustVerifier {
    TrustVerifier::new(store(&[&sw_cert("sw-root.crt")]), purpose).at(at(SW_NOW))
}

/// Makes `s` authenticate as `me` with the strongSwan fixture key `key`
/// and certificate `cert`, sent with the fixtures' intermediate.
fn present_sw(s: &mut SideCfg, me: &str, key: &str, cert: &str) {
    s.id = id(me);
    s.signer = signer(sw_key(key), RFC7427);
    s.certs = ders(&[&sw_cert(cert), &sw_cert("sw-int.crt")]);
}

const RFC7427: AuthStyle = AuthStyle::DigitalSignature(None);

// ---------------------------------------------------------------------------
// Handshakes that succeed
// ---------------------------------------------------------------------------

#[test]
fn ecdsa_p256_certificates_from_one_root_authenticate_both_peers() {
    let ca = root("CN=P256 Root", KeyAlgorithm::EcdsaP256);
    let (ka, kb) = two_keys(KeyAlgorithm::EcdsaP256);
    let (ca_, cb) = gateway_leaves(&ca, &ca, &ka, &kb);
    let v = || trusting(&ca, KeyPurpose::Server);
    let (a, b) = a_and_b((ka, kb), (RFC7427, RFC7427), (&[&ca_], &[&cb]), v);
    let p = handshake(&a, &b);

    // Our CERTREQ lists the SHA-1 of our anchor's SubjectPublicKeyInfo; the
    // responder sends it in its IKE_SA_INIT response (RFC 7296 §1.2, §3.7).
    let init_resp = p.b.sent_message(ExchangeType::IKE_SA_INIT);
    let reqs: Vec<_> = init_resp
        .payloads
        .iter()
        .filter_map(|x| match x {
            Payload::CertReq(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(requested_hashes(reqs).unwrap(), vec![ca.cert.spki_sha1()]);
}

#[test]
fn ecdsa_p384_chain_with_the_intermediate_sent_in_cert_payloads() {
    // A remote-access client (clientAuth) and a gateway (serverAuth), each
    // checked for its role's EKU; both send their intermediate.
    let ca = root("CN=Root, O=ikegw test", KeyAlgorithm::EcdsaP256);
    let int = sub_ca(
        &ca,
        "CN=Issuing P384, O=ikegw test",
        KeyAlgorithm::EcdsaP384,
    );
    let (ka, kb) = two_keys(KeyAlgorithm::EcdsaP384);
    let (ca_, cb) = (
        leaf(&int, "alice@example.org", Profile::Client, &ka),
        leaf(&int, "vpn.example.org", Profile::Gateway, &kb),
    );
    let a = side(
        "alice@example.org",
        "vpn.example.org",
        ka,
        RFC7427,
        &[&ca_, &int.cert],
        trusting(&ca, KeyPurpose::Server),
    );
    let b = side(
        "vpn.example.org",
        "alice@example.org",
        kb,
        RFC7427,
        &[&cb, &int.cert],
        trusting(&ca, KeyPurpose::Client),
    );
    handshake(&a, &b);
}

#[test]
fn ed25519_chain_with_the_intermediate_known_locally() {
    let ca = root("CN=Ed Root", KeyAlgorithm::Ed25519);
    let int = sub_ca(&ca, "CN=Ed Issuing", KeyAlgorithm::Ed25519);
    let (ka, kb) = two_keys(KeyAlgorithm::Ed25519);
    let (ca_, cb) = gateway_leaves(&int, &int, &ka, &kb);
    let v = || {
        let mut s = store(&[&ca.cert]);
        s.add_intermediate(int.cert.clone());
        TrustVerifier::new(s, KeyPurpose::Any)
    };
    // Only the end entity goes on the wire.
    let (a, b) = a_and_b((ka, kb), (RFC7427, RFC7427), (&[&ca_], &[&cb]), v);
    handshake(&a, &b);
}

#[test]
fn rsa_pss_certificates_issued_for_existing_rsa_keys() {
    // ring cannot generate RSA keys: certify the strongSwan-made RSA 2048 and
    // RSA 3072 keys with a CA made here, and sign AUTH with RSASSA-PSS.
    let ca = root("CN=RSA test root", KeyAlgorithm::EcdsaP384);
    let (ka, kb) = (sw_key("sw-ee-rsa.key"), sw_key("sw-int.key"));
    let (ca_, cb) = gateway_leaves(&ca, &ca, &ka, &kb);
    let v = || trusting(&ca, KeyPurpose::Any);
    let styles = (
        AuthStyle::DigitalSignature(Some(SignatureScheme::RsaPssSha256)),
        AuthStyle::DigitalSignature(Some(SignatureScheme::RsaPssSha512)),
    );
    let (a, b) = a_and_b((ka, kb), styles, (&[&ca_], &[&cb]), v);
    handshake(&a, &b);
}

#[test]
fn classic_ecdsa_methods_9_and_10_authenticate() {
    let ca = root("CN=Classic Root", KeyAlgorithm::EcdsaP256);
    let (ka, kb) = (
        generate_key(KeyAlgorithm::EcdsaP256).unwrap(),
        generate_key(KeyAlgorithm::EcdsaP384).unwrap(),
    );
    let (ca_, cb) = gateway_leaves(&ca, &ca, &ka, &kb);
    let v = || trusting(&ca, KeyPurpose::Any);
    let classic = (AuthStyle::Classic, AuthStyle::Classic);
    let (a, b) = a_and_b((ka, kb), classic, (&[&ca_], &[&cb]), v);
    assert_eq!(a.signer.auth_method(), AuthMethod::ECDSA_SHA256_P256);
    assert_eq!(b.signer.auth_method(), AuthMethod::ECDSA_SHA384_P384);
    handshake(&a, &b);
}

/// The strongSwan fixtures: Ed25519 client alice, ECDSA P-384 gateway, both
/// under the RSA-3072 intermediate of an ECDSA root, validated at 2026-11-24.
fn sw_client_and_gateway() -> (SideCfg, SideCfg) {
    let (client, gw, int) = (
        sw_cert("sw-client.crt"),
        sw_cert("sw-gw.crt"),
        sw_cert("sw-int.crt"),
    );
    let a = side(
        "alice@example.org",
        "gw.example.org",
        sw_key("sw-client.key"),
        RFC7427,
        &[&client, &int],
        sw_trusting(KeyPurpose::Server),
    );
    let b = side(
        "gw.example.org",
        "alice@example.org",
        sw_key("sw-gw.key"),
        RFC7427,
        &[&gw, &int],
        sw_trusting(KeyPurpose::Client),
    );
    (a, b)
}

#[test]
fn strongswan_made_client_and_gateway_certificates_authenticate() {
    let (a, b) = sw_client_and_gateway();
    let p = handshake(&a, &b);
    // Our CERTREQ hash is the key ID strongSwan's `pki --keyid` printed.
    let want = std::fs::read_to_string(data("sw-root.spki-sha1")).unwrap();
    let want = hex::decode(want.trim().replace(':', "")).unwrap();
    assert_eq!(b.verifier.cert_requests(), vec![want.clone()]);
    let init_resp = p.b.sent_message(ExchangeType::IKE_SA_INIT);
    let got = init_resp.payloads.iter().find_map(|x| match x {
        Payload::CertReq(r) => Some(r.data.clone()),
        _ => None,
    });
    assert_eq!(got, Some(want));
    // The RSA-3072 intermediate makes IKE_AUTH too big for one 1280-byte
    // datagram: the chain travels in IKE fragments (RFC 7383).
    let fragments = |sent: &[Vec<u8>]| {
        sent.iter()
            .filter(|b| {
                HeaderPacket::new_checked(b.as_slice()).is_ok_and(|h| {
                    h.exchange_type() == ExchangeType::IKE_AUTH
                        && h.next_payload() == PayloadType::SKF
                })
            })
            .count()
    };
    assert!(fragments(&p.a.sent) >= 2, "{}", fragments(&p.a.sent));
    assert!(fragments(&p.b.sent) >= 2, "{}", fragments(&p.b.sent));
}

#[test]
fn responder_without_a_configured_peer_id_accepts_any_certified_client() {
    // A remote-access gateway: any client its CA certified, under the ID
    // the client's certificate backs.
    let (a, mut b) = sw_client_and_gateway();
    b.remote_id = None;
    let p = handshake(&a, &b);
    assert_eq!(p.b.established(), Some("alice@example.org"));
    // The same gateway still refuses a client claiming an ID its
    // certificate does not carry.
    let mut a = a;
    a.id = id("bob@example.org");
    assert_refused_by_b(
        &a,
        &b,
        "authentication failed: peer certificate rejected: peer certificate \
         C=CH, O=strongSwan Test, CN=alice@example.org rejected: ID 'bob@example.org' not in \
         subjectAltName [EMAIL:alice@example.org]",
    );
}

#[test]
fn strongswan_gateway_with_an_ip_address_id() {
    // sw-gw.crt carries IP:192.0.2.1 and IP:2001:db8::1 as well.
    let (mut a, mut b) = sw_client_and_gateway();
    for v6 in ["192.0.2.1", "2001:db8::1"] {
        b.id = id(v6);
        a.remote_id = Some(id(v6));
        handshake(&a, &b);
    }
}

#[test]
fn certreq_picks_the_chain_the_peer_asks_for() {
    // A's key is certified by two CAs; B trusts only the second.
    let (ca1, ca2) = (
        root("CN=Old Corp CA", KeyAlgorithm::EcdsaP256),
        root("CN=New Corp CA", KeyAlgorithm::EcdsaP384),
    );
    let int2 = sub_ca(&ca2, "CN=New Corp Issuing", KeyAlgorithm::EcdsaP256);
    let ka = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
    let pem = ka.to_pkcs8_pem();
    let chain1 = LocalChain {
        end_entity: leaf(&ca1, "a.example", Profile::Gateway, &ka),
        intermediates: vec![],
        root: Some(ca1.cert.clone()),
    };
    let chain2 = LocalChain {
        end_entity: leaf(&int2, "a.example", Profile::Gateway, &ka),
        intermediates: vec![int2.cert.clone()],
        root: Some(ca2.cert.clone()),
    };
    let creds = LocalCredentials::new(ka, RFC7427, vec![chain1.clone(), chain2.clone()]).unwrap();

    let kb = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
    let cb = leaf(&ca1, "b.example", Profile::Gateway, &kb);
    let b = side(
        "b.example",
        "a.example",
        kb,
        RFC7427,
        &[&cb],
        trusting(&ca2, KeyPurpose::Any),
    );
    let a_with = |certs: Vec<Vec<u8>>| SideCfg {
        id: id("a.example"),
        remote_id: Some(id("b.example")),
        signer: creds.signer(),
        certs,
        verifier: trusting(&ca1, KeyPurpose::Any),
    };

    // The default chain (CA 1) is refused by B, which cannot reach an anchor.
    let (ra, rb, p) = failure(&a_with(creds.default_certs()), &b);
    assert_eq!(ra, "peer sent AUTHENTICATION_FAILED");
    assert_eq!(
        rb.unwrap(),
        "authentication failed: peer certificate rejected: \
         no issuer for 'CN=a.example': 'CN=Old Corp CA' is not one of our trust anchors, \
         and the peer sent no intermediate CA certificate"
    );

    // B's IKE_SA_INIT response asked for CA 2; the chooser answers with the
    // chain leading there, intermediate included.
    let init_resp = p.b.sent_message(ExchangeType::IKE_SA_INIT);
    let asked = requested_hashes(init_resp.payloads.iter().filter_map(|x| match x {
        Payload::CertReq(r) => Some(r),
        _ => None,
    }))
    .unwrap();
    assert_eq!(asked, vec![ca2.cert.spki_sha1()]);
    let chosen = creds.certs_for(&asked);
    assert_eq!(chosen, ders(&[&chain2.end_entity, &int2.cert]));
    handshake(&a_with(chosen), &b);

    // A request naming the intermediate also selects chain 2; an unknown one
    // falls back to the default.
    assert_eq!(
        creds.certs_for(&[int2.cert.spki_sha1()]),
        ders(&[&chain2.end_entity, &int2.cert])
    );
    assert_eq!(creds.certs_for(&[[0x55; 20]]), ders(&[&chain1.end_entity]));

    // Credentials refuse a chain for another key.
    let other = LocalCredentials::new(
        PrivateKey::from_pem_or_der(pem.as_bytes(), "a").unwrap(),
        RFC7427,
        vec![LocalChain {
            end_entity: cb,
            intermediates: vec![],
            root: None,
        }],
    );
    assert_eq!(
        other.unwrap_err().to_string(),
        "certificate 'CN=b.example' does not certify the configured private key"
    );
}

// ---------------------------------------------------------------------------
// Each failure, on the side that detects it
// ---------------------------------------------------------------------------

/// A and B under one P-256 root; `a_id` is what A claims, `a_san` what its
/// certificate carries.
fn simple_pair(a_id: &str, a_san: &str, b_id: &str, b_san: &str) -> (SideCfg, SideCfg, Ca) {
    let ca = root("CN=Site Root", KeyAlgorithm::EcdsaP256);
    let (ka, kb) = two_keys(KeyAlgorithm::EcdsaP256);
    let (ca_, cb) = (
        leaf(&ca, a_san, Profile::Gateway, &ka),
        leaf(&ca, b_san, Profile::Gateway, &kb),
    );
    let v = || trusting(&ca, KeyPurpose::Any);
    let a = side(a_id, b_id, ka, RFC7427, &[&ca_], v());
    let b = side(b_id, a_id, kb, RFC7427, &[&cb], v());
    (a, b, ca)
}

const A_REJECTED: &str = "peer sent AUTHENTICATION_FAILED";

/// Runs a handshake in which B refuses A's AUTH: A hears
/// AUTHENTICATION_FAILED and B's reason is `why`.
fn assert_refused_by_b(a: &SideCfg, b: &SideCfg, why: &str) {
    let (ra, rb, _) = failure(a, b);
    assert_eq!(ra, A_REJECTED);
    assert_eq!(rb.unwrap(), why);
}

#[test]
fn initiator_id_not_in_its_certificate_fails_on_the_responder() {
    let (a, b, _) = simple_pair("gw.example", "branch.example", "hub.example", "hub.example");
    assert_refused_by_b(
        &a,
        &b,
        "authentication failed: peer certificate rejected: peer certificate CN=branch.example \
         rejected: ID 'gw.example' not in subjectAltName [DNS:branch.example]",
    );
}

#[test]
fn responder_id_not_in_its_certificate_fails_on_the_initiator() {
    let (a, b, _) = simple_pair("a.example", "a.example", "hub.example", "spoke.example");
    let (ra, rb, _) = failure(&a, &b);
    assert_eq!(
        ra,
        "authentication failed: peer certificate rejected: peer certificate CN=spoke.example \
         rejected: ID 'hub.example' not in subjectAltName [DNS:spoke.example]"
    );
    // B had already authenticated A and finished its side. The SA core does
    // not yet send the optional INFORMATIONAL with AUTHENTICATION_FAILED
    // (RFC 7296 §2.21.2), so B's SA lingers until liveness checks remove it.
    let _ = rb;
}

#[test]
fn dn_identity_must_equal_the_subject() {
    let (mut a, b, _) = simple_pair("a.example", "a.example", "b.example", "b.example");
    a.id = id("CN=a.example");
    let mut b2 = b;
    b2.remote_id = Some(a.id.clone());
    handshake(&a, &b2);
    a.id = id("CN=z.example");
    b2.remote_id = Some(a.id.clone());
    assert_refused_by_b(
        &a,
        &b2,
        "authentication failed: peer certificate rejected: peer certificate CN=a.example \
         rejected: ID 'CN=z.example' does not match the subject DN",
    );
}

#[test]
fn certificate_from_an_untrusted_root_fails() {
    let (mut a, b, _) = simple_pair("a.example", "a.example", "b.example", "b.example");
    let rogue = root("CN=Rogue Root", KeyAlgorithm::EcdsaP256);
    let ka = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
    let cert = leaf(&rogue, "a.example", Profile::Gateway, &ka);
    a.signer = signer(ka, RFC7427);
    // The peer even sends its root along; sending it does not make it trusted.
    a.certs = ders(&[&cert, &rogue.cert]);
    assert_refused_by_b(
        &a,
        &b,
        "authentication failed: peer certificate rejected: no trust anchor: the chain ends \
         in self-signed 'CN=Rogue Root', which is not one of our trust anchors",
    );
}

#[test]
fn certificate_expired_at_the_time_passed_in() {
    // Fixed dates: issued 2026-01-01 for 30 days.
    let t0 = 1_767_225_600;
    let ca = Ca::self_signed(
        &spec(
            "CN=Dated Root",
            Profile::Ca { path_len: None },
            &[],
            t0,
            3650,
        ),
        generate_key(KeyAlgorithm::EcdsaP256).unwrap(),
    )
    .unwrap();
    let (ka, kb) = two_keys(KeyAlgorithm::EcdsaP256);
    let ca_ = ca
        .issue(
            &spec("CN=a.example", Profile::Gateway, &["a.example"], t0, 30),
            &ka,
        )
        .unwrap();
    let cb = ca
        .issue(
            &spec("CN=b.example", Profile::Gateway, &["b.example"], t0, 30),
            &kb,
        )
        .unwrap();
    let mk = |key: &PrivateKey, clock| {
        (
            PrivateKey::from_pem_or_der(key.to_pkcs8_pem().as_bytes(), "k").unwrap(),
            trusting(&ca, KeyPurpose::Any).at(clock),
        )
    };
    let inside = at(t0 + 10 * DAY);
    let after = at(t0 + 45 * DAY);
    let (ka1, va) = mk(&ka, inside);
    let (kb1, vb) = mk(&kb, inside);
    let a = side("a.example", "b.example", ka1, RFC7427, &[&ca_], va);
    let b = side("b.example", "a.example", kb1, RFC7427, &[&cb], vb);
    handshake(&a, &b);

    // The same certificates, with the initiator's clock 45 days in.
    let (ka2, va) = mk(&ka, after);
    let (kb2, vb) = mk(&kb, inside);
    let a = side("a.example", "b.example", ka2, RFC7427, &[&ca_], va);
    let b = side("b.example", "a.example", kb2, RFC7427, &[&cb], vb);
    let (ra, _, _) = failure(&a, &b);
    assert_eq!(
        ra,
        "authentication failed: peer certificate rejected: certificate 'CN=b.example' \
         expired 15 days ago (notAfter 2026-01-31 00:00:00 UTC)"
    );
}

#[test]
fn strongswan_expired_certificate_fails_on_the_responder() {
    let (mut a, b) = sw_client_and_gateway();
    present_sw(&mut a, "old.example.org", "sw-misc.key", "sw-expired.crt");
    let mut b = b;
    b.remote_id = Some(a.id.clone());
    assert_refused_by_b(
        &a,
        &b,
        "authentication failed: peer certificate rejected: certificate \
         'C=CH, O=strongSwan Test, CN=old.example.org' expired 2153 days ago \
         (notAfter 2021-01-01 00:00:00 UTC)",
    );
}

#[test]
fn gateway_certificate_without_client_eku_is_refused_by_a_responder_for_clients() {
    // sw-gw.crt has serverAuth only; B expects remote-access clients.
    let (mut a, b) = sw_client_and_gateway();
    present_sw(&mut a, "gw.example.org", "sw-gw.key", "sw-gw.crt");
    let mut b = b;
    b.id = id("vpn.example.org");
    b.remote_id = Some(a.id.clone());
    assert_refused_by_b(
        &a,
        &b,
        "authentication failed: peer certificate rejected: certificate \
         'C=CH, O=strongSwan Test, CN=gw.example.org' has the wrong EKU: has [serverAuth], \
         needs clientAuth or ipsecIKE",
    );
}

#[test]
fn client_certificate_as_gateway_is_refused_by_the_initiator() {
    // A (with the serverAuth gateway certificate, accepted by B) initiates
    // to a responder presenting the clientAuth-only sw-client.crt.
    let (mut a, mut b) = sw_client_and_gateway();
    present_sw(&mut a, "gw.example.org", "sw-gw.key", "sw-gw.crt");
    a.remote_id = Some(id("alice@example.org"));
    present_sw(
        &mut b,
        "alice@example.org",
        "sw-client.key",
        "sw-client.crt",
    );
    b.remote_id = Some(a.id.clone());
    b.verifier = sw_trusting(KeyPurpose::Server);
    let (ra, rb, _) = failure(&a, &b);
    assert_eq!(
        ra,
        "authentication failed: peer certificate rejected: certificate \
         'C=CH, O=strongSwan Test, CN=alice@example.org' has the wrong EKU: has [clientAuth], \
         needs serverAuth or ipsecIKE"
    );
    let _ = rb; // See responder_id_not_in_its_certificate_fails_on_the_initiator.
}

#[test]
fn certificate_revoked_by_a_strongswan_crl_fails() {
    let (mut a, b) = sw_client_and_gateway();
    present_sw(
        &mut a,
        "revoked.example.org",
        "sw-misc.key",
        "sw-revoked.crt",
    );
    // sw-revoked.crt is a serverAuth certificate: B takes any EKU here.
    let mut b = b;
    b.remote_id = Some(a.id.clone());
    b.verifier = sw_trusting(KeyPurpose::Any);
    // Without the CRL the certificate is fine...
    handshake(&a, &b);
    // ...with it, it is revoked.
    let mut s = store(&[&sw_cert("sw-root.crt")]);
    for crl in crls_from_file(&data("sw-int.crl")).unwrap() {
        s.add_crl(crl);
    }
    b.verifier = TrustVerifier::with_options(
        Arc::new(s),
        ValidationOptions::at_unix(0, KeyPurpose::Any),
        at(SW_NOW),
    );
    assert_refused_by_b(
        &a,
        &b,
        "authentication failed: peer certificate rejected: certificate \
         'C=CH, O=strongSwan Test, CN=revoked.example.org' revoked on 2026-02-01 00:00:00 UTC \
         (serial 0a:1b, reason keyCompromise, CRL from C=CH, O=strongSwan Test, \
         CN=SW Intermediate CA)",
    );
}

#[test]
fn certificate_revoked_by_a_crl_issued_here_fails() {
    let (a, mut b, ca) = simple_pair("a.example", "a.example", "b.example", "b.example");
    let a_cert = Certificate::from_der(a.certs[0].clone(), "a").unwrap();
    let crl = ca
        .issue_crl(
            &[(a_cert.serial(), now_unix() - 60)],
            1,
            now_unix() - DAY,
            7,
        )
        .unwrap();
    let mut s = store(&[&ca.cert]);
    s.add_crl(crl);
    b.verifier = TrustVerifier::new(s, KeyPurpose::Any);
    let (ra, rb, _) = failure(&a, &b);
    assert_eq!(ra, A_REJECTED);
    let rb = rb.unwrap();
    assert!(
        rb.starts_with("authentication failed: peer certificate rejected: certificate 'CN=a.example' revoked on "),
        "{rb}"
    );
    assert!(
        rb.ends_with(", reason keyCompromise, CRL from CN=Site Root)"),
        "{rb}"
    );
}

#[test]
fn missing_intermediate_fails() {
    let ca = root("CN=Root", KeyAlgorithm::EcdsaP256);
    let int = sub_ca(&ca, "CN=Issuing CA 7", KeyAlgorithm::EcdsaP256);
    let (ka, kb) = two_keys(KeyAlgorithm::EcdsaP256);
    let (ca_, cb) = gateway_leaves(&int, &ca, &ka, &kb);
    let v = || trusting(&ca, KeyPurpose::Any);
    // A sends only its end entity, and B does not know the intermediate.
    let (a, b) = a_and_b((ka, kb), (RFC7427, RFC7427), (&[&ca_], &[&cb]), v);
    assert_refused_by_b(
        &a,
        &b,
        "authentication failed: peer certificate rejected: no issuer for 'CN=a.example': \
         'CN=Issuing CA 7' is not one of our trust anchors, and the peer sent no \
         intermediate CA certificate",
    );
}

#[test]
fn no_certificate_sent_fails() {
    let (mut a, b, _) = simple_pair("a.example", "a.example", "b.example", "b.example");
    a.certs.clear();
    assert_refused_by_b(
        &a,
        &b,
        "authentication failed: peer certificate rejected: peer a.example sent no certificate \
         (is send_cert disabled on its side?)",
    );
}

#[test]
fn a_valid_certificate_with_a_signature_by_another_key_fails() {
    // The chain is fine, but AUTH was made with a key the certificate does
    // not certify: the verifier's key catches it.
    let (mut a, b, _) = simple_pair("a.example", "a.example", "b.example", "b.example");
    a.signer = signer(generate_key(KeyAlgorithm::EcdsaP256).unwrap(), RFC7427);
    assert_refused_by_b(
        &a,
        &b,
        "authentication failed: AUTH payload of a.example does not verify",
    );
}

#[test]
fn too_deep_a_chain_is_refused() {
    // max_depth from the options reaches the validator.
    let ca = root("CN=Root", KeyAlgorithm::EcdsaP256);
    let int = sub_ca(&ca, "CN=Issuing", KeyAlgorithm::EcdsaP256);
    let (ka, kb) = two_keys(KeyAlgorithm::EcdsaP256);
    let (ca_, cb) = gateway_leaves(&int, &ca, &ka, &kb);
    let mut opts = ValidationOptions::at_unix(0, KeyPurpose::Any);
    assert_eq!(opts.max_depth, DEFAULT_MAX_DEPTH);
    opts.max_depth = 2;
    let strict = TrustVerifier::with_options(Arc::new(store(&[&ca.cert])), opts, WallClock::System);
    let a = side(
        "a.example",
        "b.example",
        ka,
        RFC7427,
        &[&ca_, &int.cert],
        trusting(&ca, KeyPurpose::Any),
    );
    let b = side("b.example", "a.example", kb, RFC7427, &[&cb], strict);
    assert_refused_by_b(
        &a,
        &b,
        "authentication failed: peer certificate rejected: chain of 'CN=a.example' is longer \
         than the maximum depth of 2",
    );
}
