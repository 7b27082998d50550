//! IKE_SA setup rate and responder memory: ikegw against strongSwan, both
//! loaded by the same strongSwan `load-tester` initiator in the same run
//! (issue #8, "Load figure"). A benchmark: it prints figures and asserts
//! nothing about them.
//!
//! How to run it (as root, on Linux; 2 cores are enough):
//!
//! ```sh
//! sudo scripts/build-loadtester.sh          # once: private charon with load-tester (~15 min)
//! cargo build --release -p gateway --bin ikegw -p interop-tests --bin loadtest
//! sudo target/release/loadtest              # -n 2000, --delay 1 by default; --help
//! sudo target/release/loadtest --rounds 3 --delay 0   # back to back: COOKIEs too
//! ```
//!
//! What it does:
//! - two network namespaces joined by a veth, `ltb<pid>x<n>-i` with the
//!   initiator at 192.0.2.1 and `...-r` with the responder at 192.0.2.2
//!   (TEST-NET-1, RFC 5737); nothing else is reachable from them.
//! - responder (a): `ikegw run` (userland key engine and ESP data plane over
//!   TUN, in-process), PSK; responder (b): Debian's charon with
//!   kernel-libipsec (the only IPsec backend that works on a kernel without
//!   ESP), same PSK, same proposals, same identities. Both really install
//!   every CHILD_SA into their userspace SADB.
//! - initiator: the private charon from `scripts/build-loadtester.sh` with
//!   the load-tester plugin and its fake kernel interface (the initiator's
//!   CHILD_SAs go nowhere, so it spends its CPU on IKE only). The run is
//!   started through load-tester's control socket (`N DELAY`: N IKE_SAs,
//!   each with one CHILD_SA in IKE_AUTH, DELAY ms apart, 0 = back to back)
//!   and timed from the request to the last IKE_SA established, as the
//!   socket reports it.
//! - each responder is pinned to CPU 1 and the initiator to CPU 0
//!   (`--no-pin` to let them float), so the figures do not depend on how
//!   the scheduler shares the two cores.
//! - responder RSS (`VmRSS`) is read at idle and again with all N IKE_SAs
//!   still established: (loaded - idle) / N is the memory per IKE_SA with
//!   its CHILD_SA. Responder CPU time (utime + stime) gives CPU-ms per SA,
//!   and 1000 / that is what one core of the responder could answer: the
//!   cleaner figure, because on two cores the initiator (about 1 ms of CPU
//!   per IKE_SA) limits the wall-clock rate of both runs.
//! - the DoS settings are aligned: ikegw asks for COOKIEs above 10 half-open
//!   SAs (its built-in `cookie_threshold`), so strongSwan gets
//!   `cookie_threshold = 10` too, with its per-IP thresholds (3 and 5 by
//!   default) lifted, since all the load comes from one address.
//! - back to back (`--delay 0`), COOKIEs are asked for, and charon 5.9.8 as
//!   initiator then sometimes ignores the IKE_SA_INIT response that follows
//!   the COOKIE round trip and retransmits (the `retx` column; captures show
//!   the response on the wire, against both responders). `--delay 1` keeps
//!   the responders below the COOKIE threshold, so no round trip is
//!   retransmitted and the wall-clock rates compare IKE work only; it is
//!   the default. 1 ms apart caps the offered load near 800 IKE_SAs/s,
//!   about what the initiator manages anyway.
//!
//! Every process is started by us and stopped by its PID; namespaces are
//! deleted on drop, also on failure. Namespaces left behind by an earlier
//! run that was killed (its PID no longer alive) are deleted at start.

use std::fmt::Write as _;
use std::io::{Read as _, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};
use std::time::{Duration, Instant};

use interop_tests::capture::Capture;
use interop_tests::ikegw::{self, Ikegw};
use interop_tests::netns::{Netns, IP};
use interop_tests::proc::{self, Daemon};
use interop_tests::strongswan::{self, Charon};
use interop_tests::{unique_tag, Error, Result, ScenarioDir};

/// Where `scripts/build-loadtester.sh` installs (its `IKEGW_LT_PREFIX`).
const LT_PREFIX_DEFAULT: &str = "/opt/ikegw-loadtester";
/// Namespace name prefix; the rest is `<pid>x<n>` from [`unique_tag`].
const NS_PREFIX: &str = "ltb";
const INITIATOR: &str = "192.0.2.1";
const RESPONDER: &str = "192.0.2.2";
/// The CHILD_SAs' selectors: the LAN behind each side (no LAN exists: the
/// initiator's CHILD_SAs go to load-tester's fake kernel, and nothing sends
/// traffic). They must not cover the IKE addresses: a responder with a
/// userland data plane routes the peer's selectors into its TUN device, and
/// ikegw (November 2026) then routes its own IKE and ESP-in-UDP datagrams to
/// that peer into the tunnel too (seen: a send loop, 700 000 drops a
/// minute, and IKE_SAs that never complete).
const INITIATOR_NET: &str = "10.1.0.0/24";
const RESPONDER_NET: &str = "10.2.0.0/24";
const INITIATOR_ID: &str = "lt-init.example";
const RESPONDER_ID: &str = "gw.lt.example";
/// What the initiator accepts as the responder's identity. A wildcard makes
/// charon leave out INITIAL_CONTACT: with a fixed IDr the first IKE_SAs
/// would carry it and a responder would close the siblings already up
/// (RFC 7296 §2.4), and all N IKE_SAs share one identity here.
const RESPONDER_ID_MATCH: &str = "*.lt.example";
/// A benchmark secret, not a real one.
const PSK: &str = "ikegw-loadtest-psk-not-secret-0123456789";
const IKE_PROPOSAL: &str = "aes128gcm16-prfsha256-x25519";
const ESP_PROPOSAL: &str = "aes128gcm16";
/// ikegw's COOKIE threshold (`ike::sa::EndpointConfig::new`), mirrored in
/// strongSwan's configuration so both defend themselves alike.
const COOKIE_THRESHOLD: u32 = 10;
const CPU_INITIATOR: &str = "0";
const CPU_RESPONDER: &str = "1";
/// Time with nothing running before the idle RSS is read, and after the
/// run before the loaded one is read.
const SETTLE: Duration = Duration::from_millis(1500);
const START_LIMIT: Duration = Duration::from_secs(20);

