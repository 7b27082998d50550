//! ikegw as the peer under test: the `ikegw` binary located, its TOML
//! configuration rendered from Rust values, `ikegw run` started in a
//! gateway namespace and stopped by PID with SIGTERM (a clean exit is part
//! of the check), and the control verbs (`list-sas --json`, `initiate`, ...)
//! run against the instance's own control socket.
//!
//! Which binary: `IKEGW_BIN` when set, otherwise `ikegw` next to the test
//! executable's `deps/` directory, i.e. `<target-dir>/<profile>/ikegw`
//! (this follows `CARGO_TARGET_DIR` and the profile by construction).
//! `cargo test --workspace` builds every binary of the workspace before it
//! runs any test, so the file is there and current; after
//! `cargo test -p interop-tests` alone it may be missing or stale, which
//! the prerequisite check reports.
//!
//! What it must not do: start cargo (a nested build would block on the
//! build-directory lock that the running `cargo test` holds), or reach an
//! ikegw it did not start (every instance has its own control socket in the
//! scenario directory).

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::capture::{Capture, Packets};
use crate::netns::{Netns, Site, Topology, LEFT, LEFT_BEHIND_NAT, RIGHT};
use crate::proc::{self, Daemon, Output};
use crate::strongswan::{
    strongswan_conf, swanctl_conf, Auth, Charon, CharonOptions, Conn, KeyKind, Pki, RawSection,
};
use crate::{io_err, Error, Result, ScenarioDir};

/// Environment variable naming the `ikegw` binary to test.
pub const IKEGW_BIN_ENV: &str = "IKEGW_BIN";

/// The TUN device `ikegw run --tun` creates in its gateway namespace.
pub const TUN: &str = "ikegw0";

/// Bound for one control-verb call.
const CLI_LIMIT: Duration = Duration::from_secs(15);
/// How long `ikegw run` gets to open its control socket.
const START_LIMIT: Duration = Duration::from_secs(15);
/// How long SIGTERM gets: the daemon waits up to 3 s for the peers' answer
/// to its Deletes (driver `SHUTDOWN_GRACE`) and 0.3 s for the key engine.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// Where the `ikegw` binary is: `IKEGW_BIN`, else next to the test
/// executable's `deps/` directory. `Err` says what is missing and how to
/// get it.
pub fn binary() -> std::result::Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(IKEGW_BIN_ENV).filter(|v| !v.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{IKEGW_BIN_ENV}={} is not a file", p.display()))
        };
    }
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    // <target>/<profile>/deps/<test>-<hash>  →  <target>/<profile>/ikegw
    let candidate = exe
        .parent()
        .and_then(Path::parent)
        .map(|profile| profile.join("ikegw"))
        .ok_or_else(|| format!("cannot derive the target directory from {}", exe.display()))?;
    if candidate.is_file() {
        Ok(candidate)
    } else {
        Err(format!(
            "the ikegw binary at {} (build it with `cargo build -p gateway --bin ikegw`, \
             or run `cargo test --workspace`, or set {IKEGW_BIN_ENV})",
            candidate.display()
        ))
    }
}

/// Source files newer than `bin` under the crates `ikegw` is built from:
/// `cargo test -p interop-tests` does not rebuild the binary, so a
/// scenario could test yesterday's daemon. Returns one such file, if any.
pub fn newer_source_than(bin: &Path) -> Option<PathBuf> {
    fn walk(dir: &Path, than: std::time::SystemTime, depth: u32) -> Option<PathBuf> {
        let entries = std::fs::read_dir(dir).ok()?;
        for e in entries.flatten() {
            let p = e.path();
            let Ok(meta) = e.metadata() else { continue };
            if meta.is_dir() && depth < 8 {
                if let Some(f) = walk(&p, than, depth.saturating_add(1)) {
                    return Some(f);
                }
            } else if p.extension().is_some_and(|x| x == "rs" || x == "toml")
                && meta.modified().is_ok_and(|m| m > than)
            {
                return Some(p);
            }
        }
        None
    }
    let built = std::fs::metadata(bin).and_then(|m| m.modified()).ok()?;
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).parent()?;
    ["gateway", "ike", "pfkey", "certs"]
        .iter()
        .find_map(|c| walk(&crates.join(c).join("src"), built, 0))
}

/// `python3` on `PATH` (the bulk-transfer endpoints are small python
/// scripts run inside the LAN namespaces).
pub fn python3() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())
}

/// One `[connections.s2s]` with its CHILD_SA `net`, from the point of view
/// of the ikegw it is rendered for. Values use swanctl's vocabulary, as
/// `docs/config.md` defines it.
#[derive(Clone, Debug)]
pub struct IkegwConf {
    /// This gateway.
    pub local: Site,
    /// The peer gateway (its WAN address is `remote_addrs`).
    pub remote: Site,
    /// `remote_addrs` when the peer is not reached at `remote.wan` (NAT).
    pub remote_addr: Option<String>,
    /// Our identity.
    pub local_id: String,
    /// The peer's identity.
    pub remote_id: String,
    /// IKE proposals, strongSwan syntax.
    pub proposals: Vec<String>,
    /// ESP proposals, strongSwan syntax.
    pub esp_proposals: Vec<String>,
    /// The pre-shared key (both identities map to it); used when `pubkey`
    /// is `None`.
    pub psk: String,
    /// Certificate authentication instead of the PSK.
    pub pubkey: Option<PubkeyAuth>,
    /// With `pubkey`: the `auth` of our round, swanctl's syntax (default
    /// `pubkey`; e.g. `rsa/pss` to sign with RSASSA-PSS).
    pub local_auth: Option<String>,
    /// Our traffic selectors (default: our LAN).
    pub local_ts: Vec<String>,
    /// The peer's traffic selectors (default: its LAN).
    pub remote_ts: Vec<String>,
    /// `rekey_time` of the IKE SA (strongSwan default 4h when `None`).
    pub ike_rekey_time: Option<String>,
    /// `rekey_time` of the CHILD SA (1h when `None`).
    pub child_rekey_time: Option<String>,
    /// `life_time` of the CHILD SA (110 % of rekey_time when `None`).
    pub child_life_time: Option<String>,
    /// `dpd_delay`.
    pub dpd_delay: Option<String>,
    /// `[daemon] log_level`.
    pub log_level: String,
    /// Extra lines inside `[connections.s2s]` (e.g. `pools = ["rw"]`).
    pub extra_conn: String,
    /// Extra tables at the end of the file (e.g. `[pools.rw]`).
    pub extra: String,
    /// Extra lines inside `[daemon]` (e.g. `retransmit_tries = 2`).
    pub daemon_extra: String,
    /// The CHILD SA's `start_action` (`none`, `trap`, `start`).
    pub start_action: String,
    /// Extra lines inside `[connections.s2s.children.net]`
    /// (e.g. `dpd_action = "restart"`).
    pub child_extra: String,
}

