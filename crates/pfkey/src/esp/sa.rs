//! One ESP SA per direction: [`OutboundSa::encapsulate`] and
//! [`InboundSa::decapsulate`], plus [`InboundTable`], the SPI demultiplexer
//! for inbound traffic (RFC 4303 §3.4.2).

use core::net::{IpAddr, SocketAddr};
use std::collections::HashMap;

use super::crypto::{Layout, OpenError, OpenKey, SealKey};
use super::error::{ConfigError, DropReason, Error, LocalError, Unsupported};
use super::ip::{self, IpHeader};
use super::replay::ReplayWindow;
use super::{Mode, NatT, SaParams, Spi, ESP_HEADER_LEN, ESP_TRAILER_LEN};

/// Packets and bytes that passed through an SA. Bytes are the protected
/// payload (the inner packet in tunnel mode, the IP payload in transport
/// mode), which is what SA byte lifetimes count (RFC 2367 §2.3.4's
/// `sadb_lifetime_bytes`); the key engine compares them with its limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrafficCounters {
    /// Packets protected (outbound) or accepted (inbound).
    pub packets: u64,
    /// Payload bytes protected or accepted.
    pub bytes: u64,
}

impl TrafficCounters {
    fn add(&mut self, bytes: usize) {
        self.packets = self.packets.saturating_add(1);
        self.bytes = self
            .bytes
            .saturating_add(u64::try_from(bytes).unwrap_or(u64::MAX));
    }
}

/// Inbound packets dropped, by [`DropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    /// [`DropReason::Truncated`].
    pub truncated: u64,
    /// [`DropReason::UnknownSpi`].
    pub unknown_spi: u64,
    /// [`DropReason::Misaligned`].
    pub misaligned: u64,
    /// [`DropReason::Replay`].
    pub replayed: u64,
    /// [`DropReason::IcvMismatch`].
    pub icv_failed: u64,
    /// [`DropReason::BadPadLength`] and [`DropReason::BadPadBytes`].
    pub bad_padding: u64,
    /// [`DropReason::BadNextHeader`].
    pub bad_next_header: u64,
    /// [`DropReason::BadInnerPacket`].
    pub bad_inner_packet: u64,
}

impl DropCounters {
    fn record(&mut self, r: &DropReason) {
        let c = match r {
            DropReason::Truncated { .. } => &mut self.truncated,
            DropReason::UnknownSpi(_) => &mut self.unknown_spi,
            DropReason::Misaligned { .. } => &mut self.misaligned,
            DropReason::Replay { .. } => &mut self.replayed,
            DropReason::IcvMismatch(_) => &mut self.icv_failed,
            DropReason::BadPadLength { .. } | DropReason::BadPadBytes { .. } => {
                &mut self.bad_padding
            }
            DropReason::BadNextHeader { .. } => &mut self.bad_next_header,
            DropReason::BadInnerPacket(_) => &mut self.bad_inner_packet,
        };
        *c = c.saturating_add(1);
    }

    /// Sum of all drops.
    pub fn total(&self) -> u64 {
        [
            self.truncated,
            self.unknown_spi,
            self.misaligned,
            self.replayed,
            self.icv_failed,
            self.bad_padding,
            self.bad_next_header,
            self.bad_inner_packet,
        ]
        .iter()
        .fold(0u64, |a, b| a.saturating_add(*b))
    }
}

/// Reads the SPI and sequence number of an ESP packet (RFC 4303 §2.1, §2.2).
fn esp_header(packet: &[u8]) -> Option<(Spi, u32)> {
    let h: &[u8; ESP_HEADER_LEN] = packet.get(..ESP_HEADER_LEN)?.try_into().ok()?;
    Some((
        Spi(u32::from_be_bytes([h[0], h[1], h[2], h[3]])),
        u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
    ))
}

/// IPv6 Next Header values that are extension headers ESP would have to sit
/// behind or in front of (RFC 8200 §4; RFC 4303 §3.1.1).
fn is_ipv6_extension(nh: u8) -> bool {
    matches!(nh, 0 | 43 | 44 | 50 | 51 | 60 | 135 | 139 | 140)
}

