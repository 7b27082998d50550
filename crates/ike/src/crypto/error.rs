//! The crypto layer's error type, split by who is to blame.
//!
//! The crate-level `ike::Error` wraps this; its single `notify()` table maps
//! each variant to a Notify type. The variant docs say which Notify RFC 7296
//! expects so that table can be written without reading this code.

use core::fmt;

/// Which kind of transform a lookup was for (RFC 7296 §3.3.2 transform types).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TransformKind {
    /// Transform type 1, ENCR.
    Encr,
    /// Transform type 2, PRF.
    Prf,
    /// Transform type 3, INTEG.
    Integ,
    /// Transform type 4, KE (Diffie-Hellman group).
    Ke,
    /// An IKE AUTH method or signature algorithm (RFC 7296 §3.8, RFC 7427).
    Auth,
}

impl fmt::Display for TransformKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Encr => "ENCR",
            Self::Prf => "PRF",
            Self::Integ => "INTEG",
            Self::Ke => "KE",
            Self::Auth => "AUTH",
        })
    }
}

/// Why a peer's KE public value was refused (RFC 7296 §3.4, RFC 5903 §7,
/// RFC 8031 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeRejection {
    /// The ECP value is not a point on the negotiated curve (RFC 5903 §7,
    /// NIST SP 800-56A §5.6.2.3 partial validation).
    NotOnCurve,
    /// The X25519 result was all zeros: the peer sent a low-order point
    /// (RFC 8031 §2, RFC 7748 §6.1).
    LowOrderPoint,
    /// The value is outside the group in some other way the group's own check
    /// reported (e.g. a MODP value not in `[2, p-2]`, RFC 8247 §2.4).
    OutOfRange,
}

impl fmt::Display for KeRejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::NotOnCurve => "point not on the curve",
            Self::LowOrderPoint => "low-order point (all-zero shared secret)",
            Self::OutOfRange => "value out of range for the group",
        })
    }
}

/// Who caused a [`CryptoError`] (the STYLE.md §5 blame split).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Blame {
    /// The peer sent something malformed, forged or inconsistent.
    Peer,
    /// Our configuration, our keys or our crypto backend failed.
    Local,
}

