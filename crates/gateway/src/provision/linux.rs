//! The Linux *lab emulation* of a `[site]`: the same model realised with
//! network namespaces, so the routing, NAT, redirects and firewall can be
//! exercised for real on a Linux box. It is not a way to run a production
//! router on Linux.
//!
//! Mapping: each zone (router, inner zones, and the global zone) is a
//! namespace `<prefix>-<zone>`; the etherstub is a bridge inside a namespace
//! `<prefix>-stub`; each vNIC is a veth pair with one end in its zone's
//! namespace and the other on that bridge; the WAN is a veth pair from the
//! router's namespace into `<prefix>-wan`, which stands for the Internet
//! and holds the upstream gateway's address. NAT, redirects and the
//! firewall are one nftables table (`ip ikegw`) in the router namespace.
//!
//! Safety of the host: every command is `ip netns add|delete <ours>`, `ip
//! -n <ours> ...` or `ip netns exec <ours> ...`. A namespace counts as ours
//! only when its loopback carries the alias `ikegw-lab:<site>`, set right
//! after creating it; apply and teardown refuse to touch a namespace of the
//! same name without it. The host's own interfaces are never named.
//!
//! When the configuration file also has `[connections]`, the last step
//! starts `ikegw run -c <that file> --tun ikegw0` in the router namespace,
//! with a private `/run` bound to the lab's state directory
//! (`/run/ikegw-lab/<prefix>`): the daemon's default control and engine
//! sockets land there instead of colliding with a host daemon's, and its
//! PID file and log sit next to them; its default state directory (pool
//! leases) is bound to `state/` there too, over a private `/var/lib`.
//! `status` checks that PID against `/proc/<pid>/cmdline`; teardown stops
//! it by that PID before deleting any namespace. A daemon's IPv4 pools must
//! lie inside `[site.vpn] pools`, the prefixes the router does not NAT.
//!
//! Left out on this target: loopback mounts and resource caps (namespaces
//! share the host's filesystem and have no CPU or memory caps).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::Path;

use serde::Deserialize;

use super::{Cmd, Observe, Plan, Plans, Presence, ProvisionError, Runner};
use crate::site::{Site, SiteError};

const TABLE: &str = "ikegw";

/// The TUN device the daemon creates in the router namespace.
pub(crate) const TUN: &str = "ikegw0";

/// Starts the daemon inside `unshare -m`: `$1` is the state directory, the
/// rest is the daemon's argv. The bind over `/run` is private to the new
/// mount namespace, so the host's `/run` is untouched. So is the host's
/// `/var/lib`: the daemon sees an empty tmpfs there, with its default
/// `state_dir` (`/var/lib/ikegw`, the pool leases) bound to `state/` in
/// the lab's directory, so leases live and die with the lab and survive
/// a daemon restart inside it (bound before `/run` is replaced, as `$1`
/// lies under `/run`). Redirecting every
/// standard stream matters: the runner waits for its pipes to close, and a
/// daemon holding them would hang `apply`. A daemon that dies within a
/// second (a bad config, a port in use) fails the step with its log's tail;
/// until this shell exits it is our unreaped child, hence the zombie test.
const START_SCRIPT: &str =
    "set -e; d=\"$1\"; mkdir -p \"$d/state\"; cd \"$d\"; \
mount -t tmpfs -o mode=0755 ikegw-lab /var/lib; mkdir /var/lib/ikegw; mount --bind \"$d/state\" /var/lib/ikegw; \
mount --bind \"$d\" /run; shift; \
\"$@\" </dev/null >>ikegw.log 2>&1 & p=$!; echo $p >ikegw.pid; sleep 1; \
if ! kill -0 $p 2>/dev/null || grep -q '^State:[[:space:]]*Z' /proc/$p/status 2>/dev/null; then \
echo \"ikegw exited at once; the end of $d/ikegw.log:\" >&2; tail -n 5 ikegw.log >&2; exit 1; fi";

