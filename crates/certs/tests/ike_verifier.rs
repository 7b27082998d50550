//! `certs::ikeauth` at the seam, without a handshake: our signer's AUTH data
//! against the IKE crate's own verifier for every scheme, the verifier's
//! answers to malformed CERT payloads and IDs, and arbitrary peer input.

// Helpers outside #[test] functions unwrap too: a failure here is a test failure.
#![allow(clippy::unwrap_used, clippy::indexing_slicing)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use certs::ikeauth::{
    choose_style, choose_style_from, AuthStyle, CertSigner, PeerCertError, TrustVerifier,
    WallClock, MAX_PEER_CERTS,
};
use certs::load::certificate_from_file;
use certs::{IkeId, KeyPurpose, PrivateKey, SignatureScheme, TrustStore};
use ike::crypto::{AuthMethod, RingVerifier, Signer, Verifier};
use ike::sa::CertVerifier;
use ike::wire::{Cert, CertEncoding, Id, IdType};
use proptest::prelude::*;

/// 2026-11-24 00:00:00 UTC (see tests/data/README.md).
const SW_NOW: u64 = 1_795_478_400;

fn data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn key(name: &str) -> PrivateKey {
    PrivateKey::from_pem_or_der(&std::fs::read(data(name)).unwrap(), name).unwrap()
}

fn x509(name: &str) -> Cert {
    Cert {
        encoding: CertEncoding::X509_CERT_SIG,
        data: certificate_from_file(&data(name)).unwrap().der().to_vec(),
    }
}

fn verifier() -> TrustVerifier {
    let mut s = TrustStore::new();
    s.add_anchor(certificate_from_file(&data("sw-root.crt")).unwrap());
    TrustVerifier::new(s, KeyPurpose::Any).at(WallClock::Fixed(
        SystemTime::UNIX_EPOCH + Duration::from_secs(SW_NOW),
    ))
}

fn fqdn(s: &str) -> Id {
    Id {
        id_type: IdType::ID_FQDN,
        data: s.as_bytes().to_vec(),
    }
}

/// The IKE crate's verifier for the public key of `key`.
fn ring_verifier(key: &PrivateKey) -> RingVerifier {
    RingVerifier::from_spki_der(key.public_key().spki_der()).unwrap()
}

#[test]
fn every_scheme_our_signer_writes_verifies_with_the_ike_crates_verifier() {
    // Two independent RFC 7427 encoders/decoders meet here: certs writes the
    // AlgorithmIdentifier, ike parses it (PSS parameters included).
    let keys = [
        key("sw-gw.key"),     // P-384
        key("sw-misc.key"),   // P-256
        key("sw-client.key"), // Ed25519
        key("sw-ee-rsa.key"), // RSA 2048
    ];
    let octets = b"RealMessage | Nonce | prf(SK_p, ID')";
    let mut seen = Vec::new();
    for k in &keys {
        let v = ring_verifier(k);
        let kt = k.key_type();
        for scheme in k.signing_schemes() {
            let s = CertSigner::new(
                Arc::new(PrivateKey::from_pkcs8_der(k.secret_bytes(), "k").unwrap()),
                AuthStyle::DigitalSignature(Some(scheme)),
            )
            .unwrap();
            let auth = s.sign(octets).unwrap();
            assert_eq!(auth.method, AuthMethod::DIGITAL_SIGNATURE);
            v.verify(auth.method, &auth.data, octets)
                .unwrap_or_else(|e| panic!("{scheme} with {kt}: {e}"));
            // The AlgorithmIdentifier names the same scheme on the ike side.
            let len = usize::from(auth.data[0]);
            let algid = &auth.data[1..=len];
            assert_eq!(
                format!(
                    "{:?}",
                    ike::crypto::SignatureScheme::from_algorithm_identifier(algid).unwrap()
                ),
                format!("{scheme:?}"),
            );
            // A changed octet does not verify.
            let mut other = octets.to_vec();
            other[0] ^= 1;
            assert!(v.verify(auth.method, &auth.data, &other).is_err());
            seen.push(scheme);
        }
    }
    for scheme in SignatureScheme::ALL {
        assert!(seen.contains(&scheme), "{scheme} never exercised");
    }
}

#[test]
fn classic_ecdsa_auth_data_is_fixed_length_r_s() {
    for (name, method, len) in [
        ("sw-misc.key", AuthMethod::ECDSA_SHA256_P256, 64),
        ("sw-gw.key", AuthMethod::ECDSA_SHA384_P384, 96),
    ] {
        let k = key(name);
        let v = ring_verifier(&k);
        let s = CertSigner::new(Arc::new(k), AuthStyle::Classic).unwrap();
        let auth = s.sign(b"octets").unwrap();
        assert_eq!((auth.method, auth.data.len()), (method, len));
        v.verify(method, &auth.data, b"octets").unwrap();
        // The same signature claimed as method 14 is malformed, not accepted.
        assert!(v
            .verify(AuthMethod::DIGITAL_SIGNATURE, &auth.data, b"octets")
            .is_err());
    }
    assert_eq!(
        CertSigner::new(Arc::new(key("sw-ee-rsa.key")), AuthStyle::Classic)
            .unwrap_err()
            .to_string(),
        "classic RSA authentication (method 1, SHA-1) cannot be used for signing; \
         use RFC 7427 signatures (method 14)"
    );
}

