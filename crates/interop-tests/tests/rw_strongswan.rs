//! Issue #8 scenario 8 (and #10): strongSwan 5.9 as a road-warrior client
//! (`vips = 0.0.0.0`, its `local_ts` left dynamic) against ikegw with an
//! address pool, PSK:
//!
//! ```text
//! strongSwan 198.51.100.1 (VIP from ikegw's pool on ipsec0)
//!        ══ WAN ══ 198.51.100.2 ikegw — lan 10.2.0.10
//! ```
//!
//! Checked: strongSwan installs a virtual IP from ikegw's pool `rw`
//! (`10.3.0.0/24`) and processes the INTERNAL_IP4_DNS ikegw sent; ikegw's
//! CHILD SA is narrowed to that address, routed into its TUN and its lease
//! shows online in `ikegw list-pools`; pings from the VIP reach the LAN
//! host behind ikegw through ESP (both ends count them).
//!
//! Issue #10 adds: an IPv6 VIP from an IPv6 pool with INTERNAL_IP6_DNS and
//! ping6 through ESP; dual stack (both VIPs and both DNS attributes in one
//! exchange; one CHILD SA per family, the IPv6 one created by ikegw, with
//! ping and ping6 through ESP); and leases per identity: a
//! second client gets another address, a reconnect gets the same one, and
//! both survive an ikegw restart. The lab version of the road warrior, in
//! the site `ikegw provision` builds, is `tests/lab_rw.rs`.
//!
//! Needs root, strongSwan with kernel-libipsec, tcpdump, python3,
//! /dev/net/tun and the `ikegw` binary: otherwise `SKIPPED:` (or a
//! failure when `CI` is set).

// Test helpers outside #[test] fns are test code too (clippy.toml allows these in tests).
#![allow(clippy::indexing_slicing)]

use std::time::Duration;

use interop_tests::ikegw::{
    run_scenario, IkegwConf, Initiator, Mixed, MixedSetup, Side, IKEGW_ID, STRONGSWAN_ID, TUN,
};
use interop_tests::netns::{ip_in, Netns, Site, LEFT, RIGHT};
use interop_tests::proc;
use interop_tests::rw::{
    check_from_pool, leases, road_warrior_client, routed_into_tun, wait_vip, Lease, VipWait,
};
use interop_tests::strongswan::{strongswan_conf, swanctl_conf, Auth, Charon, CharonOptions, Conn};
use interop_tests::{check, Error, Result};

const POOL_PREFIX: &str = "10.3.0.";
/// strongSwan's pool when ikegw is the client.
const SS_POOL_PREFIX: &str = "10.4.0.";
const DNS: &str = "10.2.0.53";
const PINGS: u64 = 4;

fn scenario_8(m: &mut Mixed) -> Result<()> {
    m.initiate()?;
    // Up at both ends, and ikegw routes the leased address into its TUN.
    let vip = wait_vip(
        m,
        &VipWait {
            strongswan_installed: true,
            ..VipWait::new("road warrior up at both ends, its VIP routed into ikegw's TUN")
        },
    )?;
    check_from_pool("VIP from the pool", &vip, POOL_PREFIX)?;
    let (gw_child, _) = m.one_child()?;
    check(
        "ikegw's CHILD SA selectors",
        gw_child.local_ts == [RIGHT.lan_net] && gw_child.remote_ts == [format!("{vip}/32")],
        format!("{gw_child:?}"),
    )?;

    // strongSwan's own view: the VIP in list-sas and on ipsec0, the DNS
    // attribute processed (the resolve plugin is not loaded in the lab, so
    // charon only logs it).
    listed_by_strongswan(m, &vip)?;
    addrs_on(
        m,
        m.strongswan_ns(),
        "ipsec0",
        "VIP installed on strongSwan's ipsec0",
        &[format!("{vip}/32")],
    )?;
    // ikegw only sends the attribute with a value (its pool's `dns`), and
    // charon names every attribute it processes.
    m.charon.check_logged(&[
        (
            "strongSwan installed the VIP",
            &format!("installing new virtual IP {vip}"),
        ),
        ("strongSwan received INTERNAL_IP4_DNS", "INTERNAL_IP4_DNS"),
    ])?;
    // The lease, as the operator sees it.
    let l = leases(&m.ikegw)?;
    let want = Lease {
        pool: "rw".into(),
        identity: STRONGSWAN_ID.into(),
        addr: vip.clone(),
        online: true,
    };
    check(
        "ikegw list-pools",
        l.first() == Some(&want),
        format!("{l:?}"),
    )?;

    // Pings from the VIP to the LAN host behind ikegw, through ESP.
    ping_through_esp(m, &vip, &RIGHT.lan_host.to_string())
}

