//! Security Association payload (RFC 7296 §3.3): proposals, transforms and
//! transform attributes.
//!
//! Parsing checks every substructure length, that the "last" flags agree
//! with position (0 on the last item, 2 on other proposals, 3 on other
//! transforms), that the transform count equals the transforms present, that
//! proposal numbers are consecutive, and that SPI sizes fit the protocol.

use core::fmt;

use crate::wire::codec::{add, all_consumed, bytes, reserved, sub, u16f, u8f, Writer};
use crate::wire::error::{fail, PResult, Reason, WireError};
use crate::wire::registry::{
    EncrId, EsnId, IntegId, KeMethod, PrfId, ProtocolId, TransformAttributeType, TransformType,
};

/// Upper bound on attributes in one transform; real transforms carry at
/// most one (Key Length), so this only stops absurd inputs.
pub const MAX_ATTRIBUTES: usize = 16;

/// "More proposals follow" value of the proposal last-substructure field
/// (RFC 7296 §3.3.1).
const MORE_PROPOSALS: u8 = 2;
/// "More transforms follow" value of the transform last-substructure field
/// (RFC 7296 §3.3.2).
const MORE_TRANSFORMS: u8 = 3;
/// Attribute Format bit: set for the fixed two-byte TV form (RFC 7296 §3.3.5).
const ATTR_TV: u16 = 0x8000;

/// SA payload (RFC 7296 §3.3): one or more proposals.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Sa {
    /// Proposals in order of preference.
    pub proposals: Vec<Proposal>,
}

/// Proposal substructure (RFC 7296 §3.3.1).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Proposal {
    /// Proposal number: 1, 2, … in a request; the chosen number in a reply.
    pub number: u8,
    /// IKE, AH or ESP.
    pub protocol: ProtocolId,
    /// The sender's SPI: empty (IKE_SA_INIT), 8 bytes (IKE rekey) or 4 (AH/ESP).
    pub spi: Vec<u8>,
    /// Transforms, at least one.
    pub transforms: Vec<Transform>,
}

/// Transform substructure (RFC 7296 §3.3.2).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Transform {
    /// Transform type (ENCR, PRF, INTEG, KE, ESN, ADDKE*).
    pub transform_type: TransformType,
    /// Transform ID, in the registry of `transform_type`.
    pub id: u16,
    /// Attributes (in practice only Key Length).
    pub attributes: Vec<Attribute>,
}

/// Transform attribute (RFC 7296 §3.3.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Attribute {
    /// Attribute type, 15 bits.
    pub attr_type: TransformAttributeType,
    /// Value: TV (two bytes inline) or TLV (variable).
    pub value: AttributeValue,
}

/// The two attribute forms, chosen by the AF bit (RFC 7296 §3.3.5).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AttributeValue {
    /// AF = 1: a two-byte value.
    Tv(u16),
    /// AF = 0: a length-prefixed value.
    Tlv(Vec<u8>),
}

impl Transform {
    /// A transform without attributes (RFC 7296 §3.3.2).
    pub fn new(transform_type: TransformType, id: u16) -> Self {
        Self {
            transform_type,
            id,
            attributes: Vec::new(),
        }
    }

    /// An ENCR transform with an optional Key Length attribute (RFC 7296 §3.3.5).
    pub fn encr(id: EncrId, key_len: Option<u16>) -> Self {
        let mut t = Self::new(TransformType::ENCR, id.0);
        if let Some(k) = key_len {
            t.attributes.push(Attribute {
                attr_type: TransformAttributeType::KEY_LENGTH,
                value: AttributeValue::Tv(k),
            });
        }
        t
    }

    /// The Key Length attribute in bits, if present (RFC 7296 §3.3.5).
    pub fn key_length(&self) -> Option<u16> {
        self.attributes
            .iter()
            .find_map(|a| match (a.attr_type, &a.value) {
                (TransformAttributeType::KEY_LENGTH, AttributeValue::Tv(v)) => Some(*v),
                _ => None,
            })
    }

    fn body_len(&self) -> usize {
        self.attributes
            .iter()
            .fold(8, |n, a| add(n, a.buffer_len()))
    }
}

/// strongSwan notation: `AES_GCM_16_256`, `PRF_HMAC_SHA2_256`, `CURVE_25519`.
impl fmt::Display for Transform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transform_type.id_name(self.id) {
            Some(n) => f.write_str(n)?,
            None => write!(f, "{}_{}", self.transform_type, self.id)?,
        }
        if let Some(k) = self.key_length() {
            write!(f, "_{k}")?;
        }
        Ok(())
    }
}

