//! Errors of the certs crate, split by who is to blame (STYLE.md §5):
//! [`LoadError`] for our own files and configuration, [`ValidationError`] for a
//! peer certificate chain we reject, [`IdentityError`] for an IKE ID that the
//! certificate does not carry, [`CryptoError`] for signing and verifying, and
//! [`IssueError`] for `certs::issue`.
//!
//! Every message names the certificate (by subject DN) and the fact that made
//! it fail, so that an operator can act on the log line alone.

use std::path::PathBuf;

use crate::fmt::{duration, utc};

/// Any error of this crate.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A local file or configuration item could not be used.
    #[error(transparent)]
    Load(#[from] LoadError),
    /// The peer's certificate chain was rejected.
    #[error(transparent)]
    Validation(#[from] ValidationError),
    /// The peer's IKE identity is not backed by its certificate.
    #[error(transparent)]
    Identity(#[from] IdentityError),
    /// Signing or verifying failed.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// Issuing a certificate or CRL failed.
    #[error(transparent)]
    Issue(#[from] IssueError),
}

/// A local certificate, CRL or key could not be loaded (our fault, not the peer's).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Io {
        /// File that failed.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// A private key file that others can read; strongSwan and OpenSSH refuse these too.
    #[error(
        "private key {path} is readable by group or others (mode {mode:04o}); \
         run `chmod 600 {path}`"
    )]
    InsecurePermissions {
        /// The key file.
        path: PathBuf,
        /// Its permission bits.
        mode: u32,
    },
    /// No PEM block of the wanted kind was found.
    #[error("{what}: no {expected} found (expected PEM or DER)")]
    Missing {
        /// File or input label.
        what: String,
        /// What was looked for, e.g. `certificate`.
        expected: &'static str,
    },
    /// A PEM armour could not be decoded.
    #[error("{what}: bad PEM: {reason}")]
    Pem {
        /// File or input label.
        what: String,
        /// Decoder message.
        reason: String,
    },
    /// A certificate did not parse.
    #[error("{what}: not a valid X.509 certificate: {reason}")]
    Certificate {
        /// File or input label.
        what: String,
        /// Parser message.
        reason: String,
    },
    /// A CRL did not parse.
    #[error("{what}: not a valid X.509 CRL: {reason}")]
    Crl {
        /// File or input label.
        what: String,
        /// Parser message.
        reason: String,
    },
    /// A private key did not parse or was refused by ring.
    #[error("{what}: unusable private key: {reason}")]
    Key {
        /// File or input label.
        what: String,
        /// What was wrong.
        reason: String,
    },
    /// A private key of an algorithm we do not sign with.
    #[error("{what}: unsupported private key algorithm {algorithm}")]
    UnsupportedKey {
        /// File or input label.
        what: String,
        /// The algorithm as found (OID or PEM label).
        algorithm: String,
    },
    /// A private key that does not belong to the certificate it is paired with.
    #[error("private key {key} does not match certificate '{subject}'")]
    KeyMismatch {
        /// Key file or label.
        key: String,
        /// Certificate subject DN.
        subject: String,
    },
}

