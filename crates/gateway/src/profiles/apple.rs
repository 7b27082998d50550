//! Apple configuration profile (`.mobileconfig`) for the built-in IKEv2
//! client of iOS, iPadOS and macOS.
//!
//! Keys follow Apple's Device Management reference: a `Configuration`
//! payload holding a `com.apple.security.root` payload (the CA), a
//! `com.apple.security.pkcs12` payload (the client identity; no `Password`
//! key, so the device asks for it at install and the secret never sits in
//! the file) and a `com.apple.vpn.managed` payload of `VPNType` `IKEv2`.

use plist::{Dictionary, Value};
use ring::rand::SecureRandom;

use super::creds::ClientCredentials;
use super::suite::{apple, Suite};
use super::{uuid_v4, Profile, ProfileError};

/// The payload UUIDs (random per profile; tests pass fixed ones).
pub(crate) struct Uuids {
    /// The outer Configuration payload.
    pub(crate) top: String,
    /// The CA payload.
    pub(crate) ca: String,
    /// The PKCS#12 payload (the VPN payload's PayloadCertificateUUID).
    pub(crate) p12: String,
    /// The VPN payload.
    pub(crate) vpn: String,
}

impl Uuids {
    /// Four fresh version-4 UUIDs.
    pub(crate) fn generate(rng: &dyn SecureRandom) -> Result<Self, ProfileError> {
        Ok(Self {
            top: uuid_v4(rng)?,
            ca: uuid_v4(rng)?,
            p12: uuid_v4(rng)?,
            vpn: uuid_v4(rng)?,
        })
    }
}

/// `DeadPeerDetectionRate` (Apple: None; Low = 30 min, Medium = 10 min,
/// High = 1 min): the first rate at least as frequent as the server's.
fn dpd_rate(delay: std::time::Duration) -> &'static str {
    match delay.as_secs() {
        0 => "None",
        1..=60 => "High",
        61..=600 => "Medium",
        _ => "Low",
    }
}

/// `CertificateType` for the client key.
fn certificate_type(k: certs::KeyType) -> &'static str {
    match k {
        certs::KeyType::EcdsaP256 => "ECDSA256",
        certs::KeyType::EcdsaP384 => "ECDSA384",
        certs::KeyType::Ed25519 => "Ed25519",
        certs::KeyType::Rsa { .. } => "RSA",
    }
}

fn sa_params(s: &Suite, lifetime: Option<std::time::Duration>, fallback_dh: u16) -> Dictionary {
    let mut d = Dictionary::new();
    if let Some(e) = apple::encryption(s.encr) {
        d.insert("EncryptionAlgorithm".into(), e.into());
    }
    // AEAD: IntegrityAlgorithm only selects the PRF (IKE); for an AEAD
    // child there is none, and Apple ignores the value, so SHA2-256 is a
    // harmless placeholder rather than a missing key.
    let integ = match (s.integ, s.prf) {
        (Some(i), _) => apple::integrity(ike::wire::IntegId(i.id)),
        (None, Some(p)) => apple::prf(ike::wire::PrfId(p.id)),
        (None, None) => Some("SHA2-256"),
    };
    if let Some(i) = integ {
        d.insert("IntegrityAlgorithm".into(), i.into());
    }
    let dh =
        s.ke.and_then(|k| apple::dh_group(ike::wire::KeMethod(k.id)))
            .unwrap_or(fallback_dh);
    d.insert("DiffieHellmanGroup".into(), Value::Integer(dh.into()));
    if let Some(l) = lifetime {
        let minutes = (l.as_secs() / 60).clamp(10, 1440);
        d.insert("LifeTimeInMinutes".into(), Value::Integer(minutes.into()));
    }
    d
}

