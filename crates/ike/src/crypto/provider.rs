//! The crypto seam: a table of algorithms looked up by IANA transform ID
//! (the rustls `CryptoProvider` idea, STYLE.md §1.4).
//!
//! The state machine holds one [`CryptoProvider`] and never names an
//! algorithm. [`ring_provider`] fills it with what *ring* offers; a crate
//! that adds MODP groups or AES-CBC pushes its `&'static` objects into the
//! same vectors.

use super::cbc::{AES_CBC_128, AES_CBC_192, AES_CBC_256};
use super::modp::{MODP_2048, MODP_3072, MODP_4096};
use super::ring_impl::{
    AES_128_GCM_16, AES_256_GCM_16, AUTH_HMAC_SHA2_256_128, AUTH_HMAC_SHA2_384_192,
    AUTH_HMAC_SHA2_512_256, CHACHA20_POLY1305, ECP_256, ECP_384, PRF_HMAC_SHA2_256,
    PRF_HMAC_SHA2_384, PRF_HMAC_SHA2_512, X25519,
};
use super::ring_impl::{AUTH_HMAC_SHA1_96, PRF_HMAC_SHA1};
use super::{
    CipherShape, CryptoError, EncrId, IkeKeyLengths, Integ, IntegId, KeMethod, KeyExchangeGroup,
    Prf, PrfId, SkCipherAlgorithm, TransformKind,
};

/// Every algorithm the IKE core may use, by transform ID.
///
/// Order is preference order (used when building our own proposals).
#[derive(Clone, Default)]
pub struct CryptoProvider {
    /// ENCR transforms for SK payloads.
    pub ciphers: Vec<&'static dyn SkCipherAlgorithm>,
    /// PRF transforms.
    pub prfs: Vec<&'static dyn Prf>,
    /// INTEG transforms (for encrypt-then-MAC ciphers).
    pub integs: Vec<&'static dyn Integ>,
    /// KE methods.
    pub groups: Vec<&'static dyn KeyExchangeGroup>,
}

impl core::fmt::Debug for CryptoProvider {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("CryptoProvider")
            .field(
                "ciphers",
                &self
                    .ciphers
                    .iter()
                    .map(|c| (c.id(), c.key_bits()))
                    .collect::<Vec<_>>(),
            )
            .field(
                "prfs",
                &self.prfs.iter().map(|p| p.id()).collect::<Vec<_>>(),
            )
            .field(
                "integs",
                &self.integs.iter().map(|i| i.id()).collect::<Vec<_>>(),
            )
            .field(
                "groups",
                &self.groups.iter().map(|g| g.id()).collect::<Vec<_>>(),
            )
            .finish()
    }
}

/// The algorithms negotiated for one IKE SA, resolved to objects.
#[derive(Clone, Copy)]
pub struct IkeSuite {
    /// ENCR.
    pub cipher: &'static dyn SkCipherAlgorithm,
    /// INTEG: `Some` exactly when the cipher is encrypt-then-MAC.
    pub integ: Option<&'static dyn Integ>,
    /// PRF.
    pub prf: &'static dyn Prf,
    /// KE method.
    pub group: &'static dyn KeyExchangeGroup,
}

impl IkeSuite {
    /// Key lengths for SKEYSEED's split (RFC 7296 §2.14).
    pub fn key_lengths(&self) -> IkeKeyLengths {
        IkeKeyLengths::new(self.prf, self.cipher, self.integ)
    }
}

impl core::fmt::Debug for IkeSuite {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("IkeSuite")
            .field("encr", &(self.cipher.id(), self.cipher.key_bits()))
            .field("integ", &self.integ.map(|i| i.id()))
            .field("prf", &self.prf.id())
            .field("ke", &self.group.id())
            .finish()
    }
}

fn unsupported(kind: TransformKind, id: u16, key_bits: Option<u16>) -> CryptoError {
    CryptoError::UnsupportedTransform { kind, id, key_bits }
}