/// Checks that the device `dev` in `ns` carries each of `vips`
/// (`ADDR/PREFIX`).
fn addrs_on(m: &Mixed, ns: &Netns, dev: &str, what: &str, vips: &[String]) -> Result<()> {
    let addrs = ns.ip(&["-o", "addr", "show", "dev", dev], m.dir.path())?;
    check(
        what,
        vips.iter().all(|v| addrs.stdout.contains(v.as_str())),
        &addrs.stdout,
    )
}

/// Checks that strongSwan's `list-sas` names `vip`.
fn listed_by_strongswan(m: &Mixed, vip: &str) -> Result<()> {
    let raw = m.charon.list_sas_raw()?;
    check("strongSwan list-sas shows the VIP", raw.contains(vip), &raw)
}

/// Pings `to` (behind ikegw) from `vip` on strongSwan's gateway, waits for
/// ikegw's ESP counters, and checks, ending the capture, that no ICMP
/// crossed the WAN in clear.
fn ping_through_esp(m: &mut Mixed, vip: &str, to: &str) -> Result<()> {
    let scratch = m.dir.path().to_path_buf();
    m.strongswan_ns().ping(to, PINGS, Some(vip), &scratch)?;
    m.wait_esp_counters(PINGS)?;
    let (_, packets) = m.finish_capture()?;
    let what = if to.contains(':') {
        "no plaintext ICMPv6 on the WAN"
    } else {
        "no plaintext ICMP on the WAN"
    };
    check(
        what,
        packets.icmp == 0,
        format!("{} ICMP packets", packets.icmp),
    )
}

#[test]
fn strongswan_road_warrior_gets_a_vip_and_dns_from_ikegw() -> Result<()> {
    run_scenario(
        "strongswan_road_warrior_gets_a_vip_and_dns_from_ikegw",
        &MixedSetup {
            edit_ikegw: |c| {
                c.remote_ts = vec!["0.0.0.0/0".into()];
                serve_pools(c, true, false);
                // still in [pools.rw]
                c.extra
                    .push_str(&format!("split_include = [\"{}\"]\n", RIGHT.lan_net));
            },
            // A road warrior proposes its virtual IP, whatever it is.
            edit_strongswan: |c| road_warrior_client(c, "0.0.0.0"),
            ..MixedSetup::initiated_by(Initiator::StrongSwan)
        },
        scenario_8,
    )
}

