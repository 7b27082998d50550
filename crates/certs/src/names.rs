//! Name constraints (RFC 5280 §4.2.1.10) for DNS, IP, email and DN subtrees.
//!
//! Names of a kind we cannot evaluate (URI, otherName, …) fail closed when
//! the CA constrains that kind: a constraint we do not understand must not
//! let a certificate through.

use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::{GeneralName, NameConstraints};
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use crate::cert::{ip_from_bytes, SubjectAltName};
use crate::error::ValidationError;
use crate::fmt::hex_colon;

/// pkcs-9 emailAddress (RFC 5280 §4.1.2.6 asks that it be checked as rfc822Name).
const OID_EMAIL_ADDRESS: &str = "1.2.840.113549.1.9.1";

/// The kinds of name a constraint can bind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Dns,
    Ip,
    Email,
    Dn,
    Uri,
    Other,
}

fn kind(name: &GeneralName<'_>) -> Kind {
    match name {
        GeneralName::DNSName(_) => Kind::Dns,
        GeneralName::IPAddress(_) => Kind::Ip,
        GeneralName::RFC822Name(_) => Kind::Email,
        GeneralName::DirectoryName(_) => Kind::Dn,
        GeneralName::URI(_) => Kind::Uri,
        _ => Kind::Other,
    }
}

/// Text of a constraint subtree, e.g. `DNS:corp.example`, `IP:10.0.0.0/8`.
fn describe_subtree(name: &GeneralName<'_>) -> String {
    match name {
        GeneralName::IPAddress(b) => {
            let half = b.len() / 2;
            match (b.get(..half).and_then(ip_from_bytes), b.get(half..)) {
                (Some(addr), Some(mask)) => {
                    let prefix: u32 = mask.iter().map(|m| m.count_ones()).sum();
                    format!("IP:{addr}/{prefix}")
                }
                _ => format!("IP:{}", hex_colon(b)),
            }
        }
        other => SubjectAltName::from_general_name(other).to_string(),
    }
}

