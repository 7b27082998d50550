//! ESP throughput per core on 1400-byte inner packets (tunnel mode, IPv4,
//! UDP-encapsulated SA): AES-GCM-128, AES-GCM-256, AES-CBC-128 +
//! HMAC-SHA-256-128. Single thread; prints packets/s and Gbit/s of inner
//! bytes. Run with `cargo bench -p pfkey --bench esp`.

// A measuring tool, not library code: it may panic on setup failure.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::hint::black_box;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use pfkey::esp::{
    EncryptionAlgorithm, EspKey, InboundSa, IntegrityAlgorithm, Mode, NatT, OutboundSa, SaParams,
    Spi,
};

const PACKET_LEN: usize = 1400;
const BATCH: usize = 8192;
const MIN_TIME: Duration = Duration::from_secs(2);

fn params(
    enc: EncryptionAlgorithm,
    integ: Option<IntegrityAlgorithm>,
    local: IpAddr,
    remote: IpAddr,
) -> SaParams {
    SaParams {
        spi: Spi(0x1234_5678),
        encryption: enc,
        encryption_key: EspKey::from_slice(&vec![0x42; enc.key_len()]),
        integrity: integ.map(|i| (i, EspKey::from_slice(&vec![0x17; i.key_len()]))),
        mode: Mode::Tunnel,
        local,
        remote,
        nat_t: Some(NatT {
            local_port: 4500,
            remote_port: 4500,
        }),
        replay_window: 64,
        esn: false,
    }
}

/// A 1400-byte IPv4/UDP packet (checksums are irrelevant to ESP).
fn inner_packet() -> Vec<u8> {
    let mut p = vec![0u8; PACKET_LEN];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(PACKET_LEN as u16).to_be_bytes());
    p[6] = 0x40;
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&[10, 1, 0, 2]);
    p[16..20].copy_from_slice(&[10, 2, 0, 3]);
    p[24..26].copy_from_slice(&((PACKET_LEN - 20) as u16).to_be_bytes());
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = i as u8;
    }
    p
}

fn report(what: &str, packets: u64, elapsed: Duration) {
    let pps = packets as f64 / elapsed.as_secs_f64();
    let gbps = pps * (PACKET_LEN * 8) as f64 / 1e9;
    println!(
        "{what:<40} {:>9.0} pkt/s  {:>6.2} Gbit/s  ({:.0} ns/pkt)",
        pps,
        gbps,
        1e9 / pps
    );
}

fn bench(name: &str, enc: EncryptionAlgorithm, integ: Option<IntegrityAlgorithm>) {
    let rng = ring::rand::SystemRandom::new();
    let a: IpAddr = "192.0.2.1".parse().unwrap();
    let b: IpAddr = "198.51.100.2".parse().unwrap();
    let inner = inner_packet();
    let mut dst = vec![0u8; 2048];

    // Encrypt: one SA, sequence numbers keep counting.
    let mut out = OutboundSa::new(params(enc, integ, a, b), &rng).unwrap();
    for _ in 0..1000 {
        black_box(out.encapsulate(&inner, &mut dst).unwrap());
    }
    let start = Instant::now();
    let mut n = 0u64;
    while start.elapsed() < MIN_TIME {
        for _ in 0..1024 {
            black_box(out.encapsulate(black_box(&inner), &mut dst).unwrap());
        }
        n += 1024;
    }
    report(&format!("{name} encrypt"), n, start.elapsed());

    // Decrypt: a batch of distinct packets per fresh inbound SA, so the
    // replay window sees real in-order traffic.
    let mut out = OutboundSa::new(params(enc, integ, a, b), &rng).unwrap();
    let batch: Vec<Vec<u8>> = (0..BATCH)
        .map(|_| out.encapsulate(&inner, &mut dst).unwrap().to_vec())
        .collect();
    let mut total = Duration::ZERO;
    let mut n = 0u64;
    while total < MIN_TIME {
        let mut inb = InboundSa::new(params(enc, integ, b, a)).unwrap();
        let start = Instant::now();
        for p in &batch {
            black_box(inb.decapsulate(None, black_box(p), &mut dst).unwrap());
        }
        total += start.elapsed();
        n += BATCH as u64;
    }
    report(&format!("{name} decrypt"), n, total);
}

fn main() {
    println!("ESP tunnel mode, {PACKET_LEN}-byte inner IPv4 packets, one core");
    bench("AES-GCM-128", EncryptionAlgorithm::AesGcm16_128, None);
    bench("AES-GCM-256", EncryptionAlgorithm::AesGcm16_256, None);
    bench(
        "AES-CBC-128 + HMAC-SHA-256-128",
        EncryptionAlgorithm::AesCbc128,
        Some(IntegrityAlgorithm::HmacSha256_128),
    );
}
