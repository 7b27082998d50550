//! `ikegw demo` end to end: namespaces, two gateways, ping through ESP,
//! teardown. Needs root, iproute2 and /dev/net/tun; skipped loudly
//! otherwise. The strongSwan variant also needs charon with
//! kernel-libipsec.

// Test helper functions outside #[test] may fail loudly.
#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

const BIN: &str = env!("CARGO_BIN_EXE_ikegw");

fn can_run() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let ip = Command::new("ip").arg("-V").output().is_ok();
    let tun = Path::new("/dev/net/tun").exists();
    if !(root && ip && tun) {
        eprintln!("SKIP: the demo needs root, iproute2 and /dev/net/tun");
    }
    root && ip && tun
}

fn demo(peer: &str) {
    let out = Command::new(BIN)
        .args(["demo", "--count", "3", "--peer", peer])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{text}");
    assert!(text.contains("3 received"), "{text}");
    assert!(
        text.contains("ESP packets through gw-a: 3 out, 3 in"),
        "{text}"
    );
    assert!(text.contains("demo: PASS"), "{text}");
    assert!(text.contains("demo: torn down"), "{text}");
}

#[test]
fn demo_pings_lan_to_lan_through_two_ikegw_gateways() {
    if can_run() {
        demo("ikegw");
    }
}

#[test]
fn demo_pings_lan_to_lan_between_ikegw_and_strongswan() {
    if !can_run() {
        return;
    }
    if !Path::new("/usr/lib/ipsec/charon").exists()
        || Command::new("swanctl").arg("--version").output().is_err()
    {
        eprintln!("SKIP: strongSwan charon/swanctl not installed");
        return;
    }
    demo("strongswan");
}
