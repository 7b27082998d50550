//! IKE identities (RFC 7296 §3.5) and whether a certificate backs them
//! (RFC 4945 §3.1, with strongSwan's rules).
//!
//! - ID_FQDN needs a dNSName SAN equal to it, ignoring ASCII case; the CN is
//!   never consulted.
//! - ID_RFC822_ADDR needs an rfc822Name SAN equal to it, ignoring ASCII case.
//! - ID_IPV4_ADDR / ID_IPV6_ADDR need an iPAddress SAN with the same octets.
//! - ID_DER_ASN1_DN must equal the subject DN (same DER, or the same
//!   attributes after whitespace and case normalisation).
//! - ID_KEY_ID is opaque and is never matched against a certificate.
//!
//! This crate does not depend on `ike`: [`IkeId::from_payload`] and
//! [`IkeId::id_type`] / [`IkeId::data`] carry the ID payload's type number and
//! data so that converting from `ike::wire` is a one-liner.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use crate::cert::{Certificate, SubjectAltName};
use crate::der::{self, tag};
use crate::error::IdentityError;
use crate::fmt::hex_colon;
use crate::names;

/// An IKE identity: the ID payload's type and value (RFC 7296 §3.5).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum IkeId {
    /// ID_IPV4_ADDR (1).
    Ipv4(Ipv4Addr),
    /// ID_FQDN (2).
    Fqdn(String),
    /// ID_RFC822_ADDR (3).
    Rfc822(String),
    /// ID_IPV6_ADDR (5).
    Ipv6(Ipv6Addr),
    /// ID_DER_ASN1_DN (9): DER of a Name.
    DerAsn1Dn(Vec<u8>),
    /// ID_KEY_ID (11): opaque octets.
    KeyId(Vec<u8>),
}

impl IkeId {
    /// ID Type numbers (IANA "IKEv2 Identification Payload ID Types").
    pub const ID_IPV4_ADDR: u8 = 1;
    /// ID_FQDN.
    pub const ID_FQDN: u8 = 2;
    /// ID_RFC822_ADDR.
    pub const ID_RFC822_ADDR: u8 = 3;
    /// ID_IPV6_ADDR.
    pub const ID_IPV6_ADDR: u8 = 5;
    /// ID_DER_ASN1_DN.
    pub const ID_DER_ASN1_DN: u8 = 9;
    /// ID_KEY_ID.
    pub const ID_KEY_ID: u8 = 11;

