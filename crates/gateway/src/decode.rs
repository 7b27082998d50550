//! `ikegw decode`: print IKEv2 messages found in a capture or a hex dump.

use std::process::ExitCode;

/// Arguments of `ikegw decode`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// A pcap or pcapng file, or a text file holding a hex dump.
    file: std::path::PathBuf,
    /// Print one JSON object per message instead of text.
    #[arg(long)]
    json: bool,
}

pub(crate) fn run(_args: &Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    Err("decode: not implemented yet".into())
}