impl IkegwConf {
    /// A PSK site-to-site configuration between `local` and `remote`, with
    /// the LANs as selectors and the same proposals strongSwan gets.
    pub fn site_to_site(
        local: Site,
        remote: Site,
        local_id: &str,
        remote_id: &str,
        proposals: &str,
        esp_proposals: &str,
    ) -> Self {
        Self {
            local,
            remote,
            remote_addr: None,
            local_id: local_id.to_owned(),
            remote_id: remote_id.to_owned(),
            proposals: vec![proposals.to_owned()],
            esp_proposals: vec![esp_proposals.to_owned()],
            psk: crate::strongswan::TEST_PSK.to_owned(),
            pubkey: None,
            local_auth: None,
            local_ts: vec![local.lan_net.to_owned()],
            remote_ts: vec![remote.lan_net.to_owned()],
            ike_rekey_time: None,
            child_rekey_time: None,
            child_life_time: None,
            dpd_delay: None,
            log_level: "debug".to_owned(),
            extra_conn: String::new(),
            extra: String::new(),
            daemon_extra: String::new(),
            start_action: "none".to_owned(),
            child_extra: String::new(),
        }
    }
}

/// ikegw's side of certificate authentication (RFC 7296 §2.15 with
/// signatures): our certificate and key, and the peer's trust anchors.
#[derive(Clone, Debug)]
pub struct PubkeyAuth {
    /// Our end-entity certificate (PEM).
    pub cert: PathBuf,
    /// Its private key (mode 0600).
    pub key: PathBuf,
    /// Trust anchors for the peer's chain.
    pub cacerts: Vec<PathBuf>,
}

/// A TOML basic string: quotes and backslashes escaped.
fn toml_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len().saturating_add(2));
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn toml_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| toml_str(s)).collect();
    format!("[{}]", items.join(", "))
}

/// The control socket of an instance living in `dir`.
pub fn control_socket(dir: &Path) -> PathBuf {
    dir.join("ikegw.sock")
}

/// Renders `ikegw.toml` for an instance living in `dir`: userland backend,
/// sockets and state under `dir`, IKE bound to our WAN address, ESP forced
/// into UDP (`encap`: strongSwan's kernel-libipsec only speaks ESP-in-UDP,
/// and so does ikegw's userland data plane).
pub fn render_config(dir: &Path, c: &IkegwConf) -> String {
    let d = |name: &str| toml_str(&dir.join(name).to_string_lossy());
    let mut conn_opts = String::new();
    if let Some(t) = &c.ike_rekey_time {
        let _ = writeln!(conn_opts, "rekey_time = {}", toml_str(t));
    }
    if let Some(t) = &c.dpd_delay {
        let _ = writeln!(conn_opts, "dpd_delay = {}", toml_str(t));
    }
    conn_opts.push_str(&c.extra_conn);
    let mut child_opts = String::new();
    if let Some(t) = &c.child_rekey_time {
        let _ = writeln!(child_opts, "rekey_time = {}", toml_str(t));
    }
    if let Some(t) = &c.child_life_time {
        let _ = writeln!(child_opts, "life_time = {}", toml_str(t));
    }
    child_opts.push_str(&c.child_extra);
    let path = |p: &Path| toml_str(&p.to_string_lossy());
    let (local_auth, remote_auth, secrets) = match &c.pubkey {
        None => (
            "auth = \"psk\"\n".to_owned(),
            "auth = \"psk\"\n".to_owned(),
            format!(
                "[secrets.ike.s2s]\nid = [{}, {}]\nsecret = {}\n",
                toml_str(&c.local_id),
                toml_str(&c.remote_id),
                toml_str(&c.psk)
            ),
        ),
        Some(pk) => {
            let cas: Vec<String> = pk.cacerts.iter().map(|p| path(p)).collect();
            (
                format!(
                    "auth = {}\ncerts = [{}]\n",
                    toml_str(c.local_auth.as_deref().unwrap_or("pubkey")),
                    path(&pk.cert)
                ),
                format!("auth = \"pubkey\"\ncacerts = [{}]\n", cas.join(", ")),
                format!("[secrets.private.me]\nfile = {}\n", path(&pk.key)),
            )
        }
    };
    let remote_addr = c
        .remote_addr
        .clone()
        .unwrap_or_else(|| c.remote.wan.to_string());
    format!(
        "# generated by interop-tests
[daemon]
backend = \"userland\"
control_socket = {ctl}
state_dir = {state}
log_format = \"text\"
log_level = {level}
listen = [{me}]
{daemon_extra}
[connections.s2s]
version = 2
local_addrs = [{me}]
remote_addrs = [{peer}]
proposals = {prop}
encap = true
mobike = false
{conn_opts}
[connections.s2s.local]
{local_auth}id = {lid}

[connections.s2s.remote]
{remote_auth}id = {rid}

[connections.s2s.children.net]
local_ts = {lts}
remote_ts = {rts}
esp_proposals = {esp}
start_action = {start}
{child_opts}
{secrets}{extra}",
        ctl = toml_str(&control_socket(dir).to_string_lossy()),
        state = d("state"),
        level = toml_str(&c.log_level),
        me = toml_str(&c.local.wan.to_string()),
        peer = toml_str(&remote_addr),
        prop = toml_list(&c.proposals),
        lid = toml_str(&c.local_id),
        rid = toml_str(&c.remote_id),
        lts = toml_list(&c.local_ts),
        rts = toml_list(&c.remote_ts),
        esp = toml_list(&c.esp_proposals),
        extra = c.extra,
        daemon_extra = c.daemon_extra,
        start = toml_str(&c.start_action),
    )
}

/// One CHILD SA as `ikegw list-sas --json` reports it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ChildSa {
    /// CHILD SA name.
    pub name: String,
    /// Our inbound SPI, hex.
    pub spi_in: String,
    /// Our outbound SPI, hex.
    pub spi_out: String,
    /// ESP algorithms.
    pub suite: String,
    /// Our selectors.
    pub local_ts: Vec<String>,
    /// The peer's selectors.
    pub remote_ts: Vec<String>,
    /// Decrypted bytes received.
    pub bytes_in: u64,
    /// Packets received.
    pub packets_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Packets sent.
    pub packets_out: u64,
}

/// One IKE SA as `ikegw list-sas --json` reports it.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct IkeSa {
    /// Our IKE SPI, hex.
    pub id: String,
    /// `conn/child`.
    pub name: String,
    /// `CONNECTING` or `ESTABLISHED`.
    pub state: String,
    /// Our address:port.
    pub local: String,
    /// The peer's address:port.
    pub remote: String,
    /// Our identity.
    pub local_id: String,
    /// The peer's identity.
    pub remote_id: String,
    /// IKE algorithms.
    pub suite: String,
    /// NAT detected or forced.
    pub nat: bool,
    /// CHILD SAs.
    pub children: Vec<ChildSa>,
}

