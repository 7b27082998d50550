//! Signature authentication (RFC 7296 §2.15, §3.8): the [`Signer`] and
//! [`Verifier`] seam, and its *ring* implementation.
//!
//! Methods handled:
//! - 14, Digital Signature (RFC 7427 §3): AUTH data is a one-octet length,
//!   a DER AlgorithmIdentifier, then the signature. Schemes: ECDSA with
//!   SHA-256/384 (signature DER-encoded, RFC 7427 App. A.3), Ed25519
//!   (RFC 8420), RSASSA-PKCS1-v1_5 and RSASSA-PSS with SHA-256/384/512
//!   (RFC 7427 App. A.1, A.4; PSS with MGF1 of the same hash and a salt as
//!   long as the hash, RFC 8247 §3.2).
//! - 9 / 10, ECDSA with SHA-256 on P-256 / SHA-384 on P-384 (RFC 4754 §3,
//!   §7): the signature is `r | s`, fixed length, not DER.
//! - 1, RSA Digital Signature (RFC 7296 §3.8): PKCS#1 v1.5 with SHA-1,
//!   verify only (*ring* will not sign with SHA-1, and RFC 8247 §3.2 says
//!   not to).
//!
//! A future `certs` crate hands us the peer's SubjectPublicKeyInfo and
//! its own signing key through these traits; this module never parses
//! certificates.

use ring::signature::{self as sig, KeyPair};

use super::der::{self, tag, Reader};
use super::{AuthMethod, CryptoError, HashAlgorithm};

/// Produces AUTH data over signed octets.
pub trait Signer: Send + Sync {
    /// The AUTH method this signer writes in the AUTH payload.
    fn auth_method(&self) -> AuthMethod;

    /// Signs `signed_octets` (RFC 7296 §2.15) and returns the AUTH payload
    /// contents after the method byte and RESERVED octets.
    fn sign(&self, signed_octets: &[u8]) -> Result<AuthData, CryptoError>;
}

/// Checks a peer's AUTH data with the peer's public key.
pub trait Verifier: Send + Sync {
    /// Verifies `auth_data` (the AUTH payload contents after method and
    /// RESERVED) for `method` over `signed_octets`. Failure is a
    /// `Blame::Peer` error; the IKE answer is AUTHENTICATION_FAILED.
    fn verify(
        &self,
        method: AuthMethod,
        auth_data: &[u8],
        signed_octets: &[u8],
    ) -> Result<(), CryptoError>;
}

/// The AUTH payload contents a [`Signer`] produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthData {
    /// AUTH method (RFC 7296 §3.8).
    pub method: AuthMethod,
    /// Authentication Data.
    pub data: Vec<u8>,
}

/// A signature algorithm of RFC 7427 method 14.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SignatureScheme {
    /// ecdsa-with-SHA256 (RFC 5758).
    EcdsaSha256,
    /// ecdsa-with-SHA384.
    EcdsaSha384,
    /// ecdsa-with-SHA512 (verify: not offered by *ring*; parsed only).
    EcdsaSha512,
    /// Ed25519 (RFC 8410 OID, RFC 8420 for IKEv2).
    Ed25519,
    /// sha256WithRSAEncryption (PKCS#1 v1.5).
    RsaPkcs1Sha256,
    /// sha384WithRSAEncryption.
    RsaPkcs1Sha384,
    /// sha512WithRSAEncryption.
    RsaPkcs1Sha512,
    /// RSASSA-PSS, SHA-256, MGF1-SHA-256, 32-byte salt.
    RsaPssSha256,
    /// RSASSA-PSS, SHA-384, MGF1-SHA-384, 48-byte salt.
    RsaPssSha384,
    /// RSASSA-PSS, SHA-512, MGF1-SHA-512, 64-byte salt.
    RsaPssSha512,
}

