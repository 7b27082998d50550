//! Certificate credentials for `auth = pubkey` rounds (RFC 7296 §2.15,
//! §3.6–§3.8; RFC 4945; RFC 7427): our chain and private key become a
//! signer plus CERT payloads, the peer's trust anchors (and CRLs) become a
//! [`CertVerifier`] for the core.
//!
//! Everything is loaded once, when the configuration is (re)loaded; the core
//! only ever sees ready objects. A peer whose certificate is refused gets
//! AUTHENTICATION_FAILED from the core; the reason the core logs is the
//! `certs` crate's explanation followed by what the operator can change.

use std::path::Path;
use std::sync::Arc;

use certs::ikeauth::{
    choose_style_from, AuthStyle, CertSigner, LocalCredentials, PeerCertError, TrustVerifier,
    WallClock,
};
use certs::{
    Certificate, IdentityError, KeyPurpose, KeyType, LocalChain, PrivateKey, SignatureScheme,
    TrustStore, ValidationError, ValidationOptions,
};
use ike::crypto::{
    AuthMethod as IkeAuthMethod, CryptoError as IkeCryptoError, RingVerifier,
    SignatureScheme as IkeScheme, Signer, Verifier,
};
use ike::sa::{CertVerifier, CredentialProvider, Credentials};
use ike::wire::HashAlgorithm;
use ike::wire::{Cert, CertEncoding, Id};

use crate::config::{AuthRound, Config, Revocation, SendCert, SigConstraints, SigHash, SigKey};

/// extendedKeyUsage purposes that make a certificate fit for an IKE peer
/// of a site-to-site tunnel. The core does not tell the verifier whether
/// the peer is a gateway or a client, and strongSwan accepts gateway
/// certificates issued with either TLS purpose, so any of them will do
/// (RFC 4945 §5.1.3.12 names ipsecIKE; anyExtendedKeyUsage allows all).
const IKE_PURPOSES: [&str; 4] = [
    "serverAuth",
    "clientAuth",
    "ipsecIKE",
    "anyExtendedKeyUsage",
];

/// PEM label of a CRL, looked for in `cacerts` files.
const CRL_PEM_MARKER: &[u8] = b"-----BEGIN X509 CRL-----";

/// Why a certificate round cannot be set up (a local configuration fault).
#[derive(Debug, thiserror::Error)]
pub(crate) enum CredError {
    /// A certificate or CRL file does not load.
    #[error("{table}: cannot load {what} {path}: {reason}")]
    Load {
        /// `local`, `remote-2`, …
        table: String,
        /// "certificate", "CRL".
        what: &'static str,
        /// The file.
        path: String,
        /// The `certs` crate's explanation.
        reason: String,
    },
    /// `certs` is empty in a local pubkey round.
    #[error("{table}: auth = \"pubkey\" needs our certificate in 'certs'")]
    NoCertificate {
        /// The round.
        table: String,
    },
    /// No `[secrets.private]` key certifies our certificate.
    #[error("{table}: no [secrets.private.*] key matches certificate '{subject}'; add [secrets.private.NAME] file = \"...\" with its key")]
    NoKey {
        /// The round.
        table: String,
        /// The certificate's subject.
        subject: String,
    },
    /// The key or chain cannot make IKE signatures.
    #[error("{table}: cannot sign with certificate '{subject}': {reason}")]
    Signer {
        /// The round.
        table: String,
        /// The certificate's subject.
        subject: String,
        /// What the `certs` crate said.
        reason: String,
    },
    /// A remote pubkey round without trust anchors.
    #[error("{table}: auth = \"pubkey\" needs the CA certificates the peer's chain leads to in 'cacerts' (or the peer's own certificate in 'certs')")]
    NoAnchors {
        /// The round.
        table: String,
    },
    /// `revocation = strict` with nothing to check against.
    #[error("{table}: revocation = \"strict\" needs a CRL; append the CA's CRL (PEM 'X509 CRL') to a 'cacerts' file, or use revocation = \"relaxed\"")]
    StrictWithoutCrl {
        /// The round.
        table: String,
    },
}

/// Our side of a pubkey round: what goes into
/// [`PeerConfig`](ike::sa::PeerConfig) `signer` / `local_certs`, and the
/// identity the certificate backs.
pub(crate) struct LocalCert {
    /// Signs our AUTH payload (RFC 7427 method 14 with the key's default
    /// scheme; the core announces SIGNATURE_HASH_ALGORITHMS, RFC 7427 §4).
    pub(crate) signer: Arc<dyn Signer>,
    /// CERT payload contents: end entity, then intermediates (RFC 7296 §3.6).
    pub(crate) certs: Vec<Vec<u8>>,
    /// The end entity's subject DN, our default identity as in strongSwan.
    pub(crate) subject: String,
    /// Picks the chain, whether to send it, and the AUTH method per IKE SA
    /// from the peer's CERTREQ and SIGNATURE_HASH_ALGORITHMS.
    pub(crate) provider: Arc<dyn CredentialProvider>,
}

/// Our chain and key, chosen per IKE SA (RFC 7296 §3.7, RFC 7427 §4).
struct ChainProvider {
    creds: LocalCredentials,
    /// Another handle on the key, for signers in the style the peer needs.
    key: Arc<PrivateKey>,
    send_cert: SendCert,
    /// The schemes `local.auth` and `[daemon] rsa_pss` allow, preferred
    /// first ([`our_schemes`]); empty = the key's defaults.
    schemes: Vec<SignatureScheme>,
}

impl CredentialProvider for ChainProvider {
    fn credentials_for(
        &self,
        ca_hashes: &[[u8; 20]],
        peer_hashes: &[HashAlgorithm],
    ) -> Option<Credentials> {
        // `ifasked` as strongSwan means it: only when the peer sent a
        // CERTREQ (the core hands us its CA hashes; none = not asked).
        let certs = match self.send_cert {
            SendCert::Always => self.creds.certs_for(ca_hashes),
            SendCert::IfAsked if !ca_hashes.is_empty() => self.creds.certs_for(ca_hashes),
            SendCert::IfAsked | SendCert::Never => Vec::new(),
        };
        // RFC 7427 §4: without the peer's SIGNATURE_HASH_ALGORITHMS only
        // the classic methods are safe (ECDSA 9/10); with it, a scheme whose
        // hash it announced. Keys with no classic method keep RFC 7427.
        let hashes: Vec<u16> = peer_hashes.iter().map(|h| h.0).collect();
        let announced = (!hashes.is_empty()).then_some(hashes.as_slice());
        let signer: Arc<dyn Signer> = match choose_style_from(&self.key, announced, &self.schemes)
            .and_then(|style| CertSigner::new(Arc::clone(&self.key), style).ok())
        {
            Some(s) => Arc::new(s),
            None => self.creds.signer(),
        };
        Some(Credentials { certs, signer })
    }
}

