//! Issuing certificates and CRLs with rcgen: a self-signed CA, intermediate
//! CAs, end entities with the `gateway` and `client` profiles, and CRLs.
//!
//! Profiles follow what IKEv2 clients check (RFC 4945 §5.1.3, and the
//! requirements Apple and Microsoft document for their IKEv2 clients): a
//! gateway certificate carries digitalSignature, serverAuth and ipsecIKE, and a
//! DNS or IP SAN equal to the address or ID clients are configured with; a
//! client certificate carries clientAuth and ipsecIKE.
//!
//! rcgen on ring cannot generate RSA keys (ring has no RSA key generation),
//! so RSA CAs and end entities are issued for an existing RSA key.
//! Dates come in as arguments; nothing here reads the clock.

use std::io::Write;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, CertificateRevocationListParams, DistinguishedName,
    DnType, ExtendedKeyUsagePurpose, IsCa, KeyIdMethod, KeyPair, KeyUsagePurpose, RevocationReason,
    RevokedCertParams, SanType, SerialNumber,
};
use time::OffsetDateTime;

use crate::cert::{Certificate, Crl};
use crate::error::{IssueError, LoadError};
use crate::key::PrivateKey;
use crate::sig::KeyType;

/// Seconds in a day, for `--days`.
const DAY: i64 = 86_400;

/// Key algorithms we can generate or issue for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyAlgorithm {
    /// ECDSA P-256 (the default, as in strongSwan's `pki`).
    EcdsaP256,
    /// ECDSA P-384.
    EcdsaP384,
    /// Ed25519.
    Ed25519,
    /// RSA (existing keys only).
    Rsa,
}

/// Generate a fresh private key. RSA is refused with an explanation.
pub fn generate_key(alg: KeyAlgorithm) -> Result<PrivateKey, IssueError> {
    let rcgen_alg = match alg {
        KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
        KeyAlgorithm::Rsa => return Err(IssueError::RsaKeyGeneration),
    };
    let kp = KeyPair::generate_for(rcgen_alg).map_err(|e| rcgen_err("key", e))?;
    let der = zeroize::Zeroizing::new(kp.serialize_der());
    drop(kp);
    Ok(PrivateKey::from_pkcs8_der(&der, "generated key")?)
}

fn rcgen_err(what: &'static str, e: rcgen::Error) -> IssueError {
    IssueError::Rcgen {
        what,
        reason: e.to_string(),
    }
}

/// rcgen's view of one of our keys. rcgen keeps its own copy of the PKCS#8
/// bytes, which it does not zeroize: keep this value short-lived.
fn rcgen_key(key: &PrivateKey) -> Result<KeyPair, IssueError> {
    let alg = match key.key_type() {
        KeyType::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
        KeyType::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
        KeyType::Ed25519 => &rcgen::PKCS_ED25519,
        KeyType::Rsa { .. } => &rcgen::PKCS_RSA_SHA256,
    };
    KeyPair::from_pkcs8_der_and_sign_algo(&key.secret_bytes().into(), alg)
        .map_err(|e| rcgen_err("key", e))
}

/// A subjectAltName to put in a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum San {
    /// dNSName.
    Dns(String),
    /// iPAddress.
    Ip(IpAddr),
    /// rfc822Name.
    Email(String),
}

