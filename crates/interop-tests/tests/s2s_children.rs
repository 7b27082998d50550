//! Issue #8 scenario 11, the trap half: ikegw loads its child with
//! `start_action = "trap"` and initiates nothing; strongSwan only answers.
//! The first ping from ikegw's LAN hits the trap: ikegw's key engine raises
//! an ACQUIRE, ikegw negotiates, and that very packet (one echo request,
//! `ping -c 1`) is held and released into the new SA, so its reply comes
//! back; then pings flow both ways.
//!
//! Not here: two CHILD SAs on one IKE SA. Tried against ikegw with
//! children `net` (10.1.0.10/32 === strongSwan's LAN) and `net2`
//! (10.1.0.11/32 === the same LAN): strongSwan's CREATE_CHILD_SA for `net2`
//! is refused with TS_UNACCEPTABLE (ikegw checks it against `net`'s
//! selectors only); `ikegw initiate --child net2` opens a second IKE SA;
//! a trapped `net2` whose peer already has an IKE SA is dropped ("ACQUIRE
//! for ...: negotiation already under way").

use std::process::Command;
use std::time::Duration;

use interop_tests::ikegw::{run_scenario, Mixed, MixedSetup, Side, TUN};
use interop_tests::netns::{self, LEFT, RIGHT};
use interop_tests::proc;
use interop_tests::{Error, Result};

/// One echo request from ikegw's LAN host (source `from`) to strongSwan's
/// LAN host, with a long wait: its reply must come.
fn ping_once(m: &Mixed, from: &str) -> Result<()> {
    let to = RIGHT.lan_host.to_string();
    m.topo
        .left_lan
        .exec(
            &["ping", "-n", "-c", "1", "-W", "5", "-I", from, &to],
            Duration::from_secs(10),
            m.dir.path(),
        )
        .map(drop)
}

fn trap_first_packet(m: &mut Mixed) -> Result<()> {
    // the trap policy routes strongSwan's LAN into ikegw's TUN before any SA
    let ns = m.ikegw_ns().name().to_owned();
    let scratch = m.dir.path().to_path_buf();
    let to = RIGHT.lan_host.to_string();
    proc::wait_for("ikegw's trap route", Duration::from_secs(10), || {
        let r = proc::run(
            Command::new(netns::IP).args(["-n", &ns, "route", "get", &to]),
            Duration::from_secs(5),
            &scratch,
        )?;
        Ok(r.stdout.contains(TUN).then_some(()))
    })?;
    if !m.ikegw.list_sas()?.is_empty() || !m.charon.list_sas()?.is_empty() {
        return Err(Error::Check("an SA exists before any traffic".into()));
    }
    // exactly one echo request: it must be held and released, not lost
    ping_once(m, &LEFT.lan_host.to_string())?;
    let log = m.ikegw.log_text();
    for pinned in [
        "ikegw::daemon::kernel: ACQUIRE ",
        "ikegw::daemon::driver: ACQUIRE for 198.51.100.2: initiating s2s/net on demand",
    ] {
        if !log.contains(pinned) {
            return Err(Error::Check(format!("ikegw did not log {pinned:?}")));
        }
    }
    m.wait_up()?;
    let sa = m.matched_sas()?;
    if sa.children.len() != 1 {
        return Err(Error::Check(format!("{} CHILD SAs", sa.children.len())));
    }
    m.ping(Side::Right, 2)?;
    m.ping(Side::Left, 2)?;
    eprintln!("trap: the first packet brought the tunnel up and got through");
    Ok(())
}

#[test]
fn ikegw_trap_first_packet_gets_through() -> Result<()> {
    run_scenario(
        "ikegw_trap_first_packet_gets_through",
        &MixedSetup {
            edit_ikegw: |c| c.start_action = "trap".into(),
            deadline: Duration::from_secs(60),
            ..MixedSetup::default()
        },
        trap_first_packet,
    )
}
