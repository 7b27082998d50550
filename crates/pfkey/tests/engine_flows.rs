//! Scripted conversations with the userland engine mirroring the illumos
//! flows of the reference (§7): REGISTER → ACQUIRE → GETSPI → UPDATE + ADD
//! (with PAIR) → soft EXPIRE → rekey → DELPAIR, checked byte for byte
//! against the reference's worked examples (§8) where one exists, plus the
//! delivery rules of §1.4 and every error path's errno + diagnostic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use pfkey::build::{self, addr};
use pfkey::engine::*;
use pfkey::registry::*;
use pfkey::wire::*;

mod sadb_common;
use sadb_common::{
    a4, esp_op, getspi, h, host_sa, ikev2, tunnel_spec, v4, vector, Way, COOKIE, LOCAL, PEER, PID,
};

const DAEMON: ClientId = 1;
const MONITOR: ClientId = 2;
const UNIX0: u64 = 1_700_000_000;

struct Rig {
    e: Engine,
    t0: Instant,
}

impl Rig {
    fn new() -> Self {
        let t0 = Instant::now();
        let cfg = EngineConfig {
            local_addrs: vec![IpAddr::V4(LOCAL)],
            ..EngineConfig::default()
        };
        let mut e = Engine::new(cfg, t0, UNIX0);
        e.add_client(DAEMON);
        e.add_client(MONITOR);
        Self { e, t0 }
    }
    fn at(&self, secs: u64) -> Instant {
        self.t0 + Duration::from_secs(secs)
    }
    fn send(&mut self, secs: u64, from: ClientId, bytes: &[u8]) {
        let now = self.at(secs);
        self.e.handle_message(now, from, bytes);
    }
    /// All outputs: (to, bytes).
    fn drain(&mut self) -> Vec<(ClientId, Vec<u8>)> {
        let mut v = Vec::new();
        while let Some(o) = self.e.poll_output() {
            v.push((o.to, o.bytes.to_vec()));
        }
        v
    }
    fn to(&mut self, who: ClientId) -> Vec<Vec<u8>> {
        self.drain()
            .into_iter()
            .filter(|(t, _)| *t == who)
            .map(|(_, b)| b)
            .collect()
    }
    /// The errno of the next reply to the daemon.
    fn daemon_errno(&mut self) -> Errno {
        SadbMsg::parse(&self.to(DAEMON)[0]).unwrap().header.errno
    }
    fn policy(&mut self, m: &SpdMsg) -> Vec<SpdMsg> {
        self.e
            .handle_policy(&m.to_bytes().unwrap())
            .iter()
            .map(|b| SpdMsg::parse(b).unwrap())
            .collect()
    }
}

/// `{laddr 192.0.2.1 raddr 198.51.100.1} ipsec {encr_algs aes-gcm}`
fn transport_rule() -> PolicyRule {
    PolicyRule {
        priority: 0x004f_ffff,
        flags: spd_rule_flag::SPD_RULE_FLAG_INBOUND | spd_rule_flag::SPD_RULE_FLAG_OUTBOUND,
        local: Some((LOCAL.into(), 32)),
        remote: Some((PEER.into(), 32)),
        actions: vec![ActionAlt::esp(20, None, None)],
        ..PolicyRule::default()
    }
}

/// Any traffic between the two hosts.
fn host_selector() -> Selector {
    Selector {
        local: LOCAL.into(),
        remote: PEER.into(),
        proto: 0,
        local_port: 0,
        remote_port: 0,
    }
}

fn transport_policy(r: &mut Rig) {
    let rule = transport_rule();
    let m = SpdMsg::rule(SpdMsgType::SPD_ADDRULE, SpdId::SPD_ACTIVE, &rule, 1, PID).unwrap();
    let rep = r.policy(&m);
    assert_eq!(rep.len(), 1);
    assert_eq!(rep[0].header.errno, Errno::OK);
}

fn tunnel_policy(r: &mut Rig) {
    r.e.configure_tunnel(Tunnel {
        name: "ip.tun0".into(),
        local: LOCAL.into(),
        remote: PEER.into(),
    });
    // The reference's §8.15 ADDRULE, byte for byte.
    let bytes = vector("ref-8.15-spd-addrule-tunnel.bin");
    let rep = r.e.handle_policy(&bytes);
    assert_eq!(rep.len(), 1);
    let echo = SpdMsg::parse(&rep[0]).unwrap();
    assert_eq!(echo.header.errno, Errno::OK);
    // Two internal rules (IPv4 in, IPv4 out): the echo names the last.
    let Some(SpdExt::Rule(rule)) = echo.ext(SpdExtType::SPD_EXT_RULE) else {
        panic!()
    };
    assert_eq!(rule.index, 2);
    // Apart from the index, the echo is the request.
    let mut req = SpdMsg::parse(&bytes).unwrap();
    for e in &mut req.exts {
        if let SpdExt::Rule(r) = e {
            r.index = 2;
        }
    }
    assert_eq!(echo, req);
}

fn register(r: &mut Rig) {
    r.send(0, DAEMON, &h("020700030200000001000000d2040000")); // §8.1
    let out = r.drain();
    // Only the registering socket hears the answer (the monitor is not
    // registered for ESP).
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, DAEMON);
    let m = SadbMsg::parse(&out[0].1).unwrap();
    assert_eq!(m.header.msg_type, SadbMsgType::SADB_REGISTER);
    assert_eq!((m.header.seq, m.header.pid), (1, PID));
    let ids = |k| -> Vec<u8> {
        m.exts
            .iter()
            .find_map(|e| match e {
                Extension::Supported(kk, v) if *kk == k => Some(v.iter().map(|a| a.id).collect()),
                _ => None,
            })
            .unwrap()
    };
    assert_eq!(ids(SupportedKind::Auth), vec![3, 5, 6, 7]);
    assert_eq!(
        ids(SupportedKind::Encrypt),
        vec![12, 14, 15, 16, 18, 19, 20]
    );
    let Some(Extension::Supported(_, encr)) = m.ext(SadbExtType::SADB_EXT_SUPPORTED_ENCRYPT) else {
        panic!()
    };
    assert_eq!(
        encr.last().unwrap(),
        &Alg {
            id: 20,
            ivlen: 8,
            minbits: 128,
            maxbits: 256,
            increment: 64,
            saltbits: 32
        }
    );
}

