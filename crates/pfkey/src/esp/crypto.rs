//! ESP transforms: AES-GCM-16 (RFC 4106) through ring, AES-CBC (RFC 3602)
//! through RustCrypto `aes` + `cbc` (ring has no CBC), with HMAC-SHA1-96
//! (RFC 2404) or HMAC-SHA2 (RFC 4868) through ring, encrypt-then-MAC.
//!
//! Every function works on a whole ESP packet laid out as
//! `SPI | seq | IV | ciphertext | ICV` in one caller-owned slice; nothing
//! allocates. Key objects are built once per SA from zeroizing bytes. ring's
//! own key objects are not zeroized on drop (a documented ring limitation);
//! the AES key schedules of RustCrypto are (`zeroize` feature).

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockDecryptMut, BlockEncrypt, BlockEncryptMut, InnerIvInit, KeyInit};
use ring::{aead, hmac};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

use super::error::ConfigError;
use super::{EncryptionAlgorithm, EspKey, IntegrityAlgorithm, ESP_HEADER_LEN};

/// AES block size (FIPS 197).
pub(crate) const AES_BLOCK: usize = 16;
/// RFC 4106 §3: the explicit IV is 8 bytes.
const GCM_IV_LEN: usize = 8;
/// RFC 4106 §8.1: 4 bytes of salt follow the AES key in the keying material.
const GCM_SALT_LEN: usize = 4;
/// We only offer the 16-byte ICV variant (RFC 4106 §6, "AES-GCM-16").
const GCM_ICV_LEN: usize = 16;
/// RFC 4303 §2.4: the ciphertext ends 4-byte aligned even for stream-like modes.
const ESP_ALIGN: usize = 4;

/// Sizes a transform imposes on the packet layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Layout {
    pub(crate) iv_len: usize,
    pub(crate) icv_len: usize,
    /// Ciphertext alignment: padding makes payload + trailer a multiple.
    pub(crate) align: usize,
}

impl Layout {
    /// Shortest valid ciphertext: the 2-byte trailer padded to `align`.
    pub(crate) fn min_ciphertext(&self) -> usize {
        self.align.max(2)
    }
}

pub(crate) struct Gcm {
    key: aead::LessSafeKey,
    salt: Zeroizing<[u8; GCM_SALT_LEN]>,
}

impl Gcm {
    fn new(alg: EncryptionAlgorithm, keymat: &EspKey) -> Result<Self, ConfigError> {
        let (ring_alg, key_len) = match alg {
            EncryptionAlgorithm::AesGcm16_128 => (&aead::AES_128_GCM, 16),
            EncryptionAlgorithm::AesGcm16_256 => (&aead::AES_256_GCM, 32),
            _ => return Err(ConfigError::UnexpectedIntegrity),
        };
        let expected = key_len + GCM_SALT_LEN;
        let bytes = keymat.secret_bytes();
        let (key, salt) = bytes
            .split_at_checked(key_len)
            .filter(|(_, s)| s.len() == GCM_SALT_LEN)
            .ok_or(ConfigError::KeyLength {
                what: "AES-GCM encryption",
                len: bytes.len(),
                expected,
            })?;
        let unbound = aead::UnboundKey::new(ring_alg, key).map_err(|_| ConfigError::KeyLength {
            what: "AES-GCM encryption",
            len: bytes.len(),
            expected,
        })?;
        let mut s = Zeroizing::new([0u8; GCM_SALT_LEN]);
        s.copy_from_slice(salt);
        Ok(Self {
            key: aead::LessSafeKey::new(unbound),
            salt: s,
        })
    }

    /// RFC 4106 §4: nonce = salt | explicit IV.
    fn nonce(&self, iv: &[u8; GCM_IV_LEN]) -> aead::Nonce {
        let mut n = [0u8; aead::NONCE_LEN];
        n[..GCM_SALT_LEN].copy_from_slice(&self.salt[..]);
        n[GCM_SALT_LEN..].copy_from_slice(iv);
        aead::Nonce::assume_unique_for_key(n)
    }
}

pub(crate) struct Hmac {
    key: hmac::Key,
    icv_len: usize,
}