impl San {
    /// Parse `DNS:name`, `IP:addr` or `EMAIL:user@host` (prefix case-insensitive).
    /// Without a prefix, an IP address, `user@host` or a DNS name is guessed.
    pub fn parse(s: &str) -> Result<Self, IssueError> {
        let s = s.trim();
        let bad = || IssueError::BadSan(s.to_owned());
        // Hostnames (RFC 1123 §2.1, plus `_` and a leading `*.` wildcard label).
        let dns_ok = |v: &str| {
            !v.is_empty()
                && v.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-._*".contains(c))
        };
        let email_ok = |v: &str| {
            v.split_once('@').is_some_and(|(user, host)| {
                !user.is_empty()
                    && dns_ok(host)
                    && !user.contains(|c: char| c.is_whitespace() || c == ',')
            })
        };
        let (kind, value) = match s.split_once(':') {
            Some((k, v))
                if ["DNS", "IP", "EMAIL", "RFC822"].contains(&k.to_ascii_uppercase().as_str()) =>
            {
                (Some(k.to_ascii_uppercase()), v)
            }
            _ => (None, s),
        };
        match kind.as_deref() {
            Some("DNS") if dns_ok(value) => Ok(Self::Dns(value.to_owned())),
            Some("IP") => value.parse().map(Self::Ip).map_err(|_| bad()),
            Some("EMAIL" | "RFC822") if email_ok(value) => Ok(Self::Email(value.to_owned())),
            Some(_) => Err(bad()),
            None => {
                if let Ok(ip) = value.parse() {
                    Ok(Self::Ip(ip))
                } else if email_ok(value) {
                    Ok(Self::Email(value.to_owned()))
                } else if dns_ok(value) {
                    Ok(Self::Dns(value.to_owned()))
                } else {
                    Err(bad())
                }
            }
        }
    }

    fn to_rcgen(&self) -> Result<SanType, IssueError> {
        let ia5 = |s: &str| {
            rcgen::Ia5String::try_from(s.to_owned()).map_err(|_| IssueError::BadSan(s.to_owned()))
        };
        Ok(match self {
            Self::Dns(s) => SanType::DnsName(ia5(s)?),
            Self::Email(s) => SanType::Rfc822Name(ia5(s)?),
            Self::Ip(a) => SanType::IpAddress(*a),
        })
    }
}

/// keyUsage bits a caller may ask for explicitly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsage {
    /// digitalSignature.
    DigitalSignature,
    /// keyEncipherment.
    KeyEncipherment,
    /// keyCertSign.
    KeyCertSign,
    /// cRLSign.
    CrlSign,
}

/// What a certificate is for; decides basicConstraints, keyUsage and EKU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Profile {
    /// A CA (root or intermediate), with an optional pathLenConstraint.
    Ca {
        /// pathLenConstraint.
        path_len: Option<u8>,
    },
    /// A VPN gateway: digitalSignature, serverAuth + ipsecIKE.
    Gateway,
    /// A remote-access client: digitalSignature, clientAuth + ipsecIKE.
    Client,
}

/// One name-constraint subtree (RFC 5280 §4.2.1.10).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subtree {
    /// dNSName subtree: the name and everything below it.
    Dns(String),
    /// rfc822Name subtree: a mailbox, a host, or `.domain`.
    Email(String),
    /// iPAddress subtree: address and prefix length.
    Ip(IpAddr, u8),
    // No directoryName: rcgen 0.13.2 encodes it without the Name SEQUENCE,
    // which strict parsers (and our own validator) reject.
}

/// Name constraints to put in a CA (RFC 5280 §4.2.1.10).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameConstraintsSpec {
    /// Permitted subtrees.
    pub permitted: Vec<Subtree>,
    /// Excluded subtrees.
    pub excluded: Vec<Subtree>,
}

/// Everything about a certificate to issue except the keys.
#[derive(Debug, Clone)]
pub struct CertSpec {
    /// Subject: `CN=x, O=y` style, or a bare common name.
    pub subject: String,
    /// subjectAltNames.
    pub sans: Vec<San>,
    /// Profile.
    pub profile: Profile,
    /// notBefore, Unix seconds.
    pub not_before: i64,
    /// notAfter, Unix seconds.
    pub not_after: i64,
    /// Serial octets; random 16 octets when `None`.
    pub serial: Option<Vec<u8>>,
    /// Override the profile's keyUsage (tests use this for broken CAs).
    pub key_usage: Option<Vec<KeyUsage>>,
    /// Name constraints (CAs only).
    pub name_constraints: Option<NameConstraintsSpec>,
}

impl CertSpec {
    /// A spec valid from `now` for `days` days.
    pub fn new(subject: &str, profile: Profile, now: i64, days: u32) -> Self {
        Self {
            subject: subject.to_owned(),
            sans: Vec::new(),
            profile,
            not_before: now,
            not_after: now.saturating_add(i64::from(days).saturating_mul(DAY)),
            serial: None,
            key_usage: None,
            name_constraints: None,
        }
    }