/// Bytes an ESP packet occupies for `payload_len` bytes of payload.
fn esp_len(l: Layout, payload_len: usize) -> Option<(usize, usize)> {
    let unpadded = payload_len.checked_add(ESP_TRAILER_LEN)?;
    let align = l.align.max(1);
    let pad = (align - unpadded % align) % align;
    let total = ESP_HEADER_LEN
        .checked_add(l.iv_len)?
        .checked_add(unpadded)?
        .checked_add(pad)?
        .checked_add(l.icv_len)?;
    Some((total, pad))
}

/// The sending half of an ESP SA.
///
/// Methods: getters; [`Self::encapsulate`] per packet;
/// [`Self::set_remote_endpoint`] when the inbound SA saw the peer move.
pub struct OutboundSa {
    spi: Spi,
    mode: Mode,
    local: IpAddr,
    remote: IpAddr,
    nat_t: Option<NatT>,
    remote_endpoint: Option<SocketAddr>,
    key: SealKey,
    layout: Layout,
    /// Extended Sequence Numbers negotiated.
    esn: bool,
    /// Next sequence number to send; `None` once the space is used up.
    next_seq: Option<u64>,
    counters: TrafficCounters,
}

impl core::fmt::Debug for OutboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("OutboundSa")
            .field("spi", &self.spi)
            .field("mode", &self.mode)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("remote_endpoint", &self.remote_endpoint)
            .field("next_seq", &self.next_seq)
            .finish_non_exhaustive()
    }
}

impl OutboundSa {
    /// Builds the SA. `rng` seeds the per-SA IV key of AES-CBC (see
    /// `crypto::SealKey`); it is not used per packet.
    pub fn new(params: SaParams, rng: &dyn ring::rand::SecureRandom) -> Result<Self, Error> {
        params.validate().map_err(LocalError::Config)?;
        let (key, layout) = SealKey::new(
            params.encryption,
            &params.encryption_key,
            params.integrity.as_ref(),
            rng,
        )
        .map_err(LocalError::Config)?;
        Ok(Self {
            spi: params.spi,
            mode: params.mode,
            local: params.local,
            remote: params.remote,
            nat_t: params.nat_t,
            remote_endpoint: params
                .nat_t
                .map(|n| SocketAddr::new(params.remote, n.remote_port)),
            key,
            layout,
            esn: params.esn,
            next_seq: Some(1),
            counters: TrafficCounters::default(),
        })
    }

    /// The SPI this SA sends.
    pub fn spi(&self) -> Spi {
        self.spi
    }

    /// Tunnel or transport.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Our outer address.
    pub fn local(&self) -> IpAddr {
        self.local
    }

    /// UDP encapsulation ports, if any.
    pub fn nat_t(&self) -> Option<NatT> {
        self.nat_t
    }

    /// Where UDP-encapsulated packets go: the negotiated peer, or where the
    /// inbound SA last saw authenticated traffic come from.
    pub fn remote_endpoint(&self) -> Option<SocketAddr> {
        self.remote_endpoint
    }

    /// Follows a NAT mapping change reported by
    /// [`Decapsulated::peer_moved`]; ignored for raw ESP.
    pub fn set_remote_endpoint(&mut self, peer: SocketAddr) {
        if self.nat_t.is_some() {
            self.remote_endpoint = Some(peer);
        }
    }

    /// Sequence number the next packet will carry; `None` once the
    /// sequence space is exhausted and the SA must be replaced.
    pub fn next_sequence(&self) -> Option<u64> {
        self.next_seq
            .filter(|s| self.esn || *s <= u64::from(u32::MAX))
    }

    /// Packets and bytes protected so far.
    pub fn counters(&self) -> TrafficCounters {
        self.counters
    }

    /// ESP bytes added to a payload in the worst case: header, IV, maximal
    /// padding, trailer, ICV. Outer IP and UDP headers are not included.
    pub fn max_overhead(&self) -> usize {
        let l = self.layout;
        ESP_HEADER_LEN + l.iv_len + (l.align.max(1) - 1) + ESP_TRAILER_LEN + l.icv_len
    }

    /// Exact ESP packet length for a packet handed to [`Self::encapsulate`].
    pub fn encapsulated_len(&self, packet: &[u8]) -> Result<usize, Error> {
        let (payload, _) = self.select_payload(packet)?;
        esp_len(self.layout, payload.len())
            .map(|(total, _)| total)
            .ok_or(Error::Local(LocalError::Unsupported(Unsupported::Oversize)))
    }

