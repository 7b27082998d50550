//! Issue #8 scenario 5: CHILD SA and IKE SA rekeying with short lifetimes
//! while a TCP transfer runs, ikegw against strongSwan 5.9, once with ikegw
//! driving every rekey and once with strongSwan driving them (ikegw
//! answering CREATE_CHILD_SA).
//!
//! The transfer (12 MiB paced over 16 s) must arrive byte for byte across
//! at least two CHILD rekeys and one IKE rekey; ikegw's log shows them and
//! strongSwan's SA numbering (`s2s[N]`, `net-N`) confirms them from the
//! other side; at the end both ends agree on one IKE SA with crossed CHILD
//! SPIs, and the CHILD SAs installed by rekeys carry the PFS group
//! (X25519 in `esp_proposals`).

use std::time::Duration;

use interop_tests::ikegw::{run_scenario, Initiator, Mixed, MixedSetup, Side};
use interop_tests::proc;
use interop_tests::{Error, Result};

const LEN: usize = 12 * 1024 * 1024;
const SPREAD: Duration = Duration::from_secs(16);

fn rekeys_under_load(m: &mut Mixed) -> Result<()> {
    m.establish()?;
    let first = m.matched_sas()?;
    let took = m.paced_transfer(LEN, 5002, SPREAD)?;
    eprintln!(
        "12 MiB paced over {:.1} s arrived intact",
        took.as_secs_f64()
    );

    let log = m.ikegw.log_text();
    let installed = log.matches("CHILD SA installed:").count();
    let ike_rekeys = log.matches("IKE SA rekeyed, successor").count();
    if installed < 3 || ike_rekeys < 1 {
        return Err(Error::Check(format!(
            "during the transfer ikegw installed {installed} CHILD SAs (want >= 3: the first \
             and two rekeys) and rekeyed the IKE SA {ike_rekeys} times (want >= 1)"
        )));
    }
    // the ends agree once the rekeyed-away SAs are gone
    let last = proc::wait_for(
        "both ends agree after the rekeys",
        Duration::from_secs(10),
        || Ok(m.matched_sas().ok()),
    )?;
    if last.ikegw.id == first.ikegw.id {
        return Err(Error::Check("ikegw still shows the first IKE SA".into()));
    }
    let uid = |v: Option<&str>| v.and_then(|u| u.parse::<u32>().ok()).unwrap_or(0);
    let ike_uid = uid(last.strongswan.get("uniqueid"));
    let child_uid = last
        .children
        .iter()
        .map(|(_, c)| uid(c.get("uniqueid")))
        .max()
        .unwrap_or(0);
    if ike_uid < 2 || child_uid < 3 {
        return Err(Error::Check(format!(
            "strongSwan numbers its current SAs s2s[{ike_uid}] / net-{child_uid}: \
             fewer rekeys than ikegw logged"
        )));
    }
    // rekeyed CHILD SAs ran a fresh X25519 exchange (PFS)
    let pfs = last
        .children
        .iter()
        .all(|(g, s)| s.get("dh-group") == Some("CURVE_25519") && g.suite.contains("CURVE_25519"));
    if !pfs {
        return Err(Error::Check(format!(
            "rekeyed CHILD SAs without the X25519 PFS group: {:?}",
            last.children
        )));
    }
    // and the tunnel still carries traffic
    m.ping(Side::Left, 2)?;
    eprintln!(
        "ikegw: {installed} CHILD SAs installed, {ike_rekeys} IKE rekeys; strongSwan now at \
         s2s[{ike_uid}] net-{child_uid}"
    );
    Ok(())
}

#[test]
fn rekeys_driven_by_ikegw_during_transfer() -> Result<()> {
    run_scenario(
        "rekeys_driven_by_ikegw_during_transfer",
        &MixedSetup {
            ikegw_side: Side::Left,
            initiator: Initiator::Ikegw,
            edit_ikegw: |c| {
                c.ike_rekey_time = Some("9s".into());
                c.child_rekey_time = Some("5s".into());
                c.child_life_time = Some("8s".into());
            },
            deadline: Duration::from_secs(60),
            ..MixedSetup::default()
        },
        rekeys_under_load,
    )
}

#[test]
fn rekeys_driven_by_strongswan_during_transfer() -> Result<()> {
    run_scenario(
        "rekeys_driven_by_strongswan_during_transfer",
        &MixedSetup {
            ikegw_side: Side::Right,
            initiator: Initiator::StrongSwan,
            edit_strongswan: |c| {
                // explicit margins: strongSwan's defaults (over_time = 10 %
                // of rekey_time, rand_time = life_time - rekey_time) would
                // let the IKE SA's hard lifetime (0.9 s after rekey_time)
                // expire during the rekey, and charon then migrates that
                // IKE_DELETE onto the new IKE SA and deletes it too (seen
                // with 5.9.8); and child rekeys would come at random
                // moments from 0 s on
                c.extra_conn
                    .push_str("rekey_time = 9s\nover_time = 10s\nrand_time = 1s\n");
                c.extra_child
                    .push_str("rekey_time = 5s\nlife_time = 10s\nrand_time = 1s\n");
            },
            deadline: Duration::from_secs(60),
            ..MixedSetup::default()
        },
        rekeys_under_load,
    )
}
