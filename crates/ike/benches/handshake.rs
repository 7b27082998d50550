//! Full IKEv2 handshakes per second (IKE_SA_INIT + IKE_AUTH + the first
//! CHILD_SA, both sides' CPU on one thread), with PSK and with ECDSA P-256
//! signatures (RFC 7427, raw public keys: certificate path validation is
//! the certs crate's and is not counted here), and bytes held per
//! established IKE SA with one CHILD_SA (counted by a global allocator).
//!
//! Run with `cargo bench -p ike --bench handshake`. Prints figures only;
//! there are no timed assertions anywhere (STYLE.md §8).

// The counting allocator needs `unsafe impl GlobalAlloc`; it only forwards
// to the system allocator and keeps two counters.
#![allow(unsafe_code)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicIsize, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ike::crypto::{
    ring_provider, PublicKey, RingSigner, RingVerifier, SecretBytes, SignatureScheme, SystemRandom,
};
use ike::io::{Command, Event, Lifetimes, Mode, Path};
use ike::policy::proposal::parse_list;
use ike::policy::ts::parse_ts;
use ike::sa::{ChildConfig, Endpoint, EndpointConfig, PeerAuth, PeerConfig};
use ike::wire::{Id, IdType, ProtocolId};

struct Counting;

static LIVE: AtomicIsize = AtomicIsize::new(0);
static ALLOCS: AtomicUsize = AtomicUsize::new(0);

// SAFETY: every method forwards to `System` with the caller's arguments
// unchanged, so `System`'s guarantees carry over; the counters are atomics
// and never affect the returned pointers.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LIVE.fetch_add(layout.size() as isize, Ordering::Relaxed);
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        LIVE.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        // SAFETY: `ptr` came from `alloc`/`realloc` above with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LIVE.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        // SAFETY: same contract as our caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn addr(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn fqdn(s: &str) -> Id {
    Id {
        id_type: IdType::ID_FQDN,
        data: s.as_bytes().to_vec(),
    }
}

/// How both sides authenticate in one benchmark run.
#[derive(Clone, Copy)]
enum Auth {
    Psk,
    EcdsaP256,
}

/// A fresh P-256 key pair: the PKCS#8 document and the SEC1 public point.
fn p256_key() -> (Vec<u8>, Vec<u8>) {
    use ring::signature::{EcdsaKeyPair, KeyPair, ECDSA_P256_SHA256_ASN1_SIGNING};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    let pair =
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap();
    (pkcs8.as_ref().to_vec(), pair.public_key().as_ref().to_vec())
}

#[allow(clippy::too_many_arguments)]
fn endpoint(
    local: &str,
    remote: &str,
    me: &str,
    them: &str,
    lts: &str,
    rts: &str,
    auth: Auth,
    own_key: &[u8],
    peer_point: &[u8],
) -> Endpoint {
    let (psk, signer, peer_auth) = match auth {
        Auth::Psk => (
            Some(SecretBytes::from_slice(
                b"a pre-shared key for the benchmark",
            )),
            None,
            PeerAuth::Psk,
        ),
        Auth::EcdsaP256 => {
            let signer: Arc<dyn ike::crypto::Signer> =
                Arc::new(RingSigner::new(own_key, SignatureScheme::EcdsaSha256).unwrap());
            let verifier: Arc<dyn ike::crypto::Verifier> =
                Arc::new(RingVerifier::new(PublicKey::EcP256(peer_point.to_vec())));
            (None, Some(signer), PeerAuth::PublicKey(verifier))
        }
    };
    let cfg = Arc::new(PeerConfig {
        eap_client: None,
        name: me.into(),
        local: addr(&format!("{local}:500")),
        remote: addr(&format!("{remote}:500")),
        local_id: fqdn(me),
        remote_id: Some(fqdn(them)),
        psk,
        signer,
        local_certs: Vec::new(),
        cert_requests: Vec::new(),
        peer_auth,
        ike_rekey_time: None,
        remote_access: Default::default(),
        credentials: None,
        ike_proposals: parse_list(ProtocolId::IKE, "aes256gcm16-prfsha384-x25519").unwrap(),
        children: vec![ChildConfig {
            name: "net".into(),
            esp_proposals: parse_list(ProtocolId::ESP, "aes256gcm16").unwrap(),
            local_ts: vec![parse_ts(lts).unwrap()],
            remote_ts: vec![parse_ts(rts).unwrap()],
            mode: Mode::Tunnel,
            lifetimes: Lifetimes::default(),
        }],
        force_encap: false,
        dpd_delay: Some(Duration::from_secs(30)),
    });
    let mut ec = EndpointConfig::new(vec![cfg], ring_provider());
    // A benchmark is a flood by design; keep cookies and limits out of it.
    ec.cookie_threshold = usize::MAX;
    ec.half_open_limit = usize::MAX;
    Endpoint::new(ec, Box::new(SystemRandom::new()), Instant::now()).unwrap()
}