/// `ikegw stats --json`.
#[derive(Clone, Debug, Default, Deserialize, PartialEq, Eq)]
pub struct Stats {
    /// IKE datagrams received.
    pub ike_in: u64,
    /// IKE datagrams sent.
    pub ike_out: u64,
    /// ESP-in-UDP datagrams received.
    pub esp_in: u64,
    /// IKE SAs established.
    pub established: u64,
    /// IKE SA setups that failed.
    pub failed: u64,
    /// CHILD SAs installed.
    pub children_installed: u64,
}

/// The daemon's typed answer to one control verb.
#[derive(Debug, Deserialize)]
#[serde(tag = "response", rename_all = "kebab-case")]
enum Reply {
    Sas {
        sas: Vec<IkeSa>,
    },
    Stats(Stats),
    Initiated {
        ike: String,
    },
    Terminating {
        ike: Vec<String>,
    },
    Rekeying {
        ike: String,
    },
    Error(serde_json::Value),
    #[serde(other)]
    Other,
}

/// Parses `ikegw list-sas --json` output.
pub fn parse_list_sas(json: &str) -> Result<Vec<IkeSa>> {
    match parse_reply(json)? {
        Reply::Sas { sas } => Ok(sas),
        other => Err(unexpected("list-sas", other)),
    }
}

/// The error for an answer that is not the one `verb` expects; the
/// daemon's typed error is shown as it came.
fn unexpected(verb: &str, reply: Reply) -> Error {
    match reply {
        Reply::Error(e) => Error::Check(format!("ikegw {verb} refused: {e}")),
        other => Error::Check(format!("ikegw {verb} answered {other:?}")),
    }
}

fn parse_reply(json: &str) -> Result<Reply> {
    serde_json::from_str(json)
        .map_err(|e| Error::Check(format!("unexpected ikegw --json output ({e}): {json}")))
}

/// A running `ikegw run` with its directory, control socket and log.
#[derive(Debug)]
pub struct Ikegw {
    daemon: Daemon,
    bin: PathBuf,
    dir: PathBuf,
}

impl Ikegw {
    /// Writes `config` (mode 0600: it holds the PSK) into `dir`, starts
    /// `ikegw run --config F --tun ikegw0` in `ns` with a private `/run`,
    /// and waits until its control socket answers `status`.
    pub fn start(name: &str, ns: &Netns, dir: &Path, bin: &Path, config: &str) -> Result<Self> {
        Self::start_tun(name, ns, dir, bin, config, Some(TUN))
    }

    /// Like [`Ikegw::start`], without a data plane of its own when `tun`
    /// is `None` (the key engine is then a process of its own that runs
    /// it, config `daemon.engine_socket`; see [`EngineProcess`]).
    pub fn start_tun(
        name: &str,
        ns: &Netns,
        dir: &Path,
        bin: &Path,
        config: &str,
        tun: Option<&str>,
    ) -> Result<Self> {
        use std::os::unix::fs::PermissionsExt as _;
        let run = dir.join("run");
        let state = dir.join("state");
        for p in [&run, &state] {
            std::fs::create_dir_all(p).map_err(io_err(p))?;
        }
        let conf = dir.join("ikegw.toml");
        std::fs::write(&conf, config).map_err(io_err(&conf))?;
        std::fs::set_permissions(&conf, std::fs::Permissions::from_mode(0o600))
            .map_err(io_err(&conf))?;
        let bin_s = bin.to_string_lossy().into_owned();
        let conf_s = conf.to_string_lossy().into_owned();
        let mut argv = vec!["env", "NO_COLOR=1", &bin_s, "run", "--config", &conf_s];
        if let Some(t) = tun {
            argv.extend(["--tun", t]);
        }
        let daemon = Daemon::spawn(
            name,
            ns.name(),
            Some(&run),
            &argv,
            &dir.join("ikegw.log"),
            "TERM",
        )?;
        let mut gw = Self {
            daemon,
            bin: bin.to_path_buf(),
            dir: dir.to_path_buf(),
        };
        proc::wait_for(
            &format!("{name}: ikegw control socket"),
            START_LIMIT,
            || {
                gw.daemon.check_alive()?;
                if !control_socket(dir).exists() {
                    return Ok(None);
                }
                Ok(gw.verb(&["status"]).is_ok().then_some(()))
            },
        )?;
        Ok(gw)
    }

    /// The instance directory (`ikegw.toml`, `ikegw.log`, sockets).
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The daemon's PID.
    pub fn pid(&self) -> u32 {
        self.daemon.pid()
    }

    /// Its log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.daemon.log()).unwrap_or_default()
    }

    /// Fails when the daemon has exited.
    pub fn check_alive(&mut self) -> Result<()> {
        self.daemon.check_alive()
    }

    /// Whether ikegw lists an ESTABLISHED IKE SA with a CHILD SA.
    pub fn child_installed(&self) -> Result<bool> {
        Ok(self
            .list_sas()?
            .iter()
            .any(|sa| sa.state == "ESTABLISHED" && !sa.children.is_empty()))
    }

    /// Runs `ikegw VERB ARGS... --socket S --json` (from the host: the
    /// socket is a path, reachable across network namespaces) and returns
    /// stdout; fails on a non-zero exit.
    pub fn verb(&self, args: &[&str]) -> Result<String> {
        let out: Output = proc::run(&mut self.verb_command(args), CLI_LIMIT, &self.dir)?;
        Ok(out.stdout)
    }

    /// The command line of [`Ikegw::verb`].
    fn verb_command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(&self.bin);
        cmd.args(args)
            .arg("--socket")
            .arg(control_socket(&self.dir))
            .arg("--json")
            .env("NO_COLOR", "1");
        cmd
    }

    /// `ikegw list-sas --json`, parsed.
    pub fn list_sas(&self) -> Result<Vec<IkeSa>> {
        parse_list_sas(&self.verb(&["list-sas"])?)
    }

    /// `ikegw stats --json`, parsed.
    pub fn stats(&self) -> Result<Stats> {
        match parse_reply(&self.verb(&["stats"])?)? {
            Reply::Stats(s) => Ok(s),
            other => Err(unexpected("stats", other)),
        }
    }

    /// `ikegw initiate --child CHILD`; returns the new IKE SA's id.
    pub fn initiate(&self, child: &str) -> Result<String> {
        match parse_reply(&self.verb(&["initiate", "--child", child])?)? {
            Reply::Initiated { ike } => Ok(ike),
            other => Err(unexpected("initiate", other)),
        }
    }

    /// `ikegw terminate --ike IKE`; returns the ids being deleted.
    pub fn terminate(&self, ike: &str) -> Result<Vec<String>> {
        match parse_reply(&self.verb(&["terminate", "--ike", ike])?)? {
            Reply::Terminating { ike } => Ok(ike),
            other => Err(unexpected("terminate", other)),
        }
    }

    /// `ikegw rekey --ike IKE [--child SPI]`.
    pub fn rekey(&self, ike: &str, child: Option<&str>) -> Result<String> {
        let mut args = vec!["rekey", "--ike", ike];
        if let Some(c) = child {
            args.extend(["--child", c]);
        }
        match parse_reply(&self.verb(&args)?)? {
            Reply::Rekeying { ike } => Ok(ike),
            other => Err(unexpected("rekey", other)),
        }
    }

    /// SIGKILLs the daemon (by PID: a crash, no Deletes, no cleanup) and
    /// reaps it; returns its exit status when it could be reaped.
    pub fn kill(&mut self) -> Option<std::process::ExitStatus> {
        self.daemon.kill()
    }

    /// Runs `ikegw VERB ARGS... --socket S --json` like [`Ikegw::verb`],
    /// but returns the output whatever the exit status (for verbs that are
    /// expected to be refused).
    pub fn verb_unchecked(&self, args: &[&str]) -> Result<Output> {
        proc::run_unchecked(&mut self.verb_command(args), CLI_LIMIT, &self.dir)
    }

    /// Stops the daemon with SIGTERM (by PID) and requires a clean exit
    /// (status 0) within the shutdown grace.
    pub fn stop(&mut self) -> Result<()> {
        match self.daemon.stop_within(STOP_GRACE) {
            Some(s) if s.success() => Ok(()),
            Some(s) => Err(Error::Check(format!(
                "ikegw (pid {}) did not exit cleanly on SIGTERM: {s}",
                self.pid()
            ))),
            None => Err(Error::Check(format!(
                "ikegw (pid {}) could not be reaped",
                self.pid()
            ))),
        }
    }
}

