//! The native-client suites plugged into `ike::crypto`: ENCR_AES_CBC
//! (RFC 3602) with every INTEG, AUTH_HMAC_SHA1_96 / PRF_HMAC_SHA1, and the
//! MODP groups 14–16 (RFC 3526).
//!
//! Known answers come from three independent places: RFC 3602 §4 and NIST
//! SP 800-38A F.2 for AES-CBC (re-checked with `openssl enc -nopad`), RFC 2202
//! for HMAC-SHA1, OpenSSL 3.0 for MODP (`openssl genpkey -pkeyopt
//! group:modp_N` key pairs and `pkeyutl -derive -pkeyopt dh_pad:1`), and a
//! real strongSwan 5.9.8 AES-CBC/MODP-2048 run (the pcap and key file in
//! `tests/vectors/`, provenance in `tests/vectors/README.md`).

// Test helpers outside #[test] fns are test code too (clippy.toml allows these in tests).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;

use ike::capture::udp_datagrams;
use ike::crypto::{
    derive_ike_sa_keys, native_client_provider, open_sk, ring_provider, seal_sk, sk_body_len,
    skeyseed, CipherShape, CryptoError, EncrId, HmacDrbg, Integ, IntegId, KeMethod, KeRejection,
    KeyExchangeGroup, Prf, PrfId, Random, SharedSecret, SkCipher, SkCipherAlgorithm, SkKeys,
    AES_CBC_128, AES_CBC_192, AES_CBC_256, AUTH_HMAC_SHA1_96, AUTH_HMAC_SHA2_256_128,
    AUTH_HMAC_SHA2_384_192, AUTH_HMAC_SHA2_512_256, MODP_2048, MODP_3072, MODP_4096, PRF_HMAC_SHA1,
};
use ike::wire::{parse_payloads, ExchangeType, Message, Payload};
use proptest::prelude::*;
use ring::hmac;

fn unhex(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

fn vector_path(file: &str) -> PathBuf {
    [env!("CARGO_MANIFEST_DIR"), "tests", "vectors", file]
        .iter()
        .collect()
}

// ------------------------------------------------------------- AES-CBC ----

/// One CBC known answer: key, IV, plaintext, ciphertext.
struct CbcKat {
    name: &'static str,
    key: &'static str,
    iv: &'static str,
    plain: &'static str,
    cipher: &'static str,
}

/// RFC 3602 §4 cases 1–4 (AES-128) and NIST SP 800-38A F.2.3 / F.2.5
/// (CBC-AES192/256.Encrypt); RFC 3602 has no 192/256-bit cases.
const CBC_KATS: &[CbcKat] = &[
    CbcKat {
        name: "RFC 3602 case 1",
        key: "06a9214036b8a15b512e03d534120006",
        iv: "3dafba429d9eb430b422da802c9fac41",
        // "Single block msg"
        plain: "53696e676c6520626c6f636b206d7367",
        cipher: "e353779c1079aeb82708942dbe77181a",
    },
    CbcKat {
        name: "RFC 3602 case 2",
        key: "c286696d887c9aa0611bbb3e2025a45a",
        iv: "562e17996d093d28ddb3ba695a2e6f58",
        plain: "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
        cipher: "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
    },
    CbcKat {
        name: "RFC 3602 case 3",
        key: "6c3ea0477630ce21a2ce334aa746c2cd",
        iv: "c782dc4c098c66cbd9cd27d825682c81",
        // "This is a 48-byte message (exactly 3 AES blocks)"
        plain: "5468697320697320612034382d62797465206d657373616765202865786163746c\
                7920332041455320626c6f636b7329",
        cipher: "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5\
                 021c19216bad525c8579695d83ba2684",
    },
    CbcKat {
        name: "RFC 3602 case 4",
        key: "56e47a38c5598974bc46903dba290349",
        iv: "8ce82eefbea0da3c44699ed7db51b7d9",
        plain: "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\
                c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
        cipher: "c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e\
                 35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55",
    },
    CbcKat {
        name: "SP 800-38A F.2.3 (AES-192)",
        key: "8e73b0f7da0e6452c810f32b809079e562f8ead2522c6b7b",
        iv: "000102030405060708090a0b0c0d0e0f",
        plain: "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
                30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
        cipher: "4f021db243bc633d7178183a9fa071e8b4d9ada9ad7dedf4e5e738763f69145a\
                 571b242012fb7ae07fa9baac3df102e008b0e27988598881d920a9e64f5615cd",
    },
    CbcKat {
        name: "SP 800-38A F.2.5 (AES-256)",
        key: "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
        iv: "000102030405060708090a0b0c0d0e0f",
        plain: "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51\
                30c81c46a35ce411e5fbc1191a0a52eff69f2445df4f9b17ad2b417be66c3710",
        cipher: "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d\
                 39f23369a9d9bacfa530e26304231461b2eb05e2c39be9fcda6c19078c6a9d1b",
    },
];

fn cbc_for_key_len(len: usize) -> &'static dyn SkCipherAlgorithm {
    match len {
        16 => &AES_CBC_128,
        24 => &AES_CBC_192,
        32 => &AES_CBC_256,
        _ => panic!("no AES key of {len} bytes"),
    }
}

const INTEGS: [&dyn Integ; 4] = [
    &AUTH_HMAC_SHA1_96,
    &AUTH_HMAC_SHA2_256_128,
    &AUTH_HMAC_SHA2_384_192,
    &AUTH_HMAC_SHA2_512_256,
];