/// §7.2 with the tunnel-mode policy of §8.15 and the SAs of §8.4/§8.5.
#[test]
fn initiator_flow_tunnel_mode_matches_reference_bytes() {
    let mut r = Rig::new();
    tunnel_policy(&mut r);
    register(&mut r);

    // Outbound inner traffic with no SA: the kernel's first ACQUIRE.
    let sel = Selector {
        local: Ipv4Addr::new(10, 1, 0, 5).into(),
        remote: Ipv4Addr::new(10, 2, 3, 4).into(),
        proto: 6,
        local_port: 40000,
        remote_port: 22,
    };
    let seq = match r.e.outbound_lookup(r.at(0), Some("ip.tun0"), &sel) {
        Outbound::Acquire { seq } => seq,
        other => panic!("{other:?}"),
    };
    assert_eq!(seq, 0xffff_fffe, "first kernel ACQUIRE seq");
    let acq = r.to(DAEMON);
    assert_eq!(
        acq.len(),
        1,
        "regular ACQUIRE to the registered socket only"
    );
    let m = SadbMsg::parse(&acq[0]).unwrap();
    assert_eq!(m.header.pid, 0);
    assert_eq!(
        build::ext_types(&m),
        vec![
            SadbExtType::SADB_X_EXT_ADDRESS_INNER_SRC,
            SadbExtType::SADB_X_EXT_ADDRESS_INNER_DST,
            SadbExtType::SADB_EXT_ADDRESS_SRC,
            SadbExtType::SADB_EXT_ADDRESS_DST,
            SadbExtType::SADB_EXT_PROPOSAL
        ]
    );
    // Inner addresses come from the rule (10.1.0.0/16 → 10.2.0.0/16), outer
    // from the tunnel with proto 4.
    let isrc = m.address(AddressKind::InnerSrc).unwrap();
    assert_eq!(
        (isrc.addr.ip(), isrc.prefixlen),
        (Some(Ipv4Addr::new(10, 1, 0, 0).into()), 16)
    );
    assert_eq!(m.address(AddressKind::Src).unwrap().proto, 4);
    // A second packet queues on the same record: no new ACQUIRE.
    assert!(matches!(
        r.e.outbound_lookup(r.at(1), Some("ip.tun0"), &sel),
        Outbound::Pending { seq: 0xffff_fffe }
    ));
    assert!(r.drain().is_empty());

    // GETSPI for a specific SPI (min = max), SRC = peer, DST = local.
    let gs = getspi(0x9a3c_71e5, 0x9a3c_71e5, 2);
    r.send(1, DAEMON, &gs.to_bytes().unwrap());
    let out = r.drain();
    assert_eq!(out.len(), 2, "GETSPI replies go to every socket");
    // The reply is §8.3 byte for byte: SPIRANGE rewritten in place.
    let ref_8_3 = h("020100030a00000002000000d2040000030005000000000002000000c63364010000000000000000030006000000000002000000c00002010000000000000000020001009a3c71e50000000000000000");
    assert_eq!(out[0].1, ref_8_3);
    assert_eq!(out[1].1, ref_8_3);

    // UPDATE (§8.4 bytes) completes the larval SA.
    let upd = h("020200031e00000003000000d2040000020001009a3c71e5200100140040020004000300000000000000000000000000100e000000000000000000000000000004000400000000000000000000000000a80c0000000000000000000000000000030005000400000002000000c63364010000000000000000030006000400000002000000c000020100000000000000000300070000100000020000000a02000000000000000000000300160000100000020000000a010000000000000000000004000900a0000000101112131415161718191a1b1c1d1e1fb0b1b2b3000000000200130003000000efcdab8967452301");
    r.send(2, DAEMON, &upd);
    let out = r.drain();
    assert_eq!(out.len(), 2);
    let echo = SadbMsg::parse(&out[1].1).unwrap();
    assert_eq!(out[1].0, MONITOR, "UPDATE echo is broadcast");
    // Echo = request minus KEY_ENCRYPT, SA flags = the kernel's flags:
    // INBOUND|TUNNEL as sent, plus EALG1|EALG2 (AEAD) and UNIQUE (tunnel).
    let mut want = SadbMsg::parse(&upd).unwrap();
    want.exts.retain(|e| !e.is_key());
    if let Extension::Sa(s) = &mut want.exts[0] {
        s.flags = SadbSaFlags(0x4c02_4000);
    }
    assert_eq!(echo, want);
    assert!(
        !out[1].1.windows(4).any(|w| w == [0x10, 0x11, 0x12, 0x13]),
        "no key bytes in the echo"
    );

    // ADD (§8.5 bytes) with the ACQUIRE's seq and PAIR → the queued packets
    // are released.
    let add = h("020300031f000000feffffffd20400000200010012345678000100140080020004000300000000000000000000000000100e000000000000000000000000000004000400000000000000000000000000a80c0000000000000000000000000000030005000400000002000000c00002010000000000000000030006000400000002000000c633640100000000000000000300070000100000020000000a01000000000000000000000300160000100000020000000a020000000000000000000004000900a0000000000102030405060708090a0b0c0d0e0fa0a1a2a3000000000200130003000000efcdab8967452301010017009a3c71e5");
    r.send(2, DAEMON, &add);
    let out = r.drain();
    assert_eq!(out.len(), 2);
    let echo = SadbMsg::parse(&out[0].1).unwrap();
    assert_eq!(echo.header.seq, 0xffff_fffe);
    assert_eq!(
        echo.sa().unwrap().flags,
        SadbSaFlags(0x4c03_8000),
        "OUTBOUND|TUNNEL|PAIRED|EALG1|EALG2|UNIQUE"
    );
    assert_eq!(echo.pair(), Some(0x9a3c_71e5));
    assert!(echo.key(KeyKind::Encrypt).is_none());
    assert_eq!(
        r.e.poll_event(),
        Some(AcquireEvent::Completed {
            seq: 0xffff_fffe,
            spi: 0x1234_5678
        })
    );

    // The data plane now finds both halves, keys in key ‖ salt form.
    let Outbound::Protect(out_sa) = r.e.outbound_lookup(r.at(3), Some("ip.tun0"), &sel) else {
        panic!("expected an SA")
    };
    assert_eq!(out_sa.spi, 0x1234_5678);
    assert_eq!(out_sa.encrypt, SadbEalg::SADB_EALG_AES_GCM_16);
    let mut k: Vec<u8> = (0..16).collect();
    k.extend_from_slice(&[0xa0, 0xa1, 0xa2, 0xa3]);
    assert_eq!(&out_sa.encr_key.as_ref().unwrap()[..], &k[..]);
    assert!(!format!("{out_sa:?}").contains("a0a1"), "Debug hides keys");
    let in_sa = r.e.lookup_inbound(0x9a3c_71e5, LOCAL.into()).unwrap();
    assert!(in_sa.flags.contains(SadbSaFlags::SADB_X_SAFLAGS_PAIRED));
    assert_eq!(in_sa.replay_window, 32);
    assert_eq!(in_sa.kmc.cookie, 0x0123_4567_89ab_cdef);

    // GET returns keys in the output convention: bits = key only,
    // reserved = salt bits, extension sized for key + salt + IV.
    let get = esp_op(
        SadbMsgType::SADB_GET,
        0x9a3c_71e5,
        SadbSaFlags::SADB_X_SAFLAGS_INBOUND,
        LOCAL,
        5,
    );
    r.send(3, DAEMON, &get.to_bytes().unwrap());
    let out = r.drain();
    assert_eq!(out.len(), 1, "GET replies to the sender only");
    let g = SadbMsg::parse(&out[0].1).unwrap();
    let key = g.key(KeyKind::Encrypt).unwrap();
    assert_eq!(
        (key.bits, key.reserved, key.secret_bytes().len()),
        (128, 32, 32)
    );
    assert_eq!(&key.secret_bytes()[16..20], &[0xb0, 0xb1, 0xb2, 0xb3]);
    assert_eq!(
        build::ext_types(&g),
        vec![
            SadbExtType::SADB_EXT_SA,
            SadbExtType::SADB_EXT_LIFETIME_CURRENT,
            SadbExtType::SADB_EXT_LIFETIME_HARD,
            SadbExtType::SADB_EXT_LIFETIME_SOFT,
            SadbExtType::SADB_EXT_ADDRESS_SRC,
            SadbExtType::SADB_EXT_ADDRESS_DST,
            SadbExtType::SADB_X_EXT_ADDRESS_INNER_SRC,
            SadbExtType::SADB_X_EXT_ADDRESS_INNER_DST,
            SadbExtType::SADB_X_EXT_KM_COOKIE,
            SadbExtType::SADB_EXT_KEY_ENCRYPT,
            SadbExtType::SADB_X_EXT_PAIR,
        ]
    );

    // Soft EXPIRE at add time + 3240 s, for both halves, to every socket.
    assert_eq!(r.e.poll_timeout(), Some(r.at(2 + 3240)));
    r.e.handle_timeout(r.at(2 + 3240));
    let exp: Vec<SadbMsg> = r
        .to(MONITOR)
        .iter()
        .map(|b| SadbMsg::parse(b).unwrap())
        .collect();
    assert_eq!(exp.len(), 2);
    for m in &exp {
        assert_eq!(m.header.msg_type, SadbMsgType::SADB_EXPIRE);
        assert_eq!((m.header.seq, m.header.pid), (0, 0));
        assert_eq!(m.sa().unwrap().state, SadbSaState::SADB_SASTATE_DYING);
        assert!(m.lifetime(LifetimeKind::Soft).is_some());
        assert!(m.lifetime(LifetimeKind::Hard).is_none());
        assert!(
            m.address(AddressKind::InnerSrc).is_some(),
            "TUNNEL → inner addresses"
        );
        assert!(m.ext(SadbExtType::SADB_X_EXT_KM_COOKIE).is_some());
    }
    let inbound_exp = exp
        .iter()
        .find(|m| {
            m.sa()
                .unwrap()
                .flags
                .contains(SadbSaFlags::SADB_X_SAFLAGS_INBOUND)
        })
        .unwrap();
    assert_eq!(inbound_exp.sa().unwrap().spi, 0x9a3c_71e5);

    // Rekey: new inbound (GETSPI + UPDATE) and outbound (ADD + PAIR), own seqs.
    let gs = getspi(0x100, 0xffff_ffff, 10);
    r.send(3300, DAEMON, &gs.to_bytes().unwrap());
    let reply = SadbMsg::parse(&r.to(DAEMON)[0]).unwrap();
    let new_in = reply.sa().unwrap().spi;
    assert!(new_in >= 0x100 && new_in != 0x9a3c_71e5);
    let key = KeyExt::from_material(&[7u8; 20]).unwrap();
    let mut spec = tunnel_spec(new_in, Way::Inbound, key);
    spec.kmc = Some(ikev2(2));
    r.send(3300, DAEMON, &build::update(spec, 11, PID).unwrap());
    assert_eq!(r.daemon_errno(), Errno::OK);
    let key = KeyExt::from_material(&[9u8; 20]).unwrap();
    let mut spec = tunnel_spec(0x5555_0001, Way::Outbound, key);
    spec.pair = Some(new_in);
    r.send(3300, DAEMON, &build::add(spec, 12, PID).unwrap());
    assert_eq!(r.daemon_errno(), Errno::OK);
    // Outbound traffic moves to the newest SA.
    let Outbound::Protect(sa) = r.e.outbound_lookup(r.at(3301), Some("ip.tun0"), &sel) else {
        panic!()
    };
    assert_eq!(sa.spi, 0x5555_0001);

    // DELPAIR of the old pair (§8.6 bytes) removes both halves; the reply
    // describes the deleted SA (no keys) and goes to everyone.
    r.send(3302, DAEMON, &h("020e00030a00000004000000d2040000020001009a3c71e50000000000000000030005000000000002000000c63364010000000000000000030006000000000002000000c00002010000000000000000"));
    let out = r.drain();
    assert_eq!(out.len(), 2);
    let d = SadbMsg::parse(&out[0].1).unwrap();
    assert_eq!(d.header.msg_type, SadbMsgType::SADB_X_DELPAIR);
    assert_eq!((d.header.seq, d.header.errno), (4, Errno::OK));
    assert_eq!(d.sa().unwrap().spi, 0x9a3c_71e5);
    assert!(d.key(KeyKind::Encrypt).is_none());
    assert!(r.e.lookup_inbound(0x9a3c_71e5, LOCAL.into()).is_none());
    assert_eq!(r.e.sa_count(), 2, "only the new pair is left");
}