#[derive(Clone, Debug)]
struct Opts {
    n: u32,
    pin: bool,
    ikegw: Option<PathBuf>,
    lt_prefix: PathBuf,
    keep: bool,
    /// Per-SA logging in both daemons (slows them down: for diagnosis).
    debug: bool,
    /// tcpdump on the veth during each run (`<kind>/wan.pcap`).
    pcap: bool,
    /// How often the pair of runs is repeated (medians go into the ratio).
    rounds: u32,
    /// Milliseconds load-tester waits between two initiations (0: none).
    delay_ms: u32,
    /// Per-run bound; default 60 s + 20 ms per IKE_SA.
    limit: Option<Duration>,
    only: Option<Kind>,
}

const USAGE: &str =
    "usage: loadtest [-n N] [--rounds R] [--delay MS] [--no-pin] [--ikegw PATH] [--lt-prefix DIR] \
[--only ikegw|strongswan] [--limit SECONDS] [--keep] [--debug] [--pcap]
  -n N            IKE_SAs per responder (default 2000)
  --rounds R      repeat both runs R times (default 1); the ratio uses medians
  --delay MS      pause between two initiations (default 1; 0: back to back, with COOKIEs)
  --no-pin        do not pin initiator/responder to CPU 0/1
  --ikegw PATH    the ikegw binary (default: $IKEGW_BIN, else next to this program)
  --lt-prefix DIR where scripts/build-loadtester.sh installed (default /opt/ikegw-loadtester)
  --only KIND     measure one responder only
  --limit SECS    bound for one run (default 60 + N/50)
  --keep          keep the scratch directory (configs, logs)
  --debug         per-SA logs in every daemon (slow; implies --keep)
  --pcap          capture the run on the veth (<scratch>/<responder>/wan.pcap; implies --keep)";

fn parse_args() -> std::result::Result<Opts, String> {
    let mut o = Opts {
        n: 2000,
        pin: true,
        ikegw: std::env::var_os(ikegw::IKEGW_BIN_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from),
        lt_prefix: PathBuf::from(LT_PREFIX_DEFAULT),
        keep: false,
        debug: false,
        pcap: false,
        rounds: 1,
        delay_ms: 1,
        limit: None,
        only: None,
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
        match a.as_str() {
            "-n" => {
                o.n = value("-n")?
                    .parse()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or("-n takes a positive integer")?;
            }
            "--no-pin" => o.pin = false,
            "--delay" => {
                o.delay_ms = value("--delay")?
                    .parse()
                    .map_err(|_| "--delay takes whole milliseconds")?;
            }
            "--rounds" => {
                o.rounds = value("--rounds")?
                    .parse()
                    .ok()
                    .filter(|n| (1..=20).contains(n))
                    .ok_or("--rounds takes 1 to 20")?;
            }
            "--ikegw" => o.ikegw = Some(PathBuf::from(value("--ikegw")?)),
            "--lt-prefix" => o.lt_prefix = PathBuf::from(value("--lt-prefix")?),
            "--keep" => o.keep = true,
            "--pcap" => {
                o.pcap = true;
                o.keep = true;
            }
            "--debug" => {
                o.debug = true;
                o.keep = true;
            }
            "--limit" => {
                let s: u64 = value("--limit")?
                    .parse()
                    .map_err(|_| "--limit takes whole seconds")?;
                o.limit = Some(Duration::from_secs(s));
            }
            "--only" => {
                o.only = Some(match value("--only")?.as_str() {
                    "ikegw" => Kind::Ikegw,
                    "strongswan" => Kind::Strongswan,
                    other => return Err(format!("--only: unknown responder {other}")),
                });
            }
            "-h" | "--help" => return Err(String::new()),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(o)
}

/// Which responder a run measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ikegw,
    Strongswan,
}

impl Kind {
    fn label(self) -> &'static str {
        match self {
            Self::Ikegw => "ikegw (userland engine)",
            Self::Strongswan => "strongSwan charon (kernel-libipsec)",
        }
    }
}

/// What one run measured.
#[derive(Clone, Debug, Default)]
struct Figures {
    requested: u32,
    established: u32,
    failed: u32,
    /// Initiations load-tester could not even start (`!`).
    refused: u32,
    /// Retransmissions the initiator sent (`*`).
    retransmits: u32,
    timed_out: bool,
    /// From the request to the last completion.
    wall: Duration,
    /// Responder CPU (utime + stime) spent during the run.
    responder_cpu: Duration,
    /// The initiator's.
    initiator_cpu: Duration,
    rss_idle_kib: u64,
    rss_loaded_kib: u64,
    /// IKE_SAs the responder itself reports as up (or established, for
    /// ikegw: its cumulative counter) after the run.
    responder_view: Option<u64>,
    /// UDP datagrams dropped for a full receive buffer in the responder's
    /// namespace during the run.
    responder_udp_drops: u64,
    /// ... and in the initiator's.
    initiator_udp_drops: u64,
    /// IKE datagrams the responder received per established IKE_SA (ikegw
    /// only: 2 without COOKIE round trips, 3 with).
    ike_in_per_sa: Option<f64>,
}

