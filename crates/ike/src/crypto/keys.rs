//! Key derivation: SKEYSEED and SK_* (RFC 7296 §2.14), CHILD_SA KEYMAT
//! (§2.17) and IKE SA rekeying (§2.18).
//!
//! These are pure functions of their inputs; the structs they return hold
//! every key in [`SecretBytes`] (zeroized on drop, `Debug` shows lengths only).

use super::{
    prf_plus, CryptoError, EncrId, Integ, IntegId, Prf, SecretBytes, SharedSecret,
    SkCipherAlgorithm, TransformKind,
};

/// Lengths of the IKE SA keys, from the negotiated transforms (RFC 7296 §2.14).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IkeKeyLengths {
    /// SK_d, SK_pi and SK_pr: the PRF's preferred key length.
    pub prf_key: usize,
    /// SK_ai and SK_ar: the INTEG key length; 0 with an AEAD cipher
    /// (RFC 5282 §7.1).
    pub integ_key: usize,
    /// SK_ei and SK_er: the ENCR key length including any salt (RFC 5282
    /// §7.1, RFC 7634 §3).
    pub encr_key: usize,
}

impl IkeKeyLengths {
    /// Lengths for a negotiated PRF, cipher and (for encrypt-then-MAC) INTEG.
    pub fn new(prf: &dyn Prf, cipher: &dyn SkCipherAlgorithm, integ: Option<&dyn Integ>) -> Self {
        Self {
            prf_key: prf.key_len(),
            integ_key: integ.map_or(0, |i| i.key_len()),
            encr_key: cipher.encr_key_len(),
        }
    }

    /// Total bytes of prf+ output the split consumes.
    pub fn total(&self) -> Result<usize, CryptoError> {
        self.prf_key
            .checked_mul(3)
            .and_then(|n| n.checked_add(self.integ_key.checked_mul(2)?))
            .and_then(|n| n.checked_add(self.encr_key.checked_mul(2)?))
            .ok_or(CryptoError::Layout("key lengths overflow"))
    }
}

/// The seven IKE SA keys (RFC 7296 §2.14), in derivation order.
#[derive(Debug)]
pub struct IkeSaKeys {
    /// Key for deriving CHILD_SA keys and rekeying.
    pub sk_d: SecretBytes,
    /// Integrity key, initiator → responder (empty with AEAD).
    pub sk_ai: SecretBytes,
    /// Integrity key, responder → initiator (empty with AEAD).
    pub sk_ar: SecretBytes,
    /// Encryption key (with salt), initiator → responder.
    pub sk_ei: SecretBytes,
    /// Encryption key (with salt), responder → initiator.
    pub sk_er: SecretBytes,
    /// Key for the initiator's AUTH payload (§2.15).
    pub sk_pi: SecretBytes,
    /// Key for the responder's AUTH payload (§2.15).
    pub sk_pr: SecretBytes,
}

/// SKEYSEED = prf(Ni | Nr, g^ir) (RFC 7296 §2.14).
///
/// If the PRF only takes fixed-length keys and the nonces do not add up to
/// that length, the key is the first half-length bytes of Ni followed by the
/// first half-length bytes of Nr (§2.14). HMAC PRFs take `Ni | Nr` whole.
pub fn skeyseed(
    prf: &dyn Prf,
    ni: &[u8],
    nr: &[u8],
    g_ir: &SharedSecret,
) -> Result<SecretBytes, CryptoError> {
    let key = nonce_key(prf, ni, nr)?;
    prf.prf(key.secret_bytes(), &[g_ir.secret_bytes()])
}

