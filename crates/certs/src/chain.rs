//! Certificate path building and validation (RFC 5280 §6, RFC 4945 §5).
//!
//! Given the peer's end-entity certificate, the intermediates it sent, and our
//! [`TrustStore`] (anchors, local intermediates, CRLs), [`validate`] searches
//! for a path to a trust anchor and checks every link: signature, validity,
//! basicConstraints and pathLenConstraint, keyUsage, name constraints and CRL
//! status. The end entity's extendedKeyUsage is checked against the role.
//!
//! A certificate that is itself a configured trust anchor is accepted as it
//! is (a pinned peer certificate). The search tries anchors first, then local
//! and peer intermediates, backtracking over candidates with the same name; it
//! reports the first failure it met, and gives up after
//! [`MAX_SIGNATURE_CHECKS`] issuer signatures so that a flood of cross-signed
//! certificates cannot make it exponential.
//!
//! The wall-clock time comes in through [`ValidationOptions`]; nothing here
//! reads the clock. Policy processing (certificatePolicies, policy mappings)
//! is not done; a certificate marking such an extension critical is accepted
//! only for certificatePolicies, whose absence of processing equals
//! anyPolicy.

use std::cell::Cell;
use std::time::SystemTime;

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::ParsedExtension;

use crate::cert::{eku_names, key_usage_names, trim_serial_hex, Certificate, Crl, OID_IPSEC_IKE};
use crate::error::ValidationError;
use crate::names;
use crate::sig::{PublicKey, SignatureScheme};

/// strongSwan's default limit on the number of certificates in a path.
pub const DEFAULT_MAX_DEPTH: usize = 7;

/// Most issuer signatures one validation may check. A peer can send many
/// cross-signed certificates with the same names; without a budget the path
/// search would be exponential in their number.
pub const MAX_SIGNATURE_CHECKS: u32 = 64;

/// Certificates and CRLs we trust or may use to complete a path.
#[derive(Debug, Clone, Default)]
pub struct TrustStore {
    anchors: Vec<Certificate>,
    intermediates: Vec<Certificate>,
    crls: Vec<Crl>,
}

impl TrustStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Trust `cert` as a root of paths (usually a self-signed CA).
    pub fn add_anchor(&mut self, cert: Certificate) {
        self.anchors.push(cert);
    }

    /// Offer `cert` as a locally known intermediate CA (not trusted by itself).
    pub fn add_intermediate(&mut self, cert: Certificate) {
        self.intermediates.push(cert);
    }

    /// Add a CRL; it is used once its signature verifies with its issuer's key.
    pub fn add_crl(&mut self, crl: Crl) {
        self.crls.push(crl);
    }

    /// Trust anchors, in the order added.
    pub fn anchors(&self) -> &[Certificate] {
        &self.anchors
    }
}

/// What the end entity is to be used for, as the extendedKeyUsage check sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPurpose {
    /// A gateway (we are the initiator): serverAuth or ipsecIKE.
    Server,
    /// A remote-access client (we are the responder): clientAuth or ipsecIKE.
    Client,
    /// No EKU check.
    Any,
}

impl KeyPurpose {
    const fn needs(self) -> &'static str {
        match self {
            Self::Server => "serverAuth or ipsecIKE",
            Self::Client => "clientAuth or ipsecIKE",
            Self::Any => "anything",
        }
    }
}

/// Inputs to [`validate`] other than the certificates.
#[derive(Debug, Clone)]
pub struct ValidationOptions {
    /// Wall-clock time of the check, Unix seconds.
    pub now: i64,
    /// The end entity's role.
    pub purpose: KeyPurpose,
    /// Most certificates in a path, end entity and anchor included.
    pub max_depth: usize,
    /// Reject when the only CRL for an issuer is past its nextUpdate. Off by
    /// default: a stale CRL still revokes, but does not block.
    pub require_fresh_crl: bool,
}