    /// Build from an ID payload's type and data. `None` for types we do not
    /// handle (ID_DER_ASN1_GN, ID_FC_NAME, unassigned) — the caller decides.
    pub fn from_payload(id_type: u8, data: &[u8]) -> Option<Result<Self, IdentityError>> {
        let text = |name: &'static str| {
            std::str::from_utf8(data)
                .map(str::to_owned)
                .map_err(|_| IdentityError::Malformed {
                    id_type: name,
                    reason: "not UTF-8".into(),
                })
        };
        Some(match id_type {
            Self::ID_IPV4_ADDR => <[u8; 4]>::try_from(data)
                .map(|a| Self::Ipv4(a.into()))
                .map_err(|_| IdentityError::Malformed {
                    id_type: "ID_IPV4_ADDR",
                    reason: format!("{} octets, expected 4", data.len()),
                }),
            Self::ID_FQDN => text("ID_FQDN").map(Self::Fqdn),
            Self::ID_RFC822_ADDR => text("ID_RFC822_ADDR").map(Self::Rfc822),
            Self::ID_IPV6_ADDR => <[u8; 16]>::try_from(data)
                .map(|a| Self::Ipv6(a.into()))
                .map_err(|_| IdentityError::Malformed {
                    id_type: "ID_IPV6_ADDR",
                    reason: format!("{} octets, expected 16", data.len()),
                }),
            Self::ID_DER_ASN1_DN => match x509_parser::x509::X509Name::from_der_checked(data) {
                Some(_) => Ok(Self::DerAsn1Dn(data.to_vec())),
                None => Err(IdentityError::Malformed {
                    id_type: "ID_DER_ASN1_DN",
                    reason: "not a DER Name".into(),
                }),
            },
            Self::ID_KEY_ID => Ok(Self::KeyId(data.to_vec())),
            _ => return None,
        })
    }

    /// The ID payload's type number.
    pub fn id_type(&self) -> u8 {
        match self {
            Self::Ipv4(_) => Self::ID_IPV4_ADDR,
            Self::Fqdn(_) => Self::ID_FQDN,
            Self::Rfc822(_) => Self::ID_RFC822_ADDR,
            Self::Ipv6(_) => Self::ID_IPV6_ADDR,
            Self::DerAsn1Dn(_) => Self::ID_DER_ASN1_DN,
            Self::KeyId(_) => Self::ID_KEY_ID,
        }
    }

    /// The ID payload's data.
    pub fn data(&self) -> Vec<u8> {
        match self {
            Self::Ipv4(a) => a.octets().to_vec(),
            Self::Ipv6(a) => a.octets().to_vec(),
            Self::Fqdn(s) | Self::Rfc822(s) => s.as_bytes().to_vec(),
            Self::DerAsn1Dn(d) | Self::KeyId(d) => d.clone(),
        }
    }

    /// Parse the way strongSwan reads `id = ...`: an IP address, `@fqdn` or a
    /// bare name for ID_FQDN, `user@host` for ID_RFC822_ADDR, `@#hex` for
    /// ID_KEY_ID, and `C=CH, O=x, CN=y` (a `=` before any `@`) for ID_DER_ASN1_DN.
    pub fn parse(s: &str) -> Result<Self, IdentityError> {
        let s = s.trim();
        if let Ok(ip) = s.parse::<IpAddr>() {
            return Ok(match ip {
                IpAddr::V4(a) => Self::Ipv4(a),
                IpAddr::V6(a) => Self::Ipv6(a),
            });
        }
        if let Some(hex) = s.strip_prefix("@#") {
            return hex::decode(hex)
                .map(Self::KeyId)
                .map_err(|e| IdentityError::Malformed {
                    id_type: "ID_KEY_ID",
                    reason: e.to_string(),
                });
        }
        if let Some(fqdn) = s.strip_prefix('@') {
            return Ok(Self::Fqdn(fqdn.to_owned()));
        }
        let eq = s.find('=');
        let at = s.find('@');
        if let Some(eq) = eq {
            if at.is_none_or(|at| eq < at) {
                return dn_from_str(s).map(Self::DerAsn1Dn);
            }
        }
        if at.is_some() {
            return Ok(Self::Rfc822(s.to_owned()));
        }
        Ok(Self::Fqdn(s.to_owned()))
    }

    /// Check that `cert` backs this identity (see the module doc for the rules).
    pub fn matches(&self, cert: &Certificate) -> Result<(), IdentityError> {
        let sans = cert.subject_alt_names();
        let not_in_san = || IdentityError::NotInSubjectAltName {
            subject: cert.subject().to_owned(),
            id: self.to_string(),
            sans: sans
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(", "),
        };
        let found = match self {
            Self::Fqdn(id) => {
                let id = id.trim_end_matches('.');
                sans.iter().any(|s| {
                    matches!(s, SubjectAltName::Dns(d) if d.trim_end_matches('.').eq_ignore_ascii_case(id))
                })
            }
            Self::Rfc822(id) => sans
                .iter()
                .any(|s| matches!(s, SubjectAltName::Email(e) if e.eq_ignore_ascii_case(id))),
            Self::Ipv4(a) => sans.contains(&SubjectAltName::Ip(IpAddr::V4(*a))),
            Self::Ipv6(a) => sans.contains(&SubjectAltName::Ip(IpAddr::V6(*a))),
            Self::DerAsn1Dn(der) => {
                let ok = match (
                    x509_parser::x509::X509Name::from_der_checked(der),
                    cert.parsed(),
                ) {
                    (Some(id), Some(c)) => names::dn_eq(&id, c.subject()),
                    _ => false,
                };
                if ok {
                    return Ok(());
                }
                return Err(IdentityError::DnMismatch {
                    subject: cert.subject().to_owned(),
                    id: self.to_string(),
                });
            }
            Self::KeyId(k) => {
                return Err(IdentityError::KeyIdNotMatchable {
                    subject: cert.subject().to_owned(),
                    id: hex_colon(k),
                })
            }
        };
        if found {
            Ok(())
        } else {
            Err(not_in_san())
        }
    }
}

impl std::fmt::Display for IkeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Ipv4(a) => write!(f, "{a}"),
            Self::Ipv6(a) => write!(f, "{a}"),
            Self::Fqdn(s) | Self::Rfc822(s) => f.write_str(s),
            Self::DerAsn1Dn(d) => match x509_parser::x509::X509Name::from_der_checked(d) {
                Some(n) => write!(f, "{n}"),
                None => write!(f, "DN:{}", hex_colon(d)),
            },
            Self::KeyId(k) => write!(f, "@#{}", hex::encode(k)),
        }
    }
}

trait FromDerChecked<'a>: Sized {
    fn from_der_checked(der: &'a [u8]) -> Option<Self>;
}

impl<'a> FromDerChecked<'a> for x509_parser::x509::X509Name<'a> {
    fn from_der_checked(der: &'a [u8]) -> Option<Self> {
        use x509_parser::prelude::FromDer;
        match Self::from_der(der) {
            Ok(([], name)) => Some(name),
            _ => None,
        }
    }
}