/// DER contents of the object identifiers we use (X.690 §8.19).
mod oid {
    pub(super) const RSA_ENCRYPTION: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 1];
    pub(super) const MGF1: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 8];
    pub(super) const RSASSA_PSS: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 10];
    pub(super) const SHA256_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 11];
    pub(super) const SHA384_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 12];
    pub(super) const SHA512_WITH_RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 1, 1, 13];
    pub(super) const EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 2, 1];
    pub(super) const PRIME256V1: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 3, 1, 7];
    pub(super) const SECP384R1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    pub(super) const ECDSA_SHA256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 2];
    pub(super) const ECDSA_SHA384: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 3];
    pub(super) const ECDSA_SHA512: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 4, 3, 4];
    pub(super) const ED25519: &[u8] = &[0x2b, 0x65, 0x70];
    pub(super) const SHA256: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01];
    pub(super) const SHA384: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x02];
    pub(super) const SHA512: &[u8] = &[0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03];
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Hash {
    Sha256,
    Sha384,
    Sha512,
}

impl Hash {
    fn oid(self) -> &'static [u8] {
        match self {
            Self::Sha256 => oid::SHA256,
            Self::Sha384 => oid::SHA384,
            Self::Sha512 => oid::SHA512,
        }
    }
    fn from_oid(o: &[u8]) -> Option<Self> {
        [Self::Sha256, Self::Sha384, Self::Sha512]
            .into_iter()
            .find(|h| h.oid() == o)
    }
    fn len(self) -> u8 {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// `AlgorithmIdentifier { hash OID, NULL }` as RFC 4055 §2.1 writes it.
fn hash_algid(h: Hash) -> Vec<u8> {
    let mut c = der::element(tag::OID, h.oid());
    der::write(&mut c, tag::NULL, &[]);
    der::element(tag::SEQUENCE, &c)
}

impl SignatureScheme {
    /// Every scheme, in our signing preference order.
    pub const ALL: [Self; 10] = [
        Self::Ed25519,
        Self::EcdsaSha256,
        Self::EcdsaSha384,
        Self::RsaPssSha256,
        Self::RsaPssSha384,
        Self::RsaPssSha512,
        Self::RsaPkcs1Sha256,
        Self::RsaPkcs1Sha384,
        Self::RsaPkcs1Sha512,
        Self::EcdsaSha512,
    ];

    fn hash(self) -> Option<Hash> {
        Some(match self {
            Self::EcdsaSha256 | Self::RsaPkcs1Sha256 | Self::RsaPssSha256 => Hash::Sha256,
            Self::EcdsaSha384 | Self::RsaPkcs1Sha384 | Self::RsaPssSha384 => Hash::Sha384,
            Self::EcdsaSha512 | Self::RsaPkcs1Sha512 | Self::RsaPssSha512 => Hash::Sha512,
            Self::Ed25519 => return None,
        })
    }

    /// The hash to announce in SIGNATURE_HASH_ALGORITHMS (RFC 7427 §4;
    /// Ed25519 signs the message itself: HASH_IDENTITY, RFC 8420 §2).
    pub fn hash_algorithm(self) -> HashAlgorithm {
        match self.hash() {
            Some(Hash::Sha256) => HashAlgorithm::SHA2_256,
            Some(Hash::Sha384) => HashAlgorithm::SHA2_384,
            Some(Hash::Sha512) => HashAlgorithm::SHA2_512,
            None => HashAlgorithm::IDENTITY,
        }
    }

    /// The DER AlgorithmIdentifier we send (RFC 7427 Appendix A). ECDSA and
    /// Ed25519 carry no parameters, PKCS#1 v1.5 a NULL, PSS its full
    /// RSASSA-PSS-params (RFC 4055 §3.1) with explicit hash, MGF1 and salt.
    pub fn algorithm_identifier(self) -> Vec<u8> {
        let simple = |o: &[u8], null: bool| {
            let mut c = der::element(tag::OID, o);
            if null {
                der::write(&mut c, tag::NULL, &[]);
            }
            der::element(tag::SEQUENCE, &c)
        };
        match self {
            Self::EcdsaSha256 => simple(oid::ECDSA_SHA256, false),
            Self::EcdsaSha384 => simple(oid::ECDSA_SHA384, false),
            Self::EcdsaSha512 => simple(oid::ECDSA_SHA512, false),
            Self::Ed25519 => simple(oid::ED25519, false),
            Self::RsaPkcs1Sha256 => simple(oid::SHA256_WITH_RSA, true),
            Self::RsaPkcs1Sha384 => simple(oid::SHA384_WITH_RSA, true),
            Self::RsaPkcs1Sha512 => simple(oid::SHA512_WITH_RSA, true),
            Self::RsaPssSha256 => pss_algid(Hash::Sha256),
            Self::RsaPssSha384 => pss_algid(Hash::Sha384),
            Self::RsaPssSha512 => pss_algid(Hash::Sha512),
        }
    }

    /// Decodes a received AlgorithmIdentifier (RFC 7427 §3). Parameters are
    /// checked: absent for ECDSA/Ed25519, NULL or absent for PKCS#1 v1.5,
    /// and for PSS a hash we know, MGF1 with the same hash, and a salt the
    /// length of the hash (the only PSS shape *ring* verifies).
    pub fn from_algorithm_identifier(algid: &[u8]) -> Result<Self, CryptoError> {
        let bad = CryptoError::AuthDataMalformed;
        let mut outer = Reader::new(algid);
        let seq = outer
            .read(tag::SEQUENCE)
            .ok_or(bad("AlgorithmIdentifier"))?;
        if !outer.is_empty() {
            return Err(bad("trailing bytes after AlgorithmIdentifier"));
        }
        let mut r = Reader::new(seq);
        let o = r.read(tag::OID).ok_or(bad("algorithm OID"))?;
        let params = r;
        let no_params = params.is_empty();
        let null_or_none = no_params || {
            let mut p = params;
            p.read(tag::NULL) == Some(&[]) && p.is_empty()
        };
        let scheme = match o {
            x if x == oid::ECDSA_SHA256 && no_params => Self::EcdsaSha256,
            x if x == oid::ECDSA_SHA384 && no_params => Self::EcdsaSha384,
            x if x == oid::ECDSA_SHA512 && no_params => Self::EcdsaSha512,
            x if x == oid::ED25519 && no_params => Self::Ed25519,
            x if x == oid::SHA256_WITH_RSA && null_or_none => Self::RsaPkcs1Sha256,
            x if x == oid::SHA384_WITH_RSA && null_or_none => Self::RsaPkcs1Sha384,
            x if x == oid::SHA512_WITH_RSA && null_or_none => Self::RsaPkcs1Sha512,
            x if x == oid::RSASSA_PSS => parse_pss_params(params)?,
            _ => return Err(CryptoError::UnsupportedSignature("AlgorithmIdentifier")),
        };
        Ok(scheme)
    }
}

fn pss_algid(h: Hash) -> Vec<u8> {
    let hash = hash_algid(h);
    let mut mgf = der::element(tag::OID, oid::MGF1);
    mgf.extend_from_slice(&hash);
    let mgf = der::element(tag::SEQUENCE, &mgf);
    let mut params = der::element(tag::CTX0, &hash);
    der::write(&mut params, tag::CTX1, &mgf);
    der::write(
        &mut params,
        tag::CTX2,
        &der::element(tag::INTEGER, &[h.len()]),
    );
    let mut c = der::element(tag::OID, oid::RSASSA_PSS);
    der::write(&mut c, tag::SEQUENCE, &params);
    der::element(tag::SEQUENCE, &c)
}

/// Reads `hashAlgorithm AlgorithmIdentifier` allowing NULL or absent params.
fn read_hash_algid(bytes: &[u8]) -> Option<Hash> {
    let mut r = Reader::new(bytes);
    let seq = r.read(tag::SEQUENCE)?;
    if !r.is_empty() {
        return None;
    }
    let mut s = Reader::new(seq);
    let h = Hash::from_oid(s.read(tag::OID)?)?;
    if !s.is_empty() && (!s.read(tag::NULL)?.is_empty() || !s.is_empty()) {
        return None;
    }
    Some(h)
}

/// RSASSA-PSS-params (RFC 4055 §3.1). Defaults (SHA-1, salt 20) are refused:
/// RFC 8247 §3.2 and *ring* both want SHA-2 with salt = hash length.
fn parse_pss_params(params: Reader<'_>) -> Result<SignatureScheme, CryptoError> {
    let bad = CryptoError::AuthDataMalformed;
    let unsupported = CryptoError::UnsupportedSignature("RSASSA-PSS parameters");
    let mut params = params;
    let seq = params.read(tag::SEQUENCE).ok_or(bad("RSASSA-PSS-params"))?;
    if !params.is_empty() {
        return Err(bad("trailing bytes after RSASSA-PSS-params"));
    }
    let mut r = Reader::new(seq);
    let hash = r
        .read_optional(tag::CTX0)
        .ok_or(bad("PSS hashAlgorithm"))?
        .ok_or(unsupported.clone())?;
    let hash = read_hash_algid(hash).ok_or(unsupported.clone())?;
    let mgf = r
        .read_optional(tag::CTX1)
        .ok_or(bad("PSS maskGenAlgorithm"))?
        .ok_or(unsupported.clone())?;
    let mut m = Reader::new(mgf);
    let mgf_seq = m.read(tag::SEQUENCE).ok_or(bad("PSS maskGenAlgorithm"))?;
    let mut ms = Reader::new(mgf_seq);
    if ms.read(tag::OID) != Some(oid::MGF1) || !m.is_empty() {
        return Err(unsupported);
    }
    if read_hash_algid(ms.remaining()) != Some(hash) {
        return Err(unsupported);
    }
    let salt = r
        .read_optional(tag::CTX2)
        .ok_or(bad("PSS saltLength"))?
        .ok_or(unsupported.clone())?;
    let mut sr = Reader::new(salt);
    let salt = sr.read(tag::INTEGER).ok_or(bad("PSS saltLength"))?;
    if salt != [hash.len()] || !sr.is_empty() {
        return Err(unsupported);
    }
    // trailerField [3], if present, must be the default 1.
    if let Some(tf) = r.read_optional(0xa3).ok_or(bad("PSS trailerField"))? {
        if tf != [tag::INTEGER, 1, 1] {
            return Err(unsupported);
        }
    }
    if !r.is_empty() {
        return Err(bad("trailing bytes in RSASSA-PSS-params"));
    }
    Ok(match hash {
        Hash::Sha256 => SignatureScheme::RsaPssSha256,
        Hash::Sha384 => SignatureScheme::RsaPssSha384,
        Hash::Sha512 => SignatureScheme::RsaPssSha512,
    })
}

// ------------------------------------------------------------ public keys

/// A peer's public key, in the forms *ring* verifies with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA, as a DER RSAPublicKey (PKCS#1, RFC 8017 App. A.1.1).
    Rsa(Vec<u8>),
    /// P-256 point, SEC1 uncompressed (`04 | x | y`).
    EcP256(Vec<u8>),
    /// P-384 point, SEC1 uncompressed.
    EcP384(Vec<u8>),
    /// Ed25519, 32 raw bytes (RFC 8032).
    Ed25519([u8; 32]),
}

