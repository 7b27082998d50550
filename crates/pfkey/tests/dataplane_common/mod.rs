//! Two-namespace lab for the data plane: gateways A and B joined by a veth
//! (198.51.100.1/24 ↔ 198.51.100.2/24), LANs 10.1.0.1/24 and 10.2.0.1/24 on
//! an in-namespace veth pair each, `pfkey-espd` (or anything else) started
//! inside them. Everything is torn down by PID and name in `Drop`, also
//! when a test fails half-way.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

pub const WAN_A: &str = "198.51.100.1";
pub const WAN_B: &str = "198.51.100.2";
pub const LAN_A: &str = "10.1.0.1";
pub const LAN_B: &str = "10.2.0.1";

/// True when the lab can run; prints a loud SKIPPED otherwise, and fails
/// when `CI` is set (CI must not skip silently).
pub fn can_run(what: &str) -> bool {
    let root = euid() == 0;
    let tools = ["ip", "python3", "tcpdump"].iter().all(|t| {
        Command::new("sh")
            .args(["-c", &format!("command -v {t}")])
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success())
    });
    if root && tools && std::path::Path::new("/dev/net/tun").exists() {
        return true;
    }
    let why = if root {
        "ip/python3/tcpdump or /dev/net/tun missing"
    } else {
        "not root"
    };
    if std::env::var_os("CI").is_some() {
        panic!("{what}: cannot run ({why}) and CI is set");
    }
    eprintln!("SKIPPED: {what}: {why}");
    false
}

fn euid() -> u32 {
    // `id -u` avoids an unsafe geteuid() call in test code.
    Command::new("id")
        .arg("-u")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(u32::MAX)
}

