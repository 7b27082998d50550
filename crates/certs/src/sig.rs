//! The signing/verifying seam: [`SignatureScheme`] names what RFC 7427 puts in
//! its AlgorithmIdentifier, [`PublicKey`] verifies with ring.
//!
//! This module knows nothing about IKE payloads. The IKE core builds the
//! octets to sign (RFC 7296 §2.15) and hands them over as bytes; the adapter to
//! its `Signer`/`Verifier` traits is a thin wrapper over [`crate::PrivateKey::sign`]
//! and [`PublicKey::verify`].

use ring::signature;
use x509_parser::prelude::FromDer;
use x509_parser::x509::AlgorithmIdentifier;

use crate::der::{self, oid, tag};
use crate::error::CryptoError;

/// A public or private key's algorithm and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyType {
    /// ECDSA on NIST P-256 (secp256r1).
    EcdsaP256,
    /// ECDSA on NIST P-384 (secp384r1).
    EcdsaP384,
    /// Ed25519 (RFC 8032).
    Ed25519,
    /// RSA with a modulus of this many bits.
    Rsa {
        /// Modulus size.
        bits: usize,
    },
}

impl std::fmt::Display for KeyType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::EcdsaP256 => f.write_str("ECDSA P-256"),
            Self::EcdsaP384 => f.write_str("ECDSA P-384"),
            Self::Ed25519 => f.write_str("Ed25519"),
            Self::Rsa { bits } => write!(f, "RSA {bits}"),
        }
    }
}

/// Signature schemes, one per RFC 7427 AlgorithmIdentifier we support.
///
/// ECDSA names only the hash, as RFC 7427 §3 does: the curve comes from the key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// ecdsa-with-SHA256 (RFC 5758 §3.2), DER `ECDSA-Sig-Value`.
    EcdsaSha256,
    /// ecdsa-with-SHA384 (RFC 5758 §3.2), DER `ECDSA-Sig-Value`.
    EcdsaSha384,
    /// Pure Ed25519 (RFC 8420).
    Ed25519,
    /// sha256WithRSAEncryption (RFC 8017 §8.2, PKCS#1 v1.5).
    RsaPkcs1Sha256,
    /// sha384WithRSAEncryption.
    RsaPkcs1Sha384,
    /// sha512WithRSAEncryption.
    RsaPkcs1Sha512,
    /// RSASSA-PSS, SHA-256, MGF1-SHA-256, salt 32 (RFC 8017 §8.1, RFC 7427 §A.4).
    RsaPssSha256,
    /// RSASSA-PSS, SHA-384, MGF1-SHA-384, salt 48.
    RsaPssSha384,
    /// RSASSA-PSS, SHA-512, MGF1-SHA-512, salt 64.
    RsaPssSha512,
}

/// OIDs of signature algorithms and hashes, as DER content octets.
mod sig_oid {
    pub(super) const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02];
    pub(super) const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03];
    // 1.2.840.113549.1.1.{11,12,13,10,8}: PKCS #1 (RFC 8017 Appendix C).
    pub(super) const RSA_SHA256: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 11];
    pub(super) const RSA_SHA384: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 12];
    pub(super) const RSA_SHA512: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 13];
    pub(super) const RSA_PSS: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 10];
    pub(super) const MGF1: [u8; 9] = [0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 8];
    // 2.16.840.1.101.3.4.2.{1,2,3}: SHA-2 (RFC 5754 §2).
    pub(super) const SHA256: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 1];
    pub(super) const SHA384: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 2];
    pub(super) const SHA512: [u8; 9] = [0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 3];
}

impl SignatureScheme {
    /// Every scheme, for listing and tests.
    pub const ALL: [Self; 9] = [
        Self::EcdsaSha256,
        Self::EcdsaSha384,
        Self::Ed25519,
        Self::RsaPkcs1Sha256,
        Self::RsaPkcs1Sha384,
        Self::RsaPkcs1Sha512,
        Self::RsaPssSha256,
        Self::RsaPssSha384,
        Self::RsaPssSha512,
    ];