#[test]
fn aes_cbc_known_answers_through_the_sk_cipher_with_an_independent_icv() {
    let aad = b"IKE header and SK generic header";
    for kat in CBC_KATS {
        let key = unhex(kat.key);
        let iv = unhex(kat.iv);
        let alg = cbc_for_key_len(key.len());
        assert_eq!(alg.encr_key_len(), key.len());
        let sk_a = [0x5a; 32];
        let c = alg
            .new_cipher(&key, Some((&AUTH_HMAC_SHA2_256_128, &sk_a)))
            .unwrap();
        assert_eq!((c.iv_len(), c.block_len(), c.icv_len()), (16, 16, 16));

        let mut buf = unhex(kat.plain);
        let mut icv = [0u8; 16];
        c.seal_in_place(aad, &iv, &mut buf, &mut icv).unwrap();
        assert_eq!(hex::encode(&buf), kat.cipher, "{}: ciphertext", kat.name);
        // RFC 7296 §3.14: ICV = HMAC over header | IV | ciphertext, computed
        // here with ring directly, truncated to 128 bits (RFC 4868 §2.3).
        let k = hmac::Key::new(hmac::HMAC_SHA256, &sk_a);
        let full = hmac::sign(&k, &[&aad[..], &iv, &buf].concat());
        assert_eq!(icv, full.as_ref()[..16], "{}: ICV", kat.name);

        c.open_in_place(aad, &iv, &mut buf, &icv).unwrap();
        assert_eq!(hex::encode(&buf), kat.plain, "{}: decryption", kat.name);
    }
}

#[test]
fn aes_cbc_checks_the_icv_before_decrypting() {
    let kat = &CBC_KATS[1];
    let c = AES_CBC_128
        .new_cipher(&unhex(kat.key), Some((&AUTH_HMAC_SHA1_96, &[1; 20])))
        .unwrap();
    let iv = unhex(kat.iv);
    let mut buf = unhex(kat.cipher);
    let good = buf.clone();
    let icv = [0u8; 12];
    assert_eq!(
        c.open_in_place(b"aad", &iv, &mut buf, &icv),
        Err(CryptoError::IntegrityCheckFailed)
    );
    // Nothing was decrypted in place.
    assert_eq!(buf, good);
}

#[test]
fn aes_cbc_refuses_bad_keys_ivs_and_shapes() {
    // SK_e of the wrong size for each key length.
    for alg in [&AES_CBC_128, &AES_CBC_192, &AES_CBC_256] {
        let n = alg.encr_key_len();
        for wrong in [0, n - 1, n + 1] {
            assert!(matches!(
                alg.new_cipher(&vec![0; wrong], Some((&AUTH_HMAC_SHA2_256_128, &[0; 32]))),
                Err(CryptoError::BadLength { what: "SK_e", .. })
            ));
        }
        assert_eq!(alg.shape(), CipherShape::EncryptThenMac);
        assert_eq!(alg.id(), EncrId::AES_CBC);
        // Encrypt-then-MAC without INTEG is a configuration error.
        assert!(alg.new_cipher(&vec![0; n], None).is_err());
        // SK_a must be the INTEG key length.
        assert!(matches!(
            alg.new_cipher(&vec![0; n], Some((&AUTH_HMAC_SHA2_256_128, &[0; 20]))),
            Err(CryptoError::BadLength { what: "SK_a", .. })
        ));
    }
    let c = AES_CBC_256
        .new_cipher(&[3; 32], Some((&AUTH_HMAC_SHA2_256_128, &[4; 32])))
        .unwrap();
    let mut buf = [0u8; 32];
    let mut icv = [0u8; 16];
    assert!(matches!(
        c.seal_in_place(b"", &[0; 8], &mut buf, &mut icv),
        Err(CryptoError::BadLength { what: "IV", .. })
    ));
    assert!(c
        .seal_in_place(b"", &[0; 16], &mut buf[..31], &mut icv)
        .is_err());
    assert!(matches!(
        c.seal_in_place(b"", &[0; 16], &mut buf, &mut [0u8; 12]),
        Err(CryptoError::BadLength { .. })
    ));
}

/// Seals `inner` as an SK payload behind a 32-byte fake header and returns
/// the message.
fn seal_message(c: &dyn SkCipher, inner: &[u8], iv: &[u8]) -> Vec<u8> {
    let start = 32;
    let body = sk_body_len(c, inner.len()).unwrap();
    let mut msg = vec![0xa5u8; start + body];
    for (i, b) in msg[..start].iter_mut().enumerate() {
        *b = i as u8;
    }
    let plain = start + c.iv_len();
    msg[plain..plain + inner.len()].copy_from_slice(inner);
    seal_sk(c, &mut msg, start, inner.len(), iv).unwrap();
    msg
}

