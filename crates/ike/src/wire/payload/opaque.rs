//! Payloads whose body this layer keeps as bytes: Vendor ID (RFC 7296
//! §3.12) and EAP (RFC 7296 §3.16).

use crate::wire::codec::Writer;
use crate::wire::error::{PResult, WireError};

/// Vendor ID payload (RFC 7296 §3.12).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct VendorId {
    /// The vendor ID (often a hash of a product string).
    pub data: Vec<u8>,
}

/// EAP payload (RFC 7296 §3.16): one EAP message (RFC 3748), kept whole.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Eap {
    /// The EAP message, header included.
    pub data: Vec<u8>,
}

macro_rules! opaque_payload {
    ($t:ident) => {
        impl $t {
            pub(crate) fn parse_body(b: &[u8]) -> PResult<'_, Self> {
                Ok((&[], Self { data: b.to_vec() }))
            }

            pub(crate) fn body_len(&self) -> usize {
                self.data.len()
            }

            pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
                w.put(&self.data)
            }
        }
    };
}

opaque_payload!(VendorId);
opaque_payload!(Eap);
