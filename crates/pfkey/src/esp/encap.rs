//! UDP encapsulation of ESP and IKE on one port (RFC 3948).
//!
//! The caller owns the UDP/4500 socket. This module tells what arrived on
//! it ([`classify`]), frames what leaves it ([`frame_ike`],
//! [`NAT_KEEPALIVE`]), and, for callers that build whole datagrams on a raw
//! socket, writes the UDP header with RFC 3948's checksum rule
//! ([`emit_udp`]). Nothing here keeps state or allocates.

use core::net::{IpAddr, SocketAddr};

use super::error::{DropReason, Error, LocalError};
use super::{ip, Spi, ESP_HEADER_LEN};

/// The IKE/ESP NAT-traversal port (RFC 3948 §2, RFC 7296 §2.23).
pub const NAT_T_PORT: u16 = 4500;
/// Four zero bytes in front of IKE messages on port 4500 (RFC 3948 §2.2),
/// where an ESP SPI could never be zero.
pub const NON_ESP_MARKER: [u8; 4] = [0; 4];
/// The one-byte NAT-keepalive payload (RFC 3948 §2.3).
pub const NAT_KEEPALIVE: [u8; 1] = [0xff];
/// UDP header length (RFC 768).
pub const UDP_HEADER_LEN: usize = 8;

/// What a datagram received on port 4500 is (RFC 3948 §2.2, §2.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Datagram<'a> {
    /// An IKE message; the slice starts after the non-ESP marker.
    Ike(&'a [u8]),
    /// A NAT keepalive: ignore it.
    Keepalive,
    /// An ESP packet (SPI first), for [`super::InboundTable::decapsulate`].
    Esp {
        /// Its SPI.
        spi: Spi,
        /// The whole ESP packet.
        packet: &'a [u8],
    },
}

/// Classifies a UDP/4500 payload. Errors are drops: an empty datagram, a
/// lone byte other than 0xff, or something too short for an ESP header.
pub fn classify(payload: &[u8]) -> Result<Datagram<'_>, DropReason> {
    match payload {
        [] => Err(DropReason::Truncated { len: 0, min: 1 }),
        [0xff] => Ok(Datagram::Keepalive),
        [0, 0, 0, 0, ike @ ..] => Ok(Datagram::Ike(ike)),
        _ => {
            let spi: [u8; 4] = payload
                .get(..4)
                .and_then(|s| s.try_into().ok())
                .filter(|_| payload.len() >= ESP_HEADER_LEN)
                .ok_or(DropReason::Truncated {
                    len: payload.len(),
                    min: ESP_HEADER_LEN,
                })?;
            Ok(Datagram::Esp {
                spi: Spi(u32::from_be_bytes(spi)),
                packet: payload,
            })
        }
    }
}

/// Writes `NON_ESP_MARKER | ike` into `dst` for sending an IKE message on
/// port 4500 (RFC 3948 §2.2).
pub fn frame_ike<'a>(ike: &[u8], dst: &'a mut [u8]) -> Result<&'a mut [u8], Error> {
    let need = NON_ESP_MARKER.len().saturating_add(ike.len());
    let have = dst.len();
    let out = dst
        .get_mut(..need)
        .ok_or(LocalError::BufferTooSmall { need, have })?;
    let (marker, body) = out
        .split_at_mut_checked(NON_ESP_MARKER.len())
        .ok_or(LocalError::BufferTooSmall { need, have })?;
    marker.copy_from_slice(&NON_ESP_MARKER);
    body.copy_from_slice(ike);
    Ok(out)
}