impl Transform {
    /// The ENCR ID, if this is an ENCR transform.
    pub fn encr_id(&self) -> Option<EncrId> {
        (self.transform_type == TransformType::ENCR).then_some(EncrId(self.id))
    }
    /// The PRF ID, if this is a PRF transform.
    pub fn prf_id(&self) -> Option<PrfId> {
        (self.transform_type == TransformType::PRF).then_some(PrfId(self.id))
    }
    /// The INTEG ID, if this is an INTEG transform.
    pub fn integ_id(&self) -> Option<IntegId> {
        (self.transform_type == TransformType::INTEG).then_some(IntegId(self.id))
    }
    /// The key exchange method, if this is a KE or ADDKE transform (RFC 9370).
    pub fn ke_method(&self) -> Option<KeMethod> {
        (self.transform_type.0 == TransformType::KE.0 || (6..=12).contains(&self.transform_type.0))
            .then_some(KeMethod(self.id))
    }
    /// The ESN ID, if this is an ESN transform.
    pub fn esn_id(&self) -> Option<EsnId> {
        (self.transform_type == TransformType::ESN).then_some(EsnId(self.id))
    }
}

/// strongSwan notation: `IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519`.
impl fmt::Display for Proposal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:", self.protocol)?;
        for (n, t) in self.transforms.iter().enumerate() {
            if n > 0 {
                f.write_str("/")?;
            }
            write!(f, "{t}")?;
        }
        Ok(())
    }
}

impl Attribute {
    fn buffer_len(&self) -> usize {
        match &self.value {
            AttributeValue::Tv(_) => 4,
            AttributeValue::Tlv(v) => add(4, v.len()),
        }
    }

    fn parse(i: &[u8]) -> PResult<'_, Self> {
        let start = i;
        let (i, t) = u16f(i, "attribute.type")?;
        let attr_type = TransformAttributeType(t & !ATTR_TV);
        if t & ATTR_TV != 0 {
            let (i, v) = u16f(i, "attribute.value")?;
            Ok((
                i,
                Self {
                    attr_type,
                    value: AttributeValue::Tv(v),
                },
            ))
        } else {
            let (i, len) = u16f(i, "attribute.length")?;
            match bytes(i, usize::from(len), "attribute.value") {
                Ok((i, v)) => Ok((
                    i,
                    Self {
                        attr_type,
                        value: AttributeValue::Tlv(v.to_vec()),
                    },
                )),
                Err(_) => fail(start, "attribute.length", Reason::LengthOverrun),
            }
        }
    }

    fn emit(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        if self.attr_type.0 & ATTR_TV != 0 {
            return Err(w.err("attribute.type", Reason::TooLong));
        }
        match &self.value {
            AttributeValue::Tv(v) => {
                w.u16(self.attr_type.0 | ATTR_TV)?;
                w.u16(*v)
            }
            AttributeValue::Tlv(v) => {
                w.u16(self.attr_type.0)?;
                w.len16(v.len(), "attribute.length")?;
                w.put(v)
            }
        }
    }
}

impl Proposal {
    fn buffer_len(&self) -> usize {
        self.transforms
            .iter()
            .fold(add(8, self.spi.len()), |n, t| add(n, t.body_len()))
    }
}

/// Whether an SPI of `size` bytes fits `protocol` (RFC 7296 §3.3.1): empty
/// in IKE_SA_INIT, the new 8-byte SPI when rekeying IKE, 4 bytes for AH/ESP.
fn spi_size_ok(protocol: ProtocolId, size: usize) -> bool {
    match protocol {
        ProtocolId::IKE => size == 0 || size == 8,
        ProtocolId::AH | ProtocolId::ESP => size == 4,
        _ => true,
    }
}

fn check_spi_size<'a>(at: &'a [u8], protocol: ProtocolId, size: u8) -> PResult<'a, ()> {
    if spi_size_ok(protocol, usize::from(size)) {
        Ok((at, ()))
    } else {
        fail(at, "proposal.spi_size", Reason::BadSpiSize)
    }
}

fn parse_transform(i: &[u8], last_expected: bool) -> PResult<'_, Transform> {
    let start = i;
    let (i, last) = u8f(i, "transform.last")?;
    let (i, _) = reserved(i, 1)?;
    let (_, len) = u16f(i, "transform.length")?;
    let (rest, body) = sub(start, usize::from(len), 4, "transform.length")?;
    let want = if last_expected { 0 } else { MORE_TRANSFORMS };
    if last != want {
        return fail(start, "transform.last", Reason::BadLastFlag);
    }
    let (b, tt) = u8f(body, "transform.type")?;
    let (b, _) = reserved(b, 1)?;
    let (mut b, id) = u16f(b, "transform.id")?;
    let mut attributes = Vec::new();
    while !b.is_empty() {
        if attributes.len() >= MAX_ATTRIBUTES {
            return fail(b, "transform.attributes", Reason::TooMany);
        }
        let (nb, a) = Attribute::parse(b)?;
        attributes.push(a);
        b = nb;
    }
    Ok((
        rest,
        Transform {
            transform_type: TransformType(tt),
            id,
            attributes,
        },
    ))
}

