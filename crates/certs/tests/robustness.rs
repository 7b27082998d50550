//! Peer bytes never panic the certs crate, and a certificate with any single
//! byte changed never validates.
// Helpers outside #[test] functions unwrap too: a failure here is a test failure.
#![allow(clippy::unwrap_used)]

use certs::certreq::parse_certreq_data;
use certs::load::{certificate_from_file, certificates_from_bytes, crls_from_bytes};
use certs::{
    validate_der, Certificate, Crl, IkeId, KeyPurpose, PrivateKey, PublicKey, SignatureScheme,
    TrustStore, ValidationOptions,
};
use proptest::prelude::*;

const NOW: i64 = 1_795_478_400;

fn data(name: &str) -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

fn store() -> TrustStore {
    let mut s = TrustStore::new();
    s.add_anchor(certificate_from_file(&data("sw-root.crt")).unwrap());
    s.add_crl(
        certs::load::crls_from_file(&data("sw-int.crl"))
            .unwrap()
            .remove(0),
    );
    s
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1024,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = Certificate::from_der(bytes.clone(), "fuzz");
        let _ = Crl::from_der(bytes.clone(), "fuzz");
        let _ = certificates_from_bytes(&bytes, "fuzz");
        let _ = crls_from_bytes(&bytes, "fuzz");
        let _ = PrivateKey::from_pem_or_der(&bytes, "fuzz");
        let _ = PublicKey::from_spki_der(&bytes);
        let _ = SignatureScheme::from_algorithm_identifier(&bytes);
        let _ = parse_certreq_data(&bytes);
        for t in 0..=12u8 {
            let _ = IkeId::from_payload(t, &bytes);
        }
        let opts = ValidationOptions::at_unix(NOW, KeyPurpose::Server);
        let _ = validate_der(&[&bytes], &store(), &opts);
    }

    #[test]
    fn arbitrary_pem_text_never_panics(text in "(-----BEGIN [A-Z ]{0,20}-----\n)?[A-Za-z0-9+/=:\n -]{0,300}(-----END [A-Z ]{0,20}-----\n)?") {
        let _ = certificates_from_bytes(text.as_bytes(), "fuzz");
        let _ = PrivateKey::from_pem_or_der(text.as_bytes(), "fuzz");
        let _ = IkeId::parse(&text);
    }

    #[test]
    fn any_single_byte_change_is_rejected(pos in any::<prop::sample::Index>(), xor in 1u8..=255) {
        let gw = certificate_from_file(&data("sw-gw.crt")).unwrap();
        let int = certificate_from_file(&data("sw-int.crt")).unwrap();
        let mut der = gw.der().to_vec();
        let i = pos.index(der.len());
        der[i] ^= xor;
        let opts = ValidationOptions::at_unix(NOW, KeyPurpose::Server);
        let r = validate_der(&[&der, int.der()], &store(), &opts);
        prop_assert!(r.is_err(), "byte {} ^ {:#04x} still validates", i, xor);
    }
}

/// Found by `any_single_byte_change_is_rejected`: the outer signatureAlgorithm
/// is not covered by the signature, and x509-parser's parsed form did not tell
/// a NULL hash parameter from an empty OCTET STRING inside RSASSA-PSS params.
#[test]
fn unsigned_outer_algorithm_change_is_rejected() {
    let gw = certificate_from_file(&data("sw-gw.crt")).unwrap();
    let int = certificate_from_file(&data("sw-int.crt")).unwrap();
    let mut der = gw.der().to_vec();
    // Certificate ::= SEQUENCE { tbs, signatureAlgorithm, signatureValue }:
    // skip the outer header (4 octets here) and the TBS TLV.
    let tlv_len = |at: usize| -> usize {
        match der[at + 1] {
            n @ 0..=0x7f => 2 + usize::from(n),
            0x81 => 3 + usize::from(der[at + 2]),
            0x82 => 4 + usize::from(u16::from_be_bytes([der[at + 2], der[at + 3]])),
            _ => panic!("unexpected length form"),
        }
    };
    let alg_at = 4 + tlv_len(4);
    let alg_len = tlv_len(alg_at);
    let null = (alg_at..alg_at + alg_len)
        .find(|&i| der[i] == 0x05 && der[i + 1] == 0x00)
        .unwrap();
    der[null] = 0x04;
    let opts = ValidationOptions::at_unix(NOW, KeyPurpose::Server);
    assert_eq!(
        validate_der(&[&der, int.der()], &store(), &opts).unwrap_err().to_string(),
        "signature of 'C=CH, O=strongSwan Test, CN=gw.example.org': signatureAlgorithm differs from \
         the signed one in the TBS"
    );
}
