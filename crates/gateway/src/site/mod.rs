//! The `[site]` section of `ikegw.toml`: a declarative picture of one box
//! that `ikegw provision` realises (issue #9).
//!
//! The picture: a WAN link; an etherstub for the inside LAN; a router zone
//! with an exclusive IP stack that does NAT, port redirection, firewalling
//! and runs ikegw; inner zones (web, game, ...) behind it; the global zone
//! on the LAN with no default route; read-only loopback mounts handing
//! content from the global zone to inner zones; remote-access pools and
//! branch subnets that are routed through the VPN and exempt from NAT.
//!
//! Layers: [`parse`] reads the whole TOML file but looks only at `[site]`
//! (the other top-level tables, `[daemon]`, `[connections]`, `[secrets]`,
//! `[pools]`, belong to `config`), with a span on every value; [`validate`]
//! turns the raw tables into a [`Site`] and reports *every* problem as
//! `file:line:col: message`. Nothing here touches the system: the
//! realisations live in `crate::provision`.

mod net;
mod validate;

use std::fmt;
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

pub(crate) use net::Ipv4Net;

/// A validated `[site]`.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Site {
    /// Short name of the site, used in comments and the lab marker.
    pub(crate) name: String,
    /// illumos zone brand for every zone (`sparse`, `lipkg`, `pkgsrc`, ...).
    pub(crate) brand: String,
    /// Parent directory of the zone paths: zone `web` lives in `<zonepath>/web`.
    pub(crate) zonepath: String,
    /// The outside link and the router's address on it.
    pub(crate) wan: Wan,
    /// The inside: an etherstub and its subnet.
    pub(crate) lan: Lan,
    /// The router zone: its LAN vNIC and address (its WAN vNIC is `wan.vnic`).
    pub(crate) router: Zone,
    /// Directory in the global zone holding ikegw's binaries, mounted
    /// read-only at the same path in the router zone.
    pub(crate) ikegw_dir: String,
    /// The global zone's inside interface; it gets no default route.
    pub(crate) global: Option<GlobalIf>,
    /// Inner zones, in file order.
    pub(crate) zones: Vec<Zone>,
    /// Port redirects from the WAN address to inner zones.
    pub(crate) redirects: Vec<Redirect>,
    /// Firewall options beyond the fixed policy.
    pub(crate) firewall: Firewall,
    /// The VPN parts; `None` when the site runs no VPN.
    pub(crate) vpn: Option<Vpn>,
    /// Settings of the Linux lab emulation (`--target linux`).
    pub(crate) lab: Lab,
}

/// `[site.wan]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Wan {
    /// The physical NIC to create the WAN vNIC over; `None` when `vnic`
    /// already exists and is handed to the router zone as it is.
    pub(crate) over: Option<String>,
    /// The router zone's WAN vNIC.
    pub(crate) vnic: String,
    /// The router's WAN address with its prefix length.
    pub(crate) address: Ipv4Net,
    /// The upstream gateway: the router zone's default route.
    pub(crate) gateway: Ipv4Addr,
}

/// `[site.lan]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lan {
    /// The etherstub every inside vNIC is created over.
    pub(crate) etherstub: String,
    /// The inside subnet (host bits zero).
    pub(crate) subnet: Ipv4Net,
}

/// A zone on the LAN: the router, or an inner zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Zone {
    /// Zone name.
    pub(crate) name: String,
    /// Its vNIC over the etherstub.
    pub(crate) vnic: String,
    /// Its LAN address; the prefix length is the LAN's.
    pub(crate) address: Ipv4Addr,
    /// `capped-cpu` in hundredths of a CPU (`1.5` → 150).
    pub(crate) cpu_centi: Option<u32>,
    /// `capped-memory physical`, as zonecfg takes it (`512m`, `2g`).
    pub(crate) memory: Option<String>,
    /// Read-only loopback mounts from the global zone.
    pub(crate) mounts: Vec<Mount>,
}

/// A read-only lofs mount from the global zone into a zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Mount {
    /// Directory in the global zone.
    pub(crate) source: String,
    /// Where it appears inside the zone.
    pub(crate) dir: String,
}

/// `[site.global]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct GlobalIf {
    /// The global zone's vNIC over the etherstub.
    pub(crate) vnic: String,
    /// Its LAN address.
    pub(crate) address: Ipv4Addr,
}

/// Transport protocol(s) of a redirect.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Proto {
    /// TCP only.
    Tcp,
    /// UDP only.
    Udp,
    /// Both (ipnat's `tcp/udp`).
    TcpUdp,
}