impl PublicKey {
    /// Decodes a DER SubjectPublicKeyInfo (RFC 5280 §4.1.2.7) for RSA
    /// (rsaEncryption or id-RSASSA-PSS), EC P-256/P-384 and Ed25519.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, CryptoError> {
        let bad = CryptoError::PublicKeyRejected;
        let mut outer = Reader::new(spki);
        let seq = outer
            .read(tag::SEQUENCE)
            .ok_or(bad("SubjectPublicKeyInfo"))?;
        if !outer.is_empty() {
            return Err(bad("trailing bytes after SubjectPublicKeyInfo"));
        }
        let mut r = Reader::new(seq);
        let algid = r.read(tag::SEQUENCE).ok_or(bad("algorithm"))?;
        let bits = r.read(tag::BIT_STRING).ok_or(bad("subjectPublicKey"))?;
        if !r.is_empty() {
            return Err(bad("trailing bytes in SubjectPublicKeyInfo"));
        }
        let Some((0, key)) = bits.split_first() else {
            return Err(bad("subjectPublicKey has unused bits"));
        };
        let mut a = Reader::new(algid);
        let alg = a.read(tag::OID).ok_or(bad("algorithm OID"))?;
        match alg {
            x if x == oid::RSA_ENCRYPTION || x == oid::RSASSA_PSS => Ok(Self::Rsa(key.to_vec())),
            x if x == oid::EC_PUBLIC_KEY => {
                let curve = a.read(tag::OID).ok_or(bad("EC curve"))?;
                Self::from_ec_point_for_curve(curve, key)
            }
            x if x == oid::ED25519 => {
                let raw: [u8; 32] = key.try_into().map_err(|_| bad("Ed25519 key length"))?;
                Ok(Self::Ed25519(raw))
            }
            _ => Err(bad("unsupported key algorithm")),
        }
    }

    fn from_ec_point_for_curve(curve: &[u8], point: &[u8]) -> Result<Self, CryptoError> {
        let bad = CryptoError::PublicKeyRejected;
        let (expected, make): (usize, fn(Vec<u8>) -> Self) = match curve {
            c if c == oid::PRIME256V1 => (65, Self::EcP256),
            c if c == oid::SECP384R1 => (97, Self::EcP384),
            _ => return Err(bad("unsupported EC curve")),
        };
        if point.len() != expected || point.first() != Some(&0x04) {
            return Err(bad("EC point is not uncompressed or has the wrong length"));
        }
        Ok(make(point.to_vec()))
    }
}