fn payload(kind: &str, id: String, uuid: &str, name: &str) -> Dictionary {
    let mut d = Dictionary::new();
    d.insert("PayloadType".into(), kind.into());
    d.insert("PayloadIdentifier".into(), id.into());
    d.insert("PayloadUUID".into(), uuid.into());
    d.insert("PayloadVersion".into(), Value::Integer(1.into()));
    d.insert("PayloadDisplayName".into(), name.into());
    d
}

/// How the client authenticates.
enum Auth<'a> {
    /// With a certificate from a PKCS#12 payload.
    Certificate {
        creds: &'a ClientCredentials,
        p12: &'a [u8],
    },
    /// With EAP-MSCHAPv2 as `user` (Apple: `AuthenticationMethod` None
    /// plus `ExtendedAuthEnabled`, RFC 7296 §2.16).
    Eap { user: &'a str, password: &'a str },
}

/// The profile as an XML property list.
pub(crate) fn render(
    p: &Profile,
    creds: &ClientCredentials,
    p12: &[u8],
    uuids: &Uuids,
) -> Result<Vec<u8>, ProfileError> {
    render_auth(p, &Auth::Certificate { creds, p12 }, uuids)
}

/// For an EAP-MSCHAPv2 user: no identity payload; the user name and
/// password go into the VPN payload (`AuthName`, `AuthPassword`), so the
/// file is as secret as the password.
pub(crate) fn render_eap(
    p: &Profile,
    user: &str,
    password: &str,
    uuids: &Uuids,
) -> Result<Vec<u8>, ProfileError> {
    render_auth(p, &Auth::Eap { user, password }, uuids)
}