impl Hmac {
    fn new(alg: IntegrityAlgorithm, key: &EspKey) -> Result<Self, ConfigError> {
        // RFC 2404 §3 / RFC 4868 §2.1.1: key length = the hash output length.
        let (ring_alg, key_len, icv_len) = match alg {
            IntegrityAlgorithm::HmacSha1_96 => (hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, 20, 12),
            IntegrityAlgorithm::HmacSha256_128 => (hmac::HMAC_SHA256, 32, 16),
            IntegrityAlgorithm::HmacSha384_192 => (hmac::HMAC_SHA384, 48, 24),
            IntegrityAlgorithm::HmacSha512_256 => (hmac::HMAC_SHA512, 64, 32),
        };
        if key.len() != key_len {
            return Err(ConfigError::KeyLength {
                what: "HMAC integrity",
                len: key.len(),
                expected: key_len,
            });
        }
        Ok(Self {
            key: hmac::Key::new(ring_alg, key.secret_bytes()),
            icv_len,
        })
    }

    /// HMAC of `data`, followed, with ESN, by the high half of the
    /// sequence number, which is authenticated but never sent
    /// (RFC 4303 §2.2.1, §3.3.4).
    fn tag(&self, data: &[u8], seq_hi: Option<u32>) -> hmac::Tag {
        match seq_hi {
            None => hmac::sign(&self.key, data),
            Some(hi) => {
                let mut ctx = hmac::Context::with_key(&self.key);
                ctx.update(data);
                ctx.update(&hi.to_be_bytes());
                ctx.sign()
            }
        }
    }

    /// Truncated HMAC into `icv` (exactly `icv_len` bytes).
    fn sign(&self, data: &[u8], seq_hi: Option<u32>, icv: &mut [u8]) {
        let tag = self.tag(data, seq_hi);
        if let Some(t) = tag.as_ref().get(..icv.len()) {
            icv.copy_from_slice(t);
        }
    }

    /// Constant-time comparison of the truncated HMAC (RFC 4303 §3.4.4.1).
    fn verify(&self, data: &[u8], seq_hi: Option<u32>, icv: &[u8]) -> bool {
        let tag = self.tag(data, seq_hi);
        match tag.as_ref().get(..self.icv_len) {
            Some(t) if icv.len() == self.icv_len => bool::from(t.ct_eq(icv)),
            _ => false,
        }
    }
}

pub(crate) enum CbcEnc {
    Aes128(Box<aes::Aes128Enc>),
    Aes256(Box<aes::Aes256Enc>),
}

pub(crate) enum CbcDec {
    Aes128(Box<aes::Aes128Dec>),
    Aes256(Box<aes::Aes256Dec>),
}

fn cbc_key_len(alg: EncryptionAlgorithm) -> usize {
    match alg {
        EncryptionAlgorithm::AesCbc256 => 32,
        _ => 16,
    }
}

fn check_cbc_key(alg: EncryptionAlgorithm, key: &EspKey) -> Result<(), ConfigError> {
    let expected = cbc_key_len(alg);
    if key.len() == expected {
        Ok(())
    } else {
        Err(ConfigError::KeyLength {
            what: "AES-CBC encryption",
            len: key.len(),
            expected,
        })
    }
}

fn bad_key(key: &EspKey) -> ConfigError {
    ConfigError::KeyLength {
        what: "AES-CBC encryption",
        len: key.len(),
        expected: 16,
    }
}

impl CbcEnc {
    fn new(alg: EncryptionAlgorithm, key: &EspKey) -> Result<Self, ConfigError> {
        check_cbc_key(alg, key)?;
        Ok(match alg {
            EncryptionAlgorithm::AesCbc256 => Self::Aes256(Box::new(
                aes::Aes256Enc::new_from_slice(key.secret_bytes()).map_err(|_| bad_key(key))?,
            )),
            _ => Self::Aes128(Box::new(
                aes::Aes128Enc::new_from_slice(key.secret_bytes()).map_err(|_| bad_key(key))?,
            )),
        })
    }

    /// CBC-encrypts `buf` (whole blocks) in place under `iv` (RFC 3602 §2).
    fn encrypt(&self, iv: &[u8; AES_BLOCK], buf: &mut [u8]) -> bool {
        let len = buf.len();
        let iv = (*iv).into();
        // Cloning the key schedule (no re-expansion) per packet; the clone is
        // zeroized when the encryptor drops.
        match self {
            Self::Aes128(k) => cbc::Encryptor::<aes::Aes128Enc>::inner_iv_init((**k).clone(), &iv)
                .encrypt_padded_mut::<NoPadding>(buf, len)
                .is_ok(),
            Self::Aes256(k) => cbc::Encryptor::<aes::Aes256Enc>::inner_iv_init((**k).clone(), &iv)
                .encrypt_padded_mut::<NoPadding>(buf, len)
                .is_ok(),
        }
    }
}