// --------------------------------------------------------------- verify

/// [`Verifier`] for one peer public key, using *ring*.
#[derive(Clone, Debug)]
pub struct RingVerifier {
    key: PublicKey,
}

impl RingVerifier {
    /// A verifier for `key`.
    pub fn new(key: PublicKey) -> Self {
        Self { key }
    }

    /// A verifier from a DER SubjectPublicKeyInfo.
    pub fn from_spki_der(spki: &[u8]) -> Result<Self, CryptoError> {
        Ok(Self::new(PublicKey::from_spki_der(spki)?))
    }

    fn key_bytes(&self) -> &[u8] {
        match &self.key {
            PublicKey::Rsa(k) | PublicKey::EcP256(k) | PublicKey::EcP384(k) => k,
            PublicKey::Ed25519(k) => k,
        }
    }

    fn scheme_alg(
        &self,
        scheme: SignatureScheme,
    ) -> Result<&'static dyn sig::VerificationAlgorithm, CryptoError> {
        use SignatureScheme as S;
        Ok(match (&self.key, scheme) {
            (PublicKey::EcP256(_), S::EcdsaSha256) => &sig::ECDSA_P256_SHA256_ASN1,
            (PublicKey::EcP256(_), S::EcdsaSha384) => &sig::ECDSA_P256_SHA384_ASN1,
            (PublicKey::EcP384(_), S::EcdsaSha256) => &sig::ECDSA_P384_SHA256_ASN1,
            (PublicKey::EcP384(_), S::EcdsaSha384) => &sig::ECDSA_P384_SHA384_ASN1,
            (PublicKey::Ed25519(_), S::Ed25519) => &sig::ED25519,
            (PublicKey::Rsa(_), S::RsaPkcs1Sha256) => &sig::RSA_PKCS1_2048_8192_SHA256,
            (PublicKey::Rsa(_), S::RsaPkcs1Sha384) => &sig::RSA_PKCS1_2048_8192_SHA384,
            (PublicKey::Rsa(_), S::RsaPkcs1Sha512) => &sig::RSA_PKCS1_2048_8192_SHA512,
            (PublicKey::Rsa(_), S::RsaPssSha256) => &sig::RSA_PSS_2048_8192_SHA256,
            (PublicKey::Rsa(_), S::RsaPssSha384) => &sig::RSA_PSS_2048_8192_SHA384,
            (PublicKey::Rsa(_), S::RsaPssSha512) => &sig::RSA_PSS_2048_8192_SHA512,
            _ => {
                return Err(CryptoError::UnsupportedSignature(
                    "scheme for this key type",
                ))
            }
        })
    }

    fn check(
        &self,
        alg: &'static dyn sig::VerificationAlgorithm,
        msg: &[u8],
        signature: &[u8],
    ) -> Result<(), CryptoError> {
        sig::UnparsedPublicKey::new(alg, self.key_bytes())
            .verify(msg, signature)
            .map_err(|_| CryptoError::SignatureInvalid)
    }
}