    pub(crate) fn layout(&self) -> (usize, usize, usize) {
        (self.layout.iv_len, self.layout.icv_len, self.layout.align)
    }

    /// Picks the bytes to protect and the Next Header value (RFC 4303 §3.1).
    fn select_payload<'p>(&self, packet: &'p [u8]) -> Result<(&'p [u8], u8), Error> {
        let hdr = IpHeader::parse(packet).map_err(LocalError::InnerPacket)?;
        match self.mode {
            Mode::Tunnel => {
                let inner = packet.get(..hdr.total_len).ok_or(LocalError::InnerPacket(
                    super::IpError::Truncated { len: packet.len() },
                ))?;
                let nh = if hdr.src.is_ipv4() {
                    ip::PROTO_IPV4
                } else {
                    ip::PROTO_IPV6
                };
                Ok((inner, nh))
            }
            Mode::Transport => {
                if hdr.src.is_ipv4() != self.local.is_ipv4() {
                    return Err(LocalError::Unsupported(Unsupported::FamilyMismatch).into());
                }
                if hdr.src != self.local || hdr.dst != self.remote {
                    return Err(LocalError::AddressMismatch.into());
                }
                if hdr.is_fragment {
                    return Err(LocalError::Unsupported(Unsupported::Ipv4Fragment).into());
                }
                if hdr.src.is_ipv6() && is_ipv6_extension(hdr.protocol) {
                    return Err(LocalError::Unsupported(Unsupported::Ipv6ExtensionHeaders).into());
                }
                let payload =
                    packet
                        .get(hdr.header_len..hdr.total_len)
                        .ok_or(LocalError::InnerPacket(super::IpError::Truncated {
                            len: packet.len(),
                        }))?;
                Ok((payload, hdr.protocol))
            }
        }
    }

    /// Protects one IP packet read from the TUN device (RFC 4303 §3.3) and
    /// writes the ESP packet (SPI through ICV) at the start of `dst`.
    ///
    /// Tunnel mode carries the whole packet. Transport mode checks that the
    /// packet runs between the SA's addresses, carries its IP payload, and
    /// leaves the outer header to the caller's socket (IPv4 options are not
    /// carried over). The result is what goes into the UDP/4500 datagram
    /// (or a raw protocol-50 socket) towards [`Self::remote_endpoint`].
    pub fn encapsulate<'a>(
        &mut self,
        packet: &[u8],
        dst: &'a mut [u8],
    ) -> Result<&'a mut [u8], Error> {
        let (payload, next_header) = self.select_payload(packet)?;
        // RFC 4303 §3.3.3: never cycle the counter; the SA must be rekeyed.
        let seq = self.next_sequence().ok_or(LocalError::SequenceExhausted)?;
        // Only the low half travels; with ESN the high half is implicit.
        let seq_low = u32::try_from(seq & 0xffff_ffff).map_err(|_| LocalError::Crypto)?;
        let l = self.layout;
        let (total, pad) =
            esp_len(l, payload.len()).ok_or(LocalError::Unsupported(Unsupported::Oversize))?;
        let have = dst.len();
        let out = dst
            .get_mut(..total)
            .ok_or(LocalError::BufferTooSmall { need: total, have })?;
        let front = ESP_HEADER_LEN + l.iv_len;
        let pad_at = front + payload.len();
        let trailer_at = pad_at + pad;
        {
            let (head, rest) = out
                .split_at_mut_checked(ESP_HEADER_LEN)
                .ok_or(LocalError::Crypto)?;
            let mut h = [0u8; ESP_HEADER_LEN];
            h[..4].copy_from_slice(&self.spi.0.to_be_bytes());
            h[4..].copy_from_slice(&seq_low.to_be_bytes());
            head.copy_from_slice(&h);
            let _ = rest;
        }
        let body = out.get_mut(front..pad_at).ok_or(LocalError::Crypto)?;
        body.copy_from_slice(payload);
        // RFC 4303 §2.4: default padding is 1, 2, 3, …
        let padding = out.get_mut(pad_at..trailer_at).ok_or(LocalError::Crypto)?;
        for (b, v) in padding.iter_mut().zip(1u8..) {
            *b = v;
        }
        let trailer = out
            .get_mut(trailer_at..trailer_at + ESP_TRAILER_LEN)
            .ok_or(LocalError::Crypto)?;
        let pad_len = u8::try_from(pad).map_err(|_| LocalError::Crypto)?;
        trailer.copy_from_slice(&[pad_len, next_header]);
        if !self.key.seal(out, seq, self.esn, l) {
            return Err(LocalError::Crypto.into());
        }
        self.next_seq = seq.checked_add(1);
        self.counters.add(payload.len());
        Ok(out)
    }
}

