//! `ikegw`: the command-line entry point.
#![forbid(unsafe_code)]

mod config;
mod control;
mod daemon;
mod decode;
mod pfkey_cmd;
mod pki;
mod profiles;
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
    /// Run the gateway daemon (IKE on UDP 500/4500, SAs into the key engine).
    Run(daemon::RunArgs),
    /// Show the running daemon's summary.
    Status(control::client::Common),
    /// List IKE and CHILD SAs (like swanctl --list-sas).
    ListSas(control::client::Common),
    /// List loaded connections (like swanctl --list-conns).
    ListConns(control::client::Common),
    /// Start a CHILD_SA (and its IKE SA).
    Initiate(control::client::InitiateArgs),
    /// Delete an IKE SA and its CHILD_SAs.
    Terminate(control::client::TerminateArgs),
    /// Rekey an IKE SA or one of its CHILD_SAs.
    Rekey(control::client::RekeyArgs),
    /// Make the daemon re-read its configuration file.
    Reload(control::client::Common),
    /// Show the daemon's counters.
    Stats(control::client::Common),
    /// Stream the daemon's log.
    Log(control::client::Common),
    /// List address pools and their leases (road warriors' virtual IPs).
    ListPools(control::client::Common),
    /// Site-to-site demo in network namespaces (Linux, root).
    Demo(daemon::demo::DemoArgs),
    /// Generate a ready-to-import client profile for a remote-access connection.
    Profile(profiles::Args),
    /// Realise the [site] section (zones, vNICs, NAT, firewall) on illumos, or as a Linux lab.
    Provision(provision::Args),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Decode(args) => decode::run(&args),
        Command::Pki(args) => pki::run(&args),
        Command::Profile(args) => profiles::run(&args),
        Command::Provision(args) => provision::run(&args),
        Command::Pfkey(args) => pfkey_cmd::run(&args),
        Command::Check(args) => config::check::run(&args),
        Command::Run(args) => daemon::run(&args),
        Command::Status(c) => control::client::run(&c, control::proto::Request::Status),
        Command::ListSas(c) => control::client::run(&c, control::proto::Request::ListSas),
        Command::ListConns(c) => control::client::run(&c, control::proto::Request::ListConns),
        Command::Initiate(a) => control::client::run(
            &a.common,
            control::proto::Request::Initiate { child: a.child },
        ),
        Command::Terminate(a) => {
            control::client::run(&a.common, control::proto::Request::Terminate { ike: a.ike })
        }
        Command::Rekey(a) => control::client::run(
            &a.common,
            control::proto::Request::Rekey {
                ike: a.ike,
                child: a.child,
            },
        ),
        Command::Reload(c) => control::client::run(&c, control::proto::Request::Reload),
        Command::Stats(c) => control::client::run(&c, control::proto::Request::Stats),
        Command::Log(c) => control::client::run(&c, control::proto::Request::Log),
        Command::ListPools(c) => control::client::run(&c, control::proto::Request::ListPools),
        Command::Demo(a) => daemon::demo::run(&a),
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