/// Apply `nc` (from CA `issuer`) to the names in `cert`.
pub(crate) fn check(
    nc: &NameConstraints<'_>,
    issuer: &str,
    cert: &X509Certificate<'_>,
    subject: &str,
) -> Result<(), ValidationError> {
    let mut names: Vec<GeneralName<'_>> = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        names.extend(san.value.general_names.iter().cloned());
    }
    // The subject DN is a directoryName; an empty subject has no name to check.
    if cert.subject().iter_rdn().next().is_some() {
        names.push(GeneralName::DirectoryName(cert.subject().clone()));
    }
    for attr in cert.subject().iter_attributes() {
        if attr.attr_type().to_id_string() == OID_EMAIL_ADDRESS {
            if let Ok(s) = attr.as_str() {
                names.push(GeneralName::RFC822Name(s));
            }
        }
    }
    let permitted = nc.permitted_subtrees.as_deref().unwrap_or(&[]);
    let excluded = nc.excluded_subtrees.as_deref().unwrap_or(&[]);
    for name in &names {
        let k = kind(name);
        if let Some(ex) = excluded
            .iter()
            .find(|s| kind(&s.base) == k && within(name, &s.base))
        {
            return Err(ValidationError::NameExcluded {
                subject: subject.to_owned(),
                issuer: issuer.to_owned(),
                name: describe_name(name),
                excluded: describe_subtree(&ex.base),
            });
        }
        let same_kind: Vec<_> = permitted.iter().filter(|s| kind(&s.base) == k).collect();
        if !same_kind.is_empty() && !same_kind.iter().any(|s| within(name, &s.base)) {
            return Err(ValidationError::NameNotPermitted {
                subject: subject.to_owned(),
                issuer: issuer.to_owned(),
                name: describe_name(name),
                permitted: same_kind
                    .iter()
                    .map(|s| describe_subtree(&s.base))
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    Ok(())
}

fn describe_name(name: &GeneralName<'_>) -> String {
    SubjectAltName::from_general_name(name).to_string()
}

/// Whether `name` lies within the subtree `base` (both of the same kind).
fn within(name: &GeneralName<'_>, base: &GeneralName<'_>) -> bool {
    match (name, base) {
        (GeneralName::DNSName(n), GeneralName::DNSName(b)) => dns_within(n, b),
        (GeneralName::RFC822Name(n), GeneralName::RFC822Name(b)) => email_within(n, b),
        (GeneralName::IPAddress(n), GeneralName::IPAddress(b)) => ip_within(n, b),
        (GeneralName::DirectoryName(n), GeneralName::DirectoryName(b)) => dn_within(n, b),
        // Kinds we cannot evaluate never match a permitted subtree (so they
        // are refused) and always match an excluded one (so they are refused).
        _ => false,
    }
}

fn norm_dns(s: &str) -> String {
    s.trim_end_matches('.').to_ascii_lowercase()
}

/// `corp.example` covers itself and every name below it; `.corp.example`
/// only names below it (the leading-dot form some CAs use).
fn dns_within(name: &str, base: &str) -> bool {
    let (name, base) = (norm_dns(name), norm_dns(base));
    if base.is_empty() {
        return true;
    }
    if base.starts_with('.') {
        return name.ends_with(&base);
    }
    name == base
        || name
            .strip_suffix(&base)
            .is_some_and(|head| head.ends_with('.'))
}

/// RFC 5280 §4.2.1.10: a full mailbox, a host, or `.domain` for any host below.
fn email_within(name: &str, base: &str) -> bool {
    let name = name.to_ascii_lowercase();
    let base = base.to_ascii_lowercase();
    if base.contains('@') {
        return name == base;
    }
    let Some((_, host)) = name.rsplit_once('@') else {
        return false;
    };
    if base.starts_with('.') {
        host.ends_with(&base)
    } else {
        host == base
    }
}

/// iPAddress subtrees are address || mask (RFC 5280 §4.2.1.10).
fn ip_within(name: &[u8], base: &[u8]) -> bool {
    if base.len() != name.len().saturating_mul(2) || name.is_empty() {
        return false;
    }
    let (addr, mask) = base.split_at(name.len());
    name.iter()
        .zip(addr)
        .zip(mask)
        .all(|((n, a), m)| n & m == a & m)
}

/// A DN lies within `base` when its RDN sequence starts with base's RDNs.
fn dn_within(name: &X509Name<'_>, base: &X509Name<'_>) -> bool {
    let name_rdns: Vec<_> = name.iter_rdn().collect();
    let base_rdns: Vec<_> = base.iter_rdn().collect();
    if base_rdns.len() > name_rdns.len() {
        return false;
    }
    base_rdns.iter().zip(&name_rdns).all(|(b, n)| {
        let (b, n): (Vec<_>, Vec<_>) = (b.iter().collect(), n.iter().collect());
        b.len() == n.len() && b.iter().all(|ba| n.iter().any(|na| attr_eq(ba, na)))
    })
}

/// Attribute equality: same type and same value after trimming and
/// ASCII case folding (a reduced form of RFC 5280 §7.1 comparison).
pub(crate) fn attr_eq(a: &AttributeTypeAndValue<'_>, b: &AttributeTypeAndValue<'_>) -> bool {
    if a.attr_type() != b.attr_type() {
        return false;
    }
    match (a.as_str(), b.as_str()) {
        (Ok(x), Ok(y)) => {
            let norm = |s: &str| {
                s.split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
                    .to_ascii_lowercase()
            };
            norm(x) == norm(y)
        }
        _ => a.attr_value().data == b.attr_value().data,
    }
}

/// Whether two DNs are equal attribute by attribute (after [`attr_eq`]).
pub(crate) fn dn_eq(a: &X509Name<'_>, b: &X509Name<'_>) -> bool {
    a.as_raw() == b.as_raw() || (a.iter_rdn().count() == b.iter_rdn().count() && dn_within(a, b))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dns_subtrees() {
        assert!(dns_within("corp.example", "corp.example"));
        assert!(dns_within("VPN.Corp.Example.", "corp.example"));
        assert!(!dns_within("evilcorp.example", "corp.example"));
        assert!(!dns_within("corp.example", ".corp.example"));
        assert!(dns_within("a.corp.example", ".corp.example"));
        assert!(dns_within("anything", ""));
    }

    #[test]
    fn email_subtrees() {
        assert!(email_within("a@corp.example", "corp.example"));
        assert!(!email_within("a@x.corp.example", "corp.example"));
        assert!(email_within("a@x.corp.example", ".corp.example"));
        assert!(email_within("A@corp.example", "a@corp.example"));
        assert!(!email_within("b@corp.example", "a@corp.example"));
        assert!(!email_within("no-at-sign", "corp.example"));
    }

    #[test]
    fn ip_subtrees() {
        assert!(ip_within(&[10, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_within(&[11, 1, 2, 3], &[10, 0, 0, 0, 255, 0, 0, 0]));
        assert!(!ip_within(&[10, 1, 2, 3], &[0; 32]));
        assert!(!ip_within(&[], &[]));
    }
}
