//! Malformed, forged and replayed ESP packets: each is dropped with a typed
//! reason and counted on the SA (or on the table for unknown SPIs).
//! Authenticated-but-malformed packets are built with ring's AES-GCM
//! directly, so their trailers can be anything.
// Helpers outside #[test] fns build fixtures; panicking there is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::panic
)]

mod esp_common;

use std::net::IpAddr;

use esp_common::{udp_packet, Setup, SPI};
use pfkey::esp::{
    encap, DropReason, EncryptionAlgorithm, Error, InboundTable, IntegrityAlgorithm, IpError, Mode,
    Payload, ReplayKind, Spi,
};
use ring::aead;

const ENC: EncryptionAlgorithm = EncryptionAlgorithm::AesGcm16_128;

/// ESP packet sealed with the test key for [`ENC`], arbitrary plaintext.
fn seal_raw(spi: Spi, seq: u32, plaintext: &[u8]) -> Vec<u8> {
    let km = esp_common::enc_key(ENC);
    let key = aead::LessSafeKey::new(aead::UnboundKey::new(&aead::AES_128_GCM, &km[..16]).unwrap());
    let iv = u64::from(seq).to_be_bytes();
    let mut nonce = [0u8; 12];
    nonce[..4].copy_from_slice(&km[16..20]);
    nonce[4..].copy_from_slice(&iv);
    let mut aad = [0u8; 8];
    aad[..4].copy_from_slice(&spi.0.to_be_bytes());
    aad[4..].copy_from_slice(&seq.to_be_bytes());
    let mut body = plaintext.to_vec();
    let tag = key
        .seal_in_place_separate_tag(
            aead::Nonce::assume_unique_for_key(nonce),
            aead::Aad::from(aad),
            &mut body,
        )
        .unwrap();
    let mut pkt = aad.to_vec();
    pkt.extend_from_slice(&iv);
    pkt.extend_from_slice(&body);
    pkt.extend_from_slice(tag.as_ref());
    pkt
}

fn inner() -> Vec<u8> {
    udp_packet(
        "10.1.0.2".parse().unwrap(),
        "10.2.0.3".parse().unwrap(),
        b"payload!",
    )
}

/// inner | pad 1..n | n | nh, with `n` chosen for 4-byte alignment.
fn trailer(mut body: Vec<u8>, nh: u8) -> Vec<u8> {
    let pad = (4 - (body.len() + 2) % 4) % 4;
    body.extend((1..=pad).map(|i| i as u8));
    body.push(pad as u8);
    body.push(nh);
    body
}

fn drop_reason(e: Error) -> DropReason {
    match e {
        Error::Drop(r) => r,
        other => panic!("expected a drop, got {other:?}"),
    }
}

#[test]
fn independent_seal_is_accepted() {
    let (_, mut inb) = Setup::new(ENC, None).pair();
    let mut out = [0u8; 512];
    let d = inb
        .decapsulate(None, &seal_raw(SPI, 1, &trailer(inner(), 4)), &mut out)
        .unwrap();
    assert!(matches!(d.payload, Payload::Ipv4(p) if p == &inner()[..]));
}

#[test]
fn short_packets_are_dropped_as_truncated() {
    let (_, mut inb) = Setup::new(ENC, None).pair();
    let good = seal_raw(SPI, 1, &trailer(inner(), 4));
    let mut out = [0u8; 512];
    // Header 8 + IV 8 + minimal ciphertext 4 + ICV 16 = 36.
    for len in [0, 4, 8, 16, 35] {
        let r = drop_reason(inb.decapsulate(None, &good[..len], &mut out).unwrap_err());
        assert_eq!(r, DropReason::Truncated { len, min: 36 });
    }
    assert_eq!(inb.drops().truncated, 5);
    // Nothing moved: the good packet still goes through.
    inb.decapsulate(None, &good, &mut out).unwrap();
}

