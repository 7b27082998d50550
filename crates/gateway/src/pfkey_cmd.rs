//! `ikegw pfkey`: decode PF_KEY / PF_POLICY messages and watch a backend,
//! printing them the way illumos `ipseckey monitor` does.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use pfkey::registry::SadbSaType;
use pfkey::transport::{PfKeyClient, SeqpacketTransport, Transport};
use pfkey::wire::{SadbMsg, SpdMsg};

/// Arguments of `ikegw pfkey`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, clap::Subcommand)]
enum Cmd {
    /// Decode messages given as hex (on the command line or in a file;
    /// whitespace ignored) or as a binary file, one message after another.
    Decode {
        /// Hex string, or a path to a hex or binary file.
        input: String,
        /// Treat the input as PF_POLICY (`spd_msg`) instead of PF_KEY.
        #[arg(long)]
        policy: bool,
    },
    /// Attach to a PF_KEY backend and print every message it sends.
    Monitor {
        /// Unix socket path of a userland engine (`ikegw pfkey engine`);
        /// without it, the illumos kernel PF_KEY socket.
        #[arg(long)]
        socket: Option<PathBuf>,
        /// Also REGISTER for ESP, to see ACQUIREs.
        #[arg(long)]
        register: bool,
        /// Stop after this many messages.
        #[arg(long)]
        count: Option<usize>,
    },
    /// Run the userland key engine on a Unix socket path (PF_POLICY on
    /// `<path>.policy`) until killed.
    Engine {
        /// Socket path.
        socket: PathBuf,
        /// Local addresses (direction guessing, NAT-T checks).
        #[arg(long = "local")]
        local: Vec<std::net::IpAddr>,
        /// Also run the ESP data plane on this TUN device (Linux); the
        /// daemon relays ESP to it over `<path>.esp` (config
        /// `daemon.engine_socket`).
        #[arg(long)]
        tun: Option<String>,
    },
}

#[derive(Debug, thiserror::Error)]
enum CmdError {
    #[error("input is neither hex nor a readable file: {0}")]
    Input(String),
    #[error("message {index} at byte {offset}: {source}")]
    Decode {
        index: usize,
        offset: usize,
        #[source]
        source: pfkey::wire::DecodeError,
    },
    #[error("message {index} at byte {offset}: {len} trailing bytes do not hold a whole message")]
    Trailing {
        index: usize,
        offset: usize,
        len: usize,
    },
}

fn read_input(input: &str) -> Result<Vec<u8>, CmdError> {
    let clean = |s: &str| -> Option<Vec<u8>> {
        let h: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        hex::decode(h).ok()
    };
    if let Some(b) = clean(input) {
        return Ok(b);
    }
    let data = std::fs::read(input).map_err(|e| CmdError::Input(format!("{input}: {e}")))?;
    if let Ok(text) = std::str::from_utf8(&data) {
        if let Some(b) = clean(text) {
            return Ok(b);
        }
    }
    Ok(data)
}

/// Split a byte stream into messages by their `len` field (words at 4..6).
fn split(data: &[u8]) -> Result<Vec<&[u8]>, CmdError> {
    let mut out = Vec::new();
    let mut off = 0usize;
    while off < data.len() {
        let rest = data.get(off..).unwrap_or(&[]);
        let words = rest
            .get(4..6)
            .and_then(|b| <[u8; 2]>::try_from(b).ok())
            .map(|b| usize::from(u16::from_le_bytes(b)))
            .unwrap_or(0);
        let len = words.saturating_mul(8);
        let Some(msg) = rest.get(..len).filter(|_| len >= 16) else {
            return Err(CmdError::Trailing {
                index: out.len(),
                offset: off,
                len: rest.len(),
            });
        };
        out.push(msg);
        off = off.saturating_add(len);
    }
    Ok(out)
}