    fn to_params(&self) -> Result<CertificateParams, IssueError> {
        let mut p = CertificateParams::default();
        p.distinguished_name = distinguished_name(&self.subject)?;
        p.subject_alt_names = self
            .sans
            .iter()
            .map(San::to_rcgen)
            .collect::<Result<_, _>>()?;
        p.not_before = date(self.not_before)?;
        p.not_after = date(self.not_after)?;
        p.serial_number = Some(SerialNumber::from_slice(&match &self.serial {
            Some(s) => {
                if s.is_empty() || s.len() > 20 {
                    return Err(IssueError::BadSerial(crate::fmt::hex_colon(s)));
                }
                s.clone()
            }
            None => random_serial()?,
        }));
        p.use_authority_key_identifier_extension = true;
        p.key_identifier_method = KeyIdMethod::Sha256;
        let ipsec_ike = ExtendedKeyUsagePurpose::Other(vec![1, 3, 6, 1, 5, 5, 7, 3, 17]);
        let (is_ca, ku, eku) = match self.profile {
            Profile::Ca { path_len } => (
                IsCa::Ca(path_len.map_or(
                    BasicConstraints::Unconstrained,
                    BasicConstraints::Constrained,
                )),
                vec![
                    KeyUsagePurpose::KeyCertSign,
                    KeyUsagePurpose::CrlSign,
                    KeyUsagePurpose::DigitalSignature,
                ],
                vec![],
            ),
            Profile::Gateway => (
                IsCa::ExplicitNoCa,
                vec![KeyUsagePurpose::DigitalSignature],
                vec![ExtendedKeyUsagePurpose::ServerAuth, ipsec_ike],
            ),
            Profile::Client => (
                IsCa::ExplicitNoCa,
                vec![KeyUsagePurpose::DigitalSignature],
                vec![ExtendedKeyUsagePurpose::ClientAuth, ipsec_ike],
            ),
        };
        p.is_ca = is_ca;
        p.key_usages = match &self.key_usage {
            Some(list) => list
                .iter()
                .map(|k| match k {
                    KeyUsage::DigitalSignature => KeyUsagePurpose::DigitalSignature,
                    KeyUsage::KeyEncipherment => KeyUsagePurpose::KeyEncipherment,
                    KeyUsage::KeyCertSign => KeyUsagePurpose::KeyCertSign,
                    KeyUsage::CrlSign => KeyUsagePurpose::CrlSign,
                })
                .collect(),
            None => ku,
        };
        p.extended_key_usages = eku;
        if let Some(nc) = &self.name_constraints {
            p.name_constraints = Some(rcgen::NameConstraints {
                permitted_subtrees: nc.permitted.iter().map(subtree).collect::<Result<_, _>>()?,
                excluded_subtrees: nc.excluded.iter().map(subtree).collect::<Result<_, _>>()?,
            });
        }
        Ok(p)
    }
}

fn subtree(s: &Subtree) -> Result<rcgen::GeneralSubtree, IssueError> {
    // Result kept for subtree kinds that need checking (a future DN kind).
    Ok(match s {
        Subtree::Dns(d) => rcgen::GeneralSubtree::DnsName(d.clone()),
        Subtree::Email(e) => rcgen::GeneralSubtree::Rfc822Name(e.clone()),
        Subtree::Ip(a, prefix) => {
            rcgen::GeneralSubtree::IpAddress(rcgen::CidrSubnet::from_addr_prefix(*a, *prefix))
        }
    })
}

fn date(unix: i64) -> Result<OffsetDateTime, IssueError> {
    OffsetDateTime::from_unix_timestamp(unix).map_err(|e| IssueError::Rcgen {
        what: "certificate",
        reason: format!("date out of range: {e}"),
    })
}

