//! `ike::wire` throughput: parse, emit and header-view routing of every IKE
//! message in the strongSwan captures and the hand-built vectors. Prints
//! figures; asserts nothing about time (STYLE.md: no timed assertions).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::hint::black_box;
use std::time::Instant;

use ike::capture::udp_datagrams;
use ike::wire::{HeaderPacket, Message};

fn messages() -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "pcap") {
            for d in udp_datagrams(&std::fs::read(&p).unwrap()).unwrap() {
                if let Some(m) = d.ike_message() {
                    out.push(m.to_vec());
                }
            }
        }
    }
    out
}

fn bench(name: &str, iters: u32, bytes: usize, mut f: impl FnMut()) {
    let start = Instant::now();
    for _ in 0..iters {
        f();
    }
    let el = start.elapsed();
    let per = el.as_nanos() as f64 / f64::from(iters);
    let mbps = bytes as f64 * f64::from(iters) / el.as_secs_f64() / 1e6;
    println!("{name:<28} {per:>10.0} ns/iter  {mbps:>8.1} MB/s");
}

fn main() {
    let msgs = messages();
    let total: usize = msgs.iter().map(Vec::len).sum();
    println!("{} messages, {} bytes per pass", msgs.len(), total);
    let parsed: Vec<Message> = msgs.iter().map(|m| Message::parse(m).unwrap()).collect();
    bench("header view (route)", 20_000, total, || {
        for m in &msgs {
            let h = HeaderPacket::new_checked(black_box(&m[..])).unwrap();
            black_box((h.spi_i(), h.spi_r(), h.message_id()));
        }
    });
    bench("Message::parse", 2_000, total, || {
        for m in &msgs {
            black_box(Message::parse(black_box(m)).unwrap());
        }
    });
    let mut buf = vec![0u8; 65_536];
    bench("Message::emit (into buffer)", 2_000, total, || {
        for m in &parsed {
            let n = m.buffer_len();
            m.emit(black_box(&mut buf[..n])).unwrap();
        }
    });
    bench("Message::to_vec", 2_000, total, || {
        for m in &parsed {
            black_box(m.to_vec());
        }
    });
}