#[test]
fn style_follows_the_peers_signature_hash_algorithms() {
    let (p256, p384, ed, rsa) = (
        key("sw-misc.key"),
        key("sw-gw.key"),
        key("sw-client.key"),
        key("sw-ee-rsa.key"),
    );
    // No SIGNATURE_HASH_ALGORITHMS: the peer does not do RFC 7427.
    assert_eq!(choose_style(&p256, None), Some(AuthStyle::Classic));
    assert_eq!(choose_style(&p384, None), Some(AuthStyle::Classic));
    assert_eq!(choose_style(&ed, None), None);
    assert_eq!(choose_style(&rsa, None), None);
    // strongSwan announces SHA2-256/384/512 and Identity.
    let sw = [2, 3, 4, 5];
    let ds = |s| Some(AuthStyle::DigitalSignature(Some(s)));
    assert_eq!(
        choose_style(&p256, Some(&sw)),
        ds(SignatureScheme::EcdsaSha256)
    );
    assert_eq!(
        choose_style(&p384, Some(&sw)),
        ds(SignatureScheme::EcdsaSha384)
    );
    assert_eq!(choose_style(&ed, Some(&sw)), ds(SignatureScheme::Ed25519));
    assert_eq!(
        choose_style(&rsa, Some(&sw)),
        ds(SignatureScheme::RsaPkcs1Sha256)
    );
    // Our own core announces only 2, 3, 4: no Identity, so no Ed25519.
    assert_eq!(choose_style(&ed, Some(&[2, 3, 4])), None);
    // A peer with SHA2-512 only: RSA can follow, P-256 cannot (ring signs
    // ECDSA only with the curve's own hash), so it falls back to classic.
    assert_eq!(
        choose_style(&rsa, Some(&[4])),
        ds(SignatureScheme::RsaPkcs1Sha512)
    );
    assert_eq!(choose_style(&p256, Some(&[4])), Some(AuthStyle::Classic));
}

#[test]
fn verifier_answers_malformed_cert_payloads_precisely() {
    let v = verifier();
    let id = fqdn("gw.example.org");
    let err = |certs: &[&Cert]| v.check(&id, certs).unwrap_err();

    assert_eq!(
        err(&[]).to_string(),
        "peer gw.example.org sent no certificate (is send_cert disabled on its side?)"
    );
    let hash_url = Cert {
        encoding: CertEncoding(12),
        data: vec![0; 20],
    };
    assert!(matches!(
        err(&[&hash_url]),
        PeerCertError::UnsupportedEncoding { encoding, .. } if encoding.0 == 12
    ));
    let junk = Cert {
        encoding: CertEncoding::X509_CERT_SIG,
        data: b"not DER".to_vec(),
    };
    assert!(err(&[&junk])
        .to_string()
        .starts_with("peer certificate #0 does not parse: "));
    let gw = x509("sw-gw.crt");
    let int = x509("sw-int.crt");
    let many: Vec<&Cert> = std::iter::once(&gw)
        .chain(std::iter::repeat_n(&int, MAX_PEER_CERTS))
        .collect();
    assert_eq!(
        err(&many).to_string(),
        format!(
            "peer gw.example.org sent {} certificates, at most {MAX_PEER_CERTS} are accepted",
            MAX_PEER_CERTS + 1
        )
    );
    // Intermediates in other encodings are skipped, not fatal.
    let crl_payload = Cert {
        encoding: CertEncoding(7),
        data: vec![1, 2, 3],
    };
    v.check(&id, &[&gw, &crl_payload, &int]).unwrap();
    // ID types a certificate cannot back.
    let null = Id {
        id_type: IdType::ID_NULL,
        data: Vec::new(),
    };
    assert!(matches!(
        v.check(&null, &[&gw, &int]),
        Err(PeerCertError::UnsupportedIdType { .. })
    ));
    let key_id = Id {
        id_type: IdType::ID_KEY_ID,
        data: vec![1, 2],
    };
    assert_eq!(
        v.check(&key_id, &[&gw, &int]).unwrap_err().to_string(),
        "ID_KEY_ID 01:02 cannot be matched against certificate C=CH, O=strongSwan Test, \
         CN=gw.example.org"
    );
}

