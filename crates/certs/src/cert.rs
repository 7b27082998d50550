//! Owned certificates and CRLs.
//!
//! [`Certificate`] and [`Crl`] keep the DER bytes (checked to parse when
//! built) and re-parse with x509-parser when a borrowed view is needed; chains
//! are short, so re-parsing is cheaper than self-referential structs.

use std::net::IpAddr;

use ring::digest;
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::revocation_list::CertificateRevocationList;

use crate::error::{CryptoError, LoadError};
use crate::fmt::hex_colon;
use crate::sig::PublicKey;

/// A parsed-once, owned X.509 certificate.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    der: Vec<u8>,
    subject: String,
    issuer: String,
}

impl std::fmt::Debug for Certificate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Certificate({})", self.subject)
    }
}

/// A subjectAltName entry (RFC 5280 §4.2.1.6), printed as `DNS:`, `IP:`,
/// `EMAIL:`, `DN:` or `URI:` followed by the value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubjectAltName {
    /// dNSName.
    Dns(String),
    /// iPAddress (4 or 16 octets).
    Ip(IpAddr),
    /// rfc822Name.
    Email(String),
    /// directoryName, as text.
    Dn(String),
    /// uniformResourceIdentifier.
    Uri(String),
    /// Anything else, described.
    Other(String),
}

impl std::fmt::Display for SubjectAltName {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Dns(s) => write!(f, "DNS:{s}"),
            Self::Ip(a) => write!(f, "IP:{a}"),
            Self::Email(s) => write!(f, "EMAIL:{s}"),
            Self::Dn(s) => write!(f, "DN:{s}"),
            Self::Uri(s) => write!(f, "URI:{s}"),
            Self::Other(s) => f.write_str(s),
        }
    }
}

impl SubjectAltName {
    pub(crate) fn from_general_name(name: &GeneralName<'_>) -> Self {
        match name {
            GeneralName::DNSName(s) => Self::Dns((*s).to_owned()),
            GeneralName::RFC822Name(s) => Self::Email((*s).to_owned()),
            GeneralName::URI(s) => Self::Uri((*s).to_owned()),
            GeneralName::DirectoryName(n) => Self::Dn(n.to_string()),
            GeneralName::IPAddress(b) => match ip_from_bytes(b) {
                Some(ip) => Self::Ip(ip),
                None => Self::Other(format!("IP:{}", hex_colon(b))),
            },
            other => Self::Other(format!("{other:?}")),
        }
    }
}

/// An IPv4 or IPv6 address from 4 or 16 octets.
pub(crate) fn ip_from_bytes(b: &[u8]) -> Option<IpAddr> {
    if let Ok(v4) = <[u8; 4]>::try_from(b) {
        Some(IpAddr::from(v4))
    } else {
        <[u8; 16]>::try_from(b).ok().map(IpAddr::from)
    }
}

/// keyUsage bit names (RFC 5280 §4.2.1.3), in bit order.
const KEY_USAGE_NAMES: [&str; 9] = [
    "digitalSignature",
    "nonRepudiation",
    "keyEncipherment",
    "dataEncipherment",
    "keyAgreement",
    "keyCertSign",
    "cRLSign",
    "encipherOnly",
    "decipherOnly",
];

/// id-kp-ipsecIKE (RFC 4945 §5.1.3.12).
pub(crate) const OID_IPSEC_IKE: &str = "1.3.6.1.5.5.7.3.17";
/// iKEIntermediate (1.3.6.1.5.5.8.2.2), which Windows and strongSwan's `pki --flag ikeIntermediate` use.
pub(crate) const OID_IKE_INTERMEDIATE: &str = "1.3.6.1.5.5.8.2.2";

