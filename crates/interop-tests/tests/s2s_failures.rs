//! Issue #8 scenario 9: configurations that must NOT come up, ikegw
//! against strongSwan 5.9 in both roles, each with its Notify on the wire
//! and the line ikegw logs for the operator pinned:
//!
//! - IKE proposal mismatch → NO_PROPOSAL_CHOSEN (RFC 7296 §2.7), no IKE SA;
//! - wrong pre-shared key → AUTHENTICATION_FAILED (RFC 7296 §2.21.2), no
//!   IKE SA;
//! - unknown CA: ikegw trusts an unrelated chain, strongSwan's certificate
//!   cannot be verified → AUTHENTICATION_FAILED, no IKE SA;
//! - traffic selector mismatch → TS_UNACCEPTABLE (RFC 7296 §2.9): the IKE
//!   SA is established, the CHILD SA is refused.
//!
//! strongSwan's own log names the Notify it sent or received (`N(NO_PROP)`,
//! `N(AUTH_FAILED)`, `N(TS_UNACCEPT)`); for IKE_SA_INIT the Notify is also
//! read from the capture with `ike::wire`. Afterwards neither end holds a
//! CHILD SA and ikegw still answers on its control socket.

use std::time::Duration;

use ike::wire::{Message, NotifyType, Payload};
use interop_tests::capture::Kind;
use interop_tests::ikegw::{run_scenario, IkegwConf, Initiator, Mixed, MixedSetup};
use interop_tests::proc;
use interop_tests::strongswan::KeyKind;
use interop_tests::{Error, Result};

/// How a configuration is refused.
#[derive(Clone, Copy, Debug)]
enum Refusal {
    /// IKE_SA_INIT refused with NO_PROPOSAL_CHOSEN, in clear on the wire.
    NoProposal,
    /// IKE_AUTH refused with AUTHENTICATION_FAILED (encrypted).
    AuthFailed,
    /// The CHILD SA refused with TS_UNACCEPTABLE; the IKE SA stays.
    TsUnacceptable,
}

impl Refusal {
    /// strongSwan's short name of the Notify in its `parsed ...` or
    /// `generating ...` log line.
    fn strongswan_notify(self) -> &'static str {
        match self {
            Self::NoProposal => "N(NO_PROP)",
            Self::AuthFailed => "N(AUTH_FAILED)",
            Self::TsUnacceptable => "N(TS_UNACCEPT)",
        }
    }

    /// The Notify, when it travels in clear (IKE_SA_INIT).
    fn wire_notify(self) -> Option<NotifyType> {
        match self {
            Self::NoProposal => Some(NotifyType::NO_PROPOSAL_CHOSEN),
            Self::AuthFailed | Self::TsUnacceptable => None,
        }
    }

    /// Whether the IKE SA survives (TS_UNACCEPTABLE only refuses the CHILD SA).
    fn ike_sa_survives(self) -> bool {
        matches!(self, Self::TsUnacceptable)
    }
}

fn setup(initiator: Initiator, edit_ikegw: fn(&mut IkegwConf)) -> MixedSetup {
    MixedSetup {
        edit_ikegw,
        deadline: Duration::from_secs(60),
        ..MixedSetup::initiated_by(initiator)
    }
}

/// Runs scenario `name` with `setup`, which must be refused as `how`
/// says, with each of `ikegw_log` (substrings) in ikegw's log.
fn expect_refused(name: &str, setup: &MixedSetup, how: Refusal, ikegw_log: &[&str]) -> Result<()> {
    run_scenario(name, setup, |m| refused(m, how, ikegw_log))
}

