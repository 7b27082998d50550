//! Liveness checks (dead peer detection, RFC 7296 §2.4) between ikegw and
//! strongSwan 5.9, each end in turn sending them: with `dpd_delay = 2s` on
//! one end and an idle tunnel for 6 s, that end must send empty
//! INFORMATIONAL requests, the other must answer each one, and the SAs must
//! survive (both ends still agree on them and traffic still flows).
//!
//! Then (issue #8 scenario 6) charon is SIGKILLed in both roles: ikegw,
//! with a short retransmission schedule, declares it dead and clears the
//! SAs; what follows once charon is restarted is ikegw's `dpd_action`:
//! - `restart`: ikegw re-initiates at once and the tunnel comes back;
//! - `clear`: nothing is re-initiated (no SA at either end, traffic from
//!   ikegw's LAN goes nowhere) until `ikegw initiate`;
//! - `trap`: ikegw installs the child's trap policy, and the first packet
//!   from its LAN after charon's return brings the tunnel back.

use std::net::IpAddr;
use std::time::Duration;

use interop_tests::capture::{exchange, IkeHeader, Kind};
use interop_tests::ikegw::{run_scenario, IkegwConf, Initiator, Mixed, MixedSetup, Side};
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

/// ikegw's side for the kill/restart cases: liveness checks every 2 s and
/// a short retransmission schedule (1 s, ×1.5, 2 tries: the peer counts as
/// dead about 4.75 s after the first unanswered check).
fn dead_peer_conf(c: &mut IkegwConf, dpd_action: &str) {
    c.dpd_delay = Some("2s".into());
    c.daemon_extra =
        "retransmit_timeout = \"1s\"\nretransmit_base = 1.5\nretransmit_tries = 2\n".into();
    c.child_extra = format!("dpd_action = \"{dpd_action}\"\n");
}

/// [`dead_peer_conf`] with `dpd_action = "restart"`.
const DEAD_PEER: fn(&mut IkegwConf) = |c| dead_peer_conf(c, "restart");
/// [`dead_peer_conf`] with `dpd_action = "clear"`.
const DEAD_PEER_CLEAR: fn(&mut IkegwConf) = |c| dead_peer_conf(c, "clear");
/// [`dead_peer_conf`] with `dpd_action = "trap"`.
const DEAD_PEER_TRAP: fn(&mut IkegwConf) = |c| dead_peer_conf(c, "trap");