fn pair(auth: Auth) -> (Endpoint, Endpoint) {
    let (key_a, point_a) = p256_key();
    let (key_b, point_b) = p256_key();
    (
        endpoint(
            "192.0.2.1",
            "198.51.100.1",
            "a.example",
            "b.example",
            "10.1.0.0/16",
            "10.2.0.0/16",
            auth,
            &key_a,
            &point_b,
        ),
        endpoint(
            "198.51.100.1",
            "192.0.2.1",
            "b.example",
            "a.example",
            "10.2.0.0/16",
            "10.1.0.0/16",
            auth,
            &key_b,
            &point_a,
        ),
    )
}

/// One complete handshake over a perfect link; returns the datagrams exchanged.
fn handshake(a: &mut Endpoint, b: &mut Endpoint, now: Instant) -> usize {
    a.handle_command(now, Command::Initiate { peer: 0, child: 0 })
        .unwrap();
    let mut datagrams = 0;
    let mut established = 0;
    loop {
        let mut moved = false;
        while let Some(t) = a.poll_transmit() {
            datagrams += 1;
            moved = true;
            b.handle_datagram(
                now,
                Path {
                    local: t.path.remote,
                    remote: t.path.local,
                },
                &t.bytes,
            );
        }
        while let Some(t) = b.poll_transmit() {
            datagrams += 1;
            moved = true;
            a.handle_datagram(
                now,
                Path {
                    local: t.path.remote,
                    remote: t.path.local,
                },
                &t.bytes,
            );
        }
        for ep in [&mut *a, &mut *b] {
            while ep.poll_kernel().is_some() {}
            while let Some(e) = ep.poll_event() {
                match e {
                    Event::Established { .. } => established += 1,
                    Event::Failed { reason, .. } => panic!("handshake failed: {reason}"),
                    _ => {}
                }
            }
        }
        if !moved {
            break;
        }
    }
    assert_eq!(established, 2, "both sides must establish");
    datagrams
}

/// Handshakes per second over `budget`, both endpoints on this thread.
fn rate(auth: Auth, label: &str, budget: Duration, now: Instant) {
    let (mut a, mut b) = pair(auth);
    for _ in 0..20 {
        handshake(&mut a, &mut b, now);
    }
    let start = Instant::now();
    let mut n = 0u64;
    let mut datagrams = 0usize;
    while start.elapsed() < budget {
        datagrams += handshake(&mut a, &mut b, now);
        n += 1;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "handshake {label}, AES-GCM-256/PRF-SHA384, ESP AES-GCM-256: {:.0} full handshakes/s \
         (both sides' CPU, one thread; {n} handshakes, {:.1} datagrams each)",
        n as f64 / secs,
        datagrams as f64 / n as f64
    );
}

fn main() {
    let now = Instant::now();
    let budget = Duration::from_secs(3);
    rate(Auth::Psk, "PSK+X25519", budget, now);
    rate(Auth::EcdsaP256, "ECDSA-P256+X25519", budget, now);

    // Memory per established IKE SA with one CHILD_SA, per side.
    let m = 1000usize;
    let live0 = live();
    let (mut a, mut b) = pair(Auth::Psk);
    let live1 = live();
    let empty = (live1 - live0) / 2;
    let allocs0 = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..m {
        handshake(&mut a, &mut b, now);
    }
    let allocs = ALLOCS.load(Ordering::Relaxed) - allocs0;
    assert_eq!(a.ike_sa_count(), m);
    let live2 = live();
    drop(a);
    let live3 = live();
    let b_total = live3 - live0;
    let a_total = live2 - live3;
    println!(
        "bytes held per established IKE SA + 1 CHILD_SA: initiator {} B, responder {} B \
         ({m} SAs per side; {:.0} allocations per handshake, both sides)",
        (a_total - empty) / m as isize,
        (b_total - empty) / m as isize,
        allocs as f64 / m as f64
    );
    drop(b);

    // What one driver turn costs the responder with many IKE SAs up: the
    // daemon asks for the next deadline after every datagram and runs the
    // timers when it passes.
    for n in [1_000usize, 10_000] {
        let (mut a, mut b) = pair(Auth::Psk);
        for _ in 0..n {
            handshake(&mut a, &mut b, now);
        }
        let reps = 2000u32;
        let t0 = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(b.poll_timeout());
        }
        let poll = t0.elapsed() / reps;
        let t0 = Instant::now();
        for _ in 0..reps {
            b.handle_timeout(now);
        }
        let tick = t0.elapsed() / reps;
        let t0 = Instant::now();
        let k = 200u32;
        for _ in 0..k {
            handshake(&mut a, &mut b, now);
            std::hint::black_box(b.poll_timeout());
        }
        println!(
            "with {n} IKE SAs up at the responder: poll_timeout {poll:?}, handle_timeout (nothing due) {tick:?}, \
             one more handshake {:?}",
            t0.elapsed() / k
        );
    }
}