impl CryptoProvider {
    /// The SK cipher for an ENCR transform and its Key Length attribute.
    pub fn cipher(
        &self,
        id: EncrId,
        key_bits: Option<u16>,
    ) -> Result<&'static dyn SkCipherAlgorithm, CryptoError> {
        self.ciphers
            .iter()
            .copied()
            .find(|c| c.id() == id && c.key_bits() == key_bits)
            .ok_or_else(|| unsupported(TransformKind::Encr, id.0, key_bits))
    }

    /// The PRF for a transform ID.
    pub fn prf(&self, id: PrfId) -> Result<&'static dyn Prf, CryptoError> {
        self.prfs
            .iter()
            .copied()
            .find(|p| p.id() == id)
            .ok_or_else(|| unsupported(TransformKind::Prf, id.0, None))
    }

    /// The INTEG transform for an ID.
    pub fn integ(&self, id: IntegId) -> Result<&'static dyn Integ, CryptoError> {
        self.integs
            .iter()
            .copied()
            .find(|i| i.id() == id)
            .ok_or_else(|| unsupported(TransformKind::Integ, id.0, None))
    }

    /// The KE method for an ID.
    pub fn group(&self, id: KeMethod) -> Result<&'static dyn KeyExchangeGroup, CryptoError> {
        self.groups
            .iter()
            .copied()
            .find(|g| g.id() == id)
            .ok_or_else(|| unsupported(TransformKind::Ke, id.0, None))
    }

    /// Resolves a negotiated IKE SA proposal. `integ` of `None` or
    /// `AUTH_NONE` is required for AEAD ciphers (RFC 5282 §8) and refused for
    /// the others (RFC 7296 §3.3.3 makes INTEG mandatory there).
    pub fn ike_suite(
        &self,
        encr: EncrId,
        key_bits: Option<u16>,
        prf: PrfId,
        integ: Option<IntegId>,
        ke: KeMethod,
    ) -> Result<IkeSuite, CryptoError> {
        let cipher = self.cipher(encr, key_bits)?;
        let integ = integ.filter(|i| *i != IntegId::AUTH_NONE);
        let integ = match (cipher.shape(), integ) {
            (CipherShape::Aead, None) => None,
            (CipherShape::EncryptThenMac, Some(i)) => Some(self.integ(i)?),
            (CipherShape::Aead, Some(i)) => {
                return Err(unsupported(TransformKind::Integ, i.0, None))
            }
            (CipherShape::EncryptThenMac, None) => {
                return Err(unsupported(
                    TransformKind::Integ,
                    IntegId::AUTH_NONE.0,
                    None,
                ))
            }
        };
        Ok(IkeSuite {
            cipher,
            integ,
            prf: self.prf(prf)?,
            group: self.group(ke)?,
        })
    }
}

/// The production provider: everything *ring* implements, strongest first
/// within each kind.
pub fn ring_provider() -> CryptoProvider {
    CryptoProvider {
        ciphers: vec![&AES_256_GCM_16, &CHACHA20_POLY1305, &AES_128_GCM_16],
        prfs: vec![&PRF_HMAC_SHA2_256, &PRF_HMAC_SHA2_384, &PRF_HMAC_SHA2_512],
        integs: vec![
            &AUTH_HMAC_SHA2_256_128,
            &AUTH_HMAC_SHA2_384_192,
            &AUTH_HMAC_SHA2_512_256,
        ],
        groups: vec![&X25519, &ECP_256, &ECP_384],
    }
}

/// [`ring_provider`] plus the suites older native IKEv2 clients need:
/// ENCR_AES_CBC with 256/192/128-bit keys (RFC 3602), AUTH_HMAC_SHA1_96
/// (RFC 2404), PRF_HMAC_SHA1 and MODP groups 14, 15, 16 (RFC 3526).
///
/// They come after every *ring* algorithm, so preference order still puts
/// AEAD, SHA-2 and elliptic curves first. Which suites a connection actually
/// offers or accepts is its proposal configuration's business; this provider
/// only makes them resolvable. Groups 1, 2 and 5 are not provided at all
/// (RFC 8247 §2.4).
pub fn native_client_provider() -> CryptoProvider {
    let mut p = ring_provider();
    p.ciphers.extend([
        &AES_CBC_256 as &'static dyn SkCipherAlgorithm,
        &AES_CBC_192,
        &AES_CBC_128,
    ]);
    p.prfs.push(&PRF_HMAC_SHA1);
    p.integs.push(&AUTH_HMAC_SHA1_96);
    p.groups.extend([
        &MODP_2048 as &'static dyn KeyExchangeGroup,
        &MODP_3072,
        &MODP_4096,
    ]);
    p
}