#[test]
fn verifier_hands_back_the_end_entity_key() {
    let v = verifier();
    let gw_key = key("sw-gw.key");
    let id = IkeId::parse("2001:db8::1").unwrap();
    let wire = certs::ikeauth::id_to_wire(&id);
    let pk = v
        .verifier_for(&wire, &[&x509("sw-gw.crt"), &x509("sw-int.crt")])
        .unwrap();
    let s = CertSigner::new(Arc::new(gw_key), AuthStyle::DigitalSignature(None)).unwrap();
    let auth = s.sign(b"x").unwrap();
    pk.verify(auth.method, &auth.data, b"x").unwrap();
    // Another key's signature does not verify under it.
    let other = CertSigner::new(
        Arc::new(key("sw-misc.key")),
        AuthStyle::DigitalSignature(None),
    )
    .unwrap()
    .sign(b"x")
    .unwrap();
    assert!(pk.verify(other.method, &other.data, b"x").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 512,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    /// Whatever a peer puts in its ID and CERT payloads, the verifier answers
    /// with an error (or, for the real chain, success) and never panics.
    #[test]
    fn arbitrary_peer_payloads_never_panic(
        id_type in any::<u8>(),
        id_data in proptest::collection::vec(any::<u8>(), 0..40),
        certs in proptest::collection::vec(
            (any::<u8>(), proptest::collection::vec(any::<u8>(), 0..300)),
            0..20,
        ),
        flip in any::<(usize, u8)>(),
    ) {
        let v = verifier();
        let id = Id { id_type: IdType(id_type), data: id_data };
        let payloads: Vec<Cert> = certs
            .into_iter()
            .map(|(e, data)| Cert { encoding: CertEncoding(e), data })
            .collect();
        let refs: Vec<&Cert> = payloads.iter().collect();
        prop_assert!(v.check(&id, &refs).is_err());
        // A real chain with one byte of the end entity changed never validates.
        let mut gw = x509("sw-gw.crt");
        let i = flip.0 % gw.data.len();
        gw.data[i] ^= flip.1.max(1);
        let int = x509("sw-int.crt");
        prop_assert!(v.check(&fqdn("gw.example.org"), &[&gw, &int]).is_err());
    }
}

#[test]
fn preferred_schemes_pick_rsassa_pss_and_the_announced_hash() {
    let (rsa, p256) = (key("sw-ee-rsa.key"), key("sw-misc.key"));
    let pss = [
        SignatureScheme::RsaPssSha256,
        SignatureScheme::RsaPssSha384,
        SignatureScheme::RsaPssSha512,
    ];
    let ds = |s| Some(AuthStyle::DigitalSignature(Some(s)));
    let sw = [2, 3, 4, 5];
    assert_eq!(
        choose_style_from(&rsa, Some(&sw), &pss),
        ds(SignatureScheme::RsaPssSha256)
    );
    assert_eq!(
        choose_style_from(&rsa, Some(&[4]), &pss),
        ds(SignatureScheme::RsaPssSha512)
    );
    // No RFC 7427 from the peer: no classic RSA method, the caller's fixed
    // signer (first preference) goes out.
    assert_eq!(choose_style_from(&rsa, None, &pss), None);
    // No preference is choose_style.
    assert_eq!(
        choose_style_from(&rsa, Some(&sw), &[]),
        ds(SignatureScheme::RsaPkcs1Sha256)
    );
    // A preference the key cannot make is skipped.
    assert_eq!(
        choose_style_from(&p256, Some(&sw), &pss),
        Some(AuthStyle::Classic)
    );
}

/// Our RSASSA-PSS AUTH data (RFC 7427 §3 with RFC 4055 parameters) checked
/// by the IKE layer's own verifier, and refused once tampered with.
#[test]
fn rsassa_pss_auth_data_verifies_with_the_ike_verifier() {
    let k = Arc::new(key("sw-ee-rsa.key"));
    let v = RingVerifier::from_spki_der(k.public_key().spki_der()).unwrap();
    for scheme in [
        SignatureScheme::RsaPssSha256,
        SignatureScheme::RsaPssSha384,
        SignatureScheme::RsaPssSha512,
    ] {
        let signer =
            CertSigner::new(Arc::clone(&k), AuthStyle::DigitalSignature(Some(scheme))).unwrap();
        let auth = signer.sign(b"octets").unwrap();
        assert_eq!(auth.method, AuthMethod::DIGITAL_SIGNATURE);
        let algid = scheme.algorithm_identifier();
        assert_eq!(auth.data[0] as usize, algid.len());
        assert_eq!(&auth.data[1..=algid.len()], &algid[..]);
        v.verify(AuthMethod::DIGITAL_SIGNATURE, &auth.data, b"octets")
            .unwrap();
        assert!(v
            .verify(AuthMethod::DIGITAL_SIGNATURE, &auth.data, b"other")
            .is_err());
    }
}
