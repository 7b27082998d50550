//! Every IKE message in the strongSwan captures (`tests/vectors/strongswan-*.pcap`,
//! see the README there) parses, and re-emits byte for byte.
//!
//! This test fails when the directory holds no capture, so it cannot pass
//! by finding nothing.
// Test helpers outside #[test] fns may unwrap and index: a failure is the report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::PathBuf;

use ike::capture::udp_datagrams;
use ike::wire::Message;

fn vectors_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

fn captures() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(vectors_dir())
        .expect("tests/vectors exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "pcap" || e == "pcapng"))
        .collect();
    v.sort();
    v
}

#[test]
fn every_strongswan_ike_message_round_trips() {
    let files = captures();
    assert!(
        !files.is_empty(),
        "no pcap in {}: the capture vectors are missing",
        vectors_dir().display()
    );
    let mut total = 0usize;
    for path in &files {
        let bytes = std::fs::read(path).unwrap();
        let datagrams = udp_datagrams(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let mut in_file = 0usize;
        for d in &datagrams {
            let Some(ike) = d.ike_message() else { continue };
            let msg = Message::parse(ike).unwrap_or_else(|e| {
                panic!(
                    "{} packet {}: {e}\n{}",
                    path.display(),
                    d.packet,
                    hex::encode(ike)
                )
            });
            assert_eq!(
                msg.to_vec(),
                ike,
                "{} packet {}: re-emit differs",
                path.display(),
                d.packet
            );
            let mut poisoned = vec![0xa5u8; msg.buffer_len()];
            msg.emit(&mut poisoned).unwrap();
            assert_eq!(
                poisoned,
                ike,
                "{} packet {}: poisoned emit differs",
                path.display(),
                d.packet
            );
            in_file += 1;
        }
        assert!(in_file > 0, "{}: no IKE message found", path.display());
        eprintln!("{}: {in_file} IKE messages", path.display());
        total += in_file;
    }
    eprintln!(
        "{} captures, {total} IKE messages, all byte-identical after re-emit",
        files.len()
    );
}