/// What an accepted inbound ESP packet carried.
#[derive(Debug)]
pub enum Payload<'a> {
    /// An IPv4 packet for the TUN device.
    Ipv4(&'a mut [u8]),
    /// An IPv6 packet for the TUN device.
    Ipv6(&'a mut [u8]),
    /// A TFC dummy packet, Next Header 59 (RFC 4303 §2.6): authenticated
    /// and counted, nothing to deliver.
    Dummy,
}

/// Result of [`InboundSa::decapsulate`].
#[derive(Debug)]
pub struct Decapsulated<'a> {
    /// The packet to deliver, if any.
    pub payload: Payload<'a>,
    /// Its ESP sequence number (64 bits when ESN infers the high half).
    pub seq: u64,
    /// Set when this authenticated packet came from a new (address, port)
    /// and was the newest seen: the NAT mapping moved (RFC 3948 §4.2's
    /// concern, followed only on authenticated traffic). Tell the
    /// [`OutboundSa`] via [`OutboundSa::set_remote_endpoint`].
    pub peer_moved: Option<SocketAddr>,
}

/// The receiving half of an ESP SA.
pub struct InboundSa {
    spi: Spi,
    mode: Mode,
    local: IpAddr,
    remote: IpAddr,
    nat_t: Option<NatT>,
    esn: bool,
    peer: Option<SocketAddr>,
    key: OpenKey,
    layout: Layout,
    replay: ReplayWindow,
    counters: TrafficCounters,
    drops: DropCounters,
}

impl core::fmt::Debug for InboundSa {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("InboundSa")
            .field("spi", &self.spi)
            .field("mode", &self.mode)
            .field("local", &self.local)
            .field("remote", &self.remote)
            .field("peer", &self.peer)
            .field("replay_top", &self.replay.highest())
            .finish_non_exhaustive()
    }
}

impl InboundSa {
    /// Builds the SA.
    pub fn new(params: SaParams) -> Result<Self, Error> {
        params.validate().map_err(LocalError::Config)?;
        let (key, layout) = OpenKey::new(
            params.encryption,
            &params.encryption_key,
            params.integrity.as_ref(),
        )
        .map_err(LocalError::Config)?;
        let replay = ReplayWindow::new(params.replay_window).ok_or(LocalError::Config(
            ConfigError::ReplayWindow(params.replay_window),
        ))?;
        Ok(Self {
            spi: params.spi,
            mode: params.mode,
            local: params.local,
            remote: params.remote,
            nat_t: params.nat_t,
            esn: params.esn,
            peer: params
                .nat_t
                .map(|n| SocketAddr::new(params.remote, n.remote_port)),
            key,
            layout,
            replay,
            counters: TrafficCounters::default(),
            drops: DropCounters::default(),
        })
    }

    /// The SPI this SA receives.
    pub fn spi(&self) -> Spi {
        self.spi
    }

