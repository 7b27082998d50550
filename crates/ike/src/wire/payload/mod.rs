//! The payloads of RFC 7296 §3.3–§3.16 and RFC 7383 §2.5, one Repr each,
//! gathered in the [`Payload`] enum.
//!
//! Each Repr holds only semantic fields. The generic payload header (next
//! payload, critical bit, length, RFC 7296 §3.2) is derived when the chain is
//! emitted, except where it carries meaning: SK/SKF keep the type of their
//! first inner payload, and unknown payloads keep their critical bit.

mod auth;
mod cert;
mod cp;
mod delete;
mod id;
mod ke;
mod nonce;
mod notify;
mod opaque;
mod sa;
mod sk;
mod ts;

pub use auth::Auth;
pub use cert::{Cert, CertReq};
pub use cp::{Cp, CpAttribute, MAX_CP_ATTRIBUTES};
pub use delete::Delete;
pub use id::Id;
pub use ke::Ke;
pub use nonce::{Nonce, NONCE_MAX_LEN, NONCE_MIN_LEN};
pub use notify::Notify;
pub use opaque::{Eap, VendorId};
pub use sa::{Attribute, AttributeValue, Proposal, Sa, Transform, MAX_ATTRIBUTES};
pub use sk::{Sk, Skf};
pub use ts::{TrafficSelector, Ts};

use super::codec::{add, Writer};
use super::error::{in_payload, PResult, WireError};
use super::registry::PayloadType;

/// A payload this codec does not decode (RFC 7296 §2.5), kept whole so it
/// can be logged, skipped, or answered with UNSUPPORTED_CRITICAL_PAYLOAD
/// when its critical bit is set.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct UnknownPayload {
    /// The payload type, as named by the previous payload.
    pub payload_type: PayloadType,
    /// The critical bit of its generic header.
    pub critical: bool,
    /// The body after the generic header.
    pub data: Vec<u8>,
}

/// One payload of an IKE message (RFC 7296 §3.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Payload {
    /// Security Association (RFC 7296 §3.3).
    Sa(Sa),
    /// Key Exchange (RFC 7296 §3.4).
    Ke(Ke),
    /// Identification - Initiator (RFC 7296 §3.5).
    Idi(Id),
    /// Identification - Responder (RFC 7296 §3.5).
    Idr(Id),
    /// Certificate (RFC 7296 §3.6).
    Cert(Cert),
    /// Certificate Request (RFC 7296 §3.7).
    CertReq(CertReq),
    /// Authentication (RFC 7296 §3.8).
    Auth(Auth),
    /// Nonce (RFC 7296 §3.9).
    Nonce(Nonce),
    /// Notify (RFC 7296 §3.10).
    Notify(Notify),
    /// Delete (RFC 7296 §3.11).
    Delete(Delete),
    /// Vendor ID (RFC 7296 §3.12).
    VendorId(VendorId),
    /// Traffic Selector - Initiator (RFC 7296 §3.13).
    Tsi(Ts),
    /// Traffic Selector - Responder (RFC 7296 §3.13).
    Tsr(Ts),
    /// Encrypted and Authenticated (RFC 7296 §3.14).
    Sk(Sk),
    /// Configuration (RFC 7296 §3.15).
    Cp(Cp),
    /// Extensible Authentication (RFC 7296 §3.16).
    Eap(Eap),
    /// Encrypted and Authenticated Fragment (RFC 7383 §2.5).
    Skf(Skf),
    /// Any other payload type (RFC 7296 §2.5).
    Unknown(UnknownPayload),
}

/// Every payload type this codec decodes into its own Repr.
pub const DECODED_PAYLOAD_TYPES: [PayloadType; 17] = [
    PayloadType::SA,
    PayloadType::KE,
    PayloadType::IDI,
    PayloadType::IDR,
    PayloadType::CERT,
    PayloadType::CERTREQ,
    PayloadType::AUTH,
    PayloadType::NONCE,
    PayloadType::NOTIFY,
    PayloadType::DELETE,
    PayloadType::VENDOR_ID,
    PayloadType::TSI,
    PayloadType::TSR,
    PayloadType::SK,
    PayloadType::CP,
    PayloadType::EAP,
    PayloadType::SKF,
];