/// Splits RFC 7427 §3 AUTH data into AlgorithmIdentifier and signature.
fn split_rfc7427(auth_data: &[u8]) -> Result<(&[u8], &[u8]), CryptoError> {
    let bad = CryptoError::AuthDataMalformed;
    let (&len, rest) = auth_data.split_first().ok_or(bad("empty AUTH data"))?;
    rest.split_at_checked(usize::from(len))
        .ok_or(bad("AlgorithmIdentifier length exceeds AUTH data"))
}

impl Verifier for RingVerifier {
    fn verify(
        &self,
        method: AuthMethod,
        auth_data: &[u8],
        signed_octets: &[u8],
    ) -> Result<(), CryptoError> {
        match (method, &self.key) {
            (AuthMethod::DIGITAL_SIGNATURE, _) => {
                let (algid, signature) = split_rfc7427(auth_data)?;
                let scheme = SignatureScheme::from_algorithm_identifier(algid)?;
                let alg = self.scheme_alg(scheme)?;
                self.check(alg, signed_octets, signature)
            }
            (AuthMethod::ECDSA_SHA256_P256, PublicKey::EcP256(_)) => {
                self.check(&sig::ECDSA_P256_SHA256_FIXED, signed_octets, auth_data)
            }
            (AuthMethod::ECDSA_SHA384_P384, PublicKey::EcP384(_)) => {
                self.check(&sig::ECDSA_P384_SHA384_FIXED, signed_octets, auth_data)
            }
            (AuthMethod::RSA_DIGITAL_SIGNATURE, PublicKey::Rsa(_)) => self.check(
                &sig::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
                signed_octets,
                auth_data,
            ),
            _ => Err(CryptoError::UnsupportedSignature(
                "AUTH method for this key type",
            )),
        }
    }
}