/// The size a key-size constraint (`rsa-2048`, `ecdsa-384`) compares with.
fn key_bits(kt: KeyType) -> usize {
    match kt {
        KeyType::Rsa { bits } => bits,
        KeyType::EcdsaP256 | KeyType::Ed25519 => 256,
        KeyType::EcdsaP384 => 384,
    }
}

/// Whether a key of type `kt` is one the constraint `k` (of at least
/// `min_bits`) names.
fn key_fits(kt: KeyType, k: SigKey, min_bits: u32) -> bool {
    let kind = matches!(
        (kt, k),
        (KeyType::Rsa { .. }, SigKey::Rsa | SigKey::RsaPss)
            | (KeyType::EcdsaP256 | KeyType::EcdsaP384, SigKey::Ecdsa)
            | (KeyType::Ed25519, SigKey::Ed25519)
    );
    kind && u32::try_from(key_bits(kt)).unwrap_or(u32::MAX) >= min_bits
}

/// The hashes of a constraint, or SHA2-256/384/512 when none is named.
fn hashes_of(sig: &SigConstraints) -> Vec<SigHash> {
    if sig.hashes.is_empty() {
        vec![SigHash::Sha256, SigHash::Sha384, SigHash::Sha512]
    } else {
        sig.hashes.clone()
    }
}

/// The RFC 7427 schemes we sign with for a key of type `kt`, preferred
/// first, as strongSwan chooses them: RSA keys sign PKCS#1 v1.5 (RFC 8017
/// §8.2) unless the round's `auth` names `rsa/pss` or `[daemon] rsa_pss`
/// is set, then RSASSA-PSS (§8.1, salt = hash length, RFC 4055 §3.1
/// parameters); hashes in the order `auth` names them. ECDSA signs with its
/// curve's hash only (ring), Ed25519 with itself (RFC 8420). A constraint
/// the key cannot satisfy is a configuration error.
pub(crate) fn our_schemes(
    kt: KeyType,
    sig: &SigConstraints,
    rsa_pss: bool,
) -> Result<Vec<SignatureScheme>, String> {
    let matched = if sig.keys.is_empty() {
        None
    } else {
        let found = sig
            .keys
            .iter()
            .find(|(k, bits)| key_fits(kt, *k, *bits))
            .map(|(k, _)| *k);
        match found {
            Some(k) => Some(k),
            None => {
                return Err(format!(
                    "auth = \"{}\" names no key type that fits our {kt} key",
                    sig.to_auth()
                ))
            }
        }
    };
    let hashes = hashes_of(sig);
    let out: Vec<SignatureScheme> = match kt {
        KeyType::Rsa { .. } => {
            let pss = matched == Some(SigKey::RsaPss) || rsa_pss;
            hashes
                .iter()
                .map(|h| match (pss, h) {
                    (true, SigHash::Sha256) => SignatureScheme::RsaPssSha256,
                    (true, SigHash::Sha384) => SignatureScheme::RsaPssSha384,
                    (true, SigHash::Sha512) => SignatureScheme::RsaPssSha512,
                    (false, SigHash::Sha256) => SignatureScheme::RsaPkcs1Sha256,
                    (false, SigHash::Sha384) => SignatureScheme::RsaPkcs1Sha384,
                    (false, SigHash::Sha512) => SignatureScheme::RsaPkcs1Sha512,
                })
                .collect()
        }
        KeyType::EcdsaP256 => hashes
            .iter()
            .filter(|h| **h == SigHash::Sha256)
            .map(|_| SignatureScheme::EcdsaSha256)
            .collect(),
        KeyType::EcdsaP384 => hashes
            .iter()
            .filter(|h| **h == SigHash::Sha384)
            .map(|_| SignatureScheme::EcdsaSha384)
            .collect(),
        KeyType::Ed25519 => vec![SignatureScheme::Ed25519],
    };
    if out.is_empty() {
        return Err(format!(
            "auth = \"{}\": our {kt} key signs only with {}",
            sig.to_auth(),
            match kt {
                KeyType::EcdsaP384 => "sha384",
                _ => "sha256",
            }
        ));
    }
    Ok(out)
}

/// The schemes we accept from a peer whose end entity has a key of type
/// `kt` under the remote round's constraints; `Ok(None)` accepts every
/// scheme (a plain `pubkey`). As in strongSwan, once constraints are
/// written RSASSA-PSS is accepted only where `rsa/pss` is named, PKCS#1
/// v1.5 only where `rsa` or `pubkey` is.
fn peer_schemes(kt: KeyType, sig: &SigConstraints) -> Result<Option<Vec<IkeScheme>>, String> {
    if sig.is_empty() {
        return Ok(None);
    }
    let matched: Vec<SigKey> = sig
        .keys
        .iter()
        .filter(|(k, bits)| key_fits(kt, *k, *bits))
        .map(|(k, _)| *k)
        .collect();
    if !sig.keys.is_empty() && matched.is_empty() {
        return Err(format!(
            "its {kt} key is not one auth = \"{}\" accepts",
            sig.to_auth()
        ));
    }
    let hashes = hashes_of(sig);
    let mut out = Vec::new();
    for h in hashes {
        match kt {
            KeyType::Rsa { .. } => {
                if matched.contains(&SigKey::RsaPss) {
                    out.push(match h {
                        SigHash::Sha256 => IkeScheme::RsaPssSha256,
                        SigHash::Sha384 => IkeScheme::RsaPssSha384,
                        SigHash::Sha512 => IkeScheme::RsaPssSha512,
                    });
                }
                if sig.keys.is_empty() || matched.contains(&SigKey::Rsa) {
                    out.push(match h {
                        SigHash::Sha256 => IkeScheme::RsaPkcs1Sha256,
                        SigHash::Sha384 => IkeScheme::RsaPkcs1Sha384,
                        SigHash::Sha512 => IkeScheme::RsaPkcs1Sha512,
                    });
                }
            }
            KeyType::EcdsaP256 | KeyType::EcdsaP384 => out.push(match h {
                SigHash::Sha256 => IkeScheme::EcdsaSha256,
                SigHash::Sha384 => IkeScheme::EcdsaSha384,
                SigHash::Sha512 => IkeScheme::EcdsaSha512,
            }),
            KeyType::Ed25519 => {
                if !out.contains(&IkeScheme::Ed25519) {
                    out.push(IkeScheme::Ed25519);
                }
            }
        }
    }
    Ok(Some(out))
}