fn parse_proposal(i: &[u8], last_expected: bool) -> PResult<'_, Proposal> {
    let start = i;
    let (i, last) = u8f(i, "proposal.last")?;
    let (i, _) = reserved(i, 1)?;
    let (_, len) = u16f(i, "proposal.length")?;
    let (rest, body) = sub(start, usize::from(len), 4, "proposal.length")?;
    let want = if last_expected { 0 } else { MORE_PROPOSALS };
    if last != want {
        return fail(start, "proposal.last", Reason::BadLastFlag);
    }
    let (b, number) = u8f(body, "proposal.number")?;
    let (b, protocol) = u8f(b, "proposal.protocol")?;
    let protocol = ProtocolId(protocol);
    let at_spi_size = b;
    let (b, spi_size) = u8f(b, "proposal.spi_size")?;
    check_spi_size(at_spi_size, protocol, spi_size)?;
    let at_count = b;
    let (b, count) = u8f(b, "proposal.num_transforms")?;
    let (mut b, spi) = bytes(b, usize::from(spi_size), "proposal.spi")?;
    if count == 0 {
        return fail(at_count, "proposal.num_transforms", Reason::Empty);
    }
    let mut transforms = Vec::with_capacity(usize::from(count));
    for n in 0..count {
        if b.is_empty() {
            return fail(at_count, "proposal.num_transforms", Reason::CountMismatch);
        }
        let (nb, t) = parse_transform(b, n == count.saturating_sub(1))?;
        transforms.push(t);
        b = nb;
    }
    if !b.is_empty() {
        return fail(b, "proposal.num_transforms", Reason::CountMismatch);
    }
    Ok((
        rest,
        Proposal {
            number,
            protocol,
            spi: spi.to_vec(),
            transforms,
        },
    ))
}

