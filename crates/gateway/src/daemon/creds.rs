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
    choose_style, AuthStyle, CertSigner, LocalCredentials, PeerCertError, TrustVerifier, WallClock,
};
use certs::{
    Certificate, IdentityError, KeyPurpose, LocalChain, PrivateKey, TrustStore, ValidationError,
    ValidationOptions,
};
use ike::crypto::{RingVerifier, Signer, Verifier};
use ike::sa::{CertVerifier, CredentialProvider, Credentials};
use ike::wire::HashAlgorithm;
use ike::wire::{Cert, CertEncoding, Id};

use crate::config::{AuthRound, Config, Revocation, SendCert};

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
        let signer: Arc<dyn Signer> = match choose_style(&self.key, announced)
            .and_then(|style| CertSigner::new(Arc::clone(&self.key), style).ok())
        {
            Some(s) => Arc::new(s),
            None => self.creds.signer(),
        };
        Some(Credentials { certs, signer })
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
    let creds = LocalCredentials::new(key, AuthStyle::DigitalSignature(None), vec![chain])
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
                ValidationError::UntrustedRoot { .. } | ValidationError::ChainIncomplete { .. } => {
                    format!("add the CA that issued it to {t}.cacerts, or have the peer send its intermediates")
                }
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
        Ok(Box::new(v))
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
            round: 1,
            table: "remote".into(),
            auth: AuthMethod::Pubkey,
            id: None,
            id_text: None,
            certs,
            cacerts,
            revocation: rev,
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

    #[test]
    fn an_untrusted_root_points_at_cacerts() {
        let dir = tempfile::tempdir().unwrap();
        let ours = root("CN=Test CA");
        let theirs = root("CN=Test CA");
        let ca_file = write(dir.path(), "ca.crt", &ours.cert.to_pem());
        let v = remote(
            "ab",
            &remote_round(vec![ca_file], vec![], Revocation::Relaxed),
        )
        .unwrap();
        let e = refusal(&v, "branch.example", &leaf(&theirs, "branch.example"));
        assert!(
            e.contains("add the CA that issued it to connections.ab.remote.cacerts"),
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
}