/// Why a peer's certificate chain was rejected (RFC 5280 §6 path validation,
/// with strongSwan's conventions where RFC 5280 leaves room).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValidationError {
    /// notAfter lies before the validation time.
    #[error(
        "certificate '{subject}' expired {} ago (notAfter {})",
        duration(now.saturating_sub(*not_after)),
        utc(*not_after)
    )]
    Expired {
        /// Certificate subject DN.
        subject: String,
        /// notAfter, Unix seconds.
        not_after: i64,
        /// Validation time, Unix seconds.
        now: i64,
    },
    /// notBefore lies after the validation time.
    #[error(
        "certificate '{subject}' not yet valid for another {} (notBefore {})",
        duration(not_before.saturating_sub(*now)),
        utc(*not_before)
    )]
    NotYetValid {
        /// Certificate subject DN.
        subject: String,
        /// notBefore, Unix seconds.
        not_before: i64,
        /// Validation time, Unix seconds.
        now: i64,
    },
    /// The end entity's extendedKeyUsage lacks every purpose we accept.
    #[error("certificate '{subject}' has the wrong EKU: has [{has}], needs {needs}")]
    WrongEku {
        /// Certificate subject DN.
        subject: String,
        /// Purposes present, comma separated.
        has: String,
        /// Purposes accepted, e.g. `serverAuth or ipsecIKE`.
        needs: &'static str,
    },
    /// The end entity has keyUsage but not digitalSignature (RFC 4945 §5.1.3.2).
    #[error(
        "certificate '{subject}' cannot sign IKE AUTH: keyUsage [{has}] lacks digitalSignature"
    )]
    EndEntityKeyUsage {
        /// Certificate subject DN.
        subject: String,
        /// keyUsage bits present.
        has: String,
    },
    /// The end entity's issuer is neither a trust anchor nor among the
    /// certificates the peer sent. From the end entity alone it cannot be
    /// told whether that issuer is a root we do not trust or an intermediate
    /// the peer left out; the message says what is known, and how many
    /// other certificates the peer sent.
    #[error(
        "no issuer for '{subject}': '{issuer}' is not one of our trust anchors{}",
        match peer_sent {
            0 => ", and the peer sent no intermediate CA certificate".to_owned(),
            n => format!(" nor among the {n} other certificate(s) the peer sent"),
        }
    )]
    ChainIncomplete {
        /// The end entity.
        subject: String,
        /// The missing issuer DN.
        issuer: String,
        /// Certificates the peer sent besides the end entity.
        peer_sent: usize,
    },
    /// The path climbed through CA certificates (sent by the peer, or known
    /// locally) up to one whose issuer we do not have: the peer's chain
    /// leads to a CA we do not trust (RFC 5280 §6.1: no trust anchor).
    #[error(
        "no trust anchor: the chain reaches CA '{subject}', issued by '{issuer}', \
         which is not one of our trust anchors"
    )]
    NoTrustAnchor {
        /// The topmost CA certificate of the path.
        subject: String,
        /// Its issuer, which is not a trust anchor.
        issuer: String,
    },
    /// The chain ends in a self-signed certificate that is not a trust anchor.
    #[error("no trust anchor: the chain ends in self-signed '{subject}', which is not one of our trust anchors")]
    UntrustedRoot {
        /// Subject DN of the root we do not trust.
        subject: String,
    },
    /// A CA of the right name is known, but with another key than the one
    /// the certificate's authorityKeyIdentifier names (RFC 5280 §4.2.1.1):
    /// the CA was re-keyed, or the certificate is not from it.
    #[error(
        "no issuer for '{subject}': our '{issuer}' has another key \
         (authorityKeyIdentifier {aki}, our CA's subjectKeyIdentifier {ski})"
    )]
    IssuerKeyMismatch {
        /// The certificate whose issuer was looked for.
        subject: String,
        /// The issuer DN, which we know with another key.
        issuer: String,
        /// The certificate's authorityKeyIdentifier, colon hex.
        aki: String,
        /// The subjectKeyIdentifier of our certificate of that name, colon hex.
        ski: String,
    },
    /// The issuer's key does not verify the certificate's signature.
    #[error("signature of '{subject}' by '{issuer}' does not verify")]
    BadSignature {
        /// Signed certificate.
        subject: String,
        /// Issuer whose key was used.
        issuer: String,
    },
    /// The unsigned outer signatureAlgorithm differs from the signed one (RFC 5280 §4.1.1.2).
    #[error("signature of '{subject}': signatureAlgorithm differs from the signed one in the TBS")]
    SignatureAlgorithmMismatch {
        /// Certificate subject or CRL issuer.
        subject: String,
    },
    /// A signature algorithm we do not verify (e.g. SHA-1, DSA, ECDSA with SHA-512).
    #[error("signature of '{subject}' uses unsupported algorithm {algorithm}")]
    UnsupportedSignature {
        /// Signed certificate or CRL issuer.
        subject: String,
        /// The algorithm, as an OID or name.
        algorithm: String,
    },
    /// An issuer without basicConstraints cA=TRUE (RFC 5280 §4.2.1.9).
    #[error("'{issuer}' issued '{subject}' but is not a CA (basicConstraints cA is not set)")]
    NotCa {
        /// The certificate acting as issuer.
        issuer: String,
        /// The certificate it signed.
        subject: String,
    },
    /// A CA whose keyUsage lacks keyCertSign (RFC 5280 §4.2.1.3).
    #[error("CA '{issuer}' may not sign certificates: keyUsage [{has}] lacks keyCertSign")]
    CaKeyUsage {
        /// CA subject DN.
        issuer: String,
        /// keyUsage bits present.
        has: String,
    },
    /// More intermediate CAs below a CA than its pathLenConstraint allows.
    #[error(
        "path length exceeded: CA '{issuer}' has pathLenConstraint {max} \
         but {found} intermediate CA(s) follow it"
    )]
    PathLenExceeded {
        /// CA with the constraint.
        issuer: String,
        /// Its pathLenConstraint.
        max: u32,
        /// Non-self-issued intermediates below it.
        found: u32,
    },
    /// A name outside the permitted subtrees of a CA (RFC 5280 §4.2.1.10).
    #[error("certificate '{subject}' violates name constraints of '{issuer}': {name} is not in permitted [{permitted}]")]
    NameNotPermitted {
        /// Certificate carrying the name.
        subject: String,
        /// CA with the constraint.
        issuer: String,
        /// The offending name, e.g. `DNS:evil.example`.
        name: String,
        /// The permitted subtrees of that type.
        permitted: String,
    },
    /// A name inside an excluded subtree of a CA (RFC 5280 §4.2.1.10).
    #[error("certificate '{subject}' violates name constraints of '{issuer}': {name} is in excluded {excluded}")]
    NameExcluded {
        /// Certificate carrying the name.
        subject: String,
        /// CA with the constraint.
        issuer: String,
        /// The offending name.
        name: String,
        /// The excluded subtree it falls in.
        excluded: String,
    },
    /// The certificate's serial is listed in its issuer's CRL (RFC 5280 §5).
    #[error(
        "certificate '{subject}' revoked on {} (serial {serial}{}, CRL from {crl_issuer})",
        utc(*revoked_at),
        reason.as_ref().map(|r| format!(", reason {r}")).unwrap_or_default()
    )]
    Revoked {
        /// Revoked certificate.
        subject: String,
        /// Serial as colon hex.
        serial: String,
        /// Revocation date, Unix seconds.
        revoked_at: i64,
        /// CRL reason code, if given.
        reason: Option<String>,
        /// Issuer of the CRL.
        crl_issuer: String,
    },
    /// A CRL whose signature does not verify with its issuer's key.
    #[error("signature of the CRL from '{crl_issuer}' does not verify")]
    CrlBadSignature {
        /// Issuer DN of the CRL.
        crl_issuer: String,
    },
    /// Only a CRL past its nextUpdate was available and fresh CRLs are required.
    #[error(
        "CRL from '{crl_issuer}' is stale: nextUpdate {} passed {} ago",
        utc(*next_update),
        duration(now.saturating_sub(*next_update))
    )]
    CrlStale {
        /// Issuer DN of the CRL.
        crl_issuer: String,
        /// nextUpdate, Unix seconds.
        next_update: i64,
        /// Validation time, Unix seconds.
        now: i64,
    },
    /// The chain has more certificates than allowed.
    #[error("chain of '{subject}' is longer than the maximum depth of {max}")]
    TooDeep {
        /// End-entity subject DN.
        subject: String,
        /// Configured maximum.
        max: usize,
    },
    /// An extension we rely on that is duplicated or does not parse: fail closed.
    #[error("certificate '{subject}' has a malformed {extension} extension: {reason}")]
    BadExtension {
        /// Certificate subject DN.
        subject: String,
        /// Extension name or OID.
        extension: String,
        /// What is wrong.
        reason: String,
    },
    /// The path search gave up: too many candidate issuers to try.
    #[error("gave up building a path for '{subject}' after {checks} signature checks (too many candidate issuers)")]
    PathSearchExhausted {
        /// End-entity subject DN.
        subject: String,
        /// The budget that was used up.
        checks: u32,
    },
    /// A certificate from the peer that does not parse.
    #[error("peer certificate #{index} does not parse: {reason}")]
    Malformed {
        /// Position in the list as received (0 = end entity).
        index: usize,
        /// Parser message.
        reason: String,
    },
    /// A critical extension we do not understand (RFC 5280 §4.2).
    #[error("certificate '{subject}' has an unsupported critical extension {oid}")]
    UnknownCriticalExtension {
        /// Certificate subject DN.
        subject: String,
        /// OID of the extension.
        oid: String,
    },
}