fn decode(input: &str, policy: bool) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let data = read_input(input)?;
    let mut off = 0usize;
    let stdout = std::io::stdout();
    let mut w = stdout.lock();
    for (index, msg) in split(&data)?.into_iter().enumerate() {
        let text = if policy {
            let m = SpdMsg::parse(msg).map_err(|source| CmdError::Decode {
                index,
                offset: off,
                source,
            })?;
            pfkey::monitor::format_spd(&m)
        } else {
            let m = SadbMsg::parse(msg).map_err(|source| CmdError::Decode {
                index,
                offset: off,
                source,
            })?;
            pfkey::monitor::format_msg(&m)
        };
        writeln!(w, "{text}")?;
        off = off.saturating_add(msg.len());
    }
    Ok(ExitCode::SUCCESS)
}

fn monitor_loop<T: Transport>(
    mut c: PfKeyClient<T>,
    register: bool,
    count: Option<usize>,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    if register {
        c.register(SadbSaType::SADB_SATYPE_ESP)?;
    }
    let stdout = std::io::stdout();
    let mut seen = 0usize;
    loop {
        if count.is_some_and(|n| seen >= n) {
            return Ok(ExitCode::SUCCESS);
        }
        let m = c.recv_any()?;
        let mut w = stdout.lock();
        writeln!(w, "{}", pfkey::monitor::format_msg(&m))?;
        w.flush()?;
        seen = seen.saturating_add(1);
    }
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let pid = std::process::id();
    match &args.cmd {
        Cmd::Decode { input, policy } => decode(input, *policy),
        Cmd::Monitor {
            socket,
            register,
            count,
        } => match socket {
            Some(path) => monitor_loop(
                PfKeyClient::new(SeqpacketTransport::connect(path, None)?, pid),
                *register,
                *count,
            ),
            None => monitor_loop(
                PfKeyClient::new(pfkey::sys::PfKeySocket::open(None)?, pid),
                *register,
                *count,
            ),
        },
        Cmd::Engine { socket, local, tun } => {
            let server = pfkey::engine::server::Server::start(pfkey::engine::EngineConfig {
                local_addrs: local.clone(),
                ..pfkey::engine::EngineConfig::default()
            });
            server.listen(socket)?;
            eprintln!(
                "ikegw: PF_KEY engine on {} (PF_POLICY on {}.policy)",
                socket.display(),
                socket.display()
            );
            if let Some(tun) = tun {
                return engine_data_plane(&server, socket, local, tun).map(|()| ExitCode::SUCCESS);
            }
            loop {
                std::thread::sleep(Duration::from_secs(3600));
            }
        }
    }
}

/// The engine process's ESP data plane and its relay to the daemon.
#[cfg(target_os = "linux")]
fn engine_data_plane(
    server: &pfkey::engine::server::Server,
    socket: &std::path::Path,
    local: &[std::net::IpAddr],
    tun: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    use crate::daemon::{dataplane, relay};
    crate::daemon::logging::init(false, "info");
    let (tx, rx) = tokio::sync::mpsc::channel(1024);
    let dp = dataplane::DataPlaneHandle::start(server.data_plane(), tun, local.to_vec(), tx)?;
    let path = relay::relay_path(socket);
    eprintln!(
        "ikegw: ESP data plane on TUN {tun}, relay on {}",
        path.display()
    );
    dataplane::serve_relay(server.data_plane(), dp, &path, rx)?;
    Ok(())
}

#[cfg(not(target_os = "linux"))]
fn engine_data_plane(
    _server: &pfkey::engine::server::Server,
    _socket: &std::path::Path,
    _local: &[std::net::IpAddr],
    _tun: &str,
) -> Result<(), Box<dyn std::error::Error>> {
    Err("the userland data plane needs Linux TUN".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_concatenated_messages_and_rejects_tails() {
        let a = hex::decode("020700030200000001000000d2040000").unwrap();
        let mut two = a.clone();
        two.extend_from_slice(&a);
        assert_eq!(split(&two).unwrap().len(), 2);
        two.extend_from_slice(&[2, 7]);
        assert!(matches!(
            split(&two),
            Err(CmdError::Trailing {
                index: 2,
                offset: 32,
                len: 2
            })
        ));
    }

    #[test]
    fn hex_with_whitespace_is_accepted() {
        assert_eq!(
            read_input("02 07 00 03\n0200").unwrap(),
            vec![2, 7, 0, 3, 2, 0]
        );
    }
}