/// §8.11: the engine's soft EXPIRE for a transport-mode inbound SA is the
/// reference's bytes exactly (bytes/times fed through the data-plane API).
#[test]
fn soft_expire_bytes_match_reference_8_11() {
    let mut r = Rig::new();
    let gcm = SadbEalg::SADB_EALG_AES_GCM_16;
    let mut s = host_sa(0x9a3c_71e5, Way::Inbound, gcm, &[0x33; 20]);
    s.replay = 32;
    s.soft = Some(Lifetime {
        addtime: 3240,
        ..Lifetime::default()
    });
    s.kmc = Some(COOKIE);
    r.send(0, DAEMON, &build::add(s, 1, PID).unwrap());
    r.drain();
    assert_eq!(
        r.e.record_bytes(
            r.at(5),
            Direction::Inbound,
            0x9a3c_71e5,
            LOCAL.into(),
            123_456
        ),
        ByteVerdict::Ok
    );
    r.e.handle_timeout(r.at(3239));
    assert!(r.drain().is_empty(), "nothing before the deadline");
    r.e.handle_timeout(r.at(3240));
    let out = r.to(DAEMON);
    assert_eq!(out.len(), 1);
    assert_eq!(
        hex::encode(&out[0]),
        "02080003140000000000000000000000020001009a3c71e5200200140040008c040002000000000040e201000000000000f153650000000005f153650000000004000400000000000000000000000000a80c0000000000000000000000000000030005000000000002000000c63364010000000000000000030006000000000002000000c000020100000000000000000200130003000000efcdab8967452301"
    );
}

/// §8.7, §8.8: the regular ACQUIRE for `encr_algs aes-gcm` is the
/// reference's bytes; the daemon's abort drops the record silently.
#[test]
fn acquire_bytes_match_reference_8_7_and_abort_8_8() {
    let mut r = Rig::new();
    transport_policy(&mut r);
    register(&mut r);
    let sel = Selector {
        local: LOCAL.into(),
        remote: PEER.into(),
        proto: 17,
        local_port: 1000,
        remote_port: 53,
    };
    assert!(matches!(
        r.e.outbound_lookup(r.at(0), None, &sel),
        Outbound::Acquire { seq: 0xffff_fffe }
    ));
    let out = r.drain();
    assert_eq!(out.len(), 1);
    assert_eq!(
        hex::encode(&out[0].1),
        "0206000312000000feffffff00000000030005000000000002000000c00002010000000000000000030006000000000002000000c633640100000000000000000a000d004000000000140000000000008000000120000000000000000000000000000000000000000000000000000000c05d000000000000807000000000000000000000000000000000000000000000"
    );
    r.send(1, DAEMON, &h("02063e0302000000feffffffd2040000"));
    assert!(r.drain().is_empty(), "no reply to an abort");
    assert_eq!(
        r.e.poll_event(),
        Some(AcquireEvent::Dropped { seq: 0xffff_fffe })
    );
    // The next packet makes a new record with the next seq.
    assert!(matches!(
        r.e.outbound_lookup(r.at(2), None, &sel),
        Outbound::Acquire { seq: 0xffff_fffd }
    ));
}

#[test]
fn acquire_record_times_out_after_15s_and_unregistered_drops() {
    let mut r = Rig::new();
    transport_policy(&mut r);
    let sel = host_selector();
    // Nobody registered: the packet is dropped at once (esp_keysock_no_socket).
    assert!(matches!(
        r.e.outbound_lookup(r.at(0), None, &sel),
        Outbound::Drop
    ));
    register(&mut r);
    assert!(matches!(
        r.e.outbound_lookup(r.at(0), None, &sel),
        Outbound::Acquire { .. }
    ));
    r.drain();
    assert_eq!(r.e.poll_timeout(), Some(r.at(15)));
    r.e.handle_timeout(r.at(15));
    assert!(matches!(
        r.e.poll_event(),
        Some(AcquireEvent::Dropped { .. })
    ));
}

/// §8.9/§8.10: INVERSE_ACQUIRE's success reply is type 6 with EPROP, byte
/// for byte; it also reaches extended-registered sockets.
#[test]
fn inverse_acquire_reply_matches_reference_8_10() {
    let mut r = Rig::new();
    transport_policy(&mut r);
    r.send(
        0,
        MONITOR,
        &h("020700000300000006000000d20400000100110003020000"),
    ); // §8.12
    let regs = r.to(MONITOR);
    assert_eq!(regs.len(), 2, "one REGISTER reply per listed satype");
    assert_eq!(
        SadbMsg::parse(&regs[0]).unwrap().header.satype,
        SadbSaType::SADB_SATYPE_ESP
    );
    assert_eq!(
        SadbMsg::parse(&regs[1]).unwrap().header.satype,
        SadbSaType::SADB_SATYPE_AH
    );
    r.send(1, DAEMON, &h("020c00000800000005000000d2040000030005000000000002000000c00002010000000000000000030006000000000002000000c63364010000000000000000"));
    let out = r.drain();
    let ref_8_10 = "020600001200000005000000d2040000030005000000000002000000c00002010000000000000000030006000000000002000000c633640100000000000000000a001200400001000100000000000000000000000000000000000000000000000000000000000000c05d0000000000008070000000000000000000000000000000000000000000000302142080000001";
    assert_eq!(
        out.len(),
        2,
        "requester and the extended-registered monitor"
    );
    for (_, b) in &out {
        assert_eq!(hex::encode(b), ref_8_10);
    }
    // No policy for another peer: ENOENT with the request's type (12).
    let req = build::inverse_acquire(
        addr(v4(LOCAL)),
        addr(v4(Ipv4Addr::new(203, 0, 113, 9))),
        None,
        6,
        PID,
    );
    r.send(2, DAEMON, &req.to_bytes().unwrap());
    let out = r.to(DAEMON);
    assert_eq!(hex::encode(&out[0]), "020c02000200000006000000d2040000");
}

#[test]
fn flush_and_dump_follow_the_kernel() {
    let mut r = Rig::new();
    for (spi, way) in [(0x1000u32, Way::Inbound), (0x2000, Way::Outbound)] {
        let mut s = host_sa(spi, way, SadbEalg::SADB_EALG_AES, &[1; 32]);
        s.auth = SadbAalg::SADB_AALG_SHA256HMAC;
        s.auth_key = Some(KeyExt::from_material(&[2; 32]).unwrap());
        r.send(0, DAEMON, &build::add(s, spi, PID).unwrap());
    }
    r.drain();
    // DUMP (§8.14): one record per SA with the request's seq (outbound
    // table first), then a bare header with seq 0.
    r.send(1, DAEMON, &h("020a00030200000008000000d2040000"));
    let out = r.to(DAEMON);
    assert_eq!(out.len(), 3);
    let recs: Vec<SadbMsg> = out.iter().map(|b| SadbMsg::parse(b).unwrap()).collect();
    assert_eq!(recs[0].sa().unwrap().spi, 0x2000);
    assert_eq!(recs[1].sa().unwrap().spi, 0x1000);
    assert!(
        recs[0].key(KeyKind::Auth).is_some(),
        "DUMP records carry keys"
    );
    assert_eq!(recs[0].header.seq, 8);
    assert_eq!(hex::encode(&out[2]), "020a00030200000000000000d2040000");
    // FLUSH (§8.13): echoed to every socket, SADB empty.
    r.send(2, DAEMON, &h("020900030200000007000000d2040000"));
    let out = r.drain();
    assert_eq!(out.len(), 2);
    assert!(out
        .iter()
        .all(|(_, b)| hex::encode(b) == "020900030200000007000000d2040000"));
    assert_eq!(r.e.sa_count(), 0);
}

#[test]
fn larval_sa_vanishes_silently_after_90s() {
    let mut r = Rig::new();
    let gs = getspi(0x100, 0xffff_ffff, 2);
    r.send(0, DAEMON, &gs.to_bytes().unwrap());
    r.drain();
    assert_eq!(r.e.sa_count(), 1);
    assert_eq!(r.e.poll_timeout(), Some(r.at(90)));
    r.e.handle_timeout(r.at(90));
    assert_eq!(r.e.sa_count(), 0);
    assert!(r.drain().is_empty(), "no EXPIRE for a larval SA");
}

#[test]
fn byte_limits_expire_soft_then_hard_and_hard_kills_the_pair() {
    let mut r = Rig::new();
    let mut s = host_sa(0x10, Way::Inbound, SadbEalg::SADB_EALG_AES_GCM_16, &[5; 20]);
    s.soft = Some(Lifetime {
        bytes: 1000,
        ..Lifetime::default()
    });
    s.hard = Some(Lifetime {
        bytes: 2000,
        ..Lifetime::default()
    });
    r.send(0, DAEMON, &build::add(s, 1, PID).unwrap());
    let mut o = host_sa(
        0x20,
        Way::Outbound,
        SadbEalg::SADB_EALG_AES_GCM_16,
        &[6; 20],
    );
    o.pair = Some(0x10);
    r.send(0, DAEMON, &build::add(o, 2, PID).unwrap());
    r.drain();
    let dst: IpAddr = LOCAL.into();
    assert_eq!(
        r.e.record_bytes(r.at(1), Direction::Inbound, 0x10, dst, 999),
        ByteVerdict::Ok
    );
    assert_eq!(
        r.e.record_bytes(r.at(1), Direction::Inbound, 0x10, dst, 1),
        ByteVerdict::SoftExpired
    );
    let m = SadbMsg::parse(&r.to(DAEMON)[0]).unwrap();
    assert_eq!(m.sa().unwrap().state, SadbSaState::SADB_SASTATE_DYING);
    assert!(m
        .sa()
        .unwrap()
        .flags
        .contains(SadbSaFlags::SADB_X_SAFLAGS_USED));
    assert_eq!(
        r.e.record_bytes(r.at(2), Direction::Inbound, 0x10, dst, 1000),
        ByteVerdict::HardExpired
    );
    let m = SadbMsg::parse(&r.to(DAEMON)[0]).unwrap();
    assert_eq!(m.sa().unwrap().state, SadbSaState::SADB_SASTATE_DEAD);
    assert!(m.lifetime(LifetimeKind::Hard).is_some());
    // Inbound died first: the outbound partner gets its own HARD EXPIRE on
    // the next pass; both are reaped after reap_delay.
    r.e.handle_timeout(r.at(2));
    let m = SadbMsg::parse(&r.to(DAEMON)[0]).unwrap();
    assert_eq!(
        (m.sa().unwrap().spi, m.sa().unwrap().state),
        (0x20, SadbSaState::SADB_SASTATE_DEAD)
    );
    r.e.handle_timeout(r.at(3));
    assert_eq!(r.e.sa_count(), 0);
}