/// Which gateway of the [`Topology`] runs ikegw; strongSwan runs on the
/// other one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// `left` (198.51.100.1, LAN 10.1.0.0/24).
    Left,
    /// `right` (198.51.100.2, LAN 10.2.0.0/24).
    Right,
}

/// Who starts the IKE SA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Initiator {
    /// `ikegw initiate --child net`.
    Ikegw,
    /// `swanctl --initiate --child net`.
    StrongSwan,
}

/// ikegw's identity in every mixed scenario.
pub const IKEGW_ID: &str = "ikegw.interop.example";
/// strongSwan's identity in every mixed scenario.
pub const STRONGSWAN_ID: &str = "strongswan.interop.example";

/// What a [`Mixed`] scenario runs. Both ends get `proposals` and
/// `esp_proposals`; `edit_ikegw` / `edit_strongswan` then change one end
/// (a wrong PSK, other selectors, short lifetimes, ...).
#[derive(Clone, Debug)]
pub struct MixedSetup {
    /// Where ikegw runs.
    pub ikegw_side: Side,
    /// Who initiates.
    pub initiator: Initiator,
    /// IKE proposals, strongSwan syntax.
    pub proposals: String,
    /// ESP proposals, strongSwan syntax.
    pub esp_proposals: String,
    /// Changes to ikegw's configuration.
    pub edit_ikegw: fn(&mut IkegwConf),
    /// Changes to strongSwan's connection.
    pub edit_strongswan: fn(&mut Conn),
    /// strongSwan's `strongswan.conf` knobs.
    pub charon: CharonOptions,
    /// Time bound for the whole scenario.
    pub deadline: Duration,
    /// Put ikegw (which must be on the left) behind a NAT
    /// ([`Topology::create_behind_nat`]).
    pub ikegw_behind_nat: bool,
    /// How long [`Mixed::wait_up`] waits for both ends to show the SAs.
    pub establish_limit: Duration,
    /// Certificates from a fresh [`Pki`] (`cert_key` keys, root →
    /// intermediate → end entity) instead of the PSK, at both ends; the identities are
    /// then the certificates' (`left.interop.example`, ...).
    pub certificates: bool,
    /// The key type of those certificates.
    pub cert_key: KeyKind,
    /// With `certificates`: ikegw trusts the root and intermediate of a
    /// second, unrelated chain instead of the one that issued strongSwan's
    /// certificate (issue #8 scenario 9, unknown CA).
    pub ikegw_foreign_ca: bool,
    /// With `certificates`: the chain is made by `ikegw pki`
    /// ([`Pki::generate_by_ikegw`]) instead of strongSwan's `pki`.
    pub ikegw_pki: bool,
}

impl Default for MixedSetup {
    /// Issue #8 scenario 1: PSK, IKE AES-GCM-16-256 / PRF-SHA384 / X25519,
    /// ESP AES-GCM-16-128 (X25519 as PFS group on rekeys), ikegw on the
    /// left and initiating, 60 s.
    fn default() -> Self {
        Self {
            ikegw_side: Side::Left,
            initiator: Initiator::Ikegw,
            proposals: "aes256gcm16-prfsha384-x25519".into(),
            esp_proposals: "aes128gcm16-x25519".into(),
            edit_ikegw: |_| {},
            edit_strongswan: |_| {},
            charon: CharonOptions::default(),
            deadline: Duration::from_secs(60),
            ikegw_behind_nat: false,
            establish_limit: Duration::from_secs(20),
            certificates: false,
            cert_key: KeyKind::Rsa2048,
            ikegw_foreign_ca: false,
            ikegw_pki: false,
        }
    }
}

impl MixedSetup {
    /// The default setup with `initiator` starting the IKE SA, and ikegw
    /// on the left when it initiates, on the right when strongSwan does
    /// (the initiator is always the left gateway).
    pub fn initiated_by(initiator: Initiator) -> Self {
        Self {
            ikegw_side: match initiator {
                Initiator::Ikegw => Side::Left,
                Initiator::StrongSwan => Side::Right,
            },
            initiator,
            ..Self::default()
        }
    }
}

/// ikegw on one gateway, strongSwan (charon + kernel-libipsec) on the
/// other, over a fresh [`Topology`], with tcpdump on ikegw's WAN veth.
///
/// Field order is drop order: capture and daemons are stopped by PID
/// before the namespaces are deleted; the directory (kept on failure) goes
/// last.
#[derive(Debug)]
pub struct Mixed {
    capture: Option<Capture>,
    /// The ikegw daemon.
    pub ikegw: Ikegw,
    /// The strongSwan daemon.
    pub charon: Charon,
    /// The namespaces.
    pub topo: Topology,
    /// Configs, logs, pcap.
    pub dir: ScenarioDir,
    side: Side,
    initiator: Initiator,
    started: Instant,
    deadline: Duration,
    establish_limit: Duration,
}

impl Mixed {
    /// Builds the topology, starts charon (configs loaded) and ikegw, and
    /// the capture. On failure, both logs are printed and kept.
    pub fn start(tag: &str, setup: &MixedSetup) -> Result<Self> {
        let bin = binary().map_err(Error::Check)?;
        let started = Instant::now();
        let mut dir = ScenarioDir::create(tag)?;
        match Self::bring_up(tag, setup, &dir, &bin) {
            Ok((topo, ikegw, charon, capture)) => Ok(Self {
                capture: Some(capture),
                ikegw,
                charon,
                topo,
                dir,
                side: setup.ikegw_side,
                initiator: setup.initiator,
                started,
                deadline: setup.deadline,
                establish_limit: setup.establish_limit,
            }),
            Err(e) => {
                dir.keep();
                print_logs(dir.path());
                Err(e)
            }
        }
    }

