//! `ikegw provision plan|apply|status|teardown --target illumos|linux`:
//! realising a `[site]` (crate::site) on a box.
//!
//! A target turns the site into a [`Plan`]: the files it generates and an
//! ordered list of [`Step`]s, each a command plus the observable state that
//! makes it unnecessary. `plan` prints them; `apply` reads the current state
//! through the same [`Runner`] that runs commands (parseable `-p`/`-j`
//! outputs), runs only the steps whose state is missing, and stops at the
//! first failure with the command and its stderr; `teardown` is the reverse
//! plan; `status` prints what exists against what the site wants.
//!
//! Every command goes through [`Runner`], so command construction and the
//! apply logic are tested with a fake that returns canned outputs; only
//! [`SystemRunner`] spawns processes.
//!
//! Targets: [`illumos`] is the real thing (zones, dladm, ipadm, IPFilter,
//! SMF). [`linux`] is a *lab emulation* of the same model with network
//! namespaces, veth pairs and nftables: it creates only namespaces of its
//! own (named `<lab.prefix>-*`, marked as ikegw's) and never touches the
//! host's interfaces; the WAN is a veth into a namespace it also creates.

pub(crate) mod illumos;
mod linux;

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::site::{self, Site, SiteError};

/// Arguments of `ikegw provision`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// What to do.
    #[arg(value_enum)]
    action: Action,
    /// Which system to realise the site on (`linux` is a lab emulation in
    /// network namespaces, never the host's own interfaces).
    #[arg(long, value_enum)]
    target: Target,
    /// The configuration file with the [site] section.
    #[arg(long, short = 'c')]
    config: PathBuf,
    /// With `plan`: also write every generated file and `commands.txt` into this directory.
    #[arg(long)]
    out: Option<PathBuf>,
    /// With `--target linux`: override `[site.lab] prefix` (namespace names are `<prefix>-<zone>`).
    #[arg(long)]
    lab_prefix: Option<String>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Action {
    /// Print the files and commands that realise the site.
    Plan,
    /// Run what is missing, idempotently; stop at the first failure.
    Apply,
    /// Show what exists against what the site wants.
    Status,
    /// Remove what the site created, in reverse order.
    Teardown,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
enum Target {
    /// illumos: zones, vNICs over an etherstub, IPFilter, SMF.
    Illumos,
    /// Linux lab emulation: network namespaces, veth pairs, a bridge, nftables.
    Linux,
}

/// Why provisioning failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProvisionError {
    /// The `[site]` is missing or invalid.
    #[error(transparent)]
    Site(#[from] SiteError),
    /// A command could not be started.
    #[error("cannot run `{cmd}`")]
    Spawn {
        /// The command line.
        cmd: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A step's command failed; nothing after it was run.
    #[error("step {step} failed: `{cmd}` exited with {status}: {stderr}")]
    Failed {
        /// 1-based step number in the plan.
        step: usize,
        /// The command line.
        cmd: String,
        /// Exit status (or "a signal").
        status: String,
        /// Its standard error, trimmed.
        stderr: String,
    },
    /// A state probe printed something that could not be understood.
    #[error("cannot understand the output of `{cmd}`: {why}")]
    Probe {
        /// The probe's command line.
        cmd: String,
        /// What was wrong.
        why: String,
    },
    /// Something the plan relies on is not there, or is not ours to touch.
    #[error("{0}")]
    Precondition(String),
    /// Writing the plan's files failed.
    #[error("cannot write {path}")]
    Write {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// A command: argv plus an optional generated file fed on stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cmd {
    /// Program and arguments.
    pub(crate) argv: Vec<String>,
    /// The plan file (by name) whose content goes to stdin.
    pub(crate) stdin: Option<Stdin>,
}

/// A generated file fed to a command on stdin.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Stdin {
    /// The plan file's name (as in [`PlanFile::name`]).
    pub(crate) name: String,
    /// Its content.
    pub(crate) content: String,
}

impl Cmd {
    /// A command from its words.
    pub(crate) fn new<S: AsRef<str>>(argv: &[S]) -> Self {
        Self {
            argv: argv.iter().map(|s| s.as_ref().to_owned()).collect(),
            stdin: None,
        }
    }

    /// Feed the plan file `file` on stdin.
    pub(crate) fn with_stdin(mut self, file: &PlanFile) -> Self {
        self.stdin = Some(Stdin {
            name: file.name.clone(),
            content: file.content.clone(),
        });
        self
    }

    /// The command as a shell line (quoted where needed), `< file` when it reads one.
    pub(crate) fn display(&self) -> String {
        let mut out = self
            .argv
            .iter()
            .map(|a| shell_quote(a))
            .collect::<Vec<_>>()
            .join(" ");
        if let Some(s) = &self.stdin {
            let _ = write!(out, " < {}", s.name);
        }
        out
    }
}

/// Quote `s` for a POSIX shell when it has characters the shell treats specially.
fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./:=,+@%".contains(&b));
    if plain {
        s.to_owned()
    } else {
        format!("'{}'", s.replace('\'', r"'\''"))
    }
}

/// What a command printed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Output {
    /// Exit code; `None` when killed by a signal.
    pub(crate) code: Option<i32>,
    /// Standard output.
    pub(crate) stdout: String,
    /// Standard error.
    pub(crate) stderr: String,
}