#[test]
fn sk_payloads_round_trip_for_every_cbc_key_length_and_integ() {
    let rng = HmacDrbg::from_u64(3602);
    for alg in [&AES_CBC_128, &AES_CBC_192, &AES_CBC_256] {
        for integ in INTEGS {
            let mut sk_e = vec![0; alg.encr_key_len()];
            let mut sk_a = vec![0; integ.key_len()];
            rng.fill(&mut sk_e).unwrap();
            rng.fill(&mut sk_a).unwrap();
            let c = alg.new_cipher(&sk_e, Some((integ, &sk_a))).unwrap();
            // The other direction's key (RFC 7296 §2.14 SK_ei vs SK_er).
            let other = alg.new_cipher(&sk_e, Some((integ, &[0; 64][..integ.key_len()])));
            let other = other.unwrap();
            for inner_len in [0usize, 1, 14, 15, 16, 17, 31, 32, 33, 100] {
                let inner: Vec<u8> = (0..inner_len).map(|i| i as u8 ^ 0x3c).collect();
                let mut iv = [0u8; 16];
                rng.fill(&mut iv).unwrap();
                let msg = seal_message(c.as_ref(), &inner, &iv);
                let enc_len = msg.len() - 32 - 16 - integ.icv_len();
                assert_eq!(enc_len % 16, 0, "block aligned");
                // Fewest padding bytes: the encrypted part is the smallest
                // multiple of 16 holding inner | Pad Length.
                assert_eq!(enc_len, (inner_len + 1).div_ceil(16) * 16);
                assert_eq!(&msg[32..48], &iv, "IV in clear at the body start");
                if inner_len >= 16 {
                    assert_ne!(&msg[48..64], &inner[..16], "encrypted");
                }

                let mut opened = msg.clone();
                let range = open_sk(c.as_ref(), &mut opened, 32).unwrap();
                assert_eq!(&opened[range], &inner[..]);

                let mut wrong = msg.clone();
                assert_eq!(
                    open_sk(other.as_ref(), &mut wrong, 32),
                    Err(CryptoError::IntegrityCheckFailed)
                );
                // Any flipped bit, in the header, IV, ciphertext or ICV,
                // fails the ICV.
                for pos in [
                    0,
                    31,
                    32,
                    47,
                    48,
                    msg.len() - integ.icv_len() - 1,
                    msg.len() - 1,
                ] {
                    let mut bad = msg.clone();
                    bad[pos] ^= 0x01;
                    assert_eq!(
                        open_sk(c.as_ref(), &mut bad, 32),
                        Err(CryptoError::IntegrityCheckFailed),
                        "{:?}/{:?} inner {inner_len} flip at {pos}",
                        alg.key_bits(),
                        integ.id()
                    );
                }
            }
        }
    }
}

#[test]
fn open_sk_refuses_short_and_misaligned_cbc_bodies() {
    let c = AES_CBC_128
        .new_cipher(&[7; 16], Some((&AUTH_HMAC_SHA2_256_128, &[8; 32])))
        .unwrap();
    let msg = seal_message(c.as_ref(), b"0123456789", &[9; 16]);
    // Cut one byte out of the ciphertext: no longer whole blocks.
    let mut cut = msg.clone();
    cut.remove(50);
    assert!(matches!(
        open_sk(c.as_ref(), &mut cut, 32),
        Err(CryptoError::SkNotBlockAligned { block: 16, .. })
    ));
    // Shorter than IV + ICV + 1.
    let mut short = msg[..32 + 16 + 16].to_vec();
    assert!(matches!(
        open_sk(c.as_ref(), &mut short, 32),
        Err(CryptoError::SkTooShort { .. })
    ));
}

proptest! {
    #[test]
    fn any_inner_payload_bytes_round_trip_through_cbc(
        inner in proptest::collection::vec(any::<u8>(), 0..300),
        key in proptest::array::uniform32(any::<u8>()),
        iv in proptest::array::uniform16(any::<u8>()),
        which in 0usize..3,
        integ in 0usize..4,
    ) {
        let alg: &dyn SkCipherAlgorithm = [&AES_CBC_128, &AES_CBC_192, &AES_CBC_256][which];
        let integ = INTEGS[integ];
        let c = alg
            .new_cipher(&key[..alg.encr_key_len()], Some((integ, &[0x11; 64][..integ.key_len()])))
            .unwrap();
        let mut msg = seal_message(c.as_ref(), &inner, &iv);
        let range = open_sk(c.as_ref(), &mut msg, 32).unwrap();
        prop_assert_eq!(&msg[range], &inner[..]);
    }
}

// ---------------------------------------------------------- SHA-1 HMAC ----

#[test]
fn hmac_sha1_prf_and_integ_match_rfc_2202() {
    // RFC 2202 §3 test cases 1 and 2.
    let cases: [(&[u8], &[u8], &str); 2] = [
        (
            &[0x0b; 20],
            b"Hi There",
            "b617318655057264e28bc0b6fb378c8ef146be00",
        ),
        (
            b"Jefe",
            b"what do ya want for nothing?",
            "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79",
        ),
    ];
    for (key, data, mac) in cases {
        let out = PRF_HMAC_SHA1.prf(key, &[data]).unwrap();
        assert_eq!(hex::encode(out.secret_bytes()), mac);
    }
    assert_eq!(
        (PRF_HMAC_SHA1.output_len(), PRF_HMAC_SHA1.key_len()),
        (20, 20)
    );
    // HMAC-SHA1-96 (RFC 2404 §3): the first 12 bytes, 20-byte key only.
    let mut icv = [0u8; 12];
    AUTH_HMAC_SHA1_96
        .compute(&[0x0b; 20], &[b"Hi ", b"There"], &mut icv)
        .unwrap();
    assert_eq!(hex::encode(icv), "b617318655057264e28bc0b6");
    AUTH_HMAC_SHA1_96
        .verify(&[0x0b; 20], &[b"Hi There"], &icv)
        .unwrap();
    assert!(AUTH_HMAC_SHA1_96
        .compute(b"Jefe", &[b"x"], &mut icv)
        .is_err());
    assert_eq!(AUTH_HMAC_SHA1_96.id(), IntegId::AUTH_HMAC_SHA1_96);
    assert_eq!(PRF_HMAC_SHA1.id(), PrfId::PRF_HMAC_SHA1);
}

// ------------------------------------------------------------ provider ----

