//! The production algorithms, implemented with *ring*.
//!
//! PRF_HMAC_SHA2_* (RFC 4868 §2.1.2), AUTH_HMAC_SHA2_* (RFC 4868 §2.1.1),
//! AES-GCM-16 with 128- and 256-bit keys (RFC 5282), ChaCha20-Poly1305
//! (RFC 7634), and the key exchanges ECP_256 / ECP_384 (RFC 5903) and
//! CURVE_25519 (RFC 8031). *ring* has no AES-CBC and no MODP groups; those
//! come from another crate through the same traits.
//!
//! *ring* does not zeroize its own key objects (`LessSafeKey`, `hmac::Key`,
//! `EphemeralPrivateKey`); they are built from our zeroizing bytes as late as
//! possible and dropped as soon as the operation ends (STYLE.md §6).

use ring::{aead, agreement, hmac};
use zeroize::Zeroizing;

use super::{
    ActiveKeyExchange, CipherShape, CryptoError, EncrId, Integ, IntegId, KeMethod, KeRejection,
    KeyExchangeGroup, Prf, PrfId, Random, SecretBytes, SharedSecret, SkCipher, SkCipherAlgorithm,
};

// ---------------------------------------------------------------- PRF ----

/// An HMAC-SHA2 PRF (RFC 4868 §2.1.2): any key length, output and preferred
/// key length equal to the hash length.
pub struct RingHmacPrf {
    id: PrfId,
    alg: &'static hmac::Algorithm,
    len: usize,
}

/// PRF_HMAC_SHA2_256 (transform 5): 32-byte output and key.
pub static PRF_HMAC_SHA2_256: RingHmacPrf = RingHmacPrf {
    id: PrfId::PRF_HMAC_SHA2_256,
    alg: &hmac::HMAC_SHA256,
    len: 32,
};
/// PRF_HMAC_SHA2_384 (transform 6): 48-byte output and key.
pub static PRF_HMAC_SHA2_384: RingHmacPrf = RingHmacPrf {
    id: PrfId::PRF_HMAC_SHA2_384,
    alg: &hmac::HMAC_SHA384,
    len: 48,
};
/// PRF_HMAC_SHA2_512 (transform 7): 64-byte output and key.
pub static PRF_HMAC_SHA2_512: RingHmacPrf = RingHmacPrf {
    id: PrfId::PRF_HMAC_SHA2_512,
    alg: &hmac::HMAC_SHA512,
    len: 64,
};

fn hmac_into(
    alg: hmac::Algorithm,
    key: &[u8],
    data: &[&[u8]],
    out: &mut [u8],
) -> Result<(), CryptoError> {
    let key = hmac::Key::new(alg, key);
    let mut ctx = hmac::Context::with_key(&key);
    for d in data {
        ctx.update(d);
    }
    let tag = ctx.sign();
    let tag = tag.as_ref();
    let src = tag.get(..out.len()).ok_or(CryptoError::BadLength {
        what: "HMAC output buffer",
        expected: tag.len(),
        actual: out.len(),
    })?;
    out.copy_from_slice(src);
    Ok(())
}

/// PRF_HMAC_SHA1 (transform 2, RFC 2104 / RFC 7296 §3.3.2): 20-byte output
/// and key. Only for old peers that offer nothing better; never proposed by
/// default (SHA-1 is kept for its HMAC use only, RFC 8247 §2.3).
pub static PRF_HMAC_SHA1: RingHmacPrf = RingHmacPrf {
    id: PrfId::PRF_HMAC_SHA1,
    alg: &hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
    len: 20,
};

