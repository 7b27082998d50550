//! The illumos backend's request construction and reply matching
//! (`build` + `PfKeyClient`, i.e. everything but the kernel socket) driven
//! against the userland engine: the bytes it sends are the reference's
//! worked examples, byte for byte. Then the same client over the engine's
//! real SOCK_SEQPACKET server.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::net::Ipv4Addr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use pfkey::build::{self, addr};
use pfkey::engine::{ClientId, Engine, EngineConfig, Outbound, Selector};
use pfkey::registry::*;
use pfkey::transport::{PfKeyClient, SeqpacketTransport, Transport};
use pfkey::wire::*;
use pfkey::Error;
use zeroize::Zeroizing;

mod sadb_common;
use sadb_common::{
    delpair_8_6, esp_op, getspi, host_sa, inbound_spec, outbound_spec, v4, vector, Way, LOCAL,
    PEER, PID,
};

type Queues = HashMap<ClientId, VecDeque<Zeroizing<Vec<u8>>>>;

/// An in-process engine shared by several loopback sockets.
#[derive(Clone)]
struct Shared {
    engine: Rc<RefCell<Engine>>,
    queues: Rc<RefCell<Queues>>,
    t0: Instant,
}

impl Shared {
    fn new() -> Self {
        let t0 = Instant::now();
        let cfg = EngineConfig {
            local_addrs: vec![LOCAL.into()],
            ..EngineConfig::default()
        };
        Self {
            engine: Rc::new(RefCell::new(Engine::new(cfg, t0, 1_700_000_000))),
            queues: Rc::default(),
            t0,
        }
    }
    fn pump(&self) {
        let mut e = self.engine.borrow_mut();
        while let Some(o) = e.poll_output() {
            self.queues
                .borrow_mut()
                .entry(o.to)
                .or_default()
                .push_back(o.bytes);
        }
    }
    fn socket(&self, id: ClientId) -> Loop {
        self.engine.borrow_mut().add_client(id);
        Loop {
            shared: self.clone(),
            id,
            sent: Vec::new(),
        }
    }
}

struct Loop {
    shared: Shared,
    id: ClientId,
    sent: Vec<Vec<u8>>,
}

impl Transport for Loop {
    fn send(&mut self, msg: &[u8]) -> Result<(), Error> {
        self.sent.push(msg.to_vec());
        let now = self.shared.t0 + Duration::from_secs(1);
        self.shared
            .engine
            .borrow_mut()
            .handle_message(now, self.id, msg);
        self.shared.pump();
        Ok(())
    }
    fn recv(&mut self) -> Result<Zeroizing<Vec<u8>>, Error> {
        self.shared.pump();
        self.shared
            .queues
            .borrow_mut()
            .entry(self.id)
            .or_default()
            .pop_front()
            .ok_or_else(|| {
                Error::Io(std::io::Error::new(
                    std::io::ErrorKind::WouldBlock,
                    "no message",
                ))
            })
    }
}

