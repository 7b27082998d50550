//! `ikegw demo`: a site-to-site tunnel on one Linux machine, built from
//! network namespaces (issue #6).
//!
//! ```text
//! [lan-a] 10.1.0.2 -- 10.1.0.1 [gw-a] 198.51.100.1 ==WAN== 198.51.100.2 [gw-b] 10.2.0.1 -- 10.2.0.2 [lan-b]
//! ```
//! gw-a runs `ikegw run --tun ikegw0` (userland backend); gw-b runs another
//! ikegw, or strongSwan's charon with kernel-libipsec (`--peer
//! strongswan`). The demo initiates from gw-a, pings lan-b from lan-a
//! through the tunnel, prints both sides' SAs and the ESP packet counts,
//! and tears everything down, also on Ctrl-C. Only documentation and
//! private address ranges are used, inside namespaces it creates; nothing
//! is routed to the host.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::control::client;
use crate::control::proto::{Request, Response};

/// `ikegw demo`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct DemoArgs {
    /// What runs on the second gateway.
    #[arg(long, value_enum, default_value = "ikegw")]
    pub(crate) peer: Peer,
    /// Pings to send from LAN A to LAN B.
    #[arg(long, default_value_t = 5)]
    pub(crate) count: u32,
}

/// The second gateway.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Peer {
    /// Another ikegw.
    Ikegw,
    /// strongSwan charon (5.9, kernel-libipsec), configured with swanctl.
    Strongswan,
}

/// Why the demo failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DemoError {
    /// A setup command failed.
    #[error("`{cmd}` failed: {why}")]
    Command {
        /// The command line.
        cmd: String,
        /// Its stderr or the spawn error.
        why: String,
    },
    /// A prerequisite is missing.
    #[error("{0}")]
    Missing(String),
    /// The tunnel did not come up.
    #[error("{0}")]
    NoTunnel(String),
    /// Interrupted.
    #[error("interrupted")]
    Interrupted,
}

const CHARON: &str = "/usr/lib/ipsec/charon";
const PSK: &str = "0x00112233445566778899aabbccddeeff";

/// Everything the demo created, removed on drop (by PID and by name).
struct Lab {
    tag: String,
    dir: PathBuf,
    children: Vec<(String, Child)>,
    netns: Vec<String>,
}

impl Lab {
    fn ns(&self, which: &str) -> String {
        format!("{}-{which}", self.tag)
    }