#[test]
fn native_client_provider_resolves_the_suites_ring_provider_does_not() {
    let ring = ring_provider();
    let native = native_client_provider();
    for bits in [128, 192, 256] {
        assert!(ring.cipher(EncrId::AES_CBC, Some(bits)).is_err());
        let c = native.cipher(EncrId::AES_CBC, Some(bits)).unwrap();
        assert_eq!(c.encr_key_len(), usize::from(bits) / 8);
    }
    assert!(native.cipher(EncrId::AES_CBC, None).is_err());
    assert!(native.cipher(EncrId::AES_CBC, Some(512)).is_err());
    for ke in [
        KeMethod::MODP_2048,
        KeMethod::MODP_3072,
        KeMethod::MODP_4096,
    ] {
        assert!(ring.group(ke).is_err());
        assert_eq!(native.group(ke).unwrap().id(), ke);
    }
    // RFC 8247 §2.4: the small MODP groups are not there at all.
    for ke in [KeMethod::MODP_768, KeMethod::MODP_1024, KeMethod::MODP_1536] {
        assert!(native.group(ke).is_err());
    }
    assert!(ring.prf(PrfId::PRF_HMAC_SHA1).is_err());
    assert!(ring.integ(IntegId::AUTH_HMAC_SHA1_96).is_err());
    native.prf(PrfId::PRF_HMAC_SHA1).unwrap();
    native.integ(IntegId::AUTH_HMAC_SHA1_96).unwrap();
    // Everything ring offers is still there and still first.
    assert_eq!(native.ciphers[0].id(), ring.ciphers[0].id());
    assert_eq!(native.groups[0].id(), ring.groups[0].id());
    assert_eq!(native.ciphers.len(), ring.ciphers.len() + 3);
    assert_eq!(native.groups.len(), ring.groups.len() + 3);

    // The Windows default suite resolves, with SHA-1 key lengths.
    let suite = native
        .ike_suite(
            EncrId::AES_CBC,
            Some(256),
            PrfId::PRF_HMAC_SHA1,
            Some(IntegId::AUTH_HMAC_SHA1_96),
            KeMethod::MODP_2048,
        )
        .unwrap();
    let l = suite.key_lengths();
    assert_eq!((l.prf_key, l.integ_key, l.encr_key), (20, 20, 32));
    // CBC without INTEG is refused (RFC 7296 §3.3.3).
    for integ in [None, Some(IntegId::AUTH_NONE)] {
        assert!(native
            .ike_suite(
                EncrId::AES_CBC,
                Some(128),
                PrfId::PRF_HMAC_SHA2_256,
                integ,
                KeMethod::MODP_2048
            )
            .is_err());
    }
}

// ---------------------------------------------------------------- MODP ----

fn groups() -> [&'static dyn KeyExchangeGroup; 3] {
    [&MODP_2048, &MODP_3072, &MODP_4096]
}

fn prime_of(id: KeMethod) -> Vec<u8> {
    match id {
        KeMethod::MODP_2048 => MODP_2048.prime_bytes(),
        KeMethod::MODP_3072 => MODP_3072.prime_bytes(),
        KeMethod::MODP_4096 => MODP_4096.prime_bytes(),
        _ => panic!("not a MODP group"),
    }
}

/// Big-endian `a + d` (d may be negative), same length.
fn add_small(a: &[u8], d: i64) -> Vec<u8> {
    let mut out = a.to_vec();
    let mut carry = d as i128;
    for b in out.iter_mut().rev() {
        let v = i128::from(*b) + carry;
        *b = v.rem_euclid(256) as u8;
        carry = v.div_euclid(256);
        if carry == 0 {
            break;
        }
    }
    out
}

#[test]
fn modp_sides_agree_with_padded_values_of_the_prime_length() {
    for (g, len) in groups().into_iter().zip([256usize, 384, 512]) {
        assert_eq!(g.public_len(), len);
        let rng = HmacDrbg::from_u64(u64::from(g.id().0));
        let a = g.start(&rng).unwrap();
        let b = g.start(&rng).unwrap();
        assert_eq!(a.group(), g.id());
        assert_eq!(a.public_value().len(), len);
        assert_eq!(b.public_value().len(), len);
        assert_ne!(a.public_value(), b.public_value());
        let (pa, pb) = (a.public_value().to_vec(), b.public_value().to_vec());
        let za = a.complete(&pb).unwrap();
        let zb = b.complete(&pa).unwrap();
        assert_eq!(za.secret_bytes(), zb.secret_bytes(), "{:?}", g.id());
        assert_eq!(za.secret_bytes().len(), len);
        // Same seed, same key pair: the exponent comes only from `Random`.
        let again = g.start(&HmacDrbg::from_u64(u64::from(g.id().0))).unwrap();
        assert_eq!(again.public_value(), &pa[..]);
    }
}

/// A `Random` that hands out fixed byte strings, one per `fill`, checking
/// that each is asked for at its exact length.
struct Fixed(Mutex<Vec<Vec<u8>>>);

impl Random for Fixed {
    fn fill(&self, dest: &mut [u8]) -> Result<(), CryptoError> {
        let next = self.0.lock().unwrap().remove(0);
        assert_eq!(next.len(), dest.len(), "exponent drawn at its fixed length");
        dest.copy_from_slice(&next);
        Ok(())
    }
}

/// An OpenSSL 3.0.22 key pair and peer in one RFC 3526 group, all
/// big-endian: `x` left-padded to our exponent length, public values and
/// the derived secret (`dh_pad:1`) to the prime length.
struct OpensslKat {
    group: u16,
    x: &'static str,
    y: &'static str,
    peer_y: &'static str,
    z: &'static str,
}

