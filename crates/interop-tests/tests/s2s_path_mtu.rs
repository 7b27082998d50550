//! Issue #8 scenario 7 over a real 1280-byte path: RSA-2048 certificate
//! chains make IKE_AUTH (~1.4 KB) larger than the path, the WAN links of
//! both gateways have MTU 1280, and both gateways drop every IP fragment
//! they receive (as many middleboxes and NATs do), so an IKE_AUTH message
//! only arrives if it was split by RFC 7383 into IKE fragments that each
//! fit the path.
//!
//! - With fragmentation at both ends (strongSwan's default, ikegw's
//!   default), the IKE SA comes up in both roles, the capture shows the
//!   IKE_AUTH request and response as SKF fragments, every IKE datagram on
//!   the wire fits 1280 bytes, and pings pass through the tunnel.
//! - Control: strongSwan with `fragmentation = no` sends its IKE_AUTH
//!   whole; the kernel splits it into IP fragments, the receiving gateway
//!   drops them, and the IKE SA never comes up. This shows the path really
//!   needs RFC 7383, so the first test cannot pass by accident.

use std::time::Duration;

use interop_tests::capture::{exchange, IkeHeader, Kind};
use interop_tests::ikegw::{run_scenario, Initiator, Mixed, MixedSetup, Side};
use interop_tests::strongswan::KeyKind;
use interop_tests::{Error, Result};

/// The path MTU of both WAN links.
const PATH_MTU: u32 = 1280;
/// The next-payload value of an SKF payload (RFC 7383 §2.5).
const PAYLOAD_SKF: u8 = 53;

/// Sets MTU 1280 on both gateways' WAN links and makes both drop IP
/// fragments before reassembly (conntrack defragments at priority -400).
fn narrow_path(m: &Mixed) -> Result<()> {
    let scratch = m.dir.path();
    for ns in [&m.topo.left, &m.topo.right] {
        ns.ip(
            &["link", "set", "wan0", "mtu", &PATH_MTU.to_string()],
            scratch,
        )?;
        ns.nft(
            "nofrag",
            "table ip nofrag {\n  chain pre {\n    type filter hook prerouting priority -450;\n    \
             ip frag-off & 0x3fff != 0 counter drop\n  }\n}\n",
            scratch,
        )?;
    }
    Ok(())
}

/// IP fragments dropped at both gateways so far.
fn fragments_dropped(m: &Mixed) -> Result<u64> {
    let mut total = 0;
    for ns in [&m.topo.left, &m.topo.right] {
        let rules = ns.nft_list(m.dir.path())?;
        let n = rules
            .lines()
            .find(|l| l.contains("frag-off") && l.contains("counter"))
            .and_then(|l| {
                let w: Vec<&str> = l.split_whitespace().collect();
                w.iter()
                    .position(|x| *x == "packets")
                    .and_then(|i| w.get(i + 1))
                    .and_then(|v| v.parse::<u64>().ok())
            })
            .ok_or_else(|| Error::Check(format!("no fragment counter in:\n{rules}")))?;
        total += n;
    }
    Ok(total)
}

fn over_narrow_path(m: &mut Mixed) -> Result<()> {
    narrow_path(m)?;
    m.establish()?;
    m.matched_sas()?;
    m.ping(Side::Left, 3)?;
    m.ping(Side::Right, 3)?;
    let (_, packets) = m.finish_capture()?;
    let mut largest = 0;
    let mut auth = Vec::new();
    for d in &packets.udp {
        if let Kind::Ike(msg) = d.kind() {
            // the IP packet: 20 bytes of IPv4 and 8 of UDP around the
            // datagram, plus the 4-byte non-ESP marker on port 4500
            let marker = if d.dst.port() == 4500 { 4 } else { 0 };
            largest = largest.max(msg.len() + marker + 28);
            if let Some(h) = IkeHeader::peek(msg) {
                if h.exchange == exchange::IKE_AUTH {
                    auth.push(h);
                }
            }
        }
    }
    let frags = |response: bool| {
        auth.iter()
            .filter(|h| h.is_response() == response && h.next_payload == PAYLOAD_SKF)
            .count()
    };
    let (req, resp) = (frags(false), frags(true));
    if req < 2 || resp < 2 {
        return Err(Error::Check(format!(
            "IKE_AUTH not in RFC 7383 fragments both ways: {req} request / {resp} response"
        )));
    }
    if largest > PATH_MTU as usize {
        return Err(Error::Check(format!(
            "an IKE packet of {largest} bytes exceeds the {PATH_MTU}-byte path"
        )));
    }
    eprintln!(
        "path MTU {PATH_MTU}: IKE_AUTH in {req} + {resp} fragments, largest IKE packet {largest} bytes, {} IP fragments dropped",
        fragments_dropped(m)?
    );
    Ok(())
}

fn whole_ike_auth_is_lost(m: &mut Mixed) -> Result<()> {
    narrow_path(m)?;
    let _ = m.initiate();
    // Long enough for the IKE_AUTH exchange and a few retransmissions.
    std::thread::sleep(Duration::from_secs(8));
    let up = m.ikegw.list_sas()?.iter().any(|s| s.state == "ESTABLISHED");
    if up {
        return Err(Error::Check(
            "the IKE SA came up although strongSwan sent IKE_AUTH unfragmented over a path that drops IP fragments".into(),
        ));
    }
    let dropped = fragments_dropped(m)?;
    if dropped == 0 {
        return Err(Error::Check(
            "no IP fragment was dropped: the control did not exercise the path".into(),
        ));
    }
    eprintln!("control: IKE SA not up, {dropped} IP fragments dropped");
    Ok(())
}

fn setup(initiator: Initiator) -> MixedSetup {
    MixedSetup {
        certificates: true,
        cert_key: KeyKind::Rsa2048,
        deadline: Duration::from_secs(60),
        ..MixedSetup::initiated_by(initiator)
    }
}

#[test]
fn rsa_chain_over_a_1280_byte_path_ikegw_initiates() -> Result<()> {
    run_scenario(
        "path_mtu_ikegw_initiates",
        &setup(Initiator::Ikegw),
        over_narrow_path,
    )
}

#[test]
fn rsa_chain_over_a_1280_byte_path_strongswan_initiates() -> Result<()> {
    run_scenario(
        "path_mtu_strongswan_initiates",
        &setup(Initiator::StrongSwan),
        over_narrow_path,
    )
}

#[test]
fn without_rfc7383_the_narrow_path_loses_ike_auth() -> Result<()> {
    run_scenario(
        "path_mtu_control",
        &MixedSetup {
            edit_strongswan: |c| c.extra_conn.push_str("fragmentation = no\n"),
            ..setup(Initiator::Ikegw)
        },
        whole_ike_auth_is_lost,
    )
}