/// 16 random octets with the top bit clear, so the INTEGER stays positive
/// (RFC 5280 §4.1.2.2).
fn random_serial() -> Result<Vec<u8>, IssueError> {
    use ring::rand::SecureRandom;
    let mut s = vec![0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut s)
        .map_err(|_| IssueError::Rcgen {
            what: "serial",
            reason: "no randomness".into(),
        })?;
    if let Some(first) = s.first_mut() {
        *first = (*first & 0x7f) | 0x01;
    }
    Ok(s)
}

/// `C=CH, O=x, CN=y` (or a bare common name) as an rcgen DN.
fn distinguished_name(s: &str) -> Result<DistinguishedName, IssueError> {
    let mut dn = DistinguishedName::new();
    if !s.contains('=') {
        dn.push(DnType::CommonName, s.trim());
        return Ok(dn);
    }
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part.split_once('=').ok_or_else(|| IssueError::Rcgen {
            what: "certificate",
            reason: format!("subject part '{part}' is not KEY=value"),
        })?;
        let ty = match k.trim().to_ascii_uppercase().as_str() {
            "C" => DnType::CountryName,
            "ST" => DnType::StateOrProvinceName,
            "L" => DnType::LocalityName,
            "O" => DnType::OrganizationName,
            "OU" => DnType::OrganizationalUnitName,
            "CN" => DnType::CommonName,
            other => {
                return Err(IssueError::Rcgen {
                    what: "certificate",
                    reason: format!("unsupported subject attribute '{other}'"),
                })
            }
        };
        dn.push(ty, v.trim());
    }
    Ok(dn)
}

/// A CA: its certificate and private key.
#[derive(Debug)]
pub struct Ca {
    /// The CA certificate.
    pub cert: Certificate,
    /// The CA private key.
    pub key: PrivateKey,
}

/// File names inside a CA directory.
pub const CA_CERT_FILE: &str = "ca.crt";
/// CA key file name.
pub const CA_KEY_FILE: &str = "ca.key";
/// CRL file name.
pub const CA_CRL_FILE: &str = "ca.crl";

impl Ca {
    /// Make a self-signed root CA for `key`.
    pub fn self_signed(spec: &CertSpec, key: PrivateKey) -> Result<Self, IssueError> {
        let kp = rcgen_key(&key)?;
        let cert = spec
            .to_params()?
            .self_signed(&kp)
            .map_err(|e| rcgen_err("CA certificate", e))?;
        let cert = Certificate::from_der(cert.der().to_vec(), "issued CA")?;
        Ok(Self { cert, key })
    }

    /// Pair a CA certificate with its key, checking that they belong together.
    pub fn new(cert: Certificate, key: PrivateKey) -> Result<Self, LoadError> {
        if cert.spki_der() != key.public_key().spki_der() {
            return Err(LoadError::KeyMismatch {
                key: format!("({})", key.key_type()),
                subject: cert.subject().to_owned(),
            });
        }
        Ok(Self { cert, key })
    }

    /// Load `ca.crt` and `ca.key` from `dir`.
    pub fn load(dir: &Path) -> Result<Self, LoadError> {
        let cert = crate::load::certificate_from_file(&dir.join(CA_CERT_FILE))?;
        let key_path = dir.join(CA_KEY_FILE);
        let key = PrivateKey::load(&key_path)?;
        Self::new(cert, key).map_err(|e| match e {
            LoadError::KeyMismatch { subject, .. } => LoadError::KeyMismatch {
                key: key_path.display().to_string(),
                subject,
            },
            other => other,
        })
    }

    /// rcgen's issuer object: the CA's own parameters re-read from its certificate.
    fn issuer(&self) -> Result<(rcgen::Certificate, KeyPair), IssueError> {
        let kp = rcgen_key(&self.key)?;
        let params = CertificateParams::from_ca_cert_der(&self.cert.der().to_vec().into())
            .map_err(|e| rcgen_err("CA parameters", e))?;
        let cert = params
            .self_signed(&kp)
            .map_err(|e| rcgen_err("CA parameters", e))?;
        Ok((cert, kp))
    }

