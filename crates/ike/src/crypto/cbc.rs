//! ENCR_AES_CBC (transform 12) for the SK payload: AES in CBC mode
//! (RFC 3602) with a separate INTEG transform, encrypt-then-MAC
//! (RFC 7296 §3.14).
//!
//! This is one of the "native client" suites (the IKEv2 clients built into
//! Windows and older Apple systems propose nothing better by default). It
//! plugs into the same [`SkCipherAlgorithm`] seam as the AEAD ciphers; *ring*
//! has no CBC mode, so the block cipher comes from RustCrypto `aes` + `cbc`,
//! the crates `pfkey`'s ESP engine already uses.
//!
//! Guarantees:
//! - The ICV is checked, in constant time, before any byte is decrypted
//!   (encrypt-then-MAC; a bad ICV never reaches the CBC decryption, so there
//!   is no padding oracle).
//! - The IV is the caller's: RFC 7296 §3.14 requires it to be random and
//!   unpredictable for CBC, so callers draw it from `Random` per message
//!   (a counter would be predictable and is wrong for this cipher).
//! - Keys are held in `aes`'s own types with its `zeroize` feature, which
//!   wipes the key schedule on drop; SK_a is a [`SecretBytes`].

use aes::cipher::block_padding::NoPadding;
use aes::cipher::{BlockCipher, BlockDecryptMut, BlockEncryptMut, InnerIvInit, KeyInit};

use super::{CipherShape, CryptoError, EncrId, Integ, SecretBytes, SkCipher, SkCipherAlgorithm};

/// The AES block size, which is also the CBC IV length in the SK payload
/// (RFC 3602 §3, RFC 7296 §3.14).
pub const AES_BLOCK_LEN: usize = 16;

/// ENCR_AES_CBC with one key length (RFC 3602; Key Length attribute of
/// 128, 192 or 256 bits, RFC 7296 §3.3.5).
pub struct AesCbcAlgorithm {
    key_bits: u16,
    key_len: usize,
}

/// ENCR_AES_CBC with a 128-bit key: SK_e is 16 bytes.
pub static AES_CBC_128: AesCbcAlgorithm = AesCbcAlgorithm {
    key_bits: 128,
    key_len: 16,
};
/// ENCR_AES_CBC with a 192-bit key: SK_e is 24 bytes.
pub static AES_CBC_192: AesCbcAlgorithm = AesCbcAlgorithm {
    key_bits: 192,
    key_len: 24,
};
/// ENCR_AES_CBC with a 256-bit key: SK_e is 32 bytes.
pub static AES_CBC_256: AesCbcAlgorithm = AesCbcAlgorithm {
    key_bits: 256,
    key_len: 32,
};

