//! The adapter between this crate and the IKE SA core (`ike::sa`): X.509
//! certificates authenticate IKE SAs (RFC 7296 §2.15, §3.6–§3.8, RFC 7427,
//! RFC 4945).
//!
//! - [`CertSigner`] is an [`ike::crypto::Signer`] over a [`PrivateKey`]: RFC
//!   7427 Digital Signature (method 14) with the scheme's AlgorithmIdentifier,
//!   or the classic RFC 4754 ECDSA methods 9 / 10 for peers without RFC 7427.
//! - [`TrustVerifier`] is an [`ike::sa::CertVerifier`] over a [`TrustStore`]:
//!   it builds and validates the path from the peer's CERT payloads, checks
//!   that the peer's ID is backed by the end entity, and hands back the end
//!   entity's key as an [`ike::crypto::Verifier`]. Rejections carry this
//!   crate's explaining messages; the SA core logs them and answers
//!   AUTHENTICATION_FAILED.
//! - [`LocalCredentials`] holds our key and chains and picks the chain that
//!   answers the peer's CERTREQ hashes (RFC 7296 §3.7).
//! - [`id_from_wire`] / [`id_to_wire`] convert ID payloads.
//!
//! This module never reads the clock on its own initiative: the validation
//! time comes from the [`WallClock`] the caller configured, or, through
//! `CertVerifier::verifier_at`, from the wall-clock time the IKE driver
//! handed the core (`Endpoint::set_wall_clock`).

use std::sync::Arc;
use std::time::SystemTime;

use ike::crypto::{
    AuthData, AuthMethod, CryptoError as IkeCryptoError, RingVerifier, Signer, Verifier,
};
use ike::sa::CertVerifier;
use ike::wire::{Cert, CertEncoding, CertReq, Id, IdType};

use crate::certreq::{parse_certreq_data, select_chain, CaHash, LocalChain};
use crate::chain::{validate_der, KeyPurpose, TrustStore, ValidatedChain, ValidationOptions};
use crate::error::{CryptoError, IdentityError, ValidationError};
use crate::id::IkeId;
use crate::key::PrivateKey;
use crate::sig::{KeyType, SignatureScheme};

/// Most CERT payloads we look at from one peer. A path is at most
/// [`DEFAULT_MAX_DEPTH`](crate::chain::DEFAULT_MAX_DEPTH) certificates long;
/// a few spares allow for cross-certificates, and the cap keeps a peer from
/// making us parse hundreds of certificates.
pub const MAX_PEER_CERTS: usize = 16;

/// Why a peer's certificate authentication was refused. Display gives the
/// operator's log line; the SA core prefixes it with "peer certificate
/// rejected".
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PeerCertError {
    /// The peer sent no CERT payload (RFC 7296 §3.6).
    #[error("peer {id} sent no certificate (is send_cert disabled on its side?)")]
    NoCertificate {
        /// The peer's ID as text.
        id: String,
    },
    /// The end entity arrived in an encoding we do not handle.
    #[error("peer {id} sent its certificate as CERT encoding {encoding}; only X.509 Certificate - Signature (4) is supported")]
    UnsupportedEncoding {
        /// The peer's ID as text.
        id: String,
        /// The encoding it used.
        encoding: CertEncoding,
    },
    /// More CERT payloads than [`MAX_PEER_CERTS`].
    #[error("peer {id} sent {count} certificates, at most {MAX_PEER_CERTS} are accepted")]
    TooManyCertificates {
        /// The peer's ID as text.
        id: String,
        /// How many it sent.
        count: usize,
    },
    /// An ID type that cannot be backed by a certificate (ID_NULL,
    /// ID_DER_ASN1_GN, ID_FC_NAME, unassigned).
    #[error("peer ID {id} of type {id_type} cannot be checked against a certificate")]
    UnsupportedIdType {
        /// The peer's ID as text.
        id: String,
        /// Its type.
        id_type: IdType,
    },
    /// The ID is malformed, or the end entity does not carry it.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Path validation failed.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The validated end entity's key cannot verify IKE AUTH signatures.
    #[error("peer certificate {subject} has a key IKE cannot verify with: {reason}")]
    UnusableKey {
        /// The end entity's subject DN.
        subject: String,
        /// What the IKE crypto layer said.
        reason: String,
    },
}

