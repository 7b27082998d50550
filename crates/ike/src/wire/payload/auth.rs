//! Authentication payload (RFC 7296 §3.8).

use crate::wire::codec::{add, reserved, u8f, Writer};
use crate::wire::error::{PResult, WireError};
use crate::wire::registry::AuthMethod;

/// AUTH payload (RFC 7296 §3.8). For DIGITAL_SIGNATURE (RFC 7427 §3) the
/// data begins with the ASN.1 AlgorithmIdentifier; this layer keeps it opaque.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Auth {
    /// Authentication method.
    pub method: AuthMethod,
    /// Authentication data.
    pub data: Vec<u8>,
}

impl Auth {
    pub(crate) fn parse_body(b: &[u8]) -> PResult<'_, Self> {
        let (b, m) = u8f(b, "auth.method")?;
        let (b, ()) = reserved(b, 3)?;
        Ok((
            &[],
            Self {
                method: AuthMethod(m),
                data: b.to_vec(),
            },
        ))
    }

    pub(crate) fn body_len(&self) -> usize {
        add(4, self.data.len())
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.u8(self.method.0)?;
        w.zeros(3)?;
        w.put(&self.data)
    }
}
