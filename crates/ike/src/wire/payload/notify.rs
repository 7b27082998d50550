//! Notify payload (RFC 7296 §3.10).

use crate::wire::codec::{add, bytes, u16f, u8f, Writer};
use crate::wire::error::{PResult, WireError};
use crate::wire::registry::{NotifyType, ProtocolId};

/// Notify payload (RFC 7296 §3.10).
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Notify {
    /// Protocol of the SA the notification is about (0 when none).
    pub protocol: ProtocolId,
    /// SPI of that SA; usually empty.
    pub spi: Vec<u8>,
    /// Notify message type.
    pub notify_type: NotifyType,
    /// Notification data, interpreted per type.
    pub data: Vec<u8>,
}

impl Notify {
    /// A notification with no SPI (RFC 7296 §3.10).
    pub fn new(notify_type: NotifyType, data: Vec<u8>) -> Self {
        Self {
            protocol: ProtocolId::NONE,
            spi: Vec::new(),
            notify_type,
            data,
        }
    }

    pub(crate) fn parse_body(b: &[u8]) -> PResult<'_, Self> {
        let (b, protocol) = u8f(b, "notify.protocol")?;
        let (b, spi_size) = u8f(b, "notify.spi_size")?;
        let (b, t) = u16f(b, "notify.type")?;
        let (b, spi) = bytes(b, usize::from(spi_size), "notify.spi")?;
        Ok((
            &[],
            Self {
                protocol: ProtocolId(protocol),
                spi: spi.to_vec(),
                notify_type: NotifyType(t),
                data: b.to_vec(),
            },
        ))
    }

    pub(crate) fn body_len(&self) -> usize {
        add(add(4, self.spi.len()), self.data.len())
    }

    pub(crate) fn emit_body(&self, w: &mut Writer<'_>) -> Result<(), WireError> {
        w.u8(self.protocol.0)?;
        w.len8(self.spi.len(), "notify.spi_size")?;
        w.u16(self.notify_type.0)?;
        w.put(&self.spi)?;
        w.put(&self.data)
    }
}