impl Output {
    /// True for exit code 0.
    pub(crate) fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// The one seam between provisioning and the system.
pub(crate) trait Runner {
    /// Run `cmd` to completion and return what it printed. `Err` only when
    /// it could not be started; a non-zero exit is an `Ok` output.
    fn run(&mut self, cmd: &Cmd) -> Result<Output, ProvisionError>;
}

/// Runs commands as child processes.
pub(crate) struct SystemRunner;

impl Runner for SystemRunner {
    fn run(&mut self, cmd: &Cmd) -> Result<Output, ProvisionError> {
        use std::process::{Command, Stdio};
        let spawn_err = |source| ProvisionError::Spawn {
            cmd: cmd.display(),
            source,
        };
        let Some((prog, args)) = cmd.argv.split_first() else {
            return Err(spawn_err(std::io::Error::other("empty command")));
        };
        let mut c = Command::new(prog);
        c.args(args).stdout(Stdio::piped()).stderr(Stdio::piped());
        c.stdin(if cmd.stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        });
        let mut child = c.spawn().map_err(spawn_err)?;
        if let (Some(s), Some(mut pipe)) = (&cmd.stdin, child.stdin.take()) {
            // The inputs are small (a ruleset, a zonecfg file): writing all
            // before reading cannot deadlock on a full stdout pipe.
            pipe.write_all(s.content.as_bytes()).map_err(spawn_err)?;
        }
        let out = child.wait_with_output().map_err(spawn_err)?;
        Ok(Output {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

/// A file the plan generates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PlanFile {
    /// Short unique name (the golden file's name).
    pub(crate) name: String,
    /// Where it ends up, e.g. `router:/etc/ipf/ipf.conf` (zone or namespace first).
    pub(crate) dest: String,
    /// Its content.
    pub(crate) content: String,
}

/// Does the state a step creates already exist?
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Presence {
    /// Yes: the step is skipped.
    Yes,
    /// No: the step runs.
    No,
    /// Cannot be seen now (e.g. inside a zone that is not running); `apply`
    /// treats it as missing.
    Unknown(String),
    /// Something of that name exists but not as the site wants it; `apply`
    /// stops there rather than replace what it may not have made.
    Differs(String),
}

impl From<bool> for Presence {
    fn from(b: bool) -> Self {
        if b {
            Self::Yes
        } else {
            Self::No
        }
    }
}

/// One step: a command and when it is needed.
#[derive(Clone, Debug)]
pub(crate) struct Step<C> {
    /// What the step brings about, for `status` (`vnic web0 over stub0`).
    pub(crate) what: String,
    /// The command.
    pub(crate) cmd: Cmd,
    /// Skip when this state is present. `None` with an empty `or_if_ran`: always run.
    pub(crate) unless: Option<C>,
    /// Also run when any of these steps (0-based) ran in this apply, e.g.
    /// a reload after its configuration file was rewritten.
    pub(crate) or_if_ran: Vec<usize>,
}

/// Files and steps for one action.
#[derive(Clone, Debug)]
pub(crate) struct Plan<C> {
    /// Notes printed before the steps (what is left out, and why).
    pub(crate) notes: Vec<String>,
    /// Generated files.
    pub(crate) files: Vec<PlanFile>,
    /// States that must hold before anything runs, and the error otherwise.
    pub(crate) requires: Vec<(C, String)>,
    /// The steps, in order.
    pub(crate) steps: Vec<Step<C>>,
}

impl<C> Plan<C> {
    fn new() -> Self {
        Self {
            notes: Vec::new(),
            files: Vec::new(),
            requires: Vec::new(),
            steps: Vec::new(),
        }
    }

    /// Add a step; returns its index for `or_if_ran`.
    fn step(&mut self, what: impl Into<String>, cmd: Cmd, unless: Option<C>) -> usize {
        self.steps.push(Step {
            what: what.into(),
            cmd,
            unless,
            or_if_ran: Vec::new(),
        });
        self.steps.len().saturating_sub(1)
    }

    /// Add a step that runs only when one of `after` ran.
    fn on_change(&mut self, what: impl Into<String>, cmd: Cmd, after: Vec<usize>) -> usize {
        self.steps.push(Step {
            what: what.into(),
            cmd,
            unless: None,
            or_if_ran: after,
        });
        self.steps.len().saturating_sub(1)
    }

    /// Add a generated file.
    fn file(&mut self, name: &str, dest: String, content: String) -> PlanFile {
        let f = PlanFile {
            name: name.to_owned(),
            dest,
            content,
        };
        self.files.push(f.clone());
        f
    }

    /// `commands.txt`: one numbered line per step, with its condition.
    pub(crate) fn commands_text(&self) -> String {
        let mut out = String::new();
        for (i, s) in self.steps.iter().enumerate() {
            let when = if s.unless.is_some() {
                format!("unless: {}", s.what)
            } else if s.or_if_ran.is_empty() {
                "always".to_owned()
            } else {
                let after: Vec<String> = s
                    .or_if_ran
                    .iter()
                    .map(|j| j.saturating_add(1).to_string())
                    .collect();
                format!("if step {} ran", after.join(" or "))
            };
            let _ = writeln!(
                out,
                "{:>3}  {}\n     # {when}",
                i.saturating_add(1),
                s.cmd.display()
            );
        }
        out
    }

    /// The whole plan as printed by `ikegw provision plan`.
    pub(crate) fn render(&self, title: &str) -> String {
        let mut out = format!("# {title}\n");
        for n in &self.notes {
            let _ = writeln!(out, "# note: {n}");
        }
        for f in &self.files {
            let _ = writeln!(out, "\n# ---- file {} -> {}", f.name, f.dest);
            out.push_str(&f.content);
        }
        let _ = writeln!(
            out,
            "\n# ---- commands (run in order; each is skipped when its state already exists)"
        );
        out.push_str(&self.commands_text());
        out
    }
}

/// Reads the system's state for a target's checks.
pub(crate) trait Observe<C> {
    /// Is `check`'s state present?
    fn presence(&mut self, check: &C, runner: &mut dyn Runner) -> Result<Presence, ProvisionError>;
    /// Forget cached state: a command just changed the system.
    fn invalidate(&mut self);
    /// Things that look like the site's but that it does not name (for `status`).
    fn extras(&mut self, _runner: &mut dyn Runner) -> Result<Vec<String>, ProvisionError> {
        Ok(Vec::new())
    }
}

/// What `apply`/`teardown` did.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    /// Steps run.
    pub(crate) ran: usize,
    /// Steps skipped because their state was present.
    pub(crate) skipped: usize,
}

/// Run `plan`'s steps whose state is missing, in order; stop at the first failure.
pub(crate) fn execute<C>(
    plan: &Plan<C>,
    runner: &mut dyn Runner,
    obs: &mut dyn Observe<C>,
    log: &mut dyn std::io::Write,
) -> Result<Summary, ProvisionError> {
    for (check, why) in &plan.requires {
        if obs.presence(check, runner)? != Presence::Yes {
            return Err(ProvisionError::Precondition(why.clone()));
        }
    }
    let mut ran = vec![false; plan.steps.len()];
    let mut summary = Summary::default();
    for (i, step) in plan.steps.iter().enumerate() {
        let triggered = step
            .or_if_ran
            .iter()
            .any(|j| ran.get(*j).copied().unwrap_or(false));
        let n = i.saturating_add(1);
        let needed = triggered
            || match &step.unless {
                Some(c) => match obs.presence(c, runner)? {
                    Presence::Yes => false,
                    Presence::Differs(why) => {
                        return Err(ProvisionError::Precondition(format!(
                            "step {n} ({}): {why}; fix it by hand, apply does not replace it",
                            step.what
                        )))
                    }
                    Presence::No | Presence::Unknown(_) => true,
                },
                None => step.or_if_ran.is_empty(),
            };
        if !needed {
            summary.skipped = summary.skipped.saturating_add(1);
            let _ = writeln!(log, "{n:>3} skip  {}", step.cmd.display());
            continue;
        }
        let _ = writeln!(log, "{n:>3} run   {}", step.cmd.display());
        let out = runner.run(&step.cmd)?;
        obs.invalidate();
        if !out.ok() {
            return Err(ProvisionError::Failed {
                step: n,
                cmd: step.cmd.display(),
                status: out
                    .code
                    .map_or_else(|| "a signal".to_owned(), |c| format!("status {c}")),
                stderr: out.stderr.trim().to_owned(),
            });
        }
        if let Some(r) = ran.get_mut(i) {
            *r = true;
        }
        summary.ran = summary.ran.saturating_add(1);
    }
    Ok(summary)
}

/// `status`: one line per step with a state, present or missing.
/// Returns the text and whether everything the site wants exists.
pub(crate) fn status<C>(
    plan: &Plan<C>,
    runner: &mut dyn Runner,
    obs: &mut dyn Observe<C>,
) -> Result<(String, bool), ProvisionError> {
    let mut out = String::new();
    let mut complete = true;
    for step in &plan.steps {
        let Some(c) = &step.unless else { continue };
        let p = obs.presence(c, runner)?;
        let label = match &p {
            Presence::Yes => "present".to_owned(),
            Presence::No => "MISSING".to_owned(),
            Presence::Unknown(why) => format!("UNKNOWN ({why})"),
            Presence::Differs(why) => format!("DIFFERS ({why})"),
        };
        complete &= p == Presence::Yes;
        let _ = writeln!(out, "{label:<10} {}", step.what);
    }
    for e in obs.extras(runner)? {
        let _ = writeln!(out, "{:<10} {e}", "EXTRA");
    }
    Ok((out, complete))
}

/// `ikegw provision ...`.
pub(crate) fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut site = site::load(&args.config)?;
    if let Some(p) = &args.lab_prefix {
        linux::check_prefix(p)?;
        p.clone_into(&mut site.lab.prefix);
    }
    let mut runner = SystemRunner;
    match args.target {
        Target::Illumos => act(
            args,
            &site,
            illumos::plans(&site),
            &mut illumos::Observer::for_site(&site),
            &mut runner,
        ),
        Target::Linux => act(
            args,
            &site,
            linux::plans(&site, linux::Daemon::for_config(&args.config)?.as_ref()),
            &mut linux::Observer::new(&site),
            &mut runner,
        ),
    }
}

/// The apply and teardown plans of one target.
pub(crate) struct Plans<C> {
    pub(crate) apply: Plan<C>,
    pub(crate) teardown: Plan<C>,
}

fn act<C>(
    args: &Args,
    site: &Site,
    plans: Plans<C>,
    obs: &mut dyn Observe<C>,
    runner: &mut dyn Runner,
) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let target = match args.target {
        Target::Illumos => "illumos",
        Target::Linux => "linux (lab emulation)",
    };
    let mut stdout = std::io::stdout();
    match args.action {
        Action::Plan => {
            let title = format!(
                "ikegw provision plan --target {target}: site \"{}\"",
                site.name
            );
            print!("{}", plans.apply.render(&title));
            if let Some(dir) = &args.out {
                write_plan(dir, &plans.apply, &plans.teardown)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Apply => {
            let s = execute(&plans.apply, runner, obs, &mut stdout)?;
            println!(
                "apply: {} step(s) run, {} already in place",
                s.ran, s.skipped
            );
            for n in &plans.apply.notes {
                println!("note: {n}");
            }
            Ok(ExitCode::SUCCESS)
        }
        Action::Teardown => {
            let s = execute(&plans.teardown, runner, obs, &mut stdout)?;
            println!(
                "teardown: {} step(s) run, {} already gone",
                s.ran, s.skipped
            );
            Ok(ExitCode::SUCCESS)
        }
        Action::Status => {
            let (text, complete) = status(&plans.apply, runner, obs)?;
            print!("{text}");
            println!(
                "{}",
                if complete {
                    "site is complete"
                } else {
                    "site is incomplete: run `ikegw provision apply`"
                }
            );
            Ok(if complete {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(3)
            })
        }
    }
}

/// Write every generated file, `commands.txt` and `teardown.txt` into `dir`.
fn write_plan<C>(dir: &Path, apply: &Plan<C>, teardown: &Plan<C>) -> Result<(), ProvisionError> {
    let write = |name: &str, content: &str| {
        let path = dir.join(name);
        std::fs::write(&path, content).map_err(|source| ProvisionError::Write { path, source })
    };
    std::fs::create_dir_all(dir).map_err(|source| ProvisionError::Write {
        path: dir.to_owned(),
        source,
    })?;
    for f in &apply.files {
        write(&f.name, &f.content)?;
    }
    write("commands.txt", &apply.commands_text())?;
    write("teardown.txt", &teardown.commands_text())
}

#[cfg(test)]
pub(crate) mod fake;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_only_what_the_shell_would_split() {
        assert_eq!(shell_quote("10.0.0.1/24"), "10.0.0.1/24");
        assert_eq!(shell_quote("cat > /etc/x"), "'cat > /etc/x'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote(""), "''");
    }

    #[test]
    fn system_runner_reports_exit_status_stdout_stderr_and_feeds_stdin() {
        let f = PlanFile {
            name: "x".into(),
            dest: "x".into(),
            content: "hello\n".into(),
        };
        let out = SystemRunner
            .run(&Cmd::new(&["sh", "-c", "cat; echo oops >&2; exit 3"]).with_stdin(&f))
            .unwrap();
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "hello\n");
        assert_eq!(out.stderr, "oops\n");
        assert!(matches!(
            SystemRunner.run(&Cmd::new(&["/nonexistent/ikegw-test"])),
            Err(ProvisionError::Spawn { .. })
        ));
    }
}