const OPENSSL_KATS: &[OpensslKat] = &[
    OpensslKat {
        group: 2048,
        x: "000000014dee1e37bcfbe52c7625646eb3a5bc0fcdcb43b85aa2ca541f947fdc",
        y: "f37d3f1e5e991f941d29e6e8e9d5caee30329278cb8b2c313f5fa48603d65d8525c3ba51d99492d11fc59bcec2b52a13\
         f56106aa03d3ff6ca3f3423b21df70a98c68e254aabbe677932d405aa415efe49d3be76a2ba6c890f94ae2a4533f21ac\
         ea614f1a33e869300ac06f2447fddcb346ed53040c82f4ffe9aff457cf2a2974a4d69a256d1f38e12984554ac8b36c3b\
         303f17833eaed6fccf98b210c6d717531119ca29b747c0e57546dd93c87a3e520d05aaca62426595165d6b042f0c3890\
         fe29ab0174ad660a1b67221fe82aadcc0aee83287f9166520a3456f60df9723b1a627c02eca04fd27e54c28b7cce9f6a\
         66883e7343722817c92a46b7266469da",
        peer_y: "46202bc0527f37440ea023401be82388016292427c55f2eb70c78cce6e5d4391b4c57ea32b3227cf96413be27334b36a\
         e30703cd71e95ff62cfe95640ee838187a35334435fb50f0c613e4d560c7e2586190e8cd0eb7944084337c5571b0698d\
         f69257586e48dc058a6f7015d4a45dbe51cbb68873aedf564f16b0c3e1f48d9a1038483155ebb35cf492e93f6650e9ee\
         43dc33a06c2bef17beb898c7e987f7e2af9444622cdab1f4aa70baad8aa91d0270a9fd9518c1feb962d4fe7def7f26ff\
         82ac942329759b5d86eb4b2f2b1ed292a4f47bea13eb2274570bd1d9a1a4ed00a984b6487c12b2bd25e98feb1585e878\
         e402ca962a0bc2f82801e7dcd043d3b1",
        z: "ef62868128ff75cbfe48d42b2e7ef39edc77e7da7d8ee6eb3ebdcaf1ec28e4722b87bed2082d38ddb7cf27917c2199f9\
         96383e155cfe97c4d78eb69eb41e7baf5996a7856bb78beb2369bc3284e9a835a3cfcd981a04518a6cfc4af2a7d6dffc\
         d1713626e8e659f65c0bc224c795babbb4da859efa9c065e503d7f366fa75b4b300bc032d655316d5531c06f62650b07\
         6aa223ebb3e84287bc2ee8df4e9d9a43f659048cf93995da88d473feca2efb125debb97b7afd1a8aed5f67a643816477\
         2c191804edc27785701053a5cb73539dfd87648043753a63fc9d10bab50860f312d1b19843b6d8e61cedc34d127aadaf\
         6cc508e736820e13a79d792ce0c0fe01",
    },
    OpensslKat {
        group: 3072,
        x: "0000000000052ab7826da4c1a0952c7286e60a2cc852fdcde326ff7cb16c3420dfc521870dd0a6b7",
        y: "0b4525048150d9affbd6e4eb9a7135edffd62193b6c0577849ad9b598b92f5d1ed194a3e468d9386b3e10576429a5353\
         7d9092a987d794e4336861308b82182beabaffea840b4961d9225c293bc451c05348e11035757123f43bac70fda77d23\
         b86882b934aa64f701ee7706870eb00cc5eda681eb052ed79ee3c8ee23de668506448990533fb8524d0e90b2337ecb92\
         396cc61c64a477f46a61773f82ec07b46780940bbbea4b035b30967758bd3a1bf14e4ac63553b7d719674a397f03924d\
         a9f4f33c40d72d09029549ef1f20e21dd0272cf0b7653a53feab56b65ca64e187ca96cc11de0ed6bc57e7c1394c3d92b\
         5ed419c35b2e8a8f52eed90941d49d45a233a53212534634e9712ee2e91feacd1a2ffc677cbad5787cf98b97000a1249\
         1816ceb23ca983c6e9589a4e84ecb9d164a9537b62b08e067a2ca228ab035e62bf98a94c4dc78b3710b6e50233faf830\
         c23466763de2ba28c117f4cabe0172dfd3c1284c3f3c20c0c8d3bed569f4f23a7f23a46429c5aed1e495c01f2dbc0110",
        peer_y: "e6d4d96449a7da895095747706a2854d280e925c7e29e5c576a93fb40bfc72e6457a8b2b436b2ca29a36de479823520f\
         3a34b68615ad63544f6ec64596c42be5da2493201c7019ce1753a81eb6ca44fe717e0ad10dad4f1040f46bcc28dbcea9\
         f990682542c11cb7c2402256936d9879809fe3d01a2f12e76ff26997cd269c34b856afb4d2b9bdc9d312d25da9c67cca\
         a2f6969112500b3d7902981a3fe69c66a4c2e3e92c4d787efba106bb26ba67edc5671f9e4b98d3a0ac948781f487ad7c\
         eb6c6bdd16291d30540a6733a0b3e176fafedd7edefad9dd03a4fe60765d703c694a15df24fc2813c90eb7a36d763a46\
         14cef09e66e76d80e16910a682b30833b2650fc9bf4df720b13c8feb322774aeeb021fd0ebfadd0db9ff18334d979523\
         b9a197c831e9aa15e9ec0ad34e59de5e6f2428453f495166b55d47e5679a39d57b512908a90a8f757f3efd5100949e97\
         bc7011889eb5a2277b6c5cf57e9ebd3433881066767d08c24f6a00b7ba756811121ccfd43aa9655ea468c1989073b3eb",
        z: "ad2bc2641c4fa3726476d619c5b862c9a0bae51ec90b2290f239b910030cf055b1017eeccc5c2aeff4965a2ec56180af\
         2570f13c6c724bf4fdeb66c670dab2eabefe2138f57a0bcc42af477e63f3a090889a896d7b74f461e6ce8782036ed9c8\
         58adeb3ce41895aff644120896141e5365f7c5912f2c1b1d1e91a7954a4ac41a3b0d2b01812f6844b2f2c330d3824398\
         0362788751e1c27d2674f87f1a22da8fd97f6f8f2aca353adccdbc0119454ebf43359b90a4b089f2e56600baf51e51b3\
         f2efb6ccfbd9e2af7837a1453d86735b6cec79488ac11643cf50ddbff474ca47a700a75a09d123c9ddf86908237c9884\
         aea3a577bfa16492b59123f8322a90485f7f36599efc06b21c95ce23d36225a901b29dc398ca985a7f9eefce911eef52\
         e3a3b7e7276706f9aecd6425390ce7046b53a565a15735d1f1b4b62dec456bb354badc4d34ce4cf9518b63bdbc72b07a\
         652a91408e2d8901ec1382c8ce10b6aa3055f48a70565cac149d44988856c5c05268edf468668192ebaf47ff674815a3",
    },
    OpensslKat {
        group: 4096,
        x: "000000000000001d112037a5a95264e84f58a9b37bb592a079be6191daca3154481e9d9f9d2217a0c125b317e1aaf517",
        y: "435906370c632c75f975b1c4ae59ca7966c70ec4046e5f4eed911bb56759737a3174896583255f0938da837025905c87\
         f15194f38c4481481027c3cd5a74842a0ef94b010f8e232c932d9bb6407f871511d7d1bac2559645cac3917e72d521a3\
         fb8249a8d00220dba55451f611af957e47d8140800b9c23faa3ede249b41380613a724df7ad21540e5b1c5e527a597ed\
         b314f2dcd3258f8ca5222ee45350377a1529cc6817579d693ac0403a6a8f8ae24cc41c352251a06479291390dc130ead\
         a482c20284cc282cbd045a64173635c4f3c97abc38d95d80788560313df3e3e1d30693f9ca9799a0bd08df2d10d7b0c7\
         477f4c156b0c78480d5d2d66b9841ef0456f040ff207a66110e3d8d8061e5e63b749b7e039e229dbb0813808d4170d08\
         30954018de1d709d3238a9112c0b3906fb8f2624217ff74e23f288d9fa825eeaaaa8a7062be9d20547e15406a525ea69\
         fefe500fc771284d78d12bd39ecbda02afa6ae9ae4d3a7e53d1fd2f0ed274a065389826a1be0983a8ab0f6f6b47c94a3\
         2557f43014d0a4ec1a577bbde86e7378a8ea1767d9318db25588e80d411b4301d97252faab26dd1d90a87430122173e8\
         e4d9d4095642a8f0cd56a0e082b2b54c1fdb124a7c27688bed83a01048171a2e2fb8ea3f8acb7984c8341e627c3151e5\
         15eb13b9072f33312870d9414d807234afd2e8b77e55acd9ea812174c383de79",
        peer_y: "254265886a2660a8a0d4a94f7492d072008635102c118c6de8366e5b73c13a61fa5d3feaf44bf52124bf0a1cf3dd012e\
         1f0bd4faf1d7305cc587b662872cefc6875183d73dd7c58f9cca3b1296fb87fa7880becb9a3848064dfb0a7bca545212\
         ae45e31ce701c56db1993aaada14aafa56abeda7a39d0e5956290d6b99ecab14c5063ffdffc48eb9db952ee1e06933bd\
         6b60bf1c6b7b93808cf34578a1985a0b263f21b7fbdadce232d230d33f5480c0dc1d7402f415d076875d44e880c83f87\
         d505b5b0a9efd0d8da29aae28908f13560e55e08058ae824de1dd9e702838d3b9174076fb8b82f7effbf474823ea3b72\
         a2d4253c0f13e0884eed33d661141f197dfa2c24e45a8b128fc9a95c1838a413ce2c86973f379f5099b0a2381d0efc59\
         b7e7a50028a86c7dd1f9a82c2e782754ce886b415f21b00ddd340f64cb1e1e4c61732693242bc487dd11fe3a8d79eb2b\
         096700d4880ae67d4729ae4bddca400e2ba7b2fd177f10237f2c5059d0cd760997acbc680d77098995cff34d04b369d3\
         c60790d73ea92186aad9f4d54fe00081f8ada99dea4b063b0b40b1eb415c27bd9acea84c1b68a8f126d4e6eaf112fd5d\
         1ea3afeef990a40940ab6489e2480251bb9db914d5eb9ef5381fc00581e3a39ca42f5d9884bca445912798e8887f1e69\
         f6adf941b051daffa5ee17df992b8912f2d2d6fa955ee8184c7aaca280aa6b2a",
        z: "278190eea2afe4aeebab0bf3189615ffe72e66a4d6e64bf274b5967bcc360019493531eea3c6d26f0528fe293241e986\
         9d5c6acf8071879a0a8b8e3f912761f5baead3a1b562bec33f8f50f49dead01784a3ecdb772570a0ed61e021195ee9cf\
         50dffb30460e6b0c4d4264ae5724346b593be31be42f0f4e391c9c22a9b6029866704c0601335a519e87031408b1785c\
         ffad7c6a7f158638a3a09a09844727b84708f7360d3332c8908f60543023527f9124c7199daf2d590af1d7018b914094\
         f3f7b12c7d84561cd9443377d8ee90bf224f360295f5007801358b011ef713df852388ec133784af7236bd96f1d4ad77\
         b1d08670a3457d4b84ebbfb9943c95d62d0c7e66a4f4d8da558a591590a5c2a0d63c1719d3d0f3d8fa08c1aecbffc628\
         a8cace1f9b3687fa3c77515bbd8e219aff123e72d519d23b475945a50c936a1c09552e74ea416eb5f7346158044fd4de\
         221c50973ccad17bc795d94ded8b95a967a1ddbee391292ee384ee0aea376dea313ba190e6a4ffedfe9257804ce865ac\
         cb5ae693575fb640385c78fe29c2e5df94934ab3e685fa69a689c84cec52dd937884ec262d523d06b0988669cac0d323\
         071082b83a7d0cb95fa6c39f981ca0c478ae250e643fb7b3e08d237ceddbf902e176537be39fc5e34cbe42796344a2b9\
         23d74269a91bb4f701d098df9e4b7e7fa05036f3897ccdb4591da3529555a640",
    },
];

