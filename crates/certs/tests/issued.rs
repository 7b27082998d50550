//! Chains made with `certs::issue` (rcgen), and every failure mode of
//! validation with its exact message.
// Helpers outside #[test] functions unwrap too: a failure here is a test failure.
#![allow(clippy::unwrap_used)]

use certs::issue::{
    generate_key, Ca, CertSpec, KeyAlgorithm, KeyUsage, NameConstraintsSpec, Profile, San, Subtree,
};
use certs::{validate, Certificate, IkeId, KeyPurpose, PrivateKey, TrustStore, ValidationOptions};

/// 2026-11-24 00:00:00 UTC.
const NOW: i64 = 1_795_478_400;
const DAY: i64 = 86_400;

fn ca(subject: &str, alg: KeyAlgorithm) -> Ca {
    let spec = CertSpec::new(subject, Profile::Ca { path_len: None }, NOW - DAY, 3650);
    Ca::self_signed(&spec, generate_key(alg).unwrap()).unwrap()
}

fn ee(ca: &Ca, spec: &CertSpec) -> (Certificate, PrivateKey) {
    let key = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
    (ca.issue(spec, &key).unwrap(), key)
}

fn gateway_spec(cn: &str) -> CertSpec {
    let mut s = CertSpec::new(&format!("CN={cn}"), Profile::Gateway, NOW - DAY, 365);
    s.sans = vec![San::Dns(cn.into()), San::Ip("192.0.2.1".parse().unwrap())];
    s
}

fn anchors(cas: &[&Ca]) -> TrustStore {
    let mut s = TrustStore::new();
    for c in cas {
        s.add_anchor(c.cert.clone());
    }
    s
}

fn opts(purpose: KeyPurpose) -> ValidationOptions {
    ValidationOptions::at_unix(NOW, purpose)
}

#[test]
fn every_key_algorithm_makes_a_valid_chain() {
    for alg in [
        KeyAlgorithm::EcdsaP256,
        KeyAlgorithm::EcdsaP384,
        KeyAlgorithm::Ed25519,
    ] {
        let root = ca("CN=Root", alg);
        let (gw, key) = ee(&root, &gateway_spec("gw.example"));
        let chain = validate(&gw, &[], &anchors(&[&root]), &opts(KeyPurpose::Server)).unwrap();
        assert_eq!(chain.certs().len(), 2);
        let sig = key.sign(key.default_scheme(), b"m").unwrap();
        chain.verify(key.default_scheme(), b"m", &sig).unwrap();
        // The gateway profile carries what IKEv2 clients look for.
        assert_eq!(gw.key_usage(), Some(vec!["digitalSignature"]));
        assert_eq!(
            gw.extended_key_usage(),
            Some(vec!["serverAuth".to_owned(), "ipsecIKE".to_owned()])
        );
        assert_eq!(gw.basic_constraints(), Some((false, None)));
        IkeId::parse("gw.example").unwrap().matches(&gw).unwrap();
        IkeId::parse("192.0.2.1").unwrap().matches(&gw).unwrap();
    }
}

#[test]
fn rsa_ca_from_an_existing_strongswan_key_issues() {
    let bytes = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/sw-int.key"
    ))
    .unwrap();
    let rsa = PrivateKey::from_pem_or_der(&bytes, "sw-int.key").unwrap();
    let spec = CertSpec::new(
        "CN=RSA Root",
        Profile::Ca { path_len: None },
        NOW - DAY,
        3650,
    );
    let root = Ca::self_signed(&spec, rsa).unwrap();
    let (gw, _) = ee(&root, &gateway_spec("gw.example"));
    validate(&gw, &[], &anchors(&[&root]), &opts(KeyPurpose::Server)).unwrap();
}

#[test]
fn client_profile_validates_for_either_role_through_ipsec_ike() {
    // RFC 4945 §5.1.3.12: ipsecIKE marks a certificate for IKE in either
    // role, so a `client` certificate also passes a serverAuth-or-ipsecIKE
    // check; what a client certificate lacks is serverAuth itself.
    let root = ca("CN=Root", KeyAlgorithm::EcdsaP256);
    let mut spec = CertSpec::new("CN=alice", Profile::Client, NOW - DAY, 365);
    spec.sans = vec![San::Email("alice@example.org".into())];
    let (c, _) = ee(&root, &spec);
    assert_eq!(
        c.extended_key_usage(),
        Some(vec!["clientAuth".to_owned(), "ipsecIKE".to_owned()])
    );
    for purpose in [KeyPurpose::Client, KeyPurpose::Server, KeyPurpose::Any] {
        validate(&c, &[], &anchors(&[&root]), &opts(purpose)).unwrap();
    }
    IkeId::parse("alice@example.org")
        .unwrap()
        .matches(&c)
        .unwrap();
}

