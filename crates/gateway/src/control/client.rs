//! `ikegw status|list-sas|list-conns|initiate|terminate|rekey|reload|stats|log`:
//! a thin client of the control socket. `--json` prints the daemon's typed
//! response as is; otherwise it is rendered like `swanctl` output.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use super::proto::{ControlError, IkeSaInfo, Request, Response};

/// `println!` that ignores a closed stdout (`ikegw list-sas | head`)
/// instead of panicking.
macro_rules! outln {
    ($($t:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($t)*);
    }};
}

/// Where the daemon is, and how to print.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Common {
    /// The control socket (default: `daemon.control_socket` of --config,
    /// else /var/run/ikegw.sock).
    #[arg(long)]
    pub(crate) socket: Option<PathBuf>,
    /// Read the control socket path from this configuration file.
    #[arg(long, short)]
    pub(crate) config: Option<PathBuf>,
    /// Print the response as JSON.
    #[arg(long)]
    pub(crate) json: bool,
}

/// `ikegw initiate`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct InitiateArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// CHILD_SA to start (`child` or `conn/child`).
    #[arg(long)]
    pub(crate) child: String,
}

/// `ikegw terminate`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct TerminateArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// IKE SA: connection name or id (from list-sas).
    #[arg(long)]
    pub(crate) ike: String,
}

/// `ikegw rekey`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RekeyArgs {
    #[command(flatten)]
    pub(crate) common: Common,
    /// IKE SA: connection name or id.
    #[arg(long)]
    pub(crate) ike: String,
    /// Rekey this CHILD_SA (our inbound SPI, hex) instead of the IKE SA.
    #[arg(long)]
    pub(crate) child: Option<String>,
}

