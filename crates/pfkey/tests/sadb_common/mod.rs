//! Shared fixtures for the PF_KEY message tests (`golden`, `backend`,
//! `engine_flows`): the reference's hosts and PID, its worked-example
//! vectors, and the tunnel-mode SAs of its §8.4 and §8.5.
// Test scaffolding: each test crate uses only part of it, and a broken
// fixture should panic.
#![allow(dead_code, unreachable_pub, clippy::unwrap_used)]

use std::net::Ipv4Addr;

use pfkey::build::{self, addr, SaSpec};
use pfkey::registry::{SadbEalg, SadbKmp, SadbMsgType, SadbSaFlags, SadbSaType};
use pfkey::wire::{AddressExt, KeyExt, KmCookie, Lifetime, SadbMsg, SockAddr, SpiRange};

/// Our address in the reference's examples.
pub const LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The IKE peer's address in the reference's examples.
pub const PEER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The key manager's PID in the reference's examples.
pub const PID: u32 = 1234;

/// The reference's KM cookie (§8.4, §8.5): an IKEv2 SA's.
pub const COOKIE: KmCookie = KmCookie {
    proto: SadbKmp::SADB_X_KMP_IKEV2,
    cookie: 0x0123_4567_89ab_cdef,
};

pub fn v4(a: Ipv4Addr) -> SockAddr {
    SockAddr::V4 { addr: a, port: 0 }
}

pub fn a4(a: Ipv4Addr, proto: u8, prefixlen: u8) -> AddressExt {
    AddressExt {
        proto,
        prefixlen,
        addr: v4(a),
    }
}

/// Bytes from hex, as the reference prints them.
pub fn h(s: &str) -> Vec<u8> {
    hex::decode(s).unwrap()
}

/// A file of tests/vectors (see its README for where each comes from).
pub fn vector(name: &str) -> Vec<u8> {
    std::fs::read(format!(
        "{}/tests/vectors/{name}",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A 16-byte AES-GCM key counting up from `first`, then its 4-byte salt.
pub fn gcm_key(first: u8, salt: [u8; 4]) -> KeyExt {
    let mut k: Vec<u8> = (first..first + 16).collect();
    k.extend_from_slice(&salt);
    KeyExt::from_material(&k).unwrap()
}

/// The reference's lifetimes: hard after an hour, soft at 90 % of it.
pub fn lifetimes(spec: &mut SaSpec) {
    spec.hard = Some(Lifetime {
        addtime: 3600,
        ..Lifetime::default()
    });
    spec.soft = Some(Lifetime {
        addtime: 3240,
        ..Lifetime::default()
    });
}

/// Which way an SA carries traffic, seen from [`LOCAL`].
#[derive(Clone, Copy)]
pub enum Way {
    Inbound,
    Outbound,
}

/// An AES-GCM tunnel-mode SA between [`PEER`] and [`LOCAL`] (outer
/// addresses with proto 4, IP-in-IP) for 10.1.0.0/16 (ours) and
/// 10.2.0.0/16 (the peer's), as in the reference's §8.4 and §8.5.
pub fn tunnel_spec(spi: u32, way: Way, key: KeyExt) -> SaSpec {
    let (ours, theirs) = (
        a4(Ipv4Addr::new(10, 1, 0, 0), 0, 16),
        a4(Ipv4Addr::new(10, 2, 0, 0), 0, 16),
    );
    let (src, dst, inner, flag) = match way {
        Way::Inbound => (
            PEER,
            LOCAL,
            (theirs, ours),
            SadbSaFlags::SADB_X_SAFLAGS_INBOUND,
        ),
        Way::Outbound => (
            LOCAL,
            PEER,
            (ours, theirs),
            SadbSaFlags::SADB_X_SAFLAGS_OUTBOUND,
        ),
    };
    let mut s = SaSpec::esp(
        spi,
        SadbEalg::SADB_EALG_AES_GCM_16,
        a4(src, 4, 0),
        a4(dst, 4, 0),
    );
    s.flags = flag.union(SadbSaFlags::SADB_X_SAFLAGS_TUNNEL);
    s.inner = Some(inner);
    s.encr_key = Some(key);
    s
}

/// §8.4's inbound SA (the UPDATE after GETSPI).
pub fn inbound_spec() -> SaSpec {
    let key = gcm_key(0x10, [0xb0, 0xb1, 0xb2, 0xb3]);
    let mut s = tunnel_spec(0x9a3c_71e5, Way::Inbound, key);
    s.replay = 32;
    lifetimes(&mut s);
    s.kmc = Some(COOKIE);
    s
}

/// §8.5's outbound SA (the ADD, paired with §8.4's).
pub fn outbound_spec() -> SaSpec {
    let key = gcm_key(0x00, [0xa0, 0xa1, 0xa2, 0xa3]);
    let mut s = tunnel_spec(0x1234_5678, Way::Outbound, key);
    lifetimes(&mut s);
    s.kmc = Some(COOKIE);
    s.pair = Some(0x9a3c_71e5);
    s
}

/// A host-to-host ESP SA between [`PEER`] and [`LOCAL`], flagged with its
/// direction, with `key` as its encryption key material.
pub fn host_sa(spi: u32, way: Way, ealg: SadbEalg, key: &[u8]) -> SaSpec {
    let (src, dst, flags) = match way {
        Way::Inbound => (PEER, LOCAL, SadbSaFlags::SADB_X_SAFLAGS_INBOUND),
        Way::Outbound => (LOCAL, PEER, SadbSaFlags::SADB_X_SAFLAGS_OUTBOUND),
    };
    let mut s = SaSpec::esp(spi, ealg, addr(v4(src)), addr(v4(dst)));
    s.flags = flags;
    s.encr_key = Some(KeyExt::from_material(key).unwrap());
    s
}

/// An IKEv2 SA's KM cookie.
pub fn ikev2(cookie: u64) -> KmCookie {
    KmCookie {
        proto: SadbKmp::SADB_X_KMP_IKEV2,
        cookie,
    }
}

/// A GETSPI for an inbound SA from [`PEER`] with an SPI in `min..=max`.
pub fn getspi(min: u32, max: u32, seq: u32) -> SadbMsg {
    build::getspi(
        SadbSaType::SADB_SATYPE_ESP,
        addr(v4(PEER)),
        addr(v4(LOCAL)),
        SpiRange { min, max },
        seq,
        PID,
    )
}

/// A DELETE, GET or DELPAIR (`msg_type`) of the ESP SA `spi` towards
/// `dst`, naming no source address.
pub fn esp_op(
    msg_type: SadbMsgType,
    spi: u32,
    flags: SadbSaFlags,
    dst: Ipv4Addr,
    seq: u32,
) -> SadbMsg {
    let esp = SadbSaType::SADB_SATYPE_ESP;
    build::sa_op(msg_type, esp, spi, flags, None, addr(v4(dst)), seq, PID)
}

/// §8.6: the X_DELPAIR of §8.4's and §8.5's pair, seq 4.
pub fn delpair_8_6() -> SadbMsg {
    build::sa_op(
        SadbMsgType::SADB_X_DELPAIR,
        SadbSaType::SADB_SATYPE_ESP,
        0x9a3c_71e5,
        SadbSaFlags::default(),
        Some(addr(v4(PEER))),
        addr(v4(LOCAL)),
        4,
        PID,
    )
}