#[test]
fn expiry_messages_count_days_and_hours() {
    let root = ca("CN=Root", KeyAlgorithm::EcdsaP256);
    let mut spec = gateway_spec("x");
    spec.not_before = NOW - 30 * DAY;
    spec.not_after = NOW - 3 * DAY - 600;
    let (old, _) = ee(&root, &spec);
    assert_eq!(
        validate(&old, &[], &anchors(&[&root]), &opts(KeyPurpose::Server))
            .unwrap_err()
            .to_string(),
        "certificate 'CN=x' expired 3 days ago (notAfter 2026-11-20 23:50:00 UTC)"
    );
    spec.not_before = NOW + 2 * 3600 + 59;
    spec.not_after = NOW + 30 * DAY;
    let (young, _) = ee(&root, &spec);
    assert_eq!(
        validate(&young, &[], &anchors(&[&root]), &opts(KeyPurpose::Server))
            .unwrap_err()
            .to_string(),
        "certificate 'CN=x' not yet valid for another 2 hours (notBefore 2026-11-24 02:00:59 UTC)"
    );
}

#[test]
fn expired_intermediate_is_reported_by_name() {
    let root = ca("CN=Root", KeyAlgorithm::EcdsaP256);
    let mut ispec = CertSpec::new(
        "CN=Old Intermediate",
        Profile::Ca { path_len: Some(0) },
        NOW - 400 * DAY,
        1,
    );
    ispec.not_after = NOW - DAY;
    let ikey = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
    let icert = root.issue(&ispec, &ikey).unwrap();
    let inter = Ca::new(icert.clone(), ikey).unwrap();
    let (gw, _) = ee(&inter, &gateway_spec("gw"));
    assert_eq!(
        validate(&gw, &[icert], &anchors(&[&root]), &opts(KeyPurpose::Server))
            .unwrap_err()
            .to_string(),
        "certificate 'CN=Old Intermediate' expired 1 day ago (notAfter 2026-11-23 00:00:00 UTC)"
    );
}

#[test]
fn untrusted_root_and_missing_issuer() {
    let ours = ca("CN=Our CA", KeyAlgorithm::EcdsaP256);
    let other = ca("CN=Other CA", KeyAlgorithm::EcdsaP256);
    let (gw, _) = ee(&other, &gateway_spec("gw"));
    let s = anchors(&[&ours]);
    assert_eq!(
        validate(
            &gw,
            std::slice::from_ref(&other.cert),
            &s,
            &opts(KeyPurpose::Server)
        )
        .unwrap_err()
        .to_string(),
        "no trust anchor: the chain ends in self-signed 'CN=Other CA', which is not one of our \
         trust anchors"
    );
    assert_eq!(
        validate(&other.cert, &[], &s, &opts(KeyPurpose::Any))
            .unwrap_err()
            .to_string(),
        "no trust anchor: the chain ends in self-signed 'CN=Other CA', which is not one of our \
         trust anchors"
    );
    assert_eq!(
        validate(&gw, &[], &s, &opts(KeyPurpose::Server))
            .unwrap_err()
            .to_string(),
        "no issuer for 'CN=gw': 'CN=Other CA' is not one of our trust anchors, and the peer \
         sent no intermediate CA certificate"
    );
    // Unrelated certificates from the peer are counted, not taken for the issuer.
    assert_eq!(
        validate(
            &gw,
            std::slice::from_ref(&ours.cert),
            &s,
            &opts(KeyPurpose::Server)
        )
        .unwrap_err()
        .to_string(),
        "no issuer for 'CN=gw': 'CN=Other CA' is not one of our trust anchors nor among the 1 \
         other certificate(s) the peer sent"
    );
}