impl Certificate {
    /// Check that `der` is one certificate and keep it. `what` labels errors.
    pub fn from_der(der: Vec<u8>, what: &str) -> Result<Self, LoadError> {
        let bad = |reason: String| LoadError::Certificate {
            what: what.to_owned(),
            reason,
        };
        let (rest, cert) =
            x509_parser::parse_x509_certificate(&der).map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} trailing bytes", rest.len())));
        }
        let subject = cert.subject().to_string();
        let issuer = cert.issuer().to_string();
        drop(cert);
        Ok(Self {
            der,
            subject,
            issuer,
        })
    }

    /// The DER encoding, as sent in a CERT payload (RFC 7296 §3.6, encoding 4).
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM encoding.
    pub fn to_pem(&self) -> String {
        crate::load::pem_encode("CERTIFICATE", &self.der).to_string()
    }

    /// Subject DN, e.g. `C=CH, O=strongSwan Test, CN=gw.example.org`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// Issuer DN.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    /// A borrowed x509-parser view. `from_der` already parsed the bytes, so
    /// this only fails if they were somehow changed.
    pub(crate) fn parsed(&self) -> Option<X509Certificate<'_>> {
        x509_parser::parse_x509_certificate(&self.der)
            .ok()
            .map(|(_, c)| c)
    }

    /// The subject public key.
    pub fn public_key(&self) -> Result<PublicKey, CryptoError> {
        let cert = self.parsed().ok_or_else(|| CryptoError::PublicKey {
            reason: "certificate no longer parses".into(),
        })?;
        PublicKey::from_spki_der(cert.public_key().raw)
    }

    /// The whole DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> Vec<u8> {
        self.parsed()
            .map(|c| c.public_key().raw.to_vec())
            .unwrap_or_default()
    }

    /// SHA-1 over the DER SubjectPublicKeyInfo: the CERTREQ / Hash-and-URL
    /// key hash of RFC 7296 §3.7 (what strongSwan prints as `keyid`).
    pub fn spki_sha1(&self) -> [u8; 20] {
        let d = digest::digest(&digest::SHA1_FOR_LEGACY_USE_ONLY, &self.spki_der());
        let mut out = [0u8; 20];
        out.copy_from_slice(d.as_ref().get(..20).unwrap_or(&[0; 20]));
        out
    }

    /// SHA-256 over the whole certificate DER.
    pub fn fingerprint_sha256(&self) -> [u8; 32] {
        let d = digest::digest(&digest::SHA256, &self.der);
        let mut out = [0u8; 32];
        out.copy_from_slice(d.as_ref().get(..32).unwrap_or(&[0; 32]));
        out
    }

    /// Serial number octets as encoded (big endian, may start with 00).
    pub fn serial(&self) -> Vec<u8> {
        self.parsed()
            .map(|c| c.raw_serial().to_vec())
            .unwrap_or_default()
    }

    /// Serial number as colon hex, without a leading zero octet.
    pub fn serial_hex(&self) -> String {
        let s = self.serial();
        let trimmed = match s.as_slice() {
            [0, rest @ ..] if !rest.is_empty() => rest,
            all => all,
        };
        hex_colon(trimmed)
    }

    /// notBefore and notAfter, Unix seconds.
    pub fn validity(&self) -> (i64, i64) {
        self.parsed()
            .map(|c| {
                (
                    c.validity().not_before.timestamp(),
                    c.validity().not_after.timestamp(),
                )
            })
            .unwrap_or((0, 0))
    }

    /// Whether subject and issuer DN are the same (RFC 5280 §6.1 "self-issued").
    pub fn is_self_issued(&self) -> bool {
        self.parsed()
            .is_some_and(|c| c.subject().as_raw() == c.issuer().as_raw())
    }

    /// subjectAltName entries, empty when absent.
    pub fn subject_alt_names(&self) -> Vec<SubjectAltName> {
        let Some(cert) = self.parsed() else {
            return Vec::new();
        };
        match cert.subject_alternative_name() {
            Ok(Some(san)) => san
                .value
                .general_names
                .iter()
                .map(SubjectAltName::from_general_name)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// basicConstraints as `(cA, pathLenConstraint)`, `None` when absent.
    pub fn basic_constraints(&self) -> Option<(bool, Option<u32>)> {
        let cert = self.parsed()?;
        let bc = cert.basic_constraints().ok()??;
        Some((bc.value.ca, bc.value.path_len_constraint))
    }

    /// subjectKeyIdentifier (RFC 5280 §4.2.1.2), `None` when absent.
    pub fn subject_key_identifier(&self) -> Option<Vec<u8>> {
        crate::chain::subject_key_id(&self.parsed()?)
    }

    /// The keyIdentifier of authorityKeyIdentifier (RFC 5280 §4.2.1.1),
    /// `None` when absent.
    pub fn authority_key_identifier(&self) -> Option<Vec<u8>> {
        crate::chain::authority_key_id(&self.parsed()?)
    }

    /// keyUsage bit names, `None` when the extension is absent.
    pub fn key_usage(&self) -> Option<Vec<&'static str>> {
        let cert = self.parsed()?;
        let ku = cert.key_usage().ok()??;
        Some(key_usage_names(ku.value.flags))
    }

    /// extendedKeyUsage purposes by name (or dotted OID), `None` when absent.
    pub fn extended_key_usage(&self) -> Option<Vec<String>> {
        let cert = self.parsed()?;
        let eku = cert.extended_key_usage().ok()??;
        Some(eku_names(eku.value))
    }
}

