//! `start_action = trap` end to end: two `ikegw run --tun` gateways in
//! network namespaces; the responder is passive, the initiator only
//! installs trap policies. A ping from the initiator's LAN raises an
//! ACQUIRE in the initiator's key engine, the daemon negotiates on demand,
//! and the held packet leaves once the SA is in.
//!
//! ```text
//! [lana] 10.1.0.2 -- 10.1.0.1 [gwa] 198.51.100.1 == 198.51.100.2 [gwb] 10.2.0.1 -- 10.2.0.2 [lanb]
//! ```
//! Needs root, iproute2 and /dev/net/tun; skipped loudly otherwise.

// Test helper functions outside #[test] may fail loudly.
#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::panic)]

mod daemon_common;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use daemon_common::{eventually, BIN};

const PSK: &str = "0x00112233445566778899aabbccddeeff";

fn can_run() -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let ip = Command::new("ip").arg("-V").output().is_ok();
    let tun = Path::new("/dev/net/tun").exists();
    if !(root && ip && tun) {
        eprintln!("SKIP: needs root, iproute2 and /dev/net/tun");
    }
    root && ip && tun
}

/// Namespaces and daemons, removed on drop (daemons by PID first).
struct Lab {
    tag: String,
    netns: Vec<String>,
    daemons: Vec<Child>,
}

impl Lab {
    fn ns(&self, n: &str) -> String {
        format!("{}-{n}", self.tag)
    }