#[test]
fn intermediate_sent_under_an_unknown_root_is_no_trust_anchor() {
    let ours = ca("CN=Our CA", KeyAlgorithm::EcdsaP256);
    let theirs = ca("CN=Their Root", KeyAlgorithm::EcdsaP256);
    let ikey = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
    let icert = theirs
        .issue_intermediate(
            &CertSpec::new(
                "CN=Their Intermediate",
                Profile::Ca { path_len: None },
                NOW - DAY,
                30,
            ),
            &ikey,
        )
        .unwrap();
    let inter = Ca::new(icert.clone(), ikey).unwrap();
    let (gw, _) = ee(&inter, &gateway_spec("gw"));
    let err = validate(&gw, &[icert], &anchors(&[&ours]), &opts(KeyPurpose::Server)).unwrap_err();
    assert!(
        matches!(err, certs::ValidationError::NoTrustAnchor { .. }),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "no trust anchor: the chain reaches CA 'CN=Their Intermediate', issued by 'CN=Their Root', \
         which is not one of our trust anchors"
    );
}

#[test]
fn same_name_different_key_is_a_signature_failure() {
    // Two CAs called the same: the AKI/SKI check skips the wrong one, so the
    // chain is found incomplete rather than mis-verified.
    let real = ca("CN=Twin", KeyAlgorithm::EcdsaP256);
    let impostor = ca("CN=Twin", KeyAlgorithm::EcdsaP256);
    let (gw, _) = ee(&real, &gateway_spec("gw"));
    validate(
        &gw,
        &[],
        &anchors(&[&impostor, &real]),
        &opts(KeyPurpose::Server),
    )
    .unwrap();
    assert_eq!(
        validate(&gw, &[], &anchors(&[&impostor]), &opts(KeyPurpose::Server))
            .unwrap_err()
            .to_string(),
        format!(
            "no issuer for 'CN=gw': our 'CN=Twin' has another key (authorityKeyIdentifier {}, \
             our CA's subjectKeyIdentifier {})",
            certs::fmt::hex_colon(&gw.authority_key_identifier().unwrap()),
            certs::fmt::hex_colon(&impostor.cert.subject_key_identifier().unwrap())
        )
    );
}

#[test]
fn ca_without_key_cert_sign_cannot_issue() {
    let mut spec = CertSpec::new(
        "CN=Signless CA",
        Profile::Ca { path_len: None },
        NOW - DAY,
        3650,
    );
    spec.key_usage = Some(vec![KeyUsage::DigitalSignature, KeyUsage::CrlSign]);
    let root = Ca::self_signed(&spec, generate_key(KeyAlgorithm::EcdsaP256).unwrap()).unwrap();
    let (gw, _) = ee(&root, &gateway_spec("gw"));
    assert_eq!(
        validate(&gw, &[], &anchors(&[&root]), &opts(KeyPurpose::Server)).unwrap_err().to_string(),
        "CA 'CN=Signless CA' may not sign certificates: keyUsage [digitalSignature, cRLSign] lacks keyCertSign"
    );
}

#[test]
fn end_entity_cannot_act_as_a_ca() {
    let root = ca("CN=Root", KeyAlgorithm::EcdsaP256);
    let (gw, gw_key) = ee(&root, &gateway_spec("gw"));
    let fake_ca = Ca::new(gw.clone(), gw_key).unwrap();
    let (victim, _) = ee(&fake_ca, &gateway_spec("victim"));
    assert_eq!(
        validate(
            &victim,
            &[gw],
            &anchors(&[&root]),
            &opts(KeyPurpose::Server)
        )
        .unwrap_err()
        .to_string(),
        "'CN=gw' issued 'CN=victim' but is not a CA (basicConstraints cA is not set)"
    );
}

#[test]
fn end_entity_without_digital_signature_is_refused() {
    let root = ca("CN=Root", KeyAlgorithm::EcdsaP256);
    let mut spec = gateway_spec("gw");
    spec.key_usage = Some(vec![KeyUsage::KeyEncipherment]);
    let (gw, _) = ee(&root, &spec);
    assert_eq!(
        validate(&gw, &[], &anchors(&[&root]), &opts(KeyPurpose::Server)).unwrap_err().to_string(),
        "certificate 'CN=gw' cannot sign IKE AUTH: keyUsage [keyEncipherment] lacks digitalSignature"
    );
}

