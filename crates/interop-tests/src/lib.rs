//! Interoperability scenarios for ikegw against real strongSwan, run in
//! network namespaces that each test creates and removes itself.
//!
//! Layers, bottom up:
//! - [`proc`]: child processes started in a namespace (optionally with a
//!   private mount namespace and its own `/run`), stopped **by PID** in
//!   `Drop`, also when the test panics; commands with a time bound.
//! - [`netns`]: namespaces, veth pairs and the site-to-site [`netns::Topology`]
//!   (WAN between two gateways, a LAN host behind each), all driven through
//!   `ip` and deleted in `Drop`.
//! - [`strongswan`]: `strongswan.conf` / `swanctl.conf` rendered from Rust
//!   strings, a charon instance per gateway with its own vici socket, and a
//!   small PKI made with strongSwan's `pki`.
//! - [`capture`]: tcpdump on the WAN veth, and a reader that turns the pcap
//!   back into UDP datagrams, classified as IKE / ESP-in-UDP (RFC 3948).
//! - [`ikegw`]: the daemon under test: `ikegw run` with a rendered TOML
//!   config in a gateway namespace, its control verbs (`list-sas --json`,
//!   ...), and [`ikegw::Mixed`], ikegw against strongSwan on one topology
//!   (optionally behind a NAT), with both ends' views matched SPI by SPI.
//!
//! What it must not do: touch anything outside the namespaces it created
//! (only documentation prefixes on the "internet" links, 10/8 inside), stop a
//! process it did not start, or leave namespaces behind.
//!
//! A scenario needs root, `ip`, tcpdump, strongSwan's charon and swanctl with
//! the kernel-libipsec plugin, and `/dev/net/tun`; ikegw scenarios also the
//! `ikegw` binary, python3 and nft. [`prerequisites`] and
//! [`ikegw_prerequisites`] check them: when something is missing the test
//! is skipped loudly, unless `CI` is set, in which case the test fails.
#![forbid(unsafe_code)]

pub mod capture;
pub mod ikegw;
pub mod netns;
pub mod proc;
pub mod rw;
pub mod strongswan;

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// What went wrong while building or running a scenario.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A prerequisite is missing and `CI` is set, so the test must fail.
    #[error("prerequisites missing for {test} (CI is set, so this fails instead of skipping): {missing}")]
    MissingPrerequisite {
        /// Name of the scenario.
        test: String,
        /// What is missing, comma separated.
        missing: String,
    },
    /// A command could not be started.
    #[error("cannot run {cmd}: {source}")]
    Spawn {
        /// The command line.
        cmd: String,
        /// The OS error.
        source: std::io::Error,
    },
    /// A command ran and failed.
    #[error("{cmd} failed ({status}): {output}")]
    Command {
        /// The command line.
        cmd: String,
        /// Exit status, as text.
        status: String,
        /// stdout and stderr, for the report.
        output: String,
    },
    /// A command or a wait did not finish in time.
    #[error("timed out after {after:?}: {what}")]
    Timeout {
        /// What was being waited for.
        what: String,
        /// The bound that was exceeded.
        after: Duration,
    },
    /// File I/O on the scenario directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A capture file could not be read.
    #[error("capture {path}: {reason}")]
    Capture {
        /// The pcap file.
        path: PathBuf,
        /// What was wrong with it.
        reason: String,
    },
    /// The scenario ran, but what happened is not what was expected.
    #[error("scenario check failed: {0}")]
    Check(String),
}

/// Result type of this crate.
pub type Result<T> = std::result::Result<T, Error>;

/// A scenario check: `Ok` when `ok`, otherwise [`Error::Check`] naming
/// `what` and showing `detail` (what was seen instead).
pub fn check(what: &str, ok: bool, detail: impl std::fmt::Display) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Check(format!("{what}: {detail}")))
    }
}

pub(crate) fn io_err(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// Whether a scenario can run here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gate {
    /// Everything is in place: run the scenario.
    Run,
    /// Something is missing and `CI` is not set: the caller returns early;
    /// the reason has already been printed with `SKIPPED:`.
    Skip,
}

/// True when the environment variable `CI` is set (to anything non-empty),
/// as CI services do: then a missing prerequisite fails the test.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty())
}