impl ValidationOptions {
    /// Options at the given wall-clock time, with strongSwan-like defaults.
    pub fn at(now: SystemTime, purpose: KeyPurpose) -> Self {
        let now = match now.duration_since(SystemTime::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            Err(e) => i64::try_from(e.duration().as_secs())
                .map(|s| -s)
                .unwrap_or(i64::MIN),
        };
        Self::at_unix(now, purpose)
    }

    /// Options at a Unix time.
    pub fn at_unix(now: i64, purpose: KeyPurpose) -> Self {
        Self {
            now,
            purpose,
            max_depth: DEFAULT_MAX_DEPTH,
            require_fresh_crl: false,
        }
    }
}

/// A path that passed validation: end entity first, trust anchor last.
#[derive(Debug, Clone)]
pub struct ValidatedChain {
    certs: Vec<Certificate>,
    public_key: PublicKey,
}

impl ValidatedChain {
    /// The path, end entity first and trust anchor last.
    pub fn certs(&self) -> &[Certificate] {
        &self.certs
    }

    /// The validated end-entity certificate.
    pub fn end_entity(&self) -> Option<&Certificate> {
        self.certs.first()
    }

    /// The trust anchor the path ends in.
    pub fn anchor(&self) -> Option<&Certificate> {
        self.certs.last()
    }

    /// The end entity's public key, for verifying its AUTH payload.
    pub fn public_key(&self) -> &PublicKey {
        &self.public_key
    }

    /// Verify the peer's AUTH signature with the end entity's key (RFC 7427).
    pub fn verify(
        &self,
        scheme: SignatureScheme,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), crate::error::CryptoError> {
        self.public_key.verify(scheme, msg, sig)
    }
}

/// Validate DER certificates as they arrive in CERT payloads: the first is the
/// end entity, the rest are intermediates in any order.
pub fn validate_der(
    certs: &[&[u8]],
    store: &TrustStore,
    opts: &ValidationOptions,
) -> Result<ValidatedChain, ValidationError> {
    let mut parsed = Vec::with_capacity(certs.len());
    for (index, der) in certs.iter().enumerate() {
        let cert = Certificate::from_der(der.to_vec(), "peer").map_err(|e| {
            let reason = match e {
                crate::error::LoadError::Certificate { reason, .. } => reason,
                other => other.to_string(),
            };
            ValidationError::Malformed { index, reason }
        })?;
        parsed.push(cert);
    }
    let Some((ee, rest)) = parsed.split_first() else {
        return Err(ValidationError::Malformed {
            index: 0,
            reason: "no certificate".into(),
        });
    };
    validate(ee, rest, store, opts)
}

/// Validate `end_entity` with the peer's `intermediates` against `store` (RFC 5280 §6.1).
pub fn validate(
    end_entity: &Certificate,
    intermediates: &[Certificate],
    store: &TrustStore,
    opts: &ValidationOptions,
) -> Result<ValidatedChain, ValidationError> {
    let ee = parse(end_entity, 0)?;
    let subject = end_entity.subject();
    check_extensions(&ee, subject)?;
    check_validity(&ee, subject, opts.now)?;
    check_end_entity_usage(&ee, subject, opts.purpose)?;
    let mut path = vec![end_entity];
    // A certificate configured as a trust anchor is trusted as it is, even as
    // an end entity (a pinned self-signed peer certificate).
    if !store.anchors.iter().any(|a| a.der() == end_entity.der()) {
        let builder = Builder {
            store,
            peer: intermediates,
            opts,
            checks: Cell::new(0),
        };
        builder.extend(&mut path)?;
    }
    let public_key = end_entity
        .public_key()
        .map_err(|e| ValidationError::Malformed {
            index: 0,
            reason: e.to_string(),
        })?;
    Ok(ValidatedChain {
        certs: path.into_iter().cloned().collect(),
        public_key,
    })
}

fn parse(cert: &Certificate, index: usize) -> Result<X509Certificate<'_>, ValidationError> {
    cert.parsed().ok_or_else(|| ValidationError::Malformed {
        index,
        reason: "does not parse".into(),
    })
}