    fn run(&self, args: &[&str]) -> Result<String, DemoError> {
        let out = Command::new(args.first().copied().unwrap_or("true"))
            .args(args.get(1..).unwrap_or(&[]))
            .output()
            .map_err(|e| DemoError::Command {
                cmd: args.join(" "),
                why: e.to_string(),
            })?;
        if !out.status.success() {
            return Err(DemoError::Command {
                cmd: args.join(" "),
                why: String::from_utf8_lossy(&out.stderr).trim().to_string(),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    fn ip(&self, ns: &str, args: &str) -> Result<(), DemoError> {
        let mut v = vec!["ip", "-n", ns];
        v.extend(args.split_whitespace());
        self.run(&v).map(drop)
    }

    fn topology(&mut self) -> Result<(), DemoError> {
        for n in ["gwa", "gwb", "lana", "lanb"] {
            let ns = self.ns(n);
            self.run(&["ip", "netns", "add", &ns])?;
            self.netns.push(ns.clone());
            self.ip(&ns, "link set lo up")?;
        }
        let (gwa, gwb, lana, lanb) = (
            self.ns("gwa"),
            self.ns("gwb"),
            self.ns("lana"),
            self.ns("lanb"),
        );
        // Interface names are created inside the namespaces, so they
        // cannot clash with the host's.
        let pairs = [
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
        ];
        for (a, an, b, bn, aa, ba) in pairs {
            self.run(&[
                "ip", "-n", a, "link", "add", an, "type", "veth", "peer", "name", bn, "netns", b,
            ])?;
            self.ip(a, &format!("addr add {aa} dev {an}"))?;
            self.ip(b, &format!("addr add {ba} dev {bn}"))?;
            self.ip(a, &format!("link set {an} up"))?;
            self.ip(b, &format!("link set {bn} up"))?;
        }
        self.ip(&lana, "route add default via 10.1.0.1")?;
        self.ip(&lanb, "route add default via 10.2.0.1")?;
        for gw in [&gwa, &gwb] {
            // Decrypted packets come in on the TUN device: no rp_filter.
            self.run(&[
                "ip",
                "netns",
                "exec",
                gw,
                "sysctl",
                "-qw",
                "net.ipv4.ip_forward=1",
                "net.ipv4.conf.all.rp_filter=0",
                "net.ipv4.conf.default.rp_filter=0",
            ])?;
        }
        Ok(())
    }

    fn ikegw_config(&self, side: char) -> Result<PathBuf, DemoError> {
        let (me, peer, id, pid, lts, rts) = if side == 'a' {
            (
                "198.51.100.1",
                "198.51.100.2",
                "gw-a.demo.example",
                "gw-b.demo.example",
                "10.1.0.0/16",
                "10.2.0.0/16",
            )
        } else {
            (
                "198.51.100.2",
                "198.51.100.1",
                "gw-b.demo.example",
                "gw-a.demo.example",
                "10.2.0.0/16",
                "10.1.0.0/16",
            )
        };
        let text = format!(
            r#"[daemon]
backend = "userland"
control_socket = "{dir}/{side}.sock"
listen = ["{me}"]

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

[secrets.ike.s2s]
id = ["gw-a.demo.example", "gw-b.demo.example"]
secret = "{PSK}"
"#,
            dir = self.dir.display()
        );
        let path = self.dir.join(format!("{side}.toml"));
        write_private(&path, &text)?;
        Ok(path)
    }

    fn spawn(&mut self, name: &str, args: &[&str], log: &Path) -> Result<(), DemoError> {
        let f = std::fs::File::create(log)
            .map_err(|e| DemoError::Missing(format!("{}: {e}", log.display())))?;
        let child = Command::new(args.first().copied().unwrap_or("true"))
            .args(args.get(1..).unwrap_or(&[]))
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(f)
            .spawn()
            .map_err(|e| DemoError::Command {
                cmd: args.join(" "),
                why: e.to_string(),
            })?;
        self.children.push((name.to_string(), child));
        Ok(())
    }

    fn strongswan(&mut self) -> Result<PathBuf, DemoError> {
        if !Path::new(CHARON).exists() {
            return Err(DemoError::Missing(format!(
                "{CHARON} not found; install strongswan-charon, strongswan-swanctl and libcharon-extra-plugins (kernel-libipsec)"
            )));
        }
        let s = self.dir.join("ss");
        let run = s.join("run");
        std::fs::create_dir_all(&run).map_err(|e| DemoError::Missing(e.to_string()))?;
        let conf = s.join("strongswan.conf");
        // Explicit plugin list with kernel-libipsec before kernel-netlink
        // (the first IPsec backend registered wins; this kernel has no
        // ESP); no resolve/updown, which would touch host files.
        let sc = format!(
            "charon {{\n  load = random nonce openssl pem pkcs1 pkcs8 x509 pubkey revocation constraints curve25519 aes gcm sha1 sha2 hmac kdf kernel-libipsec kernel-netlink socket-default vici attr counters\n  install_routes = yes\n  filelog {{\n    charon {{\n      path = {log}\n      time_format = %H:%M:%S\n      default = 1\n      ike = 2\n      flush_line = yes\n    }}\n    stderr {{\n      default = 0\n    }}\n  }}\n  syslog {{\n    daemon {{\n      default = -1\n    }}\n  }}\n  plugins {{\n    vici {{\n      socket = unix://{vici}\n    }}\n  }}\n}}\nswanctl {{\n  socket = unix://{vici}\n}}\n",
            log = s.join("charon.log").display(),
            vici = s.join("charon.vici").display()
        );
        write_private(&conf, &sc)?;
        let swanctl = format!(
            "connections {{\n  s2s {{\n    version = 2\n    local_addrs = 198.51.100.2\n    remote_addrs = 198.51.100.1\n    proposals = aes256gcm16-prfsha384-x25519\n    encap = yes\n    mobike = no\n    local {{\n      auth = psk\n      id = gw-b.demo.example\n    }}\n    remote {{\n      auth = psk\n      id = gw-a.demo.example\n    }}\n    children {{\n      lan {{\n        local_ts = 10.2.0.0/16\n        remote_ts = 10.1.0.0/16\n        esp_proposals = aes256gcm16\n      }}\n    }}\n  }}\n}}\nsecrets {{\n  ike-s2s {{\n    id-a = gw-a.demo.example\n    id-b = gw-b.demo.example\n    secret = {PSK}\n  }}\n}}\n"
        );
        let swanctl_conf = s.join("swanctl.conf");
        write_private(&swanctl_conf, &swanctl)?;
        // A private /run per charon (its pid file and TUN state).
        let gwb = self.ns("gwb");
        let script = format!(
            "mount --bind {} /run && exec env STRONGSWAN_CONF={} {CHARON}",
            run.display(),
            conf.display()
        );
        self.spawn(
            "charon",
            &[
                "ip",
                "netns",
                "exec",
                &gwb,
                "unshare",
                "-m",
                "--propagation",
                "private",
                "sh",
                "-c",
                &script,
            ],
            &s.join("daemon.log"),
        )?;
        let vici = s.join("charon.vici");
        if !wait_for(Duration::from_secs(10), || vici.exists()) {
            return Err(DemoError::NoTunnel(
                "charon did not open its vici socket".into(),
            ));
        }
        let out = Command::new("swanctl")
            .env("STRONGSWAN_CONF", &conf)
            .args(["--load-all", "--noprompt", "--file"])
            .arg(&swanctl_conf)
            .output()
            .map_err(|e| DemoError::Missing(format!("swanctl: {e}")))?;
        if !out.status.success() {
            return Err(DemoError::Command {
                cmd: "swanctl --load-all".into(),
                why: String::from_utf8_lossy(&out.stdout).into_owned(),
            });
        }
        Ok(conf)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for (_, c) in &self.children {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(c.id().to_string())
                .status();
        }
        let t0 = Instant::now();
        for (name, c) in &mut self.children {
            while t0.elapsed() < Duration::from_secs(5) {
                if c.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            if c.try_wait().ok().flatten().is_none() {
                eprintln!("demo: {name} did not stop, killing it");
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        for ns in self.netns.iter().rev() {
            let _ = Command::new("ip").args(["netns", "del", ns]).status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
        println!("demo: torn down");
    }
}

fn write_private(path: &Path, text: &str) -> Result<(), DemoError> {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text)
        .and_then(|()| std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)))
        .map_err(|e| DemoError::Missing(format!("{}: {e}", path.display())))
}

fn wait_for(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

/// Sets the flag on SIGINT/SIGTERM instead of dying, so the lab is torn down.
fn interrupt_flag() -> Arc<AtomicBool> {
    let flag = Arc::new(AtomicBool::new(false));
    let f = flag.clone();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let Ok(rt) = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        else {
            return;
        };
        rt.block_on(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let (Ok(mut i), Ok(mut t)) = (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) else {
                return;
            };
            let _ = tx.send(());
            tokio::select! {
                _ = i.recv() => {}
                _ = t.recv() => {}
            }
            f.store(true, Ordering::SeqCst);
        });
    });
    let _ = rx.recv_timeout(Duration::from_secs(2));
    flag
}

/// Entry point of `ikegw demo`.
pub(crate) fn run(args: &DemoArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if !cfg!(target_os = "linux") {
        return Err(Box::new(DemoError::Missing(
            "the demo needs Linux network namespaces and TUN".into(),
        )));
    }
    let stop = interrupt_flag();
    let exe = std::env::current_exe()?;
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("ikegw-demo-{pid}"));
    std::fs::create_dir_all(&dir)?;
    let mut lab = Lab {
        tag: format!("ikd{}", pid % 100_000),
        dir,
        children: Vec::new(),
        netns: Vec::new(),
    };
    println!("demo: namespaces {}-{{gwa,gwb,lana,lanb}}, WAN 198.51.100.0/24, LANs 10.1.0.0/16 and 10.2.0.0/16", lab.tag);
    lab.topology()?;
    let exe_s = exe.display().to_string();
    let cfg_a = lab.ikegw_config('a')?;
    let gwa = lab.ns("gwa");
    let log_a = lab.dir.join("a.log");
    lab.spawn(
        "ikegw (gw-a)",
        &[
            "ip",
            "netns",
            "exec",
            &gwa,
            &exe_s,
            "run",
            "-c",
            &cfg_a.display().to_string(),
            "--tun",
            "ikegw0",
        ],
        &log_a,
    )?;
    let ss_conf = match args.peer {
        Peer::Ikegw => {
            let cfg_b = lab.ikegw_config('b')?;
            let gwb = lab.ns("gwb");
            let log_b = lab.dir.join("b.log");
            lab.spawn(
                "ikegw (gw-b)",
                &[
                    "ip",
                    "netns",
                    "exec",
                    &gwb,
                    &exe_s,
                    "run",
                    "-c",
                    &cfg_b.display().to_string(),
                    "--tun",
                    "ikegw0",
                ],
                &log_b,
            )?;
            None
        }
        Peer::Strongswan => Some(lab.strongswan()?),
    };
    let sock_a = lab.dir.join("a.sock");
    let sock_b = lab.dir.join("b.sock");
    let up = |p: &Path| client::request(p, &Request::Status).is_ok();
    if !wait_for(Duration::from_secs(10), || {
        up(&sock_a) && (ss_conf.is_some() || up(&sock_b))
    }) {
        return Err(Box::new(DemoError::NoTunnel(format!(
            "ikegw did not start; its log:\n{}",
            std::fs::read_to_string(&log_a).unwrap_or_default()
        ))));
    }
    if stop.load(Ordering::SeqCst) {
        return Err(Box::new(DemoError::Interrupted));
    }
    println!("demo: gw-a initiates the tunnel");
    match client::request(
        &sock_a,
        &Request::Initiate {
            child: "lan".into(),
        },
    )? {
        Response::Initiated { ike } => println!("demo: IKE SA {ike} initiating"),
        other => {
            return Err(Box::new(DemoError::NoTunnel(format!(
                "initiate: {other:?}"
            ))))
        }
    }
    let installed = || match client::request(&sock_a, &Request::ListSas) {
        Ok(Response::Sas { sas }) => sas.iter().any(|s| !s.children.is_empty()),
        _ => false,
    };
    if !wait_for(Duration::from_secs(15), || {
        installed() || stop.load(Ordering::SeqCst)
    }) || stop.load(Ordering::SeqCst)
    {
        return Err(Box::new(DemoError::NoTunnel(format!(
            "no CHILD SA within 15 s; gw-a log:\n{}",
            std::fs::read_to_string(&log_a).unwrap_or_default()
        ))));
    }
    // The data plane adds the route to LAN B once it has read the SA
    // from the key engine; ping only after that, so no packet is lost.
    let routed = || {
        Command::new("ip")
            .args(["-n", &gwa, "route", "show", "10.2.0.0/16"])
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("ikegw0"))
    };
    if !wait_for(Duration::from_secs(5), routed) {
        return Err(Box::new(DemoError::NoTunnel(
            "the data plane on gw-a did not add the route to 10.2.0.0/16".into(),
        )));
    }
    let lana = lab.ns("lana");
    println!("demo: ping 10.2.0.2 (lan-b) from 10.1.0.2 (lan-a) through the tunnel");
    let mut ping_child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &lana,
            "ping",
            "-c",
            &args.count.to_string(),
            "-i",
            "0.2",
            "-W",
            "2",
            "10.2.0.2",
        ])
        .spawn()?;
    let ping = loop {
        if let Some(st) = ping_child.try_wait()? {
            break st;
        }
        if stop.load(Ordering::SeqCst) {
            let _ = ping_child.kill();
            let _ = ping_child.wait();
            return Err(Box::new(DemoError::Interrupted));
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    println!("\n=== gw-a: ikegw list-sas");
    let common = |sock: &Path| client::Common {
        socket: Some(sock.to_path_buf()),
        config: None,
        json: false,
    };
    client::run(&common(&sock_a), Request::ListSas)?;
    println!(
        "=== gw-b: {}",
        if ss_conf.is_some() {
            "swanctl --list-sas"
        } else {
            "ikegw list-sas"
        }
    );
    match &ss_conf {
        Some(conf) => {
            let _ = Command::new("swanctl")
                .env("STRONGSWAN_CONF", conf)
                .arg("--list-sas")
                .status();
        }
        None => {
            client::run(&common(&sock_b), Request::ListSas)?;
        }
    }
    let (mut pin, mut pout) = (0, 0);
    if let Ok(Response::Sas { sas }) = client::request(&sock_a, &Request::ListSas) {
        for c in sas.iter().flat_map(|s| s.children.iter()) {
            pin += c.packets_in;
            pout += c.packets_out;
        }
    }
    println!("=== ESP packets through gw-a: {pout} out, {pin} in");
    let ok = ping.success() && pin > 0 && pout > 0;
    println!(
        "demo: {}",
        if ok {
            "PASS: LAN-to-LAN traffic went through ESP"
        } else {
            "FAIL"
        }
    );
    drop(lab);
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