/// Our own credentials could not be set up (a configuration fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CredentialError {
    /// The requested signature scheme does not fit the key.
    #[error(transparent)]
    Scheme(#[from] CryptoError),
    /// RFC 7296 method 1 (RSA PKCS#1 v1.5 with SHA-1) was asked for: *ring*
    /// does not sign with SHA-1, and RFC 8247 §3.2 deprecates it.
    #[error("classic RSA authentication (method 1, SHA-1) cannot be used for signing; use RFC 7427 signatures (method 14)")]
    ClassicRsa,
    /// Classic authentication for a key type that has no classic method.
    #[error("{0} keys have no classic IKE AUTH method; use RFC 7427 signatures (method 14)")]
    NoClassicMethod(KeyType),
    /// A scheme whose AlgorithmIdentifier does not fit the one-octet length
    /// of RFC 7427 §3 (cannot happen with the schemes we know).
    #[error("AlgorithmIdentifier of {0} is longer than 255 octets")]
    AlgorithmIdentifierTooLong(&'static str),
    /// A chain whose end entity does not certify our key.
    #[error("certificate '{subject}' does not certify the configured private key")]
    KeyMismatch {
        /// The end entity's subject DN.
        subject: String,
    },
    /// No chain at all.
    #[error("no certificate chain configured")]
    NoChain,
}

// ---------------------------------------------------------------------------
// Identities
// ---------------------------------------------------------------------------

/// An ID payload as this crate's [`IkeId`] (RFC 7296 §3.5).
pub fn id_from_wire(id: &Id) -> Result<IkeId, PeerCertError> {
    match IkeId::from_payload(id.id_type.0, &id.data) {
        Some(r) => Ok(r?),
        None => Err(PeerCertError::UnsupportedIdType {
            id: id.to_string(),
            id_type: id.id_type,
        }),
    }
}

/// An [`IkeId`] as an ID payload (RFC 7296 §3.5).
pub fn id_to_wire(id: &IkeId) -> Id {
    Id {
        id_type: IdType(id.id_type()),
        data: id.data(),
    }
}

impl TryFrom<&Id> for IkeId {
    type Error = PeerCertError;

    /// See [`id_from_wire`].
    fn try_from(id: &Id) -> Result<Self, Self::Error> {
        id_from_wire(id)
    }
}

impl From<&IkeId> for Id {
    /// See [`id_to_wire`].
    fn from(id: &IkeId) -> Self {
        id_to_wire(id)
    }
}

// ---------------------------------------------------------------------------
// Signing our AUTH payload
// ---------------------------------------------------------------------------

/// Which AUTH method our signatures use (RFC 7296 §3.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthStyle {
    /// Digital Signature, method 14 (RFC 7427 §3), with this scheme; `None`
    /// takes the key's default ([`PrivateKey::default_scheme`]).
    DigitalSignature(Option<SignatureScheme>),
    /// The key type's own method from before RFC 7427: ECDSA P-256 → 9,
    /// P-384 → 10 (RFC 4754). Refused for RSA (method 1 needs SHA-1, which
    /// we do not sign with) and Ed25519 (no such method).
    Classic,
}