// ----------------------------------------------------------------- sign

enum SigningKey {
    Ecdsa(sig::EcdsaKeyPair),
    Ed25519(sig::Ed25519KeyPair),
    Rsa(sig::RsaKeyPair),
}

/// [`Signer`] over a PKCS#8 private key, using *ring*.
///
/// *ring*'s key pairs are not zeroized on drop (STYLE.md §6); the PKCS#8
/// bytes stay with the caller, who should hold them in a zeroizing buffer.
pub struct RingSigner {
    key: SigningKey,
    method: AuthMethod,
    scheme: Option<SignatureScheme>,
    rng: ring::rand::SystemRandom,
}

impl core::fmt::Debug for RingSigner {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RingSigner")
            .field("method", &self.method)
            .field("scheme", &self.scheme)
            .finish_non_exhaustive()
    }
}

impl RingSigner {
    /// A method-14 signer (RFC 7427) for `scheme` from a PKCS#8 key.
    /// ECDSA-SHA256 needs a P-256 key, ECDSA-SHA384 a P-384 key (what *ring*
    /// signs); RSA schemes need an RSA key of 2048 bits or more.
    pub fn new(pkcs8: &[u8], scheme: SignatureScheme) -> Result<Self, CryptoError> {
        let rng = ring::rand::SystemRandom::new();
        let rejected = |_| CryptoError::PrivateKeyRejected("PKCS#8 key does not fit the scheme");
        let key = match scheme {
            SignatureScheme::EcdsaSha256 => SigningKey::Ecdsa(
                sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8, &rng)
                    .map_err(rejected)?,
            ),
            SignatureScheme::EcdsaSha384 => SigningKey::Ecdsa(
                sig::EcdsaKeyPair::from_pkcs8(&sig::ECDSA_P384_SHA384_ASN1_SIGNING, pkcs8, &rng)
                    .map_err(rejected)?,
            ),
            SignatureScheme::Ed25519 => SigningKey::Ed25519(
                sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(rejected)?,
            ),
            SignatureScheme::RsaPkcs1Sha256
            | SignatureScheme::RsaPkcs1Sha384
            | SignatureScheme::RsaPkcs1Sha512
            | SignatureScheme::RsaPssSha256
            | SignatureScheme::RsaPssSha384
            | SignatureScheme::RsaPssSha512 => {
                SigningKey::Rsa(sig::RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?)
            }
            SignatureScheme::EcdsaSha512 => {
                return Err(CryptoError::PrivateKeyRejected(
                    "ECDSA with SHA-512 signing is not available",
                ))
            }
        };
        Ok(Self {
            key,
            method: AuthMethod::DIGITAL_SIGNATURE,
            scheme: Some(scheme),
            rng,
        })
    }

    /// A signer for the RFC 4754 methods 9 (P-256) or 10 (P-384), which send
    /// a bare `r | s` signature.
    pub fn new_rfc4754(pkcs8: &[u8], method: AuthMethod) -> Result<Self, CryptoError> {
        let rng = ring::rand::SystemRandom::new();
        let alg = match method {
            AuthMethod::ECDSA_SHA256_P256 => &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            AuthMethod::ECDSA_SHA384_P384 => &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            _ => {
                return Err(CryptoError::PrivateKeyRejected(
                    "only AUTH methods 9 and 10 are RFC 4754 methods we sign with",
                ))
            }
        };
        let key = sig::EcdsaKeyPair::from_pkcs8(alg, pkcs8, &rng).map_err(|_| {
            CryptoError::PrivateKeyRejected("PKCS#8 key does not fit the AUTH method")
        })?;
        Ok(Self {
            key: SigningKey::Ecdsa(key),
            method,
            scheme: None,
            rng,
        })
    }

    /// Our public key in the form a [`RingVerifier`] takes (for tests and for
    /// checking a certificate matches its key).
    pub fn public_key(&self) -> PublicKey {
        match &self.key {
            SigningKey::Ecdsa(k) => {
                let p = k.public_key().as_ref().to_vec();
                if p.len() == 65 {
                    PublicKey::EcP256(p)
                } else {
                    PublicKey::EcP384(p)
                }
            }
            SigningKey::Ed25519(k) => {
                let mut raw = [0u8; 32];
                raw.copy_from_slice(k.public_key().as_ref());
                PublicKey::Ed25519(raw)
            }
            SigningKey::Rsa(k) => PublicKey::Rsa(k.public_key().as_ref().to_vec()),
        }
    }

    fn raw_sign(&self, msg: &[u8]) -> Result<Vec<u8>, CryptoError> {
        let fail = |_| CryptoError::Backend("signing");
        match &self.key {
            SigningKey::Ecdsa(k) => Ok(k.sign(&self.rng, msg).map_err(fail)?.as_ref().to_vec()),
            SigningKey::Ed25519(k) => Ok(k.sign(msg).as_ref().to_vec()),
            SigningKey::Rsa(k) => {
                let pad: &'static dyn sig::RsaEncoding = match self.scheme {
                    Some(SignatureScheme::RsaPkcs1Sha256) => &sig::RSA_PKCS1_SHA256,
                    Some(SignatureScheme::RsaPkcs1Sha384) => &sig::RSA_PKCS1_SHA384,
                    Some(SignatureScheme::RsaPkcs1Sha512) => &sig::RSA_PKCS1_SHA512,
                    Some(SignatureScheme::RsaPssSha256) => &sig::RSA_PSS_SHA256,
                    Some(SignatureScheme::RsaPssSha384) => &sig::RSA_PSS_SHA384,
                    Some(SignatureScheme::RsaPssSha512) => &sig::RSA_PSS_SHA512,
                    _ => return Err(CryptoError::Backend("RSA key without RSA scheme")),
                };
                let mut out = vec![0u8; k.public().modulus_len()];
                k.sign(pad, &self.rng, msg, &mut out).map_err(fail)?;
                Ok(out)
            }
        }
    }
}

impl Signer for RingSigner {
    fn auth_method(&self) -> AuthMethod {
        self.method
    }

    fn sign(&self, signed_octets: &[u8]) -> Result<AuthData, CryptoError> {
        let signature = self.raw_sign(signed_octets)?;
        let data = match self.scheme {
            Some(scheme) => {
                let algid = scheme.algorithm_identifier();
                let len = u8::try_from(algid.len())
                    .map_err(|_| CryptoError::Backend("AlgorithmIdentifier too long"))?;
                let mut d = Vec::with_capacity(1 + algid.len() + signature.len());
                d.push(len);
                d.extend_from_slice(&algid);
                d.extend_from_slice(&signature);
                d
            }
            None => signature,
        };
        Ok(AuthData {
            method: self.method,
            data,
        })
    }
}
