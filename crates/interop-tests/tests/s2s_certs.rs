//! Certificate authentication (RFC 7296 §2.15 with signatures, RFC 7427),
//! ikegw against strongSwan 5.9 in both roles: a fresh RSA-2048 chain made
//! with strongSwan's `pki` (root → intermediate → one end entity per
//! gateway, FQDN and IP subjectAltNames). ikegw trusts the root and the
//! intermediate; strongSwan has both in `x509ca/`.
//!
//! Checked: both ends authenticate the other's certificate identity
//! (strongSwan's log names the signature scheme it verified), the ends
//! agree on the SAs (SPIs crossed), pings both ways and a 1 MiB transfer go
//! through. With RSA-2048 certificates IKE_AUTH (about 1.4 KB) is larger
//! than both ends' fragment size (1280 bytes by default), so both the
//! request and the response must cross the WAN as RFC 7383 Encrypted
//! Fragments (SKF), sent by one implementation and reassembled by the other.

use std::time::Duration;

use interop_tests::capture::{exchange, IkeHeader, Kind, PAYLOAD_SKF};
use interop_tests::ikegw::{run_scenario, Initiator, Mixed, MixedSetup, Side};
use interop_tests::{Error, Result};

fn certificates(m: &mut Mixed) -> Result<()> {
    m.establish()?;
    let sa = m.matched_sas()?;
    let (gw_id, ss_id) = match m.ikegw_side() {
        Side::Left => ("left.interop.example", "right.interop.example"),
        Side::Right => ("right.interop.example", "left.interop.example"),
    };
    if sa.strongswan.get("remote-id") != Some(gw_id) || sa.ikegw.remote_id != ss_id {
        return Err(Error::Check(format!(
            "identities: strongSwan sees {:?}, ikegw sees {}",
            sa.strongswan.get("remote-id"),
            sa.ikegw.remote_id
        )));
    }
    let log = m.charon.log_text();
    let verified = format!("authentication of '{gw_id}' with RSA");
    if !log
        .lines()
        .any(|l| l.contains(&verified) && l.contains("successful"))
    {
        return Err(Error::Check(format!(
            "strongSwan did not log a successful RSA signature check of {gw_id}"
        )));
    }
    m.ping(Side::Left, 3)?;
    m.ping(Side::Right, 3)?;
    m.bulk_transfer(1024 * 1024, 5005)?;
    let (_, packets) = m.finish_capture()?;
    let auth: Vec<IkeHeader> = packets
        .udp
        .iter()
        .filter_map(|d| match d.kind() {
            Kind::Ike(msg) => IkeHeader::peek(msg),
            _ => None,
        })
        .filter(|h| h.exchange == exchange::IKE_AUTH)
        .collect();
    let frags = |response: bool| {
        auth.iter()
            .filter(|h| h.is_response() == response && h.next_payload == PAYLOAD_SKF)
            .count()
    };
    let (req, resp) = (frags(false), frags(true));
    if req < 2 || resp < 2 {
        return Err(Error::Check(format!(
            "IKE_AUTH not fragmented both ways: {req} request / {resp} response fragments; {:?}",
            auth.iter().map(IkeHeader::describe).collect::<Vec<_>>()
        )));
    }
    eprintln!(
        "certificates: {gw_id} <-> {ss_id} authenticated; IKE_AUTH in {req} + {resp} fragments"
    );
    Ok(())
}

fn setup(initiator: Initiator) -> MixedSetup {
    MixedSetup {
        ikegw_side: match initiator {
            Initiator::Ikegw => Side::Left,
            Initiator::StrongSwan => Side::Right,
        },
        initiator,
        certificates: true,
        deadline: Duration::from_secs(60),
        ..MixedSetup::default()
    }
}

#[test]
fn rsa_certificates_ikegw_initiates() -> Result<()> {
    run_scenario(
        "rsa_certificates_ikegw_initiates",
        &setup(Initiator::Ikegw),
        certificates,
    )
}

#[test]
fn rsa_certificates_strongswan_initiates() -> Result<()> {
    run_scenario(
        "rsa_certificates_strongswan_initiates",
        &setup(Initiator::StrongSwan),
        certificates,
    )
}