impl Proto {
    /// True when the two share a protocol.
    pub(crate) fn overlaps(self, other: Self) -> bool {
        self == other || self == Self::TcpUdp || other == Self::TcpUdp
    }

    /// The single protocols this stands for.
    pub(crate) fn each(self) -> &'static [&'static str] {
        match self {
            Self::Tcp => &["tcp"],
            Self::Udp => &["udp"],
            Self::TcpUdp => &["tcp", "udp"],
        }
    }
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Tcp => "tcp",
            Self::Udp => "udp",
            Self::TcpUdp => "tcp/udp",
        })
    }
}

/// `[[site.redirects]]`: WAN `proto/port` → `zone`'s address, `to_port`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Redirect {
    /// Protocol(s).
    pub(crate) proto: Proto,
    /// Port on the WAN address.
    pub(crate) port: u16,
    /// Target zone's name.
    pub(crate) zone: String,
    /// Target zone's address (resolved from `zone`).
    pub(crate) to_addr: Ipv4Addr,
    /// Port in the target zone.
    pub(crate) to_port: u16,
}

/// `[site.firewall]`. The fixed part of the policy is not configurable:
/// inbound on the WAN is denied by default; IKE (UDP 500/4500) and ESP to
/// the router are allowed when the site has a VPN; redirects are allowed.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub(crate) struct Firewall {
    /// Answer ICMP echo on the WAN address.
    pub(crate) allow_ping: bool,
}

/// `[site.vpn]`: ikegw runs in the router zone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Vpn {
    /// Remote-access address pools (routed, never NATed).
    pub(crate) pools: Vec<Ipv4Net>,
    /// Site-to-site peers and the subnets behind them.
    pub(crate) branches: Vec<Branch>,
}

impl Vpn {
    /// Every subnet reached through the VPN: pools, then branch subnets.
    pub(crate) fn remote_nets(&self) -> Vec<Ipv4Net> {
        let mut v = self.pools.clone();
        for b in &self.branches {
            v.extend(b.subnets.iter().copied());
        }
        v
    }
}

/// `[[site.vpn.branches]]`: one site-to-site peer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Branch {
    /// Name, for comments and diagnostics.
    pub(crate) name: String,
    /// The branch gateway's public address.
    pub(crate) peer: Ipv4Addr,
    /// The subnets behind it.
    pub(crate) subnets: Vec<Ipv4Net>,
}

/// `[site.lab]`: the Linux emulation's knobs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Lab {
    /// Prefix of every network namespace the lab creates (`<prefix>-router`).
    pub(crate) prefix: String,
}

impl Site {
    /// Every zone on the LAN, the router first.
    pub(crate) fn lan_zones(&self) -> impl Iterator<Item = &Zone> {
        std::iter::once(&self.router).chain(self.zones.iter())
    }

    /// The router's LAN address with the LAN prefix length.
    pub(crate) fn lan_cidr(&self, addr: Ipv4Addr) -> Ipv4Net {
        Ipv4Net {
            addr,
            len: self.lan.subnet.len,
        }
    }
}

/// One problem in a `[site]` section, with its position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Problem {
    /// 1-based line (0: the whole file).
    pub(crate) line: usize,
    /// 1-based column, in characters.
    pub(crate) col: usize,
    /// What is wrong.
    pub(crate) message: String,
}

/// Why a `[site]` could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SiteError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML of the expected shape.
    #[error("{}", at(.path, *.line, *.col, .message))]
    Syntax {
        /// The file.
        path: PathBuf,
        /// 1-based line; 0 when the parser gave no position.
        line: usize,
        /// 1-based column.
        col: usize,
        /// The TOML parser's message.
        message: String,
    },
    /// The file has no `[site]` table.
    #[error(
        "{path}: no [site] table: `ikegw provision` needs one (see examples/home-datacentre.toml)"
    )]
    NoSite {
        /// The file.
        path: PathBuf,
    },
    /// The section parsed but does not describe a consistent site.
    #[error("{}", render(.path, .problems))]
    Invalid {
        /// The file.
        path: PathBuf,
        /// Every problem, in file order.
        problems: Vec<Problem>,
    },
}

fn at(path: &Path, line: usize, col: usize, message: &str) -> String {
    if line == 0 {
        format!("{}: {message}", path.display())
    } else {
        format!("{}:{line}:{col}: {message}", path.display())
    }
}

