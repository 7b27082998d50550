//! Configuration payload (RFC 7296 §3.15) and its attributes, including the
//! split-DNS attributes of RFC 8598.

use core::fmt;
use std::net::{Ipv4Addr, Ipv6Addr};

use crate::wire::codec::{add, bytes, reserved, u16f, u8f, Writer};
use crate::wire::error::{fail, PResult, Reason, WireError};
use crate::wire::registry::{CfgType, CpAttributeType};

/// Upper bound on attributes in one CP payload; a request for every known
/// attribute stays far below it.
pub const MAX_CP_ATTRIBUTES: usize = 256;

/// CP payload (RFC 7296 §3.15).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Cp {
    /// CFG_REQUEST, CFG_REPLY, CFG_SET or CFG_ACK.
    pub cfg_type: CfgType,
    /// Attributes, unknown ones included.
    pub attributes: Vec<CpAttribute>,
}

/// Configuration attribute (RFC 7296 §3.15.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct CpAttribute {
    /// Attribute type, 15 bits (the top bit is reserved).
    pub attr_type: CpAttributeType,
    /// Value; empty in a request for "any value".
    pub value: Vec<u8>,
}

impl CpAttribute {
    fn buffer_len(&self) -> usize {
        add(4, self.value.len())
    }
}

/// The value decoded for display: addresses, address/prefix, text.
impl fmt::Display for CpAttribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.attr_type)?;
        let v = self.value.as_slice();
        if v.is_empty() {
            return Ok(());
        }
        f.write_str("=")?;
        use CpAttributeType as T;
        match (self.attr_type, v.len()) {
            (
                T::INTERNAL_IP4_ADDRESS
                | T::INTERNAL_IP4_NETMASK
                | T::INTERNAL_IP4_DNS
                | T::INTERNAL_IP4_NBNS
                | T::INTERNAL_IP4_DHCP
                | T::P_CSCF_IP4_ADDRESS
                | T::INTERNAL_IP4_SERVER,
                4,
            ) => write!(f, "{}", ip4(v)),
            (T::INTERNAL_IP4_SUBNET, 8) => {
                write!(f, "{}/{}", ip4(v), ip4(v.get(4..).unwrap_or(&[])))
            }
            (T::INTERNAL_IP6_ADDRESS | T::INTERNAL_IP6_SUBNET, 17) => {
                write!(f, "{}/{}", ip6(v), v.get(16).copied().unwrap_or(0))
            }
            (
                T::INTERNAL_IP6_DNS
                | T::INTERNAL_IP6_DHCP
                | T::P_CSCF_IP6_ADDRESS
                | T::INTERNAL_IP6_SERVER,
                16,
            ) => {
                write!(f, "{}", ip6(v))
            }
            (
                T::INTERNAL_DNS_DOMAIN
                | T::APPLICATION_VERSION
                | T::UNITY_BANNER
                | T::UNITY_DEF_DOMAIN,
                _,
            ) => super::id::write_text(f, v),
            _ => super::id::write_hex(f, v),
        }
    }
}

fn ip4(v: &[u8]) -> Ipv4Addr {
    let mut a = [0u8; 4];
    if let Some(s) = v.get(..4) {
        a.copy_from_slice(s);
    }
    Ipv4Addr::from(a)
}

fn ip6(v: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    if let Some(s) = v.get(..16) {
        a.copy_from_slice(s);
    }
    Ipv6Addr::from(a)
}

impl Cp {
    pub(crate) fn parse_body(b: &[u8]) -> PResult<'_, Self> {
        let (b, t) = u8f(b, "cp.cfg_type")?;
        let (mut b, ()) = reserved(b, 3)?;
        let mut attributes = Vec::new();
        while !b.is_empty() {
            if attributes.len() >= MAX_CP_ATTRIBUTES {
                return fail(b, "cp.attributes", Reason::TooMany);
            }
            let start = b;
            let (nb, at) = u16f(b, "cp.attribute.type")?;
            let (nb, len) = u16f(nb, "cp.attribute.length")?;
            let Ok((nb, value)) = bytes(nb, usize::from(len), "cp.attribute.value") else {
                return fail(start, "cp.attribute.length", Reason::LengthOverrun);
            };
            // The top bit is reserved (RFC 7296 §3.15.1): ignored on input.
            attributes.push(CpAttribute {
                attr_type: CpAttributeType(at & 0x7fff),
                value: value.to_vec(),
            });
            b = nb;
        }
        Ok((
            b,
            Self {
                cfg_type: CfgType(t),
                attributes,
            },
        ))
    }

    pub(crate) fn body_len(&self) -> usize {
        self.attributes
            .iter()
            .fold(4, |n, a| add(n, a.buffer_len()))
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.u8(self.cfg_type.0)?;
        w.zeros(3)?;
        for a in &self.attributes {
            if a.attr_type.0 & 0x8000 != 0 {
                return Err(w.err("cp.attribute.type", Reason::TooLong));
            }
            w.u16(a.attr_type.0)?;
            w.len16(a.value.len(), "cp.attribute.length")?;
            w.put(&a.value)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_cp_reply_with_split_dns_round_trips() {
        let golden = [
            2, 0, 0, 0, // CFG_REPLY
            0, 1, 0, 4, 10, 3, 0, 1, // INTERNAL_IP4_ADDRESS 10.3.0.1
            0, 25, 0, 11, b'e', b'x', b'a', b'm', b'p', b'l', b'e', b'.', b'o', b'r',
            b'g', // INTERNAL_DNS_DOMAIN
            0, 26, 0, 0, // INTERNAL_DNSSEC_TA (empty)
            0x7a, 0xbc, 0, 1, 0xff, // unknown 0x7abc
        ];
        let (_, cp) = Cp::parse_body(&golden).unwrap();
        assert_eq!(cp.cfg_type, CfgType::CFG_REPLY);
        assert_eq!(cp.attributes.len(), 4);
        assert_eq!(
            cp.attributes[0].to_string(),
            "INTERNAL_IP4_ADDRESS=10.3.0.1"
        );
        assert_eq!(
            cp.attributes[1].to_string(),
            "INTERNAL_DNS_DOMAIN=example.org"
        );
        assert_eq!(cp.attributes[3].attr_type, CpAttributeType(0x7abc));
        let mut buf = vec![0xa5; cp.body_len()];
        cp.emit_body(&mut Writer::new(&mut buf)).unwrap();
        assert_eq!(buf, golden);
    }

    #[test]
    fn rejects_attribute_overrun() {
        let bad = [1, 0, 0, 0, 0, 1, 0, 5, 10, 3, 0, 1];
        let e = Cp::parse_body(&bad).unwrap_err();
        assert!(
            matches!(e, nom::Err::Failure(pe) if pe.reason == Reason::LengthOverrun && pe.field == "cp.attribute.length")
        );
    }
}
