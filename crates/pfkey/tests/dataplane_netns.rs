//! The userland engine against itself across two network namespaces: a
//! PF_KEY client in each `pfkey-espd` installs matching tunnel-mode,
//! UDP-encapsulated SAs (GETSPI + UPDATE inbound; ADD outbound, on side A
//! only in answer to the engine's ACQUIRE) and a PF_POLICY tunnel rule;
//! then `ping` and a 4 MiB TCP transfer with a SHA-256 compared cross the
//! tunnel, the ESP counters move, and a capture of the veth holds ESP-in-UDP
//! only, never the plaintext. Root only; loud SKIPPED otherwise (a failure
//! when CI is set).
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod dataplane_common;

use std::io::{BufRead, BufReader};

use dataplane_common::*;

fn ping_and_bulk(tag: &str, alg: &'static str) {
    if !can_run(&format!("dataplane_netns {alg}")) {
        return;
    }
    let mut lab = Lab::new(tag);
    let keys = Keys::new(alg);
    let (mut ea, mut eb) = start_pair(&mut lab, &keys, true);
    let pcap = lab.dir.join("wan.pcap");
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let cap = start_capture(&mut lab, &a, &pcap);

    // The first echo request finds no outbound SA on A: it is queued, A's
    // key manager answers the ACQUIRE with an ADD, and the packet leaves.
    let out = lab.exec(
        &a,
        &[
            "ping", "-c", "5", "-i", "0.2", "-W", "3", "-I", LAN_A, LAN_B,
        ],
    );
    assert!(out.contains("5 received"), "ping: {out}");
    let sa = ea.stats();
    assert_eq!(sa["acquires"], 1, "{sa:?}");
    assert!(sa["queued"] >= 1 && sa["released"] >= 1, "{sa:?}");

    // TCP bulk transfer with a checksum.
    let sink = lab.spawn(&b, &["python3", "-c", SINK_PY, LAN_B, "5001"], false, true);
    let mut sink_out = BufReader::new(sink.stdout.take().unwrap());
    let mut line = String::new();
    sink_out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "listening");
    let n = 4 * 1024 * 1024;
    let sent = lab.exec(
        &a,
        &[
            "python3",
            "-c",
            SOURCE_PY,
            LAN_B,
            "5001",
            &n.to_string(),
            LAN_A,
        ],
    );
    line.clear();
    sink_out.read_line(&mut line).unwrap();
    assert_eq!(
        sent.trim(),
        line.trim(),
        "bytes and SHA-256 sent vs received"
    );
    assert!(sent.starts_with(&format!("{n} ")));

    stop_capture(cap);
    let sa = ea.stats();
    let sb = eb.stats();
    eprintln!("A: {sa:?}\nB: {sb:?}");
    for s in [&sa, &sb] {
        assert!(s["out_bytes"] >= if s == &sa { n } else { 0 }, "{s:?}");
        assert!(s["out_packets"] > 1000 || s == &sb, "{s:?}");
        assert!(s["in_packets"] > 0 && s["delivered"] > 0, "{s:?}");
        assert_eq!(s["in_drops"], 0, "{s:?}");
    }
    assert!(sb["in_bytes"] >= n, "{sb:?}");
    assert_eq!(sb["acquires"], 0);

    let c = read_pcap(&pcap, b"PLAINTEXT-MARKER-");
    eprintln!("capture: {c:?}");
    assert!(c.esp_in_udp > 1000, "{c:?}");
    assert_eq!(c.plaintext, 0, "plaintext TCP/ICMP on the wire: {c:?}");
    assert!(!c.marker_found, "payload marker visible on the wire");
}

#[test]
fn ping_and_tcp_bulk_cross_aes_gcm_128_tunnel() {
    ping_and_bulk("dpg", "gcm128");
}

#[test]
fn ping_and_tcp_bulk_cross_aes_cbc_hmac_sha256_tunnel() {
    ping_and_bulk("dpc", "cbc-sha256");
}