/// Extensions we process or that are harmless to ignore when critical.
const KNOWN_EXTENSIONS: [&str; 10] = [
    "2.5.29.19",         // basicConstraints
    "2.5.29.15",         // keyUsage
    "2.5.29.37",         // extKeyUsage
    "2.5.29.17",         // subjectAltName
    "2.5.29.30",         // nameConstraints
    "2.5.29.14",         // subjectKeyIdentifier
    "2.5.29.35",         // authorityKeyIdentifier
    "2.5.29.32",         // certificatePolicies (no policy processing = anyPolicy)
    "2.5.29.31",         // cRLDistributionPoints
    "1.3.6.1.5.5.7.1.1", // authorityInfoAccess
];

/// Extensions whose content the checks below rely on. One that is present but
/// does not parse must fail the certificate, never read as "absent".
const RELIED_ON: [(&str, &str); 5] = [
    ("2.5.29.19", "basicConstraints"),
    ("2.5.29.15", "keyUsage"),
    ("2.5.29.37", "extKeyUsage"),
    ("2.5.29.17", "subjectAltName"),
    ("2.5.29.30", "nameConstraints"),
];

/// Reject unknown critical extensions (RFC 5280 §4.2), duplicates, and
/// extensions we rely on that do not parse.
fn check_extensions(cert: &X509Certificate<'_>, subject: &str) -> Result<(), ValidationError> {
    let bad = |name: &str, reason: &str| ValidationError::BadExtension {
        subject: subject.to_owned(),
        extension: name.to_owned(),
        reason: reason.to_owned(),
    };
    let mut seen: Vec<String> = Vec::new();
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        if seen.contains(&oid) {
            return Err(bad(&oid, "present more than once"));
        }
        if ext.critical && !KNOWN_EXTENSIONS.contains(&oid.as_str()) {
            return Err(ValidationError::UnknownCriticalExtension {
                subject: subject.to_owned(),
                oid,
            });
        }
        if let Some((_, name)) = RELIED_ON.iter().find(|(o, _)| *o == oid) {
            match ext.parsed_extension() {
                ParsedExtension::ParseError { error } => return Err(bad(name, &error.to_string())),
                ParsedExtension::UnsupportedExtension { .. } => {
                    return Err(bad(name, "not understood"))
                }
                ParsedExtension::NameConstraints(nc) => {
                    check_name_constraints_der(ext.value, nc)
                        .map_err(|reason| bad(name, reason))?;
                }
                _ => {}
            }
        }
        seen.push(oid);
    }
    Ok(())
}

/// x509-parser 0.16 reads a nameConstraints whose subtrees do not parse as
/// having no subtrees at all, which would lift the constraint. Re-read the
/// structure (RFC 5280 §4.2.1.10) and insist that every subtree was parsed.
fn check_name_constraints_der(
    value: &[u8],
    parsed: &x509_parser::extensions::NameConstraints<'_>,
) -> Result<(), &'static str> {
    use crate::der;
    let body = der::expect_only(value, 0x30).map_err(|_| "not a SEQUENCE")?;
    let mut rest = body;
    let mut counts = [0usize; 2];
    let mut last_tag = 0u8;
    while !rest.is_empty() {
        let (tag, content, tail) = der::read_tlv(rest).map_err(|_| "bad encoding")?;
        rest = tail;
        let slot = match tag {
            0xa0 if last_tag < 0xa0 => 0,
            0xa1 if last_tag < 0xa1 => 1,
            _ => return Err("unexpected element"),
        };
        last_tag = tag;
        let mut inner = content;
        while !inner.is_empty() {
            let (t, _, tail) = der::read_tlv(inner).map_err(|_| "bad subtree encoding")?;
            if t != 0x30 {
                return Err("subtree is not a SEQUENCE");
            }
            inner = tail;
            if let Some(c) = counts.get_mut(slot) {
                *c = c.saturating_add(1);
            }
        }
    }
    if counts == [0, 0] {
        return Err("no subtrees");
    }
    let got = [
        parsed.permitted_subtrees.as_ref().map_or(0, Vec::len),
        parsed.excluded_subtrees.as_ref().map_or(0, Vec::len),
    ];
    if got != counts {
        return Err("a subtree does not parse");
    }
    Ok(())
}