impl Prf for RingHmacPrf {
    fn id(&self) -> PrfId {
        self.id
    }
    fn output_len(&self) -> usize {
        self.len
    }
    fn key_len(&self) -> usize {
        self.len
    }
    fn compute(&self, key: &[u8], data: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError> {
        if out.len() != self.len {
            return Err(CryptoError::BadLength {
                what: "PRF output buffer",
                expected: self.len,
                actual: out.len(),
            });
        }
        hmac_into(*self.alg, key, data, out)
    }
}

// -------------------------------------------------------------- INTEG ----

/// An HMAC-SHA2 integrity transform truncated to half the hash
/// (RFC 4868 §2.1.1, §2.3): key = hash length, ICV = half of it.
pub struct RingHmacInteg {
    id: IntegId,
    alg: &'static hmac::Algorithm,
    key_len: usize,
    icv_len: usize,
}

/// AUTH_HMAC_SHA2_256_128 (transform 12): 32-byte key, 16-byte ICV.
pub static AUTH_HMAC_SHA2_256_128: RingHmacInteg = RingHmacInteg {
    id: IntegId::AUTH_HMAC_SHA2_256_128,
    alg: &hmac::HMAC_SHA256,
    key_len: 32,
    icv_len: 16,
};
/// AUTH_HMAC_SHA2_384_192 (transform 13): 48-byte key, 24-byte ICV.
pub static AUTH_HMAC_SHA2_384_192: RingHmacInteg = RingHmacInteg {
    id: IntegId::AUTH_HMAC_SHA2_384_192,
    alg: &hmac::HMAC_SHA384,
    key_len: 48,
    icv_len: 24,
};
/// AUTH_HMAC_SHA2_512_256 (transform 14): 64-byte key, 32-byte ICV.
pub static AUTH_HMAC_SHA2_512_256: RingHmacInteg = RingHmacInteg {
    id: IntegId::AUTH_HMAC_SHA2_512_256,
    alg: &hmac::HMAC_SHA512,
    key_len: 64,
    icv_len: 32,
};

/// AUTH_HMAC_SHA1_96 (transform 2, RFC 2404): 20-byte key, 12-byte ICV.
/// For old peers only; RFC 8247 §3.3 keeps it as MUST- for IKE.
pub static AUTH_HMAC_SHA1_96: RingHmacInteg = RingHmacInteg {
    id: IntegId::AUTH_HMAC_SHA1_96,
    alg: &hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
    key_len: 20,
    icv_len: 12,
};

impl Integ for RingHmacInteg {
    fn id(&self) -> IntegId {
        self.id
    }
    fn key_len(&self) -> usize {
        self.key_len
    }
    fn icv_len(&self) -> usize {
        self.icv_len
    }
    fn compute(&self, key: &[u8], data: &[&[u8]], icv: &mut [u8]) -> Result<(), CryptoError> {
        // RFC 4868 §2.1.1: the key is exactly the hash length.
        if key.len() != self.key_len {
            return Err(CryptoError::BadLength {
                what: "integrity key",
                expected: self.key_len,
                actual: key.len(),
            });
        }
        if icv.len() != self.icv_len {
            return Err(CryptoError::BadLength {
                what: "ICV buffer",
                expected: self.icv_len,
                actual: icv.len(),
            });
        }
        hmac_into(*self.alg, key, data, icv)
    }
}

// --------------------------------------------------------------- AEAD ----

/// Explicit IV length of AES-GCM and ChaCha20-Poly1305 in IKE (RFC 5282 §3,
/// RFC 7634 §2).
const AEAD_IV_LEN: usize = 8;
/// Salt taken from the end of SK_e (RFC 5282 §7.1, RFC 7634 §3).
const AEAD_SALT_LEN: usize = 4;
/// Tag length of the "_16" variants and of Poly1305.
const AEAD_TAG_LEN: usize = 16;

/// An AEAD ENCR transform: AES-GCM with a 16-octet ICV (RFC 5282) or
/// ChaCha20-Poly1305 (RFC 7634).
pub struct RingAeadAlgorithm {
    id: EncrId,
    key_bits: Option<u16>,
    alg: &'static aead::Algorithm,
    key_len: usize,
}

/// ENCR_AES_GCM_16 with a 128-bit key: SK_e is 16 + 4 bytes.
pub static AES_128_GCM_16: RingAeadAlgorithm = RingAeadAlgorithm {
    id: EncrId::AES_GCM_16,
    key_bits: Some(128),
    alg: &aead::AES_128_GCM,
    key_len: 16,
};
/// ENCR_AES_GCM_16 with a 256-bit key: SK_e is 32 + 4 bytes.
pub static AES_256_GCM_16: RingAeadAlgorithm = RingAeadAlgorithm {
    id: EncrId::AES_GCM_16,
    key_bits: Some(256),
    alg: &aead::AES_256_GCM,
    key_len: 32,
};
/// ENCR_CHACHA20_POLY1305 (no Key Length attribute, RFC 7634 §4):
/// SK_e is 32 + 4 bytes.
pub static CHACHA20_POLY1305: RingAeadAlgorithm = RingAeadAlgorithm {
    id: EncrId::CHACHA20_POLY1305,
    key_bits: None,
    alg: &aead::CHACHA20_POLY1305,
    key_len: 32,
};

impl SkCipherAlgorithm for RingAeadAlgorithm {
    fn id(&self) -> EncrId {
        self.id
    }
    fn key_bits(&self) -> Option<u16> {
        self.key_bits
    }
    fn shape(&self) -> CipherShape {
        CipherShape::Aead
    }
    fn encr_key_len(&self) -> usize {
        self.key_len + AEAD_SALT_LEN
    }
    fn new_cipher(
        &self,
        sk_e: &[u8],
        integ: Option<(&'static dyn Integ, &[u8])>,
    ) -> Result<Box<dyn SkCipher>, CryptoError> {
        if integ.is_some() {
            // RFC 5282 §8: an AEAD transform takes no INTEG transform.
            return Err(CryptoError::Layout("AEAD cipher given an INTEG transform"));
        }
        let (key, salt) = sk_e
            .split_at_checked(self.key_len)
            .filter(|(_, s)| s.len() == AEAD_SALT_LEN)
            .ok_or(CryptoError::BadLength {
                what: "SK_e",
                expected: self.encr_key_len(),
                actual: sk_e.len(),
            })?;
        let key = aead::UnboundKey::new(self.alg, key)
            .map_err(|_| CryptoError::Backend("AEAD key setup"))?;
        let mut s = [0u8; AEAD_SALT_LEN];
        s.copy_from_slice(salt);
        Ok(Box::new(RingAead {
            key: aead::LessSafeKey::new(key),
            salt: Zeroizing::new(s),
        }))
    }
}

struct RingAead {
    key: aead::LessSafeKey,
    salt: Zeroizing<[u8; AEAD_SALT_LEN]>,
}

impl RingAead {
    /// Nonce = salt | explicit IV (RFC 5282 §4, RFC 7634 §2).
    fn nonce(&self, iv: &[u8]) -> Result<aead::Nonce, CryptoError> {
        if iv.len() != AEAD_IV_LEN {
            return Err(CryptoError::BadLength {
                what: "IV",
                expected: AEAD_IV_LEN,
                actual: iv.len(),
            });
        }
        let mut n = [0u8; aead::NONCE_LEN];
        let (s, i) = n.split_at_mut(AEAD_SALT_LEN);
        s.copy_from_slice(self.salt.as_ref());
        i.copy_from_slice(iv);
        Ok(aead::Nonce::assume_unique_for_key(n))
    }
}

impl SkCipher for RingAead {
    fn iv_len(&self) -> usize {
        AEAD_IV_LEN
    }
    fn icv_len(&self) -> usize {
        AEAD_TAG_LEN
    }
    fn block_len(&self) -> usize {
        // Stream-like: no alignment needed, so no padding beyond Pad Length.
        1
    }
    fn seal_in_place(
        &self,
        aad: &[u8],
        iv: &[u8],
        buf: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        if icv.len() != AEAD_TAG_LEN {
            return Err(CryptoError::BadLength {
                what: "ICV buffer",
                expected: AEAD_TAG_LEN,
                actual: icv.len(),
            });
        }
        let nonce = self.nonce(iv)?;
        let tag = self
            .key
            .seal_in_place_separate_tag(nonce, aead::Aad::from(aad), buf)
            .map_err(|_| CryptoError::Backend("AEAD seal"))?;
        icv.copy_from_slice(tag.as_ref());
        Ok(())
    }
    fn open_in_place(
        &self,
        aad: &[u8],
        iv: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        let nonce = self.nonce(iv)?;
        let tag = aead::Tag::try_from(icv).map_err(|_| CryptoError::BadLength {
            what: "ICV",
            expected: AEAD_TAG_LEN,
            actual: icv.len(),
        })?;
        self.key
            .open_in_place_separate_tag(nonce, aead::Aad::from(aad), tag, buf, 0..)
            .map_err(|_| CryptoError::IntegrityCheckFailed)?;
        Ok(())
    }
}

// ----------------------------------------------------------------- KE ----

/// An elliptic-curve key exchange from *ring*: ECP_256, ECP_384 or
/// CURVE_25519.
#[derive(Clone, Copy)]
pub struct RingKxGroup {
    id: KeMethod,
    alg: &'static agreement::Algorithm,
    /// Private scalar length *ring* draws from its RNG.
    scalar_len: usize,
    /// KE payload data length.
    public_len: usize,
    /// True for the RFC 5903 encodings (x | y, no 0x04 prefix).
    ecp: bool,
}

/// ECP_256 (group 19, RFC 5903): KE data is x | y, 64 bytes.
pub static ECP_256: RingKxGroup = RingKxGroup {
    id: KeMethod::ECP_256,
    alg: &agreement::ECDH_P256,
    scalar_len: 32,
    public_len: 64,
    ecp: true,
};
/// ECP_384 (group 20, RFC 5903): KE data is x | y, 96 bytes.
pub static ECP_384: RingKxGroup = RingKxGroup {
    id: KeMethod::ECP_384,
    alg: &agreement::ECDH_P384,
    scalar_len: 48,
    public_len: 96,
    ecp: true,
};
/// CURVE_25519 (group 31, RFC 8031): KE data is the 32-byte u coordinate.
pub static X25519: RingKxGroup = RingKxGroup {
    id: KeMethod::CURVE_25519,
    alg: &agreement::X25519,
    scalar_len: 32,
    public_len: 32,
    ecp: false,
};

/// Largest private scalar of the groups above.
const MAX_SCALAR_LEN: usize = 48;
/// Draws of a fresh scalar before giving up: for P-256 a draw is out of range
/// with probability about 2^-32, for P-384 and X25519 never in practice.
const KEYGEN_ATTEMPTS: usize = 8;

impl KeyExchangeGroup for RingKxGroup {
    fn id(&self) -> KeMethod {
        self.id
    }
    fn public_len(&self) -> usize {
        self.public_len
    }
    fn start(&self, rng: &dyn Random) -> Result<Box<dyn ActiveKeyExchange>, CryptoError> {
        let mut seed = Zeroizing::new([0u8; MAX_SCALAR_LEN]);
        let seed = seed
            .get_mut(..self.scalar_len)
            .ok_or(CryptoError::Backend("scalar length"))?;
        for _ in 0..KEYGEN_ATTEMPTS {
            rng.fill(seed)?;
            // The private scalar comes from the caller's `Random` so seeded
            // runs are reproducible and RFC vectors can inject fixed keys.
            // *ring* only takes randomness through its sealed `SecureRandom`,
            // whose one public fixed-bytes implementation is this one (kept
            // in ring 0.17 as a deprecated test helper). INVARIANT: *ring*
            // asks it for exactly `scalar_len` bytes for these three curves
            // (ring 0.17 ec::Seed::generate), which is the length given here;
            // the KATs in tests/crypto_kat.rs pin this for every group.
            #[allow(deprecated)]
            let fixed = ring::test::rand::FixedSliceRandom { bytes: seed };
            let Ok(private) = agreement::EphemeralPrivateKey::generate(self.alg, &fixed) else {
                // Out-of-range scalar (P-256/P-384 only): draw again.
                continue;
            };
            let public = private
                .compute_public_key()
                .map_err(|_| CryptoError::Backend("public key computation"))?;
            let public = public.as_ref();
            let encoded = if self.ecp {
                // RFC 5903 §7: x | y without the SEC1 0x04 prefix.
                public
                    .get(1..)
                    .ok_or(CryptoError::Backend("ECP public key"))?
            } else {
                public
            };
            if encoded.len() != self.public_len {
                return Err(CryptoError::Backend("public key length"));
            }
            return Ok(Box::new(RingActiveKx {
                group: *self,
                private,
                public: encoded.to_vec(),
            }));
        }
        Err(CryptoError::Backend("key generation"))
    }
}

struct RingActiveKx {
    group: RingKxGroup,
    private: agreement::EphemeralPrivateKey,
    public: Vec<u8>,
}

impl ActiveKeyExchange for RingActiveKx {
    fn group(&self) -> KeMethod {
        self.group.id
    }
    fn public_value(&self) -> &[u8] {
        &self.public
    }
    fn complete(self: Box<Self>, peer_public: &[u8]) -> Result<SharedSecret, CryptoError> {
        let g = self.group;
        if peer_public.len() != g.public_len {
            return Err(CryptoError::KePublicValueLength {
                group: g.id.0,
                expected: g.public_len,
                actual: peer_public.len(),
            });
        }
        let mut sec1;
        let peer: &[u8] = if g.ecp {
            // *ring* validates SEC1 uncompressed points (on the curve, not
            // the point at infinity, coordinates < p), which is the RFC 5903
            // §7 / SP 800-56A check. Rebuild that form from x | y.
            sec1 = Vec::with_capacity(g.public_len + 1);
            sec1.push(0x04);
            sec1.extend_from_slice(peer_public);
            &sec1
        } else {
            peer_public
        };
        let reason = if g.ecp {
            KeRejection::NotOnCurve
        } else {
            // X25519 accepts any 32 bytes; *ring* fails only when the result
            // is all zeros, which RFC 8031 §2 requires us to reject.
            KeRejection::LowOrderPoint
        };
        let peer_key = agreement::UnparsedPublicKey::new(g.alg, peer);
        let mut out = SecretBytes::zeroed(g.scalar_len);
        let result = agreement::agree_ephemeral(self.private, &peer_key, |z| {
            if z.len() == out.len() {
                out.secret_bytes_mut().copy_from_slice(z);
                true
            } else {
                false
            }
        });
        match result {
            Ok(true) => {}
            Ok(false) => return Err(CryptoError::Backend("shared secret length")),
            Err(_) => {
                return Err(CryptoError::KePublicValueInvalid {
                    group: g.id.0,
                    reason,
                })
            }
        }
        // Belt and braces for RFC 8031 §2: never hand out an all-zero g^ir.
        if out.secret_bytes().iter().all(|&b| b == 0) {
            return Err(CryptoError::KePublicValueInvalid {
                group: g.id.0,
                reason,
            });
        }
        Ok(SharedSecret::new(out))
    }
}