#[test]
fn path_length_zero_allows_one_level_only() {
    let root = ca("CN=Root", KeyAlgorithm::EcdsaP256);
    let mut ispec = CertSpec::new("CN=Int", Profile::Ca { path_len: Some(0) }, NOW - DAY, 3650);
    let ikey = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
    let icert = root.issue(&ispec, &ikey).unwrap();
    let int = Ca::new(icert.clone(), ikey).unwrap();
    let (gw, _) = ee(&int, &gateway_spec("gw"));
    validate(
        &gw,
        std::slice::from_ref(&icert),
        &anchors(&[&root]),
        &opts(KeyPurpose::Server),
    )
    .unwrap();

    ispec.subject = "CN=Sub".into();
    let skey = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
    let scert = int.issue(&ispec, &skey).unwrap();
    let sub = Ca::new(scert.clone(), skey).unwrap();
    let (deep, _) = ee(&sub, &gateway_spec("deep"));
    assert_eq!(
        validate(&deep, &[scert, icert], &anchors(&[&root]), &opts(KeyPurpose::Server))
            .unwrap_err()
            .to_string(),
        "path length exceeded: CA 'CN=Int' has pathLenConstraint 0 but 1 intermediate CA(s) follow it"
    );
}

#[test]
fn name_constraints_on_ip_and_email() {
    let mut spec = CertSpec::new(
        "CN=NC Root",
        Profile::Ca { path_len: None },
        NOW - DAY,
        3650,
    );
    spec.name_constraints = Some(NameConstraintsSpec {
        permitted: vec![
            Subtree::Ip("192.0.2.0".parse().unwrap(), 24),
            Subtree::Email("corp.example".into()),
            Subtree::Dns("corp.example".into()),
        ],
        excluded: vec![
            Subtree::Email("mallory@corp.example".into()),
            Subtree::Ip("192.0.2.128".parse().unwrap(), 25),
        ],
    });
    let root = Ca::self_signed(&spec, generate_key(KeyAlgorithm::EcdsaP256).unwrap()).unwrap();
    let s = anchors(&[&root]);
    let check = |subject: &str, sans: Vec<San>| {
        let mut spec = CertSpec::new(subject, Profile::Gateway, NOW - DAY, 365);
        spec.sans = sans;
        validate(&ee(&root, &spec).0, &[], &s, &opts(KeyPurpose::Server)).map_err(|e| e.to_string())
    };
    let dns = || San::Dns("vpn.corp.example".into());
    let ip = |a: &str| San::Ip(a.parse().unwrap());

    check(
        "O=Corp, CN=vpn",
        vec![
            dns(),
            ip("192.0.2.1"),
            San::Email("ops@corp.example".into()),
        ],
    )
    .unwrap();
    assert_eq!(
        check("O=Corp, CN=vpn", vec![dns(), ip("198.51.100.7")]).unwrap_err(),
        "certificate 'O=Corp, CN=vpn' violates name constraints of 'CN=NC Root': \
         IP:198.51.100.7 is not in permitted [IP:192.0.2.0/24]"
    );
    assert_eq!(
        check("O=Corp, CN=vpn", vec![dns(), ip("192.0.2.200")]).unwrap_err(),
        "certificate 'O=Corp, CN=vpn' violates name constraints of 'CN=NC Root': \
         IP:192.0.2.200 is in excluded IP:192.0.2.128/25"
    );
    assert_eq!(
        check(
            "O=Corp, CN=mallory",
            vec![San::Email("mallory@corp.example".into())]
        )
        .unwrap_err(),
        "certificate 'O=Corp, CN=mallory' violates name constraints of 'CN=NC Root': \
         EMAIL:mallory@corp.example is in excluded EMAIL:mallory@corp.example"
    );
    assert_eq!(
        check("O=Corp, CN=vpn", vec![San::Dns("vpn.evil.example".into())]).unwrap_err(),
        "certificate 'O=Corp, CN=vpn' violates name constraints of 'CN=NC Root': \
         DNS:vpn.evil.example is not in permitted [DNS:corp.example]"
    );
}

