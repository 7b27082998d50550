//! ESP seal → open for every transform, both modes, IPv4 and IPv6 inner and
//! outer; byte-exact AES-GCM packets against an independent implementation;
//! AES-CBC packets checked with the primitives directly.
// Helpers outside #[test] fns build fixtures; panicking there is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::panic
)]

mod esp_common;

use std::net::{IpAddr, SocketAddr};

use esp_common::{udp_checksum_ok, udp_packet, Setup, ALL_TRANSFORMS, SPI};
use pfkey::esp::{
    EncryptionAlgorithm, EspKey, InboundSa, IntegrityAlgorithm, Mode, NatT, OutboundSa, Payload,
    SaParams, Spi,
};

fn inner_addrs(v6: bool) -> (IpAddr, IpAddr) {
    if v6 {
        ("fd00:1::2".parse().unwrap(), "fd00:2::3".parse().unwrap())
    } else {
        ("10.1.0.2".parse().unwrap(), "10.2.0.3".parse().unwrap())
    }
}

fn delivered<'a>(p: &'a Payload<'_>) -> &'a [u8] {
    match p {
        Payload::Ipv4(b) | Payload::Ipv6(b) => b,
        Payload::Dummy => panic!("dummy"),
    }
}

#[test]
fn tunnel_mode_round_trips_every_transform_and_family() {
    let mut cases = 0;
    for (enc, integ) in ALL_TRANSFORMS {
        for outer_v6 in [false, true] {
            for inner_v6 in [false, true] {
                let mut s = Setup::new(enc, integ);
                if outer_v6 {
                    s = s.v6();
                }
                let (mut out, mut inb) = s.pair();
                let (src, dst) = inner_addrs(inner_v6);
                // Every payload length mod 16, so every pad length occurs.
                for n in 0..40usize {
                    let pkt = udp_packet(src, dst, &vec![0xab; n]);
                    let mut esp = [0u8; 2048];
                    let sealed = out.encapsulate(&pkt, &mut esp).unwrap().to_vec();
                    assert_eq!(sealed.len(), out.encapsulated_len(&pkt).unwrap());
                    assert_eq!(&sealed[..4], &SPI.0.to_be_bytes());
                    assert_eq!(&sealed[4..8], &u32::try_from(n + 1).unwrap().to_be_bytes());
                    let mut plain = [0u8; 2048];
                    let d = inb.decapsulate(None, &sealed, &mut plain).unwrap();
                    assert_eq!(d.seq, u64::try_from(n + 1).unwrap());
                    match (&d.payload, inner_v6) {
                        (Payload::Ipv4(_), false) | (Payload::Ipv6(_), true) => {}
                        other => panic!("wrong family {other:?}"),
                    }
                    assert_eq!(delivered(&d.payload), &pkt[..], "{enc:?} {integ:?} n={n}");
                    cases += 1;
                }
                assert_eq!(out.counters().packets, 40);
                assert_eq!(inb.counters(), out.counters());
                assert_eq!(inb.drops().total(), 0);
            }
        }
    }
    assert_eq!(cases, 10 * 4 * 40);
}

#[test]
fn transport_mode_round_trips_every_transform_and_family() {
    for (enc, integ) in ALL_TRANSFORMS {
        for v6 in [false, true] {
            let mut s = Setup::new(enc, integ);
            s.mode = Mode::Transport;
            if v6 {
                s = s.v6();
            }
            let (mut out, mut inb) = s.pair();
            for n in [0usize, 1, 13, 100, 1000] {
                let pkt = udp_packet(s.a, s.b, &vec![0x5a; n]);
                let hl = if v6 { 40 } else { 20 };
                let mut esp = [0u8; 2048];
                let sealed = out.encapsulate(&pkt, &mut esp).unwrap().to_vec();
                let mut plain = [0u8; 2048];
                let d = inb.decapsulate(None, &sealed, &mut plain).unwrap();
                let got = delivered(&d.payload);
                // The payload is carried; the header is rebuilt from the SA.
                assert_eq!(&got[hl..], &pkt[hl..]);
                assert_eq!(got.len(), pkt.len());
                if v6 {
                    assert_eq!(got[6], 17);
                    assert_eq!(&got[8..40], &pkt[8..40]);
                } else {
                    assert_eq!(got[9], 17);
                    assert_eq!(&got[12..20], &pkt[12..20]);
                    assert_eq!(esp_common::csum(&got[..20], 0), 0, "IPv4 header checksum");
                }
                assert!(udp_checksum_ok(got));
            }
        }
    }
}