fn check_validity(
    cert: &X509Certificate<'_>,
    subject: &str,
    now: i64,
) -> Result<(), ValidationError> {
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    if now < not_before {
        return Err(ValidationError::NotYetValid {
            subject: subject.to_owned(),
            not_before,
            now,
        });
    }
    if now > not_after {
        return Err(ValidationError::Expired {
            subject: subject.to_owned(),
            not_after,
            now,
        });
    }
    Ok(())
}

/// RFC 4945 §5.1.3.2 (digitalSignature) and §5.1.3.12 (EKU). An end entity
/// without extendedKeyUsage is accepted, as strongSwan does; with one, it must
/// name the role's purpose, ipsecIKE or anyExtendedKeyUsage.
fn check_end_entity_usage(
    cert: &X509Certificate<'_>,
    subject: &str,
    purpose: KeyPurpose,
) -> Result<(), ValidationError> {
    if let Ok(Some(ku)) = cert.key_usage() {
        if !ku.value.digital_signature() {
            return Err(ValidationError::EndEntityKeyUsage {
                subject: subject.to_owned(),
                has: key_usage_names(ku.value.flags).join(", "),
            });
        }
    }
    if purpose == KeyPurpose::Any {
        return Ok(());
    }
    if let Ok(Some(eku)) = cert.extended_key_usage() {
        let e = eku.value;
        let ipsec_ike = e.other.iter().any(|o| o.to_id_string() == OID_IPSEC_IKE);
        let role = match purpose {
            KeyPurpose::Server => e.server_auth,
            KeyPurpose::Client => e.client_auth,
            KeyPurpose::Any => true,
        };
        if !(role || ipsec_ike || e.any) {
            return Err(ValidationError::WrongEku {
                subject: subject.to_owned(),
                has: eku_names(e).join(", "),
                needs: purpose.needs(),
            });
        }
    }
    Ok(())
}

struct Builder<'a> {
    store: &'a TrustStore,
    peer: &'a [Certificate],
    opts: &'a ValidationOptions,
    /// Issuer signatures checked so far, against [`MAX_SIGNATURE_CHECKS`].
    checks: Cell<u32>,
}

impl<'a> Builder<'a> {
    /// Possible issuers of `child`: anchors first, then local and peer
    /// intermediates, matched by issuer DN and, when both are present, by
    /// authorityKeyIdentifier = subjectKeyIdentifier (RFC 5280 §4.2.1.1).
    fn candidates(
        &self,
        child: &X509Certificate<'_>,
        path: &[&Certificate],
    ) -> Vec<(&'a Certificate, bool)> {
        let aki = authority_key_id(child);
        let anchors = self.store.anchors.iter().map(|c| (c, true));
        let inters = self
            .store
            .intermediates
            .iter()
            .chain(self.peer)
            .map(|c| (c, false));
        let mut out: Vec<(&Certificate, bool)> = Vec::new();
        for (cand, is_anchor) in anchors.chain(inters) {
            if path.iter().any(|p| p.der() == cand.der()) && !is_anchor {
                continue;
            }
            if out.iter().any(|(c, _)| c.der() == cand.der()) {
                continue;
            }
            let Some(c) = cand.parsed() else { continue };
            if !names::dn_eq(c.subject(), child.issuer()) {
                continue;
            }
            if let (Some(aki), Some(ski)) = (&aki, subject_key_id(&c)) {
                if *aki != ski {
                    continue;
                }
            }
            out.push((cand, is_anchor));
        }
        out
    }

