//! Dual-stack site-to-site: one child `net` whose selectors hold both the
//! IPv4 and the IPv6 LAN at each end, ikegw against strongSwan, in both
//! roles:
//!
//! ```text
//! lan-a 10.1.0.10 fd00:1::10 — gw-a ══ WAN (IPv4) ══ gw-b — lan-b 10.2.0.10 fd00:2::10
//! ```
//!
//! A PF_KEY tunnel-mode SA carries one inner family (illumos picks SAs by
//! inner family; ikegw's userland engine does the same), so ikegw
//! negotiates one CHILD_SA per family: as initiator IPv4 in IKE_AUTH and
//! IPv6 by CREATE_CHILD_SA; as responder it narrows strongSwan's
//! dual-stack proposal to IPv4 (RFC 7296 §2.9) and asks for IPv6 itself.
//! Checked: both ends list two matched CHILD SAs, one per family; ping and
//! ping6 cross both ways and the IPv6 CHILD SA counts the ping6 packets
//! at ikegw.
//!
//! Needs what `s2s_psk` needs: otherwise `SKIPPED:` (or a failure when
//! `CI` is set).

use std::time::Duration;

use interop_tests::ikegw::{run_scenario, Initiator, Mixed, MixedSetup, Side, TUN};
use interop_tests::netns::{ip_in, Netns, Site, LEFT, RIGHT};
use interop_tests::{check, proc, Result};

/// IPv6 prefix, gateway and host of a LAN.
struct Lan6 {
    net: &'static str,
    gw: &'static str,
    host: &'static str,
}

const LEFT6: Lan6 = Lan6 {
    net: "fd00:1::/64",
    gw: "fd00:1::1",
    host: "fd00:1::10",
};
const RIGHT6: Lan6 = Lan6 {
    net: "fd00:2::/64",
    gw: "fd00:2::1",
    host: "fd00:2::10",
};

/// Both LANs of a site, as a selector list.
const LEFT_BOTH: &str = "10.1.0.0/24, fd00:1::/64";
const RIGHT_BOTH: &str = "10.2.0.0/24, fd00:2::/64";

/// The topology disables IPv6 everywhere; turn it on only where inner
/// traffic runs (the gateways' LAN links and tunnel devices, the LAN
/// hosts), never on the WAN, whose capture must stay free of plaintext.
fn enable_ipv6(m: &Mixed) -> Result<()> {
    let scratch = m.dir.path().to_path_buf();
    let gw_tun = |ns: &Netns| {
        if ns.name() == m.ikegw_ns().name() {
            TUN
        } else {
            "ipsec0"
        }
    };
    for (gw, host, lan) in [
        (&m.topo.left, &m.topo.left_lan, &LEFT6),
        (&m.topo.right, &m.topo.right_lan, &RIGHT6),
    ] {
        for i in ["lo", "lan0", gw_tun(gw)] {
            gw.sysctl(&format!("net.ipv6.conf.{i}.disable_ipv6=0"), &scratch)?;
        }
        gw.sysctl("net.ipv6.conf.all.forwarding=1", &scratch)?;
        for i in ["lo", "eth0"] {
            host.sysctl(&format!("net.ipv6.conf.{i}.disable_ipv6=0"), &scratch)?;
        }
        let addr = |a: &str| format!("{a}/64");
        ip_in(
            gw.name(),
            &["addr", "add", &addr(lan.gw), "dev", "lan0", "nodad"],
            &scratch,
        )?;
        ip_in(
            host.name(),
            &["addr", "add", &addr(lan.host), "dev", "eth0", "nodad"],
            &scratch,
        )?;
        ip_in(
            host.name(),
            &["-6", "route", "add", "default", "via", lan.gw],
            &scratch,
        )?;
    }
    Ok(())
}

/// Whether every selector of `ts` is IPv6 (`true`) or none is (`false`);
/// `None` when they mix.
fn family_v6(ts: &[String]) -> Option<bool> {
    let v6 = ts.iter().filter(|t| t.contains(':')).count();
    match v6 {
        0 => Some(false),
        n if n == ts.len() => Some(true),
        _ => None,
    }
}

fn dual_stack(m: &mut Mixed) -> Result<()> {
    enable_ipv6(m)?;
    m.initiate()?;
    both_families(m)
}

/// ikegw traps the dual-stack child: before any SA its trap policies
/// route both of strongSwan's LANs into the TUN; one ping6 from ikegw's
/// LAN raises an ACQUIRE for IPv6, and the echo request is held until
/// the IPv6 CHILD_SA (the second, after IPv4 in IKE_AUTH) releases it.
fn trapped(m: &mut Mixed) -> Result<()> {
    enable_ipv6(m)?;
    let ns = m.ikegw_ns().name().to_owned();
    let scratch = m.dir.path().to_path_buf();
    proc::wait_for(
        "ikegw's trap routes for both families",
        Duration::from_secs(10),
        || {
            // "unreachable" (a failing `ip route get`) until the trap
            // routes exist.
            let into_tun = |family: &str, to: &str| {
                ip_in(&ns, &[family, "route", "get", to], &scratch)
                    .is_ok_and(|r| r.stdout.contains(TUN))
            };
            Ok(
                (into_tun("-4", &RIGHT.lan_host.to_string()) && into_tun("-6", RIGHT6.host))
                    .then_some(()),
            )
        },
    )?;
    check(
        "no SA before any traffic",
        m.ikegw.list_sas()?.is_empty() && m.charon.list_sas()?.is_empty(),
        "an SA exists",
    )?;
    // Exactly one echo request: held and released, not lost.
    m.topo.left_lan.exec(
        &["ping", "-6", "-n", "-c", "1", "-W", "5", RIGHT6.host],
        Duration::from_secs(10),
        &scratch,
    )?;
    let log = m.ikegw.log_text();
    check(
        "ikegw initiated on the IPv6 ACQUIRE",
        log.contains("ACQUIRE for 198.51.100.2: initiating s2s/net on demand"),
        "no such line in ikegw's log",
    )?;
    both_families(m)
}