/// The AUTH style for `key` given the peer's SIGNATURE_HASH_ALGORITHMS
/// (RFC 7427 §4; `None` when it sent none), the way strongSwan decides: a
/// peer without the notify gets the classic method, one with it gets RFC
/// 7427 with the key's default scheme if its hash was announced, else the
/// first scheme the key can make with an announced hash (Ed25519 needs
/// Identity, 5: RFC 8420 §2). Falls back to the classic method when no
/// scheme fits; `None` when nothing can be sent.
///
/// The SA core keeps one signer per peer configuration and does not yet
/// hand the peer's notify to it, so today this is for the daemon to pick a
/// style when it knows the peer (e.g. from its configuration).
pub fn choose_style(key: &PrivateKey, peer_hashes: Option<&[u16]>) -> Option<AuthStyle> {
    let classic = match key.key_type() {
        KeyType::EcdsaP256 | KeyType::EcdsaP384 => Some(AuthStyle::Classic),
        KeyType::Ed25519 | KeyType::Rsa { .. } => None,
    };
    let Some(hashes) = peer_hashes else {
        return classic;
    };
    let default = key.default_scheme();
    std::iter::once(default)
        .chain(key.signing_schemes())
        .find(|s| hashes.contains(&s.hash_algorithm_id()))
        .map(|s| AuthStyle::DigitalSignature(Some(s)))
        .or(classic)
}

/// As [`choose_style`], with the schemes the configuration allows for our
/// key in order of preference (e.g. RSASSA-PSS only, from swanctl's
/// `rsa/pss` or strongSwan's `rsa_pss = yes`). An empty list is
/// [`choose_style`]. With the peer's SIGNATURE_HASH_ALGORITHMS, the first
/// preferred scheme whose hash it announced; without, the key's classic
/// method (ECDSA) or `None`, so that the caller's fixed signer (made with
/// the first preferred scheme) is used.
pub fn choose_style_from(
    key: &PrivateKey,
    peer_hashes: Option<&[u16]>,
    preferred: &[SignatureScheme],
) -> Option<AuthStyle> {
    if preferred.is_empty() {
        return choose_style(key, peer_hashes);
    }
    let classic = match key.key_type() {
        KeyType::EcdsaP256 | KeyType::EcdsaP384 => Some(AuthStyle::Classic),
        KeyType::Ed25519 | KeyType::Rsa { .. } => None,
    };
    let Some(hashes) = peer_hashes else {
        return classic;
    };
    let can = key.signing_schemes();
    preferred
        .iter()
        .copied()
        .filter(|s| can.contains(s))
        .find(|s| hashes.contains(&s.hash_algorithm_id()))
        .map(|s| AuthStyle::DigitalSignature(Some(s)))
        .or(classic)
}

/// An [`ike::crypto::Signer`] backed by one of our private keys.
pub struct CertSigner {
    key: Arc<PrivateKey>,
    method: AuthMethod,
    /// The scheme and `length octet | AlgorithmIdentifier` prefix for method
    /// 14; `None` for the classic methods.
    rfc7427: Option<(SignatureScheme, Vec<u8>)>,
}

impl std::fmt::Debug for CertSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertSigner")
            .field("key", &self.key.key_type())
            .field("method", &self.method)
            .field("scheme", &self.rfc7427.as_ref().map(|(s, _)| *s))
            .finish()
    }
}

