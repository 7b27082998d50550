//! Protection of the Encrypted and Authenticated payload, SK (RFC 7296 §3.14)
//! and its fragment form SKF (RFC 7383 §2.5).
//!
//! The SK payload body is `IV | ciphertext | ICV`, where the plaintext is
//! `inner payloads | padding | Pad Length`. With an AEAD cipher (RFC 5282 for
//! AES-GCM, RFC 7634 for ChaCha20-Poly1305) the ICV is the AEAD tag and the
//! additional data is the IKE header plus the SK generic payload header. With
//! an encrypt-then-MAC cipher (AES-CBC + HMAC, RFC 7296 §3.14) the ICV is a
//! MAC over everything from the IKE header through the ciphertext.
//!
//! [`SkCipher`] covers both shapes with one signature: the caller always gives
//! `aad` (message bytes before the SK body), the IV, the plaintext or
//! ciphertext (sealed/opened in place) and the ICV. [`seal_sk`] and
//! [`open_sk`] do the whole job on a message buffer, so the state machine
//! allocates each message once and never copies the plaintext.

use core::ops::Range;

use super::{CryptoError, EncrId, IkeSaKeys, Integ};

/// The two ways an SK cipher protects integrity.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CipherShape {
    /// Combined mode: no INTEG transform, no SK_a (RFC 5282 §8).
    Aead,
    /// A block cipher with a separate INTEG transform keyed by SK_a.
    EncryptThenMac,
}

/// A negotiated ENCR transform, as a factory for per-direction ciphers.
pub trait SkCipherAlgorithm: Send + Sync {
    /// The transform ID.
    fn id(&self) -> EncrId;

    /// The Key Length attribute in bits (RFC 7296 §3.3.5), or `None` for a
    /// transform that has none (ChaCha20-Poly1305, RFC 7634 §4).
    fn key_bits(&self) -> Option<u16>;

    /// AEAD or encrypt-then-MAC.
    fn shape(&self) -> CipherShape;

    /// Length of SK_e in bytes, including any salt taken from the key
    /// material (RFC 5282 §7.1: AES-GCM-16 with 256-bit key → 36 bytes;
    /// RFC 7634 §3: ChaCha20-Poly1305 → 36 bytes).
    fn encr_key_len(&self) -> usize;

    /// Builds the cipher for one direction. `integ` is the INTEG transform and
    /// its SK_a for encrypt-then-MAC, and must be `None` for AEAD.
    fn new_cipher(
        &self,
        sk_e: &[u8],
        integ: Option<(&'static dyn Integ, &[u8])>,
    ) -> Result<Box<dyn SkCipher>, CryptoError>;
}

/// One direction's SK protection, keyed.
pub trait SkCipher: Send + Sync {
    /// Length of the IV at the start of the SK body (8 for RFC 5282 and
    /// RFC 7634; the block size for CBC).
    fn iv_len(&self) -> usize;

    /// Length of the ICV at the end of the SK body.
    fn icv_len(&self) -> usize;

    /// Plaintext plus padding plus the Pad Length byte must be a multiple of
    /// this (1 when the cipher needs no alignment).
    fn block_len(&self) -> usize;

