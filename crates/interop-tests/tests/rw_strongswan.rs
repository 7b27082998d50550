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
//! Needs root, strongSwan with kernel-libipsec, tcpdump, python3,
//! /dev/net/tun and the `ikegw` binary: otherwise `SKIPPED:` (or a
//! failure when `CI` is set).

use std::time::Duration;

use interop_tests::ikegw::{run_scenario, Initiator, Mixed, MixedSetup, Side, TUN};
use interop_tests::netns::{Site, IP, RIGHT};
use interop_tests::proc;
use interop_tests::{Error, Result};

const POOL_PREFIX: &str = "10.3.0.";
/// strongSwan's pool when ikegw is the client.
const SS_POOL_PREFIX: &str = "10.4.0.";
const DNS: &str = "10.2.0.53";
const PINGS: u64 = 4;

fn check(what: &str, ok: bool, detail: impl std::fmt::Display) -> Result<()> {
    if ok {
        Ok(())
    } else {
        Err(Error::Check(format!("{what}: {detail}")))
    }
}

fn scenario_8(m: &mut Mixed) -> Result<()> {
    m.initiate()?;
    let gw_ns = m.ikegw_ns().name().to_owned();
    let scratch = m.dir.path().to_path_buf();
    // Up at both ends, and ikegw routes the leased address into its TUN.
    let vip = proc::wait_for(
        "road warrior up at both ends, its VIP routed into ikegw's TUN",
        Duration::from_secs(20),
        || {
            m.ikegw.check_alive()?;
            m.charon.check_alive()?;
            let sas = m.ikegw.list_sas()?;
            let Some(vip) = sas
                .iter()
                .filter(|sa| sa.state == "ESTABLISHED")
                .flat_map(|sa| sa.children.iter())
                .find_map(|c| c.remote_ts.first()?.strip_suffix("/32"))
                .map(str::to_owned)
            else {
                return Ok(None);
            };
            let ss_up = m.charon.list_sas()?.iter().any(|sa| {
                sa.get("state") == Some("ESTABLISHED")
                    && sa.child_sas().any(|c| c.get("state") == Some("INSTALLED"))
            });
            if !ss_up {
                return Ok(None);
            }
            let routes = proc::run(
                std::process::Command::new(IP).args(["-n", &gw_ns, "route", "show", &vip]),
                Duration::from_secs(5),
                &scratch,
            )?;
            Ok(routes.stdout.contains(TUN).then_some(vip))
        },
    )?;
    check(
        "VIP from the pool",
        vip.starts_with(POOL_PREFIX),
        format!("{vip} is not in {POOL_PREFIX}0/24"),
    )?;
    let up = m.matched_sas()?;
    let [(gw_child, _)] = up.children.as_slice() else {
        return Err(Error::Check(format!(
            "want one CHILD SA, got {}",
            up.children.len()
        )));
    };
    check(
        "ikegw's CHILD SA selectors",
        gw_child.local_ts == [RIGHT.lan_net] && gw_child.remote_ts == [format!("{vip}/32")],
        format!("{gw_child:?}"),
    )?;

    // strongSwan's own view: the VIP in list-sas and on ipsec0, the DNS
    // attribute processed (the resolve plugin is not loaded in the lab, so
    // charon only logs it).
    let raw = m.charon.list_sas_raw()?;
    check(
        "strongSwan list-sas shows the VIP",
        raw.contains(&vip),
        &raw,
    )?;
    let ss_ns = m.topo.left.name().to_owned();
    let addrs = proc::run(
        std::process::Command::new(IP)
            .args(["-n", &ss_ns, "-4", "-o", "addr", "show", "dev", "ipsec0"]),
        Duration::from_secs(5),
        &scratch,
    )?;
    check(
        "VIP installed on strongSwan's ipsec0",
        addrs.stdout.contains(&format!("{vip}/32")),
        &addrs.stdout,
    )?;
    let log = m.charon.log_text();
    check(
        "strongSwan installed the VIP",
        log.contains(&format!("installing new virtual IP {vip}")),
        "no 'installing new virtual IP' in charon.log",
    )?;
    // ikegw only sends the attribute with a value (its pool's `dns`), and
    // charon names every attribute it processes.
    check(
        "strongSwan received INTERNAL_IP4_DNS",
        log.contains("INTERNAL_IP4_DNS"),
        "no INTERNAL_IP4_DNS in charon.log",
    )?;
    // The lease, as the operator sees it.
    let pools: serde_json::Value = serde_json::from_str(&m.ikegw.verb(&["list-pools"])?)
        .map_err(|e| Error::Check(format!("list-pools: {e}")))?;
    let at = |path: &str| pools.pointer(path).cloned().unwrap_or_default();
    check(
        "ikegw list-pools",
        at("/pools/0/name") == "rw"
            && at("/pools/0/leases/0/addr") == vip.as_str()
            && at("/pools/0/leases/0/identity") == interop_tests::ikegw::STRONGSWAN_ID
            && at("/pools/0/leases/0/online") == true,
        &pools,
    )?;

    // Pings from the VIP to the LAN host behind ikegw, through ESP.
    m.topo.left.exec(
        &[
            "ping",
            "-n",
            "-c",
            &PINGS.to_string(),
            "-i",
            "0.2",
            "-W",
            "2",
            "-I",
            &vip,
            &RIGHT.lan_host.to_string(),
        ],
        Duration::from_secs(20),
        &scratch,
    )?;
    proc::wait_for(
        "ikegw's ESP counters after the pings",
        Duration::from_secs(3),
        || {
            let now = m.matched_sas()?;
            let [(g, _)] = now.children.as_slice() else {
                return Ok(None);
            };
            Ok((g.packets_in >= PINGS && g.packets_out >= PINGS).then_some(()))
        },
    )?;
    let (_, packets) = m.finish_capture()?;
    check(
        "no plaintext ICMP on the WAN",
        packets.icmp == 0,
        format!("{} ICMP packets", packets.icmp),
    )?;
    Ok(())
}

