//! `ikegw provision apply --target linux` for real: the example site is
//! built in network namespaces with a unique prefix, then probed from the
//! WAN namespace. Needs root, `ip`, `nft`, `python3` and `curl`; without
//! them the test prints "SKIPPED: <reason>", and fails instead when `CI`
//! is set.
//!
//! The VPN part: the example plus its IKE side
//! (`examples/home-datacentre-ike.toml`, `[connections.branch]`) makes apply start
//! `ikegw run` in the router namespace; the test adds a branch site on the
//! "Internet" (a gateway namespace running a second ikegw at
//! 198.51.100.20, and a host on its LAN 172.16.1.0/24), brings the PSK
//! tunnel up, and fetches the web zone's page from the branch host through
//! it; the web server must see the branch host's own address. Remote
//! access (the 10.8.0.0/24 pool) is not exercised through a tunnel.

// Test helpers outside #[test] fns may unwrap and index: a failure is the report.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/home-datacentre.toml"
);
const EXAMPLE_IKE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/home-datacentre-ike.toml"
);

/// `[secrets.ike.branch]` of `examples/home-datacentre-ike.toml`; the branch holds the same.
const EXAMPLE_PSK: &str = "0x6578616d706c652d6f6e6c792d7265706c6163652d6d652d706c65617365";

/// The branch gateway's `ikegw run` configuration (the mirror of the
/// example's `[connections.branch]`); its sockets are in `dir`, so it needs
/// no private `/run`.
fn branch_config(dir: &Path) -> String {
    format!(
        r#"[daemon]
backend = "userland"
control_socket = "{d}/branch.sock"
listen = ["198.51.100.20"]
log_level = "debug"

[connections.home]
local_addrs = ["198.51.100.20"]
remote_addrs = ["203.0.113.10"]
encap = true

[connections.home.local]
auth = "psk"
id = "branch.example"

[connections.home.remote]
auth = "psk"
id = "home.example"

[connections.home.children.net]
local_ts = ["172.16.1.0/24"]
remote_ts = ["10.0.0.0/24"]

[secrets.ike.home]
id = ["home.example", "branch.example"]
secret = "{EXAMPLE_PSK}"
"#,
        d = dir.display()
    )
}