/// What the IKE layer logs for a scheme the remote round's `auth` refuses.
fn refused(scheme: Option<IkeScheme>) -> &'static str {
    match scheme {
        Some(IkeScheme::RsaPkcs1Sha256) => "sha256WithRSAEncryption (refused by remote auth)",
        Some(IkeScheme::RsaPkcs1Sha384) => "sha384WithRSAEncryption (refused by remote auth)",
        Some(IkeScheme::RsaPkcs1Sha512) => "sha512WithRSAEncryption (refused by remote auth)",
        Some(IkeScheme::RsaPssSha256) => "RSASSA-PSS-SHA256 (refused by remote auth)",
        Some(IkeScheme::RsaPssSha384) => "RSASSA-PSS-SHA384 (refused by remote auth)",
        Some(IkeScheme::RsaPssSha512) => "RSASSA-PSS-SHA512 (refused by remote auth)",
        Some(IkeScheme::EcdsaSha256) => "ecdsa-with-SHA256 (refused by remote auth)",
        Some(IkeScheme::EcdsaSha384) => "ecdsa-with-SHA384 (refused by remote auth)",
        Some(IkeScheme::EcdsaSha512) => "ecdsa-with-SHA512 (refused by remote auth)",
        Some(IkeScheme::Ed25519) => "Ed25519 (refused by remote auth)",
        None => "RSA with SHA-1, method 1 (refused by remote auth)",
    }
}

/// A [`Verifier`] that first checks the peer's signature scheme against
/// the remote round's `auth` constraints (swanctl `rsa/pss`,
/// `pubkey-sha384`, …), then verifies with the IKE layer's own verifier.
struct ConstrainedVerifier {
    inner: RingVerifier,
    /// The schemes accepted.
    allowed: Vec<IkeScheme>,
}

impl Verifier for ConstrainedVerifier {
    fn verify(
        &self,
        method: IkeAuthMethod,
        auth_data: &[u8],
        signed_octets: &[u8],
    ) -> Result<(), IkeCryptoError> {
        let scheme = match method {
            IkeAuthMethod::DIGITAL_SIGNATURE => {
                // RFC 7427 §3: one length octet, then the AlgorithmIdentifier.
                // What does not decode is left to the inner verifier's
                // precise error.
                let algid = auth_data.split_first().and_then(|(len, rest)| {
                    rest.get(..usize::from(*len))
                        .and_then(|a| IkeScheme::from_algorithm_identifier(a).ok())
                });
                match algid {
                    Some(s) => Some(s),
                    None => return self.inner.verify(method, auth_data, signed_octets),
                }
            }
            // RFC 4754 methods: ECDSA with the curve's own hash.
            IkeAuthMethod::ECDSA_SHA256_P256 => Some(IkeScheme::EcdsaSha256),
            IkeAuthMethod::ECDSA_SHA384_P384 => Some(IkeScheme::EcdsaSha384),
            // Method 1 signs SHA-1, which no constraint names.
            IkeAuthMethod::RSA_DIGITAL_SIGNATURE => None,
            _ => return self.inner.verify(method, auth_data, signed_octets),
        };
        match scheme {
            Some(s) if self.allowed.contains(&s) => {
                self.inner.verify(method, auth_data, signed_octets)
            }
            other => Err(IkeCryptoError::UnsupportedSignature(refused(other))),
        }
    }
}

fn load_certs(table: &str, path: &Path) -> Result<Vec<Certificate>, CredError> {
    certs::load::certificates_from_file(path).map_err(|e| CredError::Load {
        table: table.to_owned(),
        what: "certificate",
        path: path.display().to_string(),
        reason: crate::error_chain(&e),
    })
}

/// Loads our chain (the first certificate of `certs` is ours; the others
/// are intermediates to send, a self-issued one is the root, which is never
/// sent) and pairs it with its key from `[secrets.private]`.
pub(crate) fn local(
    cfg: &Config,
    conn: &str,
    round: &AuthRound,
    send_cert: SendCert,
) -> Result<LocalCert, CredError> {
    let table = format!("connections.{conn}.{}", round.table);
    let mut all = Vec::new();
    for p in &round.certs {
        all.extend(load_certs(&table, p)?);
    }
    let mut it = all.into_iter();
    let end_entity = it.next().ok_or_else(|| CredError::NoCertificate {
        table: table.clone(),
    })?;
    let subject = end_entity.subject().to_owned();
    let (roots, intermediates): (Vec<_>, Vec<_>) = it.partition(Certificate::is_self_issued);
    let pk = end_entity.public_key().map_err(|e| CredError::Signer {
        table: table.clone(),
        subject: subject.clone(),
        reason: e.to_string(),
    })?;
    let secret = cfg
        .secrets
        .private
        .iter()
        .find(|k| *k.key.public_key() == pk)
        .ok_or_else(|| CredError::NoKey {
            table: table.clone(),
            subject: subject.clone(),
        })?;
    // The configuration keeps its key (a reload compares against it); the
    // credentials get their own zeroizing copy.
    let key = PrivateKey::from_pkcs8_der(secret.key.secret_bytes(), &secret.name).map_err(|e| {
        CredError::Signer {
            table: table.clone(),
            subject: subject.clone(),
            reason: e.to_string(),
        }
    })?;
    let chain = LocalChain {
        end_entity,
        intermediates,
        root: roots.into_iter().next(),
    };
    let key_copy =
        PrivateKey::from_pkcs8_der(secret.key.secret_bytes(), &secret.name).map_err(|e| {
            CredError::Signer {
                table: table.clone(),
                subject: subject.clone(),
                reason: e.to_string(),
            }
        })?;
    let schemes =
        our_schemes(key.key_type(), &round.signature, cfg.daemon.rsa_pss).map_err(|reason| {
            CredError::Signer {
                table: table.clone(),
                subject: subject.clone(),
                reason,
            }
        })?;
    let creds = LocalCredentials::new(
        key,
        AuthStyle::DigitalSignature(schemes.first().copied()),
        vec![chain],
    )
    .map_err(|e| CredError::Signer {
        table: table.clone(),
        subject: subject.clone(),
        reason: e.to_string(),
    })?;
    // The fixed signer and chain are the core's fallback when the provider
    // has no answer; the provider always has one.
    let certs = match send_cert {
        SendCert::Always | SendCert::IfAsked => creds.default_certs(),
        SendCert::Never => Vec::new(),
    };
    let signer: Arc<dyn Signer> = creds.signer();
    let provider = Arc::new(ChainProvider {
        creds,
        key: Arc::new(key_copy),
        send_cert,
        schemes,
    });
    Ok(LocalCert {
        signer,
        certs,
        subject,
        provider,
    })
}