/// The other role: ikegw (`vips = ["0.0.0.0"]`) as the road warrior,
/// strongSwan handing out addresses from its pool. ikegw must put the VIP
/// on its TUN device and send the LAN traffic from it.
fn ikegw_client(m: &mut Mixed) -> Result<()> {
    let scratch = m.dir.path().to_path_buf();
    // swanctl resolves a connection's pool by name when it assigns one,
    // so the pool can be loaded after the connection.
    let pools = scratch.join("strongswan").join("pools.conf");
    std::fs::write(
        &pools,
        format!("pools {{\n    rw {{\n        addrs = {SS_POOL_PREFIX}0/24\n        dns = 10.2.0.53\n    }}\n}}\n"),
    )
    .map_err(|e| Error::Check(format!("{}: {e}", pools.display())))?;
    m.charon
        .swanctl(&["--load-pools", "--file", &pools.to_string_lossy()])?;
    m.establish()?;
    let (gw_child, _) = m.one_child()?;
    let vip = gw_child
        .local_ts
        .first()
        .and_then(|t| t.strip_suffix("/32"))
        .filter(|v| v.starts_with(SS_POOL_PREFIX))
        .ok_or_else(|| {
            Error::Check(format!(
                "ikegw's CHILD SA is not narrowed to a VIP from strongSwan's pool: {gw_child:?}"
            ))
        })?
        .to_owned();
    check(
        "ikegw logs the VIP",
        m.ikegw
            .log_text()
            .contains(&format!("virtual IPs assigned to us: {vip}")),
        "no 'virtual IPs assigned to us' in ikegw's log",
    )?;
    addrs_on(
        m,
        m.ikegw_ns(),
        TUN,
        "VIP on ikegw's TUN",
        &[format!("{vip}/32")],
    )?;
    listed_by_strongswan(m, &vip)?;
    // From ikegw's gateway itself, without -I: the route into the TUN must
    // make the kernel pick the VIP as source, or strongSwan's selectors
    // (VIP/32) would not match.
    m.ikegw_ns()
        .ping(&RIGHT.lan_host.to_string(), PINGS, None, &scratch)?;
    m.wait_esp_counters(PINGS)
}

#[test]
fn ikegw_road_warrior_gets_a_vip_from_strongswan() -> Result<()> {
    run_scenario(
        "ikegw_road_warrior_gets_a_vip_from_strongswan",
        &MixedSetup {
            ikegw_side: Side::Left,
            initiator: Initiator::Ikegw,
            edit_ikegw: |c| {
                c.extra_conn = "vips = [\"0.0.0.0\"]\n".into();
            },
            edit_strongswan: |c| {
                c.remote = Site {
                    lan_net: "dynamic",
                    ..c.remote
                };
                c.extra_conn.push_str("pools = rw\n");
            },
            ..MixedSetup::default()
        },
        ikegw_client,
    )
}

// ------------------------------------------------------------------------
// Issue #10: dual-stack virtual IPs, and leases across clients, reconnects
// and a daemon restart.

/// ikegw's IPv6 pool, the IPv6 LAN behind it, and the DNS server it names.
const POOL6_PREFIX: &str = "fd00:3::";
const LAN6: &str = "fd00:2::/64";
const LAN6_GW: &str = "fd00:2::1";
const LAN6_HOST: &str = "fd00:2::10";
const DNS6: &str = "fd00:2::53";

/// ikegw leases addresses to road warriors from its pool `rw` (IPv4)
/// and/or `rw6` (IPv6), each naming a DNS server.
fn serve_pools(c: &mut IkegwConf, rw: bool, rw6: bool) {
    let mut names = Vec::new();
    if rw {
        names.push("\"rw\"");
        c.extra.push_str(&format!(
            "\n[pools.rw]\naddrs = \"{POOL_PREFIX}0/24\"\ndns = [\"{DNS}\"]\n"
        ));
    }
    if rw6 {
        names.push("\"rw6\"");
        c.extra.push_str(&format!(
            "\n[pools.rw6]\naddrs = \"{POOL6_PREFIX}1-{POOL6_PREFIX}ff\"\ndns = [\"{DNS6}\"]\n"
        ));
    }
    c.extra_conn = format!("pools = [{}]\n", names.join(", "));
}

/// strongSwan as a road warrior asking for `vips`, reaching `lans` behind
/// ikegw.
fn road_warrior_to(c: &mut Conn, vips: &str, lans: &'static str) {
    road_warrior_client(c, vips);
    c.remote = Site {
        lan_net: lans,
        ..c.remote
    };
}