#[test]
fn bad_icv_is_dropped_and_does_not_move_the_window() {
    for (enc, integ) in [
        (ENC, None),
        (
            EncryptionAlgorithm::AesCbc256,
            Some(IntegrityAlgorithm::HmacSha256_128),
        ),
    ] {
        let (mut o, mut inb) = Setup::new(enc, integ).pair();
        let mut buf = [0u8; 512];
        let good = o.encapsulate(&inner(), &mut buf).unwrap().to_vec();
        let mut out = [0u8; 512];
        for flip in [9usize, 20, good.len() - 1] {
            // (Flipping SPI bytes makes an unknown SPI, tested below.)
            let mut bad = good.clone();
            bad[flip] ^= 0x80;
            let r = drop_reason(inb.decapsulate(None, &bad, &mut out).unwrap_err());
            assert_eq!(r, DropReason::IcvMismatch(SPI), "{enc:?} byte {flip}");
        }
        assert_eq!(inb.drops().icv_failed, 3);
        assert_eq!(inb.replay_window().highest(), 0);
        inb.decapsulate(None, &good, &mut out).unwrap();
    }
}

#[test]
fn truncated_icv_is_dropped() {
    let (mut o, mut inb) = Setup::new(
        EncryptionAlgorithm::AesCbc128,
        Some(IntegrityAlgorithm::HmacSha1_96),
    )
    .pair();
    let mut buf = [0u8; 512];
    let good = o.encapsulate(&inner(), &mut buf).unwrap().to_vec();
    let mut out = [0u8; 512];
    // Dropping 4 of the 12 ICV bytes shifts the ciphertext off the block
    // boundary; dropping all 12 leaves ciphertext where the ICV should be.
    let r = drop_reason(
        inb.decapsulate(None, &good[..good.len() - 4], &mut out)
            .unwrap_err(),
    );
    assert!(
        matches!(r, DropReason::Misaligned { align: 16, .. }),
        "{r:?}"
    );
    let r = drop_reason(
        inb.decapsulate(None, &good[..good.len() - 12], &mut out)
            .unwrap_err(),
    );
    assert!(
        matches!(
            r,
            DropReason::Misaligned { .. } | DropReason::IcvMismatch(_)
        ),
        "{r:?}"
    );
    let (_, mut g) = Setup::new(ENC, None).pair();
    let p = seal_raw(SPI, 1, &trailer(inner(), 4));
    let r = drop_reason(
        g.decapsulate(None, &p[..p.len() - 4], &mut out)
            .unwrap_err(),
    );
    assert_eq!(r, DropReason::IcvMismatch(SPI));
    assert_eq!(g.drops().icv_failed, 1);
    assert!(inb.drops().total() >= 2);
}

#[test]
fn unknown_spi_is_counted_on_the_table() {
    let (mut o, inb) = Setup::new(ENC, None).pair();
    let mut table = InboundTable::new();
    table.insert(inb);
    let mut buf = [0u8; 512];
    let good = o.encapsulate(&inner(), &mut buf).unwrap().to_vec();
    let mut other = good.clone();
    other[..4].copy_from_slice(&0x1111_2222u32.to_be_bytes());
    let mut out = [0u8; 512];
    let r = drop_reason(table.decapsulate(None, &other, &mut out).unwrap_err());
    assert_eq!(r, DropReason::UnknownSpi(Spi(0x1111_2222)));
    let r = drop_reason(table.decapsulate(None, &good[..5], &mut out).unwrap_err());
    assert!(matches!(r, DropReason::Truncated { len: 5, .. }));
    assert_eq!(table.drops().unknown_spi, 1);
    assert_eq!(table.drops().truncated, 1);
    let (spi, _) = table.decapsulate(None, &good, &mut out).unwrap();
    assert_eq!(spi, SPI);
    // The same classifier path a UDP/4500 socket uses.
    assert!(matches!(
        encap::classify(&good),
        Ok(encap::Datagram::Esp { spi: SPI, .. })
    ));
}