pub(crate) fn key_usage_names(flags: u16) -> Vec<&'static str> {
    KEY_USAGE_NAMES
        .iter()
        .enumerate()
        .filter(|(i, _)| flags & (1u16 << i) != 0)
        .map(|(_, n)| *n)
        .collect()
}

pub(crate) fn eku_names(eku: &x509_parser::extensions::ExtendedKeyUsage<'_>) -> Vec<String> {
    let mut out = Vec::new();
    let flags = [
        (eku.any, "anyExtendedKeyUsage"),
        (eku.server_auth, "serverAuth"),
        (eku.client_auth, "clientAuth"),
        (eku.code_signing, "codeSigning"),
        (eku.email_protection, "emailProtection"),
        (eku.time_stamping, "timeStamping"),
        (eku.ocsp_signing, "OCSPSigning"),
    ];
    out.extend(
        flags
            .iter()
            .filter(|(on, _)| *on)
            .map(|(_, n)| (*n).to_owned()),
    );
    for oid in &eku.other {
        let s = oid.to_id_string();
        out.push(match s.as_str() {
            OID_IPSEC_IKE => "ipsecIKE".to_owned(),
            OID_IKE_INTERMEDIATE => "iKEIntermediate".to_owned(),
            _ => s,
        });
    }
    out
}

/// An owned X.509 CRL (RFC 5280 §5).
#[derive(Clone, PartialEq, Eq)]
pub struct Crl {
    der: Vec<u8>,
    issuer: String,
}

impl std::fmt::Debug for Crl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Crl({})", self.issuer)
    }
}

impl Crl {
    /// Check that `der` is one CRL and keep it. `what` labels errors.
    pub fn from_der(der: Vec<u8>, what: &str) -> Result<Self, LoadError> {
        let bad = |reason: String| LoadError::Crl {
            what: what.to_owned(),
            reason,
        };
        let (rest, crl) = x509_parser::parse_x509_crl(&der).map_err(|e| bad(e.to_string()))?;
        if !rest.is_empty() {
            return Err(bad(format!("{} trailing bytes", rest.len())));
        }
        let issuer = crl.issuer().to_string();
        drop(crl);
        Ok(Self { der, issuer })
    }

    /// DER encoding.
    pub fn der(&self) -> &[u8] {
        &self.der
    }

    /// PEM encoding.
    pub fn to_pem(&self) -> String {
        crate::load::pem_encode("X509 CRL", &self.der).to_string()
    }

    /// Issuer DN.
    pub fn issuer(&self) -> &str {
        &self.issuer
    }

    pub(crate) fn parsed(&self) -> Option<CertificateRevocationList<'_>> {
        x509_parser::parse_x509_crl(&self.der).ok().map(|(_, c)| c)
    }

    /// Revoked serials (colon hex) with their revocation dates (Unix seconds).
    pub fn revoked(&self) -> Vec<(String, i64)> {
        let Some(crl) = self.parsed() else {
            return Vec::new();
        };
        crl.iter_revoked_certificates()
            .map(|r| {
                (
                    trim_serial_hex(r.raw_serial()),
                    r.revocation_date.timestamp(),
                )
            })
            .collect()
    }

    /// thisUpdate and nextUpdate (Unix seconds).
    pub fn updates(&self) -> (i64, Option<i64>) {
        self.parsed()
            .map(|c| {
                (
                    c.last_update().timestamp(),
                    c.next_update().map(|t| t.timestamp()),
                )
            })
            .unwrap_or((0, None))
    }
}

/// Colon hex of a serial without a sign-padding leading zero.
pub(crate) fn trim_serial_hex(raw: &[u8]) -> String {
    match raw {
        [0, rest @ ..] if !rest.is_empty() => hex_colon(rest),
        all => hex_colon(all),
    }
}
