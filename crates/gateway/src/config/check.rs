//! `ikegw check --config FILE`: validate a configuration and print every
//! problem as `file:line:col: message`, as the daemon would refuse it.
//!
//! Exit status: 0 when the file is usable (warnings may be printed), 1 when
//! it has errors.

use std::path::PathBuf;
use std::process::ExitCode;

use super::{Config, Severity};

/// Arguments of `ikegw check`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The configuration file (ikegw.toml).
    #[arg(long, short = 'c', default_value = "/etc/ikegw/ikegw.toml")]
    config: PathBuf,
    /// Also print the configuration as understood, defaults filled in and
    /// secrets redacted.
    #[arg(long)]
    show: bool,
}

pub(crate) fn run(args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    match Config::load(&args.config) {
        Ok(c) => {
            for w in &c.warnings {
                eprintln!("{w}");
            }
            if args.show {
                print!("{}", super::show::render(&c));
            }
            let children: usize = c.connections.iter().map(|x| x.children.len()).sum();
            eprintln!(
                "{}: OK: {} connection(s), {} child(ren), {} pool(s), {} shared key(s), {} private key(s)",
                args.config.display(),
                c.connections.len(),
                children,
                c.pools.len(),
                c.secrets.ike.len(),
                c.secrets.private.len()
            );
            let eap_users: usize = c.secrets.eap.iter().map(|s| s.ids.len()).sum();
            if eap_users > 0 {
                eprintln!("{}: {eap_users} EAP user(s)", args.config.display());
            }
            Ok(ExitCode::SUCCESS)
        }
        Err(diags) => {
            for d in &diags {
                eprintln!("{d}");
            }
            let errors = diags
                .iter()
                .filter(|d| d.severity == Severity::Error)
                .count();
            eprintln!(
                "{}: {errors} error(s); configuration rejected",
                args.config.display()
            );
            Ok(ExitCode::FAILURE)
        }
    }
}