fn render_auth(p: &Profile, auth: &Auth<'_>, uuids: &Uuids) -> Result<Vec<u8>, ProfileError> {
    let client_id = match auth {
        Auth::Certificate { creds, .. } => creds.id.as_str(),
        Auth::Eap { user, .. } => user,
    };
    let base = format!("org.ikegw.{}.{}", p.conn, super::file_stem(client_id));

    let mut ca = payload(
        "com.apple.security.root",
        format!("{base}.ca"),
        &uuids.ca,
        &p.ca_cn,
    );
    ca.insert("PayloadCertificateFileName".into(), "ca.crt".into());
    ca.insert("PayloadContent".into(), Value::Data(p.ca.der().to_vec()));

    let id = match auth {
        Auth::Certificate { creds, p12 } => {
            let mut id = payload(
                "com.apple.security.pkcs12",
                format!("{base}.identity"),
                &uuids.p12,
                &creds.id,
            );
            id.insert(
                "PayloadCertificateFileName".into(),
                format!("{}.p12", super::file_stem(&creds.id)).into(),
            );
            id.insert("PayloadContent".into(), Value::Data(p12.to_vec()));
            Some(id)
        }
        Auth::Eap { .. } => None,
    };

    let ike_dh = p
        .ike
        .ke
        .and_then(|k| apple::dh_group(ike::wire::KeMethod(k.id)))
        .unwrap_or(20);
    let mut ikev2 = Dictionary::new();
    ikev2.insert("RemoteAddress".into(), p.server.clone().into());
    ikev2.insert("RemoteIdentifier".into(), p.server_id.clone().into());
    ikev2.insert("LocalIdentifier".into(), client_id.into());
    match auth {
        Auth::Certificate { creds, .. } => {
            ikev2.insert("AuthenticationMethod".into(), "Certificate".into());
            ikev2.insert(
                "CertificateType".into(),
                certificate_type(creds.key.key_type()).into(),
            );
            ikev2.insert("PayloadCertificateUUID".into(), uuids.p12.clone().into());
        }
        Auth::Eap { .. } => {
            // The server still proves itself with its certificate.
            ikev2.insert("AuthenticationMethod".into(), "None".into());
        }
    }
    ikev2.insert(
        "ServerCertificateIssuerCommonName".into(),
        p.ca_cn.clone().into(),
    );
    match auth {
        Auth::Certificate { .. } => {
            ikev2.insert("ExtendedAuthEnabled".into(), Value::Integer(0.into()));
        }
        Auth::Eap { user, password } => {
            ikev2.insert("ExtendedAuthEnabled".into(), Value::Integer(1.into()));
            ikev2.insert("AuthName".into(), (*user).into());
            ikev2.insert("AuthPassword".into(), (*password).into());
        }
    }
    ikev2.insert("DeadPeerDetectionRate".into(), dpd_rate(p.dpd_delay).into());
    ikev2.insert(
        "DisableMOBIKE".into(),
        Value::Integer(u8::from(!p.mobike).into()),
    );
    ikev2.insert("DisableRedirect".into(), Value::Integer(0.into()));
    ikev2.insert(
        "EnablePFS".into(),
        Value::Integer(u8::from(p.esp.ke.is_some()).into()),
    );
    ikev2.insert(
        "EnableCertificateRevocationCheck".into(),
        Value::Integer(0.into()),
    );
    ikev2.insert(
        "IKESecurityAssociationParameters".into(),
        Value::Dictionary(sa_params(&p.ike, p.ike_lifetime, ike_dh)),
    );
    ikev2.insert(
        "ChildSecurityAssociationParameters".into(),
        Value::Dictionary(sa_params(&p.esp, p.child_lifetime, ike_dh)),
    );

    let mut vpn = payload(
        "com.apple.vpn.managed",
        format!("{base}.vpn"),
        &uuids.vpn,
        &p.display_name,
    );
    vpn.insert("UserDefinedName".into(), p.display_name.clone().into());
    vpn.insert("VPNType".into(), "IKEv2".into());
    vpn.insert("IKEv2".into(), Value::Dictionary(ikev2));
    // Split tunnel: keep the primary (default) route when the server hands
    // out specific networks; IKEv2 routes are then its traffic selectors.
    let mut ipv4 = Dictionary::new();
    ipv4.insert(
        "OverridePrimary".into(),
        Value::Integer(u8::from(p.split_include.is_empty()).into()),
    );
    vpn.insert("IPv4".into(), Value::Dictionary(ipv4));
    if !p.dns.is_empty() {
        let mut dns = Dictionary::new();
        dns.insert(
            "ServerAddresses".into(),
            Value::Array(p.dns.iter().map(|a| a.to_string().into()).collect()),
        );
        if !p.split_dns.is_empty() {
            dns.insert(
                "SupplementalMatchDomains".into(),
                Value::Array(p.split_dns.iter().map(|d| d.clone().into()).collect()),
            );
        }
        vpn.insert("DNS".into(), Value::Dictionary(dns));
    }

    let mut top = Dictionary::new();
    top.insert(
        "PayloadContent".into(),
        Value::Array(
            std::iter::once(ca)
                .chain(id)
                .chain(std::iter::once(vpn))
                .map(Value::Dictionary)
                .collect(),
        ),
    );
    top.insert("PayloadDisplayName".into(), p.display_name.clone().into());
    top.insert("PayloadIdentifier".into(), base.into());
    top.insert("PayloadType".into(), "Configuration".into());
    top.insert("PayloadUUID".into(), uuids.top.clone().into());
    top.insert("PayloadVersion".into(), Value::Integer(1.into()));
    let mut out = Vec::new();
    Value::Dictionary(top)
        .to_writer_xml(&mut out)
        .map_err(|e| ProfileError::Plist(e.to_string()))?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dpd_rate_is_never_slower_than_the_server() {
        use std::time::Duration;
        assert_eq!(dpd_rate(Duration::ZERO), "None");
        assert_eq!(dpd_rate(Duration::from_secs(30)), "High");
        assert_eq!(dpd_rate(Duration::from_secs(60)), "High");
        assert_eq!(dpd_rate(Duration::from_secs(300)), "Medium");
        assert_eq!(dpd_rate(Duration::from_secs(3600)), "Low");
    }
}
