//! Remote traffic selectors that cover the IKE peer's own address, against
//! strongSwan (charon with kernel-libipsec).
//!
//! ikegw's userland data plane routes each CHILD SA's remote selectors
//! into its TUN device. When a selector covers the peer's own outer
//! address, that route would also catch ikegw's IKE and ESP-in-UDP packets
//! to the peer and encapsulate them again, forever (a load test with
//! host-to-host selectors saw 720,000 drops a minute and almost no SAs up).
//! The data plane keeps the peer outside the tunnel:
//!
//! - `198.51.100.0/25` on the WAN side covers strongSwan's 198.51.100.2 and
//!   is more specific than the WAN's connected /24: the peer's path is
//!   pinned as a host route on the WAN link before the tunnel route goes
//!   in;
//! - host-to-host selectors (the peer's address itself) cannot coexist
//!   with such a pin, so that route is not installed (strongSwan's
//!   kernel-libipsec does the same unless `allow_peer_ts` is set). That
//!   case is unit-tested in the gateway's data plane: strongSwan itself
//!   answers such selectors with TS_UNACCEPTABLE here, since with
//!   kernel-libipsec it refuses a remote selector equal to its peer.
//!
//! The IKE SA must stay healthy after the routes exist: an IKE rekey and a
//! CHILD rekey complete, and nothing loops.

use std::time::Duration;

use interop_tests::ikegw::{run_scenario, Mixed, MixedSetup};
use interop_tests::netns::{Site, RIGHT};
use interop_tests::proc;
use interop_tests::{Error, Result};

/// The routes of ikegw's namespace towards strongSwan's WAN address.
fn routes_to_peer(m: &Mixed) -> Result<String> {
    let out = m
        .ikegw_ns()
        .ip(&["route", "show", "table", "main"], m.dir.path())?;
    Ok(out.stdout)
}

/// Waits until both ends show an ESTABLISHED IKE SA with an installed
/// CHILD SA ([`Mixed::wait_up`] also wants a route to strongSwan's usual
/// LAN, which these selectors do not have).
fn both_up(m: &mut Mixed) -> Result<()> {
    proc::wait_for(
        "IKE and CHILD SA up at both ends",
        Duration::from_secs(20),
        || Ok(m.both_up()?.then_some(())),
    )
}

/// Rekeys the IKE SA and then the CHILD SA from ikegw, and waits until
/// both ends show the new IKE SA with its CHILD SA.
fn rekeys_still_work(m: &mut Mixed) -> Result<()> {
    let before = m.matched_sas()?;
    let old_ike = before.ikegw.id;
    m.ikegw.rekey(&old_ike, None)?;
    proc::wait_for(
        "the IKE rekey completes over the routes now in place",
        Duration::from_secs(20),
        || {
            let sas = m.ikegw.list_sas()?;
            Ok(sas
                .iter()
                .any(|s| s.id != old_ike && s.state == "ESTABLISHED" && !s.children.is_empty())
                .then_some(()))
        },
    )?;
    both_up(m)?;
    let after = m.matched_sas()?;
    let spi_in = after
        .ikegw
        .children
        .first()
        .map(|c| c.spi_in.clone())
        .ok_or_else(|| Error::Check("no CHILD SA after the IKE rekey".into()))?;
    m.ikegw.rekey(&after.ikegw.id, Some(&spi_in))?;
    proc::wait_for("the CHILD rekey completes", Duration::from_secs(20), || {
        let sas = m.ikegw.list_sas()?;
        Ok(sas
            .iter()
            .flat_map(|s| s.children.iter())
            .any(|c| c.spi_in != spi_in)
            .then_some(()))
    })?;
    let log = m.ikegw.log_text();
    if log.contains("send queue full") {
        return Err(Error::Check(
            "ikegw's data plane dropped datagrams for a full send queue: a routing loop".into(),
        ));
    }
    Ok(())
}

fn covering_prefix(m: &mut Mixed) -> Result<()> {
    m.initiate()?;
    both_up(m)?;
    let routes = routes_to_peer(m)?;
    if !routes.contains("198.51.100.2 dev wan0") {
        return Err(Error::Check(format!(
            "no host route pinning strongSwan's address to the WAN link:\n{routes}"
        )));
    }
    if !routes.contains("198.51.100.0/25 dev ikegw0") {
        return Err(Error::Check(format!(
            "the tunnel route for 198.51.100.0/25 is missing:\n{routes}"
        )));
    }
    rekeys_still_work(m)
}

/// strongSwan's side: its WAN address stands in for its LAN.
fn wan_side(lan_net: &'static str) -> Site {
    Site {
        lan_net,
        lan_gw: RIGHT.wan,
        lan_host: RIGHT.wan,
        ..RIGHT
    }
}

#[test]
fn a_remote_selector_covering_the_peer_keeps_ike_out_of_the_tunnel() -> Result<()> {
    run_scenario(
        "peer_ts_covering_prefix",
        &MixedSetup {
            edit_ikegw: |c| c.remote_ts = vec!["198.51.100.0/25".into()],
            edit_strongswan: |c| c.local = wan_side("198.51.100.0/25"),
            deadline: Duration::from_secs(90),
            ..MixedSetup::default()
        },
        covering_prefix,
    )
}
