//! Identification payloads IDi and IDr (RFC 7296 §3.5).

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::codec::{add, reserved, u8f, Writer};
use crate::wire::error::{fail, PResult, Reason, WireError};
use crate::wire::registry::IdType;

/// IDi / IDr payload body (RFC 7296 §3.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Id {
    /// ID type.
    pub id_type: IdType,
    /// Identification data, interpreted per `id_type`.
    pub data: Vec<u8>,
}

impl Id {
    pub(crate) fn parse_body(b: &[u8]) -> PResult<'_, Self> {
        let start = b;
        let (b, t) = u8f(b, "id.type")?;
        let (b, ()) = reserved(b, 3)?;
        let id_type = IdType(t);
        if !data_len_ok(id_type, b.len()) {
            return fail(start, "id.data", Reason::BadValueLength);
        }
        Ok((
            &[],
            Self {
                id_type,
                data: b.to_vec(),
            },
        ))
    }

    pub(crate) fn body_len(&self) -> usize {
        add(4, self.data.len())
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        if !data_len_ok(self.id_type, self.data.len()) {
            return Err(w.err("id.data", Reason::BadValueLength));
        }
        w.u8(self.id_type.0)?;
        w.zeros(3)?;
        w.put(&self.data)
    }
}

/// Address IDs have a fixed size (RFC 7296 §3.5); ID_NULL carries nothing
/// (RFC 7619 §3).
fn data_len_ok(id_type: IdType, len: usize) -> bool {
    match id_type {
        IdType::ID_IPV4_ADDR => len == 4,
        IdType::ID_IPV6_ADDR => len == 16,
        IdType::ID_NULL => len == 0,
        _ => true,
    }
}

/// The ID as text, as strongSwan logs it: addresses, names, `@#hex` for key
/// IDs, and hex for DER values (RFC 7296 §3.5).
impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.id_type {
            IdType::ID_IPV4_ADDR => match <[u8; 4]>::try_from(self.data.as_slice()) {
                Ok(a) => write!(f, "{}", Ipv4Addr::from(a)),
                Err(_) => write_hex(f, &self.data),
            },
            IdType::ID_IPV6_ADDR => match <[u8; 16]>::try_from(self.data.as_slice()) {
                Ok(a) => write!(f, "{}", Ipv6Addr::from(a)),
                Err(_) => write_hex(f, &self.data),
            },
            IdType::ID_FQDN | IdType::ID_RFC822_ADDR => write_text(f, &self.data),
            IdType::ID_NULL => f.write_str("%null"),
            IdType::ID_KEY_ID => {
                f.write_str("@#")?;
                write_hex(f, &self.data)
            }
            _ => {
                write!(f, "{}:", self.id_type)?;
                write_hex(f, &self.data)
            }
        }
    }
}

/// Write bytes as lowercase hex.
pub(crate) fn write_hex(f: &mut fmt::Formatter<'_>, data: &[u8]) -> fmt::Result {
    for b in data {
        write!(f, "{b:02x}")?;
    }
    Ok(())
}

/// Write bytes as text, escaping anything that is not printable ASCII so a
/// peer cannot inject terminal control sequences into logs.
pub(crate) fn write_text(f: &mut fmt::Formatter<'_>, data: &[u8]) -> fmt::Result {
    for &b in data {
        if b.is_ascii_graphic() || b == b' ' {
            write!(f, "{}", char::from(b))?;
        } else {
            write!(f, "\\x{b:02x}")?;
        }
    }
    Ok(())
}