fn nonce_key(prf: &dyn Prf, ni: &[u8], nr: &[u8]) -> Result<SecretBytes, CryptoError> {
    let total = ni
        .len()
        .checked_add(nr.len())
        .ok_or(CryptoError::Layout("nonce lengths overflow"))?;
    let mut key = Vec::with_capacity(total);
    match prf.fixed_key_len() {
        Some(n) if n != total => {
            let half = n / 2;
            let (a, b) = (ni.get(..half), nr.get(..half));
            match (a, b) {
                (Some(a), Some(b)) => {
                    key.extend_from_slice(a);
                    key.extend_from_slice(b);
                }
                _ => {
                    return Err(CryptoError::BadLength {
                        what: "nonce for fixed-key PRF",
                        expected: half,
                        actual: ni.len().min(nr.len()),
                    })
                }
            }
        }
        _ => {
            key.extend_from_slice(ni);
            key.extend_from_slice(nr);
        }
    }
    Ok(SecretBytes::new(key))
}

/// `{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} =
/// prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)` (RFC 7296 §2.14).
///
/// For a rekeyed IKE SA (§2.18) pass the new SKEYSEED, the new nonces and the
/// new SPIs, with the new SA's PRF and lengths.
pub fn derive_ike_sa_keys(
    prf: &dyn Prf,
    skeyseed: &SecretBytes,
    ni: &[u8],
    nr: &[u8],
    spi_i: &[u8; 8],
    spi_r: &[u8; 8],
    lengths: IkeKeyLengths,
) -> Result<IkeSaKeys, CryptoError> {
    let total = lengths.total()?;
    let stream = prf_plus(prf, skeyseed.secret_bytes(), &[ni, nr, spi_i, spi_r], total)?;
    let mut split = Splitter::new(stream.secret_bytes());
    Ok(IkeSaKeys {
        sk_d: split.take(lengths.prf_key)?,
        sk_ai: split.take(lengths.integ_key)?,
        sk_ar: split.take(lengths.integ_key)?,
        sk_ei: split.take(lengths.encr_key)?,
        sk_er: split.take(lengths.encr_key)?,
        sk_pi: split.take(lengths.prf_key)?,
        sk_pr: split.take(lengths.prf_key)?,
    })
}

/// SKEYSEED of a rekeyed IKE SA: `prf(SK_d (old), g^ir (new) | Ni | Nr)`
/// (RFC 7296 §2.18).
///
/// `old_prf` is the PRF of the IKE SA being rekeyed: SK_d is its key, so
/// its PRF keys it (the new SA's PRF is used only for the prf+ that follows,
/// in [`derive_ike_sa_keys`]). The nonces are those of the CREATE_CHILD_SA
/// exchange.
pub fn rekey_skeyseed(
    old_prf: &dyn Prf,
    sk_d_old: &SecretBytes,
    g_ir_new: &SharedSecret,
    ni: &[u8],
    nr: &[u8],
) -> Result<SecretBytes, CryptoError> {
    old_prf.prf(sk_d_old.secret_bytes(), &[g_ir_new.secret_bytes(), ni, nr])
}

/// Key lengths of one CHILD_SA direction (RFC 7296 §2.17).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChildKeyLengths {
    /// Encryption key bytes, including salt or nonce where the transform
    /// takes one from KEYMAT.
    pub encr: usize,
    /// Integrity key bytes (0 for AEAD or no integrity).
    pub integ: usize,
}

impl ChildKeyLengths {
    fn per_direction(&self) -> Result<usize, CryptoError> {
        self.encr
            .checked_add(self.integ)
            .ok_or(CryptoError::Layout("key lengths overflow"))
    }
}

/// The keys of one CHILD_SA pair (RFC 7296 §2.17).
#[derive(Debug)]
pub struct ChildSaKeys {
    /// Encryption key for the SA carrying initiator → responder traffic.
    pub encr_i: SecretBytes,
    /// Integrity key for initiator → responder (empty if none).
    pub integ_i: SecretBytes,
    /// Encryption key for responder → initiator.
    pub encr_r: SecretBytes,
    /// Integrity key for responder → initiator (empty if none).
    pub integ_r: SecretBytes,
}