fn render(path: &Path, problems: &[Problem]) -> String {
    let mut out = format!("{} problem(s) in [site]", problems.len());
    for p in problems {
        out.push_str(&format!(
            "\n  {}:{}:{}: {}",
            path.display(),
            p.line,
            p.col,
            p.message
        ));
    }
    out
}

/// Read `path` and return its validated `[site]`.
pub(crate) fn load(path: &Path) -> Result<Site, SiteError> {
    let text = std::fs::read_to_string(path).map_err(|source| SiteError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(path, &text)
}

/// Parse and validate the `[site]` of `text` (as read from `path`).
pub(crate) fn parse(path: &Path, text: &str) -> Result<Site, SiteError> {
    let doc: raw::Doc = toml::from_str(text).map_err(|e| {
        let (line, col) = e.span().map_or((0, 0), |s| line_col(text, s.start));
        SiteError::Syntax {
            path: path.to_owned(),
            line,
            col,
            message: e.message().to_owned(),
        }
    })?;
    let Some(site) = doc.site else {
        return Err(SiteError::NoSite {
            path: path.to_owned(),
        });
    };
    validate::validate(text, site).map_err(|problems| SiteError::Invalid {
        path: path.to_owned(),
        problems,
    })
}

/// 1-based line and character column of byte `offset` in `text`.
pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count().saturating_add(1);
    let line_start = before.rfind('\n').map_or(0, |i| i.saturating_add(1));
    let col = before
        .get(line_start..)
        .map_or(0, |s| s.chars().count())
        .saturating_add(1);
    (line, col)
}

/// The TOML shapes, as written. Every table denies unknown keys, so a typo
/// is an error with a position instead of a silently ignored setting; only
/// the top level is open, because the rest of `ikegw.toml` lives there.
mod raw {
    use super::{Deserialize, Spanned};

    #[derive(Deserialize)]
    pub(super) struct Doc {
        pub(super) site: Option<Spanned<Site>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Site {
        pub(super) name: Spanned<String>,
        pub(super) brand: Option<Spanned<String>>,
        pub(super) zonepath: Option<Spanned<String>>,
        pub(super) wan: Spanned<Wan>,
        pub(super) lan: Spanned<Lan>,
        pub(super) router: Spanned<Zone>,
        pub(super) global: Option<Spanned<Global>>,
        #[serde(default)]
        pub(super) zones: Vec<Spanned<Zone>>,
        #[serde(default)]
        pub(super) redirects: Vec<Spanned<Redirect>>,
        pub(super) firewall: Option<Spanned<Firewall>>,
        pub(super) vpn: Option<Spanned<Vpn>>,
        pub(super) lab: Option<Spanned<Lab>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Wan {
        pub(super) over: Option<Spanned<String>>,
        pub(super) vnic: Spanned<String>,
        pub(super) address: Spanned<String>,
        pub(super) gateway: Spanned<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Lan {
        pub(super) etherstub: Spanned<String>,
        pub(super) subnet: Spanned<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Zone {
        pub(super) name: Spanned<String>,
        pub(super) vnic: Spanned<String>,
        pub(super) address: Spanned<String>,
        pub(super) cpu: Option<Spanned<f64>>,
        pub(super) memory: Option<Spanned<String>>,
        #[serde(default)]
        pub(super) mounts: Vec<Spanned<Mount>>,
        /// Router only: where ikegw's binaries are in the global zone.
        pub(super) ikegw_dir: Option<Spanned<String>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Mount {
        pub(super) source: Spanned<String>,
        pub(super) dir: Spanned<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Global {
        pub(super) vnic: Spanned<String>,
        pub(super) address: Spanned<String>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Redirect {
        pub(super) proto: Spanned<String>,
        pub(super) port: Spanned<i64>,
        pub(super) zone: Spanned<String>,
        pub(super) to_port: Option<Spanned<i64>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Firewall {
        #[serde(default)]
        pub(super) allow_ping: bool,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Vpn {
        #[serde(default)]
        pub(super) pools: Vec<Spanned<String>>,
        #[serde(default)]
        pub(super) branches: Vec<Spanned<Branch>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Branch {
        pub(super) name: Spanned<String>,
        pub(super) peer: Spanned<String>,
        pub(super) subnets: Vec<Spanned<String>>,
    }

    #[derive(Deserialize)]
    #[serde(deny_unknown_fields)]
    pub(super) struct Lab {
        pub(super) prefix: Spanned<String>,
    }
}

#[cfg(test)]
mod tests;