impl Figures {
    fn rate(&self) -> f64 {
        let s = self.wall.as_secs_f64();
        if s > 0.0 {
            f64::from(self.established) / s
        } else {
            0.0
        }
    }

    fn kib_per_sa(&self) -> f64 {
        let d = self.rss_loaded_kib.saturating_sub(self.rss_idle_kib);
        // u64 → f64 is exact for any RSS this machine can have.
        #[allow(clippy::cast_precision_loss)]
        let d = d as f64;
        d / f64::from(self.established.max(1))
    }

    fn cpu_ms_per_sa(&self) -> f64 {
        self.responder_cpu.as_secs_f64() * 1000.0 / f64::from(self.established.max(1))
    }

    /// IKE_SAs per second one core of the responder could answer at this
    /// CPU cost: the responder's own capacity, whoever limits the run.
    fn capacity(&self) -> f64 {
        let ms = self.cpu_ms_per_sa();
        if ms > 0.0 {
            1000.0 / ms
        } else {
            f64::NAN
        }
    }

    fn initiator_cpu_ms_per_sa(&self) -> f64 {
        self.initiator_cpu.as_secs_f64() * 1000.0 / f64::from(self.established.max(1))
    }
}

/// The two namespaces of the lab; deleted on drop.
struct Lab {
    initiator: Netns,
    responder: Netns,
}

impl Lab {
    fn create(scratch: &Path) -> Result<Self> {
        let tag = unique_tag(NS_PREFIX);
        let lab = Self {
            initiator: Netns::create(&format!("{tag}-i"), scratch)?,
            responder: Netns::create(&format!("{tag}-r"), scratch)?,
        };
        for ns in [&lab.initiator, &lab.responder] {
            // No IPv6: link-local addresses appearing mid-run would only
            // add noise (MOBIKE is off, but charon still watches them).
            ns.sysctl("net.ipv6.conf.all.disable_ipv6=1", scratch)?;
            ns.sysctl("net.ipv6.conf.default.disable_ipv6=1", scratch)?;
        }
        lab.initiator
            .veth_to("wan0", &lab.responder, "wan0", scratch)?;
        lab.initiator
            .add_addr("wan0", &format!("{INITIATOR}/24"), scratch)?;
        lab.responder
            .add_addr("wan0", &format!("{RESPONDER}/24"), scratch)?;
        Ok(lab)
    }
}

/// Deletes `ltb<pid>x<n>-{i,r}` namespaces whose creating process is gone
/// (a run killed by a signal cannot run its destructors). Namespaces of a
/// live process are left alone.
fn remove_stale_namespaces(scratch: &Path) {
    let Ok(out) = proc::run(
        Command::new(IP).args(["netns", "list"]),
        Duration::from_secs(10),
        scratch,
    ) else {
        return;
    };
    for line in out.stdout.lines() {
        let Some(name) = line.split_whitespace().next() else {
            continue;
        };
        let Some(rest) = name.strip_prefix(NS_PREFIX) else {
            continue;
        };
        let Some((pid, tail)) = rest.split_once('x') else {
            continue;
        };
        let ours = pid.chars().all(|c| c.is_ascii_digit())
            && (tail.ends_with("-i") || tail.ends_with("-r"));
        if ours && !Path::new("/proc").join(pid).exists() {
            eprintln!("loadtest: deleting namespace {name} left by a dead run (pid {pid})");
            let _ = proc::run(
                Command::new(IP).args(["netns", "del", name]),
                Duration::from_secs(10),
                scratch,
            );
        }
    }
}

/// `VmRSS` of `pid` in KiB.
fn rss_kib(pid: u32) -> Result<u64> {
    let path = PathBuf::from(format!("/proc/{pid}/status"));
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    text.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| Error::Check(format!("no VmRSS in {}", path.display())))
}

/// utime + stime of `pid` (all its threads), in clock ticks.
fn cpu_ticks(pid: u32) -> Result<u64> {
    let path = PathBuf::from(format!("/proc/{pid}/stat"));
    let text = std::fs::read_to_string(&path).map_err(|source| Error::Io {
        path: path.clone(),
        source,
    })?;
    // The command name (field 2) may contain spaces; fields after the last
    // ')' are positional: state is field 3, utime 14, stime 15 (proc(5)).
    let after = text
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .ok_or_else(|| Error::Check(format!("unexpected {}", path.display())))?;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let num = |i: usize| -> Result<u64> {
        fields
            .get(i)
            .and_then(|v| v.parse().ok())
            .ok_or_else(|| Error::Check(format!("no field {} in {}", i + 3, path.display())))
    };
    Ok(num(11)?.saturating_add(num(12)?))
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 on Linux).
fn clock_ticks(scratch: &Path) -> u64 {
    proc::run(
        Command::new("getconf").arg("CLK_TCK"),
        Duration::from_secs(5),
        scratch,
    )
    .ok()
    .and_then(|o| o.stdout.trim().parse().ok())
    .filter(|t| *t > 0)
    .unwrap_or(100)
}