#[test]
fn strongswan_road_warrior_gets_a_vip_and_dns_from_ikegw() -> Result<()> {
    run_scenario(
        "strongswan_road_warrior_gets_a_vip_and_dns_from_ikegw",
        &MixedSetup {
            ikegw_side: Side::Right,
            initiator: Initiator::StrongSwan,
            edit_ikegw: |c| {
                c.remote_ts = vec!["0.0.0.0/0".into()];
                c.extra_conn = "pools = [\"rw\"]\n".into();
                c.extra = format!(
                    "\n[pools.rw]\naddrs = \"{POOL_PREFIX}0/24\"\ndns = [\"{DNS}\"]\n\
                     split_include = [\"{}\"]\n",
                    RIGHT.lan_net
                );
            },
            edit_strongswan: |c| {
                // A road warrior proposes its virtual IP, whatever it is.
                c.local = Site {
                    lan_net: "dynamic",
                    ..c.local
                };
                c.extra_conn.push_str("vips = 0.0.0.0\n");
            },
            ..MixedSetup::default()
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
    let up = m.matched_sas()?;
    let [(gw_child, _)] = up.children.as_slice() else {
        return Err(Error::Check(format!(
            "want one CHILD SA, got {}",
            up.children.len()
        )));
    };
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
    let gw_ns = m.ikegw_ns().name().to_owned();
    let addrs = proc::run(
        std::process::Command::new(IP).args(["-n", &gw_ns, "-4", "-o", "addr", "show", "dev", TUN]),
        Duration::from_secs(5),
        &scratch,
    )?;
    check(
        "VIP on ikegw's TUN",
        addrs.stdout.contains(&format!("{vip}/32")),
        &addrs.stdout,
    )?;
    let raw = m.charon.list_sas_raw()?;
    check(
        "strongSwan list-sas shows the VIP",
        raw.contains(&vip),
        &raw,
    )?;
    // From ikegw's gateway itself, without -I: the route into the TUN must
    // make the kernel pick the VIP as source, or strongSwan's selectors
    // (VIP/32) would not match.
    m.ikegw_ns().exec(
        &[
            "ping",
            "-n",
            "-c",
            &PINGS.to_string(),
            "-i",
            "0.2",
            "-W",
            "2",
            &RIGHT.lan_host.to_string(),
        ],
        Duration::from_secs(20),
        &scratch,
    )?;
    proc::wait_for(
        "ikegw's ESP counters after the pings",
        Duration::from_secs(3),
        || {
            let now = m.matched_sas()?;
            let [(g, _)] = now.children.as_slice() else {
                return Ok(None);
            };
            Ok((g.packets_in >= PINGS && g.packets_out >= PINGS).then_some(()))
        },
    )?;
    Ok(())
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