fn refused(m: &mut Mixed, how: Refusal, ikegw_log: &[&str]) -> Result<()> {
    let outcome = m.initiate();
    match (m.initiator(), &outcome) {
        // swanctl --initiate waits for the CHILD SA and must report failure
        (Initiator::StrongSwan, Ok(())) => {
            return Err(Error::Check(
                "swanctl --initiate succeeded against a mismatched ikegw".into(),
            ))
        }
        (Initiator::StrongSwan, Err(_)) => {}
        (Initiator::Ikegw, r) => r
            .as_ref()
            .map(drop)
            .map_err(|e| Error::Check(format!("ikegw initiate was not even started: {e}")))?,
    }
    // ikegw's operator-facing lines
    proc::wait_for("ikegw logs the failure", Duration::from_secs(15), || {
        m.ikegw.check_alive()?;
        let log = m.ikegw.log_text();
        Ok(ikegw_log.iter().all(|l| log.contains(l)).then_some(()))
    })
    .map_err(|err| Error::Check(format!("ikegw did not log all of {ikegw_log:?}: {err}")))?;
    // strongSwan's side of the story
    proc::wait_for(
        "strongSwan logs the Notify",
        Duration::from_secs(10),
        || {
            let log = m.charon.log_text();
            Ok(log
                .lines()
                .any(|l| {
                    (l.contains(" parsed ") || l.contains(" generating "))
                        && l.contains(how.strongswan_notify())
                })
                .then_some(()))
        },
    )
    .map_err(|err| {
        Error::Check(format!(
            "strongSwan's log has no message carrying {}: {err}",
            how.strongswan_notify()
        ))
    })?;
    // no CHILD SA anywhere; the IKE SA only where the failure is CHILD-level
    let gw = m.ikegw.list_sas()?;
    let ss = m.charon.list_sas()?;
    let gw_children: usize = gw.iter().map(|s| s.children.len()).sum();
    let ss_children = ss.iter().flat_map(|s| s.child_sas()).count();
    let gw_up = gw.iter().filter(|s| s.state == "ESTABLISHED").count();
    let ss_up = ss
        .iter()
        .filter(|s| s.get("state") == Some("ESTABLISHED"))
        .count();
    let want_up = usize::from(how.ike_sa_survives());
    if gw_children != 0 || ss_children != 0 || gw_up != want_up || ss_up != want_up {
        return Err(Error::Check(format!(
            "after the failure: ikegw {gw_up} IKE / {gw_children} CHILD SAs, strongSwan \
             {ss_up} IKE / {ss_children} CHILD SAs (want {want_up} IKE, 0 CHILD)"
        )));
    }
    // the clear-text Notify, from the wire
    if let Some(want) = how.wire_notify() {
        let (pcap, packets) = m.finish_capture()?;
        let seen = packets.udp.iter().any(|d| match d.kind() {
            Kind::Ike(msg) => Message::parse(msg).is_ok_and(|m| {
                m.payloads
                    .iter()
                    .any(|p| matches!(p, Payload::Notify(n) if n.notify_type == want))
            }),
            _ => false,
        });
        if !seen {
            return Err(Error::Check(format!(
                "no {want:?} Notify on the WAN ({})",
                pcap.display()
            )));
        }
    }
    Ok(())
}

const NO_PROPOSAL: fn(&mut IkegwConf) = |c| {
    // strongSwan offers only AES-GCM-256/SHA384/X25519
    c.proposals = vec!["aes128-sha256-prfsha256-ecp384".into()];
};
const WRONG_PSK: fn(&mut IkegwConf) = |c| {
    c.psk = "not-the-key-strongswan-has-0123456789".into();
};
const WRONG_TS: fn(&mut IkegwConf) = |c| {
    // strongSwan protects 10.x.0.0/24 behind it, not this
    c.remote_ts = vec!["10.99.0.0/24".into()];
};

#[test]
fn proposal_mismatch_ikegw_initiates() -> Result<()> {
    expect_refused(
        "proposal_mismatch_ikegw_initiates",
        &setup(Initiator::Ikegw, NO_PROPOSAL),
        Refusal::NoProposal,
        &[
            "IKE SA s2s/net failed: peer sent NO_PROPOSAL_CHOSEN; make `proposals` \
             (IKE) and `esp_proposals` (CHILD) share at least one algorithm set with \
             the peer",
        ],
    )
}

