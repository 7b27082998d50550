//! Delete payload (RFC 7296 §3.11).

use crate::wire::codec::{add, bytes, u16f, u8f, Writer};
use crate::wire::error::{fail, PResult, Reason, WireError};
use crate::wire::registry::ProtocolId;

/// Delete payload (RFC 7296 §3.11). The SPI size is derived: zero when no
/// SPIs are listed (the IKE SA itself), otherwise the size of every SPI.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Delete {
    /// IKE, AH or ESP.
    pub protocol: ProtocolId,
    /// SPIs of the SAs to delete; empty for IKE; all of one size.
    pub spis: Vec<Vec<u8>>,
}

/// RFC 7296 §3.11: IKE uses size 0 and no SPIs; AH/ESP use 4-byte SPIs.
/// A zero size with a non-zero count names nothing and would let 8 bytes
/// allocate 65535 entries, so it is refused.
fn size_ok(protocol: ProtocolId, size: usize, count: usize) -> bool {
    match protocol {
        ProtocolId::IKE => size == 0 && count == 0,
        ProtocolId::AH | ProtocolId::ESP => size == 4,
        _ => size != 0 || count == 0,
    }
}

impl Delete {
    pub(crate) fn parse_body(b: &[u8]) -> PResult<'_, Self> {
        let start = b;
        let (b, protocol) = u8f(b, "delete.protocol")?;
        let protocol = ProtocolId(protocol);
        let (b, size) = u8f(b, "delete.spi_size")?;
        let (mut b, count) = u16f(b, "delete.num_spis")?;
        if !size_ok(protocol, usize::from(size), usize::from(count)) {
            return fail(start, "delete.spi_size", Reason::BadSpiSize);
        }
        let mut spis = Vec::new();
        for _ in 0..count {
            let Ok((nb, spi)) = bytes(b, usize::from(size), "delete.spi") else {
                return fail(start, "delete.num_spis", Reason::CountMismatch);
            };
            spis.push(spi.to_vec());
            b = nb;
        }
        if !b.is_empty() {
            return fail(b, "delete.num_spis", Reason::CountMismatch);
        }
        Ok((b, Self { protocol, spis }))
    }

    /// The derived SPI size: that of the first SPI, zero when there is none.
    fn spi_size(&self) -> usize {
        self.spis.first().map_or(0, Vec::len)
    }

    pub(crate) fn body_len(&self) -> usize {
        self.spis.iter().fold(4, |n, s| add(n, s.len()))
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        let size = self.spi_size();
        if self.spis.iter().any(|s| s.len() != size)
            || !size_ok(self.protocol, size, self.spis.len())
        {
            return Err(w.err("delete.spis", Reason::Inconsistent));
        }
        w.u8(self.protocol.0)?;
        w.len8(size, "delete.spi_size")?;
        w.len16(self.spis.len(), "delete.num_spis")?;
        for s in &self.spis {
            w.put(s)?;
        }
        Ok(())
    }
}
