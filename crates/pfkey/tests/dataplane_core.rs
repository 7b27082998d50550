//! The data plane against in-process key engines, with a virtual clock:
//! SAs installed over PF_KEY bytes and policies over PF_POLICY bytes reach
//! the packet path; ACQUIRE queues and releases; byte lifetimes, deletes,
//! keepalives, ICMP Packet Too Big and inbound selector checks.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    clippy::cast_possible_truncation
)]

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use pfkey::build::{self, addr, SaSpec};
use pfkey::dataplane::*;
use pfkey::engine::{Direction, Engine, EngineConfig, Tunnel};
use pfkey::esp::{self, DropReason, OutboundSa, Spi};
use pfkey::registry::*;
use pfkey::wire::*;

const TUN: &str = "ip.tun0";
const KM: u64 = 1;
const PID: u32 = 77;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn ext(a: IpAddr, port: u16, proto: u8, prefixlen: u8) -> AddressExt {
    AddressExt {
        proto,
        prefixlen,
        addr: SockAddr::from_socket(SocketAddr::new(a, port)),
    }
}

/// One gateway: engine + data plane, A = 198.51.100.1 / 10.1.0.0/24.
struct Gw {
    dp: DataPlane<Engine>,
    local: IpAddr,
    remote: IpAddr,
    lnet: (IpAddr, u8),
    rnet: (IpAddr, u8),
    seq: u32,
}

fn spi_out(a: bool) -> u32 {
    if a {
        0x1000_0001
    } else {
        0x2000_0002
    }
}

impl Gw {
    fn new(a: bool, t0: Instant, cfg: DataPlaneConfig) -> Self {
        let (local, remote, lnet, rnet) = if a {
            (
                ip("198.51.100.1"),
                ip("198.51.100.2"),
                (ip("10.1.0.0"), 24),
                (ip("10.2.0.0"), 24),
            )
        } else {
            (
                ip("198.51.100.2"),
                ip("198.51.100.1"),
                (ip("10.2.0.0"), 24),
                (ip("10.1.0.0"), 24),
            )
        };
        let mut e = Engine::new(
            EngineConfig {
                local_addrs: vec![local],
                ..EngineConfig::default()
            },
            t0,
            1_700_000_000,
        );
        e.configure_tunnel(Tunnel {
            name: TUN.into(),
            local,
            remote,
        });
        let rule = PolicyRule {
            priority: 0x004f_ffff,
            flags: spd_rule_flag::SPD_RULE_FLAG_INBOUND
                | spd_rule_flag::SPD_RULE_FLAG_OUTBOUND
                | spd_rule_flag::SPD_RULE_FLAG_TUNNEL,
            tun_name: Some(TUN.into()),
            local: Some(lnet),
            remote: Some(rnet),
            actions: vec![ActionAlt::esp(20, None, None)],
            ..PolicyRule::default()
        };
        let m = SpdMsg::rule(SpdMsgType::SPD_ADDRULE, SpdId::SPD_ACTIVE, &rule, 1, PID).unwrap();
        let rep = e.handle_policy(&m.to_bytes().unwrap());
        assert_eq!(SpdMsg::parse(&rep[0]).unwrap().header.errno, Errno::OK);
        e.handle_message(
            t0,
            KM,
            &build::register(SadbSaType::SADB_SATYPE_ESP, 1, PID)
                .to_bytes()
                .unwrap(),
        );
        while e.poll_output().is_some() {}
        let cfg = DataPlaneConfig {
            links: vec![Link {
                name: TUN.into(),
                remote_nets: vec![rnet],
            }],
            ..cfg
        };
        Self {
            dp: DataPlane::new(cfg, e),
            local,
            remote,
            lnet,
            rnet,
            seq: 10,
        }
    }

