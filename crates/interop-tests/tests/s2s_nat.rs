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
//!
//! Keepalives (RFC 3948 §2.3/§4): the NAT's UDP conntrack timeouts are cut
//! to [`NAT_UDP_TIMEOUT`] inside the NAT namespace, longer than ikegw's
//! keepalive period ([`KEEP_ALIVE`], `[daemon] keep_alive`, shortened from
//! strongSwan's 20 s default to keep the test short) but shorter than the
//! idle period [`IDLE`] that follows establishment. An nftables counter in the NAT namespace counts the
//! single-0xFF datagrams ikegw sends to 4500, and so does the capture on
//! ikegw's WAN. With them, a ping from strongSwan's side still reaches
//! ikegw after the idle period, and strongSwan still sees the same mapped
//! port. The control case drops exactly those datagrams at the NAT: the
//! mapping then expires, and the same ping is lost.

use std::net::SocketAddr;

use std::time::Duration;

use interop_tests::capture::Kind;
use interop_tests::ikegw::{run_scenario, Initiator, Mixed, MixedSetup, Side};
use interop_tests::netns::{Netns, LEFT, LEFT_BEHIND_NAT, NAT_PORTS, RIGHT};
use interop_tests::{Error, Result};

/// ikegw's `[daemon] keep_alive` in the keepalive tests, seconds.
const KEEP_ALIVE: u32 = 4;
/// The NAT's UDP conntrack timeouts (both the unreplied/replied and the
/// "stream" one), seconds: above ikegw's keepalive period, below
/// [`IDLE`].
const NAT_UDP_TIMEOUT: u32 = 9;
/// How long the tunnel stays idle (no ESP, no IKE) after establishment:
/// almost two mapping lifetimes, so at least three keepalives fall in it.
const IDLE: Duration = Duration::from_secs(17);

/// Whether the NAT lets ikegw's keepalives through.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Keepalives {
    Pass,
    DroppedAtNat,
}

/// Sets the NAT namespace's UDP conntrack timeouts to [`NAT_UDP_TIMEOUT`]
/// (these sysctls are per network namespace) and loads a table that counts
/// NAT-T keepalives arriving from ikegw: UDP to 4500 with a one-byte
/// payload 0xFF (UDP length 9). With `DroppedAtNat` the same rule drops
/// them. The chain sits at prerouting priority `raw` (-300), before
/// connection tracking (-200): a keepalive dropped any later would already
/// have refreshed the mapping it is meant not to refresh.
fn nat_keepalive_setup(nat: &Netns, mode: Keepalives, scratch: &std::path::Path) -> Result<()> {
    for key in [
        "net.netfilter.nf_conntrack_udp_timeout",
        "net.netfilter.nf_conntrack_udp_timeout_stream",
    ] {
        nat.sysctl(&format!("{key}={NAT_UDP_TIMEOUT}"), scratch)?;
    }
    let verdict = match mode {
        Keepalives::Pass => "",
        Keepalives::DroppedAtNat => " drop",
    };
    nat.nft(
        "keepalives",
        &format!(
            "table ip natt_ka {{
    chain ka_count {{
        type filter hook prerouting priority raw; policy accept;
        iifname \"in0\" udp dport 4500 udp length 9 @th,64,8 0xff counter{verdict}
    }}
}}
"
        ),
        scratch,
    )
}

/// The packet count of the keepalive rule in the NAT namespace.
fn nat_keepalive_count(nat: &Netns, scratch: &std::path::Path) -> Result<u64> {
    let rules = nat.nft_list(scratch)?;
    rules
        .lines()
        .find(|l| l.contains("@th,64,8 0xff"))
        .and_then(|l| {
            let mut words = l.split_whitespace();
            words.find(|w| *w == "packets")?;
            words.next()?.parse().ok()
        })
        .ok_or_else(|| Error::Check(format!("no keepalive counter in the NAT ruleset:\n{rules}")))
}

/// strongSwan's view of ikegw's (mapped) port.
fn mapped_port(m: &Mixed) -> Result<u16> {
    let sa = m.matched_sas()?;
    sa.strongswan
        .get("remote-port")
        .and_then(|p| p.parse::<u16>().ok())
        .ok_or_else(|| Error::Check(format!("no remote-port: {:?}", sa.strongswan)))
}

/// One echo request from strongSwan's LAN host to ikegw's, 3 s for the
/// reply; `Ok(true)` if it came back.
fn ping_from_strongswan_side(m: &Mixed) -> Result<bool> {
    let out = interop_tests::proc::run_unchecked(
        &mut m.topo.right_lan.command(&[
            "ping",
            "-n",
            "-c",
            "1",
            "-W",
            "3",
            &LEFT.lan_host.to_string(),
        ]),
        Duration::from_secs(10),
        m.dir.path(),
    )?;
    Ok(out.status.success())
}

