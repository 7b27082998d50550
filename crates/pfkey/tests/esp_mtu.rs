//! Inner MTU arithmetic against real encapsulation, and ICMP "fragmentation
//! needed" / ICMPv6 Packet Too Big replies (RFC 1191 §4, RFC 4443 §3.2).
// Helpers outside #[test] fns build fixtures; panicking there is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::panic
)]

mod esp_common;

use std::net::IpAddr;

use esp_common::{csum, udp_packet, Setup, ALL_TRANSFORMS};
use pfkey::esp::mtu::{self, Verdict};
use pfkey::esp::{Mode, NatT};

#[test]
fn inner_mtu_is_the_exact_largest_packet_that_fits() {
    for (enc, integ) in ALL_TRANSFORMS {
        for v6 in [false, true] {
            for mode in [Mode::Tunnel, Mode::Transport] {
                for nat in [false, true] {
                    let mut s = Setup::new(enc, integ);
                    if v6 {
                        s = s.v6();
                    }
                    s.mode = mode;
                    if nat {
                        s.nat_t = Some(NatT {
                            local_port: 4500,
                            remote_port: 4500,
                        });
                    }
                    let (mut out, _) = s.pair();
                    let outer_ip = if v6 { 40 } else { 20 };
                    let udp = if nat { 8 } else { 0 };
                    let hdr = if v6 { 48 } else { 28 }; // IP + UDP of the test packet
                    for pmtu in [1280u16, 1400, 1497, 1500, 1501, 9000] {
                        let m = usize::from(mtu::inner_mtu(&out, pmtu));
                        // Transport mode needs the SA's addresses; tunnel mode takes any.
                        let (src, dst) = (s.a, s.b);
                        let fits = udp_packet(src, dst, &vec![0; m - hdr]);
                        let too_big = udp_packet(src, dst, &vec![0; m + 1 - hdr]);
                        let mut buf = vec![0u8; 10000];
                        let esp = out.encapsulate(&fits, &mut buf).unwrap().len();
                        let wire = esp + udp + outer_ip;
                        assert!(
                            wire <= usize::from(pmtu),
                            "{enc:?} {mode:?} v6={v6} nat={nat} pmtu={pmtu}"
                        );
                        let esp = out.encapsulate(&too_big, &mut buf).unwrap().len();
                        let wire = esp + udp + outer_ip;
                        assert!(
                            wire > usize::from(pmtu),
                            "{enc:?} {mode:?} v6={v6} nat={nat} pmtu={pmtu}"
                        );
                        assert_eq!(mtu::check(&fits, m as u16), Ok(Verdict::Fits));
                        assert_eq!(
                            mtu::check(&too_big, m as u16),
                            Ok(Verdict::TooBig { mtu: m as u16 })
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn ipv4_without_df_may_be_fragmented() {
    let mut p = udp_packet(
        "10.0.0.1".parse().unwrap(),
        "10.0.0.2".parse().unwrap(),
        &[0; 1400],
    );
    p[6] = 0;
    p[10] = 0;
    p[11] = 0;
    let c = csum(&p[..20], 0);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    assert_eq!(mtu::check(&p, 1400), Ok(Verdict::Fragment));
}

#[test]
fn ipv4_frag_needed_reply_is_well_formed() {
    let gw: IpAddr = "10.0.0.1".parse().unwrap();
    let host: IpAddr = "10.9.0.5".parse().unwrap();
    let p = udp_packet(host, "10.2.0.3".parse().unwrap(), &[0x42; 1472]);
    let mut out = [0u8; 2000];
    let r = mtu::packet_too_big(&p, 1418, gw, &mut out)
        .unwrap()
        .unwrap();
    assert_eq!(r.len(), 576, "RFC 1812 §4.3.2.3 size cap");
    assert_eq!(r[0], 0x45);
    assert_eq!(u16::from_be_bytes([r[2], r[3]]), 576);
    assert_eq!(r[9], 1);
    assert_eq!(csum(&r[..20], 0), 0);
    assert_eq!(&r[12..16], &[10, 0, 0, 1]);
    assert_eq!(&r[16..20], &[10, 9, 0, 5]);
    let icmp = &r[20..];
    assert_eq!((icmp[0], icmp[1]), (3, 4));
    assert_eq!(u16::from_be_bytes([icmp[6], icmp[7]]), 1418);
    assert_eq!(csum(icmp, 0), 0);
    assert_eq!(&icmp[8..], &p[..548]);

    // No ICMP error about an ICMP error.
    let mut err = p.clone();
    err[9] = 1;
    err[20] = 3;
    assert!(mtu::packet_too_big(&err, 1400, gw, &mut out)
        .unwrap()
        .is_none());
    // Nor about a non-first fragment.
    let mut frag = p.clone();
    frag[7] = 10;
    assert!(mtu::packet_too_big(&frag, 1400, gw, &mut out)
        .unwrap()
        .is_none());
    // Family mismatch is a local error.
    assert!(mtu::packet_too_big(&p, 1400, "2001:db8::1".parse().unwrap(), &mut out).is_err());
}

#[test]
fn ipv6_packet_too_big_reply_is_well_formed() {
    let gw: IpAddr = "fd00::1".parse().unwrap();
    let host: IpAddr = "fd00:9::5".parse().unwrap();
    let p = udp_packet(host, "fd00:2::3".parse().unwrap(), &[0x42; 1452]);
    let mut out = [0u8; 2000];
    let r = mtu::packet_too_big(&p, 1398, gw, &mut out)
        .unwrap()
        .unwrap();
    assert_eq!(r.len(), 1280, "RFC 4443 §2.4(c) size cap");
    assert_eq!(r[0] >> 4, 6);
    assert_eq!(r[6], 58);
    assert_eq!(usize::from(u16::from_be_bytes([r[4], r[5]])), 1240);
    let icmp = &r[40..];
    assert_eq!((icmp[0], icmp[1]), (2, 0));
    assert_eq!(
        u32::from_be_bytes([icmp[4], icmp[5], icmp[6], icmp[7]]),
        1398
    );
    let mut acc = 0u64;
    for c in r[8..40].chunks(2) {
        acc += u64::from(u16::from_be_bytes([c[0], c[1]]));
    }
    acc += 58 + icmp.len() as u64;
    assert_eq!(csum(icmp, acc), 0, "ICMPv6 checksum with pseudo-header");
    assert_eq!(&icmp[8..], &p[..1232]);
    // An MTU below the IPv6 minimum is reported as 1280.
    let r = mtu::packet_too_big(&p, 1200, gw, &mut out)
        .unwrap()
        .unwrap();
    assert_eq!(u32::from_be_bytes([r[44], r[45], r[46], r[47]]), 1280);
}