    fn extend(&self, path: &mut Vec<&'a Certificate>) -> Result<(), ValidationError> {
        let Some(&child_cert) = path.last() else {
            return Err(ValidationError::Malformed {
                index: 0,
                reason: "empty path".into(),
            });
        };
        let child = parse(child_cert, path.len().saturating_sub(1))?;
        let cands = self.candidates(&child, path);
        if cands.is_empty() {
            return Err(self.no_issuer(&child, child_cert, path.len()));
        }
        if path.len() >= self.opts.max_depth {
            return Err(ValidationError::TooDeep {
                subject: path
                    .first()
                    .map(|c| c.subject().to_owned())
                    .unwrap_or_default(),
                max: self.opts.max_depth,
            });
        }
        let mut first_err = None;
        for (cand, is_anchor) in cands {
            let result = self
                .check_link(path, &child, child_cert, cand)
                .and_then(|()| {
                    path.push(cand);
                    let r = if is_anchor { Ok(()) } else { self.extend(path) };
                    if r.is_err() {
                        path.pop();
                    }
                    r
                });
            match result {
                Ok(()) => return Ok(()),
                // An exhausted budget ends the whole search, not just this branch.
                Err(e @ ValidationError::PathSearchExhausted { .. }) => return Err(e),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        Err(first_err.unwrap_or_else(|| self.no_issuer(&child, child_cert, path.len())))
    }

    /// Why no issuer was found for `child_cert` at depth `depth` (1 = the
    /// end entity): each case names what the operator can act on.
    fn no_issuer(
        &self,
        child: &X509Certificate<'_>,
        child_cert: &Certificate,
        depth: usize,
    ) -> ValidationError {
        let subject = child_cert.subject().to_owned();
        let issuer = child_cert.issuer().to_owned();
        if child.subject().as_raw() == child.issuer().as_raw() {
            return ValidationError::UntrustedRoot { subject };
        }
        // One of our certificates has the issuer's name, but the key
        // identifiers ruled it out: a re-keyed CA, or an impostor of the
        // same name. (A same-name certificate the peer sent is its own
        // business: the cases below describe that.)
        if let Some(aki) = authority_key_id(child) {
            let same_name = self
                .store
                .anchors
                .iter()
                .chain(&self.store.intermediates)
                .filter_map(Certificate::parsed)
                .find(|c| names::dn_eq(c.subject(), child.issuer()));
            if let Some(ski) = same_name.as_ref().and_then(subject_key_id) {
                return ValidationError::IssuerKeyMismatch {
                    subject,
                    issuer,
                    aki: crate::fmt::hex_colon(&aki),
                    ski: crate::fmt::hex_colon(&ski),
                };
            }
        }
        if depth > 1 {
            ValidationError::NoTrustAnchor { subject, issuer }
        } else {
            ValidationError::ChainIncomplete {
                subject,
                issuer,
                peer_sent: self.peer.len(),
            }
        }
    }

    /// Check that `issuer_cert` may have issued `child` (the last of `path`).
    fn check_link(
        &self,
        path: &[&Certificate],
        child: &X509Certificate<'_>,
        child_cert: &Certificate,
        issuer_cert: &Certificate,
    ) -> Result<(), ValidationError> {
        let issuer = parse(issuer_cert, path.len())?;
        let issuer_name = issuer_cert.subject();
        let checks = self.checks.get().saturating_add(1);
        self.checks.set(checks);
        if checks > MAX_SIGNATURE_CHECKS {
            return Err(ValidationError::PathSearchExhausted {
                subject: path
                    .first()
                    .map(|c| c.subject().to_owned())
                    .unwrap_or_default(),
                checks: MAX_SIGNATURE_CHECKS,
            });
        }
        verify_signed(
            child.tbs_certificate.as_ref(),
            signed_alg_matches(child_cert.der(), true),
            &child.signature_algorithm,
            &child.signature_value.data,
            &issuer,
            child_cert.subject(),
            issuer_name,
        )?;
        check_extensions(&issuer, issuer_name)?;
        check_validity(&issuer, issuer_name, self.opts.now)?;
        // RFC 5280 §6.1.4 (k): an issuer must assert cA.
        let bc = issuer.basic_constraints().ok().flatten();
        if !bc.as_ref().is_some_and(|b| b.value.ca) {
            return Err(ValidationError::NotCa {
                issuer: issuer_name.to_owned(),
                subject: child_cert.subject().to_owned(),
            });
        }
        // §6.1.4 (n): keyCertSign when keyUsage is present.
        if let Ok(Some(ku)) = issuer.key_usage() {
            if !ku.value.key_cert_sign() {
                return Err(ValidationError::CaKeyUsage {
                    issuer: issuer_name.to_owned(),
                    has: key_usage_names(ku.value.flags).join(", "),
                });
            }
        }
        // §6.1.4 (l, m): count the non-self-issued intermediates below this CA.
        if let Some(max) = bc.and_then(|b| b.value.path_len_constraint) {
            let found = path.iter().skip(1).filter(|c| !c.is_self_issued()).count();
            let found = u32::try_from(found).unwrap_or(u32::MAX);
            if found > max {
                return Err(ValidationError::PathLenExceeded {
                    issuer: issuer_name.to_owned(),
                    max,
                    found,
                });
            }
        }
        // §6.1.3 (b, c): constraints bind the end entity and the non-self-issued
        // intermediates below this CA.
        if let Ok(Some(nc)) = issuer.name_constraints() {
            for (i, below) in path.iter().enumerate() {
                if i > 0 && below.is_self_issued() {
                    continue;
                }
                let b = parse(below, i)?;
                names::check(nc.value, issuer_name, &b, below.subject())?;
            }
        }
        self.check_revocation(child, child_cert, &issuer, issuer_name)
    }

    /// RFC 5280 §6.3, restricted to complete CRLs issued by the CA itself.
    fn check_revocation(
        &self,
        child: &X509Certificate<'_>,
        child_cert: &Certificate,
        issuer: &X509Certificate<'_>,
        issuer_name: &str,
    ) -> Result<(), ValidationError> {
        let ski = subject_key_id(issuer);
        // §6.3.3 (f): an issuer with keyUsage must assert cRLSign for its CRLs to count.
        if let Ok(Some(ku)) = issuer.key_usage() {
            if !ku.value.crl_sign() {
                return Ok(());
            }
        }
        let mut stale: Option<i64> = None;
        let mut fresh = false;
        let mut any = false;
        for crl_owned in &self.store.crls {
            let Some(crl) = crl_owned.parsed() else {
                continue;
            };
            if !names::dn_eq(crl.issuer(), issuer.subject()) {
                continue;
            }
            let crl_aki = crl
                .extensions()
                .iter()
                .find_map(|e| match e.parsed_extension() {
                    ParsedExtension::AuthorityKeyIdentifier(a) => {
                        a.key_identifier.as_ref().map(|k| k.0.to_vec())
                    }
                    _ => None,
                });
            if let (Some(a), Some(s)) = (&crl_aki, &ski) {
                if a != s {
                    continue;
                }
            }
            verify_signed(
                crl.tbs_cert_list.as_ref(),
                signed_alg_matches(crl_owned.der(), false),
                &crl.signature_algorithm,
                &crl.signature_value.data,
                issuer,
                issuer_name,
                issuer_name,
            )
            .map_err(|e| match e {
                ValidationError::BadSignature { .. } => ValidationError::CrlBadSignature {
                    crl_issuer: issuer_name.to_owned(),
                },
                other => other,
            })?;
            any = true;
            for revoked in crl.iter_revoked_certificates() {
                if serial_eq(revoked.raw_serial(), child.raw_serial()) {
                    return Err(ValidationError::Revoked {
                        subject: child_cert.subject().to_owned(),
                        serial: trim_serial_hex(child.raw_serial()),
                        revoked_at: revoked.revocation_date.timestamp(),
                        reason: revoked
                            .reason_code()
                            .map(|(_, r)| reason_name(r.0).to_owned()),
                        crl_issuer: issuer_name.to_owned(),
                    });
                }
            }
            match crl.next_update().map(|t| t.timestamp()) {
                Some(next) if next < self.opts.now => {
                    stale = Some(stale.map_or(next, |s| s.max(next)));
                }
                _ => fresh = true,
            }
        }
        if let (true, false, Some(next_update), true) =
            (any, fresh, stale, self.opts.require_fresh_crl)
        {
            return Err(ValidationError::CrlStale {
                crl_issuer: issuer_name.to_owned(),
                next_update,
                now: self.opts.now,
            });
        }
        Ok(())
    }
}

/// Serials compare as integers: ignore a sign-padding leading zero octet.
fn serial_eq(a: &[u8], b: &[u8]) -> bool {
    let strip = |s: &'_ [u8]| -> Vec<u8> { s.iter().skip_while(|&&x| x == 0).copied().collect() };
    strip(a) == strip(b)
}

/// CRLReason names (RFC 5280 §5.3.1).
fn reason_name(code: u8) -> &'static str {
    match code {
        0 => "unspecified",
        1 => "keyCompromise",
        2 => "cACompromise",
        3 => "affiliationChanged",
        4 => "superseded",
        5 => "cessationOfOperation",
        6 => "certificateHold",
        8 => "removeFromCRL",
        9 => "privilegeWithdrawn",
        10 => "aACompromise",
        _ => "unknown",
    }
}

pub(crate) fn authority_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(a) => {
                a.key_identifier.as_ref().map(|k| k.0.to_vec())
            }
            _ => None,
        })
}