/// `Udp: ... RcvbufErrors` of the namespace (`/proc/net/snmp` is per
/// network namespace).
fn udp_rcvbuf_errors(ns: &Netns, scratch: &Path) -> u64 {
    let Ok(out) = ns.exec(&["cat", "/proc/net/snmp"], Duration::from_secs(5), scratch) else {
        return 0;
    };
    let mut udp = out.stdout.lines().filter(|l| l.starts_with("Udp:"));
    let (Some(names), Some(values)) = (udp.next(), udp.next()) else {
        return 0;
    };
    names
        .split_whitespace()
        .zip(values.split_whitespace())
        .find(|(n, _)| *n == "RcvbufErrors")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0)
}

/// Pins every thread of `pid` (and the threads it creates later) to `cpu`.
fn pin(pid: u32, cpu: &str, scratch: &Path) -> Result<()> {
    proc::run(
        Command::new("taskset").args(["-a", "-p", "-c", cpu, &pid.to_string()]),
        Duration::from_secs(5),
        scratch,
    )
    .map(drop)
}

/// charon's `ike`/`net` log level: nothing per SA unless debugging (logging
/// thousands of SAs costs CPU that would show up in the figures).
fn charon_ike_level(debug: bool) -> i8 {
    if debug {
        2
    } else {
        -1
    }
}

/// The logging section of both charons' `strongswan.conf`: a file log in
/// `dir` (IKE and network details at level 2 with `debug`), nothing on
/// stderr or to syslog.
fn charon_logging(dir: &Path, debug: bool) -> String {
    let d = dir.display();
    let ike = charon_ike_level(debug);
    format!(
        "filelog {{
        charon {{
            path = {d}/charon.log
            time_format = %H:%M:%S
            append = no
            default = -1
            dmn = 1
            cfg = 0
            lib = 1
            ike = {ike}
            net = {ike}
        }}
        stderr {{
            default = -1
        }}
    }}
    syslog {{
        daemon {{
            default = -1
        }}
        auth {{
            default = -1
        }}
    }}
"
    )
}

/// `strongswan.conf` of the load-tester initiator (private build).
fn initiator_conf(dir: &Path, socket: &Path, debug: bool) -> String {
    let logging = charon_logging(dir, debug);
    let sock = socket.display();
    format!(
        "# generated by loadtest: the load-tester initiator
charon {{
    # load-tester before kernel-netlink: with fake_kernel it registers the
    # kernel IPsec interface, and the first one registered wins.
    load = random nonce openssl pem pkcs1 x509 pubkey curve25519 aes gcm sha1 sha2 hmac kdf load-tester kernel-netlink socket-default
    # Every initiation uses the same peer config; with reuse_ikesa each
    # further one would become a CHILD_SA of the first IKE_SA.
    reuse_ikesa = no
    # no self-imposed limits on the initiating side
    init_limit_half_open = 0
    init_limit_job_load = 0
    dos_protection = no
    # Retransmit after 1 s: charon 5.9.8 as initiator now and then ignores
    # the IKE_SA_INIT response that follows a COOKIE round trip (seen in
    # captures against both responders: the response is on the wire, the
    # initiator retransmits and takes the cached copy), and with the
    # default 4 s each such IKE_SA would stall the figures. Every
    # retransmission is counted (`retx` in the table).
    retransmit_timeout = 1.0
    retransmit_tries = 5
    install_routes = no
    install_virtual_ip = no
    {logging}    plugins {{
        load-tester {{
            # a test plugin: fixed credentials, accepts anyone; never on a
            # real system
            enable = yes
            fake_kernel = yes
            initiators = 0
            iterations = 0
            shutdown_when_complete = no
            delete_after_established = no
            socket = unix://{sock}
            version = 2
            proposal = {IKE_PROPOSAL}
            esp = {ESP_PROPOSAL}
            initiator = {INITIATOR}
            responder = {RESPONDER}
            initiator_auth = psk
            responder_auth = psk
            preshared_key = {PSK}
            initiator_id = {INITIATOR_ID}
            initiator_tsi = {INITIATOR_NET}
            initiator_tsr = {RESPONDER_NET}
            responder_id = {RESPONDER_ID_MATCH}
            ike_rekey = 0
            child_rekey = 0
            dpd_delay = 0
        }}
    }}
}}
"
    )
}

/// `strongswan.conf` of the strongSwan responder (Debian's charon).
fn responder_conf(dir: &Path, debug: bool) -> String {
    let d = dir.display();
    let logging = charon_logging(dir, debug);
    format!(
        "# generated by loadtest: the strongSwan responder
charon {{
    # kernel-libipsec before kernel-netlink (the first IPsec backend wins)
    load = random nonce openssl pem pkcs1 x509 pubkey curve25519 aes gcm sha1 sha2 hmac kdf kernel-libipsec kernel-netlink socket-default vici
    # ikegw's DoS policy: COOKIEs above {COOKIE_THRESHOLD} half-open IKE_SAs in
    # all. strongSwan's per-source limits (cookie_threshold_ip = 3,
    # block_threshold = 5) would throttle a load that all comes from one
    # address, which ikegw does not do, so they are lifted.
    dos_protection = yes
    cookie_threshold = {COOKIE_THRESHOLD}
    cookie_threshold_ip = 1000000
    block_threshold = 1000000
    init_limit_half_open = 0
    init_limit_job_load = 0
    install_routes = no
    install_virtual_ip = no
    {logging}    plugins {{
        vici {{
            socket = unix://{d}/charon.vici
        }}
    }}
}}
swanctl {{
    socket = unix://{d}/charon.vici
    load = pem pkcs1 x509 openssl curve25519 pubkey random nonce sha1 sha2
}}
"
    )
}

