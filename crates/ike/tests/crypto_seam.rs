//! The provider seam, exercised from outside the crate the way a future
//! AES-CBC / MODP crate will use it.
//!
//! `ToyEtm` is an encrypt-then-MAC SK cipher written here, in another crate,
//! against the public traits only. Its "block cipher" is NOT a cipher (an
//! HMAC keystream cut into 16-byte blocks) and exists only to show that the
//! EtM shape works end to end: provider registration, suite resolution, key
//! lengths with SK_a, per-direction `SkKeys`, block alignment, padding and an
//! ICV over header | IV | ciphertext (RFC 7296 §3.14).

// Test helpers outside #[test] fns are test code too (clippy.toml allows these in tests).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use ike::crypto::{
    derive_ike_sa_keys, open_sk, ring_provider, seal_sk, sk_body_len, skeyseed, ActiveKeyExchange,
    CipherShape, CryptoError, EncrId, HmacDrbg, Integ, IntegId, KeMethod, KeRejection,
    KeyExchangeGroup, PrfId, Random, SecretBytes, SharedSecret, SkCipher, SkCipherAlgorithm,
    SkKeys,
};
use proptest::prelude::*;
use ring::hmac;

const BLOCK: usize = 16;

struct ToyEtmAlgorithm;

static TOY_ETM: ToyEtmAlgorithm = ToyEtmAlgorithm;