    fn bring_up(
        tag: &str,
        setup: &MixedSetup,
        dir: &ScenarioDir,
        bin: &Path,
    ) -> Result<(Topology, Ikegw, Charon, Capture)> {
        let (topo, gw_site, ss_site) = match (setup.ikegw_side, setup.ikegw_behind_nat) {
            (Side::Left, false) => (Topology::create(tag, dir.path())?, LEFT, RIGHT),
            (Side::Right, false) => (Topology::create(tag, dir.path())?, RIGHT, LEFT),
            (Side::Left, true) => (
                Topology::create_behind_nat(tag, dir.path())?,
                LEFT_BEHIND_NAT,
                RIGHT,
            ),
            (Side::Right, true) => {
                return Err(Error::Check(
                    "the NAT topology puts ikegw on the left".into(),
                ))
            }
        };
        // strongSwan reaches ikegw at the left WAN address, which is the
        // NAT's outside address when there is a NAT
        let gw_public = match setup.ikegw_side {
            Side::Left => LEFT,
            Side::Right => RIGHT,
        };
        let (gw_ns, ss_ns) = match setup.ikegw_side {
            Side::Left => (&topo.left, &topo.right),
            Side::Right => (&topo.right, &topo.left),
        };
        let ss_dir = dir.path().join("strongswan");
        std::fs::create_dir_all(&ss_dir).map_err(io_err(&ss_dir))?;
        let gw_dir = dir.path().join("ikegw");
        std::fs::create_dir_all(&gw_dir).map_err(io_err(&gw_dir))?;
        // the PKI names its end entities after the topology's sides
        let (gw_side, ss_side) = match setup.ikegw_side {
            Side::Left => ("left", "right"),
            Side::Right => ("right", "left"),
        };
        let (gw_id, ss_id, ss_auth, gw_pubkey) = if setup.certificates {
            let pki = if setup.ikegw_pki {
                Pki::generate_by_ikegw(&dir.path().join("pki"), bin, setup.cert_key)?
            } else {
                Pki::generate_with(&dir.path().join("pki"), setup.cert_key)?
            };
            pki.install(ss_side, &ss_dir)?;
            (
                format!("{gw_side}.interop.example"),
                format!("{ss_side}.interop.example"),
                Auth::Pubkey {
                    cert: format!("{ss_side}.pem"),
                },
                Some({
                    let mut auth = pki.install_for_ikegw(gw_side, &gw_dir)?;
                    if setup.ikegw_foreign_ca {
                        let other = Pki::generate_org(
                            &dir.path().join("pki-other"),
                            setup.cert_key,
                            "unrelated",
                        )?;
                        let other_dir = gw_dir.join("other");
                        std::fs::create_dir_all(&other_dir).map_err(io_err(&other_dir))?;
                        auth.cacerts = other.install_for_ikegw(gw_side, &other_dir)?.cacerts;
                    }
                    auth
                }),
            )
        } else {
            (
                IKEGW_ID.to_owned(),
                STRONGSWAN_ID.to_owned(),
                Auth::Psk,
                None,
            )
        };
        let mut conn = Conn {
            local: ss_site,
            remote: gw_public,
            local_id: ss_id.clone(),
            remote_id: gw_id.clone(),
            proposals: setup.proposals.clone(),
            esp_proposals: setup.esp_proposals.clone(),
            auth: ss_auth,
            fragmentation: false,
            dpd_delay: None,
            // charon would announce its LAN address and send address
            // updates; ikegw is a fixed site-to-site peer
            extra_conn: "mobike = no\n".into(),
            extra_child: String::new(),
        };
        (setup.edit_strongswan)(&mut conn);
        let charon = Charon::start(
            "charon",
            ss_ns.name(),
            &ss_dir,
            &strongswan_conf(&ss_dir, &setup.charon),
            &swanctl_conf(&conn),
        )?;
        charon.load_all()?;
        let mut conf = IkegwConf::site_to_site(
            gw_site,
            ss_site,
            &gw_id,
            &ss_id,
            &setup.proposals,
            &setup.esp_proposals,
        );
        conf.pubkey = gw_pubkey;
        (setup.edit_ikegw)(&mut conf);
        let ikegw = Ikegw::start("ikegw", gw_ns, &gw_dir, bin, &render_config(&gw_dir, &conf))?;
        let capture = Capture::start(gw_ns, "wan0", &dir.path().join("wan.pcap"))?;
        Ok((topo, ikegw, charon, capture))
    }

    /// ikegw's gateway namespace.
    pub fn ikegw_ns(&self) -> &Netns {
        match self.side {
            Side::Left => &self.topo.left,
            Side::Right => &self.topo.right,
        }
    }

    /// strongSwan's gateway namespace.
    pub fn strongswan_ns(&self) -> &Netns {
        match self.side {
            Side::Left => &self.topo.right,
            Side::Right => &self.topo.left,
        }
    }

    /// Starts charon again after [`Charon::kill`], same configs.
    pub fn restart_strongswan(&mut self) -> Result<()> {
        let ns = self.strongswan_ns().name().to_owned();
        self.charon.restart(&ns)
    }

