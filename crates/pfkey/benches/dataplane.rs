//! End-to-end throughput through the userland data plane between two
//! network namespaces (TCP, iperf3, LAN A → LAN B through TUN + ESP-in-UDP
//! with AES-GCM-128), then the same transfer through two strongSwan 5.9.8
//! charons with kernel-libipsec (PSK, ESP AES-GCM-128), and the ratio.
//! Prints figures; asserts nothing about speed. Needs root, iperf3, and
//! (for the comparison) /usr/lib/ipsec/charon with kernel-libipsec.
//!
//! `cargo bench -p pfkey --bench dataplane`; DATAPLANE_BENCH_SECS sets the
//! iperf3 duration (default 5 s).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[cfg(target_os = "linux")]
#[path = "../tests/dataplane_common/mod.rs"]
mod dataplane_common;

#[cfg(not(target_os = "linux"))]
fn main() {
    eprintln!("SKIPPED: dataplane bench needs Linux");
}

#[cfg(target_os = "linux")]
fn main() {
    linux::main();
}

#[cfg(target_os = "linux")]
mod linux {
    use std::process::Command;
    use std::time::Duration;

    use super::dataplane_common::*;

    fn secs() -> u32 {
        std::env::var("DATAPLANE_BENCH_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(5)
    }

    /// iperf3 LAN A → LAN B; returns received bits per second.
    fn iperf(lab: &mut Lab) -> f64 {
        let b = lab.b.clone();
        let a = lab.a.clone();
        lab.spawn(
            &b,
            &["iperf3", "-s", "-1", "-B", LAN_B, "-p", "5201"],
            false,
            false,
        );
        std::thread::sleep(Duration::from_millis(500));
        let t = secs().to_string();
        let out = lab.exec(
            &a,
            &[
                "iperf3", "-c", LAN_B, "-B", LAN_A, "-p", "5201", "-t", &t, "-J",
            ],
        );
        // "sum_received": { ... "bits_per_second": N ... }
        let i = out.find("\"sum_received\"").expect("iperf3 JSON");
        let rest = &out[i..];
        let j = rest.find("\"bits_per_second\"").unwrap();
        let num: String = rest[j + 17..]
            .chars()
            .skip_while(|c| *c == ':' || c.is_whitespace())
            .take_while(|c| c.is_ascii_digit() || *c == '.' || *c == 'e' || *c == '+')
            .collect();
        num.parse().unwrap()
    }

    fn ours(alg: &'static str) -> Option<(f64, String)> {
        let mut lab = Lab::new("dpbo");
        let keys = Keys::new(alg);
        let (mut ea, mut eb) = start_pair(&mut lab, &keys, false);
        let bps = iperf(&mut lab);
        let sa = ea.stats();
        let sb = eb.stats();
        let info = format!(
            "A sent {} ESP packets ({} payload bytes), B delivered {}, B inbound drops {}",
            sa["out_packets"], sa["out_bytes"], sb["delivered"], sb["in_drops"]
        );
        Some((bps, info))
    }

    fn strongswan() -> Result<(f64, String), String> {
        let mut lab = Lab::new("dpbs");
        let dirs = start_charons(&mut lab, 1)?;
        let bps = iperf(&mut lab);
        let sas = swanctl(&dirs[0], &["--list-sas"]).unwrap_or_default();
        let esp = sas
            .lines()
            .find(|l| l.contains("ESP:"))
            .unwrap_or("")
            .trim()
            .to_string();
        Ok((bps, esp))
    }

    pub(super) fn main() {
        if !can_run("dataplane bench") {
            return;
        }
        let has_iperf = Command::new("sh")
            .args(["-c", "command -v iperf3"])
            .output()
            .is_ok_and(|o| o.status.success());
        if !has_iperf {
            eprintln!("SKIPPED: dataplane bench: iperf3 missing");
            return;
        }
        println!(
            "dataplane end-to-end (TCP, iperf3 {} s, AES-GCM-128, ESP-in-UDP, TUN MTU 1400)",
            secs()
        );
        let Some((o, info)) = ours("gcm128") else {
            return;
        };
        println!("  pfkey data plane   : {:8.1} Mbit/s  ({info})", o / 1e6);
        if let Some((c, info)) = ours("cbc-sha256") {
            println!(
                "  (pfkey, AES-CBC-128 + HMAC-SHA-256: {:8.1} Mbit/s; {info})",
                c / 1e6
            );
        }
        match strongswan() {
            Ok((s, esp)) => {
                println!("  strongSwan libipsec: {:8.1} Mbit/s  ({esp})", s / 1e6);
                println!("  ratio pfkey / strongSwan: {:.2}", o / s);
            }
            Err(e) => println!("  strongSwan libipsec: SKIPPED ({e})"),
        }
    }
}