    /// A short name for logs and errors.
    pub const fn name(self) -> &'static str {
        match self {
            Self::EcdsaSha256 => "ecdsa-with-SHA256",
            Self::EcdsaSha384 => "ecdsa-with-SHA384",
            Self::Ed25519 => "Ed25519",
            Self::RsaPkcs1Sha256 => "sha256WithRSAEncryption",
            Self::RsaPkcs1Sha384 => "sha384WithRSAEncryption",
            Self::RsaPkcs1Sha512 => "sha512WithRSAEncryption",
            Self::RsaPssSha256 => "RSASSA-PSS-SHA256",
            Self::RsaPssSha384 => "RSASSA-PSS-SHA384",
            Self::RsaPssSha512 => "RSASSA-PSS-SHA512",
        }
    }

    /// The RFC 7427 §4 hash algorithm number to announce in
    /// SIGNATURE_HASH_ALGORITHMS (IANA "IKEv2 Hash Algorithms"): 2 SHA2-256,
    /// 3 SHA2-384, 4 SHA2-512, 5 Identity (Ed25519, RFC 8420 §2).
    pub const fn hash_algorithm_id(self) -> u16 {
        match self {
            Self::EcdsaSha256 | Self::RsaPkcs1Sha256 | Self::RsaPssSha256 => 2,
            Self::EcdsaSha384 | Self::RsaPkcs1Sha384 | Self::RsaPssSha384 => 3,
            Self::RsaPkcs1Sha512 | Self::RsaPssSha512 => 4,
            Self::Ed25519 => 5,
        }
    }

    /// Whether a key of this type can make or check this scheme.
    pub const fn fits(self, key: KeyType) -> bool {
        matches!(
            (self, key),
            (
                Self::EcdsaSha256 | Self::EcdsaSha384,
                KeyType::EcdsaP256 | KeyType::EcdsaP384
            ) | (Self::Ed25519, KeyType::Ed25519)
                | (
                    Self::RsaPkcs1Sha256
                        | Self::RsaPkcs1Sha384
                        | Self::RsaPkcs1Sha512
                        | Self::RsaPssSha256
                        | Self::RsaPssSha384
                        | Self::RsaPssSha512,
                    KeyType::Rsa { .. }
                )
        )
    }

    /// The DER AlgorithmIdentifier for the RFC 7427 AUTH payload (§3).
    ///
    /// Hash AlgorithmIdentifiers inside the PSS parameters are written with a
    /// NULL parameter; RFC 4055 §2.1 asks verifiers to accept both forms.
    pub fn algorithm_identifier(self) -> Vec<u8> {
        let null = der::tlv(tag::NULL, &[]);
        let oid_only = |o: &[u8]| der::seq(&[&der::tlv(tag::OID, o)]);
        let oid_null = |o: &[u8]| der::seq(&[&der::tlv(tag::OID, o), &null]);
        let pss = |hash: &[u8], salt: u8| {
            let hash_alg = oid_null(hash);
            let mgf = der::seq(&[&der::tlv(tag::OID, &sig_oid::MGF1), &hash_alg]);
            let params = der::seq(&[
                &der::tlv(tag::CONTEXT_0, &hash_alg),
                &der::tlv(0xa1, &mgf),
                &der::tlv(0xa2, &der::tlv(tag::INTEGER, &[salt])),
            ]);
            der::seq(&[&der::tlv(tag::OID, &sig_oid::RSA_PSS), &params])
        };
        match self {
            Self::EcdsaSha256 => oid_only(sig_oid::ECDSA_SHA256),
            Self::EcdsaSha384 => oid_only(sig_oid::ECDSA_SHA384),
            Self::Ed25519 => oid_only(oid::ED25519),
            Self::RsaPkcs1Sha256 => oid_null(&sig_oid::RSA_SHA256),
            Self::RsaPkcs1Sha384 => oid_null(&sig_oid::RSA_SHA384),
            Self::RsaPkcs1Sha512 => oid_null(&sig_oid::RSA_SHA512),
            Self::RsaPssSha256 => pss(&sig_oid::SHA256, 32),
            Self::RsaPssSha384 => pss(&sig_oid::SHA384, 48),
            Self::RsaPssSha512 => pss(&sig_oid::SHA512, 64),
        }
    }

    /// Recognise a DER AlgorithmIdentifier (from an RFC 7427 AUTH payload or
    /// a certificate). `None` for anything we do not verify, including PSS
    /// with a salt length other than the hash length, which ring does not
    /// support.
    pub fn from_algorithm_identifier(der: &[u8]) -> Option<Self> {
        let (rest, alg) = AlgorithmIdentifier::from_der(der).ok()?;
        if !rest.is_empty() {
            return None;
        }
        Self::from_parsed(&alg)
    }

    /// As [`Self::from_algorithm_identifier`], on an already parsed identifier.
    pub(crate) fn from_parsed(alg: &AlgorithmIdentifier<'_>) -> Option<Self> {
        let oid = alg.algorithm.as_bytes();
        Some(match oid {
            o if o == sig_oid::ECDSA_SHA256 => Self::EcdsaSha256,
            o if o == sig_oid::ECDSA_SHA384 => Self::EcdsaSha384,
            o if o == oid::ED25519 => Self::Ed25519,
            o if o == sig_oid::RSA_SHA256 => Self::RsaPkcs1Sha256,
            o if o == sig_oid::RSA_SHA384 => Self::RsaPkcs1Sha384,
            o if o == sig_oid::RSA_SHA512 => Self::RsaPkcs1Sha512,
            o if o == sig_oid::RSA_PSS => return Self::from_pss_params(alg),
            _ => return None,
        })
    }

    fn from_pss_params(alg: &AlgorithmIdentifier<'_>) -> Option<Self> {
        use x509_parser::signature_algorithm::SignatureAlgorithm;
        let SignatureAlgorithm::RSASSA_PSS(params) = SignatureAlgorithm::try_from(alg).ok()? else {
            return None;
        };
        let hash = params.hash_algorithm_oid().as_bytes();
        let mgf = params.mask_gen_algorithm().ok()?;
        if mgf.mgf.as_bytes() != sig_oid::MGF1 || mgf.hash.as_bytes() != hash {
            return None;
        }
        let salt = params.salt_length();
        match hash {
            h if h == sig_oid::SHA256 && salt == 32 => Some(Self::RsaPssSha256),
            h if h == sig_oid::SHA384 && salt == 48 => Some(Self::RsaPssSha384),
            h if h == sig_oid::SHA512 && salt == 64 => Some(Self::RsaPssSha512),
            _ => None,
        }
    }

    /// ring's verification algorithm for this scheme with a key of `key`.
    fn ring_verify(self, key: KeyType) -> Option<&'static dyn signature::VerificationAlgorithm> {
        Some(match (self, key) {
            (Self::EcdsaSha256, KeyType::EcdsaP256) => &signature::ECDSA_P256_SHA256_ASN1,
            (Self::EcdsaSha384, KeyType::EcdsaP256) => &signature::ECDSA_P256_SHA384_ASN1,
            (Self::EcdsaSha256, KeyType::EcdsaP384) => &signature::ECDSA_P384_SHA256_ASN1,
            (Self::EcdsaSha384, KeyType::EcdsaP384) => &signature::ECDSA_P384_SHA384_ASN1,
            (Self::Ed25519, KeyType::Ed25519) => &signature::ED25519,
            (Self::RsaPkcs1Sha256, KeyType::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA256,
            (Self::RsaPkcs1Sha384, KeyType::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA384,
            (Self::RsaPkcs1Sha512, KeyType::Rsa { .. }) => &signature::RSA_PKCS1_2048_8192_SHA512,
            (Self::RsaPssSha256, KeyType::Rsa { .. }) => &signature::RSA_PSS_2048_8192_SHA256,
            (Self::RsaPssSha384, KeyType::Rsa { .. }) => &signature::RSA_PSS_2048_8192_SHA384,
            (Self::RsaPssSha512, KeyType::Rsa { .. }) => &signature::RSA_PSS_2048_8192_SHA512,
            _ => return None,
        })
    }
}

