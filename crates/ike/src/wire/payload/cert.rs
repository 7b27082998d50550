//! Certificate (RFC 7296 §3.6) and Certificate Request (RFC 7296 §3.7) payloads.

use crate::wire::codec::{add, u8f, Writer};
use crate::wire::error::{PResult, WireError};
use crate::wire::registry::CertEncoding;

/// CERT payload (RFC 7296 §3.6).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Cert {
    /// Certificate encoding.
    pub encoding: CertEncoding,
    /// Certificate data (a DER certificate for X509_CERT_SIG).
    pub data: Vec<u8>,
}

/// CERTREQ payload (RFC 7296 §3.7).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct CertReq {
    /// Requested certificate encoding.
    pub encoding: CertEncoding,
    /// Certification authority data: concatenated SHA-1 hashes of CA public
    /// keys for X509_CERT_SIG.
    pub data: Vec<u8>,
}

macro_rules! encoded_payload {
    ($t:ident, $field:literal) => {
        impl $t {
            pub(crate) fn parse_body(b: &[u8]) -> PResult<'_, Self> {
                let (b, e) = u8f(b, $field)?;
                Ok((
                    &[],
                    Self {
                        encoding: CertEncoding(e),
                        data: b.to_vec(),
                    },
                ))
            }

            pub(crate) fn body_len(&self) -> usize {
                add(1, self.data.len())
            }

            pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
                w.u8(self.encoding.0)?;
                w.put(&self.data)
            }
        }
    };
}

encoded_payload!(Cert, "cert.encoding");
encoded_payload!(CertReq, "certreq.encoding");