/// Stops the daemon by the PID in `$1`: SIGTERM (it deletes its SAs and
/// tells the peers, up to ~3 s), SIGKILL after 10 s, then drops the file.
const STOP_SCRIPT: &str = "p=$(cat \"$1\") || exit 0; kill -TERM \"$p\" 2>/dev/null || { rm -f \"$1\"; exit 0; }; \
i=0; while kill -0 \"$p\" 2>/dev/null; do i=$((i+1)); if [ $i -gt 100 ]; then kill -KILL \"$p\"; break; fi; sleep 0.1; done; rm -f \"$1\"";

/// How `ikegw run` is started in the router namespace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Daemon {
    /// The `ikegw` binary (absolute).
    pub(crate) bin: String,
    /// The configuration file (absolute): the one `provision` read.
    pub(crate) config: String,
}

impl Daemon {
    /// The daemon for `config` when it has at least one `[connections]`
    /// entry, run by this very binary; `None` when it has none.
    pub(crate) fn for_config(config: &Path) -> Result<Option<Self>, ProvisionError> {
        let fail =
            |why: String| ProvisionError::Precondition(format!("{}: {why}", config.display()));
        let text = std::fs::read_to_string(config).map_err(|e| fail(e.to_string()))?;
        let doc: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| fail(e.to_string()))?;
        let has = doc
            .get("connections")
            .and_then(toml::Value::as_table)
            .is_some_and(|t| !t.is_empty());
        if !has {
            return Ok(None);
        }
        pools_inside_site(&doc).map_err(fail)?;
        // Absolute paths: the daemon starts in the state directory.
        let config = std::fs::canonicalize(config).map_err(|e| fail(e.to_string()))?;
        let bin = std::env::current_exe()
            .map_err(|e| fail(format!("cannot find the ikegw binary: {e}")))?;
        Ok(Some(Self {
            bin: bin.to_string_lossy().into_owned(),
            config: config.to_string_lossy().into_owned(),
        }))
    }
}

/// Every IPv4 `[pools.NAME]` of the daemon must lie inside the site's
/// `[site.vpn] pools`: those prefixes are what the router's nftables
/// exempt from masquerading, so a client leased an address outside them
/// would reach the LAN but its replies would leave NATed to the WAN. IPv6
/// pools are not checked: the lab's router is IPv4-only (its table is
/// `ip`), so they are the daemon's business alone. Unreadable values are
/// left to `ikegw check`.
fn pools_inside_site(doc: &toml::Table) -> Result<(), String> {
    let site_pools: Vec<(u32, u32)> = doc
        .get("site")
        .and_then(|s| s.get("vpn"))
        .and_then(|v| v.get("pools"))
        .and_then(toml::Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(toml::Value::as_str)
        .filter_map(v4_range)
        .collect();
    let Some(pools) = doc.get("pools").and_then(toml::Value::as_table) else {
        return Ok(());
    };
    for (name, pool) in pools {
        let Some(text) = pool.get("addrs").and_then(toml::Value::as_str) else {
            continue;
        };
        let Some((first, last)) = v4_range(text) else {
            continue;
        };
        if !site_pools.iter().any(|(a, b)| *a <= first && last <= *b) {
            return Err(format!(
                "[pools.{name}] addrs = \"{text}\" is not inside [site.vpn] pools: the router \
                 would masquerade the replies to its clients; add its prefix to [site.vpn] pools"
            ));
        }
    }
    Ok(())
}

/// An IPv4 `a.b.c.d/len`, `a-b` range or single address as (first, last);
/// `None` for IPv6 or anything unreadable.
fn v4_range(text: &str) -> Option<(u32, u32)> {
    let ip = |t: &str| t.trim().parse::<std::net::Ipv4Addr>().ok().map(u32::from);
    if let Some((a, len)) = text.split_once('/') {
        let len: u32 = len.trim().parse().ok().filter(|l| *l <= 32)?;
        // checked_shr: a shift by 32 (a /32) is out of range for u32.
        let host = u32::MAX.checked_shr(len).unwrap_or(0);
        let net = ip(a)? & !host;
        return Some((net, net | host));
    }
    if let Some((a, b)) = text.split_once('-') {
        return Some((ip(a)?, ip(b)?)).filter(|(a, b)| a <= b);
    }
    ip(text).map(|a| (a, a))
}

/// The lab's state directory on the host (daemon PID, log, sockets).
pub(crate) fn state_dir(site: &Site) -> String {
    format!("/run/ikegw-lab/{}", site.lab.prefix)
}

/// A piece of lab state a step creates.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Check {
    /// The namespace exists.
    Netns(String),
    /// The namespace exists and carries our marker.
    Ours(String),
    /// The namespace is absent or ours (apply and teardown require this).
    AbsentOrOurs(String),
    /// A link exists in a namespace.
    Link(String, String),
    /// A link is administratively up.
    Up(String, String),
    /// A link is enslaved to a bridge.
    Master(String, String, String),
    /// An IPv4 address (`a.b.c.d/len`) on a link.
    Addr(String, String, String),
    /// A default route via this gateway.
    Default(String, String),
    /// A sysctl has this value inside the namespace.
    Sysctl(String, String, String),
    /// The nftables table carries this comment (its content's fingerprint).
    Nft(String, String),
    /// The PID file names a live process running `ikegw run` with this config.
    Running {
        /// The PID file.
        pidfile: String,
        /// The configuration path that must be on its command line.
        config: String,
    },
    /// The opposite (teardown).
    Not(Box<Self>),
}