#[test]
fn idle_expire_repeats_while_idle_and_keeps_the_sa_mature() {
    let mut r = Rig::new();
    let mut s = host_sa(0x10, Way::Inbound, SadbEalg::SADB_EALG_AES, &[5; 16]);
    s.idle = Some(Lifetime {
        addtime: 60,
        ..Lifetime::default()
    });
    r.send(0, DAEMON, &build::add(s, 1, PID).unwrap());
    r.drain();
    r.e.handle_timeout(r.at(60));
    let m = SadbMsg::parse(&r.to(DAEMON)[0]).unwrap();
    assert!(m.lifetime(LifetimeKind::Idle).is_some());
    assert_eq!(m.sa().unwrap().state, SadbSaState::SADB_SASTATE_MATURE);
    assert_eq!(r.e.poll_timeout(), Some(r.at(68)));
    r.e.record_bytes(r.at(65), Direction::Inbound, 0x10, LOCAL.into(), 10);
    assert_eq!(
        r.e.poll_timeout(),
        Some(r.at(125)),
        "traffic pushes the idle deadline"
    );
}

#[test]
fn update_moves_child_sa_to_new_ikev2_cookie_but_not_ikev1() {
    let mut r = Rig::new();
    let mut s = host_sa(0x10, Way::Inbound, SadbEalg::SADB_EALG_AES, &[5; 16]);
    s.kmc = Some(ikev2(1));
    r.send(0, DAEMON, &build::add(s, 1, PID).unwrap());
    r.drain();
    let upd = recookie_0x10(SadbMsgType::SADB_UPDATE, ikev2(99), 2);
    r.send(1, DAEMON, &upd.to_bytes().unwrap());
    assert_eq!(r.daemon_errno(), Errno::OK);
    assert_eq!(
        r.e.lookup_inbound(0x10, LOCAL.into()).unwrap().kmc.cookie,
        99
    );
}

// ------------------------------------------------------------ error paths

/// Who hears an error reply: keysock answers most requests on every
/// socket, some only on the sender's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Delivery {
    Everyone,
    Sender,
}

impl Rig {
    /// Send `req` from the daemon and check the single reply header: header
    /// only, type/seq/pid echoed, errno + diagnostic as illumos gives them.
    fn expect_error(&mut self, req: &[u8], errno: Errno, diag: SadbDiagnostic, to: Delivery) {
        let hdr = peek_header(req).unwrap();
        self.send(0, DAEMON, req);
        let out = self.drain();
        assert_eq!(
            out.len(),
            if to == Delivery::Everyone { 2 } else { 1 },
            "delivery of {hdr:?}"
        );
        for (_, b) in &out {
            let m = SadbMsg::parse(b).unwrap();
            assert_eq!(b.len(), 16, "error replies are header-only");
            assert_eq!(
                (m.header.errno, m.header.diagnostic),
                (errno, diag),
                "for {:?}",
                hdr.msg_type
            );
            assert_eq!((m.header.seq, m.header.pid), (hdr.seq, hdr.pid));
            let want_type = if hdr.msg_type.0 > 15 {
                SadbMsgType::SADB_RESERVED
            } else {
                hdr.msg_type
            };
            assert_eq!(m.header.msg_type, want_type);
        }
    }

    /// [`Rig::expect_error`] for the common case: EINVAL to every socket.
    fn rejects(&mut self, req: &[u8], diag: SadbDiagnostic) {
        self.expect_error(req, Errno::EINVAL, diag, Delivery::Everyone);
    }
}

/// `msg_type` (UPDATE or X_UPDATEPAIR) moving inbound SA 0x10 to `kmc`.
fn recookie_0x10(msg_type: SadbMsgType, kmc: KmCookie, seq: u32) -> SadbMsg {
    let (esp, inbound) = (
        SadbSaType::SADB_SATYPE_ESP,
        SadbSaFlags::SADB_X_SAFLAGS_INBOUND,
    );
    let (src, dst) = (addr(v4(PEER)), addr(v4(LOCAL)));
    build::update_cookie(msg_type, esp, 0x10, inbound, src, dst, kmc, seq, PID)
}

fn good_add() -> SadbMsg {
    let s = host_sa(
        0x4242,
        Way::Outbound,
        SadbEalg::SADB_EALG_AES_GCM_16,
        &[0x11; 20],
    );
    build::sa_msg(s, SadbMsgType::SADB_ADD, 77, PID)
}

/// A message as it goes on the wire.
fn wire(m: &SadbMsg) -> Vec<u8> {
    m.to_bytes().unwrap().to_vec()
}

/// [`good_add`] with `flag` added to its SA's flags.
fn with_sa_flag(flag: SadbSaFlags) -> Vec<u8> {
    with_sa(good_add(), |s| s.flags = s.flags.union(flag))
}

/// [`good_add`] with a soft lifetime (20) beyond its hard one (10) in the
/// field `set` writes.
fn soft_beyond_hard(set: impl Fn(&mut Lifetime, u64)) -> Vec<u8> {
    let mut m = good_add();
    for (kind, n) in [(LifetimeKind::Hard, 10), (LifetimeKind::Soft, 20)] {
        let mut l = Lifetime::default();
        set(&mut l, n);
        m.exts.push(Extension::Lifetime(kind, l));
    }
    wire(&m)
}

/// [`good_add`] for another SA type.
fn with_satype(satype: SadbSaType) -> Vec<u8> {
    let mut m = good_add();
    m.header.satype = satype;
    wire(&m)
}

/// [`good_add`] with `key` as its only key extension.
fn with_encr_key(key: KeyExt) -> SadbMsg {
    let mut m = good_add();
    m.exts.retain(|e| !e.is_key());
    m.exts.push(Extension::Key(KeyKind::Encrypt, key));
    m
}

fn without(mut m: SadbMsg, t: SadbExtType) -> Vec<u8> {
    m.exts.retain(|e| e.ext_type() != t);
    wire(&m)
}

fn with_sa(mut m: SadbMsg, mut f: impl FnMut(&mut SaExt)) -> Vec<u8> {
    for e in &mut m.exts {
        if let Extension::Sa(s) = e {
            f(s);
        }
    }
    wire(&m)
}

fn with_ext(mut m: SadbMsg, e: Extension) -> Vec<u8> {
    m.exts.push(e);
    wire(&m)
}

fn replace_addr(mut m: SadbMsg, k: AddressKind, a: SockAddr) -> Vec<u8> {
    for e in &mut m.exts {
        if let Extension::Address(kk, x) = e {
            if *kk == k {
                x.addr = a.clone();
            }
        }
    }
    wire(&m)
}