/// Writes a UDP header followed by `payload` into `dst` (for raw-socket
/// callers). Checksum rule: over IPv4 the ESP-in-UDP checksum is sent as
/// zero (RFC 3948 §2.1); over IPv6 a zero checksum is not allowed
/// (RFC 8200 §8.1), so it is computed. `src` and `dst_addr` must be of one
/// family.
pub fn emit_udp<'a>(
    src: SocketAddr,
    dst_addr: SocketAddr,
    payload: &[u8],
    dst: &'a mut [u8],
) -> Result<&'a mut [u8], Error> {
    let len = UDP_HEADER_LEN.saturating_add(payload.len());
    let len16 =
        u16::try_from(len).map_err(|_| LocalError::Unsupported(super::Unsupported::Oversize))?;
    if src.is_ipv4() != dst_addr.is_ipv4() {
        return Err(LocalError::Config(super::ConfigError::AddressFamily).into());
    }
    let have = dst.len();
    let out = dst
        .get_mut(..len)
        .ok_or(LocalError::BufferTooSmall { need: len, have })?;
    let (hdr, body) = out
        .split_at_mut_checked(UDP_HEADER_LEN)
        .ok_or(LocalError::BufferTooSmall { need: len, have })?;
    let mut h = [0u8; UDP_HEADER_LEN];
    h[0..2].copy_from_slice(&src.port().to_be_bytes());
    h[2..4].copy_from_slice(&dst_addr.port().to_be_bytes());
    h[4..6].copy_from_slice(&len16.to_be_bytes());
    body.copy_from_slice(payload);
    if let (IpAddr::V6(_), IpAddr::V6(_)) = (src.ip(), dst_addr.ip()) {
        let acc = ip::pseudo_header_sum(src.ip(), dst_addr.ip(), ip::PROTO_UDP, len);
        let acc = ip::sum(&h, acc);
        let mut c = ip::checksum(body, acc);
        if c == 0 {
            c = 0xffff;
        }
        h[6..8].copy_from_slice(&c.to_be_bytes());
    }
    hdr.copy_from_slice(&h);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classifies_the_three_kinds() {
        assert_eq!(classify(&[0xff]), Ok(Datagram::Keepalive));
        assert_eq!(classify(&[0, 0, 0, 0, 1, 2]), Ok(Datagram::Ike(&[1, 2])));
        let esp = [0, 0, 1, 0, 0, 0, 0, 1, 9];
        assert_eq!(
            classify(&esp),
            Ok(Datagram::Esp {
                spi: Spi(256),
                packet: &esp
            })
        );
        assert!(classify(&[]).is_err());
        assert!(classify(&[0xfe]).is_err());
        assert!(classify(&[1, 2, 3, 4, 5, 6, 7]).is_err());
    }

    #[test]
    fn ike_frame_has_marker() {
        let mut buf = [0xa5u8; 16];
        let f = frame_ike(&[7, 8], &mut buf).unwrap();
        assert_eq!(f, &[0, 0, 0, 0, 7, 8]);
        assert!(frame_ike(&[0; 13], &mut buf).is_err());
    }

    #[test]
    fn udp_checksum_zero_on_ipv4_and_valid_on_ipv6() {
        let mut buf = [0xa5u8; 64];
        let s4: SocketAddr = "192.0.2.1:4500".parse().unwrap();
        let d4: SocketAddr = "198.51.100.2:4501".parse().unwrap();
        let u = emit_udp(s4, d4, &[1, 2, 3], &mut buf).unwrap();
        assert_eq!(u, &[0x11, 0x94, 0x11, 0x95, 0, 11, 0, 0, 1, 2, 3]);

        let s6: SocketAddr = "[2001:db8::1]:4500".parse().unwrap();
        let d6: SocketAddr = "[2001:db8::2]:4500".parse().unwrap();
        let u = emit_udp(s6, d6, &[1, 2, 3], &mut buf).unwrap().to_vec();
        assert_ne!(&u[6..8], &[0, 0]);
        // Verifying: the checksum over pseudo-header + datagram folds to 0.
        let acc = ip::pseudo_header_sum(s6.ip(), d6.ip(), ip::PROTO_UDP, u.len());
        assert_eq!(ip::checksum(&u, acc), 0);
        assert!(emit_udp(s4, d6, &[], &mut buf).is_err());
    }
}
