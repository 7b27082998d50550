//! `ikegw decode` end to end, on a hand-built pcap (Ethernet; IPv4 and IPv6;
//! UDP 500 and 4500 with the non-ESP marker; an ESP packet, a NAT keepalive
//! and a DNS packet that must be skipped; one malformed IKE message) and on
//! a hex dump (one message per line, then a colon-separated paragraph).
//! The `*.txt` files next to the inputs are the expected text output.
// Test helpers outside #[test] fns may unwrap and index: a failure is the report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::Command;

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn decode(args: &[&str], file: &str) -> (String, i32) {
    let out = Command::new(env!("CARGO_BIN_EXE_ikegw"))
        .arg("decode")
        .args(args)
        .arg(data(file))
        .output()
        .expect("run ikegw");
    (
        String::from_utf8(out.stdout).unwrap(),
        out.status.code().unwrap_or(-1),
    )
}

#[test]
fn decodes_pcap_as_text() {
    let (out, code) = decode(&[], "sample.pcap");
    let expected = std::fs::read_to_string(data("sample.pcap.txt")).unwrap();
    assert_eq!(out, expected);
    // One message is malformed: reported, decoding went on, exit status 1.
    assert_eq!(code, 1);
    assert!(
        out.contains("SA #1 IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519, #2 IKE:AES_CBC_128/")
    );
    assert!(out.contains("#2 192.0.2.1:4500 -> 192.0.2.2:4500 IKE_AUTH request [I] mid=1"));
    assert!(out.contains("error: SA payload: transform.last:") && out.contains("at byte 52"));
    assert!(out.contains("[2001:db8::2]:500"));
    assert!(
        !out.contains("#3 ") && !out.contains("#4 ") && !out.contains("#7 "),
        "ESP, keepalive and DNS are skipped"
    );
}

#[test]
fn decodes_hex_dump_as_text() {
    let (out, code) = decode(&[], "sample.hex");
    let expected = std::fs::read_to_string(data("sample.hex.txt")).unwrap();
    assert_eq!(out, expected);
    assert_eq!(code, 1);
}

#[test]
fn decodes_pcap_as_json_lines() {
    let (out, _) = decode(&["--json"], "sample.pcap");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 4);
    let init = &lines[0];
    assert_eq!(init["packet"], 1);
    assert_eq!(init["src"], "192.0.2.1:500");
    assert_eq!(init["exchange"], "IKE_SA_INIT");
    assert_eq!(init["flags"], "I");
    assert_eq!(init["message_id"], 0);
    assert_eq!(init["spi_i"], "0123456789abcdef");
    assert_eq!(init["spi_r"], "0000000000000000");
    let payloads = init["payloads"].as_array().unwrap();
    assert_eq!(payloads[0]["type"], "SA");
    assert_eq!(
        payloads[0]["proposals"][0]["text"],
        "IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519"
    );
    assert_eq!(
        payloads[0]["proposals"][0]["transforms"][0]["key_length"],
        256
    );
    assert_eq!(payloads[1]["type"], "KE");
    assert_eq!(payloads[1]["method"], "CURVE_25519");
    assert_eq!(payloads[6]["notify_type"], "SIGNATURE_HASH_ALGORITHMS");
    let sk = &lines[1]["payloads"][0];
    assert_eq!(
        (sk["type"].as_str(), sk["next_inner"].as_str()),
        (Some("SK"), Some("IDi"))
    );
    let bad = &lines[2];
    assert_eq!(bad["packet"], 5);
    assert_eq!(bad["offset"], 52);
    assert_eq!(bad["payload"], "SA");
    assert_eq!(bad["field"], "transform.last");
    assert_eq!(bad["notify"], "INVALID_SYNTAX");
    let crit = &lines[3]["payloads"][1];
    assert_eq!(
        (crit["type"].as_str(), crit["critical"].as_bool()),
        (Some("200"), Some(true))
    );
}

#[test]
fn decodes_hex_dump_as_json_lines() {
    let (out, _) = decode(&["--json"], "sample.hex");
    let lines: Vec<serde_json::Value> = out
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["payloads"][0]["type"], "D");
    assert_eq!(lines[0]["payloads"][0]["protocol"], "IKE");
    assert_eq!(
        lines[1]["reason"],
        "header length differs from datagram length"
    );
    assert_eq!(lines[2]["exchange"], "IKE_AUTH");
    assert!(lines[2].get("src").is_none());
}

#[test]
fn decodes_the_strongswan_captures() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../ike/tests/vectors");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "pcap") {
            continue;
        }
        let out = Command::new(env!("CARGO_BIN_EXE_ikegw"))
            .arg("decode")
            .arg(&path)
            .output()
            .unwrap();
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(out.status.success(), "{}: {text}", path.display());
        assert!(text.contains("IKE_SA_INIT request"), "{}", path.display());
        seen += 1;
    }
    assert!(seen > 0);
}

#[test]
fn rejects_missing_file() {
    let out = Command::new(env!("CARGO_BIN_EXE_ikegw"))
        .args(["decode", "/nonexistent/x.pcap"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("/nonexistent/x.pcap"));
}