#[test]
fn add_error_paths_give_illumos_errno_and_diagnostic() {
    use SadbDiagnostic as D;
    let mut r = Rig::new();
    let inval = Errno::EINVAL;
    let cases: Vec<(&str, Vec<u8>, Errno, SadbDiagnostic)> = vec![
        (
            "missing SRC",
            without(good_add(), SadbExtType::SADB_EXT_ADDRESS_SRC),
            inval,
            D::SADB_X_DIAGNOSTIC_MISSING_SRC,
        ),
        (
            "missing DST",
            without(good_add(), SadbExtType::SADB_EXT_ADDRESS_DST),
            inval,
            D::SADB_X_DIAGNOSTIC_MISSING_DST,
        ),
        (
            "missing SA",
            without(good_add(), SadbExtType::SADB_EXT_SA),
            inval,
            D::SADB_X_DIAGNOSTIC_MISSING_SA,
        ),
        (
            "missing EKEY",
            without(good_add(), SadbExtType::SADB_EXT_KEY_ENCRYPT),
            inval,
            D::SADB_X_DIAGNOSTIC_MISSING_EKEY,
        ),
        (
            "LARVAL state",
            with_sa(good_add(), |s| s.state = SadbSaState::SADB_SASTATE_LARVAL),
            inval,
            D::SADB_X_DIAGNOSTIC_BAD_SASTATE,
        ),
        (
            "encr NONE",
            with_sa(good_add(), |s| s.encrypt = SadbEalg::SADB_EALG_NONE),
            inval,
            D::SADB_X_DIAGNOSTIC_BAD_EALG,
        ),
        (
            "PFS flag",
            with_sa_flag(SadbSaFlags::SADB_SAFLAGS_PFS),
            inval,
            D::SADB_X_DIAGNOSTIC_BAD_SAFLAGS,
        ),
        (
            "USED flag",
            with_sa_flag(SadbSaFlags::SADB_X_SAFLAGS_USED),
            inval,
            D::SADB_X_DIAGNOSTIC_BAD_SAFLAGS,
        ),
        (
            "unknown encr alg",
            with_sa(good_add(), |s| s.encrypt = SadbEalg(13)),
            inval,
            D::SADB_X_DIAGNOSTIC_BAD_EALG,
        ),
        (
            "GCM key bits 96+32",
            wire(&with_encr_key(KeyExt::from_material(&[3; 16]).unwrap())),
            inval,
            D::SADB_X_DIAGNOSTIC_BAD_EKEYBITS,
        ),
        (
            "auth key for unknown alg",
            with_ext(
                good_add(),
                Extension::Key(KeyKind::Auth, KeyExt::from_material(&[3; 16]).unwrap()),
            ),
            inval,
            D::SADB_X_DIAGNOSTIC_BAD_AALG,
        ),
        (
            "soft > hard addtime",
            soft_beyond_hard(|l, n| l.addtime = n),
            inval,
            D::SADB_X_DIAGNOSTIC_ADDTIME_HSERR,
        ),
        (
            "soft > hard bytes",
            soft_beyond_hard(|l, n| l.bytes = n),
            inval,
            D::SADB_X_DIAGNOSTIC_BYTES_HSERR,
        ),
        (
            "NATT_LOC flag without ext",
            with_sa_flag(SadbSaFlags::SADB_X_SAFLAGS_NATT_LOC),
            inval,
            D::SADB_X_DIAGNOSTIC_MISSING_NATT_LOC,
        ),
        (
            "NATT_REM flag without ext",
            with_sa_flag(SadbSaFlags::SADB_X_SAFLAGS_NATT_REM),
            inval,
            D::SADB_X_DIAGNOSTIC_MISSING_NATT_REM,
        ),
        (
            "CURRENT lifetime",
            with_ext(
                good_add(),
                Extension::Lifetime(LifetimeKind::Current, Lifetime::default()),
            ),
            Errno::EOPNOTSUPP,
            D::SADB_X_DIAGNOSTIC_NONE,
        ),
        (
            "SENSITIVITY",
            with_ext(
                good_add(),
                Extension::Sensitivity(SensKind::Sensitivity, SensExt::default()),
            ),
            inval,
            D::SADB_X_DIAGNOSTIC_BAD_LABEL,
        ),
        (
            "PROPOSAL present",
            with_ext(good_add(), Extension::Proposal(ProposalExt::default())),
            inval,
            D::SADB_X_DIAGNOSTIC_PROP_PRESENT,
        ),
        (
            "SUPPORTED present",
            with_ext(
                good_add(),
                Extension::Supported(SupportedKind::Auth, vec![]),
            ),
            inval,
            D::SADB_X_DIAGNOSTIC_SUPP_PRESENT,
        ),
        (
            "TUNNEL without inner",
            with_sa_flag(SadbSaFlags::SADB_X_SAFLAGS_TUNNEL),
            inval,
            D::SADB_X_DIAGNOSTIC_MISSING_INNER_SRC,
        ),
        (
            "inner SRC only",
            with_ext(
                good_add(),
                Extension::Address(AddressKind::InnerSrc, addr(v4(Ipv4Addr::new(10, 0, 0, 0)))),
            ),
            inval,
            D::SADB_X_DIAGNOSTIC_MISSING_INNER_DST,
        ),
        (
            "replay64 only",
            with_ext(
                good_add(),
                Extension::ReplayValue(ReplayValue {
                    replay32: 0,
                    replay64: 5,
                }),
            ),
            Errno::EOPNOTSUPP,
            D::SADB_X_DIAGNOSTIC_INVALID_REPLAY,
        ),
        (
            "DST unspecified",
            replace_addr(good_add(), AddressKind::Dst, v4(Ipv4Addr::UNSPECIFIED)),
            inval,
            D::SADB_X_DIAGNOSTIC_BAD_DST,
        ),
        (
            "SRC multicast",
            replace_addr(
                good_add(),
                AddressKind::Src,
                v4(Ipv4Addr::new(224, 0, 0, 1)),
            ),
            inval,
            D::SADB_X_DIAGNOSTIC_BAD_SRC,
        ),
        (
            "AF mismatch",
            replace_addr(
                good_add(),
                AddressKind::Src,
                SockAddr::from_ip("2001:db8::1".parse().unwrap()),
            ),
            inval,
            D::SADB_X_DIAGNOSTIC_AF_MISMATCH,
        ),
        (
            "SRC family 99",
            replace_addr(
                good_add(),
                AddressKind::Src,
                SockAddr::Other {
                    family: 99,
                    data: vec![0; 14],
                },
            ),
            inval,
            D::SADB_X_DIAGNOSTIC_BAD_SRC_AF,
        ),
        (
            "NATT_LOC IPv6",
            with_ext(
                good_add(),
                Extension::Address(
                    AddressKind::NattLoc,
                    addr(SockAddr::from_ip("2001:db8::9".parse().unwrap())),
                ),
            ),
            inval,
            D::SADB_X_DIAGNOSTIC_MALFORMED_NATT_LOC,
        ),
        (
            "NATT_LOC is a local address",
            with_ext(
                good_add(),
                Extension::Address(AddressKind::NattLoc, addr(v4(LOCAL))),
            ),
            inval,
            D::SADB_X_DIAGNOSTIC_MALFORMED_NATT_LOC,
        ),
        (
            "satype 0",
            with_satype(SadbSaType::SADB_SATYPE_UNSPEC),
            inval,
            D::SADB_X_DIAGNOSTIC_SATYPE_NEEDED,
        ),
        (
            "satype 9",
            with_satype(SadbSaType(9)),
            inval,
            D::SADB_X_DIAGNOSTIC_UNKNOWN_SATYPE,
        ),
    ];
    let n = cases.len();
    for (what, bytes, errno, diag) in cases {
        eprintln!("case: {what}");
        r.expect_error(&bytes, errno, diag, Delivery::Everyone);
    }
    assert_eq!(r.e.sa_count(), 0, "no failed ADD left an SA ({n} cases)");
    // And the good one works, then collides.
    r.send(0, DAEMON, &good_add().to_bytes().unwrap());
    assert_eq!(r.daemon_errno(), Errno::OK);
    r.expect_error(
        &good_add().to_bytes().unwrap(),
        Errno::EEXIST,
        D::SADB_X_DIAGNOSTIC_NONE,
        Delivery::Everyone,
    );
}

#[test]
fn framing_errors_follow_keysock() {
    use SadbDiagnostic as D;
    let mut r = Rig::new();
    let good = good_add().to_bytes().unwrap().to_vec();
    // Byte count ≠ sadb_msg_len × 8.
    let mut short = good.clone();
    short.truncate(good.len() - 8);
    r.expect_error(
        &short,
        Errno::EMSGSIZE,
        D::SADB_X_DIAGNOSTIC_NONE,
        Delivery::Everyone,
    );
    // Unknown message type → type rewritten to 0, sender only.
    let mut t = h("021000030200000009000000d2040000");
    r.expect_error(
        &t,
        Errno::EINVAL,
        D::SADB_X_DIAGNOSTIC_UNKNOWN_MSG,
        Delivery::Sender,
    );
    t[1] = 0;
    r.expect_error(
        &t,
        Errno::EINVAL,
        D::SADB_X_DIAGNOSTIC_UNKNOWN_MSG,
        Delivery::Sender,
    );
    // keysock checks extensions before the message type: an unknown type
    // with an unknown extension reports the extension.
    let mut t2 = h("021000030300000009000000d20400000100ff0000000000");
    r.expect_error(
        &t2,
        Errno::EINVAL,
        D::SADB_X_DIAGNOSTIC_UNKNOWN_EXT,
        Delivery::Sender,
    );
    t2[18] = 23; // a PAIR extension: framing fine, so the type is judged
    r.expect_error(
        &t2,
        Errno::EINVAL,
        D::SADB_X_DIAGNOSTIC_UNKNOWN_MSG,
        Delivery::Sender,
    );
    // Each extension is fully checked before the next is looked at: a
    // header-only SRC before an unknown type-29 extension is MALFORMED_SRC.
    r.rejects(
        &h("020300030400000009000000d204000001000500000000000100ff0000000000"),
        D::SADB_X_DIAGNOSTIC_MALFORMED_SRC,
    );
    // A user ACQUIRE without errno needs a satype (even when extended).
    r.expect_error(
        &h("020600000200000009000000d2040000"),
        Errno::EINVAL,
        D::SADB_X_DIAGNOSTIC_SATYPE_NEEDED,
        Delivery::Sender,
    );
    // Unknown extension type 29.
    let mut m = good.clone();
    m[16 + 2] = 29; // first extension (SA) type
    r.rejects(&m, D::SADB_X_DIAGNOSTIC_UNKNOWN_EXT);
    // Extension length 0.
    let mut m = good.clone();
    m[16] = 0;
    r.rejects(&m, D::SADB_X_DIAGNOSTIC_BAD_EXTLEN);
    // Extension running past the message.
    let mut m = good.clone();
    m[16] = 200;
    r.rejects(&m, D::SADB_X_DIAGNOSTIC_BAD_EXTLEN);
    // Duplicate SRC / SA / EKEY.
    for (t, d) in [
        (
            SadbExtType::SADB_EXT_ADDRESS_SRC,
            D::SADB_X_DIAGNOSTIC_DUPLICATE_SRC,
        ),
        (SadbExtType::SADB_EXT_SA, D::SADB_X_DIAGNOSTIC_DUPLICATE_SA),
        (
            SadbExtType::SADB_EXT_KEY_ENCRYPT,
            D::SADB_X_DIAGNOSTIC_DUPLICATE_EKEY,
        ),
    ] {
        let msg = good_add();
        let ext = msg.ext(t).unwrap().duplicate();
        let b = msg.to_bytes().unwrap();
        let mut e = vec![0u8; ext.buffer_len()];
        let one = SadbMsg::new(SadbHeader::new(
            SadbMsgType::SADB_ADD,
            SadbSaType::SADB_SATYPE_ESP,
            0,
            0,
        ))
        .with(ext);
        e.copy_from_slice(&one.to_bytes().unwrap()[16..]);
        let mut dup = b.to_vec();
        dup.extend_from_slice(&e);
        let words = u16::try_from(dup.len() / 8).unwrap();
        dup[4..6].copy_from_slice(&words.to_le_bytes());
        r.rejects(&dup, d);
    }
    // Address extension with nothing after its header.
    let mut m = good_add();
    m.exts
        .retain(|e| e.ext_type() != SadbExtType::SADB_EXT_ADDRESS_SRC);
    let mut b = wire(&m);
    b.extend_from_slice(&[1, 0, 5, 0, 0, 0, 0, 0]);
    let words = u16::try_from(b.len() / 8).unwrap();
    b[4..6].copy_from_slice(&words.to_le_bytes());
    r.rejects(&b, D::SADB_X_DIAGNOSTIC_MALFORMED_SRC);
    // Key extension: all-zero key, zero bits, inexact length.
    for (bits, data) in [
        (160u16, vec![0u8; 24]),
        (0, vec![1; 24]),
        (160, vec![1; 32]),
    ] {
        let m = with_encr_key(KeyExt::from_raw(bits, 0, zeroize::Zeroizing::new(data)));
        r.rejects(&m.to_bytes().unwrap(), D::SADB_X_DIAGNOSTIC_MALFORMED_EKEY);
    }
    // Lifetime of the wrong length (no dedicated diagnostic → 0).
    let mut b = good;
    b.extend_from_slice(&[
        3, 0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ]);
    let words = u16::try_from(b.len() / 8).unwrap();
    b[4..6].copy_from_slice(&words.to_le_bytes());
    r.rejects(&b, D::SADB_X_DIAGNOSTIC_NONE);
    // SPIRANGE min > max.
    let gs = getspi(9, 8, 3);
    r.rejects(
        &gs.to_bytes().unwrap(),
        D::SADB_X_DIAGNOSTIC_MALFORMED_RANGE,
    );
}

