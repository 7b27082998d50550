//! Throughput of the `ike::crypto` primitives the IKE core uses per exchange.
//!
//! Run with `cargo bench -p ike --bench crypto`. Prints figures only; there
//! are no timed assertions anywhere (STYLE.md §8).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use ike::crypto::{
    native_client_provider, open_sk, prf_plus, seal_sk, sk_body_len, EncrId, IntegId, KeMethod,
    PrfId, SystemRandom,
};

/// Runs `f` repeatedly for about `budget` and returns operations per second.
fn rate(budget: Duration, mut f: impl FnMut()) -> f64 {
    // Warm up.
    for _ in 0..10 {
        f();
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < budget {
        f();
        n += 1;
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let budget = Duration::from_millis(
        std::env::var("IKE_BENCH_MS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(1000),
    );
    // Everything ring offers plus the native-client suites (AES-CBC, MODP).
    let provider = native_client_provider();
    let rng = SystemRandom::new();

    for id in [
        KeMethod::CURVE_25519,
        KeMethod::ECP_256,
        KeMethod::ECP_384,
        KeMethod::MODP_2048,
        KeMethod::MODP_3072,
        KeMethod::MODP_4096,
    ] {
        let g = provider.group(id).unwrap();
        let peer = g.start(&rng).unwrap().public_value().to_vec();
        let r = rate(budget, || {
            let kx = g.start(&rng).unwrap();
            black_box(kx.complete(black_box(&peer)).unwrap());
        });
        println!("{:<28} {:>12.0} keygen+agreement/s", format!("{id:?}"), r);
    }

    for id in [PrfId::PRF_HMAC_SHA2_256, PrfId::PRF_HMAC_SHA2_512] {
        let prf = provider.prf(id).unwrap();
        let key = [7u8; 64];
        let len = 255 * prf.output_len();
        let r = rate(budget, || {
            black_box(prf_plus(prf, &key, &[b"Ni", b"Nr", b"SPIi", b"SPIr"], len).unwrap());
        });
        println!(
            "{:<28} {:>12.1} MB/s prf+ ({} bytes per call)",
            format!("{id:?}"),
            r * len as f64 / 1e6,
            len
        );
    }

    for (id, bits) in [
        (EncrId::AES_GCM_16, Some(128)),
        (EncrId::AES_GCM_16, Some(256)),
        (EncrId::CHACHA20_POLY1305, None),
    ] {
        let alg = provider.cipher(id, bits).unwrap();
        let c = alg
            .new_cipher(&vec![5u8; alg.encr_key_len()], None)
            .unwrap();
        let inner = 1024;
        let start = 32;
        let mut msg = vec![0u8; start + sk_body_len(c.as_ref(), inner).unwrap()];
        let iv = [1u8; 8];
        let seal = rate(budget, || {
            seal_sk(c.as_ref(), black_box(&mut msg), start, inner, &iv).unwrap();
        });
        let sealed = msg.clone();
        let open = rate(budget, || {
            msg.copy_from_slice(&sealed);
            black_box(open_sk(c.as_ref(), &mut msg, start).unwrap());
        });
        println!(
            "{:<28} {:>12.0} seal/s  {:>12.0} open/s (1 KiB SK payload)",
            match bits {
                Some(b) => format!("{id:?}-{b}"),
                None => format!("{id:?}"),
            },
            seal,
            open
        );
    }
    // Encrypt-then-MAC: AES-CBC (RFC 3602) with HMAC-SHA2-256-128 over the
    // whole message (RFC 7296 §3.14).
    for bits in [128u16, 256] {
        let alg = provider.cipher(EncrId::AES_CBC, Some(bits)).unwrap();
        let integ = provider.integ(IntegId::AUTH_HMAC_SHA2_256_128).unwrap();
        let c = alg
            .new_cipher(&vec![5u8; alg.encr_key_len()], Some((integ, &[6u8; 32])))
            .unwrap();
        let inner = 1024;
        let start = 32;
        let mut msg = vec![0u8; start + sk_body_len(c.as_ref(), inner).unwrap()];
        let iv = [1u8; 16];
        let seal = rate(budget, || {
            seal_sk(c.as_ref(), black_box(&mut msg), start, inner, &iv).unwrap();
        });
        let sealed = msg.clone();
        let open = rate(budget, || {
            msg.copy_from_slice(&sealed);
            black_box(open_sk(c.as_ref(), &mut msg, start).unwrap());
        });
        println!(
            "{:<28} {:>12.0} seal/s  {:>12.0} open/s (1 KiB SK payload)",
            format!("AES_CBC-{bits}+HMAC_SHA2_256"),
            seal,
            open
        );
    }
}