#[test]
fn transport_mode_refuses_packets_not_between_the_sa_addresses() {
    let mut s = Setup::new(EncryptionAlgorithm::AesGcm16_128, None);
    s.mode = Mode::Transport;
    let (mut out, _) = s.pair();
    let pkt = udp_packet("192.0.2.9".parse().unwrap(), s.b, b"x");
    let mut buf = [0u8; 256];
    assert_eq!(
        out.encapsulate(&pkt, &mut buf).unwrap_err(),
        pfkey::esp::Error::Local(pfkey::esp::LocalError::AddressMismatch)
    );
    // Fragments are refused too (ESP comes before fragmentation).
    let mut frag = udp_packet(s.a, s.b, b"x");
    frag[6] = 0x20; // MF
    frag[10] = 0;
    frag[11] = 0;
    let c = esp_common::csum(&frag[..20], 0);
    frag[10..12].copy_from_slice(&c.to_be_bytes());
    assert!(matches!(
        out.encapsulate(&frag, &mut buf),
        Err(pfkey::esp::Error::Local(
            pfkey::esp::LocalError::Unsupported(_)
        ))
    ));
    assert_eq!(
        out.next_sequence(),
        Some(1),
        "refused packets burn no sequence number"
    );
}

#[test]
fn transport_mode_with_nat_t_recomputes_the_udp_checksum() {
    // The sender's view of the addresses differs from the receiver's SA
    // (a NAT in between): the receiver rebuilds the header from its SA and
    // must fix the checksum (RFC 3948 §3.1.2).
    let enc = EncryptionAlgorithm::AesGcm16_128;
    let rng = ring::rand::SystemRandom::new();
    let a: IpAddr = "10.0.0.5".parse().unwrap();
    let b: IpAddr = "198.51.100.2".parse().unwrap();
    let a_public: IpAddr = "203.0.113.7".parse().unwrap();
    let params = |local, remote, nat| SaParams {
        spi: SPI,
        encryption: enc,
        encryption_key: EspKey::from_slice(&esp_common::enc_key(enc)),
        integrity: None,
        mode: Mode::Transport,
        local,
        remote,
        nat_t: nat,
        replay_window: 64,
        esn: false,
    };
    let nat = Some(NatT {
        local_port: 4500,
        remote_port: 4500,
    });
    let mut out = OutboundSa::new(params(a, b, nat), &rng).unwrap();
    let mut inb = InboundSa::new(params(b, a_public, nat)).unwrap();
    let pkt = udp_packet(a, b, b"through the NAT");
    let mut esp = [0u8; 512];
    let sealed = out.encapsulate(&pkt, &mut esp).unwrap().to_vec();
    let mut plain = [0u8; 512];
    let d = inb.decapsulate(None, &sealed, &mut plain).unwrap();
    let got = delivered(&d.payload);
    assert_eq!(&got[12..16], &[203, 0, 113, 7]);
    assert!(udp_checksum_ok(got));
    // Without the fix the sender's checksum would not verify here.
    let mut unfixed = pkt.clone();
    unfixed[12..16].copy_from_slice(&[203, 0, 113, 7]);
    assert!(!udp_checksum_ok(&unfixed));
}

/// Independent vectors: built with Python `cryptography` 48 (AESGCM), from
/// RFC 4106: nonce = salt | 8-byte IV (= 64-bit sequence number), AAD =
/// SPI | seq, plaintext = inner | 1..pad | pad length | next header 4.
/// The inner packet is an IPv4/UDP datagram 10.1.0.2:1234 → 10.2.0.3:5678
/// with payload "ikegw esp vector".
const INNER: &str =
    "4500002c12344000401114860a0100020a02000304d2162e00186be3696b6567772065737020766563746f72";
const GCM128_ESP: &str = "0a0b0c0d0000000100000000000000019b1d37717dbc5f09e4c2fe7a211a681319565a6cef1def893ed9effa9d98487bfbf8dce0fd104f1e3ef6a1477a44773b0417697ea3326186413cd0898c5b7306";
const GCM256_ESP: &str = "0a0b0c0d00000001000000000000000108e63ae76f95df07e32088820fdc86430849f020c4b9877d2f436c45ab06da0e7043f1a9aa65b276350f99e6acbf0f6081cdb2ede106fd85d3ecf13864802cf2";

fn gcm_params(enc: EncryptionAlgorithm, keymat: Vec<u8>, local: &str, remote: &str) -> SaParams {
    SaParams {
        spi: Spi(0x0a0b0c0d),
        encryption: enc,
        encryption_key: EspKey::from_slice(&keymat),
        integrity: None,
        mode: Mode::Tunnel,
        local: local.parse().unwrap(),
        remote: remote.parse().unwrap(),
        nat_t: None,
        replay_window: 64,
        esn: false,
    }
}