impl std::fmt::Display for SignatureScheme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A public key taken from a SubjectPublicKeyInfo (RFC 5280 §4.1.2.7).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    spki: Vec<u8>,
    key_type: KeyType,
    /// Offset of the BIT STRING content (the raw key) within `spki`.
    raw_start: usize,
}

impl PublicKey {
    /// Parse a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, CryptoError> {
        let bad = |reason: &str| CryptoError::PublicKey {
            reason: reason.to_owned(),
        };
        let body = der::expect_only(spki, tag::SEQUENCE).map_err(|_| bad("not a SEQUENCE"))?;
        let (alg, rest) = der::expect(body, tag::SEQUENCE).map_err(|_| bad("no algorithm"))?;
        let bits = der::expect_only(rest, tag::BIT_STRING).map_err(|_| bad("no key bits"))?;
        let (unused, raw) = bits.split_first().ok_or_else(|| bad("empty key"))?;
        if *unused != 0 {
            return Err(bad("key BIT STRING has unused bits"));
        }
        let (alg_oid, params) = der::expect(alg, tag::OID).map_err(|_| bad("no algorithm OID"))?;
        let key_type = key_type_of(alg_oid, params, raw).ok_or_else(|| {
            bad(&format!(
                "unsupported algorithm {}",
                crate::fmt::hex_colon(alg_oid)
            ))
        })?;
        // INVARIANT: `raw` is a suffix of `spki`.
        let raw_start = spki.len().saturating_sub(raw.len());
        Ok(Self {
            spki: spki.to_vec(),
            key_type,
            raw_start,
        })
    }

    /// The whole DER SubjectPublicKeyInfo.
    pub fn spki_der(&self) -> &[u8] {
        &self.spki
    }

    /// Algorithm and size.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The key without its SPKI wrapping (EC point, Ed25519 key, RSAPublicKey).
    pub fn raw(&self) -> &[u8] {
        self.spki.get(self.raw_start..).unwrap_or(&[])
    }

    /// Verify `sig` over `msg` with `scheme` (RFC 7427 §3 for IKE AUTH).
    pub fn verify(
        &self,
        scheme: SignatureScheme,
        msg: &[u8],
        sig: &[u8],
    ) -> Result<(), CryptoError> {
        let alg = scheme
            .ring_verify(self.key_type)
            .ok_or(CryptoError::SchemeMismatch {
                scheme: scheme.name(),
                key: self.key_type.to_string(),
            })?;
        signature::UnparsedPublicKey::new(alg, self.raw())
            .verify(msg, sig)
            .map_err(|_| CryptoError::BadSignature {
                scheme: scheme.name(),
            })
    }
}