impl SkCipherAlgorithm for ToyEtmAlgorithm {
    fn id(&self) -> EncrId {
        EncrId::AES_CBC
    }
    fn key_bits(&self) -> Option<u16> {
        Some(256)
    }
    fn shape(&self) -> CipherShape {
        CipherShape::EncryptThenMac
    }
    fn encr_key_len(&self) -> usize {
        32
    }
    fn new_cipher(
        &self,
        sk_e: &[u8],
        integ: Option<(&'static dyn Integ, &[u8])>,
    ) -> Result<Box<dyn SkCipher>, CryptoError> {
        let (integ, sk_a) = integ.ok_or(CryptoError::Layout("EtM needs INTEG"))?;
        Ok(Box::new(ToyEtm {
            key: sk_e.to_vec(),
            integ,
            sk_a: sk_a.to_vec(),
        }))
    }
}

struct ToyEtm {
    key: Vec<u8>,
    integ: &'static dyn Integ,
    sk_a: Vec<u8>,
}

impl ToyEtm {
    fn xor_stream(&self, iv: &[u8], buf: &mut [u8]) {
        let k = hmac::Key::new(hmac::HMAC_SHA256, &self.key);
        for (i, block) in buf.chunks_mut(BLOCK).enumerate() {
            let pad = hmac::sign(&k, &[iv, &(i as u64).to_be_bytes()].concat());
            for (b, p) in block.iter_mut().zip(pad.as_ref()) {
                *b ^= p;
            }
        }
    }
}

impl SkCipher for ToyEtm {
    fn iv_len(&self) -> usize {
        BLOCK
    }
    fn icv_len(&self) -> usize {
        self.integ.icv_len()
    }
    fn block_len(&self) -> usize {
        BLOCK
    }
    fn seal_in_place(
        &self,
        aad: &[u8],
        iv: &[u8],
        buf: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        assert_eq!(buf.len() % BLOCK, 0, "seal_sk pads to the block");
        self.xor_stream(iv, buf);
        self.integ.compute(&self.sk_a, &[aad, iv, buf], icv)
    }
    fn open_in_place(
        &self,
        aad: &[u8],
        iv: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        // Encrypt-then-MAC: check before decrypting.
        self.integ.verify(&self.sk_a, &[aad, iv, buf], icv)?;
        self.xor_stream(iv, buf);
        Ok(())
    }
}

fn toy_keys(seed: u64) -> (SkKeys, SkKeys, &'static dyn Integ) {
    let mut provider = ring_provider();
    provider.ciphers.push(&TOY_ETM);
    let suite = provider
        .ike_suite(
            EncrId::AES_CBC,
            Some(256),
            PrfId::PRF_HMAC_SHA2_256,
            Some(IntegId::AUTH_HMAC_SHA2_256_128),
            KeMethod::CURVE_25519,
        )
        .unwrap();
    let lengths = suite.key_lengths();
    assert_eq!(
        (lengths.prf_key, lengths.integ_key, lengths.encr_key),
        (32, 32, 32)
    );
    let rng = HmacDrbg::from_u64(seed);
    let mut ni = [0u8; 32];
    let mut nr = [0u8; 32];
    rng.fill(&mut ni).unwrap();
    rng.fill(&mut nr).unwrap();
    let seed = skeyseed(suite.prf, &ni, &nr, &SharedSecret::from_slice(&[9; 32])).unwrap();
    let keys = derive_ike_sa_keys(suite.prf, &seed, &ni, &nr, &[1; 8], &[2; 8], lengths).unwrap();
    assert_eq!(keys.sk_ai.len(), 32);
    let integ = suite.integ.unwrap();
    (
        SkKeys::new(suite.cipher, suite.integ, &keys, true).unwrap(),
        SkKeys::new(suite.cipher, suite.integ, &keys, false).unwrap(),
        integ,
    )
}

#[test]
fn provider_without_the_crate_rejects_cbc_and_resolves_it_once_registered() {
    let provider = ring_provider();
    assert!(provider.cipher(EncrId::AES_CBC, Some(256)).is_err());
    let mut extended = ring_provider();
    extended.ciphers.push(&TOY_ETM);
    assert!(extended.cipher(EncrId::AES_CBC, Some(256)).is_ok());
    // EtM without INTEG is refused (RFC 7296 §3.3.3).
    assert!(extended
        .ike_suite(
            EncrId::AES_CBC,
            Some(256),
            PrfId::PRF_HMAC_SHA2_256,
            None,
            KeMethod::CURVE_25519
        )
        .is_err());
}

#[test]
fn encrypt_then_mac_cipher_plugs_into_sk_protection() {
    let (initiator, responder, integ) = toy_keys(1);
    let inner = b"IDi AUTH SA TSi TSr, pretend".to_vec();
    let c = initiator.outbound();
    let body_len = sk_body_len(c, inner.len()).unwrap();
    // IV 16 + 28 inner + 3 pad + 1 pad-length + ICV 16.
    assert_eq!(body_len, 16 + 32 + 16);
    let mut msg = vec![0x33u8; 32];
    msg.resize(32 + body_len, 0);
    msg[32 + 16..32 + 16 + inner.len()].copy_from_slice(&inner);
    seal_sk(c, &mut msg, 32, inner.len(), &[0x44; 16]).unwrap();

    // The ICV is the INTEG over everything before it (RFC 7296 §3.14).
    let (data, icv) = msg.split_at(msg.len() - 16);
    integ
        .verify(&initiator_sk_ai(), &[data], icv)
        .expect("ICV covers header | IV | ciphertext");

    // The responder opens it with its inbound cipher; the initiator's own
    // inbound cipher (SK_er/SK_ar) does not.
    let mut copy = msg.clone();
    let r = open_sk(responder.inbound(), &mut copy, 32).unwrap();
    assert_eq!(&copy[r], &inner[..]);
    let mut copy = msg.clone();
    assert_eq!(
        open_sk(initiator.inbound(), &mut copy, 32).unwrap_err(),
        CryptoError::IntegrityCheckFailed
    );
    // A ciphertext that is not whole blocks is refused before the ICV check.
    let mut short = msg[..msg.len() - 1].to_vec();
    assert_eq!(
        open_sk(responder.inbound(), &mut short, 32).unwrap_err(),
        CryptoError::SkNotBlockAligned { len: 31, block: 16 }
    );
}

/// SK_ai of `toy_keys(1)`, recomputed through the public derivation API.
fn initiator_sk_ai() -> Vec<u8> {
    let provider = ring_provider();
    let prf = provider.prf(PrfId::PRF_HMAC_SHA2_256).unwrap();
    let rng = HmacDrbg::from_u64(1);
    let mut ni = [0u8; 32];
    let mut nr = [0u8; 32];
    rng.fill(&mut ni).unwrap();
    rng.fill(&mut nr).unwrap();
    let seed = skeyseed(prf, &ni, &nr, &SharedSecret::from_slice(&[9; 32])).unwrap();
    let lengths = ike::crypto::IkeKeyLengths {
        prf_key: 32,
        integ_key: 32,
        encr_key: 32,
    };
    let keys = derive_ike_sa_keys(prf, &seed, &ni, &nr, &[1; 8], &[2; 8], lengths).unwrap();
    keys.sk_ai.secret_bytes().to_vec()
}

/// A toy finite-field Diffie-Hellman group standing where a MODP crate's
/// group will stand (RFC 3526 groups are 2048+ bits; this is 61 bits and
/// worthless for security). It shows `KeyExchangeGroup` / `complete` work
/// from outside the crate, including the RFC 8247 §2.4 style range check.
struct ToyModp;

static TOY_MODP: ToyModp = ToyModp;

const P: u128 = (1 << 61) - 1;

fn pow_mod(mut b: u128, mut e: u128) -> u128 {
    let mut r = 1;
    b %= P;
    while e > 0 {
        if e & 1 == 1 {
            r = r * b % P;
        }
        b = b * b % P;
        e >>= 1;
    }
    r
}

struct ToyModpKx {
    x: u128,
    public: Vec<u8>,
}

impl KeyExchangeGroup for ToyModp {
    fn id(&self) -> KeMethod {
        KeMethod::MODP_2048
    }
    fn public_len(&self) -> usize {
        8
    }
    fn start(&self, rng: &dyn Random) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let mut b = [0u8; 8];
        rng.fill(&mut b)?;
        let x = u128::from(u64::from_be_bytes(b)) % (P - 2) + 1;
        let y = u64::try_from(pow_mod(3, x)).unwrap();
        Ok(Box::new(ToyModpKx {
            x,
            public: y.to_be_bytes().to_vec(),
        }))
    }
}