/// Client failures.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ClientError {
    /// No daemon at the socket.
    #[error("cannot reach the daemon at {}; is `ikegw run` running?", path.display())]
    Connect {
        /// Socket path.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// I/O after connecting.
    #[error("control socket I/O")]
    Io(#[from] std::io::Error),
    /// The daemon's answer did not parse.
    #[error("unexpected answer from the daemon")]
    Protocol(#[from] serde_json::Error),
    /// The daemon closed without answering.
    #[error("the daemon closed the connection without answering")]
    NoAnswer,
    /// The daemon refused.
    #[error(transparent)]
    Daemon(ControlError),
}

fn socket_path(c: &Common) -> PathBuf {
    if let Some(p) = &c.socket {
        return p.clone();
    }
    if let Some(cfg) = &c.config {
        if let Ok(conf) = crate::config::Config::load(cfg) {
            return conf.daemon.control_socket;
        }
    }
    PathBuf::from("/var/run/ikegw.sock")
}

/// Sends one request and returns the response.
pub(crate) fn request(path: &Path, req: &Request) -> Result<Response, ClientError> {
    let mut s = UnixStream::connect(path).map_err(|source| ClientError::Connect {
        path: path.to_path_buf(),
        source,
    })?;
    let mut line = serde_json::to_vec(req)?;
    line.push(b'\n');
    s.write_all(&line)?;
    let mut r = BufReader::new(s);
    let mut answer = String::new();
    if r.read_line(&mut answer)? == 0 {
        return Err(ClientError::NoAnswer);
    }
    Ok(serde_json::from_str(&answer)?)
}

/// Runs one verb.
pub(crate) fn run(c: &Common, req: Request) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let path = socket_path(c);
    if req == Request::Log {
        return stream_log(&path, c.json);
    }
    let resp = request(&path, &req)?;
    if c.json {
        outln!("{}", serde_json::to_string_pretty(&resp)?);
        return Ok(match resp {
            Response::Error(_) => ExitCode::FAILURE,
            _ => ExitCode::SUCCESS,
        });
    }
    match resp {
        Response::Error(e) => return Err(Box::new(ClientError::Daemon(e))),
        Response::Status(s) => {
            outln!(
                "ikegw {} (pid {}), up {}s, backend {}",
                s.version,
                s.pid,
                s.uptime_secs,
                s.backend
            );
            outln!("  config {}", s.config);
            outln!("  listening on {}", s.sockets.join(", "));
            outln!(
                "  {} IKE SAs ({} half-open), {} CHILD SAs, {} peer configurations",
                s.ike_sas,
                s.half_open,
                s.child_sas,
                s.connections
            );
        }
        Response::Sas { sas } => {
            for sa in &sas {
                print_sa(sa);
            }
        }
        Response::Conns { conns } => {
            for c in conns {
                outln!("{}: IKEv2, {} ... {}", c.conn, c.local, c.remote);
                outln!("  local:  {}  remote: {}", c.local_id, c.remote_id);
                outln!("  IKE proposals: {}", c.ike_proposals.join(", "));
                outln!(
                    "  {}: TUNNEL, ESP proposals: {}",
                    c.child,
                    c.esp_proposals.join(", ")
                );
                outln!("    local:  {}", c.local_ts.join(" "));
                outln!("    remote: {}", c.remote_ts.join(" "));
            }
        }
        Response::Initiated { ike } => outln!("initiating IKE SA {ike}"),
        Response::Terminating { ike } => outln!("deleting IKE SA {}", ike.join(", ")),
        Response::Rekeying { ike } => outln!("rekeying IKE SA {ike}"),
        Response::Reloaded {
            connections,
            applied,
            added,
            removed,
            changed,
            unchanged,
        } => {
            if applied {
                outln!("configuration reloaded: {connections} peer configurations");
                for (what, v) in [
                    ("added", added),
                    ("removed", removed),
                    ("changed", changed),
                    ("unchanged", unchanged),
                ] {
                    if !v.is_empty() {
                        outln!("  {what}: {}", v.join(" "));
                    }
                }
            } else {
                outln!("configuration loaded ({connections} peer configurations); in force once the live IKE SAs close");
            }
        }
        Response::Stats(s) => {
            outln!(
                "IKE datagrams: {} in, {} out, {} dropped",
                s.ike_in,
                s.ike_out,
                s.dropped
            );
            outln!(
                "ESP-in-UDP in: {}, NAT keepalives in: {}",
                s.esp_in,
                s.keepalives_in
            );
            outln!(
                "IKE SAs established: {}, failed: {}; CHILD SAs installed: {}",
                s.established,
                s.failed,
                s.children_installed
            );
            outln!(
                "key engine errors: {}, send errors: {}",
                s.kernel_errors,
                s.send_errors
            );
        }
        Response::Log { line } => outln!("{line}"),
        Response::Pools { pools } => {
            for p in &pools {
                outln!(
                    "{}: {} - {}, {} addresses, {} online, {} offline",
                    p.name,
                    p.first,
                    p.last,
                    p.size,
                    p.online,
                    p.offline
                );
                for l in &p.leases {
                    let state = if l.online { "online" } else { "offline" };
                    outln!("  {:<39} {state:<7} '{}'", l.addr, l.identity);
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_sa(sa: &IkeSaInfo) {
    outln!("{}: {}, {}, IKEv2", sa.name, sa.id, sa.state);
    outln!("  local  '{}' @ {}", sa.local_id, sa.local);
    outln!(
        "  remote '{}' @ {}{}",
        sa.remote_id,
        sa.remote,
        if sa.nat { " (NAT-T)" } else { "" }
    );
    if !sa.suite.is_empty() {
        outln!("  {}", sa.suite);
    }
    if let Some(s) = sa.established_secs {
        outln!("  established {s}s ago");
    }
    for c in &sa.children {
        outln!("  {}: INSTALLED, TUNNEL, ESP:{}", c.name, c.suite);
        outln!("    installed {}s ago", c.installed_secs);
        outln!(
            "    in  {}, {:>8} bytes, {:>6} packets",
            c.spi_in,
            c.bytes_in,
            c.packets_in
        );
        outln!(
            "    out {}, {:>8} bytes, {:>6} packets",
            c.spi_out,
            c.bytes_out,
            c.packets_out
        );
        outln!("    local  {}", c.local_ts.join(" "));
        outln!("    remote {}", c.remote_ts.join(" "));
    }
}

fn stream_log(path: &Path, json: bool) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut s = UnixStream::connect(path).map_err(|source| ClientError::Connect {
        path: path.to_path_buf(),
        source,
    })?;
    let mut line = serde_json::to_vec(&Request::Log)?;
    line.push(b'\n');
    s.write_all(&line)?;
    for l in BufReader::new(s).lines() {
        let l = l?;
        if json {
            outln!("{l}");
            continue;
        }
        match serde_json::from_str::<Response>(&l)? {
            Response::Log { line } => outln!("{line}"),
            Response::Error(e) => return Err(Box::new(ClientError::Daemon(e))),
            other => outln!("{other:?}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}
