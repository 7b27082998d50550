//! Known-answer tests for `ike::crypto`, each against a published vector.
//!
//! Private keys from the RFCs are injected through the production
//! `KeyExchangeGroup::start` path by handing it a `Random` that returns the
//! RFC's private key, so the RFC's public values *and* shared secrets are
//! checked end to end, including the RFC 5903 §7 x | y encoding.

// Test helpers outside #[test] fns are test code too (clippy.toml allows these in tests).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use ike::crypto::{
    open_sk, prf_plus, ring_provider, seal_sk, sk_body_len, CryptoError, EncrId, HmacDrbg, IntegId,
    KeMethod, KeRejection, PrfId, Random, SkCipher, SystemRandom, PRF_PLUS_MAX_ITERATIONS,
};

fn h(s: &str) -> Vec<u8> {
    hex::decode(s.replace([' ', '\n'], "")).unwrap()
}

/// A `Random` that returns one fixed byte string (of exactly the requested
/// length), then fails: it lets a test inject an RFC private key.
struct Fixed(std::sync::Mutex<Option<Vec<u8>>>);

impl Fixed {
    fn new(bytes: Vec<u8>) -> Self {
        Self(std::sync::Mutex::new(Some(bytes)))
    }
}

impl Random for Fixed {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        let bytes = self.0.lock().unwrap().take().ok_or(CryptoError::Rng)?;
        assert_eq!(
            bytes.len(),
            dest.len(),
            "fixed random asked for a different length"
        );
        dest.copy_from_slice(&bytes);
        Ok(())
    }
}

// ------------------------------------------------------------------ PRF ----