pub(crate) fn subject_key_id(cert: &X509Certificate<'_>) -> Option<Vec<u8>> {
    cert.extensions()
        .iter()
        .find_map(|e| match e.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(k) => Some(k.0.to_vec()),
            _ => None,
        })
}

/// Whether the outer AlgorithmIdentifier of a certificate (or CRL) is
/// byte-for-byte the one inside its TBS. Compared on the DER because
/// x509-parser's parsed form does not tell all parameter encodings apart.
fn signed_alg_matches(der: &[u8], is_certificate: bool) -> bool {
    use crate::der::{self, read_tlv};
    let inner_and_outer = || -> Option<(Vec<u8>, Vec<u8>)> {
        let body = der::expect_only(der, 0x30).ok()?;
        let (tbs_tag, tbs, rest) = read_tlv(body).ok()?;
        if tbs_tag != 0x30 {
            return None;
        }
        let (outer_tag, outer, _) = read_tlv(rest).ok()?;
        let mut fields = tbs;
        // TBSCertificate: [0] version, serial, signature. TBSCertList:
        // optional version INTEGER, signature.
        loop {
            let (tag, value, tail) = read_tlv(fields).ok()?;
            match (is_certificate, tag) {
                (true, 0xa0 | 0x02) | (false, 0x02) => fields = tail,
                (_, 0x30) => return Some((der::tlv(tag, value), der::tlv(outer_tag, outer))),
                _ => return None,
            }
        }
    };
    inner_and_outer().is_some_and(|(inner, outer)| inner == outer)
}