/// Both ends list two matched CHILD SAs, one per family; ping and ping6
/// cross both ways and the IPv6 one counts the ping6 packets at ikegw.
fn both_families(m: &mut Mixed) -> Result<()> {
    let children = proc::wait_for(
        "two matched CHILD SAs, one per family, at both ends",
        Duration::from_secs(20),
        || {
            m.ikegw.check_alive()?;
            m.charon.check_alive()?;
            let Ok(up) = m.matched_sas() else {
                return Ok(None);
            };
            Ok((up.children.len() == 2).then_some(up.children))
        },
    )?;
    let families: Vec<(Option<bool>, Option<bool>)> = children
        .iter()
        .map(|(g, _)| (family_v6(&g.local_ts), family_v6(&g.remote_ts)))
        .collect();
    check(
        "ikegw's CHILD SAs: one IPv4, one IPv6, each of one family on both sides",
        families.contains(&(Some(false), Some(false)))
            && families.contains(&(Some(true), Some(true))),
        format!("{children:?}"),
    )?;
    let (v6_child, _) = children
        .iter()
        .find(|(g, _)| family_v6(&g.local_ts) == Some(true))
        .ok_or_else(|| interop_tests::Error::Check("no IPv6 CHILD SA".into()))?;
    let ikegw_lan6 = if m.ikegw_side() == Side::Left {
        LEFT6.net
    } else {
        RIGHT6.net
    };
    check(
        "ikegw's IPv6 CHILD SA covers its IPv6 LAN",
        v6_child.local_ts.iter().any(|t| t == ikegw_lan6),
        format!("{v6_child:?}"),
    )?;
    // IPv4 both ways, then IPv6 both ways.
    m.ping(Side::Left, 3)?;
    m.ping(Side::Right, 3)?;
    let scratch = m.dir.path().to_path_buf();
    m.topo.left_lan.ping(RIGHT6.host, 3, None, &scratch)?;
    m.topo.right_lan.ping(LEFT6.host, 3, None, &scratch)?;
    // 6 echo requests and 6 replies crossed ikegw's IPv6 CHILD SA in each
    // direction.
    let spi = v6_child.spi_in.clone();
    proc::wait_for(
        "ikegw's IPv6 CHILD SA counts the ping6 packets",
        Duration::from_secs(3),
        || {
            let sas = m.ikegw.list_sas()?;
            let c = sas
                .iter()
                .flat_map(|s| s.children.iter())
                .find(|c| c.spi_in == spi);
            Ok(c.filter(|c| c.packets_in >= 6 && c.packets_out >= 6)
                .map(drop))
        },
    )
}

fn setup(initiator: Initiator) -> MixedSetup {
    MixedSetup {
        edit_ikegw: |c| {
            c.local_ts = LEFT_BOTH.split(", ").map(str::to_owned).collect();
            c.remote_ts = RIGHT_BOTH.split(", ").map(str::to_owned).collect();
        },
        edit_strongswan: |c| {
            c.local = Site {
                lan_net: RIGHT_BOTH,
                ..RIGHT
            };
            c.remote = Site {
                lan_net: LEFT_BOTH,
                ..LEFT
            };
        },
        // ikegw on the left in both roles, as the edits above assume.
        ikegw_side: Side::Left,
        initiator,
        ..MixedSetup::default()
    }
}

#[test]
fn ikegw_traps_a_dual_stack_child_and_ipv6_traffic_brings_it_up() -> Result<()> {
    run_scenario(
        "ikegw_traps_a_dual_stack_child_and_ipv6_traffic_brings_it_up",
        &MixedSetup {
            edit_ikegw: |c| {
                c.local_ts = LEFT_BOTH.split(", ").map(str::to_owned).collect();
                c.remote_ts = RIGHT_BOTH.split(", ").map(str::to_owned).collect();
                c.start_action = "trap".into();
            },
            ..setup(Initiator::Ikegw)
        },
        trapped,
    )
}

#[test]
fn ikegw_initiates_a_dual_stack_child_as_one_child_sa_per_family() -> Result<()> {
    run_scenario(
        "ikegw_initiates_a_dual_stack_child_as_one_child_sa_per_family",
        &setup(Initiator::Ikegw),
        dual_stack,
    )
}

#[test]
fn ikegw_narrows_strongswans_dual_stack_child_and_asks_for_ipv6() -> Result<()> {
    run_scenario(
        "ikegw_narrows_strongswans_dual_stack_child_and_asks_for_ipv6",
        &setup(Initiator::StrongSwan),
        dual_stack,
    )
}