/// `swanctl.conf` of the strongSwan responder: the same connection as
/// [`ikegw_conf`], in swanctl's words.
fn responder_swanctl() -> String {
    format!(
        "# generated by loadtest
connections {{
    lt {{
        version = 2
        local_addrs = {RESPONDER}
        remote_addrs = {INITIATOR}
        proposals = {IKE_PROPOSAL}
        # libipsec speaks ESP-in-UDP only
        encap = yes
        mobike = no
        unique = never
        local {{
            auth = psk
            id = {RESPONDER_ID}
        }}
        remote {{
            auth = psk
            id = {INITIATOR_ID}
        }}
        children {{
            net {{
                mode = tunnel
                local_ts = {RESPONDER_NET}
                remote_ts = {INITIATOR_NET}
                esp_proposals = {ESP_PROPOSAL}
                start_action = none
            }}
        }}
    }}
}}
secrets {{
    ike-lt {{
        id-a = {RESPONDER_ID}
        id-b = {INITIATOR_ID}
        secret = \"{PSK}\"
    }}
}}
"
    )
}

/// `ikegw.toml` of the ikegw responder: in-process userland engine, same
/// connection as [`responder_swanctl`].
fn ikegw_conf(dir: &Path, debug: bool) -> String {
    let d = |name: &str| dir.join(name).display().to_string();
    let level = if debug { "debug" } else { "warn" };
    format!(
        "# generated by loadtest
[daemon]
backend = \"userland\"
control_socket = \"{ctl}\"
state_dir = \"{state}\"
log_format = \"text\"
log_level = \"{level}\"
listen = [\"{RESPONDER}\"]

[connections.lt]
version = 2
local_addrs = [\"{RESPONDER}\"]
remote_addrs = [\"{INITIATOR}\"]
proposals = [\"{IKE_PROPOSAL}\"]
# the userland data plane sends ESP in UDP only
encap = true
mobike = false
unique = \"never\"

[connections.lt.local]
auth = \"psk\"
id = \"{RESPONDER_ID}\"

[connections.lt.remote]
auth = \"psk\"
id = \"{INITIATOR_ID}\"

[connections.lt.children.net]
local_ts = [\"{RESPONDER_NET}\"]
remote_ts = [\"{INITIATOR_NET}\"]
esp_proposals = [\"{ESP_PROPOSAL}\"]
start_action = \"none\"

[secrets.ike.lt]
id = [\"{RESPONDER_ID}\", \"{INITIATOR_ID}\"]
secret = \"{PSK}\"
",
        ctl = ikegw::control_socket(dir).display(),
        state = d("state"),
    )
}

/// A started responder of either kind; stopped by PID on drop.
enum Responder {
    Ikegw(Ikegw),
    Strongswan(Charon),
}

impl Responder {
    fn pid(&self) -> u32 {
        match self {
            Self::Ikegw(g) => g.pid(),
            Self::Strongswan(c) => c.pid(),
        }
    }

    /// The responder's own count after the run, and (ikegw) IKE datagrams
    /// received.
    fn view(&self) -> Result<(u64, Option<u64>)> {
        match self {
            Self::Ikegw(g) => {
                let s = g.stats()?;
                Ok((s.established, Some(s.ike_in)))
            }
            Self::Strongswan(c) => {
                let out = c.swanctl(&["--stats"])?;
                // "IKE_SAs: 2000 total, 0 half-open"
                let n = out
                    .stdout
                    .lines()
                    .find_map(|l| l.trim().strip_prefix("IKE_SAs:"))
                    .and_then(|v| v.split_whitespace().next())
                    .and_then(|v| v.parse().ok())
                    .ok_or_else(|| {
                        Error::Check(format!(
                            "no IKE_SAs line in swanctl --stats: {}",
                            out.stdout
                        ))
                    })?;
                Ok((n, None))
            }
        }
    }

    fn stop(self) {
        match self {
            Self::Ikegw(mut g) => {
                if let Err(e) = g.stop() {
                    eprintln!("loadtest: warning: {e}");
                }
            }
            // Charon's Daemon stops it by PID on drop.
            Self::Strongswan(c) => drop(c),
        }
    }
}

/// The load-tester initiator: the private charon in its own mount
/// namespace, with its compiled-in run directory (PID file) replaced by a
/// private one, so it never meets another charon's PID file.
struct Initiator {
    daemon: Daemon,
    socket: PathBuf,
}

impl Initiator {
    fn start(ns: &Netns, dir: &Path, prefix: &Path, debug: bool) -> Result<Self> {
        let run = dir.join("run");
        let ltrun = dir.join("ltrun");
        for p in [&run, &ltrun] {
            std::fs::create_dir_all(p).map_err(|source| Error::Io {
                path: p.clone(),
                source,
            })?;
        }
        let socket = dir.join("load-tester.sock");
        let conf = dir.join("strongswan.conf");
        std::fs::write(&conf, initiator_conf(dir, &socket, debug)).map_err(|source| Error::Io {
            path: conf.clone(),
            source,
        })?;
        let env_conf = format!("STRONGSWAN_CONF={}", conf.display());
        // The initiator gets big UDP buffers (see scripts/build-loadtester.sh):
        // the load generator must not be the one that drops datagrams.
        let preload = format!("LD_PRELOAD={}", prefix.join("lib/bigudp.so").display());
        let charon = prefix.join("lib/ipsec/charon").display().to_string();
        let piddir = prefix.join("run").display().to_string();
        let ltrun_s = ltrun.display().to_string();
        let daemon = Daemon::spawn(
            "load-tester initiator",
            ns.name(),
            Some(&run),
            &[
                "sh",
                "-c",
                "mount --bind \"$1\" \"$2\" && shift 2 && exec \"$@\"",
                "sh",
                &ltrun_s,
                &piddir,
                "env",
                &env_conf,
                &preload,
                &charon,
            ],
            &dir.join("daemon.log"),
            "TERM",
        )?;
        let mut init = Self { daemon, socket };
        proc::wait_for("load-tester control socket", START_LIMIT, || {
            init.daemon.check_alive()?;
            Ok(init.socket.exists().then_some(()))
        })?;
        Ok(init)
    }
}

/// What the load-tester control socket reported.
#[derive(Debug, Default)]
struct Progress {
    initiated: u32,
    established: u32,
    failed: u32,
    refused: u32,
    retransmits: u32,
    last_completion: Option<Duration>,
    timed_out: bool,
}

/// Writes `N DELAY` to load-tester's control socket and reads its progress
/// characters until every initiation is accounted for or `limit` passes:
/// `.` initiated, `!` could not initiate, `*` a retransmission, `+`
/// established, `-` failed, a newline at the end.
fn drive(socket: &Path, n: u32, delay_ms: u32, limit: Duration) -> Result<(Progress, Duration)> {
    let io = |source| Error::Io {
        path: socket.to_path_buf(),
        source,
    };
    let mut s = UnixStream::connect(socket).map_err(io)?;
    s.set_read_timeout(Some(Duration::from_millis(200)))
        .map_err(io)?;
    let mut p = Progress::default();
    let t0 = Instant::now();
    s.write_all(format!("{n} {delay_ms}\n").as_bytes())
        .map_err(io)?;
    let mut buf = [0u8; 4096];
    'read: loop {
        if t0.elapsed() > limit {
            p.timed_out = true;
            break;
        }
        let got = match s.read(&mut buf) {
            Ok(0) => break,
            Ok(k) => k,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue
            }
            Err(e) => return Err(io(e)),
        };
        let now = t0.elapsed();
        for &b in buf.iter().take(got) {
            match b {
                b'.' => p.initiated = p.initiated.saturating_add(1),
                b'!' => p.refused = p.refused.saturating_add(1),
                b'*' => p.retransmits = p.retransmits.saturating_add(1),
                b'+' => {
                    p.established = p.established.saturating_add(1);
                    p.last_completion = Some(now);
                }
                b'-' => {
                    p.failed = p.failed.saturating_add(1);
                    p.last_completion = Some(now);
                }
                b'\n' => break 'read,
                _ => {}
            }
        }
    }
    let wall = p.last_completion.unwrap_or_else(|| t0.elapsed());
    Ok((p, wall))
}

struct Run<'a> {
    opts: &'a Opts,
    lab: &'a Lab,
    scratch: &'a Path,
    ikegw_bin: &'a Path,
    hz: u64,
}

impl Run<'_> {
    fn ticks_to_time(&self, ticks: u64) -> Duration {
        Duration::from_secs(ticks / self.hz)
            + Duration::from_nanos((ticks % self.hz).saturating_mul(1_000_000_000) / self.hz)
    }

    fn start_responder(&self, kind: Kind, dir: &Path) -> Result<Responder> {
        let ns = &self.lab.responder;
        match kind {
            Kind::Ikegw => Ok(Responder::Ikegw(Ikegw::start(
                "ikegw responder",
                ns,
                dir,
                self.ikegw_bin,
                &ikegw_conf(dir, self.opts.debug),
            )?)),
            Kind::Strongswan => {
                let c = Charon::start(
                    "strongSwan responder",
                    ns.name(),
                    dir,
                    &responder_conf(dir, self.opts.debug),
                    &responder_swanctl(),
                )?;
                c.load_all()?;
                Ok(Responder::Strongswan(c))
            }
        }
    }

    fn measure(&self, kind: Kind, round: u32) -> Result<Figures> {
        let n = self.opts.n;
        let base = self.scratch.join(format!(
            "{}-{round}",
            match kind {
                Kind::Ikegw => "ikegw",
                Kind::Strongswan => "strongswan",
            }
        ));
        let rdir = base.join("responder");
        let idir = base.join("initiator");
        for p in [&rdir, &idir] {
            std::fs::create_dir_all(p).map_err(|source| Error::Io {
                path: p.clone(),
                source,
            })?;
        }
        let responder = self.start_responder(kind, &rdir)?;
        let rpid = responder.pid();
        let initiator = Initiator::start(
            &self.lab.initiator,
            &idir,
            &self.opts.lt_prefix,
            self.opts.debug,
        )?;
        if self.opts.pin {
            pin(rpid, CPU_RESPONDER, self.scratch)?;
            pin(initiator.daemon.pid(), CPU_INITIATOR, self.scratch)?;
        }
        // Resolve the neighbour first: the burst of IKE_SA_INITs must not
        // meet an incomplete ARP entry (its queue holds only a few packets).
        self.lab.initiator.exec(
            &["ping", "-c", "1", "-W", "2", RESPONDER],
            Duration::from_secs(5),
            self.scratch,
        )?;
        let capture = if self.opts.pcap {
            Some(Capture::start(
                &self.lab.responder,
                "wan0",
                &base.join("wan.pcap"),
            )?)
        } else {
            None
        };
        std::thread::sleep(SETTLE);
        let ipid = initiator.daemon.pid();
        let rss0 = rss_kib(rpid)?;
        let cpu0 = cpu_ticks(rpid)?;
        let icpu0 = cpu_ticks(ipid)?;
        let drops_r0 = udp_rcvbuf_errors(&self.lab.responder, self.scratch);
        let drops_i0 = udp_rcvbuf_errors(&self.lab.initiator, self.scratch);
        let limit = self.opts.limit.unwrap_or_else(|| {
            Duration::from_secs(60).saturating_add(Duration::from_millis(20) * n)
        });
        eprintln!(
            "loadtest: round {}: {}: {n} IKE_SAs ...",
            round.saturating_add(1),
            kind.label()
        );
        let (p, wall) = drive(&initiator.socket, n, self.opts.delay_ms, limit)?;
        std::thread::sleep(SETTLE);
        let rss1 = rss_kib(rpid)?;
        let cpu1 = cpu_ticks(rpid)?;
        let icpu1 = cpu_ticks(ipid)?;
        let drops_r1 = udp_rcvbuf_errors(&self.lab.responder, self.scratch);
        let drops_i1 = udp_rcvbuf_errors(&self.lab.initiator, self.scratch);
        let view = match responder.view() {
            Ok(v) => Some(v),
            Err(e) => {
                eprintln!("loadtest: warning: responder's own count unavailable: {e}");
                None
            }
        };
        let responder_cpu = self.ticks_to_time(cpu1.saturating_sub(cpu0));
        let initiator_cpu = self.ticks_to_time(icpu1.saturating_sub(icpu0));
        #[allow(clippy::cast_precision_loss)]
        let ike_in_per_sa = view
            .and_then(|(_, ike_in)| ike_in)
            .map(|i| i as f64 / f64::from(p.established.max(1)));
        if let Some(c) = capture {
            eprintln!("loadtest: capture in {}", c.stop().display());
        }
        // The initiator goes first, so its shutdown Deletes reach a
        // responder that is still there; then the responder.
        drop(initiator);
        responder.stop();
        Ok(Figures {
            requested: n,
            established: p.established,
            failed: p.failed,
            refused: p.refused,
            retransmits: p.retransmits,
            timed_out: p.timed_out,
            wall,
            responder_cpu,
            initiator_cpu,
            rss_idle_kib: rss0,
            rss_loaded_kib: rss1,
            responder_view: view.map(|(v, _)| v),
            responder_udp_drops: drops_r1.saturating_sub(drops_r0),
            initiator_udp_drops: drops_i1.saturating_sub(drops_i0),
            ike_in_per_sa,
        })
    }
}

/// The median of `v` (the mean of the middle two for an even count).
fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    let mid = v.len() / 2;
    match (v.get(mid.wrapping_sub(1)), v.get(mid)) {
        (Some(a), Some(b)) if v.len() % 2 == 0 => (a + b) / 2.0,
        (_, Some(b)) => *b,
        _ => f64::NAN,
    }
}

fn report(opts: &Opts, results: &[(Kind, Figures)], loadavg: &str) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "\nIKE_SA setup against a strongSwan 5.9.8 load-tester initiator: N = {}, {} round(s), \
         {} ms between initiations, \
         IKE {IKE_PROPOSAL}, ESP {ESP_PROPOSAL} (one CHILD_SA per IKE_SA, in IKE_AUTH), PSK, {}; \
         load average before: {loadavg}",
        opts.n,
        opts.rounds,
        opts.delay_ms,
        if opts.pin {
            "initiator on CPU 0, responder on CPU 1"
        } else {
            "not pinned"
        }
    );
    let _ = writeln!(
        o,
        "{:<36} {:>11} {:>5} {:>5} {:>7} {:>9} {:>10} {:>8} {:>10} {:>10} {:>16} {:>7} {:>9} {:>7} {:>7}",
        "responder",
        "up",
        "fail",
        "retx",
        "wall s",
        "IKE_SA/s",
        "CPU-ms/SA",
        "1-core/s",
        "init ms/SA",
        "resp. says",
        "RSS idle->load",
        "KiB/SA",
        "IKE in/SA",
        "drops r",
        "drops i"
    );
    for (kind, f) in results {
        let view = f
            .responder_view
            .map_or_else(|| "-".to_owned(), |v| v.to_string());
        let ike_in = f
            .ike_in_per_sa
            .map_or_else(|| "-".to_owned(), |v| format!("{v:.2}"));
        #[allow(clippy::cast_precision_loss)]
        let rss = format!(
            "{:.1}->{:.1} MiB",
            f.rss_idle_kib as f64 / 1024.0,
            f.rss_loaded_kib as f64 / 1024.0
        );
        let _ = writeln!(
            o,
            "{:<36} {:>11} {:>5} {:>5} {:>7.2} {:>9.0} {:>10.2} {:>8.0} {:>10.2} {:>10} {:>16} {:>7.2} {:>9} {:>7} {:>7}",
            kind.label(),
            format!("{}/{}", f.established, f.requested),
            f.failed.saturating_add(f.refused),
            f.retransmits,
            f.wall.as_secs_f64(),
            f.rate(),
            f.cpu_ms_per_sa(),
            f.capacity(),
            f.initiator_cpu_ms_per_sa(),
            view,
            rss,
            f.kib_per_sa(),
            ike_in,
            f.responder_udp_drops,
            f.initiator_udp_drops,
        );
        if f.timed_out {
            let _ = writeln!(
                o,
                "  ({}: stopped at the time bound; figures cover what completed)",
                kind.label()
            );
        }
    }
    let medians = |k: Kind| {
        let runs: Vec<&Figures> = results
            .iter()
            .filter(|(kind, _)| *kind == k)
            .map(|(_, f)| f)
            .collect();
        (!runs.is_empty()).then(|| {
            (
                median(runs.iter().map(|f| f.rate()).collect()),
                median(runs.iter().map(|f| f.cpu_ms_per_sa()).collect()),
                median(runs.iter().map(|f| f.kib_per_sa()).collect()),
                median(runs.iter().map(|f| f.capacity()).collect()),
            )
        })
    };
    if let (Some(g), Some(s)) = (medians(Kind::Ikegw), medians(Kind::Strongswan)) {
        let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
        let _ = writeln!(
            o,
            "medians: ikegw {:.0} IKE_SA/s (1-core {:.0}/s), {:.2} CPU-ms/SA, {:.2} KiB/SA; \
             strongSwan {:.0} IKE_SA/s (1-core {:.0}/s), {:.2} CPU-ms/SA, {:.2} KiB/SA",
            g.0, g.3, g.1, g.2, s.0, s.3, s.1, s.2
        );
        let _ = writeln!(
            o,
            "ikegw / strongSwan: IKE_SA/s (wall) x{:.2}, 1-core capacity x{:.2}, responder \
             CPU-ms per SA x{:.2}, RSS per SA x{:.2}",
            ratio(g.0, s.0),
            ratio(g.3, s.3),
            ratio(g.1, s.1),
            ratio(g.2, s.2),
        );
    }
    let _ = writeln!(
        o,
        "(up: IKE_SAs the initiator saw established; retx: its retransmissions; CPU-ms/SA: the \
         responder's CPU time per IKE_SA; 1-core/s: 1000 / that, what one core of the responder \
         could answer; init ms/SA: the initiator's (when it is the larger, it \
         sets the wall-clock rate); resp. says: the responder's own count afterwards; IKE in/SA: \
         IKE datagrams ikegw received per IKE_SA, 2 without a COOKIE round trip, 3 with, more \
         with retransmissions; drops: UDP receive-buffer overflows in the responder's / \
         initiator's namespace)"
    );
    o
}

fn preflight(opts: &Opts) -> std::result::Result<PathBuf, String> {
    let mut missing = Vec::new();
    let is_root = std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|ids| ids.split_whitespace().nth(1))
                .map(|e| e == "0")
        })
        .unwrap_or(false);
    if !is_root {
        missing.push("root (network namespaces, mounts, CPU pinning)".to_owned());
    }
    for (what, p) in [
        (
            "the load-tester charon (run scripts/build-loadtester.sh)",
            opts.lt_prefix.join("lib/ipsec/charon"),
        ),
        (
            "the load-tester plugin (run scripts/build-loadtester.sh)",
            opts.lt_prefix
                .join("lib/ipsec/plugins/libstrongswan-load-tester.so"),
        ),
        (
            "bigudp.so (run scripts/build-loadtester.sh)",
            opts.lt_prefix.join("lib/bigudp.so"),
        ),
        (
            "Debian's charon (scripts/install-deps.sh)",
            PathBuf::from(strongswan::CHARON),
        ),
        (
            "swanctl (scripts/install-deps.sh)",
            PathBuf::from(strongswan::SWANCTL),
        ),
        (
            "the kernel-libipsec plugin (scripts/install-deps.sh)",
            PathBuf::from(strongswan::KERNEL_LIBIPSEC),
        ),
        ("/dev/net/tun", PathBuf::from("/dev/net/tun")),
        ("iproute2's ip", PathBuf::from(IP)),
    ] {
        if !p.exists() {
            missing.push(format!("{what}: {}", p.display()));
        }
    }
    let bin = match &opts.ikegw {
        Some(p) => p.clone(),
        None => std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(|d| d.join("ikegw")))
            .unwrap_or_else(|| PathBuf::from("ikegw")),
    };
    if !bin.is_file() {
        missing.push(format!(
            "the ikegw binary at {} (cargo build --release -p gateway --bin ikegw, or --ikegw PATH)",
            bin.display()
        ));
    }
    if missing.is_empty() {
        Ok(bin)
    } else {
        Err(format!("cannot run, missing:\n  {}", missing.join("\n  ")))
    }
}

