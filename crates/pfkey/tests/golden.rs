//! Golden vectors both ways: `parse(bytes) == repr` and `emit(repr) ==
//! bytes`, plus a poisoned emit (junk-filled buffer) for each vector.
//! Vectors: tests/vectors/README.md.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::Ipv4Addr;

use pfkey::build::{self, addr, SaSpec};
use pfkey::registry::*;
use pfkey::wire::*;

mod sadb_common;
use sadb_common::{delpair_8_6, getspi, inbound_spec, outbound_spec, v4, COOKIE, LOCAL, PEER, PID};

/// Check both directions and the poisoned emit for a PF_KEY message.
fn both_ways(bytes: &[u8], repr: &SadbMsg) {
    let parsed = SadbMsg::parse(bytes).expect("golden parses");
    assert_eq!(&parsed, repr, "parse(bytes) == repr");
    let emitted = repr.to_bytes().expect("emits");
    assert_eq!(
        hex::encode(&*emitted),
        hex::encode(bytes),
        "emit(repr) == bytes"
    );
    for junk in [0xa5u8, 0x17, 0xff] {
        let mut buf = vec![junk; repr.buffer_len()];
        repr.emit(&mut buf).expect("emits");
        assert_eq!(buf, bytes, "poisoned emit with {junk:#x}");
    }
}

fn spd_both_ways(bytes: &[u8], repr: &SpdMsg) {
    assert_eq!(&SpdMsg::parse(bytes).expect("parses"), repr);
    assert_eq!(repr.to_bytes().expect("emits"), bytes);
}

#[test]
fn ref_8_1_register_esp() {
    both_ways(
        include_bytes!("vectors/ref-8.1-register-esp.bin"),
        &build::register(SadbSaType::SADB_SATYPE_ESP, 1, PID),
    );
}

fn getspi_req() -> SadbMsg {
    getspi(0x100, 0xffff_ffff, 2)
}

#[test]
fn ref_8_2_getspi() {
    both_ways(include_bytes!("vectors/ref-8.2-getspi.bin"), &getspi_req());
}

#[test]
fn ref_8_3_getspi_reply() {
    let mut m = getspi_req();
    m.exts[2] = Extension::Sa(SaExt {
        spi: 0x9a3c_71e5,
        ..SaExt::default()
    });
    both_ways(include_bytes!("vectors/ref-8.3-getspi-reply.bin"), &m);
}

#[test]
fn ref_8_4_update_inbound() {
    let bytes = include_bytes!("vectors/ref-8.4-update-inbound-gcm-tunnel.bin");
    both_ways(
        bytes,
        &build::sa_msg(inbound_spec(), SadbMsgType::SADB_UPDATE, 3, PID),
    );
    assert_eq!(&*build::update(inbound_spec(), 3, PID).unwrap(), bytes);
}

#[test]
fn ref_8_5_add_outbound_with_pair() {
    let bytes = include_bytes!("vectors/ref-8.5-add-outbound-gcm-tunnel-pair.bin");
    both_ways(
        bytes,
        &build::sa_msg(outbound_spec(), SadbMsgType::SADB_ADD, 0xffff_fffe, PID),
    );
    assert_eq!(
        &*build::add(outbound_spec(), 0xffff_fffe, PID).unwrap(),
        bytes
    );
}

#[test]
fn ref_8_6_delpair() {
    both_ways(
        include_bytes!("vectors/ref-8.6-delpair.bin"),
        &delpair_8_6(),
    );
}

#[test]
fn ref_8_7_regular_acquire() {
    let mut h = SadbHeader::new(
        SadbMsgType::SADB_ACQUIRE,
        SadbSaType::SADB_SATYPE_ESP,
        0xffff_fffe,
        0,
    );
    h.errno = Errno::OK;
    let m = SadbMsg::new(h)
        .with(Extension::Address(AddressKind::Src, addr(v4(LOCAL))))
        .with(Extension::Address(AddressKind::Dst, addr(v4(PEER))))
        .with(Extension::Proposal(ProposalExt {
            replay: 64,
            combs: vec![Comb {
                encrypt: SadbEalg::SADB_EALG_AES_GCM_16,
                encrypt_minbits: 128,
                encrypt_maxbits: 256,
                encrypt_saltbits: 32,
                soft_addtime: 24000,
                hard_addtime: 28800,
                ..Comb::default()
            }],
            kmc: None,
        }));
    both_ways(include_bytes!("vectors/ref-8.7-acquire-regular.bin"), &m);
}

