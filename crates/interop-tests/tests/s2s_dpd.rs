//! Liveness checks (dead peer detection, RFC 7296 §2.4) between ikegw and
//! strongSwan 5.9, each end in turn sending them: with `dpd_delay = 2s` on
//! one end and an idle tunnel for 6 s, that end must send empty
//! INFORMATIONAL requests, the other must answer each one, and the SAs must
//! survive (both ends still agree on them and traffic still flows).
//!
//! Then (issue #8 scenario 6) charon is SIGKILLed in both roles: ikegw,
//! with a short retransmission schedule and `dpd_action = "restart"`,
//! declares it dead, clears the SAs, and brings the tunnel back once charon
//! is restarted.

use std::net::IpAddr;
use std::time::Duration;

use interop_tests::capture::{exchange, IkeHeader, Kind};
use interop_tests::ikegw::{run_scenario, Initiator, Mixed, MixedSetup, Side};
use interop_tests::netns::{LEFT, RIGHT};
use interop_tests::proc;
use interop_tests::{Error, Result};

/// Which end sends the liveness checks.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Checker {
    Ikegw,
    StrongSwan,
}

fn liveness(m: &mut Mixed, checker: Checker) -> Result<()> {
    m.establish()?;
    let before = m.matched_sas()?;
    std::thread::sleep(Duration::from_secs(6));
    let after = m.matched_sas()?;
    if after.ikegw.id != before.ikegw.id
        || after.children.first().map(|(g, _)| &g.spi_in)
            != before.children.first().map(|(g, _)| &g.spi_in)
    {
        return Err(Error::Check("the SAs changed while idle".into()));
    }
    m.ping(Side::Left, 2)?;
    let (pcap, packets) = m.finish_capture()?;
    let (gw_addr, ss_addr): (IpAddr, IpAddr) = match m.ikegw_side() {
        Side::Left => (LEFT.wan.into(), RIGHT.wan.into()),
        Side::Right => (RIGHT.wan.into(), LEFT.wan.into()),
    };
    let informational = |from: IpAddr, response: bool| {
        packets
            .udp
            .iter()
            .filter(|d| d.src.ip() == from)
            .filter_map(|d| match d.kind() {
                Kind::Ike(msg) => IkeHeader::peek(msg),
                _ => None,
            })
            .filter(|h| h.exchange == exchange::INFORMATIONAL && h.is_response() == response)
            .count()
    };
    let (sender, answerer) = match checker {
        Checker::Ikegw => (gw_addr, ss_addr),
        Checker::StrongSwan => (ss_addr, gw_addr),
    };
    let (requests, responses) = (informational(sender, false), informational(answerer, true));
    // the other end sends none of its own (its dpd_delay is 0)
    let unsolicited = informational(answerer, false);
    if requests < 2 || responses < requests || unsolicited != 0 {
        return Err(Error::Check(format!(
            "liveness checks in {}: {requests} requests from {sender}, {responses} responses \
             from {answerer}, {unsolicited} requests from {answerer}",
            pcap.display()
        )));
    }
    eprintln!("{requests} liveness checks from {sender}, all answered by {answerer}");
    Ok(())
}

#[test]
fn ikegw_sends_liveness_checks_strongswan_answers() -> Result<()> {
    run_scenario(
        "ikegw_sends_liveness_checks_strongswan_answers",
        &MixedSetup {
            ikegw_side: Side::Left,
            initiator: Initiator::Ikegw,
            edit_ikegw: |c| c.dpd_delay = Some("2s".into()),
            ..MixedSetup::default()
        },
        |m| liveness(m, Checker::Ikegw),
    )
}

#[test]
fn strongswan_sends_liveness_checks_ikegw_answers() -> Result<()> {
    run_scenario(
        "strongswan_sends_liveness_checks_ikegw_answers",
        &MixedSetup {
            ikegw_side: Side::Right,
            initiator: Initiator::StrongSwan,
            edit_strongswan: |c| c.dpd_delay = Some(2),
            ..MixedSetup::default()
        },
        |m| liveness(m, Checker::StrongSwan),
    )
}

