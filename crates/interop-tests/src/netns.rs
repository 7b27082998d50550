//! Network namespaces and veth pairs, driven through iproute2's `ip`.
//!
//! Every namespace is created by us under a unique name and deleted in
//! `Drop`; veth pairs are created directly inside the namespaces, so no
//! interface ever appears in the host namespace and nothing can leak out.
//!
//! [`Topology`] is the site-to-site picture all strongSwan scenarios use:
//!
//! ```text
//! [left-lan] eth0 10.1.0.10/24 -- lan0 10.1.0.1/24 [left] wan0 198.51.100.1/24
//!                                                            | veth "WAN"
//! [right-lan] eth0 10.2.0.10/24 -- lan0 10.2.0.1/24 [right] wan0 198.51.100.2/24
//! ```
//!
//! The gateways forward, but have no route to the remote LAN except the one
//! the IKE daemon installs for the tunnel, so a LAN-to-LAN ping proves that
//! the tunnel carries traffic.

use std::net::Ipv4Addr;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::proc::{self, Output};
use crate::Result;

/// iproute2's `ip`.
pub const IP: &str = "/usr/sbin/ip";

/// Time bound for one `ip`/`sysctl`/`ping` command.
const CMD_LIMIT: Duration = Duration::from_secs(10);

/// A network namespace we created; deleted on drop.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

impl Netns {
    /// `ip netns add NAME` and bring `lo` up.
    pub fn create(name: &str, scratch: &Path) -> Result<Self> {
        proc::run(
            Command::new(IP).args(["netns", "add", name]),
            CMD_LIMIT,
            scratch,
        )?;
        let ns = Self {
            name: name.to_owned(),
        };
        ns.ip(&["link", "set", "lo", "up"], scratch)?;
        Ok(ns)
    }

    /// The namespace's name (for `ip netns exec`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `ip -n NAME ARGS...`
    pub fn ip(&self, args: &[&str], scratch: &Path) -> Result<Output> {
        proc::run(
            Command::new(IP).args(["-n", &self.name]).args(args),
            CMD_LIMIT,
            scratch,
        )
    }

    /// A `Command` that runs `argv` inside the namespace.
    pub fn command(&self, argv: &[&str]) -> Command {
        let mut cmd = Command::new(IP);
        cmd.args(["netns", "exec", &self.name]).args(argv);
        cmd
    }

    /// Runs `argv` inside the namespace within `limit`; fails on non-zero exit.
    pub fn exec(&self, argv: &[&str], limit: Duration, scratch: &Path) -> Result<Output> {
        proc::run(&mut self.command(argv), limit, scratch)
    }

    /// `sysctl -qw KEY=VALUE` inside the namespace.
    pub fn sysctl(&self, key_value: &str, scratch: &Path) -> Result<()> {
        self.exec(&["sysctl", "-qw", key_value], CMD_LIMIT, scratch)
            .map(drop)
    }

    /// Creates a veth pair `self:here` ↔ `peer:there` and brings both ends up.
    pub fn veth_to(&self, here: &str, peer: &Self, there: &str, scratch: &Path) -> Result<()> {
        self.ip(
            &[
                "link", "add", here, "type", "veth", "peer", "name", there, "netns", &peer.name,
            ],
            scratch,
        )?;
        self.ip(&["link", "set", here, "up"], scratch)?;
        peer.ip(&["link", "set", there, "up"], scratch)?;
        Ok(())
    }