/// The topology disables IPv6 everywhere (see `Topology::create`); turn it
/// back on only where the tunnel's inner traffic runs (strongSwan's ipsec0,
/// ikegw's TUN and LAN, the LAN host), never on the WAN links, whose
/// capture must stay free of plaintext (IPv6 would add link-local NDP and
/// MLD there). Then give the LAN an IPv6 prefix, routed by ikegw's
/// namespace.
fn enable_lan6(m: &Mixed) -> Result<()> {
    let scratch = m.dir.path().to_path_buf();
    for (ns, ifaces) in [
        (m.strongswan_ns(), &["lo", "ipsec0"][..]),
        (m.ikegw_ns(), &["lo", "lan0", TUN][..]),
        (&m.topo.right_lan, &["lo", "eth0"][..]),
    ] {
        for i in ifaces {
            ns.sysctl(&format!("net.ipv6.conf.{i}.disable_ipv6=0"), &scratch)?;
        }
    }
    let gw = m.ikegw_ns().name().to_owned();
    let host = m.topo.right_lan.name().to_owned();
    m.ikegw_ns()
        .sysctl("net.ipv6.conf.all.forwarding=1", &scratch)?;
    ip_in(
        &gw,
        &[
            "addr",
            "add",
            &format!("{LAN6_GW}/64"),
            "dev",
            "lan0",
            "nodad",
        ],
        &scratch,
    )?;
    ip_in(
        &host,
        &[
            "addr",
            "add",
            &format!("{LAN6_HOST}/64"),
            "dev",
            "eth0",
            "nodad",
        ],
        &scratch,
    )?;
    ip_in(
        &host,
        &["-6", "route", "add", "default", "via", LAN6_GW],
        &scratch,
    )?;
    Ok(())
}