impl Sa {
    pub(crate) fn parse_body(body: &[u8]) -> PResult<'_, Self> {
        let mut i = body;
        let mut proposals: Vec<Proposal> = Vec::new();
        while !i.is_empty() {
            // The last flag is read before parsing so position can be checked:
            // a proposal is last exactly when its flag says so and nothing follows.
            let (_, flag) = u8f(i, "proposal.last")?;
            let (ni, p) = parse_proposal(i, flag == 0)?;
            if flag == 0 && !ni.is_empty() {
                return fail(ni, "proposal.last", Reason::BadLastFlag);
            }
            if flag != 0 && ni.is_empty() {
                return fail(i, "proposal.last", Reason::BadLastFlag);
            }
            let expected = match proposals.last() {
                Some(prev) => prev.number.checked_add(1),
                None => (p.number >= 1).then_some(p.number),
            };
            if expected != Some(p.number) {
                // The number is the fifth byte of the proposal.
                return fail(
                    i.get(4..).unwrap_or(i),
                    "proposal.number",
                    Reason::BadProposalNumber,
                );
            }
            proposals.push(p);
            i = ni;
        }
        if proposals.is_empty() {
            return fail(body, "proposals", Reason::Empty);
        }
        let (i, ()) = all_consumed(i, "proposals")?;
        Ok((i, Self { proposals }))
    }

    pub(crate) fn body_len(&self) -> usize {
        self.proposals.iter().fold(0, |n, p| add(n, p.buffer_len()))
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        // Refuse what parse would reject, so a local bug surfaces here and
        // not as the peer's INVALID_SYNTAX.
        if self.proposals.is_empty() {
            return Err(w.err("proposals", Reason::Empty));
        }
        let first = self.proposals.first().map_or(0, |p| p.number);
        for (n, p) in self.proposals.iter().enumerate() {
            let want = u8::try_from(n).ok().and_then(|n| first.checked_add(n));
            if first == 0 || want != Some(p.number) {
                return Err(w.err("proposal.number", Reason::BadProposalNumber));
            }
            if p.transforms.is_empty() {
                return Err(w.err("proposal.num_transforms", Reason::Empty));
            }
            if !spi_size_ok(p.protocol, p.spi.len()) {
                return Err(w.err("proposal.spi_size", Reason::BadSpiSize));
            }
            if p.transforms
                .iter()
                .any(|t| t.attributes.len() > MAX_ATTRIBUTES)
            {
                return Err(w.err("transform.attributes", Reason::TooMany));
            }
        }
        let count = self.proposals.len();
        for (pn, p) in self.proposals.iter().enumerate() {
            let is_last = pn.checked_add(1) == Some(count);
            w.u8(if is_last { 0 } else { MORE_PROPOSALS })?;
            w.u8(0)?;
            w.len16(p.buffer_len(), "proposal.length")?;
            w.u8(p.number)?;
            w.u8(p.protocol.0)?;
            w.len8(p.spi.len(), "proposal.spi_size")?;
            w.len8(p.transforms.len(), "proposal.num_transforms")?;
            w.put(&p.spi)?;
            let tcount = p.transforms.len();
            for (tn, t) in p.transforms.iter().enumerate() {
                let t_last = tn.checked_add(1) == Some(tcount);
                w.u8(if t_last { 0 } else { MORE_TRANSFORMS })?;
                w.u8(0)?;
                w.len16(t.body_len(), "transform.length")?;
                w.u8(t.transform_type.0)?;
                w.u8(0)?;
                w.u16(t.id)?;
                for a in &t.attributes {
                    a.emit(w)?;
                }
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One IKE proposal: AES_GCM_16 256 / PRF_HMAC_SHA2_256 / CURVE_25519
    /// (hand-built after RFC 7296 §3.3).
    static SA_BODY: [u8; 40] = [
        0x00, 0x00, 0x00, 0x28, // last, reserved, length 40
        0x01, 0x01, 0x00, 0x03, // proposal 1, IKE, SPI size 0, 3 transforms
        0x03, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00, 0x14, 0x80, 0x0e, 0x01,
        0x00, // ENCR 20, KL 256
        0x03, 0x00, 0x00, 0x08, 0x02, 0x00, 0x00, 0x05, // PRF 5
        0x00, 0x00, 0x00, 0x08, 0x04, 0x00, 0x00, 0x1f, // KE 31
        0, 0, 0, 0, // filler to reach the declared 40: see rejects test
    ];

    fn sa() -> Sa {
        Sa {
            proposals: vec![Proposal {
                number: 1,
                protocol: ProtocolId::IKE,
                spi: vec![],
                transforms: vec![
                    Transform::encr(EncrId::AES_GCM_16, Some(256)),
                    Transform::new(TransformType::PRF, PrfId::PRF_HMAC_SHA2_256.0),
                    Transform::new(TransformType::KE, KeMethod::CURVE_25519.0),
                ],
            }],
        }
    }

    fn golden() -> Vec<u8> {
        let mut v = SA_BODY[..36].to_vec();
        v[3] = 36;
        v
    }

    #[test]
    fn parses_and_emits_golden_sa() {
        let g = golden();
        let (rest, parsed) = Sa::parse_body(&g).unwrap();
        assert!(rest.is_empty());
        assert_eq!(parsed, sa());
        assert_eq!(
            parsed.proposals[0].to_string(),
            "IKE:AES_GCM_16_256/PRF_HMAC_SHA2_256/CURVE_25519"
        );
        let mut buf = vec![0xa5u8; sa().body_len()];
        sa().emit_body(&mut Writer::new(&mut buf)).unwrap();
        assert_eq!(buf, g);
    }

    #[test]
    fn rejects_transform_count_mismatch() {
        let mut g = golden();
        g[7] = 4;
        let e = Sa::parse_body(&g).unwrap_err();
        // The third transform says "last" where a fourth was announced.
        assert!(matches!(e, nom::Err::Failure(pe) if pe.reason == Reason::BadLastFlag));
        g[7] = 2;
        let e = Sa::parse_body(&g).unwrap_err();
        assert!(
            matches!(e, nom::Err::Failure(pe) if pe.reason == Reason::BadLastFlag || pe.reason == Reason::CountMismatch)
        );
    }

    #[test]
    fn rejects_sa_with_zero_transforms() {
        let g = [0x00, 0x00, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00];
        let e = Sa::parse_body(&g).unwrap_err();
        assert!(matches!(e, nom::Err::Failure(pe) if pe.reason == Reason::Empty));
    }

    #[test]
    fn rejects_proposal_length_past_the_payload() {
        let e = Sa::parse_body(&SA_BODY[..36]).unwrap_err();
        assert!(matches!(e, nom::Err::Failure(pe) if pe.reason == Reason::LengthOverrun));
    }

    #[test]
    fn rejects_wrong_last_flag_and_numbering() {
        let mut g = golden();
        g[0] = 2;
        assert!(Sa::parse_body(&g).is_err());
        let mut g = golden();
        g[4] = 0;
        let e = Sa::parse_body(&g).unwrap_err();
        assert!(matches!(e, nom::Err::Failure(pe) if pe.reason == Reason::BadProposalNumber));
    }

    #[test]
    fn rejects_esp_spi_of_wrong_size() {
        let mut g = golden();
        g[5] = 3; // ESP with SPI size 0
        let e = Sa::parse_body(&g).unwrap_err();
        assert!(matches!(e, nom::Err::Failure(pe) if pe.reason == Reason::BadSpiSize));
    }
}