    /// The LAN prefix behind strongSwan (what ikegw routes into its TUN).
    pub fn strongswan_lan(&self) -> &'static str {
        match self.side {
            Side::Left => RIGHT.lan_net,
            Side::Right => LEFT.lan_net,
        }
    }

    /// Where ikegw runs.
    pub fn ikegw_side(&self) -> Side {
        self.side
    }

    /// Who initiates.
    pub fn initiator(&self) -> Initiator {
        self.initiator
    }

    /// Fails once the scenario has run longer than its deadline.
    pub fn check_deadline(&self) -> Result<()> {
        if self.started.elapsed() > self.deadline {
            return Err(Error::Timeout {
                what: format!("scenario in {}", self.dir.path().display()),
                after: self.deadline,
            });
        }
        Ok(())
    }

    /// Time since [`Mixed::start`].
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Starts the IKE SA from the configured initiator (does not wait).
    /// strongSwan's `--initiate` itself waits for the outcome and fails
    /// when the exchange fails.
    pub fn initiate(&self) -> Result<()> {
        self.check_deadline()?;
        match self.initiator {
            Initiator::Ikegw => self.ikegw.initiate("net").map(drop),
            Initiator::StrongSwan => {
                let secs = self.establish_limit.as_secs().to_string();
                self.charon
                    .swanctl_within(
                        &["--initiate", "--child", "net", "--timeout", &secs],
                        self.establish_limit.saturating_add(Duration::from_secs(5)),
                    )
                    .map(drop)
            }
        }
    }

    /// [`Mixed::initiate`], then [`Mixed::wait_up`].
    pub fn establish(&mut self) -> Result<()> {
        self.initiate()?;
        self.wait_up()
    }

    /// Waits until both ends show one ESTABLISHED IKE SA with an installed
    /// CHILD SA, and ikegw's data plane routes strongSwan's LAN into its
    /// TUN device (it does so once it has read the SA from the key engine).
    pub fn wait_up(&mut self) -> Result<()> {
        self.check_deadline()?;
        let lan = self.strongswan_lan();
        let ns = self.ikegw_ns().name().to_owned();
        let scratch = self.dir.path().to_path_buf();
        proc::wait_for(
            "IKE and CHILD SA up at both ends, route into ikegw's TUN",
            self.establish_limit,
            || {
                if !self.both_up()? {
                    return Ok(None);
                }
                let routes = proc::run(
                    Command::new(crate::netns::IP).args(["-n", &ns, "route", "show", lan]),
                    CLI_LIMIT,
                    &scratch,
                )?;
                Ok(routes.stdout.contains(TUN).then_some(()))
            },
        )
    }

    /// Whether both daemons are alive (an error when not) and each lists
    /// an ESTABLISHED IKE SA with a CHILD SA (INSTALLED at strongSwan).
    pub fn both_up(&mut self) -> Result<bool> {
        self.ikegw.check_alive()?;
        self.charon.check_alive()?;
        Ok(self.ikegw.child_installed()? && self.charon.child_installed()?)
    }

    /// Both ends' views of the one ESTABLISHED IKE SA, matched: ikegw's
    /// IKE SPI is the one strongSwan lists for ikegw's role, and every
    /// INSTALLED strongSwan CHILD SA has an ikegw CHILD SA with the SPIs
    /// crossed (ikegw's inbound = strongSwan's outbound and vice versa),
    /// and no ikegw CHILD SA is left without its strongSwan twin.
    pub fn matched_sas(&self) -> Result<SaPair> {
        let gw: Vec<IkeSa> = self
            .ikegw
            .list_sas()?
            .into_iter()
            .filter(|s| s.state == "ESTABLISHED")
            .collect();
        let ss: Vec<RawSection> = self
            .charon
            .list_sas()?
            .into_iter()
            .filter(|s| s.get("state") == Some("ESTABLISHED"))
            .collect();
        let (gw, ss) = match (gw.as_slice(), ss.as_slice()) {
            ([g], [s]) => (g.clone(), s.clone()),
            _ => {
                return Err(Error::Check(format!(
                    "want exactly one ESTABLISHED IKE SA at each end; ikegw: {gw:?}; \
                     strongSwan: {ss:?}"
                )))
            }
        };
        // strongSwan marks the SA with initiator=yes when it initiated it
        let ss_initiated = ss.get("initiator") == Some("yes");
        let ikegw_spi_at_ss = if ss_initiated {
            ss.get("responder-spi")
        } else {
            ss.get("initiator-spi")
        };
        if !ikegw_spi_at_ss.is_some_and(|spi| same_hex(spi, &gw.id)) {
            return Err(Error::Check(format!(
                "IKE SPIs disagree: ikegw's SA id {} vs strongSwan initiator-spi {:?} \
                 responder-spi {:?} (strongSwan initiator: {ss_initiated})",
                gw.id,
                ss.get("initiator-spi"),
                ss.get("responder-spi")
            )));
        }
        let installed: Vec<&RawSection> = ss
            .child_sas()
            .filter(|c| c.get("state") == Some("INSTALLED"))
            .collect();
        let mut children = Vec::new();
        for c in &installed {
            let (Some(ss_in), Some(ss_out)) = (c.get("spi-in"), c.get("spi-out")) else {
                return Err(Error::Check(format!(
                    "strongSwan CHILD SA without SPIs: {c:?}"
                )));
            };
            let twin = gw
                .children
                .iter()
                .find(|g| same_hex(&g.spi_in, ss_out) && same_hex(&g.spi_out, ss_in))
                .ok_or_else(|| {
                    Error::Check(format!(
                        "strongSwan CHILD SA in {ss_in} / out {ss_out} has no ikegw twin with \
                         in {ss_out} / out {ss_in}; ikegw children: {:?}",
                        gw.children
                    ))
                })?;
            children.push((twin.clone(), (*c).clone()));
        }
        if children.is_empty() || children.len() != gw.children.len() {
            return Err(Error::Check(format!(
                "CHILD SAs: {} INSTALLED at strongSwan, {} at ikegw ({:?})",
                installed.len(),
                gw.children.len(),
                gw.children
            )));
        }
        Ok(SaPair {
            ikegw: gw,
            strongswan: ss,
            children,
        })
    }

    /// Pings from `from`'s LAN host to the other LAN host (`count` echoes).
    pub fn ping(&self, from: Side, count: u32) -> Result<()> {
        self.check_deadline()?;
        let (ns, to) = match from {
            Side::Left => (&self.topo.left_lan, RIGHT.lan_host),
            Side::Right => (&self.topo.right_lan, LEFT.lan_host),
        };
        ns.ping(&to.to_string(), u64::from(count), None, self.dir.path())
            .map(drop)
    }

    /// The one CHILD SA pair of [`Mixed::matched_sas`]; an error when
    /// there are more.
    pub fn one_child(&self) -> Result<(ChildSa, RawSection)> {
        let up = self.matched_sas()?;
        match <[_; 1]>::try_from(up.children) {
            Ok([pair]) => Ok(pair),
            Err(children) => Err(Error::Check(format!(
                "want one CHILD SA, got {}",
                children.len()
            ))),
        }
    }

    /// Waits (3 s) until ikegw's one CHILD SA, matched with strongSwan's,
    /// has counted at least `packets` ESP packets in and out.
    pub fn wait_esp_counters(&self, packets: u64) -> Result<()> {
        proc::wait_for(
            "ikegw's ESP counters after the pings",
            Duration::from_secs(3),
            || {
                let now = self.matched_sas()?;
                let [(g, _)] = now.children.as_slice() else {
                    return Ok(None);
                };
                Ok((g.packets_in >= packets && g.packets_out >= packets).then_some(()))
            },
        )
    }

    /// Sends `len` pseudo-random bytes over TCP from the left LAN host to
    /// the right LAN host (python3 at both ends) and compares what arrived
    /// with what was sent, byte for byte. Returns the transfer time.
    pub fn bulk_transfer(&self, len: usize, port: u16) -> Result<Duration> {
        self.paced_transfer(len, port, Duration::ZERO)
    }

    /// [`Mixed::bulk_transfer`], with the bytes spread evenly over
    /// `spread` (64 KiB at a time), so that the transfer is still running
    /// while rekeys happen.
    pub fn paced_transfer(&self, len: usize, port: u16, spread: Duration) -> Result<Duration> {
        self.check_deadline()?;
        let python = python3().ok_or_else(|| Error::Check("python3 not found on PATH".into()))?;
        let python = python.to_string_lossy().into_owned();
        let sent = self.dir.path().join(format!("bulk-{port}.sent"));
        let got = self.dir.path().join(format!("bulk-{port}.received"));
        std::fs::write(&sent, pseudo_random(len, u64::from(port))).map_err(io_err(&sent))?;
        let log = self.dir.path().join(format!("bulk-{port}.receiver.log"));
        let port_s = port.to_string();
        let got_s = got.to_string_lossy().into_owned();
        let sent_s = sent.to_string_lossy().into_owned();
        let mut receiver = Daemon::spawn(
            "bulk receiver",
            self.topo.right_lan.name(),
            None,
            &[&python, "-c", RECEIVER_PY, &port_s, &got_s],
            &log,
            "TERM",
        )?;
        proc::wait_for("bulk receiver listening", Duration::from_secs(10), || {
            receiver.check_alive()?;
            let t = std::fs::read_to_string(&log).unwrap_or_default();
            Ok(t.contains("listening").then_some(()))
        })?;
        let t0 = Instant::now();
        let peer = RIGHT.lan_host.to_string();
        self.topo.left_lan.exec(
            &[
                &python,
                "-c",
                SENDER_PY,
                &peer,
                &port_s,
                &sent_s,
                &spread.as_secs_f64().to_string(),
            ],
            spread.saturating_add(Duration::from_secs(40)),
            self.dir.path(),
        )?;
        let took = t0.elapsed();
        proc::wait_for("bulk receiver done", Duration::from_secs(10), || {
            let t = std::fs::read_to_string(&log).unwrap_or_default();
            Ok(t.contains("done").then_some(()))
        })?;
        let (a, b) = (
            std::fs::read(&sent).map_err(io_err(&sent))?,
            std::fs::read(&got).map_err(io_err(&got))?,
        );
        if a != b {
            let first = a.iter().zip(&b).position(|(x, y)| x != y);
            return Err(Error::Check(format!(
                "bulk transfer corrupted: sent {} bytes, received {}, first difference at {first:?}",
                a.len(),
                b.len()
            )));
        }
        let _ = std::fs::remove_file(&sent);
        let _ = std::fs::remove_file(&got);
        Ok(took)
    }

    /// Stops the capture and reads it back.
    pub fn finish_capture(&mut self) -> Result<(PathBuf, Packets)> {
        Capture::finish(&mut self.capture)
    }

    /// Stops ikegw with SIGTERM (a clean exit is required), then charon.
    pub fn stop(&mut self) -> Result<()> {
        let r = self.ikegw.stop();
        self.charon.stop();
        r
    }

    /// Keeps the directory and prints both peers' logs (tails).
    pub fn report_failure(&mut self) {
        self.dir.keep();
        print_logs(self.dir.path());
    }
}