    fn spec(&self, outbound: bool, spi: u32) -> SaSpec {
        let (src, dst, isrc, idst) = if outbound {
            (self.local, self.remote, self.lnet, self.rnet)
        } else {
            (self.remote, self.local, self.rnet, self.lnet)
        };
        let mut s = SaSpec::esp(
            spi,
            SadbEalg::SADB_EALG_AES_GCM_16,
            ext(src, 0, 4, 0),
            ext(dst, 0, 4, 0),
        );
        s.replay = 32;
        s.flags = SadbSaFlags(
            SadbSaFlags::SADB_X_SAFLAGS_NATT_LOC.0
                | SadbSaFlags::SADB_X_SAFLAGS_NATT_REM.0
                | SadbSaFlags::SADB_X_SAFLAGS_TUNNEL.0,
        );
        s.inner = Some((ext(isrc.0, 0, 0, isrc.1), ext(idst.0, 0, 0, idst.1)));
        let any = IpAddr::from([0u8; 4]);
        s.natt_loc = Some(addr(SockAddr::from_socket(SocketAddr::new(any, 4500))));
        s.natt_rem = Some(addr(SockAddr::from_socket(SocketAddr::new(any, 4500))));
        let key: Vec<u8> = (0..20).map(|i| (spi as u8).wrapping_add(i)).collect();
        s.encr_key = Some(KeyExt::from_material(&key).unwrap());
        s
    }

    /// ADD an SA (seq = an ACQUIRE's seq to complete it); returns errno.
    fn add(&mut self, now: Instant, spec: SaSpec, seq: Option<u32>) -> Errno {
        let seq = seq.unwrap_or_else(|| {
            self.seq += 1;
            self.seq
        });
        let bytes = build::add(spec, seq, PID).unwrap();
        self.send(now, &bytes)
    }

    fn send(&mut self, now: Instant, bytes: &[u8]) -> Errno {
        let e = self.dp.key_engine();
        e.handle_message(now, KM, bytes);
        let mut errno = Errno::OK;
        while let Some(o) = e.poll_output() {
            let m = SadbMsg::parse(&o.bytes).unwrap();
            if m.header.pid == PID && o.to == KM {
                errno = m.header.errno;
            }
        }
        errno
    }

    /// Both SAs of this side (outbound SPI by side, inbound the other's).
    fn install(&mut self, now: Instant, a: bool) {
        let out = self.spec(true, spi_out(a));
        assert_eq!(self.add(now, out, None), Errno::OK);
        let inb = self.spec(false, spi_out(!a));
        assert_eq!(self.add(now, inb, None), Errno::OK);
    }

    fn endpoint(&self) -> SocketAddr {
        SocketAddr::new(self.local, 4500)
    }
}

