//! Shared helpers for the daemon tests: config files for two peers on
//! loopback (127.0.0.1 and 127.0.0.2, free ports), spawned `ikegw run`
//! processes killed by PID on drop, and the control CLI.
// Test support code: failing loudly is the point.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used, clippy::panic)]

use std::net::UdpSocket;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const BIN: &str = env!("CARGO_BIN_EXE_ikegw");

/// Two free UDP ports on `ip` (bound then released; a race with another
/// process is possible but unlikely on a test machine).
pub fn free_ports(ip: &str) -> (u16, u16) {
    let a = UdpSocket::bind(format!("{ip}:0")).unwrap();
    let b = UdpSocket::bind(format!("{ip}:0")).unwrap();
    (
        a.local_addr().unwrap().port(),
        b.local_addr().unwrap().port(),
    )
}

/// One side of a site-to-site pair.
pub struct Side {
    pub name: &'static str,
    pub ip: &'static str,
    pub port: u16,
    pub natt: u16,
    pub id: &'static str,
    pub lan: &'static str,
}

pub fn pair() -> (Side, Side) {
    let (pa, na) = free_ports("127.0.0.1");
    let (pb, nb) = free_ports("127.0.0.2");
    (
        Side {
            name: "a",
            ip: "127.0.0.1",
            port: pa,
            natt: na,
            id: "a.example",
            lan: "10.1.0.0/16",
        },
        Side {
            name: "b",
            ip: "127.0.0.2",
            port: pb,
            natt: nb,
            id: "b.example",
            lan: "10.2.0.0/16",
        },
    )
}

pub fn config(dir: &Path, me: &Side, peer: &Side, secret: &str) -> String {
    format!(
        r#"[daemon]
backend = "userland"
control_socket = "{dir}/{name}.sock"
listen = ["{ip}"]
port = {port}
port_nat_t = {natt}
log_level = "debug"

[connections.ab]
local_addrs = ["{ip}"]
remote_addrs = ["{pip}"]
remote_port = {pport}

[connections.ab.local]
auth = "psk"
id = "{id}"

[connections.ab.remote]
auth = "psk"
id = "{pid}"

[connections.ab.children.net]
local_ts = ["{lan}"]
remote_ts = ["{plan}"]

[secrets.ike.ab]
id = ["a.example", "b.example"]
secret = "{secret}"
"#,
        dir = dir.display(),
        name = me.name,
        ip = me.ip,
        port = me.port,
        natt = me.natt,
        pip = peer.ip,
        pport = peer.port,
        id = me.id,
        pid = peer.id,
        lan = me.lan,
        plan = peer.lan,
    )
}

pub fn write_config(dir: &Path, name: &str, text: &str) -> PathBuf {
    use std::os::unix::fs::PermissionsExt as _;
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(&p, text).unwrap();
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    p
}

/// A running `ikegw run`, killed on drop if still alive.
pub struct Daemon {
    pub child: Option<Child>,
    pub socket: PathBuf,
    pub log: PathBuf,
}

impl Daemon {
    pub fn spawn(dir: &Path, name: &str, config: &Path) -> Self {
        Self::spawn_with(dir, name, config, &[])
    }

    /// Like [`Self::spawn`] with extra `ikegw run` arguments.
    pub fn spawn_with(dir: &Path, name: &str, config: &Path, extra: &[&str]) -> Self {
        let log = dir.join(format!("{name}.log"));
        let child = Command::new(BIN)
            .args(["run", "--config"])
            .arg(config)
            .args(extra)
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .unwrap();
        let d = Self {
            child: Some(child),
            socket: dir.join(format!("{name}.sock")),
            log,
        };
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(10) {
            if d.ctl(&["status"]).status.success() {
                return d;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("daemon {name} did not come up:\n{}", d.log_text());
    }

    pub fn pid(&self) -> u32 {
        self.child.as_ref().unwrap().id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// `ikegw <args> --socket <ours>`.
    pub fn ctl(&self, args: &[&str]) -> Output {
        Command::new(BIN)
            .args(args)
            .arg("--socket")
            .arg(&self.socket)
            .output()
            .unwrap()
    }

    /// `ikegw <args> --json`, parsed.
    pub fn json(&self, args: &[&str]) -> serde_json::Value {
        let mut a = args.to_vec();
        a.push("--json");
        let out = self.ctl(&a);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{args:?}: {e}: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    pub fn signal(&self, sig: &str) {
        let st = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid().to_string())
            .status()
            .unwrap();
        assert!(st.success());
    }

    /// Waits for exit; returns the exit code.
    pub fn wait(&mut self, limit: Duration) -> Option<i32> {
        let t0 = Instant::now();
        let child = self.child.as_mut().unwrap();
        while t0.elapsed() < limit {
            if let Some(st) = child.try_wait().unwrap() {
                return st.code();
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            if c.try_wait().ok().flatten().is_none() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}

/// Polls `f` until it returns true or `limit` passes.
pub fn eventually(limit: Duration, mut f: impl FnMut() -> bool) -> bool {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

/// One raw request line to a control socket; the first answer line.
pub fn raw_request(sock: &std::path::Path, line: &str) -> String {
    use std::io::{BufRead as _, Write as _};
    let mut s = std::os::unix::net::UnixStream::connect(sock).unwrap();
    writeln!(s, "{line}").unwrap();
    let mut r = std::io::BufReader::new(s);
    let mut out = String::new();
    r.read_line(&mut out).unwrap();
    out
}