/// Both ends' views of one IKE SA, CHILD SAs paired by crossed SPIs.
#[derive(Clone, Debug)]
pub struct SaPair {
    /// ikegw's view.
    pub ikegw: IkeSa,
    /// strongSwan's view (`swanctl --list-sas --raw`).
    pub strongswan: RawSection,
    /// (ikegw CHILD SA, strongSwan CHILD SA).
    pub children: Vec<(ChildSa, RawSection)>,
}

/// Hex SPIs compared as numbers (one side may pad with zeros).
fn same_hex(a: &str, b: &str) -> bool {
    match (u64::from_str_radix(a, 16), u64::from_str_radix(b, 16)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}

/// Deterministic bytes (xorshift64*): incompressible enough that a
/// truncated or reordered stream cannot compare equal by accident.
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        let v = x.wrapping_mul(0x2545_f491_4f6c_dd1d);
        for b in v.to_le_bytes() {
            if out.len() < len {
                out.push(b);
            }
        }
    }
    out
}

/// Receives one TCP connection and writes it to a file. argv: port, file.
const RECEIVER_PY: &str = "import socket,sys
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)
s.bind(('0.0.0.0',int(sys.argv[1]))); s.listen(1); print('listening',flush=True)
c,a=s.accept(); n=0
with open(sys.argv[2],'wb') as f:
    while True:
        b=c.recv(65536)
        if not b: break
        f.write(b); n+=len(b)
c.close(); print('done',n,flush=True)
";

/// Sends a file (64 KiB chunks spread over `seconds`, 0 = at once) and
/// waits for the receiver to close. argv: host, port, file, seconds.
const SENDER_PY: &str = "import socket,sys,time
d=open(sys.argv[3],'rb').read(); spread=float(sys.argv[4]); k=65536
c=socket.create_connection((sys.argv[1],int(sys.argv[2])),timeout=30)
t0=time.monotonic()
for i in range(0,len(d),k):
    c.sendall(d[i:i+k])
    if spread>0:
        w=t0+spread*(i+k)/len(d)-time.monotonic()
        if w>0: time.sleep(w)
c.shutdown(socket.SHUT_WR)
while c.recv(65536): pass
c.close()
";

/// Prints the last lines of both peers' logs of a scenario directory.
pub fn print_logs(dir: &Path) {
    const TAIL: usize = 80;
    for (who, file) in [
        ("ikegw", dir.join("ikegw").join("ikegw.log")),
        ("strongSwan", dir.join("strongswan").join("charon.log")),
        (
            "strongSwan stderr",
            dir.join("strongswan").join("daemon.log"),
        ),
    ] {
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lines: Vec<&str> = text
            .lines()
            // the scenario's own list-sas polling, not the peer's behaviour
            .filter(|l| !l.contains("vici client"))
            .collect();
        let skip = lines.len().saturating_sub(TAIL);
        let mut out = format!("===== {who}: {} (last {TAIL} lines)\n", file.display());
        for l in lines.iter().skip(skip) {
            out.push_str(l);
            out.push('\n');
        }
        let _ = std::io::Write::write_all(&mut std::io::stderr(), out.as_bytes());
    }
}

/// Runs one mixed scenario: prerequisites (loud skip, or failure under
/// `CI`), bring-up, `body`, a clean SIGTERM stop of ikegw, the deadline.
/// On failure both peers' logs are printed and the directory is kept.
pub fn run_scenario(
    name: &str,
    setup: &MixedSetup,
    body: impl FnOnce(&mut Mixed) -> Result<()>,
) -> Result<()> {
    if crate::ikegw_prerequisites(name)? == crate::Gate::Skip {
        return Ok(());
    }
    let mut m = Mixed::start(&crate::unique_tag("ikx"), setup)?;
    let r = body(&mut m)
        .and_then(|()| m.check_deadline())
        .and_then(|()| m.stop());
    match r {
        Ok(()) => {
            let _ = writeln_stderr(&format!(
                "PASS {name}: {:.1} s ({})",
                m.elapsed().as_secs_f64(),
                m.dir.path().display()
            ));
            Ok(())
        }
        Err(e) => {
            let _ = writeln_stderr(&format!("FAIL {name}: {e}"));
            m.report_failure();
            Err(e)
        }
    }
}