/// The peer's side of a pubkey round.
pub(crate) fn remote(conn: &str, round: &AuthRound) -> Result<Arc<SiteVerifier>, CredError> {
    let table = format!("connections.{conn}.{}", round.table);
    let mut store = TrustStore::new();
    let mut anchors = 0usize;
    let mut crls = 0usize;
    let mut certreq: Vec<Vec<u8>> = Vec::new();
    for p in &round.cacerts {
        for c in load_certs(&table, p)? {
            let h = c.spki_sha1().to_vec();
            if !certreq.contains(&h) {
                certreq.push(h);
            }
            store.add_anchor(c);
            anchors = anchors.saturating_add(1);
        }
        // A CRL may sit in the same PEM file as its CA (there is no
        // separate setting for CRL files yet).
        let bytes = std::fs::read(p).map_err(|e| CredError::Load {
            table: table.clone(),
            what: "CRL",
            path: p.display().to_string(),
            reason: e.to_string(),
        })?;
        if bytes
            .windows(CRL_PEM_MARKER.len())
            .any(|w| w == CRL_PEM_MARKER)
        {
            let list =
                certs::load::crls_from_bytes(&bytes, &p.display().to_string()).map_err(|e| {
                    CredError::Load {
                        table: table.clone(),
                        what: "CRL",
                        path: p.display().to_string(),
                        reason: crate::error_chain(&e),
                    }
                })?;
            for crl in list {
                store.add_crl(crl);
                crls = crls.saturating_add(1);
            }
        }
    }
    // A pinned certificate is trusted as it is (the `certs` crate accepts an
    // end entity that is itself an anchor), as strongSwan trusts the
    // certificates it loaded locally; it also restricts the peer to it.
    let mut pinned = Vec::new();
    for p in &round.certs {
        for c in load_certs(&table, p)? {
            pinned.push(c.clone());
            store.add_anchor(c);
            anchors = anchors.saturating_add(1);
        }
    }
    if anchors == 0 {
        return Err(CredError::NoAnchors { table });
    }
    let mut opts = ValidationOptions::at_unix(0, KeyPurpose::Any);
    opts.require_fresh_crl = match round.revocation {
        Revocation::Relaxed => false,
        Revocation::IfUri => true,
        Revocation::Strict => {
            if crls == 0 {
                return Err(CredError::StrictWithoutCrl { table });
            }
            true
        }
    };
    let inner = TrustVerifier::with_options(Arc::new(store), opts, WallClock::System);
    Ok(Arc::new(SiteVerifier {
        inner,
        pinned,
        certreq,
        table,
        accept: round.signature.clone(),
    }))
}

/// A [`CertVerifier`] for site-to-site peers: the `certs` crate's path and
/// identity checks, then an extendedKeyUsage fit for IKE (any of
/// [`IKE_PURPOSES`], or none at all), then the pinned certificates of
/// `remote.certs` if any.
pub(crate) struct SiteVerifier {
    inner: TrustVerifier,
    /// `remote.certs`; empty = any certificate that validates.
    pinned: Vec<Certificate>,
    /// SHA-1 hashes of the `cacerts` keys (pinned end entities are no CAs
    /// and are not requested).
    certreq: Vec<Vec<u8>>,
    /// `connections.NAME.remote`, for the operator's hint.
    table: String,
    /// The round's `auth` constraints on the peer's key and signature.
    accept: SigConstraints,
}

impl SiteVerifier {
    /// SHA-1 hashes of our anchors' keys for CERTREQ (RFC 7296 §3.7).
    pub(crate) fn cert_requests(&self) -> Vec<Vec<u8>> {
        self.certreq.clone()
    }

    /// What the operator can change for each kind of refusal.
    fn hint(&self, e: &PeerCertError) -> String {
        let t = &self.table;
        match e {
            PeerCertError::NoCertificate { .. } => {
                "the peer must send its certificate (send_cert on its side), and we ask for it with send_certreq = true".into()
            }
            PeerCertError::Identity(
                IdentityError::NotInSubjectAltName { .. } | IdentityError::DnMismatch { .. },
            ) => "the peer's id (its local.id) must be one of the names its certificate carries, or its certificate must be reissued with that name".into(),
            PeerCertError::Validation(v) => match v {
                // Each case says only what is known: a chain that reached
                // a CA or a root we do not trust needs an anchor, not more
                // certificates from the peer.
                ValidationError::UntrustedRoot { subject } => {
                    format!("if you trust '{subject}', add its certificate to {t}.cacerts")
                }
                ValidationError::NoTrustAnchor { issuer, .. } => {
                    format!("if you trust '{issuer}', add its certificate to {t}.cacerts")
                }
                ValidationError::ChainIncomplete { issuer, .. } => format!(
                    "if '{issuer}' is the peer's root CA and you trust it, add its certificate to \
                     {t}.cacerts; if it is an intermediate CA, the peer must send it after its own \
                     certificate (its certs), or add it to {t}.cacerts"
                ),
                ValidationError::IssuerKeyMismatch { issuer, .. } => format!(
                    "the '{issuer}' in {t}.cacerts is not the one that signed the peer's \
                     certificate: replace it with the CA's current certificate"
                ),
                ValidationError::Expired { .. } | ValidationError::NotYetValid { .. } => {
                    "renew the peer's certificate, or check this host's clock".into()
                }
                ValidationError::Revoked { .. } => {
                    "the peer needs a new certificate from its CA".into()
                }
                ValidationError::CrlStale { .. } | ValidationError::CrlBadSignature { .. } => {
                    format!("put a current CRL into {t}.cacerts, or set {t}.revocation = \"relaxed\"")
                }
                _ => "the peer's certificate must be reissued".into(),
            },
            _ => format!("check {t} and the peer's certificate"),
        }
    }