#[test]
fn crl_issued_here_revokes_by_serial() {
    let root = ca("CN=Root", KeyAlgorithm::EcdsaP384);
    let mut spec = gateway_spec("gw");
    spec.serial = Some(vec![0x0a, 0x1b]);
    let (gw, _) = ee(&root, &spec);
    let revoked_at = NOW - 2 * DAY;
    let crl = root
        .issue_crl(&[(gw.serial(), revoked_at)], 1, NOW - DAY, 7)
        .unwrap();
    assert_eq!(crl.revoked(), vec![("0a:1b".to_owned(), revoked_at)]);
    let mut s = anchors(&[&root]);
    s.add_crl(crl);
    assert_eq!(
        validate(&gw, &[], &s, &opts(KeyPurpose::Server)).unwrap_err().to_string(),
        "certificate 'CN=gw' revoked on 2026-11-22 00:00:00 UTC (serial 0a:1b, reason keyCompromise, CRL from CN=Root)"
    );
    // A CRL from another key with the same issuer name carries another
    // authorityKeyIdentifier: it is not this CA's CRL and is ignored (its
    // empty list cannot un-revoke), while the real one still revokes.
    let twin = ca("CN=Root", KeyAlgorithm::EcdsaP256);
    let mut s2 = anchors(&[&root]);
    s2.add_crl(twin.issue_crl(&[], 2, NOW - DAY, 7).unwrap());
    validate(&gw, &[], &s2, &opts(KeyPurpose::Server)).unwrap();
    s2.add_crl(
        root.issue_crl(&[(gw.serial(), revoked_at)], 1, NOW - DAY, 7)
            .unwrap(),
    );
    assert!(validate(&gw, &[], &s2, &opts(KeyPurpose::Server)).is_err());
}

#[test]
fn certreq_selects_the_chain_the_peer_trusts() {
    use certs::certreq::{certreq_data, parse_certreq_data, select_chain, LocalChain};
    let a = ca("CN=A", KeyAlgorithm::EcdsaP256);
    let b = ca("CN=B", KeyAlgorithm::Ed25519);
    let chains = [
        LocalChain {
            end_entity: ee(&a, &gateway_spec("gw")).0,
            intermediates: vec![],
            root: Some(a.cert.clone()),
        },
        LocalChain {
            end_entity: ee(&b, &gateway_spec("gw")).0,
            intermediates: vec![],
            root: Some(b.cert.clone()),
        },
    ];
    let req_b = parse_certreq_data(&certreq_data(std::slice::from_ref(&b.cert))).unwrap();
    assert_eq!(
        select_chain(&chains, &req_b).unwrap().root.as_ref(),
        Some(&b.cert)
    );
    let unknown = [[0u8; 20]];
    assert_eq!(
        select_chain(&chains, &unknown).unwrap().root.as_ref(),
        Some(&a.cert)
    );
    assert_eq!(
        select_chain(&chains, &[]).unwrap().root.as_ref(),
        Some(&a.cert)
    );
    assert_eq!(certreq_data(&[a.cert.clone(), b.cert, a.cert]).len(), 40);
    assert_eq!(chains[0].certs_to_send().count(), 1);
}

