//! Validation of certificates made by strongSwan's own `pki` tool (see
//! tests/data/README.md): real certificates that no ikegw code wrote.
// Helpers outside #[test] functions unwrap too: a failure here is a test failure.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use certs::chain::DEFAULT_MAX_DEPTH;
use certs::load::{certificate_from_file, crls_from_file};
use certs::{
    validate, validate_der, Certificate, IkeId, KeyPurpose, KeyType, PrivateKey, SignatureScheme,
    TrustStore, ValidationOptions,
};

/// 2026-11-24 00:00:00 UTC: inside every "long" fixture's validity.
const NOW: i64 = 1_795_478_400;

const ROOT: &str = "C=CH, O=strongSwan Test, CN=SW Root CA";
const INT: &str = "C=CH, O=strongSwan Test, CN=SW Intermediate CA";

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn cert(name: &str) -> Certificate {
    certificate_from_file(&data(name)).unwrap()
}

fn key(name: &str) -> PrivateKey {
    // Git does not keep file modes, so read the bytes (the mode check has its own test).
    let bytes = std::fs::read(data(name)).unwrap();
    PrivateKey::from_pem_or_der(&bytes, name).unwrap()
}

fn store(anchors: &[&str]) -> TrustStore {
    let mut s = TrustStore::new();
    for a in anchors {
        s.add_anchor(cert(a));
    }
    s
}

fn opts(purpose: KeyPurpose) -> ValidationOptions {
    ValidationOptions::at_unix(NOW, purpose)
}

fn err(ee: &str, inter: &[&str], s: &TrustStore, purpose: KeyPurpose) -> String {
    let inter: Vec<_> = inter.iter().map(|n| cert(n)).collect();
    validate(&cert(ee), &inter, s, &opts(purpose))
        .unwrap_err()
        .to_string()
}

#[test]
fn gateway_chain_with_rsa_pss_and_ecdsa_links_validates() {
    let chain = validate(
        &cert("sw-gw.crt"),
        &[cert("sw-int.crt")],
        &store(&["sw-root.crt"]),
        &opts(KeyPurpose::Server),
    )
    .unwrap();
    let subjects: Vec<_> = chain.certs().iter().map(Certificate::subject).collect();
    assert_eq!(
        subjects,
        ["C=CH, O=strongSwan Test, CN=gw.example.org", INT, ROOT]
    );
    assert_eq!(chain.public_key().key_type(), KeyType::EcdsaP384);
}

#[test]
fn der_input_as_in_cert_payloads_validates() {
    let ee = cert("sw-client.crt");
    let int = cert("sw-int.crt");
    let chain = validate_der(
        &[ee.der(), int.der()],
        &store(&["sw-root.crt"]),
        &opts(KeyPurpose::Client),
    )
    .unwrap();
    assert_eq!(chain.end_entity(), Some(&ee));
    assert_eq!(
        validate_der(
            &[&ee.der()[..50]],
            &store(&["sw-root.crt"]),
            &opts(KeyPurpose::Client)
        )
        .unwrap_err()
        .to_string()
        .split(':')
        .next(),
        Some("peer certificate #0 does not parse")
    );
}

#[test]
fn rsa_end_entity_without_eku_is_accepted_for_both_roles() {
    for purpose in [KeyPurpose::Server, KeyPurpose::Client] {
        validate(
            &cert("sw-ee-rsa.crt"),
            &[cert("sw-int.crt")],
            &store(&["sw-root.crt"]),
            &opts(purpose),
        )
        .unwrap();
    }
}

#[test]
fn ed25519_root_signature_verifies() {
    validate(
        &cert("sw-ed-ee.crt"),
        &[],
        &store(&["sw-edroot.crt"]),
        &opts(KeyPurpose::Server),
    )
    .unwrap();
}

#[test]
fn intermediate_loaded_locally_completes_the_chain() {
    let mut s = store(&["sw-root.crt"]);
    s.add_intermediate(cert("sw-int.crt"));
    validate(&cert("sw-gw.crt"), &[], &s, &opts(KeyPurpose::Server)).unwrap();
}

#[test]
fn missing_intermediate_is_explained() {
    assert_eq!(
        err(
            "sw-gw.crt",
            &[],
            &store(&["sw-root.crt"]),
            KeyPurpose::Server
        ),
        format!(
            "no issuer for 'C=CH, O=strongSwan Test, CN=gw.example.org': '{INT}' is not one \
             of our trust anchors, and the peer sent no intermediate CA certificate"
        )
    );
}