#[test]
fn aes_gcm_packets_match_an_independent_implementation() {
    let rng = ring::rand::SystemRandom::new();
    let mut k128: Vec<u8> = (0u8..16).collect();
    k128.extend_from_slice(&hex::decode("deadbeef").unwrap());
    let mut k256: Vec<u8> = (32u8..64).collect();
    k256.extend_from_slice(&hex::decode("01020304").unwrap());
    let inner = hex::decode(INNER).unwrap();
    for (enc, keymat, golden) in [
        (EncryptionAlgorithm::AesGcm16_128, k128, GCM128_ESP),
        (EncryptionAlgorithm::AesGcm16_256, k256, GCM256_ESP),
    ] {
        let mut out = OutboundSa::new(
            gcm_params(enc, keymat.clone(), "192.0.2.1", "198.51.100.2"),
            &rng,
        )
        .unwrap();
        let mut buf = [0xa5u8; 256];
        let sealed = out.encapsulate(&inner, &mut buf).unwrap();
        assert_eq!(hex::encode(&*sealed), golden, "{enc:?} seal");
        let mut inb = InboundSa::new(gcm_params(enc, keymat, "198.51.100.2", "192.0.2.1")).unwrap();
        let mut plain = [0x17u8; 256];
        let d = inb
            .decapsulate(None, &hex::decode(golden).unwrap(), &mut plain)
            .unwrap();
        assert_eq!(delivered(&d.payload), &inner[..], "{enc:?} open");
    }
}

/// Checks an AES-CBC + HMAC packet with the primitives directly: the ICV is
/// the truncated HMAC of SPI..ciphertext, and CBC decryption under the
/// carried IV gives inner | 1, 2, … | pad length | 4 (RFC 4303 §2, §3.3).
#[test]
fn aes_cbc_packets_have_the_rfc_layout() {
    use aes::cipher::{block_padding::NoPadding, BlockDecryptMut, KeyIvInit};
    let inner = hex::decode(INNER).unwrap();
    for (integ, algo) in [
        (
            IntegrityAlgorithm::HmacSha1_96,
            ring::hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        ),
        (IntegrityAlgorithm::HmacSha256_128, ring::hmac::HMAC_SHA256),
        (IntegrityAlgorithm::HmacSha384_192, ring::hmac::HMAC_SHA384),
        (IntegrityAlgorithm::HmacSha512_256, ring::hmac::HMAC_SHA512),
    ] {
        let s = Setup::new(EncryptionAlgorithm::AesCbc128, Some(integ));
        let (mut out, _) = s.pair();
        let mut buf = [0u8; 256];
        let first = out.encapsulate(&inner, &mut buf).unwrap().to_vec();
        let pkt = out.encapsulate(&inner, &mut buf).unwrap().to_vec();
        let icv_len = integ.icv_len();
        let (authed, icv) = pkt.split_at(pkt.len() - icv_len);
        let key = ring::hmac::Key::new(algo, &esp_common::integ_key(integ));
        assert_eq!(&ring::hmac::sign(&key, authed).as_ref()[..icv_len], icv);
        let iv = &pkt[8..24];
        assert_ne!(iv, &first[8..24], "a fresh IV per packet");
        let mut ct = pkt[24..pkt.len() - icv_len].to_vec();
        let k = esp_common::enc_key(EncryptionAlgorithm::AesCbc128);
        let pt = cbc::Decryptor::<aes::Aes128>::new_from_slices(&k, iv)
            .unwrap()
            .decrypt_padded_mut::<NoPadding>(&mut ct)
            .unwrap();
        // 44-byte inner + 2 = 46 → 2 bytes of padding to 48.
        assert_eq!(pt.len(), 48);
        assert_eq!(&pt[..44], &inner[..]);
        assert_eq!(&pt[44..], &[1, 2, 2, 4]);
    }
}