    /// Tunnel or transport.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// The peer's UDP endpoint as last authenticated (NAT-T SAs only).
    pub fn peer(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The anti-replay window.
    pub fn replay_window(&self) -> &ReplayWindow {
        &self.replay
    }

    /// Packets and bytes accepted so far.
    pub fn counters(&self) -> TrafficCounters {
        self.counters
    }

    /// Packets dropped so far, by reason.
    pub fn drops(&self) -> DropCounters {
        self.drops
    }

    /// Smallest ESP packet this SA can accept.
    fn min_len(&self) -> usize {
        let l = self.layout;
        ESP_HEADER_LEN + l.iv_len + l.min_ciphertext() + l.icv_len
    }

    /// Verifies and decrypts one ESP packet (SPI through ICV; the UDP or IP
    /// header already removed) into `dst` (RFC 4303 §3.4). `from` is the
    /// datagram's source for UDP-encapsulated SAs (`None` for raw ESP).
    ///
    /// `dst` needs the ciphertext length, plus 20/40 bytes in transport
    /// mode, where the IP header is rebuilt from the SA's addresses (peer as
    /// source) and, with NAT-T, TCP/UDP checksums are recomputed
    /// (RFC 3948 §3.1.2). Tunnel-mode TFC padding past the inner packet's
    /// IP length is cut off.
    pub fn decapsulate<'a>(
        &mut self,
        from: Option<SocketAddr>,
        packet: &[u8],
        dst: &'a mut [u8],
    ) -> Result<Decapsulated<'a>, Error> {
        let r = self.decapsulate_inner(from, packet, dst);
        if let Err(Error::Drop(reason)) = &r {
            self.drops.record(reason);
        }
        r
    }

    fn decapsulate_inner<'a>(
        &mut self,
        from: Option<SocketAddr>,
        packet: &[u8],
        dst: &'a mut [u8],
    ) -> Result<Decapsulated<'a>, Error> {
        let l = self.layout;
        let min = self.min_len();
        let (spi, seq_low) =
            esp_header(packet)
                .filter(|_| packet.len() >= min)
                .ok_or(DropReason::Truncated {
                    len: packet.len(),
                    min,
                })?;
        if spi != self.spi {
            return Err(DropReason::UnknownSpi(spi).into());
        }
        // INVARIANT: packet.len() >= min, which covers header, IV and ICV.
        let ct_len = packet.len() - ESP_HEADER_LEN - l.iv_len - l.icv_len;
        if ct_len % l.align.max(1) != 0 {
            return Err(DropReason::Misaligned {
                len: ct_len,
                align: l.align,
            }
            .into());
        }
        // With ESN, guess the high half from the window (RFC 4303
        // Appendix A2.2); the ICV then confirms or refutes the guess.
        let seq = if self.esn {
            self.replay.infer_esn(seq_low).ok_or(DropReason::Replay {
                seq: u64::from(seq_low),
                kind: super::ReplayKind::TooOld,
            })?
        } else {
            u64::from(seq_low)
        };
        let seq_hi = self
            .esn
            .then(|| u32::try_from(seq >> 32).unwrap_or(u32::MAX));
        // Phase one of the replay check, before any cryptography.
        self.replay
            .check(seq)
            .map_err(|kind| DropReason::Replay { seq, kind })?;
        let hdr_room = match self.mode {
            Mode::Tunnel => 0,
            Mode::Transport => ip::header_len_for(&self.local),
        };
        let need = hdr_room + ct_len;
        let have = dst.len();
        let out = dst
            .get_mut(..need)
            .ok_or(LocalError::BufferTooSmall { need, have })?;
        let (head, pt) = out
            .split_at_mut_checked(hdr_room)
            .ok_or(LocalError::BufferTooSmall { need, have })?;
        self.key.open(packet, pt, seq_hi, l).map_err(|e| match e {
            OpenError::Icv => DropReason::IcvMismatch(spi),
            OpenError::Layout => DropReason::Truncated {
                len: packet.len(),
                min,
            },
        })?;
        // Phase two: the packet is authentic, so it may move the window.
        let newest = self
            .replay
            .accept(seq)
            .map_err(|kind| DropReason::Replay { seq, kind })?;

        let (pad_len, next_header) = match pt.get(ct_len.saturating_sub(2)..) {
            Some([p, n]) => (*p, *n),
            _ => {
                return Err(DropReason::Truncated {
                    len: packet.len(),
                    min,
                }
                .into())
            }
        };
        let available = ct_len - ESP_TRAILER_LEN;
        let payload_len = available
            .checked_sub(usize::from(pad_len))
            .ok_or(DropReason::BadPadLength { pad_len, available })?;
        // RFC 4303 §2.4: a receiver should check the default padding.
        if let Some(padding) = pt.get(payload_len..available) {
            for (index, (b, expected)) in padding.iter().zip(1u8..).enumerate() {
                if *b != expected {
                    return Err(DropReason::BadPadBytes {
                        index,
                        value: *b,
                        expected,
                    }
                    .into());
                }
            }
        }

        let payload = if next_header == ip::PROTO_NONE {
            Payload::Dummy
        } else {
            match self.mode {
                Mode::Tunnel => {
                    let family_v4 = match next_header {
                        ip::PROTO_IPV4 => true,
                        ip::PROTO_IPV6 => false,
                        _ => {
                            return Err(DropReason::BadNextHeader {
                                next_header,
                                mode: self.mode,
                            }
                            .into())
                        }
                    };
                    let inner = pt.get(..payload_len).ok_or(DropReason::Truncated {
                        len: packet.len(),
                        min,
                    })?;
                    let h = IpHeader::parse(inner).map_err(DropReason::BadInnerPacket)?;
                    if h.src.is_ipv4() != family_v4 {
                        let v = inner.first().map_or(0, |b| b >> 4);
                        return Err(DropReason::BadInnerPacket(super::IpError::Version(v)).into());
                    }
                    // Bytes past the inner IP length are TFC padding
                    // (RFC 4303 §2.4, §2.7): dropped here.
                    let len = h.total_len;
                    let out = dst.get_mut(..len).ok_or(DropReason::Truncated {
                        len: packet.len(),
                        min,
                    })?;
                    if family_v4 {
                        Payload::Ipv4(out)
                    } else {
                        Payload::Ipv6(out)
                    }
                }
                Mode::Transport => {
                    if self.nat_t.is_some() {
                        if let Some(seg) = pt.get_mut(..payload_len) {
                            ip::fix_l4_checksum(seg, self.remote, self.local, next_header);
                        }
                    }
                    if !ip::emit_header(head, self.remote, self.local, next_header, payload_len) {
                        return Err(DropReason::BadInnerPacket(super::IpError::Length {
                            declared: payload_len,
                            present: payload_len,
                        })
                        .into());
                    }
                    let len = hdr_room + payload_len;
                    let out = dst.get_mut(..len).ok_or(DropReason::Truncated {
                        len: packet.len(),
                        min,
                    })?;
                    if self.local.is_ipv4() {
                        Payload::Ipv4(out)
                    } else {
                        Payload::Ipv6(out)
                    }
                }
            }
        };

        let mut peer_moved = None;
        if let (Some(from), Some(_)) = (from, self.nat_t) {
            // Only the newest authenticated packet may move the peer, so a
            // delayed packet from an old mapping cannot pull it back.
            if newest && self.peer != Some(from) {
                self.peer = Some(from);
                peer_moved = Some(from);
            }
        }
        self.counters.add(payload_len);
        Ok(Decapsulated {
            payload,
            seq,
            peer_moved,
        })
    }
}