/// The peer's IKE identity does not match its certificate (RFC 7296 §3.5, RFC 4945 §3.1).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentityError {
    /// The ID needs a subjectAltName of its type with the same value.
    #[error("peer certificate {subject} rejected: ID '{id}' not in subjectAltName [{sans}]")]
    NotInSubjectAltName {
        /// Certificate subject DN.
        subject: String,
        /// The ID as text.
        id: String,
        /// The SANs present.
        sans: String,
    },
    /// An ID_DER_ASN1_DN that differs from the subject DN.
    #[error("peer certificate {subject} rejected: ID '{id}' does not match the subject DN")]
    DnMismatch {
        /// Certificate subject DN.
        subject: String,
        /// The ID DN as text.
        id: String,
    },
    /// ID_KEY_ID is opaque (RFC 7296 §3.5); it cannot be checked against a certificate.
    #[error("ID_KEY_ID {id} cannot be matched against certificate {subject}")]
    KeyIdNotMatchable {
        /// Certificate subject DN.
        subject: String,
        /// Key ID in hex.
        id: String,
    },
    /// An ID payload whose data is malformed for its type.
    #[error("malformed {id_type} identity: {reason}")]
    Malformed {
        /// ID type name.
        id_type: &'static str,
        /// What was wrong.
        reason: String,
    },
}