#[test]
fn modp_public_values_and_shared_secrets_match_openssl() {
    for (kat, g) in OPENSSL_KATS.iter().zip(groups()) {
        assert_eq!(u32::from(kat.group), g.public_len() as u32 * 8);
        let x = unhex(kat.x);
        let kx = g.start(&Fixed(Mutex::new(vec![x]))).unwrap();
        assert_eq!(hex::encode(kx.public_value()), kat.y, "{:?}: g^x", g.id());
        let z = kx.complete(&unhex(kat.peer_y)).unwrap();
        assert_eq!(hex::encode(z.secret_bytes()), kat.z, "{:?}: g^xy", g.id());
    }
}

#[test]
fn modp_rejects_out_of_range_and_wrong_length_peer_values() {
    for g in groups() {
        let len = g.public_len();
        let p = prime_of(g.id());
        let one = add_small(&vec![0; len], 1);
        let rejected = [
            ("0", vec![0u8; len]),
            ("1", one.clone()),
            ("p-1", add_small(&p, -1)),
            ("p", p.clone()),
            ("p+1", add_small(&p, 1)),
            ("2^n-1", vec![0xff; len]),
        ];
        let rng = HmacDrbg::from_u64(7);
        for (what, value) in rejected {
            let kx = g.start(&rng).unwrap();
            assert_eq!(
                kx.complete(&value).map(|_| ()),
                Err(CryptoError::KePublicValueInvalid {
                    group: g.id().0,
                    reason: KeRejection::OutOfRange
                }),
                "{:?}: {what}",
                g.id()
            );
        }
        for wrong in [0, 1, len - 1, len + 1, 2 * len] {
            let kx = g.start(&rng).unwrap();
            let err = kx.complete(&vec![2; wrong]).map(|_| ()).unwrap_err();
            assert_eq!(
                err,
                CryptoError::KePublicValueLength {
                    group: g.id().0,
                    expected: len,
                    actual: wrong
                }
            );
            assert_eq!(err.blame(), ike::crypto::Blame::Peer);
        }
        // The edges of the valid range are accepted: 2 and p-2.
        for value in [add_small(&one, 1), add_small(&p, -2)] {
            let kx = g.start(&rng).unwrap();
            let z = kx.complete(&value).unwrap();
            assert_eq!(z.secret_bytes().len(), len);
        }
    }
}