    /// Issue a certificate for `subject_key` (its public half is what gets certified).
    pub fn issue(
        &self,
        spec: &CertSpec,
        subject_key: &PrivateKey,
    ) -> Result<Certificate, IssueError> {
        let (issuer, issuer_kp) = self.issuer()?;
        let subject_kp = rcgen_key(subject_key)?;
        let cert = spec
            .to_params()?
            .signed_by(&subject_kp, &issuer, &issuer_kp)
            .map_err(|e| rcgen_err("certificate", e))?;
        Ok(Certificate::from_der(
            cert.der().to_vec(),
            "issued certificate",
        )?)
    }

    /// Check that this CA may issue certificates at all (RFC 5280 §4.2.1.9:
    /// basicConstraints cA; §4.2.1.3: keyCertSign when keyUsage is present),
    /// so that `ikegw pki` refuses to make a chain no validator accepts.
    pub fn check_can_issue(&self) -> Result<(), IssueError> {
        let subject = self.cert.subject().to_owned();
        match self.cert.basic_constraints() {
            Some((true, _)) => {}
            _ => {
                return Err(IssueError::NotACa {
                    subject,
                    reason: "basicConstraints cA is not set",
                })
            }
        }
        if let Some(ku) = self.cert.key_usage() {
            if !ku.contains(&"keyCertSign") {
                return Err(IssueError::NotACa {
                    subject,
                    reason: "its keyUsage lacks keyCertSign",
                });
            }
        }
        Ok(())
    }

    /// The pathLenConstraint a CA issued by this one may carry (RFC 5280
    /// §4.2.1.9): `Ok(None)` when this CA is unconstrained, `Ok(Some(n - 1))`
    /// below a constraint of `n`, and an error below a constraint of 0,
    /// where no further CA may follow.
    pub fn sub_ca_path_len(&self) -> Result<Option<u8>, IssueError> {
        match self.cert.basic_constraints() {
            Some((true, None)) => Ok(None),
            Some((true, Some(n))) => match n.checked_sub(1) {
                Some(m) => Ok(Some(u8::try_from(m).unwrap_or(u8::MAX))),
                None => Err(IssueError::PathLenExhausted {
                    subject: self.cert.subject().to_owned(),
                }),
            },
            _ => Err(IssueError::NotACa {
                subject: self.cert.subject().to_owned(),
                reason: "basicConstraints cA is not set",
            }),
        }
    }

    /// Issue an intermediate CA certificate for `subject_key` (RFC 5280
    /// §4.2.1.9, §4.2.1.3): basicConstraints cA with `spec`'s
    /// pathLenConstraint, keyUsage keyCertSign and cRLSign, SKI, and an AKI
    /// equal to this CA's SKI. Refused when this CA cannot issue, when its
    /// own pathLenConstraint leaves no room for another CA, or when the
    /// requested pathLenConstraint is not below it; `path_len: None` under a
    /// constrained CA takes the largest value allowed.
    pub fn issue_intermediate(
        &self,
        spec: &CertSpec,
        subject_key: &PrivateKey,
    ) -> Result<Certificate, IssueError> {
        self.check_can_issue()?;
        let Profile::Ca { path_len } = spec.profile else {
            return Err(IssueError::Rcgen {
                what: "intermediate CA",
                reason: "the spec's profile is not a CA".into(),
            });
        };
        let max = self.sub_ca_path_len()?;
        let path_len = match (path_len, max) {
            (Some(asked), Some(max)) if asked > max => {
                return Err(IssueError::PathLenTooLarge {
                    subject: self.cert.subject().to_owned(),
                    asked,
                    max,
                })
            }
            (Some(asked), _) => Some(asked),
            (None, max) => max,
        };
        let mut spec = spec.clone();
        spec.profile = Profile::Ca { path_len };
        self.issue(&spec, subject_key)
    }

