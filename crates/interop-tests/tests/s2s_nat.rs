//! Issue #8 scenario 4: ikegw behind a NAT (nftables masquerade that also
//! rewrites UDP source ports, so neither 500 nor 4500 survives), strongSwan
//! 5.9 on the public side:
//!
//! ```text
//! lan 10.1.0.10 — ikegw 172.16.0.2 — NAT 198.51.100.1 ══ WAN ══ 198.51.100.2 strongSwan — lan 10.2.0.10
//! ```
//!
//! ikegw initiates. Both ends must detect the NAT (RFC 7296 §2.23:
//! strongSwan reports `nat-remote`, ikegw `nat`), strongSwan must see
//! ikegw at the NAT's address and a mapped port, traffic must flow both
//! ways (including a ping started from strongSwan's side, which relies on
//! the NAT mapping ikegw keeps open) and a 2 MiB transfer must arrive intact.

use std::time::Duration;

use interop_tests::ikegw::{run_scenario, Initiator, Mixed, MixedSetup, Side};
use interop_tests::netns::{LEFT, LEFT_BEHIND_NAT, NAT_PORTS, RIGHT};
use interop_tests::{Error, Result};

fn behind_nat(m: &mut Mixed) -> Result<()> {
    m.establish()?;
    let sa = m.matched_sas()?;
    let ss = &sa.strongswan;
    let port = ss
        .get("remote-port")
        .and_then(|p| p.parse::<u16>().ok())
        .unwrap_or(0);
    if ss.get("remote-host") != Some(&LEFT.wan.to_string())
        || !(NAT_PORTS.0..=NAT_PORTS.1).contains(&port)
        || ss.get("nat-remote") != Some("yes")
    {
        return Err(Error::Check(format!(
            "strongSwan should see ikegw at the NAT ({}:{}-{}) and detect it: {ss:?}",
            LEFT.wan, NAT_PORTS.0, NAT_PORTS.1
        )));
    }
    let gw = &sa.ikegw;
    if !gw.nat
        || gw.local != format!("{}:4500", LEFT_BEHIND_NAT.wan)
        || gw.remote != format!("{}:4500", RIGHT.wan)
    {
        return Err(Error::Check(format!(
            "ikegw should float to 4500 behind the NAT and flag it: {gw:?}"
        )));
    }
    // strongSwan's side first: its packets reach ikegw through the
    // mapping that ikegw's own traffic created
    m.ping(Side::Right, 3)?;
    m.ping(Side::Left, 3)?;
    let took = m.bulk_transfer(2 * 1024 * 1024, 5003)?;
    eprintln!(
        "through the NAT: strongSwan sees ikegw at {}:{port}; 2 MiB in {:.2} s",
        LEFT.wan,
        took.as_secs_f64()
    );
    let nat = m
        .topo
        .nat
        .as_ref()
        .ok_or_else(|| Error::Check("no NAT namespace".into()))?;
    let rules = nat.nft_list(m.dir.path())?;
    if !rules.contains("masquerade to :20000-29999") {
        return Err(Error::Check(format!("NAT ruleset not in place:\n{rules}")));
    }
    Ok(())
}

#[test]
fn ikegw_behind_nat_initiates_to_strongswan() -> Result<()> {
    run_scenario(
        "ikegw_behind_nat_initiates_to_strongswan",
        &MixedSetup {
            ikegw_side: Side::Left,
            initiator: Initiator::Ikegw,
            ikegw_behind_nat: true,
            deadline: Duration::from_secs(60),
            ..MixedSetup::default()
        },
        behind_nat,
    )
}