impl CertSigner {
    /// A signer for `key` in the given style; fails when the style does not
    /// fit the key, so a bad configuration is refused at load time rather
    /// than at the first handshake.
    pub fn new(key: Arc<PrivateKey>, style: AuthStyle) -> Result<Self, CredentialError> {
        match style {
            AuthStyle::DigitalSignature(scheme) => {
                let scheme = scheme.unwrap_or_else(|| key.default_scheme());
                if !key.signing_schemes().contains(&scheme) {
                    return Err(CryptoError::SchemeMismatch {
                        scheme: scheme.name(),
                        key: key.key_type().to_string(),
                    }
                    .into());
                }
                let algid = scheme.algorithm_identifier();
                // RFC 7427 §3: the AlgorithmIdentifier is prefixed by its
                // length in one octet.
                let len = u8::try_from(algid.len())
                    .map_err(|_| CredentialError::AlgorithmIdentifierTooLong(scheme.name()))?;
                let mut prefix = Vec::with_capacity(algid.len().saturating_add(1));
                prefix.push(len);
                prefix.extend_from_slice(&algid);
                Ok(Self {
                    key,
                    method: AuthMethod::DIGITAL_SIGNATURE,
                    rfc7427: Some((scheme, prefix)),
                })
            }
            AuthStyle::Classic => {
                let method = match key.key_type() {
                    KeyType::EcdsaP256 => AuthMethod::ECDSA_SHA256_P256,
                    KeyType::EcdsaP384 => AuthMethod::ECDSA_SHA384_P384,
                    KeyType::Rsa { .. } => return Err(CredentialError::ClassicRsa),
                    kt @ KeyType::Ed25519 => return Err(CredentialError::NoClassicMethod(kt)),
                };
                Ok(Self {
                    key,
                    method,
                    rfc7427: None,
                })
            }
        }
    }

    /// The RFC 7427 scheme, or `None` for a classic method.
    pub fn scheme(&self) -> Option<SignatureScheme> {
        self.rfc7427.as_ref().map(|(s, _)| *s)
    }
}

/// The IKE crypto layer's error for a failure of ours to sign. Both cases
/// are local faults; the SA core reports them and sends nothing.
fn signing_error(e: &CryptoError) -> IkeCryptoError {
    match e {
        CryptoError::SchemeMismatch { .. } => {
            IkeCryptoError::UnsupportedSignature("signature scheme for this private key")
        }
        CryptoError::BadSignature { .. }
        | CryptoError::PublicKey { .. }
        | CryptoError::SigningFailed { .. } => IkeCryptoError::Backend("certificate key signing"),
    }
}

impl Signer for CertSigner {
    fn auth_method(&self) -> AuthMethod {
        self.method
    }

    fn sign(&self, signed_octets: &[u8]) -> Result<AuthData, IkeCryptoError> {
        let data = match &self.rfc7427 {
            Some((scheme, prefix)) => {
                let sig = self
                    .key
                    .sign(*scheme, signed_octets)
                    .map_err(|e| signing_error(&e))?;
                let mut data = Vec::with_capacity(prefix.len().saturating_add(sig.len()));
                data.extend_from_slice(prefix);
                data.extend_from_slice(&sig);
                data
            }
            // RFC 4754 §7: the fixed-length r | s, not DER.
            None => self
                .key
                .sign_rfc4754(signed_octets)
                .map_err(|e| signing_error(&e))?,
        };
        Ok(AuthData {
            method: self.method,
            data,
        })
    }
}

// ---------------------------------------------------------------------------
// Our chains and the peer's CERTREQ
// ---------------------------------------------------------------------------

/// The CA hashes a peer asked for in its CERTREQ payloads (RFC 7296 §3.7).
/// Only X.509 Certificate - Signature requests are read; others are ignored,
/// as strongSwan does. A Certification Authority field that is not whole
/// 20-octet hashes is refused (its length is returned).
pub fn requested_hashes<'a>(
    certreqs: impl IntoIterator<Item = &'a CertReq>,
) -> Result<Vec<CaHash>, usize> {
    let mut out = Vec::new();
    for r in certreqs {
        if r.encoding == CertEncoding::X509_CERT_SIG {
            for h in parse_certreq_data(&r.data)? {
                if !out.contains(&h) {
                    out.push(h);
                }
            }
        }
    }
    Ok(out)
}

/// Our private key and the chains that certify it, for CERT payloads and
/// the AUTH signature.
pub struct LocalCredentials {
    chains: Vec<LocalChain>,
    signer: Arc<CertSigner>,
}

impl std::fmt::Debug for LocalCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalCredentials")
            .field("chains", &self.chains.len())
            .field("signer", &self.signer)
            .finish()
    }
}