#[test]
fn proposal_mismatch_strongswan_initiates() -> Result<()> {
    expect_refused(
        "proposal_mismatch_strongswan_initiates",
        &setup(Initiator::StrongSwan, NO_PROPOSAL),
        Refusal::NoProposal,
        &[
            // at INFO: a refused proposal is a mismatch the operator must see
            "INFO ikegw::daemon::driver: refused: no proposal chosen: peer offered \
             AES_GCM_16_256/PRF_HMAC_SHA2_384/CURVE_25519, we accept \
             AES_CBC_128/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/ECP_384",
        ],
    )
}

#[test]
fn wrong_psk_ikegw_initiates() -> Result<()> {
    expect_refused(
        "wrong_psk_ikegw_initiates",
        &setup(Initiator::Ikegw, WRONG_PSK),
        Refusal::AuthFailed,
        &[
            "IKE SA s2s/net failed: peer sent AUTHENTICATION_FAILED; check that both \
             sides have the same shared key in [secrets.ike.*] and that local.id / \
             remote.id match the peer's",
        ],
    )
}

#[test]
fn wrong_psk_strongswan_initiates() -> Result<()> {
    expect_refused(
        "wrong_psk_strongswan_initiates",
        &setup(Initiator::StrongSwan, WRONG_PSK),
        Refusal::AuthFailed,
        &[
            "IKE SA (as responder) failed: authentication failed: AUTH payload of \
             strongswan.interop.example does not verify; check that both sides have \
             the same shared key",
        ],
    )
}

/// Why ikegw rejects strongSwan's certificate chain in the unknown-CA
/// scenarios, as it logs it after "IKE SA ... failed: authentication
/// failed: ".
const NO_TRUST_ANCHOR: &str = "peer certificate rejected: no trust anchor: \
     the chain reaches CA 'C=XX, O=ikegw interop, CN=ikegw interop intermediate CA', \
     issued by 'C=XX, O=ikegw interop, CN=ikegw interop root CA', which is not one \
     of our trust anchors; if you trust 'C=XX, O=ikegw interop, CN=ikegw interop \
     root CA', add its certificate to connections.s2s.remote.cacerts";

/// Certificates on both ends (ECDSA P-256, quick to make), but ikegw trusts
/// only an unrelated root and intermediate.
fn unknown_ca_setup(initiator: Initiator) -> MixedSetup {
    MixedSetup {
        certificates: true,
        cert_key: KeyKind::EcdsaP256,
        ikegw_foreign_ca: true,
        ..setup(initiator, |_| {})
    }
}

#[test]
fn unknown_ca_ikegw_initiates() -> Result<()> {
    expect_refused(
        "unknown_ca_ikegw_initiates",
        &unknown_ca_setup(Initiator::Ikegw),
        Refusal::AuthFailed,
        &[&format!(
            "IKE SA s2s/net failed: authentication failed: {NO_TRUST_ANCHOR}"
        )],
    )
}

#[test]
fn unknown_ca_strongswan_initiates() -> Result<()> {
    expect_refused(
        "unknown_ca_strongswan_initiates",
        &unknown_ca_setup(Initiator::StrongSwan),
        Refusal::AuthFailed,
        &[&format!(
            "IKE SA (as responder) failed: authentication failed: {NO_TRUST_ANCHOR}"
        )],
    )
}

#[test]
fn ts_mismatch_ikegw_initiates() -> Result<()> {
    expect_refused(
        "ts_mismatch_ikegw_initiates",
        &setup(Initiator::Ikegw, WRONG_TS),
        Refusal::TsUnacceptable,
        &[
            "IKE SA s2s/net established: 198.51.100.1:4500 <-> 198.51.100.2:4500",
            "CHILD SA failed: peer sent TS_UNACCEPTABLE",
        ],
    )
}

#[test]
fn ts_mismatch_strongswan_initiates() -> Result<()> {
    expect_refused(
        "ts_mismatch_strongswan_initiates",
        &setup(Initiator::StrongSwan, WRONG_TS),
        Refusal::TsUnacceptable,
        &[
            "CHILD SA failed: traffic selectors unacceptable: peer proposed \
             10.1.0.0/24 === 10.2.0.0/24, we allow 10.99.0.0/24 === 10.2.0.0/24",
            "IKE SA s2s/net established: 198.51.100.2:4500 <-> 198.51.100.1:4500",
        ],
    )
}