impl Payload {
    /// The payload type the previous header names for this payload
    /// (RFC 7296 §3.2).
    pub fn payload_type(&self) -> PayloadType {
        match self {
            Self::Sa(_) => PayloadType::SA,
            Self::Ke(_) => PayloadType::KE,
            Self::Idi(_) => PayloadType::IDI,
            Self::Idr(_) => PayloadType::IDR,
            Self::Cert(_) => PayloadType::CERT,
            Self::CertReq(_) => PayloadType::CERTREQ,
            Self::Auth(_) => PayloadType::AUTH,
            Self::Nonce(_) => PayloadType::NONCE,
            Self::Notify(_) => PayloadType::NOTIFY,
            Self::Delete(_) => PayloadType::DELETE,
            Self::VendorId(_) => PayloadType::VENDOR_ID,
            Self::Tsi(_) => PayloadType::TSI,
            Self::Tsr(_) => PayloadType::TSR,
            Self::Sk(_) => PayloadType::SK,
            Self::Cp(_) => PayloadType::CP,
            Self::Eap(_) => PayloadType::EAP,
            Self::Skf(_) => PayloadType::SKF,
            Self::Unknown(u) => u.payload_type,
        }
    }

    /// The critical bit this payload is emitted with: set only on unknown
    /// payloads that carried it. RFC 7296 §3.2 has senders clear it on the
    /// payloads that RFC defines, and receivers ignore it on known types.
    pub fn critical(&self) -> bool {
        match self {
            Self::Unknown(u) => u.critical,
            _ => false,
        }
    }

    /// True for SK and SKF, which must end the chain (RFC 7296 §3.14).
    pub fn is_encrypted(&self) -> bool {
        matches!(self, Self::Sk(_) | Self::Skf(_))
    }

    /// True for an unknown payload with the critical bit set: the message
    /// must be rejected with UNSUPPORTED_CRITICAL_PAYLOAD (RFC 7296 §2.5).
    pub fn is_unsupported_critical(&self) -> bool {
        matches!(self, Self::Unknown(u) if u.critical)
    }