    fn sh(args: &[&str]) {
        let out = Command::new(args[0]).args(&args[1..]).output().unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn new() -> Self {
        let mut lab = Self {
            tag: format!("ikt{}", std::process::id() % 100_000),
            netns: Vec::new(),
            daemons: Vec::new(),
        };
        for n in ["gwa", "gwb", "lana", "lanb"] {
            let ns = lab.ns(n);
            Self::sh(&["ip", "netns", "add", &ns]);
            lab.netns.push(ns.clone());
            Self::sh(&["ip", "-n", &ns, "link", "set", "lo", "up"]);
        }
        let (gwa, gwb, lana, lanb) = (lab.ns("gwa"), lab.ns("gwb"), lab.ns("lana"), lab.ns("lanb"));
        for (a, an, b, bn, aa, ba) in [
            (
                &gwa,
                "wan0",
                &gwb,
                "wan0",
                "198.51.100.1/24",
                "198.51.100.2/24",
            ),
            (&gwa, "lan0", &lana, "eth0", "10.1.0.1/16", "10.1.0.2/16"),
            (&gwb, "lan0", &lanb, "eth0", "10.2.0.1/16", "10.2.0.2/16"),
        ] {
            Self::sh(&[
                "ip", "-n", a, "link", "add", an, "type", "veth", "peer", "name", bn, "netns", b,
            ]);
            Self::sh(&["ip", "-n", a, "addr", "add", aa, "dev", an]);
            Self::sh(&["ip", "-n", b, "addr", "add", ba, "dev", bn]);
            Self::sh(&["ip", "-n", a, "link", "set", an, "up"]);
            Self::sh(&["ip", "-n", b, "link", "set", bn, "up"]);
        }
        Self::sh(&[
            "ip", "-n", &lana, "route", "add", "default", "via", "10.1.0.1",
        ]);
        Self::sh(&[
            "ip", "-n", &lanb, "route", "add", "default", "via", "10.2.0.1",
        ]);
        for gw in [&gwa, &gwb] {
            Self::sh(&[
                "ip",
                "netns",
                "exec",
                gw,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ]);
        }
        lab
    }

    fn daemon(&mut self, ns: &str, config: &Path, log: &Path) {
        let child = Command::new("ip")
            .args(["netns", "exec", ns, BIN, "run", "-c"])
            .arg(config)
            .args(["--tun", "ikegw0"])
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap())
            .spawn()
            .unwrap();
        self.daemons.push(child);
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.daemons {
            // SIGTERM first so the daemon removes its routes and SAs.
            let _ = Command::new("kill")
                .args(["-TERM", &c.id().to_string()])
                .status();
        }
        for c in &mut self.daemons {
            let done = eventually(Duration::from_secs(5), || {
                c.try_wait().ok().flatten().is_some()
            });
            if !done {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for ns in &self.netns {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
    }
}

fn config(dir: &Path, side: char, trap: bool) -> std::path::PathBuf {
    let (me, peer, id, pid, lts, rts) = if side == 'a' {
        (
            "198.51.100.1",
            "198.51.100.2",
            "gw-a.example",
            "gw-b.example",
            "10.1.0.0/16",
            "10.2.0.0/16",
        )
    } else {
        (
            "198.51.100.2",
            "198.51.100.1",
            "gw-b.example",
            "gw-a.example",
            "10.2.0.0/16",
            "10.1.0.0/16",
        )
    };
    let start = if trap {
        "start_action = \"trap\"\n"
    } else {
        ""
    };
    let text = format!(
        r#"[daemon]
backend = "userland"
control_socket = "{dir}/{side}.sock"
listen = ["{me}"]
log_level = "debug"

[connections.s2s]
local_addrs = ["{me}"]
remote_addrs = ["{peer}"]
encap = true

[connections.s2s.local]
auth = "psk"
id = "{id}"

[connections.s2s.remote]
auth = "psk"
id = "{pid}"

[connections.s2s.children.lan]
local_ts = ["{lts}"]
remote_ts = ["{rts}"]
{start}
[secrets.ike.s2s]
id = ["gw-a.example", "gw-b.example"]
secret = "{PSK}"
"#,
        dir = dir.display()
    );
    daemon_common::write_config(dir, &side.to_string(), &text)
}

fn status_ok(sock: &Path) -> bool {
    Command::new(BIN)
        .args(["status", "--socket"])
        .arg(sock)
        .output()
        .is_ok_and(|o| o.status.success())
}

fn list(sock: &Path) -> Vec<serde_json::Value> {
    let out = Command::new(BIN)
        .args(["list-sas", "--json", "--socket"])
        .arg(sock)
        .output()
        .unwrap();
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    v["sas"].as_array().cloned().unwrap_or_default()
}

#[test]
fn a_ping_into_a_trap_policy_negotiates_the_tunnel_and_gets_through() {
    if !can_run() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mut lab = Lab::new();
    let (ca, cb) = (
        config(dir.path(), 'a', true),
        config(dir.path(), 'b', false),
    );
    let (la, lb) = (dir.path().join("a.log"), dir.path().join("b.log"));
    let (gwa, gwb, lana) = (lab.ns("gwa"), lab.ns("gwb"), lab.ns("lana"));
    lab.daemon(&gwb, &cb, &lb);
    lab.daemon(&gwa, &ca, &la);
    let (sa, sb) = (dir.path().join("a.sock"), dir.path().join("b.sock"));
    let logs = || {
        format!(
            "--- a ---\n{}\n--- b ---\n{}",
            std::fs::read_to_string(&la).unwrap_or_default(),
            std::fs::read_to_string(&lb).unwrap_or_default()
        )
    };
    let up = eventually(Duration::from_secs(10), || status_ok(&sa) && status_ok(&sb));
    assert!(up, "daemons did not start:\n{}", logs());
    // The trap is in and routes LAN B into the TUN, but nothing was
    // negotiated: no IKE SA exists before the first packet.
    let routed = eventually(Duration::from_secs(5), || {
        Command::new("ip")
            .args(["-n", &gwa, "route", "show", "10.2.0.0/16"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("ikegw0"))
    });
    assert!(routed, "no route for the trap:\n{}", logs());
    std::thread::sleep(Duration::from_millis(500));
    assert!(
        list(&sa).is_empty(),
        "an IKE SA before any traffic:\n{}",
        logs()
    );
    assert!(list(&sb).is_empty());

    let ping = Command::new("ip")
        .args([
            "netns", "exec", &lana, "ping", "-c", "3", "-i", "0.5", "-W", "3", "10.2.0.2",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&ping.stdout).into_owned();
    eprintln!("{text}");
    // The first echo was held behind the ACQUIRE and released with the SA
    // (the second, 0.5 s later, may still race the negotiation).
    assert!(
        text.contains("icmp_seq=1 ") || text.contains("icmp_seq=2 "),
        "{text}\n{}",
        logs()
    );
    let log_a = std::fs::read_to_string(&la).unwrap();
    assert!(
        log_a.contains("ACQUIRE for 198.51.100.2: initiating s2s/lan on demand"),
        "{}",
        logs()
    );
    let a = list(&sa);
    assert_eq!(a.len(), 1, "{a:?}");
    assert_eq!(a[0]["state"], "ESTABLISHED");
    let child = &a[0]["children"][0];
    // Counters come from the data plane: echo requests out, replies in.
    let up = eventually(Duration::from_secs(2), || {
        let a = list(&sa);
        let c = &a[0]["children"][0];
        c["packets_out"].as_u64().unwrap_or(0) >= 2 && c["packets_in"].as_u64().unwrap_or(0) >= 2
    });
    assert!(up, "{child}");
}