impl PublicKey {
    /// Verify an RFC 4754 fixed-length `r || s` ECDSA signature (AUTH methods
    /// 9 and 11), with the curve's own hash (SHA-256 for P-256, SHA-384 for P-384).
    pub fn verify_rfc4754(&self, msg: &[u8], sig: &[u8]) -> Result<(), CryptoError> {
        let (alg, scheme): (&'static dyn signature::VerificationAlgorithm, _) = match self.key_type
        {
            KeyType::EcdsaP256 => (
                &signature::ECDSA_P256_SHA256_FIXED,
                "ECDSA-P256-SHA256 (RFC 4754)",
            ),
            KeyType::EcdsaP384 => (
                &signature::ECDSA_P384_SHA384_FIXED,
                "ECDSA-P384-SHA384 (RFC 4754)",
            ),
            other => {
                return Err(CryptoError::SchemeMismatch {
                    scheme: "ECDSA (RFC 4754)",
                    key: other.to_string(),
                })
            }
        };
        signature::UnparsedPublicKey::new(alg, self.raw())
            .verify(msg, sig)
            .map_err(|_| CryptoError::BadSignature { scheme })
    }
}

/// The key type named by an SPKI algorithm OID and parameters.
pub(crate) fn key_type_of(alg_oid: &[u8], params: &[u8], raw: &[u8]) -> Option<KeyType> {
    if alg_oid == oid::EC_PUBLIC_KEY {
        let curve = der::expect_only(params, tag::OID).ok()?;
        if curve == oid::P256 {
            Some(KeyType::EcdsaP256)
        } else if curve == oid::P384 {
            Some(KeyType::EcdsaP384)
        } else {
            None
        }
    } else if alg_oid == oid::ED25519 {
        Some(KeyType::Ed25519)
    } else if alg_oid == oid::RSA_ENCRYPTION {
        Some(KeyType::Rsa {
            bits: rsa_modulus_bits(raw)?,
        })
    } else {
        None
    }
}

/// Bits in the modulus of a DER RSAPublicKey or RSAPrivateKey's first INTEGER.
pub(crate) fn rsa_modulus_bits(rsa_public_key: &[u8]) -> Option<usize> {
    let body = der::expect_only(rsa_public_key, tag::SEQUENCE).ok()?;
    let (n, _) = der::expect(body, tag::INTEGER).ok()?;
    modulus_bits(n)
}

/// Bits of a big-endian unsigned INTEGER content.
pub(crate) fn modulus_bits(n: &[u8]) -> Option<usize> {
    let skip = n.iter().take_while(|&&b| b == 0).count();
    let n = n.get(skip..)?;
    let first = n.first()?;
    let lead = usize::try_from(first.leading_zeros()).ok()?;
    n.len().checked_mul(8)?.checked_sub(lead)
}

/// A SubjectPublicKeyInfo from a raw key (for matching private keys to certificates).
pub(crate) fn spki_from_raw(key_type: KeyType, raw: &[u8]) -> Vec<u8> {
    let alg = match key_type {
        KeyType::EcdsaP256 => der::seq(&[
            &der::tlv(tag::OID, oid::EC_PUBLIC_KEY),
            &der::tlv(tag::OID, oid::P256),
        ]),
        KeyType::EcdsaP384 => der::seq(&[
            &der::tlv(tag::OID, oid::EC_PUBLIC_KEY),
            &der::tlv(tag::OID, oid::P384),
        ]),
        KeyType::Ed25519 => der::seq(&[&der::tlv(tag::OID, oid::ED25519)]),
        KeyType::Rsa { .. } => der::seq(&[
            &der::tlv(tag::OID, oid::RSA_ENCRYPTION),
            &der::tlv(tag::NULL, &[]),
        ]),
    };
    let mut bits = Vec::with_capacity(raw.len().saturating_add(1));
    bits.push(0);
    bits.extend_from_slice(raw);
    der::seq(&[&alg, &der::tlv(tag::BIT_STRING, &bits)])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn algorithm_identifiers_round_trip() {
        for s in SignatureScheme::ALL {
            let der = s.algorithm_identifier();
            assert_eq!(
                SignatureScheme::from_algorithm_identifier(&der),
                Some(s),
                "{s}"
            );
        }
    }

    #[test]
    fn ecdsa_sha256_identifier_is_the_rfc7427_encoding() {
        // RFC 7427 Appendix A.3.1: SEQUENCE { OID 1.2.840.10045.4.3.2 }.
        assert_eq!(
            hex::encode(SignatureScheme::EcdsaSha256.algorithm_identifier()),
            "300a06082a8648ce3d040302"
        );
        assert_eq!(
            hex::encode(SignatureScheme::RsaPkcs1Sha256.algorithm_identifier()),
            "300d06092a864886f70d01010b0500"
        );
    }

    #[test]
    fn hash_algorithm_ids_follow_the_iana_registry() {
        let ids: Vec<u16> = SignatureScheme::ALL
            .iter()
            .map(|s| s.hash_algorithm_id())
            .collect();
        assert_eq!(ids, [2, 3, 5, 2, 3, 4, 2, 3, 4]);
    }

    #[test]
    fn pss_with_odd_salt_is_not_recognised() {
        let mut der = SignatureScheme::RsaPssSha256.algorithm_identifier();
        // The salt INTEGER is the last octet.
        let last = der.len() - 1;
        der[last] = 20;
        assert_eq!(SignatureScheme::from_algorithm_identifier(&der), None);
    }

    #[test]
    fn garbage_spki_is_an_error_not_a_panic() {
        for bytes in [
            &[][..],
            &[0x30, 0x00],
            &[0x30, 0x03, 0x30, 0x01, 0x06],
            &[0xff; 12],
        ] {
            assert!(PublicKey::from_spki_der(bytes).is_err());
        }
    }
}