/// An IPv4 UDP packet with `len` bytes of payload filled with `fill`.
fn packet(src: &str, dst: &str, len: usize, fill: u8, df: bool) -> Vec<u8> {
    let total = 28 + len;
    let mut p = vec![fill; total];
    p[..20].copy_from_slice(&[
        0x45,
        0,
        0,
        0,
        0,
        1,
        if df { 0x40 } else { 0 },
        0,
        64,
        17,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
        0,
    ]);
    p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    let s: std::net::Ipv4Addr = src.parse().unwrap();
    let d: std::net::Ipv4Addr = dst.parse().unwrap();
    p[12..16].copy_from_slice(&s.octets());
    p[16..20].copy_from_slice(&d.octets());
    let mut sum = 0u32;
    for c in p[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p[20..22].copy_from_slice(&1234u16.to_be_bytes());
    p[22..24].copy_from_slice(&5678u16.to_be_bytes());
    p[24..26].copy_from_slice(&((8 + len) as u16).to_be_bytes());
    p[26..28].copy_from_slice(&[0, 0]);
    p
}

fn send(dp: &mut DataPlane<Engine>, now: Instant, pkt: &[u8]) -> (SocketAddr, SocketAddr, Vec<u8>) {
    match dp.handle_tun(now, pkt) {
        TunOutcome::Send(t) => (t.local, t.to, t.bytes.to_vec()),
        other => panic!("expected Send, got {other:?}"),
    }
}

fn deliver(
    dp: &mut DataPlane<Engine>,
    now: Instant,
    from: SocketAddr,
    to: SocketAddr,
    esp: &[u8],
) -> Vec<u8> {
    match dp.handle_esp(now, from, to, esp) {
        EspOutcome::Deliver(p) => p.to_vec(),
        other => panic!("expected Deliver, got {other:?}"),
    }
}

fn pair(t0: Instant, cfg: DataPlaneConfig) -> (Gw, Gw) {
    let mut a = Gw::new(true, t0, cfg.clone());
    let mut b = Gw::new(false, t0, cfg);
    a.install(t0, true);
    b.install(t0, false);
    (a, b)
}

#[test]
fn packets_cross_both_ways_and_counters_move() {
    let t0 = Instant::now();
    let (mut a, mut b) = pair(t0, DataPlaneConfig::default());
    for i in 0..10u8 {
        let p = packet("10.1.0.1", "10.2.0.1", 100 + usize::from(i), i, false);
        let (local, to, esp) = send(&mut a.dp, t0, &p);
        assert_eq!(local, a.endpoint());
        assert_eq!(to, b.endpoint());
        assert_eq!(&esp[..4], &spi_out(true).to_be_bytes());
        assert_eq!(deliver(&mut b.dp, t0, local, to, &esp), p);
        let r = packet("10.2.0.1", "10.1.0.1", 50, i, false);
        let (l2, t2, esp2) = send(&mut b.dp, t0, &r);
        assert_eq!(deliver(&mut a.dp, t0, l2, t2, &esp2), r);
    }
    let sa = a.dp.stats();
    assert_eq!((sa.esp_sent, sa.delivered, sa.sas_built), (10, 10, 1));
    let c = a.dp.sa_counters();
    let out = c
        .iter()
        .find(|c| c.direction == Direction::Outbound)
        .unwrap();
    assert_eq!(out.spi, Spi(spi_out(true)));
    assert_eq!(out.traffic.packets, 10);
    assert_eq!(out.traffic.bytes, (0..10).map(|i| 128 + i).sum::<u64>());
}

#[test]
fn first_packets_queue_behind_acquire_and_leave_with_the_sa() {
    let t0 = Instant::now();
    let mut a = Gw::new(true, t0, DataPlaneConfig::default());
    let mut b = Gw::new(false, t0, DataPlaneConfig::default());
    b.install(t0, false);
    // A has only its inbound SA: outbound traffic triggers an ACQUIRE.
    let inb = a.spec(false, spi_out(false));
    assert_eq!(a.add(t0, inb, None), Errno::OK);
    let pkts: Vec<Vec<u8>> = (0..6u8)
        .map(|i| packet("10.1.0.1", "10.2.0.7", 64, i, false))
        .collect();
    let mut seq = None;
    for p in &pkts {
        match a.dp.handle_tun(t0, p) {
            TunOutcome::Queued { seq: s } => {
                assert!(seq.is_none_or(|x| x == s));
                seq = Some(s);
            }
            other => panic!("expected Queued, got {other:?}"),
        }
    }
    let seq = seq.unwrap();
    // The key manager saw exactly one ACQUIRE, with that seq.
    let e = a.dp.key_engine();
    let mut acquires = Vec::new();
    while let Some(o) = e.poll_output() {
        let m = SadbMsg::parse(&o.bytes).unwrap();
        if m.header.msg_type == SadbMsgType::SADB_ACQUIRE {
            acquires.push(m.header.seq);
        }
    }
    assert_eq!(acquires, vec![seq]);
    let s = a.dp.stats();
    assert_eq!((s.acquires, s.queued, s.queue_dropped), (1, 6, 2));
    let mut buf = [0u8; 2048];
    assert!(a.dp.poll_transmit(&mut buf).is_none());

    // The ADD carrying the ACQUIRE's seq completes it: the 4 newest
    // packets leave, in order, and B decrypts them.
    let t1 = t0 + Duration::from_millis(300);
    let out = a.spec(true, spi_out(true));
    assert_eq!(a.add(t1, out, Some(seq)), Errno::OK);
    a.dp.handle_timeout(t1);
    let mut got = Vec::new();
    while let Some((local, to, n)) = a.dp.poll_transmit(&mut buf) {
        got.push(deliver(&mut b.dp, t1, local, to, &buf[..n]));
    }
    assert_eq!(got, pkts[2..].to_vec());
    assert_eq!(a.dp.stats().released, 4);
    // And the flow now goes straight out.
    send(&mut a.dp, t1, &pkts[0]);
}

#[test]
fn queued_packets_are_dropped_when_the_acquire_times_out() {
    let t0 = Instant::now();
    let mut a = Gw::new(true, t0, DataPlaneConfig::default());
    let p = packet("10.1.0.1", "10.2.0.7", 64, 1, false);
    assert!(matches!(a.dp.handle_tun(t0, &p), TunOutcome::Queued { .. }));
    assert!(matches!(a.dp.handle_tun(t0, &p), TunOutcome::Queued { .. }));
    let later = t0 + Duration::from_secs(16);
    a.dp.key_engine().handle_timeout(later);
    a.dp.handle_timeout(later);
    let s = a.dp.stats();
    assert_eq!((s.queued, s.queue_dropped, s.released), (2, 2, 0));
    let mut buf = [0u8; 2048];
    assert!(a.dp.poll_transmit(&mut buf).is_none());
}

#[test]
fn hard_byte_lifetime_removes_the_sa_and_the_next_packet_acquires() {
    let t0 = Instant::now();
    let cfg = DataPlaneConfig {
        report_bytes: 1000,
        ..DataPlaneConfig::default()
    };
    let mut a = Gw::new(true, t0, cfg);
    let mut out = a.spec(true, spi_out(true));
    out.soft = Some(Lifetime {
        bytes: 3000,
        ..Lifetime::default()
    });
    out.hard = Some(Lifetime {
        bytes: 6000,
        ..Lifetime::default()
    });
    assert_eq!(a.add(t0, out, None), Errno::OK);
    let p = packet("10.1.0.1", "10.2.0.1", 472, 0, false); // 500 bytes
    let mut expires = Vec::new();
    let mut sent = 0;
    let mut hard_drop = false;
    for _ in 0..20 {
        match a.dp.handle_tun(t0, &p) {
            TunOutcome::Send(_) => sent += 1,
            TunOutcome::Dropped(TunDrop::HardExpired(spi)) => {
                assert_eq!(spi, Spi(spi_out(true)));
                hard_drop = true;
                break;
            }
            other => panic!("{other:?}"),
        }
        let e = a.dp.key_engine();
        while let Some(o) = e.poll_output() {
            let m = SadbMsg::parse(&o.bytes).unwrap();
            if m.header.msg_type == SadbMsgType::SADB_EXPIRE && o.to == KM {
                let soft = m.ext(SadbExtType::SADB_EXT_LIFETIME_SOFT).is_some();
                let hard = m.ext(SadbExtType::SADB_EXT_LIFETIME_HARD).is_some();
                expires.push((soft, hard));
            }
        }
    }
    assert!(hard_drop, "hard byte limit never fired");
    // 6000 bytes at 500 per packet, reported every 1000: the 12th packet
    // crosses the hard limit and is dropped.
    assert_eq!(sent, 11);
    assert!(!expires.is_empty(), "soft EXPIRE reached the key manager");
    assert_eq!(a.dp.stats().sas_removed, 1);
    // The SA is gone: the next packet asks for a new one.
    assert!(matches!(a.dp.handle_tun(t0, &p), TunOutcome::Queued { .. }));
}

#[test]
fn deleted_sa_stops_protecting_and_inbound_stops_accepting() {
    let t0 = Instant::now();
    let (mut a, mut b) = pair(t0, DataPlaneConfig::default());
    let p = packet("10.1.0.1", "10.2.0.1", 64, 1, false);
    let (l, t, esp) = send(&mut a.dp, t0, &p);
    deliver(&mut b.dp, t0, l, t, &esp);
    let (l, t, esp2) = send(&mut a.dp, t0, &p);
    // B's key manager deletes its inbound SA.
    let del = build::sa_op(
        SadbMsgType::SADB_DELETE,
        SadbSaType::SADB_SATYPE_ESP,
        spi_out(true),
        SadbSaFlags::default(),
        Some(ext(a.local, 0, 0, 0)),
        ext(b.local, 0, 0, 0),
        99,
        PID,
    );
    assert_eq!(b.send(t0, &del.to_bytes().unwrap()), Errno::OK);
    match b.dp.handle_esp(t0, l, t, &esp2) {
        EspOutcome::Dropped(EspDrop::Esp(esp::Error::Drop(DropReason::UnknownSpi(s)))) => {
            assert_eq!(s, Spi(spi_out(true)));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(b.dp.stats().sas_removed, 1);
    // A deletes its outbound SA: traffic goes back to ACQUIRE.
    let del = build::sa_op(
        SadbMsgType::SADB_DELETE,
        SadbSaType::SADB_SATYPE_ESP,
        spi_out(true),
        SadbSaFlags::default(),
        Some(ext(a.local, 0, 0, 0)),
        ext(a.remote, 0, 0, 0),
        100,
        PID,
    );
    assert_eq!(a.send(t0, &del.to_bytes().unwrap()), Errno::OK);
    assert!(matches!(a.dp.handle_tun(t0, &p), TunOutcome::Queued { .. }));
    assert!(a
        .dp
        .sa_counters()
        .iter()
        .all(|c| c.direction == Direction::Inbound));
}

#[test]
fn byte_counts_reach_the_engine_after_the_report_interval() {
    let t0 = Instant::now();
    let (mut a, _b) = pair(t0, DataPlaneConfig::default());
    let p = packet("10.1.0.1", "10.2.0.1", 172, 1, false);
    for _ in 0..3 {
        send(&mut a.dp, t0, &p);
    }
    let due = a.dp.poll_timeout().unwrap();
    assert!(due <= t0 + Duration::from_millis(250));
    a.dp.handle_timeout(due);
    // The engine's CURRENT lifetime now holds 3 × 200 bytes: a GET shows it.
    let get = build::sa_op(
        SadbMsgType::SADB_GET,
        SadbSaType::SADB_SATYPE_ESP,
        spi_out(true),
        SadbSaFlags::default(),
        Some(ext(a.local, 0, 0, 0)),
        ext(a.remote, 0, 0, 0),
        5,
        PID,
    );
    let e = a.dp.key_engine();
    e.handle_message(due, KM, &get.to_bytes().unwrap());
    let mut cur = None;
    while let Some(o) = e.poll_output() {
        let m = SadbMsg::parse(&o.bytes).unwrap();
        if let Some(Extension::Lifetime(LifetimeKind::Current, l)) =
            m.ext(SadbExtType::SADB_EXT_LIFETIME_CURRENT)
        {
            cur = Some(l.bytes);
        }
    }
    assert_eq!(cur, Some(600));
    // Nothing new to report: no further deadline for byte reports.
    assert!(a
        .dp
        .poll_timeout()
        .is_none_or(|t| t >= due + Duration::from_secs(19)));
}

#[test]
fn nat_keepalives_go_to_idle_peers_only() {
    let t0 = Instant::now();
    let (mut a, _b) = pair(t0, DataPlaneConfig::default());
    let p = packet("10.1.0.1", "10.2.0.1", 64, 1, false);
    send(&mut a.dp, t0, &p);
    let mut buf = [0u8; 64];
    a.dp.handle_timeout(t0 + Duration::from_secs(10));
    assert!(a.dp.poll_transmit(&mut buf).is_none(), "traffic 10 s ago");
    let due = a.dp.poll_timeout().unwrap();
    assert_eq!(due, t0 + Duration::from_secs(20));
    a.dp.handle_timeout(due);
    let (local, to, n) = a.dp.poll_transmit(&mut buf).unwrap();
    assert_eq!((local, to), (a.endpoint(), SocketAddr::new(a.remote, 4500)));
    assert_eq!(&buf[..n], &[0xff]);
    assert!(a.dp.poll_transmit(&mut buf).is_none());
    assert_eq!(a.dp.stats().keepalives, 1);
    // Disabled: none.
    let (mut c, _d) = pair(
        t0,
        DataPlaneConfig {
            keepalive_interval: None,
            ..DataPlaneConfig::default()
        },
    );
    send(&mut c.dp, t0, &p);
    c.dp.handle_timeout(t0 + Duration::from_secs(60));
    assert!(c.dp.poll_transmit(&mut buf).is_none());
}

#[test]
fn oversize_df_packet_gets_icmp_too_big_and_non_df_is_sent() {
    let t0 = Instant::now();
    let (mut a, _b) = pair(
        t0,
        DataPlaneConfig {
            icmp_source: Some(ip("10.1.0.1")),
            ..DataPlaneConfig::default()
        },
    );
    let big = packet("10.1.0.5", "10.2.0.1", 1472, 0, true);
    let reply = match a.dp.handle_tun(t0, &big) {
        TunOutcome::Reply(r) => r.to_vec(),
        other => panic!("{other:?}"),
    };
    // ICMP type 3 code 4 from 10.1.0.1 to the sender, next-hop MTU set.
    assert_eq!(reply[9], 1);
    assert_eq!(&reply[12..16], &[10, 1, 0, 1]);
    assert_eq!(&reply[16..20], &[10, 1, 0, 5]);
    assert_eq!((reply[20], reply[21]), (3, 4));
    let mtu = u16::from_be_bytes([reply[26], reply[27]]);
    assert!((1400..1460).contains(&mtu), "mtu {mtu}");
    assert_eq!(a.dp.stats().too_big, 1);
    let frag = packet("10.1.0.5", "10.2.0.1", 1472, 0, false);
    send(&mut a.dp, t0, &frag);
}

#[test]
fn inbound_packets_outside_the_sa_selectors_are_dropped() {
    let t0 = Instant::now();
    let (mut a, mut b) = pair(t0, DataPlaneConfig::default());
    // Forge with A's own keys a packet whose inner source is outside
    // 10.1.0.0/24 (as a compromised peer could).
    let snap =
        a.dp.key_engine()
            .lookup_sa(Direction::Outbound, spi_out(true), a.remote)
            .unwrap();
    let mut out =
        OutboundSa::new(sa_params(&snap).unwrap(), &ring::rand::SystemRandom::new()).unwrap();
    let p = packet("10.9.9.9", "10.2.0.1", 64, 1, false);
    let mut buf = [0u8; 512];
    let esp = out.encapsulate(&p, &mut buf).unwrap().to_vec();
    match b.dp.handle_esp(t0, a.endpoint(), b.endpoint(), &esp) {
        EspOutcome::Dropped(EspDrop::SelectorMismatch(s)) => assert_eq!(s, Spi(spi_out(true))),
        other => panic!("{other:?}"),
    }
}

#[test]
fn ike_keepalive_and_garbage_on_port_4500_are_told_apart() {
    let t0 = Instant::now();
    let (_a, mut b) = pair(t0, DataPlaneConfig::default());
    let from: SocketAddr = "198.51.100.1:4500".parse().unwrap();
    let to = b.endpoint();
    assert!(matches!(
        b.dp.handle_esp(t0, from, to, &[0xff]),
        EspOutcome::Keepalive
    ));
    assert!(matches!(
        b.dp.handle_esp(t0, from, to, &[0, 0, 0, 0, 1, 2, 3]),
        EspOutcome::Ike
    ));
    assert!(matches!(
        b.dp.handle_esp(t0, from, to, &[]),
        EspOutcome::Dropped(_)
    ));
    for _ in 0..3 {
        match b.dp.handle_esp(
            t0,
            from,
            to,
            &[0xde, 0xad, 0xbe, 0xef, 0, 0, 0, 1, 9, 9, 9, 9],
        ) {
            EspOutcome::Dropped(EspDrop::Esp(esp::Error::Drop(DropReason::UnknownSpi(_)))) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(b.dp.unmatched_drops().unknown_spi, 3);
    assert_eq!(b.dp.stats().esp_dropped, 4);
}

#[test]
fn non_ip_and_unrouted_tun_packets_are_dropped_with_reasons() {
    let t0 = Instant::now();
    let (mut a, _b) = pair(t0, DataPlaneConfig::default());
    assert!(matches!(
        a.dp.handle_tun(t0, &[0x00; 40]),
        TunOutcome::Dropped(TunDrop::NotIp)
    ));
    assert!(matches!(
        a.dp.handle_tun(t0, &[0x45, 0, 0]),
        TunOutcome::Dropped(TunDrop::NotIp)
    ));
    let p = packet("10.1.0.1", "192.0.2.99", 64, 1, false);
    assert!(matches!(
        a.dp.handle_tun(t0, &p),
        TunOutcome::Dropped(TunDrop::NoPolicy)
    ));
    assert_eq!(a.dp.stats().tun_dropped, 3);
}

/// Counts heap allocations made by the current thread, so the hot-path
/// test below is not disturbed by tests running on other threads. The
/// allocator shim is the only unsafe code in this file.
#[allow(unsafe_code)]
mod counting {
    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    thread_local! {
        static ALLOCS: Cell<u64> = const { Cell::new(0) };
    }

    pub(crate) struct Counting;

    // SAFETY: forwards every call to the system allocator unchanged; the
    // counter is a const-initialised thread-local Cell (no allocation).
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, l: Layout) -> *mut u8 {
            ALLOCS.with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as our caller's.
            unsafe { System.alloc(l) }
        }
        unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
            // SAFETY: same contract as our caller's.
            unsafe { System.dealloc(p, l) }
        }
        unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
            ALLOCS.with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as our caller's.
            unsafe { System.realloc(p, l, n) }
        }
    }

    pub(crate) fn count() -> u64 {
        ALLOCS.with(Cell::get)
    }
}

#[allow(unsafe_code)]
#[global_allocator]
static ALLOC: counting::Counting = counting::Counting;

#[test]
fn steady_state_packets_allocate_nothing() {
    let t0 = Instant::now();
    let (mut a, mut b) = pair(t0, DataPlaneConfig::default());
    let p = packet("10.1.0.1", "10.2.0.1", 1200, 7, false);
    let r = packet("10.2.0.1", "10.1.0.1", 40, 8, false);
    let mut esp = vec![0u8; 2048];
    let mut one_round = |a: &mut Gw, b: &mut Gw, now: Instant| {
        let (l, t, n) = match a.dp.handle_tun(now, &p) {
            TunOutcome::Send(x) => {
                esp[..x.bytes.len()].copy_from_slice(x.bytes);
                (x.local, x.to, x.bytes.len())
            }
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            b.dp.handle_esp(now, l, t, &esp[..n]),
            EspOutcome::Deliver(_)
        ));
        let (l, t, n) = match b.dp.handle_tun(now, &r) {
            TunOutcome::Send(x) => {
                esp[..x.bytes.len()].copy_from_slice(x.bytes);
                (x.local, x.to, x.bytes.len())
            }
            other => panic!("{other:?}"),
        };
        assert!(matches!(
            a.dp.handle_esp(now, l, t, &esp[..n]),
            EspOutcome::Deliver(_)
        ));
    };
    // Warm-up: flows cached, SAs built from the SADB (which allocates, so
    // the counter is seen to work).
    let start = counting::count();
    for _ in 0..3 {
        one_round(&mut a, &mut b, t0);
    }
    let before = counting::count();
    assert!(before > start, "the counter counts");
    for _ in 0..200 {
        one_round(&mut a, &mut b, t0);
    }
    assert_eq!(
        counting::count() - before,
        0,
        "allocations on the packet path"
    );
    assert_eq!(b.dp.stats().delivered, 203);
}

#[test]
fn wildcard_local_address_falls_back_to_configured_addresses() {
    let t0 = Instant::now();
    let cfg = DataPlaneConfig {
        local_addrs: vec![ip("192.0.2.50"), ip("198.51.100.2")],
        ..DataPlaneConfig::default()
    };
    let (mut a, mut b) = pair(t0, cfg);
    let p = packet("10.1.0.1", "10.2.0.1", 64, 3, false);
    let (l, _, esp) = send(&mut a.dp, t0, &p);
    let any: SocketAddr = "0.0.0.0:4500".parse().unwrap();
    assert_eq!(deliver(&mut b.dp, t0, l, any, &esp), p);
    // Without the list, the SA cannot be found.
    let (mut c, mut d) = pair(t0, DataPlaneConfig::default());
    let (l, _, esp) = send(&mut c.dp, t0, &p);
    assert!(matches!(
        d.dp.handle_esp(t0, l, any, &esp),
        EspOutcome::Dropped(EspDrop::Esp(_))
    ));
}