#[test]
fn ref_8_8_acquire_abort() {
    both_ways(
        include_bytes!("vectors/ref-8.8-acquire-abort.bin"),
        &build::acquire_abort(SadbSaType::SADB_SATYPE_ESP, Errno::ETIME, 0xffff_fffe, PID),
    );
}

#[test]
fn ref_8_9_inverse_acquire() {
    both_ways(
        include_bytes!("vectors/ref-8.9-inverse-acquire.bin"),
        &build::inverse_acquire(addr(v4(LOCAL)), addr(v4(PEER)), None, 5, PID),
    );
}

#[test]
fn ref_8_10_inverse_acquire_reply() {
    let m = SadbMsg::new(SadbHeader::new(
        SadbMsgType::SADB_ACQUIRE,
        SadbSaType::SADB_SATYPE_UNSPEC,
        5,
        PID,
    ))
    .with(Extension::Address(AddressKind::Src, addr(v4(LOCAL))))
    .with(Extension::Address(AddressKind::Dst, addr(v4(PEER))))
    .with(Extension::Eprop(EpropExt {
        replay: 64,
        ecombs: vec![Ecomb {
            soft_addtime: 24000,
            hard_addtime: 28800,
            algs: vec![AlgDesc {
                satype: SadbSaType::SADB_SATYPE_ESP,
                algtype: SadbAlgType::SADB_X_ALGTYPE_CRYPT,
                alg: 20,
                saltbits: 32,
                minbits: 128,
                maxbits: 256,
            }],
            ..Ecomb::default()
        }],
        kmc: None,
    }));
    both_ways(
        include_bytes!("vectors/ref-8.10-inverse-acquire-reply.bin"),
        &m,
    );
}

#[test]
fn ref_8_11_soft_expire() {
    let m = SadbMsg::new(SadbHeader::new(
        SadbMsgType::SADB_EXPIRE,
        SadbSaType::SADB_SATYPE_ESP,
        0,
        0,
    ))
    .with(Extension::Sa(SaExt {
        spi: 0x9a3c_71e5,
        replay: 32,
        state: SadbSaState::SADB_SASTATE_DYING,
        auth: SadbAalg::SADB_AALG_NONE,
        encrypt: SadbEalg::SADB_EALG_AES_GCM_16,
        flags: SadbSaFlags(0x8c00_4000),
    }))
    .with(Extension::Lifetime(
        LifetimeKind::Current,
        Lifetime {
            allocations: 0,
            bytes: 123_456,
            addtime: 1_700_000_000,
            usetime: 1_700_000_005,
        },
    ))
    .with(Extension::Lifetime(
        LifetimeKind::Soft,
        Lifetime {
            addtime: 3240,
            ..Lifetime::default()
        },
    ))
    .with(Extension::Address(AddressKind::Src, addr(v4(PEER))))
    .with(Extension::Address(AddressKind::Dst, addr(v4(LOCAL))))
    .with(Extension::KmCookie(COOKIE));
    both_ways(include_bytes!("vectors/ref-8.11-expire-soft.bin"), &m);
}

#[test]
fn ref_8_12_extended_register() {
    both_ways(
        include_bytes!("vectors/ref-8.12-register-extended.bin"),
        &build::register_extended(
            &[SadbSaType::SADB_SATYPE_ESP, SadbSaType::SADB_SATYPE_AH],
            6,
            PID,
        ),
    );
}

#[test]
fn ref_8_13_flush_and_8_14_dump() {
    both_ways(
        include_bytes!("vectors/ref-8.13-flush-esp.bin"),
        &build::flush(SadbSaType::SADB_SATYPE_ESP, 7, PID),
    );
    both_ways(
        include_bytes!("vectors/ref-8.14-dump-esp.bin"),
        &build::dump(SadbSaType::SADB_SATYPE_ESP, 8, PID),
    );
}