/// Signing or verifying with a key failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CryptoError {
    /// The scheme does not fit the key (e.g. Ed25519 with an RSA key).
    #[error("signature scheme {scheme} cannot be used with key type {key}")]
    SchemeMismatch {
        /// Requested scheme.
        scheme: &'static str,
        /// Key type.
        key: String,
    },
    /// The signature does not verify.
    #[error("{scheme} signature does not verify")]
    BadSignature {
        /// Scheme used.
        scheme: &'static str,
    },
    /// The public key could not be used (unknown algorithm or malformed).
    #[error("unusable public key: {reason}")]
    PublicKey {
        /// What was wrong.
        reason: String,
    },
    /// ring failed to sign (should not happen with a key it accepted).
    #[error("signing with {scheme} failed")]
    SigningFailed {
        /// Scheme used.
        scheme: &'static str,
    },
}

/// Issuing a certificate or CRL failed.
#[derive(Debug, thiserror::Error)]
pub enum IssueError {
    /// rcgen refused the parameters or failed to sign.
    #[error("cannot issue {what}: {reason}")]
    Rcgen {
        /// What was being made.
        what: &'static str,
        /// rcgen's message.
        reason: String,
    },
    /// rcgen on ring cannot generate RSA keys.
    #[error(
        "cannot generate RSA keys (ring has no RSA key generation); create one with \
         `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:3072 -out key.pem` \
         or `pki --gen --type rsa --size 3072 --outform pem > key.pem` and pass it with --key"
    )]
    RsaKeyGeneration,
    /// A subjectAltName given on the command line that we cannot parse.
    #[error("bad subjectAltName '{0}': use DNS:name, IP:address or EMAIL:user@domain")]
    BadSan(String),
    /// A serial number that is not hex or too long.
    #[error("bad serial number '{0}': use hex, at most 20 octets")]
    BadSerial(String),
    /// Writing an output file failed.
    #[error("cannot write {path}")]
    Io {
        /// File that failed.
        path: PathBuf,
        /// Underlying I/O error.
        source: std::io::Error,
    },
    /// Refusing to overwrite an existing file.
    #[error("{0} already exists; refusing to overwrite it")]
    Exists(PathBuf),
    /// The issuing certificate is not a CA that may sign certificates.
    #[error("'{subject}' cannot issue certificates: {reason}")]
    NotACa {
        /// The would-be issuer.
        subject: String,
        /// What it lacks.
        reason: &'static str,
    },
    /// The issuer's pathLenConstraint is 0: no CA may follow it (RFC 5280 §4.2.1.9).
    #[error(
        "CA '{subject}' has pathLenConstraint 0: it may issue end entities only, not another CA"
    )]
    PathLenExhausted {
        /// The issuer.
        subject: String,
    },
    /// A requested pathLenConstraint the issuer's own does not leave room for.
    #[error("pathLenConstraint {asked} is too large below CA '{subject}': at most {max}")]
    PathLenTooLarge {
        /// The issuer.
        subject: String,
        /// What was asked for.
        asked: u8,
        /// The largest value its constraint allows.
        max: u8,
    },
    /// A CA or key that cannot be used for issuing.
    #[error(transparent)]
    Load(#[from] LoadError),
}