#[test]
fn backend_requests_are_the_reference_bytes() {
    let shared = Shared::new();
    shared
        .engine
        .borrow_mut()
        .configure_tunnel(pfkey::engine::Tunnel {
            name: "ip.tun0".into(),
            local: LOCAL.into(),
            remote: PEER.into(),
        });
    let rep = shared
        .engine
        .borrow_mut()
        .handle_policy(&vector("ref-8.15-spd-addrule-tunnel.bin"));
    assert_eq!(SpdMsg::parse(&rep[0]).unwrap().header.errno, Errno::OK);
    let mut c = PfKeyClient::new(shared.socket(1), PID);
    let mut monitor = PfKeyClient::new(shared.socket(2), 99);

    // REGISTER, seq 1 (§8.1).
    let sup = c.register(SadbSaType::SADB_SATYPE_ESP).unwrap();
    assert_eq!(sup.encrypt.len(), 7);
    assert!(sup.encrypt.iter().all(|a| a.id != 28), "no ChaCha20");

    // ACQUIRE from the data plane, seen by the registered client.
    let sel = Selector {
        local: Ipv4Addr::new(10, 1, 0, 9).into(),
        remote: Ipv4Addr::new(10, 2, 0, 9).into(),
        proto: 0,
        local_port: 0,
        remote_port: 0,
    };
    let out = shared
        .engine
        .borrow_mut()
        .outbound_lookup(shared.t0, Some("ip.tun0"), &sel);
    assert!(matches!(out, Outbound::Acquire { seq: 0xffff_fffe }));
    shared.pump();
    let acq = c.recv_any().unwrap();
    assert_eq!(
        (acq.header.msg_type, acq.header.seq),
        (SadbMsgType::SADB_ACQUIRE, 0xffff_fffe)
    );

    // GETSPI, seq 2 (§8.2).
    let seq = c.next_seq();
    let gs = getspi(0x100, 0xffff_ffff, seq);
    let r = c.request(&gs).unwrap();
    let random_spi = r.sa().unwrap().spi;
    // Drop that larval and reserve the reference's SPI instead.
    let del = esp_op(
        SadbMsgType::SADB_DELETE,
        random_spi,
        SadbSaFlags::default(),
        LOCAL,
        100,
    );
    c.request(&del).unwrap();
    let gs2 = getspi(0x9a3c_71e5, 0x9a3c_71e5, 101);
    assert_eq!(c.request(&gs2).unwrap().sa().unwrap().spi, 0x9a3c_71e5);

    // UPDATE seq 3 (§8.4), ADD with the ACQUIRE's seq (§8.5).
    let upd = build::update(inbound_spec(), 3, PID).unwrap();
    c.request_bytes(&upd, SadbMsgType::SADB_UPDATE, 3).unwrap();
    let add = build::add(outbound_spec(), 0xffff_fffe, PID).unwrap();
    let echo = c
        .request_bytes(&add, SadbMsgType::SADB_ADD, 0xffff_fffe)
        .unwrap();
    assert!(echo
        .sa()
        .unwrap()
        .flags
        .contains(SadbSaFlags::SADB_X_SAFLAGS_PAIRED));

    // INVERSE_ACQUIRE seq 5 (§8.9): tunnel endpoints with inner selectors.
    let ia = build::inverse_acquire(addr(v4(LOCAL)), addr(v4(PEER)), None, 5, PID);
    // Transport-mode question on a tunnel-only configuration: ENOENT.
    match c.request(&ia) {
        Err(Error::Kernel {
            errno: Errno::ENOENT,
            msg_type: SadbMsgType::SADB_X_INVERSE_ACQUIRE,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }

    // X_DELPAIR seq 4 (§8.6), FLUSH seq 7 (§8.13), DUMP seq 8 (§8.14).
    c.request(&delpair_8_6()).unwrap();
    assert_eq!(shared.engine.borrow().sa_count(), 0);
    c.set_last_seq(6);
    c.flush(SadbSaType::SADB_SATYPE_ESP).unwrap();
    assert!(c.dump(SadbSaType::SADB_SATYPE_ESP).unwrap().is_empty());
    // Abort (§8.8): no reply, so sent raw.
    let abort = build::acquire_abort(SadbSaType::SADB_SATYPE_ESP, Errno::ETIME, 0xffff_fffe, PID);
    c.transport_mut().send(&abort.to_bytes().unwrap()).unwrap();

    let sent = &c.transport_mut().sent;
    let expect = [
        (0, "ref-8.1-register-esp.bin"),
        (1, "ref-8.2-getspi.bin"),
        (4, "ref-8.4-update-inbound-gcm-tunnel.bin"),
        (5, "ref-8.5-add-outbound-gcm-tunnel-pair.bin"),
        (6, "ref-8.9-inverse-acquire.bin"),
        (7, "ref-8.6-delpair.bin"),
        (8, "ref-8.13-flush-esp.bin"),
        (9, "ref-8.14-dump-esp.bin"),
        (10, "ref-8.8-acquire-abort.bin"),
    ];
    for (i, name) in expect {
        assert_eq!(
            hex::encode(&sent[i]),
            hex::encode(vector(name)),
            "request #{i} vs {name}"
        );
    }

    // The monitor saw every broadcast (GETSPI ×2, DELETE, UPDATE, ADD,
    // DELPAIR, FLUSH) as notifications, none of its own.
    let mut types = Vec::new();
    while let Ok(m) = monitor.recv_any() {
        types.push(m.header.msg_type);
    }
    assert_eq!(
        types,
        vec![
            SadbMsgType::SADB_GETSPI,
            SadbMsgType::SADB_DELETE,
            SadbMsgType::SADB_GETSPI,
            SadbMsgType::SADB_UPDATE,
            SadbMsgType::SADB_ADD,
            SadbMsgType::SADB_X_DELPAIR,
            SadbMsgType::SADB_FLUSH,
        ]
    );
}

#[test]
fn extended_register_bytes_and_reply_matching_ignores_other_pids() {
    let shared = Shared::new();
    let mut a = PfKeyClient::new(shared.socket(1), PID);
    let mut b = PfKeyClient::new(shared.socket(2), 4321);
    // b's FLUSH (broadcast) arrives at a before a's own reply.
    let fl = build::flush(SadbSaType::SADB_SATYPE_ESP, 6, 4321);
    b.transport_mut().send(&fl.to_bytes().unwrap()).unwrap();
    let reg = build::register_extended(
        &[SadbSaType::SADB_SATYPE_ESP, SadbSaType::SADB_SATYPE_AH],
        6,
        PID,
    );
    let r = a.request(&reg).unwrap();
    assert_eq!(r.header.satype, SadbSaType::SADB_SATYPE_ESP);
    assert_eq!(
        hex::encode(&a.transport_mut().sent[0]),
        hex::encode(vector("ref-8.12-register-extended.bin"))
    );
    // The foreign FLUSH was kept as a notification.
    let n = a.poll_notification().unwrap();
    assert_eq!(
        (n.header.msg_type, n.header.pid),
        (SadbMsgType::SADB_FLUSH, 4321)
    );
}

#[test]
fn reconcile_deletes_only_our_sas() {
    let shared = Shared::new();
    let mut c = PfKeyClient::new(shared.socket(1), PID);
    for (spi, kmp) in [
        (0x100u32, SadbKmp::SADB_X_KMP_IKEV2),
        (0x200, SadbKmp::SADB_X_KMP_MANUAL),
    ] {
        let mut s = host_sa(spi, Way::Outbound, SadbEalg::SADB_EALG_AES, &[4; 16]);
        s.kmc = Some(KmCookie {
            proto: kmp,
            cookie: 1,
        });
        let seq = c.next_seq();
        c.request_bytes(
            &build::add(s, seq, PID).unwrap(),
            SadbMsgType::SADB_ADD,
            seq,
        )
        .unwrap();
    }
    let gone = c
        .reconcile(SadbSaType::SADB_SATYPE_ESP, SadbKmp::SADB_X_KMP_IKEV2)
        .unwrap();
    assert_eq!(gone, vec![0x100]);
    assert_eq!(shared.engine.borrow().sa_count(), 1);
}

/// The same client over the engine's real SOCK_SEQPACKET server.
#[test]
fn client_over_seqpacket_server() {
    let server = pfkey::engine::server::Server::start(EngineConfig {
        local_addrs: vec![LOCAL.into()],
        ..EngineConfig::default()
    });
    let t =
        SeqpacketTransport::new(server.connect().unwrap(), Some(Duration::from_secs(5))).unwrap();
    let mut c = PfKeyClient::new(t, PID);
    let mon =
        SeqpacketTransport::new(server.connect().unwrap(), Some(Duration::from_secs(5))).unwrap();
    let mut mon = PfKeyClient::new(mon, 1);
    assert_eq!(
        c.register(SadbSaType::SADB_SATYPE_ESP).unwrap().auth.len(),
        4
    );
    let seq = c.next_seq();
    let r = c.request(&getspi(0x1000, 0x1fff, seq)).unwrap();
    let spi = r.sa().unwrap().spi;
    assert!((0x1000..=0x1fff).contains(&spi));
    let s = host_sa(spi, Way::Inbound, SadbEalg::SADB_EALG_AES_GCM_16, &[9; 36]);
    let seq = c.next_seq();
    c.request_bytes(
        &build::update(s, seq, PID).unwrap(),
        SadbMsgType::SADB_UPDATE,
        seq,
    )
    .unwrap();
    let dump = c.dump(SadbSaType::SADB_SATYPE_ESP).unwrap();
    assert_eq!(dump.len(), 1);
    assert_eq!(dump[0].key(KeyKind::Encrypt).unwrap().bits, 256);
    // The data plane sees the SA through the server's handle; outbound
    // traffic that matches policy but has no SA makes an ACQUIRE reach the
    // registered client, and its abort drops the record.
    let dp = server.data_plane();
    let snap = dp.inbound(spi, LOCAL.into()).unwrap();
    assert_eq!(snap.encr_key.as_ref().unwrap().len(), 36);
    assert_eq!(
        dp.record_bytes(pfkey::engine::Direction::Inbound, spi, LOCAL.into(), 100),
        Some(pfkey::engine::ByteVerdict::Ok)
    );
    let mut pol = pfkey::sys::PfPolicySocket::from_socket(
        server.connect_policy().unwrap(),
        Some(Duration::from_secs(5)),
    )
    .unwrap();
    let rule = PolicyRule {
        priority: 1,
        flags: spd_rule_flag::SPD_RULE_FLAG_OUTBOUND,
        remote: Some((PEER.into(), 32)),
        actions: vec![ActionAlt::esp(20, None, None)],
        ..PolicyRule::default()
    };
    pol.request(&SpdMsg::rule(SpdMsgType::SPD_ADDRULE, SpdId::SPD_ACTIVE, &rule, 7, PID).unwrap())
        .unwrap();
    let sel = Selector {
        local: LOCAL.into(),
        remote: PEER.into(),
        proto: 0,
        local_port: 0,
        remote_port: 0,
    };
    let Some(Outbound::Acquire { seq: acq }) = dp.outbound(None, sel) else {
        panic!("expected an ACQUIRE")
    };
    let m = c.recv_any().unwrap();
    assert_eq!(
        (m.header.msg_type, m.header.seq),
        (SadbMsgType::SADB_ACQUIRE, acq)
    );
    c.transport_mut()
        .send(
            &build::acquire_abort(SadbSaType::SADB_SATYPE_ESP, Errno::ETIME, acq, PID)
                .to_bytes()
                .unwrap(),
        )
        .unwrap();
    // The abort has no reply; a later DUMP round-trip orders it first.
    assert_eq!(c.dump(SadbSaType::SADB_SATYPE_ESP).unwrap().len(), 1);
    assert_eq!(
        dp.acquire_events(),
        vec![pfkey::engine::AcquireEvent::Dropped { seq: acq }]
    );
    // An error comes back typed.
    let seq = c.next_seq();
    let bad = esp_op(SadbMsgType::SADB_GET, 7, SadbSaFlags::default(), LOCAL, seq);
    match c.request(&bad) {
        Err(Error::Kernel {
            errno: Errno::ESRCH,
            diagnostic: SadbDiagnostic::SADB_X_DIAGNOSTIC_SA_NOTFOUND,
            ..
        }) => {}
        other => panic!("{other:?}"),
    }
    // The monitor saw GETSPI and UPDATE.
    assert_eq!(
        mon.recv_any().unwrap().header.msg_type,
        SadbMsgType::SADB_GETSPI
    );
    assert_eq!(
        mon.recv_any().unwrap().header.msg_type,
        SadbMsgType::SADB_UPDATE
    );
    // PF_POLICY over the policy socket.
    let mut p = pfkey::sys::PfPolicySocket::from_socket(
        server.connect_policy().unwrap(),
        Some(Duration::from_secs(5)),
    )
    .unwrap();
    let rep = p
        .request(&SpdMsg::flush(SpdId::SPD_ACTIVE, None, 1, PID))
        .unwrap();
    assert_eq!(rep.len(), 1);
    let dump = p
        .request(&SpdMsg::dump(SpdId::SPD_ACTIVE, None, 2, PID))
        .unwrap();
    assert_eq!(dump.len(), 2, "header and trailer of an empty SPD");
    server.stop();
}
