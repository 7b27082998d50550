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
/// nftables' `nft` (NAT and loss scenarios).
pub const NFT: &str = "/usr/sbin/nft";

/// Time bound for one `ip`/`sysctl`/`ping` command.
const CMD_LIMIT: Duration = Duration::from_secs(10);
/// Time bound for [`Netns::ping`] (echoes 0.2 s apart, 2 s for each reply).
const PING_LIMIT: Duration = Duration::from_secs(20);

/// `ip -n NS ARGS...` by the namespace's name (for code that holds the
/// name, not the [`Netns`]), within 10 s; fails on non-zero exit.
pub fn ip_in(ns: &str, args: &[&str], scratch: &Path) -> Result<Output> {
    proc::run(
        Command::new(IP).args(["-n", ns]).args(args),
        CMD_LIMIT,
        scratch,
    )
}

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
        ip_in(&self.name, args, scratch)
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

    /// `ping -n -c COUNT -i 0.2 -W 2 [-I FROM] TO` inside the namespace
    /// (`ping -6` when `to` is an IPv6 address), within 20 s; fails unless
    /// at least one echo came back.
    pub fn ping(&self, to: &str, count: u64, from: Option<&str>, scratch: &Path) -> Result<Output> {
        let count = count.to_string();
        let mut argv = vec!["ping"];
        if to.contains(':') {
            argv.push("-6");
        }
        argv.extend(["-n", "-c", &count, "-i", "0.2", "-W", "2"]);
        if let Some(from) = from {
            argv.extend(["-I", from]);
        }
        argv.push(to);
        self.exec(&argv, PING_LIMIT, scratch)
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

    /// Loads an nftables ruleset (`nft -f`) inside the namespace; the text
    /// is kept in `scratch` for the report.
    pub fn nft(&self, name: &str, ruleset: &str, scratch: &Path) -> Result<()> {
        let file = scratch.join(format!("{}-{name}.nft", self.name));
        std::fs::write(&file, ruleset).map_err(crate::io_err(&file))?;
        self.exec(&[NFT, "-f", &file.to_string_lossy()], CMD_LIMIT, scratch)
            .map(drop)
    }

    /// `nft list ruleset` inside the namespace (with counters).
    pub fn nft_list(&self, scratch: &Path) -> Result<String> {
        Ok(self
            .exec(&[NFT, "list", "ruleset"], CMD_LIMIT, scratch)?
            .stdout)
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

/// The left gateway when it sits behind [`Topology::create_behind_nat`]'s
/// NAT: a private WAN address; the NAT's outside address is `LEFT.wan`.
pub const LEFT_BEHIND_NAT: Site = Site {
    wan: Ipv4Addr::new(172, 16, 0, 2),
    ..LEFT
};

/// The NAT's inside address (the left gateway's default route).
pub const NAT_INSIDE: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 1);

/// UDP source ports the NAT maps to: never 500 or 4500, so the peer must
/// answer the mapped ports (RFC 3948, RFC 7296 §2.23).
pub const NAT_PORTS: (u16, u16) = (20000, 29999);

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
    /// The NAT between the left gateway and the WAN, when there is one.
    pub nat: Option<Netns>,
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
            nat: None,
        };
        topo.disable_ipv6(scratch)?;
        topo.left.veth_to("wan0", &topo.right, "wan0", scratch)?;
        topo.left
            .add_addr("wan0", &format!("{}/24", LEFT.wan), scratch)?;
        topo.finish(LEFT, scratch)
    }

    /// Like [`Topology::create`], but the left gateway reaches the WAN
    /// through a NAT namespace `<tag>-n` (nftables masquerade, UDP source
    /// ports mapped into [`NAT_PORTS`]):
    ///
    /// ```text
    /// [left] wan0 172.16.0.2 -- in0 172.16.0.1 [nat] out0 198.51.100.1 -- wan0 198.51.100.2 [right]
    /// ```
    ///
    /// The right gateway sees the left one as 198.51.100.1 and has no route
    /// to 172.16.0.0/24.
    pub fn create_behind_nat(tag: &str, scratch: &Path) -> Result<Self> {
        let nat = Netns::create(&format!("{tag}-n"), scratch)?;
        let topo = Self {
            left: Netns::create(&format!("{tag}-l"), scratch)?,
            right: Netns::create(&format!("{tag}-r"), scratch)?,
            left_lan: Netns::create(&format!("{tag}-ll"), scratch)?,
            right_lan: Netns::create(&format!("{tag}-rl"), scratch)?,
            nat: Some(nat),
        };
        topo.disable_ipv6(scratch)?;
        let nat = topo
            .nat
            .as_ref()
            .ok_or_else(|| crate::Error::Check("NAT namespace missing".into()))?;
        topo.left.veth_to("wan0", nat, "in0", scratch)?;
        nat.veth_to("out0", &topo.right, "wan0", scratch)?;
        topo.left
            .add_addr("wan0", &format!("{}/24", LEFT_BEHIND_NAT.wan), scratch)?;
        topo.left.ip(
            &["route", "add", "default", "via", &NAT_INSIDE.to_string()],
            scratch,
        )?;
        nat.add_addr("in0", &format!("{NAT_INSIDE}/24"), scratch)?;
        nat.add_addr("out0", &format!("{}/24", LEFT.wan), scratch)?;
        nat.sysctl("net.ipv4.ip_forward=1", scratch)?;
        let (lo, hi) = NAT_PORTS;
        nat.nft(
            "masquerade",
            &format!(
                "table ip nat {{
    chain post {{
        type nat hook postrouting priority srcnat; policy accept;
        oifname \"out0\" meta l4proto udp counter masquerade to :{lo}-{hi}
        oifname \"out0\" counter masquerade
    }}
}}
"
            ),
            scratch,
        )?;
        topo.finish(LEFT_BEHIND_NAT, scratch)
    }

    fn disable_ipv6(&self, scratch: &Path) -> Result<()> {
        let all = [&self.left, &self.right, &self.left_lan, &self.right_lan];
        for ns in all.into_iter().chain(self.nat.as_ref()) {
            ns.sysctl("net.ipv6.conf.all.disable_ipv6=1", scratch)?;
            ns.sysctl("net.ipv6.conf.default.disable_ipv6=1", scratch)?;
        }
        Ok(())
    }

    /// LANs, the right gateway's WAN address, forwarding, and the checks
    /// (WAN works, remote LAN unreachable without a tunnel).
    fn finish(self, left: Site, scratch: &Path) -> Result<Self> {
        let topo = self;
        topo.right
            .add_addr("wan0", &format!("{}/24", RIGHT.wan), scratch)?;
        topo.left.veth_to("lan0", &topo.left_lan, "eth0", scratch)?;
        topo.right
            .veth_to("lan0", &topo.right_lan, "eth0", scratch)?;
        for (gw, host, site) in [
            (&topo.left, &topo.left_lan, left),
            (&topo.right, &topo.right_lan, RIGHT),
        ] {
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