/// Reject a `--lab-prefix` that would make odd namespace names.
pub(crate) fn check_prefix(p: &str) -> Result<(), SiteError> {
    let ok = !p.is_empty()
        && p.len() <= 20
        && p.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(SiteError::Syntax {
            path: "--lab-prefix".into(),
            line: 0,
            col: 0,
            message: format!("'{p}': use 1..=20 of a-z, 0-9 and '-'"),
        })
    }
}

/// The marker on the loopback of every namespace the lab created.
pub(crate) fn marker(site: &Site) -> String {
    format!("ikegw-lab:{}", site.name)
}

/// Namespace name for a zone (or `wan`, `stub`, `global`).
pub(crate) fn ns(site: &Site, what: &str) -> String {
    format!("{}-{what}", site.lab.prefix)
}

/// Every namespace of the lab, in creation order.
pub(crate) fn namespaces(site: &Site) -> Vec<String> {
    let mut v = vec![ns(site, "wan"), ns(site, "stub")];
    v.extend(site.lan_zones().map(|z| ns(site, &z.name)));
    if site.global.is_some() {
        v.push(ns(site, "global"));
    }
    v
}

/// FNV-1a, 64 bits: a stable fingerprint of the ruleset (not security relevant).
fn fnv64(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The nftables ruleset for the router namespace, replacing the table atomically.
pub(crate) fn ruleset(site: &Site) -> String {
    let wan = &site.wan.vnic;
    let me = site.wan.address.addr;
    let lan = site.lan.subnet;
    let vpn_nets: Vec<String> = site
        .vpn
        .as_ref()
        .map(|v| v.remote_nets().iter().map(ToString::to_string).collect())
        .unwrap_or_default();
    let mut b = String::new();
    if !vpn_nets.is_empty() {
        let _ = writeln!(
            b,
            "\tset vpn_nets {{\n\t\ttype ipv4_addr; flags interval;\n\t\telements = {{ {} }}\n\t}}",
            vpn_nets.join(", ")
        );
    }
    b.push_str(
        "\tchain prerouting {\n\t\ttype nat hook prerouting priority dstnat; policy accept;\n",
    );
    for r in &site.redirects {
        for p in r.proto.each() {
            let _ = writeln!(
                b,
                "\t\tiifname \"{wan}\" ip daddr {me} {p} dport {} dnat to {}:{}",
                r.port, r.to_addr, r.to_port
            );
        }
    }
    // VPN traffic needs no NAT exemption: it is routed into ikegw's TUN
    // device, never out of the WAN, so the masquerade below never sees it.
    b.push_str("\t}\n\tchain postrouting {\n\t\ttype nat hook postrouting priority srcnat; policy accept;\n");
    let _ = writeln!(b, "\t\toifname \"{wan}\" ip saddr {lan} masquerade");
    b.push_str(
        "\t}\n\tchain input {\n\t\ttype filter hook input priority filter; policy accept;\n",
    );
    let _ = writeln!(b, "\t\tiifname != \"{wan}\" accept");
    b.push_str("\t\tct state established,related accept\n\t\tct state invalid drop\n");
    if site.firewall.allow_ping {
        b.push_str("\t\ticmp type echo-request accept\n");
    }
    if site.vpn.is_some() {
        b.push_str(
            "\t\tudp dport { 500, 4500 } accept comment \"IKE\"\n\t\tmeta l4proto esp accept\n",
        );
    }
    b.push_str("\t\tcounter drop\n\t}\n\tchain forward {\n\t\ttype filter hook forward priority filter; policy accept;\n");
    if !vpn_nets.is_empty() {
        // Fail closed: a VPN subnet whose tunnel is down has no route into
        // the TUN device, and its traffic would follow the default route
        // out of the WAN in clear (the illumos ipf.conf blocks the same).
        let _ = writeln!(
            b,
            "\t\toifname \"{wan}\" ip daddr @vpn_nets counter drop comment \"VPN subnets never leave in clear\""
        );
    }
    let _ = writeln!(b, "\t\tiifname != \"{wan}\" accept");
    b.push_str("\t\tct state established,related accept\n\t\tct state invalid drop\n");
    for r in &site.redirects {
        for p in r.proto.each() {
            let _ = writeln!(
                b,
                "\t\tct status dnat ip daddr {} {p} dport {} accept",
                r.to_addr, r.to_port
            );
        }
    }
    // No rule lets the VPN subnets in from the WAN: here the daemon
    // decrypts in userland and hands the packets to the kernel on its TUN
    // device, which `iifname != wan accept` above already admits. A packet
    // from a pool or branch address arriving on the WAN itself is in clear,
    // i.e. spoofed or unprotected, and meets the final drop (the illumos
    // ipf.conf blocks the same on its WAN link).
    b.push_str("\t\tcounter drop\n\t}\n");
    let tag = format!("ikegw-site {} fnv64={:016x}", site.name, fnv64(&b));
    format!(
        "# nftables for the router namespace of lab site \"{}\", generated by ikegw provision.\n\
         # WAN {wan}: inbound denied except IKE/ESP, ping and the redirects; LAN masqueraded.\n\
         # The first two lines make the load an atomic replace of the table.\n\
         table ip {TABLE}\ndelete table ip {TABLE}\ntable ip {TABLE} {{\n\tcomment \"{tag}\"\n{b}}}\n",
        site.name
    )
}

fn tag_of(ruleset: &str) -> String {
    ruleset
        .lines()
        .find_map(|l| l.trim().strip_prefix("comment \""))
        .map(|s| s.trim_end_matches('"').to_owned())
        .unwrap_or_default()
}

fn ip_n(ns: &str, args: &[&str]) -> Cmd {
    let mut v = vec!["ip", "-n", ns];
    v.extend_from_slice(args);
    Cmd::new(&v)
}

fn exec(ns: &str, args: &[&str]) -> Cmd {
    let mut v = vec!["ip", "netns", "exec", ns];
    v.extend_from_slice(args);
    Cmd::new(&v)
}

/// The apply and teardown plans; `daemon` when the config has connections.
pub(crate) fn plans(site: &Site, daemon: Option<&Daemon>) -> Plans<Check> {
    Plans {
        apply: apply_plan(site, daemon),
        teardown: teardown_plan(site, daemon),
    }
}

fn pidfile(site: &Site) -> String {
    format!("{}/ikegw.pid", state_dir(site))
}

fn running(site: &Site, d: &Daemon) -> Check {
    Check::Running {
        pidfile: pidfile(site),
        config: d.config.clone(),
    }
}

fn apply_plan(site: &Site, daemon: Option<&Daemon>) -> Plan<Check> {
    use Check as C;
    let mut p = Plan::new();
    p.notes.push("lab emulation: every namespace is created here and marked as ikegw's; the host's interfaces are never touched".to_owned());
    p.notes
        .push("not emulated: loopback mounts and CPU/memory caps".to_owned());
    match daemon {
        Some(_) => p.notes.push(format!(
            "ikegw runs in {} with /run private and bound to {}: its log, PID file and control socket (ikegw.sock) are there",
            ns(site, &site.router.name),
            state_dir(site)
        )),
        None => p.notes.push(format!(
            "ikegw is not started: the configuration has no [connections]; namespace {} is ready for it",
            ns(site, &site.router.name)
        )),
    }
    let mark = marker(site);
    for n in namespaces(site) {
        p.requires.push((C::AbsentOrOurs(n.clone()), format!("network namespace {n} exists but was not created by ikegw provision (no '{mark}' marker on its lo); refusing to touch it")));
    }
    for n in namespaces(site) {
        p.step(
            format!("namespace {n}"),
            Cmd::new(&["ip", "netns", "add", &n]),
            Some(C::Netns(n.clone())),
        );
        p.step(
            format!("namespace {n} marked"),
            ip_n(&n, &["link", "set", "lo", "alias", &mark]),
            Some(C::Ours(n.clone())),
        );
        p.step(
            format!("namespace {n}: lo up"),
            ip_n(&n, &["link", "set", "lo", "up"]),
            Some(C::Up(n.clone(), "lo".into())),
        );
    }
    let stub_ns = ns(site, "stub");
    let stub = &site.lan.etherstub;
    p.step(
        format!("{stub_ns}: bridge {stub}"),
        ip_n(&stub_ns, &["link", "add", stub, "type", "bridge"]),
        Some(C::Link(stub_ns.clone(), stub.clone())),
    );
    p.step(
        format!("{stub_ns}: {stub} up"),
        ip_n(&stub_ns, &["link", "set", stub, "up"]),
        Some(C::Up(stub_ns.clone(), stub.clone())),
    );

    // WAN: the upstream end is named after the NIC the vNIC would sit on.
    let wan_ns = ns(site, "wan");
    let router_ns = ns(site, &site.router.name);
    let up_link = site
        .wan
        .over
        .clone()
        .unwrap_or_else(|| "uplink0".to_owned());
    let wan_vnic = &site.wan.vnic;
    p.step(
        format!("{router_ns}: {wan_vnic} (veth to {wan_ns}:{up_link})"),
        ip_n(
            &wan_ns,
            &[
                "link", "add", &up_link, "type", "veth", "peer", "name", wan_vnic, "netns",
                &router_ns,
            ],
        ),
        Some(C::Link(router_ns.clone(), wan_vnic.clone())),
    );
    let gw_cidr = format!("{}/{}", site.wan.gateway, site.wan.address.len);
    p.step(
        format!("{wan_ns}: {up_link} {gw_cidr}"),
        ip_n(&wan_ns, &["addr", "add", &gw_cidr, "dev", &up_link]),
        Some(C::Addr(wan_ns.clone(), up_link.clone(), gw_cidr.clone())),
    );
    p.step(
        format!("{wan_ns}: {up_link} up"),
        ip_n(&wan_ns, &["link", "set", &up_link, "up"]),
        Some(C::Up(wan_ns.clone(), up_link.clone())),
    );

    // LAN vNICs: one veth per zone, its other end on the bridge.
    let mut lan: Vec<(String, String, String, Option<String>)> = Vec::new();
    for z in site.lan_zones() {
        let gw = (z.name != site.router.name).then(|| site.router.address.to_string());
        lan.push((
            ns(site, &z.name),
            z.vnic.clone(),
            site.lan_cidr(z.address).to_string(),
            gw,
        ));
    }
    if let Some(g) = &site.global {
        // The global zone gets no default route: it only serves the LAN.
        lan.push((
            ns(site, "global"),
            g.vnic.clone(),
            site.lan_cidr(g.address).to_string(),
            None,
        ));
    }
    for (zns, vnic, cidr, gw) in &lan {
        p.step(
            format!("{zns}: {vnic} (veth to {stub_ns}:{vnic})"),
            ip_n(
                &stub_ns,
                &[
                    "link", "add", vnic, "type", "veth", "peer", "name", vnic, "netns", zns,
                ],
            ),
            Some(C::Link(zns.clone(), vnic.clone())),
        );
        p.step(
            format!("{stub_ns}: {vnic} on {stub}"),
            ip_n(&stub_ns, &["link", "set", vnic, "master", stub]),
            Some(C::Master(stub_ns.clone(), vnic.clone(), stub.clone())),
        );
        p.step(
            format!("{stub_ns}: {vnic} up"),
            ip_n(&stub_ns, &["link", "set", vnic, "up"]),
            Some(C::Up(stub_ns.clone(), vnic.clone())),
        );
        p.step(
            format!("{zns}: {vnic} {cidr}"),
            ip_n(zns, &["addr", "add", cidr, "dev", vnic]),
            Some(C::Addr(zns.clone(), vnic.clone(), cidr.clone())),
        );
        p.step(
            format!("{zns}: {vnic} up"),
            ip_n(zns, &["link", "set", vnic, "up"]),
            Some(C::Up(zns.clone(), vnic.clone())),
        );
        if let Some(gw) = gw {
            p.step(
                format!("{zns}: default via {gw}"),
                ip_n(zns, &["route", "add", "default", "via", gw]),
                Some(C::Default(zns.clone(), gw.clone())),
            );
        }
    }

    // The router: WAN address and default route, forwarding, nftables.
    let wan_cidr = site.wan.address.to_string();
    p.step(
        format!("{router_ns}: {wan_vnic} {wan_cidr}"),
        ip_n(&router_ns, &["addr", "add", &wan_cidr, "dev", wan_vnic]),
        Some(C::Addr(
            router_ns.clone(),
            wan_vnic.clone(),
            wan_cidr.clone(),
        )),
    );
    p.step(
        format!("{router_ns}: {wan_vnic} up"),
        ip_n(&router_ns, &["link", "set", wan_vnic, "up"]),
        Some(C::Up(router_ns.clone(), wan_vnic.clone())),
    );
    let gw = site.wan.gateway.to_string();
    p.step(
        format!("{router_ns}: default via {gw}"),
        ip_n(&router_ns, &["route", "add", "default", "via", &gw]),
        Some(C::Default(router_ns.clone(), gw.clone())),
    );
    p.step(
        format!("{router_ns}: net.ipv4.ip_forward=1"),
        exec(&router_ns, &["sysctl", "-q", "-w", "net.ipv4.ip_forward=1"]),
        Some(C::Sysctl(
            router_ns.clone(),
            "net.ipv4.ip_forward".into(),
            "1".into(),
        )),
    );
    let rules = ruleset(site);
    let f = p.file(
        "router.nft",
        format!("{router_ns}: nft -f -"),
        rules.clone(),
    );
    p.step(
        format!(
            "{router_ns}: nftables table ip {TABLE} ({})",
            tag_of(&rules)
        ),
        exec(&router_ns, &["nft", "-f", "-"]).with_stdin(&f),
        Some(C::Nft(router_ns.clone(), tag_of(&rules))),
    );
    if let Some(d) = daemon {
        let state = state_dir(site);
        p.step(
            format!(
                "{router_ns}: ikegw run --tun {TUN} (PID in {})",
                pidfile(site)
            ),
            exec(
                &router_ns,
                &[
                    "unshare",
                    "-m",
                    "--propagation",
                    "private",
                    "sh",
                    "-c",
                    START_SCRIPT,
                    "ikegw-lab",
                    &state,
                    &d.bin,
                    "run",
                    "-c",
                    &d.config,
                    "--tun",
                    TUN,
                ],
            ),
            Some(running(site, d)),
        );
    }
    p
}

fn teardown_plan(site: &Site, daemon: Option<&Daemon>) -> Plan<Check> {
    use Check as C;
    let mut p = Plan::new();
    let mark = marker(site);
    for n in namespaces(site) {
        p.requires.push((C::AbsentOrOurs(n.clone()), format!("network namespace {n} was not created by ikegw provision (no '{mark}' marker); refusing to delete it")));
    }
    // The daemon first, by its PID: it deletes its SAs and its TUN while
    // its namespace still exists. PIDs are global, so killing from inside
    // the router namespace reaches it.
    if let Some(d) = daemon {
        let router_ns = ns(site, &site.router.name);
        let pf = pidfile(site);
        p.step(
            format!("{router_ns}: ikegw stopped (PID in {pf})"),
            exec(&router_ns, &["sh", "-c", STOP_SCRIPT, "ikegw-lab", &pf]),
            Some(C::Not(Box::new(running(site, d)))),
        );
    }
    // Deleting a namespace destroys the veth ends and the bridge in it.
    for n in namespaces(site).iter().rev() {
        p.step(
            format!("no namespace {n}"),
            Cmd::new(&["ip", "netns", "delete", n]),
            Some(C::Not(Box::new(C::Netns(n.clone())))),
        );
    }
    p
}

/// `ip -j link show` entries (the fields used).
#[derive(Deserialize, Clone, Default)]
struct JLink {
    ifname: String,
    #[serde(default)]
    flags: Vec<String>,
    #[serde(default)]
    master: Option<String>,
    #[serde(default)]
    ifalias: Option<String>,
}

#[derive(Deserialize)]
struct JAddrIf {
    ifname: String,
    #[serde(default)]
    addr_info: Vec<JAddr>,
}

#[derive(Deserialize)]
struct JAddr {
    family: String,
    local: String,
    prefixlen: u8,
}

#[derive(Deserialize)]
struct JRoute {
    dst: String,
    #[serde(default)]
    gateway: Option<String>,
}

#[derive(Default, Clone)]
struct NsState {
    links: BTreeMap<String, JLink>,
    addrs: BTreeSet<(String, String)>,
    defaults: BTreeSet<String>,
}

/// Reads namespace state on demand and caches it until a command runs.
pub(crate) struct Observer {
    mark: String,
    /// `<prefix>-`, and the namespaces the site wants (for `extras`).
    prefix: String,
    want: BTreeSet<String>,
    netns: Option<BTreeSet<String>>,
    state: BTreeMap<String, NsState>,
}

impl Observer {
    /// An observer for `site`'s marker.
    pub(crate) fn new(site: &Site) -> Self {
        Self {
            mark: marker(site),
            prefix: format!("{}-", site.lab.prefix),
            want: namespaces(site).into_iter().collect(),
            netns: None,
            state: BTreeMap::new(),
        }
    }

    fn netns(&mut self, runner: &mut dyn Runner) -> Result<&BTreeSet<String>, ProvisionError> {
        if self.netns.is_none() {
            let out = probe(runner, &Cmd::new(&["ip", "netns", "list"]))?;
            // Lines are `name` or `name (id: 3)`.
            self.netns = Some(
                out.lines()
                    .filter_map(|l| l.split_whitespace().next())
                    .map(str::to_owned)
                    .collect(),
            );
        }
        Ok(self.netns.get_or_insert_with(BTreeSet::new))
    }

    fn ns(&mut self, n: &str, runner: &mut dyn Runner) -> Result<Option<NsState>, ProvisionError> {
        if !self.netns(runner)?.contains(n) {
            return Ok(None);
        }
        if let Some(s) = self.state.get(n) {
            return Ok(Some(s.clone()));
        }
        let links: Vec<JLink> = json(runner, &ip_n(n, &["-j", "link", "show"]))?;
        let addrs: Vec<JAddrIf> = json(runner, &ip_n(n, &["-j", "addr", "show"]))?;
        let routes: Vec<JRoute> = json(runner, &ip_n(n, &["-j", "route", "show", "default"]))?;
        let s = NsState {
            links: links.into_iter().map(|l| (l.ifname.clone(), l)).collect(),
            addrs: addrs
                .iter()
                .flat_map(|i| {
                    i.addr_info
                        .iter()
                        .filter(|a| a.family == "inet")
                        .map(|a| (i.ifname.clone(), format!("{}/{}", a.local, a.prefixlen)))
                })
                .collect(),
            defaults: routes
                .into_iter()
                .filter(|r| r.dst == "default")
                .filter_map(|r| r.gateway)
                .collect(),
        };
        self.state.insert(n.to_owned(), s.clone());
        Ok(Some(s))
    }
}

fn probe(runner: &mut dyn Runner, cmd: &Cmd) -> Result<String, ProvisionError> {
    let out = runner.run(cmd)?;
    if !out.ok() {
        return Err(ProvisionError::Probe {
            cmd: cmd.display(),
            why: out.stderr.trim().to_owned(),
        });
    }
    Ok(out.stdout)
}

fn json<T: serde::de::DeserializeOwned>(
    runner: &mut dyn Runner,
    cmd: &Cmd,
) -> Result<Vec<T>, ProvisionError> {
    let out = probe(runner, cmd)?;
    if out.trim().is_empty() {
        return Ok(Vec::new());
    }
    serde_json::from_str(&out).map_err(|e| ProvisionError::Probe {
        cmd: cmd.display(),
        why: e.to_string(),
    })
}

/// Does `pidfile` name a live `ikegw run` process for `config`? A stale
/// file (no such process, or a PID reused by something else) counts as not
/// running, so apply starts a new daemon and teardown leaves that PID alone.
fn daemon_running(
    runner: &mut dyn Runner,
    pidfile: &str,
    config: &str,
) -> Result<bool, ProvisionError> {
    let out = runner.run(&Cmd::new(&["cat", pidfile]))?;
    if !out.ok() {
        return Ok(false);
    }
    let Ok(pid) = out.stdout.trim().parse::<u32>() else {
        return Ok(false);
    };
    let cmdline = format!("/proc/{pid}/cmdline");
    let out = runner.run(&Cmd::new(&["cat", &cmdline]))?;
    if !out.ok() {
        return Ok(false);
    }
    let args: Vec<&str> = out.stdout.split('\0').collect();
    Ok(args.windows(2).any(|w| w == ["-c", config]) && args.contains(&"run"))
}

impl Observe<Check> for Observer {
    fn presence(
        &mut self,
        check: &Check,
        runner: &mut dyn Runner,
    ) -> Result<Presence, ProvisionError> {
        let mark = self.mark.clone();
        let link = |o: &mut Self,
                    n: &str,
                    l: &str,
                    runner: &mut dyn Runner|
         -> Result<Option<JLink>, ProvisionError> {
            Ok(o.ns(n, runner)?.and_then(|s| s.links.get(l).cloned()))
        };
        Ok(Presence::from(match check {
            Check::Netns(n) => self.netns(runner)?.contains(n),
            Check::Ours(n) => link(self, n, "lo", runner)?
                .and_then(|l| l.ifalias)
                .is_some_and(|a| a == mark),
            Check::AbsentOrOurs(n) => match self.ns(n, runner)? {
                None => true,
                Some(s) => {
                    s.links.get("lo").and_then(|l| l.ifalias.as_deref()) == Some(mark.as_str())
                }
            },
            Check::Link(n, l) => link(self, n, l, runner)?.is_some(),
            Check::Up(n, l) => {
                link(self, n, l, runner)?.is_some_and(|l| l.flags.iter().any(|f| f == "UP"))
            }
            Check::Master(n, l, m) => link(self, n, l, runner)?
                .and_then(|l| l.master)
                .is_some_and(|x| x == *m),
            Check::Addr(n, l, a) => self
                .ns(n, runner)?
                .is_some_and(|s| s.addrs.contains(&(l.clone(), a.clone()))),
            Check::Default(n, gw) => self.ns(n, runner)?.is_some_and(|s| s.defaults.contains(gw)),
            Check::Sysctl(n, key, value) => {
                if !self.netns(runner)?.contains(n) {
                    false
                } else {
                    probe(runner, &exec(n, &["sysctl", "-n", key]))?.trim() == value
                }
            }
            Check::Nft(n, tag) => {
                if !self.netns(runner)?.contains(n) {
                    false
                } else {
                    let out = runner.run(&exec(n, &["nft", "list", "table", "ip", TABLE]))?;
                    out.ok() && out.stdout.contains(&format!("comment \"{tag}\""))
                }
            }
            Check::Running { pidfile, config } => daemon_running(runner, pidfile, config)?,
            Check::Not(inner) => self.presence(inner, runner)? != Presence::Yes,
        }))
    }

    fn invalidate(&mut self) {
        self.netns = None;
        self.state.clear();
    }

    fn extras(&mut self, runner: &mut dyn Runner) -> Result<Vec<String>, ProvisionError> {
        // Namespaces with the lab's prefix and marker that the site no longer names.
        let (prefix, want) = (self.prefix.clone(), self.want.clone());
        let candidates: Vec<String> = self
            .netns(runner)?
            .iter()
            .filter(|n| n.starts_with(&prefix) && !want.contains(*n))
            .cloned()
            .collect();
        let mut out = Vec::new();
        for n in candidates {
            if self.presence(&Check::Ours(n.clone()), runner)? == Presence::Yes {
                out.push(format!(
                    "namespace {n} is marked as this lab's but not in [site]"
                ));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests;