/// Dual stack: `vips = 0.0.0.0, ::` against pools `rw` and `rw6` gets both
/// addresses and both DNS attributes in one IKE_AUTH. A PF_KEY tunnel-mode
/// SA carries one inner family, so ikegw narrows strongSwan's dual-stack
/// CHILD SA to IPv4 (RFC 7296 §2.9) and asks for the IPv6 one itself by
/// CREATE_CHILD_SA: two CHILD SAs, one per VIP, and traffic from both VIPs
/// through ESP.
fn dual_stack(m: &mut Mixed) -> Result<()> {
    enable_lan6(m)?;
    m.initiate()?;
    let gw_ns = m.ikegw_ns().name().to_owned();
    let scratch = m.dir.path().to_path_buf();
    // Both VIPs leased, each the remote selector of its own CHILD SA, and
    // both routed into ikegw's TUN.
    let (vip4, vip6) = proc::wait_for(
        "road warrior up with an IPv4 and an IPv6 CHILD SA, both VIPs routed into ikegw's TUN",
        Duration::from_secs(20),
        || {
            m.ikegw.check_alive()?;
            m.charon.check_alive()?;
            let sas = m.ikegw.list_sas()?;
            let established = || {
                sas.iter()
                    .filter(|sa| sa.state == "ESTABLISHED")
                    .flat_map(|sa| sa.children.iter())
            };
            let only = |suffix: &str| {
                established().find_map(|c| match c.remote_ts.as_slice() {
                    [one] => one.strip_suffix(suffix),
                    _ => None,
                })
            };
            let (Some(v4), Some(v6)) = (only("/32"), only("/128")) else {
                return Ok(None);
            };
            let routed =
                routed_into_tun(&gw_ns, v4, &scratch)? && routed_into_tun(&gw_ns, v6, &scratch)?;
            Ok(routed.then(|| (v4.to_owned(), v6.to_owned())))
        },
    )?;
    check_from_pool("IPv4 VIP from the pool", &vip4, POOL_PREFIX)?;
    check_from_pool("IPv6 VIP from the pool", &vip6, POOL6_PREFIX)?;
    let children = proc::wait_for(
        "both CHILD SAs matched with strongSwan's",
        Duration::from_secs(5),
        || Ok(m.matched_sas().ok().filter(|u| u.children.len() == 2)),
    )?
    .children;
    let by_vip = |vip: &str| {
        children
            .iter()
            .map(|(g, _)| g)
            .find(|g| g.remote_ts.iter().any(|t| t.split('/').next() == Some(vip)))
            .cloned()
    };
    let (Some(child4), Some(child6)) = (by_vip(&vip4), by_vip(&vip6)) else {
        return Err(Error::Check(format!("no CHILD SA per VIP: {children:?}")));
    };
    check(
        "ikegw's CHILD SAs: the IPv4 LAN to the IPv4 VIP, the IPv6 LAN to the IPv6 VIP",
        child4.local_ts == [RIGHT.lan_net]
            && child4.remote_ts == [format!("{vip4}/32")]
            && child6.local_ts == [LAN6]
            && child6.remote_ts == [format!("{vip6}/128")],
        format!("{children:?}"),
    )?;
    m.charon.check_logged(&[(
        "strongSwan accepted ikegw's CREATE_CHILD_SA for IPv6",
        &format!("TS {vip6}/128 === {LAN6}"),
    )])?;
    // strongSwan's view: both VIPs installed on ipsec0, both DNS attributes.
    addrs_on(
        m,
        m.strongswan_ns(),
        "ipsec0",
        "both VIPs on strongSwan's ipsec0",
        &[format!("{vip4}/32"), format!("{vip6}/128")],
    )?;
    m.charon.check_logged(&[
        (
            "strongSwan installed the IPv6 VIP",
            &format!("installing new virtual IP {vip6}"),
        ),
        ("strongSwan received INTERNAL_IP6_DNS", "INTERNAL_IP6_DNS"),
        ("strongSwan received INTERNAL_IP4_DNS", "INTERNAL_IP4_DNS"),
    ])?;
    // Both leases in the operator's view, one per pool.
    let l = leases(&m.ikegw)?;
    check(
        "list-pools shows both leases online",
        [("rw", &vip4), ("rw6", &vip6)].iter().all(|(pool, vip)| {
            l.iter().any(|x| {
                x.pool == *pool && x.identity == STRONGSWAN_ID && x.addr == **vip && x.online
            })
        }),
        format!("{l:?}"),
    )?;
    // Traffic from both VIPs through ESP, each counted on its CHILD SA.
    m.strongswan_ns()
        .ping(&RIGHT.lan_host.to_string(), PINGS, Some(&vip4), &scratch)?;
    m.strongswan_ns()
        .ping(LAN6_HOST, PINGS, Some(&vip6), &scratch)?;
    proc::wait_for(
        "ikegw's ESP counters on both CHILD SAs after ping and ping6",
        Duration::from_secs(3),
        || {
            let sas = m.ikegw.list_sas()?;
            let counted = |spi: &str| {
                sas.iter()
                    .flat_map(|s| s.children.iter())
                    .any(|c| c.spi_in == spi && c.packets_in >= PINGS && c.packets_out >= PINGS)
            };
            Ok((counted(&child4.spi_in) && counted(&child6.spi_in)).then_some(()))
        },
    )?;
    let (_, packets) = m.finish_capture()?;
    check(
        "no plaintext ICMP or ICMPv6 on the WAN",
        packets.icmp == 0,
        format!("{} ICMP packets", packets.icmp),
    )
}

#[test]
fn strongswan_road_warrior_gets_ipv4_and_ipv6_vips_and_dns_from_ikegw() -> Result<()> {
    run_scenario(
        "strongswan_road_warrior_gets_ipv4_and_ipv6_vips_and_dns_from_ikegw",
        &MixedSetup {
            edit_ikegw: |c| {
                c.local_ts = vec![RIGHT.lan_net.into(), LAN6.into()];
                // Both whole address spaces, narrowed to the VIPs: ::/0
                // once overflowed a shift in a debug ikegw (kernel.rs cidr()).
                c.remote_ts = vec!["0.0.0.0/0".into(), "::/0".into()];
                serve_pools(c, true, true);
            },
            edit_strongswan: |c| road_warrior_to(c, "0.0.0.0, ::", "10.2.0.0/24, fd00:2::/64"),
            ..MixedSetup::initiated_by(Initiator::StrongSwan)
        },
        dual_stack,
    )
}

