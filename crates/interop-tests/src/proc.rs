//! Processes the scenarios start: daemons stopped by PID in `Drop`, and
//! one-shot commands with a time bound.
//!
//! Every daemon is a direct child started through a chain of programs that
//! all `exec` without forking (`ip netns exec` → `unshare` → `sh` → the
//! daemon), so the PID of our `Child` is the daemon's own PID: stopping it
//! never touches another process (no `pkill`, several charons share a name).

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use crate::{io_err, netns, Error, Result};

/// util-linux `unshare`, for a private mount namespace per daemon.
pub const UNSHARE: &str = "/usr/bin/unshare";
/// procps `kill`, to send SIGTERM/SIGINT without `unsafe` libc calls.
pub const KILL: &str = "/usr/bin/kill";

/// How long a stopped daemon gets before SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(3);
const POLL: Duration = Duration::from_millis(20);

/// Renders a command line for error messages.
pub fn describe(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// A background process we started; stopped by its PID on drop.
#[derive(Debug)]
pub struct Daemon {
    name: String,
    child: Child,
    stop_signal: &'static str,
    log: PathBuf,
}

impl Daemon {
    /// Starts `argv` inside network namespace `ns`, stdout and stderr
    /// appended to `log`. When `private_run` is given, the daemon also gets
    /// a private mount namespace in which that directory is bind-mounted over
    /// `/run`: charon's PID file path is compiled in (`/var/run/charon.pid`),
    /// so two charons on one machine need separate `/run`s.
    /// `stop_signal` is what [`Daemon::stop`] sends first (`TERM`, or `INT`
    /// for tcpdump, which then finishes writing its file).
    pub fn spawn(
        name: &str,
        ns: &str,
        private_run: Option<&Path>,
        argv: &[&str],
        log: &Path,
        stop_signal: &'static str,
    ) -> Result<Self> {
        let mut cmd = Command::new(netns::IP);
        cmd.args(["netns", "exec", ns]);
        if let Some(run) = private_run {
            cmd.args([UNSHARE, "-m", "--propagation", "private"]);
            cmd.args([
                "sh",
                "-c",
                "mount --bind \"$1\" /run && shift && exec \"$@\"",
                "sh",
            ]);
            cmd.arg(run);
        }
        cmd.args(argv);
        let out = File::options()
            .create(true)
            .append(true)
            .open(log)
            .map_err(io_err(log))?;
        let err = out.try_clone().map_err(io_err(log))?;
        cmd.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = cmd.spawn().map_err(|source| Error::Spawn {
            cmd: describe(&cmd),
            source,
        })?;
        Ok(Self {
            name: name.to_owned(),
            child,
            stop_signal,
            log: log.to_path_buf(),
        })
    }

    /// The daemon's PID (the same process all along, see the module doc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its name, for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where its stdout/stderr go.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// Fails when the process has already exited (it should be running).
    pub fn check_alive(&mut self) -> Result<()> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(Error::Check(format!(
                "{} (pid {}) exited early: {status}; see {}",
                self.name,
                self.pid(),
                self.log.display()
            ))),
            Err(e) => Err(Error::Io {
                path: self.log.clone(),
                source: e,
            }),
        }
    }

    /// Sends the stop signal to our PID, waits up to a few seconds, then
    /// SIGKILLs. Returns the exit status when the process could be reaped.
    pub fn stop(&mut self) -> Option<ExitStatus> {
        self.stop_within(STOP_GRACE)
    }

    /// Like [`Daemon::stop`], with `grace` before SIGKILL (for a daemon
    /// whose orderly shutdown talks to its peer first).
    pub fn stop_within(&mut self, grace: Duration) -> Option<ExitStatus> {
        if let Ok(Some(status)) = self.child.try_wait() {
            return Some(status);
        }
        let pid = self.pid().to_string();
        let _ = Command::new(KILL)
            .args([format!("-{}", self.stop_signal).as_str(), pid.as_str()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let until = Instant::now() + grace;
        while Instant::now() < until {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            sleep(POLL);
        }
        // Child::kill signals exactly this PID (SIGKILL).
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Daemon {
    /// SIGKILLs our PID at once (a crash, not a shutdown) and reaps it.
    pub fn kill(&mut self) -> Option<ExitStatus> {
        // Child::kill signals exactly this PID.
        let _ = self.child.kill();
        self.child.wait().ok()
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// What a finished command printed.
#[derive(Debug)]
pub struct Output {
    /// Exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `cmd` to completion within `limit`, killing it (by its PID) when it
/// takes longer. Output goes through files in `scratch`, so a chatty command
/// cannot block on a full pipe. Fails when the exit status is not success.
pub fn run(cmd: &mut Command, limit: Duration, scratch: &Path) -> Result<Output> {
    let out = run_unchecked(cmd, limit, scratch)?;
    if out.status.success() {
        Ok(out)
    } else {
        Err(Error::Command {
            cmd: describe(cmd),
            status: out.status.to_string(),
            output: format!("{}{}", out.stdout, out.stderr),
        })
    }
}

/// Like [`run`] but returns the output whatever the exit status.
pub fn run_unchecked(cmd: &mut Command, limit: Duration, scratch: &Path) -> Result<Output> {
    let id = crate::unique_tag("cmd");
    let out_path = scratch.join(format!(".{id}.out"));
    let err_path = scratch.join(format!(".{id}.err"));
    let out = File::create(&out_path).map_err(io_err(&out_path))?;
    let err = File::create(&err_path).map_err(io_err(&err_path))?;
    cmd.stdin(Stdio::null()).stdout(out).stderr(err);
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        cmd: describe(cmd),
        source,
    })?;
    let until = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if Instant::now() >= until => {
                let _ = child.kill();
                let _ = child.wait();
                let _ = std::fs::remove_file(&out_path);
                let _ = std::fs::remove_file(&err_path);
                return Err(Error::Timeout {
                    what: describe(cmd),
                    after: limit,
                });
            }
            Ok(None) => sleep(POLL),
            Err(source) => {
                return Err(Error::Spawn {
                    cmd: describe(cmd),
                    source,
                })
            }
        }
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    let _ = std::fs::remove_file(&out_path);
    let _ = std::fs::remove_file(&err_path);
    Ok(Output {
        status,
        stdout,
        stderr,
    })
}

/// Polls `check` every 50 ms until it returns `Some`, or fails after
/// `limit` with `what` in the message.
pub fn wait_for<T>(
    what: &str,
    limit: Duration,
    mut check: impl FnMut() -> Result<Option<T>>,
) -> Result<T> {
    let until = Instant::now() + limit;
    loop {
        if let Some(v) = check()? {
            return Ok(v);
        }
        if Instant::now() >= until {
            return Err(Error::Timeout {
                what: what.to_owned(),
                after: limit,
            });
        }
        sleep(Duration::from_millis(50));
    }
}