/// Attribute short names we accept in a DN string, with their OIDs as DER
/// content octets (RFC 4519 §2 / X.520).
const DN_ATTRS: [(&str, &[u8]); 9] = [
    ("C", &[0x55, 0x04, 0x06]),
    ("ST", &[0x55, 0x04, 0x08]),
    ("L", &[0x55, 0x04, 0x07]),
    ("O", &[0x55, 0x04, 0x0a]),
    ("OU", &[0x55, 0x04, 0x0b]),
    ("CN", &[0x55, 0x04, 0x03]),
    ("SN", &[0x55, 0x04, 0x05]),
    (
        "DC",
        &[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19],
    ),
    ("E", &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]),
];

/// DER Name from `C=CH, O=Org, CN=name` (one attribute per RDN, in the
/// order written, as strongSwan does). Values are UTF8String, except C and SN
/// (PrintableString) and E and DC (IA5String); DN comparison normalises the
/// string type away.
pub fn dn_from_str(s: &str) -> Result<Vec<u8>, IdentityError> {
    let bad = |reason: String| IdentityError::Malformed {
        id_type: "ID_DER_ASN1_DN",
        reason,
    };
    let mut rdns = Vec::new();
    for part in s.split([',', '/']).map(str::trim).filter(|p| !p.is_empty()) {
        let (k, v) = part
            .split_once('=')
            .ok_or_else(|| bad(format!("'{part}' is not KEY=value")))?;
        let key = k.trim().to_ascii_uppercase();
        let key = if key == "EMAIL" || key == "EMAILADDRESS" {
            "E".to_owned()
        } else {
            key
        };
        let (_, oid) = DN_ATTRS
            .iter()
            .find(|(n, _)| *n == key)
            .ok_or_else(|| bad(format!("unknown attribute '{}'", k.trim())))?;
        let string_tag = match key.as_str() {
            "C" | "SN" => tag::PRINTABLE_STRING,
            "E" | "DC" => tag::IA5_STRING,
            _ => tag::UTF8_STRING,
        };
        let atv = der::seq(&[
            &der::tlv(tag::OID, oid),
            &der::tlv(string_tag, v.trim().as_bytes()),
        ]);
        rdns.push(der::tlv(tag::SET, &atv));
    }
    if rdns.is_empty() {
        return Err(bad("empty DN".into()));
    }
    let refs: Vec<&[u8]> = rdns.iter().map(Vec::as_slice).collect();
    Ok(der::seq(&refs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_strongswan_style_ids() {
        assert_eq!(
            IkeId::parse("192.0.2.1").unwrap(),
            IkeId::Ipv4(Ipv4Addr::new(192, 0, 2, 1))
        );
        assert_eq!(
            IkeId::parse("2001:db8::1").unwrap().id_type(),
            IkeId::ID_IPV6_ADDR
        );
        assert_eq!(
            IkeId::parse("@gw.example").unwrap(),
            IkeId::Fqdn("gw.example".into())
        );
        assert_eq!(
            IkeId::parse("gw.example").unwrap(),
            IkeId::Fqdn("gw.example".into())
        );
        assert_eq!(
            IkeId::parse("a@b.example").unwrap(),
            IkeId::Rfc822("a@b.example".into())
        );
        assert_eq!(IkeId::parse("@#0a0b").unwrap(), IkeId::KeyId(vec![10, 11]));
        let dn = IkeId::parse("C=CH, O=x, CN=a@b").unwrap();
        assert_eq!(dn.id_type(), IkeId::ID_DER_ASN1_DN);
        assert_eq!(dn.to_string(), "C=CH, O=x, CN=a@b");
        assert!(IkeId::parse("XX=1").is_err());
    }

    #[test]
    fn payload_round_trip() {
        for s in [
            "192.0.2.1",
            "2001:db8::1",
            "gw.example",
            "a@b.example",
            "CN=x",
            "@#0102",
        ] {
            let id = IkeId::parse(s).unwrap();
            let back = IkeId::from_payload(id.id_type(), &id.data())
                .unwrap()
                .unwrap();
            assert_eq!(back, id);
        }
        assert!(IkeId::from_payload(IkeId::ID_IPV4_ADDR, &[1, 2, 3])
            .unwrap()
            .is_err());
        assert!(IkeId::from_payload(IkeId::ID_DER_ASN1_DN, &[0x30, 0x05])
            .unwrap()
            .is_err());
        assert!(IkeId::from_payload(IkeId::ID_FQDN, &[0xff])
            .unwrap()
            .is_err());
        assert!(IkeId::from_payload(4, b"x").is_none());
    }
}
