//! AUTH payload computations (RFC 7296 §2.15, §2.16).
//!
//! Both peers sign (or MAC) their own "signed octets": the first message they
//! sent, the other side's nonce, and a PRF of their own ID payload body. For
//! signature methods the octets go to a [`Signer`](super::Signer) /
//! [`Verifier`](super::Verifier); for shared keys (and EAP's MSK) they go
//! through [`psk_auth`].

use super::{ct_eq, CryptoError, Prf, SecretBytes};

/// The pad string of the shared-key AUTH computation (RFC 7296 §2.15),
/// without a terminating NUL.
pub const KEY_PAD_FOR_IKEV2: &[u8] = b"Key Pad for IKEv2";

/// What goes into one side's signed octets (RFC 7296 §2.15).
#[derive(Clone, Copy, Debug)]
pub struct SignedOctetsInput<'a> {
    /// The first message this side sent, byte for byte as sent: the
    /// IKE_SA_INIT request for the initiator, the IKE_SA_INIT response for the
    /// responder (after a COOKIE or INVALID_KE retry, the last one sent).
    pub real_message: &'a [u8],
    /// The other side's Nonce Data (Nr for the initiator, Ni for the
    /// responder), without the payload header.
    pub peer_nonce: &'a [u8],
    /// SK_pi for the initiator, SK_pr for the responder.
    pub sk_p: &'a SecretBytes,
    /// This side's ID payload body after the generic payload header: ID Type,
    /// the three RESERVED octets, and the identification data.
    pub id_payload_body: &'a [u8],
}

/// `RealMessage | NonceData | prf(SK_px, IDx')` (RFC 7296 §2.15).
pub fn signed_octets(prf: &dyn Prf, input: &SignedOctetsInput<'_>) -> Result<Vec<u8>, CryptoError> {
    let maced_id = prf.prf(input.sk_p.secret_bytes(), &[input.id_payload_body])?;
    let len = input
        .real_message
        .len()
        .checked_add(input.peer_nonce.len())
        .and_then(|n| n.checked_add(maced_id.len()))
        .ok_or(CryptoError::Layout("signed octets length overflows"))?;
    let mut out = Vec::with_capacity(len);
    out.extend_from_slice(input.real_message);
    out.extend_from_slice(input.peer_nonce);
    out.extend_from_slice(maced_id.secret_bytes());
    Ok(out)
}

/// Shared-key AUTH data: `prf(prf(Shared Secret, "Key Pad for IKEv2"),
/// signed octets)` (RFC 7296 §2.15).
///
/// For EAP (§2.16) pass the MSK as `shared_secret`, or SK_pi / SK_pr when
/// the EAP method produced no MSK.
pub fn psk_auth(
    prf: &dyn Prf,
    shared_secret: &[u8],
    octets: &[u8],
) -> Result<Vec<u8>, CryptoError> {
    let padded = prf.prf(shared_secret, &[KEY_PAD_FOR_IKEV2])?;
    let mut out = vec![0u8; prf.output_len()];
    prf.compute(padded.secret_bytes(), &[octets], &mut out)?;
    Ok(out)
}

/// Checks a received shared-key AUTH value in constant time (RFC 7296 §2.15).
/// A mismatch is [`CryptoError::AuthMismatch`] (AUTHENTICATION_FAILED).
pub fn verify_psk_auth(
    prf: &dyn Prf,
    shared_secret: &[u8],
    octets: &[u8],
    received: &[u8],
) -> Result<(), CryptoError> {
    let expected = psk_auth(prf, shared_secret, octets)?;
    if ct_eq(&expected, received) {
        Ok(())
    } else {
        Err(CryptoError::AuthMismatch)
    }
}