impl ActiveKeyExchange for ToyModpKx {
    fn group(&self) -> KeMethod {
        KeMethod::MODP_2048
    }
    fn public_value(&self) -> &[u8] {
        &self.public
    }
    fn complete(self: Box<Self>, peer: &[u8]) -> Result<SharedSecret, CryptoError> {
        let bytes: [u8; 8] = peer
            .try_into()
            .map_err(|_| CryptoError::KePublicValueLength {
                group: 14,
                expected: 8,
                actual: peer.len(),
            })?;
        let y = u128::from(u64::from_be_bytes(bytes));
        if y <= 1 || y >= P - 1 {
            return Err(CryptoError::KePublicValueInvalid {
                group: 14,
                reason: KeRejection::OutOfRange,
            });
        }
        let z = u64::try_from(pow_mod(y, self.x)).unwrap();
        Ok(SharedSecret::new(SecretBytes::from_slice(&z.to_be_bytes())))
    }
}

#[test]
fn external_key_exchange_group_plugs_into_the_provider() {
    let mut provider = ring_provider();
    assert!(provider.group(KeMethod::MODP_2048).is_err());
    provider.groups.push(&TOY_MODP);
    let g = provider.group(KeMethod::MODP_2048).unwrap();
    let a = g.start(&HmacDrbg::from_u64(1)).unwrap();
    let b = g.start(&HmacDrbg::from_u64(2)).unwrap();
    let (pa, pb) = (a.public_value().to_vec(), b.public_value().to_vec());
    assert_eq!(
        a.complete(&pb).unwrap().secret_bytes(),
        b.complete(&pa).unwrap().secret_bytes()
    );
    let c = g.start(&HmacDrbg::from_u64(3)).unwrap();
    assert_eq!(
        c.complete(&1u64.to_be_bytes()).unwrap_err(),
        CryptoError::KePublicValueInvalid {
            group: 14,
            reason: KeRejection::OutOfRange
        }
    );
}

proptest! {
    /// Seal then open returns the inner payloads for any length, with both
    /// cipher shapes, and any single corrupted byte is caught.
    #[test]
    fn seal_open_round_trip_any_length(
        inner in proptest::collection::vec(any::<u8>(), 0..600),
        flip in any::<prop::sample::Index>(),
        aead in any::<bool>(),
    ) {
        let (aead_keys, etm_keys);
        let (tx, rx): (&dyn SkCipher, &dyn SkCipher) = if aead {
            let alg = ring_provider().cipher(EncrId::AES_GCM_16, Some(128)).unwrap();
            let k = alg.new_cipher(&[7; 20], None).unwrap();
            let k2 = alg.new_cipher(&[7; 20], None).unwrap();
            aead_keys = (k, k2);
            (aead_keys.0.as_ref(), aead_keys.1.as_ref())
        } else {
            etm_keys = toy_keys(5);
            (etm_keys.0.outbound(), etm_keys.1.inbound())
        };
        let body = sk_body_len(tx, inner.len()).unwrap();
        let mut msg = vec![0u8; 32 + body];
        let iv = vec![0x5a; tx.iv_len()];
        msg[32 + iv.len()..32 + iv.len() + inner.len()].copy_from_slice(&inner);
        seal_sk(tx, &mut msg, 32, inner.len(), &iv).unwrap();
        let sealed = msg.clone();
        let r = open_sk(rx, &mut msg, 32).unwrap();
        prop_assert_eq!(&msg[r], &inner[..]);
        let mut bad = sealed;
        let i = flip.index(bad.len());
        bad[i] ^= 0x20;
        prop_assert!(open_sk(rx, &mut bad, 32).is_err());
    }

    /// Arbitrary bytes as an SK body never panic `open_sk`.
    #[test]
    fn open_sk_never_panics(
        msg in proptest::collection::vec(any::<u8>(), 0..200),
        start in 0usize..220,
    ) {
        let alg = ring_provider().cipher(EncrId::CHACHA20_POLY1305, None).unwrap();
        let c = alg.new_cipher(&[1; 36], None).unwrap();
        let mut m = msg.clone();
        prop_assert!(open_sk(c.as_ref(), &mut m, start).is_err());
        let (etm, _, _) = toy_keys(3);
        let mut m = msg;
        prop_assert!(open_sk(etm.inbound(), &mut m, start).is_err());
    }
}