/// RFC 4868 §2.7.1 PRF test vectors (the RFC 4231 §4 cases 1–4, 6, 7, which
/// exercise keys shorter and longer than the block), for PRF_HMAC_SHA2_256,
/// _384 and _512.
#[test]
fn prf_hmac_sha2_matches_rfc4868_prf_vectors() {
    let inputs: [(Vec<u8>, Vec<u8>); 6] = [
        (vec![0x0b; 20], b"Hi There".to_vec()),
        (b"Jefe".to_vec(), b"what do ya want for nothing?".to_vec()),
        (vec![0xaa; 20], vec![0xdd; 50]),
        ((1..=25).collect(), vec![0xcd; 50]),
        (vec![0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First".to_vec()),
        (
            vec![0xaa; 131],
            b"This is a test using a larger than block-size key and a larger than block-size data. The key needs to be hashed before being used by the HMAC algorithm.".to_vec(),
        ),
    ];
    let expected: [(PrfId, [&str; 6]); 3] = [
        (
            PrfId::PRF_HMAC_SHA2_256,
            [
                "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
                "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
                "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe",
                "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b",
                "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
                "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2",
            ],
        ),
        (
            PrfId::PRF_HMAC_SHA2_384,
            [
                "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
                "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
                "88062608d3e6ad8a0aa2ace014c8a86f0aa635d947ac9febe83ef4e55966144b2a5ab39dc13814b94e3ab6e101a34f27",
                "3e8a69b7783c25851933ab6290af6ca77a9981480850009cc5577c6e1f573b4e6801dd23c4a7d679ccf8a386c674cffb",
                "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
                "6617178e941f020d351e2f254e8fd32c602420feb0b8fb9adccebb82461e99c5a678cc31e799176d3860e6110c46523e",
            ],
        ),
        (
            PrfId::PRF_HMAC_SHA2_512,
            [
                "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854",
                "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737",
                "fa73b0089d56a284efb0f0756c890be9b1b5dbdd8ee81a3655f83e33b2279d39bf3e848279a722c806b485a47e67c807b946a337bee8942674278859e13292fb",
                "b0ba465637458c6990e5a8c5f61d4af7e576d97ff94b872de76f8050361ee3dba91ca5c11aa25eb4d679275cc5788063a5f19741120c4f2de2adebeb10a298dd",
                "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64f73f63f0aec8b915a985d786598",
                "e37b6a775dc87dbaa4dfa9f96e5e3ffddebd71f8867289865df5a32d20cdc944b6022cac3c4982b10d5eeb55c3e4de15134676fb6de0446065c97440fa8c6a58",
            ],
        ),
    ];
    let provider = ring_provider();
    for (id, outs) in expected {
        let prf = provider.prf(id).unwrap();
        assert_eq!(prf.output_len() * 2, outs[0].len());
        assert_eq!(
            prf.key_len(),
            prf.output_len(),
            "RFC 4868 §2.1.2 key length"
        );
        assert_eq!(prf.fixed_key_len(), None, "HMAC takes any key length");
        for ((key, data), want) in inputs.iter().zip(outs) {
            let out = prf.prf(key, &[data]).unwrap();
            assert_eq!(hex::encode(out.secret_bytes()), want, "{id:?}");
            // Feeding the data in pieces gives the same result.
            let (a, b) = data.split_at(data.len() / 2);
            assert_eq!(
                prf.prf(key, &[a, b]).unwrap().secret_bytes(),
                out.secret_bytes()
            );
        }
    }
}

/// RFC 4868 §2.7.2 authenticator vectors (key as long as the hash), which
/// are the AUTH_HMAC_SHA2_* ICVs after truncation to half (§2.3).
#[test]
fn integ_hmac_sha2_matches_rfc4868_auth_vectors() {
    let cases = [
        (
            IntegId::AUTH_HMAC_SHA2_256_128,
            32,
            "198a607eb44bfbc69903a0f1cf2bbdc5",
        ),
        (
            IntegId::AUTH_HMAC_SHA2_384_192,
            48,
            "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973",
        ),
        (
            IntegId::AUTH_HMAC_SHA2_512_256,
            64,
            "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8",
        ),
    ];
    let provider = ring_provider();
    for (id, key_len, want) in cases {
        let integ = provider.integ(id).unwrap();
        assert_eq!(integ.key_len(), key_len);
        let key = vec![0x0b; key_len];
        let mut icv = vec![0u8; integ.icv_len()];
        integ.compute(&key, &[b"Hi ", b"There"], &mut icv).unwrap();
        assert_eq!(hex::encode(&icv), want, "{id:?}");
        integ.verify(&key, &[b"Hi There"], &icv).unwrap();
        icv[0] ^= 0x80;
        assert_eq!(
            integ.verify(&key, &[b"Hi There"], &icv),
            Err(CryptoError::IntegrityCheckFailed)
        );
        // RFC 4868 §2.1.1: the integrity key has exactly the hash length.
        assert!(matches!(
            integ.compute(&key[1..], &[b"x"], &mut icv),
            Err(CryptoError::BadLength { .. })
        ));
    }
}

/// prf+ (RFC 7296 §2.13) against values computed independently with Python's
/// `hmac` module: T1 = prf(K, S | 0x01), Tn = prf(K, Tn-1 | S | n).
#[test]
fn prf_plus_matches_independent_computation_and_stops_at_255_blocks() {
    let provider = ring_provider();
    let sha256 = provider.prf(PrfId::PRF_HMAC_SHA2_256).unwrap();
    let out = prf_plus(sha256, &[0x0b; 32], &[b"Hi ", b"There"], 100).unwrap();
    assert_eq!(
        hex::encode(out.secret_bytes()),
        "a37d816f609378f8b8a0b176d27d40360201df75d18c1e17e046a2fe9e729030\
         bffd9303401c015b245eeb57e3a651a6e5187f8288d47c3842b91a76ef2dfddd\
         cccc7543609e64e314630db1092d7f6c9091f012cfff78cb83cbd22002c27962\
         78b8ec0a"
    );
    // The first block of prf+ is prf(K, S | 0x01).
    let t1 = sha256.prf(&[0x0b; 32], &[b"Hi There", &[1]]).unwrap();
    assert_eq!(&out.secret_bytes()[..32], t1.secret_bytes());

    // The longest allowed output, 255 blocks; its last 32 bytes computed with
    // Python as well.
    let sha512 = provider.prf(PrfId::PRF_HMAC_SHA2_512).unwrap();
    let key: Vec<u8> = (0..64).collect();
    let seed = b"IKEv2 prf+ seed".repeat(3);
    let max = PRF_PLUS_MAX_ITERATIONS * 64;
    let long = prf_plus(sha512, &key, &[&seed], max).unwrap();
    assert_eq!(long.len(), 16320);
    assert_eq!(
        hex::encode(&long.secret_bytes()[max - 32..]),
        "fefcf275d55be9446cebf1b7b13f0720c534c210db7336bc0620a4ca230c78dc"
    );
    assert_eq!(
        prf_plus(sha512, &key, &[&seed], max + 1).unwrap_err(),
        CryptoError::PrfPlusTooLong {
            requested: max + 1,
            max
        }
    );
    assert_eq!(prf_plus(sha512, &key, &[&seed], 0).unwrap().len(), 0);
}

// ------------------------------------------------------------------- KE ----

/// X25519 through `KeyExchangeGroup::start` + `complete` with a fixed scalar.
fn x25519(scalar: &[u8], u: &[u8]) -> Vec<u8> {
    let g = ring_provider().group(KeMethod::CURVE_25519).unwrap();
    let kx = g.start(&Fixed::new(scalar.to_vec())).unwrap();
    kx.complete(u).unwrap().secret_bytes().to_vec()
}

/// RFC 7748 §5.2: the two single-multiplication vectors and the iterated
/// vector after 1 and 1,000 iterations (1,000,000 is too slow for CI).
#[test]
fn x25519_matches_rfc7748_section_5_2() {
    assert_eq!(
        hex::encode(x25519(
            &h("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"),
            &h("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"),
        )),
        "c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552"
    );
    assert_eq!(
        hex::encode(x25519(
            &h("4b66e9d4d1b4673c5ad22691957d6af5c11b6421e0ea01d42ca4169e7918ba0d"),
            &h("e5210f12786811d3f4b7959d0538ae2c31dbe7106fc03c3efc4cd549c715a493"),
        )),
        "95cbde9476e8907d7aade45cb4b873f88b595a68799fa152e6f8f7647aac7957"
    );
    let mut k = h("0900000000000000000000000000000000000000000000000000000000000000");
    let mut u = k.clone();
    for i in 1..=1000 {
        let r = x25519(&k, &u);
        u = k;
        k = r;
        if i == 1 {
            assert_eq!(
                hex::encode(&k),
                "422c8e7a6227d7bca1350b3e2bb7279f7897b87bb6854b783c60e80311ae3079"
            );
        }
    }
    assert_eq!(
        hex::encode(&k),
        "684cf59ba83309552800ef566f2f4d3c1c3887c49360e3875f2eb94d99532c51"
    );
}

/// RFC 7748 §6.1 Alice and Bob: public keys from private keys, and the same
/// shared secret on both sides (RFC 8031 §2 uses it as g^ir unchanged).
#[test]
fn x25519_matches_rfc7748_section_6_1() {
    let g = ring_provider().group(KeMethod::CURVE_25519).unwrap();
    assert_eq!(g.public_len(), 32);
    let alice_priv = h("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
    let bob_priv = h("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb");
    let alice_pub = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a";
    let bob_pub = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f";
    let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";

    let alice = g.start(&Fixed::new(alice_priv)).unwrap();
    let bob = g.start(&Fixed::new(bob_priv)).unwrap();
    assert_eq!(hex::encode(alice.public_value()), alice_pub);
    assert_eq!(hex::encode(bob.public_value()), bob_pub);
    assert_eq!(alice.group(), KeMethod::CURVE_25519);
    let a = alice.complete(&h(bob_pub)).unwrap();
    let b = bob.complete(&h(alice_pub)).unwrap();
    assert_eq!(hex::encode(a.secret_bytes()), shared);
    assert_eq!(hex::encode(b.secret_bytes()), shared);
}

/// RFC 5903 §8.1 (ECP_256) and §8.2 (ECP_384): the RFC's private keys give
/// the RFC's KE payload data (x | y, §7) and both sides the RFC's g^ir (x
/// coordinate only, §7).
#[test]
fn ecp_groups_match_rfc5903_section_8() {
    let cases = [
        (
            KeMethod::ECP_256,
            "C88F01F5 10D9AC3F 70A292DA A2316DE5 44E9AAB8 AFE84049 C62A9C57 862D1433",
            "DAD0B653 94221CF9 B051E1FE CA5787D0 98DFE637 FC90B9EF 945D0C37 72581180
             5271A046 1CDB8252 D61F1C45 6FA3E59A B1F45B33 ACCF5F58 389E0577 B8990BB3",
            "C6EF9C5D 78AE012A 011164AC B397CE20 88685D8F 06BF9BE0 B283AB46 476BEE53",
            "D12DFB52 89C8D4F8 1208B702 70398C34 2296970A 0BCCB74C 736FC755 4494BF63
             56FBF3CA 366CC23E 8157854C 13C58D6A AC23F046 ADA30F83 53E74F33 039872AB",
            "D6840F6B 42F6EDAF D13116E0 E1256520 2FEF8E9E CE7DCE03 812464D0 4B9442DE",
        ),
        (
            KeMethod::ECP_384,
            "099F3C70 34D4A2C6 99884D73 A375A67F 7624EF7C 6B3C0F16 0647B674 14DCE655
             E35B5380 41E649EE 3FAEF896 783AB194",
            "667842D7 D180AC2C DE6F74F3 7551F557 55C7645C 20EF73E3 1634FE72 B4C55EE6
             DE3AC808 ACB4BDB4 C88732AE E95F41AA 9482ED1F C0EEB9CA FC498462 5CCFC23F
             65032149 E0E144AD A0241815 35A0F38E EB9FCFF3 C2C947DA E69B4C63 4573A81C",
            "41CB0779 B4BDB85D 47846725 FBEC3C94 30FAB46C C8DC5060 855CC9BD A0AA2942
             E0308312 916B8ED2 960E4BD5 5A7448FC",
            "E558DBEF 53EECDE3 D3FCCFC1 AEA08A89 A987475D 12FD950D 83CFA417 32BC509D
             0D1AC43A 0336DEF9 6FDA41D0 774A3571 DCFBEC7A ACF31964 72169E83 8430367F
             66EEBE3C 6E70C416 DD5F0C68 759DD1FF F83FA401 42209DFF 5EAAD96D B9E6386C",
            "11187331 C279962D 93D60424 3FD592CB 9D0A926F 422E4718 7521287E 7156C5C4
             D6031355 69B9E9D0 9CF5D4A2 70F59746",
        ),
    ];
    let provider = ring_provider();
    for (id, i, gi, r, gr, gir) in cases {
        let g = provider.group(id).unwrap();
        let init = g.start(&Fixed::new(h(i))).unwrap();
        let resp = g.start(&Fixed::new(h(r))).unwrap();
        assert_eq!(init.public_value(), h(gi), "{id:?} g^i");
        assert_eq!(resp.public_value(), h(gr), "{id:?} g^r");
        assert_eq!(g.public_len(), h(gi).len());
        let a = init.complete(&h(gr)).unwrap();
        let b = resp.complete(&h(gi)).unwrap();
        assert_eq!(a.secret_bytes(), h(gir), "{id:?} g^ir");
        assert_eq!(b.secret_bytes(), h(gir), "{id:?} g^ir");
    }
}

/// Peer KE data that is malformed or invalid gives a typed error (the IKE
/// answer is INVALID_SYNTAX), never a panic or a weak secret.
#[test]
fn bad_peer_ke_values_are_rejected_with_typed_errors() {
    let provider = ring_provider();
    let rng = SystemRandom::new();
    for id in [KeMethod::ECP_256, KeMethod::ECP_384, KeMethod::CURVE_25519] {
        let g = provider.group(id).unwrap();
        let n = g.public_len();
        for len in [0, 1, n - 1, n + 1, n + 2] {
            let kx = g.start(&rng).unwrap();
            assert_eq!(
                kx.complete(&vec![4u8; len]).unwrap_err(),
                CryptoError::KePublicValueLength {
                    group: id.0,
                    expected: n,
                    actual: len
                }
            );
        }
    }
    for id in [KeMethod::ECP_256, KeMethod::ECP_384] {
        let g = provider.group(id).unwrap();
        let peer = g.start(&rng).unwrap();
        let mut off_curve = peer.public_value().to_vec();
        *off_curve.last_mut().unwrap() ^= 1;
        for bad in [
            off_curve,
            vec![0u8; g.public_len()],
            vec![0xff; g.public_len()],
        ] {
            let kx = g.start(&rng).unwrap();
            assert_eq!(
                kx.complete(&bad).unwrap_err(),
                CryptoError::KePublicValueInvalid {
                    group: id.0,
                    reason: KeRejection::NotOnCurve
                }
            );
        }
    }
    // Low-order X25519 points (u = 0 and u = 1) give an all-zero result,
    // which RFC 8031 §2 requires to be refused.
    let g = provider.group(KeMethod::CURVE_25519).unwrap();
    let mut one = [0u8; 32];
    one[0] = 1;
    for bad in [[0u8; 32], one] {
        let kx = g.start(&rng).unwrap();
        assert_eq!(
            kx.complete(&bad).unwrap_err(),
            CryptoError::KePublicValueInvalid {
                group: 31,
                reason: KeRejection::LowOrderPoint
            }
        );
    }
}

#[test]
fn fresh_keys_agree_for_every_group() {
    let provider = ring_provider();
    let rng = SystemRandom::new();
    for g in &provider.groups {
        let a = g.start(&rng).unwrap();
        let b = g.start(&rng).unwrap();
        assert_ne!(a.public_value(), b.public_value());
        let pa = a.public_value().to_vec();
        let pb = b.public_value().to_vec();
        let sa = a.complete(&pb).unwrap();
        let sb = b.complete(&pa).unwrap();
        assert_eq!(sa.secret_bytes(), sb.secret_bytes());
    }
}

#[test]
fn seeded_random_gives_reproducible_key_exchanges() {
    let provider = ring_provider();
    for g in &provider.groups {
        let a = g.start(&HmacDrbg::from_u64(42)).unwrap();
        let b = g.start(&HmacDrbg::from_u64(42)).unwrap();
        let c = g.start(&HmacDrbg::from_u64(43)).unwrap();
        assert_eq!(a.public_value(), b.public_value());
        assert_ne!(a.public_value(), c.public_value());
    }
}

// --------------------------------------------------------------- HMAC_DRBG -

/// NIST CAVP HMAC_DRBG SHA-256, no reseed, no prediction resistance, no
/// personalization or additional input, COUNT = 0: the second 1024-bit
/// Generate returns the listed bits.
#[test]
fn hmac_drbg_matches_nist_cavp_vector() {
    let d = HmacDrbg::instantiate(
        &h("ca851911349384bffe89de1cbdc46e6831e44d34a4fb935ee285dd14b71a7488"),
        &h("659ba96c601dc69fc902940805ec0ca8"),
        b"",
    );
    let mut out = [0u8; 128];
    d.fill(&mut out).unwrap();
    d.fill(&mut out).unwrap();
    assert_eq!(
        hex::encode(out),
        "e528e9abf2dece54d47c7e75e5fe302149f817ea9fb4bee6f4199697d04d5b89\
         d54fbb978a15b5c443c9ec21036d2460b6f73ebad0dc2aba6e624abf07745bc1\
         07694bb7547bb0995f70de25d6b29e2d3011bb19d27676c07162c8b5ccde0668\
         961df86803482cb37ed6d5c0bb8d50cf1f50d476aa0458bdaba806f48be9dcb8"
    );
}

// -------------------------------------------------------------------- SK ----

fn cipher(id: EncrId, bits: Option<u16>, sk_e: &[u8]) -> Box<dyn SkCipher> {
    ring_provider()
        .cipher(id, bits)
        .unwrap()
        .new_cipher(sk_e, None)
        .unwrap()
}

/// The GCM specification's test cases 4 (AES-128) and 16 (AES-256) (McGrew
/// and Viega, "The Galois/Counter Mode of Operation", also used by RFC 4106
/// implementations): their 12-byte IV is split as RFC 5282 §4 does, 4-byte
/// salt from SK_e and 8-byte explicit IV.
#[test]
fn aes_gcm_16_matches_gcm_spec_vectors_with_rfc5282_nonce_split() {
    let p = h(
        "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72\
               1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
    );
    let aad = h("feedfacedeadbeeffeedfacedeadbeefabaddad2");
    let salt = h("cafebabe");
    let iv = h("facedbaddecaf888");
    let cases = [
        (
            128,
            "feffe9928665731c6d6a8f9467308308",
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e\
             21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091",
            "5bc94fbc3221a5db94fae95ae7121a47",
        ),
        (
            256,
            "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308",
            "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa\
             8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
            "76fc6ece0f4e1768cddf8853bb2d551b",
        ),
    ];
    for (bits, key, ct, tag) in cases {
        let alg = ring_provider()
            .cipher(EncrId::AES_GCM_16, Some(bits))
            .unwrap();
        let mut sk_e = h(key);
        sk_e.extend_from_slice(&salt);
        assert_eq!(alg.encr_key_len(), sk_e.len(), "RFC 5282 §7.1 key + salt");
        let c = alg.new_cipher(&sk_e, None).unwrap();
        assert_eq!((c.iv_len(), c.icv_len()), (8, 16));
        let mut buf = p.clone();
        let mut icv = [0u8; 16];
        c.seal_in_place(&aad, &iv, &mut buf, &mut icv).unwrap();
        assert_eq!(hex::encode(&buf), ct.replace(' ', ""));
        assert_eq!(hex::encode(icv), tag);
        c.open_in_place(&aad, &iv, &mut buf, &icv).unwrap();
        assert_eq!(buf, p);
    }
}

/// RFC 8439 §2.8.2 AEAD vector through the RFC 7634 §2 nonce layout: the
/// vector's 32-bit constant is the salt (the last 4 bytes of SK_e), its
/// 8-byte IV the explicit IV.
#[test]
fn chacha20_poly1305_matches_rfc8439_aead_vector() {
    let mut sk_e: Vec<u8> = (0x80..=0x9f).collect();
    sk_e.extend_from_slice(&h("07000000"));
    let c = cipher(EncrId::CHACHA20_POLY1305, None, &sk_e);
    let aad = h("50515253c0c1c2c3c4c5c6c7");
    let iv = h("4041424344454647");
    let pt = b"Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, sunscreen would be it.".to_vec();
    let mut buf = pt.clone();
    let mut icv = [0u8; 16];
    c.seal_in_place(&aad, &iv, &mut buf, &mut icv).unwrap();
    assert_eq!(
        hex::encode(&buf),
        "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d6\
         3dbea45e8ca9671282fafb69da92728b1a71de0a9e060b2905d6a5b67ecd3b36\
         92ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585808b4831d7bc\
         3ff4def08e4b7a9de576d26586cec64b6116"
    );
    assert_eq!(hex::encode(icv), "1ae10b594f09e26a7e902ecbd0600691");
    c.open_in_place(&aad, &iv, &mut buf, &icv).unwrap();
    assert_eq!(buf, pt);
}

/// Builds `header | SK generic header | body` with the inner payloads in
/// place, seals it, and returns (message, body_start).
fn sealed_message(c: &dyn SkCipher, inner: &[u8], iv: &[u8]) -> (Vec<u8>, usize) {
    let body_len = sk_body_len(c, inner.len()).unwrap();
    let header = vec![0x11u8; 28 + 4];
    let mut msg = header.clone();
    msg.resize(header.len() + body_len, 0xa5);
    let start = header.len();
    msg[start + c.iv_len()..start + c.iv_len() + inner.len()].copy_from_slice(inner);
    seal_sk(c, &mut msg, start, inner.len(), iv).unwrap();
    (msg, start)
}

#[test]
fn sk_payload_round_trips_and_rejects_tampering() {
    let provider = ring_provider();
    let rng = SystemRandom::new();
    for alg in &provider.ciphers {
        let mut sk_e = vec![0u8; alg.encr_key_len()];
        rng.fill(&mut sk_e).unwrap();
        let c = alg.new_cipher(&sk_e, None).unwrap();
        for inner_len in [0usize, 1, 15, 16, 17, 1024] {
            let inner: Vec<u8> = (0..inner_len).map(|i| i as u8).collect();
            let iv = [7u8; 8];
            let (mut msg, start) = sealed_message(c.as_ref(), &inner, &iv);
            assert_eq!(&msg[start..start + 8], &iv, "IV written at the body start");
            let good = msg.clone();
            let range = open_sk(c.as_ref(), &mut msg, start).unwrap();
            assert_eq!(&msg[range], &inner[..]);

            // Any flipped bit in AAD, IV, ciphertext or ICV is an ICV failure.
            for pos in [0, start - 1, start, start + 8, good.len() - 1] {
                let mut bad = good.clone();
                bad[pos] ^= 0x01;
                assert_eq!(
                    open_sk(c.as_ref(), &mut bad, start).unwrap_err(),
                    CryptoError::IntegrityCheckFailed,
                    "{:?} bit flip at {pos}",
                    alg.id()
                );
            }
            // Truncated bodies are refused before any crypto.
            for cut in [0, 8, 8 + 16] {
                let mut short = good[..start + cut].to_vec();
                assert!(matches!(
                    open_sk(c.as_ref(), &mut short, start).unwrap_err(),
                    CryptoError::SkTooShort { .. }
                ));
            }
            // A body start past the end is a layout error, not a panic.
            let mut m = good.clone();
            assert!(open_sk(c.as_ref(), &mut m, good.len() + 1).is_err());
        }
    }
}

/// RFC 7296 §3.14: the receiver accepts any padding content, but a Pad
/// Length pointing before the plaintext is malformed.
#[test]
fn sk_open_accepts_any_padding_and_rejects_impossible_pad_length() {
    let c = cipher(EncrId::AES_GCM_16, Some(256), &[9u8; 36]);
    let aad = [0x22u8; 32];
    let iv = [1u8; 8];
    let inner = b"inner payloads";
    // Inner, three bytes of arbitrary padding, Pad Length = 3.
    let mut plain = inner.to_vec();
    plain.extend_from_slice(&[0xde, 0xad, 0xbf, 3]);
    let mut icv = [0u8; 16];
    c.seal_in_place(&aad, &iv, &mut plain, &mut icv).unwrap();
    let mut msg = aad.to_vec();
    msg.extend_from_slice(&iv);
    msg.extend_from_slice(&plain);
    msg.extend_from_slice(&icv);
    let r = open_sk(c.as_ref(), &mut msg, 32).unwrap();
    assert_eq!(&msg[r], inner);

    // Pad Length 200 with only 4 bytes before it.
    let mut plain = vec![0u8, 0, 0, 0, 200];
    c.seal_in_place(&aad, &iv, &mut plain, &mut icv).unwrap();
    let mut msg = aad.to_vec();
    msg.extend_from_slice(&iv);
    msg.extend_from_slice(&plain);
    msg.extend_from_slice(&icv);
    assert_eq!(
        open_sk(c.as_ref(), &mut msg, 32).unwrap_err(),
        CryptoError::SkBadPadLength {
            pad_len: 200,
            available: 4
        }
    );
}

#[test]
fn sk_seal_checks_caller_lengths() {
    let c = cipher(EncrId::CHACHA20_POLY1305, None, &[3u8; 36]);
    let mut msg = vec![0u8; 32 + sk_body_len(c.as_ref(), 10).unwrap()];
    assert!(matches!(
        seal_sk(c.as_ref(), &mut msg, 32, 10, &[0u8; 7]),
        Err(CryptoError::BadLength { what: "IV", .. })
    ));
    assert!(matches!(
        seal_sk(c.as_ref(), &mut msg, 31, 10, &[0u8; 8]),
        Err(CryptoError::BadLength {
            what: "SK body",
            ..
        })
    ));
    assert!(seal_sk(c.as_ref(), &mut msg, 32, 10, &[0u8; 8]).is_ok());
    // Wrong SK_e length and an INTEG transform with an AEAD are refused.
    let alg = ring_provider()
        .cipher(EncrId::CHACHA20_POLY1305, None)
        .unwrap();
    assert!(matches!(
        alg.new_cipher(&[0u8; 32], None),
        Err(CryptoError::BadLength { what: "SK_e", .. })
    ));
}

#[test]
fn provider_lookups_follow_transform_ids_and_key_lengths() {
    let p = ring_provider();
    assert!(p.cipher(EncrId::AES_GCM_16, Some(128)).is_ok());
    assert!(p.cipher(EncrId::AES_GCM_16, Some(256)).is_ok());
    assert_eq!(
        p.cipher(EncrId::AES_GCM_16, Some(192)).err(),
        Some(CryptoError::UnsupportedTransform {
            kind: ike::crypto::TransformKind::Encr,
            id: 20,
            key_bits: Some(192)
        })
    );
    assert!(p.cipher(EncrId::CHACHA20_POLY1305, Some(256)).is_err());
    assert!(p.cipher(EncrId::AES_CBC, Some(256)).is_err());
    assert!(p.group(KeMethod::MODP_2048).is_err());
    // AEAD takes no INTEG (RFC 5282 §8); NONE is the same as absent.
    assert!(p
        .ike_suite(
            EncrId::AES_GCM_16,
            Some(128),
            PrfId::PRF_HMAC_SHA2_256,
            Some(IntegId::AUTH_NONE),
            KeMethod::ECP_256
        )
        .is_ok());
    assert!(p
        .ike_suite(
            EncrId::AES_GCM_16,
            Some(128),
            PrfId::PRF_HMAC_SHA2_256,
            Some(IntegId::AUTH_HMAC_SHA2_256_128),
            KeMethod::ECP_256
        )
        .is_err());
}

/// RFC 7634 Appendix B: a whole IKEv2 INFORMATIONAL message protected with
/// ChaCha20-Poly1305. `seal_sk` on the header, SK header and inner Notify
/// reproduces the RFC's message byte for byte, and `open_sk` gets the Notify
/// back (Pad Length 0, no padding).
#[test]
fn sk_payload_matches_rfc7634_appendix_b_ike_message() {
    let mut sk_e: Vec<u8> = (0x80..=0x9f).collect();
    sk_e.extend_from_slice(&h("a0a1a2a3"));
    let c = cipher(EncrId::CHACHA20_POLY1305, None, &sk_e);
    // IKE header (SPIs, SK next payload, v2.0, INFORMATIONAL, msg ID 9,
    // length 69) and SK generic header (next: Notify, length 41).
    let aad = h("c0c1c2c3c4c5c6c7d0d1d2d3d4d5d6d72e202500000000090000004529000029");
    let iv = h("1011121314151617");
    let notify = h("0000000c000040010000000a");
    let expected = [
        aad.clone(),
        iv.clone(),
        h("610394701f8d017f7c12924889"),
        h("6b71bfe25236efd7cdc67066906315b2"),
    ]
    .concat();
    assert_eq!(expected.len(), 0x45);

    let mut msg = aad.clone();
    msg.resize(
        aad.len() + sk_body_len(c.as_ref(), notify.len()).unwrap(),
        0xee,
    );
    assert_eq!(msg.len(), expected.len());
    msg[aad.len() + 8..aad.len() + 8 + notify.len()].copy_from_slice(&notify);
    seal_sk(c.as_ref(), &mut msg, aad.len(), notify.len(), &iv).unwrap();
    assert_eq!(hex::encode(&msg), hex::encode(&expected));

    let range = open_sk(c.as_ref(), &mut msg, aad.len()).unwrap();
    assert_eq!(range, 40..52);
    assert_eq!(&msg[range], &notify[..]);
}