/// ikegw's side for the kill/restart cases: liveness checks every 2 s, a
/// short retransmission schedule (1 s, ×1.5, 2 tries: the peer counts as
/// dead about 4.75 s after the first unanswered check) and
/// `dpd_action = "restart"`.
const DEAD_PEER: fn(&mut interop_tests::ikegw::IkegwConf) = |c| {
    c.dpd_delay = Some("2s".into());
    c.daemon_extra =
        "retransmit_timeout = \"1s\"\nretransmit_base = 1.5\nretransmit_tries = 2\n".into();
    c.child_extra = "dpd_action = \"restart\"\n".into();
};

/// Issue #8 scenario 6: charon is SIGKILLed (no Delete reaches ikegw);
/// ikegw's liveness checks go unanswered, it declares the peer dead, logs
/// the `dpd_action`, and holds no SA any more; charon comes back (same
/// configs, no SA, no initiation of its own) and ikegw's restart
/// re-establishes the tunnel: new SPIs, both ends agree, traffic flows.
fn dead_peer_restart(m: &mut Mixed) -> Result<()> {
    m.establish()?;
    let before = m.matched_sas()?;
    m.ping(Side::Left, 1)?;
    m.charon.kill();
    let killed = std::time::Instant::now();
    // pinned: 1 request + 2 retransmissions, then dpd_action
    let dead_line =
        "ikegw::daemon::driver: s2s/net closed (local error: peer did not answer after 3 \
         transmissions): restarting";
    proc::wait_for(
        "ikegw declares strongSwan dead",
        Duration::from_secs(20),
        || {
            m.ikegw.check_alive()?;
            let log = m.ikegw.log_text();
            Ok(log.lines().any(|l| l.contains(dead_line)).then_some(()))
        },
    )?;
    let dead_after = killed.elapsed();
    // the dead IKE SA and its CHILD SAs are gone from ikegw
    let left = m.ikegw.list_sas()?;
    if left.iter().any(|s| s.id == before.ikegw.id) {
        return Err(Error::Check(format!(
            "ikegw still lists the dead IKE SA {}: {left:?}",
            before.ikegw.id
        )));
    }
    let reason = m
        .ikegw
        .log_text()
        .lines()
        .find(|l| l.contains(dead_line))
        .map(str::to_owned)
        .unwrap_or_default();
    m.restart_strongswan()?;
    // strongSwan (responder, or with no start_action of its own) only
    // answers: the tunnel comes back because ikegw restarts it
    m.wait_up()?;
    let after = m.matched_sas()?;
    if after.ikegw.id == before.ikegw.id {
        return Err(Error::Check(
            "the IKE SA after the restart is the old one".into(),
        ));
    }
    m.ping(Side::Left, 2)?;
    m.ping(Side::Right, 2)?;
    eprintln!(
        "dead peer: declared after {:.1} s ({reason}); tunnel back {:.1} s after the kill",
        dead_after.as_secs_f64(),
        killed.elapsed().as_secs_f64()
    );
    Ok(())
}

fn kill_setup(initiator: Initiator) -> MixedSetup {
    MixedSetup {
        ikegw_side: match initiator {
            Initiator::Ikegw => Side::Left,
            Initiator::StrongSwan => Side::Right,
        },
        initiator,
        edit_ikegw: DEAD_PEER,
        deadline: Duration::from_secs(60),
        ..MixedSetup::default()
    }
}

#[test]
fn strongswan_killed_ikegw_initiated_dpd_restart() -> Result<()> {
    run_scenario(
        "strongswan_killed_ikegw_initiated_dpd_restart",
        &kill_setup(Initiator::Ikegw),
        dead_peer_restart,
    )
}

#[test]
fn strongswan_killed_strongswan_initiated_dpd_restart() -> Result<()> {
    run_scenario(
        "strongswan_killed_strongswan_initiated_dpd_restart",
        &kill_setup(Initiator::StrongSwan),
        dead_peer_restart,
    )
}