    /// Issue a CRL listing `revoked` (serial octets and revocation time), valid
    /// from `this_update` for `days` days (RFC 5280 §5).
    pub fn issue_crl(
        &self,
        revoked: &[(Vec<u8>, i64)],
        crl_number: u64,
        this_update: i64,
        days: u32,
    ) -> Result<Crl, IssueError> {
        let (issuer, issuer_kp) = self.issuer()?;
        let revoked_certs = revoked
            .iter()
            .map(|(serial, at)| {
                Ok(RevokedCertParams {
                    serial_number: SerialNumber::from_slice(serial),
                    revocation_time: date(*at)?,
                    reason_code: Some(RevocationReason::KeyCompromise),
                    invalidity_date: None,
                })
            })
            .collect::<Result<Vec<_>, IssueError>>()?;
        let params = CertificateRevocationListParams {
            this_update: date(this_update)?,
            next_update: date(this_update.saturating_add(i64::from(days).saturating_mul(DAY)))?,
            crl_number: SerialNumber::from_slice(&crl_number.to_be_bytes()),
            issuing_distribution_point: None,
            revoked_certs,
            key_identifier_method: KeyIdMethod::Sha256,
        };
        let crl = params
            .signed_by(&issuer, &issuer_kp)
            .map_err(|e| rcgen_err("CRL", e))?;
        Ok(Crl::from_der(crl.der().to_vec(), "issued CRL")?)
    }
}

/// Write a private key as PKCS#8 PEM with mode 0600, refusing to overwrite.
pub fn write_private_key(path: &Path, key: &PrivateKey) -> Result<(), IssueError> {
    write_new(path, key.to_pkcs8_pem().as_bytes(), 0o600)
}

/// Write a certificate or CRL PEM with mode 0644, refusing to overwrite.
pub fn write_public(path: &Path, pem: &str) -> Result<(), IssueError> {
    write_new(path, pem.as_bytes(), 0o644)
}