#[test]
fn bad_padding_is_dropped_after_authentication() {
    let (_, mut inb) = Setup::new(ENC, None).pair();
    let mut out = [0u8; 512];
    let body = inner(); // 36 bytes: 36 + 2 → pad 2.
    assert_eq!(body.len() % 4, 0);

    // Pad length larger than the plaintext in front of it.
    let mut p = body.clone();
    p.extend_from_slice(&[1, 2, 200, 4]);
    let r = drop_reason(
        inb.decapsulate(None, &seal_raw(SPI, 1, &p), &mut out)
            .unwrap_err(),
    );
    assert_eq!(
        r,
        DropReason::BadPadLength {
            pad_len: 200,
            available: body.len() + 2
        }
    );

    // Non-monotonic pad bytes.
    let mut p = body;
    p.extend_from_slice(&[1, 3, 2, 4]);
    let r = drop_reason(
        inb.decapsulate(None, &seal_raw(SPI, 2, &p), &mut out)
            .unwrap_err(),
    );
    assert_eq!(
        r,
        DropReason::BadPadBytes {
            index: 1,
            value: 3,
            expected: 2
        }
    );
    assert_eq!(inb.drops().bad_padding, 2);
    // Both were authentic, so the window moved past them.
    assert_eq!(inb.replay_window().highest(), 2);
}

#[test]
fn misaligned_ciphertext_is_dropped() {
    let (_, mut inb) = Setup::new(ENC, None).pair();
    let mut p = inner();
    p.extend_from_slice(&[0, 4, 9]); // 36 + 3 = 39, not a multiple of 4
    let mut out = [0u8; 512];
    let r = drop_reason(
        inb.decapsulate(None, &seal_raw(SPI, 1, &p), &mut out)
            .unwrap_err(),
    );
    assert_eq!(r, DropReason::Misaligned { len: 39, align: 4 });
    assert_eq!(inb.drops().misaligned, 1);
}

#[test]
fn next_header_must_fit_the_mode() {
    let (_, mut inb) = Setup::new(ENC, None).pair();
    let mut out = [0u8; 512];
    let r = drop_reason(
        inb.decapsulate(None, &seal_raw(SPI, 1, &trailer(inner(), 6)), &mut out)
            .unwrap_err(),
    );
    assert_eq!(
        r,
        DropReason::BadNextHeader {
            next_header: 6,
            mode: Mode::Tunnel
        }
    );
    // IPv4 bytes announced as IPv6.
    let r = drop_reason(
        inb.decapsulate(None, &seal_raw(SPI, 2, &trailer(inner(), 41)), &mut out)
            .unwrap_err(),
    );
    assert!(matches!(r, DropReason::BadInnerPacket(_)), "{r:?}");
    // Garbage inside a valid tunnel packet.
    let r = drop_reason(
        inb.decapsulate(
            None,
            &seal_raw(SPI, 3, &trailer(vec![0x45, 0, 0], 4)),
            &mut out,
        )
        .unwrap_err(),
    );
    assert_eq!(r, DropReason::BadInnerPacket(IpError::Truncated { len: 3 }));
    assert_eq!(inb.drops().bad_next_header, 1);
    assert_eq!(inb.drops().bad_inner_packet, 2);
}

#[test]
fn tfc_dummy_packets_and_trailing_padding_are_ignored() {
    let (_, mut inb) = Setup::new(ENC, None).pair();
    let mut out = [0u8; 512];
    // Next header 59: a dummy packet (RFC 4303 §2.6), with random-ish body.
    let d = inb
        .decapsulate(
            None,
            &seal_raw(SPI, 1, &trailer(vec![0x77; 30], 59)),
            &mut out,
        )
        .unwrap();
    assert!(matches!(d.payload, Payload::Dummy));
    // TFC padding after the inner packet, before the ESP padding.
    let mut body = inner();
    body.extend_from_slice(&[0xee; 100]);
    let d = inb
        .decapsulate(None, &seal_raw(SPI, 2, &trailer(body, 4)), &mut out)
        .unwrap();
    assert!(matches!(d.payload, Payload::Ipv4(p) if p == &inner()[..]));
    assert_eq!(inb.drops().total(), 0);
    assert_eq!(inb.counters().packets, 2);
}