    /// `ip addr add CIDR dev IFACE`
    pub fn add_addr(&self, iface: &str, cidr: &str, scratch: &Path) -> Result<()> {
        self.ip(&["addr", "add", cidr, "dev", iface], scratch)
            .map(drop)
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        // Our daemons in it have been stopped by PID before (fields drop
        // in declaration order, and scenario structs list daemons first).
        let _ = Command::new(IP)
            .args(["netns", "del", &self.name])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Addresses of one site in a [`Topology`].
#[derive(Clone, Copy, Debug)]
pub struct Site {
    /// The gateway's WAN address.
    pub wan: Ipv4Addr,
    /// The gateway's LAN address (inside its own traffic selector: charon
    /// uses it as source of the tunnel route).
    pub lan_gw: Ipv4Addr,
    /// The host behind the gateway.
    pub lan_host: Ipv4Addr,
    /// The LAN prefix, as `a.b.c.d/len`.
    pub lan_net: &'static str,
}

/// Left site: WAN in 198.51.100.0/24 (TEST-NET-2, RFC 5737), LAN 10.1.0.0/24.
pub const LEFT: Site = Site {
    wan: Ipv4Addr::new(198, 51, 100, 1),
    lan_gw: Ipv4Addr::new(10, 1, 0, 1),
    lan_host: Ipv4Addr::new(10, 1, 0, 10),
    lan_net: "10.1.0.0/24",
};
/// Right site: WAN 198.51.100.2, LAN 10.2.0.0/24.
pub const RIGHT: Site = Site {
    wan: Ipv4Addr::new(198, 51, 100, 2),
    lan_gw: Ipv4Addr::new(10, 2, 0, 1),
    lan_host: Ipv4Addr::new(10, 2, 0, 10),
    lan_net: "10.2.0.0/24",
};

/// Two gateways joined by a WAN veth, each with a LAN host; see the module
/// doc. All four namespaces are deleted on drop.
#[derive(Debug)]
pub struct Topology {
    /// Left gateway (`wan0`, `lan0`).
    pub left: Netns,
    /// Right gateway (`wan0`, `lan0`).
    pub right: Netns,
    /// Host behind the left gateway (`eth0`).
    pub left_lan: Netns,
    /// Host behind the right gateway (`eth0`).
    pub right_lan: Netns,
}

impl Topology {
    /// Builds the topology with namespace names `<tag>-l`, `-r`, `-ll`,
    /// `-rl`. IPv6 is disabled in all of them: link-local addresses
    /// appearing mid-scenario would make strongSwan's MOBIKE send address
    /// updates that the scenarios do not expect.
    pub fn create(tag: &str, scratch: &Path) -> Result<Self> {
        let topo = Self {
            left: Netns::create(&format!("{tag}-l"), scratch)?,
            right: Netns::create(&format!("{tag}-r"), scratch)?,
            left_lan: Netns::create(&format!("{tag}-ll"), scratch)?,
            right_lan: Netns::create(&format!("{tag}-rl"), scratch)?,
        };
        for ns in [&topo.left, &topo.right, &topo.left_lan, &topo.right_lan] {
            ns.sysctl("net.ipv6.conf.all.disable_ipv6=1", scratch)?;
            ns.sysctl("net.ipv6.conf.default.disable_ipv6=1", scratch)?;
        }
        topo.left.veth_to("wan0", &topo.right, "wan0", scratch)?;
        topo.left.veth_to("lan0", &topo.left_lan, "eth0", scratch)?;
        topo.right
            .veth_to("lan0", &topo.right_lan, "eth0", scratch)?;
        for (gw, host, site) in [
            (&topo.left, &topo.left_lan, LEFT),
            (&topo.right, &topo.right_lan, RIGHT),
        ] {
            gw.add_addr("wan0", &format!("{}/24", site.wan), scratch)?;
            gw.add_addr("lan0", &format!("{}/24", site.lan_gw), scratch)?;
            host.add_addr("eth0", &format!("{}/24", site.lan_host), scratch)?;
            host.ip(
                &["route", "add", "default", "via", &site.lan_gw.to_string()],
                scratch,
            )?;
            gw.sysctl("net.ipv4.ip_forward=1", scratch)?;
            // decrypted packets re-enter through the TUN device
            gw.sysctl("net.ipv4.conf.all.rp_filter=0", scratch)?;
            gw.sysctl("net.ipv4.conf.default.rp_filter=0", scratch)?;
        }
        // the WAN works, and the remote LAN is NOT reachable without a tunnel
        topo.left.exec(
            &["ping", "-c", "1", "-W", "2", &RIGHT.wan.to_string()],
            CMD_LIMIT,
            scratch,
        )?;
        if topo.lan_ping(1, scratch).is_ok() {
            return Err(crate::Error::Check(
                "remote LAN reachable without a tunnel: the topology is wrong".into(),
            ));
        }
        Ok(topo)
    }

    /// Pings the right LAN host from the left LAN host (`count` echoes,
    /// 0.2 s apart); fails unless at least one reply came back.
    pub fn lan_ping(&self, count: u32, scratch: &Path) -> Result<Output> {
        self.left_lan.exec(
            &[
                "ping",
                "-n",
                "-c",
                &count.to_string(),
                "-i",
                "0.2",
                "-W",
                "1",
                &RIGHT.lan_host.to_string(),
            ],
            CMD_LIMIT,
            scratch,
        )
    }
}