fn idle_behind_nat(m: &mut Mixed, mode: Keepalives) -> Result<()> {
    let scratch = m.dir.path().to_path_buf();
    {
        let nat = m
            .topo
            .nat
            .as_ref()
            .ok_or_else(|| Error::Check("no NAT namespace".into()))?;
        nat_keepalive_setup(nat, mode, &scratch)?;
    }
    m.establish()?;
    let port_before = mapped_port(m)?;
    // the mapping works right after establishment, from either side
    m.ping(Side::Right, 1)?;
    m.ping(Side::Left, 1)?;
    std::thread::sleep(IDLE);
    let nat = m
        .topo
        .nat
        .as_ref()
        .ok_or_else(|| Error::Check("no NAT namespace".into()))?;
    let counted = nat_keepalive_count(nat, &scratch)?;
    // the first traffic after the idle period comes from strongSwan's
    // side: it needs the mapping ikegw's keepalives (alone) kept alive
    let through = ping_from_strongswan_side(m)?;
    let (pcap, packets) = m.finish_capture()?;
    let ikegw_natt: SocketAddr = (LEFT_BEHIND_NAT.wan, 4500).into();
    let strongswan_natt: SocketAddr = (RIGHT.wan, 4500).into();
    let sent = packets
        .udp
        .iter()
        .filter(|d| d.src == ikegw_natt && d.dst == strongswan_natt)
        .filter(|d| d.kind() == Kind::Keepalive)
        .count();
    let sent = u64::try_from(sent).unwrap_or(u64::MAX);
    // KEEP_ALIVE apart, from establishment on: at least three within the
    // idle time
    if sent < 3 || counted < 3 || counted > sent {
        return Err(Error::Check(format!(
            "NAT-T keepalives: {sent} sent by ikegw in {}, {counted} counted at the NAT \
             (want >= 3 in {} s)",
            pcap.display(),
            IDLE.as_secs()
        )));
    }
    match mode {
        Keepalives::Pass => {
            if !through {
                return Err(Error::Check(format!(
                    "after {} s idle, strongSwan's side no longer reaches ikegw although {counted} \
                     keepalives passed the NAT",
                    IDLE.as_secs()
                )));
            }
            let port_after = mapped_port(m)?;
            if port_after != port_before {
                return Err(Error::Check(format!(
                    "strongSwan now sees ikegw at port {port_after}, was {port_before}: the \
                     mapping was not kept"
                )));
            }
            m.ping(Side::Left, 2)?;
            eprintln!(
                "{sent} keepalives in {} s idle ({counted} through the NAT, UDP timeout {} s): \
                 mapping :{port_before} kept, strongSwan's ping got through",
                IDLE.as_secs(),
                NAT_UDP_TIMEOUT
            );
        }
        Keepalives::DroppedAtNat => {
            if through {
                return Err(Error::Check(format!(
                    "with the keepalives dropped at the NAT, strongSwan's ping still reached \
                     ikegw after {} s idle: the mapping did not expire, so the keepalive test \
                     proves nothing",
                    IDLE.as_secs()
                )));
            }
            eprintln!(
                "control: {counted} keepalives dropped at the NAT; after {} s idle the mapping \
                 :{port_before} had expired and strongSwan's ping was lost",
                IDLE.as_secs()
            );
        }
    }
    Ok(())
}

fn nat_setup(deadline: Duration) -> MixedSetup {
    MixedSetup {
        ikegw_side: Side::Left,
        initiator: Initiator::Ikegw,
        ikegw_behind_nat: true,
        deadline,
        ..MixedSetup::default()
    }
}

/// [`nat_setup`] with ikegw's keepalives every [`KEEP_ALIVE`] seconds.
fn keepalive_setup(deadline: Duration) -> MixedSetup {
    MixedSetup {
        edit_ikegw: |c| {
            c.daemon_extra
                .push_str(&format!("keep_alive = {KEEP_ALIVE}\n"));
        },
        ..nat_setup(deadline)
    }
}

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
        &nat_setup(Duration::from_secs(60)),
        behind_nat,
    )
}

#[test]
fn ikegw_keepalives_keep_the_nat_mapping_while_idle() -> Result<()> {
    run_scenario(
        "ikegw_keepalives_keep_the_nat_mapping_while_idle",
        &keepalive_setup(Duration::from_secs(60)),
        |m| idle_behind_nat(m, Keepalives::Pass),
    )
}

#[test]
fn nat_mapping_expires_when_keepalives_are_dropped() -> Result<()> {
    run_scenario(
        "nat_mapping_expires_when_keepalives_are_dropped",
        &keepalive_setup(Duration::from_secs(60)),
        |m| idle_behind_nat(m, Keepalives::DroppedAtNat),
    )
}