/// IPv6 only: a VIP from ikegw's IPv6 pool, INTERNAL_IP6_DNS, and ping6
/// from it to the LAN host through ESP (inner IPv6 in ESP-in-UDP over IPv4).
fn ipv6_only(m: &mut Mixed) -> Result<()> {
    enable_lan6(m)?;
    m.initiate()?;
    let vip6 = wait_vip(
        m,
        &VipWait {
            suffix: "/128",
            ..VipWait::new("road warrior up with an IPv6 VIP routed into ikegw's TUN")
        },
    )?;
    check_from_pool("IPv6 VIP from the pool", &vip6, POOL6_PREFIX)?;
    let (gw_child, _) = m.one_child()?;
    check(
        "ikegw's CHILD SA selectors",
        gw_child.local_ts == [LAN6] && gw_child.remote_ts == [format!("{vip6}/128")],
        format!("{gw_child:?}"),
    )?;
    addrs_on(
        m,
        m.strongswan_ns(),
        "ipsec0",
        "IPv6 VIP on strongSwan's ipsec0",
        &[format!("{vip6}/128")],
    )?;
    let payload = "strongSwan's log of the configuration payload";
    m.charon.check_logged(&[
        (payload, &format!("installing new virtual IP {vip6}")),
        (payload, "processing INTERNAL_IP6_DNS attribute"),
    ])?;
    let l = leases(&m.ikegw)?;
    check(
        "list-pools shows the IPv6 lease online",
        holds(&l, STRONGSWAN_ID, &vip6, Some(true)),
        format!("{l:?}"),
    )?;
    ping_through_esp(m, &vip6, LAN6_HOST)
}

#[test]
fn strongswan_road_warrior_gets_an_ipv6_vip_and_reaches_the_lan_over_esp() -> Result<()> {
    run_scenario(
        "strongswan_road_warrior_gets_an_ipv6_vip_and_reaches_the_lan_over_esp",
        &MixedSetup {
            edit_ikegw: |c| {
                c.local_ts = vec![LAN6.into()];
                c.remote_ts = vec!["fd00:3::/64".into()];
                serve_pools(c, false, true);
            },
            edit_strongswan: |c| road_warrior_to(c, "::", LAN6),
            ..MixedSetup::initiated_by(Initiator::StrongSwan)
        },
        ipv6_only,
    )
}

/// The second road warrior's identity (ikegw accepts any with the PSK).
const CLIENT2_ID: &str = "client2.interop.example";

/// The VIP ikegw leased to `identity`, once its IKE SA is up and the VIP
/// is routed into the TUN.
fn client_vip(m: &mut Mixed, identity: &str, what: &str) -> Result<String> {
    wait_vip(
        m,
        &VipWait {
            identity: Some(identity),
            ..VipWait::new(what)
        },
    )
}

/// Whether `leases` has `identity`'s lease of `addr`, online or offline as
/// `online` says (either, when `None`).
fn holds(leases: &[Lease], identity: &str, addr: &str, online: Option<bool>) -> bool {
    leases
        .iter()
        .any(|l| l.identity == identity && l.addr == addr && online.is_none_or(|o| l.online == o))
}

/// Checks that both clients' leases are listed, in the `online` state.
fn both_leases(m: &Mixed, what: &str, vips: [&str; 2], online: Option<bool>) -> Result<()> {
    let l = leases(&m.ikegw)?;
    for (id, vip) in [STRONGSWAN_ID, CLIENT2_ID].into_iter().zip(vips) {
        check(what, holds(&l, id, vip, online), format!("{l:?}"))?;
    }
    Ok(())
}