    /// Encrypts `buf` in place and writes the ICV. `aad` is the message from
    /// the IKE header through the SK generic header, with final lengths.
    fn seal_in_place(
        &self,
        aad: &[u8],
        iv: &[u8],
        buf: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError>;

    /// Checks the ICV and decrypts `buf` in place. On any error `buf` must
    /// not be trusted (it may be partly decrypted).
    fn open_in_place(
        &self,
        aad: &[u8],
        iv: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError>;
}

/// The SK ciphers of one IKE SA: one per direction (RFC 7296 §2.14: SK_ei/ai
/// protect initiator → responder, SK_er/ar the other way).
pub struct SkKeys {
    outbound: Box<dyn SkCipher>,
    inbound: Box<dyn SkCipher>,
}

impl SkKeys {
    /// Builds both directions from derived keys. `we_are_initiator` is the
    /// original-initiator role of this IKE SA (RFC 7296 §2.14; after a rekey,
    /// the role of whoever initiated the rekey, §2.18).
    pub fn new(
        cipher: &dyn SkCipherAlgorithm,
        integ: Option<&'static dyn Integ>,
        keys: &IkeSaKeys,
        we_are_initiator: bool,
    ) -> Result<Self, CryptoError> {
        let build = |sk_e: &[u8], sk_a: &[u8]| cipher.new_cipher(sk_e, integ.map(|i| (i, sk_a)));
        let to_r = build(keys.sk_ei.secret_bytes(), keys.sk_ai.secret_bytes())?;
        let to_i = build(keys.sk_er.secret_bytes(), keys.sk_ar.secret_bytes())?;
        Ok(if we_are_initiator {
            Self {
                outbound: to_r,
                inbound: to_i,
            }
        } else {
            Self {
                outbound: to_i,
                inbound: to_r,
            }
        })
    }

    /// The cipher for messages we send.
    pub fn outbound(&self) -> &dyn SkCipher {
        self.outbound.as_ref()
    }

    /// The cipher for messages we receive.
    pub fn inbound(&self) -> &dyn SkCipher {
        self.inbound.as_ref()
    }
}

impl core::fmt::Debug for SkKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("SkKeys(<secret>)")
    }
}

/// Sizes of an SK body for a given inner length (RFC 7296 §3.14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SkLayout {
    /// IV bytes at the start of the body.
    pub iv_len: usize,
    /// Bytes of inner payloads.
    pub inner_len: usize,
    /// Padding bytes (not counting the Pad Length byte).
    pub pad_len: usize,
    /// ICV bytes at the end of the body.
    pub icv_len: usize,
}

impl SkLayout {
    /// The layout for `inner_len` bytes of inner payloads, padded to the
    /// cipher's block with the fewest padding bytes.
    pub fn new(cipher: &dyn SkCipher, inner_len: usize) -> Result<Self, CryptoError> {
        let block = cipher.block_len().max(1);
        let with_len = inner_len
            .checked_add(1)
            .ok_or(CryptoError::Layout("inner length overflows"))?;
        let pad_len = (block - with_len % block) % block;
        let layout = Self {
            iv_len: cipher.iv_len(),
            inner_len,
            pad_len,
            icv_len: cipher.icv_len(),
        };
        layout.body_len()?;
        Ok(layout)
    }

    /// Length of the encrypted part: inner payloads, padding, Pad Length.
    pub fn encrypted_len(&self) -> Result<usize, CryptoError> {
        self.inner_len
            .checked_add(self.pad_len)
            .and_then(|n| n.checked_add(1))
            .ok_or(CryptoError::Layout("SK body length overflows"))
    }

    /// Length of the whole SK body: IV, encrypted part, ICV.
    pub fn body_len(&self) -> Result<usize, CryptoError> {
        self.encrypted_len()?
            .checked_add(self.iv_len)
            .and_then(|n| n.checked_add(self.icv_len))
            .ok_or(CryptoError::Layout("SK body length overflows"))
    }
}

/// Length of the SK payload body for `inner_len` bytes of inner payloads
/// (what the SK generic header's length field adds to its 4 bytes).
pub fn sk_body_len(cipher: &dyn SkCipher, inner_len: usize) -> Result<usize, CryptoError> {
    SkLayout::new(cipher, inner_len)?.body_len()
}