impl LocalCredentials {
    /// Credentials for `key`, with `chains` (the first is the default). Each
    /// chain's end entity must certify `key`.
    pub fn new(
        key: PrivateKey,
        style: AuthStyle,
        chains: Vec<LocalChain>,
    ) -> Result<Self, CredentialError> {
        if chains.is_empty() {
            return Err(CredentialError::NoChain);
        }
        for c in &chains {
            let certified = c
                .end_entity
                .public_key()
                .is_ok_and(|pk| pk.spki_der() == key.public_key().spki_der());
            if !certified {
                return Err(CredentialError::KeyMismatch {
                    subject: c.end_entity.subject().to_owned(),
                });
            }
        }
        Ok(Self {
            chains,
            signer: Arc::new(CertSigner::new(Arc::new(key), style)?),
        })
    }

    /// The signer for [`PeerConfig::signer`](ike::sa::PeerConfig).
    pub fn signer(&self) -> Arc<CertSigner> {
        Arc::clone(&self.signer)
    }

    /// The chain that answers `requested` (the peer's CERTREQ hashes), or
    /// the default chain when none matches or nothing was requested.
    pub fn chain_for(&self, requested: &[CaHash]) -> Option<&LocalChain> {
        select_chain(&self.chains, requested)
    }

    /// CERT payload contents (end entity first, then intermediates, RFC 7296
    /// §3.6) of [`Self::chain_for`], for
    /// [`PeerConfig::local_certs`](ike::sa::PeerConfig).
    pub fn certs_for(&self, requested: &[CaHash]) -> Vec<Vec<u8>> {
        self.chain_for(requested)
            .map(|c| c.certs_to_send().map(|x| x.der().to_vec()).collect())
            .unwrap_or_default()
    }

    /// The default chain's CERT payload contents.
    pub fn default_certs(&self) -> Vec<Vec<u8>> {
        self.certs_for(&[])
    }
}

// ---------------------------------------------------------------------------
// Verifying the peer
// ---------------------------------------------------------------------------

/// Where the validation time comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WallClock {
    /// The system clock, read at each validation (the daemon).
    System,
    /// A fixed instant (tests, replays, and `ikegw cert verify --at`).
    Fixed(SystemTime),
}

impl WallClock {
    fn now(self) -> SystemTime {
        match self {
            Self::System => SystemTime::now(),
            Self::Fixed(t) => t,
        }
    }
}

/// An [`ike::sa::CertVerifier`] backed by a [`TrustStore`]: what
/// [`PeerAuth::Certificate`](ike::sa::PeerAuth) holds.
#[derive(Debug, Clone)]
pub struct TrustVerifier {
    store: Arc<TrustStore>,
    options: ValidationOptions,
    clock: WallClock,
}

impl TrustVerifier {
    /// Validate against `store` at the system time, expecting end entities
    /// fit for `purpose`: [`KeyPurpose::Server`] when we initiate to a
    /// gateway, [`KeyPurpose::Client`] when remote-access clients connect to
    /// us, [`KeyPurpose::Any`] for site-to-site peers whose certificates may
    /// carry either (the core does not tell the verifier its role).
    pub fn new(store: TrustStore, purpose: KeyPurpose) -> Self {
        Self::with_options(
            Arc::new(store),
            ValidationOptions::at_unix(0, purpose),
            WallClock::System,
        )
    }

    /// Full control: `options.now` is replaced by `clock` at each call.
    pub fn with_options(
        store: Arc<TrustStore>,
        options: ValidationOptions,
        clock: WallClock,
    ) -> Self {
        Self {
            store,
            options,
            clock,
        }
    }

    /// The same verifier with another clock.
    #[must_use]
    pub fn at(mut self, clock: WallClock) -> Self {
        self.clock = clock;
        self
    }