/// Verify a signature over `tbs` made by `issuer`'s key.
fn verify_signed(
    tbs: &[u8],
    algs_match: bool,
    alg: &x509_parser::x509::AlgorithmIdentifier<'_>,
    signature: &[u8],
    issuer: &X509Certificate<'_>,
    subject: &str,
    issuer_name: &str,
) -> Result<(), ValidationError> {
    // RFC 5280 §4.1.1.2 / §5.1.1.2: the outer identifier is not signed, so
    // it must equal the signed one inside the TBS, parameters included.
    if !algs_match {
        return Err(ValidationError::SignatureAlgorithmMismatch {
            subject: subject.to_owned(),
        });
    }
    let scheme =
        SignatureScheme::from_parsed(alg).ok_or_else(|| ValidationError::UnsupportedSignature {
            subject: subject.to_owned(),
            algorithm: alg.algorithm.to_id_string(),
        })?;
    let key = PublicKey::from_spki_der(issuer.public_key().raw).map_err(|e| {
        ValidationError::UnsupportedSignature {
            subject: subject.to_owned(),
            algorithm: e.to_string(),
        }
    })?;
    key.verify(scheme, tbs, signature)
        .map_err(|_| ValidationError::BadSignature {
            subject: subject.to_owned(),
            issuer: issuer_name.to_owned(),
        })
}