/// Checks what every strongSwan scenario needs: root, `ip`, `tcpdump`,
/// `unshare`, `kill`, `sysctl`, `ping`, `/dev/net/tun`, charon, swanctl and
/// the kernel-libipsec and curve25519 plugins (plus `pki` when `with_pki`).
/// Missing pieces skip the test loudly, or fail it (`Err`) when `CI` is set.
pub fn prerequisites(test: &str, with_pki: bool) -> Result<Gate> {
    let mut missing = Vec::new();
    if !is_root() {
        missing.push("root (network namespaces need CAP_SYS_ADMIN/CAP_NET_ADMIN)".to_owned());
    }
    let mut files: Vec<(&str, &str)> = vec![
        (netns::IP, "iproute2 `ip`"),
        (capture::TCPDUMP, "tcpdump"),
        (proc::UNSHARE, "util-linux `unshare`"),
        (proc::KILL, "procps `kill`"),
        ("/usr/sbin/sysctl", "procps `sysctl`"),
        ("/usr/bin/ping", "iputils-ping `ping`"),
        (
            "/dev/net/tun",
            "/dev/net/tun (kernel-libipsec's TUN device)",
        ),
        (strongswan::CHARON, "strongSwan charon (strongswan-charon)"),
        (strongswan::SWANCTL, "swanctl (strongswan-swanctl)"),
        (
            strongswan::KERNEL_LIBIPSEC,
            "kernel-libipsec plugin (libcharon-extra-plugins)",
        ),
        (
            strongswan::CURVE25519,
            "curve25519 plugin (libstrongswan-extra-plugins)",
        ),
    ];
    if with_pki {
        files.push((strongswan::PKI, "strongSwan pki (strongswan-pki)"));
    }
    for (path, what) in files {
        if !Path::new(path).exists() {
            missing.push(format!("{what} at {path}"));
        }
    }
    gate(test, missing)
}

/// What ikegw-against-strongSwan scenarios need: everything of
/// [`prerequisites`], the `ikegw` binary ([`ikegw::binary`]), `python3`
/// (the bulk-transfer endpoints) and `nft` (NAT and loss). Skips loudly, or
/// fails under `CI`.
pub fn ikegw_prerequisites(test: &str) -> Result<Gate> {
    if prerequisites(test, false)? == Gate::Skip {
        return Ok(Gate::Skip);
    }
    let mut missing = Vec::new();
    match ikegw::binary() {
        Err(why) => missing.push(why),
        Ok(bin) => {
            if let Some(src) = ikegw::newer_source_than(&bin) {
                // loud, not fatal: under `cargo test --workspace` the binary
                // is always fresh; this catches `cargo test -p interop-tests`
                let _ = writeln!(
                    std::io::stderr(),
                    "WARNING: {test}: {} is older than {}; rebuild it with \
                     `cargo build -p gateway --bin ikegw`",
                    bin.display(),
                    src.display()
                );
            }
        }
    }
    if ikegw::python3().is_none() {
        missing.push("python3 on PATH (bulk transfer endpoints)".to_owned());
    }
    if !Path::new(netns::NFT).exists() {
        missing.push(format!("nftables `nft` at {} (NAT, loss)", netns::NFT));
    }
    gate(test, missing)
}

/// Turns a list of missing things into the verdict: run, skip loudly, or
/// (under `CI`) fail.
fn gate(test: &str, missing: Vec<String>) -> Result<Gate> {
    if missing.is_empty() {
        return Ok(Gate::Run);
    }
    let missing = missing.join(", ");
    if in_ci() {
        return Err(Error::MissingPrerequisite {
            test: test.to_owned(),
            missing,
        });
    }
    // Straight to the stderr handle, not eprintln!: the test harness
    // captures eprintln! output of passing tests, and a skip must be seen.
    let _ = writeln!(
        std::io::stderr(),
        "SKIPPED: {test}: missing {missing} (run scripts/install-deps.sh as root; \
         set CI=1 to make this a failure)"
    );
    Ok(Gate::Skip)
}

/// Effective UID 0, read from `/proc/self/status` (no libc call needed).
fn is_root() -> bool {
    let Ok(status) = std::fs::read_to_string("/proc/self/status") else {
        return false;
    };
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|ids| ids.split_whitespace().nth(1))
        .is_some_and(|euid| euid == "0")
}

/// A name that is unique on this machine for this process run: the PID
/// plus a counter, so tests running in parallel never share a namespace.
pub fn unique_tag(prefix: &str) -> String {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}{}x{n}", std::process::id())
}

/// Set (non-empty) to keep every scenario directory, passed or not.
pub const KEEP_ENV: &str = "INTEROP_KEEP";

/// A scenario's scratch directory (configs, logs, sockets, pcaps). Removed
/// on drop when the scenario passed; kept, and its path printed, when the
/// thread is panicking, [`ScenarioDir::keep`] was called or [`KEEP_ENV`] is
/// set, so a failure
/// leaves its pcap and both peers' logs behind.
#[derive(Debug)]
pub struct ScenarioDir {
    path: PathBuf,
    keep: bool,
}

impl ScenarioDir {
    /// Creates `$TMPDIR/ikegw-interop-<tag>`.
    pub fn create(tag: &str) -> Result<Self> {
        let path = std::env::temp_dir().join(format!("ikegw-interop-{tag}"));
        std::fs::create_dir_all(&path).map_err(io_err(&path))?;
        Ok(Self { path, keep: false })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Keeps the directory after drop (for a failed check).
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for ScenarioDir {
    fn drop(&mut self) {
        let keep_all = std::env::var_os(KEEP_ENV).is_some_and(|v| !v.is_empty());
        if self.keep || keep_all || std::thread::panicking() {
            eprintln!("scenario files kept in {}", self.path.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}