#[test]
fn peer_moves_only_on_the_newest_authenticated_packet() {
    let mut s = Setup::new(EncryptionAlgorithm::AesGcm16_256, None);
    s.nat_t = Some(NatT {
        local_port: 4500,
        remote_port: 4500,
    });
    let (mut out, mut inb) = s.pair();
    assert_eq!(inb.peer(), Some(SocketAddr::new(s.a, 4500)));
    let (src, dst) = inner_addrs(false);
    let pkt = udp_packet(src, dst, b"hello");
    let mut b1 = [0u8; 256];
    let p1 = out.encapsulate(&pkt, &mut b1).unwrap().to_vec();
    let p2 = out.encapsulate(&pkt, &mut b1).unwrap().to_vec();
    let p3 = out.encapsulate(&pkt, &mut b1).unwrap().to_vec();
    let moved: SocketAddr = "203.0.113.9:61000".parse().unwrap();
    let mut plain = [0u8; 256];

    // A forged packet from a new port does not move the peer.
    let mut forged = p1.clone();
    let last = forged.len() - 1;
    forged[last] ^= 1;
    assert!(inb.decapsulate(Some(moved), &forged, &mut plain).is_err());
    assert_eq!(inb.peer(), Some(SocketAddr::new(s.a, 4500)));

    let d = inb.decapsulate(Some(moved), &p2, &mut plain).unwrap();
    assert_eq!(d.peer_moved, Some(moved));
    assert_eq!(inb.peer(), Some(moved));
    out.set_remote_endpoint(moved);
    assert_eq!(out.remote_endpoint(), Some(moved));

    // An older packet still in the window, from the old mapping: accepted
    // but it does not pull the peer back.
    let old = SocketAddr::new(s.a, 4500);
    let d = inb.decapsulate(Some(old), &p1, &mut plain).unwrap();
    assert_eq!(d.peer_moved, None);
    assert_eq!(inb.peer(), Some(moved));
    let d = inb.decapsulate(Some(moved), &p3, &mut plain).unwrap();
    assert_eq!(d.peer_moved, None);
}

#[test]
fn overhead_matches_what_encapsulate_adds() {
    for (enc, integ) in ALL_TRANSFORMS {
        let s = Setup::new(enc, integ);
        let (mut out, _) = s.pair();
        let (src, dst) = inner_addrs(false);
        for n in 0..64usize {
            let pkt = udp_packet(src, dst, &vec![1; n]);
            let mut buf = [0u8; 512];
            let len = out.encapsulate(&pkt, &mut buf).unwrap().len();
            assert!(len - pkt.len() <= out.max_overhead());
        }
        // A buffer one byte short is refused without burning a sequence.
        let pkt = udp_packet(src, dst, b"abc");
        let need = out.encapsulated_len(&pkt).unwrap();
        let seq = out.next_sequence();
        let mut small = vec![0u8; need - 1];
        assert!(matches!(
            out.encapsulate(&pkt, &mut small),
            Err(pfkey::esp::Error::Local(
                pfkey::esp::LocalError::BufferTooSmall { .. }
            ))
        ));
        assert_eq!(out.next_sequence(), seq);
    }
}

#[test]
fn keys_of_the_wrong_length_are_refused() {
    let rng = ring::rand::SystemRandom::new();
    let mut p = gcm_params(
        EncryptionAlgorithm::AesGcm16_128,
        vec![0; 16],
        "192.0.2.1",
        "192.0.2.2",
    );
    assert!(OutboundSa::new(p, &rng).is_err());
    p = gcm_params(
        EncryptionAlgorithm::AesGcm16_128,
        vec![0; 20],
        "192.0.2.1",
        "192.0.2.2",
    );
    p.integrity = Some((
        IntegrityAlgorithm::HmacSha256_128,
        EspKey::from_slice(&[0; 32]),
    ));
    assert!(InboundSa::new(p).is_err());
    p = gcm_params(
        EncryptionAlgorithm::AesCbc128,
        vec![0; 16],
        "192.0.2.1",
        "192.0.2.2",
    );
    assert!(InboundSa::new(p).is_err(), "CBC without integrity");
    p = gcm_params(
        EncryptionAlgorithm::AesCbc256,
        vec![0; 16],
        "192.0.2.1",
        "192.0.2.2",
    );
    p.integrity = Some((
        IntegrityAlgorithm::HmacSha256_128,
        EspKey::from_slice(&[0; 32]),
    ));
    assert!(InboundSa::new(p).is_err());
    p = gcm_params(
        EncryptionAlgorithm::AesGcm16_128,
        vec![0; 20],
        "192.0.2.1",
        "2001:db8::1",
    );
    assert!(InboundSa::new(p).is_err(), "mixed families");
    p = gcm_params(
        EncryptionAlgorithm::AesGcm16_128,
        vec![0; 20],
        "192.0.2.1",
        "192.0.2.2",
    );
    p.spi = Spi(255);
    assert!(InboundSa::new(p).is_err(), "reserved SPI");
    let k = EspKey::from_slice(&[1, 2, 3]);
    assert_eq!(format!("{k:?}"), "<secret len=3>");
}