#[test]
fn modp_never_draws_a_zero_exponent() {
    // A generator that returns zeros first, then a real exponent: the zero
    // draw is refused and the next one used.
    let mut x = vec![0u8; 32];
    x[31] = 1;
    let kx = MODP_2048
        .start(&Fixed(Mutex::new(vec![vec![0; 32], x])))
        .unwrap();
    // x = 1: the public value is the generator, 2, left-padded.
    let mut two = vec![0u8; 256];
    two[255] = 2;
    assert_eq!(kx.public_value(), &two[..]);
    // Only zeros: key generation fails instead of using x = 0.
    assert!(MODP_2048
        .start(&Fixed(Mutex::new(vec![vec![0; 32]; 4])))
        .is_err());
    assert_eq!(MODP_2048.exponent_bits(), 256);
    assert_eq!(MODP_3072.exponent_bits(), 320);
    assert_eq!(MODP_4096.exponent_bits(), 384);
}

// --------------------------------------------- the real strongSwan run ----

/// Parsed `name = hex` lines of a vector file.
fn key_file(file: &str) -> HashMap<String, String> {
    let text = std::fs::read_to_string(vector_path(file)).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let (k, v) = l.split_once('=').unwrap();
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

/// The payload types strongSwan logged for each message, in capture order:
/// `[ IDi N(INIT_CONTACT) IDr ]` becomes `["IDi", "N", "IDr"]`.
fn logged_payloads(file: &str) -> Vec<(String, Vec<String>)> {
    let text = std::fs::read_to_string(vector_path(file)).unwrap();
    text.lines()
        .filter(|l| l.starts_with('<'))
        .map(|l| {
            let open = l.find('[').unwrap();
            let close = l.rfind(']').unwrap();
            let exchange = l.split_whitespace().nth(2).unwrap().to_owned();
            let types = l[open + 1..close]
                .split_whitespace()
                .map(|t| t.split('(').next().unwrap().to_owned())
                .collect();
            (exchange, types)
        })
        .collect()
}

/// Every encrypted message of the strongSwan AES_CBC_256 /
/// HMAC_SHA2_256_128 / PRF_HMAC_SHA2_256 / MODP_2048 run opens with our CBC
/// SK ciphers, keyed through the native-client provider's suite from the
/// run's g^ir and nonces (the keys also equal strongSwan's logged SK_e/SK_a),
/// and each decrypted payload chain parses with `ike::wire` into exactly the
/// payloads strongSwan logged for that message.
#[test]
fn strongswan_cbc_messages_decrypt_and_their_payloads_parse() {
    let keys = key_file("strongswan-psk-cbc-keys.txt");
    assert_eq!(
        keys["ike_proposal"],
        "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"
    );
    let provider = native_client_provider();
    let suite = provider
        .ike_suite(
            EncrId::AES_CBC,
            Some(256),
            PrfId::PRF_HMAC_SHA2_256,
            Some(IntegId::AUTH_HMAC_SHA2_256_128),
            KeMethod::MODP_2048,
        )
        .unwrap();
    // The whole chain from the MODP_2048 g^ir: SKEYSEED and SK_* with this
    // suite's key lengths (RFC 7296 §2.14), then per-direction SK ciphers
    // as the original initiator sees them.
    let k = |n: &str| unhex(&keys[n]);
    let spi = |n: &str| -> [u8; 8] { k(n).try_into().unwrap() };
    let (ni, nr) = (k("ni"), k("nr"));
    let seed = skeyseed(suite.prf, &ni, &nr, &SharedSecret::from_slice(&k("g_ir"))).unwrap();
    let derived = derive_ike_sa_keys(
        suite.prf,
        &seed,
        &ni,
        &nr,
        &spi("spi_i"),
        &spi("spi_r"),
        suite.key_lengths(),
    )
    .unwrap();
    for (name, key) in [
        ("sk_ei", &derived.sk_ei),
        ("sk_er", &derived.sk_er),
        ("sk_ai", &derived.sk_ai),
        ("sk_ar", &derived.sk_ar),
    ] {
        assert_eq!(hex::encode(key.secret_bytes()), keys[name], "{name}");
    }
    let sk = SkKeys::new(suite.cipher, suite.integ, &derived, true).unwrap();
    let (to_r, to_i) = (sk.outbound(), sk.inbound());

    let pcap = std::fs::read(vector_path("strongswan-psk-cbc.pcap")).unwrap();
    let messages: Vec<Vec<u8>> = udp_datagrams(&pcap)
        .unwrap()
        .iter()
        .filter_map(|d| d.ike_message().map(<[u8]>::to_vec))
        .collect();
    let logged = logged_payloads("strongswan-psk-cbc-payloads.txt");
    assert_eq!(messages.len(), logged.len(), "one log line per message");

    let mut opened = 0;
    for (mut m, (exchange, expected)) in messages.into_iter().zip(logged) {
        let outer = Message::parse(&m).unwrap();
        assert_eq!(outer.header.exchange.to_string(), exchange);
        if outer.header.exchange == ExchangeType::IKE_SA_INIT {
            continue;
        }
        let [Payload::Sk(sk)] = &outer.payloads[..] else {
            panic!("{exchange}: expected one SK payload");
        };
        let cipher = if outer.header.initiator { to_r } else { to_i };
        // The SK body follows the 28-byte header and 4-byte generic header.
        let range =
            open_sk(cipher, &mut m, 32).unwrap_or_else(|e| panic!("{exchange} did not open: {e}"));
        let inner = parse_payloads(sk.next_inner, &m[range]).unwrap();
        let types: Vec<String> = inner.iter().map(|p| p.payload_type().to_string()).collect();
        assert_eq!(types, expected, "{exchange}: decrypted payload chain");
        opened += 1;
    }
    assert_eq!(opened, 4, "IKE_AUTH ×2 and INFORMATIONAL ×2");
}

/// strongSwan's MODP_2048 KE values pass our peer-value check, our own
/// exchange against them yields 256 bytes, and strongSwan's logged g^ir is
/// 256 bytes in [2, p-2]: the left-padding convention of RFC 7296 §2.14 that
/// SKEYSEED (checked in crypto_strongswan.rs) depends on.
#[test]
fn strongswan_modp_2048_values_fit_our_group() {
    let keys = key_file("strongswan-psk-cbc-keys.txt");
    let g_ir = unhex(&keys["g_ir"]);
    assert_eq!(g_ir.len(), MODP_2048.public_len());
    let p = MODP_2048.prime_bytes();
    assert!(g_ir < add_small(&p, -1) && g_ir > add_small(&vec![0; 256], 1));

    let pcap = std::fs::read(vector_path("strongswan-psk-cbc.pcap")).unwrap();
    let mut seen = 0;
    for d in udp_datagrams(&pcap).unwrap() {
        let Some(m) = d.ike_message() else { continue };
        let m = Message::parse(m).unwrap();
        for ke in m.payloads.iter().filter_map(|p| match p {
            Payload::Ke(ke) => Some(ke),
            _ => None,
        }) {
            assert_eq!(ke.method, KeMethod::MODP_2048);
            assert_eq!(ke.data.len(), 256);
            let ours = MODP_2048.start(&HmacDrbg::from_u64(seen)).unwrap();
            let z = ours.complete(&ke.data).unwrap();
            assert_eq!(z.secret_bytes().len(), 256);
            seen += 1;
        }
    }
    assert_eq!(seen, 2, "KEi and KEr");
}
