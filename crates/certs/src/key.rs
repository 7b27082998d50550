//! Private keys: parsing PKCS#8, PKCS#1 and SEC1, holding them zeroized, and
//! signing with ring.
//!
//! Every accepted key is normalised to PKCS#8 DER in a [`Zeroizing`] buffer;
//! ring key objects are built from it for each signature and dropped at once,
//! because ring does not zeroize its own key structures (STYLE.md §6).
//! [`PrivateKey`] has neither `Clone` nor a `Debug` that shows key material.

use std::path::Path;

use ring::rand::SystemRandom;
use ring::signature::{self as rsig, KeyPair};
use zeroize::Zeroizing;

use crate::der::{self, oid, tag};
use crate::error::{CryptoError, LoadError};
use crate::load::{decode_pem_or_der, read_private_file};
use crate::sig::{self, KeyType, PublicKey, SignatureScheme};

/// A private key we can sign IKE AUTH payloads and certificates with.
pub struct PrivateKey {
    key_type: KeyType,
    pkcs8: Zeroizing<Vec<u8>>,
    public: PublicKey,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<private key type={}>", self.key_type)
    }
}

impl PrivateKey {
    /// Load a key file, refusing group- or world-readable files.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let bytes = read_private_file(path)?;
        Self::from_pem_or_der(&bytes, &path.display().to_string())
    }

    /// Parse a PEM (`PRIVATE KEY`, `RSA PRIVATE KEY`, `EC PRIVATE KEY`) or DER key.
    /// `what` labels errors (a file name).
    pub fn from_pem_or_der(bytes: &[u8], what: &str) -> Result<Self, LoadError> {
        let blocks = decode_pem_or_der(bytes, what)?;
        let block = blocks
            .into_iter()
            .find(|b| {
                b.label
                    .as_deref()
                    .is_none_or(|l| l.ends_with("PRIVATE KEY"))
            })
            .ok_or_else(|| LoadError::Missing {
                what: what.to_owned(),
                expected: "private key",
            })?;
        let der = &block.der;
        match block.label.as_deref() {
            Some("RSA PRIVATE KEY") => Self::from_pkcs1_der(der, what),
            Some("EC PRIVATE KEY") => Self::from_sec1_der(der, what),
            Some("PRIVATE KEY") => Self::from_pkcs8_der(der, what),
            Some(other) => Err(LoadError::UnsupportedKey {
                what: what.to_owned(),
                algorithm: format!("PEM '{other}'"),
            }),
            // DER: try the three envelopes in turn.
            None => Self::from_pkcs8_der(der, what)
                .or_else(|_| Self::from_sec1_der(der, what))
                .or_else(|_| Self::from_pkcs1_der(der, what)),
        }
    }

    /// Parse a PKCS#8 PrivateKeyInfo (RFC 5208 §5, RFC 5958 §2).
    pub fn from_pkcs8_der(der: &[u8], what: &str) -> Result<Self, LoadError> {
        let bad = |reason: &str| LoadError::Key {
            what: what.to_owned(),
            reason: reason.to_owned(),
        };
        let body =
            der::expect_only(der, tag::SEQUENCE).map_err(|_| bad("not a PKCS#8 SEQUENCE"))?;
        let (_version, rest) =
            der::expect(body, tag::INTEGER).map_err(|_| bad("no PKCS#8 version"))?;
        let (alg, _) = der::expect(rest, tag::SEQUENCE).map_err(|_| bad("no PKCS#8 algorithm"))?;
        let (alg_oid, params) = der::expect(alg, tag::OID).map_err(|_| bad("no algorithm OID"))?;
        let pkcs8 = Zeroizing::new(der.to_vec());
        let rng = SystemRandom::new();
        let rejected = |e: ring::error::KeyRejected| bad(&format!("rejected by ring: {e}"));
        let (key_type, raw_public) = if alg_oid == oid::EC_PUBLIC_KEY {
            let curve = der::expect_only(params, tag::OID).map_err(|_| bad("no EC curve"))?;
            let (alg, kt) = if curve == oid::P256 {
                (&rsig::ECDSA_P256_SHA256_ASN1_SIGNING, KeyType::EcdsaP256)
            } else if curve == oid::P384 {
                (&rsig::ECDSA_P384_SHA384_ASN1_SIGNING, KeyType::EcdsaP384)
            } else {
                return Err(LoadError::UnsupportedKey {
                    what: what.to_owned(),
                    algorithm: format!("EC curve {}", crate::fmt::hex_colon(curve)),
                });
            };
            let kp = rsig::EcdsaKeyPair::from_pkcs8(alg, &pkcs8, &rng).map_err(rejected)?;
            (kt, kp.public_key().as_ref().to_vec())
        } else if alg_oid == oid::ED25519 {
            // strongSwan and OpenSSL write PKCS#8 v1 without the public key.
            let kp = rsig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&pkcs8).map_err(rejected)?;
            (KeyType::Ed25519, kp.public_key().as_ref().to_vec())
        } else if alg_oid == oid::RSA_ENCRYPTION {
            let kp = rsig::RsaKeyPair::from_pkcs8(&pkcs8).map_err(rejected)?;
            let raw = kp.public().as_ref().to_vec();
            let bits = sig::rsa_modulus_bits(&raw).ok_or_else(|| bad("bad RSA modulus"))?;
            (KeyType::Rsa { bits }, raw)
        } else {
            return Err(LoadError::UnsupportedKey {
                what: what.to_owned(),
                algorithm: format!("OID {}", crate::fmt::hex_colon(alg_oid)),
            });
        };
        let public = PublicKey::from_spki_der(&sig::spki_from_raw(key_type, &raw_public))
            .map_err(|e| bad(&e.to_string()))?;
        Ok(Self {
            key_type,
            pkcs8,
            public,
        })
    }

    /// Parse a PKCS#1 RSAPrivateKey (RFC 8017 Appendix A.1.2), as `pki --gen --type rsa` writes.
    pub fn from_pkcs1_der(der: &[u8], what: &str) -> Result<Self, LoadError> {
        // Wrap it in PKCS#8 so there is one representation to keep and hand to rcgen.
        let version = der::tlv(tag::INTEGER, &[0]);
        let alg = der::seq(&[
            &der::tlv(tag::OID, oid::RSA_ENCRYPTION),
            &der::tlv(tag::NULL, &[]),
        ]);
        let inner = Zeroizing::new(der::tlv(tag::OCTET_STRING, der));
        let pkcs8 = Zeroizing::new(der::seq(&[&version, &alg, &inner]));
        Self::from_pkcs8_der(&pkcs8, what)
    }

    /// Parse a SEC1 ECPrivateKey (RFC 5915 §3), as `pki --gen --type ecdsa` and
    /// `openssl ecparam -genkey` write. The curve must be named in `[0]`.
    pub fn from_sec1_der(der: &[u8], what: &str) -> Result<Self, LoadError> {
        let bad = |reason: &str| LoadError::Key {
            what: what.to_owned(),
            reason: reason.to_owned(),
        };
        let body = der::expect_only(der, tag::SEQUENCE).map_err(|_| bad("not a SEC1 SEQUENCE"))?;
        let (_version, rest) =
            der::expect(body, tag::INTEGER).map_err(|_| bad("no SEC1 version"))?;
        let (_key, rest) =
            der::expect(rest, tag::OCTET_STRING).map_err(|_| bad("no EC private key"))?;
        let (params, _) =
            der::expect(rest, tag::CONTEXT_0).map_err(|_| bad("SEC1 key without a named curve"))?;
        let curve = der::expect_only(params, tag::OID).map_err(|_| bad("bad SEC1 curve"))?;
        // PKCS#8 wrapping of SEC1 (RFC 5915 §1 / RFC 5208): the curve goes in
        // the AlgorithmIdentifier, the ECPrivateKey in the OCTET STRING.
        let version = der::tlv(tag::INTEGER, &[0]);
        let alg = der::seq(&[
            &der::tlv(tag::OID, oid::EC_PUBLIC_KEY),
            &der::tlv(tag::OID, curve),
        ]);
        let inner = Zeroizing::new(der::tlv(tag::OCTET_STRING, der));
        let pkcs8 = Zeroizing::new(der::seq(&[&version, &alg, &inner]));
        Self::from_pkcs8_der(&pkcs8, what)
    }

    /// Algorithm and size.
    pub fn key_type(&self) -> KeyType {
        self.key_type
    }

    /// The matching public key.
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// The scheme to use when the peer gave no preference: the key's natural
    /// ECDSA hash, pure Ed25519, or PKCS#1 v1.5 SHA-256 for RSA (what peers
    /// without RFC 7427 support still expect).
    pub fn default_scheme(&self) -> SignatureScheme {
        match self.key_type {
            KeyType::EcdsaP256 => SignatureScheme::EcdsaSha256,
            KeyType::EcdsaP384 => SignatureScheme::EcdsaSha384,
            KeyType::Ed25519 => SignatureScheme::Ed25519,
            KeyType::Rsa { .. } => SignatureScheme::RsaPkcs1Sha256,
        }
    }

    /// Schemes this key can sign with (ring signs ECDSA only with the curve's own hash).
    pub fn signing_schemes(&self) -> Vec<SignatureScheme> {
        SignatureScheme::ALL
            .into_iter()
            .filter(|s| match (self.key_type, s) {
                (KeyType::EcdsaP256, SignatureScheme::EcdsaSha384)
                | (KeyType::EcdsaP384, SignatureScheme::EcdsaSha256) => false,
                (kt, s) => s.fits(kt),
            })
            .collect()
    }

    /// Sign `msg` (RFC 7427 §3 signature value: DER ECDSA-Sig-Value for ECDSA,
    /// 64 octets for Ed25519, the modulus-sized octet string for RSA).
    pub fn sign(&self, scheme: SignatureScheme, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let mismatch = || CryptoError::SchemeMismatch {
            scheme: scheme.name(),
            key: self.key_type.to_string(),
        };
        let failed = || CryptoError::SigningFailed {
            scheme: scheme.name(),
        };
        let rng = SystemRandom::new();
        match (self.key_type, scheme) {
            (KeyType::EcdsaP256, SignatureScheme::EcdsaSha256)
            | (KeyType::EcdsaP384, SignatureScheme::EcdsaSha384) => {
                let alg = if self.key_type == KeyType::EcdsaP256 {
                    &rsig::ECDSA_P256_SHA256_ASN1_SIGNING
                } else {
                    &rsig::ECDSA_P384_SHA384_ASN1_SIGNING
                };
                let kp =
                    rsig::EcdsaKeyPair::from_pkcs8(alg, &self.pkcs8, &rng).map_err(|_| failed())?;
                Ok(kp.sign(&rng, msg).map_err(|_| failed())?.as_ref().to_vec())
            }
            (KeyType::Ed25519, SignatureScheme::Ed25519) => {
                let kp = rsig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&self.pkcs8)
                    .map_err(|_| failed())?;
                Ok(kp.sign(msg).as_ref().to_vec())
            }
            (KeyType::Rsa { .. }, _) => {
                let padding: &'static dyn rsig::RsaEncoding = match scheme {
                    SignatureScheme::RsaPkcs1Sha256 => &rsig::RSA_PKCS1_SHA256,
                    SignatureScheme::RsaPkcs1Sha384 => &rsig::RSA_PKCS1_SHA384,
                    SignatureScheme::RsaPkcs1Sha512 => &rsig::RSA_PKCS1_SHA512,
                    SignatureScheme::RsaPssSha256 => &rsig::RSA_PSS_SHA256,
                    SignatureScheme::RsaPssSha384 => &rsig::RSA_PSS_SHA384,
                    SignatureScheme::RsaPssSha512 => &rsig::RSA_PSS_SHA512,
                    _ => return Err(mismatch()),
                };
                let kp = rsig::RsaKeyPair::from_pkcs8(&self.pkcs8).map_err(|_| failed())?;
                let mut out = vec![0u8; kp.public().modulus_len()];
                kp.sign(padding, &rng, msg, &mut out)
                    .map_err(|_| failed())?;
                Ok(out)
            }
            _ => Err(mismatch()),
        }
    }

    /// Sign for the RFC 4754 AUTH methods (9: ECDSA P-256/SHA-256, 11: P-384/
    /// SHA-384): the fixed-length `r || s` form rather than DER, for peers that
    /// do not do RFC 7427. Only ECDSA keys, each with its curve's own hash.
    pub fn sign_rfc4754(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let (alg, scheme) = match self.key_type {
            KeyType::EcdsaP256 => (
                &rsig::ECDSA_P256_SHA256_FIXED_SIGNING,
                "ECDSA-P256-SHA256 (RFC 4754)",
            ),
            KeyType::EcdsaP384 => (
                &rsig::ECDSA_P384_SHA384_FIXED_SIGNING,
                "ECDSA-P384-SHA384 (RFC 4754)",
            ),
            other => {
                return Err(CryptoError::SchemeMismatch {
                    scheme: "ECDSA (RFC 4754)",
                    key: other.to_string(),
                })
            }
        };
        let rng = SystemRandom::new();
        let failed = || CryptoError::SigningFailed { scheme };
        let kp = rsig::EcdsaKeyPair::from_pkcs8(alg, &self.pkcs8, &rng).map_err(|_| failed())?;
        Ok(kp.sign(&rng, msg).map_err(|_| failed())?.as_ref().to_vec())
    }

    /// The PKCS#8 DER of the key. Named so that every use can be grepped.
    pub fn secret_bytes(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key as a PKCS#8 PEM, in a zeroizing string.
    pub fn to_pkcs8_pem(&self) -> Zeroizing<String> {
        crate::load::pem_encode("PRIVATE KEY", &self.pkcs8)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_does_not_show_key_material() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
        let key = PrivateKey::from_pkcs8_der(kp.serialized_der(), "test").unwrap();
        assert_eq!(format!("{key:?}"), "<private key type=ECDSA P-256>");
    }

    #[test]
    fn signs_and_verifies_with_every_fitting_scheme() {
        for alg in [
            &rcgen::PKCS_ECDSA_P256_SHA256,
            &rcgen::PKCS_ECDSA_P384_SHA384,
            &rcgen::PKCS_ED25519,
        ] {
            let kp = rcgen::KeyPair::generate_for(alg).unwrap();
            let key = PrivateKey::from_pkcs8_der(kp.serialized_der(), "test").unwrap();
            assert_eq!(key.public_key().spki_der(), kp.public_key_der());
            for scheme in key.signing_schemes() {
                let sig = key.sign(scheme, b"octets").unwrap();
                key.public_key().verify(scheme, b"octets", &sig).unwrap();
                assert_eq!(
                    key.public_key().verify(scheme, b"octetz", &sig),
                    Err(CryptoError::BadSignature {
                        scheme: scheme.name()
                    })
                );
            }
        }
    }

    #[test]
    fn rfc4754_signatures_are_fixed_length_and_verify() {
        for (alg, len) in [
            (&rcgen::PKCS_ECDSA_P256_SHA256, 64),
            (&rcgen::PKCS_ECDSA_P384_SHA384, 96),
        ] {
            let kp = rcgen::KeyPair::generate_for(alg).unwrap();
            let key = PrivateKey::from_pkcs8_der(kp.serialized_der(), "test").unwrap();
            let sig = key.sign_rfc4754(b"octets").unwrap();
            assert_eq!(sig.len(), len);
            key.public_key().verify_rfc4754(b"octets", &sig).unwrap();
            assert!(key.public_key().verify_rfc4754(b"octetz", &sig).is_err());
        }
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let key = PrivateKey::from_pkcs8_der(kp.serialized_der(), "test").unwrap();
        assert!(key.sign_rfc4754(b"x").is_err());
    }

    #[test]
    fn rejects_scheme_that_does_not_fit_the_key() {
        let kp = rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap();
        let key = PrivateKey::from_pkcs8_der(kp.serialized_der(), "test").unwrap();
        assert_eq!(
            key.sign(SignatureScheme::RsaPssSha256, b"x")
                .unwrap_err()
                .to_string(),
            "signature scheme RSASSA-PSS-SHA256 cannot be used with key type Ed25519"
        );
    }

    #[test]
    fn garbage_is_an_error_not_a_panic() {
        for bytes in [&b""[..], b"\x30\x00", b"\x30\x03\x02\x01\x00", &[0xff; 40]] {
            assert!(PrivateKey::from_pem_or_der(bytes, "junk").is_err());
        }
    }
}
