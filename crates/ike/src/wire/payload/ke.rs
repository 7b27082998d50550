//! Key Exchange payload (RFC 7296 §3.4).

use crate::wire::codec::{add, reserved, u16f, Writer};
use crate::wire::error::{PResult, WireError};
use crate::wire::registry::KeMethod;

/// KE payload (RFC 7296 §3.4): the method number and the public value.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Ke {
    /// Key exchange method (Diffie-Hellman group, RFC 9370 §2.2.1).
    pub method: KeMethod,
    /// The sender's public value or KEM ciphertext.
    pub data: Vec<u8>,
}

impl Ke {
    pub(crate) fn parse_body(b: &[u8]) -> PResult<'_, Self> {
        let (b, m) = u16f(b, "ke.method")?;
        let (b, ()) = reserved(b, 2)?;
        Ok((
            &[],
            Self {
                method: KeMethod(m),
                data: b.to_vec(),
            },
        ))
    }

    pub(crate) fn body_len(&self) -> usize {
        add(4, self.data.len())
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.u16(self.method.0)?;
        w.zeros(2)?;
        w.put(&self.data)
    }
}