    /// What goes into our CERTREQ (RFC 7296 §3.7): the SHA-1 hash of each
    /// trust anchor's SubjectPublicKeyInfo, without duplicates, for
    /// [`PeerConfig::cert_requests`](ike::sa::PeerConfig).
    pub fn cert_requests(&self) -> Vec<Vec<u8>> {
        let mut out: Vec<Vec<u8>> = Vec::new();
        for a in self.store.anchors() {
            let h = a.spki_sha1().to_vec();
            if !out.contains(&h) {
                out.push(h);
            }
        }
        out
    }

    /// Validate the peer's CERT payloads (end entity first) for `peer_id`:
    /// the path to one of our anchors (RFC 5280 §6, RFC 4945 §5), then that
    /// the end entity backs the ID (RFC 4945 §3.1).
    pub fn check(&self, peer_id: &Id, certs: &[&Cert]) -> Result<ValidatedChain, PeerCertError> {
        let id_text = || peer_id.to_string();
        let (ee, rest) = certs
            .split_first()
            .ok_or_else(|| PeerCertError::NoCertificate { id: id_text() })?;
        if ee.encoding != CertEncoding::X509_CERT_SIG {
            return Err(PeerCertError::UnsupportedEncoding {
                id: id_text(),
                encoding: ee.encoding,
            });
        }
        if certs.len() > MAX_PEER_CERTS {
            return Err(PeerCertError::TooManyCertificates {
                id: id_text(),
                count: certs.len(),
            });
        }
        let ike_id = id_from_wire(peer_id)?;
        // Intermediates in other encodings (a CRL, hash and URL) are not
        // usable for the path; strongSwan skips them too.
        let ders: Vec<&[u8]> = std::iter::once(ee.data.as_slice())
            .chain(
                rest.iter()
                    .filter(|c| c.encoding == CertEncoding::X509_CERT_SIG)
                    .map(|c| c.data.as_slice()),
            )
            .collect();
        let mut opts = self.options.clone();
        opts.now = ValidationOptions::at(self.clock.now(), opts.purpose).now;
        let chain = validate_der(&ders, &self.store, &opts)?;
        // The path is checked first: the names in an untrusted certificate
        // mean nothing, and "no trust anchor" is the more useful message.
        let end_entity = chain.end_entity().ok_or(ValidationError::Malformed {
            index: 0,
            reason: "no certificate".into(),
        })?;
        ike_id.matches(end_entity)?;
        Ok(chain)
    }
}

impl CertVerifier for TrustVerifier {
    fn verifier_for(&self, peer_id: &Id, certs: &[&Cert]) -> Result<Box<dyn Verifier>, String> {
        let chain = self.check(peer_id, certs).map_err(|e| e.to_string())?;
        let spki = chain.public_key().spki_der();
        // The AUTH signature is checked by the IKE crypto layer's own
        // verifier: an independent reading of RFC 7427 AlgorithmIdentifiers
        // from the one our signer writes.
        let v = RingVerifier::from_spki_der(spki).map_err(|e| {
            PeerCertError::UnusableKey {
                subject: chain
                    .end_entity()
                    .map(|c| c.subject().to_owned())
                    .unwrap_or_default(),
                reason: e.to_string(),
            }
            .to_string()
        })?;
        Ok(Box::new(v))
    }