#[test]
fn ref_8_15_spd_addrule_tunnel() {
    let rule = PolicyRule {
        priority: 0x004f_ffff,
        flags: spd_rule_flag::SPD_RULE_FLAG_INBOUND
            | spd_rule_flag::SPD_RULE_FLAG_OUTBOUND
            | spd_rule_flag::SPD_RULE_FLAG_TUNNEL,
        tun_name: Some("ip.tun0".into()),
        local: Some((Ipv4Addr::new(10, 1, 0, 0).into(), 16)),
        remote: Some((Ipv4Addr::new(10, 2, 0, 0).into(), 16)),
        actions: vec![ActionAlt::esp(20, Some(128), None)],
        ..PolicyRule::default()
    };
    let m = SpdMsg::rule(SpdMsgType::SPD_ADDRULE, SpdId::SPD_ACTIVE, &rule, 1, PID).unwrap();
    let bytes = include_bytes!("vectors/ref-8.15-spd-addrule-tunnel.bin");
    spd_both_ways(bytes, &m);
    // The attribute program decodes back to the one alternative.
    let Some(SpdExt::Action { count, attrs }) = m.ext(SpdExtType::SPD_EXT_ACTION) else {
        panic!("no action")
    };
    assert_eq!(decode_actions(*count, attrs).unwrap(), rule.actions);
    assert_eq!(
        m.ext(SpdExtType::SPD_EXT_TUN_NAME)
            .unwrap()
            .tun_name_str()
            .unwrap(),
        "ip.tun0"
    );
}

#[test]
fn ref_8_16_spd_flip_all() {
    spd_both_ways(
        include_bytes!("vectors/ref-8.16-spd-flip-all.bin"),
        &SpdMsg::flip(Some(""), 2, PID),
    );
}

// ---------------------------------------------------------------- own vectors

/// An IPv6 transport-mode ADD with HMAC-SHA256 + AES-CBC, NAT-T, idle
/// lifetime and identities: every 32-byte sockaddr_in6 field is pinned.
#[test]
fn own_ipv6_cbc_sha256_add() {
    let l6: std::net::Ipv6Addr = "2001:db8::1".parse().unwrap();
    let p6: std::net::Ipv6Addr = "2001:db8::2".parse().unwrap();
    let mut s = SaSpec::esp(
        0xdead_beef,
        SadbEalg::SADB_EALG_AES,
        addr(SockAddr::V6 {
            addr: l6,
            port: 500,
            flowinfo: 0,
            scope_id: 0,
        }),
        addr(SockAddr::from_ip(p6.into())),
    );
    s.auth = SadbAalg::SADB_AALG_SHA256HMAC;
    s.flags = SadbSaFlags::SADB_X_SAFLAGS_OUTBOUND;
    s.idle = Some(Lifetime {
        addtime: 300,
        ..Lifetime::default()
    });
    s.auth_key = Some(KeyExt::from_material(&[0x42; 32]).unwrap());
    s.encr_key = Some(KeyExt::from_material(&[0x24; 16]).unwrap());
    s.ident_src = Some(IdentityExt::from_str(
        SadbIdentType::SADB_IDENTTYPE_FQDN,
        "gw.example",
    ));
    let bytes = build::add(s, 9, PID).unwrap();
    // Hand-checked layout, word by word.
    let words: &[&str] = &[
        "020300031e000000",
        "09000000d2040000", // header: ADD ESP len 30
        "02000100deadbeef",
        "0001050c00800000", // SA spi, replay 0 state 1 auth 5 encr 12 OUTBOUND
        "04001a0000000000",
        "0000000000000000",
        "2c01000000000000",
        "0000000000000000", // IDLE
        "0500050000000000",
        "1a0001f400000000",
        "20010db800000000",
        "0000000000000001",
        "0000000000000000", // SRC v6 port 500
        "0500060000000000",
        "1a00000000000000",
        "20010db800000000",
        "0000000000000002",
        "0000000000000000", // DST v6
        "0500080000010000",
        "4242424242424242",
        "4242424242424242",
        "4242424242424242",
        "4242424242424242", // KEY_AUTH 256 bits
        "0300090080000000",
        "2424242424242424",
        "2424242424242424", // KEY_ENCRYPT 128 bits
        "04000a0002000000",
        "0000000000000000",
        "67772e6578616d70",
        "6c65000000000000", // IDENT
    ];
    let hex_expected: String = words.concat();
    assert_eq!(hex::encode(&*bytes), hex_expected);
    let parsed = SadbMsg::parse(&bytes).unwrap();
    assert_eq!(parsed.to_bytes().unwrap(), bytes);
    assert_eq!(
        &bytes[..],
        &include_bytes!("vectors/own-add-v6-cbc-sha256.bin")[..],
        "matches the stored vector"
    );
}

