//! `ikegw`: the command-line entry point.
#![forbid(unsafe_code)]

mod config;
mod decode;
mod pfkey_cmd;
mod pki;
mod provision;
mod site;
// Address pools (#10): consumed by the daemon; until then only its tests use it.
#[allow(dead_code)]
mod pool;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// ikegw: an IKEv2/IPsec VPN gateway for illumos.
#[derive(Debug, Parser)]
#[command(name = "ikegw", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Decode IKEv2 messages from a pcap/pcapng capture or a hex dump.
    Decode(decode::Args),
    /// Make a CA, issue, revoke, show and verify certificates.
    Pki(pki::Args),
    /// Decode PF_KEY/PF_POLICY messages, monitor a PF_KEY backend, run the userland engine.
    Pfkey(pfkey_cmd::Args),
    /// Validate a configuration file and print every problem as file:line:col.
    Check(config::check::Args),
    /// Realise the [site] section (zones, vNICs, NAT, firewall) on illumos, or as a Linux lab.
    Provision(provision::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode(args) => decode::run(&args),
        Command::Pki(args) => pki::run(&args),
        Command::Provision(args) => provision::run(&args),
        Command::Pfkey(args) => pfkey_cmd::run(&args),
        Command::Check(args) => config::check::run(&args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("ikegw: {}", error_chain(&*err));
            ExitCode::FAILURE
        }
    }
}

/// Render an error and all of its sources on one line, outermost first.
fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        out.push_str(": ");
        out.push_str(&cause.to_string());
        source = cause.source();
    }
    out
}