fn main() -> ExitCode {
    let opts = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            if !e.is_empty() {
                eprintln!("loadtest: {e}");
            }
            eprintln!("{USAGE}");
            return if e.is_empty() {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    let ikegw_bin = match preflight(&opts) {
        Ok(b) => b,
        Err(e) => {
            eprintln!("loadtest: {e}");
            return ExitCode::from(2);
        }
    };
    match run(&opts, &ikegw_bin) {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("loadtest: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(opts: &Opts, ikegw_bin: &Path) -> Result<String> {
    let mut scratch = ScenarioDir::create(&unique_tag("loadtest"))?;
    if opts.keep {
        scratch.keep();
    }
    remove_stale_namespaces(scratch.path());
    let loadavg = std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default();
    let lab = Lab::create(scratch.path())?;
    let r = Run {
        opts,
        lab: &lab,
        scratch: scratch.path(),
        ikegw_bin,
        hz: clock_ticks(scratch.path()),
    };
    let mut results = Vec::new();
    for round in 0..opts.rounds {
        for kind in [Kind::Ikegw, Kind::Strongswan] {
            if opts.only.is_some_and(|o| o != kind) {
                continue;
            }
            match r.measure(kind, round) {
                Ok(f) => results.push((kind, f)),
                Err(e) => {
                    // Keep the logs of the run that failed.
                    scratch.keep();
                    return Err(e);
                }
            }
        }
    }
    Ok(report(opts, &results, &loadavg))
}
