//! Daemon side of the control socket: accepts connections on a Unix
//! stream socket created with mode 0600 (only root, or the owner, may
//! steer the daemon), reads one JSON [`Request`] per line and forwards it
//! to the driver task, which owns all state; `log` streams lines instead.

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};

use tokio::io::{AsyncBufReadExt as _, AsyncWriteExt as _, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};

use super::proto::{ControlError, Request, Response};
use crate::daemon::driver::CtlMsg;

/// Longest request line accepted (requests are tiny).
const MAX_LINE: usize = 4096;

/// The bound control socket; the file is removed on drop.
pub(crate) struct ControlSocket {
    path: PathBuf,
}

impl Drop for ControlSocket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Binds `path` (replacing a stale socket file) with mode 0600 and serves
/// it until the driver goes away.
pub(crate) fn start(path: &Path, ctl: mpsc::Sender<CtlMsg>) -> std::io::Result<ControlSocket> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    // A live daemon answers; a stale file from a crash does not.
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::AddrInUse,
            format!("another ikegw is serving {}", path.display()),
        ));
    }
    let _ = std::fs::remove_file(path);
    let listener = UnixListener::bind(path)?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    tokio::spawn(async move {
        loop {
            match listener.accept().await {
                Ok((s, _)) => {
                    let ctl = ctl.clone();
                    tokio::spawn(async move {
                        if let Err(e) = serve(s, ctl).await {
                            debug!("control client: {e}");
                        }
                    });
                }
                Err(e) => {
                    warn!("control socket accept: {e}");
                    return;
                }
            }
        }
    });
    Ok(ControlSocket {
        path: path.to_path_buf(),
    })
}

async fn write(w: &mut tokio::net::unix::OwnedWriteHalf, r: &Response) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(r).map_err(std::io::Error::other)?;
    line.push(b'\n');
    w.write_all(&line).await
}

async fn serve(s: UnixStream, ctl: mpsc::Sender<CtlMsg>) -> std::io::Result<()> {
    let (r, mut w) = s.into_split();
    let mut lines = BufReader::new(r);
    let mut line = String::new();
    loop {
        line.clear();
        let n = lines.read_line(&mut line).await?;
        if line.len() > MAX_LINE {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                "control request line too long",
            ));
        }
        if n == 0 {
            return Ok(());
        }
        let req = match serde_json::from_str::<Request>(line.trim()) {
            Ok(r) => r,
            Err(e) => {
                let resp = Response::Error(ControlError::BadRequest {
                    message: e.to_string(),
                });
                write(&mut w, &resp).await?;
                continue;
            }
        };
        if req == Request::Log {
            let mut rx = crate::daemon::logging::subscribe();
            loop {
                match rx.recv().await {
                    Ok(line) => write(&mut w, &Response::Log { line }).await?,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                        let line = format!("({n} log lines lost: client too slow)");
                        write(&mut w, &Response::Log { line }).await?;
                    }
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return Ok(()),
                }
            }
        }
        let (tx, rx) = oneshot::channel();
        let resp = if ctl.send(CtlMsg { req, reply: tx }).await.is_err() {
            Response::Error(ControlError::ShuttingDown)
        } else {
            rx.await
                .unwrap_or(Response::Error(ControlError::ShuttingDown))
        };
        write(&mut w, &resp).await?;
    }
}