#[test]
fn other_message_error_paths() {
    use SadbDiagnostic as D;
    let mut r = Rig::new();
    let esp = SadbSaType::SADB_SATYPE_ESP;
    // GETSPI without SPIRANGE.
    let mut gs = getspi(1, 2, 3);
    gs.exts.pop();
    r.rejects(&gs.to_bytes().unwrap(), D::SADB_X_DIAGNOSTIC_MISSING_RANGE);
    // DELETE / GET / UPDATE of an unknown SA.
    let del = esp_op(
        SadbMsgType::SADB_DELETE,
        0x77,
        SadbSaFlags::default(),
        LOCAL,
        4,
    );
    r.expect_error(
        &del.to_bytes().unwrap(),
        Errno::ESRCH,
        D::SADB_X_DIAGNOSTIC_SA_NOTFOUND,
        Delivery::Everyone,
    );
    let get = esp_op(
        SadbMsgType::SADB_GET,
        0x77,
        SadbSaFlags::default(),
        LOCAL,
        5,
    );
    r.expect_error(
        &get.to_bytes().unwrap(),
        Errno::ESRCH,
        D::SADB_X_DIAGNOSTIC_SA_NOTFOUND,
        Delivery::Sender,
    );
    let upd = build::update_cookie(
        SadbMsgType::SADB_UPDATE,
        esp,
        0x77,
        SadbSaFlags::default(),
        addr(v4(PEER)),
        addr(v4(LOCAL)),
        KmCookie::default(),
        6,
        PID,
    );
    r.expect_error(
        &upd.to_bytes().unwrap(),
        Errno::ESRCH,
        D::SADB_X_DIAGNOSTIC_SA_NOTFOUND,
        Delivery::Everyone,
    );
    // DELETE without SA and without addresses.
    let purge = SadbMsg::new(SadbHeader::new(SadbMsgType::SADB_DELETE, esp, 7, PID));
    r.rejects(&purge.to_bytes().unwrap(), D::SADB_X_DIAGNOSTIC_MISSING_SA);
    // User EXPIRE; FLUSH with an extension.
    r.expect_error(
        &h("020800030200000008000000d2040000"),
        Errno::EOPNOTSUPP,
        D::SADB_X_DIAGNOSTIC_NONE,
        Delivery::Everyone,
    );
    let fl = build::flush(esp, 9, PID).with(Extension::Pair(1));
    r.rejects(&fl.to_bytes().unwrap(), D::SADB_X_DIAGNOSTIC_NO_EXT);
    // REGISTER: unknown satype; satype 0 without EREG; regular after extended.
    r.expect_error(
        &h("020700090200000001000000d2040000"),
        Errno::EINVAL,
        D::SADB_X_DIAGNOSTIC_UNKNOWN_SATYPE,
        Delivery::Sender,
    );
    r.expect_error(
        &h("020700000200000001000000d2040000"),
        Errno::EINVAL,
        D::SADB_X_DIAGNOSTIC_SATYPE_NEEDED,
        Delivery::Sender,
    );
    r.expect_error(
        &h("020700030200000001000000d2040000"),
        Errno::EBUSY,
        D::SADB_X_DIAGNOSTIC_NONE,
        Delivery::Sender,
    );
    // INVERSE_ACQUIRE without DST.
    let mut ia = build::inverse_acquire(addr(v4(LOCAL)), addr(v4(PEER)), None, 10, PID);
    ia.exts.pop();
    r.expect_error(
        &ia.to_bytes().unwrap(),
        Errno::EINVAL,
        D::SADB_X_DIAGNOSTIC_MISSING_DST,
        Delivery::Sender,
    );
}

#[test]
fn established_sa_update_and_pair_errors() {
    use SadbDiagnostic as D;
    let mut r = Rig::new();
    let mut s = host_sa(0x10, Way::Inbound, SadbEalg::SADB_EALG_AES, &[5; 16]);
    s.kmc = Some(KmCookie {
        proto: SadbKmp::SADB_X_KMP_IKE,
        cookie: 1,
    });
    r.send(0, DAEMON, &build::add(s, 1, PID).unwrap());
    r.drain();
    let upd = |kmc: KmCookie, seq| recookie_0x10(SadbMsgType::SADB_UPDATE, kmc, seq);
    let m = upd(ikev2(1), 2);
    r.rejects(&m.to_bytes().unwrap(), D::SADB_X_DIAGNOSTIC_DUPLICATE_KMP);
    let m = upd(
        KmCookie {
            proto: SadbKmp::SADB_X_KMP_IKE,
            cookie: 2,
        },
        3,
    );
    r.rejects(&m.to_bytes().unwrap(), D::SADB_X_DIAGNOSTIC_DUPLICATE_KMC);
    let mut m = upd(KmCookie::default(), 4);
    m.exts.push(Extension::Key(
        KeyKind::Encrypt,
        KeyExt::from_material(&[5; 16]).unwrap(),
    ));
    r.rejects(&m.to_bytes().unwrap(), D::SADB_X_DIAGNOSTIC_EKEY_PRESENT);
    let m = upd(KmCookie::default(), 5);
    let b = with_sa(m, |s| {
        s.flags = s.flags.union(SadbSaFlags::SADB_X_SAFLAGS_TUNNEL)
    });
    r.rejects(&b, D::SADB_X_DIAGNOSTIC_BAD_SAFLAGS);
    let mut m = upd(KmCookie::default(), 6);
    m.exts.push(Extension::Lifetime(
        LifetimeKind::Current,
        Lifetime::default(),
    ));
    r.expect_error(
        &m.to_bytes().unwrap(),
        Errno::EOPNOTSUPP,
        D::SADB_X_DIAGNOSTIC_MISSING_LIFETIME,
        Delivery::Everyone,
    );
    let mut m = upd(KmCookie::default(), 7);
    m.header.msg_type = SadbMsgType::SADB_X_UPDATEPAIR;
    r.expect_error(
        &m.to_bytes().unwrap(),
        Errno::ESRCH,
        D::SADB_X_DIAGNOSTIC_PAIR_SA_NOTFOUND,
        Delivery::Everyone,
    );
    // PAIR naming a missing partner, then PAIR_ALREADY.
    let mut o = host_sa(0x20, Way::Outbound, SadbEalg::SADB_EALG_AES, &[6; 16]);
    o.pair = Some(0x99);
    r.rejects(
        &build::add(o, 8, PID).unwrap(),
        D::SADB_X_DIAGNOSTIC_PAIR_INAPPROPRIATE,
    );
    for (spi, seq, want) in [
        (0x20u32, 9u32, None),
        (0x21, 10, Some(D::SADB_X_DIAGNOSTIC_PAIR_ALREADY)),
    ] {
        let mut o = host_sa(spi, Way::Outbound, SadbEalg::SADB_EALG_AES, &[6; 16]);
        o.pair = Some(0x10);
        let b = build::add(o, seq, PID).unwrap();
        match want {
            None => {
                r.send(0, DAEMON, &b);
                assert_eq!(r.daemon_errno(), Errno::OK);
            }
            Some(d) => r.rejects(&b, d),
        }
    }
    // DELPAIR of an unpaired SA: deleted, but ESRCH/PAIR_SA_NOTFOUND.
    let o = host_sa(0x30, Way::Outbound, SadbEalg::SADB_EALG_AES, &[6; 16]);
    r.send(0, DAEMON, &build::add(o, 11, PID).unwrap());
    r.drain();
    let dp = esp_op(
        SadbMsgType::SADB_X_DELPAIR,
        0x30,
        SadbSaFlags::SADB_X_SAFLAGS_OUTBOUND,
        PEER,
        12,
    );
    r.expect_error(
        &dp.to_bytes().unwrap(),
        Errno::ESRCH,
        D::SADB_X_DIAGNOSTIC_PAIR_SA_NOTFOUND,
        Delivery::Everyone,
    );
    assert_eq!(r.e.sa_count(), 2);
}