    /// Decode a body of type `ptype`. `next` is the generic header's
    /// next-payload field, which SK and SKF keep.
    pub(crate) fn parse_body(
        ptype: PayloadType,
        critical: bool,
        next: PayloadType,
        body: &[u8],
    ) -> PResult<'_, Self> {
        let r: PResult<'_, Self> = match ptype {
            PayloadType::SA => Sa::parse_body(body).map(|(i, p)| (i, Self::Sa(p))),
            PayloadType::KE => Ke::parse_body(body).map(|(i, p)| (i, Self::Ke(p))),
            PayloadType::IDI => Id::parse_body(body).map(|(i, p)| (i, Self::Idi(p))),
            PayloadType::IDR => Id::parse_body(body).map(|(i, p)| (i, Self::Idr(p))),
            PayloadType::CERT => Cert::parse_body(body).map(|(i, p)| (i, Self::Cert(p))),
            PayloadType::CERTREQ => CertReq::parse_body(body).map(|(i, p)| (i, Self::CertReq(p))),
            PayloadType::AUTH => Auth::parse_body(body).map(|(i, p)| (i, Self::Auth(p))),
            PayloadType::NONCE => Nonce::parse_body(body).map(|(i, p)| (i, Self::Nonce(p))),
            PayloadType::NOTIFY => Notify::parse_body(body).map(|(i, p)| (i, Self::Notify(p))),
            PayloadType::DELETE => Delete::parse_body(body).map(|(i, p)| (i, Self::Delete(p))),
            PayloadType::VENDOR_ID => {
                VendorId::parse_body(body).map(|(i, p)| (i, Self::VendorId(p)))
            }
            PayloadType::TSI => Ts::parse_body(body).map(|(i, p)| (i, Self::Tsi(p))),
            PayloadType::TSR => Ts::parse_body(body).map(|(i, p)| (i, Self::Tsr(p))),
            PayloadType::SK => Sk::parse_body(next, body).map(|(i, p)| (i, Self::Sk(p))),
            PayloadType::CP => Cp::parse_body(body).map(|(i, p)| (i, Self::Cp(p))),
            PayloadType::EAP => Eap::parse_body(body).map(|(i, p)| (i, Self::Eap(p))),
            PayloadType::SKF => Skf::parse_body(next, body).map(|(i, p)| (i, Self::Skf(p))),
            _ => Ok((
                &[][..],
                Self::Unknown(UnknownPayload {
                    payload_type: ptype,
                    critical,
                    data: body.to_vec(),
                }),
            )),
        };
        in_payload(ptype, r)
    }

    /// Length of the body, without the 4-byte generic header.
    pub fn body_len(&self) -> usize {
        match self {
            Self::Sa(p) => p.body_len(),
            Self::Ke(p) => p.body_len(),
            Self::Idi(p) | Self::Idr(p) => p.body_len(),
            Self::Cert(p) => p.body_len(),
            Self::CertReq(p) => p.body_len(),
            Self::Auth(p) => p.body_len(),
            Self::Nonce(p) => p.body_len(),
            Self::Notify(p) => p.body_len(),
            Self::Delete(p) => p.body_len(),
            Self::VendorId(p) => p.body_len(),
            Self::Tsi(p) | Self::Tsr(p) => p.body_len(),
            Self::Sk(p) => p.body_len(),
            Self::Cp(p) => p.body_len(),
            Self::Eap(p) => p.body_len(),
            Self::Skf(p) => p.body_len(),
            Self::Unknown(p) => p.data.len(),
        }
    }

    /// Length on the wire, generic header included (RFC 7296 §3.2).
    pub fn buffer_len(&self) -> usize {
        add(4, self.body_len())
    }

    /// The body bytes without the generic header: for example the
    /// RestOfInitIDPayload / RestOfRespIDPayload signed by AUTH (RFC 7296
    /// §2.15). For a received payload this equals the bytes received, except
    /// reserved bytes, which are always written as zero (RFC 7296 §2.5).
    pub fn body_to_vec(&self) -> Result<Vec<u8>, WireError> {
        let mut v = vec![0u8; self.body_len()];
        let mut w = Writer::new(&mut v);
        w.set_payload(Some(self.payload_type()));
        self.emit_body(&mut w)?;
        Ok(v)
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        match self {
            Self::Sa(p) => p.emit_body(w),
            Self::Ke(p) => p.emit_body(w),
            Self::Idi(p) | Self::Idr(p) => p.emit_body(w),
            Self::Cert(p) => p.emit_body(w),
            Self::CertReq(p) => p.emit_body(w),
            Self::Auth(p) => p.emit_body(w),
            Self::Nonce(p) => p.emit_body(w),
            Self::Notify(p) => p.emit_body(w),
            Self::Delete(p) => p.emit_body(w),
            Self::VendorId(p) => p.emit_body(w),
            Self::Tsi(p) | Self::Tsr(p) => p.emit_body(w),
            Self::Sk(p) => p.emit_body(w),
            Self::Cp(p) => p.emit_body(w),
            Self::Eap(p) => p.emit_body(w),
            Self::Skf(p) => p.emit_body(w),
            Self::Unknown(p) => {
                // A decoded type would come back as its own Repr.
                if DECODED_PAYLOAD_TYPES.contains(&p.payload_type) {
                    return Err(w.err("payload_type", super::error::Reason::Inconsistent));
                }
                w.put(&p.data)
            }
        }
    }
}