/// A PROPOSAL with an embedded KM cookie (reference §5.6.3) and an EPROP
/// with one too.
#[test]
fn own_embedded_km_cookie_in_proposals() {
    let m = SadbMsg::new(SadbHeader::new(
        SadbMsgType::SADB_ACQUIRE,
        SadbSaType::SADB_SATYPE_ESP,
        0xffff_fffd,
        0,
    ))
    .with(Extension::Proposal(ProposalExt {
        replay: 32,
        combs: vec![Comb {
            encrypt: SadbEalg::SADB_EALG_AES,
            auth: SadbAalg::SADB_AALG_SHA1HMAC,
            ..Comb::default()
        }],
        kmc: Some(COOKIE),
    }));
    let bytes = m.to_bytes().unwrap();
    // prop len = 1 + 9 + 2 = 12 words: (12 - 1) mod 9 == 2.
    assert_eq!(&bytes[16..20], &[12, 0, 13, 0]);
    assert_eq!(
        &bytes[bytes.len() - 16..bytes.len() - 8],
        &[2, 0, 19, 0, 3, 0, 0, 0]
    );
    assert_eq!(SadbMsg::parse(&bytes).unwrap(), m);
    assert_eq!(m.km_cookie(), Some(COOKIE));

    let e = SadbMsg::new(SadbHeader::new(
        SadbMsgType::SADB_ACQUIRE,
        SadbSaType::SADB_SATYPE_UNSPEC,
        1,
        0,
    ))
    .with(Extension::Eprop(EpropExt {
        replay: 0,
        ecombs: vec![Ecomb::default(), Ecomb::default()],
        kmc: Some(COOKIE),
    }));
    let eb = e.to_bytes().unwrap();
    assert_eq!(u16::from_le_bytes([eb[16], eb[17]]), 1 + 8 + 8 + 2);
    assert_eq!(SadbMsg::parse(&eb).unwrap(), e);
}

#[test]
fn own_register_reply_supported_algs() {
    let m = SadbMsg::new(SadbHeader::new(
        SadbMsgType::SADB_REGISTER,
        SadbSaType::SADB_SATYPE_ESP,
        1,
        PID,
    ))
    .with(Extension::Supported(
        SupportedKind::Auth,
        vec![Alg {
            id: 3,
            minbits: 160,
            maxbits: 160,
            ..Alg::default()
        }],
    ))
    .with(Extension::Supported(
        SupportedKind::Encrypt,
        vec![Alg {
            id: 20,
            ivlen: 8,
            minbits: 128,
            maxbits: 256,
            increment: 64,
            saltbits: 32,
        }],
    ));
    let bytes = m.to_bytes().unwrap();
    assert_eq!(
        hex::encode(&*bytes),
        concat!(
            "0207000306000000",
            "01000000d2040000",
            "02000e0000000000",
            "0300a000a0000000",
            "02000f0000000000",
            "1408800000014020"
        )
    );
    both_ways(&bytes, &m);
}

#[test]
fn own_sensitivity_replay_edump_pair_roundtrip() {
    let m = SadbMsg::new(SadbHeader::new(
        SadbMsgType::SADB_GET,
        SadbSaType::SADB_SATYPE_ESP,
        1,
        PID,
    ))
    .with(Extension::Sensitivity(
        SensKind::Sensitivity,
        SensExt {
            dpd: 1,
            sens_level: 5,
            integ_level: 0,
            flags: 2,
            sens_bitmap: vec![0x1122, 0x3344],
            integ_bitmap: vec![],
        },
    ))
    .with(Extension::ReplayValue(ReplayValue {
        replay32: 77,
        replay64: 0,
    }))
    .with(Extension::Edump(30))
    .with(Extension::Pair(0xabcd_ef01));
    let bytes = m.to_bytes().unwrap();
    assert_eq!(
        hex::encode(&bytes[16..]),
        concat!(
            "04000c0001000000",
            "0502000002000000",
            "2211000000000000",
            "4433000000000000",
            "020018004d000000",
            "0000000000000000",
            "0200190000000000",
            "1e00000000000000",
            "01001700abcdef01"
        )
    );
    both_ways(&bytes, &m);
}