#[test]
fn replays_are_dropped_before_decryption() {
    let (mut o, mut inb) = Setup::new(ENC, None).pair();
    let mut buf = [0u8; 512];
    let mut out = [0u8; 512];
    let first = o.encapsulate(&inner(), &mut buf).unwrap().to_vec();
    inb.decapsulate(None, &first, &mut out).unwrap();
    let r = drop_reason(inb.decapsulate(None, &first, &mut out).unwrap_err());
    assert_eq!(
        r,
        DropReason::Replay {
            seq: 1,
            kind: ReplayKind::Duplicate
        }
    );
    // A replayed sequence number with a garbage body is still a replay:
    // the window is consulted before the ICV.
    let mut junk = first.clone();
    let n = junk.len();
    junk[n - 1] ^= 1;
    let r = drop_reason(inb.decapsulate(None, &junk, &mut out).unwrap_err());
    assert!(matches!(r, DropReason::Replay { .. }));
    for _ in 0..100 {
        let p = o.encapsulate(&inner(), &mut buf).unwrap().to_vec();
        inb.decapsulate(None, &p, &mut out).unwrap();
    }
    let _ = o.encapsulate(&inner(), &mut buf).unwrap();
    let r = drop_reason(
        inb.decapsulate(None, &seal_raw(SPI, 2, &trailer(inner(), 4)), &mut out)
            .unwrap_err(),
    );
    assert_eq!(
        r,
        DropReason::Replay {
            seq: 2,
            kind: ReplayKind::TooOld
        }
    );
    let r = drop_reason(
        inb.decapsulate(None, &seal_raw(SPI, 0, &trailer(inner(), 4)), &mut out)
            .unwrap_err(),
    );
    assert!(matches!(
        r,
        DropReason::Replay {
            kind: ReplayKind::Zero,
            ..
        }
    ));
    assert_eq!(inb.drops().replayed, 4);
    assert_eq!(inb.drops().icv_failed, 0);
}

#[test]
fn transport_mode_rebuilds_ipv6_headers_and_delivers_dummies() {
    let mut s = Setup::new(ENC, None).v6();
    s.mode = Mode::Transport;
    let (_, mut inb) = s.pair();
    let mut out = [0u8; 512];
    let d = inb
        .decapsulate(None, &seal_raw(SPI, 1, &trailer(vec![0; 8], 59)), &mut out)
        .unwrap();
    assert!(matches!(d.payload, Payload::Dummy));
    let d = inb
        .decapsulate(None, &seal_raw(SPI, 2, &trailer(vec![9; 7], 253)), &mut out)
        .unwrap();
    let Payload::Ipv6(p) = d.payload else {
        panic!("v6 expected")
    };
    assert_eq!(p.len(), 47);
    assert_eq!(p[6], 253);
    let src: IpAddr = "2001:db8::1".parse().unwrap();
    if let IpAddr::V6(v6) = src {
        assert_eq!(&p[8..24], &v6.octets());
    }
}

#[test]
fn arbitrary_bytes_never_panic() {
    use proptest::prelude::*;
    let mut runner = proptest::test_runner::TestRunner::new(proptest::test_runner::Config {
        cases: 2000,
        ..Default::default()
    });
    runner
        .run(&proptest::collection::vec(any::<u8>(), 0..200), |bytes| {
            for (enc, integ) in [
                (ENC, None),
                (
                    EncryptionAlgorithm::AesCbc128,
                    Some(IntegrityAlgorithm::HmacSha1_96),
                ),
            ] {
                let (_, inb) = Setup::new(enc, integ).pair();
                let mut table = InboundTable::new();
                table.insert(inb);
                let mut b = bytes.clone();
                if b.len() >= 4 {
                    b[..4].copy_from_slice(&SPI.0.to_be_bytes());
                }
                let mut out = [0u8; 256];
                prop_assert!(table.decapsulate(None, &b, &mut out).is_err());
                let _ = encap::classify(&bytes);
            }
            Ok(())
        })
        .unwrap();
}