#[test]
fn key_files_are_written_private_and_refused_when_not() {
    use std::os::unix::fs::PermissionsExt;
    let dir = std::env::temp_dir().join(format!("certs-issued-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let key = generate_key(KeyAlgorithm::Ed25519).unwrap();
    let path = dir.join("k.pem");
    certs::issue::write_private_key(&path, &key).unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let back = PrivateKey::load(&path).unwrap();
    assert_eq!(back.public_key(), key.public_key());
    assert_eq!(
        certs::issue::write_private_key(&path, &key)
            .unwrap_err()
            .to_string(),
        format!(
            "{} already exists; refusing to overwrite it",
            path.display()
        )
    );
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    assert_eq!(
        PrivateKey::load(&path).unwrap_err().to_string(),
        format!(
            "private key {p} is readable by group or others (mode 0640); run `chmod 600 {p}`",
            p = path.display()
        )
    );
    let ca_ = ca("CN=Root", KeyAlgorithm::EcdsaP256);
    let cpath = dir.join("c.pem");
    certs::issue::write_public(&cpath, &ca_.cert.to_pem()).unwrap();
    assert_eq!(
        std::fs::metadata(&cpath).unwrap().permissions().mode() & 0o777,
        0o644
    );
    assert_eq!(
        certs::load::certificate_from_file(&cpath).unwrap(),
        ca_.cert
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn key_and_certificate_mismatch_is_refused() {
    let a = ca("CN=A", KeyAlgorithm::EcdsaP256);
    let other = generate_key(KeyAlgorithm::EcdsaP256).unwrap();
    assert_eq!(
        Ca::new(a.cert, other).unwrap_err().to_string(),
        "private key (ECDSA P-256) does not match certificate 'CN=A'"
    );
}

#[test]
fn unparseable_name_constraints_fail_closed() {
    // rcgen 0.13.2 writes a directoryName subtree without the Name SEQUENCE;
    // x509-parser 0.16 then reports no subtrees at all. Such a CA must be
    // refused, not treated as unconstrained.
    let mut params = rcgen::CertificateParams::default();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Broken NC Root");
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let mut corp = rcgen::DistinguishedName::new();
    corp.push(rcgen::DnType::OrganizationName, "Corp");
    params.name_constraints = Some(rcgen::NameConstraints {
        permitted_subtrees: vec![rcgen::GeneralSubtree::DirectoryName(corp)],
        excluded_subtrees: vec![],
    });
    let kp = rcgen::KeyPair::generate().unwrap();
    let root_der = params.self_signed(&kp).unwrap().der().to_vec();
    let root_cert = Certificate::from_der(root_der, "broken").unwrap();
    let key = PrivateKey::from_pem_or_der(kp.serialized_der(), "k").unwrap();
    let root = Ca::new(root_cert, key).unwrap();
    let (gw, _) = ee(&root, &gateway_spec("gw"));
    let mut s = TrustStore::new();
    s.add_anchor(root.cert);
    assert_eq!(
        validate(&gw, &[], &s, &opts(KeyPurpose::Server)).unwrap_err().to_string(),
        "certificate 'CN=Broken NC Root' has a malformed nameConstraints extension: a subtree does not parse"
    );
}

#[test]
fn a_pinned_self_signed_end_entity_is_trusted_as_is() {
    let key = generate_key(KeyAlgorithm::Ed25519).unwrap();
    let mut spec = gateway_spec("pinned.example");
    spec.subject = "CN=pinned.example".into();
    let ca_like = Ca::self_signed(&spec, key).unwrap();
    let mut s = TrustStore::new();
    s.add_anchor(ca_like.cert.clone());
    let chain = validate(&ca_like.cert, &[], &s, &opts(KeyPurpose::Server)).unwrap();
    assert_eq!(chain.certs().len(), 1);
    // Not pinned: an untrusted self-signed certificate.
    assert_eq!(
        validate(
            &ca_like.cert,
            &[],
            &TrustStore::new(),
            &opts(KeyPurpose::Server)
        )
        .unwrap_err()
        .to_string(),
        "no trust anchor: the chain ends in self-signed 'CN=pinned.example', which is not one \
         of our trust anchors"
    );
}

#[test]
fn path_search_is_bounded_against_cross_signed_floods() {
    // Ten CAs all called "CN=Loop", each cross-signing every other: a path
    // search without a budget would try on the order of 10^5 paths before
    // concluding there is no anchor.
    const N: usize = 10;
    let keys: Vec<PrivateKey> = (0..N)
        .map(|_| generate_key(KeyAlgorithm::Ed25519).unwrap())
        .collect();
    let selfs: Vec<Ca> = keys
        .iter()
        .map(|k| {
            let spec = CertSpec::new("CN=Loop", Profile::Ca { path_len: None }, NOW - DAY, 30);
            let k2 = PrivateKey::from_pem_or_der(k.secret_bytes(), "k").unwrap();
            Ca::self_signed(&spec, k2).unwrap()
        })
        .collect();
    let mut certs = Vec::new();
    for issuer in &selfs {
        for subject_key in &keys {
            let spec = CertSpec::new("CN=Loop", Profile::Ca { path_len: None }, NOW - DAY, 30);
            certs.push(issuer.issue(&spec, subject_key).unwrap());
        }
    }
    let (gw, _) = ee(&selfs[0], &gateway_spec("gw"));
    let other = ca("CN=Elsewhere", KeyAlgorithm::EcdsaP256);
    let err = validate(&gw, &certs, &anchors(&[&other]), &opts(KeyPurpose::Server)).unwrap_err();
    assert_eq!(
        err.to_string(),
        "gave up building a path for 'CN=gw' after 64 signature checks (too many candidate issuers)"
    );
}