impl SkCipherAlgorithm for AesCbcAlgorithm {
    fn id(&self) -> EncrId {
        EncrId::AES_CBC
    }
    fn key_bits(&self) -> Option<u16> {
        Some(self.key_bits)
    }
    fn shape(&self) -> CipherShape {
        CipherShape::EncryptThenMac
    }
    fn encr_key_len(&self) -> usize {
        // No salt: SK_e is exactly the AES key (RFC 7296 §2.14).
        self.key_len
    }
    fn new_cipher(
        &self,
        sk_e: &[u8],
        integ: Option<(&'static dyn Integ, &[u8])>,
    ) -> Result<Box<dyn SkCipher>, CryptoError> {
        // RFC 7296 §3.3.3: a non-AEAD ENCR transform always comes with INTEG.
        let (integ, sk_a) = integ.ok_or(CryptoError::Layout("AES-CBC needs an INTEG transform"))?;
        if sk_a.len() != integ.key_len() {
            return Err(CryptoError::BadLength {
                what: "SK_a",
                expected: integ.key_len(),
                actual: sk_a.len(),
            });
        }
        let bad_key = || CryptoError::BadLength {
            what: "SK_e",
            expected: self.key_len,
            actual: sk_e.len(),
        };
        if sk_e.len() != self.key_len {
            return Err(bad_key());
        }
        let key = match self.key_bits {
            128 => AesKey::Aes128(Box::new(
                aes::Aes128::new_from_slice(sk_e).map_err(|_| bad_key())?,
            )),
            192 => AesKey::Aes192(Box::new(
                aes::Aes192::new_from_slice(sk_e).map_err(|_| bad_key())?,
            )),
            256 => AesKey::Aes256(Box::new(
                aes::Aes256::new_from_slice(sk_e).map_err(|_| bad_key())?,
            )),
            _ => return Err(CryptoError::Backend("AES key length")),
        };
        Ok(Box::new(AesCbcEtm {
            key,
            integ,
            sk_a: SecretBytes::from_slice(sk_a),
        }))
    }
}

/// An expanded AES key (encryption and decryption schedules), zeroized on
/// drop by `aes`. Boxed so the three sizes cost the same in the enum.
enum AesKey {
    Aes128(Box<aes::Aes128>),
    Aes192(Box<aes::Aes192>),
    Aes256(Box<aes::Aes256>),
}

/// CBC over the whole of `buf` with no padding of its own: `seal_sk` has
/// already padded the plaintext to the block (RFC 7296 §3.14 padding).
fn cbc_encrypt<C>(key: &C, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>
where
    C: BlockCipher + BlockEncryptMut + Clone,
{
    let len = buf.len();
    // The clone of the key schedule lives in the mode object and is wiped
    // when it drops (aes `zeroize` feature).
    cbc::Encryptor::<C>::inner_iv_slice_init(key.clone(), iv)
        .map_err(|_| CryptoError::BadLength {
            what: "IV",
            expected: AES_BLOCK_LEN,
            actual: iv.len(),
        })?
        .encrypt_padded_mut::<NoPadding>(buf, len)
        .map_err(|_| CryptoError::Layout("CBC plaintext is not block aligned"))?;
    Ok(())
}

fn cbc_decrypt<C>(key: &C, iv: &[u8], buf: &mut [u8]) -> Result<(), CryptoError>
where
    C: BlockCipher + BlockDecryptMut + Clone,
{
    let len = buf.len();
    cbc::Decryptor::<C>::inner_iv_slice_init(key.clone(), iv)
        .map_err(|_| CryptoError::BadLength {
            what: "IV",
            expected: AES_BLOCK_LEN,
            actual: iv.len(),
        })?
        .decrypt_padded_mut::<NoPadding>(buf)
        .map_err(|_| CryptoError::SkNotBlockAligned {
            len,
            block: AES_BLOCK_LEN,
        })?;
    Ok(())
}

/// One direction of AES-CBC + INTEG.
struct AesCbcEtm {
    key: AesKey,
    integ: &'static dyn Integ,
    sk_a: SecretBytes,
}

impl AesCbcEtm {
    fn check_iv(iv: &[u8]) -> Result<(), CryptoError> {
        if iv.len() == AES_BLOCK_LEN {
            Ok(())
        } else {
            Err(CryptoError::BadLength {
                what: "IV",
                expected: AES_BLOCK_LEN,
                actual: iv.len(),
            })
        }
    }
}

impl SkCipher for AesCbcEtm {
    fn iv_len(&self) -> usize {
        AES_BLOCK_LEN
    }
    fn icv_len(&self) -> usize {
        self.integ.icv_len()
    }
    fn block_len(&self) -> usize {
        AES_BLOCK_LEN
    }
    fn seal_in_place(
        &self,
        aad: &[u8],
        iv: &[u8],
        buf: &mut [u8],
        icv: &mut [u8],
    ) -> Result<(), CryptoError> {
        Self::check_iv(iv)?;
        if buf.len() % AES_BLOCK_LEN != 0 {
            return Err(CryptoError::Layout("CBC plaintext is not block aligned"));
        }
        match &self.key {
            AesKey::Aes128(k) => cbc_encrypt(k.as_ref(), iv, buf)?,
            AesKey::Aes192(k) => cbc_encrypt(k.as_ref(), iv, buf)?,
            AesKey::Aes256(k) => cbc_encrypt(k.as_ref(), iv, buf)?,
        }
        // RFC 7296 §3.14: the ICV covers the message from the IKE header
        // through the ciphertext, IV included.
        self.integ
            .compute(self.sk_a.secret_bytes(), &[aad, iv, buf], icv)
    }
    fn open_in_place(
        &self,
        aad: &[u8],
        iv: &[u8],
        buf: &mut [u8],
        icv: &[u8],
    ) -> Result<(), CryptoError> {
        Self::check_iv(iv)?;
        // Authenticate first; nothing is decrypted for a forged message.
        self.integ
            .verify(self.sk_a.secret_bytes(), &[aad, iv, buf], icv)?;
        if buf.len() % AES_BLOCK_LEN != 0 {
            return Err(CryptoError::SkNotBlockAligned {
                len: buf.len(),
                block: AES_BLOCK_LEN,
            });
        }
        match &self.key {
            AesKey::Aes128(k) => cbc_decrypt(k.as_ref(), iv, buf),
            AesKey::Aes192(k) => cbc_decrypt(k.as_ref(), iv, buf),
            AesKey::Aes256(k) => cbc_decrypt(k.as_ref(), iv, buf),
        }
    }
}
