//! The TUN device for real, each test in a network namespace of its own:
//! the test thread unshares CLONE_NEWNET, so the interface, its addresses
//! and the `ip` commands it runs live and die with that thread, and nothing
//! touches the host's namespace. Skips loudly when not root.
#![cfg(target_os = "linux")]
// unshare(2) is the only unsafe call; the library's own unsafe is in tun.rs.
#![allow(unsafe_code)]
// Helpers outside #[test] fns build fixtures; panicking there is a test failure.
#![allow(
    clippy::unwrap_used,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation,
    clippy::panic,
    clippy::expect_used
)]

mod esp_common;

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::process::Command;
use std::time::{Duration, Instant};

use esp_common::{csum, udp_packet_ports, Setup};
use pfkey::esp::{encap, EncryptionAlgorithm, InboundTable, NatT, Payload};
use pfkey::tun::Tun;

/// Runs `f` on a thread inside a fresh network namespace. Returns false
/// (after saying so on stderr) when namespaces are not available.
fn in_fresh_netns(f: impl FnOnce() + Send + 'static) -> bool {
    std::thread::spawn(move || {
        // SAFETY: unshare takes only flags; CLONE_NEWNET moves just this
        // thread into a new network namespace, which dies with it.
        let rc = unsafe { libc::unshare(libc::CLONE_NEWNET) };
        if rc != 0 {
            eprintln!(
                "SKIPPED: unshare(CLONE_NEWNET) failed ({}); needs root",
                std::io::Error::last_os_error()
            );
            return false;
        }
        f();
        true
    })
    .join()
    .expect("test thread panicked")
}

fn ip(args: &[&str]) {
    let st = Command::new("ip").args(args).status().expect("run ip");
    assert!(st.success(), "ip {args:?} failed");
}

/// Reads packets until `want` matches or two seconds pass.
fn recv_matching(tun: &Tun, want: impl Fn(&[u8]) -> bool) -> Vec<u8> {
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut buf = [0u8; 2048];
    loop {
        match tun.recv(&mut buf) {
            Ok(n) if want(&buf[..n]) => return buf[..n].to_vec(),
            Ok(_) => {} // e.g. IPv6 router solicitations
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("tun read: {e}"),
        }
        assert!(Instant::now() < deadline, "no matching packet from the TUN");
    }
}

fn echo_request(src: [u8; 4], dst: [u8; 4], id: u16) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&1u16.to_be_bytes());
    icmp.extend_from_slice(b"ikegw tun test");
    let c = csum(&icmp, 0);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let mut p = vec![0x45, 0];
    p.extend_from_slice(&((20 + icmp.len()) as u16).to_be_bytes());
    p.extend_from_slice(&[0, 1, 0x40, 0, 64, 1, 0, 0]);
    p.extend_from_slice(&src);
    p.extend_from_slice(&dst);
    let c = csum(&p, 0);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p.extend_from_slice(&icmp);
    p
}

#[test]
fn tun_answers_a_ping_written_into_it() {
    let ran = in_fresh_netns(|| {
        let tun = Tun::open("espt0").unwrap();
        assert_eq!(tun.name(), "espt0");
        tun.set_mtu(1400).unwrap();
        assert_eq!(tun.mtu().unwrap(), 1400);
        tun.set_up().unwrap();
        ip(&["addr", "add", "10.77.0.1/30", "dev", "espt0"]);
        tun.set_nonblocking(true).unwrap();
        let req = echo_request([10, 77, 0, 2], [10, 77, 0, 1], 0x4242);
        assert_eq!(tun.send(&req).unwrap(), req.len());
        let reply = recv_matching(&tun, |p| {
            p.len() >= 28 && p[0] == 0x45 && p[9] == 1 && p[20] == 0 && p[24..26] == [0x42, 0x42]
        });
        assert_eq!(&reply[12..16], &[10, 77, 0, 1]);
        assert_eq!(&reply[16..20], &[10, 77, 0, 2]);
        assert_eq!(&reply[28..], b"ikegw tun test");
    });
    if !ran {
        eprintln!("tun_answers_a_ping_written_into_it: SKIPPED");
    }
}