/// Errors from `ike::crypto`. Never carries key material.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CryptoError {
    // ---- peer's fault -------------------------------------------------
    /// A KE payload's data has the wrong length for its group (RFC 7296 §3.4).
    /// Answer: INVALID_SYNTAX.
    #[error("KE data for group {group} is {actual} bytes, expected {expected}")]
    KePublicValueLength {
        /// The group the value claims to belong to.
        group: u16,
        /// The length the group requires.
        expected: usize,
        /// The length received.
        actual: usize,
    },
    /// A KE public value failed the group's validity check (RFC 5903 §7,
    /// RFC 8031 §2). Answer: INVALID_SYNTAX.
    #[error("KE data for group {group} rejected: {reason}")]
    KePublicValueInvalid {
        /// The group the value claims to belong to.
        group: u16,
        /// What the check found.
        reason: KeRejection,
    },
    /// An SK/SKF payload body is too short to hold IV, pad length and ICV
    /// (RFC 7296 §3.14). Answer: none (drop; the message cannot be
    /// authenticated, RFC 7296 §2.21.1/§2.21.2).
    #[error("encrypted payload body is {actual} bytes, needs at least {min}")]
    SkTooShort {
        /// The body length received.
        actual: usize,
        /// The minimum the cipher needs.
        min: usize,
    },
    /// The ciphertext of a block cipher is not a whole number of blocks
    /// (RFC 7296 §3.14). Answer: none (drop).
    #[error("ciphertext of {len} bytes is not a multiple of the {block}-byte block")]
    SkNotBlockAligned {
        /// The ciphertext length.
        len: usize,
        /// The cipher's block size.
        block: usize,
    },
    /// The ICV or AEAD tag did not verify (RFC 7296 §3.14, RFC 5282 §3).
    /// Answer: none; drop the message silently (RFC 7296 §2.21.1/§2.21.2).
    #[error("integrity check of the encrypted payload failed")]
    IntegrityCheckFailed,
    /// The decrypted Pad Length byte points before the start of the
    /// plaintext (RFC 7296 §3.14). The ICV was good, so the peer really sent
    /// this. Answer: INVALID_SYNTAX.
    #[error("pad length {pad_len} exceeds the {available} decrypted bytes before it")]
    SkBadPadLength {
        /// The Pad Length byte.
        pad_len: usize,
        /// How many plaintext bytes precede it.
        available: usize,
    },
    /// A PSK (or EAP MSK) AUTH value did not match (RFC 7296 §2.15).
    /// Answer: AUTHENTICATION_FAILED.
    #[error("AUTH value does not match")]
    AuthMismatch,
    /// A signature did not verify under the peer's public key (RFC 7296 §2.15,
    /// RFC 7427 §3). Answer: AUTHENTICATION_FAILED.
    #[error("signature does not verify")]
    SignatureInvalid,
    /// The AUTH data of a signature method could not be decoded (RFC 7427 §3:
    /// ASN.1 length byte, AlgorithmIdentifier, signature). Answer:
    /// AUTHENTICATION_FAILED (RFC 7427 §3 says to fail authentication).
    #[error("AUTH data malformed: {0}")]
    AuthDataMalformed(&'static str),
    /// The peer used an AUTH method or signature algorithm we do not
    /// implement, or one that does not fit its key (RFC 7427 §4).
    /// Answer: AUTHENTICATION_FAILED.
    #[error("signature algorithm or AUTH method {0} not supported for this key")]
    UnsupportedSignature(&'static str),

    // ---- our fault (config, keys, backend) -------------------------------
    /// No provider entry for a negotiated transform. Proposal selection should
    /// have prevented this; it is a local bug or configuration error.
    #[error("{kind} transform {id} (key length {key_bits:?}) is not supported")]
    UnsupportedTransform {
        /// Which transform type.
        kind: TransformKind,
        /// The transform ID.
        id: u16,
        /// The Key Length attribute in bits, if any (RFC 7296 §3.3.5).
        key_bits: Option<u16>,
    },
    /// prf+ was asked for more than 255 blocks (RFC 7296 §2.13).
    #[error("prf+ asked for {requested} bytes, the limit is {max}")]
    PrfPlusTooLong {
        /// Bytes requested.
        requested: usize,
        /// 255 × the PRF output length.
        max: usize,
    },
    /// A key, IV or buffer handed in by our own code has the wrong length.
    #[error("{what} is {actual} bytes, expected {expected}")]
    BadLength {
        /// What was wrong ("SK_e", "IV", "ICV buffer", ...).
        what: &'static str,
        /// The length required.
        expected: usize,
        /// The length given.
        actual: usize,
    },
    /// A caller-supplied layout (offsets into a message) does not fit.
    #[error("layout error: {0}")]
    Layout(&'static str),
    /// The random number generator failed.
    #[error("random number generator failed")]
    Rng,
    /// The backend refused a private key (bad PKCS#8, wrong curve, ...).
    #[error("private key rejected: {0}")]
    PrivateKeyRejected(&'static str),
    /// A public key given to us (configuration or certificate) is malformed
    /// or of an unsupported type.
    #[error("public key rejected: {0}")]
    PublicKeyRejected(&'static str),
    /// The backend failed where it should not (signing, sealing, key
    /// generation).
    #[error("crypto backend failure in {0}")]
    Backend(&'static str),
}

impl CryptoError {
    /// Whose fault this error is.
    pub fn blame(&self) -> Blame {
        match self {
            Self::KePublicValueLength { .. }
            | Self::KePublicValueInvalid { .. }
            | Self::SkTooShort { .. }
            | Self::SkNotBlockAligned { .. }
            | Self::IntegrityCheckFailed
            | Self::SkBadPadLength { .. }
            | Self::AuthMismatch
            | Self::SignatureInvalid
            | Self::AuthDataMalformed(_)
            | Self::UnsupportedSignature(_) => Blame::Peer,
            Self::UnsupportedTransform { .. }
            | Self::PrfPlusTooLong { .. }
            | Self::BadLength { .. }
            | Self::Layout(_)
            | Self::Rng
            | Self::PrivateKeyRejected(_)
            | Self::PublicKeyRejected(_)
            | Self::Backend(_) => Blame::Local,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peer_errors_are_blamed_on_the_peer() {
        let e = CryptoError::KePublicValueInvalid {
            group: 19,
            reason: KeRejection::NotOnCurve,
        };
        assert_eq!(e.blame(), Blame::Peer);
        assert_eq!(CryptoError::IntegrityCheckFailed.blame(), Blame::Peer);
        assert_eq!(CryptoError::AuthMismatch.blame(), Blame::Peer);
        assert_eq!(CryptoError::Rng.blame(), Blame::Local);
        assert_eq!(
            CryptoError::PrfPlusTooLong {
                requested: 9000,
                max: 8160
            }
            .blame(),
            Blame::Local
        );
    }

    #[test]
    fn messages_name_the_values() {
        let e = CryptoError::KePublicValueLength {
            group: 31,
            expected: 32,
            actual: 31,
        };
        assert_eq!(
            e.to_string(),
            "KE data for group 31 is 31 bytes, expected 32"
        );
    }
}