/// Ends the first strongSwan's IKE SA and waits until ikegw has none for `identity`.
fn disconnect(m: &Mixed, identity: &str) -> Result<()> {
    m.charon
        .swanctl(&["--terminate", "--ike", "s2s", "--timeout", "10"])?;
    proc::wait_for(
        &format!("{identity}: IKE SA gone at ikegw"),
        Duration::from_secs(15),
        || {
            let sas = m.ikegw.list_sas()?;
            Ok((!sas.iter().any(|sa| sa.remote_id == identity)).then_some(()))
        },
    )
}

fn initiate(c: &Charon) -> Result<()> {
    c.swanctl_within(
        &["--initiate", "--child", "net", "--timeout", "20"],
        Duration::from_secs(25),
    )
    .map(drop)
}

fn leases_survive(m: &mut Mixed) -> Result<()> {
    let scratch = m.dir.path().to_path_buf();
    // 1. The first road warrior.
    initiate(&m.charon)?;
    let vip1 = client_vip(m, STRONGSWAN_ID, "first client's VIP")?;
    check_from_pool("first VIP from the pool", &vip1, POOL_PREFIX)?;

    // 2. A second road warrior, another identity, on the host behind
    //    strongSwan's gateway (routed, not NATed: ikegw routes back to it).
    let right = m.ikegw_ns().name().to_owned();
    ip_in(
        &right,
        &["route", "add", LEFT.lan_net, "via", &LEFT.wan.to_string()],
        &scratch,
    )?;
    let dir2 = scratch.join("strongswan2");
    std::fs::create_dir_all(&dir2).map_err(|e| Error::Io {
        path: dir2.clone(),
        source: e,
    })?;
    let conn2 = Conn {
        local: Site {
            wan: LEFT.lan_host,
            lan_net: "dynamic",
            ..LEFT
        },
        remote: RIGHT,
        local_id: CLIENT2_ID.into(),
        remote_id: IKEGW_ID.into(),
        proposals: MixedSetup::default().proposals,
        esp_proposals: MixedSetup::default().esp_proposals,
        auth: Auth::Psk,
        fragmentation: false,
        dpd_delay: None,
        extra_conn: "mobike = no\nvips = 0.0.0.0\n".into(),
        extra_child: String::new(),
    };
    let charon2 = Charon::start(
        "charon2",
        m.topo.left_lan.name(),
        &dir2,
        &strongswan_conf(&dir2, &CharonOptions::default()),
        &swanctl_conf(&conn2),
    )?;
    charon2.load_all()?;
    initiate(&charon2)?;
    let vip2 = client_vip(m, CLIENT2_ID, "second client's VIP")?;
    check(
        "the second client gets another address from the pool",
        vip2.starts_with(POOL_PREFIX) && vip2 != vip1,
        format!("first {vip1}, second {vip2}"),
    )?;
    both_leases(
        m,
        "list-pools: one online lease per client",
        [&vip1, &vip2],
        Some(true),
    )?;

    // 3. Reconnect: the first client leaves (its lease stays, offline) and
    //    comes back to the same address.
    disconnect(m, STRONGSWAN_ID)?;
    let l = leases(&m.ikegw)?;
    check(
        "the lease is kept, offline, while the client is away",
        holds(&l, STRONGSWAN_ID, &vip1, Some(false)),
        format!("{l:?}"),
    )?;
    initiate(&m.charon)?;
    let again = client_vip(m, STRONGSWAN_ID, "first client's VIP again")?;
    check(
        "reconnecting gets the same address",
        again == vip1,
        format!("before {vip1}, after {again}"),
    )?;

    // 4. ikegw restarts (SIGTERM, then the same config and state
    //    directory): both leases are still listed, and each client gets
    //    its address back, the second client first so that a fresh
    //    allocation would have given it the first address.
    let config =
        std::fs::read_to_string(m.ikegw.dir().join("ikegw.toml")).map_err(|e| Error::Io {
            path: m.ikegw.dir().join("ikegw.toml"),
            source: e,
        })?;
    m.ikegw.stop()?;
    for c in [&m.charon, &charon2] {
        // ikegw's Deletes normally end them; make sure, whatever happened.
        let _ = c.swanctl(&["--terminate", "--ike", "s2s", "--timeout", "5"]);
    }
    let bin = interop_tests::ikegw::binary().map_err(Error::Check)?;
    let gw_dir = m.ikegw.dir().to_path_buf();
    let restarted =
        interop_tests::ikegw::Ikegw::start("ikegw", m.ikegw_ns(), &gw_dir, &bin, &config)?;
    m.ikegw = restarted;
    both_leases(
        m,
        "list-pools after the restart: the lease survived, offline",
        [&vip1, &vip2],
        Some(false),
    )?;
    initiate(&charon2)?;
    let vip2b = client_vip(m, CLIENT2_ID, "second client's VIP after the restart")?;
    initiate(&m.charon)?;
    let vip1b = client_vip(m, STRONGSWAN_ID, "first client's VIP after the restart")?;
    check(
        "after the restart each client gets its address back",
        vip1b == vip1 && vip2b == vip2,
        format!("first {vip1} -> {vip1b}, second {vip2} -> {vip2b}"),
    )?;
    // And traffic flows again from the first client's VIP.
    m.strongswan_ns()
        .ping(&RIGHT.lan_host.to_string(), 2, Some(&vip1), &scratch)?;

    // 5. A crash: SIGKILL (no Deletes, no shutdown path), then the same
    //    start. The lease file written before is all that is left; both
    //    leases are listed again and the first client gets its address.
    let pid = m.ikegw.pid().to_string();
    proc::run(
        std::process::Command::new(proc::KILL).args(["-KILL", &pid]),
        Duration::from_secs(5),
        &scratch,
    )?;
    // Reaps it; the exit status is the SIGKILL's, not a clean one.
    let _ = m.ikegw.stop();
    for c in [&m.charon, &charon2] {
        // Their IKE SAs died with ikegw: drop them without waiting for an
        // answer that will not come.
        let _ = c.swanctl(&["--terminate", "--ike", "s2s", "--force", "--timeout", "2"]);
    }
    let restarted =
        interop_tests::ikegw::Ikegw::start("ikegw", m.ikegw_ns(), &gw_dir, &bin, &config)?;
    m.ikegw = restarted;
    both_leases(
        m,
        "list-pools after a SIGKILL: the lease survived",
        [&vip1, &vip2],
        None,
    )?;
    initiate(&m.charon)?;
    let vip1c = client_vip(m, STRONGSWAN_ID, "first client's VIP after the crash")?;
    check(
        "after the crash the first client gets its address back",
        vip1c == vip1,
        format!("{vip1} -> {vip1c}"),
    )?;
    drop(charon2);
    Ok(())
}

#[test]
fn road_warrior_leases_are_per_identity_and_survive_reconnects_and_restarts() -> Result<()> {
    run_scenario(
        "road_warrior_leases_are_per_identity_and_survive_reconnects_and_restarts",
        &MixedSetup {
            deadline: Duration::from_secs(120),
            edit_ikegw: |c| {
                // Road warriors: any address, any identity holding the PSK.
                c.remote_addr = Some("%any".into());
                c.remote_id = "%any".into();
                c.remote_ts = vec!["0.0.0.0/0".into()];
                serve_pools(c, true, false);
                c.extra.push_str(&format!(
                    "\n[secrets.ike.client2]\nid = [\"{}\", \"{CLIENT2_ID}\"]\nsecret = \"{}\"\n",
                    IKEGW_ID,
                    interop_tests::strongswan::TEST_PSK,
                ));
            },
            edit_strongswan: |c| road_warrior_client(c, "0.0.0.0"),
            ..MixedSetup::initiated_by(Initiator::StrongSwan)
        },
        leases_survive,
    )
}
