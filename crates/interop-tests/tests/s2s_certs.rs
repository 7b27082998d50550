//! Certificate authentication (RFC 7296 §2.15 with signatures, RFC 7427),
//! ikegw against strongSwan 5.9 in both roles: a fresh RSA-2048, ECDSA P-256 or Ed25519
//! chain made with strongSwan's `pki` (root → intermediate → one end entity per
//! gateway, FQDN and IP subjectAltNames). ikegw trusts the root and the
//! intermediate; strongSwan has both in `x509ca/`. The ECDSA P-256 chain is
//! also made with `ikegw pki` (`pki ca`, `pki issue --profile ca`, `pki
//! issue`), which strongSwan must accept as it accepts its own.
//!
//! RSA-PSS (issue #8 scenario 3) runs both directions: charon signs with
//! `rsa_pss = yes` and ikegw verifies, and ikegw signs RFC 7427 RSASSA-PSS
//! (RFC 4055 parameters) and charon logs that it verified an RSA_EMSA_PSS
//! signature; ikegw is told so by `[daemon] rsa_pss = true` when it
//! initiates and by `local.auth = "rsa/pss"` when it responds.
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
use interop_tests::strongswan::{CharonOptions, KeyKind};
use interop_tests::{Error, Result};

fn certificates(m: &mut Mixed, kind: KeyKind) -> Result<()> {
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
    let word = kind.charon_auth_word();
    let verified = format!("authentication of '{gw_id}' with {word}");
    if !log
        .lines()
        .any(|l| l.contains(&verified) && l.contains("successful"))
    {
        return Err(Error::Check(format!(
            "strongSwan did not log a successful {word} signature check of {gw_id}"
        )));
    }
    if kind == KeyKind::RsaPss {
        // ikegw accepted the established SA, so it verified charon's
        // RSASSA-PSS AUTH signature and the PSS-signed chain
        let mine = format!("authentication of '{ss_id}' (myself) with RSA_EMSA_PSS");
        if !log
            .lines()
            .any(|l| l.contains(&mine) && l.contains("successful"))
        {
            return Err(Error::Check(
                "strongSwan did not sign with RSASSA-PSS".into(),
            ));
        }
        // and ikegw (daemon rsa_pss = true) signed its own AUTH with
        // RSASSA-PSS, which charon names by its padding, not PKCS#1
        let theirs = format!("authentication of '{gw_id}' with RSA_EMSA_PSS");
        if !log
            .lines()
            .any(|l| l.contains(&theirs) && l.contains("successful"))
        {
            return Err(Error::Check(format!(
                "strongSwan did not verify an RSASSA-PSS signature from ikegw: {:?}",
                log.lines()
                    .filter(|l| l.contains(&format!("authentication of '{gw_id}'")))
                    .collect::<Vec<_>>()
            )));
        }
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
    // only the RSA chain is large enough to need RFC 7383 fragments
    if matches!(kind, KeyKind::Rsa2048 | KeyKind::RsaPss) && (req < 2 || resp < 2) {
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

fn setup(initiator: Initiator, cert_key: KeyKind) -> MixedSetup {
    MixedSetup {
        certificates: true,
        cert_key,
        charon: CharonOptions {
            // charon signs with RSASSA-PSS only when told to
            extra: if cert_key == KeyKind::RsaPss {
                "    rsa_pss = yes\n".into()
            } else {
                String::new()
            },
            ..CharonOptions::default()
        },
        // and so does ikegw: as initiator with strongswan.conf's setting
        // under [daemon], as responder with swanctl's per-round `rsa/pss`
        edit_ikegw: match (cert_key, initiator) {
            (KeyKind::RsaPss, Initiator::Ikegw) => |c| c.daemon_extra.push_str("rsa_pss = true\n"),
            (KeyKind::RsaPss, Initiator::StrongSwan) => |c| c.local_auth = Some("rsa/pss".into()),
            _ => |_| {},
        },
        deadline: Duration::from_secs(60),
        ..MixedSetup::initiated_by(initiator)
    }
}

/// Runs scenario `name`: [`certificates`] with `key` certificates, the
/// IKE SA started by `initiator`.
fn certificates_test(name: &str, initiator: Initiator, key: KeyKind) -> Result<()> {
    run_scenario(name, &setup(initiator, key), |m| certificates(m, key))
}

#[test]
fn rsa_certificates_ikegw_initiates() -> Result<()> {
    certificates_test(
        "rsa_certificates_ikegw_initiates",
        Initiator::Ikegw,
        KeyKind::Rsa2048,
    )
}

#[test]
fn rsa_certificates_strongswan_initiates() -> Result<()> {
    certificates_test(
        "rsa_certificates_strongswan_initiates",
        Initiator::StrongSwan,
        KeyKind::Rsa2048,
    )
}

#[test]
fn ecdsa_p256_certificates_ikegw_initiates() -> Result<()> {
    certificates_test(
        "ecdsa_p256_certificates_ikegw_initiates",
        Initiator::Ikegw,
        KeyKind::EcdsaP256,
    )
}

#[test]
fn ecdsa_p256_certificates_strongswan_initiates() -> Result<()> {
    certificates_test(
        "ecdsa_p256_certificates_strongswan_initiates",
        Initiator::StrongSwan,
        KeyKind::EcdsaP256,
    )
}

#[test]
fn ed25519_certificates_ikegw_initiates() -> Result<()> {
    certificates_test(
        "ed25519_certificates_ikegw_initiates",
        Initiator::Ikegw,
        KeyKind::Ed25519,
    )
}

#[test]
fn ed25519_certificates_strongswan_initiates() -> Result<()> {
    certificates_test(
        "ed25519_certificates_strongswan_initiates",
        Initiator::StrongSwan,
        KeyKind::Ed25519,
    )
}

#[test]
fn rsa_pss_certificates_ikegw_initiates() -> Result<()> {
    certificates_test(
        "rsa_pss_certificates_ikegw_initiates",
        Initiator::Ikegw,
        KeyKind::RsaPss,
    )
}

#[test]
fn rsa_pss_certificates_strongswan_initiates() -> Result<()> {
    certificates_test(
        "rsa_pss_certificates_strongswan_initiates",
        Initiator::StrongSwan,
        KeyKind::RsaPss,
    )
}

/// Scenario 2 with the chain made by `ikegw pki`: root and intermediate CA
/// (pathLen 0, keyCertSign/cRLSign, SKI/AKI) and both end entities.
fn ikegw_pki_setup(initiator: Initiator) -> MixedSetup {
    MixedSetup {
        ikegw_pki: true,
        ..setup(initiator, KeyKind::EcdsaP256)
    }
}

/// On top of [`certificates`]: charon built the path to the root made by
/// `ikegw pki` through its intermediate.
fn ikegw_pki_chain(m: &mut Mixed) -> Result<()> {
    certificates(m, KeyKind::EcdsaP256)?;
    let log = m.charon.log_text();
    let inter = "CN=ikegw interop intermediate CA";
    if !log
        .lines()
        .any(|l| l.contains("intermediate ca certificate") && l.contains(inter))
    {
        return Err(Error::Check(format!(
            "charon did not use the intermediate CA made by ikegw pki ({inter})"
        )));
    }
    Ok(())
}

#[test]
fn ecdsa_p256_ikegw_pki_chain_ikegw_initiates() -> Result<()> {
    run_scenario(
        "ecdsa_p256_ikegw_pki_chain_ikegw_initiates",
        &ikegw_pki_setup(Initiator::Ikegw),
        ikegw_pki_chain,
    )
}

#[test]
fn ecdsa_p256_ikegw_pki_chain_strongswan_initiates() -> Result<()> {
    run_scenario(
        "ecdsa_p256_ikegw_pki_chain_strongswan_initiates",
        &ikegw_pki_setup(Initiator::StrongSwan),
        ikegw_pki_chain,
    )
}