pub fn run(args: &[&str]) -> String {
    let out = Command::new(args[0])
        .args(&args[1..])
        .output()
        .expect("spawn");
    assert!(
        out.status.success(),
        "{args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A namespace lab. Drop kills every child by PID, then deletes the
/// namespaces (which removes their veths).
pub struct Lab {
    pub a: String,
    pub b: String,
    pub dir: PathBuf,
    children: Vec<Child>,
    extra_pids: Vec<u32>,
}

impl Lab {
    /// Creates the two gateways. `tag` keeps parallel labs apart.
    pub fn new(tag: &str) -> Self {
        let id = std::process::id() % 100_000;
        let a = format!("{tag}{id}a");
        let b = format!("{tag}{id}b");
        let dir = std::env::temp_dir().join(format!("pfkey-{tag}-{id}"));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let lab = Self {
            a: a.clone(),
            b: b.clone(),
            dir,
            children: Vec::new(),
            extra_pids: Vec::new(),
        };
        for ns in [&a, &b] {
            let _ = Command::new("ip")
                .args(["netns", "del", ns])
                .stderr(Stdio::null())
                .status();
            run(&["ip", "netns", "add", ns]);
            run(&["ip", "-n", ns, "link", "set", "lo", "up"]);
        }
        run(&[
            "ip", "link", "add", "wan0", "netns", &a, "type", "veth", "peer", "name", "wan0",
            "netns", &b,
        ]);
        for (ns, wan, lan) in [(&a, WAN_A, LAN_A), (&b, WAN_B, LAN_B)] {
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{wan}/24"),
                "dev",
                "wan0",
            ]);
            run(&["ip", "-n", ns, "link", "set", "wan0", "up"]);
            // The LAN: an in-namespace veth pair, so the LAN address sits on
            // a regular interface (charon ignores loopback addresses).
            run(&[
                "ip", "-n", ns, "link", "add", "lan0", "type", "veth", "peer", "name", "lan0p",
            ]);
            run(&[
                "ip",
                "-n",
                ns,
                "addr",
                "add",
                &format!("{lan}/24"),
                "dev",
                "lan0",
            ]);
            run(&["ip", "-n", ns, "link", "set", "lan0", "up"]);
            run(&["ip", "-n", ns, "link", "set", "lan0p", "up"]);
        }
        lab
    }

    /// Spawns `cmd` in namespace `ns` (`ip netns exec` execs it, so the
    /// PID is the command's), remembered for Drop.
    pub fn spawn(&mut self, ns: &str, cmd: &[&str], stdin: bool, stdout: bool) -> &mut Child {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(cmd);
        c.stdin(if stdin { Stdio::piped() } else { Stdio::null() });
        c.stdout(if stdout {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        c.stderr(Stdio::inherit());
        let child = c.spawn().expect("spawn in netns");
        self.children.push(child);
        self.children.last_mut().unwrap()
    }

    /// Remembers a PID started elsewhere (e.g. a daemonising charon).
    pub fn adopt_pid(&mut self, pid: u32) {
        self.extra_pids.push(pid);
    }

    pub fn exec(&self, ns: &str, cmd: &[&str]) -> String {
        let mut v = vec!["ip", "netns", "exec", ns];
        v.extend_from_slice(cmd);
        run(&v)
    }

    /// Starts `pfkey-espd` in `ns` and waits for "ready".
    pub fn espd(&mut self, ns: &str, args: &[String]) -> Espd {
        let bin = env!("CARGO_BIN_EXE_pfkey-espd");
        let mut cmd: Vec<&str> = vec![bin];
        cmd.extend(args.iter().map(String::as_str));
        let child = self.spawn(ns, &cmd, true, true);
        let stdin = child.stdin.take().unwrap();
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        stdout.read_line(&mut line).unwrap();
        assert_eq!(line.trim(), "ready", "pfkey-espd in {ns} did not start");
        Espd { stdin, stdout }
    }

    fn kill_pid(pid: u32) {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        for pid in &self.extra_pids {
            Self::kill_pid(*pid);
        }
        for ns in [&self.a, &self.b] {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A running `pfkey-espd`.
pub struct Espd {
    stdin: ChildStdin,
    stdout: BufReader<ChildStdout>,
}

impl Espd {
    /// The counters line as (name, value) pairs.
    pub fn stats(&mut self) -> std::collections::HashMap<String, u64> {
        writeln!(self.stdin, "stats").unwrap();
        loop {
            let mut line = String::new();
            assert!(self.stdout.read_line(&mut line).unwrap() > 0, "espd exited");
            if let Some(rest) = line.strip_prefix("stats ") {
                return rest
                    .split_whitespace()
                    .filter_map(|kv| kv.split_once('='))
                    .map(|(k, v)| (k.to_string(), v.parse().unwrap()))
                    .collect();
            }
        }
    }
}

/// Keys and SPIs of one side, mirrored on the other.
pub struct Keys {
    pub alg: &'static str,
    pub spi_ab: u32,
    pub spi_ba: u32,
    pub key_ab: String,
    pub key_ba: String,
    pub auth_ab: String,
    pub auth_ba: String,
}

impl Keys {
    pub fn new(alg: &'static str) -> Self {
        let (klen, alen) = if alg == "gcm128" { (20, 0) } else { (16, 32) };
        let hexfill = |seed: u8, n: usize| -> String {
            (0..n)
                .map(|i| {
                    format!(
                        "{:02x}",
                        seed.wrapping_mul(31)
                            .wrapping_add(u8::try_from(i).unwrap().wrapping_mul(7))
                    )
                })
                .collect()
        };
        Self {
            alg,
            spi_ab: 0x1000_0a0b,
            spi_ba: 0x2000_0b0a,
            key_ab: hexfill(3, klen),
            key_ba: hexfill(5, klen),
            auth_ab: hexfill(7, alen),
            auth_ba: hexfill(9, alen),
        }
    }

    /// Arguments for side A (`a` = true) or B.
    pub fn args(&self, a: bool, acquire: bool) -> Vec<String> {
        let (local, remote, lnet, rnet) = if a {
            (WAN_A, WAN_B, "10.1.0.0/24", "10.2.0.0/24")
        } else {
            (WAN_B, WAN_A, "10.2.0.0/24", "10.1.0.0/24")
        };
        let (so, si, ko, ki, ao, ai) = if a {
            (
                self.spi_ab,
                self.spi_ba,
                &self.key_ab,
                &self.key_ba,
                &self.auth_ab,
                &self.auth_ba,
            )
        } else {
            (
                self.spi_ba,
                self.spi_ab,
                &self.key_ba,
                &self.key_ab,
                &self.auth_ba,
                &self.auth_ab,
            )
        };
        let mut v: Vec<String> = [
            "--tun",
            "esp0",
            "--mtu",
            "1400",
            "--local",
            local,
            "--remote",
            remote,
            "--local-net",
            lnet,
            "--remote-net",
            rnet,
            "--alg",
            self.alg,
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        v.extend([
            "--spi-out".into(),
            format!("{so:08x}"),
            "--spi-in".into(),
            format!("{si:08x}"),
            "--key-out".into(),
            ko.clone(),
            "--key-in".into(),
            ki.clone(),
        ]);
        if self.alg != "gcm128" {
            v.extend([
                "--auth-out".into(),
                ao.clone(),
                "--auth-in".into(),
                ai.clone(),
            ]);
        }
        if acquire {
            v.push("--acquire".into());
        }
        v
    }
}

/// Brings up both `pfkey-espd`s and the LAN routes through their TUNs.
pub fn start_pair(lab: &mut Lab, keys: &Keys, acquire_on_a: bool) -> (Espd, Espd) {
    let (a, b) = (lab.a.clone(), lab.b.clone());
    let ea = lab.espd(&a, &keys.args(true, acquire_on_a));
    let eb = lab.espd(&b, &keys.args(false, false));
    run(&[
        "ip",
        "-n",
        &a,
        "route",
        "add",
        "10.2.0.0/24",
        "dev",
        "esp0",
        "src",
        LAN_A,
    ]);
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
    (ea, eb)
}

/// Python TCP sink: accepts one connection, prints "<bytes> <sha256>".
pub const SINK_PY: &str = r#"
import socket, hashlib, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(1)
print("listening", flush=True)
c, _ = s.accept(); h = hashlib.sha256(); n = 0
while True:
    d = c.recv(65536)
    if not d: break
    h.update(d); n += len(d)
print(n, h.hexdigest(), flush=True)
"#;

/// Python TCP source: sends `n` bytes carrying a plaintext marker, prints
/// "<bytes> <sha256>".
pub const SOURCE_PY: &str = r#"
import socket, hashlib, sys, random
dst, port, n, bind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
r = random.Random(5); h = hashlib.sha256(); sent = 0
s = socket.create_connection((dst, port), timeout=30, source_address=(bind, 0))
while sent < n:
    chunk = (b"PLAINTEXT-MARKER-" + r.randbytes(4079))[: n - sent]
    s.sendall(chunk); h.update(chunk); sent += len(chunk)
s.shutdown(socket.SHUT_WR); s.recv(1); s.close()
print(sent, h.hexdigest(), flush=True)
"#;

/// Frames in a pcap capture of an Ethernet link, classified.
#[derive(Debug, Default)]
pub struct Capture {
    pub esp_in_udp: u64,
    pub plaintext: u64,
    pub other: u64,
    pub marker_found: bool,
}

pub fn read_pcap(path: &std::path::Path, marker: &[u8]) -> Capture {
    let bytes = std::fs::read(path).unwrap();
    let mut c = Capture {
        marker_found: bytes.windows(marker.len()).any(|w| w == marker),
        ..Capture::default()
    };
    assert!(bytes.len() >= 24, "empty pcap");
    let mut off = 24;
    while off + 16 <= bytes.len() {
        let incl = u32::from_le_bytes(bytes[off + 8..off + 12].try_into().unwrap()) as usize;
        let frame = &bytes[off + 16..(off + 16 + incl).min(bytes.len())];
        off += 16 + incl;
        if frame.len() < 14 + 20 || frame[12..14] != [0x08, 0x00] {
            continue; // ARP, IPv6 neighbour discovery
        }
        let ip = &frame[14..];
        let ihl = usize::from(ip[0] & 0x0f) * 4;
        match ip[9] {
            17 if ip.len() >= ihl + 4
                && (ip[ihl..ihl + 2] == [0x11, 0x94] || ip[ihl + 2..ihl + 4] == [0x11, 0x94]) =>
            {
                c.esp_in_udp += 1
            }
            1 | 6 => c.plaintext += 1,
            _ => c.other += 1,
        }
    }
    c
}

/// tcpdump on `wan0` of `ns` into `file`; returns its PID for SIGINT.
pub fn start_capture(lab: &mut Lab, ns: &str, file: &std::path::Path) -> u32 {
    let f = file.to_str().unwrap().to_string();
    let child = lab.spawn(
        ns,
        &["tcpdump", "-i", "wan0", "-n", "-U", "-s", "0", "-w", &f],
        false,
        false,
    );
    let pid = child.id();
    // Wait until tcpdump has the file open (it writes the header at once).
    let t0 = Instant::now();
    while !file.exists() && t0.elapsed() < Duration::from_secs(5) {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    pid
}

pub fn stop_capture(pid: u32) {
    let _ = Command::new("kill")
        .args(["-INT", &pid.to_string()])
        .status();
    std::thread::sleep(Duration::from_millis(300));
}

pub const CHARON: &str = "/usr/lib/ipsec/charon";
pub const SWANCTL: &str = "/usr/sbin/swanctl";

fn strongswan_conf(dir: &std::path::Path, chd_level: u8) -> String {
    format!(
        r#"charon {{
    load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey aes gcm sha1 sha2 hmac kdf curve25519 kernel-libipsec kernel-netlink socket-default vici
    install_routes = yes
    routing_table = 220
    routing_table_prio = 220
    filelog {{
        charon {{
            path = {d}/charon.log
            flush_line = yes
            default = 1
            chd = {chd_level}
        }}
        stderr {{
            default = -1
        }}
    }}
    syslog {{
        daemon {{
            default = -1
        }}
    }}
    plugins {{
        vici {{
            socket = unix://{d}/charon.vici
        }}
    }}
}}
swanctl {{
    socket = unix://{d}/charon.vici
}}
"#,
        d = dir.display()
    )
}

fn swanctl_conf(local: &str, remote: &str, lnet: &str, rnet: &str, me: &str, peer: &str) -> String {
    format!(
        r#"connections {{
    s2s {{
        version = 2
        local_addrs = {local}
        remote_addrs = {remote}
        proposals = aes128gcm16-prfsha256-x25519
        encap = yes
        local {{
            auth = psk
            id = {me}
        }}
        remote {{
            auth = psk
            id = {peer}
        }}
        children {{
            net {{
                mode = tunnel
                local_ts = {lnet}
                remote_ts = {rnet}
                esp_proposals = aes128gcm16
                start_action = none
            }}
        }}
    }}
}}
secrets {{
    ike-lab {{
        id-a = a.lab.example
        id-b = b.lab.example
        secret = "dataplane-lab-psk-not-secret-0123456789"
    }}
}}
"#
    )
}

/// Starts a charon with kernel-libipsec in each gateway (private /run in a
/// mount namespace of its own; PIDs kept by the lab), loads a PSK
/// site-to-site config (IKE and ESP AES-GCM-128, UDP-encapsulated) and
/// brings the CHILD_SA up from A. `chd_level` 4 makes charon log CHILD_SA
/// keys. Returns the instance directories (A, B).
pub fn start_charons(lab: &mut Lab, chd_level: u8) -> Result<Vec<PathBuf>, String> {
    if !std::path::Path::new(CHARON).exists() || !std::path::Path::new(SWANCTL).exists() {
        return Err(format!("{CHARON} or {SWANCTL} missing"));
    }
    let sides = [
        (
            lab.a.clone(),
            WAN_A,
            WAN_B,
            "10.1.0.0/24",
            "10.2.0.0/24",
            "a.lab.example",
            "b.lab.example",
        ),
        (
            lab.b.clone(),
            WAN_B,
            WAN_A,
            "10.2.0.0/24",
            "10.1.0.0/24",
            "b.lab.example",
            "a.lab.example",
        ),
    ];
    let mut dirs = Vec::new();
    for (ns, local, remote, lnet, rnet, me, peer) in &sides {
        let d = lab.dir.join(format!("ss-{ns}"));
        let run = d.join("run");
        std::fs::create_dir_all(&run).unwrap();
        std::fs::write(d.join("strongswan.conf"), strongswan_conf(&d, chd_level)).unwrap();
        std::fs::write(
            d.join("swanctl.conf"),
            swanctl_conf(local, remote, lnet, rnet, me, peer),
        )
        .unwrap();
        // `exec` keeps the PID charon's, so Drop kills charon itself.
        let script = format!(
            "mount --bind {run} /run && exec env STRONGSWAN_CONF={conf} {CHARON}",
            run = run.display(),
            conf = d.join("strongswan.conf").display()
        );
        lab.spawn(
            ns,
            &[
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
            ],
            false,
            false,
        );
        dirs.push(d);
    }
    for d in &dirs {
        let vici = d.join("charon.vici");
        let t0 = Instant::now();
        while !vici.exists() {
            if t0.elapsed() > Duration::from_secs(15) {
                return Err(format!(
                    "charon did not start; see {}",
                    d.join("charon.log").display()
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        swanctl(
            d,
            &[
                "--load-all",
                "--file",
                d.join("swanctl.conf").to_str().unwrap(),
            ],
        )?;
    }
    swanctl(
        &dirs[0],
        &["--initiate", "--child", "net", "--timeout", "20"],
    )?;
    Ok(dirs)
}

/// Runs swanctl against the instance in `dir`.
pub fn swanctl(dir: &std::path::Path, args: &[&str]) -> Result<String, String> {
    let out = Command::new(SWANCTL)
        .env("STRONGSWAN_CONF", dir.join("strongswan.conf"))
        .args(args)
        .output()
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    if out.status.success() {
        Ok(text)
    } else {
        Err(format!("swanctl {args:?}: {text}"))
    }
}