    fn refuse(&self, e: &PeerCertError) -> String {
        format!("{e}; {}", self.hint(e))
    }
}

impl CertVerifier for SiteVerifier {
    fn verifier_for(&self, peer_id: &Id, certs: &[&Cert]) -> Result<Box<dyn Verifier>, String> {
        let chain = if certs.is_empty() && !self.pinned.is_empty() {
            // A peer with `send_cert = never` relies on us having its
            // certificate: take the first pinned one that backs its ID.
            let mut first_err = None;
            let mut found = None;
            for c in &self.pinned {
                let payload = Cert {
                    encoding: CertEncoding::X509_CERT_SIG,
                    data: c.der().to_vec(),
                };
                match self.inner.check(peer_id, &[&payload]) {
                    Ok(chain) => {
                        found = Some(chain);
                        break;
                    }
                    Err(e) => {
                        first_err.get_or_insert(e);
                    }
                }
            }
            match (found, first_err) {
                (Some(chain), _) => chain,
                (None, Some(e)) => return Err(self.refuse(&e)),
                (None, None) => return Err(format!("no pinned certificate for {peer_id}")),
            }
        } else {
            self.inner
                .check(peer_id, certs)
                .map_err(|e| self.refuse(&e))?
        };
        let Some(ee) = chain.end_entity() else {
            return Err(format!("no end entity certificate from {peer_id}"));
        };
        if let Some(eku) = ee.extended_key_usage() {
            if !eku.iter().any(|p| IKE_PURPOSES.contains(&p.as_str())) {
                return Err(format!(
                    "peer certificate {} rejected: extendedKeyUsage [{}] has none of serverAuth, clientAuth, ipsecIKE; the peer's certificate must be reissued with one of them",
                    ee.subject(),
                    eku.join(", ")
                ));
            }
        }
        if !self.pinned.is_empty() && !self.pinned.iter().any(|p| p.der() == ee.der()) {
            return Err(format!(
                "peer certificate {} rejected: not one of the certificates pinned in {}.certs; add it there or remove the pin",
                ee.subject(),
                self.table
            ));
        }
        let v = RingVerifier::from_spki_der(chain.public_key().spki_der()).map_err(|e| {
            format!(
                "peer certificate {} has a key IKE cannot verify with: {e}",
                ee.subject()
            )
        })?;
        match peer_schemes(chain.public_key().key_type(), &self.accept) {
            Ok(None) => Ok(Box::new(v)),
            Ok(Some(allowed)) => Ok(Box::new(ConstrainedVerifier { inner: v, allowed })),
            Err(why) => Err(format!(
                "peer certificate {} rejected: {why} (in {}); change {}.auth or the peer's key",
                ee.subject(),
                self.table,
                self.table
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;
    use std::time::SystemTime;

    use certs::issue::{generate_key, Ca, CertSpec, KeyAlgorithm, Profile, San};
    use certs::IkeId;

    use super::*;
    use crate::config::AuthMethod;

    const DAY: i64 = 86_400;

    fn now() -> i64 {
        let d = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap();
        i64::try_from(d.as_secs()).unwrap()
    }

    fn root(name: &str) -> Ca {
        let spec = CertSpec::new(name, Profile::Ca { path_len: None }, now() - DAY, 3650);
        Ca::self_signed(&spec, generate_key(KeyAlgorithm::EcdsaP256).unwrap()).unwrap()
    }

    fn leaf(ca: &Ca, san: &str) -> Certificate {
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let mut spec = CertSpec::new(&format!("CN={san}"), Profile::Gateway, now() - DAY, 30);
        spec.sans = vec![San::parse(san).unwrap()];
        ca.issue(&spec, &key).unwrap()
    }

    fn remote_round(cacerts: Vec<PathBuf>, certs: Vec<PathBuf>, rev: Revocation) -> AuthRound {
        AuthRound {
            eap_id: None,
            round: 1,
            table: "remote".into(),
            auth: AuthMethod::Pubkey,
            id: None,
            id_text: None,
            certs,
            cacerts,
            revocation: rev,
            signature: SigConstraints::default(),
        }
    }

    fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).unwrap();
        p
    }

    fn fqdn(s: &str) -> Id {
        Id::from(&IkeId::parse(s).unwrap())
    }

    fn payload(c: &Certificate) -> Cert {
        Cert {
            encoding: CertEncoding::X509_CERT_SIG,
            data: c.der().to_vec(),
        }
    }

    fn refusal(v: &SiteVerifier, id: &str, c: &Certificate) -> String {
        match v.verifier_for(&fqdn(id), &[&payload(c)]) {
            Ok(_) => panic!("accepted {id}"),
            Err(e) => e,
        }
    }

    #[test]
    fn a_certified_peer_is_accepted_and_certreq_names_our_anchor() {
        let dir = tempfile::tempdir().unwrap();
        let ca = root("CN=Test CA");
        let ca_file = write(dir.path(), "ca.crt", &ca.cert.to_pem());
        let v = remote(
            "ab",
            &remote_round(vec![ca_file], vec![], Revocation::Relaxed),
        )
        .unwrap();
        let c = leaf(&ca, "branch.example");
        assert!(v
            .verifier_for(&fqdn("branch.example"), &[&payload(&c)])
            .is_ok());
        assert_eq!(v.cert_requests(), vec![ca.cert.spki_sha1().to_vec()]);
    }

    #[test]
    fn an_id_the_certificate_lacks_is_refused_with_the_certs_message_and_a_hint() {
        let dir = tempfile::tempdir().unwrap();
        let ca = root("CN=Test CA");
        let ca_file = write(dir.path(), "ca.crt", &ca.cert.to_pem());
        let v = remote(
            "ab",
            &remote_round(vec![ca_file], vec![], Revocation::Relaxed),
        )
        .unwrap();
        let e = refusal(&v, "gw.example", &leaf(&ca, "branch.example"));
        assert!(
            e.starts_with("peer certificate CN=branch.example rejected: ID 'gw.example' not in subjectAltName [DNS:branch.example]; "),
            "{e}"
        );
        assert!(e.contains("local.id"), "{e}");
    }

    fn refusal_of_chain(v: &SiteVerifier, id: &str, chain: &[&Certificate]) -> String {
        let payloads: Vec<Cert> = chain.iter().map(|c| payload(c)).collect();
        let refs: Vec<&Cert> = payloads.iter().collect();
        match v.verifier_for(&fqdn(id), &refs) {
            Ok(_) => panic!("accepted {id}"),
            Err(e) => e,
        }
    }

    fn intermediate(ca: &Ca, name: &str) -> Ca {
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let spec = CertSpec::new(name, Profile::Ca { path_len: None }, now() - DAY, 365);
        Ca::new(ca.issue_intermediate(&spec, &key).unwrap(), key).unwrap()
    }

    fn verifier_trusting(dir: &Path, cas: &[&Ca]) -> Arc<SiteVerifier> {
        let pem: String = cas.iter().map(|c| c.cert.to_pem()).collect();
        let ca_file = write(dir, "ca.crt", &pem);
        remote(
            "s2s",
            &remote_round(vec![ca_file], vec![], Revocation::Relaxed),
        )
        .unwrap()
    }

    /// Issue #8 scenario 9: the peer sends its end entity and intermediate,
    /// we trust an unrelated root and intermediate. What is missing is trust
    /// in the peer's root, and the line says so, not "send the intermediate".
    #[test]
    fn a_chain_under_an_unknown_root_asks_for_the_anchor_only() {
        let dir = tempfile::tempdir().unwrap();
        let ours = root("CN=unrelated root CA");
        let ours_int = intermediate(&ours, "CN=unrelated intermediate CA");
        let theirs = root("CN=peer root CA");
        let theirs_int = intermediate(&theirs, "CN=peer intermediate CA");
        let v = verifier_trusting(dir.path(), &[&ours, &ours_int]);
        let ee = leaf(&theirs_int, "branch.example");
        assert_eq!(
            refusal_of_chain(&v, "branch.example", &[&ee, &theirs_int.cert]),
            "no trust anchor: the chain reaches CA \
             'CN=peer intermediate CA', issued by 'CN=peer root CA', which is not one of our \
             trust anchors; if you trust 'CN=peer root CA', add its certificate to \
             connections.s2s.remote.cacerts"
        );
        // The peer sending its root along changes nothing but the wording.
        assert_eq!(
            refusal_of_chain(&v, "branch.example", &[&ee, &theirs_int.cert, &theirs.cert]),
            "no trust anchor: the chain ends in self-signed \
             'CN=peer root CA', which is not one of our trust anchors; if you trust \
             'CN=peer root CA', add its certificate to connections.s2s.remote.cacerts"
        );
    }

    /// We trust the peer's root, the peer leaves out its intermediate: both
    /// ways to complete the chain are named, since only the name is known.
    #[test]
    fn a_missing_intermediate_names_both_remedies() {
        let dir = tempfile::tempdir().unwrap();
        let ca = root("CN=peer root CA");
        let int = intermediate(&ca, "CN=peer intermediate CA");
        let v = verifier_trusting(dir.path(), &[&ca]);
        let ee = leaf(&int, "branch.example");
        assert_eq!(
            refusal(&v, "branch.example", &ee),
            "no issuer for 'CN=branch.example': \
             'CN=peer intermediate CA' is not one of our trust anchors, and the peer sent no \
             intermediate CA certificate; if 'CN=peer intermediate CA' is the peer's root CA \
             and you trust it, add its certificate to connections.s2s.remote.cacerts; if it is \
             an intermediate CA, the peer must send it after its own certificate (its certs), \
             or add it to connections.s2s.remote.cacerts"
        );
        // With the intermediate the same verifier accepts.
        let payloads = [payload(&ee), payload(&int.cert)];
        assert!(v
            .verifier_for(&fqdn("branch.example"), &[&payloads[0], &payloads[1]])
            .is_ok());
    }

    #[test]
    fn a_re_keyed_ca_of_the_same_name_is_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let ours = root("CN=Test CA");
        let theirs = root("CN=Test CA");
        let v = verifier_trusting(dir.path(), &[&ours]);
        let e = refusal(&v, "branch.example", &leaf(&theirs, "branch.example"));
        assert!(
            e.starts_with("no issuer for 'CN=branch.example': our 'CN=Test CA' has another key"),
            "{e}"
        );
        assert!(
            e.ends_with("; the 'CN=Test CA' in connections.s2s.remote.cacerts is not the one that signed the peer's certificate: replace it with the CA's current certificate"),
            "{e}"
        );
    }

    #[test]
    fn an_expired_peer_certificate_says_when_and_what_to_do() {
        let dir = tempfile::tempdir().unwrap();
        let ca = root("CN=Test CA");
        let v = verifier_trusting(dir.path(), &[&ca]);
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let mut spec = CertSpec::new("CN=old.example", Profile::Gateway, now() - 40 * DAY, 30);
        spec.sans = vec![San::parse("old.example").unwrap()];
        let e = refusal(&v, "old.example", &ca.issue(&spec, &key).unwrap());
        assert!(
            e.starts_with("certificate 'CN=old.example' expired 10 days ago"),
            "{e}"
        );
        assert!(
            e.ends_with("; renew the peer's certificate, or check this host's clock"),
            "{e}"
        );
    }

    #[test]
    fn a_crl_next_to_the_ca_revokes() {
        let dir = tempfile::tempdir().unwrap();
        let ca = root("CN=Test CA");
        let bad = leaf(&ca, "branch.example");
        let good = leaf(&ca, "other.example");
        let crl = ca
            .issue_crl(&[(bad.serial(), now() - 60)], 1, now() - 60, 7)
            .unwrap();
        let text = format!("{}{}", ca.cert.to_pem(), crl.to_pem());
        let ca_file = write(dir.path(), "ca.crt", &text);
        let v = remote(
            "ab",
            &remote_round(vec![ca_file], vec![], Revocation::Strict),
        )
        .unwrap();
        let e = refusal(&v, "branch.example", &bad);
        assert!(e.contains("revoked"), "{e}");
        assert!(e.contains("needs a new certificate"), "{e}");
        assert!(v
            .verifier_for(&fqdn("other.example"), &[&payload(&good)])
            .is_ok());
    }

    #[test]
    fn strict_revocation_without_a_crl_is_a_setup_error() {
        let dir = tempfile::tempdir().unwrap();
        let ca = root("CN=Test CA");
        let ca_file = write(dir.path(), "ca.crt", &ca.cert.to_pem());
        let e = remote(
            "ab",
            &remote_round(vec![ca_file], vec![], Revocation::Strict),
        )
        .err()
        .unwrap();
        assert!(matches!(e, CredError::StrictWithoutCrl { .. }), "{e}");
        assert!(e.to_string().starts_with("connections.ab.remote: "), "{e}");
    }

    #[test]
    fn no_cacerts_is_a_setup_error() {
        let e = remote("ab", &remote_round(vec![], vec![], Revocation::Relaxed))
            .err()
            .unwrap();
        assert!(matches!(e, CredError::NoAnchors { .. }), "{e}");
    }

    #[test]
    fn a_pinned_certificate_restricts_the_peer() {
        let dir = tempfile::tempdir().unwrap();
        let ca = root("CN=Test CA");
        let pinned = leaf(&ca, "branch.example");
        let other = leaf(&ca, "branch.example");
        let ca_file = write(dir.path(), "ca.crt", &ca.cert.to_pem());
        let pin = write(dir.path(), "pin.crt", &pinned.to_pem());
        let v = remote(
            "ab",
            &remote_round(vec![ca_file], vec![pin], Revocation::Relaxed),
        )
        .unwrap();
        assert!(v
            .verifier_for(&fqdn("branch.example"), &[&payload(&pinned)])
            .is_ok());
        let e = refusal(&v, "branch.example", &other);
        assert!(e.contains("pinned in connections.ab.remote.certs"), "{e}");
        // CERTREQ names the CA, not the pinned end entity.
        assert_eq!(v.cert_requests(), vec![ca.cert.spki_sha1().to_vec()]);
    }

    #[test]
    fn a_pinned_certificate_alone_is_trusted_as_it_is() {
        let dir = tempfile::tempdir().unwrap();
        let ca = root("CN=Test CA");
        let pinned = leaf(&ca, "branch.example");
        let other = leaf(&ca, "branch.example");
        let pin = write(dir.path(), "pin.crt", &pinned.to_pem());
        let v = remote("ab", &remote_round(vec![], vec![pin], Revocation::Relaxed)).unwrap();
        assert!(v
            .verifier_for(&fqdn("branch.example"), &[&payload(&pinned)])
            .is_ok());
        let e = refusal(&v, "branch.example", &other);
        assert!(e.contains("cacerts"), "{e}");
        assert!(v.cert_requests().is_empty());
        // A peer that sends no certificate (send_cert = never) is checked
        // against the pinned one.
        assert!(v.verifier_for(&fqdn("branch.example"), &[]).is_ok());
        let Err(e) = v.verifier_for(&fqdn("gw.example"), &[]) else {
            panic!("accepted gw.example")
        };
        assert!(e.contains("ID 'gw.example' not in subjectAltName"), "{e}");
    }

    fn provider(send_cert: SendCert, alg: KeyAlgorithm) -> ChainProvider {
        let ca = root("CN=Test CA");
        let key = generate_key(alg).unwrap();
        let mut spec = CertSpec::new("CN=gw.example", Profile::Gateway, now() - DAY, 30);
        spec.sans = vec![San::parse("gw.example").unwrap()];
        let cert = ca.issue(&spec, &key).unwrap();
        let copy = PrivateKey::from_pkcs8_der(key.secret_bytes(), "copy").unwrap();
        let chain = LocalChain {
            end_entity: cert,
            intermediates: Vec::new(),
            root: Some(ca.cert),
        };
        ChainProvider {
            creds: LocalCredentials::new(key, AuthStyle::DigitalSignature(None), vec![chain])
                .unwrap(),
            key: Arc::new(copy),
            send_cert,
            schemes: Vec::new(),
        }
    }

    #[test]
    fn send_cert_decides_on_the_peers_certreq() {
        let asked = [[7u8; 20]];
        let sha256 = [HashAlgorithm(2)];
        let count = |p: &ChainProvider, ca: &[[u8; 20]]| {
            p.credentials_for(ca, &sha256).unwrap().certs.len()
        };
        let always = provider(SendCert::Always, KeyAlgorithm::EcdsaP256);
        assert_eq!((count(&always, &[]), count(&always, &asked)), (1, 1));
        let ifasked = provider(SendCert::IfAsked, KeyAlgorithm::EcdsaP256);
        assert_eq!((count(&ifasked, &[]), count(&ifasked, &asked)), (0, 1));
        let never = provider(SendCert::Never, KeyAlgorithm::EcdsaP256);
        assert_eq!((count(&never, &[]), count(&never, &asked)), (0, 0));
    }

    #[test]
    fn the_auth_method_follows_the_peers_announced_hashes() {
        use ike::crypto::AuthMethod as M;
        let method = |p: &ChainProvider, h: &[HashAlgorithm]| {
            p.credentials_for(&[], h).unwrap().signer.auth_method()
        };
        let ec = provider(SendCert::Always, KeyAlgorithm::EcdsaP256);
        // RFC 7427 §4: no SIGNATURE_HASH_ALGORITHMS, so RFC 4754 method 9.
        assert_eq!(method(&ec, &[]), M::ECDSA_SHA256_P256);
        assert_eq!(method(&ec, &[HashAlgorithm(2)]), M::DIGITAL_SIGNATURE);
        // Ed25519 has no classic method; it stays with RFC 7427 (RFC 8420).
        let ed = provider(SendCert::Always, KeyAlgorithm::Ed25519);
        assert_eq!(method(&ed, &[]), M::DIGITAL_SIGNATURE);
        assert_eq!(method(&ed, &[HashAlgorithm(5)]), M::DIGITAL_SIGNATURE);
    }

    fn sig(auth_keys: &[(SigKey, u32)], hashes: &[SigHash]) -> SigConstraints {
        SigConstraints {
            keys: auth_keys.to_vec(),
            hashes: hashes.to_vec(),
        }
    }

    #[test]
    fn rsa_keys_sign_pkcs1_unless_rsa_pss_is_asked_for() {
        use SignatureScheme as S;
        let rsa = KeyType::Rsa { bits: 2048 };
        let none = SigConstraints::default();
        // `pubkey`: PKCS#1 v1.5, as charon without rsa_pss.
        assert_eq!(
            our_schemes(rsa, &none, false).unwrap(),
            [S::RsaPkcs1Sha256, S::RsaPkcs1Sha384, S::RsaPkcs1Sha512]
        );
        // `[daemon] rsa_pss = true` (charon.rsa_pss = yes).
        assert_eq!(
            our_schemes(rsa, &none, true).unwrap(),
            [S::RsaPssSha256, S::RsaPssSha384, S::RsaPssSha512]
        );
        // `auth = "rsa/pss-sha384"` in the round.
        assert_eq!(
            our_schemes(rsa, &sig(&[(SigKey::RsaPss, 0)], &[SigHash::Sha384]), false).unwrap(),
            [S::RsaPssSha384]
        );
        // `rsa-sha512` with rsa_pss: PSS, as strongSwan does with rsa_pss.
        assert_eq!(
            our_schemes(rsa, &sig(&[(SigKey::Rsa, 0)], &[SigHash::Sha512]), true).unwrap(),
            [S::RsaPssSha512]
        );
        // ECDSA and Ed25519 ignore the RSA padding setting.
        assert_eq!(
            our_schemes(KeyType::EcdsaP384, &none, true).unwrap(),
            [S::EcdsaSha384]
        );
        assert_eq!(
            our_schemes(KeyType::Ed25519, &none, true).unwrap(),
            [S::Ed25519]
        );
    }

    #[test]
    fn constraints_our_key_cannot_meet_are_load_errors() {
        assert_eq!(
            our_schemes(KeyType::EcdsaP256, &sig(&[(SigKey::RsaPss, 0)], &[]), false).unwrap_err(),
            "auth = \"rsa/pss\" names no key type that fits our ECDSA P-256 key"
        );
        assert_eq!(
            our_schemes(
                KeyType::Rsa { bits: 2048 },
                &sig(&[(SigKey::Rsa, 3072)], &[]),
                false
            )
            .unwrap_err(),
            "auth = \"rsa-3072\" names no key type that fits our RSA 2048 key"
        );
        assert_eq!(
            our_schemes(KeyType::EcdsaP256, &sig(&[], &[SigHash::Sha384]), false).unwrap_err(),
            "auth = \"pubkey-sha384\": our ECDSA P-256 key signs only with sha256"
        );
    }

    #[test]
    fn a_pss_preference_reaches_the_signer_the_core_gets() {
        use ike::crypto::AuthMethod as M;
        let mut p = provider(SendCert::Always, KeyAlgorithm::Ed25519);
        // Swap in an RSA key and its PSS preference, as local() would.
        let pem = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs/tests/data/sw-ee-rsa.key"),
        )
        .unwrap();
        let key = PrivateKey::from_pem_or_der(&pem, "rsa").unwrap();
        p.schemes = our_schemes(key.key_type(), &SigConstraints::default(), true).unwrap();
        p.key = Arc::new(key);
        let signer = p
            .credentials_for(&[], &[HashAlgorithm(2), HashAlgorithm(3)])
            .unwrap()
            .signer;
        assert_eq!(signer.auth_method(), M::DIGITAL_SIGNATURE);
        let auth = signer.sign(b"octets").unwrap();
        let algid = SignatureScheme::RsaPssSha256.algorithm_identifier();
        assert_eq!(auth.data.get(1..=algid.len()), Some(algid.as_slice()));
        // The IKE layer's verifier reads it back as RSASSA-PSS.
        let v = RingVerifier::from_spki_der(p.key.public_key().spki_der()).unwrap();
        v.verify(M::DIGITAL_SIGNATURE, &auth.data, b"octets")
            .unwrap();
    }