#[test]
fn promiscuous_socket_sees_private_replies() {
    let mut r = Rig::new();
    r.send(0, MONITOR, &h("020b00030200000001000000d2040000"));
    assert_eq!(r.to(MONITOR).len(), 1, "PROMISC is echoed to the sender");
    r.send(0, DAEMON, &h("020700030200000001000000d2040000"));
    let out = r.drain();
    assert_eq!(
        out.len(),
        2,
        "the promiscuous monitor gets a copy of the REGISTER reply"
    );
}

#[test]
fn policy_socket_add_dump_delete_flush() {
    use SpdDiagnostic as D;
    let mut r = Rig::new();
    transport_policy(&mut r);
    // Identical rule again → EEXIST.
    let rule = transport_rule();
    let m = SpdMsg::rule(SpdMsgType::SPD_ADDRULE, SpdId::SPD_ACTIVE, &rule, 2, PID).unwrap();
    assert_eq!(r.policy(&m)[0].header.errno, Errno::EEXIST);
    // DUMP: header RULESET, 2 records (in, out), trailer with count 2.
    let d = r.policy(&SpdMsg::dump(SpdId::SPD_ACTIVE, None, 3, PID));
    assert_eq!(d.len(), 4);
    assert!(matches!(
        d[3].ext(SpdExtType::SPD_EXT_RULESET),
        Some(SpdExt::Ruleset { count: 2, .. })
    ));
    let Some(SpdExt::Action { count, attrs }) = d[1].ext(SpdExtType::SPD_EXT_ACTION) else {
        panic!()
    };
    assert_eq!(
        decode_actions(*count, attrs).unwrap(),
        vec![ActionAlt::esp(20, None, None)]
    );
    // Errors: no RULE, no ACTION, wrong action count, unsupported cipher,
    // tunnel name "" on ADDRULE, bad spdid, LOOKUP.
    let mut no_rule = m.clone();
    no_rule
        .exts
        .retain(|e| e.ext_type() != SpdExtType::SPD_EXT_RULE);
    let mut no_act = m.clone();
    no_act
        .exts
        .retain(|e| e.ext_type() != SpdExtType::SPD_EXT_ACTION);
    let mut wrong_count = m.clone();
    for e in &mut wrong_count.exts {
        if let SpdExt::Action { count, .. } = e {
            *count = 2;
        }
    }
    let chacha = SpdMsg::rule(
        SpdMsgType::SPD_ADDRULE,
        SpdId::SPD_ACTIVE,
        &PolicyRule {
            actions: vec![ActionAlt::esp(28, None, None)],
            ..rule.clone()
        },
        4,
        PID,
    )
    .unwrap();
    let global_op = SpdMsg::rule(
        SpdMsgType::SPD_ADDRULE,
        SpdId::SPD_ACTIVE,
        &PolicyRule {
            tun_name: Some(String::new()),
            ..rule.clone()
        },
        5,
        PID,
    )
    .unwrap();
    let mut bad_id = m.clone();
    bad_id.header.spdid = SpdId(7);
    let mut lookup = m.clone();
    lookup.header.msg_type = SpdMsgType::SPD_LOOKUP;
    for (msg, errno, diag) in [
        (no_rule, Errno::EINVAL, D::SPD_DIAGNOSTIC_NO_RULE_EXT),
        (no_act, Errno::EINVAL, D::SPD_DIAGNOSTIC_NO_ACTION_EXT),
        (
            wrong_count,
            Errno::EINVAL,
            D::SPD_DIAGNOSTIC_ADD_WRONG_ACT_COUNT,
        ),
        (chacha, Errno::EINVAL, D::SPD_DIAGNOSTIC_UNSUPP_ESP_ENCR_ALG),
        (global_op, Errno::EINVAL, D::SPD_DIAGNOSTIC_NOT_GLOBAL_OP),
        (bad_id, Errno::EINVAL, D::SPD_DIAGNOSTIC_BAD_SPDID),
        (lookup, Errno::EINVAL, D::SPD_DIAGNOSTIC_NONE),
    ] {
        let rep = r.policy(&msg);
        assert_eq!(rep.len(), 1);
        assert_eq!(
            (rep[0].header.errno, rep[0].header.diagnostic),
            (errno, diag),
            "{:?}",
            msg.header.msg_type
        );
        assert!(rep[0].exts.is_empty());
    }
    // DELETERULE by selectors, then again → ESRCH; FLUSH works.
    let del = SpdMsg::rule(SpdMsgType::SPD_DELETERULE, SpdId::SPD_ACTIVE, &rule, 6, PID).unwrap();
    assert_eq!(r.policy(&del)[0].header.errno, Errno::OK);
    assert_eq!(r.policy(&del)[0].header.errno, Errno::ESRCH);
    assert_eq!(
        r.policy(&SpdMsg::flush(SpdId::SPD_ACTIVE, Some(""), 7, PID))[0]
            .header
            .errno,
        Errno::OK
    );
    // Standby + FLIP, as ipsecconf does.
    let sb = SpdMsg::rule(SpdMsgType::SPD_ADDRULE, SpdId::SPD_STANDBY, &rule, 8, PID).unwrap();
    assert_eq!(r.policy(&sb)[0].header.errno, Errno::OK);
    let sel = host_selector();
    assert!(matches!(
        r.e.outbound_lookup(r.at(0), None, &sel),
        Outbound::NoPolicy
    ));
    let flip = vector("ref-8.16-spd-flip-all.bin");
    let rep = r.e.handle_policy(&flip);
    assert_eq!(rep[0], flip, "FLIP is echoed");
    assert!(
        matches!(r.e.outbound_lookup(r.at(0), None, &sel), Outbound::Drop),
        "policy active, nobody registered"
    );
}

/// Every kind of message the engine emits goes through the fuzz harness's
/// invariants; with `PFKEY_WRITE_CORPUS=1` they are also written to the
/// fuzz corpus as seeds (that is how `fuzz-corpus/pfkey_msg/engine-*` was made).
#[test]
fn engine_outputs_satisfy_fuzz_invariants() {
    let mut r = Rig::new();
    tunnel_policy(&mut r);
    transport_policy(&mut r);
    register(&mut r);
    let mut outs: Vec<Vec<u8>> = Vec::new();
    let sel = Selector {
        local: Ipv4Addr::new(10, 1, 0, 5).into(),
        remote: Ipv4Addr::new(10, 2, 3, 4).into(),
        proto: 6,
        local_port: 1,
        remote_port: 2,
    };
    r.e.outbound_lookup(r.at(0), Some("ip.tun0"), &sel);
    r.send(
        0,
        MONITOR,
        &h("020700000300000006000000d20400000100110003020000"),
    );
    let sel2 = host_selector();
    r.e.outbound_lookup(r.at(0), None, &sel2);
    r.send(0, DAEMON, &h("020c00000800000005000000d2040000030005000000000002000000c00002010000000000000000030006000000000002000000c63364010000000000000000"));
    let mut s = host_sa(0x77, Way::Inbound, SadbEalg::SADB_EALG_AES, &[1; 24]);
    s.auth = SadbAalg::SADB_AALG_SHA512HMAC;
    s.flags = s
        .flags
        .union(SadbSaFlags::SADB_X_SAFLAGS_NATT_LOC)
        .union(SadbSaFlags::SADB_X_SAFLAGS_NATT_REM);
    s.natt_loc = Some(addr(SockAddr::V4 {
        addr: Ipv4Addr::new(203, 0, 113, 5),
        port: 4501,
    }));
    s.natt_rem = Some(addr(SockAddr::V4 {
        addr: Ipv4Addr::new(10, 9, 9, 9),
        port: 4500,
    }));
    s.auth_key = Some(KeyExt::from_material(&[2; 64]).unwrap());
    s.hard = Some(Lifetime {
        addtime: 100,
        bytes: 1 << 30,
        ..Lifetime::default()
    });
    s.idle = Some(Lifetime {
        addtime: 50,
        ..Lifetime::default()
    });
    s.ident_dst = Some(IdentityExt::from_str(
        SadbIdentType::SADB_X_IDENTTYPE_DN,
        "CN=gw",
    ));
    r.send(0, DAEMON, &build::add(s, 3, PID).unwrap());
    let get = esp_op(
        SadbMsgType::SADB_GET,
        0x77,
        SadbSaFlags::default(),
        LOCAL,
        4,
    );
    r.send(0, DAEMON, &get.to_bytes().unwrap());
    r.send(0, DAEMON, &h("020a00030200000008000000d2040000"));
    r.e.handle_timeout(r.at(50));
    r.e.handle_timeout(r.at(100));
    outs.extend(r.drain().into_iter().map(|(_, b)| b));
    let d = r.e.handle_policy(
        &SpdMsg::dump(SpdId::SPD_ACTIVE, Some(""), 9, PID)
            .to_bytes()
            .unwrap(),
    );
    outs.extend(d);
    assert!(outs.len() > 15, "{}", outs.len());
    let write = std::env::var_os("PFKEY_WRITE_CORPUS").is_some();
    for (i, b) in outs.iter().enumerate() {
        pfkey::fuzzing::pfkey_msg(b);
        if write {
            let p = format!(
                "{}/fuzz-corpus/pfkey_msg/engine-{i:02}.bin",
                env!("CARGO_MANIFEST_DIR")
            );
            std::fs::write(p, b).unwrap();
        }
    }
}