/// `KEYMAT = prf+(SK_d, Ni | Nr)`, or with PFS
/// `prf+(SK_d, g^ir (new) | Ni | Nr)` (RFC 7296 §2.17).
///
/// Keys for initiator → responder come first; within a direction the
/// encryption key precedes the integrity key (§2.17). The nonces are those of
/// the exchange creating the CHILD_SA (IKE_SA_INIT's for the first one).
pub fn derive_child_keymat(
    prf: &dyn Prf,
    sk_d: &SecretBytes,
    g_ir_new: Option<&SharedSecret>,
    ni: &[u8],
    nr: &[u8],
    lengths: ChildKeyLengths,
) -> Result<ChildSaKeys, CryptoError> {
    let total = lengths
        .per_direction()?
        .checked_mul(2)
        .ok_or(CryptoError::Layout("key lengths overflow"))?;
    let stream = match g_ir_new {
        Some(g) => prf_plus(prf, sk_d.secret_bytes(), &[g.secret_bytes(), ni, nr], total)?,
        None => prf_plus(prf, sk_d.secret_bytes(), &[ni, nr], total)?,
    };
    let mut split = Splitter::new(stream.secret_bytes());
    Ok(ChildSaKeys {
        encr_i: split.take(lengths.encr)?,
        integ_i: split.take(lengths.integ)?,
        encr_r: split.take(lengths.encr)?,
        integ_r: split.take(lengths.integ)?,
    })
}

/// KEYMAT lengths for an ESP CHILD_SA (RFC 7296 §2.17 with each transform's
/// own RFC for salts and nonces).
///
/// ESP algorithms run in the kernel (or the userland data plane), not here,
/// so this table only knows their key sizes:
/// AES-CBC (RFC 3602), AES-CTR + 4-byte nonce (RFC 3686 §5.1), AES-GCM +
/// 4-byte salt (RFC 4106 §8.1), AES-CCM + 3-byte salt (RFC 4309 §7.1),
/// AES-GMAC + 4-byte salt (RFC 4543 §3.2), ChaCha20-Poly1305 + 4-byte salt
/// (RFC 7634 §2), 3DES (RFC 2451), NULL; and HMAC-SHA1-96 (RFC 2404),
/// HMAC-SHA2 (RFC 4868 §2.1.1), AES-XCBC-96 (RFC 3566), AES-CMAC-96 (RFC 4494).
pub fn esp_key_lengths(
    encr: EncrId,
    key_bits: Option<u16>,
    integ: IntegId,
) -> Result<ChildKeyLengths, CryptoError> {
    let unsupported = |kind, id: u16| CryptoError::UnsupportedTransform { kind, id, key_bits };
    let aes_key = || match key_bits {
        Some(b @ (128 | 192 | 256)) => Ok(usize::from(b / 8)),
        _ => Err(unsupported(TransformKind::Encr, encr.0)),
    };
    let encr_len = match encr {
        EncrId::AES_CBC => aes_key()?,
        EncrId::AES_CTR
        | EncrId::AES_GCM_8
        | EncrId::AES_GCM_12
        | EncrId::AES_GCM_16
        | EncrId::NULL_AES_GMAC => aes_key()? + 4,
        EncrId::AES_CCM_8 | EncrId::AES_CCM_12 | EncrId::AES_CCM_16 => aes_key()? + 3,
        EncrId::CHACHA20_POLY1305 if key_bits.is_none() || key_bits == Some(256) => 36,
        EncrId::ENCR_3DES if key_bits.is_none() => 24,
        EncrId::NULL if key_bits.is_none() => 0,
        _ => return Err(unsupported(TransformKind::Encr, encr.0)),
    };
    let integ_len = match integ {
        IntegId::AUTH_NONE => 0,
        IntegId::AUTH_HMAC_MD5_96 => 16,
        IntegId::AUTH_HMAC_SHA1_96 => 20,
        IntegId::AUTH_AES_XCBC_96 | IntegId::AUTH_AES_CMAC_96 => 16,
        IntegId::AUTH_HMAC_SHA2_256_128 => 32,
        IntegId::AUTH_HMAC_SHA2_384_192 => 48,
        IntegId::AUTH_HMAC_SHA2_512_256 => 64,
        _ => {
            return Err(CryptoError::UnsupportedTransform {
                kind: TransformKind::Integ,
                id: integ.0,
                key_bits: None,
            })
        }
    };
    Ok(ChildKeyLengths {
        encr: encr_len,
        integ: integ_len,
    })
}