    #[test]
    fn remote_constraints_refuse_schemes_they_do_not_name() {
        use ike::crypto::AuthMethod as M;
        let pem = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../certs/tests/data/sw-ee-rsa.key"),
        )
        .unwrap();
        let key = Arc::new(PrivateKey::from_pem_or_der(&pem, "rsa").unwrap());
        let sign = |s: SignatureScheme| {
            CertSigner::new(Arc::clone(&key), AuthStyle::DigitalSignature(Some(s)))
                .unwrap()
                .sign(b"octets")
                .unwrap()
                .data
        };
        let (pss, pkcs1) = (
            sign(SignatureScheme::RsaPssSha256),
            sign(SignatureScheme::RsaPkcs1Sha256),
        );
        let rsa = key.key_type();
        let verifier = |c: &SigConstraints| -> Box<dyn Verifier> {
            let inner = RingVerifier::from_spki_der(key.public_key().spki_der()).unwrap();
            match peer_schemes(rsa, c).unwrap() {
                None => Box::new(inner),
                Some(allowed) => Box::new(ConstrainedVerifier { inner, allowed }),
            }
        };
        // A plain pubkey accepts both paddings.
        let any = verifier(&SigConstraints::default());
        any.verify(M::DIGITAL_SIGNATURE, &pss, b"octets").unwrap();
        any.verify(M::DIGITAL_SIGNATURE, &pkcs1, b"octets").unwrap();
        // rsa/pss: PSS only.
        let only_pss = verifier(&sig(&[(SigKey::RsaPss, 0)], &[]));
        only_pss
            .verify(M::DIGITAL_SIGNATURE, &pss, b"octets")
            .unwrap();
        assert_eq!(
            only_pss
                .verify(M::DIGITAL_SIGNATURE, &pkcs1, b"octets")
                .unwrap_err()
                .to_string(),
            "signature algorithm or AUTH method sha256WithRSAEncryption (refused by remote auth) \
             not supported for this key"
        );
        // rsa-sha384: PKCS#1 with SHA-384 only.
        let sha384 = verifier(&sig(&[(SigKey::Rsa, 0)], &[SigHash::Sha384]));
        assert!(sha384
            .verify(M::DIGITAL_SIGNATURE, &pkcs1, b"octets")
            .is_err());
        assert!(sha384
            .verify(M::DIGITAL_SIGNATURE, &pss, b"octets")
            .is_err());
        // A bad signature under an allowed scheme is still a bad signature.
        assert!(only_pss
            .verify(M::DIGITAL_SIGNATURE, &pss, b"other")
            .is_err());
        // Key type and size are checked before any signature.
        assert_eq!(
            peer_schemes(rsa, &sig(&[(SigKey::Ecdsa, 0)], &[])).unwrap_err(),
            "its RSA 2048 key is not one auth = \"ecdsa\" accepts"
        );
        assert!(peer_schemes(rsa, &sig(&[(SigKey::Rsa, 4096)], &[])).is_err());
    }
}