#[test]
fn intermediate_sent_but_root_unknown_is_no_trust_anchor() {
    // The peer did send its intermediate: what is missing is trust in its
    // root, not another certificate (issue #8 scenario 9).
    assert_eq!(
        err(
            "sw-gw.crt",
            &["sw-int.crt"],
            &store(&["sw-edroot.crt"]),
            KeyPurpose::Server
        ),
        format!(
            "no trust anchor: the chain reaches CA '{INT}', issued by '{ROOT}', which is not \
             one of our trust anchors"
        )
    );
}

#[test]
fn client_certificate_is_refused_as_a_gateway() {
    assert_eq!(
        err(
            "sw-client.crt",
            &["sw-int.crt"],
            &store(&["sw-root.crt"]),
            KeyPurpose::Server
        ),
        "certificate 'C=CH, O=strongSwan Test, CN=alice@example.org' has the wrong EKU: \
         has [clientAuth], needs serverAuth or ipsecIKE"
    );
    assert_eq!(
        err(
            "sw-gw.crt",
            &["sw-int.crt"],
            &store(&["sw-root.crt"]),
            KeyPurpose::Client
        ),
        "certificate 'C=CH, O=strongSwan Test, CN=gw.example.org' has the wrong EKU: \
         has [serverAuth], needs clientAuth or ipsecIKE"
    );
}

#[test]
fn expired_and_not_yet_valid_are_dated() {
    let s = store(&["sw-root.crt"]);
    assert_eq!(
        err("sw-expired.crt", &["sw-int.crt"], &s, KeyPurpose::Server),
        "certificate 'C=CH, O=strongSwan Test, CN=old.example.org' expired 2153 days ago \
         (notAfter 2021-01-01 00:00:00 UTC)"
    );
    assert_eq!(
        err("sw-notyet.crt", &["sw-int.crt"], &s, KeyPurpose::Server),
        "certificate 'C=CH, O=strongSwan Test, CN=future.example.org' not yet valid for another \
         4786 days (notBefore 2040-01-01 00:00:00 UTC)"
    );
}

#[test]
fn crl_from_strongswan_revokes() {
    let mut s = store(&["sw-root.crt"]);
    s.add_crl(crls_from_file(&data("sw-int.crl")).unwrap().remove(0));
    assert_eq!(
        err("sw-revoked.crt", &["sw-int.crt"], &s, KeyPurpose::Server),
        format!(
            "certificate 'C=CH, O=strongSwan Test, CN=revoked.example.org' revoked on \
             2026-02-01 00:00:00 UTC (serial 0a:1b, reason keyCompromise, CRL from {INT})"
        )
    );
    // Others under the same CA are not affected by the CRL.
    validate(
        &cert("sw-gw.crt"),
        &[cert("sw-int.crt")],
        &s,
        &opts(KeyPurpose::Server),
    )
    .unwrap();
}

#[test]
fn stale_crl_blocks_only_when_fresh_crls_are_required() {
    let mut s = store(&["sw-root.crt"]);
    s.add_crl(crls_from_file(&data("sw-int-stale.crl")).unwrap().remove(0));
    let inter = [cert("sw-int.crt")];
    validate(&cert("sw-gw.crt"), &inter, &s, &opts(KeyPurpose::Server)).unwrap();
    let mut strict = opts(KeyPurpose::Server);
    strict.require_fresh_crl = true;
    assert_eq!(
        validate(&cert("sw-gw.crt"), &inter, &s, &strict)
            .unwrap_err()
            .to_string(),
        format!(
            "CRL from '{INT}' is stale: nextUpdate 2026-03-01 00:00:00 UTC passed 268 days ago"
        )
    );
}

#[test]
fn crl_with_a_broken_signature_is_refused() {
    let crl = crls_from_file(&data("sw-int.crl")).unwrap().remove(0);
    let mut der = crl.der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 0x01;
    let mut s = store(&["sw-root.crt"]);
    s.add_crl(certs::Crl::from_der(der, "flipped").unwrap());
    assert_eq!(
        err("sw-gw.crt", &["sw-int.crt"], &s, KeyPurpose::Server),
        format!("signature of the CRL from '{INT}' does not verify")
    );
}

#[test]
fn untrusted_root_sent_by_the_peer_is_named() {
    assert_eq!(
        err(
            "sw-gw.crt",
            &["sw-int.crt", "sw-root.crt"],
            &store(&["sw-edroot.crt"]),
            KeyPurpose::Server
        ),
        format!(
            "no trust anchor: the chain ends in self-signed '{ROOT}', which is not one of our \
             trust anchors"
        )
    );
}