fn writeln_stderr(s: &str) -> std::io::Result<()> {
    use std::io::Write as _;
    writeln!(std::io::stderr(), "{s}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conf() -> IkegwConf {
        IkegwConf::site_to_site(
            LEFT,
            RIGHT,
            "left.interop.example",
            "right.interop.example",
            "aes256gcm16-prfsha384-x25519",
            "aes128gcm16",
        )
    }

    #[test]
    fn renders_a_userland_psk_site_to_site_config() {
        let t = render_config(Path::new("/tmp/x"), &conf());
        for want in [
            "backend = \"userland\"",
            "control_socket = \"/tmp/x/ikegw.sock\"",
            "listen = [\"198.51.100.1\"]",
            "remote_addrs = [\"198.51.100.2\"]",
            "proposals = [\"aes256gcm16-prfsha384-x25519\"]",
            "encap = true",
            "local_ts = [\"10.1.0.0/24\"]",
            "remote_ts = [\"10.2.0.0/24\"]",
            "esp_proposals = [\"aes128gcm16\"]",
            "id = [\"left.interop.example\", \"right.interop.example\"]",
        ] {
            assert!(t.contains(want), "{want} missing from\n{t}");
        }
        assert!(!t.contains("rekey_time"));
        // it is TOML
        let v: toml::Table = t.parse().unwrap();
        assert!(v["connections"]["s2s"]["children"]["net"].is_table());
    }

    #[test]
    fn renders_lifetimes_and_escapes_strings() {
        let mut c = conf();
        c.ike_rekey_time = Some("20s".into());
        c.child_rekey_time = Some("8s".into());
        c.child_life_time = Some("12s".into());
        c.psk = "with \"quote\" and \\".into();
        c.remote_addr = Some("203.0.113.9".into());
        let t = render_config(Path::new("/tmp/x"), &c);
        let v: toml::Table = t.parse().unwrap();
        let conn = &v["connections"]["s2s"];
        assert_eq!(conn["rekey_time"].as_str(), Some("20s"));
        assert_eq!(conn["remote_addrs"][0].as_str(), Some("203.0.113.9"));
        let child = &conn["children"]["net"];
        assert_eq!(child["rekey_time"].as_str(), Some("8s"));
        assert_eq!(child["life_time"].as_str(), Some("12s"));
        assert_eq!(
            v["secrets"]["ike"]["s2s"]["secret"].as_str(),
            Some("with \"quote\" and \\")
        );
    }

    #[test]
    fn newer_source_than_compares_with_the_daemon_sources() {
        use std::time::{Duration, SystemTime};
        let dir = std::env::temp_dir().join(crate::unique_tag("ikbin"));
        std::fs::create_dir_all(&dir).unwrap();
        let bin = dir.join("ikegw");
        let f = std::fs::File::create(&bin).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(1))
            .unwrap();
        let newer = newer_source_than(&bin).unwrap();
        assert!(newer.starts_with(Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap()));
        f.set_modified(SystemTime::now() + Duration::from_secs(86_400))
            .unwrap();
        assert_eq!(newer_source_than(&bin), None);
        assert_eq!(newer_source_than(&dir.join("missing")), None);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn parses_list_sas_json_and_typed_errors() {
        let json = r#"{
  "response": "sas",
  "sas": [{
    "id": "afad667ad4a6f3b2", "name": "s2s/net", "state": "ESTABLISHED",
    "local": "198.51.100.1:4500", "remote": "198.51.100.2:4500",
    "local_id": "gw-a", "remote_id": "gw-b",
    "suite": "AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519", "nat": true,
    "established_secs": 0,
    "children": [{
      "name": "net", "spi_in": "41188636", "spi_out": "a3994916",
      "suite": "AES_GCM_16_128/NO_EXT_SEQ", "local_ts": ["10.1.0.0/24"],
      "remote_ts": ["10.2.0.0/24"], "installed_secs": 0,
      "bytes_in": 252, "packets_in": 3, "bytes_out": 252, "packets_out": 3
    }]
  }]
}"#;
        let sas = parse_list_sas(json).unwrap();
        assert_eq!(sas.len(), 1);
        assert_eq!(sas[0].children[0].spi_out, "a3994916");
        assert_eq!(sas[0].children[0].packets_in, 3);
        let err = r#"{"response":"error","error":"no-such-child","name":"x"}"#;
        assert!(matches!(parse_list_sas(err), Err(Error::Check(_))));
        assert!(parse_list_sas("not json").is_err());
    }

    #[test]
    fn binary_is_next_to_the_test_executable_or_the_error_says_where() {
        // the override wins when set (read only: tests run in parallel, so
        // no test changes the environment)
        if let Some(v) = std::env::var_os(IKEGW_BIN_ENV).filter(|v| !v.is_empty()) {
            match binary() {
                Ok(p) => assert_eq!(p, PathBuf::from(v)),
                Err(e) => assert!(e.contains(IKEGW_BIN_ENV), "{e}"),
            }
            return;
        }
        let exe = std::env::current_exe().unwrap();
        let derived = exe.parent().unwrap().parent().unwrap().join("ikegw");
        match binary() {
            Ok(p) => assert_eq!(p, derived),
            Err(e) => {
                assert!(e.contains(&derived.display().to_string()), "{e}");
                assert!(e.contains("cargo build -p gateway --bin ikegw"), "{e}");
            }
        }
    }
}

/// `ikegw pfkey engine SOCKET --tun ikegw0`: the userland key engine and
/// ESP data plane as a process of their own, which outlives daemon
/// restarts the way a kernel does (config `daemon.engine_socket`).
#[derive(Debug)]
pub struct EngineProcess {
    daemon: Daemon,
    socket: PathBuf,
}

impl EngineProcess {
    /// Starts the engine in `ns` with its sockets under `dir` and waits
    /// until its ESP relay socket exists.
    pub fn start(ns: &Netns, dir: &Path, bin: &Path, local: &str) -> Result<Self> {
        let socket = dir.join("engine.sock");
        let bin_s = bin.to_string_lossy().into_owned();
        let sock_s = socket.to_string_lossy().into_owned();
        let mut daemon = Daemon::spawn(
            "ikegw-engine",
            ns.name(),
            None,
            &[
                "env",
                "NO_COLOR=1",
                &bin_s,
                "pfkey",
                "engine",
                &sock_s,
                "--local",
                local,
                "--tun",
                TUN,
            ],
            &dir.join("engine.log"),
            "TERM",
        )?;
        let mut relay = socket.as_os_str().to_owned();
        relay.push(".esp");
        let relay = PathBuf::from(relay);
        proc::wait_for("ikegw engine relay socket", START_LIMIT, || {
            daemon.check_alive()?;
            Ok(relay.exists().then_some(()))
        })?;
        Ok(Self { daemon, socket })
    }

    /// The PF_KEY socket path (`daemon.engine_socket`).
    pub fn socket(&self) -> &Path {
        &self.socket
    }

    /// The engine's log.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(self.daemon.log()).unwrap_or_default()
    }

    /// Fails if the engine died.
    pub fn check_alive(&mut self) -> Result<()> {
        self.daemon.check_alive()
    }
}