/// Writes `text` to `path` with mode 0600 (it holds a PSK).
fn write_secret(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// The PID in the lab's ikegw PID file, when there is one.
fn lab_daemon_pid(prefix: &str) -> Option<u32> {
    std::fs::read_to_string(format!("/run/ikegw-lab/{prefix}/ikegw.pid"))
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Is `pid` a live `ikegw` process?
fn is_ikegw(pid: u32) -> bool {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .map(|c| String::from_utf8_lossy(&c).contains("ikegw"))
        .unwrap_or(false)
}

/// `ikegw ARGS --socket SOCK --json`, parsed (Null when it failed).
fn ctl_json(sock: &Path, args: &[&str]) -> serde_json::Value {
    let o = Command::new(env!("CARGO_BIN_EXE_ikegw"))
        .args(args)
        .arg("--socket")
        .arg(sock)
        .arg("--json")
        .output()
        .unwrap();
    serde_json::from_slice(&o.stdout).unwrap_or(serde_json::Value::Null)
}

/// An ESTABLISHED IKE SA with one CHILD SA in `list-sas`.
fn tunnel_up(sock: &Path) -> bool {
    let v = ctl_json(sock, &["list-sas"]);
    v["sas"].as_array().is_some_and(|sas| {
        sas.iter().any(|sa| {
            sa["state"] == "ESTABLISHED" && sa["children"].as_array().is_some_and(|c| c.len() == 1)
        })
    })
}

/// Polls `f` for up to `secs` seconds.
fn eventually(secs: u64, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + Duration::from_secs(secs);
    while Instant::now() < end {
        if f() {
            return true;
        }
        sleep(Duration::from_millis(200));
    }
    false
}

/// Runs `argv`, which must succeed.
fn must(argv: &[&str]) {
    let ok = Command::new(argv[0])
        .args(&argv[1..])
        .status()
        .unwrap()
        .success();
    assert!(ok, "{argv:?} failed");
}

fn ikegw(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ikegw"))
        .args(args)
        .output()
        .unwrap()
}

fn missing_prerequisite() -> Option<String> {
    // SAFETY-free root check: /proc/self/status reports the effective uid.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid_root = status
        .lines()
        .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
    if !euid_root {
        return Some("not root (network namespaces need CAP_SYS_ADMIN)".into());
    }
    for (tool, arg) in [
        ("ip", "-V"),
        ("nft", "--version"),
        ("python3", "--version"),
        ("curl", "--version"),
    ] {
        if Command::new(tool)
            .arg(arg)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_err()
        {
            return Some(format!("`{tool}` is not installed"));
        }
    }
    None
}

/// Skips loudly, or fails under CI.
fn skip_or_fail(reason: &str) {
    if std::env::var_os("CI").is_some() {
        panic!("provision_linux prerequisite missing under CI: {reason}");
    }
    eprintln!("\n*** SKIPPED: {reason} ***\n");
}

/// The lab, torn down in Drop even when an assertion failed.
struct Lab {
    prefix: String,
    config: PathBuf,
    children: Vec<Child>,
    dir: PathBuf,
}

impl Lab {
    fn args<'a>(&'a self, action: &'a str) -> Vec<&'a str> {
        vec![
            "provision",
            action,
            "--target",
            "linux",
            "--config",
            self.config.to_str().unwrap(),
            "--lab-prefix",
            &self.prefix,
        ]
    }

    fn ns(&self, what: &str) -> String {
        format!("{}-{what}", self.prefix)
    }

    /// Start `argv` inside namespace `what`; killed by PID in Drop.
    fn spawn(&mut self, what: &str, argv: &[&str], log: &Path) -> u32 {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.ns(what)]).args(argv);
        c.stdout(Stdio::null())
            .stderr(std::fs::File::create(log).unwrap());
        let child = c.spawn().unwrap();
        let pid = child.id();
        self.children.push(child);
        pid
    }

    /// curl from namespace `what`; returns (exit code, body).
    fn curl(&self, what: &str, url: &str, timeout_s: &str) -> (i32, String) {
        let o = Command::new("ip")
            .args([
                "netns",
                "exec",
                &self.ns(what),
                "curl",
                "-s",
                "-m",
                timeout_s,
                url,
            ])
            .output()
            .unwrap();
        (
            o.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    }

    /// `ip -n <prefix>-wan ARGS`, which must succeed.
    fn ip_wan(&self, args: &[&str]) {
        let ok = Command::new("ip")
            .args(["-n", &self.ns("wan")])
            .args(args)
            .status()
            .unwrap()
            .success();
        assert!(ok, "ip -n {} {args:?} failed", self.ns("wan"));
    }

    /// Retry `curl` until it returns 0 or `deadline` passes (servers start slowly).
    fn curl_until_ok(&self, what: &str, url: &str) -> (i32, String) {
        let end = Instant::now() + Duration::from_secs(15);
        loop {
            let r = self.curl(what, url, "2");
            if r.0 == 0 || Instant::now() > end {
                return r;
            }
            sleep(Duration::from_millis(300));
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let _ = ikegw(&self.args("teardown"));
        // Belt and braces: the lab's daemon by its PID, and our unique
        // namespaces by name, if teardown failed.
        if let Some(pid) = lab_daemon_pid(&self.prefix).filter(|p| is_ikegw(*p)) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
        let _ = std::fs::remove_dir_all(format!("/run/ikegw-lab/{}", self.prefix));
        // The parent only when empty (another lab may be using it).
        let _ = std::fs::remove_dir("/run/ikegw-lab");
        for what in [
            "wan", "stub", "router", "web", "game", "global", "bgw", "bhost",
        ] {
            let _ = Command::new("ip")
                .args(["netns", "delete", &self.ns(what)])
                .stderr(Stdio::null())
                .status();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

#[test]
fn linux_lab_realises_the_example_site() {
    if let Some(reason) = missing_prerequisite() {
        skip_or_fail(&reason);
        return;
    }
    let prefix = format!("ikt{:x}", std::process::id() % 0xfffff);
    let dir = std::env::temp_dir().join(format!("ikegw-provision-{prefix}"));
    std::fs::create_dir_all(dir.join("www")).unwrap();
    let token = format!("hello from the web zone {prefix}");
    std::fs::write(dir.join("www/index.html"), &token).unwrap();
    // The example with its IKE side appended, as its comments say; mode
    // 0600 because it holds the branch PSK.
    let config = dir.join("home.toml");
    write_secret(
        &config,
        &(std::fs::read_to_string(EXAMPLE).unwrap()
            + &std::fs::read_to_string(EXAMPLE_IKE).unwrap()),
    );
    let mut lab = Lab {
        prefix,
        config,
        children: Vec::new(),
        dir: dir.clone(),
    };

    // apply builds everything; a second apply changes nothing.
    let o = ikegw(&lab.args("apply"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success(),
        "apply failed: {out}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(out.contains("step(s) run, 0 already in place"), "{out}");
    let o = ikegw(&lab.args("apply"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("apply: 0 step(s) run"),
        "second apply is not a no-op: {out}"
    );
    let o = ikegw(&lab.args("status"));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        o.status.success() && out.contains("site is complete") && !out.contains("MISSING"),
        "{out}"
    );
    // The daemon runs in the router namespace, its PID recorded by apply.
    assert!(
        out.lines()
            .any(|l| l.starts_with("present") && l.contains("ikegw run --tun ikegw0")),
        "{out}"
    );
    let router_pid = lab_daemon_pid(&lab.prefix).expect("no PID file after apply");
    assert!(is_ikegw(router_pid), "PID {router_pid} is not ikegw");
    let router_ns = std::fs::read_link(format!("/proc/{router_pid}/ns/net")).unwrap();
    let router_ns_want = std::fs::metadata(format!("/run/netns/{}", lab.ns("router"))).unwrap();
    assert_eq!(
        router_ns.to_string_lossy(),
        format!(
            "net:[{}]",
            std::os::unix::fs::MetadataExt::ino(&router_ns_want)
        ),
        "ikegw does not run in the router namespace"
    );
    let router_sock = PathBuf::from(format!("/run/ikegw-lab/{}/ikegw.sock", lab.prefix));
    assert!(
        eventually(10, || ctl_json(&router_sock, &["status"]).is_object()),
        "the router's ikegw does not answer on {}: {}",
        router_sock.display(),
        std::fs::read_to_string(format!("/run/ikegw-lab/{}/ikegw.log", lab.prefix))
            .unwrap_or_default()
    );

    // The web zone serves a page; the game zone and the router listen on
    // ports that are NOT redirected, to prove the firewall drops them.
    let www = dir.join("www");
    lab.spawn(
        "web",
        &[
            "python3",
            "-m",
            "http.server",
            "80",
            "--bind",
            "10.0.0.10",
            "--directory",
            www.to_str().unwrap(),
        ],
        &dir.join("web.log"),
    );
    lab.spawn(
        "web",
        &[
            "python3",
            "-m",
            "http.server",
            "8080",
            "--bind",
            "10.0.0.10",
            "--directory",
            www.to_str().unwrap(),
        ],
        &dir.join("web8080.log"),
    );
    lab.spawn(
        "router",
        &[
            "python3",
            "-m",
            "http.server",
            "8081",
            "--bind",
            "0.0.0.0",
            "--directory",
            www.to_str().unwrap(),
        ],
        &dir.join("router.log"),
    );
    // An "Internet" server in the WAN namespace logs who connects.
    let wan_log = dir.join("wan.log");
    lab.spawn(
        "wan",
        &[
            "python3",
            "-m",
            "http.server",
            "8000",
            "--bind",
            "203.0.113.1",
            "--directory",
            www.to_str().unwrap(),
        ],
        &wan_log,
    );

    // 1. tcp/80 on the router's WAN address reaches the web zone (rdr/dnat).
    let (code, body) = lab.curl_until_ok("wan", "http://203.0.113.10/");
    assert_eq!(
        (code, body.as_str()),
        (0, token.as_str()),
        "tcp/80 from the WAN did not reach the web zone"
    );

    // The servers inside are up (checked from the LAN side, where nothing is filtered).
    assert_eq!(
        lab.curl_until_ok("router", "http://10.0.0.10:8080/").0,
        0,
        "web:8080 did not start"
    );
    assert_eq!(
        lab.curl_until_ok("router", "http://127.0.0.1:8081/").0,
        0,
        "router:8081 did not start"
    );

    // 2. The LAN reaches the WAN through NAT: the Internet server sees the router's WAN address.
    let (code, body) = lab.curl_until_ok("web", "http://203.0.113.1:8000/");
    assert_eq!(
        (code, body.as_str()),
        (0, token.as_str()),
        "the web zone cannot reach the WAN"
    );
    let log = std::fs::read_to_string(&wan_log).unwrap();
    assert!(
        log.contains("203.0.113.10 - -"),
        "the WAN saw a source other than the router's address: {log}"
    );
    assert!(
        !log.contains("10.0.0.10 - -"),
        "LAN address leaked to the WAN: {log}"
    );

    // 3. The game redirect (tcp/udp 27015): its TCP side reaches the game zone.
    lab.spawn(
        "game",
        &[
            "python3",
            "-m",
            "http.server",
            "27015",
            "--bind",
            "10.0.0.20",
            "--directory",
            www.to_str().unwrap(),
        ],
        &dir.join("game.log"),
    );
    let (code, body) = lab.curl_until_ok("wan", "http://203.0.113.10:27015/");
    assert_eq!(
        (code, body.as_str()),
        (0, token.as_str()),
        "tcp/27015 from the WAN did not reach the game zone"
    );

    // Its UDP side too: an echo server in the game zone answers a datagram
    // sent to the WAN address, and sees the client's real address (rdr/dnat
    // rewrites only the destination).
    let echo = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.bind(('10.0.0.20', 27015))\nwhile True:\n    d, a = s.recvfrom(2048)\n    s.sendto(d + b' from ' + a[0].encode(), a)\n";
    lab.spawn("game", &["python3", "-c", echo], &dir.join("echo.log"));
    let client = "import socket\ns = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\ns.settimeout(0.5)\nfor _ in range(30):\n    s.sendto(b'ping', ('203.0.113.10', 27015))\n    try:\n        print(s.recv(2048).decode()); break\n    except OSError:\n        pass\n";
    let o = Command::new("ip")
        .args(["netns", "exec", &lab.ns("wan"), "python3", "-c", client])
        .output()
        .unwrap();
    let reply = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        reply.trim(),
        "ping from 203.0.113.1",
        "udp/27015 from the WAN: {reply}"
    );

    // 4. Unsolicited inbound to other ports is dropped (a timeout, not a refusal):
    // to the router itself, and forwarded straight at a LAN address.
    let (code, _) = lab.curl("wan", "http://203.0.113.10:8081/", "3");
    assert_eq!(
        code, 28,
        "router:8081 answered from the WAN (curl exit {code}; 28 = timeout)"
    );
    lab.ip_wan(&["route", "add", "10.0.0.0/24", "via", "203.0.113.10"]);
    let (code, _) = lab.curl("wan", "http://10.0.0.10:8080/", "3");
    assert_eq!(
        code, 28,
        "web:8080 answered from the WAN (curl exit {code}; 28 = timeout)"
    );
    let (code, _) = lab.curl("wan", "http://10.0.0.10:80/", "3");
    assert_eq!(
        code, 28,
        "a LAN address was reachable from the WAN without a redirect (curl exit {code})"
    );

    // 5. Traffic to a VPN subnet never leaves the WAN in clear: a host
    // standing in for a remote-access client (10.8.0.1, in the pool) behind
    // the WAN, with no tunnel up, is not reached. (Through the tunnel, the
    // branch below sees the web zone's own address: routed, not NATed.)
    lab.ip_wan(&["addr", "add", "10.8.0.1/32", "dev", "lo"]);
    let pool_log = dir.join("pool.log");
    lab.spawn(
        "wan",
        &[
            "python3",
            "-m",
            "http.server",
            "8001",
            "--bind",
            "10.8.0.1",
            "--directory",
            www.to_str().unwrap(),
        ],
        &pool_log,
    );
    // The server answers on the WAN side itself (the control), and the
    // router's default route leads to it: only the rule stops it.
    let (code, body) = lab.curl_until_ok("wan", "http://10.8.0.1:8001/");
    assert_eq!((code, body.as_str()), (0, token.as_str()));
    let (code, _) = lab.curl("web", "http://10.8.0.1:8001/", "3");
    assert_eq!(
        code, 28,
        "cleartext to the VPN pool left the WAN (curl exit {code}; 28 = timeout)"
    );
    let log = std::fs::read_to_string(&pool_log).unwrap();
    assert!(!log.contains("10.0.0.10 - -"), "{log}");
    assert!(!log.contains("203.0.113.10 - -"), "{log}");

    // 6. A branch site on the Internet: gateway namespace `bgw` running a
    // second ikegw at 198.51.100.20, host `bhost` on its LAN 172.16.1.0/24.
    // The WAN namespace routes between the two "Internet" subnets.
    let (wan, bgw, bhost) = (lab.ns("wan"), lab.ns("bgw"), lab.ns("bhost"));
    for n in [&bgw, &bhost] {
        must(&["ip", "netns", "add", n]);
        must(&["ip", "-n", n, "link", "set", "lo", "up"]);
    }
    must(&[
        "ip",
        "netns",
        "exec",
        &wan,
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.ip_forward=1",
    ]);
    must(&[
        "ip", "-n", &wan, "link", "add", "bup", "type", "veth", "peer", "name", "bwan", "netns",
        &bgw,
    ]);
    must(&[
        "ip",
        "-n",
        &wan,
        "addr",
        "add",
        "198.51.100.1/24",
        "dev",
        "bup",
    ]);
    must(&["ip", "-n", &wan, "link", "set", "bup", "up"]);
    must(&[
        "ip",
        "-n",
        &bgw,
        "addr",
        "add",
        "198.51.100.20/24",
        "dev",
        "bwan",
    ]);
    must(&["ip", "-n", &bgw, "link", "set", "bwan", "up"]);
    must(&[
        "ip",
        "-n",
        &bgw,
        "route",
        "add",
        "default",
        "via",
        "198.51.100.1",
    ]);
    must(&[
        "ip", "-n", &bgw, "link", "add", "blan", "type", "veth", "peer", "name", "eth0", "netns",
        &bhost,
    ]);
    must(&[
        "ip",
        "-n",
        &bgw,
        "addr",
        "add",
        "172.16.1.1/24",
        "dev",
        "blan",
    ]);
    must(&["ip", "-n", &bgw, "link", "set", "blan", "up"]);
    must(&[
        "ip",
        "netns",
        "exec",
        &bgw,
        "sysctl",
        "-q",
        "-w",
        "net.ipv4.ip_forward=1",
    ]);
    must(&[
        "ip",
        "-n",
        &bhost,
        "addr",
        "add",
        "172.16.1.10/24",
        "dev",
        "eth0",
    ]);
    must(&["ip", "-n", &bhost, "link", "set", "eth0", "up"]);
    must(&[
        "ip",
        "-n",
        &bhost,
        "route",
        "add",
        "default",
        "via",
        "172.16.1.1",
    ]);
    let branch_conf = dir.join("branch.toml");
    write_secret(&branch_conf, &branch_config(&dir));
    let branch_log = dir.join("branch.log");
    lab.spawn(
        "bgw",
        &[
            "env",
            "NO_COLOR=1",
            env!("CARGO_BIN_EXE_ikegw"),
            "run",
            "-c",
            branch_conf.to_str().unwrap(),
            "--tun",
            "ikegw0",
        ],
        &branch_log,
    );
    let branch_sock = dir.join("branch.sock");
    let logs = || {
        format!(
            "--- branch ---\n{}\n--- router ---\n{}",
            std::fs::read_to_string(&branch_log).unwrap_or_default(),
            std::fs::read_to_string(format!("/run/ikegw-lab/{}/ikegw.log", lab.prefix))
                .unwrap_or_default()
        )
    };
    assert!(
        eventually(10, || ctl_json(&branch_sock, &["status"]).is_object()),
        "the branch ikegw did not start:\n{}",
        logs()
    );
    let r = ctl_json(&branch_sock, &["initiate", "--child", "net"]);
    assert!(r.is_object(), "initiate failed: {r}\n{}", logs());
    assert!(
        eventually(15, || tunnel_up(&branch_sock) && tunnel_up(&router_sock)),
        "no tunnel between the branch and the router:\n{}",
        logs()
    );

    // The branch host fetches the web zone's page through the tunnel, and
    // the web server sees its real address: routed, not NATed.
    let (code, body) = lab.curl_until_ok("bhost", "http://10.0.0.10/");
    assert_eq!(
        (code, body.as_str()),
        (0, token.as_str()),
        "the branch host cannot reach the web zone through the tunnel:\n{}",
        logs()
    );
    let log = std::fs::read_to_string(dir.join("web.log")).unwrap();
    assert!(
        log.contains("172.16.1.10 - -"),
        "the web zone did not see the branch host's address: {log}"
    );
    // It really went through ESP: the router's CHILD SA for the branch's
    // LAN decrypted and encrypted packets (without the tunnel, the WAN's
    // route to 10.0.0.0/24 would meet the router's forward drop instead).
    let sas = ctl_json(&router_sock, &["list-sas"]);
    let child = &sas["sas"][0]["children"][0];
    assert_eq!(child["remote_ts"][0], "172.16.1.0/24", "{sas}");
    for k in ["packets_in", "packets_out"] {
        assert!(child[k].as_u64().unwrap_or(0) > 0, "{k} is 0: {sas}");
    }

    // Teardown removes every namespace; status then reports the site missing.
    for c in &mut lab.children {
        let _ = c.kill();
        let _ = c.wait();
    }
    lab.children.clear();
    let o = ikegw(&lab.args("teardown"));
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    // The daemon was stopped by its PID, and its PID file removed.
    assert!(
        eventually(5, || !is_ikegw(router_pid)),
        "ikegw {router_pid} survived teardown"
    );
    assert_eq!(lab_daemon_pid(&lab.prefix), None);
    for n in [&bgw, &bhost] {
        let _ = Command::new("ip").args(["netns", "delete", n]).status();
    }
    let list = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(
        !list.contains(&lab.prefix),
        "namespaces left after teardown: {list}"
    );
    let o = ikegw(&lab.args("status"));
    assert_eq!(
        o.status.code(),
        Some(3),
        "status after teardown: {}",
        String::from_utf8_lossy(&o.stdout)
    );
}

#[test]
fn linux_lab_refuses_a_namespace_it_did_not_create() {
    if let Some(reason) = missing_prerequisite() {
        skip_or_fail(&reason);
        return;
    }
    let prefix = format!("ikf{:x}", std::process::id() % 0xfffff);
    let foreign = format!("{prefix}-web");
    assert!(Command::new("ip")
        .args(["netns", "add", &foreign])
        .status()
        .unwrap()
        .success());
    let lab = Lab {
        prefix,
        config: PathBuf::from(EXAMPLE),
        children: Vec::new(),
        dir: std::env::temp_dir().join("ikegw-provision-unused"),
    };
    for action in ["apply", "teardown"] {
        let o = ikegw(&lab.args(action));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && err.contains("was not created by ikegw provision"),
            "{action}: {err}"
        );
    }
    // The foreign namespace is still there, and nothing else was created.
    let list = String::from_utf8_lossy(
        &Command::new("ip")
            .args(["netns", "list"])
            .output()
            .unwrap()
            .stdout,
    )
    .into_owned();
    assert!(list.contains(&foreign), "{list}");
    assert!(!list.contains(&format!("{}-router", lab.prefix)), "{list}");
    let _ = Command::new("ip")
        .args(["netns", "delete", &foreign])
        .status();
}