impl CbcDec {
    fn new(alg: EncryptionAlgorithm, key: &EspKey) -> Result<Self, ConfigError> {
        check_cbc_key(alg, key)?;
        Ok(match alg {
            EncryptionAlgorithm::AesCbc256 => Self::Aes256(Box::new(
                aes::Aes256Dec::new_from_slice(key.secret_bytes()).map_err(|_| bad_key(key))?,
            )),
            _ => Self::Aes128(Box::new(
                aes::Aes128Dec::new_from_slice(key.secret_bytes()).map_err(|_| bad_key(key))?,
            )),
        })
    }

    fn decrypt(&self, iv: &[u8; AES_BLOCK], buf: &mut [u8]) -> bool {
        let iv = (*iv).into();
        match self {
            Self::Aes128(k) => cbc::Decryptor::<aes::Aes128Dec>::inner_iv_init((**k).clone(), &iv)
                .decrypt_padded_mut::<NoPadding>(buf)
                .is_ok(),
            Self::Aes256(k) => cbc::Decryptor::<aes::Aes256Dec>::inner_iv_init((**k).clone(), &iv)
                .decrypt_padded_mut::<NoPadding>(buf)
                .is_ok(),
        }
    }
}

/// Outbound half of a transform.
pub(crate) enum SealKey {
    Gcm(Box<Gcm>),
    Cbc {
        enc: CbcEnc,
        /// RFC 3602 §3 wants unpredictable IVs. IV = AES_{iv_key}(seq): a
        /// PRP of a never-repeating counter under a random per-SA key, so it
        /// is unpredictable to anyone without that key and costs no system
        /// call per packet.
        iv_key: Box<aes::Aes128Enc>,
        mac: Hmac,
    },
}

/// Inbound half of a transform.
pub(crate) enum OpenKey {
    Gcm(Box<Gcm>),
    Cbc { dec: CbcDec, mac: Hmac },
}

/// Why [`OpenKey::open`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OpenError {
    /// Tag / ICV did not verify.
    Icv,
    /// Layout or buffer mismatch (caller bug or already-checked length).
    Layout,
}

fn layout_for(enc: EncryptionAlgorithm, integ: Option<IntegrityAlgorithm>) -> Layout {
    match enc {
        EncryptionAlgorithm::AesGcm16_128 | EncryptionAlgorithm::AesGcm16_256 => Layout {
            iv_len: GCM_IV_LEN,
            icv_len: GCM_ICV_LEN,
            align: ESP_ALIGN,
        },
        EncryptionAlgorithm::AesCbc128 | EncryptionAlgorithm::AesCbc256 => Layout {
            iv_len: AES_BLOCK,
            icv_len: integ.map_or(0, IntegrityAlgorithm::icv_len),
            align: AES_BLOCK,
        },
    }
}

fn is_gcm(enc: EncryptionAlgorithm) -> bool {
    matches!(
        enc,
        EncryptionAlgorithm::AesGcm16_128 | EncryptionAlgorithm::AesGcm16_256
    )
}

fn integrity_for(
    enc: EncryptionAlgorithm,
    integ: Option<&(IntegrityAlgorithm, EspKey)>,
) -> Result<Option<Hmac>, ConfigError> {
    match (is_gcm(enc), integ) {
        (true, None) => Ok(None),
        (true, Some(_)) => Err(ConfigError::UnexpectedIntegrity),
        (false, None) => Err(ConfigError::MissingIntegrity),
        (false, Some((alg, key))) => Hmac::new(*alg, key).map(Some),
    }
}

/// The high 32 bits of a 64-bit sequence number.
fn high_half(seq: u64) -> u32 {
    u32::try_from(seq >> 32).unwrap_or(u32::MAX)
}

/// Longest AAD: SPI | seq high | seq low (RFC 4106 §5, ESN case).
const MAX_AAD: usize = 12;

/// RFC 4106 §5: AAD = SPI | seq (8 bytes), or SPI | seq high | seq low
/// (12 bytes) with ESN. `esp_header` is SPI | seq low as on the wire.
fn gcm_aad(esp_header: &[u8], seq_hi: Option<u32>) -> ([u8; MAX_AAD], usize) {
    let mut aad = [0u8; MAX_AAD];
    let (spi, lo) = esp_header.split_at_checked(4).unwrap_or((&[], &[]));
    match seq_hi {
        None => {
            if let Some(d) = aad.get_mut(..ESP_HEADER_LEN) {
                if d.len() == esp_header.len() {
                    d.copy_from_slice(esp_header);
                }
            }
            (aad, ESP_HEADER_LEN)
        }
        Some(hi) => {
            for (d, s) in aad
                .iter_mut()
                .zip(spi.iter().chain(hi.to_be_bytes().iter()).chain(lo.iter()))
            {
                *d = *s;
            }
            (aad, MAX_AAD)
        }
    }
}