#[test]
fn flipped_signature_byte_is_detected() {
    let mut der = cert("sw-gw.crt").der().to_vec();
    let last = der.len() - 1;
    der[last] ^= 0x80;
    let ee = Certificate::from_der(der, "flipped").unwrap();
    assert_eq!(
        validate(
            &ee,
            &[cert("sw-int.crt")],
            &store(&["sw-root.crt"]),
            &opts(KeyPurpose::Server)
        )
        .unwrap_err()
        .to_string(),
        format!(
            "signature of 'C=CH, O=strongSwan Test, CN=gw.example.org' by '{INT}' does not verify"
        )
    );
}

#[test]
fn path_length_constraint_of_the_intermediate_is_enforced() {
    assert_eq!(
        err("sw-deep.crt", &["sw-sub.crt", "sw-int.crt"], &store(&["sw-root.crt"]), KeyPurpose::Server),
        format!("path length exceeded: CA '{INT}' has pathLenConstraint 0 but 1 intermediate CA(s) follow it")
    );
}

#[test]
fn maximum_depth_is_enforced() {
    let mut o = opts(KeyPurpose::Server);
    assert_eq!(o.max_depth, DEFAULT_MAX_DEPTH);
    o.max_depth = 2;
    assert_eq!(
        validate(&cert("sw-gw.crt"), &[cert("sw-int.crt")], &store(&["sw-root.crt"]), &o)
            .unwrap_err()
            .to_string(),
        "chain of 'C=CH, O=strongSwan Test, CN=gw.example.org' is longer than the maximum depth of 2"
    );
}

#[test]
fn name_constraints_from_strongswan_are_enforced() {
    let s = store(&["sw-ncroot.crt"]);
    validate(&cert("sw-nc-ok.crt"), &[], &s, &opts(KeyPurpose::Server)).unwrap();
    let nc_root = "C=CH, O=strongSwan Test, CN=SW Constrained Root";
    assert_eq!(
        err("sw-nc-outside.crt", &[], &s, KeyPurpose::Server),
        format!(
            "certificate 'C=CH, O=strongSwan Test, CN=vpn.evil.example' violates name constraints of \
             '{nc_root}': DNS:vpn.evil.example is not in permitted [DNS:corp.example]"
        )
    );
    assert_eq!(
        err("sw-nc-excluded.crt", &[], &s, KeyPurpose::Server),
        format!(
            "certificate 'C=CH, O=strongSwan Test, CN=x.bad.corp.example' violates name constraints of \
             '{nc_root}': DNS:x.bad.corp.example is in excluded DNS:bad.corp.example"
        )
    );
}

#[test]
fn certreq_hashes_equal_strongswans_keyid() {
    for name in ["sw-root", "sw-int", "sw-edroot", "sw-ncroot"] {
        let expected = std::fs::read_to_string(data(&format!("{name}.spki-sha1"))).unwrap();
        let got = certs::fmt::hex_colon(&cert(&format!("{name}.crt")).spki_sha1());
        assert_eq!(got, expected.trim(), "{name}");
    }
}

#[test]
fn strongswan_keys_of_every_format_load_and_sign() {
    // (key file, its certificate, PEM label as written by pki)
    let cases = [
        ("sw-root.key", "sw-root.crt", KeyType::EcdsaP256), // SEC1
        ("sw-int.key", "sw-int.crt", KeyType::Rsa { bits: 3072 }), // PKCS#1
        ("sw-gw.key", "sw-gw.crt", KeyType::EcdsaP384),     // SEC1
        ("sw-client.key", "sw-client.crt", KeyType::Ed25519), // PKCS#8
        (
            "sw-ee-rsa.key",
            "sw-ee-rsa.crt",
            KeyType::Rsa { bits: 2048 },
        ),
    ];
    for (k, c, kt) in cases {
        let key = key(k);
        let cert = cert(c);
        assert_eq!(key.key_type(), kt, "{k}");
        assert_eq!(key.public_key().spki_der(), cert.spki_der(), "{k}");
        let pk = cert.public_key().unwrap();
        for scheme in key.signing_schemes() {
            let sig = key.sign(scheme, b"IKE_AUTH octets").unwrap();
            pk.verify(scheme, b"IKE_AUTH octets", &sig).unwrap();
        }
    }
}

#[test]
fn validated_chain_verifies_auth_signatures() {
    let chain = validate(
        &cert("sw-client.crt"),
        &[cert("sw-int.crt")],
        &store(&["sw-root.crt"]),
        &opts(KeyPurpose::Client),
    )
    .unwrap();
    let sig = key("sw-client.key")
        .sign(SignatureScheme::Ed25519, b"octets")
        .unwrap();
    chain
        .verify(SignatureScheme::Ed25519, b"octets", &sig)
        .unwrap();
    assert_eq!(
        chain
            .verify(SignatureScheme::Ed25519, b"other", &sig)
            .unwrap_err()
            .to_string(),
        "Ed25519 signature does not verify"
    );
}