/// §7.4 responder: INVERSE_ACQUIRE for tunnel mode names the iptun's outer
/// endpoints (proto 4) and the inner selectors; the reply carries them back
/// with the policy's EPROP. A selector outside the policy gets ENOENT.
#[test]
fn inverse_acquire_tunnel_mode_uses_the_tunnel_head() {
    let mut r = Rig::new();
    tunnel_policy(&mut r);
    // Outer addresses of the tunnel, inner ones of a packet to 10.2.3.4.
    let ask = |inner_src: Ipv4Addr, seq| {
        let inner_dst = a4(Ipv4Addr::new(10, 2, 3, 4), 0, 32);
        let inner = Some((a4(inner_src, 0, 32), inner_dst));
        build::inverse_acquire(a4(LOCAL, 4, 0), a4(PEER, 4, 0), inner, seq, PID)
    };
    let ia = ask(Ipv4Addr::new(10, 1, 2, 3), 20);
    r.send(0, DAEMON, &ia.to_bytes().unwrap());
    let m = SadbMsg::parse(&r.to(DAEMON)[0]).unwrap();
    assert_eq!(m.header.msg_type, SadbMsgType::SADB_ACQUIRE);
    assert_eq!(m.header.errno, Errno::OK);
    let Some(Extension::Eprop(ep)) = m.ext(SadbExtType::SADB_X_EXT_EPROP) else {
        panic!()
    };
    assert_eq!(ep.ecombs[0].algs[0].alg, 20);
    assert_eq!(ep.ecombs[0].algs[0].minbits, 128, "policy ENCR_MINBITS");
    assert!(m.address(AddressKind::InnerSrc).is_some());
    let out = ask(Ipv4Addr::new(10, 9, 0, 1), 21);
    r.send(0, DAEMON, &out.to_bytes().unwrap());
    let m = SadbMsg::parse(&r.to(DAEMON)[0]).unwrap();
    assert_eq!(
        (m.header.msg_type, m.header.errno),
        (SadbMsgType::SADB_X_INVERSE_ACQUIRE, Errno::ENOENT)
    );
}

/// §7.6: X_UPDATEPAIR moves both halves to a new IKEv2 cookie; a purge
/// DELETE (no SA extension) by KM cookie removes them.
#[test]
fn updatepair_moves_both_halves_and_purge_by_cookie() {
    let mut r = Rig::new();
    let add = |r: &mut Rig, spi, way, pair, seq| {
        let mut s = host_sa(spi, way, SadbEalg::SADB_EALG_AES, &[8; 16]);
        s.kmc = Some(ikev2(5));
        s.pair = pair;
        r.send(0, DAEMON, &build::add(s, seq, PID).unwrap());
        assert_eq!(r.daemon_errno(), Errno::OK);
    };
    add(&mut r, 0x10, Way::Inbound, None, 1);
    add(&mut r, 0x20, Way::Outbound, Some(0x10), 2);
    let up = recookie_0x10(SadbMsgType::SADB_X_UPDATEPAIR, ikev2(6), 3);
    r.send(1, DAEMON, &up.to_bytes().unwrap());
    assert_eq!(r.drain().len(), 2, "UPDATEPAIR echo goes to everyone");
    assert_eq!(
        r.e.lookup_inbound(0x10, LOCAL.into()).unwrap().kmc.cookie,
        6
    );
    let get = esp_op(
        SadbMsgType::SADB_GET,
        0x20,
        SadbSaFlags::SADB_X_SAFLAGS_OUTBOUND,
        PEER,
        9,
    );
    r.send(1, DAEMON, &get.to_bytes().unwrap());
    let g = SadbMsg::parse(&r.to(DAEMON)[0]).unwrap();
    assert_eq!(g.km_cookie().unwrap().cookie, 6, "the partner moved too");
    // Purge: DELETE with DST and the new cookie, no SA extension.
    let purge = SadbMsg::new(SadbHeader::new(
        SadbMsgType::SADB_DELETE,
        SadbSaType::SADB_SATYPE_ESP,
        4,
        PID,
    ))
    .with(Extension::Address(AddressKind::Dst, addr(v4(LOCAL))))
    .with(Extension::KmCookie(ikev2(6)));
    r.send(2, DAEMON, &purge.to_bytes().unwrap());
    let echo = SadbMsg::parse(&r.to(DAEMON)[0]).unwrap();
    assert_eq!(echo, purge, "purge reply is the request echoed");
    assert_eq!(
        r.e.sa_count(),
        1,
        "only the inbound half matched DST = local"
    );
}

/// NAT-T: the data-plane snapshot carries the UDP ports and the encap flag;
/// GET reports the NAT-T addresses with proto 17.
#[test]
fn natt_sa_snapshot_and_get() {
    let mut r = Rig::new();
    let mut s = host_sa(
        0x99,
        Way::Outbound,
        SadbEalg::SADB_EALG_AES_GCM_16,
        &[3; 20],
    );
    s.flags = s
        .flags
        .union(SadbSaFlags::SADB_X_SAFLAGS_NATT_LOC)
        .union(SadbSaFlags::SADB_X_SAFLAGS_NATT_REM);
    s.natt_loc = Some(addr(SockAddr::V4 {
        addr: Ipv4Addr::new(203, 0, 113, 7),
        port: 4501,
    }));
    s.natt_rem = Some(addr(SockAddr::V4 {
        addr: Ipv4Addr::new(198, 51, 100, 77),
        port: 4502,
    }));
    r.send(0, DAEMON, &build::add(s, 1, PID).unwrap());
    assert_eq!(r.daemon_errno(), Errno::OK);
    transport_policy(&mut r);
    let sel = host_selector();
    let Outbound::Protect(sa) = r.e.outbound_lookup(r.at(0), None, &sel) else {
        panic!()
    };
    assert!(sa.udp_encap);
    assert_eq!(
        (sa.natt_local_port, sa.natt_remote_port),
        (Some(4501), Some(4502))
    );
    let get = esp_op(
        SadbMsgType::SADB_GET,
        0x99,
        SadbSaFlags::SADB_X_SAFLAGS_OUTBOUND,
        PEER,
        2,
    );
    r.send(0, DAEMON, &get.to_bytes().unwrap());
    let g = SadbMsg::parse(&r.to(DAEMON)[0]).unwrap();
    let nl = g.address(AddressKind::NattLoc).unwrap();
    assert_eq!((nl.proto, nl.addr.port()), (17, 4501));
    assert!(g.address(AddressKind::NattRem).is_some());
}

/// With an extended-registered socket the kernel sends the extended
/// ACQUIRE (satype 0, EPROP) first, then the regular one.
#[test]
fn extended_and_regular_acquire_both_sent() {
    let mut r = Rig::new();
    transport_policy(&mut r);
    register(&mut r);
    r.send(
        0,
        MONITOR,
        &h("020700000300000006000000d20400000100110003020000"),
    );
    r.drain();
    let sel = host_selector();
    let _ = r.e.outbound_lookup(r.at(0), None, &sel);
    let out = r.drain();
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].0, MONITOR);
    let ext = SadbMsg::parse(&out[0].1).unwrap();
    assert_eq!(ext.header.satype, SadbSaType::SADB_SATYPE_UNSPEC);
    assert!(ext.ext(SadbExtType::SADB_X_EXT_EPROP).is_some());
    assert_eq!(out[1].0, DAEMON);
    let reg = SadbMsg::parse(&out[1].1).unwrap();
    assert_eq!(reg.header.satype, SadbSaType::SADB_SATYPE_ESP);
    assert_eq!(reg.header.seq, ext.header.seq);
}

/// spdsock details: ALGLIST lists the table (auth algorithms twice), and a
/// duplicate extension reports the diagnostic of the *next* type (the
/// kernel's off-by-one table, reference §6.9).
#[test]
fn policy_alglist_and_duplicate_quirk() {
    let mut r = Rig::new();
    let al = SpdMsg::new(SpdHeader::new(
        SpdMsgType::SPD_ALGLIST,
        SpdId::SPD_ACTIVE,
        1,
        PID,
    ));
    let rep = r.policy(&al);
    let Some(SpdExt::Action { count, attrs }) = rep[0].ext(SpdExtType::SPD_EXT_ACTION) else {
        panic!()
    };
    assert_eq!(*count, 4 * 2 + 7);
    assert_eq!(decode_actions(*count, attrs).unwrap().len(), 15);
    assert!(attrs
        .iter()
        .any(|a| a.tag == SpdAttrTag::SPD_ATTR_ESP_ENCR && a.value == 20));
    assert!(!attrs
        .iter()
        .any(|a| a.tag == SpdAttrTag::SPD_ATTR_ESP_ENCR && a.value == 28));
    // Duplicate RULE (type 7) → DUPLICATE_RULESET (26).
    let m = SpdMsg::flush(SpdId::SPD_ACTIVE, None, 2, PID).with(SpdExt::Rule(SpdRule::default()));
    let mut b = m.to_bytes().unwrap();
    let ext = b[16..].to_vec();
    b.extend_from_slice(&ext);
    let words = u16::try_from(b.len() / 8).unwrap();
    b[4..6].copy_from_slice(&words.to_le_bytes());
    let rep = r.e.handle_policy(&b);
    let e = SpdMsg::parse(&rep[0]).unwrap();
    assert_eq!(
        (e.header.errno, e.header.diagnostic, rep[0].len()),
        (
            Errno::EINVAL,
            SpdDiagnostic::SPD_DIAGNOSTIC_DUPLICATE_RULESET,
            16
        )
    );
    // A byte count that disagrees with spd_msg_len: EMSGSIZE.
    let mut short = m.to_bytes().unwrap();
    short.truncate(16);
    let rep = r.e.handle_policy(&short);
    assert_eq!(
        SpdMsg::parse(&rep[0]).unwrap().header.errno,
        Errno::EMSGSIZE
    );
}