/// Write a public file with mode 0644, replacing an existing one (CRL updates).
pub fn replace_public(path: &Path, pem: &str) -> Result<(), IssueError> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    write_new(&tmp, pem.as_bytes(), 0o644)?;
    std::fs::rename(&tmp, path).map_err(|source| IssueError::Io {
        path: path.to_owned(),
        source,
    })
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), IssueError> {
    let io = |source| IssueError::Io {
        path: PathBuf::from(path),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        // The mode is set at creation so the key is never briefly readable.
        opts.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut f = opts.open(path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::AlreadyExists {
            IssueError::Exists(path.to_owned())
        } else {
            io(e)
        }
    })?;
    f.write_all(bytes).map_err(io)?;
    // The umask may have removed bits; set the mode exactly.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_san_syntax() {
        assert_eq!(
            San::parse("DNS:a.example").unwrap(),
            San::Dns("a.example".into())
        );
        assert_eq!(
            San::parse("ip:192.0.2.1").unwrap(),
            San::Ip("192.0.2.1".parse().unwrap())
        );
        assert_eq!(
            San::parse("IP:2001:db8::1").unwrap(),
            San::Ip("2001:db8::1".parse().unwrap())
        );
        assert_eq!(San::parse("EMAIL:x@y").unwrap(), San::Email("x@y".into()));
        assert_eq!(San::parse("x@y").unwrap(), San::Email("x@y".into()));
        assert_eq!(
            San::parse("2001:db8::2").unwrap(),
            San::Ip("2001:db8::2".parse().unwrap())
        );
        assert!(San::parse("DNS:a.example,IP:192.0.2.1").is_err());
        assert!(San::parse("EMAIL:no-at-sign").is_err());
        assert!(San::parse("two words").is_err());
        assert_eq!(
            San::parse("IP:nope").unwrap_err().to_string(),
            "bad subjectAltName 'IP:nope': use DNS:name, IP:address or EMAIL:user@domain"
        );
    }

    const NOW: i64 = 1_795_478_400; // 2026-11-24 00:00:00 UTC

    fn root(path_len: Option<u8>) -> Ca {
        let spec = CertSpec::new("CN=Root", Profile::Ca { path_len }, NOW, 3650);
        Ca::self_signed(&spec, generate_key(KeyAlgorithm::EcdsaP256).unwrap()).unwrap()
    }

    fn sub_spec(cn: &str, path_len: Option<u8>) -> CertSpec {
        CertSpec::new(cn, Profile::Ca { path_len }, NOW, 1825)
    }

    #[test]
    fn intermediate_ca_carries_ca_constraints_and_key_ids() {
        let root = root(None);
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let inter = root
            .issue_intermediate(&sub_spec("CN=Inter", Some(0)), &key)
            .unwrap();
        assert_eq!(inter.basic_constraints(), Some((true, Some(0))));
        let ku = inter.key_usage().unwrap();
        assert!(
            ku.contains(&"keyCertSign") && ku.contains(&"cRLSign"),
            "{ku:?}"
        );
        assert_eq!(inter.issuer(), "CN=Root");
        let ski = inter.subject_key_identifier().unwrap();
        assert!(!ski.is_empty());
        assert_eq!(
            inter.authority_key_identifier(),
            root.cert.subject_key_identifier()
        );
        // What the intermediate issues names it by its SKI.
        let inter = Ca::new(inter, key).unwrap();
        let ee_key = generate_key(KeyAlgorithm::Ed25519).unwrap();
        let ee = inter
            .issue(&CertSpec::new("CN=gw", Profile::Gateway, NOW, 30), &ee_key)
            .unwrap();
        assert_eq!(ee.authority_key_identifier(), Some(ski));
        assert_eq!(ee.issuer(), "CN=Inter");
    }

    #[test]
    fn intermediate_path_len_follows_the_issuer() {
        let key = || generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        // Below pathLen 2, no value asked gives 1; 2 is too large.
        let r2 = root(Some(2));
        let c = r2
            .issue_intermediate(&sub_spec("CN=A", None), &key())
            .unwrap();
        assert_eq!(c.basic_constraints(), Some((true, Some(1))));
        assert_eq!(
            r2.issue_intermediate(&sub_spec("CN=B", Some(2)), &key())
                .unwrap_err()
                .to_string(),
            "pathLenConstraint 2 is too large below CA 'CN=Root': at most 1"
        );
        // Below an unconstrained root, none asked stays unconstrained.
        let c = root(None)
            .issue_intermediate(&sub_spec("CN=C", None), &key())
            .unwrap();
        assert_eq!(c.basic_constraints(), Some((true, None)));
        // pathLen 0 leaves no room for another CA.
        assert_eq!(
            root(Some(0))
                .issue_intermediate(&sub_spec("CN=D", None), &key())
                .unwrap_err()
                .to_string(),
            "CA 'CN=Root' has pathLenConstraint 0: it may issue end entities only, not another CA"
        );
    }

    #[test]
    fn only_cas_with_key_cert_sign_issue_intermediates() {
        let root = root(None);
        let ee_key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        let ee = root
            .issue(&CertSpec::new("CN=gw", Profile::Gateway, NOW, 30), &ee_key)
            .unwrap();
        let fake = Ca::new(ee, ee_key).unwrap();
        let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
        assert_eq!(
            fake.issue_intermediate(&sub_spec("CN=X", None), &key)
                .unwrap_err()
                .to_string(),
            "'CN=gw' cannot issue certificates: basicConstraints cA is not set"
        );
        let mut spec = CertSpec::new("CN=Signless", Profile::Ca { path_len: None }, NOW, 30);
        spec.key_usage = Some(vec![KeyUsage::CrlSign]);
        let signless =
            Ca::self_signed(&spec, generate_key(KeyAlgorithm::EcdsaP256).unwrap()).unwrap();
        assert_eq!(
            signless
                .issue_intermediate(&sub_spec("CN=X", None), &key)
                .unwrap_err()
                .to_string(),
            "'CN=Signless' cannot issue certificates: its keyUsage lacks keyCertSign"
        );
        // An end-entity spec is not an intermediate.
        assert!(root
            .issue_intermediate(&CertSpec::new("CN=gw", Profile::Gateway, NOW, 30), &key)
            .is_err());
    }

    #[test]
    fn rsa_generation_is_refused_with_advice() {
        let err = generate_key(KeyAlgorithm::Rsa).unwrap_err().to_string();
        assert!(
            err.starts_with("cannot generate RSA keys (ring has no RSA key generation)"),
            "{err}"
        );
    }
}
