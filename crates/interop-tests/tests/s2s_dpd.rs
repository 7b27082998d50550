//! Liveness checks (dead peer detection, RFC 7296 §2.4) between ikegw and
//! strongSwan 5.9, each end in turn sending them: with `dpd_delay = 2s` on
//! one end and an idle tunnel for 6 s, that end must send empty
//! INFORMATIONAL requests, the other must answer each one, and the SAs must
//! survive (both ends still agree on them and traffic still flows).
//!
//! Not covered here: declaring a silent peer dead. ikegw's retransmission
//! schedule is strongSwan's default (4 s, ×1.8, 5 tries: about 165 s until
//! it gives up) and not configurable, which does not fit a 60 s scenario.

use std::net::IpAddr;
use std::time::Duration;

use interop_tests::capture::{exchange, IkeHeader, Kind};
use interop_tests::ikegw::{run_scenario, Initiator, Mixed, MixedSetup, Side};
use interop_tests::netns::{LEFT, RIGHT};
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