    /// The time the IKE driver handed the core replaces this verifier's
    /// own clock.
    fn verifier_at(
        &self,
        peer_id: &Id,
        certs: &[&Cert],
        now: SystemTime,
    ) -> Result<Box<dyn Verifier>, String> {
        self.clone()
            .at(WallClock::Fixed(now))
            .verifier_for(peer_id, certs)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::issue::{generate_key, KeyAlgorithm};

    #[test]
    fn ids_convert_both_ways() {
        for s in [
            "gw.example",
            "alice@example.org",
            "192.0.2.1",
            "2001:db8::1",
            "C=CH, O=x, CN=y",
            "@#0102",
        ] {
            let id = IkeId::parse(s).unwrap();
            let wire = Id::from(&id);
            assert_eq!(wire.id_type.0, id.id_type());
            assert_eq!(wire.data, id.data());
            assert_eq!(IkeId::try_from(&wire).unwrap(), id, "{s}");
        }
    }

    #[test]
    fn unsupported_and_malformed_ids_are_refused() {
        let null = Id {
            id_type: IdType::ID_NULL,
            data: Vec::new(),
        };
        assert!(matches!(
            id_from_wire(&null),
            Err(PeerCertError::UnsupportedIdType { .. })
        ));
        let bad_ip = Id {
            id_type: IdType::ID_IPV4_ADDR,
            data: vec![1, 2, 3],
        };
        assert_eq!(
            id_from_wire(&bad_ip).unwrap_err().to_string(),
            "malformed ID_IPV4_ADDR identity: 3 octets, expected 4"
        );
    }

    #[test]
    fn classic_style_fits_only_ecdsa() {
        let p256 = Arc::new(generate_key(KeyAlgorithm::EcdsaP256).unwrap());
        let p384 = Arc::new(generate_key(KeyAlgorithm::EcdsaP384).unwrap());
        let ed = Arc::new(generate_key(KeyAlgorithm::Ed25519).unwrap());
        assert_eq!(
            CertSigner::new(p256, AuthStyle::Classic)
                .unwrap()
                .auth_method(),
            AuthMethod::ECDSA_SHA256_P256
        );
        assert_eq!(
            CertSigner::new(p384.clone(), AuthStyle::Classic)
                .unwrap()
                .auth_method(),
            AuthMethod::ECDSA_SHA384_P384
        );
        assert!(matches!(
            CertSigner::new(ed.clone(), AuthStyle::Classic),
            Err(CredentialError::NoClassicMethod(KeyType::Ed25519))
        ));
        // A P-384 key cannot make ecdsa-with-SHA256 with ring.
        assert!(matches!(
            CertSigner::new(
                p384,
                AuthStyle::DigitalSignature(Some(SignatureScheme::EcdsaSha256))
            ),
            Err(CredentialError::Scheme(_))
        ));
        assert!(CertSigner::new(
            ed,
            AuthStyle::DigitalSignature(Some(SignatureScheme::RsaPssSha256))
        )
        .is_err());
    }

    #[test]
    fn rfc7427_auth_data_is_length_algid_signature() {
        let key = Arc::new(generate_key(KeyAlgorithm::Ed25519).unwrap());
        let s = CertSigner::new(key, AuthStyle::DigitalSignature(None)).unwrap();
        let d = s.sign(b"octets").unwrap();
        assert_eq!(d.method, AuthMethod::DIGITAL_SIGNATURE);
        let algid = SignatureScheme::Ed25519.algorithm_identifier();
        assert_eq!(d.data[0] as usize, algid.len());
        assert_eq!(&d.data[1..=algid.len()], algid.as_slice());
        assert_eq!(d.data.len(), 1 + algid.len() + 64);
    }

    #[test]
    fn certreq_hashes_are_read_from_x509_requests_only() {
        let a = CertReq {
            encoding: CertEncoding::X509_CERT_SIG,
            data: [[1u8; 20], [2u8; 20]].concat(),
        };
        let dup = CertReq {
            encoding: CertEncoding::X509_CERT_SIG,
            data: vec![2u8; 20],
        };
        let other = CertReq {
            encoding: CertEncoding(12),
            data: vec![3u8; 7],
        };
        assert_eq!(
            requested_hashes([&a, &dup, &other]).unwrap(),
            vec![[1u8; 20], [2u8; 20]]
        );
        let short = CertReq {
            encoding: CertEncoding::X509_CERT_SIG,
            data: vec![0u8; 21],
        };
        assert_eq!(requested_hashes([&short]), Err(21));
    }
}