/// Hands out consecutive pieces of a prf+ stream as fresh secrets.
struct Splitter<'a> {
    rest: &'a [u8],
}

impl<'a> Splitter<'a> {
    fn new(stream: &'a [u8]) -> Self {
        Self { rest: stream }
    }

    fn take(&mut self, n: usize) -> Result<SecretBytes, CryptoError> {
        let (head, tail) = self.rest.split_at_checked(n).ok_or(CryptoError::Layout(
            "prf+ stream shorter than the key split",
        ))?;
        self.rest = tail;
        Ok(SecretBytes::from_slice(head))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::PRF_HMAC_SHA2_256;

    /// A PRF with a fixed 16-byte key, like PRF_AES128_XCBC (RFC 4434): it
    /// records the key it was given so the §2.14 nonce rule can be checked.
    struct FixedKeyPrf(std::sync::Mutex<Vec<u8>>);

    impl Prf for FixedKeyPrf {
        fn id(&self) -> crate::crypto::PrfId {
            crate::crypto::PrfId::PRF_AES128_XCBC
        }
        fn output_len(&self) -> usize {
            16
        }
        fn key_len(&self) -> usize {
            16
        }
        fn fixed_key_len(&self) -> Option<usize> {
            Some(16)
        }
        fn compute(&self, key: &[u8], _: &[&[u8]], out: &mut [u8]) -> Result<(), CryptoError> {
            *self.0.lock().unwrap() = key.to_vec();
            out.fill(0x42);
            Ok(())
        }
    }

    #[test]
    fn fixed_key_prf_takes_half_of_each_nonce_for_skeyseed() {
        // RFC 7296 §2.14: first 64 bits of Ni and first 64 bits of Nr.
        let prf = FixedKeyPrf(std::sync::Mutex::new(Vec::new()));
        let ni: Vec<u8> = (0..32).collect();
        let nr: Vec<u8> = (100..132).collect();
        skeyseed(&prf, &ni, &nr, &SharedSecret::from_slice(&[1; 32])).unwrap();
        let key = prf.0.lock().unwrap().clone();
        assert_eq!(&key[..8], &ni[..8]);
        assert_eq!(&key[8..], &nr[..8]);
        // Nonces that already add up to the key length are used whole.
        skeyseed(
            &prf,
            &ni[..8],
            &nr[..8],
            &SharedSecret::from_slice(&[1; 32]),
        )
        .unwrap();
        assert_eq!(prf.0.lock().unwrap().len(), 16);
        // Nonces too short for the split are a local error, not a panic.
        assert!(skeyseed(&prf, &ni[..4], &nr, &SharedSecret::from_slice(&[1])).is_err());
    }

    #[test]
    fn hmac_prf_keys_skeyseed_with_both_whole_nonces() {
        let g = SharedSecret::from_slice(b"g^ir");
        let a = skeyseed(&PRF_HMAC_SHA2_256, b"ni", b"nr", &g).unwrap();
        let b = PRF_HMAC_SHA2_256.prf(b"ninr", &[b"g^ir"]).unwrap();
        assert_eq!(a.secret_bytes(), b.secret_bytes());
    }

    #[test]
    fn esp_key_lengths_follow_each_transforms_rfc() {
        let l = |e, b, i| esp_key_lengths(e, b, i).map(|c| (c.encr, c.integ));
        assert_eq!(
            l(EncrId::AES_GCM_16, Some(256), IntegId::AUTH_NONE),
            Ok((36, 0))
        );
        assert_eq!(
            l(EncrId::AES_GCM_16, Some(128), IntegId::AUTH_NONE),
            Ok((20, 0))
        );
        assert_eq!(
            l(EncrId::AES_CCM_8, Some(128), IntegId::AUTH_NONE),
            Ok((19, 0))
        );
        assert_eq!(
            l(EncrId::AES_CTR, Some(192), IntegId::AUTH_NONE),
            Ok((28, 0))
        );
        assert_eq!(
            l(EncrId::CHACHA20_POLY1305, None, IntegId::AUTH_NONE),
            Ok((36, 0))
        );
        assert_eq!(
            l(EncrId::AES_CBC, Some(128), IntegId::AUTH_HMAC_SHA2_256_128),
            Ok((16, 32))
        );
        assert_eq!(
            l(EncrId::AES_CBC, Some(256), IntegId::AUTH_HMAC_SHA2_512_256),
            Ok((32, 64))
        );
        assert_eq!(
            l(EncrId::ENCR_3DES, None, IntegId::AUTH_HMAC_SHA1_96),
            Ok((24, 20))
        );
        assert_eq!(
            l(EncrId::NULL, None, IntegId::AUTH_HMAC_SHA2_384_192),
            Ok((0, 48))
        );
        // AES without a key length, a bad key length, unknown IDs: errors.
        assert!(l(EncrId::AES_CBC, None, IntegId::AUTH_NONE).is_err());
        assert!(l(EncrId::AES_GCM_16, Some(100), IntegId::AUTH_NONE).is_err());
        assert!(l(EncrId(999), None, IntegId::AUTH_NONE).is_err());
        assert!(l(EncrId::AES_CBC, Some(128), IntegId(999)).is_err());
    }

    #[test]
    fn ike_key_split_follows_rfc7296_order_and_lengths() {
        let lengths = IkeKeyLengths {
            prf_key: 32,
            integ_key: 32,
            encr_key: 16,
        };
        assert_eq!(lengths.total(), Ok(32 * 3 + 32 * 2 + 16 * 2));
        let seed = SecretBytes::from_slice(&[7; 32]);
        let keys = derive_ike_sa_keys(
            &PRF_HMAC_SHA2_256,
            &seed,
            b"ni",
            b"nr",
            &[1; 8],
            &[2; 8],
            lengths,
        )
        .unwrap();
        let stream = prf_plus(
            &PRF_HMAC_SHA2_256,
            &[7; 32],
            &[b"ni", b"nr", &[1; 8], &[2; 8]],
            lengths.total().unwrap(),
        )
        .unwrap();
        let s = stream.secret_bytes();
        let joined = [
            keys.sk_d.secret_bytes(),
            keys.sk_ai.secret_bytes(),
            keys.sk_ar.secret_bytes(),
            keys.sk_ei.secret_bytes(),
            keys.sk_er.secret_bytes(),
            keys.sk_pi.secret_bytes(),
            keys.sk_pr.secret_bytes(),
        ]
        .concat();
        assert_eq!(joined, s);
        assert_eq!(format!("{:?}", keys.sk_ei), "<secret len=16>");
    }

    #[test]
    fn child_keymat_with_pfs_prepends_the_new_shared_secret() {
        let sk_d = SecretBytes::from_slice(&[3; 32]);
        let g = SharedSecret::from_slice(&[4; 32]);
        let lens = ChildKeyLengths { encr: 20, integ: 0 };
        let pfs =
            derive_child_keymat(&PRF_HMAC_SHA2_256, &sk_d, Some(&g), b"Ni", b"Nr", lens).unwrap();
        let expect = prf_plus(&PRF_HMAC_SHA2_256, &[3; 32], &[&[4; 32], b"NiNr"], 40).unwrap();
        assert_eq!(pfs.encr_i.secret_bytes(), &expect.secret_bytes()[..20]);
        assert_eq!(pfs.encr_r.secret_bytes(), &expect.secret_bytes()[20..]);
        assert!(pfs.integ_i.is_empty() && pfs.integ_r.is_empty());
        let no_pfs =
            derive_child_keymat(&PRF_HMAC_SHA2_256, &sk_d, None, b"Ni", b"Nr", lens).unwrap();
        assert_ne!(no_pfs.encr_i.secret_bytes(), pfs.encr_i.secret_bytes());
    }
}