/// Inbound SAs by SPI (RFC 4303 §3.4.2), with counters for packets that
/// reach no SA.
#[derive(Debug, Default)]
pub struct InboundTable {
    sas: HashMap<Spi, InboundSa>,
    drops: DropCounters,
}

impl InboundTable {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an SA, returning the one it replaces.
    pub fn insert(&mut self, sa: InboundSa) -> Option<InboundSa> {
        self.sas.insert(sa.spi(), sa)
    }

    /// Removes an SA (delete or hard expiry); its keys are zeroized on drop.
    pub fn remove(&mut self, spi: Spi) -> Option<InboundSa> {
        self.sas.remove(&spi)
    }

    /// Looks an SA up.
    pub fn get(&self, spi: Spi) -> Option<&InboundSa> {
        self.sas.get(&spi)
    }

    /// Number of SAs.
    pub fn len(&self) -> usize {
        self.sas.len()
    }

    /// True when empty.
    pub fn is_empty(&self) -> bool {
        self.sas.is_empty()
    }

    /// Drops of packets that matched no SA (too short for an ESP header,
    /// unknown SPI). Per-SA drops are in [`InboundSa::drops`].
    pub fn drops(&self) -> DropCounters {
        self.drops
    }

    /// Routes an ESP packet to its SA by SPI and decapsulates it.
    pub fn decapsulate<'a>(
        &mut self,
        from: Option<SocketAddr>,
        packet: &[u8],
        dst: &'a mut [u8],
    ) -> Result<(Spi, Decapsulated<'a>), Error> {
        let Some((spi, _)) = esp_header(packet) else {
            let r = DropReason::Truncated {
                len: packet.len(),
                min: ESP_HEADER_LEN,
            };
            self.drops.record(&r);
            return Err(r.into());
        };
        let Some(sa) = self.sas.get_mut(&spi) else {
            let r = DropReason::UnknownSpi(spi);
            self.drops.record(&r);
            return Err(r.into());
        };
        sa.decapsulate(from, packet, dst).map(|d| (spi, d))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::{EncryptionAlgorithm, EspKey, LocalError};

    fn params() -> SaParams {
        SaParams {
            spi: Spi(0x1000),
            encryption: EncryptionAlgorithm::AesGcm16_128,
            encryption_key: EspKey::from_slice(&[7; 20]),
            integrity: None,
            mode: Mode::Tunnel,
            local: "192.0.2.1".parse().unwrap(),
            remote: "192.0.2.2".parse().unwrap(),
            nat_t: None,
            replay_window: 64,
            esn: false,
        }
    }

    #[test]
    fn outbound_refuses_to_wrap_the_sequence_number() {
        let mut out = OutboundSa::new(params(), &ring::rand::SystemRandom::new()).unwrap();
        let mut pkt = [0u8; 20];
        assert!(ip::emit_header(
            &mut pkt,
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            ip::PROTO_NONE,
            0
        ));
        out.next_seq = Some(u64::from(u32::MAX));
        let mut buf = [0u8; 128];
        let last = out.encapsulate(&pkt, &mut buf).unwrap();
        assert_eq!(&last[4..8], &[0xff; 4]);
        assert_eq!(
            out.encapsulate(&pkt, &mut buf),
            Err(Error::Local(LocalError::SequenceExhausted))
        );
        assert_eq!(out.counters().packets, 1);
    }

    #[test]
    fn esn_sequence_numbers_run_to_2_pow_64_minus_1() {
        let mut p = params();
        p.esn = true;
        let mut out = OutboundSa::new(p, &ring::rand::SystemRandom::new()).unwrap();
        let mut pkt = [0u8; 20];
        assert!(ip::emit_header(
            &mut pkt,
            "10.0.0.1".parse().unwrap(),
            "10.0.0.2".parse().unwrap(),
            ip::PROTO_NONE,
            0
        ));
        let mut buf = [0u8; 128];
        out.next_seq = Some(u64::from(u32::MAX));
        out.encapsulate(&pkt, &mut buf).unwrap();
        // 2^32 goes out as low half 0.
        let next = out.encapsulate(&pkt, &mut buf).unwrap();
        assert_eq!(&next[4..8], &[0, 0, 0, 0]);
        out.next_seq = Some(u64::MAX);
        out.encapsulate(&pkt, &mut buf).unwrap();
        assert_eq!(out.next_sequence(), None);
        assert_eq!(
            out.encapsulate(&pkt, &mut buf),
            Err(Error::Local(LocalError::SequenceExhausted))
        );
    }

    fn gcm_esn_params(local: &str, remote: &str) -> SaParams {
        let mut keymat: Vec<u8> = (0u8..16).collect();
        keymat.extend_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        SaParams {
            spi: Spi(0x0a0b_0c0d),
            encryption_key: EspKey::from_slice(&keymat),
            local: local.parse().unwrap(),
            remote: remote.parse().unwrap(),
            esn: true,
            ..params()
        }
    }

    /// Built with Python `cryptography` 48 AESGCM: seq 2^32 + 5, IV = the
    /// 64-bit seq, AAD = SPI | seq high | seq low (RFC 4106 §5), same inner
    /// packet and keys as tests/esp_roundtrip.rs's GCM-128 vector.
    const GCM128_ESN_ESP: &str = "0a0b0c0d000000050000000100000005779467c87887bd225b36648c85d12ea46d9b5aed6d032ab448e98ed0b80dbc406e7d4a2d78abdc24d9203b80a3118baca72d30cb506de91d768634906f882f1a";
    const INNER: &str =
        "4500002c12344000401114860a0100020a02000304d2162e00186be3696b6567772065737020766563746f72";

    #[test]
    fn esn_gcm_packet_matches_an_independent_implementation() {
        let rng = ring::rand::SystemRandom::new();
        let mut out = OutboundSa::new(gcm_esn_params("192.0.2.1", "198.51.100.2"), &rng).unwrap();
        out.next_seq = Some((1 << 32) + 5);
        let inner = hex::decode(INNER).unwrap();
        let mut buf = [0u8; 256];
        let sealed = out.encapsulate(&inner, &mut buf).unwrap();
        assert_eq!(hex::encode(&*sealed), GCM128_ESN_ESP);

        let mut inb = InboundSa::new(gcm_esn_params("198.51.100.2", "192.0.2.1")).unwrap();
        let golden = hex::decode(GCM128_ESN_ESP).unwrap();
        let mut plain = [0u8; 256];
        // Window still in block 0: low half 5 is read as 5, and the ICV
        // (which covers the high half) refutes that guess.
        assert_eq!(
            inb.decapsulate(None, &golden, &mut plain).unwrap_err(),
            Error::Drop(DropReason::IcvMismatch(Spi(0x0a0b_0c0d)))
        );
        // Once the window is near the end of block 0, 5 means 2^32 + 5.
        inb.replay.accept((1 << 32) - 20).unwrap();
        let d = inb.decapsulate(None, &golden, &mut plain).unwrap();
        assert_eq!(d.seq, (1 << 32) + 5);
        assert!(matches!(d.payload, Payload::Ipv4(p) if p == &inner[..]));
    }

    #[test]
    fn esn_crosses_the_2_pow_32_boundary_for_every_transform() {
        use crate::esp::IntegrityAlgorithm as I;
        let rng = ring::rand::SystemRandom::new();
        let inner = hex::decode(INNER).unwrap();
        for (enc, integ) in [
            (EncryptionAlgorithm::AesGcm16_256, None),
            (EncryptionAlgorithm::AesCbc128, Some(I::HmacSha1_96)),
            (EncryptionAlgorithm::AesCbc256, Some(I::HmacSha512_256)),
        ] {
            let mk = |l: &str, r: &str| SaParams {
                encryption: enc,
                encryption_key: EspKey::from_slice(&vec![9; enc.key_len()]),
                integrity: integ.map(|i| (i, EspKey::from_slice(&vec![3; i.key_len()]))),
                local: l.parse().unwrap(),
                remote: r.parse().unwrap(),
                esn: true,
                ..params()
            };
            let mut out = OutboundSa::new(mk("192.0.2.1", "192.0.2.2"), &rng).unwrap();
            let mut inb = InboundSa::new(mk("192.0.2.2", "192.0.2.1")).unwrap();
            let start = (1u64 << 32) - 3;
            out.next_seq = Some(start);
            inb.replay.accept(start - 10).unwrap();
            let mut sealed = Vec::new();
            for _ in 0..6 {
                let mut buf = [0u8; 256];
                sealed.push(out.encapsulate(&inner, &mut buf).unwrap().to_vec());
            }
            // Deliver out of order across the boundary.
            for i in [1usize, 0, 4, 2, 5, 3] {
                let mut plain = [0u8; 256];
                let d = inb.decapsulate(None, &sealed[i], &mut plain).unwrap();
                assert_eq!(d.seq, start + i as u64, "{enc:?}");
            }
            assert_eq!(inb.replay.highest(), start + 5);
            let mut plain = [0u8; 256];
            assert!(matches!(
                inb.decapsulate(None, &sealed[2], &mut plain),
                Err(Error::Drop(DropReason::Replay { .. }))
            ));
            if let Some(i) = integ {
                // The ICV covers SPI | low | IV | ciphertext | high.
                let p = &sealed[4];
                let (authed, icv) = p.split_at(p.len() - i.icv_len());
                let alg = match i {
                    I::HmacSha1_96 => ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
                    _ => ring::hmac::HMAC_SHA512,
                };
                let k = ring::hmac::Key::new(alg, &vec![3; i.key_len()]);
                let mut ctx = ring::hmac::Context::with_key(&k);
                ctx.update(authed);
                ctx.update(&1u32.to_be_bytes());
                assert_eq!(&ctx.sign().as_ref()[..i.icv_len()], icv);
            }
        }
    }

    #[test]
    fn debug_output_shows_no_key_material() {
        let out = OutboundSa::new(params(), &ring::rand::SystemRandom::new()).unwrap();
        let s = format!("{out:?} {:?}", InboundSa::new(params()).unwrap());
        assert!(s.contains("spi"));
        assert!(!s.contains("7, 7"));
        assert!(format!("{:?}", params()).contains("<secret len=20>"));
    }
}
