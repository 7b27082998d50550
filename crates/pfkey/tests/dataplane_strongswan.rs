//! Packet-level interop with strongSwan 5.9.8's kernel-libipsec. strongSwan
//! has no manual keying (swanctl.conf has no CHILD_SA key fields, and
//! `ip xfrm` does not reach libipsec's in-process SADB), so the keys come
//! from a real negotiation: two charons bring up a CHILD_SA (PSK, ESP
//! AES-GCM-128 in UDP/4500), B's charon logs the CHILD_SA keys (chd level
//! 4) and is killed with SIGKILL (no DELETE reaches A), and `pfkey-espd`
//! takes over B with the same SPIs and keys, installed over PF_KEY. Ping
//! and a TCP transfer with a SHA-256 then cross between strongSwan's
//! userland ESP on A and ours on B, with no plaintext on the veth.
//! Root and charon only; loud SKIPPED otherwise (a failure when CI is set).
#![cfg(target_os = "linux")]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod dataplane_common;

use std::io::{BufRead, BufReader};
use std::time::{Duration, Instant};

use dataplane_common::*;

/// Reads `<what> key => N bytes` and the hex dump lines after it.
fn key_from_log(log: &str, what: &str) -> String {
    let mut lines = log.lines();
    let head = lines
        .find(|l| l.contains(&format!("encryption {what} key =>")))
        .unwrap_or_else(|| panic!("no {what} key in charon log"));
    let n: usize = head
        .split("=>")
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap();
    let mut hex = String::new();
    for l in lines {
        let Some((_, dump)) = l.split_once("] ") else {
            break;
        };
        let mut toks = dump.split_whitespace();
        if !toks.next().is_some_and(|t| t.ends_with(':')) {
            break;
        }
        for t in toks.take(16) {
            if hex.len() == 2 * n {
                break;
            }
            assert!(
                t.len() == 2 && t.chars().all(|c| c.is_ascii_hexdigit()),
                "{l}"
            );
            hex.push_str(&t.to_lowercase());
        }
        if hex.len() == 2 * n {
            return hex;
        }
    }
    panic!("short {what} key dump");
}

/// `SPI 0x…, src S dst D` lines of the CHILD_SA installation.
fn spi_from_log(log: &str, src: &str, dst: &str) -> u32 {
    let l = log
        .lines()
        .find(|l| l.contains(&format!(", src {src} dst {dst}")) && l.contains("SPI 0x"))
        .unwrap_or_else(|| panic!("no SPI {src} -> {dst} in charon log"));
    let hex = l.split("SPI 0x").nth(1).unwrap().split(',').next().unwrap();
    u32::from_str_radix(hex, 16).unwrap()
}

#[test]
fn strongswan_libipsec_and_pfkey_dataplane_exchange_ping_and_tcp() {
    if !can_run("dataplane_strongswan") {
        return;
    }
    if !std::path::Path::new(CHARON).exists() {
        if std::env::var_os("CI").is_some() {
            panic!("dataplane_strongswan: {CHARON} missing and CI is set");
        }
        eprintln!("SKIPPED: dataplane_strongswan: {CHARON} missing");
        return;
    }
    let mut lab = Lab::new("dps");
    let dirs = start_charons(&mut lab, 4).unwrap();
    let log = std::fs::read_to_string(dirs[1].join("charon.log")).unwrap();
    // A initiated: the initiator key protects A → B.
    let keys = Keys {
        alg: "gcm128",
        spi_ab: spi_from_log(&log, WAN_A, WAN_B),
        spi_ba: spi_from_log(&log, WAN_B, WAN_A),
        key_ab: key_from_log(&log, "initiator"),
        key_ba: key_from_log(&log, "responder"),
        auth_ab: String::new(),
        auth_ba: String::new(),
    };
    // B's charon goes away without a word.
    let pid = std::fs::read_to_string(dirs[1].join("run/charon.pid")).unwrap();
    run(&["kill", "-KILL", pid.trim()]);
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let t0 = Instant::now();
    while lab.exec(&b, &["ip", "-o", "link"]).contains("ipsec0") {
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "charon B did not die"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut eb = lab.espd(&b, &keys.args(false, false));
    run(&[
        "ip",
        "-n",
        &b,
        "route",
        "add",
        "10.1.0.0/24",
        "dev",
        "esp0",
        "src",
        LAN_B,
    ]);

    let pcap = lab.dir.join("wan.pcap");
    let cap = start_capture(&mut lab, &b, &pcap);
    let out = lab.exec(
        &a,
        &[
            "ping", "-c", "5", "-i", "0.2", "-W", "3", "-I", LAN_A, LAN_B,
        ],
    );
    assert!(out.contains("5 received"), "ping: {out}");

    let sink = lab.spawn(&b, &["python3", "-c", SINK_PY, LAN_B, "5002"], false, true);
    let mut sink_out = BufReader::new(sink.stdout.take().unwrap());
    let mut line = String::new();
    sink_out.read_line(&mut line).unwrap();
    let n = 2 * 1024 * 1024;
    let sent = lab.exec(
        &a,
        &[
            "python3",
            "-c",
            SOURCE_PY,
            LAN_B,
            "5002",
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
    stop_capture(cap);

    let s = eb.stats();
    eprintln!("pfkey-espd B: {s:?}");
    assert!(s["in_bytes"] >= n && s["out_packets"] > 100, "{s:?}");
    assert_eq!(s["in_drops"], 0, "{s:?}");
    let sas = swanctl(&dirs[0], &["--list-sas"]).unwrap();
    eprintln!("{sas}");
    // strongSwan's inbound SA counted exactly what we sent.
    let line = sas
        .lines()
        .find(|l| l.contains(&format!("in  {:08x},", keys.spi_ba)))
        .unwrap_or_else(|| panic!("no inbound SA {:08x} on A: {sas}", keys.spi_ba));
    let fields: Vec<u64> = line
        .split(',')
        .skip(1)
        .take(2)
        .map(|f| f.split_whitespace().next().unwrap().parse().unwrap())
        .collect();
    assert_eq!(fields, vec![s["out_bytes"], s["out_packets"]], "{line}");
    let c = read_pcap(&pcap, b"PLAINTEXT-MARKER-");
    eprintln!("capture: {c:?}");
    assert!(
        c.esp_in_udp > 100 && c.plaintext == 0 && !c.marker_found,
        "{c:?}"
    );
}
