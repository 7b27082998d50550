//! The crate's error type, split by who is to blame (STYLE §5), and the one
//! table that maps errors to IKE Notify types ([`Error::notify`]).
//!
//! Whether a Notify is actually sent (protected, unprotected or not at all,
//! RFC 7296 §2.21) is decided in `sa::endpoint`, never where the error is
//! raised.

use crate::crypto::{Blame, CryptoError};
use crate::policy::proposal::{NoProposalChosen, ProposalParseError, ResponseError};
use crate::policy::ts::TsParseError;
use crate::wire::{AuthMethod, ExchangeType, KeMethod, NotifyType, PayloadType, Reason, WireError};

/// Every error of the IKE core.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes could not be decoded.
    #[error("invalid message: {0}")]
    InvalidMessage(#[from] WireError),
    /// Decoded, but breaks the protocol.
    #[error("peer misbehaved: {0}")]
    PeerMisbehaved(#[from] PeerMisbehaved),
    /// Valid, but we cannot agree.
    #[error("{0}")]
    PeerIncompatible(#[from] PeerIncompatible),
    /// Authentication failed.
    #[error("authentication failed: {0}")]
    AuthFailed(#[from] AuthFailure),
    /// Our own configuration, crypto backend or kernel.
    #[error("local error: {0}")]
    Local(#[from] LocalError),
}

/// The peer broke the protocol (RFC 7296 §2.21.1 / §2.21.2).
#[derive(Debug, thiserror::Error)]
pub enum PeerMisbehaved {
    /// A payload the exchange requires is absent.
    #[error("{exchange} message lacks a {payload} payload")]
    MissingPayload {
        /// The exchange.
        exchange: ExchangeType,
        /// The payload type.
        payload: PayloadType,
    },
    /// The responder's SA does not answer our offer.
    #[error("{0}")]
    BadProposalResponse(#[from] ResponseError),
    /// The KE payload's group differs from the chosen one.
    #[error("KE payload uses {got}, the chosen proposal has {chosen}")]
    KeGroupMismatch {
        /// Group of the KE payload.
        got: KeMethod,
        /// Group of the chosen proposal.
        chosen: KeMethod,
    },
    /// The responder widened our traffic selectors (RFC 7296 §2.9).
    #[error("traffic selectors in the response are not inside the ones we proposed")]
    TsWidened,
    /// Crypto failure caused by the peer's data (bad point, bad ICV).
    #[error("{0}")]
    Crypto(CryptoError),
    /// A message of an exchange we do not handle in this state.
    #[error("unexpected {0} message in this state")]
    UnexpectedExchange(ExchangeType),
    /// An IKE_SA_INIT response with a zero responder SPI and no error.
    #[error("IKE_SA_INIT response has a zero responder SPI")]
    ZeroSpi,
    /// A notify whose data has the wrong length.
    #[error("{0} notify data has the wrong length")]
    BadNotifyData(NotifyType),
    /// An INVALID_KE_PAYLOAD naming a group we did not offer, or the one we used.
    #[error("INVALID_KE_PAYLOAD asks for {0}, which we cannot use")]
    BadInvalidKe(KeMethod),
    /// A fragmented message announces more fragments or bytes than we
    /// reassemble (RFC 7383 §2.6).
    #[error("fragmented message too large ({0} fragments)")]
    TooManyFragments(u16),
    /// Too many COOKIE or INVALID_KE round trips.
    #[error("too many IKE_SA_INIT retries")]
    TooManyRetries,
    /// A configuration attribute whose value has the wrong length for its
    /// type (RFC 7296 §3.15.1), or an address of the wrong family.
    #[error("CP attribute {attr} has a malformed {len}-byte value")]
    BadCpAttribute {
        /// The attribute type.
        attr: crate::wire::CpAttributeType,
        /// Its value length.
        len: usize,
    },
}

/// The peer is well-behaved but we cannot agree with it.
#[derive(Debug, thiserror::Error)]
pub enum PeerIncompatible {
    /// No proposal in common (RFC 7296 §2.7).
    #[error("{0}")]
    NoProposalChosen(#[from] NoProposalChosen),
    /// The peer's KE payload uses another group than the one we choose
    /// (RFC 7296 §1.2); the value is the group to ask for.
    #[error("KE payload group not accepted, asking for {0}")]
    InvalidKe(KeMethod),
    /// Traffic selector narrowing left nothing (RFC 7296 §2.9).
    #[error("traffic selectors unacceptable: peer proposed {proposed}, we allow {allowed}")]
    TsUnacceptable {
        /// What the peer proposed.
        proposed: String,
        /// What we are configured for.
        allowed: String,
    },
    /// A REKEY_SA names no CHILD_SA of ours (RFC 7296 §1.3.3).
    #[error("REKEY_SA names no CHILD_SA of ours")]
    ChildSaNotFound,
    /// The peer answered with this error notify.
    #[error("peer sent {0}")]
    PeerRejected(NotifyType),
    /// No virtual IP could be assigned to the peer (RFC 7296 §2.19,
    /// §3.10.1 INTERNAL_ADDRESS_FAILURE); the value says why.
    #[error("no virtual IP: {0}")]
    AddressUnavailable(String),
    /// Our policy assigns virtual IPs but the peer sent no CFG_REQUEST
    /// (RFC 7296 §3.10.1 FAILED_CP_REQUIRED).
    #[error("peer sent no configuration request, but this connection assigns virtual IPs")]
    CpRequired,
}

/// Authentication failures (RFC 7296 §2.15).
#[derive(Debug, thiserror::Error)]
pub enum AuthFailure {
    /// The AUTH value does not verify.
    #[error("AUTH payload of {0} does not verify")]
    Mismatch(String),
    /// No configuration accepts this identity.
    #[error("no configuration for peer identity {0}")]
    UnknownPeer(String),
    /// The responder's identity is not the one configured.
    #[error("peer identity {got} is not the expected {expected}")]
    IdMismatch {
        /// Configured.
        expected: String,
        /// Received.
        got: String,
    },
    /// The peer's certificate was not accepted.
    #[error("peer certificate rejected: {0}")]
    Certificate(String),
    /// An AUTH method we are not configured for.
    #[error("AUTH method {0} not accepted")]
    Method(AuthMethod),
    /// EAP inside IKE_AUTH failed (RFC 7296 §2.16): a bad password, an
    /// unknown user, or a broken EAP conversation.
    #[error("{0}")]
    Eap(crate::sa::EapError),
}

/// Errors on our side: configuration, crypto backend, resources.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    /// A proposal string in the configuration.
    #[error("{}", .0.message())]
    Proposal(#[from] ProposalParseError),
    /// A traffic selector in the configuration.
    #[error("{0}")]
    Ts(#[from] TsParseError),
    /// The crypto layer failed on our side (unsupported algorithm, RNG).
    #[error("{0}")]
    Crypto(CryptoError),
    /// A configuration value is unusable.
    #[error("configuration: {0}")]
    Config(&'static str),
    /// A message would not encode.
    #[error("encoding our message failed: {0}")]
    Emit(WireError),
    /// The peer stopped answering (RFC 7296 §2.4).
    #[error("peer did not answer after {0} transmissions")]
    Timeout(u32),
    /// No such IKE SA or CHILD_SA.
    #[error("no such SA")]
    NoSuchSa,
    /// An exchange is already running on this IKE SA.
    #[error("an exchange is already in progress")]
    Busy,
}

impl From<CryptoError> for Error {
    /// Crypto errors split by [`CryptoError::blame`].
    fn from(e: CryptoError) -> Self {
        match e.blame() {
            Blame::Peer => Self::PeerMisbehaved(PeerMisbehaved::Crypto(e)),
            Blame::Local => Self::Local(LocalError::Crypto(e)),
        }
    }
}

impl From<ProposalParseError> for Error {
    fn from(e: ProposalParseError) -> Self {
        Self::Local(e.into())
    }
}

impl From<NoProposalChosen> for Error {
    fn from(e: NoProposalChosen) -> Self {
        Self::PeerIncompatible(e.into())
    }
}

impl From<ResponseError> for Error {
    fn from(e: ResponseError) -> Self {
        Self::PeerMisbehaved(e.into())
    }
}

impl Error {
    /// The Notify type this error calls for, if any (RFC 7296 §3.10.1).
    /// This is the only error → wire table.
    pub fn notify(&self) -> Option<NotifyType> {
        match self {
            Self::InvalidMessage(w) if w.reason == Reason::UnsupportedCriticalPayload => {
                Some(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD)
            }
            Self::InvalidMessage(w) if w.reason == Reason::UnsupportedMajorVersion => {
                Some(NotifyType::INVALID_MAJOR_VERSION)
            }
            Self::InvalidMessage(_) => Some(NotifyType::INVALID_SYNTAX),
            // A failed ICV means we cannot know who sent it: drop silently
            // (RFC 7296 §2.21.2).
            // An SK payload too short or misaligned to carry an ICV cannot be
            // authenticated either: also silent.
            Self::PeerMisbehaved(PeerMisbehaved::Crypto(
                CryptoError::IntegrityCheckFailed
                | CryptoError::SkTooShort { .. }
                | CryptoError::SkNotBlockAligned { .. },
            )) => None,
            // A verified message whose AUTH does not check out (§2.15, RFC 7427).
            Self::PeerMisbehaved(PeerMisbehaved::Crypto(
                CryptoError::AuthMismatch
                | CryptoError::SignatureInvalid
                | CryptoError::AuthDataMalformed(_)
                | CryptoError::UnsupportedSignature(_),
            )) => Some(NotifyType::AUTHENTICATION_FAILED),
            Self::PeerMisbehaved(PeerMisbehaved::Crypto(_)) => Some(NotifyType::INVALID_SYNTAX),
            Self::PeerMisbehaved(PeerMisbehaved::TsWidened) => Some(NotifyType::TS_UNACCEPTABLE),
            Self::PeerMisbehaved(PeerMisbehaved::BadProposalResponse(_)) => {
                Some(NotifyType::NO_PROPOSAL_CHOSEN)
            }
            Self::PeerMisbehaved(_) => Some(NotifyType::INVALID_SYNTAX),
            Self::PeerIncompatible(PeerIncompatible::NoProposalChosen(_)) => {
                Some(NotifyType::NO_PROPOSAL_CHOSEN)
            }
            Self::PeerIncompatible(PeerIncompatible::InvalidKe(_)) => {
                Some(NotifyType::INVALID_KE_PAYLOAD)
            }
            Self::PeerIncompatible(PeerIncompatible::TsUnacceptable { .. }) => {
                Some(NotifyType::TS_UNACCEPTABLE)
            }
            // They already told us no; answering their error with ours would loop.
            Self::PeerIncompatible(PeerIncompatible::ChildSaNotFound) => {
                Some(NotifyType::CHILD_SA_NOT_FOUND)
            }
            Self::PeerIncompatible(PeerIncompatible::PeerRejected(_)) => None,
            Self::PeerIncompatible(PeerIncompatible::AddressUnavailable(_)) => {
                Some(NotifyType::INTERNAL_ADDRESS_FAILURE)
            }
            Self::PeerIncompatible(PeerIncompatible::CpRequired) => {
                Some(NotifyType::FAILED_CP_REQUIRED)
            }
            Self::AuthFailed(_) => Some(NotifyType::AUTHENTICATION_FAILED),
            Self::Local(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::proposal::ProposalSpec;
    use crate::wire::ProtocolId;

    fn wire_err(reason: Reason) -> WireError {
        WireError {
            payload: None,
            field: "x",
            offset: 0,
            reason,
        }
    }

    #[test]
    fn invalid_message_maps_to_syntax_or_critical() {
        assert_eq!(
            Error::from(wire_err(Reason::Truncated)).notify(),
            Some(NotifyType::INVALID_SYNTAX)
        );
        assert_eq!(
            Error::from(wire_err(Reason::UnsupportedCriticalPayload)).notify(),
            Some(NotifyType::UNSUPPORTED_CRITICAL_PAYLOAD)
        );
        assert_eq!(
            Error::from(wire_err(Reason::UnsupportedMajorVersion)).notify(),
            Some(NotifyType::INVALID_MAJOR_VERSION)
        );
    }

    #[test]
    fn integrity_failure_is_silent_other_peer_crypto_is_syntax() {
        assert_eq!(
            Error::from(CryptoError::IntegrityCheckFailed).notify(),
            None
        );
        let e = Error::from(CryptoError::KePublicValueLength {
            group: 31,
            expected: 32,
            actual: 3,
        });
        assert!(matches!(e, Error::PeerMisbehaved(_)));
        assert_eq!(e.notify(), Some(NotifyType::INVALID_SYNTAX));
        let e = Error::from(CryptoError::Rng);
        assert!(matches!(e, Error::Local(_)));
        assert_eq!(e.notify(), None);
    }

    #[test]
    fn peer_misbehaved_variants() {
        let e = Error::from(PeerMisbehaved::MissingPayload {
            exchange: ExchangeType::IKE_AUTH,
            payload: PayloadType::AUTH,
        });
        assert_eq!(e.notify(), Some(NotifyType::INVALID_SYNTAX));
        assert_eq!(
            e.to_string(),
            "peer misbehaved: IKE_AUTH message lacks a AUTH payload"
        );
        assert_eq!(
            Error::from(PeerMisbehaved::TsWidened).notify(),
            Some(NotifyType::TS_UNACCEPTABLE)
        );
        assert_eq!(
            Error::from(ResponseError::ProposalCount(2)).notify(),
            Some(NotifyType::NO_PROPOSAL_CHOSEN)
        );
    }

    #[test]
    fn incompatibility_maps_to_its_notify() {
        let ours =
            vec![ProposalSpec::parse(ProtocolId::IKE, "aes128gcm16-prfsha256-x25519").unwrap()];
        let e = Error::from(NoProposalChosen {
            offered: Vec::new(),
            accepted: ours,
        });
        assert_eq!(e.notify(), Some(NotifyType::NO_PROPOSAL_CHOSEN));
        assert_eq!(
            Error::from(PeerIncompatible::InvalidKe(KeMethod::ECP_256)).notify(),
            Some(NotifyType::INVALID_KE_PAYLOAD)
        );
        let e = Error::from(PeerIncompatible::TsUnacceptable {
            proposed: "a".into(),
            allowed: "b".into(),
        });
        assert_eq!(e.notify(), Some(NotifyType::TS_UNACCEPTABLE));
        assert_eq!(
            Error::from(PeerIncompatible::ChildSaNotFound).notify(),
            Some(NotifyType::CHILD_SA_NOT_FOUND)
        );
        assert_eq!(
            Error::from(PeerIncompatible::PeerRejected(
                NotifyType::NO_PROPOSAL_CHOSEN
            ))
            .notify(),
            None
        );
    }

    #[test]
    fn auth_and_local() {
        assert_eq!(
            Error::from(AuthFailure::Mismatch("x".into())).notify(),
            Some(NotifyType::AUTHENTICATION_FAILED)
        );
        assert_eq!(
            Error::from(AuthFailure::Certificate("expired".into())).notify(),
            Some(NotifyType::AUTHENTICATION_FAILED)
        );
        assert_eq!(Error::from(LocalError::Timeout(6)).notify(), None);
        let p = ProposalSpec::parse(ProtocolId::IKE, "aes256gmc16-prfsha384-x25519").unwrap_err();
        assert_eq!(
            Error::from(p).to_string(),
            "local error: unknown algorithm 'aes256gmc16' in proposal 'aes256gmc16-prfsha384-x25519'; did you mean 'aes256gcm16'?"
        );
    }

    /// The whole table, one row per variant: adding a variant without
    /// deciding its Notify fails here.
    #[test]
    fn every_variant_has_a_decided_notify() {
        use crate::wire::TransformType;
        let n = |t| Some(t);
        let rows: Vec<(Error, Option<NotifyType>)> = vec![
            (
                PeerMisbehaved::MissingPayload {
                    exchange: ExchangeType::IKE_AUTH,
                    payload: PayloadType::SA,
                }
                .into(),
                n(NotifyType::INVALID_SYNTAX),
            ),
            (
                PeerMisbehaved::BadProposalResponse(ResponseError::MissingType(TransformType::KE))
                    .into(),
                n(NotifyType::NO_PROPOSAL_CHOSEN),
            ),
            (
                PeerMisbehaved::KeGroupMismatch {
                    got: KeMethod::ECP_256,
                    chosen: KeMethod::CURVE_25519,
                }
                .into(),
                n(NotifyType::INVALID_SYNTAX),
            ),
            (
                PeerMisbehaved::TsWidened.into(),
                n(NotifyType::TS_UNACCEPTABLE),
            ),
            (
                PeerMisbehaved::Crypto(CryptoError::IntegrityCheckFailed).into(),
                None,
            ),
            (
                PeerMisbehaved::Crypto(CryptoError::SkTooShort { actual: 3, min: 24 }).into(),
                None,
            ),
            (
                PeerMisbehaved::Crypto(CryptoError::SkNotBlockAligned { len: 17, block: 16 })
                    .into(),
                None,
            ),
            (
                PeerMisbehaved::Crypto(CryptoError::SignatureInvalid).into(),
                n(NotifyType::AUTHENTICATION_FAILED),
            ),
            (
                PeerMisbehaved::Crypto(CryptoError::AuthMismatch).into(),
                n(NotifyType::AUTHENTICATION_FAILED),
            ),
            (
                PeerMisbehaved::Crypto(CryptoError::AuthDataMalformed("short")).into(),
                n(NotifyType::AUTHENTICATION_FAILED),
            ),
            (
                PeerMisbehaved::Crypto(CryptoError::UnsupportedSignature("x")).into(),
                n(NotifyType::AUTHENTICATION_FAILED),
            ),
            (
                PeerMisbehaved::UnexpectedExchange(ExchangeType::CREATE_CHILD_SA).into(),
                n(NotifyType::INVALID_SYNTAX),
            ),
            (
                PeerMisbehaved::ZeroSpi.into(),
                n(NotifyType::INVALID_SYNTAX),
            ),
            (
                PeerMisbehaved::BadNotifyData(NotifyType::COOKIE).into(),
                n(NotifyType::INVALID_SYNTAX),
            ),
            (
                PeerMisbehaved::BadInvalidKe(KeMethod::MODP_768).into(),
                n(NotifyType::INVALID_SYNTAX),
            ),
            (
                PeerMisbehaved::TooManyFragments(500).into(),
                n(NotifyType::INVALID_SYNTAX),
            ),
            (
                PeerMisbehaved::TooManyRetries.into(),
                n(NotifyType::INVALID_SYNTAX),
            ),
            (
                PeerIncompatible::InvalidKe(KeMethod::ECP_384).into(),
                n(NotifyType::INVALID_KE_PAYLOAD),
            ),
            (
                PeerIncompatible::ChildSaNotFound.into(),
                n(NotifyType::CHILD_SA_NOT_FOUND),
            ),
            (
                PeerIncompatible::PeerRejected(NotifyType::TS_UNACCEPTABLE).into(),
                None,
            ),
            (
                PeerIncompatible::AddressUnavailable("pool 'rw' exhausted".into()).into(),
                n(NotifyType::INTERNAL_ADDRESS_FAILURE),
            ),
            (
                PeerIncompatible::CpRequired.into(),
                n(NotifyType::FAILED_CP_REQUIRED),
            ),
            (
                PeerMisbehaved::BadCpAttribute {
                    attr: crate::wire::CpAttributeType::INTERNAL_IP4_ADDRESS,
                    len: 3,
                }
                .into(),
                n(NotifyType::INVALID_SYNTAX),
            ),
            (
                AuthFailure::UnknownPeer("x".into()).into(),
                n(NotifyType::AUTHENTICATION_FAILED),
            ),
            (
                AuthFailure::IdMismatch {
                    expected: "a".into(),
                    got: "b".into(),
                }
                .into(),
                n(NotifyType::AUTHENTICATION_FAILED),
            ),
            (
                AuthFailure::Method(AuthMethod::SHARED_KEY_MIC).into(),
                n(NotifyType::AUTHENTICATION_FAILED),
            ),
            (LocalError::Config("x").into(), None),
            (LocalError::Emit(wire_err(Reason::TooLong)).into(), None),
            (LocalError::NoSuchSa.into(), None),
            (LocalError::Busy.into(), None),
            (LocalError::Crypto(CryptoError::Rng).into(), None),
        ];
        for (e, want) in rows {
            assert_eq!(e.notify(), want, "{e}");
            assert!(!e.to_string().is_empty());
        }
    }
}