fn aad_of(buf: &[u8; MAX_AAD], len: usize) -> aead::Aad<&[u8]> {
    aead::Aad::from(buf.get(..len).unwrap_or(&buf[..]))
}

/// Splits an ESP packet into `(header+IV, ciphertext, ICV)` for `layout`.
fn split(pkt: &[u8], l: Layout) -> Option<(&[u8], &[u8], &[u8])> {
    let front = ESP_HEADER_LEN.checked_add(l.iv_len)?;
    let (head, rest) = pkt.split_at_checked(front)?;
    let ct_len = rest.len().checked_sub(l.icv_len)?;
    let (ct, icv) = rest.split_at_checked(ct_len)?;
    Some((head, ct, icv))
}

impl SealKey {
    pub(crate) fn new(
        enc: EncryptionAlgorithm,
        enc_key: &EspKey,
        integ: Option<&(IntegrityAlgorithm, EspKey)>,
        rng: &dyn ring::rand::SecureRandom,
    ) -> Result<(Self, Layout), ConfigError> {
        let layout = layout_for(enc, integ.map(|(a, _)| *a));
        let mac = integrity_for(enc, integ)?;
        let key = match mac {
            None => Self::Gcm(Box::new(Gcm::new(enc, enc_key)?)),
            Some(mac) => {
                let mut iv_key = Zeroizing::new([0u8; AES_BLOCK]);
                rng.fill(&mut iv_key[..]).map_err(|_| ConfigError::Random)?;
                Self::Cbc {
                    enc: CbcEnc::new(enc, enc_key)?,
                    iv_key: Box::new(aes::Aes128Enc::new(&(*iv_key).into())),
                    mac,
                }
            }
        };
        Ok((key, layout))
    }

    /// Fills IV, encrypts and appends the ICV. `pkt` is the whole packet;
    /// its header (SPI, seq) and plaintext (payload, padding, trailer) are
    /// already in place; `seq` is the full sequence number, whose low half
    /// is in the header; `esn` says whether its high half is authenticated.
    pub(crate) fn seal(&self, pkt: &mut [u8], seq: u64, esn: bool, l: Layout) -> bool {
        let seq_hi = esn.then_some(high_half(seq));
        let front = ESP_HEADER_LEN + l.iv_len;
        let Some(ct_end) = pkt.len().checked_sub(l.icv_len) else {
            return false;
        };
        match self {
            Self::Gcm(g) => {
                // RFC 4106 §3.1: the explicit IV only has to be unique per
                // key; the sequence number is, as long as it never wraps,
                // which the SA enforces.
                let iv = seq.to_be_bytes();
                let nonce = g.nonce(&iv);
                let Some((head, rest)) = pkt.split_at_mut_checked(front) else {
                    return false;
                };
                let Some(esp_header) = head.get(..ESP_HEADER_LEN) else {
                    return false;
                };
                let (aad_buf, aad_len) = gcm_aad(esp_header, seq_hi);
                let Some(iv_field) = head.get_mut(ESP_HEADER_LEN..) else {
                    return false;
                };
                iv_field.copy_from_slice(&iv);
                let Some((ct, icv)) = rest.split_at_mut_checked(ct_end - front) else {
                    return false;
                };
                match g
                    .key
                    .seal_in_place_separate_tag(nonce, aad_of(&aad_buf, aad_len), ct)
                {
                    Ok(tag) => {
                        icv.copy_from_slice(tag.as_ref());
                        true
                    }
                    Err(_) => false,
                }
            }
            Self::Cbc { enc, iv_key, mac } => {
                let mut iv = [0u8; AES_BLOCK];
                iv[..8].copy_from_slice(&seq.to_be_bytes());
                let mut block = iv.into();
                iv_key.encrypt_block(&mut block);
                iv.copy_from_slice(&block);
                let Some(iv_field) = pkt.get_mut(ESP_HEADER_LEN..front) else {
                    return false;
                };
                iv_field.copy_from_slice(&iv);
                let Some(ct) = pkt.get_mut(front..ct_end) else {
                    return false;
                };
                if !enc.encrypt(&iv, ct) {
                    return false;
                }
                let Some((authed, icv)) = pkt.split_at_mut_checked(ct_end) else {
                    return false;
                };
                // RFC 4303 §3.3.4: the ICV covers SPI, seq, IV and ciphertext.
                mac.sign(authed, seq_hi, icv);
                true
            }
        }
    }
}