/// What ikegw logs when the killed charon's silence ends the IKE SA
/// (1 request + 2 retransmissions).
const DEAD_REASON: &str = "local error: peer did not answer after 3 transmissions";

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
    let dead_line = format!("ikegw::daemon::driver: s2s/net closed ({DEAD_REASON}): restarting");
    proc::wait_for(
        "ikegw declares strongSwan dead",
        Duration::from_secs(20),
        || {
            m.ikegw.check_alive()?;
            let log = m.ikegw.log_text();
            Ok(log.lines().any(|l| l.contains(&dead_line)).then_some(()))
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
        .find(|l| l.contains(&dead_line))
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
    kill_setup_with(initiator, DEAD_PEER)
}

fn kill_setup_with(initiator: Initiator, edit_ikegw: fn(&mut IkegwConf)) -> MixedSetup {
    MixedSetup {
        edit_ikegw,
        deadline: Duration::from_secs(60),
        ..MixedSetup::initiated_by(initiator)
    }
}

/// Establishes the tunnel, SIGKILLs charon and waits until ikegw has
/// declared it dead: the IKE SA deleted for [`DEAD_REASON`] and gone from
/// `list-sas`. Returns the old IKE SA's id and the time since the kill.
fn kill_until_declared_dead(m: &mut Mixed) -> Result<(String, Duration)> {
    m.establish()?;
    let before = m.matched_sas()?;
    m.ping(Side::Left, 1)?;
    m.charon.kill();
    let killed = std::time::Instant::now();
    let deleted = format!("ikegw::daemon::driver: IKE SA deleted: {DEAD_REASON}");
    proc::wait_for(
        "ikegw declares strongSwan dead",
        Duration::from_secs(20),
        || {
            m.ikegw.check_alive()?;
            Ok(m.ikegw.log_text().contains(&deleted).then_some(()))
        },
    )?;
    let left = m.ikegw.list_sas()?;
    if !left.is_empty() {
        return Err(Error::Check(format!(
            "ikegw still lists SAs after declaring the peer dead: {left:?}"
        )));
    }
    Ok((before.ikegw.id, killed.elapsed()))
}

/// One echo request from the LAN host behind ikegw to the one behind
/// strongSwan, waiting up to `wait` for the reply; `Ok(true)` if it came.
fn one_ping_from_ikegw_lan(m: &Mixed, wait: Duration) -> Result<bool> {
    let (ns, to) = match m.ikegw_side() {
        Side::Left => (&m.topo.left_lan, RIGHT.lan_host),
        Side::Right => (&m.topo.right_lan, LEFT.lan_host),
    };
    let out = proc::run_unchecked(
        &mut ns.command(&[
            "ping",
            "-n",
            "-c",
            "1",
            "-W",
            &wait.as_secs().max(1).to_string(),
            &to.to_string(),
        ]),
        wait.saturating_add(Duration::from_secs(5)),
        m.dir.path(),
    )?;
    Ok(out.status.success())
}

/// `dpd_action = "clear"`: once declared dead, the IKE SA is gone and
/// nothing brings it back on its own: charon returns (it never initiates),
/// ikegw logs no restart and no trap, traffic from ikegw's LAN finds no
/// tunnel and triggers nothing, and both ends stay without SAs for longer
/// than the restart back-off would take. Then `ikegw initiate` (in both
/// roles: ikegw initiates now even where strongSwan had initiated) brings
/// the tunnel back.
fn dead_peer_clear(m: &mut Mixed) -> Result<()> {
    let (old, dead_after) = kill_until_declared_dead(m)?;
    m.restart_strongswan()?;
    if one_ping_from_ikegw_lan(m, Duration::from_secs(2))? {
        return Err(Error::Check(
            "a ping from ikegw's LAN got through with dpd_action = clear and no SA".into(),
        ));
    }
    // restart's first retry would come 1 s after the close; wait well past it
    std::thread::sleep(Duration::from_secs(4));
    let (gw, ss) = (m.ikegw.list_sas()?, m.charon.list_sas()?);
    if !gw.is_empty() || !ss.is_empty() {
        return Err(Error::Check(format!(
            "dpd_action = clear re-created SAs on its own: ikegw {gw:?}, strongSwan {ss:?}"
        )));
    }
    let log = m.ikegw.log_text();
    for unwanted in [
        "): restarting",
        "installing its trap policy",
        "re-initiating",
        "initiating s2s/net on demand",
    ] {
        if log.contains(unwanted) {
            return Err(Error::Check(format!(
                "dpd_action = clear, but ikegw logged {unwanted:?}"
            )));
        }
    }
    m.ikegw.initiate("net")?;
    m.wait_up()?;
    let after = m.matched_sas()?;
    if after.ikegw.id == old {
        return Err(Error::Check(
            "the IKE SA after initiate is the old one".into(),
        ));
    }
    m.ping(Side::Left, 2)?;
    m.ping(Side::Right, 2)?;
    eprintln!(
        "dpd_action = clear: declared dead after {:.1} s, nothing re-initiated; back after \
         ikegw initiate",
        dead_after.as_secs_f64()
    );
    Ok(())
}

/// `dpd_action = "trap"`: once declared dead, ikegw installs the child's
/// trap policy (logged, pinned) and initiates nothing; after charon's
/// return both ends are still without SAs, and the first echo request
/// from ikegw's LAN raises an ACQUIRE, ikegw negotiates on demand, and
/// the packet is held and released into the new SA, so its reply comes.
fn dead_peer_trap(m: &mut Mixed) -> Result<()> {
    let (old, dead_after) = kill_until_declared_dead(m)?;
    let trap_line = format!(
        "ikegw::daemon::driver: s2s/net closed ({DEAD_REASON}): installing its trap policy"
    );
    proc::wait_for(
        "ikegw installs the trap policy",
        Duration::from_secs(5),
        || {
            let log = m.ikegw.log_text();
            let trapped = log.contains(&trap_line)
                && log
                    .lines()
                    .any(|l| l.contains("ikegw::daemon::kernel: trap policy"));
            Ok(trapped.then_some(()))
        },
    )?;
    m.restart_strongswan()?;
    std::thread::sleep(Duration::from_secs(3));
    let (gw, ss) = (m.ikegw.list_sas()?, m.charon.list_sas()?);
    if !gw.is_empty() || !ss.is_empty() {
        return Err(Error::Check(format!(
            "dpd_action = trap initiated before any traffic: ikegw {gw:?}, strongSwan {ss:?}"
        )));
    }
    if m.ikegw.log_text().contains("): restarting") {
        return Err(Error::Check(
            "dpd_action = trap, but ikegw restarted".into(),
        ));
    }
    // exactly one echo request: held by the trap, released into the new SA
    if !one_ping_from_ikegw_lan(m, Duration::from_secs(5))? {
        return Err(Error::Check(
            "the first packet after strongSwan's return did not get through the trap".into(),
        ));
    }
    let remote = match m.ikegw_side() {
        Side::Left => RIGHT.wan,
        Side::Right => LEFT.wan,
    };
    let acquire = format!("ACQUIRE for {remote}: initiating s2s/net on demand");
    if !m.ikegw.log_text().contains(&acquire) {
        return Err(Error::Check(format!("ikegw did not log {acquire:?}")));
    }
    m.wait_up()?;
    let after = m.matched_sas()?;
    if after.ikegw.id == old || after.children.len() != 1 {
        return Err(Error::Check(format!(
            "after the trap fired: old IKE SA {old}, now {} with {} CHILD SAs",
            after.ikegw.id,
            after.children.len()
        )));
    }
    m.ping(Side::Left, 2)?;
    m.ping(Side::Right, 2)?;
    eprintln!(
        "dpd_action = trap: declared dead after {:.1} s; the first packet after strongSwan's \
         return brought the tunnel back",
        dead_after.as_secs_f64()
    );
    Ok(())
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

#[test]
fn strongswan_killed_ikegw_initiated_dpd_clear() -> Result<()> {
    run_scenario(
        "strongswan_killed_ikegw_initiated_dpd_clear",
        &kill_setup_with(Initiator::Ikegw, DEAD_PEER_CLEAR),
        dead_peer_clear,
    )
}

#[test]
fn strongswan_killed_strongswan_initiated_dpd_clear() -> Result<()> {
    run_scenario(
        "strongswan_killed_strongswan_initiated_dpd_clear",
        &kill_setup_with(Initiator::StrongSwan, DEAD_PEER_CLEAR),
        dead_peer_clear,
    )
}

#[test]
fn strongswan_killed_ikegw_initiated_dpd_trap() -> Result<()> {
    run_scenario(
        "strongswan_killed_ikegw_initiated_dpd_trap",
        &kill_setup_with(Initiator::Ikegw, DEAD_PEER_TRAP),
        dead_peer_trap,
    )
}

#[test]
fn strongswan_killed_strongswan_initiated_dpd_trap() -> Result<()> {
    run_scenario(
        "strongswan_killed_strongswan_initiated_dpd_trap",
        &kill_setup_with(Initiator::StrongSwan, DEAD_PEER_TRAP),
        dead_peer_trap,
    )
}