/// The whole path: a kernel socket sends through the TUN, the packet is
/// sealed, carried over UDP as ESP-in-UDP, classified, opened, answered,
/// sealed back by the reverse SA, opened and written into the TUN, and the
/// kernel socket receives the answer.
#[test]
fn udp_traffic_crosses_an_esp_in_udp_tunnel_over_the_tun() {
    let ran = in_fresh_netns(|| {
        ip(&["link", "set", "lo", "up"]);
        let tun = Tun::open("espt1").unwrap();
        tun.set_up().unwrap();
        ip(&["addr", "add", "10.78.0.1/24", "dev", "espt1"]);
        tun.set_nonblocking(true).unwrap();

        // Two "gateways" on loopback, each with its UDP/4500-like socket.
        let gw_a = UdpSocket::bind("127.0.0.1:0").unwrap();
        let gw_b = UdpSocket::bind("127.0.0.1:0").unwrap();
        gw_b.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        gw_a.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let (pa, pb) = (
            gw_a.local_addr().unwrap().port(),
            gw_b.local_addr().unwrap().port(),
        );
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let mut ab = Setup::new(EncryptionAlgorithm::AesGcm16_256, None);
        ab.a = lo;
        ab.b = lo;
        ab.nat_t = Some(NatT {
            local_port: pa,
            remote_port: pb,
        });
        let (mut out_ab, in_ab) = ab.pair();
        let mut ba = Setup::new(
            EncryptionAlgorithm::AesCbc128,
            Some(pfkey::esp::IntegrityAlgorithm::HmacSha256_128),
        );
        ba.a = lo;
        ba.b = lo;
        ba.nat_t = Some(NatT {
            local_port: pb,
            remote_port: pa,
        });
        let (mut out_ba, in_ba) = ba.pair();
        let mut table_b = InboundTable::new();
        table_b.insert(in_ab);
        let mut table_a = InboundTable::new();
        table_a.insert(in_ba);

        let app = UdpSocket::bind("10.78.0.1:0").unwrap();
        app.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        let app_port = app.local_addr().unwrap().port();
        app.send_to(b"hello through ESP", "10.78.0.9:7000").unwrap();

        // Gateway A: TUN → ESP → UDP.
        let inner = recv_matching(&tun, |p| p.len() > 28 && p[0] >> 4 == 4 && p[9] == 17);
        let mut esp = [0u8; 2048];
        let sealed = out_ab.encapsulate(&inner, &mut esp).unwrap();
        gw_a.send_to(sealed, out_ab.remote_endpoint().unwrap())
            .unwrap();

        // Gateway B: UDP → classify → open.
        let mut dgram = [0u8; 2048];
        let (n, from) = gw_b.recv_from(&mut dgram).unwrap();
        let encap::Datagram::Esp { packet, .. } = encap::classify(&dgram[..n]).unwrap() else {
            panic!("not ESP");
        };
        let mut plain = [0u8; 2048];
        let (_, d) = table_b.decapsulate(Some(from), packet, &mut plain).unwrap();
        let Payload::Ipv4(got) = d.payload else {
            panic!("IPv4 expected")
        };
        assert_eq!(&got[..], &inner[..]);
        assert_eq!(&got[28..], b"hello through ESP");

        // The far host answers; B seals it back with the reverse SA.
        let answer = udp_packet_ports(
            "10.78.0.9".parse().unwrap(),
            7000,
            "10.78.0.1".parse().unwrap(),
            app_port,
            b"answer via ESP",
        );
        let sealed = out_ba.encapsulate(&answer, &mut esp).unwrap();
        gw_b.send_to(sealed, SocketAddr::new(lo, pa)).unwrap();

        // Gateway A: UDP → open → TUN.
        let (n, from) = gw_a.recv_from(&mut dgram).unwrap();
        let encap::Datagram::Esp { packet, .. } = encap::classify(&dgram[..n]).unwrap() else {
            panic!("not ESP");
        };
        let (_, d) = table_a.decapsulate(Some(from), packet, &mut plain).unwrap();
        let Payload::Ipv4(back) = d.payload else {
            panic!("IPv4 expected")
        };
        tun.send(back).unwrap();

        let mut rx = [0u8; 64];
        let (n, src) = app.recv_from(&mut rx).unwrap();
        assert_eq!(&rx[..n], b"answer via ESP");
        assert_eq!(src, "10.78.0.9:7000".parse::<SocketAddr>().unwrap());
        assert_eq!(out_ab.counters().packets, 1);
        assert_eq!(
            table_a
                .get(pfkey::esp::Spi(0x0a0b_0c0d))
                .unwrap()
                .counters()
                .packets,
            1
        );
    });
    if !ran {
        eprintln!("udp_traffic_crosses_an_esp_in_udp_tunnel_over_the_tun: SKIPPED");
    }
}
