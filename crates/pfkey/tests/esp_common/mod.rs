//! Shared helpers for the `esp_*` integration tests: SA pairs with fixed
//! keys, and independently built IP packets.
// Test scaffolding: panicking on a broken fixture is the point.
#![allow(
    dead_code,
    unreachable_pub,
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::panic
)]

use std::net::IpAddr;

use pfkey::esp::{
    EncryptionAlgorithm, EspKey, InboundSa, IntegrityAlgorithm, Mode, NatT, OutboundSa, SaParams,
    Spi,
};

pub const SPI: Spi = Spi(0x0a0b_0c0d);

pub const ALL_TRANSFORMS: [(EncryptionAlgorithm, Option<IntegrityAlgorithm>); 10] = [
    (EncryptionAlgorithm::AesGcm16_128, None),
    (EncryptionAlgorithm::AesGcm16_256, None),
    (
        EncryptionAlgorithm::AesCbc128,
        Some(IntegrityAlgorithm::HmacSha1_96),
    ),
    (
        EncryptionAlgorithm::AesCbc128,
        Some(IntegrityAlgorithm::HmacSha256_128),
    ),
    (
        EncryptionAlgorithm::AesCbc128,
        Some(IntegrityAlgorithm::HmacSha384_192),
    ),
    (
        EncryptionAlgorithm::AesCbc128,
        Some(IntegrityAlgorithm::HmacSha512_256),
    ),
    (
        EncryptionAlgorithm::AesCbc256,
        Some(IntegrityAlgorithm::HmacSha1_96),
    ),
    (
        EncryptionAlgorithm::AesCbc256,
        Some(IntegrityAlgorithm::HmacSha256_128),
    ),
    (
        EncryptionAlgorithm::AesCbc256,
        Some(IntegrityAlgorithm::HmacSha384_192),
    ),
    (
        EncryptionAlgorithm::AesCbc256,
        Some(IntegrityAlgorithm::HmacSha512_256),
    ),
];

pub fn enc_key(alg: EncryptionAlgorithm) -> Vec<u8> {
    (0..alg.key_len())
        .map(|i| u8::try_from(i).unwrap().wrapping_mul(7).wrapping_add(3))
        .collect()
}

pub fn integ_key(alg: IntegrityAlgorithm) -> Vec<u8> {
    (0..alg.key_len())
        .map(|i| u8::try_from(i).unwrap() ^ 0x5c)
        .collect()
}

pub struct Setup {
    pub enc: EncryptionAlgorithm,
    pub integ: Option<IntegrityAlgorithm>,
    pub mode: Mode,
    pub a: IpAddr,
    pub b: IpAddr,
    pub nat_t: Option<NatT>,
    pub window: u32,
    pub esn: bool,
}

impl Setup {
    pub fn new(enc: EncryptionAlgorithm, integ: Option<IntegrityAlgorithm>) -> Self {
        Self {
            enc,
            integ,
            mode: Mode::Tunnel,
            a: "192.0.2.1".parse().unwrap(),
            b: "198.51.100.2".parse().unwrap(),
            nat_t: None,
            window: 64,
            esn: false,
        }
    }

    pub fn v6(mut self) -> Self {
        self.a = "2001:db8::1".parse().unwrap();
        self.b = "2001:db8::2".parse().unwrap();
        self
    }

    fn params(&self, local: IpAddr, remote: IpAddr) -> SaParams {
        SaParams {
            spi: SPI,
            encryption: self.enc,
            encryption_key: EspKey::from_slice(&enc_key(self.enc)),
            integrity: self.integ.map(|i| (i, EspKey::from_slice(&integ_key(i)))),
            mode: self.mode,
            local,
            remote,
            nat_t: self.nat_t,
            replay_window: self.window,
            esn: self.esn,
        }
    }

    /// Outbound SA on host `a` and the matching inbound SA on host `b`.
    pub fn pair(&self) -> (OutboundSa, InboundSa) {
        let rng = ring::rand::SystemRandom::new();
        let out = OutboundSa::new(self.params(self.a, self.b), &rng).unwrap();
        let nat = self.nat_t.map(|n| NatT {
            local_port: n.remote_port,
            remote_port: n.local_port,
        });
        let mut p = self.params(self.b, self.a);
        p.nat_t = nat;
        let inb = InboundSa::new(p).unwrap();
        (out, inb)
    }
}

pub fn csum(data: &[u8], mut acc: u64) -> u16 {
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from(c[0]) << 8
        };
        acc += u64::from(w);
    }
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    !(acc as u16)
}

fn addr_bytes(a: IpAddr) -> Vec<u8> {
    match a {
        IpAddr::V4(v) => v.octets().to_vec(),
        IpAddr::V6(v) => v.octets().to_vec(),
    }
}

/// A UDP datagram in IPv4 or IPv6 with a correct UDP checksum; DF set on
/// IPv4.
pub fn udp_packet(src: IpAddr, dst: IpAddr, payload: &[u8]) -> Vec<u8> {
    udp_packet_ports(src, 1234, dst, 5678, payload)
}

/// [`udp_packet`] with chosen ports.
pub fn udp_packet_ports(
    src: IpAddr,
    sport: u16,
    dst: IpAddr,
    dport: u16,
    payload: &[u8],
) -> Vec<u8> {
    let ulen = 8 + payload.len();
    let mut udp = Vec::new();
    udp.extend_from_slice(&sport.to_be_bytes());
    udp.extend_from_slice(&dport.to_be_bytes());
    udp.extend_from_slice(&(ulen as u16).to_be_bytes());
    udp.extend_from_slice(&[0, 0]);
    udp.extend_from_slice(payload);
    let mut ph = addr_bytes(src);
    ph.extend(addr_bytes(dst));
    let mut acc = 0u64;
    for c in ph.chunks(2) {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    acc += 17 + ulen as u64;
    let mut c = csum(&udp, acc);
    if c == 0 {
        c = 0xffff;
    }
    udp[6..8].copy_from_slice(&c.to_be_bytes());
    let mut p = Vec::new();
    match (src, dst) {
        (IpAddr::V4(s), IpAddr::V4(d)) => {
            p.extend_from_slice(&[0x45, 0]);
            p.extend_from_slice(&((20 + ulen) as u16).to_be_bytes());
            p.extend_from_slice(&[0x12, 0x34, 0x40, 0, 64, 17, 0, 0]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
            let c = csum(&p, 0);
            p[10..12].copy_from_slice(&c.to_be_bytes());
        }
        (IpAddr::V6(s), IpAddr::V6(d)) => {
            p.extend_from_slice(&[0x60, 0, 0, 0]);
            p.extend_from_slice(&(ulen as u16).to_be_bytes());
            p.extend_from_slice(&[17, 64]);
            p.extend_from_slice(&s.octets());
            p.extend_from_slice(&d.octets());
        }
        _ => panic!("mixed families"),
    }
    p.extend_from_slice(&udp);
    p
}

/// Verifies the UDP checksum of an IP packet built by [`udp_packet`].
pub fn udp_checksum_ok(packet: &[u8]) -> bool {
    let (src, dst, off): (Vec<u8>, Vec<u8>, usize) = if packet[0] >> 4 == 4 {
        (packet[12..16].to_vec(), packet[16..20].to_vec(), 20)
    } else {
        (packet[8..24].to_vec(), packet[24..40].to_vec(), 40)
    };
    let udp = &packet[off..];
    let mut acc = 0u64;
    for c in src.chunks(2).chain(dst.chunks(2)) {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    acc += 17 + udp.len() as u64;
    csum(udp, acc) == 0
}