#[test]
fn identities_match_strongswan_sans() {
    let gw = cert("sw-gw.crt");
    for id in [
        "gw.example.org",
        "GW.Example.ORG",
        "192.0.2.1",
        "2001:db8::1",
        "C=CH, O=strongSwan Test, CN=gw.example.org",
    ] {
        IkeId::parse(id)
            .unwrap()
            .matches(&gw)
            .unwrap_or_else(|e| panic!("{id}: {e}"));
    }
    assert_eq!(
        IkeId::parse("branch.example").unwrap().matches(&gw).unwrap_err().to_string(),
        "peer certificate C=CH, O=strongSwan Test, CN=gw.example.org rejected: ID 'branch.example' \
         not in subjectAltName [DNS:gw.example.org, IP:192.0.2.1, IP:2001:db8::1]"
    );
    assert_eq!(
        IkeId::parse("192.0.2.2")
            .unwrap()
            .matches(&gw)
            .unwrap_err()
            .to_string(),
        "peer certificate C=CH, O=strongSwan Test, CN=gw.example.org rejected: ID '192.0.2.2' \
         not in subjectAltName [DNS:gw.example.org, IP:192.0.2.1, IP:2001:db8::1]"
    );
    assert_eq!(
        IkeId::parse("C=CH, O=strongSwan Test, CN=other")
            .unwrap()
            .matches(&gw)
            .unwrap_err()
            .to_string(),
        "peer certificate C=CH, O=strongSwan Test, CN=gw.example.org rejected: \
         ID 'C=CH, O=strongSwan Test, CN=other' does not match the subject DN"
    );
    let client = cert("sw-client.crt");
    IkeId::parse("Alice@Example.org")
        .unwrap()
        .matches(&client)
        .unwrap();
    // An FQDN ID is never matched against an rfc822Name or the CN.
    assert!(IkeId::Fqdn("alice@example.org".into())
        .matches(&client)
        .is_err());
    assert_eq!(
        IkeId::KeyId(vec![1, 2]).matches(&client).unwrap_err().to_string(),
        "ID_KEY_ID 01:02 cannot be matched against certificate C=CH, O=strongSwan Test, CN=alice@example.org"
    );
    // The ID payload bytes of the subject DN itself also match.
    let dn = gw_subject_der(&gw);
    IkeId::from_payload(IkeId::ID_DER_ASN1_DN, &dn)
        .unwrap()
        .unwrap()
        .matches(&gw)
        .unwrap();
}

fn gw_subject_der(c: &Certificate) -> Vec<u8> {
    let (_, x) = x509_parser::parse_x509_certificate(c.der()).unwrap();
    x.subject().as_raw().to_vec()
}

#[test]
fn directory_name_constraint_from_strongswan_is_enforced() {
    let s = store(&["sw-dnroot.crt"]);
    validate(&cert("sw-dn-ok.crt"), &[], &s, &opts(KeyPurpose::Server)).unwrap();
    assert_eq!(
        err("sw-dn-outside.crt", &[], &s, KeyPurpose::Server),
        "certificate 'C=CH, O=Elsewhere, CN=outside.example.org' violates name constraints of \
         'C=CH, O=strongSwan Test, CN=SW DN Root': DN:C=CH, O=Elsewhere, CN=outside.example.org \
         is not in permitted [DN:C=CH, O=strongSwan Test]"
    );
}

#[test]
fn der_keys_and_certificates_load() {
    let ec = key("sw-der-ec.key"); // SEC1 DER
    let rsa = key("sw-der-rsa.key"); // PKCS#1 DER
    assert_eq!(ec.key_type(), KeyType::EcdsaP384);
    assert_eq!(rsa.key_type(), KeyType::Rsa { bits: 2048 });
    let c = cert("sw-der.crt");
    assert_eq!(c.subject(), "CN=SW DER");
    assert_eq!(ec.public_key().spki_der(), c.spki_der());
    // Our PKCS#8 form of a strongSwan key loads again as DER and as PEM.
    let again = PrivateKey::from_pem_or_der(rsa.secret_bytes(), "pkcs8 der").unwrap();
    assert_eq!(again.public_key(), rsa.public_key());
    let pem = ec.to_pkcs8_pem();
    let again = PrivateKey::from_pem_or_der(pem.as_bytes(), "pkcs8 pem").unwrap();
    assert_eq!(again.public_key(), ec.public_key());
}
