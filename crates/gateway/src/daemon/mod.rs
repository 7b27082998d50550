//! `ikegw run`: the daemon.
//!
//! Layers: [`net`] (UDP 500/4500 with pktinfo, IKE/ESP demultiplexing),
//! [`kernel`] (PF_KEY/PF_POLICY glue to the userland engine or illumos),
//! [`setup`] (config → core peer table), [`driver`] (the one task that owns
//! the IKE core), [`logging`] (tracing setup). The control socket lives in
//! `crate::control`.
//!
//! Signals: SIGTERM/SIGINT delete our IKE SAs (bounded wait), remove our
//! SAs and policies, and exit 0; SIGHUP reloads the configuration (an
//! invalid file keeps the running one, and says why).

pub(crate) mod creds;
#[cfg(target_os = "linux")]
pub(crate) mod dataplane;
pub(crate) mod demo;
pub(crate) mod driver;
pub(crate) mod eap_users;
pub(crate) mod iptun;
pub(crate) mod kernel;
pub(crate) mod logging;
pub(crate) mod net;
pub(crate) mod relay;
pub(crate) mod setup;
pub(crate) mod vip;

use std::path::PathBuf;
use std::process::ExitCode;

use tokio::sync::{mpsc, oneshot, watch};
use tracing::info;

use crate::config::{Config, Diagnostic, LogFormat};

/// `ikegw run`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct RunArgs {
    /// Configuration file.
    #[arg(long, short, default_value = "/etc/ikegw/ikegw.toml")]
    pub(crate) config: PathBuf,
    /// Log one JSON object per line (overrides `daemon.log_format`).
    #[arg(long)]
    pub(crate) log_json: bool,
    /// Run the userland ESP data plane on this TUN device (backend
    /// `userland`, Linux; ESP travels in UDP, so set `encap = true`).
    #[arg(long)]
    pub(crate) tun: Option<String>,
}

/// Why the daemon stopped with an error.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DaemonError {
    /// The configuration is invalid.
    #[error("invalid configuration:\n{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Config(Vec<Diagnostic>),
    /// Startup failed.
    #[error("cannot start")]
    Start(#[from] driver::StartError),
    /// The control socket.
    #[error("control socket")]
    Control(#[source] std::io::Error),
    /// The async runtime.
    #[error("runtime")]
    Runtime(#[source] std::io::Error),
}

/// Entry point of `ikegw run`.
pub(crate) fn run(args: &RunArgs) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let cfg = Config::load(&args.config).map_err(DaemonError::Config)?;
    for w in &cfg.warnings {
        eprintln!("{w}");
    }
    logging::init(
        args.log_json || cfg.daemon.log_format == LogFormat::Json,
        &cfg.daemon.log_level,
    );
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(DaemonError::Runtime)?;
    rt.block_on(async move {
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let (hup_tx, hup_rx) = mpsc::channel(4);
        spawn_signals(shutdown_tx, hup_tx).map_err(DaemonError::Runtime)?;
        serve(cfg, args.tun.clone(), shutdown_rx, hup_rx, None).await
    })?;
    Ok(ExitCode::SUCCESS)
}

fn spawn_signals(shutdown: watch::Sender<bool>, hup: mpsc::Sender<()>) -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    let mut int = signal(SignalKind::interrupt())?;
    let mut hangup = signal(SignalKind::hangup())?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = term.recv() => { info!("SIGTERM"); let _ = shutdown.send(true); }
                _ = int.recv() => { info!("SIGINT"); let _ = shutdown.send(true); }
                _ = hangup.recv() => { info!("SIGHUP: reloading"); let _ = hup.send(()).await; }
            }
        }
    });
    Ok(())
}

/// Runs a daemon for `cfg` until `shutdown` turns true. `ready` gets the
/// bound sockets once the control socket is up (tests).
pub(crate) async fn serve(
    cfg: Config,
    tun: Option<String>,
    shutdown: watch::Receiver<bool>,
    hup: mpsc::Receiver<()>,
    ready: Option<oneshot::Sender<driver::Started>>,
) -> Result<(), DaemonError> {
    let ctl_path = cfg.daemon.control_socket.clone();
    let (drv, started) = driver::Driver::start(cfg, tun).await?;
    let (ctl_tx, ctl_rx) = mpsc::channel(64);
    let ctl = crate::control::server::start(&ctl_path, ctl_tx).map_err(DaemonError::Control)?;
    info!("ikegw running, control socket {}", ctl_path.display());
    if let Some(r) = ready {
        let _ = r.send(started);
    }
    let kernel = drv.run(ctl_rx, shutdown, hup).await;
    drop(ctl);
    kernel.stop();
    info!("ikegw stopped");
    Ok(())
}
