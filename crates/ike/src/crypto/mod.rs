//! Cryptography for IKEv2, behind one seam.
//!
//! This layer turns negotiated transform IDs into algorithm objects and does
//! every cryptographic computation the IKE state machine needs: PRF and prf+
//! (RFC 7296 §2.13), key exchange (RFC 5903, RFC 8031), key derivation
//! (§2.14, §2.17, §2.18), SK payload protection (§3.14, RFC 5282, RFC 7634),
//! AUTH values (§2.15) and digital signatures (RFC 7427, RFC 4754).
//!
//! What it guarantees:
//! - No I/O, no clock and no global random number generator: randomness comes
//!   in through [`Random`], chosen by the caller (seeded in tests).
//! - Every algorithm sits behind a small trait ([`Prf`], [`Integ`],
//!   [`KeyExchangeGroup`], [`SkCipherAlgorithm`], [`Signer`], [`Verifier`]),
//!   collected in a [`CryptoProvider`] and looked up by IANA transform ID.
//!   [`ring_provider()`] fills it from *ring*; another crate can push more
//!   algorithms into the same struct without touching the state machine, as
//!   [`native_client_provider()`] does with AES-CBC (RustCrypto `aes`/`cbc`),
//!   HMAC-SHA1 and the MODP groups 14–16 (`crypto-bigint`).
//! - Peer input never panics: bad lengths, bad points and bad ICVs come back
//!   as a typed [`CryptoError`] whose [`CryptoError::blame`] says whose fault
//!   it is.
//! - Key material lives in [`SecretBytes`], which is zeroized on drop, is not
//!   `Clone`, and whose `Debug` prints only its length. The private half of a
//!   key exchange is consumed by [`ActiveKeyExchange::complete`].
//! - MACs, ICVs and AUTH values are compared in constant time ([`ct_eq`]).
//!
//! What it must not do: parse IKE payloads. Everything here works on byte
//! slices, so the wire codec and the state machine stay independent of it.

mod auth;
mod cbc;
mod der;
mod error;
mod integ;
mod keys;
mod kx;
mod modp;
pub mod mschapv2;
mod prf;
mod provider;
mod random;
mod ring_impl;
mod secret;
mod sign;
mod sk;

pub use crate::wire::registry::{AuthMethod, EncrId, HashAlgorithm, IntegId, KeMethod, PrfId};

pub use auth::{psk_auth, signed_octets, verify_psk_auth, SignedOctetsInput, KEY_PAD_FOR_IKEV2};
pub use cbc::{AesCbcAlgorithm, AES_BLOCK_LEN, AES_CBC_128, AES_CBC_192, AES_CBC_256};
pub use error::{Blame, CryptoError, KeRejection, TransformKind};
pub use integ::Integ;
pub use keys::{
    derive_child_keymat, derive_ike_sa_keys, esp_key_lengths, rekey_skeyseed, skeyseed,
    ChildKeyLengths, ChildSaKeys, IkeKeyLengths, IkeSaKeys,
};
pub use kx::{ActiveKeyExchange, KeyExchangeGroup, SharedSecret};
pub use modp::{ModpGroup, MODP_2048, MODP_3072, MODP_4096};
pub use prf::{prf_plus, Prf, PRF_PLUS_MAX_ITERATIONS};
pub use provider::{native_client_provider, ring_provider, CryptoProvider, IkeSuite};
pub use random::{HmacDrbg, Random, SystemRandom};
pub use ring_impl::{
    RingAeadAlgorithm, RingHmacInteg, RingHmacPrf, RingKxGroup, AES_128_GCM_16, AES_256_GCM_16,
    AUTH_HMAC_SHA1_96, AUTH_HMAC_SHA2_256_128, AUTH_HMAC_SHA2_384_192, AUTH_HMAC_SHA2_512_256,
    CHACHA20_POLY1305, ECP_256, ECP_384, PRF_HMAC_SHA1, PRF_HMAC_SHA2_256, PRF_HMAC_SHA2_384,
    PRF_HMAC_SHA2_512, X25519,
};
pub use secret::SecretBytes;
pub use sign::{AuthData, PublicKey, RingSigner, RingVerifier, SignatureScheme, Signer, Verifier};
pub use sk::{
    open_sk, seal_sk, sk_body_len, CipherShape, SkCipher, SkCipherAlgorithm, SkKeys, SkLayout,
};

/// Compares two byte strings in constant time (for ICVs, AUTH values, MACs).
///
/// The running time depends only on the lengths, never on where the first
/// difference is (RFC 7296 §2.15 AUTH and §3.14 ICV checks must not leak how
/// many leading bytes were right). Unequal lengths compare unequal at once:
/// lengths are public in IKE.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

#[cfg(test)]
mod tests {
    use super::ct_eq;

    #[test]
    fn ct_eq_compares_content_and_length() {
        assert!(ct_eq(b"abc", b"abc"));
        assert!(ct_eq(b"", b""));
        assert!(!ct_eq(b"abc", b"abd"));
        assert!(!ct_eq(b"abc", b"ab"));
        assert!(!ct_eq(b"", b"a"));
    }
}