impl OpenKey {
    pub(crate) fn new(
        enc: EncryptionAlgorithm,
        enc_key: &EspKey,
        integ: Option<&(IntegrityAlgorithm, EspKey)>,
    ) -> Result<(Self, Layout), ConfigError> {
        let layout = layout_for(enc, integ.map(|(a, _)| *a));
        let mac = integrity_for(enc, integ)?;
        let key = match mac {
            None => Self::Gcm(Box::new(Gcm::new(enc, enc_key)?)),
            Some(mac) => Self::Cbc {
                dec: CbcDec::new(enc, enc_key)?,
                mac,
            },
        };
        Ok((key, layout))
    }

    /// Verifies and decrypts the ESP packet `pkt` into `out`, which must be
    /// exactly as long as the ciphertext. On failure `out` holds no
    /// plaintext worth reading.
    /// `seq_hi` is the inferred high half of the sequence number with ESN.
    pub(crate) fn open(
        &self,
        pkt: &[u8],
        out: &mut [u8],
        seq_hi: Option<u32>,
        l: Layout,
    ) -> Result<(), OpenError> {
        let (head, ct, icv) = split(pkt, l).ok_or(OpenError::Layout)?;
        if out.len() != ct.len() {
            return Err(OpenError::Layout);
        }
        match self {
            Self::Gcm(g) => {
                let (aad, iv) = head
                    .split_at_checked(ESP_HEADER_LEN)
                    .ok_or(OpenError::Layout)?;
                let iv: &[u8; GCM_IV_LEN] = iv.try_into().map_err(|_| OpenError::Layout)?;
                let (aad_buf, aad_len) = gcm_aad(aad, seq_hi);
                let tag = aead::Tag::try_from(icv).map_err(|_| OpenError::Layout)?;
                out.copy_from_slice(ct);
                g.key
                    .open_in_place_separate_tag(
                        g.nonce(iv),
                        aad_of(&aad_buf, aad_len),
                        tag,
                        out,
                        0..,
                    )
                    .map(|_| ())
                    .map_err(|_| OpenError::Icv)
            }
            Self::Cbc { dec, mac } => {
                // Encrypt-then-MAC: verify before touching the ciphertext.
                let authed_len = pkt.len().checked_sub(l.icv_len).ok_or(OpenError::Layout)?;
                let authed = pkt.get(..authed_len).ok_or(OpenError::Layout)?;
                if !mac.verify(authed, seq_hi, icv) {
                    return Err(OpenError::Icv);
                }
                let iv: &[u8; AES_BLOCK] = head
                    .get(ESP_HEADER_LEN..)
                    .and_then(|s| s.try_into().ok())
                    .ok_or(OpenError::Layout)?;
                out.copy_from_slice(ct);
                if dec.decrypt(iv, out) {
                    Ok(())
                } else {
                    Err(OpenError::Layout)
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(hex_str: &str) -> EspKey {
        EspKey::from_slice(&hex::decode(hex_str).unwrap())
    }

    /// RFC 3602 §4 test cases: AES-128-CBC on bare blocks, no ESP framing.
    #[test]
    fn aes_cbc_matches_rfc3602_cases() {
        // (key, iv, plaintext, ciphertext) for cases #1–#4.
        let cases = [
            (
                "06a9214036b8a15b512e03d534120006",
                "3dafba429d9eb430b422da802c9fac41",
                "53696e676c6520626c6f636b206d7367",
                "e353779c1079aeb82708942dbe77181a",
            ),
            (
                "c286696d887c9aa0611bbb3e2025a45a",
                "562e17996d093d28ddb3ba695a2e6f58",
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
                "d296cd94c2cccf8a3a863028b5e1dc0a7586602d253cfff91b8266bea6d61ab1",
            ),
            (
                "6c3ea0477630ce21a2ce334aa746c2cd",
                "c782dc4c098c66cbd9cd27d825682c81",
                "5468697320697320612034382d62797465206d657373616765202865786163746c7920332041455320626c6f636b7329",
                "d0a02b3836451753d493665d33f0e8862dea54cdb293abc7506939276772f8d5021c19216bad525c8579695d83ba2684",
            ),
            (
                "56e47a38c5598974bc46903dba290349",
                "8ce82eefbea0da3c44699ed7db51b7d9",
                "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
                "c30e32ffedc0774e6aff6af0869f71aa0f3af07a9a31a9c684db207eb0ef8e4e35907aa632c3ffdf868bb7b29d3d46ad83ce9f9a102ee99d49a53e87f4c3da55",
            ),
        ];
        for (k, iv, pt, ct) in cases {
            let k = key(k);
            let iv: [u8; 16] = hex::decode(iv).unwrap().try_into().unwrap();
            let enc = CbcEnc::new(EncryptionAlgorithm::AesCbc128, &k).unwrap();
            let mut buf = hex::decode(pt).unwrap();
            assert!(enc.encrypt(&iv, &mut buf));
            assert_eq!(hex::encode(&buf), ct);
            let dec = CbcDec::new(EncryptionAlgorithm::AesCbc128, &k).unwrap();
            assert!(dec.decrypt(&iv, &mut buf));
            assert_eq!(hex::encode(&buf), pt);
        }
    }

    /// RFC 4868 §2.7.2 "Test Case AUTH256-1/384-1/512-1": key = 0x0b × n,
    /// data "Hi There", truncated to the ESP ICV length.
    #[test]
    fn hmac_truncations_match_rfc4868_auth_cases() {
        let cases = [
            (
                IntegrityAlgorithm::HmacSha256_128,
                32,
                "198a607eb44bfbc69903a0f1cf2bbdc5",
            ),
            (
                IntegrityAlgorithm::HmacSha384_192,
                48,
                "b6a8d5636f5c6a7224f9977dcf7ee6c7fb6d0c48cbdee973",
            ),
            (
                IntegrityAlgorithm::HmacSha512_256,
                64,
                "637edc6e01dce7e6742a99451aae82df23da3e92439e590e43e761b33e910fb8",
            ),
        ];
        for (alg, klen, icv) in cases {
            let mac = Hmac::new(alg, &EspKey::from_slice(&vec![0x0b; klen])).unwrap();
            let mut out = vec![0u8; alg.icv_len()];
            mac.sign(b"Hi There", None, &mut out);
            assert_eq!(hex::encode(&out), icv, "{alg:?}");
            assert!(mac.verify(b"Hi There", None, &out));
            out[0] ^= 1;
            assert!(!mac.verify(b"Hi There", None, &out));
            assert!(!mac.verify(b"Hi There", None, &out[1..]));
        }
    }

    /// RFC 2202 §3 test case 1 (the HMAC-SHA-1 vectors RFC 2404 §3 points
    /// to), truncated to 96 bits.
    #[test]
    fn hmac_sha1_96_matches_rfc2202_case_1() {
        let mac = Hmac::new(
            IntegrityAlgorithm::HmacSha1_96,
            &EspKey::from_slice(&[0x0b; 20]),
        )
        .unwrap();
        let mut out = [0u8; 12];
        mac.sign(b"Hi There", None, &mut out);
        assert_eq!(hex::encode(out), "b617318655057264e28bc0b6");
    }

    /// GCM spec (McGrew–Viega, "The Galois/Counter Mode of Operation")
    /// test case 4 shape: AES-128, 12-byte IV split as RFC 4106 salt|IV,
    /// with AAD. Checks our nonce assembly against the published vector.
    #[test]
    fn gcm_nonce_assembly_matches_gcm_spec_case_4() {
        // K = feffe9928665731c6d6a8f9467308308, IV = cafebabefacedbaddecaf888.
        let keymat = key("feffe9928665731c6d6a8f9467308308cafebabe");
        let g = Gcm::new(EncryptionAlgorithm::AesGcm16_128, &keymat).unwrap();
        let iv: [u8; 8] = hex::decode("facedbaddecaf888").unwrap().try_into().unwrap();
        let aad = hex::decode("feedfacedeadbeeffeedfacedeadbeefabaddad2").unwrap();
        let mut buf = hex::decode(
            "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a721c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
        )
        .unwrap();
        let tag = g
            .key
            .seal_in_place_separate_tag(g.nonce(&iv), aead::Aad::from(&aad), &mut buf)
            .unwrap();
        assert_eq!(
            hex::encode(&buf),
            "42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091"
        );
        assert_eq!(
            hex::encode(tag.as_ref()),
            "5bc94fbc3221a5db94fae95ae7121a47"
        );
    }
}