/// Seals an SK (or SKF) payload in place.
///
/// `message[..body_start]` is the additional data: the IKE header and the SK
/// generic header (or SKF header), with every length field already final.
/// `message[body_start..]` must be exactly [`sk_body_len`] bytes laid out as
/// `[IV][inner payloads][room for padding and Pad Length][room for ICV]`,
/// with the inner payloads already emitted. This writes the IV, zero padding
/// and the Pad Length byte, encrypts, and writes the ICV. `iv` must be
/// [`SkCipher::iv_len`] bytes, unique per key (a counter or fresh random).
pub fn seal_sk(
    cipher: &dyn SkCipher,
    message: &mut [u8],
    body_start: usize,
    inner_len: usize,
    iv: &[u8],
) -> Result<(), CryptoError> {
    let layout = SkLayout::new(cipher, inner_len)?;
    if iv.len() != layout.iv_len {
        return Err(CryptoError::BadLength {
            what: "IV",
            expected: layout.iv_len,
            actual: iv.len(),
        });
    }
    let (aad, body) = message
        .split_at_mut_checked(body_start)
        .ok_or(CryptoError::Layout("SK body starts past the message end"))?;
    let body_len = layout.body_len()?;
    if body.len() != body_len {
        return Err(CryptoError::BadLength {
            what: "SK body",
            expected: body_len,
            actual: body.len(),
        });
    }
    let (iv_out, rest) = body
        .split_at_mut_checked(layout.iv_len)
        .ok_or(CryptoError::Layout("IV"))?;
    iv_out.copy_from_slice(iv);
    let (plain, icv) = rest
        .split_at_mut_checked(layout.encrypted_len()?)
        .ok_or(CryptoError::Layout("ICV"))?;
    // Padding content is ours to choose (RFC 7296 §3.14); zeros, then the
    // Pad Length byte, which is < block size <= 255.
    let pad_byte = u8::try_from(layout.pad_len).map_err(|_| CryptoError::Layout("pad length"))?;
    let pad = plain
        .get_mut(layout.inner_len..)
        .ok_or(CryptoError::Layout("padding"))?;
    if let Some((last, fill)) = pad.split_last_mut() {
        fill.fill(0);
        *last = pad_byte;
    }
    cipher.seal_in_place(aad, iv, plain, icv)
}

/// Opens an SK (or SKF) payload in place and returns the range of the inner
/// payloads within `message`.
///
/// `message[..body_start]` is the additional data as received;
/// `message[body_start..]` is the SK body as received (the caller has already
/// cut the message at the SK payload's declared end). Any padding content is
/// accepted (RFC 7296 §3.14 says the receiver must not check it).
pub fn open_sk(
    cipher: &dyn SkCipher,
    message: &mut [u8],
    body_start: usize,
) -> Result<Range<usize>, CryptoError> {
    let (aad, body) = message
        .split_at_mut_checked(body_start)
        .ok_or(CryptoError::Layout("SK body starts past the message end"))?;
    let iv_len = cipher.iv_len();
    let icv_len = cipher.icv_len();
    let min = iv_len
        .checked_add(icv_len)
        .and_then(|n| n.checked_add(1))
        .ok_or(CryptoError::Layout("cipher sizes overflow"))?;
    if body.len() < min {
        return Err(CryptoError::SkTooShort {
            actual: body.len(),
            min,
        });
    }
    let (iv, rest) = body
        .split_at_mut_checked(iv_len)
        .ok_or(CryptoError::Layout("IV"))?;
    let enc_len = rest
        .len()
        .checked_sub(icv_len)
        .ok_or(CryptoError::Layout("ICV"))?;
    let block = cipher.block_len().max(1);
    if enc_len % block != 0 {
        return Err(CryptoError::SkNotBlockAligned {
            len: enc_len,
            block,
        });
    }
    let (enc, icv) = rest
        .split_at_mut_checked(enc_len)
        .ok_or(CryptoError::Layout("ICV"))?;
    cipher.open_in_place(aad, iv, enc, icv)?;
    let (&pad_len, before) = enc
        .split_last()
        .ok_or(CryptoError::SkTooShort { actual: 0, min })?;
    let pad_len = usize::from(pad_len);
    let inner_len = before
        .len()
        .checked_sub(pad_len)
        .ok_or(CryptoError::SkBadPadLength {
            pad_len,
            available: before.len(),
        })?;
    let start = body_start
        .checked_add(iv_len)
        .ok_or(CryptoError::Layout("offset overflow"))?;
    let end = start
        .checked_add(inner_len)
        .ok_or(CryptoError::Layout("offset overflow"))?;
    Ok(start..end)
}
